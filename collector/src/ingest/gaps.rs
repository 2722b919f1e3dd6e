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
    /// Records an agent's current gaps (ascending and disjoint, as
    /// [`AgentState::gaps`](crate::ledger::AgentState::gaps) gives them); returns how many are
    /// new. Linear in the number of gaps: both lists are walked once, side by side (a gap
    /// overlaps only its neighbours in the other list).
    pub fn update(&mut self, key: &AgentKey, gaps: &[(u64, u64)], now: Instant) -> usize {
        let previous = self.open.remove(key).unwrap_or_default();
        let mut new = 0;
        let mut first_new = None;
        let mut current = Vec::with_capacity(gaps.len());
        // Index of the first previous gap that may still overlap the current one.
        let mut start = 0;
        for &(first, last) in gaps {
            while start < previous.len() && previous[start].last < first {
                start += 1;
            }
            let (mut since, mut warned, mut seen) = (now, false, false);
            for g in previous[start..].iter().take_while(|g| g.first <= last) {
                seen = true;
                since = since.min(g.since);
                warned |= g.warned;
            }
            if !seen {
                new += 1;
                first_new.get_or_insert((first, last));
            }
            current.push(Gap {
                first,
                last,
                since,
                warned,
            });
        }
        if let Some((first, last)) = first_new {
            // One line per agent and update, however many gaps opened.
            info!(store_id = %key.store_id, agent_id = %key.agent_id, first, last, new_gaps = new,
                "Gap in seqs: waiting for the missing events.");
        }
        if !current.is_empty() {
            self.open.insert(key.clone(), current);
        } else if !previous.is_empty() {
            info!(store_id = %key.store_id, agent_id = %key.agent_id, "Gaps closed.");
        }
        new
    }

    /// Warns (once each, one line per agent) about gaps open longer than [`STALE_AFTER`];
    /// returns how many.
    pub fn warn_stale(&mut self, now: Instant) -> usize {
        let mut warned = 0;
        for (key, gaps) in &mut self.open {
            let mut agent_warned = 0;
            let mut oldest: Option<&Gap> = None;
            for gap in gaps.iter_mut() {
                if !gap.warned && now.duration_since(gap.since) > STALE_AFTER {
                    gap.warned = true;
                    agent_warned += 1;
                }
            }
            if agent_warned == 0 {
                continue;
            }
            for gap in gaps.iter() {
                if oldest.is_none_or(|o| gap.since < o.since) {
                    oldest = Some(gap);
                }
            }
            warned += agent_warned;
            if let Some(gap) = oldest {
                warn!(store_id = %key.store_id, agent_id = %key.agent_id,
                    first = gap.first, last = gap.last,
                    open_secs = now.duration_since(gap.since).as_secs(),
                    stale_gaps = agent_warned, open_gaps = gaps.len(),
                    "Gap in seqs persists: events still missing.");
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

    #[test]
    fn splits_and_merges_keep_the_oldest_age() {
        let key = AgentKey::new("s1", "a1");
        let mut t = GapTracker::default();
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(40);
        assert_eq!(t.update(&key, &[(1, 5), (10, 20)], t0), 2);
        assert_eq!(t.update(&key, &[(1, 5), (10, 20), (30, 30)], t1), 1);
        // (1, 12) overlaps two old gaps; (15, 16) and (18, 20) split one; (30, 30) is younger.
        assert_eq!(
            t.update(&key, &[(1, 12), (15, 16), (18, 20), (30, 30)], t1),
            0
        );
        assert_eq!(t.warn_stale(t0 + Duration::from_secs(61)), 3);
        assert_eq!(t.warn_stale(t0 + Duration::from_secs(101)), 1);
    }

    #[test]
    fn many_gaps_take_linear_time() {
        let key = AgentKey::new("s1", "a1");
        let mut t = GapTracker::default();
        let t0 = Instant::now();
        let gaps: Vec<(u64, u64)> = (0..200_000u64).map(|i| (i * 4 + 2, i * 4 + 3)).collect();
        let started = std::time::Instant::now();
        assert_eq!(t.update(&key, &gaps, t0), gaps.len());
        assert_eq!(t.update(&key, &gaps, t0), 0);
        // Quadratic would be 4·10^10 steps; linear is well under a second even unoptimised.
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
