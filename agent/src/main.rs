//! `store-agent`: command line entry point.

use std::ffi::{OsStr, OsString};
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
    /// Decode what a barcode scanner sent (AIM id, GS1 element strings, GTIN) and print it as
    /// one JSON object. Exit 0 whether or not the data is valid (see `valid` and `error`);
    /// 2 for a usage error such as bad hex.
    ///
    /// Example: store-agent decode-scan ']C101095060001343521012345<GS>17220630'
    DecodeScan {
        /// DATA is hex bytes (spaces allowed), such as `5d 43 31 30 31 ...`.
        #[arg(long)]
        hex: bool,
        /// The scanner's data, AIM id included if it sent one. GS (the GS1 separator, 0x1D)
        /// may be given as the byte itself or as the text `<GS>`.
        #[arg(allow_hyphen_values = true)]
        data: OsString,
    },
    /// Ask the running agent how it is: drivers, journal backlog, broker connection, the
    /// collector's committed mark and how far the journal runs ahead of it, clock sync.
    Status {
        /// The agent's configuration file (the socket is `{state_dir}/agent.sock`).
        #[arg(
            short,
            long,
            default_value = "/etc/store-agent/agent.toml",
            conflicts_with = "socket"
        )]
        config: PathBuf,
        /// The status socket itself, instead of a configuration file.
        #[arg(long)]
        socket: Option<PathBuf>,
        /// Print the JSON snapshot instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Feed a captured byte file through a driver kind's decoder and print the events the driver
    /// would journal, one JSON object per line (bytes as hex in `raw_hex`). Exit 0 whether or
    /// not the data decodes (bad input gives decode-error events); 2 for a usage error.
    ///
    /// Example: store-agent replay-capture --driver hid_pos reports.bin
    ReplayCapture {
        /// Driver kind whose decoder to use.
        #[arg(long, value_name = "KIND", value_parser = clap::builder::PossibleValuesParser::new(store_agent::replay::KINDS))]
        driver: String,
        /// How scans end (serial_scanner only): cr, lf, cr_lf (also a lone CR or LF) or stx_etx.
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(store_agent::replay::FRAMINGS))]
        framing: Option<String>,
        /// Receipt template (escpos only): a built-in name (generic, de_comma) or a TOML file.
        #[arg(long, value_name = "NAME")]
        template: Option<String>,
        /// device_id of the events.
        #[arg(long, default_value = "replay")]
        device_id: String,
        /// When counter_serial lines count as received (ms since 1970; default now).
        #[arg(long)]
        start_ms: Option<i64>,
        /// The captured bytes.
        file: PathBuf,
    },
    /// Look into a journal with the agent stopped (sled locks it while the agent runs).
    Journal {
        #[command(subcommand)]
        command: JournalCommand,
    },
}

#[derive(Subcommand)]
enum JournalCommand {
    /// What the journal holds: events and bytes per kind, seq range, age.
    Stats {
        #[command(flatten)]
        at: JournalAt,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print held events as JSON lines, lowest seq first.
    Dump {
        #[command(flatten)]
        at: JournalAt,
        /// First seq to print.
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Most events to print.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

#[derive(clap::Args)]
struct JournalAt {
    /// The agent's configuration file (its state_dir holds the journal).
    #[arg(
        short,
        long,
        default_value = "/etc/store-agent/agent.toml",
        conflicts_with = "state_dir"
    )]
    config: PathBuf,
    /// The state directory itself, instead of a configuration file.
    #[arg(long)]
    state_dir: Option<PathBuf>,
}

impl JournalAt {
    fn state_dir(&self) -> anyhow::Result<PathBuf> {
        match &self.state_dir {
            Some(d) => Ok(d.clone()),
            None => Ok(AgentConfig::load(&self.config)?.state_dir),
        }
    }
}

fn journal_command(command: JournalCommand) -> anyhow::Result<()> {
    use store_agent::journal::inspect::Inspector;
    match command {
        JournalCommand::Stats { at, json } => {
            let dir = at.state_dir()?;
            let summary = Inspector::open(&dir)?.summary(&dir)?;
            if json {
                println!("{}", serde_json::to_string(&summary)?);
                return Ok(());
            }
            println!("journal:     {}", summary.path.display());
            println!("events:      {} ({} bytes)", summary.events, summary.bytes);
            let range = |a: Option<u64>| a.map_or("-".to_owned(), |v| v.to_string());
            println!(
                "seqs:        {} ..= {} (next {}, reserved up to {})",
                range(summary.first_seq),
                range(summary.last_seq),
                range(summary.next_seq),
                range(summary.reserved_seq)
            );
            println!(
                "retained:    {} committed events ({} bytes) at or below acked seq {}; nothing held below seq {}",
                summary.retained_events,
                summary.retained_bytes,
                range(summary.acked_seq),
                range(summary.retain_floor)
            );
            if let (Some(old), Some(new)) =
                (summary.oldest_wall_time_ms, summary.newest_wall_time_ms)
            {
                println!("wall times:  {old} ..= {new} (ms since 1970)");
            }
            for (kind, (n, bytes)) in &summary.kinds {
                println!("  {kind:<16} {n:>10} events {bytes:>12} bytes");
            }
            if summary.undecodable > 0 {
                println!("undecodable: {}", summary.undecodable);
            }
            Ok(())
        }
        JournalCommand::Dump { at, from, limit } => {
            let dir = at.state_dir()?;
            for (seq, event) in Inspector::open(&dir)?.events(from, limit)? {
                let line = match event {
                    Some(e) => serde_json::json!({
                        "seq": seq,
                        "device_id": e.device_id,
                        "wall_time_ms": e.wall_time_ms,
                        "monotonic_ns": e.monotonic_ns,
                        "clock_synced": e.clock_synced,
                        "boot_id": e.boot_id,
                        "kind": store_proto::kind_name(e.body.as_ref()),
                        "body": format!("{:?}", e.body),
                    }),
                    None => serde_json::json!({ "seq": seq, "kind": "undecodable" }),
                };
                println!("{line}");
            }
            Ok(())
        }
    }
}

fn status_command(config: PathBuf, socket: Option<PathBuf>, json: bool) -> anyhow::Result<()> {
    use store_agent::status;
    let path = match socket {
        Some(p) => p,
        None => status::socket_path(&AgentConfig::load(&config)?.state_dir),
    };
    let s = status::query(&path)
        .with_context(|| format!("{}: is the agent running?", path.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(());
    }
    let j = &s.journal;
    let u = &s.uplink;
    println!(
        "agent {} / {} (version {}), clock synced: {}",
        s.store_id, s.agent_id, s.version, s.clock_synced
    );
    println!(
        "journal: head seq {}, {} events held ({} bytes), {} ahead of the collector, oldest unacked {}",
        j.head_seq,
        j.events_held,
        j.bytes_held,
        j.ahead_of_collector,
        j.oldest_unacked_age_ms
            .map_or("-".to_owned(), |ms| format!("{:.1} s ago", ms as f64 / 1000.0))
    );
    println!(
        "journal retention: {} committed events kept ({} bytes), acked seq {}, nothing held below seq {}",
        j.retained_events, j.retained_bytes, j.acked_seq, j.retain_floor
    );
    if j.shed_events + j.coalesced_events + j.refused_events > 0 {
        println!(
            "journal budget: {} shed, {} coalesced, {} refused",
            j.shed_events, j.coalesced_events, j.refused_events
        );
    }
    println!(
        "uplink: {} (broker {}), collector {}, committed seq {}, {} batches in flight, {} to send, {} reconnects, {} rewinds",
        u.mode,
        if u.connected { "connected" } else { "not connected" },
        if u.collector_online { "online" } else { "not seen" },
        u.committed_seq,
        u.inflight_batches,
        u.to_send,
        u.reconnects,
        u.rewinds
    );
    if u.restores + u.to_replay + u.resend_requests > 0 {
        println!(
            "uplink: collector restored {} times (mark went back), {} seqs waiting to be resent, {} resend requests ({} refused)",
            u.restores, u.to_replay, u.resend_requests, u.resend_refused
        );
    }
    if u.forged_marks > 0 {
        println!(
            "uplink: {} FORGED commit marks ignored (last {}): someone else publishes on this agent's ack topic",
            u.forged_marks,
            u.last_forged_mark.map_or("-".to_owned(), |m| m.to_string())
        );
    }
    if s.commands.values().any(|n| *n > 0) {
        let counts: Vec<String> = s
            .commands
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(outcome, n)| format!("{n} {outcome}"))
            .collect();
        println!("HQ commands: {}", counts.join(", "));
    }
    for (id, d) in &s.drivers {
        println!(
            "driver {id} ({}): {}, {} restarts{}",
            d.kind,
            d.state,
            d.restarts,
            d.last_error
                .as_ref()
                .map_or(String::new(), |e| format!(", last error: {e}"))
        );
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Journal { command } => journal_command(command),
        Command::Status {
            config,
            socket,
            json,
        } => status_command(config, socket, json),
        Command::CheckConfig { file } => match AgentConfig::load(&file) {
            Ok(c) => {
                // The TLS files are part of the set-up: ones the agent would refuse at start-up
                // fail the check too.
                if let Err(e) = c.mqtt_tls() {
                    eprintln!("error: {}: {e}", file.display());
                    std::process::exit(1);
                }
                if c.mqtt.insecure_plaintext {
                    eprintln!(
                        "warning: {}: mqtt.insecure_plaintext = true: the broker connection to {} is not encrypted",
                        file.display(),
                        c.mqtt.host
                    );
                }
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
        Command::ReplayCapture {
            driver,
            framing,
            template,
            device_id,
            start_ms,
            file,
        } => {
            use store_agent::replay::{event_json, Replay};
            let now_ms = start_ms.unwrap_or_else(store_drivers::clock::wall_ms);
            let replay = match Replay::new(
                &driver,
                framing.as_deref(),
                template.as_deref(),
                &device_id,
                now_ms,
            ) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::exit(2);
                }
            };
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let mut out = std::io::stdout().lock();
            for event in replay.events(&bytes) {
                use std::io::Write;
                writeln!(out, "{}", event_json(&event))?;
            }
            Ok(())
        }
        Command::DecodeScan { hex, data } => {
            let raw = match scan_bytes(&data, hex) {
                Ok(raw) => raw,
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::exit(2);
                }
            };
            let decoded = store_drivers::scanner::gs1::decode_scan(&raw);
            println!("{}", serde_json::to_string(&decoded)?);
            Ok(())
        }
        Command::Run { config } => {
            store_agent::memory::limit_arenas();
            init_logging();
            let config_path = config;
            let config = AgentConfig::load(&config_path)?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            runtime.block_on(async {
                store_agent::run::run(config, Some(config_path), shutdown_signal())
                    .await
                    .context("agent failed")
            })
        }
    }
}

/// The raw bytes of `decode-scan`'s DATA: hex digits (whitespace ignored) with `--hex`, else
/// the argument's bytes with each `<GS>` replaced by GS (0x1D).
fn scan_bytes(data: &OsStr, hex: bool) -> Result<Vec<u8>, String> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = data.as_bytes();
    if !hex {
        let mut out = Vec::with_capacity(bytes.len());
        let mut rest = bytes;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix(b"<GS>") {
                out.push(0x1D);
                rest = after;
            } else {
                out.push(rest[0]);
                rest = &rest[1..];
            }
        }
        return Ok(out);
    }
    let digits: Vec<u8> = bytes
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if digits.len() % 2 != 0 {
        return Err("--hex: odd number of hex digits".to_string());
    }
    let nibble = |b: u8| char::from(b).to_digit(16);
    digits
        .chunks(2)
        .map(|pair| match (nibble(pair[0]), nibble(pair[1])) {
            (Some(hi), Some(lo)) => Ok((hi * 16 + lo) as u8),
            _ => Err(format!(
                "--hex: {:?} is not a hex byte",
                String::from_utf8_lossy(pair)
            )),
        })
        .collect()
}

fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Behind a reload layer, so HQ's SetLogFilter command can switch it for a while.
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    store_agent::command::log_filter::install(handle);
    // Under systemd (stderr connected to the journal) log to journald with structured fields.
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        if let Ok(journald) = tracing_journald::layer() {
            tracing_subscriber::registry()
                .with(filter)
                .with(journald)
                .init();
            return;
        }
    }
    // Colour codes only on a terminal: log files get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(ansi)
                .with_writer(std::io::stderr),
        )
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
