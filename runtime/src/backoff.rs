//! Capped exponential backoff with full jitter: the n-th wait is uniform in
//! `0..=min(max, min · 2^n)`, so ten thousand stores that lost HQ at the same moment do not come
//! back in step.
//!
//! Millisecond resolution; the first bound is at least 1 ms, so a misconfigured zero can never
//! turn a reconnect loop into a busy loop.

use std::time::Duration;

use rand::Rng;

/// Doubling is capped at 2^32 times the first bound (far beyond any sensible maximum), so the
/// arithmetic cannot overflow however many failures are counted.
const MAX_DOUBLINGS: u32 = 32;

/// Reconnect (or restart) delays; [`Backoff::reset`] after a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    min_ms: u64,
    max_ms: u64,
    failures: u32,
}

impl Backoff {
    /// First bound `min`, doubling per failure up to `max` (at least `min`).
    pub fn new(min: Duration, max: Duration) -> Self {
        let min_ms = (min.as_millis() as u64).max(1);
        Self {
            min_ms,
            max_ms: (max.as_millis() as u64).max(min_ms),
            failures: 0,
        }
    }

    /// [`Backoff::new`] with bounds in milliseconds, as the config files give them.
    pub fn from_millis(min_ms: u64, max_ms: u64) -> Self {
        Self::new(Duration::from_millis(min_ms), Duration::from_millis(max_ms))
    }

    /// The bound of the next delay, before jitter.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u64 << self.failures.min(MAX_DOUBLINGS);
        Duration::from_millis(self.min_ms.saturating_mul(factor).min(self.max_ms))
    }

    /// The next delay; each call counts one more failure.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling().as_millis() as u64;
        self.failures = self.failures.saturating_add(1);
        Duration::from_millis(rand::rng().random_range(0..=ceiling))
    }

    /// Back to the first bound after a success.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ceilings(b: &mut Backoff, n: usize) -> Vec<u128> {
        (0..n)
            .map(|_| {
                let c = b.ceiling();
                let d = b.next_delay();
                assert!(d <= c, "{d:?} > {c:?}");
                c.as_millis()
            })
            .collect()
    }

    #[test]
    fn grows_to_the_cap_with_jitter_below_the_ceiling() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        assert_eq!(ceilings(&mut b, 6), [100, 200, 400, 800, 1000, 1000]);
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_millis(100));
    }

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::from_millis(250, 2000);
        assert_eq!(ceilings(&mut b, 6), [250, 500, 1000, 2000, 2000, 2000]);
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_millis(250));
        for _ in 0..100 {
            b.next_delay();
        }
        assert_eq!(b.ceiling(), Duration::from_millis(2000));
    }

    #[test]
    fn many_failures_do_not_overflow() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::MAX);
        for _ in 0..1000 {
            b.next_delay();
        }
        assert_eq!(b.ceiling(), Duration::from_millis(1000 << 32));
    }

    #[test]
    fn bounds_are_sane_for_bad_input() {
        // A zero first bound would reconnect in a busy loop; a max below min is raised to min.
        let b = Backoff::from_millis(0, 0);
        assert_eq!(b.ceiling(), Duration::from_millis(1));
        let b = Backoff::from_millis(500, 10);
        assert_eq!(b.ceiling(), Duration::from_millis(500));
    }

    #[test]
    fn jitter_spreads_delays_over_the_whole_range() {
        let mut b = Backoff::from_millis(10_000, 10_000);
        let delays: Vec<u128> = (0..200).map(|_| b.next_delay().as_millis()).collect();
        let distinct: std::collections::HashSet<_> = delays.iter().collect();
        assert!(distinct.len() > 10, "full jitter gives distinct delays");
        assert!(delays.iter().all(|&d| d <= 10_000));
        // Full jitter, not "half" jitter: delays reach well below half the ceiling.
        assert!(delays.iter().any(|&d| d < 5_000), "{delays:?}");
    }
}
