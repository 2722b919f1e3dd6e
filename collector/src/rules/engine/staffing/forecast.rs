//! Next-hour traffic forecast: same weekday and hour over the last weeks, scaled by today's trend.
//!
//! For the hour `h` after the current one, with `W` = `forecast_weeks` (a week earlier means the
//! same local wall-clock hour seven local days earlier, across a daylight-saving change too):
//!
//! ```text
//! weeks    = the w in 1..=W for which the store has traffic on the local day of h − 7w days
//! baseline = mean over weeks of entries in [h − 7w days, h − 7w days + 1 h)
//! past     = mean over weeks of entries in [today 00:00 − 7w days, now − 7w days)
//! today    = entries in [today 00:00, now)
//! trend    = clamp(today / past, trend_min, trend_max)   when past ≥ trend_min_entries, else 1
//! forecast = baseline × trend                             (entries per hour)
//! ```
//!
//! The trend says "today is busier (or quieter) than the usual such day so far" and carries that
//! into the next hour; the clamp keeps a morning with a broken counter or a one-off crowd from
//! turning into an absurd forecast, and the minimum keeps the first minutes after opening (a
//! handful of people) from swinging it. Weeks without any data (the store was closed, the
//! collector is new) are left out rather than counted as zero.

use super::rules::StaffingRules;
use crate::rules::engine::profile::StoreProfile;
use crate::rules::engine::traffic::Traffic;

const HOUR_MS: i64 = 3_600_000;

/// A forecast for one hour, with the terms of the formula (for messages and the API).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Forecast {
    /// Start of the forecast hour (UTC ms).
    pub hour_start_ms: i64,
    /// Weeks that had data.
    pub weeks: u32,
    pub baseline: f64,
    pub today_so_far: f64,
    pub past_so_far: f64,
    pub trend: f64,
    /// Forecast entries in the hour.
    pub entries: f64,
}

/// Mean entries in the local hour starting at `h` over the same weekday and hour of `weeks`
/// earlier weeks, taken among `candidates` (weeks back, in order) that have traffic on that local
/// day: (weeks used, mean). `None` when no candidate week has data.
pub fn baseline(
    traffic: &Traffic,
    store: &str,
    profile: &StoreProfile,
    h: i64,
    candidates: impl Iterator<Item = i64>,
    weeks: u32,
) -> Option<(u32, f64)> {
    let h_day = profile.local_day(h);
    let (mut used, mut sum) = (0u32, 0.0);
    for w in candidates {
        if used >= weeks {
            break;
        }
        let day = h_day - 7 * w;
        let (from, to) = (
            profile.start_of_local_day(day),
            profile.start_of_local_day(day + 1),
        );
        if !traffic.has_data_between(store, from, to) {
            continue;
        }
        used += 1;
        let past = profile.days_before(h, 7 * w);
        sum += traffic.entries_between(store, past, past + HOUR_MS) as f64;
    }
    (used > 0).then(|| (used, sum / f64::from(used)))
}

/// Forecast of the entries in the local hour after the one containing `now_ms`; `None` when no
/// past week has data.
pub fn next_hour(
    traffic: &Traffic,
    store: &str,
    profile: &StoreProfile,
    rules: &StaffingRules,
    now_ms: i64,
) -> Option<Forecast> {
    let h = profile.hour_start(now_ms) + HOUR_MS;
    let today = profile.day_start(now_ms);
    let h_day = profile.local_day(h);
    let (mut weeks, mut sum_next, mut sum_past) = (0u32, 0.0, 0.0);
    for w in 1..=i64::from(rules.forecast_weeks) {
        let day = h_day - 7 * w;
        let (from, to) = (
            profile.start_of_local_day(day),
            profile.start_of_local_day(day + 1),
        );
        if !traffic.has_data_between(store, from, to) {
            continue;
        }
        weeks += 1;
        let past = profile.days_before(h, 7 * w);
        sum_next += traffic.entries_between(store, past, past + HOUR_MS) as f64;
        let (day_then, now_then) = (
            profile.days_before(today, 7 * w),
            profile.days_before(now_ms, 7 * w),
        );
        sum_past += traffic.entries_in(store, day_then, now_then, now_ms);
    }
    if weeks == 0 {
        return None;
    }
    let baseline = sum_next / f64::from(weeks);
    let past_so_far = sum_past / f64::from(weeks);
    let today_so_far = traffic.entries_in(store, today, now_ms, now_ms);
    let trend = if past_so_far >= rules.trend_min_entries && past_so_far > 0.0 {
        // max/min rather than clamp: clamp panics when a config has min > max.
        (today_so_far / past_so_far)
            .max(rules.trend_min)
            .min(rules.trend_max)
    } else {
        1.0
    };
    Some(Forecast {
        hour_start_ms: h,
        weeks,
        baseline,
        today_so_far,
        past_so_far,
        trend,
        entries: baseline * trend,
    })
}
