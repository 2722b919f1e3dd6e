//! Waiting for outcomes by polling with a deadline.
//!
//! Tests never sleep a fixed time hoping something happened; they poll a probe until it holds
//! and, at the deadline, panic with what they waited for and the last state the probe saw.

use std::time::{Duration, Instant};

/// Polls `probe` until it returns `Ok`, and returns that value. `Err(state)` means "not yet" and
/// describes the current state; on timeout the panic message names `what` and the last state.
pub fn wait_for<T>(
    timeout: Duration,
    what: &str,
    mut probe: impl FnMut() -> Result<T, String>,
) -> T {
    match try_wait_for(timeout, &mut probe) {
        Ok(v) => v,
        Err(last) => panic!("timed out after {timeout:?} waiting for {what}; last state: {last}"),
    }
}

/// Like [`wait_for`], but returns the last state instead of panicking on timeout.
pub fn try_wait_for<T>(
    timeout: Duration,
    mut probe: impl FnMut() -> Result<T, String>,
) -> Result<T, String> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        let last = match probe() {
            Ok(v) => return Ok(v),
            Err(state) => state,
        };
        if start.elapsed() >= timeout {
            return Err(last);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// Polls `cond` until it is true; panics on timeout naming `what`.
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    wait_for(timeout, what, || {
        if cond() {
            Ok(())
        } else {
            Err("condition false".to_string())
        }
    })
}

/// Sleeps `d` while checking `alive` every 100 ms, for scenario steps that are timed on purpose
/// (an outage of 30 s, a random moment to kill something): a process that dies meanwhile fails
/// the test at once instead of after the sleep.
pub fn sleep_checking(d: Duration, mut alive: impl FnMut() -> Result<(), String>) {
    let end = Instant::now() + d;
    loop {
        if let Err(e) = alive() {
            panic!("while waiting {d:?}: {e}");
        }
        let now = Instant::now();
        if now >= end {
            return;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(100)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_value_once_ready() {
        let mut n = 0;
        let v = wait_for(Duration::from_secs(5), "n reaches 3", || {
            n += 1;
            if n >= 3 {
                Ok(n * 10)
            } else {
                Err(format!("n = {n}"))
            }
        });
        assert_eq!(v, 30);
    }

    #[test]
    #[should_panic(expected = "waiting for the impossible; last state: still 7")]
    fn panics_with_what_and_last_state() {
        wait_for::<()>(Duration::from_millis(50), "the impossible", || {
            Err("still 7".into())
        });
    }
}
