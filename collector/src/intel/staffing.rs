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
//! **Next hour.** The same judgement on the [`forecast`] of the next hour's entries, against the
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
//! Signals are computed for stores with traffic, for hours in which the store is open.

use std::collections::{BTreeMap, BTreeSet};

use prost::Message;
use serde::{Deserialize, Deserializer};
use store_proto::v1::{SignalKind, StaffingSignal};

use super::forecast;
use super::profile::{Profiles, StoreProfile};
use super::staff::Staff;
use super::traffic::{Traffic, WINDOW_MS};
use super::{Outbox, Persist};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// `[rules.staffing]`: how many staff a store needs for its traffic.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffingRules {
    /// Target shopper-to-staff ratio (STAR): shoppers per staff member per hour. Default 25, a
    /// common target for mid-size apparel and general-merchandise stores; set it from the hours in
    /// which your conversion peaks. Must be above zero.
    #[serde(default = "default_target_star", deserialize_with = "positive_f64")]
    pub target_star: f64,
    /// Staff needed on the floor however quiet it is. Default 2: one at the till and one on the
    /// floor, and nobody alone in the store.
    #[serde(default = "default_min_staff")]
    pub min_staff: u32,
    /// OVERSTAFFED only when on duty ≥ needed + this. Default 2: one extra person is normal slack
    /// (a break, a delivery), two is worth a look.
    #[serde(default = "default_over_tolerance")]
    pub over_tolerance: u32,
    /// Weeks of the same weekday averaged for the next-hour forecast. Default 4: a month smooths
    /// one-off days but still follows the season. Traffic history is kept for at least this many
    /// weeks (and at least 35 days).
    #[serde(default = "default_forecast_weeks")]
    pub forecast_weeks: u32,
    /// Lower bound of today's trend factor. Default 0.5: a day that looks half as busy as usual is
    /// believed, a quieter one is more likely a counter problem.
    #[serde(default = "default_trend_min")]
    pub trend_min: f64,
    /// Upper bound of today's trend factor. Default 2.0: twice the usual traffic is a real event
    /// (a sale), more than that is usually a counter fault or a short sample.
    #[serde(default = "default_trend_max")]
    pub trend_max: f64,
    /// The trend is used only once the usual day has at least this many entries so far (else
    /// factor 1). Default 20: fewer people make a noisy ratio.
    #[serde(default = "default_trend_min_entries")]
    pub trend_min_entries: f64,
    /// A shift started by a badge and never ended counts for at most this many hours. Default 14:
    /// longer than any legal shift, so a forgotten badge-out stops counting overnight.
    #[serde(default = "default_max_shift_hours")]
    pub max_shift_hours: u32,
    /// Planned staff, used on local days without any badge scan. Default empty (no roster: such a
    /// store counts 0 staff on duty unless it uses badges).
    #[serde(default)]
    pub roster: Vec<RosterEntry>,
}

fn default_target_star() -> f64 {
    25.0
}
fn default_min_staff() -> u32 {
    2
}
fn default_over_tolerance() -> u32 {
    2
}
fn default_forecast_weeks() -> u32 {
    4
}
fn default_trend_min() -> f64 {
    0.5
}
fn default_trend_max() -> f64 {
    2.0
}
fn default_trend_min_entries() -> f64 {
    20.0
}
fn default_max_shift_hours() -> u32 {
    14
}

fn positive_f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!("{v} must be above zero")))
    }
}

impl Default for StaffingRules {
    fn default() -> Self {
        StaffingRules {
            target_star: default_target_star(),
            min_staff: default_min_staff(),
            over_tolerance: default_over_tolerance(),
            forecast_weeks: default_forecast_weeks(),
            trend_min: default_trend_min(),
            trend_max: default_trend_max(),
            trend_min_entries: default_trend_min_entries(),
            max_shift_hours: default_max_shift_hours(),
            roster: Vec::new(),
        }
    }
}

impl StaffingRules {
    /// Staff the roster plans at `at_ms` (the sum of all matching entries).
    pub fn roster_staff(&self, profile: &StoreProfile, at_ms: i64) -> u32 {
        let day = profile.local_weekday(at_ms);
        let minute = profile.local_minute(at_ms);
        self.roster
            .iter()
            .filter(|r| r.days.is_empty() || r.days.iter().any(|d| *d as u32 == day))
            .filter(|r| {
                if r.from.0 <= r.to.0 {
                    (r.from.0..r.to.0).contains(&minute)
                } else {
                    minute >= r.from.0 || minute < r.to.0
                }
            })
            .map(|r| r.staff)
            .sum()
    }
}

/// One roster line: `{ days = ["sat", "sun"], from = "10:00", to = "18:00", staff = 4 }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterEntry {
    /// Local weekdays ("mon" … "sun"). Default: every day.
    #[serde(default)]
    pub days: Vec<Weekday>,
    /// Local start, "HH:MM".
    pub from: HhMm,
    /// Local end, "HH:MM" (exclusive; before `from` means past midnight, counted on the weekday of
    /// the time asked about).
    pub to: HhMm,
    /// Staff on duty in that span.
    pub staff: u32,
}

/// Local weekday, as in the roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    Mon = 0,
    Tue = 1,
    Wed = 2,
    Thu = 3,
    Fri = 4,
    Sat = 5,
    Sun = 6,
}

/// A local time of day, "HH:MM" (up to "24:00"), as minutes since midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct HhMm(pub u32);

impl TryFrom<String> for HhMm {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let parsed = s.split_once(':').and_then(|(h, m)| {
            let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
            (m < 60 && h * 60 + m <= 1440).then_some(h * 60 + m)
        });
        parsed
            .map(HhMm)
            .ok_or_else(|| format!("{s:?} is not a time \"HH:MM\""))
    }
}

/// Needed staff and the verdict for `entries_per_hour` against `on_duty`.
pub fn judge(rules: &StaffingRules, entries_per_hour: f64, on_duty: u32) -> (SignalKind, u32) {
    let by_traffic = (entries_per_hour.max(0.0) / rules.target_star).ceil();
    let needed = rules
        .min_staff
        .max(by_traffic.min(f64::from(u32::MAX)) as u32);
    let kind = if on_duty < needed {
        SignalKind::Understaffed
    } else if on_duty >= needed.saturating_add(rules.over_tolerance) {
        SignalKind::Overstaffed
    } else {
        SignalKind::Ok
    };
    (kind, needed)
}

fn verdict(kind: SignalKind, needed: u32, on_duty: u32) -> String {
    match kind {
        SignalKind::Understaffed => format!("understaffed by {}", needed - on_duty),
        SignalKind::Overstaffed => format!("overstaffed by {}", on_duty - needed),
        _ => "OK".to_owned(),
    }
}

fn hhmm(profile: &StoreProfile, t: i64) -> String {
    let m = profile.local_minute(t);
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// Entries per hour now: see the module docs.
pub fn current_rate(traffic: &Traffic, store: &str, profile: &StoreProfile, now_ms: i64) -> f64 {
    let mut opened = profile.day_start(now_ms) + i64::from(profile.open_minute) * 60_000;
    if opened > now_ms {
        // Open past midnight: today's session started yesterday.
        opened -= DAY_MS;
    }
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
                hhmm(profile, next),
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
                    hhmm(profile, hour),
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
mod tests {
    use super::*;
    use crate::intel::catalogue::Catalogue;
    use crate::intel::traffic::tests::{ctx, ft, H, MIN, MONDAY};
    use store_proto::v1::{Scan, ScanMode, ShiftAction};
    use store_proto::{Body, Event};

    const WEEK: i64 = 7 * DAY_MS;
    /// 2026-11-28, a Saturday, 00:00 UTC.
    const SATURDAY: i64 = MONDAY + 5 * DAY_MS;

    fn roster(staff: u32) -> StoreProfile {
        let mut p = StoreProfile::default();
        p.rules.staffing.roster = vec![RosterEntry {
            days: vec![],
            from: HhMm(8 * 60),
            to: HhMm(20 * 60),
            staff,
        }];
        p
    }

    fn profiles(p: &StoreProfile) -> Profiles {
        let mut ps = Profiles::default();
        ps.insert("s1", p.clone());
        ps
    }

    fn start(badge: &str, at: i64) -> Event {
        Event {
            wall_time_ms: at,
            clock_synced: true,
            body: Some(Body::Scan(Scan {
                data: badge.into(),
                mode: ScanMode::Badge as i32,
                shift: ShiftAction::Start as i32,
                ..Scan::default()
            })),
            ..Event::default()
        }
    }

    #[test]
    fn rules_parse_with_defaults_and_reject_bad_values() {
        let r: StaffingRules = toml::from_str("").unwrap();
        assert_eq!(r, StaffingRules::default());
        let r: StaffingRules = toml::from_str(
            "target_star = 30\nroster = [{ days = [\"sat\"], from = \"10:00\", to = \"18:30\", staff = 4 }]",
        )
        .unwrap();
        assert_eq!(r.target_star, 30.0);
        assert_eq!(r.roster[0].to, HhMm(18 * 60 + 30));
        assert_eq!(r.roster[0].days, [Weekday::Sat]);
        for bad in [
            "target_star = 0",
            "nope = 1",
            "roster = [{ from = \"9h\", to = \"10:00\", staff = 1 }]",
            "roster = [{ days = [\"moon\"], from = \"09:00\", to = \"10:00\", staff = 1 }]",
        ] {
            let err = toml::from_str::<StaffingRules>(bad).unwrap_err();
            assert!(!err.message().is_empty(), "{bad}");
        }
        let err = toml::from_str::<StaffingRules>(
            "roster = [{ from = \"9h\", to = \"10:00\", staff = 1 }]",
        )
        .unwrap_err();
        assert!(err.message().contains("\"9h\" is not a time"), "{err}");
    }

    #[test]
    fn judge_numbers() {
        let r = StaffingRules::default();
        // 130 entries/h at STAR 25 → ceil(5.2) = 6 needed; 3 on duty → understaffed by 3.
        assert_eq!(judge(&r, 130.0, 3), (SignalKind::Understaffed, 6));
        assert_eq!(judge(&r, 130.0, 7), (SignalKind::Ok, 6));
        // 6 + tolerance 2 = 8 → overstaffed.
        assert_eq!(judge(&r, 130.0, 8), (SignalKind::Overstaffed, 6));
        // Quiet: 10/25 → 1, but min_staff 2.
        assert_eq!(judge(&r, 10.0, 2), (SignalKind::Ok, 2));
        assert_eq!(judge(&r, 0.0, 1), (SignalKind::Understaffed, 2));
    }

    #[test]
    fn current_hour_signal_is_published_on_change_only() {
        let p = roster(3);
        let ps = profiles(&p);
        let cat = Catalogue::default();
        let now = MONDAY + 14 * H; // Monday 14:00, open
        let c = ctx("s1", &p, &cat, now, false);
        let mut t = Traffic::default();
        let mut s = Staff::default();
        let mut st = Staffing::default();
        let mut out = Outbox::default();
        // 13:00–14:00: 30 + 35 + 30 + 35 = 130 entries → 130/h, each applied live (had they
        // all arrived after 14:00, the 13:00 hour would also get a retrospective signal).
        for (q, n) in [30, 35, 30, 35].into_iter().enumerate() {
            let at = now - H + q as i64 * 15 * MIN;
            t.apply(&ctx("s1", &p, &cat, at + MIN, false), &ft(at, n, 0));
        }
        st.evaluate(&ps, &t, &s, now, &mut out);
        assert_eq!(out.signals.len(), 1, "no history: no forecast yet");
        let sig = out.signals.pop().unwrap();
        assert_eq!(sig.kind, SignalKind::Understaffed as i32);
        assert!((sig.entries_per_hour - 130.0).abs() < 1e-9);
        assert_eq!((sig.needed_staff, sig.on_duty), (6, 3));
        assert!(!sig.forecast && !sig.retrospective);
        assert_eq!(sig.hour_start_ms, now);
        assert_eq!(
            sig.message,
            "130.0 entries/h (STAR 25) need 6 staff, 3 on duty: understaffed by 3"
        );

        // A minute later: the same picture, nothing new to publish.
        st.evaluate(&ps, &t, &s, now + MIN, &mut out);
        assert!(out.signals.is_empty());

        // Six staff badge in: OK (badges override the roster for the day).
        for b in ["a", "b", "c", "d", "e", "f"] {
            s.apply(&c, &start(b, now + MIN));
        }
        st.evaluate(&ps, &t, &s, now + 2 * MIN, &mut out);
        let sig = out.signals.pop().unwrap();
        assert_eq!(sig.kind, SignalKind::Ok as i32);
        assert_eq!((sig.needed_staff, sig.on_duty), (6, 6));
        // Two more: 8 ≥ 6 + 2 → OVERSTAFFED.
        s.apply(&c, &start("g", now + 2 * MIN));
        s.apply(&c, &start("h", now + 2 * MIN));
        st.evaluate(&ps, &t, &s, now + 3 * MIN, &mut out);
        assert_eq!(
            out.signals.pop().unwrap().kind,
            SignalKind::Overstaffed as i32
        );
        assert_eq!(
            st.latest("s1").0.unwrap().kind,
            SignalKind::Overstaffed as i32
        );

        // Closed at 21:00: nothing.
        st.evaluate(&ps, &t, &s, MONDAY + 21 * H, &mut out);
        assert!(out.signals.is_empty());

        // Persist and reload.
        let mut saved = Vec::new();
        st.save(&mut saved);
        let mut back = Staffing::default();
        for (k, v) in &saved {
            back.load(k, v.as_deref().unwrap()).unwrap();
        }
        assert_eq!(back.latest("s1"), st.latest("s1"));
    }

    /// Four past Saturdays: 60 people an hour from 08:00, a rush of 200 at 14:00–15:00. This
    /// Saturday looks the same so far. At 13:20 the current hour is fine (60/h → max(2, ceil(2.4))
    /// = 3 needed, 3 rostered), but the forecast for 14:00 is 200 × trend 1.00 = 200/h →
    /// ceil(200 / 25) = 8 needed vs 3: UNDERSTAFFED, forty minutes before the rush.
    #[test]
    fn forecast_signals_the_saturday_rush_before_it_starts() {
        let p = roster(3);
        let ps = profiles(&p);
        let cat = Catalogue::default();
        let now = SATURDAY + 13 * H + 20 * MIN;
        let c = ctx("s1", &p, &cat, now, false);
        let mut t = Traffic::default();
        let s = Staff::default();
        let per_hour = |h: i64| if h == 14 { 200 } else { 60 };
        for w in 1..=4 {
            let day = SATURDAY - w * WEEK;
            for h in 8..20 {
                for q in 0..4 {
                    t.apply(&c, &ft(day + h * H + q * 15 * MIN, per_hour(h) / 4, 0));
                }
            }
        }
        // Today: 08:00–13:15 as usual (15 per quarter), and 5 so far in the 13:15 quarter.
        for q in 0..21 {
            t.apply(&c, &ft(SATURDAY + 8 * H + q * 15 * MIN, 15, 0));
        }
        t.apply(&c, &ft(SATURDAY + 13 * H + 15 * MIN, 5, 0));

        let f = forecast::next_hour(&t, "s1", &p, &p.rules.staffing, now).unwrap();
        // Today so far: 21 × 15 + 5 = 320; the past Saturdays up to 13:20: 21 × 15 + 15 × 5/15
        // = 320 → trend 1.0.
        assert_eq!(f.weeks, 4);
        assert!((f.today_so_far - 320.0).abs() < 1e-9, "{f:?}");
        assert!((f.past_so_far - 320.0).abs() < 1e-9, "{f:?}");
        assert!((f.entries - 200.0).abs() < 1e-9, "{f:?}");

        let mut st = Staffing::default();
        let mut out = Outbox::default();
        st.evaluate(&ps, &t, &s, now, &mut out);
        let (cur, fc) = st.latest("s1");
        let cur = cur.unwrap();
        // Trailing hour [12:20, 13:20): 15 × 10/15 + 15 + 15 + 15 + 5 = 60 → 60/h.
        assert!((cur.entries_per_hour - 60.0).abs() < 1e-9, "{cur:?}");
        assert_eq!(cur.kind, SignalKind::Ok as i32);
        let fc = fc.unwrap();
        assert!(fc.forecast);
        assert_eq!(fc.hour_start_ms, SATURDAY + 14 * H);
        assert_eq!(fc.kind, SignalKind::Understaffed as i32);
        assert_eq!((fc.needed_staff, fc.on_duty), (8, 3));
        assert!(fc.message.contains("for 14:00"), "{}", fc.message);
        assert_eq!(out.signals.len(), 2);

        // Five minutes later nothing has changed enough to publish again.
        out.signals.clear();
        st.evaluate(&ps, &t, &s, now + 5 * MIN, &mut out);
        assert!(out.signals.is_empty(), "{:?}", out.signals);
    }

    /// Yesterday 15:00–16:00 had 150 people (6 needed, 3 rostered), learned only now from a
    /// backlog: recorded as a retrospective signal, once, without replacing the current one.
    #[test]
    fn late_traffic_for_an_ended_hour_gives_a_retrospective_signal() {
        let p = roster(3);
        let ps = profiles(&p);
        let cat = Catalogue::default();
        let now = MONDAY + DAY_MS + 10 * H; // Tuesday 10:00
        let live = ctx("s1", &p, &cat, now, false);
        let backlog = ctx("s1", &p, &cat, now, true);
        let mut t = Traffic::default();
        let s = Staff::default();
        let mut st = Staffing::default();
        let mut out = Outbox::default();
        t.apply(&live, &ft(now - 30 * MIN, 20, 0));
        st.evaluate(&ps, &t, &s, now, &mut out);
        assert_eq!(out.signals.len(), 1);
        assert!(!out.signals[0].retrospective);
        out.signals.clear();

        for q in 0..4 {
            t.apply(
                &backlog,
                &ft(MONDAY + 15 * H + q * 15 * MIN, 150 / 4 + 1, 0),
            );
        }
        // 4 × 38 = 152 → ceil(6.08) = 7 needed vs 3.
        st.evaluate(&ps, &t, &s, now, &mut out);
        assert_eq!(out.signals.len(), 1, "{:?}", out.signals);
        let r = &out.signals[0];
        assert!(r.retrospective);
        assert_eq!(r.kind, SignalKind::Understaffed as i32);
        assert_eq!(r.hour_start_ms, MONDAY + 15 * H);
        assert_eq!((r.needed_staff, r.on_duty), (7, 3));
        assert!(!st.latest("s1").0.unwrap().retrospective);
        out.signals.clear();
        st.evaluate(&ps, &t, &s, now + MIN, &mut out);
        assert!(out.signals.is_empty(), "recorded once");
    }

    /// Through the engine: apply, evaluate, save every part, load into a fresh engine, and get
    /// the same traffic, staff and signals back.
    #[test]
    fn engine_state_round_trips_through_save_and_load() {
        use crate::intel::{BatchInfo, Intel};
        let p = roster(3);
        let mut intel = Intel::new(profiles(&p), Catalogue::default());
        let now = MONDAY + 14 * H;
        let batch = BatchInfo {
            store: "s1",
            agent: "a1",
            historical: false,
            sent_ms: now,
        };
        for k in 0..12 {
            let at = now - H + k * 5 * MIN;
            let sent = BatchInfo {
                sent_ms: at + MIN,
                ..batch
            };
            intel.apply(sent, at + MIN, &ft(at, 11, 3));
        }
        intel.apply(batch, now, &start("ann", now - 2 * H));
        intel.evaluate(now);
        let saved = intel.save();
        assert!(saved
            .iter()
            .any(|(k, _)| k.starts_with("intel/traffic/s1/")));
        assert!(saved.iter().any(|(k, _)| k == "intel/staff/s1"));
        assert!(saved.iter().any(|(k, _)| k == "intel/staffing/current/s1"));
        assert!(saved.iter().any(|(k, _)| k == "intel/anomaly/s1"));
        let mut back = Intel::new(profiles(&p), Catalogue::default());
        for (k, v) in &saved {
            back.load(k, v.as_deref().unwrap()).unwrap();
        }
        let (a, b) = (&intel, &back);
        assert_eq!(
            a.traffic.windows("s1", MONDAY, now + H, &p),
            b.traffic.windows("s1", MONDAY, now + H, &p)
        );
        assert_eq!(a.staff.on_duty("s1", now, &p), 1);
        assert_eq!(b.staff.on_duty("s1", now, &p), 1);
        assert_eq!(a.staffing.latest("s1"), b.staffing.latest("s1"));
        // 132 entries in the hour → 6 needed, Ann alone on duty.
        let cur = b.staffing.latest("s1").0.unwrap();
        assert_eq!((cur.needed_staff, cur.on_duty), (6, 1));
        // Evaluating the reloaded engine publishes nothing new: it knows what it already said.
        back.evaluate(now + MIN);
        assert!(back.outbox.signals.is_empty(), "{:?}", back.outbox.signals);
        assert_eq!(
            intel.outbox.alerts.all_active().count(),
            0,
            "a quiet, well-clocked store"
        );
    }
}
