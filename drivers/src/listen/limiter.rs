//! Rate-limited logging: at most one line per interval for one kind of event, saying how many
//! were not logged in between. A flood of bad connections must not become a flood of log lines.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One kind of event of one driver.
#[derive(Debug)]
pub(crate) struct LogLimiter {
    every: Duration,
    last: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl LogLimiter {
    pub(crate) fn new(every: Duration) -> Self {
        Self {
            every,
            last: Mutex::new(None),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(n)` when this event should be logged, `n` being how many were not logged since the
    /// previous line; `None` when it is too soon (the event is then counted as not logged).
    pub(crate) fn allow(&self) -> Option<u64> {
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        match *last {
            Some(at) if now.duration_since(at) < self.every => {
                self.suppressed.fetch_add(1, Ordering::Relaxed);
                None
            }
            _ => {
                *last = Some(now);
                Some(self.suppressed.swap(0, Ordering::Relaxed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_with_the_count_of_the_rest() {
        let limiter = LogLimiter::new(Duration::from_secs(3600));
        assert_eq!(limiter.allow(), Some(0));
        for _ in 0..5 {
            assert_eq!(limiter.allow(), None);
        }
        let limiter = LogLimiter::new(Duration::ZERO);
        assert_eq!(limiter.allow(), Some(0));
        assert_eq!(limiter.allow(), Some(0));
    }
}
