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
//! | `{store}/tamper/{agent}`   | TAMPERED        | a DeviceStatus TAMPERED (the agent saw a forged commit mark), live or from a backlog (never retrospective); resolved after `tamper_quiet_hours` of collector time without a new report |
//!
//! Offline and silent share a key: offline is the stronger statement and replaces silent.
//!
//! Retrospective: a returns spike in an hour that is already over (learned from a backlog, or
//! more than 15 minutes after the hour), and an outage whose DISCONNECTED and CONNECTED both
//! arrive in a backlog, are raised with `retrospective` set
//! under their own key (`{store}/returns/{hour_start_ms}`, `{store}/device/{device}`) and resolved
//! at once: recorded, not paged. Void rates, silence and stuck counters are judged on the
//! trailing window ending now only; a backlog older than that window does not raise them.
//!
//! Layout: one small type per rule (`returns`, `voids`, `devices` (offline and silent),
//! `door_counter`, `clock`, `tamper`); this module owns the per-store state and dispatches each
//! event and each evaluation to them, in a fixed order (alert ids are given in raise order). The
//! state shared by the rules is in `state`, saved as one JSON value per store.

use std::collections::{BTreeMap, BTreeSet};

use store_proto::v1::{DeviceState, TransactionKind};
use store_proto::{Body, Event};

use self::clock::ClockOff;
use self::devices::{DeviceOffline, DeviceSilent};
use self::door_counter::CounterStuck;
use self::eval::Eval;
use self::returns::ReturnsSpike;
pub use self::rules::AnomalyRules;
use self::state::{StoreAnomaly, MIN_MS};
use self::tamper::Tampered;
use self::voids::VoidRate;
use crate::rules::engine::part::{Ctx, Outbox};
use crate::rules::engine::persist::{load_store_json, save_stores_json, Persist};
use crate::rules::engine::profile::Profiles;
use crate::rules::engine::traffic::Traffic;

mod clock;
mod devices;
mod door_counter;
mod eval;
mod returns;
pub mod rules;
mod state;
mod tamper;
mod voids;

/// Anomaly state of every store.
#[derive(Debug, Default)]
pub struct Anomalies {
    stores: BTreeMap<String, StoreAnomaly>,
    dirty: BTreeSet<String>,
}

impl Anomalies {
    pub fn apply(&mut self, ctx: &Ctx<'_>, ev: &Event, out: &mut Outbox) {
        ClockOff::apply(ctx, ev, out);

        let t = ev.wall_time_ms;
        let st = self.stores.entry(ctx.store.to_owned()).or_default();
        if st.first_seen_ms == 0 || t < st.first_seen_ms {
            st.first_seen_ms = t;
        }
        self.dirty.insert(ctx.store.to_owned());
        let is_status = matches!(
            &ev.body,
            Some(Body::DeviceStatus(s))
                if s.state == DeviceState::Connected as i32
                    || s.state == DeviceState::Disconnected as i32
        );
        if !is_status && !ev.device_id.is_empty() && ev.device_id != "agent" {
            st.devices
                .entry(ev.device_id.clone())
                .or_default()
                .record_activity(ctx, t);
        }

        match &ev.body {
            Some(Body::PosTransaction(tx)) => {
                let kind = TransactionKind::try_from(tx.kind).unwrap_or_default();
                if kind == TransactionKind::Unspecified {
                    return;
                }
                let minute = t.div_euclid(MIN_MS) * MIN_MS;
                VoidRate::record(ctx, st, &tx.register_id, kind, minute);
                match kind {
                    TransactionKind::Sale => CounterStuck::record_sale(ctx, st, minute),
                    TransactionKind::Return => ReturnsSpike::record(ctx, st, t, out),
                    _ => {}
                }
            }
            Some(Body::FootTraffic(ft)) if ft.entries > 0 => CounterStuck::record_entry(st, ft, t),
            Some(Body::DeviceStatus(s)) if is_status => {
                DeviceOffline::status_change(ctx, st, &ev.device_id, s.state, t, out);
            }
            Some(Body::DeviceStatus(s)) if s.state == DeviceState::Tampered as i32 => {
                Tampered::report(ctx, st, s, t, out);
            }
            _ => {}
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
            let e = Eval {
                store,
                profile,
                rules: &profile.rules.anomaly,
                now_ms,
                open: profile.is_open(now_ms),
                opened: profile.session_start(now_ms),
            };
            ReturnsSpike::evaluate(&e, st, out);
            let mut changed = VoidRate::evaluate(&e, st, out);
            for (dev, d) in &mut st.devices {
                let key = format!("{store}/device/{dev}");
                if !DeviceOffline::evaluate(&e, dev, d, &key, out) {
                    DeviceSilent::evaluate(&e, dev, d, &key, out);
                }
            }
            changed |= CounterStuck::evaluate(&e, st, traffic, out);
            changed |= Tampered::evaluate(&e, st, out);
            if changed {
                self.dirty.insert(store.clone());
            }
        }
    }
}

/// Saved keys: `{store}` → JSON of the store's counters and device states.
impl Persist for Anomalies {
    const PART: &'static str = "anomaly";

    fn save(&mut self, out: &mut Vec<(String, Option<Vec<u8>>)>) {
        save_stores_json(&mut self.dirty, &self.stores, out);
    }

    fn load(&mut self, key: &str, value: &[u8]) -> Result<(), String> {
        load_store_json(&mut self.stores, key, value)
    }
}

#[cfg(test)]
mod tests;
