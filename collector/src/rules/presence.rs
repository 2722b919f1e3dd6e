//! What HQ knows of each agent's connection: online or not, version, clock offset, backlog.
//!
//! Not persisted: the agents' retained statuses and their next batches rebuild it after a
//! restart. Kept beside the rules because the HTTP API shows it with them.

use std::collections::BTreeMap;
use std::sync::Mutex;

use prost::Message;
use store_proto::v1::AgentStatus;
use store_proto::EventBatch;

use crate::clock::now_ms;
use crate::ledger::AgentKey;

/// An agent's connection as seen by the collector.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Presence {
    /// From the agent's retained status (birth / last will); `None` before any status.
    pub online: Option<bool>,
    pub version: String,
    /// Collector clock when the last batch arrived.
    pub last_seen_ms: i64,
    /// Agent clock when it sent that batch.
    pub last_batch_sent_ms: i64,
    /// Agent clock minus collector clock, from the last live batch or birth status (positive:
    /// the agent is ahead). Batch transit time is included, so small values mean nothing.
    pub clock_offset_ms: Option<i64>,
    /// The last batch was historical: the agent is draining a backlog.
    pub draining_backlog: bool,
    /// Events the agent had journaled but not yet sent, from its last status (about every 30 s).
    pub backlog_events: Option<u64>,
    pub clock_synced: Option<bool>,
}

/// Every agent's [`Presence`].
#[derive(Debug, Default)]
pub struct Presences {
    agents: Mutex<BTreeMap<AgentKey, Presence>>,
}

impl Presences {
    /// Records an agent's retained status (birth or last will); returns whether it says online.
    pub fn note_status(&self, key: AgentKey, payload: &[u8]) -> bool {
        let mut presence = self.agents.lock().expect("presence lock poisoned");
        let entry = presence.entry(key).or_default();
        // An empty retained payload clears the status: the agent is gone.
        match AgentStatus::decode(payload) {
            Ok(status) if !payload.is_empty() => {
                entry.online = Some(status.online);
                entry.version = status.version;
                if status.online {
                    entry.backlog_events = Some(status.backlog_events);
                }
                entry.clock_synced = Some(status.clock_synced);
                if status.online && status.wall_time_ms > 0 {
                    entry.clock_offset_ms = Some(status.wall_time_ms - now_ms());
                }
            }
            _ => entry.online = Some(false),
        }
        entry.online == Some(true)
    }

    /// Whether the agent's last status said online.
    pub fn is_online(&self, key: &AgentKey) -> bool {
        let presence = self.agents.lock().expect("presence lock poisoned");
        presence.get(key).is_some_and(|p| p.online == Some(true))
    }

    /// Records a batch's arrival.
    pub fn note_batch(&self, key: &AgentKey, batch: &EventBatch) {
        let now = now_ms();
        let mut presence = self.agents.lock().expect("presence lock poisoned");
        let entry = presence.entry(key.clone()).or_default();
        entry.last_seen_ms = now;
        entry.last_batch_sent_ms = batch.sent_wall_time_ms;
        entry.draining_backlog = batch.historical;
        if !batch.historical && batch.sent_wall_time_ms > 0 {
            entry.clock_offset_ms = Some(batch.sent_wall_time_ms - now);
        }
    }

    /// A copy of every agent's presence.
    pub fn snapshot(&self) -> BTreeMap<AgentKey, Presence> {
        self.agents.lock().expect("presence lock poisoned").clone()
    }
}
