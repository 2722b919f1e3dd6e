//! Next week's staffing plan: for every opening hour of the next seven local days, the forecast
//! entries and the staff they need.
//!
//! The forecast of an hour is the [`forecast::baseline`]: the mean of the same local weekday and
//! hour over `forecast_weeks` earlier weeks with traffic, taken only from days already over (the
//! plan for next Tuesday does not use today, which is still running). There is no trend factor:
//! today's trend says nothing about a day a week away. The staff needed is the staffing rule's
//! own [`judge`], so the plan and the live signals can never disagree on the formula.
//!
//! An hour counts as an opening hour when the store is open at any quarter of it (a store opening
//! at 07:30 plans the 07:00 hour).

use serde::Serialize;

use super::forecast;
use super::rules::judge;
use crate::rules::engine::kpi::query::date_label;
use crate::rules::engine::profile::StoreProfile;
use crate::rules::engine::traffic::{Traffic, WINDOW_MS};

const HOUR_MS: i64 = 3_600_000;
/// Local days planned, starting tomorrow.
pub const PLAN_DAYS: i64 = 7;

/// One planned hour.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanHour {
    /// Local date, `YYYY-MM-DD`.
    pub date: String,
    /// Local hour of the day, 0..24 (the same hour twice on the day the clocks go back).
    pub hour: u32,
    /// Start of the hour, UTC ms.
    pub hour_start_ms: i64,
    /// Forecast entries in the hour; `None` when no earlier week has traffic.
    pub forecast_entries: Option<f64>,
    /// Earlier weeks the forecast averages.
    pub weeks: u32,
    /// Staff needed for the forecast (the minimum staff when there is none).
    pub needed_staff: u32,
    /// Staff the roster plans at the start of the hour.
    pub rostered_staff: u32,
}

/// The plan of `store` for the seven local days after the one containing `now_ms`.
pub fn next_week(
    traffic: &Traffic,
    store: &str,
    profile: &StoreProfile,
    now_ms: i64,
) -> Vec<PlanHour> {
    let rules = &profile.rules.staffing;
    let today = profile.local_day(now_ms);
    let mut out = Vec::new();
    for day in today + 1..=today + PLAN_DAYS {
        let end = profile.start_of_local_day(day + 1);
        let mut h = profile.start_of_local_day(day);
        while h < end {
            let open = (0..4).any(|q| profile.is_open(h + q * WINDOW_MS));
            if open {
                // Earliest week back whose day is over: a week back is today for the 7th day.
                let first = if day - 7 >= today { 2 } else { 1 };
                let candidates = first..first + i64::from(rules.forecast_weeks);
                let f = forecast::baseline(
                    traffic,
                    store,
                    profile,
                    h,
                    candidates,
                    rules.forecast_weeks,
                );
                let entries = f.map(|(_, e)| e);
                let (_, needed) = judge(rules, entries.unwrap_or(0.0), 0);
                out.push(PlanHour {
                    date: date_label(day),
                    hour: profile.local_hour(h),
                    hour_start_ms: h,
                    forecast_entries: entries,
                    weeks: f.map_or(0, |(w, _)| w),
                    needed_staff: needed,
                    rostered_staff: rules
                        .roster_staff(profile.local_weekday(h), profile.local_minute(h)),
                });
            }
            // The next local hour: an hour on, aligned to the local hour (zones with half-hour
            // offsets keep whole local hours).
            h = profile.hour_start(h + HOUR_MS);
        }
    }
    out
}
