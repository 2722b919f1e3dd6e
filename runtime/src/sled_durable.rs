//! Making durable the files sled itself never fsyncs: `conf` and the blob files.
//!
//! sled 0.34 writes `{db}/conf` (its storage parameters) once, when a database is created, and
//! never fsyncs it. A power cut soon after the first start can leave the file empty while the
//! data file holds synced pages; sled then opens with default parameters over that data and
//! panics later ("tried to serialize Uninitialized"), on every start. Found by the collector's
//! simulated power cuts. Syncing the file and its directory right after opening closes that
//! window; it costs two fsyncs per process start.
//!
//! sled also writes any log item over about 128 KiB (a big value, or a leaf node whose values
//! add up to that) to its own file under `{db}/blobs/`, and never fsyncs those either. The log
//! entry pointing at a blob becomes durable with the caller's fdatasync of sled's data file;
//! [`Blobs::sync_new`], called just before that fdatasync, makes every blob file written since
//! the last call durable first, so a durable log never points at a blob a power cut emptied.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Fsyncs `{db_dir}/conf` and `db_dir` itself. A missing `conf` is not an error (nothing to
/// make durable).
pub fn sync(db_dir: &Path) -> io::Result<()> {
    match File::open(db_dir.join("conf")) {
        Ok(f) => f.sync_all()?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    File::open(db_dir)?.sync_all()
}

/// The blob files of one sled database already made durable.
#[derive(Debug)]
pub struct Blobs {
    dir: PathBuf,
    synced: Mutex<HashSet<OsString>>,
}

impl Blobs {
    /// For the database in `db_dir`.
    pub fn new(db_dir: &Path) -> Self {
        Self {
            dir: db_dir.join("blobs"),
            synced: Mutex::new(HashSet::new()),
        }
    }

    /// Fsyncs every blob file not synced before (and then the blob directory), returning how
    /// many. Blobs sled has removed are forgotten. A database without blobs costs one failed
    /// directory read.
    pub fn sync_new(&self) -> io::Result<usize> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut synced = self.synced.lock().unwrap_or_else(|e| e.into_inner());
        let mut present = HashSet::new();
        let mut new = 0;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            if !synced.contains(&name) {
                match File::open(entry.path()) {
                    Ok(f) => f.sync_data()?,
                    // Removed by sled's blob GC between the listing and the open.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
                new += 1;
            }
            present.insert(name);
        }
        *synced = present;
        if new > 0 {
            File::open(&self.dir)?.sync_all()?;
        }
        Ok(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syncs_a_conf_and_tolerates_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        assert!(sync(&dir.path().join("none")).is_ok());
        std::fs::write(dir.path().join("conf"), b"segment_size: 524288").unwrap();
        sync(dir.path()).unwrap();
        // A database directory that does not exist while its conf path is asked for is an
        // error only when the conf exists; here neither does, so nothing is synced.
        assert!(sync(&dir.path().join("none").join("deeper")).is_ok());
    }

    #[test]
    fn blobs_are_synced_once_each() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::new(dir.path());
        assert_eq!(blobs.sync_new().unwrap(), 0, "no blob directory yet");
        std::fs::create_dir(dir.path().join("blobs")).unwrap();
        std::fs::write(dir.path().join("blobs").join("17"), b"blob").unwrap();
        std::fs::write(dir.path().join("blobs").join("18"), b"blob").unwrap();
        assert_eq!(blobs.sync_new().unwrap(), 2);
        assert_eq!(blobs.sync_new().unwrap(), 0, "already synced");
        std::fs::remove_file(dir.path().join("blobs").join("17")).unwrap();
        std::fs::write(dir.path().join("blobs").join("19"), b"blob").unwrap();
        assert_eq!(blobs.sync_new().unwrap(), 1);
    }
}
