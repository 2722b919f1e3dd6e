//! The sums one KPI row is made of, and the KPIs derived from them.
//!
//! Rows hold sums only (counts, minor units, minutes); every ratio is computed when a row is read,
//! from the row's own sums. A region's or the chain's row is the sum of its stores' rows, so its
//! ratios are ratios of sums, never averages of the stores' ratios.

use serde::{Deserialize, Serialize};

/// Sums for one store-hour or store-day (or their sum over stores and periods).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counters {
    /// People-counter entries.
    pub entries: u64,
    /// POS transactions of kind SALE.
    pub transactions: u64,
    /// POS transactions of kind RETURN.
    pub returns: u64,
    /// POS transactions of kind VOID.
    pub voids: u64,
    /// Sum of `total_minor` of the sales (minor currency units, as the POS sends them).
    pub sales_minor: i64,
    /// Sum of `total_minor` of the returns.
    pub returns_minor: i64,
    /// Units on the sales' lines.
    pub units: f64,
    /// Open minutes with at least one GTIN at or below zero, summed over GTINs.
    pub stockout_minutes: u64,
    /// Open minutes whose current staffing signal was UNDERSTAFFED / OVERSTAFFED.
    pub understaffed_minutes: u64,
    pub overstaffed_minutes: u64,
    /// Alerts raised, acknowledged and resolved.
    pub alerts_raised: u64,
    pub alerts_acknowledged: u64,
    pub alerts_resolved: u64,
}

impl Counters {
    /// Adds `other` into `self` (saturating: a hostile total cannot wrap a sum).
    pub fn add(&mut self, other: &Counters) {
        self.entries = self.entries.saturating_add(other.entries);
        self.transactions = self.transactions.saturating_add(other.transactions);
        self.returns = self.returns.saturating_add(other.returns);
        self.voids = self.voids.saturating_add(other.voids);
        self.sales_minor = self.sales_minor.saturating_add(other.sales_minor);
        self.returns_minor = self.returns_minor.saturating_add(other.returns_minor);
        self.units += other.units;
        self.stockout_minutes = self.stockout_minutes.saturating_add(other.stockout_minutes);
        self.understaffed_minutes = self
            .understaffed_minutes
            .saturating_add(other.understaffed_minutes);
        self.overstaffed_minutes = self
            .overstaffed_minutes
            .saturating_add(other.overstaffed_minutes);
        self.alerts_raised = self.alerts_raised.saturating_add(other.alerts_raised);
        self.alerts_acknowledged = self
            .alerts_acknowledged
            .saturating_add(other.alerts_acknowledged);
        self.alerts_resolved = self.alerts_resolved.saturating_add(other.alerts_resolved);
    }

    /// The KPIs of these sums (README "KPIs" has the same formulas).
    pub fn kpis(&self) -> Kpis {
        let ratio = |a: f64, b: u64| (b > 0).then(|| a / b as f64);
        // The VOID_RATE rule divides by every POS transaction (sales, returns, voids); the
        // returns rate uses the same denominator so the two add up with the sales share.
        let pos = self
            .transactions
            .saturating_add(self.returns)
            .saturating_add(self.voids);
        Kpis {
            conversion: ratio(self.transactions as f64, self.entries),
            average_basket_minor: ratio(self.sales_minor as f64, self.transactions),
            units_per_transaction: ratio(self.units, self.transactions),
            returns_rate: ratio(self.returns as f64, pos),
            voids_rate: ratio(self.voids as f64, pos),
            stockout_hours: self.stockout_minutes as f64 / 60.0,
            understaffed_hours: self.understaffed_minutes as f64 / 60.0,
            overstaffed_hours: self.overstaffed_minutes as f64 / 60.0,
        }
    }
}

/// Ratios and hours derived from [`Counters`]; a ratio is `None` when its denominator is zero.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Kpis {
    /// transactions ÷ entries.
    pub conversion: Option<f64>,
    /// sales_minor ÷ transactions.
    pub average_basket_minor: Option<f64>,
    /// units ÷ transactions.
    pub units_per_transaction: Option<f64>,
    /// returns ÷ (transactions + returns + voids).
    pub returns_rate: Option<f64>,
    /// voids ÷ (transactions + returns + voids), as the VOID_RATE rule counts.
    pub voids_rate: Option<f64>,
    pub stockout_hours: f64,
    pub understaffed_hours: f64,
    pub overstaffed_hours: f64,
}
