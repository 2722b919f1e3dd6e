//! One store's KPI rows for one local day: the day's sums, its hours and its stock-outs per GTIN.
//!
//! A day is the unit of storage (one key per store and day), so a commit rewrites only the days
//! it touched, and pruning deletes whole keys.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::counters::Counters;

/// Hourly rows are kept this many local days (older days keep their daily sums only).
pub const HOURLY_DAYS: i64 = 35;
/// Daily rows are kept this many local days.
pub const DAILY_DAYS: i64 = 400;
/// GTINs with stock-out minutes per store and day; a flood of unknown GTINs at zero goes into
/// `other_minutes` instead of growing the row without bound.
pub const MAX_STOCKOUT_GTINS: usize = 2_000;
/// Acknowledgement delays kept per store and day (for the median).
pub const MAX_ACK_DELAYS: usize = 1_000;

/// One store's local day.
///
/// Saved as two keys: the sums (changed by every event) and the stock-outs per GTIN (changed
/// once a minute, and possibly long), so a commit does not rewrite the long one for each sale.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StoreDay {
    pub total: Counters,
    /// Local hours of the day by their start (UTC ms): 23, 24 or 25 of them on a
    /// daylight-saving day. Emptied after [`HOURLY_DAYS`].
    pub hours: BTreeMap<i64, Counters>,
    /// Milliseconds from raising to acknowledging, per acknowledged alert (at most
    /// [`MAX_ACK_DELAYS`]).
    pub ack_delays_ms: Vec<i64>,
    /// Saved under its own key.
    #[serde(skip)]
    pub stockouts: Stockouts,
}

/// Open minutes at or below zero, per GTIN, for one store and day.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stockouts {
    pub by_gtin: BTreeMap<String, u64>,
    /// Minutes of GTINs beyond [`MAX_STOCKOUT_GTINS`].
    pub other_minutes: u64,
}

impl StoreDay {
    /// Adds `c` to the day and to its hour starting at `hour` (when hours are still kept).
    pub fn add(&mut self, hour: Option<i64>, c: &Counters) {
        self.total.add(c);
        if let Some(h) = hour {
            self.hours.entry(h).or_default().add(c);
        }
    }
}

impl Stockouts {
    /// Adds `minutes` of stock-out for `gtin`.
    pub fn add(&mut self, gtin: &str, minutes: u64) {
        if let Some(m) = self.by_gtin.get_mut(gtin) {
            *m = m.saturating_add(minutes);
        } else if self.by_gtin.len() < MAX_STOCKOUT_GTINS {
            self.by_gtin.insert(gtin.to_owned(), minutes);
        } else {
            self.other_minutes = self.other_minutes.saturating_add(minutes);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.by_gtin.is_empty() && self.other_minutes == 0
    }
}
