//! The collector's `GET /v1/stats` document.
//!
//! Unknown fields are ignored (a newer collector may report more); missing documented fields
//! fail the parse, so a collector that drops one is noticed.

use std::collections::BTreeMap;

use serde::Deserialize;
use store_proto::SeqSet;

/// Whole-collector statistics.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Stats {
    pub collector_id: String,
    /// Applications of events (a double apply makes it exceed the distinct seqs applied).
    pub applied_total: u64,
    pub duplicates_total: u64,
    pub batches_total: u64,
    pub rejected_batches: u64,
    pub stores: BTreeMap<String, StoreStats>,
    pub agents: Vec<AgentStats>,
}

/// Per-store state derived from applied events.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct StoreStats {
    /// Applied events by kind name ("scan", "foot_traffic", ...).
    pub kinds: BTreeMap<String, u64>,
    pub foot_traffic_entries: u64,
    pub foot_traffic_exits: u64,
}

/// Per-agent delivery state.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct AgentStats {
    pub store_id: String,
    pub agent_id: String,
    /// Contiguous mark: every seq up to it is applied or settled.
    pub committed_seq: u64,
    pub highest_seq: u64,
    /// Distinct seqs applied.
    pub applied_count: u64,
    /// Distinct applied seqs as inclusive ranges.
    pub applied_ranges: Vec<(u64, u64)>,
    pub gaps: Vec<(u64, u64)>,
    /// Seqs settled by `DataLoss` events.
    pub lost_ranges: Vec<(u64, u64)>,
    pub last_batch_wall_ms: i64,
}

impl Stats {
    /// Parses the JSON body of `/v1/stats`.
    pub fn parse(json: &str) -> Result<Self, String> {
        serde_json::from_str(json).map_err(|e| {
            let shown: String = json.chars().take(400).collect();
            format!("cannot parse /v1/stats ({e}): {shown}")
        })
    }

    /// The entry of one agent.
    pub fn agent(&self, store_id: &str, agent_id: &str) -> Option<&AgentStats> {
        self.agents
            .iter()
            .find(|a| a.store_id == store_id && a.agent_id == agent_id)
    }

    /// The entry of one store (all zero when the collector has not seen it).
    pub fn store(&self, store_id: &str) -> StoreStats {
        self.stores.get(store_id).cloned().unwrap_or_default()
    }

    /// One line for progress logs and timeout messages.
    pub fn summary(&self, store_id: &str, agent_id: &str) -> String {
        let head = format!(
            "applied_total={} duplicates_total={} batches_total={} rejected_batches={}",
            self.applied_total, self.duplicates_total, self.batches_total, self.rejected_batches
        );
        match self.agent(store_id, agent_id) {
            Some(a) => format!("{head} {}", a.summary()),
            None => format!("{head} (no entry for {store_id}/{agent_id} yet)"),
        }
    }
}

impl AgentStats {
    /// The applied seqs as a set.
    pub fn applied(&self) -> SeqSet {
        SeqSet::from_ranges(self.applied_ranges.iter().copied())
    }

    /// One line for progress logs and timeout messages.
    pub fn summary(&self) -> String {
        format!(
            "committed_seq={} highest_seq={} applied_count={} ranges={} gaps={} lost_ranges={}",
            self.committed_seq,
            self.highest_seq,
            self.applied_count,
            short_ranges(&self.applied_ranges),
            short_ranges(&self.gaps),
            short_ranges(&self.lost_ranges),
        )
    }
}

/// `[[a,b],...]`, elided in the middle when long.
pub fn short_ranges(r: &[(u64, u64)]) -> String {
    let fmt = |s: &[(u64, u64)]| {
        s.iter()
            .map(|(a, b)| format!("[{a},{b}]"))
            .collect::<Vec<_>>()
            .join(",")
    };
    if r.len() <= 8 {
        format!("[{}]", fmt(r))
    } else {
        format!(
            "[{},...({} more)...,{}]",
            fmt(&r[..4]),
            r.len() - 6,
            fmt(&r[r.len() - 2..])
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"{"collector_id":"hq-1","applied_total":123,"duplicates_total":0,"batches_total":4,"rejected_batches":0,
 "stores":{"store-1":{"kinds":{"scan":100,"foot_traffic":23},"foot_traffic_entries":40,"foot_traffic_exits":38}},
 "agents":[{"store_id":"store-1","agent_id":"agent-1","committed_seq":123,"highest_seq":123,"applied_count":123,
            "applied_ranges":[[1,123]],"gaps":[],"lost_ranges":[],"last_batch_wall_ms":0,"future":1}]}"#;

    #[test]
    fn parses_the_documented_example() {
        let s = Stats::parse(EXAMPLE).unwrap();
        assert_eq!(s.applied_total, 123);
        assert_eq!(s.store("store-1").kinds["foot_traffic"], 23);
        assert_eq!(s.store("store-2"), StoreStats::default());
        let a = s.agent("store-1", "agent-1").unwrap();
        assert_eq!(a.applied_ranges, vec![(1, 123)]);
        assert_eq!(a.applied().len(), 123);
        assert!(s.agent("store-1", "agent-2").is_none());
        assert!(s
            .summary("store-1", "agent-1")
            .contains("committed_seq=123"));
    }

    #[test]
    fn a_missing_field_is_an_error() {
        let broken = EXAMPLE.replace("\"applied_total\":123,", "");
        let e = Stats::parse(&broken).unwrap_err();
        assert!(e.contains("applied_total"), "{e}");
    }

    #[test]
    fn long_range_lists_are_elided() {
        let r: Vec<(u64, u64)> = (0..20).map(|i| (i * 10, i * 10 + 1)).collect();
        let s = short_ranges(&r);
        assert!(s.contains("14 more"), "{s}");
    }
}
