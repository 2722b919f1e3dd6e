//! TAMPERED: an agent reported a forged commit mark (a `DeviceStatus` TAMPERED of device
//! `agent`, see the agent's `uplink::forged`): someone else publishes on its `.../ack` topic or
//! acknowledges for it. A security event, so it is paged even when it arrives in a backlog
//! (never retrospective: whoever forged the mark may still be on the network).
//!
//! Lifecycle: one alert per agent under `{store}/tamper/{agent}`; further reports while it is
//! active refresh its message (the newest reason) and count. Nothing ever tells the collector
//! that the interference stopped, so the alert resolves itself once the agent has reported no
//! forgery for `tamper_quiet_hours`, measured on the collector's clock from the arrival of the
//! newest report (a report learned late from a backlog still stays up that long). The agent
//! reports each new forged mark (at most once a minute) and the same retained mark once per run,
//! so an attacker who keeps forging keeps the alert open, while a single stale retained mark does
//! not page forever. Acknowledging the alert (someone is on it) does not resolve it.
//!
//! The reason comes from the agent's status and is shown to people: it is cut to
//! [`MAX_REASON_CHARS`].

use store_proto::v1::{AlertKind, DeviceStatus};

use super::eval::Eval;
use super::state::{StoreAnomaly, Tamper, HOUR_MS};
use crate::rules::engine::alerts::AlertBuilder;
use crate::rules::engine::part::{Ctx, Outbox};

/// Longest part of a status reason copied into the alert's message.
pub(super) const MAX_REASON_CHARS: usize = 400;

/// The tamper rule.
pub(super) struct Tampered;

impl Tampered {
    /// A TAMPERED status from the agent `ctx.agent` at event time `t`.
    pub(super) fn report(
        ctx: &Ctx<'_>,
        st: &mut StoreAnomaly,
        s: &DeviceStatus,
        t: i64,
        out: &mut Outbox,
    ) {
        let key = format!("{}/tamper/{}", ctx.store, ctx.agent);
        let tamper = st.tamper.entry(ctx.agent.to_owned()).or_default();
        tamper.last_report_ms = tamper.last_report_ms.max(ctx.now_ms);
        tamper.reports = if out.alerts.active(&key).is_some() {
            tamper.reports.saturating_add(1)
        } else {
            1
        };
        let reason: String = s.reason.chars().take(MAX_REASON_CHARS).collect();
        let msg = format!("agent {} reports tampering: {reason}", ctx.agent);
        let quiet = f64::from(ctx.profile.rules.anomaly.tamper_quiet_hours);
        let a = AlertBuilder::new(ctx.store, AlertKind::Tampered, ctx.agent, msg)
            .observed(f64::from(tamper.reports), quiet)
            .at(t)
            .build();
        out.alerts.raise(&key, a, ctx.now_ms);
    }

    /// Resolves the agents' alerts that had no new report for `tamper_quiet_hours`, and forgets
    /// their state. Returns whether the store's state changed.
    pub(super) fn evaluate(e: &Eval<'_>, st: &mut StoreAnomaly, out: &mut Outbox) -> bool {
        let quiet_ms = i64::from(e.rules.tamper_quiet_hours) * HOUR_MS;
        let before = st.tamper.len();
        st.tamper.retain(|agent, t: &mut Tamper| {
            if e.now_ms - t.last_report_ms < quiet_ms {
                return true;
            }
            let key = format!("{}/tamper/{agent}", e.store);
            out.alerts.resolve(
                &key,
                format!(
                    "agent {agent}: no tampering reported for {} h",
                    e.rules.tamper_quiet_hours
                ),
                e.now_ms,
                e.now_ms,
            );
            false
        });
        st.tamper.len() != before
    }
}
