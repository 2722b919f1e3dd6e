//! Foot traffic per store in 15-minute windows.
//!
//! Windows are aligned to UTC quarter hours (`start = t − t mod 15 min`), which are also local
//! quarter hours for every UTC offset that is a whole number of quarter hours (all of today's
//! time zones but a handful, e.g. Nepal at +5:45 is fine, Chatham at +12:45 is fine too).
//!
//! A `FootTraffic` event counts people over `[interval_start_ms, interval_end_ms)`. The whole
//! count goes to the window containing `interval_start_ms` (the event's `wall_time_ms` when the
//! counter sent no interval). Counters report every few seconds to a few minutes, so an interval
//! straddling a window boundary is rare and at most shifts a handful of people by one window;
//! splitting would invent a uniform arrival rate we do not know.
//!
//! Occupancy is not stored: a query walks the windows from the local day start and keeps a
//! running `entries − exits`, floored at zero (door counters miss people in both directions, and
//! a negative crowd is never right), reset at each local midnight.
//!
//! History: windows are kept for `max(35 days, 7 × forecast_weeks + 7 days)` before `now`, enough
//! for the same-weekday forecast; older windows are pruned (and deleted from the store).
//!
//! Late data: when an event lands in a local hour that has already ended (from a historical
//! backlog, or more than 15 minutes after the hour's end from a counter that buffered), the hour
//! is noted with a stamp, so [`super::staffing`] can re-judge
//! that hour and record a retrospective signal. The notes are not persisted: after a restart the
//! hours already re-judged are not re-judged again, which is the behaviour we want anyway.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use store_proto::{Body, Event};

use super::part::Ctx;
use super::persist::Persist;
use super::profile::StoreProfile;

/// Length of a traffic window.
pub const WINDOW_MS: i64 = 15 * 60_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;
/// Late-hour notes older than this (by hour start, relative to now) are forgotten.
const LATE_KEEP_MS: i64 = 2 * DAY_MS;

/// Start of the 15-minute window containing `t`.
pub fn window_start(t: i64) -> i64 {
    t - t.rem_euclid(WINDOW_MS)
}

/// Counts of one window, as stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub entries: u32,
    pub exits: u32,
}

/// One window as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WindowView {
    pub start_ms: i64,
    pub end_ms: i64,
    pub entries: u32,
    pub exits: u32,
    /// People estimated inside at the end of the window.
    pub occupancy: u32,
}

#[derive(Debug, Default)]
struct StoreTraffic {
    windows: BTreeMap<i64, Counts>,
    /// Local hour start → stamp of the latest late event that landed in it.
    late: BTreeMap<i64, u64>,
}

/// Traffic state of every store.
#[derive(Debug, Default)]
pub struct Traffic {
    stores: BTreeMap<String, StoreTraffic>,
    dirty: BTreeSet<(String, i64)>,
    stamp: u64,
}

impl Traffic {
    pub fn apply(&mut self, ctx: &Ctx<'_>, ev: &Event) {
        let Some(Body::FootTraffic(ft)) = &ev.body else {
            return;
        };
        if ft.entries == 0 && ft.exits == 0 {
            return;
        }
        let t = if ft.interval_start_ms > 0 {
            ft.interval_start_ms
        } else {
            ev.wall_time_ms
        };
        let keep_ms = retention_ms(ctx.profile);
        if t < ctx.now_ms - keep_ms {
            // Would be pruned at once; too old to matter for any query or forecast.
            return;
        }
        let ws = window_start(t);
        let st = self.stores.entry(ctx.store.to_owned()).or_default();
        let w = st.windows.entry(ws).or_default();
        w.entries = w.entries.saturating_add(ft.entries);
        w.exits = w.exits.saturating_add(ft.exits);
        self.dirty.insert((ctx.store.to_owned(), ws));

        // Late: from a backlog after the hour ended, or more than a window after its end (an
        // interval straddling the hour's end, delivered a few seconds later, is not news).
        let hour = ctx.profile.hour_start(t);
        let end = hour + HOUR_MS;
        if (ctx.historical && end <= ctx.now_ms) || end + WINDOW_MS <= ctx.now_ms {
            self.stamp += 1;
            st.late.insert(hour, self.stamp);
            let cutoff = ctx.now_ms - LATE_KEEP_MS;
            st.late.retain(|h, _| *h >= cutoff);
        }

        let cutoff = window_start(ctx.now_ms - keep_ms);
        while let Some((&oldest, _)) = st.windows.first_key_value() {
            if oldest >= cutoff {
                break;
            }
            st.windows.pop_first();
            self.dirty.insert((ctx.store.to_owned(), oldest));
        }
    }

    /// Stores that have any traffic window.
    pub fn stores(&self) -> impl Iterator<Item = &str> {
        self.stores
            .iter()
            .filter(|(_, s)| !s.windows.is_empty())
            .map(|(k, _)| k.as_str())
    }

    /// Whether the store has any traffic window (it has a working or once-working counter).
    pub fn has_store(&self, store: &str) -> bool {
        self.stores
            .get(store)
            .is_some_and(|s| !s.windows.is_empty())
    }

    /// Counts of the window starting at `start` (zero when absent).
    pub fn window(&self, store: &str, start: i64) -> Counts {
        self.stores
            .get(store)
            .and_then(|s| s.windows.get(&start))
            .copied()
            .unwrap_or_default()
    }

    /// Windows whose start lies in `[from_ms, to_ms)`, oldest first, with occupancy. Windows
    /// without any count are absent (their counts are zero). `profile` gives the local day start
    /// at which occupancy resets.
    pub fn windows(
        &self,
        store: &str,
        from_ms: i64,
        to_ms: i64,
        profile: &StoreProfile,
    ) -> Vec<WindowView> {
        let Some(st) = self.stores.get(store) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut day = i64::MIN;
        let mut occupancy: i64 = 0;
        for (&ws, c) in st.windows.range(profile.day_start(from_ms)..to_ms) {
            let d = profile.day_start(ws);
            if d != day {
                day = d;
                occupancy = 0;
            }
            occupancy = (occupancy + i64::from(c.entries) - i64::from(c.exits)).max(0);
            if ws >= from_ms {
                out.push(WindowView {
                    start_ms: ws,
                    end_ms: ws + WINDOW_MS,
                    entries: c.entries,
                    exits: c.exits,
                    occupancy: occupancy as u32,
                });
            }
        }
        out
    }

    /// Estimated people inside at `at_ms` (end of the window containing it).
    pub fn occupancy(&self, store: &str, at_ms: i64, profile: &StoreProfile) -> u32 {
        self.windows(store, profile.day_start(at_ms), at_ms + 1, profile)
            .last()
            .map_or(0, |w| w.occupancy)
    }

    /// Entries counted in windows whose start lies in `[from_ms, to_ms)`.
    pub fn entries_between(&self, store: &str, from_ms: i64, to_ms: i64) -> u64 {
        let Some(st) = self.stores.get(store) else {
            return 0;
        };
        if from_ms >= to_ms {
            return 0;
        }
        st.windows
            .range(from_ms..to_ms)
            .map(|(_, c)| u64::from(c.entries))
            .sum()
    }

    /// Entries in `[from_ms, to_ms)`, taking windows that overlap the range in proportion to the
    /// overlap. A window is taken to cover its 15 minutes, except the window containing `now_ms`,
    /// which so far covers only `[start, now_ms)`: its people all arrived in that part.
    pub fn entries_in(&self, store: &str, from_ms: i64, to_ms: i64, now_ms: i64) -> f64 {
        let Some(st) = self.stores.get(store) else {
            return 0.0;
        };
        if from_ms >= to_ms {
            return 0.0;
        }
        let mut sum = 0.0;
        for (&ws, c) in st.windows.range(window_start(from_ms)..to_ms) {
            let end = if ws + WINDOW_MS > now_ms {
                now_ms.max(ws + 1)
            } else {
                ws + WINDOW_MS
            };
            let overlap = (end.min(to_ms) - ws.max(from_ms)).max(0);
            sum += f64::from(c.entries) * overlap as f64 / (end - ws) as f64;
        }
        sum
    }

    /// Whether the store has any window in `[from_ms, to_ms)` (the counter was reporting then).
    pub fn has_data_between(&self, store: &str, from_ms: i64, to_ms: i64) -> bool {
        from_ms < to_ms
            && self
                .stores
                .get(store)
                .is_some_and(|s| s.windows.range(from_ms..to_ms).next().is_some())
    }

    /// Current late-data stamp (increases with every late event).
    pub fn stamp(&self) -> u64 {
        self.stamp
    }

    /// Local hours of `store` that received late data after stamp `since`: `(hour_start, stamp)`.
    pub fn late_hours_since(&self, store: &str, since: u64) -> Vec<(i64, u64)> {
        self.stores
            .get(store)
            .map(|s| {
                s.late
                    .iter()
                    .filter(|(_, st)| **st > since)
                    .map(|(h, st)| (*h, *st))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// How long windows are kept.
fn retention_ms(profile: &StoreProfile) -> i64 {
    let weeks = i64::from(profile.rules.staffing.forecast_weeks);
    (35 * DAY_MS).max(weeks * 7 * DAY_MS + 7 * DAY_MS)
}

/// Saved keys: `{store}/{window_start_ms}` → JSON `{"entries":…,"exits":…}`.
impl Persist for Traffic {
    const PART: &'static str = "traffic";

    fn save(&mut self, out: &mut Vec<(String, Option<Vec<u8>>)>) {
        for (store, ws) in std::mem::take(&mut self.dirty) {
            let value = self
                .stores
                .get(&store)
                .and_then(|s| s.windows.get(&ws))
                .map(|c| serde_json::to_vec(c).expect("plain struct serialises"));
            out.push((format!("{store}/{ws}"), value));
        }
    }

    fn load(&mut self, key: &str, value: &[u8]) -> Result<(), String> {
        let (store, ws) = key
            .rsplit_once('/')
            .ok_or_else(|| format!("key {key:?} is not store/window"))?;
        let ws: i64 = ws
            .parse()
            .map_err(|_| format!("key {key:?}: window start is not a number"))?;
        let c: Counts = serde_json::from_slice(value).map_err(|e| e.to_string())?;
        self.stores
            .entry(store.to_owned())
            .or_default()
            .windows
            .insert(ws, c);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::engine::catalogue::Catalogue;
    use crate::rules::engine::fixtures::{ctx, ft, H, MIN, MONDAY};

    #[test]
    fn windows_and_occupancy() {
        let p = StoreProfile::default();
        let cat = Catalogue::default();
        let now = MONDAY + 12 * H;
        let c = ctx("s1", &p, &cat, now, false);
        let mut t = Traffic::default();
        // 09:00 window: 10 in, 2 out (two events) → occupancy 8.
        t.apply(&c, &ft(MONDAY + 9 * H, 6, 0));
        t.apply(&c, &ft(MONDAY + 9 * H + 14 * MIN, 4, 2));
        // 09:15 window: 1 in, 5 out → 8 + 1 − 5 = 4.
        t.apply(&c, &ft(MONDAY + 9 * H + 15 * MIN, 1, 5));
        // 09:30 window: 0 in, 9 out → 4 − 9 floored at 0 (missed entries), not −5.
        t.apply(&c, &ft(MONDAY + 9 * H + 30 * MIN, 0, 9));
        // 09:45 window: 3 in → 0 + 3 = 3 (the floor did not carry a debt).
        t.apply(&c, &ft(MONDAY + 9 * H + 50 * MIN, 3, 0));
        // Next day 08:00: 2 in, 0 out → occupancy reset at midnight: 2, not 5.
        t.apply(&c, &ft(MONDAY + 32 * H, 2, 0));

        let w = t.windows("s1", MONDAY, MONDAY + 2 * 24 * H, &p);
        let got: Vec<(i64, u32, u32, u32)> = w
            .iter()
            .map(|w| ((w.start_ms - MONDAY) / MIN, w.entries, w.exits, w.occupancy))
            .collect();
        assert_eq!(
            got,
            vec![
                (540, 10, 2, 8),
                (555, 1, 5, 4),
                (570, 0, 9, 0),
                (585, 3, 0, 3),
                (32 * 60, 2, 0, 2),
            ]
        );
        // A range starting mid-day still carries the day's occupancy.
        let w = t.windows("s1", MONDAY + 9 * H + 45 * MIN, MONDAY + 10 * H, &p);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].occupancy, 3);
        assert_eq!(t.occupancy("s1", MONDAY + 11 * H, &p), 3);
        // entries_between takes windows by start: [09:00, 09:30) → 10 + 1.
        assert_eq!(
            t.entries_between("s1", MONDAY + 9 * H, MONDAY + 9 * H + 30 * MIN),
            11
        );
        // Proportional: half of the 09:15 window (1 entry) + the whole 09:00 one = 10.5.
        let e = t.entries_in(
            "s1",
            MONDAY + 9 * H,
            MONDAY + 9 * H + 22 * MIN + 30_000,
            now,
        );
        assert!((e - 10.5).abs() < 1e-9, "{e}");
        // The 09:45 window seen at 09:55 covers only 10 minutes so far: all 3 people are in
        // [09:45, 09:55).
        let e = t.entries_in(
            "s1",
            MONDAY + 9 * H + 45 * MIN,
            MONDAY + 9 * H + 55 * MIN,
            MONDAY + 9 * H + 55 * MIN,
        );
        assert!((e - 3.0).abs() < 1e-9, "{e}");
        assert!(t.windows("nope", 0, i64::MAX, &p).is_empty());
    }

    #[test]
    fn late_hours_are_noted_for_backlogs_and_long_delays_only() {
        let p = StoreProfile::default();
        let cat = Catalogue::default();
        let mut t = Traffic::default();
        let at = MONDAY + 14 * H + 59 * MIN;
        // Live, 90 s after the 14:00 hour ended: an interval straddling the hour, not late.
        t.apply(&ctx("s1", &p, &cat, at + 90_000, false), &ft(at, 1, 0));
        assert!(t.late_hours_since("s1", 0).is_empty());
        // The same from a backlog: late.
        t.apply(&ctx("s1", &p, &cat, at + 90_000, true), &ft(at, 1, 0));
        assert_eq!(t.late_hours_since("s1", 0), [(MONDAY + 14 * H, 1)]);
        // Live but 20 minutes after the hour: late too (stamp 2).
        t.apply(&ctx("s1", &p, &cat, at + 21 * MIN, false), &ft(at, 1, 0));
        assert_eq!(t.late_hours_since("s1", 1), [(MONDAY + 14 * H, 2)]);
        assert!(t.late_hours_since("s1", 2).is_empty());
    }

    #[test]
    fn old_windows_are_pruned_and_deleted() {
        let p = StoreProfile::default();
        let cat = Catalogue::default();
        let mut t = Traffic::default();
        let c = ctx("s1", &p, &cat, MONDAY, false);
        t.apply(&c, &ft(MONDAY - H, 5, 0));
        let mut saved = Vec::new();
        t.save(&mut saved);
        assert_eq!(saved.len(), 1);
        // 40 days later the first window is beyond the 35-day retention.
        let later = MONDAY + 40 * DAY_MS;
        let c = ctx("s1", &p, &cat, later, false);
        t.apply(&c, &ft(later - H, 1, 0));
        let mut saved = Vec::new();
        t.save(&mut saved);
        saved.sort();
        assert_eq!(saved.len(), 2);
        assert!(saved.contains(&(format!("s1/{}", MONDAY - H), None)));
        assert_eq!(t.entries_between("s1", 0, i64::MAX), 1);
        // And an event older than the retention is not stored at all.
        t.apply(&c, &ft(MONDAY - H, 5, 0));
        assert_eq!(t.entries_between("s1", 0, i64::MAX), 1);
    }

    #[test]
    fn save_and_reload_give_the_same_answers() {
        let p = StoreProfile::default();
        let cat = Catalogue::default();
        let mut t = Traffic::default();
        let c = ctx("s1", &p, &cat, MONDAY + 12 * H, false);
        for i in 0..20 {
            t.apply(&c, &ft(MONDAY + 8 * H + i * 7 * MIN, 3, 1));
        }
        let mut saved = Vec::new();
        t.save(&mut saved);
        let mut again = Vec::new();
        t.save(&mut again);
        assert!(again.is_empty(), "only changed keys are saved");
        let mut back = Traffic::default();
        for (k, v) in &saved {
            back.load(k, v.as_deref().unwrap()).unwrap();
        }
        assert_eq!(
            back.windows("s1", MONDAY, MONDAY + DAY_MS, &p),
            t.windows("s1", MONDAY, MONDAY + DAY_MS, &p)
        );
        assert!(back.load("s1/x", b"{}").is_err());
        assert!(back.load("s1/5", b"nope").is_err());
    }
}
