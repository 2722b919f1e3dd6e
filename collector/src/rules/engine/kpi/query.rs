//! Reading KPI rows: one store's local days or hours, and their sums over a region or the chain.
//!
//! Region and chain rows are sums of store rows under the same label: a day is each store's own
//! local day (`2026-12-01` in Berlin and in Lisbon are one row), an hour is the local hour with
//! its UTC offset (`2026-12-01T14:00+01:00`), so the two 02:00 hours of the day the clocks go back
//! stay two rows. Ratios are computed from the summed counters, never averaged.

use std::collections::BTreeMap;

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::Serialize;

use super::counters::{Counters, Kpis as Ratios};
use super::Kpis;
use crate::rules::engine::profile::StoreProfile;

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

/// Row size of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Hour,
    Day,
}

/// One row of a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// `YYYY-MM-DD` or `YYYY-MM-DDTHH:00±HH:MM`, store-local.
    pub period: String,
    #[serde(flatten)]
    pub counters: Counters,
    #[serde(flatten)]
    pub kpis: Ratios,
    /// Mean and median raise-to-acknowledge time of the alerts acknowledged in the period, in
    /// seconds (daily rows only: delays are kept per day).
    pub mean_ack_seconds: Option<f64>,
    pub median_ack_seconds: Option<f64>,
    #[serde(skip)]
    ack_delays_ms: Vec<i64>,
}

/// Sort key: local wall time, then the larger offset first (the earlier of two equal wall times).
type Key = (i64, i64);

/// Rows of one store for local days `from..=to` (days since 1970-01-01).
pub fn store_rows(
    kpis: &Kpis,
    store: &str,
    profile: &StoreProfile,
    from: i64,
    to: i64,
    granularity: Granularity,
) -> Vec<Row> {
    let mut rows = BTreeMap::new();
    collect(&mut rows, kpis, store, profile, from, to, granularity);
    finish(rows)
}

/// Rows summed over `stores` (each with its profile), each store's local days `from..=to`.
pub fn summed_rows<'a>(
    kpis: &Kpis,
    stores: impl IntoIterator<Item = (&'a str, &'a StoreProfile)>,
    from: i64,
    to: i64,
    granularity: Granularity,
) -> Vec<Row> {
    let mut rows = BTreeMap::new();
    for (store, profile) in stores {
        collect(&mut rows, kpis, store, profile, from, to, granularity);
    }
    finish(rows)
}

fn collect(
    rows: &mut BTreeMap<Key, (String, Counters, Vec<i64>)>,
    kpis: &Kpis,
    store: &str,
    profile: &StoreProfile,
    from: i64,
    to: i64,
    granularity: Granularity,
) {
    let Some(days) = kpis.days(store) else {
        return;
    };
    for (&day, row) in days.range(from..=to) {
        match granularity {
            Granularity::Day => {
                let r = rows
                    .entry((day * DAY_MS, 0))
                    .or_insert_with(|| (date_label(day), Counters::default(), Vec::new()));
                r.1.add(&row.total);
                r.2.extend_from_slice(&row.ack_delays_ms);
            }
            Granularity::Hour => {
                for (&hour, c) in &row.hours {
                    let local = profile.local_ms(hour);
                    let offset = local - hour;
                    let r = rows.entry((local, -offset)).or_insert_with(|| {
                        (hour_label(local, offset), Counters::default(), Vec::new())
                    });
                    r.1.add(c);
                }
            }
        }
    }
}

fn finish(rows: BTreeMap<Key, (String, Counters, Vec<i64>)>) -> Vec<Row> {
    rows.into_values()
        .map(|(period, counters, mut delays)| {
            let (mean, median) = ack_stats(&mut delays);
            Row {
                period,
                kpis: counters.kpis(),
                counters,
                mean_ack_seconds: mean,
                median_ack_seconds: median,
                ack_delays_ms: delays,
            }
        })
        .collect()
}

/// Mean and median of `delays` (ms), in seconds; the median of an even count is the mean of the
/// middle two.
pub fn ack_stats(delays: &mut [i64]) -> (Option<f64>, Option<f64>) {
    if delays.is_empty() {
        return (None, None);
    }
    delays.sort_unstable();
    let n = delays.len();
    let mean = delays.iter().map(|d| *d as f64).sum::<f64>() / n as f64;
    let median = if n % 2 == 1 {
        delays[n / 2] as f64
    } else {
        (delays[n / 2 - 1] as f64 + delays[n / 2] as f64) / 2.0
    };
    (Some(mean / 1000.0), Some(median / 1000.0))
}

/// Stock-out hours per GTIN of one store over local days `from..=to`, most hours first; GTINs
/// past the per-day cap are summed under `"other"`.
pub fn stockouts(kpis: &Kpis, store: &str, from: i64, to: i64) -> Vec<(String, f64)> {
    let mut minutes: BTreeMap<String, u64> = BTreeMap::new();
    for (_, row) in kpis
        .days(store)
        .into_iter()
        .flatten()
        .filter(|(d, _)| (from..=to).contains(*d))
    {
        for (gtin, m) in &row.stockouts.by_gtin {
            *minutes.entry(gtin.clone()).or_default() += m;
        }
        if row.stockouts.other_minutes > 0 {
            *minutes.entry("other".to_owned()).or_default() += row.stockouts.other_minutes;
        }
    }
    let mut out: Vec<(String, f64)> = minutes
        .into_iter()
        .map(|(g, m)| (g, m as f64 / 60.0))
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

/// `YYYY-MM-DD` → days since 1970-01-01.
pub fn parse_date(s: &str) -> Option<i64> {
    let date: jiff::civil::Date = s.parse().ok()?;
    let ts = date.to_zoned(TimeZone::UTC).ok()?.timestamp();
    Some(ts.as_second().div_euclid(86_400))
}

/// Days since 1970-01-01 → `YYYY-MM-DD`.
pub fn date_label(day: i64) -> String {
    Timestamp::from_second(day * 86_400)
        .map(|t| t.to_zoned(TimeZone::UTC).date().to_string())
        .unwrap_or_else(|_| day.to_string())
}

/// `YYYY-MM-DDTHH:00±HH:MM` of a local hour (`local` as from `StoreProfile::local_ms`).
fn hour_label(local: i64, offset_ms: i64) -> String {
    let day = local.div_euclid(DAY_MS);
    let hour = local.rem_euclid(DAY_MS) / HOUR_MS;
    let sign = if offset_ms < 0 { '-' } else { '+' };
    let off = offset_ms.abs() / 60_000;
    format!(
        "{}T{hour:02}:00{sign}{:02}:{:02}",
        date_label(day),
        off / 60,
        off % 60
    )
}
