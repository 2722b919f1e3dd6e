//! KPIs per store, local hour and local day: traffic, sales, basket, returns, voids, stock-out
//! hours per GTIN, under- and overstaffed hours, alert handling.
//!
//! Kept incrementally as events are applied, as sums only ([`counters`]); a region's or the
//! chain's figures are summed from the store rows when asked ([`query`]), ratios after the sums.
//!
//! **Time.** A POS transaction counts at its event time, a people-counter interval at its start,
//! in the store's local hour and day (the store's IANA zone, see `profile.rs`). Stock-outs and
//! staffing are states, not events: each evaluation samples them once per minute of collector
//! time and adds the minutes since the previous sample (at most [`MAX_GAP_MINUTES`], so a
//! collector that was down does not invent an outage's worth of stock-out) to the minute's local
//! hour, while the store is open. Alerts count when raised, acknowledged and resolved, at the
//! engine's "now" of that moment (an acknowledgement is stamped with the newest "now" the
//! engine has seen, i.e. the last evaluation).
//!
//! **Bounds.** Hourly rows for [`day::HOURLY_DAYS`] local days, daily rows for
//! [`day::DAILY_DAYS`]; an event older than that, or more than a day ahead of now, is refused and
//! counted in [`KpiStats`] (a hostile or broken clock cannot create rows outside the window).
//!
//! **Storage.** Per store and local day (days since 1970-01-01), `{store}/{day}` for the sums and
//! hours and `{store}/{day}/stockouts` for the stock-outs per GTIN (rewritten only by the
//! minute's sampling, not by every sale), written with the commit group like every part
//! (ARCHITECTURE.md invariant 6).

use std::collections::{BTreeMap, BTreeSet};
use tokio::time::Instant;

use store_proto::v1::{SignalKind, TransactionKind};
use store_proto::{Body, Event};
use store_runtime::log_limit::LogLimit;

use self::counters::Counters;
use self::day::{StoreDay, DAILY_DAYS, HOURLY_DAYS, MAX_ACK_DELAYS};
use crate::rules::engine::alerts::{AlertBook, Lifecycle};
use crate::rules::engine::part::Ctx;
use crate::rules::engine::persist::Persist;
use crate::rules::engine::profile::Profiles;
use crate::rules::engine::staffing::Staffing;
use crate::rules::engine::stock::Stock;

pub mod counters;
pub mod day;
pub mod query;

const MIN_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;
/// Most units one sale line may add: a line beyond this is a broken or hostile input, and
/// unbounded sums could reach infinity, which JSON cannot store.
pub const MAX_LINE_UNITS: f64 = 1_000_000.0;
/// Most minutes one sample may account for (see the module docs).
pub const MAX_GAP_MINUTES: i64 = 15;

/// Refused input (since start, not saved).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct KpiStats {
    /// Events whose time is outside the kept window (too old, or more than a day ahead).
    pub out_of_window: u64,
    /// Sale lines with a negative, non-finite or absurd (> [`MAX_LINE_UNITS`]) quantity (not
    /// counted as units).
    pub bad_quantity: u64,
}

/// KPI rows of every store.
#[derive(Debug, Default)]
pub struct Kpis {
    /// store → local day → row.
    stores: BTreeMap<String, BTreeMap<i64, StoreDay>>,
    dirty: BTreeSet<(String, i64)>,
    dirty_stockouts: BTreeSet<(String, i64)>,
    /// The minute last sampled per store (not saved: after a restart sampling starts afresh).
    sampled: BTreeMap<String, i64>,
    /// Newest "now" seen, for stamping acknowledgements.
    now_ms: i64,
    /// The minute of the last sampling pass and the hour of the last pruning pass: evaluation
    /// runs after every commit group, the passes at most once per minute and hour.
    last_pass: (i64, i64),
    pub stats: KpiStats,
    log: LogLimit<&'static str>,
}

impl Kpis {
    /// Counts one event.
    pub fn apply(&mut self, ctx: &Ctx<'_>, ev: &Event) {
        self.now_ms = self.now_ms.max(ctx.now_ms);
        let (t, c) = match &ev.body {
            Some(Body::PosTransaction(tx)) => {
                let mut c = Counters::default();
                match TransactionKind::try_from(tx.kind).unwrap_or_default() {
                    TransactionKind::Sale => {
                        c.transactions = 1;
                        c.sales_minor = tx.total_minor;
                        for line in &tx.items {
                            if (0.0..=MAX_LINE_UNITS).contains(&line.quantity) {
                                c.units += line.quantity;
                            } else {
                                self.stats.bad_quantity += 1;
                            }
                        }
                    }
                    TransactionKind::Return => {
                        c.returns = 1;
                        c.returns_minor = tx.total_minor;
                    }
                    TransactionKind::Void => c.voids = 1,
                    TransactionKind::Unspecified => return,
                }
                (ev.wall_time_ms, c)
            }
            Some(Body::FootTraffic(ft)) if ft.entries > 0 => {
                let t = if ft.interval_start_ms > 0 {
                    ft.interval_start_ms
                } else {
                    ev.wall_time_ms
                };
                let c = Counters {
                    entries: u64::from(ft.entries),
                    ..Counters::default()
                };
                (t, c)
            }
            _ => return,
        };
        let at = (ctx.profile.local_day(t), ctx.profile.hour_start(t));
        self.add(ctx.store, at, ctx.now_ms, &c);
    }

    /// Adds `c` at `(local day, hour start)` of `store`, if inside the kept window.
    fn add(&mut self, store: &str, (day, hour): (i64, i64), now_ms: i64, c: &Counters) -> bool {
        let today = now_ms.div_euclid(DAY_MS);
        // Window in days, judged on UTC days (the local day differs by at most one).
        if day < today - DAILY_DAYS || day > today + 1 {
            self.stats.out_of_window += 1;
            if let Some(n) = self.log.note(&"out_of_window", 1, Instant::now()) {
                tracing::warn!(
                    store,
                    refused = n,
                    "KPIs: event time outside the kept window"
                );
            }
            return false;
        }
        let hour = (day >= today - HOURLY_DAYS).then_some(hour);
        let days = self.stores.entry(store.to_owned()).or_default();
        days.entry(day).or_default().add(hour, c);
        self.dirty.insert((store.to_owned(), day));
        true
    }

    /// Samples stock-outs and staffing once per minute, counts alert lifecycle changes and prunes.
    pub fn evaluate(
        &mut self,
        profiles: &Profiles,
        stock: &Stock,
        staffing: &Staffing,
        now_ms: i64,
    ) {
        self.now_ms = self.now_ms.max(now_ms);
        let minute = now_ms.div_euclid(MIN_MS) * MIN_MS;
        let hour = now_ms.div_euclid(60 * MIN_MS);
        if hour != self.last_pass.1 {
            self.last_pass.1 = hour;
            self.prune(now_ms);
        }
        if minute == self.last_pass.0 {
            return;
        }
        self.last_pass.0 = minute;
        let mut stores: BTreeSet<String> = self.stores.keys().cloned().collect();
        stores.extend(stock.stores().map(str::to_owned));
        for store in stores {
            let last = self.sampled.insert(store.clone(), minute);
            let Some(last) = last else { continue };
            let gap = ((minute - last) / MIN_MS).min(MAX_GAP_MINUTES);
            if gap <= 0 {
                continue;
            }
            let profile = profiles.get(&store);
            let current = staffing
                .latest(&store)
                .0
                .filter(|s| s.hour_start_ms == profile.hour_start(now_ms) && !s.retrospective);
            let staffing_kind = current.map(|s| s.kind);
            let out: Vec<String> = stock.out_of_stock(&store).map(str::to_owned).collect();
            // The minutes just past: (minute − gap, minute], each in its own local hour.
            for k in 0..gap {
                // The last millisecond of the minute ending at `minute − k`.
                let at = minute - k * MIN_MS - 1;
                if !profile.is_open(at) {
                    continue;
                }
                let c = Counters {
                    stockout_minutes: out.len() as u64,
                    understaffed_minutes: u64::from(
                        staffing_kind == Some(SignalKind::Understaffed as i32),
                    ),
                    overstaffed_minutes: u64::from(
                        staffing_kind == Some(SignalKind::Overstaffed as i32),
                    ),
                    ..Counters::default()
                };
                if c == Counters::default() {
                    continue;
                }
                let (day, hour) = (profile.local_day(at), profile.hour_start(at));
                if self.add(&store, (day, hour), now_ms, &c) {
                    let row = self.stores.get_mut(&store).and_then(|d| d.get_mut(&day));
                    if let (Some(row), false) = (row, out.is_empty()) {
                        for gtin in &out {
                            row.stockouts.add(gtin, 1);
                        }
                        self.dirty_stockouts.insert((store.clone(), day));
                    }
                }
            }
        }
    }

    /// Counts the alert book's lifecycle changes since the last call.
    pub fn take_alerts(&mut self, profiles: &Profiles, alerts: &mut AlertBook) {
        for (store, change, raised_at) in alerts.take_lifecycle() {
            let profile = profiles.get(&store);
            let at = match change {
                Lifecycle::Raised => raised_at,
                // Right after a restart "now" may not be known yet; never before the raise.
                Lifecycle::Acknowledged => self.now_ms.max(raised_at),
                Lifecycle::Resolved(at) => at,
            };
            let c = Counters {
                alerts_raised: u64::from(change == Lifecycle::Raised),
                alerts_acknowledged: u64::from(change == Lifecycle::Acknowledged),
                alerts_resolved: u64::from(matches!(change, Lifecycle::Resolved(_))),
                ..Counters::default()
            };
            let day = profile.local_day(at);
            let now = self.now_ms.max(at);
            if self.add(&store, (day, profile.hour_start(at)), now, &c)
                && change == Lifecycle::Acknowledged
            {
                if let Some(row) = self.stores.get_mut(&store).and_then(|d| d.get_mut(&day)) {
                    if row.ack_delays_ms.len() < MAX_ACK_DELAYS {
                        row.ack_delays_ms.push((at - raised_at).max(0));
                    }
                }
            }
        }
    }

    /// Drops hourly rows older than [`HOURLY_DAYS`] and days older than [`DAILY_DAYS`].
    fn prune(&mut self, now_ms: i64) {
        let today = now_ms.div_euclid(DAY_MS);
        for (store, days) in &mut self.stores {
            while let Some((&day, _)) = days.first_key_value() {
                if day >= today - DAILY_DAYS {
                    break;
                }
                days.pop_first();
                self.dirty.insert((store.clone(), day));
                self.dirty_stockouts.insert((store.clone(), day));
            }
            for (day, row) in days.range_mut(..today - HOURLY_DAYS) {
                if !row.hours.is_empty() {
                    row.hours.clear();
                    self.dirty.insert((store.clone(), *day));
                }
            }
        }
    }

    /// Rows of one store, by local day.
    pub fn days(&self, store: &str) -> Option<&BTreeMap<i64, StoreDay>> {
        self.stores.get(store)
    }

    /// Stores with KPI rows.
    pub fn stores(&self) -> impl Iterator<Item = &str> {
        self.stores.keys().map(String::as_str)
    }
}

/// Saved keys: `{store}/{day}` → JSON of [`StoreDay`] (sums, hours, acknowledgement delays) and
/// `{store}/{day}/stockouts` → JSON of [`day::Stockouts`].
impl Persist for Kpis {
    const PART: &'static str = "kpi";

    fn save(&mut self, out: &mut Vec<(String, Option<Vec<u8>>)>) {
        for (store, day) in std::mem::take(&mut self.dirty) {
            let row = self.stores.get(&store).and_then(|d| d.get(&day));
            out.push((format!("{store}/{day}"), row.map(to_json)));
        }
        for (store, day) in std::mem::take(&mut self.dirty_stockouts) {
            let row = self.stores.get(&store).and_then(|d| d.get(&day));
            let value = row
                .filter(|r| !r.stockouts.is_empty())
                .map(|r| to_json(&r.stockouts));
            out.push((format!("{store}/{day}/stockouts"), value));
        }
    }

    fn load(&mut self, key: &str, value: &[u8]) -> Result<(), String> {
        let mut parts = key.split('/');
        let (store, day, rest) = (parts.next(), parts.next(), parts.next());
        let day = day.and_then(|d| d.parse::<i64>().ok());
        let (Some(store), Some(day), None) = (store, day, parts.next()) else {
            return Err(format!("unknown key {key:?}"));
        };
        let row = self
            .stores
            .entry(store.to_owned())
            .or_default()
            .entry(day)
            .or_default();
        match rest {
            None => {
                let mut loaded: StoreDay =
                    serde_json::from_slice(value).map_err(|e| e.to_string())?;
                // Keys load in order, so this day's stock-outs may already be there.
                loaded.stockouts = std::mem::take(&mut row.stockouts);
                *row = loaded;
            }
            Some("stockouts") => {
                row.stockouts = serde_json::from_slice(value).map_err(|e| e.to_string())?;
            }
            Some(_) => return Err(format!("unknown key {key:?}")),
        }
        Ok(())
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("plain struct serialises")
}

#[cfg(test)]
mod tests;
