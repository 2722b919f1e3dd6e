//! The demo's temporary directory (configs, state, logs of every process).
//!
//! It is kept by default and removed only when the run says so: after an error, a failed
//! verdict or a panic the run never gets to say so, and the kept logs tell what happened.

use std::path::{Path, PathBuf};

/// The demo's temporary directory. Kept (and named) unless the run ends normally without
/// `--keep`: after an error, a failed verdict or a panic, its logs tell what happened.
pub struct DemoDir {
    dir: Option<tempfile::TempDir>,
    /// Whether the directory outlives this value; true until the run sets it.
    pub keep: bool,
}

impl DemoDir {
    pub fn new() -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("store-edge-demo-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        Ok(Self {
            dir: Some(dir),
            keep: true,
        })
    }

    pub fn path(&self) -> &Path {
        self.dir.as_ref().expect("present until drop").path()
    }

    pub fn subdir(&self, name: &str) -> Result<PathBuf, String> {
        let p = self.path().join(name);
        std::fs::create_dir_all(&p).map_err(|e| format!("create {}: {e}", p.display()))?;
        Ok(p)
    }
}

impl Drop for DemoDir {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            if self.keep {
                let path = dir.keep();
                eprintln!("kept {} (configs, state, logs)", path.display());
            }
        }
    }
}
