//! Who is on duty: badge scans, with the configured roster as a fallback.
//!
//! A badge scan is a `Scan` with mode `BADGE`; `data` is the badge id and `shift` says START or
//! END (UNSPECIFIED toggles). Events arrive out of order (a backlog, two agents in one store), so
//! each badge keeps its recent actions sorted by *event* time and the state at any instant is
//! replayed from them: a late END stamped before a later START does not end the newer shift.
//!
//! A shift that was started and never ended (a forgotten badge-out) counts for at most
//! `max_shift_hours` after its start.
//!
//! Roster fallback: when a store has no badge scan on the local day in question (no badge readers,
//! or nobody used them), the roster of [`super::staffing::rules::StaffingRules`] says how many staff are
//! planned for that weekday and time.
//!
//! Actions older than two days are folded into one base state per badge, so the state stays
//! small; days with badge scans are remembered for 40 days.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use store_proto::v1::{ScanMode, ShiftAction};
use store_proto::{Body, Event};

use super::part::Ctx;
use super::persist::{load_store_json, save_stores_json, Persist};
use super::profile::StoreProfile;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;
/// Actions older than this (relative to the newest one of the badge) are folded.
const FOLD_AFTER_MS: i64 = 2 * DAY_MS;
/// Local days with badge scans are remembered this long.
const DAYS_KEPT_MS: i64 = 40 * DAY_MS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Action {
    Start,
    End,
    Toggle,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Badge {
    /// State before the first kept action: `Some(start_ms)` when on duty since then.
    base_on_since: Option<i64>,
    /// Event time of the newest folded action (actions at or before it are ignored).
    base_ms: i64,
    /// Kept actions, sorted by event time.
    actions: Vec<(i64, Action)>,
}

impl Badge {
    /// `Some(shift start)` when on duty at `at_ms`. A shift older than `cap_ms` is over, also
    /// for the replay: a forgotten badge-out followed by tomorrow's toggle starts a new shift.
    fn on_since(&self, at_ms: i64, cap_ms: i64) -> Option<i64> {
        let capped = |on: Option<i64>, t: i64| on.filter(|s| t - s < cap_ms);
        let mut on = self.base_on_since;
        for &(t, a) in self.actions.iter().take_while(|(t, _)| *t <= at_ms) {
            on = match (a, capped(on, t)) {
                (Action::Start, Some(s)) => Some(s),
                (Action::Start, None) => Some(t),
                (Action::End, _) => None,
                (Action::Toggle, Some(_)) => None,
                (Action::Toggle, None) => Some(t),
            };
        }
        capped(on, at_ms)
    }

    fn fold(&mut self, cap_ms: i64) {
        let Some(&(newest, _)) = self.actions.last() else {
            return;
        };
        let cutoff = newest - FOLD_AFTER_MS;
        let n = self.actions.iter().take_while(|(t, _)| *t < cutoff).count();
        if n == 0 {
            return;
        }
        let last_folded = self.actions[n - 1].0;
        self.base_on_since = self.on_since(last_folded, cap_ms);
        self.base_ms = last_folded;
        self.actions.drain(..n);
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct StoreStaff {
    badges: BTreeMap<String, Badge>,
    /// Local day starts (UTC ms) with at least one badge scan.
    badge_days: BTreeSet<i64>,
}

/// Staff state of every store.
#[derive(Debug, Default)]
pub struct Staff {
    stores: BTreeMap<String, StoreStaff>,
    dirty: BTreeSet<String>,
}

impl Staff {
    pub fn apply(&mut self, ctx: &Ctx<'_>, ev: &Event) {
        let Some(Body::Scan(scan)) = &ev.body else {
            return;
        };
        if scan.mode != ScanMode::Badge as i32 || scan.data.is_empty() {
            return;
        }
        let action = match ShiftAction::try_from(scan.shift) {
            Ok(ShiftAction::Start) => Action::Start,
            Ok(ShiftAction::End) => Action::End,
            // Unknown future values behave like UNSPECIFIED (proto evolution rule 4).
            _ => Action::Toggle,
        };
        let t = ev.wall_time_ms;
        let st = self.stores.entry(ctx.store.to_owned()).or_default();
        let badge = st.badges.entry(scan.data.clone()).or_default();
        if badge.base_ms != 0 && t <= badge.base_ms {
            // Older than what was folded: it cannot change any state we still answer for.
            return;
        }
        let pos = badge.actions.partition_point(|(at, _)| *at <= t);
        badge.actions.insert(pos, (t, action));
        badge.fold(shift_cap_ms(ctx.profile));
        st.badge_days.insert(ctx.profile.day_start(t));
        let cutoff = t - DAYS_KEPT_MS;
        st.badge_days.retain(|d| *d >= cutoff);
        self.dirty.insert(ctx.store.to_owned());
    }

    /// Badge ids on duty at `at_ms` (sorted). Empty when the store has no badge scans that local
    /// day: then [`Staff::on_duty`] uses the roster.
    pub fn badges_on_duty(&self, store: &str, at_ms: i64, profile: &StoreProfile) -> Vec<String> {
        let Some(st) = self.stores.get(store) else {
            return Vec::new();
        };
        let cap = shift_cap_ms(profile);
        st.badges
            .iter()
            .filter(|(_, b)| b.on_since(at_ms, cap).is_some())
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Whether the store saw a badge scan on the local day of `at_ms`.
    pub fn has_badges_on_day(&self, store: &str, at_ms: i64, profile: &StoreProfile) -> bool {
        self.stores
            .get(store)
            .is_some_and(|s| s.badge_days.contains(&profile.day_start(at_ms)))
    }

    /// Staff on duty at `at_ms`: badges when the store used them that local day, else the roster.
    pub fn on_duty(&self, store: &str, at_ms: i64, profile: &StoreProfile) -> u32 {
        if self.has_badges_on_day(store, at_ms, profile) {
            self.badges_on_duty(store, at_ms, profile).len() as u32
        } else {
            profile
                .rules
                .staffing
                .roster_staff(profile.local_weekday(at_ms), profile.local_minute(at_ms))
        }
    }
}

fn shift_cap_ms(profile: &StoreProfile) -> i64 {
    i64::from(profile.rules.staffing.max_shift_hours) * HOUR_MS
}

/// Saved keys: `{store}` → JSON of the store's badges and badge days.
impl Persist for Staff {
    const PART: &'static str = "staff";

    fn save(&mut self, out: &mut Vec<(String, Option<Vec<u8>>)>) {
        save_stores_json(&mut self.dirty, &self.stores, out);
    }

    fn load(&mut self, key: &str, value: &[u8]) -> Result<(), String> {
        load_store_json(&mut self.stores, key, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::engine::catalogue::Catalogue;
    use crate::rules::engine::fixtures::{ctx, H, MIN, MONDAY};
    use crate::rules::engine::staffing::rules::{HhMm, RosterEntry, StaffingRules, Weekday};
    use store_proto::v1::Scan;

    fn badge(id: &str, at: i64, shift: ShiftAction) -> Event {
        Event {
            wall_time_ms: at,
            clock_synced: true,
            device_id: "badge-reader".into(),
            body: Some(Body::Scan(Scan {
                data: id.into(),
                mode: ScanMode::Badge as i32,
                shift: shift as i32,
                ..Scan::default()
            })),
            ..Event::default()
        }
    }

    fn profile_with_roster() -> StoreProfile {
        let mut p = StoreProfile::default();
        p.rules.staffing = StaffingRules {
            roster: vec![
                // Weekdays 08:00–20:00: 3 staff; plus 2 more at lunch 12:00–14:00.
                RosterEntry {
                    days: vec![
                        Weekday::Mon,
                        Weekday::Tue,
                        Weekday::Wed,
                        Weekday::Thu,
                        Weekday::Fri,
                    ],
                    from: HhMm(8 * 60),
                    to: HhMm(20 * 60),
                    staff: 3,
                },
                RosterEntry {
                    days: vec![Weekday::Mon],
                    from: HhMm(12 * 60),
                    to: HhMm(14 * 60),
                    staff: 2,
                },
            ],
            ..StaffingRules::default()
        };
        p
    }

    #[test]
    fn out_of_order_badges_and_roster_fallback() {
        let p = profile_with_roster();
        let cat = Catalogue::default();
        let c = ctx("s1", &p, &cat, MONDAY + 18 * H, true);
        let mut s = Staff::default();

        // No badge scan on Monday yet: roster says 3 at 09:00, 3 + 2 = 5 at 12:30, 0 at 21:00.
        assert_eq!(s.on_duty("s1", MONDAY + 9 * H, &p), 3);
        assert_eq!(s.on_duty("s1", MONDAY + 12 * H + 30 * MIN, &p), 5);
        assert_eq!(s.on_duty("s1", MONDAY + 21 * H, &p), 0);

        // Ann: START 09:00, END 12:00, START 13:00; the END arrives last (backlog). It is older
        // than the 13:00 START, so Ann is on duty at 15:00.
        s.apply(&c, &badge("ann", MONDAY + 9 * H, ShiftAction::Start));
        s.apply(&c, &badge("ann", MONDAY + 13 * H, ShiftAction::Start));
        s.apply(&c, &badge("ann", MONDAY + 12 * H, ShiftAction::End));
        // Bob toggles: 10:00 on, 16:00 off; the 16:00 scan arrives first.
        s.apply(&c, &badge("bob", MONDAY + 16 * H, ShiftAction::Unspecified));
        s.apply(&c, &badge("bob", MONDAY + 10 * H, ShiftAction::Unspecified));

        // Badges seen that day: the roster no longer counts.
        assert_eq!(s.on_duty("s1", MONDAY + 8 * H, &p), 0);
        assert_eq!(s.badges_on_duty("s1", MONDAY + 11 * H, &p), ["ann", "bob"]);
        assert_eq!(
            s.badges_on_duty("s1", MONDAY + 12 * H + 30 * MIN, &p),
            ["bob"]
        );
        assert_eq!(s.badges_on_duty("s1", MONDAY + 15 * H, &p), ["ann", "bob"]);
        assert_eq!(s.on_duty("s1", MONDAY + 17 * H, &p), 1);
        // A duplicate START keeps the original shift start.
        s.apply(&c, &badge("ann", MONDAY + 14 * H, ShiftAction::Start));
        assert_eq!(s.on_duty("s1", MONDAY + 17 * H, &p), 1);

        // Tuesday, nobody badged: roster (3 at 10:00). Ann never badged out: her 13:00 shift is
        // capped at 14 hours, so at Tuesday 02:00 (13 h) she counts, at 04:00 (15 h) not.
        assert_eq!(s.on_duty("s1", MONDAY + 24 * H + 10 * H, &p), 3);
        assert_eq!(s.badges_on_duty("s1", MONDAY + 26 * H, &p), ["ann"]);
        assert!(s.badges_on_duty("s1", MONDAY + 28 * H, &p).is_empty());

        // Persist and reload: same answers.
        let mut saved = Vec::new();
        s.save(&mut saved);
        let mut back = Staff::default();
        for (k, v) in &saved {
            back.load(k, v.as_deref().unwrap()).unwrap();
        }
        for at in (0..30).map(|h| MONDAY + h * H) {
            assert_eq!(back.on_duty("s1", at, &p), s.on_duty("s1", at, &p));
            assert_eq!(
                back.badges_on_duty("s1", at, &p),
                s.badges_on_duty("s1", at, &p)
            );
        }
    }

    #[test]
    fn old_actions_fold_and_a_stale_shift_does_not_swallow_a_toggle() {
        let p = StoreProfile::default();
        let cat = Catalogue::default();
        let c = ctx("s1", &p, &cat, MONDAY, false);
        let mut s = Staff::default();
        s.apply(&c, &badge("cy", MONDAY + 9 * H, ShiftAction::Start));
        // Three days later: the START is folded into the base state.
        s.apply(&c, &badge("cy", MONDAY + 72 * H, ShiftAction::Unspecified));
        let b = &s.stores["s1"].badges["cy"];
        assert_eq!(b.actions.len(), 1);
        assert_eq!(b.base_on_since, Some(MONDAY + 9 * H));
        // The old shift is past its 14-hour cap (a forgotten badge-out), so the toggle starts a
        // new shift instead of ending the stale one.
        assert_eq!(s.badges_on_duty("s1", MONDAY + 73 * H, &p), ["cy"]);
        // Something older than the fold is ignored.
        s.apply(&c, &badge("cy", MONDAY, ShiftAction::Start));
        assert_eq!(s.stores["s1"].badges["cy"].actions.len(), 1);
    }
}
