//! The rules engine (pure): what the collector concludes from the events it applies.
//!
//! The ingest path hands every newly applied event (never a duplicate) to [`Engine::apply`], then
//! calls [`Engine::evaluate`] once per commit group, and writes the changed state that
//! [`Engine::save`] returns in the *same* sled batch as the dedup ranges: after a crash, state and
//! dedup agree, so no event is counted twice (ARCHITECTURE.md invariant 6 carried over to the rules).
//!
//! Parts, each with one job and its own state:
//! - [`stock`]: stock position per (store, GTIN), reorder points, LOW/OUT alerts with hysteresis,
//!   order quantities, transfer suggestions; uses the [`catalogue`].
//! - [`traffic`]: entries/exits per store in 15-minute windows, occupancy.
//! - [`staff`]: who is on duty (badge scans, roster fallback).
//! - [`staffing`]: needed vs on-duty staff now and next hour (with its traffic forecast) → signals.
//! - [`kpi`]: KPI sums per store, local hour and day (conversion, sales, stock-out and staffing
//!   hours, alert handling), summed into regions and the chain when read.
//! - [`anomaly`]: returns spikes, void rates, silent or offline devices, stuck door counters, agent
//!   clocks that are off.
//!
//! Alerts from every part go through one [`alerts::AlertBook`], which gives them ids and a
//! lifecycle (open → acknowledged → resolved) and remembers what to publish.
//!
//! Time: rules run on *event time*. `now_ms` is the collector's clock (or, with
//! `[intel] clock = "event"`, the newest event time seen: used by the accelerated demo). An event
//! from a historical (backlog) batch updates state like any other, but an alert or signal about a
//! situation that is already over is marked retrospective: recorded, not paged.

pub mod alerts;
pub mod anomaly;
pub mod catalogue;
#[cfg(test)]
mod fixtures;
pub mod kpi;
pub mod part;
pub mod persist;
pub mod profile;
pub mod staff;
pub mod staffing;
pub mod stock;
pub mod traffic;

use store_proto::Event;

use self::alerts::AlertBook;
use self::catalogue::Catalogue;
pub use self::part::{Ctx, Outbox};
use self::persist::save_part;
pub use self::persist::Persist;
use self::profile::Profiles;

/// The batch an event came in.
#[derive(Debug, Clone, Copy)]
pub struct BatchInfo<'a> {
    pub store: &'a str,
    pub agent: &'a str,
    pub historical: bool,
    pub sent_ms: i64,
}

/// The collector's rules engine: state, rules and outputs for every store it owns.
#[derive(Debug, Default)]
pub struct Engine {
    pub profiles: Profiles,
    pub catalogue: Catalogue,
    pub stock: stock::Stock,
    pub traffic: traffic::Traffic,
    pub staff: staff::Staff,
    pub staffing: staffing::Staffing,
    pub anomaly: anomaly::Anomalies,
    pub kpi: kpi::Kpis,
    pub outbox: Outbox,
}

impl Engine {
    pub fn new(profiles: Profiles, catalogue: Catalogue) -> Self {
        Engine {
            profiles,
            catalogue,
            ..Engine::default()
        }
    }

    /// Applies one newly applied event (never called for duplicates).
    pub fn apply(&mut self, batch: BatchInfo<'_>, now_ms: i64, ev: &Event) {
        let profile = self.profiles.get(batch.store);
        let ctx = Ctx {
            store: batch.store,
            agent: batch.agent,
            historical: batch.historical,
            now_ms,
            batch_sent_ms: batch.sent_ms,
            profile,
            catalogue: &self.catalogue,
        };
        self.stock.apply(&ctx, ev, &mut self.outbox);
        self.traffic.apply(&ctx, ev);
        self.staff.apply(&ctx, ev);
        self.anomaly.apply(&ctx, ev, &mut self.outbox);
        self.kpi.apply(&ctx, ev);
    }

    /// Re-evaluates the time- and cross-store rules; called after each commit group and on a
    /// timer (so a store that went quiet still gets its staffing signal and silence alerts).
    pub fn evaluate(&mut self, now_ms: i64) {
        self.stock
            .evaluate(&self.profiles, &self.catalogue, now_ms, &mut self.outbox);
        self.staffing.evaluate(
            &self.profiles,
            &self.traffic,
            &self.staff,
            now_ms,
            &mut self.outbox,
        );
        self.anomaly
            .evaluate(&self.profiles, &self.traffic, now_ms, &mut self.outbox);
        self.kpi
            .evaluate(&self.profiles, &self.stock, &self.staffing, now_ms);
    }

    /// Changed state of every part, as `intel/{part}/{key}` keys for the store's commit batch.
    pub fn save(&mut self) -> Vec<(String, Option<Vec<u8>>)> {
        let mut out = Vec::new();
        // Alert steps are counted here, the one place every raise, acknowledgement and
        // resolution passes before it is committed.
        self.kpi
            .take_alerts(&self.profiles, &mut self.outbox.alerts);
        save_part(&mut self.stock, &mut out);
        save_part(&mut self.traffic, &mut out);
        save_part(&mut self.staff, &mut out);
        save_part(&mut self.staffing, &mut out);
        save_part(&mut self.anomaly, &mut out);
        save_part(&mut self.kpi, &mut out);
        save_part(&mut self.outbox.alerts, &mut out);
        out
    }

    /// Restores one `intel/{part}/{key}` entry written by [`Engine::save`].
    pub fn load(&mut self, full_key: &str, value: &[u8]) -> Result<(), String> {
        let rest = full_key
            .strip_prefix("intel/")
            .ok_or_else(|| format!("{full_key}: not an intel key"))?;
        let (part, key) = rest
            .split_once('/')
            .ok_or_else(|| format!("{full_key}: no part"))?;
        let loaded = match part {
            stock::Stock::PART => self.stock.load(key, value),
            traffic::Traffic::PART => self.traffic.load(key, value),
            staff::Staff::PART => self.staff.load(key, value),
            staffing::Staffing::PART => self.staffing.load(key, value),
            anomaly::Anomalies::PART => self.anomaly.load(key, value),
            kpi::Kpis::PART => self.kpi.load(key, value),
            AlertBook::PART => self.outbox.alerts.load(key, value),
            other => return Err(format!("{full_key}: unknown part {other:?}")),
        };
        loaded.map_err(|e| format!("{full_key}: {e}"))
    }
}
