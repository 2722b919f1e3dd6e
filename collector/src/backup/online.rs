//! `POST /v1/admin/backup` inside the running collector: the request is checked, the content is
//! read between two commit groups, the copy is written with ingest running again.
//!
//! The request comes from the network: its body is bounded ([`MAX_REQUEST_BYTES`], enforced by
//! the route), must be exactly `{"dest": "<absolute path>"}`, and the path is checked before
//! anything is read. One backup runs at a time. Every refusal is counted in
//! `store_collector_backups_total{result="refused"}` and logged at most once a minute per reason.

use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::Deserialize;
use store_runtime::log_limit::LogLimit;
use tracing::{info, warn};

use super::write::{self, Source};
use super::{BackupError, Manifest};
use crate::rules::Runtime;

/// Largest request body accepted.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// Longest destination path accepted (Linux's `PATH_MAX`).
const MAX_DEST_BYTES: usize = 4096;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    dest: String,
}

/// The backups of one running collector: who it is, where its database is, and what happened.
#[derive(Debug)]
pub struct Backups {
    collector_id: String,
    /// `{state_dir}/state`: a backup may not be written into it.
    db_dir: PathBuf,
    running: tokio::sync::Mutex<()>,
    counters: BackupCounters,
    log: Mutex<LogLimit<&'static str>>,
}

/// Backups since start, for `/metrics`.
#[derive(Debug, Default)]
pub struct BackupCounters {
    pub written: AtomicU64,
    pub refused: AtomicU64,
    pub failed: AtomicU64,
    /// Ingest pause of the newest backup, microseconds.
    pub last_pause_us: AtomicU64,
    /// When the newest backup's content was read (Unix ms; 0: none yet).
    pub last_written_ms: AtomicU64,
}

impl Backups {
    pub fn new(collector_id: &str, state_dir: &Path) -> Backups {
        Backups {
            collector_id: collector_id.to_owned(),
            db_dir: state_dir.join(super::manifest::STATE_DIR),
            running: tokio::sync::Mutex::new(()),
            counters: BackupCounters::default(),
            log: Mutex::new(LogLimit::default()),
        }
    }

    pub fn counters(&self) -> &BackupCounters {
        &self.counters
    }

    /// Serves one request body: returns the destination and the manifest written.
    pub async fn take(
        &self,
        rules: &Runtime,
        body: &[u8],
    ) -> Result<(PathBuf, Manifest), BackupError> {
        let result = self.take_inner(rules, body).await;
        let c = &self.counters;
        match &result {
            Ok((dest, manifest)) => {
                c.written.fetch_add(1, Ordering::Relaxed);
                c.last_pause_us
                    .store(manifest.ingest_paused_us, Ordering::Relaxed);
                c.last_written_ms.store(
                    u64::try_from(manifest.created_at_ms).unwrap_or(0),
                    Ordering::Relaxed,
                );
                info!(
                    dest = %dest.display(),
                    entries = manifest.counts.entries,
                    agents = manifest.counts.agents,
                    ingest_paused_us = manifest.ingest_paused_us,
                    "Backup written."
                );
            }
            Err(e) if refused(e) => {
                c.refused.fetch_add(1, Ordering::Relaxed);
                let key = match e {
                    BackupError::Busy => "busy",
                    BackupError::Exists(_) => "exists",
                    _ => "request",
                };
                let due = self.log.lock().expect("backup log lock poisoned").note(
                    &key,
                    1,
                    tokio::time::Instant::now(),
                );
                if let Some(count) = due {
                    warn!(error = %e, refused = count, "Backup request refused.");
                }
            }
            Err(e) => {
                c.failed.fetch_add(1, Ordering::Relaxed);
                warn!(error = %e, "Backup failed.");
            }
        }
        result
    }

    async fn take_inner(
        &self,
        rules: &Runtime,
        body: &[u8],
    ) -> Result<(PathBuf, Manifest), BackupError> {
        let dest = self.parse(body)?;
        let Ok(_running) = self.running.try_lock() else {
            return Err(BackupError::Busy);
        };
        write::check_dest(&dest)?;
        let read_at_ms = store_runtime::clock::now_ms();
        let snapshot = rules.snapshot().await?;
        let source = Source {
            collector_id: self.collector_id.clone(),
            online: true,
            paused: snapshot.paused,
            read_at_ms,
        };
        let target = dest.clone();
        let manifest =
            tokio::task::spawn_blocking(move || write::write(&target, &snapshot.entries, &source))
                .await
                .map_err(crate::rules::CommitError::from)??;
        Ok((dest, manifest))
    }

    fn parse(&self, body: &[u8]) -> Result<PathBuf, BackupError> {
        let refuse = |m: String| Err(BackupError::Refused(m));
        if body.len() > MAX_REQUEST_BYTES {
            return refuse(format!("request larger than {MAX_REQUEST_BYTES} bytes"));
        }
        let request: Request = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => return refuse(format!("expected {{\"dest\": \"/absolute/path\"}}: {e}")),
        };
        let dest = request.dest;
        if dest.is_empty() || dest.len() > MAX_DEST_BYTES || dest.contains('\0') {
            return refuse(format!(
                "dest must be 1 to {MAX_DEST_BYTES} bytes without NUL"
            ));
        }
        let dest = PathBuf::from(dest);
        if !dest.is_absolute() {
            return refuse("dest must be an absolute path".to_owned());
        }
        // `..` would make the check below (and an operator reading the log) see one place and
        // the file system another.
        if dest.components().any(|c| matches!(c, Component::ParentDir)) {
            return refuse("dest must not contain '..'".to_owned());
        }
        let inside = |dir: &Path| dest.starts_with(dir);
        let canonical = std::fs::canonicalize(&self.db_dir).ok();
        let parent = dest.parent().and_then(|p| std::fs::canonicalize(p).ok());
        if inside(&self.db_dir)
            || canonical
                .as_deref()
                .is_some_and(|db| parent.as_deref().is_some_and(|p| p.starts_with(db)))
        {
            return refuse(format!(
                "dest must not be inside the live database {}",
                self.db_dir.display()
            ));
        }
        Ok(dest)
    }
}

/// Whether an error is the request's fault (refused) rather than the collector's (failed).
pub fn refused(e: &BackupError) -> bool {
    matches!(
        e,
        BackupError::Refused(_) | BackupError::Exists(_) | BackupError::Busy
    )
}
