//! CLOCK_OFF: on a live batch, |sent_wall_time − now| > `clock_max_skew_seconds`, or a live event
//! recorded with an unsynchronised clock; resolved by a live event with a good, synchronised
//! clock. Judged on live batches only: a backlog's events say nothing about the clock now.

use store_proto::v1::AlertKind;
use store_proto::Event;

use crate::rules::engine::alerts::AlertBuilder;
use crate::rules::engine::part::{Ctx, Outbox};

/// The agent-clock rule.
pub(super) struct ClockOff;

impl ClockOff {
    pub(super) fn apply(ctx: &Ctx<'_>, ev: &Event, out: &mut Outbox) {
        if ctx.historical {
            return;
        }
        let rules = &ctx.profile.rules.anomaly;
        let key = format!("{}/clock/{}", ctx.store, ctx.agent);
        let offset_ms = ctx.batch_sent_ms - ctx.now_ms;
        let max_ms = i64::from(rules.clock_max_skew_seconds) * 1000;
        let off = offset_ms.abs() > max_ms;
        if off || !ev.clock_synced {
            if out.alerts.active(&key).is_some() {
                return;
            }
            let secs = offset_ms as f64 / 1000.0;
            let msg = if off {
                format!(
                    "agent {} clock is {secs:+.0} s off the collector's (limit {} s)",
                    ctx.agent, rules.clock_max_skew_seconds
                )
            } else {
                format!(
                    "agent {} records events with an unsynchronised clock",
                    ctx.agent
                )
            };
            let a = AlertBuilder::new(ctx.store, AlertKind::ClockOff, ctx.agent, msg)
                .observed(secs, f64::from(rules.clock_max_skew_seconds))
                .at(ev.wall_time_ms)
                .build();
            out.alerts.raise(&key, a, ctx.now_ms);
        } else if out.alerts.active(&key).is_some() {
            out.alerts.resolve(
                &key,
                format!("agent {} clock is synchronised again", ctx.agent),
                ev.wall_time_ms,
                ctx.now_ms,
            );
        }
    }
}
