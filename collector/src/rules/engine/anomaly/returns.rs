//! RETURNS_SPIKE: returns in the current local hour ≥ max(`returns_min_count`, `returns_factor` ×
//! baseline) while open; a spike in an hour that was over when it was learned is recorded as
//! retrospective under its own key.

use store_proto::v1::AlertKind;

use super::eval::{raise, Eval};
use super::rules::AnomalyRules;
use super::state::{StoreAnomaly, DAY_MS, HOUR_MS, MIN_MS};
use crate::rules::engine::alerts::AlertBuilder;
use crate::rules::engine::part::{Ctx, Outbox};
use crate::rules::engine::profile::StoreProfile;

/// A live event this long after its hour ended counts as late.
const LATE_GRACE_MS: i64 = 15 * MIN_MS;

/// The returns-spike rule.
pub(super) struct ReturnsSpike;

impl ReturnsSpike {
    /// Counts a return at event time `t`; raises (and resolves at once) a retrospective spike
    /// when the hour was already over.
    pub(super) fn record(ctx: &Ctx<'_>, st: &mut StoreAnomaly, t: i64, out: &mut Outbox) {
        let rules = &ctx.profile.rules.anomaly;
        let store = ctx.store;
        let hour = ctx.profile.hour_start(t);
        let keep = (i64::from(rules.returns_baseline_days) + 1) * DAY_MS;
        if hour < ctx.profile.day_start(ctx.now_ms) - keep {
            return;
        }
        let n = st.returns.entry(hour).or_default();
        *n += 1;
        let n = *n;
        // Late as for traffic: a backlog after the hour, or 15 minutes past it.
        let end = hour + HOUR_MS;
        let late = (ctx.historical && end <= ctx.now_ms) || end + LATE_GRACE_MS <= ctx.now_ms;
        if late && !st.retro_returns.contains(&hour) {
            let baseline = st.returns_baseline(ctx.profile, rules, hour);
            let threshold = threshold(rules, baseline);
            if f64::from(n) >= threshold {
                st.retro_returns.insert(hour);
                let key = format!("{store}/returns/{hour}");
                let msg = format!(
                    "{n} returns in the hour from {} (learned late), usual \
                     {baseline:.1}/h, threshold {threshold:.1}",
                    ctx.profile.hhmm(hour)
                );
                let a = AlertBuilder::new(store, AlertKind::ReturnsSpike, "returns", msg)
                    .observed(f64::from(n), baseline)
                    .at(t)
                    .retrospective(true)
                    .build();
                out.alerts.raise(&key, a, ctx.now_ms);
                out.alerts.resolve(
                    &key,
                    "the hour was over when it was learned",
                    hour + HOUR_MS,
                    ctx.now_ms,
                );
            }
        }
        let cutoff = ctx.profile.day_start(ctx.now_ms) - keep;
        while st
            .returns
            .first_key_value()
            .is_some_and(|(h, _)| *h < cutoff)
        {
            st.returns.pop_first();
        }
        st.retro_returns.retain(|h| *h >= cutoff);
    }

    /// Judges the current hour.
    pub(super) fn evaluate(e: &Eval<'_>, st: &StoreAnomaly, out: &mut Outbox) {
        let (store, profile, rules, now_ms) = (e.store, e.profile, e.rules, e.now_ms);
        let hour = profile.hour_start(now_ms);
        let key = format!("{store}/returns");
        let n = st.returns.get(&hour).copied().unwrap_or(0);
        let baseline = st.returns_baseline(profile, rules, hour);
        let threshold = threshold(rules, baseline);
        if e.open && f64::from(n) >= threshold {
            let msg = format!(
                "{n} returns since {}, usual {baseline:.1}/h, threshold {threshold:.1}",
                profile.hhmm(hour)
            );
            let a = AlertBuilder::new(store, AlertKind::ReturnsSpike, "returns", msg)
                .observed(f64::from(n), baseline)
                .at(now_ms)
                .build();
            raise(out, &key, a, now_ms);
        } else if out.alerts.active(&key).is_some() {
            out.alerts.resolve(
                &key,
                format!("{n} returns in the hour from {}", profile.hhmm(hour)),
                now_ms,
                now_ms,
            );
        }
    }
}

impl StoreAnomaly {
    /// Usual returns per open hour before the local day of `hour`.
    pub(super) fn returns_baseline(
        &self,
        profile: &StoreProfile,
        rules: &AnomalyRules,
        hour: i64,
    ) -> f64 {
        // Counted in local days: a daylight-saving day is 23 or 25 hours long.
        let day = profile.local_day(hour);
        let known_days = day - profile.local_day(self.first_seen_ms);
        let days = known_days.clamp(0, i64::from(rules.returns_baseline_days));
        let per_day = open_hours_per_day(profile);
        if days == 0 || per_day <= 0.0 {
            return 0.0;
        }
        let today = profile.start_of_local_day(day);
        let sum: u32 = self
            .returns
            .range(profile.start_of_local_day(day - days)..today)
            .map(|(_, n)| *n)
            .sum();
        f64::from(sum) / (days as f64 * per_day)
    }
}

fn threshold(rules: &AnomalyRules, baseline: f64) -> f64 {
    f64::from(rules.returns_min_count).max(rules.returns_factor * baseline)
}

/// Open hours per day (an overnight store wraps).
fn open_hours_per_day(profile: &StoreProfile) -> f64 {
    let (o, c) = (profile.open_minute, profile.close_minute);
    let minutes = if o <= c { c - o } else { 1440 - o + c };
    f64::from(minutes) / 60.0
}
