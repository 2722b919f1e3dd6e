//! `[rules.staffing]`: the thresholds of the staffing rule, the roster, and the rule itself
//! ([`judge`]: staff needed for a traffic rate and the verdict against the staff on duty).
//!
//! Depends on no other part of the engine: profiles compose these rules, and both the staffing
//! evaluation and the forecast read them.

use serde::{Deserialize, Deserializer};
use store_proto::v1::SignalKind;

/// `[rules.staffing]`: how many staff a store needs for its traffic.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffingRules {
    /// Target shopper-to-staff ratio (STAR): shoppers per staff member per hour. Default 25, a
    /// common target for mid-size apparel and general-merchandise stores; set it from the hours in
    /// which your conversion peaks. Must be above zero.
    #[serde(default = "default_target_star", deserialize_with = "positive_f64")]
    pub target_star: f64,
    /// Staff needed on the floor however quiet it is. Default 2: one at the till and one on the
    /// floor, and nobody alone in the store.
    #[serde(default = "default_min_staff")]
    pub min_staff: u32,
    /// OVERSTAFFED only when on duty ≥ needed + this. Default 2: one extra person is normal slack
    /// (a break, a delivery), two is worth a look.
    #[serde(default = "default_over_tolerance")]
    pub over_tolerance: u32,
    /// Weeks of the same weekday averaged for the next-hour forecast. Default 4: a month smooths
    /// one-off days but still follows the season. Traffic history is kept for at least this many
    /// weeks (and at least 35 days).
    #[serde(default = "default_forecast_weeks")]
    pub forecast_weeks: u32,
    /// Lower bound of today's trend factor. Default 0.5: a day that looks half as busy as usual is
    /// believed, a quieter one is more likely a counter problem.
    #[serde(default = "default_trend_min")]
    pub trend_min: f64,
    /// Upper bound of today's trend factor. Default 2.0: twice the usual traffic is a real event
    /// (a sale), more than that is usually a counter fault or a short sample.
    #[serde(default = "default_trend_max")]
    pub trend_max: f64,
    /// The trend is used only once the usual day has at least this many entries so far (else
    /// factor 1). Default 20: fewer people make a noisy ratio.
    #[serde(default = "default_trend_min_entries")]
    pub trend_min_entries: f64,
    /// A shift started by a badge and never ended counts for at most this many hours. Default 14:
    /// longer than any legal shift, so a forgotten badge-out stops counting overnight.
    #[serde(default = "default_max_shift_hours")]
    pub max_shift_hours: u32,
    /// Planned staff, used on local days without any badge scan. Default empty (no roster: such a
    /// store counts 0 staff on duty unless it uses badges).
    #[serde(default)]
    pub roster: Vec<RosterEntry>,
}

fn default_target_star() -> f64 {
    25.0
}
fn default_min_staff() -> u32 {
    2
}
fn default_over_tolerance() -> u32 {
    2
}
fn default_forecast_weeks() -> u32 {
    4
}
fn default_trend_min() -> f64 {
    0.5
}
fn default_trend_max() -> f64 {
    2.0
}
fn default_trend_min_entries() -> f64 {
    20.0
}
fn default_max_shift_hours() -> u32 {
    14
}

fn positive_f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!("{v} must be above zero")))
    }
}

impl Default for StaffingRules {
    fn default() -> Self {
        StaffingRules {
            target_star: default_target_star(),
            min_staff: default_min_staff(),
            over_tolerance: default_over_tolerance(),
            forecast_weeks: default_forecast_weeks(),
            trend_min: default_trend_min(),
            trend_max: default_trend_max(),
            trend_min_entries: default_trend_min_entries(),
            max_shift_hours: default_max_shift_hours(),
            roster: Vec::new(),
        }
    }
}

impl StaffingRules {
    /// Staff the roster plans on local weekday `day` (0 = Monday) at local `minute` of the day
    /// (the sum of all matching entries). Takes local time rather than a profile so the rules
    /// stay below the profiles that compose them.
    pub fn roster_staff(&self, day: u32, minute: u32) -> u32 {
        self.roster
            .iter()
            .filter(|r| r.days.is_empty() || r.days.iter().any(|d| *d as u32 == day))
            .filter(|r| {
                if r.from.0 <= r.to.0 {
                    (r.from.0..r.to.0).contains(&minute)
                } else {
                    minute >= r.from.0 || minute < r.to.0
                }
            })
            .map(|r| r.staff)
            .sum()
    }
}

/// One roster line: `{ days = ["sat", "sun"], from = "10:00", to = "18:00", staff = 4 }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterEntry {
    /// Local weekdays ("mon" … "sun"). Default: every day.
    #[serde(default)]
    pub days: Vec<Weekday>,
    /// Local start, "HH:MM".
    pub from: HhMm,
    /// Local end, "HH:MM" (exclusive; before `from` means past midnight, counted on the weekday of
    /// the time asked about).
    pub to: HhMm,
    /// Staff on duty in that span.
    pub staff: u32,
}

/// Local weekday, as in the roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    Mon = 0,
    Tue = 1,
    Wed = 2,
    Thu = 3,
    Fri = 4,
    Sat = 5,
    Sun = 6,
}

/// A local time of day, "HH:MM" (up to "24:00"), as minutes since midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct HhMm(pub u32);

impl TryFrom<String> for HhMm {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let parsed = s.split_once(':').and_then(|(h, m)| {
            let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
            (m < 60 && h * 60 + m <= 1440).then_some(h * 60 + m)
        });
        parsed
            .map(HhMm)
            .ok_or_else(|| format!("{s:?} is not a time \"HH:MM\""))
    }
}

/// Needed staff and the verdict for `entries_per_hour` against `on_duty`.
pub fn judge(rules: &StaffingRules, entries_per_hour: f64, on_duty: u32) -> (SignalKind, u32) {
    let by_traffic = (entries_per_hour.max(0.0) / rules.target_star).ceil();
    let needed = rules
        .min_staff
        .max(by_traffic.min(f64::from(u32::MAX)) as u32);
    let kind = if on_duty < needed {
        SignalKind::Understaffed
    } else if on_duty >= needed.saturating_add(rules.over_tolerance) {
        SignalKind::Overstaffed
    } else {
        SignalKind::Ok
    };
    (kind, needed)
}

pub(super) fn verdict(kind: SignalKind, needed: u32, on_duty: u32) -> String {
    match kind {
        SignalKind::Understaffed => format!("understaffed by {}", needed - on_duty),
        SignalKind::Overstaffed => format!("overstaffed by {}", on_duty - needed),
        _ => "OK".to_owned(),
    }
}
