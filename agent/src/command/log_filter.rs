//! Switching the tracing filter for a while (HQ's SetLogFilter), then going back.
//!
//! The binary installs its reload handle once at start-up ([`install`]); the switch remembers
//! the filter in force before the first temporary one and restores it when the timer ends. A
//! newer switch replaces the filter and the timer but keeps that original baseline, so two
//! overlapping switches can never leave a temporary filter behind for good.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::task::JoinHandle;
use tracing::info;
use tracing_subscriber::{reload, EnvFilter, Registry};

/// Where a filter is applied: the process's subscriber, or a stand-in in tests.
pub trait FilterTarget: Send + Sync + 'static {
    /// Applies `filter` (already checked to parse).
    fn set(&self, filter: &str) -> Result<(), String>;
    /// The filter in force, as text that parses back to it.
    fn current(&self) -> Result<String, String>;
}

impl FilterTarget for reload::Handle<EnvFilter, Registry> {
    fn set(&self, filter: &str) -> Result<(), String> {
        let new = EnvFilter::try_new(filter).map_err(|e| e.to_string())?;
        self.reload(new).map_err(|e| e.to_string())
    }

    fn current(&self) -> Result<String, String> {
        self.with_current(|f| f.to_string())
            .map_err(|e| e.to_string())
    }
}

static INSTALLED: OnceLock<Arc<dyn FilterTarget>> = OnceLock::new();

/// Makes the process's filter switchable by commands; called once where logging starts.
pub fn install(target: impl FilterTarget) {
    let _ = INSTALLED.set(Arc::new(target));
}

/// The installed target, if logging was set up with one.
pub fn installed() -> Option<Arc<dyn FilterTarget>> {
    INSTALLED.get().cloned()
}

/// Whether `filter` is plain `target=level` directives ([`store_runtime::log_directives`]) that
/// parse as a tracing `EnvFilter`.
pub fn check(filter: &str) -> Result<(), String> {
    store_runtime::log_directives::check_plain(filter)?;
    EnvFilter::try_new(filter)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[derive(Default)]
struct Temporary {
    /// The filter to go back to; `Some` while a temporary one is in force.
    baseline: Option<String>,
    timer: Option<JoinHandle<()>>,
    /// Bumped by every switch: a timer that woke just as a newer switch took the lock sees it
    /// is stale and leaves the newer filter alone.
    generation: u64,
}

/// Applies temporary filters and reverts them; cheap to clone.
#[derive(Clone)]
pub struct LogFilterSwitch {
    target: Arc<dyn FilterTarget>,
    state: Arc<Mutex<Temporary>>,
}

impl LogFilterSwitch {
    pub fn new(target: Arc<dyn FilterTarget>) -> Self {
        LogFilterSwitch {
            target,
            state: Arc::new(Mutex::new(Temporary::default())),
        }
    }

    /// Puts `filter` in force for `duration`, replacing any temporary filter and its timer.
    /// Returns the filter that comes back afterwards. Must run inside a tokio runtime.
    pub fn apply(&self, filter: &str, duration: Duration) -> Result<String, String> {
        let mut state = self.state.lock().expect("log filter lock");
        let baseline = match &state.baseline {
            Some(b) => b.clone(),
            None => self.target.current()?,
        };
        self.target.set(filter)?;
        if let Some(old) = state.timer.take() {
            old.abort();
        }
        state.baseline = Some(baseline.clone());
        state.generation += 1;
        let generation = state.generation;
        let target = self.target.clone();
        let shared = self.state.clone();
        state.timer = Some(tokio::spawn(async move {
            tokio::time::sleep(duration).await;
            let mut state = shared.lock().expect("log filter lock");
            if state.generation != generation {
                return;
            }
            if let Some(back) = state.baseline.take() {
                match target.set(&back) {
                    Ok(()) => {
                        info!(filter = %back, "Temporary log filter ended; previous filter restored.")
                    }
                    Err(e) => {
                        tracing::warn!(filter = %back, error = %e, "Cannot restore the previous log filter.")
                    }
                }
            }
            state.timer = None;
        }));
        Ok(baseline)
    }
}
