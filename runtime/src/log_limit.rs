//! Rate limiting of log lines about rejected input: one line per key (an agent, a kind of
//! refusal) per [`LOG_EVERY`], carrying how many rejections the silent period saw.
//!
//! Whatever a hostile client sends, the log grows by at most one line per key and period; the
//! callers' metrics still count every rejection.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

use tokio::time::Instant;

/// At most one line per key this often.
pub const LOG_EVERY: Duration = Duration::from_secs(60);

/// Most keys remembered; past that, entries older than [`LOG_EVERY`] are forgotten (and if none
/// are, all are), so made-up keys cannot fill memory.
const MAX_KEYS: usize = 10_000;

/// Decides when a refusal is logged.
#[derive(Debug)]
pub struct LogLimit<K> {
    last: HashMap<K, (Instant, u64)>,
}

impl<K> Default for LogLimit<K> {
    fn default() -> Self {
        Self {
            last: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq + Clone> LogLimit<K> {
    /// Notes `count` refusals for `key`; returns `Some(total)` (these plus the ones not logged
    /// since the last line) when a line is due now.
    pub fn note(&mut self, key: &K, count: u64, now: Instant) -> Option<u64> {
        if let Some((at, silent)) = self.last.get_mut(key) {
            if now.duration_since(*at) < LOG_EVERY {
                *silent += count;
                return None;
            }
            let total = *silent + count;
            *at = now;
            *silent = 0;
            return Some(total);
        }
        if self.last.len() >= MAX_KEYS {
            self.last
                .retain(|_, (at, _)| now.duration_since(*at) < LOG_EVERY);
            if self.last.len() >= MAX_KEYS {
                self.last.clear();
            }
        }
        self.last.insert(key.clone(), (now, 0));
        Some(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_key_and_period_with_the_silent_count() {
        let mut limit = LogLimit::default();
        let t0 = Instant::now();
        assert_eq!(limit.note(&"a", 3, t0), Some(3));
        assert_eq!(limit.note(&"a", 2, t0 + Duration::from_secs(1)), None);
        assert_eq!(limit.note(&"b", 1, t0 + Duration::from_secs(1)), Some(1));
        assert_eq!(limit.note(&"a", 4, t0 + Duration::from_secs(30)), None);
        assert_eq!(limit.note(&"a", 1, t0 + LOG_EVERY), Some(7));
        assert_eq!(limit.note(&"a", 1, t0 + LOG_EVERY), None);
    }

    #[test]
    fn made_up_keys_do_not_fill_memory() {
        let mut limit = LogLimit::default();
        let t0 = Instant::now();
        for i in 0..3 * MAX_KEYS {
            assert_eq!(limit.note(&i, 1, t0), Some(1));
        }
        assert!(limit.last.len() <= MAX_KEYS);
    }
}
