//! The first step of a publish: whose is it, and what does it hold.
//!
//! The topic is the identity of a batch (brokers can enforce ACLs on topics, not on payloads).
//! Publishes that are not batches of our stores, or cannot be decoded, are counted and logged,
//! and still acknowledged with their group: a bad message must never block the session.

use std::collections::HashSet;

use prost::Message;
use store_proto::{topics, EventBatch};
use tracing::{error, warn};

use super::mqtt::Incoming;
use crate::config::Config;
use crate::ledger::{AgentKey, Counters};
use crate::rules::Runtime;

/// Decodes publishes; remembers what it already warned about, so each oddity is logged once.
#[derive(Debug)]
pub struct Decoder {
    /// `None`: every store is ours.
    own_stores: Option<HashSet<String>>,
    warned_foreign: HashSet<String>,
    warned_mismatch: HashSet<AgentKey>,
}

impl Decoder {
    pub fn new(config: &Config) -> Self {
        Self {
            own_stores: (!config.stores.is_empty())
                .then(|| config.stores.iter().cloned().collect()),
            warned_foreign: HashSet::new(),
            warned_mismatch: HashSet::new(),
        }
    }

    /// The agent key and batch of a publish, or `None` (counted and logged) when it is not ours
    /// or cannot be decoded. Agents' statuses go to the rules' presence.
    pub fn decode(
        &mut self,
        incoming: &Incoming,
        counters: &mut Counters,
        rules: &Runtime,
    ) -> Option<(AgentKey, EventBatch)> {
        let topic = incoming.publish.topic.as_str();
        let (store_id, agent_id) = match topics::parse_agent_topic(topic) {
            Some((store_id, agent_id, "events")) => (store_id, agent_id),
            Some((store_id, agent_id, "status")) => {
                rules.note_status(
                    AgentKey::new(store_id, agent_id),
                    incoming.publish.payload.as_ref(),
                );
                return None;
            }
            _ => {
                warn!(%topic, "Publish on an unexpected topic ignored.");
                return None;
            }
        };
        if let Some(own) = &self.own_stores {
            if !own.contains(store_id) {
                if self.warned_foreign.insert(store_id.to_owned()) {
                    warn!(%store_id, %topic, "Batches of a store not in `stores` are ignored (first seen).");
                }
                return None;
            }
        }
        match EventBatch::decode(incoming.publish.payload.as_ref()) {
            Ok(batch) => {
                counters.batches_total += 1;
                // The topic is the identity (brokers can enforce ACLs on it), not the payload.
                let key = AgentKey::new(store_id, agent_id);
                let mismatch = (!batch.store_id.is_empty() && batch.store_id != store_id)
                    || (!batch.agent_id.is_empty() && batch.agent_id != agent_id);
                if mismatch && self.warned_mismatch.insert(key.clone()) {
                    warn!(%store_id, %agent_id, payload_store_id = %batch.store_id,
                        payload_agent_id = %batch.agent_id,
                        "Batch payload names another agent than its topic; the topic wins.");
                }
                Some((key, batch))
            }
            Err(e) => {
                counters.rejected_batches += 1;
                error!(%store_id, %agent_id, %topic, bytes = incoming.publish.payload.len(), error = %e,
                    "Undecodable batch rejected; acknowledged so it cannot block the session.");
                None
            }
        }
    }
}
