//! Making sled's `conf` file durable.
//!
//! sled 0.34 writes `{db}/conf` (its storage parameters) once, when a database is created, and
//! never fsyncs it. A power cut soon after the first start can leave the file empty while the
//! data file holds synced pages; sled then opens with default parameters over that data and
//! panics later ("tried to serialize Uninitialized"), on every start. Found by the collector's
//! simulated power cuts. Syncing the file and its directory right after opening closes that
//! window; it costs two fsyncs per process start.

use std::fs::File;
use std::io;
use std::path::Path;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syncs_a_conf_and_tolerates_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        assert!(sync(&dir.path().join("none")).is_ok());
        std::fs::write(dir.path().join("conf"), b"segment_size: 524288").unwrap();
        sync(dir.path()).unwrap();
        // A conf that cannot be opened is an error, not silence.
        std::fs::create_dir(dir.path().join("bad")).unwrap();
        std::fs::create_dir(dir.path().join("bad").join("conf")).unwrap();
        assert!(sync(&dir.path().join("bad")).is_err());
    }
}
