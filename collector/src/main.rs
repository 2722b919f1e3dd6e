//! `store-collector` command line.

use std::path::PathBuf;
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
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
