//! What the collector knows: per-agent dedup state and per-store totals, as committed, plus the
//! since-start counters; and [`Shared`], the one view of it the ingest task and the HTTP API
//! share.
//!
//! Invariant: [`Live`] only ever holds committed data. Ingest works on copies of the records a
//! group touches and swaps them in after the commit, so a reader never sees an effect that a
//! crash could still undo.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use super::dedup::{AgentState, StoreStats};

/// Identifies one agent: the `{store}` and `{agent}` levels of its topics.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AgentKey {
    pub store_id: String,
    pub agent_id: String,
}

impl AgentKey {
    pub fn new(store_id: impl Into<String>, agent_id: impl Into<String>) -> Self {
        Self {
            store_id: store_id.into(),
            agent_id: agent_id.into(),
        }
    }
}

impl fmt::Display for AgentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.store_id, self.agent_id)
    }
}

/// All durable state: what [`super::Db::open`] loads and what commits write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    pub agents: HashMap<AgentKey, AgentState>,
    pub stores: HashMap<String, StoreStats>,
}

impl State {
    /// Events applied over all stores.
    pub fn applied_total(&self) -> u64 {
        self.stores.values().flat_map(|s| s.kinds.values()).sum()
    }
}

/// Counters kept in memory since start (not persisted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Events skipped because their seq was already applied or settled.
    pub duplicates_total: u64,
    /// Batches decoded (including ones that were entirely duplicates).
    pub batches_total: u64,
    /// Batches that could not be decoded (acknowledged and dropped, loudly).
    pub rejected_batches: u64,
    /// Events refused: seq 0, which no agent issues.
    pub events_seq_zero: u64,
    /// Events refused: seq beyond `[ingest] max_seq_ahead` above the agent's mark.
    pub events_out_of_window: u64,
    /// Events refused: they would open a range beyond `[ingest] max_ranges_per_agent`.
    pub events_over_range_cap: u64,
    /// Publishes refused (acknowledged and dropped): not an agent's events or status topic.
    pub refused_topic: u64,
    /// Publishes refused: the topic's store or agent id is not a valid id.
    pub refused_invalid_id: u64,
    /// Publishes refused: a new store beyond `[ingest] max_stores`.
    pub refused_store_cap: u64,
}

impl Counters {
    pub fn add(&mut self, other: &Counters) {
        self.duplicates_total += other.duplicates_total;
        self.batches_total += other.batches_total;
        self.rejected_batches += other.rejected_batches;
        self.events_seq_zero += other.events_seq_zero;
        self.events_out_of_window += other.events_out_of_window;
        self.events_over_range_cap += other.events_over_range_cap;
        self.refused_topic += other.refused_topic;
        self.refused_invalid_id += other.refused_invalid_id;
        self.refused_store_cap += other.refused_store_cap;
    }
}

/// The committed state plus counters, shared by the ingest task (writer) and the HTTP API
/// (reader). It only ever holds committed data: ingest works on copies of the records a group
/// touches and swaps them in after the commit.
#[derive(Debug, Default)]
pub struct Live {
    pub collector_id: String,
    pub state: State,
    pub counters: Counters,
}

/// Handle on [`Live`]; keep lock holds short (no I/O, no await).
pub type Shared = Arc<Mutex<Live>>;
