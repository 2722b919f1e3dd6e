//! COUNTER_STUCK: no entries for `stuck_minutes` of opening time while the tills made at least
//! `stuck_min_sales` sales; resolved by the next entry or at closing.

use store_proto::v1::{AlertKind, FootTraffic};

use super::eval::Eval;
use super::state::{StoreAnomaly, HOUR_MS, MIN_MS};
use crate::rules::engine::alerts::AlertBuilder;
use crate::rules::engine::part::{Ctx, Outbox};
use crate::rules::engine::traffic::Traffic;

/// Sales are kept this long (the counter-stuck window is capped to it).
const SALES_KEEP_MS: i64 = 4 * HOUR_MS;

/// The stuck-door-counter rule.
pub(super) struct CounterStuck;

impl CounterStuck {
    /// Counts a sale in `minute` (sales older than the longest window are not kept).
    pub(super) fn record_sale(ctx: &Ctx<'_>, st: &mut StoreAnomaly, minute: i64) {
        if minute >= ctx.now_ms - SALES_KEEP_MS {
            *st.sales.entry(minute).or_default() += 1;
        }
    }

    /// Notes people counted entering (`ft.entries > 0`) in an event at event time `t`.
    pub(super) fn record_entry(st: &mut StoreAnomaly, ft: &FootTraffic, t: i64) {
        let at = if ft.interval_end_ms > 0 {
            ft.interval_end_ms
        } else {
            t
        };
        st.last_entry_ms = Some(st.last_entry_ms.map_or(at, |l| l.max(at)));
    }

    /// Judges the door counter; returns whether the state changed.
    pub(super) fn evaluate(
        e: &Eval<'_>,
        st: &mut StoreAnomaly,
        traffic: &Traffic,
        out: &mut Outbox,
    ) -> bool {
        let (store, rules, now_ms, open) = (e.store, e.rules, e.now_ms, e.open);
        let mut changed = false;
        let key = format!("{store}/counter_stuck");
        let stuck_ms = i64::from(rules.stuck_minutes) * MIN_MS;
        while st
            .sales
            .first_key_value()
            .is_some_and(|(m, _)| *m < now_ms - SALES_KEEP_MS)
        {
            st.sales.pop_first();
            changed = true;
        }
        let has_counter = st.last_entry_ms.is_some() || traffic.has_store(store);
        let since = st.last_entry_ms.unwrap_or(i64::MIN).max(e.opened);
        let sales: u32 = st
            .sales
            .range(now_ms - stuck_ms..now_ms)
            .map(|(_, n)| *n)
            .sum();
        let active = out.alerts.active(&key).map(|a| a.event_time_ms);
        if let Some(raised_at) = active {
            let entry_since = st.last_entry_ms.is_some_and(|l| l > raised_at - stuck_ms);
            if entry_since || !open {
                let why = if open {
                    "entries again"
                } else {
                    "store closed"
                };
                out.alerts
                    .resolve(&key, format!("door counter: {why}"), now_ms, now_ms);
            }
        } else if open
            && has_counter
            && now_ms - since >= stuck_ms
            && sales >= rules.stuck_min_sales
        {
            let msg = format!(
                "no entries counted for {} min while the tills made {sales} sales",
                (now_ms - since) / MIN_MS
            );
            let a = AlertBuilder::new(store, AlertKind::CounterStuck, "door", msg)
                .observed(f64::from(sales), f64::from(rules.stuck_min_sales))
                .at(now_ms)
                .build();
            out.alerts.raise(&key, a, now_ms);
        }
        changed
    }
}
