//! A per-test temporary directory holding every process's config, state and log.
//!
//! Declare it first in a test (`let env = TestEnv::new("name");`) so it is dropped last, after the
//! processes. When the test fails (the thread is panicking), the directory is kept and its path
//! printed, so the logs and the sled state can be read afterwards. `STORE_TESTS_KEEP=1` keeps it
//! for passing tests too. Each test environment also arms a [`crate::watchdog::Watchdog`], so a
//! test that hangs fails with its name instead of stalling the run.

use std::path::{Path, PathBuf};
use std::time::Instant;

/// The temporary root directory of one test.
pub struct TestEnv {
    name: String,
    dir: Option<tempfile::TempDir>,
    started: Instant,
    /// Fails the run if the test hangs (see [`crate::watchdog`]).
    _watchdog: crate::watchdog::Watchdog,
}

impl TestEnv {
    /// Creates `$TMPDIR/store-tests-<name>-XXXX/`.
    pub fn new(name: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(&format!("store-tests-{name}-"))
            .tempdir()
            .expect("create temp dir");
        println!("[{name}] test dir: {}", dir.path().display());
        Self {
            name: name.to_string(),
            dir: Some(dir),
            started: Instant::now(),
            _watchdog: crate::watchdog::Watchdog::arm(name),
        }
    }

    /// The root directory.
    pub fn path(&self) -> &Path {
        self.dir.as_ref().expect("dir present until drop").path()
    }

    /// A subdirectory, created if missing.
    pub fn subdir(&self, name: &str) -> PathBuf {
        let p = self.path().join(name);
        std::fs::create_dir_all(&p).expect("create subdir");
        p
    }

    /// Test name, for log lines.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Prints a progress line prefixed with the test name and the elapsed time, so a CI log
    /// reads as a timeline.
    pub fn log(&self, msg: impl AsRef<str>) {
        println!(
            "[{} +{:>6.1}s] {}",
            self.name,
            self.started.elapsed().as_secs_f64(),
            msg.as_ref()
        );
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        let keep = std::thread::panicking() || std::env::var_os("STORE_TESTS_KEEP").is_some();
        if let Some(dir) = self.dir.take() {
            if keep {
                let path = dir.keep();
                eprintln!(
                    "[{}] kept test dir (configs, logs, state): {}",
                    self.name,
                    path.display()
                );
            }
        }
    }
}
