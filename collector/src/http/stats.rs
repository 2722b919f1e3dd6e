//! The body of `GET /v1/stats`.
//!
//! Stats are a snapshot of committed state: everything shown is durable, except the
//! since-start counters `duplicates_total`, `batches_total` and `rejected_batches`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::ledger::Live;

/// Body of `GET /v1/stats`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    pub collector_id: String,
    pub applied_total: u64,
    pub duplicates_total: u64,
    pub batches_total: u64,
    pub rejected_batches: u64,
    pub stores: BTreeMap<String, StoreStatsJson>,
    /// Sorted by store, then agent.
    pub agents: Vec<AgentStatsJson>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoreStatsJson {
    pub kinds: BTreeMap<String, u64>,
    pub foot_traffic_entries: u64,
    pub foot_traffic_exits: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentStatsJson {
    pub store_id: String,
    pub agent_id: String,
    /// Contiguous committed mark (what agents were told they may delete).
    pub committed_seq: u64,
    pub highest_seq: u64,
    pub applied_count: u64,
    /// Inclusive `[first, last]` ranges.
    pub applied_ranges: Vec<[u64; 2]>,
    /// Missing between `committed_seq + 1` and `highest_seq`.
    pub gaps: Vec<[u64; 2]>,
    /// Settled by DataLoss events: will never arrive.
    pub lost_ranges: Vec<[u64; 2]>,
    pub last_batch_wall_ms: i64,
}

fn pairs(ranges: impl IntoIterator<Item = (u64, u64)>) -> Vec<[u64; 2]> {
    ranges.into_iter().map(|(a, b)| [a, b]).collect()
}

impl Stats {
    /// Builds the snapshot (call with the lock held; it copies, no I/O).
    pub fn of(live: &Live) -> Stats {
        let mut agents: Vec<AgentStatsJson> = live
            .state
            .agents
            .iter()
            .map(|(key, a)| AgentStatsJson {
                store_id: key.store_id.clone(),
                agent_id: key.agent_id.clone(),
                committed_seq: a.committed_seq(),
                highest_seq: a.highest_seq(),
                applied_count: a.applied_count(),
                applied_ranges: pairs(a.applied().ranges()),
                gaps: pairs(a.gaps()),
                lost_ranges: pairs(a.lost().ranges()),
                last_batch_wall_ms: a.last_batch_wall_ms(),
            })
            .collect();
        agents.sort_by(|x, y| (&x.store_id, &x.agent_id).cmp(&(&y.store_id, &y.agent_id)));
        Stats {
            collector_id: live.collector_id.clone(),
            applied_total: live.state.applied_total(),
            duplicates_total: live.counters.duplicates_total,
            batches_total: live.counters.batches_total,
            rejected_batches: live.counters.rejected_batches,
            stores: live
                .state
                .stores
                .iter()
                .map(|(id, s)| {
                    (
                        id.clone(),
                        StoreStatsJson {
                            kinds: s.kinds.clone(),
                            foot_traffic_entries: s.foot_traffic_entries,
                            foot_traffic_exits: s.foot_traffic_exits,
                        },
                    )
                })
                .collect(),
            agents,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::fixtures::{batch, foot, scans};
    use crate::ledger::{apply_batch, AgentKey};

    #[test]
    fn stats_json_has_the_documented_shape() {
        let mut live = Live {
            collector_id: "hq-1".into(),
            ..Default::default()
        };
        let key = AgentKey::new("store-1", "a1");
        let agent = live.state.agents.entry(key).or_default();
        let store = live.state.stores.entry("store-1".into()).or_default();
        apply_batch(agent, store, &scans(1..=3));
        apply_batch(agent, store, &batch(vec![foot(6, 4, 2)]));
        live.counters.batches_total = 2;
        let json = serde_json::to_value(Stats::of(&live)).unwrap();
        let expected = serde_json::json!({
            "collector_id": "hq-1", "applied_total": 4, "duplicates_total": 0, "batches_total": 2,
            "rejected_batches": 0,
            "stores": {"store-1": {"kinds": {"scan": 3, "foot_traffic": 1},
                                   "foot_traffic_entries": 4, "foot_traffic_exits": 2}},
            "agents": [{"store_id": "store-1", "agent_id": "a1", "committed_seq": 3,
                        "highest_seq": 6, "applied_count": 4,
                        "applied_ranges": [[1, 3], [6, 6]], "gaps": [[4, 5]], "lost_ranges": [],
                        "last_batch_wall_ms": 0}]
        });
        assert_eq!(json, expected);
    }
}
