//! Time as the collector sees it: the wall clock, and "now" for the rules.
//!
//! The rules run on their own clock so that a replay or the accelerated demo can drive them with
//! event time (`[intel] clock = "event"`): there "now" is the newest event time seen, which only
//! moves forward. That clock is part of the rules' durable state (else the rules would jump back
//! to the wall clock after a restart until the next event arrives), so it remembers what was
//! last saved and reports when it moved.

use std::sync::atomic::{AtomicI64, Ordering};

use crate::config::ClockMode;

/// Milliseconds since the Unix epoch (the wall clock both binaries share).
pub use store_runtime::clock::now_ms;

/// "Now" for the rules: the wall clock, or the newest event time seen.
///
/// Lock-free: it is read and advanced once per applied event.
#[derive(Debug)]
pub struct RulesClock {
    mode: ClockMode,
    newest_event_ms: AtomicI64,
    /// `newest_event_ms` as last saved.
    saved_newest_ms: AtomicI64,
}

impl RulesClock {
    /// A clock in `mode` whose event time starts at the stored `newest_event_ms` (0: none yet).
    pub fn new(mode: ClockMode, newest_event_ms: i64) -> Self {
        Self {
            mode,
            newest_event_ms: AtomicI64::new(newest_event_ms),
            saved_newest_ms: AtomicI64::new(newest_event_ms),
        }
    }

    /// Now for the rules, reading the wall clock.
    pub fn now_ms(&self) -> i64 {
        self.now_at(now_ms())
    }

    /// [`RulesClock::now_ms`] with the wall clock already read (once per commit group, not per
    /// event).
    #[inline]
    pub fn now_at(&self, wall_ms: i64) -> i64 {
        match self.mode {
            ClockMode::Wall => wall_ms,
            ClockMode::Event => {
                let newest = self.newest_event_ms.load(Ordering::Relaxed);
                if newest == 0 {
                    wall_ms
                } else {
                    newest
                }
            }
        }
    }

    /// Notes an event's time (the event clock advances with it).
    #[inline]
    pub fn observe(&self, wall_ms: i64) {
        self.newest_event_ms.fetch_max(wall_ms, Ordering::Relaxed);
    }

    /// The newest event time if it moved since the last call (to be saved with the commit).
    pub fn take_unsaved(&self) -> Option<i64> {
        let newest = self.newest_event_ms.load(Ordering::Relaxed);
        (self.saved_newest_ms.swap(newest, Ordering::Relaxed) != newest).then_some(newest)
    }
}
