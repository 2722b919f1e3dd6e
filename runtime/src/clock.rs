//! The wall clock as Unix milliseconds, the unit every time field on the wire uses.
//!
//! A clock before 1970 (a box that booted without RTC) reads 0 rather than failing: callers
//! stamp status messages with it, and "unknown" is the honest value then.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch by the wall clock (0 if the clock is before 1970).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_plausible_time() {
        // 2023-11-14 and later: the clock of the machine running the tests is set.
        let now = now_ms();
        assert!(now > 1_700_000_000_000, "{now}");
        assert!(now_ms() >= now);
    }
}
