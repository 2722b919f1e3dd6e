//! Backup and restore of the collector's state (the sled database in `{state_dir}/state`).
//!
//! A backup is a directory holding a fresh sled database (`state/`) and `manifest.json`
//! ([`manifest::Manifest`]): format version, collector version and id, creation time, every
//! agent's committed mark, entry counts, a digest of the content and a digest of every file.
//!
//! - Online ([`online`]): `POST /v1/admin/backup` asks the running collector, which holds sled's
//!   lock on its directory. It reads every entry under the commit lock
//!   ([`crate::rules::Runtime::snapshot`]), so the copy is a state that existed between two
//!   commit groups, lets ingest go on, and writes the copy afterwards.
//! - Offline: with no collector running, the CLI opens the database itself ([`cli`]).
//! - [`mod@write`]: the copy is built under a temporary name beside `DEST`, made durable, then
//!   renamed into place: a `DEST` that exists is a whole backup, never half of one.
//! - [`restore`]: checks the backup's files and content against its manifest, refuses while a
//!   collector holds the state directory, moves the current state aside (never deletes it) and
//!   installs the copy.
//!
//! After a restore the collector's marks are those of the backup: agents resend what they still
//! hold; what they no longer hold is reported as `DataLoss` (README, "Backup and restore").

pub mod cli;
mod files;
mod http_client;
pub mod manifest;
pub mod online;
pub mod restore;
#[cfg(test)]
mod tests;
pub mod write;

use std::path::PathBuf;

pub use self::manifest::Manifest;
pub use self::online::Backups;

/// Why a backup or a restore did not happen. Nothing was changed in any case: a half-written
/// backup is removed, a restore that fails before the swap leaves the state as it was.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The request or the destination is not acceptable.
    #[error("{0}")]
    Refused(String),
    /// The destination exists.
    #[error("{} already exists: a backup never overwrites anything (choose a new name)", .0.display())]
    Exists(PathBuf),
    /// Another backup is being written by this collector.
    #[error("a backup is already being taken; try again when it is done")]
    Busy,
    /// A collector holds the state directory.
    #[error("{0}")]
    Running(String),
    /// The backup does not match its manifest, or cannot be read as one.
    #[error("backup {}: {reason}; nothing was changed", path.display())]
    Damaged { path: PathBuf, reason: String },
    /// The backup was taken from another collector.
    #[error(
        "backup {}: taken from collector {found:?}, but this configuration is collector \
         {expected:?}; nothing was changed (--force restores it anyway)",
        path.display()
    )]
    Foreign {
        path: PathBuf,
        found: String,
        expected: String,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Sled {
        path: PathBuf,
        #[source]
        source: sled::Error,
    },
    #[error(transparent)]
    Db(#[from] crate::ledger::DbError),
    #[error(transparent)]
    Commit(#[from] crate::rules::CommitError),
}

impl BackupError {
    fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> BackupError {
        let path = path.into();
        move |source| BackupError::Io { path, source }
    }
}
