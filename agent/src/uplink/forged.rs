//! Reporting of forged commit marks (see [`super::state`] for how they are told apart).
//!
//! A forged mark means someone else publishes on this agent's `.../ack` topic or acknowledges for
//! it (or HQ remembers an older journal of this agent whose `state_dir` was reset). The uplink
//! ignores it; this module makes sure people hear about it without being flooded: every message
//! is counted (metric and status), while the warn log and the `DeviceStatus` event for HQ (state
//! TAMPERED, device "agent") go out once per distinct mark and at most once per
//! [`REPORT_EVERY`]. A retained forged mark comes back on every reconnect: counted, not repeated.

use std::time::{Duration, Instant};

use store_drivers::clock;
use store_proto::v1::{DeviceState, DeviceStatus};
use store_proto::{Body, Event};
use tracing::warn;

use crate::journal::AGENT_DEVICE_ID;

/// Least time between two reports (log line and HQ event) of forged marks.
pub const REPORT_EVERY: Duration = Duration::from_secs(60);

/// Decides which forged marks are reported, and builds the report.
#[derive(Debug, Default)]
pub struct ForgedMarks {
    last_reported: Option<(u64, Instant)>,
    /// Forged marks seen since the last report and not reported.
    unreported: u64,
}

impl ForgedMarks {
    /// A forged `mark` (above `bound`, the highest seq this agent can have published) arrived on
    /// `topic`. Returns the event to journal for HQ when this one is reported; logs it then.
    pub fn on_forged(&mut self, mark: u64, bound: u64, topic: &str, now: Instant) -> Option<Event> {
        let due = match self.last_reported {
            None => true,
            Some((last, at)) => last != mark && now.saturating_duration_since(at) >= REPORT_EVERY,
        };
        if !due {
            self.unreported += 1;
            return None;
        }
        let reason = reason(mark, bound, topic, self.unreported);
        warn!(mark, highest_published = bound, %topic, "{reason}");
        self.last_reported = Some((mark, now));
        self.unreported = 0;
        let mut event = Event {
            device_id: AGENT_DEVICE_ID.to_owned(),
            body: Some(Body::DeviceStatus(DeviceStatus {
                state: DeviceState::Tampered as i32,
                reason,
                raw: Vec::new(),
            })),
            ..Default::default()
        };
        clock::stamp(&mut event);
        Some(event)
    }
}

/// The one-line explanation carried by the log line and the HQ event.
pub fn reason(mark: u64, bound: u64, topic: &str, unreported: u64) -> String {
    let mut s = format!(
        "forged commit mark {mark} above highest published {bound} on {topic}: someone else \
         publishes on this agent's topic or acks for it (or HQ remembers an older journal of this \
         agent); ignored, nothing was trimmed"
    );
    if unreported > 0 {
        s.push_str(&format!(
            "; {unreported} more forged marks since the last report"
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOPIC: &str = "stores/s1/agents/a1/ack";

    #[test]
    fn reports_once_per_distinct_mark_and_at_most_once_a_minute() {
        let t = Instant::now();
        let mut f = ForgedMarks::default();
        let ev = f
            .on_forged(1005, 5, TOPIC, t)
            .expect("first one is reported");
        let Some(Body::DeviceStatus(s)) = &ev.body else {
            panic!("{ev:?}")
        };
        assert_eq!(s.state, DeviceState::Tampered as i32);
        assert_eq!(ev.device_id, "agent");
        assert!(
            s.reason.starts_with(
                "forged commit mark 1005 above highest published 5 on stores/s1/agents/a1/ack:"
            ),
            "{}",
            s.reason
        );
        let later = t + REPORT_EVERY * 2;
        assert!(
            f.on_forged(1005, 5, TOPIC, later).is_none(),
            "the same retained mark again"
        );
        assert!(
            f.on_forged(u64::MAX, 5, TOPIC, t + Duration::from_secs(1))
                .is_none(),
            "rate-limited"
        );
        let ev = f
            .on_forged(u64::MAX, 5, TOPIC, later)
            .expect("new mark, a minute later");
        let Some(Body::DeviceStatus(s)) = &ev.body else {
            panic!("{ev:?}")
        };
        assert!(
            s.reason
                .ends_with("; 2 more forged marks since the last report"),
            "{}",
            s.reason
        );
    }
}
