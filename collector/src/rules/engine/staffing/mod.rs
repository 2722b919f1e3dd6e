//! Staffing signals: staff needed versus staff on duty, now and for the next hour.
//!
//! **Now.** Entries per hour are measured over the trailing hour `[now − 60 min, now)`, or since
//! opening when the store opened less than an hour ago, scaled to an hour (a span shorter than
//! 15 minutes counts as 15, so the first people through the door do not look like a stampede).
//! Windows at the edge of the span count in proportion to their overlap (see
//! [`Traffic::entries_in`]). The trailing hour, rather than "this clock hour so far", gives a
//! steady figure at 14:02 as well as at 14:58.
//!
//! `needed = max(min_staff, ceil(entries_per_hour / target_star))`; the signal is UNDERSTAFFED
//! when `on_duty < needed`, OVERSTAFFED when `on_duty ≥ needed + over_tolerance`, else OK.
//!
//! **Next hour.** The same judgement ([`rules::judge`]) on the [`forecast`] of the next hour's entries, against the
//! staff on duty at its start (badges now on duty, or the roster for that hour), so a manager
//! hears about a Saturday 14:00 rush at 13:00, before the queue forms.
//!
//! Signals are published only when they say something new: a different kind, needed or on-duty
//! figure, or a new hour. The newest of each horizon is kept per store for the API.
//!
//! **Retrospective.** When traffic arrives late for an hour that has ended (a backlog drained after
//! an outage), that hour is judged again on its full count; if it was understaffed, a signal marked
//! `retrospective` is published (recorded, not paged). It does not replace the current signal.
//!
//! **Next week.** [`plan`] gives every opening hour of the next seven local days its forecast
//! entries and the staff [`rules::judge`] says they need: the same rule as the signals.
//!
//! Signals are computed for stores with traffic, for hours in which the store is open.

use std::collections::{BTreeMap, BTreeSet};

use prost::Message;
use store_proto::v1::{SignalKind, StaffingSignal};

use self::rules::{judge, verdict};
pub use self::rules::{HhMm, RosterEntry, StaffingRules, Weekday};
use crate::rules::engine::part::Outbox;
use crate::rules::engine::persist::Persist;
use crate::rules::engine::profile::{Profiles, StoreProfile};
use crate::rules::engine::staff::Staff;
use crate::rules::engine::traffic::{Traffic, WINDOW_MS};

pub mod forecast;
pub mod plan;
pub mod rules;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// Entries per hour now: see the module docs.
pub fn current_rate(traffic: &Traffic, store: &str, profile: &StoreProfile, now_ms: i64) -> f64 {
    // Open past midnight: today's session started yesterday.
    let opened = profile.session_start(now_ms);
    let from = (now_ms - HOUR_MS).max(opened);
    let entries = traffic.entries_in(store, from, now_ms, now_ms);
    entries * HOUR_MS as f64 / (now_ms - from).max(WINDOW_MS) as f64
}

const CURRENT: usize = 0;
const FORECAST: usize = 1;

/// Staffing state: the newest signal per store and horizon.
#[derive(Debug, Default)]
pub struct Staffing {
    latest: BTreeMap<String, [Option<StaffingSignal>; 2]>,
    dirty: BTreeSet<(String, usize)>,
    /// Late-traffic stamp already looked at, per store.
    late_seen: BTreeMap<String, u64>,
    /// Retrospective signals sent: (store, hour) → (needed, on duty).
    retro_sent: BTreeMap<(String, i64), (u32, u32)>,
}

impl Staffing {
    pub fn evaluate(
        &mut self,
        profiles: &Profiles,
        traffic: &Traffic,
        staff: &Staff,
        now_ms: i64,
        out: &mut Outbox,
    ) {
        let stores: Vec<String> = traffic.stores().map(str::to_owned).collect();
        for store in &stores {
            let profile = profiles.get(store);
            let rules = &profile.rules.staffing;
            self.retrospective(store, profile, traffic, staff, now_ms, out);

            if profile.is_open(now_ms) {
                let rate = current_rate(traffic, store, profile, now_ms);
                let on_duty = staff.on_duty(store, now_ms, profile);
                let (kind, needed) = judge(rules, rate, on_duty);
                let message = format!(
                    "{rate:.1} entries/h (STAR {}) need {needed} staff, {on_duty} on duty: {}",
                    rules.target_star,
                    verdict(kind, needed, on_duty)
                );
                let sig = StaffingSignal {
                    store_id: store.clone(),
                    kind: kind as i32,
                    hour_start_ms: profile.hour_start(now_ms),
                    forecast: false,
                    entries_per_hour: rate,
                    needed_staff: needed,
                    on_duty,
                    message,
                    retrospective: false,
                    event_time_ms: now_ms,
                };
                self.offer(CURRENT, sig, out);
            }

            let next = profile.hour_start(now_ms) + HOUR_MS;
            if !profile.is_open(next) {
                continue;
            }
            let Some(f) = forecast::next_hour(traffic, store, profile, rules, now_ms) else {
                continue;
            };
            let on_duty = staff.on_duty(store, next, profile);
            let (kind, needed) = judge(rules, f.entries, on_duty);
            let message = format!(
                "forecast {:.0} entries/h for {} (mean of {} weeks {:.1} × trend {:.2}) need {needed} \
                 staff, {on_duty} on duty: {}",
                f.entries,
                profile.hhmm(next),
                f.weeks,
                f.baseline,
                f.trend,
                verdict(kind, needed, on_duty)
            );
            let sig = StaffingSignal {
                store_id: store.clone(),
                kind: kind as i32,
                hour_start_ms: next,
                forecast: true,
                entries_per_hour: f.entries,
                needed_staff: needed,
                on_duty,
                message,
                retrospective: false,
                event_time_ms: now_ms,
            };
            self.offer(FORECAST, sig, out);
        }
        let cutoff = now_ms - 2 * DAY_MS;
        self.retro_sent.retain(|(_, h), _| *h >= cutoff);
    }

    /// Re-judges the hours of `store` that got traffic after they ended.
    fn retrospective(
        &mut self,
        store: &str,
        profile: &StoreProfile,
        traffic: &Traffic,
        staff: &Staff,
        now_ms: i64,
        out: &mut Outbox,
    ) {
        let seen = self.late_seen.get(store).copied().unwrap_or(0);
        let late = traffic.late_hours_since(store, seen);
        let Some(newest) = late.iter().map(|(_, s)| *s).max() else {
            return;
        };
        self.late_seen.insert(store.to_owned(), newest);
        let rules = &profile.rules.staffing;
        for (hour, _) in late {
            if hour + HOUR_MS > now_ms {
                continue;
            }
            // The open quarters of the hour; the count is scaled from them to a full hour, and
            // the staff figure is the most that were on duty in them (benefit of the doubt).
            let open: Vec<i64> = (0..4)
                .map(|q| hour + q * WINDOW_MS)
                .filter(|t| profile.is_open(*t))
                .collect();
            if open.is_empty() {
                continue;
            }
            let entries = traffic.entries_between(store, hour, hour + HOUR_MS) as f64;
            let rate = entries * 4.0 / open.len() as f64;
            let on_duty = open
                .iter()
                .map(|t| staff.on_duty(store, *t, profile))
                .max()
                .unwrap_or(0);
            let (kind, needed) = judge(rules, rate, on_duty);
            if kind != SignalKind::Understaffed {
                continue;
            }
            let key = (store.to_owned(), hour);
            if self.retro_sent.get(&key) == Some(&(needed, on_duty)) {
                continue;
            }
            self.retro_sent.insert(key, (needed, on_duty));
            out.signals.push(StaffingSignal {
                store_id: store.to_owned(),
                kind: kind as i32,
                hour_start_ms: hour,
                forecast: false,
                entries_per_hour: rate,
                needed_staff: needed,
                on_duty,
                message: format!(
                    "{} hour (learned late): {rate:.1} entries/h (STAR {}) needed {needed} staff, \
                     {on_duty} on duty: {}",
                    profile.hhmm(hour),
                    rules.target_star,
                    verdict(kind, needed, on_duty)
                ),
                retrospective: true,
                event_time_ms: hour + HOUR_MS,
            });
        }
    }

    /// Publishes `sig` if it says something new for its horizon, and keeps it as the newest.
    fn offer(&mut self, horizon: usize, sig: StaffingSignal, out: &mut Outbox) {
        let slot = &mut self.latest.entry(sig.store_id.clone()).or_default()[horizon];
        let news = slot.as_ref().is_none_or(|old| {
            old.kind != sig.kind
                || old.needed_staff != sig.needed_staff
                || old.on_duty != sig.on_duty
                || old.hour_start_ms != sig.hour_start_ms
        });
        if !news {
            return;
        }
        self.dirty.insert((sig.store_id.clone(), horizon));
        out.signals.push(sig.clone());
        *slot = Some(sig);
    }

    /// The newest (current hour, next hour) signals of a store.
    pub fn latest(&self, store: &str) -> (Option<&StaffingSignal>, Option<&StaffingSignal>) {
        match self.latest.get(store) {
            Some([c, f]) => (c.as_ref(), f.as_ref()),
            None => (None, None),
        }
    }
}

/// Saved keys: `current/{store}` and `forecast/{store}` → StaffingSignal (protobuf).
impl Persist for Staffing {
    const PART: &'static str = "staffing";

    fn save(&mut self, out: &mut Vec<(String, Option<Vec<u8>>)>) {
        for (store, horizon) in std::mem::take(&mut self.dirty) {
            let value = self
                .latest
                .get(&store)
                .and_then(|s| s[horizon].as_ref())
                .map(|s| s.encode_to_vec());
            let name = if horizon == CURRENT {
                "current"
            } else {
                "forecast"
            };
            out.push((format!("{name}/{store}"), value));
        }
    }

    fn load(&mut self, key: &str, value: &[u8]) -> Result<(), String> {
        let (horizon, store) = match key.split_once('/') {
            Some(("current", s)) => (CURRENT, s),
            Some(("forecast", s)) => (FORECAST, s),
            _ => return Err(format!("unknown key {key:?}")),
        };
        let sig = StaffingSignal::decode(value).map_err(|e| e.to_string())?;
        self.latest.entry(store.to_owned()).or_default()[horizon] = Some(sig);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
