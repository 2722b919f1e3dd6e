//! MQTT topic names. One place, so agents and collectors cannot disagree.

/// `stores/{store}/agents/{agent}/events`: QoS 1 EventBatch messages.
pub fn events(store: &str, agent: &str) -> String {
    format!("stores/{store}/agents/{agent}/events")
}

/// `stores/{store}/agents/{agent}/ack`: retained CommitMark from the collector.
pub fn ack(store: &str, agent: &str) -> String {
    format!("stores/{store}/agents/{agent}/ack")
}

/// `stores/{store}/agents/{agent}/status`: retained AgentStatus (birth / last will).
pub fn agent_status(store: &str, agent: &str) -> String {
    format!("stores/{store}/agents/{agent}/status")
}

/// `stores/{store}/agents/{agent}/cmd`: QoS 1 Command messages from a collector (not retained).
pub fn cmd(store: &str, agent: &str) -> String {
    format!("stores/{store}/agents/{agent}/cmd")
}

/// `stores/{store}/agents/{agent}/cmd/result`: QoS 1 CommandResult messages from the agent.
pub fn cmd_result(store: &str, agent: &str) -> String {
    format!("stores/{store}/agents/{agent}/cmd/result")
}

/// Filter matching every agent's command results.
pub const ALL_CMD_RESULTS_FILTER: &str = "stores/+/agents/+/cmd/result";

/// `hq/collector/{id}/status`: retained CollectorStatus (birth / last will).
pub fn collector_status(id: &str) -> String {
    format!("hq/collector/{id}/status")
}

/// Filter matching every collector's status topic.
pub const COLLECTOR_STATUS_FILTER: &str = "hq/collector/+/status";

/// Filter matching every agent's events topic.
pub const ALL_EVENTS_FILTER: &str = "stores/+/agents/+/events";

/// Filter for every agent's retained status.
pub const ALL_STATUS_FILTER: &str = "stores/+/agents/+/status";

/// Filter for the statuses of one store's agents.
pub fn store_status_filter(store: &str) -> String {
    format!("stores/{store}/agents/+/status")
}

/// Command-results filter for one store (collectors that own a static list of stores).
pub fn store_cmd_results_filter(store: &str) -> String {
    format!("stores/{store}/agents/+/cmd/result")
}

/// Events filter for one store (collectors that own a static list of stores).
pub fn store_events_filter(store: &str) -> String {
    format!("stores/{store}/agents/+/events")
}

/// Splits `stores/{store}/agents/{agent}/{rest}` into `(store, agent, rest)`.
pub fn parse_agent_topic(topic: &str) -> Option<(&str, &str, &str)> {
    let rest = topic.strip_prefix("stores/")?;
    let (store, rest) = rest.split_once('/')?;
    let rest = rest.strip_prefix("agents/")?;
    let (agent, tail) = rest.split_once('/')?;
    if store.is_empty() || agent.is_empty() {
        return None;
    }
    Some((store, agent, tail))
}

/// Extracts the collector id from `hq/collector/{id}/status`.
pub fn parse_collector_status(topic: &str) -> Option<&str> {
    topic
        .strip_prefix("hq/collector/")?
        .strip_suffix("/status")
        .filter(|id| !id.is_empty() && !id.contains('/'))
}

/// Whether `id` is usable as one topic level (no wildcards, separators or empty string).
pub fn valid_level(id: &str) -> bool {
    !id.is_empty() && !id.contains(['/', '+', '#', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_agent_topics() {
        let t = events("s-1", "a-2");
        assert_eq!(parse_agent_topic(&t), Some(("s-1", "a-2", "events")));
        assert_eq!(parse_agent_topic("stores//agents/a/events"), None);
        assert_eq!(parse_agent_topic("hq/collector/x/status"), None);
    }

    #[test]
    fn parses_collector_status() {
        assert_eq!(
            parse_collector_status(&collector_status("hq1")),
            Some("hq1")
        );
        assert_eq!(parse_collector_status("hq/collector//status"), None);
    }

    #[test]
    fn rejects_bad_levels() {
        assert!(valid_level("store-0042"));
        for bad in ["", "a/b", "a+", "#"] {
            assert!(!valid_level(bad), "{bad}");
        }
    }
}
