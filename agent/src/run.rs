//! Wires the agent together: journal, drivers, uplink; and shuts it down in order.

use tokio::sync::{mpsc, watch};
use tracing::{error, info};

use crate::config::{AgentConfig, ConfigError};
use crate::journal::{run_writer, Journal, JournalError};
use crate::{service, supervisor, uplink};

/// Records waiting for the journal before drivers are slowed down.
const SINK_CAPACITY: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// Runs the agent until `shutdown` resolves, then stops drivers, commits what they handed in,
/// waits briefly for in-flight batches, and returns.
pub async fn run(
    config: AgentConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), RunError> {
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
    let writer = tokio::spawn(run_writer(journal, records, journal_rx));
    let uplink = tokio::spawn(uplink::run(config.clone(), reader, journal_tx, stop_rx));
    let drivers = supervisor::spawn_drivers(&config.drivers, &sink);
    // Only drivers hold senders now, so the journal's channel closes when they are gone.
    drop(sink);
    info!(
        store_id = %config.store_id,
        agent_id = %config.agent_id,
        drivers = config.drivers.len(),
        "Agent running."
    );
    service::ready();
    let watchdog = service::spawn_watchdog();

    shutdown.await;
    service::stopping();
    if let Some(w) = watchdog {
        w.abort();
    }
    info!("Shutting down: stopping drivers.");
    for d in &drivers {
        d.abort();
    }
    for d in drivers {
        let _ = d.await;
    }
    // Connections already accepted may still hold senders; give them a moment, then stop
    // waiting: anything they send later is answered "shutting down".
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), writer).await;
    let _ = stop_tx.send(true);
    match uplink.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e.into()),
        Err(e) => error!(error = %e, "Uplink task failed."),
    }
    info!("Agent stopped.");
    Ok(())
}
