//! Alertmanager forgets an alert that is not sent again within its `resolve_timeout`, so every
//! `resend_ms` the active alerts a destination takes are sent again, read from the engine's
//! current alerts (not the outbox: a repeat is not a state change and needs no durability).
//! A failed repeat is only logged; the next period sends the same list again.

use std::sync::Arc;
use std::time::Duration;

use store_proto::v1::Alert;
use store_runtime::log_limit::LogLimit;
use tracing::warn;

use super::alertmanager;
use super::outbox::Destination;
use super::sender::Link;
use crate::rules::Runtime;

/// Most alerts per request, so a chain-wide outage does not make one huge body.
const MAX_PER_REQUEST: usize = 500;

/// Runs until aborted.
pub async fn run(
    rules: Arc<Runtime>,
    d: Arc<Destination>,
    link: Link,
    generator_url: String,
    every: Duration,
) {
    let mut log = LogLimit::<&'static str>::default();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate; the outbox has just sent (or is sending) the changes.
    tick.tick().await;
    loop {
        tick.tick().await;
        let active: Vec<Alert> = rules.read(|engine| {
            engine
                .outbox
                .alerts
                .all_active()
                .filter(|(_, a)| d.wants_alert(a, &engine.profiles.get(&a.store_id).region))
                .map(|(_, a)| a.clone())
                .collect()
        });
        for chunk in active.chunks(MAX_PER_REQUEST) {
            let body = alertmanager::body(chunk, &generator_url);
            let key = format!("resend:{}", crate::clock::now_ms());
            if let Err(reason) = link.send(&key, &body).await {
                if let Some(n) = log.note(&"resend", 1, tokio::time::Instant::now()) {
                    warn!(destination = %d.name, failures = n, reason = %reason, "Repeating active alerts to Alertmanager failed; next period tries again.");
                }
                break;
            }
        }
    }
}
