//! `store-collector` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use store_collector::config::Config;
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
