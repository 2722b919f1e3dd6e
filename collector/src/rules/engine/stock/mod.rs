//! Stock positions per (store, GTIN), reorder points, LOW/OUT alerts and transfer suggestions.
//!
//! **Movements** (event time = `Event.wall_time_ms`):
//! - POS sale lines −quantity, return lines +quantity; voids change nothing (the till voided the
//!   sale before it happened); a transaction of unspecified kind changes nothing either.
//! - Scans by mode: RECEIVING +qty, SHRINK −qty, TRANSFER_OUT −qty, TRANSFER_IN +qty,
//!   STOCK_COUNT sets the position (see [`position`]); a quantity of 0 means 1. SALE-mode scans
//!   change nothing: the till's transaction carries the sale, and counting the scan as well
//!   would count every sale twice. Badge and unspecified scans are not stock.
//! - The GTIN is `Scan.gtin` or `LineItem.gtin` (padded to 14 digits: drivers validate them), or
//!   `LineItem.item_id` when it is 8–14 digits with a valid GS1 check digit (a till's own
//!   article numbers must not become phantom products). Lines and scans without one are
//!   counted in [`StockStats::unidentified`].
//!
//! **Reorder point**: the catalogue's fixed one, or derived from the store's daily sales (net of
//! returns, by the store's local day) as ROP = d·L + z·σ·√L over the last `demand_days` complete
//! local days since the GTIN was first seen (at least `min_demand_days` of them), rounded up to
//! whole units (see [`rules`]).
//!
//! **Alerts** (key `{store}/stock/{gtin}`), decided in [`Stock::evaluate`] after each commit
//! group for the positions that changed, and for every position when the hour or the catalogue
//! changes (a derived reorder point moves with the days):
//! - OUT when position ≤ 0, LOW when position ≤ ROP (OUT → LOW when stock arrives but is still
//!   low, LOW → OUT when it runs out: each change is published);
//! - an active alert clears when the position reaches ROP + max(1, `hysteresis_fraction` ×
//!   ROP), or at once when a receipt (RECEIVING, TRANSFER_IN) or a count since the last
//!   evaluation leaves the position above the ROP;
//! - GTINs not in the catalogue are tracked and listed ([`Stock::unknown_gtins`]) but raise no
//!   alerts: there is nothing to order until HQ adds them;
//! - without a ROP (derived, but too little history yet) only OUT is raised;
//! - the suggested order fills up to `max_stock` (or `default_max_stock_factor` × ROP) in whole
//!   packs ([`rules::order_quantity`]).
//!
//! Events from historical (backlog) batches update the position like any other: the position is
//! current, so a condition that holds after the batch is raised as usual (not retrospective). A
//! dip that happened inside a backlog and is over by the time it is evaluated is recorded as a
//! retrospective alert and resolved at once.
//!
//! **Transfers** (key `{store}/transfer/{gtin}`): for a store with an active LOW/OUT alert, the
//! store of the same region with the most to spare (position − its ROP − max(1,
//! `transfer_margin_fraction` × its ROP), after what earlier suggestions in the same evaluation
//! already took) is suggested, for min(need, spare) rounded down to whole packs, where need is
//! the order target minus the position. Stores without a known ROP or with their own stock alert
//! never give. The suggestion is resolved when the store is no longer low or nobody can spare.
//!
//! **Persistence**: `pos/{store}/{gtin}` → JSON of the key's state, saved when it changed.
//! [`StockStats`] are counters for metrics and are not saved.

pub mod position;
pub mod rules;
mod transfers;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use store_proto::v1::{Alert, AlertKind, ScanMode, TransactionKind};
use store_proto::{Body, Event};

use self::position::{CountOutcome, Position};
pub use self::rules::StockRules;
use super::alerts::AlertBuilder;
use super::catalogue::{check_digit, pad_gtin, Catalogue, ResolvedItem};
use super::part::{Ctx, Outbox};
use super::persist::Persist;
use super::profile::{Profiles, StoreProfile};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// State of one (store, GTIN).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct KeyState {
    pos: Position,
    /// Net units sold per local day (key: UTC ms of the local day's start).
    #[serde(default)]
    days: BTreeMap<i64, f64>,
    first_ms: i64,
    last_event_ms: i64,
    events: u64,
    /// As of the last evaluation (for the API and the transfer rule).
    #[serde(default)]
    view: Cached,
    #[serde(skip)]
    pending: Pending,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Cached {
    known: bool,
    name: String,
    pack: u32,
    rop: Option<f64>,
    max_stock: Option<f64>,
    /// Level orders fill up to.
    target: Option<f64>,
}

/// What happened to a key since its last evaluation.
#[derive(Debug, Clone, Default, PartialEq)]
struct Pending {
    /// A receipt or a count.
    replenished: bool,
    /// Lowest position reached by historical events, and when.
    historical_min: Option<(f64, i64)>,
}

/// Counters for metrics (since start, not saved).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StockStats {
    /// Scans and POS lines without a usable GTIN.
    pub unidentified: u64,
    /// Movements dropped because a later count already covers them.
    pub covered_by_count: u64,
    /// Count scans older than the count in force (superseded).
    pub superseded_counts: u64,
    /// Voids and transactions of unspecified kind (no stock change).
    pub no_change: u64,
    /// Scans with a negative quantity, or POS lines with a non-finite one (ignored).
    pub bad_quantity: u64,
}

/// A position for the HTTP API.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PositionView {
    pub gtin: String,
    pub name: String,
    pub position: f64,
    pub reorder_point: Option<f64>,
    pub max_stock: Option<f64>,
    pub last_count_ms: Option<i64>,
    pub last_event_ms: i64,
    /// In the catalogue.
    pub known: bool,
}

/// A GTIN seen in a store but not in the catalogue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnknownGtin {
    pub store: String,
    pub gtin: String,
    /// Earliest event time seen.
    pub first_seen_ms: i64,
    pub events: u64,
    pub position: f64,
}

/// Stock state of every store this collector owns.
#[derive(Debug, Default)]
pub struct Stock {
    stores: BTreeMap<String, BTreeMap<String, KeyState>>,
    /// Stores that have a position for a GTIN (for transfers).
    by_gtin: HashMap<String, BTreeSet<String>>,
    /// Keys to evaluate.
    to_check: BTreeSet<(String, String)>,
    /// Keys to save.
    dirty: BTreeSet<(String, String)>,
    /// (catalogue generation, hour) of the last full evaluation.
    swept: Option<(u64, i64)>,
    pub stats: StockStats,
}

impl Stock {
    /// Applies one event's stock movements.
    pub fn apply(&mut self, ctx: &Ctx<'_>, ev: &Event, _out: &mut Outbox) {
        let t = ev.wall_time_ms;
        match &ev.body {
            Some(Body::Scan(s)) => {
                let mode = ScanMode::try_from(s.mode).unwrap_or(ScanMode::Unspecified);
                let sign = match mode {
                    ScanMode::Receiving | ScanMode::TransferIn => 1.0,
                    ScanMode::Shrink | ScanMode::TransferOut => -1.0,
                    ScanMode::StockCount => 0.0,
                    ScanMode::Sale | ScanMode::Badge | ScanMode::Unspecified => return,
                };
                let Some(gtin) = pad_gtin(&s.gtin) else {
                    self.stats.unidentified += 1;
                    return;
                };
                if s.quantity < 0 {
                    self.stats.bad_quantity += 1;
                    return;
                }
                let qty = f64::from(s.quantity.max(1));
                let rules = &ctx.profile.rules.stock;
                let session_ms = i64::from(rules.count_session_minutes) * MINUTE_MS;
                let window_ms = i64::from(rules.movement_window_hours) * HOUR_MS;
                let k = self.touch(ctx, &gtin, t);
                if mode == ScanMode::StockCount {
                    let outcome = k.pos.count_scan(t, qty, session_ms);
                    if outcome == CountOutcome::Superseded {
                        self.stats.superseded_counts += 1;
                    } else {
                        k.pending.replenished = true;
                        note_historical(k, ctx.historical, t);
                    }
                } else if k.pos.movement(t, sign * qty, window_ms) {
                    if sign > 0.0 {
                        k.pending.replenished = true;
                    }
                    note_historical(k, ctx.historical, t);
                } else {
                    self.stats.covered_by_count += 1;
                }
            }
            Some(Body::PosTransaction(p)) => {
                let kind =
                    TransactionKind::try_from(p.kind).unwrap_or(TransactionKind::Unspecified);
                let sign = match kind {
                    TransactionKind::Sale => -1.0,
                    TransactionKind::Return => 1.0,
                    TransactionKind::Void | TransactionKind::Unspecified => {
                        self.stats.no_change += 1;
                        return;
                    }
                };
                let rules = &ctx.profile.rules.stock;
                let window_ms = i64::from(rules.movement_window_hours) * HOUR_MS;
                let keep_days = i64::from(rules.demand_days) + 2;
                let day = ctx.profile.day_start(t);
                for li in &p.items {
                    let Some(gtin) = line_gtin(&li.gtin, &li.item_id) else {
                        self.stats.unidentified += 1;
                        continue;
                    };
                    if !li.quantity.is_finite() {
                        self.stats.bad_quantity += 1;
                        continue;
                    }
                    let k = self.touch(ctx, &gtin, t);
                    let applied = k.pos.movement(t, sign * li.quantity, window_ms);
                    if applied {
                        note_historical(k, ctx.historical, t);
                    }
                    // Demand counts every sale, covered by a count or not: it happened.
                    let newest = k.days.keys().next_back().copied().unwrap_or(day).max(day);
                    if day > newest - keep_days * DAY_MS {
                        *k.days.entry(day).or_default() -= sign * li.quantity;
                        k.days = k.days.split_off(&(newest - keep_days * DAY_MS + 1));
                    }
                    if !applied {
                        self.stats.covered_by_count += 1;
                    }
                }
            }
            _ => {}
        }
    }

    /// The key's state, created on first sight; marks it for evaluation and saving.
    fn touch(&mut self, ctx: &Ctx<'_>, gtin: &str, t: i64) -> &mut KeyState {
        let key = (ctx.store.to_owned(), gtin.to_owned());
        self.to_check.insert(key.clone());
        self.dirty.insert(key);
        self.by_gtin
            .entry(gtin.to_owned())
            .or_default()
            .insert(ctx.store.to_owned());
        let k = self
            .stores
            .entry(ctx.store.to_owned())
            .or_default()
            .entry(gtin.to_owned())
            .or_insert_with(|| KeyState {
                first_ms: t,
                last_event_ms: t,
                ..KeyState::default()
            });
        k.first_ms = k.first_ms.min(t);
        k.last_event_ms = k.last_event_ms.max(t);
        k.events += 1;
        if k.events == 1 {
            if let Some(item) = ctx.catalogue.item(ctx.store, gtin) {
                k.view.known = true;
                k.view.name = item.name;
            }
        }
        k
    }

    /// Decides stock alerts for changed positions (all positions when the hour or the catalogue
    /// changed), then transfer suggestions across stores.
    pub fn evaluate(
        &mut self,
        profiles: &Profiles,
        catalogue: &Catalogue,
        now_ms: i64,
        out: &mut Outbox,
    ) {
        let stamp = (catalogue.generation(), now_ms.div_euclid(HOUR_MS));
        let keys: Vec<(String, String)> = if self.swept != Some(stamp) {
            self.to_check.clear();
            self.stores
                .iter()
                .flat_map(|(s, m)| m.keys().map(|g| (s.clone(), g.clone())))
                .collect()
        } else {
            std::mem::take(&mut self.to_check).into_iter().collect()
        };
        self.swept = Some(stamp);
        for (store, gtin) in keys {
            self.decide(&store, &gtin, profiles.get(&store), catalogue, now_ms, out);
        }
        self.transfers(profiles, now_ms, out);
    }

    fn decide(
        &mut self,
        store: &str,
        gtin: &str,
        profile: &StoreProfile,
        catalogue: &Catalogue,
        now_ms: i64,
        out: &mut Outbox,
    ) {
        let Some(k) = self.stores.get_mut(store).and_then(|m| m.get_mut(gtin)) else {
            return;
        };
        let rules = &profile.rules.stock;
        let item = catalogue.item(store, gtin);
        let view = cached_view(k, item.as_ref(), rules, profile, now_ms);
        if view != k.view {
            k.view = view;
            self.dirty.insert((store.to_owned(), gtin.to_owned()));
        }
        let pending = std::mem::take(&mut k.pending);
        let pos = k.pos.value();
        let key = format!("{store}/stock/{gtin}");
        let active = out.alerts.active(&key).is_some();
        let v = &k.view;
        if !v.known {
            if active {
                out.alerts.resolve(
                    &key,
                    format!("{gtin} is no longer in the catalogue at {store}"),
                    k.last_event_ms,
                    now_ms,
                );
            }
            return;
        }
        let rop = v.rop;
        let condition = |p: f64| {
            if p <= 0.0 {
                Some(AlertKind::Out)
            } else if rop.is_some_and(|r| p <= r) {
                Some(AlertKind::Low)
            } else {
                None
            }
        };
        if let Some(kind) = condition(pos) {
            let alert = stock_alert(store, gtin, v, kind, pos, k.last_event_ms, false);
            out.alerts.raise(&key, alert, now_ms);
        } else if active {
            let r = rop.unwrap_or(0.0);
            let clear = rules::clear_level(r, rules.hysteresis_fraction);
            let why = if pos >= clear {
                Some(format!(
                    "{} ({gtin}) at {store}: position {} ≥ {} (reorder point {} + hysteresis)",
                    v.name,
                    fmt(pos),
                    fmt(clear),
                    fmt(r)
                ))
            } else if pending.replenished && pos > r {
                Some(format!(
                    "{} ({gtin}) at {store}: replenished to {} (reorder point {})",
                    v.name,
                    fmt(pos),
                    fmt(r)
                ))
            } else {
                None
            };
            if let Some(why) = why {
                out.alerts.resolve(&key, why, k.last_event_ms, now_ms);
            }
        } else if let Some((min, at)) = pending.historical_min {
            if let Some(kind) = condition(min) {
                let alert = stock_alert(store, gtin, v, kind, min, at, true);
                out.alerts.raise(&key, alert, now_ms);
                out.alerts.resolve(
                    &key,
                    format!(
                        "{} ({gtin}) at {store}: over by the time the backlog arrived (position {} at its lowest, {} now)",
                        v.name,
                        fmt(min),
                        fmt(pos)
                    ),
                    k.last_event_ms,
                    now_ms,
                );
            }
        }
    }

    /// Positions of one store, by GTIN.
    pub fn positions(&self, store: &str) -> Vec<PositionView> {
        self.stores
            .get(store)
            .into_iter()
            .flatten()
            .map(|(gtin, k)| PositionView {
                gtin: gtin.clone(),
                name: k.view.name.clone(),
                position: k.pos.value(),
                reorder_point: k.view.rop,
                max_stock: k.view.max_stock,
                last_count_ms: k.pos.last_count_ms(),
                last_event_ms: k.last_event_ms,
                known: k.view.known,
            })
            .collect()
    }

    /// Stores with positions.
    pub fn stores(&self) -> impl Iterator<Item = &str> {
        self.stores.keys().map(String::as_str)
    }

    /// GTINs of `store` whose position is at or below zero.
    pub fn out_of_stock<'a>(&'a self, store: &str) -> impl Iterator<Item = &'a str> + 'a {
        self.stores
            .get(store)
            .into_iter()
            .flatten()
            .filter(|(_, k)| k.pos.value() <= 0.0)
            .map(|(gtin, _)| gtin.as_str())
    }

    /// One position (`gtin` normalised to 14 digits).
    pub fn position(&self, store: &str, gtin: &str) -> Option<f64> {
        Some(self.stores.get(store)?.get(gtin)?.pos.value())
    }

    /// GTINs seen but not in the catalogue (as of the last evaluation), by store and GTIN.
    pub fn unknown_gtins(&self) -> Vec<UnknownGtin> {
        self.stores
            .iter()
            .flat_map(|(store, m)| {
                m.iter()
                    .filter(|(_, k)| !k.view.known)
                    .map(|(gtin, k)| UnknownGtin {
                        store: store.clone(),
                        gtin: gtin.clone(),
                        first_seen_ms: k.first_ms,
                        events: k.events,
                        position: k.pos.value(),
                    })
            })
            .collect()
    }
}

fn note_historical(k: &mut KeyState, historical: bool, t: i64) {
    if historical {
        let p = k.pos.value();
        if k.pending.historical_min.is_none_or(|(m, _)| p < m) {
            k.pending.historical_min = Some((p, t));
        }
    }
}

/// GTIN of a POS line: its `gtin`, else an `item_id` that is a valid GTIN of 8–14 digits.
fn line_gtin(gtin: &str, item_id: &str) -> Option<String> {
    if let Some(g) = pad_gtin(gtin) {
        return Some(g);
    }
    let g = pad_gtin(item_id)?;
    (u32::from(g.as_bytes()[13] - b'0') == check_digit(&g[..13])).then_some(g)
}

/// The key's catalogue data, reorder point and order target as of `now_ms`.
fn cached_view(
    k: &KeyState,
    item: Option<&ResolvedItem>,
    rules: &StockRules,
    profile: &StoreProfile,
    now_ms: i64,
) -> Cached {
    let Some(item) = item else {
        return Cached {
            pack: 1,
            ..Cached::default()
        };
    };
    let rop = item.reorder_point.or_else(|| {
        // Local days, not 24-hour steps: a daylight-saving day is 23 or 25 hours long, and the
        // demand is keyed by each local day's start.
        let today = profile.local_day(now_ms);
        let first = profile.local_day(k.first_ms);
        let from = first.max(today - i64::from(rules.demand_days));
        let days: Vec<f64> = (from..today)
            .map(|d| profile.start_of_local_day(d))
            .map(|d| k.days.get(&d).copied().unwrap_or(0.0).max(0.0))
            .collect();
        if days.len() < rules.min_demand_days as usize {
            return None;
        }
        let (d, sd) = rules::demand_stats(&days)?;
        Some(rules::reorder_point(
            d,
            sd,
            item.lead_time_days.unwrap_or(rules.default_lead_time_days),
            item.service_level.unwrap_or(rules.default_service_level),
        ))
    });
    Cached {
        known: true,
        name: item.name.clone(),
        pack: item.pack_size,
        rop,
        max_stock: item.max_stock,
        target: item
            .max_stock
            .or_else(|| rop.map(|r| (r * rules.default_max_stock_factor).ceil())),
    }
}

fn stock_alert(
    store: &str,
    gtin: &str,
    v: &Cached,
    kind: AlertKind,
    pos: f64,
    event_ms: i64,
    retrospective: bool,
) -> Alert {
    let rop = v.rop.unwrap_or(0.0);
    let qty = v
        .target
        .map_or(0, |t| rules::order_quantity(pos, rop, t, v.pack));
    let state = match kind {
        AlertKind::Out => format!("out of stock at {store}: position {}", fmt(pos)),
        _ => format!(
            "low at {store}: position {} ≤ reorder point {}",
            fmt(pos),
            fmt(rop)
        ),
    };
    let order = match v.target {
        Some(t) => format!(
            "order {qty} ({} × {}) to reach {}",
            qty / i64::from(v.pack.max(1)),
            v.pack,
            fmt(t)
        ),
        None => "no reorder point or max stock yet: set one in the catalogue".to_owned(),
    };
    let message = format!("{} ({gtin}) {state}; {order}", v.name);
    AlertBuilder::new(store, kind, gtin, message)
        .at(event_ms)
        .retrospective(retrospective)
        .position(pos, rop)
        .suggested_order(qty)
        .build()
}

/// A number for a message: whole numbers without decimals.
pub(super) fn fmt(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

/// Saved keys: `pos/{store}/{gtin}` → JSON of the key's state.
impl Persist for Stock {
    const PART: &'static str = "stock";

    fn save(&mut self, out: &mut Vec<(String, Option<Vec<u8>>)>) {
        for (store, gtin) in std::mem::take(&mut self.dirty) {
            let Some(k) = self.stores.get(&store).and_then(|m| m.get(&gtin)) else {
                continue;
            };
            let value = serde_json::to_vec(k).expect("plain data serialises");
            out.push((format!("pos/{store}/{gtin}"), Some(value)));
        }
    }

    fn load(&mut self, key: &str, value: &[u8]) -> Result<(), String> {
        let (store, gtin) = key
            .strip_prefix("pos/")
            .and_then(|k| k.rsplit_once('/'))
            .ok_or_else(|| format!("unknown key {key:?}"))?;
        let k: KeyState = serde_json::from_slice(value).map_err(|e| e.to_string())?;
        self.by_gtin
            .entry(gtin.to_owned())
            .or_default()
            .insert(store.to_owned());
        self.stores
            .entry(store.to_owned())
            .or_default()
            .insert(gtin.to_owned(), k);
        // Everything is re-evaluated on the first evaluation after loading.
        self.swept = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
