//! What `store-agent status` shows: a snapshot of the running agent, served as one JSON object
//! on a Unix socket (`{state_dir}/agent.sock`, owner-only) to whoever connects.
//!
//! The uplink and the driver supervisor write their parts into a shared [`Board`]; the journal's
//! counters come from its own atomics. Reading never blocks the agent beyond a short lock.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::net::UnixListener;
use tracing::{debug, warn};

use crate::journal::JournalReader;

/// The uplink's part.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct UplinkStatus {
    /// "disconnected", "normal" or "backlog".
    pub mode: String,
    pub connected: bool,
    pub collector_online: bool,
    /// The collector's committed mark.
    pub committed_seq: u64,
    pub inflight_batches: usize,
    /// Seqs waiting to be sent.
    pub to_send: u64,
    pub last_puback_wall_ms: Option<i64>,
    pub reconnects: u64,
    pub rewinds: u64,
    /// Commit marks that went back (a collector restored from a backup), each counted once.
    #[serde(default)]
    pub restores: u64,
    /// Seqs queued to be sent again at or below the mark (restores and resend requests).
    #[serde(default)]
    pub to_replay: u64,
    /// Resend requests received, and those refused because too much waited already.
    #[serde(default)]
    pub resend_requests: u64,
    #[serde(default)]
    pub resend_refused: u64,
    /// Commit marks ignored because they claimed seqs this agent never published: someone else
    /// publishes on its `.../ack` topic (every message counts, repeats included).
    #[serde(default)]
    pub forged_marks: u64,
    /// The last forged mark seen.
    #[serde(default)]
    pub last_forged_mark: Option<u64>,
    /// Publish → PUBACK latency: cumulative counts per bucket of [`LATENCY_BUCKETS`], the
    /// count and the sum in seconds.
    pub puback_latency_buckets: Vec<u64>,
    pub puback_latency_count: u64,
    pub puback_latency_sum_s: f64,
}

/// Upper bounds (seconds) of the publish-latency histogram buckets.
pub const LATENCY_BUCKETS: [f64; 10] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// One driver's part.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DriverStatus {
    pub kind: String,
    /// "running" or "restarting".
    pub state: String,
    pub restarts: u64,
    pub last_error: Option<String>,
}

/// The whole snapshot, as printed by `store-agent status`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Snapshot {
    pub store_id: String,
    pub agent_id: String,
    pub version: String,
    pub clock_synced: bool,
    pub journal: JournalStatus,
    pub uplink: UplinkStatus,
    pub drivers: BTreeMap<String, DriverStatus>,
    /// HQ commands handled since start, by outcome (ok, error, refused, duplicate, invalid,
    /// busy).
    #[serde(default)]
    pub commands: BTreeMap<String, u64>,
}

/// The journal's part.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct JournalStatus {
    /// Highest durable seq.
    pub head_seq: u64,
    /// Events not yet committed by the collector, and their bytes.
    pub events_held: u64,
    pub bytes_held: u64,
    /// How far the journal runs ahead of the collector's committed mark.
    pub ahead_of_collector: u64,
    /// Age of the oldest event not yet committed by the collector, in ms.
    pub oldest_unacked_age_ms: Option<i64>,
    pub shed_events: u64,
    pub coalesced_events: u64,
    pub refused_events: u64,
    /// Committed events kept for refilling a restored collector, and their bytes (counted in
    /// the byte budget too).
    #[serde(default)]
    pub retained_events: u64,
    #[serde(default)]
    pub retained_bytes: u64,
    /// Every seq below it is no longer held.
    #[serde(default)]
    pub retain_floor: u64,
    /// The highest committed mark the journal has seen.
    #[serde(default)]
    pub acked_seq: u64,
}

/// Shared by the uplink, the supervisor and the status server.
#[derive(Debug, Default)]
pub struct Board {
    pub uplink: Mutex<UplinkStatus>,
    pub drivers: Mutex<BTreeMap<String, DriverStatus>>,
    /// HQ commands by outcome; shared with the command inbox and executor.
    pub commands: Arc<crate::command::Counters>,
}

impl Board {
    /// Updates one driver's entry.
    pub fn driver(&self, id: &str, f: impl FnOnce(&mut DriverStatus)) {
        let mut drivers = self.drivers.lock().expect("status lock");
        f(drivers.entry(id.to_owned()).or_default());
    }

    /// Forgets a driver that was removed by a reload.
    pub fn remove_driver(&self, id: &str) {
        self.drivers.lock().expect("status lock").remove(id);
    }

    /// Assembles a snapshot now.
    pub fn snapshot(&self, store_id: &str, agent_id: &str, reader: &JournalReader) -> Snapshot {
        let uplink = self.uplink.lock().expect("status lock").clone();
        let stats = reader.stats();
        let head = stats.head.load(Ordering::Relaxed);
        let oldest_unacked_age_ms = reader
            .first_unacked()
            .and_then(|seq| reader.get(seq))
            .map(|e| store_drivers::clock::wall_ms() - e.wall_time_ms);
        Snapshot {
            store_id: store_id.to_owned(),
            agent_id: agent_id.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            clock_synced: store_drivers::clock::clock_synced(),
            journal: JournalStatus {
                head_seq: head,
                events_held: stats.entries.load(Ordering::Relaxed),
                bytes_held: stats.bytes.load(Ordering::Relaxed),
                ahead_of_collector: head.saturating_sub(uplink.committed_seq),
                oldest_unacked_age_ms,
                shed_events: stats.shed_events.load(Ordering::Relaxed),
                coalesced_events: stats.coalesced_events.load(Ordering::Relaxed),
                refused_events: stats.rejected_events.load(Ordering::Relaxed),
                retained_events: stats.retained_events.load(Ordering::Relaxed),
                retained_bytes: stats.retained_bytes.load(Ordering::Relaxed),
                retain_floor: stats.retain_floor.load(Ordering::Relaxed),
                acked_seq: stats.trimmed_through.load(Ordering::Relaxed),
            },
            uplink,
            drivers: self.drivers.lock().expect("status lock").clone(),
            commands: self
                .commands
                .samples()
                .into_iter()
                .map(|(o, n)| (o.to_owned(), n))
                .collect(),
        }
    }
}

/// Where the status socket lives.
pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join("agent.sock")
}

/// Serves snapshots until the task is aborted. A stale socket file from a killed agent is
/// replaced.
pub async fn serve(
    path: PathBuf,
    board: Arc<Board>,
    reader: JournalReader,
    store_id: String,
    agent_id: String,
) {
    let _ = std::fs::remove_file(&path);
    let listener = match UnixListener::bind(&path) {
        Ok(l) => l,
        Err(e) => {
            warn!(path = %path.display(), error = %e, "Cannot open the status socket; `store-agent status` will not work.");
            return;
        }
    };
    // Owner only: the snapshot names stores and devices.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    }
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let snapshot = board.snapshot(&store_id, &agent_id, &reader);
        let text = serde_json::to_vec(&snapshot).unwrap_or_default();
        tokio::spawn(async move {
            if let Err(e) = stream.write_all(&text).await {
                debug!(error = %e, "Status client went away.");
            }
            let _ = stream.shutdown().await;
        });
    }
}

/// Reads one snapshot from a running agent's socket (for the CLI).
pub fn query(path: &Path) -> std::io::Result<Snapshot> {
    use std::io::Read;
    let mut stream = std::os::unix::net::UnixStream::connect(path)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    let mut text = Vec::new();
    stream.read_to_end(&mut text)?;
    serde_json::from_slice(&text).map_err(std::io::Error::other)
}
