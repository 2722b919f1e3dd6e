//! The commands already answered, kept durably so an id runs at most once, across restarts.
//!
//! One append-only file, `{state_dir}/commands/done.jsonl`, a JSON line per command id with the
//! result it got. A line is written and fdatasync'd before the result leaves the agent
//! (invariant 4's rule for what counts as durable), so a crash after publishing can never let
//! the same id run again. A torn last line (a crash mid-write) is skipped at open. The file is
//! bounded: ids older than [`MAX_AGE_MS`] or beyond [`MAX_ENTRIES`] are forgotten oldest first,
//! and the file is rewritten (temporary file, fsync, rename) once it holds twice that many lines.

use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use store_proto::v1::{CommandResult, SeqRange};
use tracing::warn;

/// Ids are remembered this long (30 days): HQ does not resend a command older than that.
pub const MAX_AGE_MS: i64 = 30 * 24 * 3600 * 1000;
/// Most ids remembered.
pub const MAX_ENTRIES: usize = 10_000;
/// A line longer than this in the file is not ours (or torn): skipped at open.
const MAX_LINE_BYTES: usize = 1 << 20;

/// What is kept of one answered command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    pub id: String,
    /// When it was answered (agent wall clock, ms).
    pub at_ms: i64,
    /// The metric outcome it was counted under ("ok", "error", "refused", "invalid").
    pub outcome: String,
    pub ok: bool,
    pub message: String,
    #[serde(default)]
    pub detail_json: String,
    #[serde(default)]
    pub events_queued: u64,
    #[serde(default)]
    pub not_retained: Vec<(u64, u64)>,
}

impl Done {
    /// The result to publish, without addressee and time (the caller adds those).
    pub fn result(&self) -> CommandResult {
        CommandResult {
            id: self.id.clone(),
            ok: self.ok,
            message: self.message.clone(),
            detail_json: self.detail_json.clone(),
            events_queued: self.events_queued,
            not_retained: self
                .not_retained
                .iter()
                .map(|&(first, last)| SeqRange { first, last })
                .collect(),
            ..Default::default()
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct DoneError {
    path: String,
    source: std::io::Error,
}

/// The store of answered commands.
#[derive(Debug)]
pub struct DoneStore {
    path: PathBuf,
    file: File,
    by_id: HashMap<String, Done>,
    /// Ids oldest first (answer order).
    order: VecDeque<String>,
    /// Lines in the file, forgotten ones included.
    lines: usize,
    max_entries: usize,
}

impl DoneStore {
    /// Opens (or creates) the store in `{state_dir}/commands/`, forgetting what is too old at
    /// `now_ms`.
    pub fn open(state_dir: &Path, now_ms: i64) -> Result<Self, DoneError> {
        Self::open_bounded(state_dir, now_ms, MAX_ENTRIES)
    }

    /// [`DoneStore::open`] with another entry bound (tests).
    pub fn open_bounded(
        state_dir: &Path,
        now_ms: i64,
        max_entries: usize,
    ) -> Result<Self, DoneError> {
        let dir = state_dir.join("commands");
        let path = dir.join("done.jsonl");
        let shown = path.display().to_string();
        let err = |source| DoneError {
            path: shown.clone(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(err)?;
        let mut by_id = HashMap::new();
        let mut order = VecDeque::new();
        let mut lines = 0;
        let mut skipped = 0;
        match File::open(&path) {
            Ok(f) => {
                for line in BufReader::new(f).split(b'\n') {
                    let line = line.map_err(err)?;
                    lines += 1;
                    let parsed = (line.len() <= MAX_LINE_BYTES)
                        .then(|| serde_json::from_slice::<Done>(&line).ok())
                        .flatten();
                    match parsed {
                        Some(done) => {
                            if by_id.insert(done.id.clone(), done.clone()).is_none() {
                                order.push_back(done.id);
                            }
                        }
                        None => skipped += 1,
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(err(e)),
        }
        if skipped > 0 {
            warn!(path = %path.display(), skipped, "Unreadable lines in the answered-commands file skipped (a torn write from a crash).");
        }
        let existed = path.exists();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(err)?;
        if !existed {
            // The new file's name must survive a power cut too, not only its lines.
            File::open(&dir).and_then(|d| d.sync_all()).map_err(err)?;
        }
        let mut store = DoneStore {
            path,
            file,
            by_id,
            order,
            lines,
            max_entries: max_entries.max(1),
        };
        store.prune(now_ms);
        if store.lines > store.by_id.len() {
            store.compact().map_err(err)?;
        }
        Ok(store)
    }

    /// The stored answer for `id`.
    pub fn get(&self, id: &str) -> Option<&Done> {
        self.by_id.get(id)
    }

    /// Ids remembered.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Records `done` durably (written and fdatasync'd on return).
    pub fn record(&mut self, done: Done) -> Result<(), DoneError> {
        let shown = self.path.display().to_string();
        let err = |source| DoneError {
            path: shown.clone(),
            source,
        };
        let mut line = serde_json::to_vec(&done).map_err(|e| err(e.into()))?;
        line.push(b'\n');
        self.file.write_all(&line).map_err(err)?;
        self.file.sync_data().map_err(err)?;
        self.lines += 1;
        let now_ms = done.at_ms;
        if self.by_id.insert(done.id.clone(), done.clone()).is_none() {
            self.order.push_back(done.id);
        }
        self.prune(now_ms);
        if self.lines > 2 * self.max_entries {
            self.compact().map_err(err)?;
        }
        Ok(())
    }

    /// Forgets ids past the age or count bound, oldest first (memory only; the file follows at
    /// the next compaction).
    fn prune(&mut self, now_ms: i64) {
        while let Some(oldest) = self.order.front() {
            let too_old = self
                .by_id
                .get(oldest)
                .is_none_or(|d| now_ms.saturating_sub(d.at_ms) > MAX_AGE_MS);
            if self.order.len() <= self.max_entries && !too_old {
                break;
            }
            let id = self.order.pop_front().expect("front exists");
            self.by_id.remove(&id);
        }
    }

    /// Rewrites the file with only the remembered ids, atomically.
    fn compact(&mut self) -> std::io::Result<()> {
        let tmp = self.path.with_extension("jsonl.tmp");
        {
            let mut out = std::io::BufWriter::new(File::create(&tmp)?);
            for id in &self.order {
                if let Some(done) = self.by_id.get(id) {
                    serde_json::to_writer(&mut out, done)?;
                    out.write_all(b"\n")?;
                }
            }
            out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)?.sync_all()?;
        }
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        self.lines = self.by_id.len();
        Ok(())
    }
}
