//! Wires the agent together: journal, drivers, uplink; and shuts it down in order.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use crate::command::{self, reload::ReloadRequest};
use crate::config::AgentConfig;
use crate::journal::{run_writer, Journal, JournalError};
use crate::privacy::Privacy;
use crate::{metrics, service, status, supervisor, uplink};

/// Records waiting for the journal before drivers are slowed down.
const SINK_CAPACITY: usize = 16 * 1024;

/// Resend requests waiting for the uplink before more are refused.
const RESEND_QUEUE: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Secret(#[from] store_runtime::secret::SecretError),
    #[error(transparent)]
    Privacy(#[from] crate::privacy::PrivacyError),
    #[error(transparent)]
    Tls(#[from] store_runtime::tls::TlsError),
    #[error(transparent)]
    Commands(#[from] command::done::DoneError),
}

/// Runs the agent until `shutdown` resolves, then stops drivers, commits what they handed in,
/// waits briefly for in-flight batches, and returns. With `config_path`, SIGHUP reloads the
/// file and restarts only the drivers whose config changed; the journal and uplink keep running.
pub async fn run(
    config: AgentConfig,
    config_path: Option<PathBuf>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), RunError> {
    // Secrets first: a wrong path stops the agent at start-up instead of leaving it running
    // without an uplink.
    let credentials = config.mqtt_credentials()?;
    let privacy = Privacy::load(&config.privacy, &config.state_dir)?;
    let tls = config.mqtt_tls()?;
    if let Some(start) = config.clock.simulated_start_ms {
        store_drivers::clock::simulate(start, config.clock.speed, config.clock.anchor_ms);
        warn!(
            start_ms = start,
            speed = config.clock.speed,
            "Simulated clock: events carry simulated times (demo/test mode)."
        );
    }
    let state_dir = config.state_dir.clone();
    let journal_cfg = config.journal.clone();
    let (journal, reader, report) =
        tokio::task::spawn_blocking(move || Journal::open(&state_dir, journal_cfg))
            .await
            .expect("journal open does not panic")?;
    if let Some(q) = &report.quarantined_to {
        error!(quarantine = %q.display(), next_seq = report.next_seq, "Started with a fresh journal after quarantine.");
    }
    let (sink, records) = mpsc::channel(SINK_CAPACITY);
    let (journal_tx, journal_rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    // Every event passes the privacy rules on its way into the journal: clear staff ids and
    // receipt texts never reach the disk or the wire.
    let writer = tokio::spawn(run_writer(journal, records, journal_rx, privacy));
    let board = Arc::new(status::Board::default());
    let status_server = tokio::spawn(status::serve(
        status::socket_path(&config.state_dir),
        board.clone(),
        reader.clone(),
        config.store_id.clone(),
        config.agent_id.clone(),
    ));
    let metrics_server = config.metrics.listen.map(|addr| {
        tokio::spawn(metrics::serve(
            addr,
            board.clone(),
            reader.clone(),
            config.store_id.clone(),
            config.agent_id.clone(),
        ))
    });
    // The uplink serves resend requests; `resend` is the asking side for whoever needs one
    // (HQ's replay commands).
    let (resend, resend_rx) = uplink::resend::ResendHandle::channel(RESEND_QUEUE);
    let (reload_tx, mut reload_rx) = mpsc::channel::<ReloadRequest>(1);
    let (route, commands) = start_commands(
        &config,
        config_path.is_some().then_some(reload_tx),
        board.clone(),
        reader.clone(),
        resend.clone(),
    )?;
    let uplink = tokio::spawn(uplink::run(
        config.clone(),
        uplink::BrokerAccess { credentials, tls },
        reader,
        journal_tx,
        uplink::HqPorts {
            resend: resend_rx,
            commands: Some(route),
        },
        stop_rx,
        board.clone(),
    ));
    let mut drivers = supervisor::Drivers::new(sink, board);
    drivers.apply(&config.drivers);
    info!(
        store_id = %config.store_id,
        agent_id = %config.agent_id,
        drivers = config.drivers.len(),
        "Agent running."
    );
    service::ready();
    let watchdog = service::spawn_watchdog();

    tokio::pin!(shutdown);
    let mut hangup = signal(SignalKind::hangup()).ok();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            // Reload: only drivers; the journal and uplink keep their state and connections.
            Some(_) = recv_opt(&mut hangup) => {
                if let Some(path) = &config_path {
                    let _ = command::reload::reload(path, &config, &mut drivers);
                }
            }
            // The same reload, asked for by an HQ command, which gets the report.
            Some(request) = reload_rx.recv() => {
                let report = match &config_path {
                    Some(path) => command::reload::reload(path, &config, &mut drivers),
                    None => Err("this agent was started without a config file".to_owned()),
                };
                let _ = request.reply.send(report);
            }
        }
    }
    service::stopping();
    commands.abort();
    drop(resend);
    status_server.abort();
    if let Some(m) = metrics_server {
        m.abort();
    }
    let _ = std::fs::remove_file(status::socket_path(&config.state_dir));
    if let Some(w) = watchdog {
        w.abort();
    }
    info!("Shutting down: stopping drivers.");
    // Dropping the set also drops its sender, so the journal's channel closes once the
    // drivers' own senders are gone.
    drivers.stop_all().await;
    // Connections already accepted may still hold senders; give them a moment, then stop the
    // writer: anything they send later is answered "shutting down", never "ok", so every event
    // a source was told is stored is one the uplink below still sees and sends.
    let mut writer = writer;
    if tokio::time::timeout(std::time::Duration::from_secs(2), &mut writer)
        .await
        .is_err()
    {
        writer.abort();
        let _ = writer.await;
    }
    let _ = stop_tx.send(true);
    if let Err(e) = uplink.await {
        error!(error = %e, "Uplink task failed.");
    }
    info!("Agent stopped.");
    Ok(())
}

async fn recv_opt(signal: &mut Option<Signal>) -> Option<()> {
    match signal {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

/// The HQ command executor: its durable store of answered ids, the parts it reaches, and the
/// route the uplink connects to the `.../cmd` topic.
fn start_commands(
    config: &AgentConfig,
    reload: Option<mpsc::Sender<ReloadRequest>>,
    board: Arc<status::Board>,
    reader: crate::journal::JournalReader,
    resend: uplink::resend::ResendHandle,
) -> Result<(command::CommandRoute, tokio::task::JoinHandle<()>), RunError> {
    let done = command::done::DoneStore::open(&config.state_dir, store_runtime::clock::now_ms())?;
    let (store_id, agent_id) = (config.store_id.clone(), config.agent_id.clone());
    let status_board = board.clone();
    let parts = command::Parts {
        resend,
        reload,
        status: Box::new(move || {
            let snapshot = status_board.snapshot(&store_id, &agent_id, &reader);
            let mut json = serde_json::to_value(&snapshot).unwrap_or_default();
            json["boot_id"] = store_drivers::clock::boot_id().into();
            json.to_string()
        }),
        log_filter: command::log_filter::installed().map(command::log_filter::LogFilterSwitch::new),
    };
    let counters = board.commands.clone();
    let executor = command::Executor::new(
        &config.store_id,
        &config.agent_id,
        done,
        parts,
        counters.clone(),
    );
    let (inbox, payloads) = command::Inbox::channel(counters);
    let (link_tx, link_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(command::serve(executor, payloads, link_rx));
    Ok((
        command::CommandRoute {
            inbox,
            link: link_tx,
        },
        task,
    ))
}
