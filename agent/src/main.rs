//! `store-agent`: command line entry point.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use store_agent::config::AgentConfig;

#[derive(Parser)]
#[command(
    name = "store-agent",
    version,
    about = "Store edge agent: devices → durable journal → HQ over MQTT"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the agent until SIGTERM or Ctrl-C.
    Run {
        /// Configuration file.
        #[arg(short, long, default_value = "/etc/store-agent/agent.toml")]
        config: PathBuf,
    },
    /// Check a configuration file and exit: 0 when valid, 1 with the file, line and key when not.
    CheckConfig {
        /// Configuration file.
        file: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { file } => match AgentConfig::load(&file) {
            Ok(c) => {
                println!(
                    "ok: {} (store {}, agent {}, {} driver(s))",
                    file.display(),
                    c.store_id,
                    c.agent_id,
                    c.drivers.len()
                );
                Ok(())
            }
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        },
        Command::Run { config } => {
            init_logging();
            let config = AgentConfig::load(&config)?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            runtime.block_on(async {
                store_agent::run::run(config, shutdown_signal())
                    .await
                    .context("agent failed")
            })
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour codes only on a terminal: log files and journald get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
