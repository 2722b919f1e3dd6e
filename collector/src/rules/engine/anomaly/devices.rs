//! The device rules, under one key per device (`{store}/device/{device}`):
//! - DEVICE_OFFLINE ([`DeviceOffline`]): DISCONNECTED not followed by CONNECTED for
//!   `offline_minutes`, raised only while open; resolved by CONNECTED. An outage whose both ends
//!   arrive in a backlog is recorded as retrospective.
//! - DEVICE_SILENT ([`DeviceSilent`]): a regular device sends nothing for `silent_minutes` of
//!   opening time.
//!
//! Offline is the stronger statement and replaces silent; silent never replaces offline.

use store_proto::v1::{AlertKind, DeviceState};

use super::eval::Eval;
use super::rules::AnomalyRules;
use super::state::{Device, StoreAnomaly, DAY_MS, HOUR_MS, MIN_MS};
use crate::rules::engine::alerts::AlertBuilder;
use crate::rules::engine::part::{Ctx, Outbox};
use crate::rules::engine::profile::StoreProfile;

/// Device activity is judged over this past span.
const ACTIVITY_SPAN_MS: i64 = 7 * DAY_MS;

impl Device {
    /// Notes an event (not a status change) from the device at event time `t`.
    pub(super) fn record_activity(&mut self, ctx: &Ctx<'_>, t: i64) {
        if self.first_seen_ms == 0 || t < self.first_seen_ms {
            self.first_seen_ms = t;
        }
        self.last_seen_ms = Some(self.last_seen_ms.map_or(t, |l| l.max(t)));
        self.active_hours.insert(ctx.profile.hour_start(t));
        let cutoff = ctx.now_ms - ACTIVITY_SPAN_MS - HOUR_MS;
        while self.active_hours.first().is_some_and(|h| *h < cutoff) {
            self.active_hours.pop_first();
        }
    }

    /// Whether the device sent events in enough of the past week's open hours (cached per hour).
    pub(super) fn is_regular(
        &mut self,
        profile: &StoreProfile,
        rules: &AnomalyRules,
        now_ms: i64,
    ) -> bool {
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

/// The device-offline rule.
pub(super) struct DeviceOffline;

impl DeviceOffline {
    /// A CONNECTED or DISCONNECTED status of `device` at event time `t` (older ones arriving late
    /// are ignored).
    pub(super) fn status_change(
        ctx: &Ctx<'_>,
        st: &mut StoreAnomaly,
        device: &str,
        state: i32,
        t: i64,
        out: &mut Outbox,
    ) {
        let (store, rules) = (ctx.store, &ctx.profile.rules.anomaly);
        let d = st.devices.entry(device.to_owned()).or_default();
        if t < d.status_ms {
            return;
        }
        d.status_ms = t;
        let key = format!("{store}/device/{device}");
        if state == DeviceState::Disconnected as i32 {
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
                format!("{device} reconnected after {mins} min"),
                t,
                ctx.now_ms,
            );
        } else if ctx.historical
            && t - since >= offline
            && (ctx.profile.is_open(since) || ctx.profile.is_open(t))
        {
            // Both ends arrived after the fact: record the outage, do not page.
            let msg = format!(
                "{device} was offline {mins} min from {} (learned late)",
                ctx.profile.hhmm(since)
            );
            let a = AlertBuilder::new(store, AlertKind::DeviceOffline, device, msg)
                .observed(mins as f64, f64::from(rules.offline_minutes))
                .at(since)
                .retrospective(true)
                .build();
            out.alerts.raise(&key, a, ctx.now_ms);
            out.alerts.resolve(
                &key,
                format!("{device} reconnected after {mins} min"),
                t,
                ctx.now_ms,
            );
        }
    }

    /// Judges a disconnected device; returns false (nothing judged) when it is connected, so the
    /// silence rule gets its turn.
    pub(super) fn evaluate(
        e: &Eval<'_>,
        dev: &str,
        d: &Device,
        key: &str,
        out: &mut Outbox,
    ) -> bool {
        let Some(since) = d.disconnected_since else {
            return false;
        };
        let (rules, now_ms) = (e.rules, e.now_ms);
        let mins = (now_ms - since) / MIN_MS;
        if e.open && mins >= i64::from(rules.offline_minutes) {
            let msg = format!(
                "{dev} disconnected since {} ({mins} min)",
                e.profile.hhmm(since)
            );
            let a = AlertBuilder::new(e.store, AlertKind::DeviceOffline, dev, msg)
                .observed(mins as f64, f64::from(rules.offline_minutes))
                .at(since)
                .build();
            if out
                .alerts
                .active(key)
                .is_none_or(|a| a.kind != AlertKind::DeviceOffline as i32)
            {
                out.alerts.raise(key, a, now_ms);
            }
        }
        true
    }
}

/// The device-silent rule.
pub(super) struct DeviceSilent;

impl DeviceSilent {
    /// Judges a connected device.
    pub(super) fn evaluate(e: &Eval<'_>, dev: &str, d: &mut Device, key: &str, out: &mut Outbox) {
        let (profile, rules, now_ms, open) = (e.profile, e.rules, e.now_ms, e.open);
        let regular = d.is_regular(profile, rules, now_ms);
        let last = d.last_seen_ms.unwrap_or(d.first_seen_ms);
        let silent_ms = now_ms - last.max(e.opened);
        let silent = open && regular && silent_ms >= i64::from(rules.silent_minutes) * MIN_MS;
        let active = out.alerts.active(key).map(|a| a.kind);
        if silent {
            if active.is_none() {
                let msg = format!(
                    "{dev} has sent nothing since {} ({} min of opening time)",
                    profile.hhmm(last),
                    silent_ms / MIN_MS
                );
                let a = AlertBuilder::new(e.store, AlertKind::DeviceSilent, dev, msg)
                    .observed((silent_ms / MIN_MS) as f64, f64::from(rules.silent_minutes))
                    .at(now_ms)
                    .build();
                out.alerts.raise(key, a, now_ms);
            }
        } else if active == Some(AlertKind::DeviceSilent as i32) {
            let why = if open {
                "sending again"
            } else {
                "store closed"
            };
            out.alerts
                .resolve(key, format!("{dev}: {why}"), now_ms, now_ms);
        }
    }
}
