//! `store-collector` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use store_collector::config::Config;
use store_collector::history::cli;
use store_collector::history::export::Format;
use tracing_subscriber::EnvFilter;

/// Store edge collector: ingests agents' event batches exactly once and acknowledges them.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the collector until SIGINT or SIGTERM.
    Run {
        /// Configuration file (TOML).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Write a consistent copy of the collector's state to DEST (a new directory). Asks the
    /// running collector over its API (operator token); copies the directory itself when no
    /// collector runs.
    Backup {
        /// The backup directory to create; it must not exist.
        #[arg(value_name = "DEST")]
        dest: PathBuf,
        /// Configuration file (TOML).
        #[arg(long, value_name = "FILE", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// File holding the API's operator token (default: $STORE_COLLECTOR_TOKEN, then the
        /// configuration's [api] token or token_file).
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
    },
    /// Put a backup back in place of the state (the collector must be stopped). The current
    /// state is moved aside to {state_dir}.before-restore-{time}, never deleted.
    Restore {
        /// The backup directory (as written by `backup`).
        #[arg(value_name = "SRC")]
        src: PathBuf,
        /// Configuration file (TOML).
        #[arg(long, value_name = "FILE", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Restore a backup taken from a collector with another collector_id.
        #[arg(long)]
        force: bool,
    },
    /// Check a configuration file: prints "ok", or the error and exits 1.
    CheckConfig {
        /// Configuration file (TOML).
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Export one store's event history, oldest first: from the database when the collector
    /// is stopped, from its API when it is running.
    History {
        /// Configuration file (TOML) of the collector whose history to read.
        #[arg(
            long,
            value_name = "FILE",
            default_value = "/etc/store-collector/collector.toml"
        )]
        config: PathBuf,
        /// Store id.
        #[arg(long)]
        store: String,
        /// From this event time (RFC 3339 or ms since 1970), inclusive.
        #[arg(long, value_name = "TIME")]
        from: Option<String>,
        /// Up to this event time, exclusive.
        #[arg(long, value_name = "TIME")]
        to: Option<String>,
        /// Only events of this kind (scan, pos_transaction, foot_traffic, device_status,
        /// data_loss).
        #[arg(long)]
        kind: Option<String>,
        /// csv (with a header row) or jsonl.
        #[arg(long, default_value = "csv")]
        format: String,
        /// Write to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

/// The configuration file of the packaged service.
const DEFAULT_CONFIG: &str = "/etc/store-collector/collector.toml";

/// Environment variable with the API's operator token for `backup`.
const TOKEN_ENV: &str = "STORE_COLLECTOR_TOKEN";

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Backup {
            dest,
            config,
            token_file,
        } => report(backup(&config, &dest, token_file.as_deref())),
        Command::Restore { src, config, force } => report(restore(&config, &src, force)),
        Command::CheckConfig { file } => match Config::load(&file) {
            Ok(config) => {
                // So are the TLS files: ones the collector would refuse at start-up fail the
                // check.
                if let Err(e) = config.mqtt_tls() {
                    eprintln!("{}: {e}", file.display());
                    return ExitCode::FAILURE;
                }
                // So are the delivery destinations' secret and CA files.
                if let Err(e) = store_collector::deliver::check(&config.deliver) {
                    eprintln!("{}: {e}", file.display());
                    return ExitCode::FAILURE;
                }
                if config.mqtt.insecure_plaintext {
                    eprintln!(
                        "warning: {}: mqtt.insecure_plaintext = true: the broker connection to {} is not encrypted",
                        file.display(),
                        config.mqtt.host
                    );
                }
                // The catalogue is part of the set-up: a file the collector would refuse at
                // start-up fails the check too.
                if let Some(path) = &config.intel.catalogue {
                    if let Err(e) = store_collector::rules::engine::catalogue::Catalogue::load(path)
                    {
                        eprintln!("{e}");
                        return ExitCode::FAILURE;
                    }
                }
                println!("ok");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Command::History {
            config,
            store,
            from,
            to,
            kind,
            format,
            out,
        } => {
            let result = (|| -> anyhow::Result<()> {
                let config = Config::load(&config)?;
                let format = Format::parse(&format).map_err(anyhow::Error::msg)?;
                let request = cli::Request {
                    store,
                    from,
                    to,
                    kind,
                    format,
                };
                let mut sink: Box<dyn std::io::Write> = match &out {
                    Some(path) => Box::new(std::io::BufWriter::new(
                        std::fs::File::create(path)
                            .with_context(|| format!("cannot create {}", path.display()))?,
                    )),
                    None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
                };
                let source = cli::export(&config, &request, &mut sink)?;
                if source == cli::Source::Api {
                    eprintln!("(read from the running collector's API)");
                }
                Ok(())
            })();
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("{e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Run { config } => {
            init_logging();
            match run(&config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The operator token: `--token-file`, else `$STORE_COLLECTOR_TOKEN`, else the configuration's.
fn operator_token(config: &Config, token_file: Option<&Path>) -> anyhow::Result<Option<String>> {
    use store_runtime::secret::read_secret;
    if let Some(path) = token_file {
        return Ok(Some(read_secret("--token-file", path)?));
    }
    if let Some(token) = std::env::var_os(TOKEN_ENV) {
        let token = token
            .into_string()
            .map_err(|_| anyhow::anyhow!("{TOKEN_ENV} is not UTF-8"))?;
        return Ok(Some(token.trim().to_owned()));
    }
    if let Some(token) = &config.api.token {
        return Ok(Some(token.clone()));
    }
    match &config.api.token_file {
        Some(path) => Ok(read_secret("api.token_file", path).ok()),
        None => Ok(None),
    }
}

fn backup(config_path: &Path, dest: &Path, token_file: Option<&Path>) -> anyhow::Result<()> {
    use store_collector::backup::cli::{self, Via};
    let config = Config::load(config_path)?;
    let token = operator_token(&config, token_file)?;
    let (via, dest, manifest) = cli::backup(&config, dest, token.as_deref())?;
    let how = match via {
        Via::Api => format!(
            "by the running collector; ingest paused {:.3} ms",
            manifest.ingest_paused_us as f64 / 1000.0
        ),
        Via::Directory => "from the stopped collector's directory".to_owned(),
    };
    println!(
        "Backup of collector {} written to {} ({how}).",
        manifest.collector_id,
        dest.display()
    );
    println!(
        "  taken at {}: {} entries, {} agents, {} stores, {} events applied",
        manifest.created_at,
        manifest.counts.entries,
        manifest.counts.agents,
        manifest.counts.stores,
        manifest.counts.applied_events
    );
    println!("  content sha256 {}", manifest.content_sha256);
    Ok(())
}

fn restore(config_path: &Path, src: &Path, force: bool) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    let report = store_collector::backup::restore::restore(
        src,
        &config.state_dir,
        &config.collector_id,
        config.api.listen,
        force,
    )?;
    let m = &report.manifest;
    println!(
        "Restored the backup of collector {} taken at {} into {}.",
        m.collector_id,
        m.created_at,
        report.state_dir.display()
    );
    match &report.moved_aside {
        Some(aside) => println!(
            "The previous state was moved to {} (delete it yourself once the restored \
             collector runs well).",
            aside.display()
        ),
        None => println!("There was no previous state."),
    }
    println!(
        "Committed marks now ({} agents, {} events applied):",
        m.counts.agents, m.counts.applied_events
    );
    for a in &m.agents {
        println!(
            "  {}/{}: committed {} (highest {})",
            a.store_id, a.agent_id, a.committed_seq, a.highest_seq
        );
    }
    println!(
        "Next: start the collector. It publishes these marks; each agent resends what it still \
         holds above its mark from its retention window, and reports events older than that \
         window as DataLoss (GET /v1/gaps shows what is still missing)."
    );
    Ok(())
}

fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // No colour codes in journald or log files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn run(path: &std::path::Path) -> anyhow::Result<()> {
    let config = Config::load(path)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let shutdown = shutdown_signal()?;
        store_collector::run(config, shutdown).await?;
        Ok(())
    })
}

/// Resolves on the first SIGINT or SIGTERM.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received."),
            _ = int.recv() => tracing::info!("SIGINT received."),
        }
    })
}
