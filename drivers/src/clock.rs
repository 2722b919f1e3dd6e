//! Time stamps for events: wall time, monotonic time, boot id and clock synchronisation, so HQ
//! can place events from a box that booted with a wrong clock.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use store_proto::Event;

/// Kernel boot id, read once (it does not change while we run).
pub fn boot_id() -> &'static str {
    static BOOT_ID: OnceLock<String> = OnceLock::new();
    BOOT_ID.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "unknown".to_owned())
    })
}

/// Milliseconds since the Unix epoch by the wall clock (0 if the clock is before 1970).
pub fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// CLOCK_MONOTONIC in nanoseconds; unaffected by wall-clock jumps.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes into the timespec we own.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Whether the kernel considers the system clock synchronised (adjtimex does not report
/// TIME_ERROR). Read-only: `modes = 0` changes nothing.
pub fn clock_synced() -> bool {
    // SAFETY: a zeroed timex is a valid argument; with modes = 0 adjtimex only reads.
    #[allow(unsafe_code)]
    unsafe {
        let mut tx: libc::timex = std::mem::zeroed();
        let state = libc::adjtimex(&mut tx);
        state >= 0 && state != libc::TIME_ERROR
    }
}

/// A simulated wall clock: `start_ms` at the moment [`simulate`] was called, running `speed`
/// times faster than real time (monotonic, so a real clock jump does not disturb it).
#[derive(Debug, Clone, Copy)]
struct Simulation {
    start_ms: i64,
    /// Monotonic time at which the simulated clock read `start_ms` (may lie in the future).
    origin_ns: i128,
    speed: f64,
}

static SIMULATION: OnceLock<Simulation> = OnceLock::new();

/// Makes [`reported_ms`] (the time stamped on events and reported to HQ) a simulated clock that
/// starts at `start_ms` now and runs `speed` times faster. For demos and tests that play a store
/// day in minutes; never in production. Only the first call takes effect.
///
/// `anchor_ms` (real wall time) is when the simulated clock reads `start_ms`; `None` means now.
/// An anchor lets a test or demo script compute the simulated time exactly, without knowing when
/// the agent started. From then on it runs on the monotonic clock.
pub fn simulate(start_ms: i64, speed: f64, anchor_ms: Option<i64>) {
    let now_ns = monotonic_ns() as i128;
    let ahead_ns = anchor_ms.map_or(0, |a| i128::from(wall_ms() - a) * 1_000_000);
    let _ = SIMULATION.set(Simulation {
        start_ms,
        origin_ns: now_ns - ahead_ns,
        speed,
    });
}

/// The agent's time as it reports it on events, batches and statuses: the wall clock, or the
/// simulated one (see [`simulate`]). Journal internals keep using [`wall_ms`].
pub fn reported_ms() -> i64 {
    match SIMULATION.get() {
        None => wall_ms(),
        Some(sim) => {
            let elapsed_ns = (monotonic_ns() as i128 - sim.origin_ns).max(0) as f64;
            sim.start_ms + (elapsed_ns * sim.speed / 1e6) as i64
        }
    }
}

/// Fills the time fields of an event with "now".
pub fn stamp(event: &mut Event) {
    event.wall_time_ms = reported_ms();
    event.monotonic_ns = monotonic_ns();
    event.clock_synced = clock_synced();
    event.boot_id = boot_id().to_owned();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_does_not_go_back() {
        let a = monotonic_ns();
        let b = monotonic_ns();
        assert!(a > 0 && b >= a);
    }

    #[test]
    fn stamp_fills_every_field() {
        let mut e = Event::default();
        stamp(&mut e);
        assert!(e.wall_time_ms > 1_600_000_000_000);
        assert!(e.monotonic_ns > 0);
        assert!(!e.boot_id.is_empty());
    }
}
