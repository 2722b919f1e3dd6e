//! Putting a backup back: check it, make sure no collector holds the state, move the current
//! state aside, install the copy.
//!
//! Order matters: everything that can fail on a bad backup (manifest, file digests, content
//! digest, marks) runs on a copy beside the state directory before the current state is
//! touched, so a refused restore changes nothing. The current state is renamed, never deleted.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::files;
use super::manifest::{self, Manifest, STATE_DIR};
use super::write::open_quiet;
use super::BackupError;
use crate::ledger::Db;

/// What a restore did.
#[derive(Debug, Clone)]
pub struct Report {
    /// The restored backup's manifest.
    pub manifest: Manifest,
    /// The state directory the backup now fills.
    pub state_dir: PathBuf,
    /// Where the previous state went (`None`: there was none).
    pub moved_aside: Option<PathBuf>,
}

/// Restores the backup `src` into `state_dir` (see the module docs). `collector_id` and `api`
/// come from the configuration: a backup of another collector is refused unless `force`, and
/// so is any restore while a collector answers on `api` or holds the state's lock. Blocking.
pub fn restore(
    src: &Path,
    state_dir: &Path,
    collector_id: &str,
    api: SocketAddr,
    force: bool,
) -> Result<Report, BackupError> {
    let manifest = verify_files(src)?;
    if manifest.collector_id != collector_id && !force {
        return Err(BackupError::Foreign {
            path: src.to_owned(),
            found: manifest.collector_id,
            expected: collector_id.to_owned(),
        });
    }
    if collector_answers(api) {
        return Err(BackupError::Running(format!(
            "a collector answers on {api} (this configuration's [api] listen): stop it before \
             restoring (e.g. systemctl stop store-collector); nothing was changed"
        )));
    }
    // A symlinked state directory (systemd's DynamicUser) is restored where it points.
    let state_dir = std::fs::canonicalize(state_dir).unwrap_or_else(|_| state_dir.to_owned());
    // Held until the new state is in place: a collector starting meanwhile fails on the lock.
    let _lock = lock_state(&state_dir)?;
    let stamp = manifest::compact_utc(store_runtime::clock::now_ms());
    let incoming = sibling(&state_dir, &format!(".restoring-{stamp}"))?;
    let guard = RemoveOnDrop(Some(incoming.clone()));
    std::fs::create_dir(&incoming).map_err(BackupError::io(&incoming))?;
    files::copy_tree(&src.join(STATE_DIR), &incoming.join(STATE_DIR))?;
    verify_content(&incoming.join(STATE_DIR), &manifest, src)?;
    files::sync_tree(&incoming)?;

    let moved_aside = if state_dir.symlink_metadata().is_ok() {
        let aside = sibling(&state_dir, &format!(".before-restore-{stamp}"))?;
        if aside.symlink_metadata().is_ok() {
            return Err(BackupError::Exists(aside));
        }
        std::fs::rename(&state_dir, &aside).map_err(BackupError::io(&state_dir))?;
        Some(aside)
    } else {
        None
    };
    if let Err(e) = std::fs::rename(&incoming, &state_dir) {
        // Put the old state back rather than leave the collector nothing to start from.
        if let Some(aside) = &moved_aside {
            let _ = std::fs::rename(aside, &state_dir);
        }
        return Err(BackupError::Io {
            path: state_dir.clone(),
            source: e,
        });
    }
    guard.disarm();
    if let Some(parent) = state_dir.parent() {
        files::sync_dir(parent)?;
    }
    Ok(Report {
        manifest,
        state_dir,
        moved_aside,
    })
}

/// Reads the manifest of `src` and checks every file of `src/state` against it: same set of
/// files, same sizes, same SHA-256.
pub fn verify_files(src: &Path) -> Result<Manifest, BackupError> {
    let manifest = Manifest::read(src)?;
    let damaged = |reason: String| BackupError::Damaged {
        path: src.to_owned(),
        reason,
    };
    let state = src.join(STATE_DIR);
    if !state.is_dir() {
        return Err(damaged(format!("{STATE_DIR}/ is missing")));
    }
    let found = files::digests(&state, &format!("{STATE_DIR}/"))?;
    for want in &manifest.files {
        match found.iter().find(|f| f.path == want.path) {
            None => return Err(damaged(format!("{} is missing", want.path))),
            Some(f) if f != want => {
                return Err(damaged(format!(
                    "{} does not match the manifest ({} bytes, sha256 {}; expected {} bytes, \
                     sha256 {})",
                    want.path, f.bytes, f.sha256, want.bytes, want.sha256
                )))
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = found.iter().find(|f| !manifest.files.contains(f)) {
        return Err(damaged(format!("{} is not in the manifest", extra.path)));
    }
    Ok(manifest)
}

/// Opens the copy at `db_dir` and checks its entries' digest, counts and marks against the
/// manifest (`src` names the backup in errors).
fn verify_content(db_dir: &Path, manifest: &Manifest, src: &Path) -> Result<(), BackupError> {
    let damaged = |reason: String| BackupError::Damaged {
        path: src.to_owned(),
        reason,
    };
    let entries = {
        let db = open_quiet(db_dir).map_err(|e| damaged(format!("cannot open: {e}")))?;
        crate::ledger::db::all_entries(&db).map_err(|e| damaged(format!("cannot read: {e}")))?
    };
    let digest = manifest::content_digest(&entries);
    if digest != manifest.content_sha256 {
        return Err(damaged(format!(
            "content sha256 {digest} does not match the manifest's {}",
            manifest.content_sha256
        )));
    }
    let state = Db::state_of_entries(db_dir, &entries).map_err(|e| damaged(e.to_string()))?;
    let (counts, agents) = manifest::summarise(&entries, &state);
    if counts != manifest.counts {
        return Err(damaged(format!(
            "the content's counts {counts:?} do not match the manifest's {:?}",
            manifest.counts
        )));
    }
    if let Some(wrong) = agents.iter().zip(&manifest.agents).find(|(a, b)| a != b) {
        return Err(damaged(format!(
            "the content's marks {:?} do not match the manifest's {:?}",
            wrong.0, wrong.1
        )));
    }
    Ok(())
}

/// Whether something answers `GET /healthz` with `ok` on `api`.
pub fn collector_answers(api: SocketAddr) -> bool {
    super::http_client::request(
        super::http_client::reachable(api),
        "GET",
        "/healthz",
        None,
        None,
        Duration::from_secs(2),
    )
    .is_ok_and(|r| r.status == 200 && r.body.trim() == "ok")
}

/// Takes sled's lock on `{state_dir}/state/db` (the one a running collector holds), so nothing
/// opens the state meanwhile. `None` when there is no database. Refuses while it is held.
pub fn lock_state(state_dir: &Path) -> Result<Option<File>, BackupError> {
    use fs2::FileExt;
    let db = state_dir.join(STATE_DIR).join("db");
    let file = match File::open(&db) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(BackupError::Io {
                path: db,
                source: e,
            })
        }
    };
    match file.try_lock_exclusive() {
        Ok(()) => Ok(Some(file)),
        Err(e) if e.raw_os_error() == fs2::lock_contended_error().raw_os_error() => {
            Err(BackupError::Running(format!(
                "{} is locked by a running collector (or another process): stop it first; \
                 nothing was changed",
                db.display()
            )))
        }
        Err(e) => Err(BackupError::Io {
            path: db,
            source: e,
        }),
    }
}

/// `{dir}{suffix}`, beside `dir`.
fn sibling(dir: &Path, suffix: &str) -> Result<PathBuf, BackupError> {
    let name = dir.file_name().ok_or_else(|| {
        BackupError::Refused(format!("{}: not a usable state directory", dir.display()))
    })?;
    let mut name = name.to_os_string();
    name.push(suffix);
    Ok(dir.with_file_name(name))
}

/// Removes the half-built incoming state unless disarmed.
struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            // Only the copy this restore made; the state and the backup are never touched here.
            let _ = std::fs::remove_dir_all(path);
        }
    }
}
