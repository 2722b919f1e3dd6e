//! Stock rule thresholds (`[rules.stock]`, per-store `[store.{id}.rules.stock]`) and the
//! arithmetic they feed: the service-level factor z, the reorder point from demand, the order
//! quantity and the hysteresis level at which a LOW alert clears.

use serde::{Deserialize, Deserializer};

/// `[rules.stock]`: how stock positions turn into reorder points and alerts.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StockRules {
    /// Local days of sales the derived reorder point looks back on (mean and standard deviation
    /// of daily sales). Four weeks cover every weekday four times, so a weekly pattern shows up
    /// in the spread instead of skewing the mean.
    #[serde(default = "default_demand_days")]
    pub demand_days: u32,
    /// Fewest complete days of sales history before a reorder point is derived; until then a GTIN
    /// without a fixed reorder point only raises OUT alerts. A few days of data give a standard
    /// deviation that means little.
    #[serde(default = "default_min_demand_days")]
    pub min_demand_days: u32,
    /// Supplier lead time in days for catalogue items that give none.
    #[serde(default = "default_lead_time_days", deserialize_with = "positive")]
    pub default_lead_time_days: f64,
    /// Cycle service level (probability of not running out during a lead time) for catalogue
    /// items that give none; 0.5 ≤ level < 1. 0.95 (z ≈ 1.645) is the usual retail default.
    #[serde(default = "default_service_level", deserialize_with = "service_level")]
    pub default_service_level: f64,
    /// A LOW alert clears when the position reaches reorder point + max(1, fraction × reorder
    /// point), so a shelf that hovers around its reorder point (a sale, a return, a sale) pages
    /// once. A receipt or a count that lifts the position above the reorder point clears it at
    /// once: that is the replenishment the alert asked for, or proof that stock was never low.
    #[serde(default = "default_hysteresis_fraction", deserialize_with = "fraction")]
    pub hysteresis_fraction: f64,
    /// A store can spare stock for a transfer only above its reorder point plus a margin of
    /// max(1, fraction × its reorder point), so that a transfer never makes the giving store
    /// the next one to run low.
    #[serde(
        default = "default_transfer_margin_fraction",
        deserialize_with = "fraction"
    )]
    pub transfer_margin_fraction: f64,
    /// When a catalogue item has no `max_stock`, orders fill up to this multiple of the reorder
    /// point (the reorder point covers the lead time; the same again is the cycle stock).
    #[serde(
        default = "default_max_stock_factor",
        deserialize_with = "at_least_one"
    )]
    pub default_max_stock_factor: f64,
    /// Stock-count scans of one GTIN in one store belong to one counting session when each
    /// comes within this many minutes of the session's other scans; their quantities add up
    /// (one shelf, then the back room). A count after a longer gap is a new count that
    /// replaces the old one.
    #[serde(default = "default_count_session_minutes")]
    pub count_session_minutes: u32,
    /// How long (by event time) individual movements after a count are kept, so that a count
    /// arriving late from a backlog can tell the movements before it from those after it.
    /// Older movements are summed; a count older than this that arrives after them is applied
    /// approximately (see the module docs). One week covers a long outage.
    #[serde(default = "default_movement_window_hours")]
    pub movement_window_hours: u32,
}

fn default_demand_days() -> u32 {
    28
}
fn default_min_demand_days() -> u32 {
    7
}
fn default_lead_time_days() -> f64 {
    3.0
}
fn default_service_level() -> f64 {
    0.95
}
fn default_hysteresis_fraction() -> f64 {
    0.2
}
fn default_transfer_margin_fraction() -> f64 {
    0.25
}
fn default_max_stock_factor() -> f64 {
    2.0
}
fn default_count_session_minutes() -> u32 {
    30
}
fn default_movement_window_hours() -> u32 {
    168
}

impl Default for StockRules {
    fn default() -> Self {
        StockRules {
            demand_days: default_demand_days(),
            min_demand_days: default_min_demand_days(),
            default_lead_time_days: default_lead_time_days(),
            default_service_level: default_service_level(),
            hysteresis_fraction: default_hysteresis_fraction(),
            transfer_margin_fraction: default_transfer_margin_fraction(),
            default_max_stock_factor: default_max_stock_factor(),
            count_session_minutes: default_count_session_minutes(),
            movement_window_hours: default_movement_window_hours(),
        }
    }
}

fn checked<'de, D: Deserializer<'de>>(
    d: D,
    ok: impl Fn(f64) -> bool,
    what: &str,
) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if v.is_finite() && ok(v) {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!(
            "{v} is out of range: {what}"
        )))
    }
}
fn positive<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    checked(d, |v| v > 0.0, "must be > 0")
}
fn service_level<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    checked(d, |v| (0.5..1.0).contains(&v), "0.5 ≤ service level < 1")
}
fn fraction<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    checked(d, |v| v >= 0.0, "must be ≥ 0")
}
fn at_least_one<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    checked(d, |v| v >= 1.0, "must be ≥ 1")
}

/// Inverse of the standard normal CDF: the z with P(Z ≤ z) = p, for 0 < p < 1.
///
/// Peter J. Acklam's rational approximation (2003; relative error below 1.15e-9), which is
/// ample for a safety factor: 0.95 → 1.6449, 0.98 → 2.0537, 0.99 → 2.3263.
pub fn inverse_normal_cdf(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    const LOW: f64 = 0.02425;
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// Mean and sample standard deviation (n − 1) of daily demand; `None` for no days.
///
/// The sample deviation because the days are a sample of the demand process, and with few days
/// the population formula would understate the spread (and the safety stock).
pub fn demand_stats(days: &[f64]) -> Option<(f64, f64)> {
    if days.is_empty() {
        return None;
    }
    let n = days.len() as f64;
    let mean = days.iter().sum::<f64>() / n;
    if days.len() < 2 {
        return Some((mean, 0.0));
    }
    let var = days.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1.0);
    Some((mean, var.sqrt()))
}

/// Reorder point ROP = d·L + z·σ·√L, rounded UP to whole units: a fraction of a unit of safety
/// stock still needs a whole unit on the shelf (49.87 → 50).
pub fn reorder_point(mean: f64, sd: f64, lead_time_days: f64, service_level: f64) -> f64 {
    let z = inverse_normal_cdf(service_level);
    let rop = mean * lead_time_days + z * sd * lead_time_days.sqrt();
    // A tiny epsilon keeps an exact whole number (40.000000001 from float noise) from
    // rounding up to the next unit.
    (rop - 1e-9).ceil().max(0.0)
}

/// The level at which an active LOW alert clears by sales and returns alone.
pub fn clear_level(rop: f64, hysteresis_fraction: f64) -> f64 {
    rop + (hysteresis_fraction * rop).max(1.0)
}

/// Units to order so the position reaches `target` (max stock), in whole packs.
///
/// The shortfall `target − max(position, 0)` is rounded UP to a whole number of packs (a
/// negative position means sales that were never received, not shelf space to fill). When that
/// would overfill `target`, one pack less is ordered instead, provided it is still at least one
/// pack and still lifts the position above the reorder point; otherwise the rounded-up quantity
/// stands, since a pack cannot be split. Zero when the position already reaches `target`.
pub fn order_quantity(position: f64, rop: f64, target: f64, pack: u32) -> i64 {
    let pack = f64::from(pack.max(1));
    let have = position.max(0.0);
    let short = target - have;
    if short <= 0.0 {
        return 0;
    }
    let up = (short / pack - 1e-9).ceil() * pack;
    let down = up - pack;
    let qty = if have + up > target && down >= pack && have + down > rop {
        down
    } else {
        up
    };
    qty as i64
}

/// Whole packs of `qty` (rounded down).
pub fn whole_packs(qty: f64, pack: u32) -> i64 {
    let pack = f64::from(pack.max(1));
    ((qty.max(0.0) / pack + 1e-9).floor() * pack) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn z_from_service_level_matches_the_normal_table() {
        // Standard normal quantiles (any statistics table): 0.5 → 0, 0.9 → 1.2816,
        // 0.95 → 1.6449, 0.975 → 1.9600, 0.99 → 2.3263, 0.999 → 3.0902, 0.01 → −2.3263.
        for (p, z) in [
            (0.5, 0.0),
            (0.9, 1.281_551_6),
            (0.95, 1.644_853_6),
            (0.975, 1.959_964_0),
            (0.99, 2.326_347_9),
            (0.999, 3.090_232_3),
            (0.01, -2.326_347_9),
        ] {
            assert!((inverse_normal_cdf(p) - z).abs() < 1e-6, "{p}");
        }
    }

    #[test]
    fn reorder_point_worked_example() {
        // Seven days of sales 7, 13, 7, 13, 7, 13, 10: d = 70/7 = 10 per day;
        // squared deviations 9·6 + 0 = 54, sample variance 54/6 = 9, σ = 3.
        let (d, sd) = demand_stats(&[7.0, 13.0, 7.0, 13.0, 7.0, 13.0, 10.0]).unwrap();
        assert!((d - 10.0).abs() < 1e-12 && (sd - 3.0).abs() < 1e-12);
        // L = 4 days, z(0.95) = 1.645: ROP = 10·4 + 1.645·3·√4 = 40 + 9.87 = 49.87 → 50.
        assert_eq!(reorder_point(d, sd, 4.0, 0.95), 50.0);
        // No spread: exactly d·L, not rounded up past it.
        assert_eq!(reorder_point(10.0, 0.0, 4.0, 0.95), 40.0);
        assert_eq!(demand_stats(&[]), None);
    }

    #[test]
    fn order_quantity_rounds_to_packs_without_overfilling_when_possible() {
        // max 100, position 45, packs of 12: short 55 → 5 packs = 60 would make 105 > 100;
        // 4 packs = 48 make 93, above ROP 50: order 48.
        assert_eq!(order_quantity(45.0, 50.0, 100.0, 12), 48);
        // max 100, position 0, ROP 95, packs of 12: 9 packs = 108 overfill, 8 packs = 96 → 96
        // is above 95: 96.
        assert_eq!(order_quantity(0.0, 95.0, 100.0, 12), 96);
        // ROP 97: 96 would not lift it above the ROP, so 108 (overfill by one pack is the lesser
        // evil).
        assert_eq!(order_quantity(0.0, 97.0, 100.0, 12), 108);
        // Pack larger than the gap: one pack, even if it overfills.
        assert_eq!(order_quantity(45.0, 50.0, 100.0, 60), 60);
        // Exact fit, negative position counts as empty, and nothing when full.
        assert_eq!(order_quantity(40.0, 50.0, 100.0, 12), 60);
        assert_eq!(order_quantity(-5.0, 10.0, 24.0, 6), 24);
        assert_eq!(order_quantity(100.0, 50.0, 100.0, 12), 0);
        assert_eq!(whole_packs(29.0, 12), 24);
        assert_eq!(whole_packs(11.0, 12), 0);
    }

    #[test]
    fn rules_parse_with_defaults_and_reject_bad_values() {
        let r: StockRules = toml::from_str("").unwrap();
        assert_eq!(r, StockRules::default());
        assert_eq!(r.demand_days, 28);
        let r: StockRules = toml::from_str("hysteresis_fraction = 0.5").unwrap();
        assert_eq!(r.hysteresis_fraction, 0.5);
        assert!(toml::from_str::<StockRules>("default_service_level = 1.2").is_err());
        assert!(toml::from_str::<StockRules>("hysteresis = 1").is_err());
        assert_eq!(clear_level(50.0, 0.2), 60.0);
        assert_eq!(clear_level(2.0, 0.2), 3.0, "at least one unit");
    }
}
