//! One stock position: the last count, the movements after it, and late arrivals.
//!
//! A stock count sets the position as of its event time; movements (sales, returns, receipts,
//! shrink, transfers) with a later event time apply on top, and movements at or before it are
//! already in the count. Events do not arrive in time order: after an outage the agent sends
//! live events first and drains the backlog later, so a count can arrive after the sales that
//! followed it, and sales from before a count can arrive after it. The position must not depend
//! on the arrival order, so it keeps:
//!
//! - the current count session (first and last scan time, summed quantity); the count is as of
//!   its *last* scan, when counting that GTIN was complete;
//! - the movements after the count, individually, net per event-time millisecond, for
//!   `movement_window_hours` (by event time, relative to the newest movement) and at most
//!   [`MAX_MOVES`] of them; older ones are summed into `folded`;
//! - older count sessions that were superseded (`stale`), a few, so that a late scan that
//!   bridges an old session and the current one (a session whose scans straddle the live/backlog
//!   boundary) joins them.
//!
//! A movement at or before the count is dropped (it is in the count). A count scan within
//! `count_session_minutes` of the current session adds to it (a later scan moves the count's
//! time forward and drops the movements it now covers); a scan older than that is a superseded
//! count and changes nothing; a newer one starts a new session, which replaces the count and
//! drops the movements before it. The one approximation: movements already summed into
//! `folded` cannot be split by time, so a count that lands in their time range (a backlog older
//! than the window, arriving after a week of newer movements) keeps them all and is counted in
//! `inexact`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Individual movements kept per position at most.
pub const MAX_MOVES: usize = 512;
/// Superseded count sessions kept per position at most.
const MAX_STALE: usize = 8;

/// A counting session of one GTIN.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Count {
    pub start_ms: i64,
    /// The count is as of this time.
    pub end_ms: i64,
    pub value: f64,
    pub scans: u32,
}

/// What a count scan did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountOutcome {
    /// Started a new session (replacing the count).
    Started,
    /// Added to the current session.
    Added,
    /// Older than the current session: kept aside, the position is unchanged.
    Superseded,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub count: Option<Count>,
    #[serde(default)]
    stale: Vec<Count>,
    /// Net movement per event time (ms), after the count.
    #[serde(default)]
    moves: BTreeMap<i64, f64>,
    /// Sum of movements after the count that were folded out of `moves`.
    #[serde(default)]
    folded: f64,
    /// Newest event time folded into `folded`.
    #[serde(default)]
    folded_until: Option<i64>,
    /// Counts that could not be placed exactly among folded movements.
    #[serde(default)]
    pub inexact: u32,
}

impl Position {
    /// The position: count (0 without one) plus every movement after it.
    pub fn value(&self) -> f64 {
        self.count.map_or(0.0, |c| c.value) + self.folded + self.moves.values().sum::<f64>()
    }

    /// Applies a movement at event time `t`; false when the count already covers it.
    pub fn movement(&mut self, t: i64, delta: f64, window_ms: i64) -> bool {
        if self.count.is_some_and(|c| t <= c.end_ms) {
            return false;
        }
        if self.folded_until.is_some_and(|f| t <= f) {
            self.folded += delta;
        } else {
            *self.moves.entry(t).or_default() += delta;
        }
        self.fold(window_ms);
        true
    }

    /// Applies a stock-count scan of `qty` units at event time `t`.
    pub fn count_scan(&mut self, t: i64, qty: f64, session_ms: i64) -> CountOutcome {
        match self.count.as_mut() {
            Some(c) if t >= c.start_ms - session_ms && t <= c.end_ms + session_ms => {
                c.value += qty;
                c.scans += 1;
                let (moved_back, moved_on) = (t < c.start_ms, t > c.end_ms);
                c.start_ms = c.start_ms.min(t);
                c.end_ms = c.end_ms.max(t);
                if moved_back {
                    self.absorb_stale(session_ms);
                }
                if moved_on {
                    self.cover_until(t);
                }
                CountOutcome::Added
            }
            Some(c) if t < c.start_ms - session_ms => {
                let scan = Count {
                    start_ms: t,
                    end_ms: t,
                    value: qty,
                    scans: 1,
                };
                match self
                    .stale
                    .iter_mut()
                    .find(|s| t >= s.start_ms - session_ms && t <= s.end_ms + session_ms)
                {
                    Some(s) => {
                        s.value += qty;
                        s.scans += 1;
                        s.start_ms = s.start_ms.min(t);
                        s.end_ms = s.end_ms.max(t);
                    }
                    None => self.push_stale(scan),
                }
                CountOutcome::Superseded
            }
            _ => {
                if let Some(old) = self.count.take() {
                    self.push_stale(old);
                }
                self.count = Some(Count {
                    start_ms: t,
                    end_ms: t,
                    value: qty,
                    scans: 1,
                });
                self.cover_until(t);
                // A scan that arrived earlier but belongs with this one (it was stale only
                // because the older count was current then) joins it.
                self.absorb_stale(session_ms);
                CountOutcome::Started
            }
        }
    }

    fn push_stale(&mut self, s: Count) {
        self.stale.push(s);
        self.stale.sort_by_key(|s| s.start_ms);
        if self.stale.len() > MAX_STALE {
            self.stale.remove(0);
        }
    }

    /// Merges superseded sessions that are within reach of the current one.
    fn absorb_stale(&mut self, session_ms: i64) {
        let Some(c) = self.count.as_mut() else { return };
        // Newest first, so a chain of sessions is walked back one link at a time.
        while let Some(i) = self.stale.iter().rposition(|s| {
            s.end_ms >= c.start_ms - session_ms && s.start_ms <= c.end_ms + session_ms
        }) {
            let s = self.stale.remove(i);
            c.value += s.value;
            c.scans += s.scans;
            c.start_ms = c.start_ms.min(s.start_ms);
            if s.end_ms > c.end_ms {
                c.end_ms = s.end_ms;
                let end = c.end_ms;
                self.cover_until(end);
                return self.absorb_stale(session_ms);
            }
        }
    }

    /// Drops the movements at or before `t` (the count now covers them).
    fn cover_until(&mut self, t: i64) {
        self.moves = self.moves.split_off(&(t + 1));
        match self.folded_until {
            Some(f) if f > t => self.inexact += 1,
            _ => {
                self.folded = 0.0;
                self.folded_until = None;
            }
        }
    }

    fn fold(&mut self, window_ms: i64) {
        let Some(&newest) = self.moves.keys().next_back() else {
            return;
        };
        while let Some((&t, &d)) = self.moves.first_key_value() {
            if self.moves.len() <= MAX_MOVES && t >= newest - window_ms {
                break;
            }
            self.moves.remove(&t);
            self.folded += d;
            self.folded_until = Some(self.folded_until.map_or(t, |f| f.max(t)));
        }
    }

    /// Event time of the count in force.
    pub fn last_count_ms(&self) -> Option<i64> {
        self.count.map(|c| c.end_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;
    const SESSION: i64 = 30 * MIN;
    const WINDOW: i64 = 168 * 60 * MIN;

    enum Ev {
        Move(i64, f64),
        Count(i64, f64),
    }

    fn run(evs: &[&Ev]) -> f64 {
        let mut p = Position::default();
        for e in evs {
            match e {
                Ev::Move(t, d) => {
                    p.movement(*t, *d, WINDOW);
                }
                Ev::Count(t, q) => {
                    p.count_scan(*t, *q, SESSION);
                }
            }
        }
        p.value()
    }

    /// Every order of the same events gives the same position.
    fn all_orders(evs: &[Ev]) -> Vec<f64> {
        let mut idx: Vec<usize> = (0..evs.len()).collect();
        let mut out = Vec::new();
        permute(&mut idx, 0, &mut |order| {
            out.push(run(&order.iter().map(|&i| &evs[i]).collect::<Vec<_>>()));
        });
        out
    }

    fn permute(v: &mut Vec<usize>, k: usize, f: &mut dyn FnMut(&[usize])) {
        if k == v.len() {
            return f(v);
        }
        for i in k..v.len() {
            v.swap(k, i);
            permute(v, k + 1, f);
            v.swap(k, i);
        }
    }

    #[test]
    fn late_backlog_around_a_count_in_any_arrival_order() {
        // Receiving 100 at 08:00, sales 5 at 09:00 and 3 at 09:30 (before the count), count 40
        // at 10:00, sales 2 at 10:30 and 4 at 11:00, return 1 at 11:30 (after it).
        // Position = 40 − 2 − 4 + 1 = 35, whatever arrives first.
        let h = 60 * MIN;
        let evs = [
            Ev::Move(8 * h, 100.0),
            Ev::Move(9 * h, -5.0),
            Ev::Move(9 * h + 30 * MIN, -3.0),
            Ev::Count(10 * h, 40.0),
            Ev::Move(10 * h + 30 * MIN, -2.0),
            Ev::Move(11 * h, -4.0),
            Ev::Move(11 * h + 30 * MIN, 1.0),
        ];
        let results = all_orders(&evs);
        assert_eq!(results.len(), 5040);
        assert!(results.iter().all(|&v| v == 35.0), "{:?}", &results[..10]);
    }

    #[test]
    fn count_sessions_add_up_and_a_recount_replaces() {
        // Session one: 10:00 shelf 12, 10:20 back room 8 → 20 as of 10:20; a sale at 10:10 is in
        // the count, a sale of 1 at 10:40 is not → 19. At 14:00 (a new session) a recount of 15
        // replaces it; the sale at 15:00 (−2) applies → 13. An old scan from 07:00 arriving late
        // is superseded. Any arrival order.
        let h = 60 * MIN;
        let evs = [
            Ev::Count(10 * h, 12.0),
            Ev::Move(10 * h + 10 * MIN, -1.0),
            Ev::Count(10 * h + 20 * MIN, 8.0),
            Ev::Move(10 * h + 40 * MIN, -1.0),
            Ev::Count(14 * h, 15.0),
            Ev::Move(15 * h, -2.0),
            Ev::Count(7 * h, 99.0),
        ];
        let first_four = all_orders(&evs[..4]);
        assert!(first_four.iter().all(|&v| v == 19.0), "{first_four:?}");
        let results = all_orders(&evs);
        assert!(results.iter().all(|&v| v == 13.0));
    }

    #[test]
    fn a_session_straddling_the_backlog_boundary_is_joined() {
        // Scans every 20 minutes from 10:00 to 11:20 (3 each, 15 in all); the last two came live,
        // the first three in the backlog afterwards. With a 30-minute gap rule they are one
        // session: 15, not 6.
        let t = |m: i64| 10 * 60 * MIN + m * MIN;
        let mut p = Position::default();
        for m in [60, 80, 0, 20, 40] {
            p.count_scan(t(m), 3.0, SESSION);
        }
        assert_eq!(p.value(), 15.0);
        assert_eq!(p.last_count_ms(), Some(t(80)));
    }

    #[test]
    fn movements_are_folded_beyond_the_window_and_the_total_is_kept() {
        let mut p = Position::default();
        for i in 0..2000 {
            p.movement(i * MIN, -1.0, WINDOW);
        }
        assert_eq!(p.value(), -2000.0);
        assert!(p.moves.len() <= MAX_MOVES);
        // A count after every folded movement is exact.
        p.count_scan(3000 * MIN, 10.0, SESSION);
        assert_eq!((p.value(), p.inexact), (10.0, 0));
        // A count in the middle of folded movements: approximate, and counted as such.
        let mut q = Position::default();
        for i in 0..2000 {
            q.movement(i * MIN, -1.0, WINDOW);
        }
        q.count_scan(10 * MIN, 50.0, SESSION);
        assert_eq!(q.inexact, 1);
    }
}
