//! Writing a backup: a fresh sled database and its manifest under a temporary name beside
//! `DEST`, made durable, then renamed to `DEST`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::files;
use super::manifest::{self, Manifest, FORMAT, FORMAT_VERSION, MANIFEST_FILE, STATE_DIR};
use super::BackupError;
use crate::ledger::{Db, Entry};

/// Entries per sled batch while the copy is written: bounds the memory of one batch.
const ENTRIES_PER_BATCH: usize = 4096;

/// Where the entries come from, for the manifest.
#[derive(Debug, Clone)]
pub struct Source {
    pub collector_id: String,
    /// From a running collector (true) or a stopped one's directory.
    pub online: bool,
    /// How long ingest waited while the entries were read.
    pub paused: Duration,
    /// When the entries were read (Unix ms).
    pub read_at_ms: i64,
}

/// Checks that `dest` can become a backup: an absolute path that does not exist, in an existing
/// directory.
pub fn check_dest(dest: &Path) -> Result<(), BackupError> {
    if !dest.is_absolute() {
        return Err(BackupError::Refused(format!(
            "{}: the destination must be an absolute path",
            dest.display()
        )));
    }
    if dest.symlink_metadata().is_ok() {
        return Err(BackupError::Exists(dest.to_owned()));
    }
    let parent = parent_of(dest)?;
    if !parent.is_dir() {
        return Err(BackupError::Refused(format!(
            "{}: the destination's directory {} does not exist",
            dest.display(),
            parent.display()
        )));
    }
    Ok(())
}

fn parent_of(dest: &Path) -> Result<&Path, BackupError> {
    match (dest.parent(), dest.file_name()) {
        (Some(parent), Some(_)) => Ok(parent),
        _ => Err(BackupError::Refused(format!(
            "{}: not a usable backup path",
            dest.display()
        ))),
    }
}

/// Writes `entries` as a backup at `dest` and returns its manifest. Blocking. On error nothing
/// is left behind.
pub fn write(dest: &Path, entries: &[Entry], source: &Source) -> Result<Manifest, BackupError> {
    check_dest(dest)?;
    let parent = parent_of(dest)?;
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let partial = parent.join(format!(
        ".{name}.partial-{}-{}",
        std::process::id(),
        store_runtime::clock::now_ms()
    ));
    let guard = RemoveOnDrop(Some(partial.clone()));
    std::fs::create_dir(&partial).map_err(BackupError::io(&partial))?;
    let manifest = fill(&partial, entries, source)?;
    // A name that appeared meanwhile is not overwritten (rename would replace an empty
    // directory silently).
    if dest.symlink_metadata().is_ok() {
        return Err(BackupError::Exists(dest.to_owned()));
    }
    std::fs::rename(&partial, dest).map_err(BackupError::io(dest))?;
    guard.disarm();
    files::sync_dir(parent)?;
    Ok(manifest)
}

fn fill(dir: &Path, entries: &[Entry], source: &Source) -> Result<Manifest, BackupError> {
    let state_dir = dir.join(STATE_DIR);
    let state = Db::state_of_entries(&state_dir, entries)?;
    write_db(&state_dir, entries)?;
    files::sync_tree(dir)?;
    let (counts, agents) = manifest::summarise(entries, &state);
    let manifest = Manifest {
        format: FORMAT.to_owned(),
        format_version: FORMAT_VERSION,
        collector_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at: manifest::rfc3339(source.read_at_ms),
        created_at_ms: source.read_at_ms,
        collector_id: source.collector_id.clone(),
        online: source.online,
        ingest_paused_us: u64::try_from(source.paused.as_micros()).unwrap_or(u64::MAX),
        counts,
        agents,
        content_sha256: manifest::content_digest(entries),
        files: files::digests(&state_dir, &format!("{STATE_DIR}/"))?,
    };
    let path = dir.join(MANIFEST_FILE);
    std::fs::write(&path, manifest.to_json()).map_err(BackupError::io(&path))?;
    std::fs::File::open(&path)
        .and_then(|f| f.sync_all())
        .map_err(BackupError::io(&path))?;
    files::sync_dir(dir)?;
    Ok(manifest)
}

/// sled opened without its background flusher: the copy is flushed once, explicitly, and no
/// thread writes to the files after it is closed (their digests go into the manifest).
pub(super) fn open_quiet(path: &Path) -> Result<sled::Db, BackupError> {
    sled::Config::new()
        .path(path)
        .flush_every_ms(None)
        .open()
        .map_err(|source| BackupError::Sled {
            path: path.to_owned(),
            source,
        })
}

fn write_db(path: &Path, entries: &[Entry]) -> Result<(), BackupError> {
    let sled_err = |source| BackupError::Sled {
        path: path.to_owned(),
        source,
    };
    let db = open_quiet(path)?;
    crate::ledger::db::write_entries(&db, entries, ENTRIES_PER_BATCH).map_err(sled_err)?;
    db.flush().map_err(sled_err)?;
    Ok(())
}

/// Removes a half-written backup unless disarmed.
struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            // Our own temporary directory: nothing of value can be in it.
            let _ = std::fs::remove_dir_all(path);
        }
    }
}
