//! systemd integration: `READY=1` once the journal is open and the drivers are started, watchdog
//! pings while the agent makes progress, `STOPPING=1` on shutdown. Outside systemd (no
//! `NOTIFY_SOCKET`) every call is a no-op.
//!
//! The watchdog must catch a wedged agent, not just a live process, so it pings only while both
//! loops that matter show progress: the uplink loop ticks (it wakes every 50 ms whatever
//! happens), and the journal writer is not stuck inside one disk write.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tracing::{error, warn};

static START: OnceLock<Instant> = OnceLock::new();
/// Milliseconds since start at the uplink loop's last turn.
static UPLINK_TICK_MS: AtomicU64 = AtomicU64::new(0);
/// Milliseconds since start when the journal writer began its current disk write; 0 when idle.
static JOURNAL_BUSY_SINCE_MS: AtomicU64 = AtomicU64::new(0);

fn now_ms() -> u64 {
    // +1 so that "0" can mean "not busy" even at the very start.
    START.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

/// The uplink loop turned.
pub fn uplink_tick() {
    UPLINK_TICK_MS.store(now_ms(), Ordering::Relaxed);
}

/// The journal writer starts (`true`) or finishes (`false`) a disk write.
pub fn journal_busy(busy: bool) {
    JOURNAL_BUSY_SINCE_MS.store(if busy { now_ms() } else { 0 }, Ordering::Relaxed);
}

/// Whether both loops showed progress within `limit`.
pub fn healthy(limit: Duration) -> Result<(), String> {
    let now = now_ms();
    let limit = limit.as_millis() as u64;
    let tick = UPLINK_TICK_MS.load(Ordering::Relaxed);
    if now.saturating_sub(tick) > limit {
        return Err(format!("uplink loop silent for {} ms", now - tick));
    }
    let busy = JOURNAL_BUSY_SINCE_MS.load(Ordering::Relaxed);
    if busy != 0 && now.saturating_sub(busy) > limit {
        return Err(format!("journal write running for {} ms", now - busy));
    }
    Ok(())
}

fn notify(state: &[sd_notify::NotifyState]) {
    if let Err(e) = sd_notify::notify(state) {
        warn!(error = %e, "Cannot notify systemd.");
    }
}

/// Tells systemd the agent is up.
pub fn ready() {
    notify(&[sd_notify::NotifyState::Ready]);
}

/// Tells systemd the agent is shutting down.
pub fn stopping() {
    notify(&[sd_notify::NotifyState::Stopping]);
}

/// Starts the watchdog task when systemd asked for one (`WatchdogSec=`): pings at half the
/// interval while [`healthy`].
pub fn spawn_watchdog() -> Option<tokio::task::JoinHandle<()>> {
    let interval = sd_notify::watchdog_enabled()?;
    let half = interval / 2;
    now_ms();
    Some(tokio::spawn(async move {
        let mut ticker = tokio::time::interval(half);
        loop {
            ticker.tick().await;
            match healthy(half) {
                Ok(()) => notify(&[sd_notify::NotifyState::Watchdog]),
                // No ping: systemd restarts the agent when the watchdog interval runs out.
                Err(why) => error!(%why, "Agent wedged; withholding the watchdog ping."),
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_follows_the_heartbeats() {
        uplink_tick();
        journal_busy(false);
        assert!(healthy(Duration::from_secs(5)).is_ok());
        journal_busy(true);
        std::thread::sleep(Duration::from_millis(30));
        let e = healthy(Duration::from_millis(10)).unwrap_err();
        assert!(e.contains("uplink") || e.contains("journal"), "{e}");
        uplink_tick();
        let e = healthy(Duration::from_millis(10)).unwrap_err();
        assert!(e.contains("journal write"), "{e}");
        journal_busy(false);
        assert!(healthy(Duration::from_millis(10)).is_ok());
    }
}
