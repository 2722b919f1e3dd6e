//! Anomalies: returns spikes, void rates, offline or silent devices, stuck door counters, agent
//! clocks that are off.
//!
//! Every rule raises one alert per condition through the [`AlertBook`](super::alerts::AlertBook),
//! under these keys, and resolves it when the condition ends:
//!
//! | key                        | kind            | condition |
//! |----------------------------|-----------------|-----------|
//! | `{store}/returns`          | RETURNS_SPIKE   | returns in the current local hour ≥ max(`returns_min_count`, `returns_factor` × baseline), while open; baseline = returns per open hour over the last `returns_baseline_days` full days (fewer for a new store; 0 with no history, so the minimum count alone applies) |
//! | `{store}/voids/{register}` | VOID_RATE       | voids ÷ transactions (sales, returns, voids) over the last `void_window_minutes` ≥ `void_rate`, with at least `void_min_transactions` |
//! | `{store}/device/{device}`  | DEVICE_OFFLINE  | DISCONNECTED not followed by CONNECTED for `offline_minutes`, raised only while open; resolved by CONNECTED |
//! | `{store}/device/{device}`  | DEVICE_SILENT   | a regular device (events in ≥ `silent_active_share` of the open hours of the last 7 days, at least `silent_min_hours` of them) sends nothing for `silent_minutes` of opening time |
//! | `{store}/counter_stuck`    | COUNTER_STUCK   | no entries for `stuck_minutes` of opening time while the tills made ≥ `stuck_min_sales` sales; resolved by the next entry or at closing |
//! | `{store}/clock/{agent}`    | CLOCK_OFF       | on a live batch, \|sent_wall_time − now\| > `clock_max_skew_seconds`, or a live event recorded with an unsynchronised clock; resolved by a live event with a good, synchronised clock |
//!
//! Offline and silent share a key: offline is the stronger statement and replaces silent.
//!
//! Retrospective: a returns spike in an hour that is already over (learned from a backlog, or
//! more than 15 minutes after the hour), and an outage whose DISCONNECTED and CONNECTED both
//! arrive in a backlog, are raised with `retrospective` set
//! under their own key (`{store}/returns/{hour_start_ms}`, `{store}/device/{device}`) and resolved
//! at once: recorded, not paged. Void rates, silence and stuck counters are judged on the
//! trailing window ending now only; a backlog older than that window does not raise them.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use store_proto::v1::{Alert, AlertKind, DeviceState, TransactionKind};
use store_proto::{Body, Event};

use super::profile::{Profiles, StoreProfile};
use super::traffic::Traffic;
use super::{Ctx, Outbox, Persist};

const MIN_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;
/// Device activity is judged over this past span.
const ACTIVITY_SPAN_MS: i64 = 7 * DAY_MS;
/// Sales are kept this long (the counter-stuck window is capped to it).
const SALES_KEEP_MS: i64 = 4 * HOUR_MS;
/// A live event this long after its hour ended counts as late (see the returns rule).
const LATE_GRACE_MS: i64 = 15 * MIN_MS;

/// `[rules.anomaly]`: when an unusual pattern is worth an alert.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnomalyRules {
    /// A returns spike needs this many times the usual returns per hour. Default 3: returns vary a
    /// lot from hour to hour, a tripling is rarely chance.
    #[serde(default = "default_returns_factor")]
    pub returns_factor: f64,
    /// …and at least this many returns in the hour. Default 5: keeps a store that usually sees
    /// none from alerting on its second return.
    #[serde(default = "default_returns_min_count")]
    pub returns_min_count: u32,
    /// Days of history for the returns baseline. Default 14: two of each weekday.
    #[serde(default = "default_returns_baseline_days")]
    pub returns_baseline_days: u32,
    /// Sliding window for the void rate, minutes. Default 60: one cashier's hour.
    #[serde(default = "default_void_window_minutes")]
    pub void_window_minutes: u32,
    /// Voids ÷ transactions at or above which a register is flagged. Default 0.2: normal
    /// void rates are a few percent; one in five is either a broken scanner or a fraud pattern.
    #[serde(default = "default_void_rate")]
    pub void_rate: f64,
    /// Transactions needed in the window before the rate is judged. Default 10: a rate over
    /// fewer is noise.
    #[serde(default = "default_void_min_transactions")]
    pub void_min_transactions: u32,
    /// A DISCONNECTED device not back after this many minutes is offline. Default 10: drivers
    /// reconnect within seconds to a minute; ten minutes means someone has to look.
    #[serde(default = "default_offline_minutes")]
    pub offline_minutes: u32,
    /// A regular device silent for this many minutes of opening time is flagged. Default 30:
    /// longer than a lull at a till, short enough to fix before the afternoon.
    #[serde(default = "default_silent_minutes")]
    pub silent_minutes: u32,
    /// Share of the past week's open hours in which a device must have sent events to count as
    /// regular. Default 0.8: a door counter or a busy till; a back-office scanner is not.
    #[serde(default = "default_silent_active_share")]
    pub silent_active_share: f64,
    /// Open hours of history needed before a device can count as regular. Default 8: about a
    /// trading day.
    #[serde(default = "default_silent_min_hours")]
    pub silent_min_hours: u32,
    /// Minutes of opening time without any entry before the door counter is suspect. Default 30.
    /// At most 240.
    #[serde(default = "default_stuck_minutes")]
    pub stuck_minutes: u32,
    /// …while the tills made at least this many sales in those minutes. Default 5: people are
    /// clearly in the store.
    #[serde(default = "default_stuck_min_sales")]
    pub stuck_min_sales: u32,
    /// Largest accepted difference between an agent's clock and the collector's, seconds.
    /// Default 120: allows for delivery delay through the broker; NTP keeps real clocks within
    /// milliseconds.
    #[serde(default = "default_clock_max_skew_seconds")]
    pub clock_max_skew_seconds: u32,
}

fn default_returns_factor() -> f64 {
    3.0
}
fn default_returns_min_count() -> u32 {
    5
}
fn default_returns_baseline_days() -> u32 {
    14
}
fn default_void_window_minutes() -> u32 {
    60
}
fn default_void_rate() -> f64 {
    0.2
}
fn default_void_min_transactions() -> u32 {
    10
}
fn default_offline_minutes() -> u32 {
    10
}
fn default_silent_minutes() -> u32 {
    30
}
fn default_silent_active_share() -> f64 {
    0.8
}
fn default_silent_min_hours() -> u32 {
    8
}
fn default_stuck_minutes() -> u32 {
    30
}
fn default_stuck_min_sales() -> u32 {
    5
}
fn default_clock_max_skew_seconds() -> u32 {
    120
}

impl Default for AnomalyRules {
    fn default() -> Self {
        AnomalyRules {
            returns_factor: default_returns_factor(),
            returns_min_count: default_returns_min_count(),
            returns_baseline_days: default_returns_baseline_days(),
            void_window_minutes: default_void_window_minutes(),
            void_rate: default_void_rate(),
            void_min_transactions: default_void_min_transactions(),
            offline_minutes: default_offline_minutes(),
            silent_minutes: default_silent_minutes(),
            silent_active_share: default_silent_active_share(),
            silent_min_hours: default_silent_min_hours(),
            stuck_minutes: default_stuck_minutes(),
            stuck_min_sales: default_stuck_min_sales(),
            clock_max_skew_seconds: default_clock_max_skew_seconds(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Device {
    first_seen_ms: i64,
    /// Event time of the newest event from the device (status changes aside).
    last_seen_ms: Option<i64>,
    /// Local hour starts in which the device sent events (last 7 days).
    active_hours: BTreeSet<i64>,
    /// Event time of the DISCONNECTED not yet followed by CONNECTED.
    disconnected_since: Option<i64>,
    /// Event time of the newest status change (older ones arriving late are ignored).
    status_ms: i64,
    /// (hour start, regular?) of the last regularity check; recomputed once per hour.
    #[serde(skip)]
    regular_cache: Option<(i64, bool)>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct StoreAnomaly {
    first_seen_ms: i64,
    /// Local hour start → returns.
    returns: BTreeMap<i64, u32>,
    /// Hours already recorded as retrospective returns spikes.
    retro_returns: BTreeSet<i64>,
    /// Register → minute → (transactions, voids).
    registers: BTreeMap<String, BTreeMap<i64, (u32, u32)>>,
    /// Minute → sales.
    sales: BTreeMap<i64, u32>,
    /// Event time of the newest people-counter entry.
    last_entry_ms: Option<i64>,
    devices: BTreeMap<String, Device>,
}

/// Anomaly state of every store.
#[derive(Debug, Default)]
pub struct Anomalies {
    stores: BTreeMap<String, StoreAnomaly>,
    dirty: BTreeSet<String>,
}

#[allow(clippy::too_many_arguments)]
fn alert(
    store: &str,
    kind: AlertKind,
    subject: &str,
    message: String,
    observed: f64,
    baseline: f64,
    event_time_ms: i64,
    retrospective: bool,
) -> Alert {
    Alert {
        store_id: store.to_owned(),
        kind: kind as i32,
        subject: subject.to_owned(),
        message,
        observed,
        baseline,
        event_time_ms,
        retrospective,
        ..Alert::default()
    }
}

/// Raises `a` under `key` unless the same kind with the same observed value is already active
/// (saves rewriting an unchanged alert on every evaluation).
fn raise(out: &mut Outbox, key: &str, a: Alert, now_ms: i64) {
    if out
        .alerts
        .active(key)
        .is_some_and(|old| old.kind == a.kind && old.observed == a.observed)
    {
        return;
    }
    out.alerts.raise(key, a, now_ms);
}

/// Start (UTC ms) of the opening session containing or preceding `now_ms`.
fn opened_at(profile: &StoreProfile, now_ms: i64) -> i64 {
    let o = profile.day_start(now_ms) + i64::from(profile.open_minute) * MIN_MS;
    if o > now_ms {
        o - DAY_MS
    } else {
        o
    }
}

/// Open hours per day (an overnight store wraps).
fn open_hours_per_day(profile: &StoreProfile) -> f64 {
    let (o, c) = (profile.open_minute, profile.close_minute);
    let minutes = if o <= c { c - o } else { 1440 - o + c };
    f64::from(minutes) / 60.0
}

impl StoreAnomaly {
    /// Usual returns per open hour before the local day of `hour`.
    fn returns_baseline(&self, profile: &StoreProfile, rules: &AnomalyRules, hour: i64) -> f64 {
        let today = profile.day_start(hour);
        let known_days = (today - profile.day_start(self.first_seen_ms)) / DAY_MS;
        let days = known_days.clamp(0, i64::from(rules.returns_baseline_days));
        let per_day = open_hours_per_day(profile);
        if days == 0 || per_day <= 0.0 {
            return 0.0;
        }
        let sum: u32 = self
            .returns
            .range(today - days * DAY_MS..today)
            .map(|(_, n)| *n)
            .sum();
        f64::from(sum) / (days as f64 * per_day)
    }
}

fn returns_threshold(rules: &AnomalyRules, baseline: f64) -> f64 {
    f64::from(rules.returns_min_count).max(rules.returns_factor * baseline)
}

impl Anomalies {
    pub fn apply(&mut self, ctx: &Ctx<'_>, ev: &Event, out: &mut Outbox) {
        let rules = &ctx.profile.rules.anomaly;
        let store = ctx.store;
        Self::clock(ctx, ev, out);

        let t = ev.wall_time_ms;
        let st = self.stores.entry(store.to_owned()).or_default();
        if st.first_seen_ms == 0 || t < st.first_seen_ms {
            st.first_seen_ms = t;
        }
        self.dirty.insert(store.to_owned());
        let is_status = matches!(
            &ev.body,
            Some(Body::DeviceStatus(s))
                if s.state == DeviceState::Connected as i32
                    || s.state == DeviceState::Disconnected as i32
        );
        if !is_status && !ev.device_id.is_empty() && ev.device_id != "agent" {
            let d = st.devices.entry(ev.device_id.clone()).or_default();
            if d.first_seen_ms == 0 || t < d.first_seen_ms {
                d.first_seen_ms = t;
            }
            d.last_seen_ms = Some(d.last_seen_ms.map_or(t, |l| l.max(t)));
            d.active_hours.insert(ctx.profile.hour_start(t));
            let cutoff = ctx.now_ms - ACTIVITY_SPAN_MS - HOUR_MS;
            while d.active_hours.first().is_some_and(|h| *h < cutoff) {
                d.active_hours.pop_first();
            }
        }

        match &ev.body {
            Some(Body::PosTransaction(tx)) => {
                let kind = TransactionKind::try_from(tx.kind).unwrap_or_default();
                if kind == TransactionKind::Unspecified {
                    return;
                }
                let minute = t.div_euclid(MIN_MS) * MIN_MS;
                let window = i64::from(rules.void_window_minutes) * MIN_MS;
                if minute >= ctx.now_ms - window {
                    let reg = st.registers.entry(tx.register_id.clone()).or_default();
                    let slot = reg.entry(minute).or_default();
                    slot.0 += 1;
                    if kind == TransactionKind::Void {
                        slot.1 += 1;
                    }
                }
                match kind {
                    TransactionKind::Sale if minute >= ctx.now_ms - SALES_KEEP_MS => {
                        *st.sales.entry(minute).or_default() += 1;
                    }
                    TransactionKind::Return => {
                        let hour = ctx.profile.hour_start(t);
                        let keep = (i64::from(rules.returns_baseline_days) + 1) * DAY_MS;
                        if hour < ctx.profile.day_start(ctx.now_ms) - keep {
                            return;
                        }
                        let n = st.returns.entry(hour).or_default();
                        *n += 1;
                        let n = *n;
                        // Late as for traffic: a backlog after the hour, or 15 minutes past it.
                        let end = hour + HOUR_MS;
                        let late = (ctx.historical && end <= ctx.now_ms)
                            || end + LATE_GRACE_MS <= ctx.now_ms;
                        if late && !st.retro_returns.contains(&hour) {
                            let baseline = st.returns_baseline(ctx.profile, rules, hour);
                            let threshold = returns_threshold(rules, baseline);
                            if f64::from(n) >= threshold {
                                st.retro_returns.insert(hour);
                                let key = format!("{store}/returns/{hour}");
                                let msg = format!(
                                    "{n} returns in the hour from {} (learned late), usual \
                                     {baseline:.1}/h, threshold {threshold:.1}",
                                    hhmm(ctx.profile, hour)
                                );
                                let a = alert(
                                    store,
                                    AlertKind::ReturnsSpike,
                                    "returns",
                                    msg,
                                    f64::from(n),
                                    baseline,
                                    t,
                                    true,
                                );
                                out.alerts.raise(&key, a, ctx.now_ms);
                                out.alerts.resolve(
                                    &key,
                                    "the hour was over when it was learned",
                                    hour + HOUR_MS,
                                    ctx.now_ms,
                                );
                            }
                        }
                        let cutoff = ctx.profile.day_start(ctx.now_ms) - keep;
                        while st
                            .returns
                            .first_key_value()
                            .is_some_and(|(h, _)| *h < cutoff)
                        {
                            st.returns.pop_first();
                        }
                        st.retro_returns.retain(|h| *h >= cutoff);
                    }
                    _ => {}
                }
            }
            Some(Body::FootTraffic(ft)) if ft.entries > 0 => {
                let at = if ft.interval_end_ms > 0 {
                    ft.interval_end_ms
                } else {
                    t
                };
                st.last_entry_ms = Some(st.last_entry_ms.map_or(at, |l| l.max(at)));
            }
            Some(Body::DeviceStatus(s)) if is_status => {
                let d = st.devices.entry(ev.device_id.clone()).or_default();
                if t < d.status_ms {
                    return;
                }
                d.status_ms = t;
                let key = format!("{store}/device/{}", ev.device_id);
                if s.state == DeviceState::Disconnected as i32 {
                    d.disconnected_since.get_or_insert(t);
                    return;
                }
                let Some(since) = d.disconnected_since.take() else {
                    return;
                };
                let offline = i64::from(rules.offline_minutes) * MIN_MS;
                let mins = (t - since) / MIN_MS;
                if out.alerts.active(&key).is_some() {
                    out.alerts.resolve(
                        &key,
                        format!("{} reconnected after {mins} min", ev.device_id),
                        t,
                        ctx.now_ms,
                    );
                } else if ctx.historical
                    && t - since >= offline
                    && (ctx.profile.is_open(since) || ctx.profile.is_open(t))
                {
                    // Both ends arrived after the fact: record the outage, do not page.
                    let msg = format!(
                        "{} was offline {mins} min from {} (learned late)",
                        ev.device_id,
                        hhmm(ctx.profile, since)
                    );
                    let a = alert(
                        store,
                        AlertKind::DeviceOffline,
                        &ev.device_id,
                        msg,
                        mins as f64,
                        f64::from(rules.offline_minutes),
                        since,
                        true,
                    );
                    out.alerts.raise(&key, a, ctx.now_ms);
                    out.alerts.resolve(
                        &key,
                        format!("{} reconnected after {mins} min", ev.device_id),
                        t,
                        ctx.now_ms,
                    );
                }
            }
            _ => {}
        }
    }

    /// CLOCK_OFF: judged on live batches only (a backlog's events say nothing about the clock now).
    fn clock(ctx: &Ctx<'_>, ev: &Event, out: &mut Outbox) {
        if ctx.historical {
            return;
        }
        let rules = &ctx.profile.rules.anomaly;
        let key = format!("{}/clock/{}", ctx.store, ctx.agent);
        let offset_ms = ctx.batch_sent_ms - ctx.now_ms;
        let max_ms = i64::from(rules.clock_max_skew_seconds) * 1000;
        let off = offset_ms.abs() > max_ms;
        if off || !ev.clock_synced {
            if out.alerts.active(&key).is_some() {
                return;
            }
            let secs = offset_ms as f64 / 1000.0;
            let msg = if off {
                format!(
                    "agent {} clock is {secs:+.0} s off the collector's (limit {} s)",
                    ctx.agent, rules.clock_max_skew_seconds
                )
            } else {
                format!(
                    "agent {} records events with an unsynchronised clock",
                    ctx.agent
                )
            };
            let a = alert(
                ctx.store,
                AlertKind::ClockOff,
                ctx.agent,
                msg,
                secs,
                f64::from(rules.clock_max_skew_seconds),
                ev.wall_time_ms,
                false,
            );
            out.alerts.raise(&key, a, ctx.now_ms);
        } else if out.alerts.active(&key).is_some() {
            out.alerts.resolve(
                &key,
                format!("agent {} clock is synchronised again", ctx.agent),
                ev.wall_time_ms,
                ctx.now_ms,
            );
        }
    }

    pub fn evaluate(
        &mut self,
        profiles: &Profiles,
        traffic: &Traffic,
        now_ms: i64,
        out: &mut Outbox,
    ) {
        for (store, st) in &mut self.stores {
            let profile = profiles.get(store);
            let rules = &profile.rules.anomaly;
            let open = profile.is_open(now_ms);
            let mut changed = false;

            // Returns spike in the current hour.
            let hour = profile.hour_start(now_ms);
            let key = format!("{store}/returns");
            let n = st.returns.get(&hour).copied().unwrap_or(0);
            let baseline = st.returns_baseline(profile, rules, hour);
            let threshold = returns_threshold(rules, baseline);
            if open && f64::from(n) >= threshold {
                let msg = format!(
                    "{n} returns since {}, usual {baseline:.1}/h, threshold {threshold:.1}",
                    hhmm(profile, hour)
                );
                let a = alert(
                    store,
                    AlertKind::ReturnsSpike,
                    "returns",
                    msg,
                    f64::from(n),
                    baseline,
                    now_ms,
                    false,
                );
                raise(out, &key, a, now_ms);
            } else if out.alerts.active(&key).is_some() {
                out.alerts.resolve(
                    &key,
                    format!("{n} returns in the hour from {}", hhmm(profile, hour)),
                    now_ms,
                    now_ms,
                );
            }

            // Void rate per register over the sliding window.
            let window = i64::from(rules.void_window_minutes) * MIN_MS;
            for (reg, minutes) in &mut st.registers {
                while minutes
                    .first_key_value()
                    .is_some_and(|(m, _)| *m < now_ms - window)
                {
                    minutes.pop_first();
                    changed = true;
                }
                let (txns, voids) = minutes
                    .values()
                    .fold((0u32, 0u32), |(a, b), (t, v)| (a + t, b + v));
                let rate = if txns > 0 {
                    f64::from(voids) / f64::from(txns)
                } else {
                    0.0
                };
                let key = format!("{store}/voids/{reg}");
                if txns >= rules.void_min_transactions && rate >= rules.void_rate {
                    let msg = format!(
                        "register {reg}: {voids} voids in {txns} transactions ({:.0} %) in {} min, \
                         limit {:.0} %",
                        rate * 100.0,
                        rules.void_window_minutes,
                        rules.void_rate * 100.0
                    );
                    let a = alert(
                        store,
                        AlertKind::VoidRate,
                        reg,
                        msg,
                        rate,
                        rules.void_rate,
                        now_ms,
                        false,
                    );
                    raise(out, &key, a, now_ms);
                } else if out.alerts.active(&key).is_some() {
                    out.alerts.resolve(
                        &key,
                        format!("register {reg}: {voids} voids in {txns} transactions"),
                        now_ms,
                        now_ms,
                    );
                }
            }
            let before = st.registers.len();
            st.registers.retain(|_, m| !m.is_empty());
            changed |= before != st.registers.len();

            // Devices: offline, silent.
            let opened = opened_at(profile, now_ms);
            for (dev, d) in &mut st.devices {
                let key = format!("{store}/device/{dev}");
                if let Some(since) = d.disconnected_since {
                    let mins = (now_ms - since) / MIN_MS;
                    if open && mins >= i64::from(rules.offline_minutes) {
                        let msg = format!(
                            "{dev} disconnected since {} ({mins} min)",
                            hhmm(profile, since)
                        );
                        let a = alert(
                            store,
                            AlertKind::DeviceOffline,
                            dev,
                            msg,
                            mins as f64,
                            f64::from(rules.offline_minutes),
                            since,
                            false,
                        );
                        if out
                            .alerts
                            .active(&key)
                            .is_none_or(|a| a.kind != AlertKind::DeviceOffline as i32)
                        {
                            out.alerts.raise(&key, a, now_ms);
                        }
                    }
                    continue;
                }
                let regular = d.is_regular(profile, rules, now_ms);
                let last = d.last_seen_ms.unwrap_or(d.first_seen_ms);
                let silent_ms = now_ms - last.max(opened);
                let silent =
                    open && regular && silent_ms >= i64::from(rules.silent_minutes) * MIN_MS;
                let active = out.alerts.active(&key).map(|a| a.kind);
                if silent {
                    if active.is_none() {
                        let msg = format!(
                            "{dev} has sent nothing since {} ({} min of opening time)",
                            hhmm(profile, last),
                            silent_ms / MIN_MS
                        );
                        let a = alert(
                            store,
                            AlertKind::DeviceSilent,
                            dev,
                            msg,
                            (silent_ms / MIN_MS) as f64,
                            f64::from(rules.silent_minutes),
                            now_ms,
                            false,
                        );
                        out.alerts.raise(&key, a, now_ms);
                    }
                } else if active == Some(AlertKind::DeviceSilent as i32) {
                    let why = if open {
                        "sending again"
                    } else {
                        "store closed"
                    };
                    out.alerts
                        .resolve(&key, format!("{dev}: {why}"), now_ms, now_ms);
                }
            }

            // Door counter stuck at zero while the tills sell.
            let key = format!("{store}/counter_stuck");
            let stuck_ms = i64::from(rules.stuck_minutes) * MIN_MS;
            while st
                .sales
                .first_key_value()
                .is_some_and(|(m, _)| *m < now_ms - SALES_KEEP_MS)
            {
                st.sales.pop_first();
                changed = true;
            }
            let has_counter = st.last_entry_ms.is_some() || traffic.has_store(store);
            let since = st.last_entry_ms.unwrap_or(i64::MIN).max(opened);
            let sales: u32 = st
                .sales
                .range(now_ms - stuck_ms..now_ms)
                .map(|(_, n)| *n)
                .sum();
            let active = out.alerts.active(&key).map(|a| a.event_time_ms);
            if let Some(raised_at) = active {
                let entry_since = st.last_entry_ms.is_some_and(|l| l > raised_at - stuck_ms);
                if entry_since || !open {
                    let why = if open {
                        "entries again"
                    } else {
                        "store closed"
                    };
                    out.alerts
                        .resolve(&key, format!("door counter: {why}"), now_ms, now_ms);
                }
            } else if open
                && has_counter
                && now_ms - since >= stuck_ms
                && sales >= rules.stuck_min_sales
            {
                let msg = format!(
                    "no entries counted for {} min while the tills made {sales} sales",
                    (now_ms - since) / MIN_MS
                );
                let a = alert(
                    store,
                    AlertKind::CounterStuck,
                    "door",
                    msg,
                    f64::from(sales),
                    f64::from(rules.stuck_min_sales),
                    now_ms,
                    false,
                );
                out.alerts.raise(&key, a, now_ms);
            }

            if changed {
                self.dirty.insert(store.clone());
            }
        }
    }
}

impl Device {
    /// Whether the device sent events in enough of the past week's open hours (cached per hour).
    fn is_regular(&mut self, profile: &StoreProfile, rules: &AnomalyRules, now_ms: i64) -> bool {
        let hour = profile.hour_start(now_ms);
        if let Some((h, r)) = self.regular_cache {
            if h == hour {
                return r;
            }
        }
        let first = profile.hour_start(self.first_seen_ms) + HOUR_MS;
        let mut h = first.max(hour - ACTIVITY_SPAN_MS);
        let (mut open, mut active) = (0u32, 0u32);
        while h < hour {
            if profile.is_open(h) {
                open += 1;
                active += u32::from(self.active_hours.contains(&h));
            }
            h += HOUR_MS;
        }
        let r = open >= rules.silent_min_hours
            && open > 0
            && f64::from(active) / f64::from(open) >= rules.silent_active_share;
        self.regular_cache = Some((hour, r));
        r
    }
}

fn hhmm(profile: &StoreProfile, t: i64) -> String {
    let m = profile.local_minute(t);
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// Saved keys: `{store}` → JSON of the store's counters and device states.
impl Persist for Anomalies {
    const PART: &'static str = "anomaly";

    fn save(&mut self, out: &mut Vec<(String, Option<Vec<u8>>)>) {
        super::save_stores_json(&mut self.dirty, &self.stores, out);
    }

    fn load(&mut self, key: &str, value: &[u8]) -> Result<(), String> {
        super::load_store_json(&mut self.stores, key, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intel::catalogue::Catalogue;
    use crate::intel::traffic::tests::{ctx, ft, H, MIN, MONDAY};
    use store_proto::v1::{AlertState, DeviceStatus, PosTransaction};

    fn tx(register: &str, kind: TransactionKind, at: i64) -> Event {
        Event {
            wall_time_ms: at,
            clock_synced: true,
            device_id: format!("pos-{register}"),
            body: Some(Body::PosTransaction(PosTransaction {
                register_id: register.into(),
                kind: kind as i32,
                ..PosTransaction::default()
            })),
            ..Event::default()
        }
    }

    fn status(device: &str, state: DeviceState, at: i64) -> Event {
        Event {
            wall_time_ms: at,
            clock_synced: true,
            device_id: device.into(),
            body: Some(Body::DeviceStatus(DeviceStatus {
                state: state as i32,
                ..DeviceStatus::default()
            })),
            ..Event::default()
        }
    }

    fn profiles(p: &StoreProfile) -> Profiles {
        let mut ps = Profiles::default();
        ps.insert("s1", p.clone());
        ps
    }

    struct Rig {
        p: StoreProfile,
        ps: Profiles,
        cat: Catalogue,
        t: Traffic,
        a: Anomalies,
        out: Outbox,
    }

    impl Rig {
        fn new() -> Rig {
            let p = StoreProfile::default(); // open 08:00–20:00 UTC
            Rig {
                ps: profiles(&p),
                p,
                cat: Catalogue::default(),
                t: Traffic::default(),
                a: Anomalies::default(),
                out: Outbox::default(),
            }
        }
        /// Applies `ev` as if it arrived live at `now` (or in a backlog batch).
        fn apply(&mut self, ev: Event, now: i64, historical: bool) {
            let c = ctx("s1", &self.p, &self.cat, now, historical);
            self.t.apply(&c, &ev);
            self.a.apply(&c, &ev, &mut self.out);
        }
        fn live(&mut self, ev: Event) {
            let at = ev.wall_time_ms;
            self.apply(ev, at, false);
        }
        fn eval(&mut self, now: i64) {
            self.a.evaluate(&self.ps, &self.t, now, &mut self.out);
        }
        fn active(&self, key: &str) -> Option<&Alert> {
            self.out.alerts.active(key)
        }
    }

    /// 14 days of history with 2 returns in every open hour (08–20) → baseline 2.0/h, threshold
    /// max(5, 3 × 2.0) = 6. Today 5 returns by 15:40 → nothing; the 6th → RETURNS_SPIKE. At 16:00
    /// the new hour has none → resolved.
    #[test]
    fn returns_spike_against_the_baseline() {
        let mut r = Rig::new();
        let today = MONDAY + 14 * DAY_MS;
        for d in 0..14 {
            for h in 8..20 {
                for k in 0..2 {
                    let at = MONDAY + d * DAY_MS + h * H + k * 20 * MIN;
                    r.live(tx("r1", TransactionKind::Return, at));
                }
            }
        }
        let hist = &r.a.stores["s1"];
        assert!(
            (hist.returns_baseline(&r.p, &r.p.rules.anomaly, today + 15 * H) - 2.0).abs() < 1e-9
        );
        for k in 0..5 {
            r.live(tx(
                "r1",
                TransactionKind::Return,
                today + 15 * H + k * 8 * MIN,
            ));
        }
        r.eval(today + 15 * H + 40 * MIN);
        assert!(r.active("s1/returns").is_none(), "5 < 6");
        r.live(tx("r1", TransactionKind::Return, today + 15 * H + 41 * MIN));
        r.eval(today + 15 * H + 42 * MIN);
        let a = r.active("s1/returns").unwrap();
        assert_eq!(a.kind, AlertKind::ReturnsSpike as i32);
        assert_eq!((a.observed, a.baseline), (6.0, 2.0));
        assert!(!a.retrospective);
        assert_eq!(
            a.message,
            "6 returns since 15:00, usual 2.0/h, threshold 6.0"
        );
        r.eval(today + 16 * H + MIN);
        assert!(r.active("s1/returns").is_none());
        assert_eq!(r.out.alerts.past("s1").count(), 1);
    }

    /// A backlog brings 7 returns in yesterday's 11:00 hour (a new store: no baseline, threshold
    /// 5) and an outage of the scanner from 10:00 to 10:45: both recorded as retrospective,
    /// resolved at once, nothing left open to page about.
    #[test]
    fn historical_batch_gives_retrospective_alerts() {
        let mut r = Rig::new();
        let now = MONDAY + DAY_MS + 9 * H; // Tuesday 09:00
        for k in 0..7 {
            r.apply(
                tx("r1", TransactionKind::Return, MONDAY + 11 * H + k * MIN),
                now,
                true,
            );
        }
        r.apply(
            status("scanner", DeviceState::Disconnected, MONDAY + 10 * H),
            now,
            true,
        );
        r.apply(
            status(
                "scanner",
                DeviceState::Connected,
                MONDAY + 10 * H + 45 * MIN,
            ),
            now,
            true,
        );
        r.eval(now);
        assert_eq!(r.out.alerts.all_active().count(), 0);
        let past: Vec<&Alert> = r.out.alerts.past("s1").collect();
        assert_eq!(past.len(), 2, "{past:?}");
        assert!(past.iter().all(|a| a.retrospective));
        assert_eq!(past[0].kind, AlertKind::ReturnsSpike as i32);
        assert_eq!(
            past[0].observed, 5.0,
            "raised once, when the count reached the threshold"
        );
        assert_eq!(past[1].kind, AlertKind::DeviceOffline as i32);
        assert_eq!(past[1].observed, 45.0);
        assert!(past.iter().all(|a| a.state == AlertState::Resolved as i32));
        // The live rule for today is untouched.
        assert!(r.active("s1/returns").is_none());
    }

    /// Register r1: 9 sales + 1 void = 10 % → fine; 3 more voids: 4 / 13 = 30.8 % ≥ 20 % →
    /// VOID_RATE. An hour later the window has emptied → resolved. Register r2 with 3 voids out of
    /// 3 stays quiet: fewer than 10 transactions.
    #[test]
    fn void_rate_per_register() {
        let mut r = Rig::new();
        let t0 = MONDAY + 10 * H;
        for k in 0..9 {
            r.live(tx("r1", TransactionKind::Sale, t0 + k * MIN));
        }
        r.live(tx("r1", TransactionKind::Void, t0 + 9 * MIN));
        for k in 0..3 {
            r.live(tx("r2", TransactionKind::Void, t0 + k * MIN));
        }
        r.eval(t0 + 10 * MIN);
        assert!(r.active("s1/voids/r1").is_none());
        assert!(r.active("s1/voids/r2").is_none());
        for k in 0..3 {
            r.live(tx("r1", TransactionKind::Void, t0 + (11 + k) * MIN));
        }
        r.eval(t0 + 15 * MIN);
        let a = r.active("s1/voids/r1").unwrap();
        assert_eq!(a.kind, AlertKind::VoidRate as i32);
        assert!((a.observed - 4.0 / 13.0).abs() < 1e-9);
        assert_eq!(a.subject, "r1");
        assert!(
            a.message.contains("4 voids in 13 transactions (31 %)"),
            "{}",
            a.message
        );
        r.eval(t0 + 75 * MIN);
        assert!(r.active("s1/voids/r1").is_none());
    }

    #[test]
    fn device_offline_during_opening_hours_and_back() {
        let mut r = Rig::new();
        let t0 = MONDAY + 10 * H;
        r.live(status("scanner", DeviceState::Disconnected, t0));
        r.eval(t0 + 9 * MIN);
        assert!(r.active("s1/device/scanner").is_none(), "9 < 10 minutes");
        r.eval(t0 + 10 * MIN);
        let a = r.active("s1/device/scanner").unwrap();
        assert_eq!(a.kind, AlertKind::DeviceOffline as i32);
        assert!(!a.retrospective);
        // A CONNECTED stamped before the DISCONNECTED (late delivery) changes nothing.
        r.live(status("scanner", DeviceState::Connected, t0 - MIN));
        assert!(r.active("s1/device/scanner").is_some());
        r.live(status("scanner", DeviceState::Connected, t0 + 20 * MIN));
        assert!(r.active("s1/device/scanner").is_none());
        assert!(r
            .out
            .alerts
            .past("s1")
            .next()
            .unwrap()
            .message
            .contains("after 20 min"));

        // At night a disconnect is not paged.
        r.live(status(
            "scanner",
            DeviceState::Disconnected,
            MONDAY + 21 * H,
        ));
        r.eval(MONDAY + 22 * H);
        assert!(r.active("s1/device/scanner").is_none());
        // …but once the store opens and it is still gone, it is.
        r.eval(MONDAY + 32 * H);
        assert_eq!(
            r.active("s1/device/scanner").unwrap().kind,
            AlertKind::DeviceOffline as i32
        );
    }

    /// A till scanner busy every open hour for two days is regular. On day 3 it goes quiet after
    /// 10:00: at 10:29 nothing, at 10:30 DEVICE_SILENT; its next scan resolves it. A scanner used
    /// once a day is never "silent". Silence across the night counts from opening.
    #[test]
    fn regular_device_that_goes_silent() {
        let mut r = Rig::new();
        for d in 0..2 {
            for m in (8 * 60..20 * 60).step_by(10) {
                r.live(tx(
                    "r1",
                    TransactionKind::Sale,
                    MONDAY + d * DAY_MS + m * MIN,
                ));
            }
            r.live(status(
                "backoffice",
                DeviceState::DecodeError,
                MONDAY + d * DAY_MS + 9 * H,
            ));
        }
        let day3 = MONDAY + 2 * DAY_MS;
        // 08:29 on day 3: silent since 19:50 yesterday, but only 29 min of opening time.
        r.eval(day3 + 8 * H + 29 * MIN);
        assert!(r.active("s1/device/pos-r1").is_none());
        r.live(tx("r1", TransactionKind::Sale, day3 + 10 * H));
        r.eval(day3 + 10 * H + 29 * MIN);
        assert!(r.active("s1/device/pos-r1").is_none());
        r.eval(day3 + 10 * H + 30 * MIN);
        let a = r.active("s1/device/pos-r1").unwrap();
        assert_eq!(a.kind, AlertKind::DeviceSilent as i32);
        assert_eq!(a.observed, 30.0);
        assert!(r.active("s1/device/backoffice").is_none());
        r.eval(day3 + 14 * H);
        assert!(
            r.active("s1/device/backoffice").is_none(),
            "not a regular device"
        );
        r.live(tx("r1", TransactionKind::Sale, day3 + 14 * H + MIN));
        r.eval(day3 + 14 * H + 2 * MIN);
        assert!(r.active("s1/device/pos-r1").is_none());
    }

    /// Entries until 11:00, then none while the tills ring up a sale every 2 minutes: at 11:30
    /// (30 min, 15 sales ≥ 5) COUNTER_STUCK; the next entry resolves it.
    #[test]
    fn door_counter_stuck_while_tills_sell() {
        let mut r = Rig::new();
        let t0 = MONDAY + 10 * H;
        for k in 0..60 {
            r.live(ft(t0 + k * MIN, 2, 1));
        }
        // The counter keeps reporting, but zeros.
        for k in 60..95 {
            r.live(ft(t0 + k * MIN, 0, 0));
        }
        for k in 0..20 {
            r.live(tx("r1", TransactionKind::Sale, t0 + 60 * MIN + k * 2 * MIN));
        }
        // Last entry counted in the interval ending 11:00.
        r.eval(t0 + 89 * MIN);
        assert!(r.active("s1/counter_stuck").is_none(), "29 minutes");
        r.eval(t0 + 90 * MIN);
        let a = r.active("s1/counter_stuck").unwrap();
        assert_eq!(a.kind, AlertKind::CounterStuck as i32);
        assert_eq!(
            a.observed, 15.0,
            "sales in [11:00, 11:30): 11:00, 11:02, … 11:28"
        );
        assert_eq!(
            a.message,
            "no entries counted for 30 min while the tills made 15 sales"
        );
        r.live(ft(t0 + 95 * MIN, 1, 0));
        r.eval(t0 + 96 * MIN);
        assert!(r.active("s1/counter_stuck").is_none());
    }

    #[test]
    fn agent_clock_off_and_back() {
        let mut r = Rig::new();
        let now = MONDAY + 10 * H;
        let ev = tx("r1", TransactionKind::Sale, now);
        let mut c = ctx("s1", &r.p, &r.cat, now, false);
        // The agent says it sent the batch 5 minutes in the future: +300 s > 120 s.
        c.batch_sent_ms = now + 5 * 60_000;
        r.a.apply(&c, &ev, &mut r.out);
        let a = r.out.alerts.active("s1/clock/a1").unwrap();
        assert_eq!(a.kind, AlertKind::ClockOff as i32);
        assert_eq!((a.observed, a.baseline), (300.0, 120.0));
        assert_eq!(
            a.message,
            "agent a1 clock is +300 s off the collector's (limit 120 s)"
        );
        // A historical batch with a good clock does not resolve it (it says nothing about now).
        c.historical = true;
        c.batch_sent_ms = now;
        r.a.apply(&c, &ev, &mut r.out);
        assert!(r.out.alerts.active("s1/clock/a1").is_some());
        // A live one does.
        c.historical = false;
        r.a.apply(&c, &ev, &mut r.out);
        assert!(r.out.alerts.active("s1/clock/a1").is_none());
        // An event recorded with an unsynchronised clock raises it again.
        let mut unsynced = ev.clone();
        unsynced.clock_synced = false;
        r.a.apply(&c, &unsynced, &mut r.out);
        assert!(r
            .out
            .alerts
            .active("s1/clock/a1")
            .unwrap()
            .message
            .contains("unsynchronised"));
    }

    #[test]
    fn state_survives_save_and_reload() {
        let mut r = Rig::new();
        let t0 = MONDAY + 10 * H;
        for k in 0..12 {
            let kind = if k % 3 == 0 {
                TransactionKind::Void
            } else {
                TransactionKind::Sale
            };
            r.live(tx("r1", kind, t0 + k * MIN));
            r.live(tx("r2", TransactionKind::Return, t0 + k * MIN));
        }
        r.live(status("door", DeviceState::Disconnected, t0));
        let mut saved = Vec::new();
        r.a.save(&mut saved);
        assert_eq!(saved.len(), 1);
        let mut back = Anomalies::default();
        for (k, v) in &saved {
            back.load(k, v.as_deref().unwrap()).unwrap();
        }
        assert_eq!(back.stores, r.a.stores);
        let mut out2 = Outbox::default();
        r.eval(t0 + 20 * MIN);
        back.evaluate(&r.ps, &r.t, t0 + 20 * MIN, &mut out2);
        let keys = |o: &Outbox| -> Vec<String> {
            o.alerts.all_active().map(|(k, _)| k.to_owned()).collect()
        };
        assert_eq!(
            keys(&r.out),
            ["s1/device/door", "s1/returns", "s1/voids/r1"]
        );
        assert_eq!(keys(&out2), keys(&r.out));
        assert!(back.load("s1", b"{").is_err());
        let _ = r.p.rules.anomaly.clone();
    }

    #[test]
    fn rules_parse_with_defaults() {
        let r: AnomalyRules = toml::from_str("").unwrap();
        assert_eq!(r, AnomalyRules::default());
        let r: AnomalyRules = toml::from_str("returns_factor = 4.0\nstuck_minutes = 45").unwrap();
        assert_eq!((r.returns_factor, r.stuck_minutes), (4.0, 45));
        assert!(toml::from_str::<AnomalyRules>("returns_factr = 4.0").is_err());
    }
}
