//! Which topics the collector subscribes to, and which subscriptions an earlier configuration
//! left behind.
//!
//! The session is persistent, so the broker keeps every filter ever subscribed until it is
//! unsubscribed. The database remembers every filter this collector subscribed to; the ones the
//! current configuration no longer has are unsubscribed on every CONNACK.

use store_proto::topics;

use crate::config::Config;
use crate::ledger::{Db, DbError};

/// The event filters a configuration subscribes to.
///
/// Besides events, the agents' retained statuses (they tell HQ which agents are online and how
/// their clocks compare with the collector's) and their command results. With several
/// collectors, each hears every result and records those of its own commands (ids name their
/// collector).
pub fn event_filters(config: &Config) -> Vec<String> {
    let filters = own_filters(config);
    match &config.mqtt.shared_group {
        // Only the events are shared: each status stays visible to every collector (and
        // retained messages are not sent to shared subscriptions).
        Some(group) => filters
            .into_iter()
            .map(|f| {
                if f.ends_with("/events") {
                    format!("$share/{group}/{f}")
                } else {
                    f
                }
            })
            .collect(),
        None => filters,
    }
}

fn own_filters(config: &Config) -> Vec<String> {
    if config.stores.is_empty() {
        vec![
            topics::ALL_EVENTS_FILTER.to_owned(),
            topics::ALL_STATUS_FILTER.to_owned(),
            topics::ALL_CMD_RESULTS_FILTER.to_owned(),
        ]
    } else {
        config
            .stores
            .iter()
            .flat_map(|s| {
                [
                    topics::store_events_filter(s),
                    topics::store_status_filter(s),
                    topics::store_cmd_results_filter(s),
                ]
            })
            .collect()
    }
}

/// Records `filters` in the database (blocking, at start-up), so the filters of this
/// configuration are unsubscribed once a later one drops them; returns the recorded filters
/// `filters` lacks (stale ones, to unsubscribe).
pub fn record(db: &Db, filters: &[String]) -> Result<Vec<String>, DbError> {
    let mut known = db.subscribed_filters()?;
    let stale_filters: Vec<String> = known
        .iter()
        .filter(|f| !filters.contains(f))
        .cloned()
        .collect();
    let missing: Vec<String> = filters
        .iter()
        .filter(|f| !known.contains(f))
        .cloned()
        .collect();
    if !missing.is_empty() {
        // Never shrinks: unsubscribing a filter the session does not hold is harmless, and
        // this way a crash between "config changed" and "broker told" cannot leak one.
        known.extend(missing);
        db.set_subscribed_filters(&known)?;
    }
    Ok(stale_filters)
}
