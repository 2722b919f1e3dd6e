//! VOID_RATE: voids ÷ transactions per register over the last `void_window_minutes` ≥
//! `void_rate`, with at least `void_min_transactions` in the window.

use store_proto::v1::{AlertKind, TransactionKind};

use super::eval::{raise, Eval};
use super::state::{StoreAnomaly, MIN_MS};
use crate::rules::engine::alerts::AlertBuilder;
use crate::rules::engine::part::{Ctx, Outbox};

/// The void-rate rule.
pub(super) struct VoidRate;

impl VoidRate {
    /// Counts a transaction of `kind` on `register` in `minute`, if it is inside the window.
    pub(super) fn record(
        ctx: &Ctx<'_>,
        st: &mut StoreAnomaly,
        register: &str,
        kind: TransactionKind,
        minute: i64,
    ) {
        let window = i64::from(ctx.profile.rules.anomaly.void_window_minutes) * MIN_MS;
        if minute >= ctx.now_ms - window {
            let reg = st.registers.entry(register.to_owned()).or_default();
            let slot = reg.entry(minute).or_default();
            slot.0 += 1;
            if kind == TransactionKind::Void {
                slot.1 += 1;
            }
        }
    }

    /// Slides the window and judges every register; returns whether the state changed.
    pub(super) fn evaluate(e: &Eval<'_>, st: &mut StoreAnomaly, out: &mut Outbox) -> bool {
        let (store, rules, now_ms) = (e.store, e.rules, e.now_ms);
        let mut changed = false;
        let window = i64::from(rules.void_window_minutes) * MIN_MS;
        for (reg, minutes) in &mut st.registers {
            while minutes
                .first_key_value()
                .is_some_and(|(m, _)| *m < now_ms - window)
            {
                minutes.pop_first();
                changed = true;
            }
            let (txns, voids) = minutes
                .values()
                .fold((0u32, 0u32), |(a, b), (t, v)| (a + t, b + v));
            let rate = if txns > 0 {
                f64::from(voids) / f64::from(txns)
            } else {
                0.0
            };
            let key = format!("{store}/voids/{reg}");
            if txns >= rules.void_min_transactions && rate >= rules.void_rate {
                let msg = format!(
                    "register {reg}: {voids} voids in {txns} transactions ({:.0} %) in {} min, \
                     limit {:.0} %",
                    rate * 100.0,
                    rules.void_window_minutes,
                    rules.void_rate * 100.0
                );
                let a = AlertBuilder::new(store, AlertKind::VoidRate, reg, msg)
                    .observed(rate, rules.void_rate)
                    .at(now_ms)
                    .build();
                raise(out, &key, a, now_ms);
            } else if out.alerts.active(&key).is_some() {
                out.alerts.resolve(
                    &key,
                    format!("register {reg}: {voids} voids in {txns} transactions"),
                    now_ms,
                    now_ms,
                );
            }
        }
        let before = st.registers.len();
        st.registers.retain(|_, m| !m.is_empty());
        changed | (before != st.registers.len())
    }
}
