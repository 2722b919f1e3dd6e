//! `poslog_folder` driver: POS software drops NRF ARTS POSLog XML files into a folder; each
//! retail transaction in them becomes a `PosTransaction` event.
//!
//! ```text
//! list folder every poll_interval_ms ─settle::Settle (size+mtime unchanged settle_ms)─▶ ready
//!   ready file ─read─ decode::decode_file ──┬─ Ok(txs) ─▶ sink (with replies) ─ all durable ─▶ done/
//!                                           └─ Err ─▶ rejected/<name> + rejected/<name>.reason
//! ```
//!
//! Rules (each has a test):
//! - Only candidates are read ([`settle::is_candidate`]: `*.xml`, not hidden), and only once
//!   they have stopped changing for `settle_ms`. A file that changes while it is read is left
//!   for the next settle.
//! - A file moves to `done/` only after the journal has answered that every one of its events
//!   is durable. If the journal fails some, the file stays where it is and is tried again at
//!   the next poll, sending only the events not yet stored (the driver remembers, per file name,
//!   size and mtime, which were).
//! - A file that is not well-formed POSLog (or is larger than `max_file_bytes`) moves to
//!   `rejected/` with `<name>.reason` beside it naming the line and element. A transaction that
//!   is well-formed but unreadable is not a rejection: it becomes an event with `error` set
//!   (the parser's rule), so the good transactions around it are kept.
//! - A name already taken in `done/` or `rejected/` gets a number (`sale.1.xml`): nothing is
//!   overwritten.
//! - Delivery is at least once: if the agent stops between the journal's answer and the move,
//!   the file is read again at the next start. Events carry `register_id` and `receipt_id`
//!   for de-duplication downstream.
//! - When the folder cannot be listed, [`run`] returns an error and the agent's supervisor
//!   restarts the driver with backoff.

mod config;
pub mod decode;
pub mod settle;
#[cfg(test)]
mod tests;

pub use config::PosLogFolderConfig;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use store_proto::Event;
use tokio::sync::oneshot;
use tracing::{info, warn};

use crate::{clock, DriverError, Record, Sink};
use decode::decode_file;
use settle::{is_candidate, Settle, Stamp};

/// Subfolder for files whose events are all durable.
pub const DONE: &str = "done";
/// Subfolder for files that could not be read.
pub const REJECTED: &str = "rejected";

/// Which events of a file the journal has already stored.
struct Progress {
    stamp: Stamp,
    stored: Vec<bool>,
}

/// What became of a ready file.
enum Outcome {
    /// Moved to `done/` or `rejected/`.
    Moved,
    /// Changed while being read: wait for it to settle again.
    Changed,
    /// Some events not stored, or the move failed: try again at the next poll.
    Retry,
}

/// Watches the folder until it cannot be listed or the sink closes.
pub async fn run(config: PosLogFolderConfig, sink: Sink) -> Result<(), DriverError> {
    let io_err = |path: &Path, e: std::io::Error| DriverError::Io {
        id: config.id.clone(),
        source: std::io::Error::new(e.kind(), format!("{}: {e}", path.display())),
    };
    // The drop folder itself must exist: creating it would hide a wrong path.
    let meta = tokio::fs::metadata(&config.path)
        .await
        .map_err(|e| io_err(&config.path, e))?;
    if !meta.is_dir() {
        let e = std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a folder");
        return Err(io_err(&config.path, e));
    }
    for sub in [DONE, REJECTED] {
        let dir = config.path.join(sub);
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| io_err(&dir, e))?;
    }
    info!(driver_id = %config.id, path = %config.path.display(), "Watching POSLog folder.");

    let mut settle = Settle::new(Duration::from_millis(config.settle_ms));
    let mut progress: HashMap<String, Progress> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(config.poll_interval_ms.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let listing = list(&config.path)
            .await
            .map_err(|e| io_err(&config.path, e))?;
        progress.retain(|name, _| listing.iter().any(|(n, _)| n == name));
        for name in settle.observe(&listing, Instant::now()) {
            let Some(&(_, stamp)) = listing.iter().find(|(n, _)| *n == name) else {
                continue;
            };
            match process(&config, &sink, &name, stamp, &mut progress).await? {
                Outcome::Moved | Outcome::Changed => settle.forget(&name),
                Outcome::Retry => {}
            }
        }
    }
}

/// The candidate files of the folder with their stamps.
async fn list(dir: &Path) -> std::io::Result<Vec<(String, Stamp)>> {
    let mut out = Vec::new();
    let mut entries = tokio::fs::read_dir(dir).await?;
    while let Some(entry) = entries.next_entry().await? {
        let Ok(name) = entry.file_name().into_string() else {
            continue; // not UTF-8: not a name POS software writes
        };
        if !is_candidate(&name) {
            continue;
        }
        // A file deleted between the listing and here is simply not there.
        let Ok(meta) = tokio::fs::metadata(entry.path()).await else {
            continue;
        };
        if meta.is_file() {
            out.push((name, stamp_of(&meta)));
        }
    }
    Ok(out)
}

fn stamp_of(meta: &std::fs::Metadata) -> Stamp {
    Stamp {
        len: meta.len(),
        modified: meta.modified().ok(),
    }
}

async fn process(
    config: &PosLogFolderConfig,
    sink: &Sink,
    name: &str,
    stamp: Stamp,
    progress: &mut HashMap<String, Progress>,
) -> Result<Outcome, DriverError> {
    let id = &config.id;
    let path = config.path.join(name);
    if stamp.len > config.max_file_bytes {
        let reason = format!(
            "file is {} bytes, more than max_file_bytes = {}",
            stamp.len, config.max_file_bytes
        );
        return Ok(reject(config, name, &reason).await);
    }
    let bytes = match tokio::fs::read(&path).await {
        Ok(b) => b,
        Err(e) => {
            warn!(driver_id = %id, file = %path.display(), error = %e, "Cannot read POSLog file.");
            return Ok(Outcome::Retry);
        }
    };
    // The writer may have come back: read only what held still for the whole read.
    match tokio::fs::metadata(&path).await {
        Ok(meta) if stamp_of(&meta) == stamp && bytes.len() as u64 == stamp.len => {}
        _ => return Ok(Outcome::Changed),
    }
    let txs = match decode_file(&bytes) {
        Ok(txs) => txs,
        Err(e) => return Ok(reject(config, name, &e.to_string()).await),
    };
    let mut stored = match progress.remove(name) {
        Some(p) if p.stamp == stamp && p.stored.len() == txs.len() => p.stored,
        _ => vec![false; txs.len()],
    };

    let mut waiting: Vec<(usize, oneshot::Receiver<_>)> = Vec::new();
    for (i, body) in txs.into_iter().enumerate() {
        if stored[i] {
            continue;
        }
        let mut event = Event {
            device_id: id.clone(),
            body: Some(body),
            ..Default::default()
        };
        clock::stamp(&mut event);
        let (reply, rx) = oneshot::channel();
        let record = Record {
            event,
            reply: Some(reply),
        };
        sink.send(record)
            .await
            .map_err(|_| DriverError::SinkClosed { id: id.clone() })?;
        waiting.push((i, rx));
    }
    // All are sent before any answer is awaited, so the journal can commit them in one group.
    let mut failure = None;
    for (i, rx) in waiting {
        match rx.await {
            Ok(Ok(_seq)) => stored[i] = true,
            Ok(Err(e)) => failure = Some(e.to_string()),
            Err(_) => failure = Some("the journal dropped the event unanswered".to_string()),
        }
    }
    if let Some(error) = failure {
        let left = stored.iter().filter(|s| !**s).count();
        warn!(driver_id = %id, file = %path.display(), left, %error, "POSLog events not stored; the file stays to be tried again.");
        progress.insert(name.to_owned(), Progress { stamp, stored });
        return Ok(Outcome::Retry);
    }
    let count = stored.len();
    match move_unique(&path, &config.path.join(DONE), name).await {
        Ok(to) => {
            info!(driver_id = %id, file = %path.display(), transactions = count, to = %to.display(), "POSLog file stored.");
            Ok(Outcome::Moved)
        }
        Err(e) => {
            // Stored already: remember so the next try only moves it.
            warn!(driver_id = %id, file = %path.display(), error = %e, "Cannot move a stored POSLog file to done/.");
            progress.insert(name.to_owned(), Progress { stamp, stored });
            Ok(Outcome::Retry)
        }
    }
}

/// Moves a file to `rejected/` with its reason beside it.
async fn reject(config: &PosLogFolderConfig, name: &str, reason: &str) -> Outcome {
    let path = config.path.join(name);
    let dir = config.path.join(REJECTED);
    warn!(driver_id = %config.id, file = %path.display(), %reason, "POSLog file rejected.");
    let result = async {
        let target = free_name(&dir, name).await;
        let target_name = target.file_name().unwrap_or_default().to_string_lossy();
        // The reason first: if the move then fails, the file is simply rejected again later.
        let reason_path = dir.join(format!("{target_name}.reason"));
        tokio::fs::write(&reason_path, format!("{name}: {reason}\n")).await?;
        tokio::fs::rename(&path, &target).await
    }
    .await;
    match result {
        Ok(()) => Outcome::Moved,
        Err(e) => {
            warn!(driver_id = %config.id, file = %path.display(), error = %e, "Cannot move a rejected POSLog file.");
            Outcome::Retry
        }
    }
}

/// Moves `from` into `dir` under `name`, or a numbered variant of it when that is taken.
async fn move_unique(from: &Path, dir: &Path, name: &str) -> std::io::Result<PathBuf> {
    let to = free_name(dir, name).await;
    tokio::fs::rename(from, &to).await?;
    Ok(to)
}

/// `dir/name`, or `dir/stem.N.ext` with the smallest N that is free.
async fn free_name(dir: &Path, name: &str) -> PathBuf {
    let first = dir.join(name);
    if !exists(&first).await {
        return first;
    }
    let (stem, ext) = name.rsplit_once('.').unwrap_or((name, ""));
    let mut n = 1u64;
    loop {
        let candidate = dir.join(format!("{stem}.{n}.{ext}"));
        if !exists(&candidate).await {
            return candidate;
        }
        n += 1;
    }
}

async fn exists(path: &Path) -> bool {
    tokio::fs::symlink_metadata(path).await.is_ok()
}
