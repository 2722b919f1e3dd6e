//! Logging of seq gaps: INFO when a gap is first seen, WARN once when it outlives
//! [`STALE_AFTER`].
//!
//! Gaps are normal for a while (agents send live data before their backlog), so a gap is news
//! only when it appears and when it does not go away. A gap that shrinks or splits keeps the age
//! of the gap it came from.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;
use tracing::{info, warn};

use crate::ledger::AgentKey;

/// How long a gap may stay open before it is logged as a warning.
pub const STALE_AFTER: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
struct Gap {
    first: u64,
    last: u64,
    since: Instant,
    warned: bool,
}

/// Open gaps per agent, as last reported.
#[derive(Debug, Default)]
pub struct GapTracker {
    open: HashMap<AgentKey, Vec<Gap>>,
}

impl GapTracker {
    /// Records an agent's current gaps; returns how many are new.
    pub fn update(&mut self, key: &AgentKey, gaps: &[(u64, u64)], now: Instant) -> usize {
        let previous = self.open.remove(key).unwrap_or_default();
        let mut new = 0;
        let mut current = Vec::with_capacity(gaps.len());
        for &(first, last) in gaps {
            let overlapping = previous
                .iter()
                .filter(|g| g.first <= last && first <= g.last);
            let (mut since, mut warned, mut seen) = (now, false, false);
            for g in overlapping {
                seen = true;
                since = since.min(g.since);
                warned |= g.warned;
            }
            if !seen {
                new += 1;
                info!(store_id = %key.store_id, agent_id = %key.agent_id, first, last,
                    "Gap in seqs: waiting for the missing events.");
            }
            current.push(Gap {
                first,
                last,
                since,
                warned,
            });
        }
        if !current.is_empty() {
            self.open.insert(key.clone(), current);
        } else if !previous.is_empty() {
            info!(store_id = %key.store_id, agent_id = %key.agent_id, "Gaps closed.");
        }
        new
    }

    /// Warns (once each) about gaps open longer than [`STALE_AFTER`]; returns how many.
    pub fn warn_stale(&mut self, now: Instant) -> usize {
        let mut warned = 0;
        for (key, gaps) in &mut self.open {
            for gap in gaps.iter_mut() {
                if !gap.warned && now.duration_since(gap.since) > STALE_AFTER {
                    gap.warned = true;
                    warned += 1;
                    warn!(store_id = %key.store_id, agent_id = %key.agent_id,
                        first = gap.first, last = gap.last,
                        open_secs = now.duration_since(gap.since).as_secs(),
                        "Gap in seqs persists: events still missing.");
                }
            }
        }
        warned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_gaps_are_reported_once_and_stale_ones_warned_once() {
        let key = AgentKey::new("s1", "a1");
        let mut t = GapTracker::default();
        let t0 = Instant::now();
        assert_eq!(t.update(&key, &[(1, 10)], t0), 1);
        // The same gap, partly filled: not new, keeps its age.
        assert_eq!(
            t.update(&key, &[(3, 4), (7, 10)], t0 + Duration::from_secs(30)),
            0
        );
        assert_eq!(t.warn_stale(t0 + Duration::from_secs(59)), 0);
        assert_eq!(t.warn_stale(t0 + Duration::from_secs(61)), 2);
        assert_eq!(t.warn_stale(t0 + Duration::from_secs(120)), 0);
        // A gap elsewhere is new and young.
        assert_eq!(
            t.update(&key, &[(7, 10), (20, 21)], t0 + Duration::from_secs(120)),
            1
        );
        assert_eq!(t.warn_stale(t0 + Duration::from_secs(150)), 0);
        assert_eq!(t.warn_stale(t0 + Duration::from_secs(181)), 1);
        assert_eq!(t.update(&key, &[], t0 + Duration::from_secs(200)), 0);
        assert!(t.open.is_empty());
    }
}
