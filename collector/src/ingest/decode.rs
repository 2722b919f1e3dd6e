//! The first step of a publish: whose is it, and what does it hold.
//!
//! The topic is the identity of a batch (brokers can enforce ACLs on topics, not on payloads).
//! Publishes that are not batches of our stores, name an invalid id or a store beyond
//! `[ingest] max_stores`, or cannot be decoded are counted and logged (rate limited), and still
//! acknowledged with their group: a bad message must never block the session, nor be
//! redelivered forever.

use std::collections::HashSet;

use prost::Message;
use store_proto::{topics, EventBatch};
use tokio::time::Instant;
use tracing::{error, warn};

use super::ids::{valid_id, MAX_ID_LEN};
use super::mqtt::Incoming;
use crate::command::Inbox;
use crate::config::Config;
use crate::ledger::{AgentKey, Counters};
use crate::rules::Runtime;
use store_runtime::log_limit::LogLimit;

/// Most foreign stores and mismatched agents remembered for "first seen" warnings.
const MAX_WARNED: usize = 10_000;

/// What a rate-limited refusal line is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Refusal {
    Topic,
    InvalidId,
    StoreCap,
    Undecodable(AgentKey),
    SeqZero(AgentKey),
    OutOfWindow(AgentKey),
    OverRangeCap(AgentKey),
}

/// What a publish is, once its topic and payload are checked ([`Decoder::decode_publish`]).
#[derive(Debug)]
pub enum Decoded {
    /// A batch of events of this agent (the topic names the agent, not the payload).
    Events(AgentKey, EventBatch),
    /// An agent's status; its payload is for the rules' presence.
    Status(AgentKey),
    /// A command result from this agent; its payload is for the command book.
    CommandResult(AgentKey),
    /// Not ours, an invalid id, over the store cap, or undecodable: counted and logged.
    Refused,
}

/// Decodes publishes; remembers what it already warned about, so each oddity is logged once.
#[derive(Debug)]
pub struct Decoder {
    /// `None`: every store is ours.
    own_stores: Option<HashSet<String>>,
    /// Stores the collector keeps state for (or has accepted a publish of), up to `max_stores`.
    known_stores: HashSet<String>,
    max_stores: usize,
    warned_foreign: HashSet<String>,
    warned_mismatch: HashSet<AgentKey>,
    pub(super) log_limit: LogLimit<Refusal>,
    /// Where statuses and command results go for the command book (none in fuzzing and
    /// benchmarks).
    commands: Option<Inbox>,
}

impl Decoder {
    /// `known_stores`: the stores the collector already has state for.
    pub fn new(config: &Config, known_stores: impl IntoIterator<Item = String>) -> Self {
        Self {
            own_stores: (!config.stores.is_empty())
                .then(|| config.stores.iter().cloned().collect()),
            known_stores: known_stores.into_iter().collect(),
            max_stores: config.ingest.max_stores,
            warned_foreign: HashSet::new(),
            warned_mismatch: HashSet::new(),
            log_limit: LogLimit::default(),
            commands: None,
        }
    }

    /// Hands agents' statuses and command results to the command book too.
    pub fn with_commands(mut self, inbox: Inbox) -> Self {
        self.commands = Some(inbox);
        self
    }

    /// The agent key and batch of a publish, or `None` (counted and logged) when it is not ours
    /// or cannot be decoded. Agents' statuses go to the rules' presence and, like command
    /// results, to the command book's inbox when there is one.
    pub fn decode(
        &mut self,
        incoming: &Incoming,
        counters: &mut Counters,
        rules: &Runtime,
    ) -> Option<(AgentKey, EventBatch)> {
        let payload = incoming.publish.payload.as_ref();
        match self.decode_publish(&incoming.publish.topic, payload, counters) {
            Decoded::Events(key, batch) => Some((key, batch)),
            Decoded::Status(key) => {
                let online = rules.note_status(key.clone(), payload);
                if let Some(inbox) = &mut self.commands {
                    inbox.status(key, online);
                }
                None
            }
            Decoded::CommandResult(key) => {
                if let Some(inbox) = &mut self.commands {
                    inbox.result(key, payload);
                }
                None
            }
            Decoded::Refused => None,
        }
    }

    /// [`Decoder::decode`] on a bare topic and payload, without the rules: what a publish is
    /// once its topic and payload are checked (refusals counted in `counters` and logged).
    /// Public so the fuzz targets can drive the collector's whole pure path of a publish.
    pub fn decode_publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        counters: &mut Counters,
    ) -> Decoded {
        let now = Instant::now();
        let (store_id, agent_id, tail) = match topics::parse_agent_topic(topic) {
            Some((store_id, agent_id, tail @ ("events" | "status" | "cmd/result"))) => {
                (store_id, agent_id, tail)
            }
            _ => {
                counters.refused_topic += 1;
                if let Some(n) = self.log_limit.note(&Refusal::Topic, 1, now) {
                    warn!(topic = %topic.escape_debug(), publishes = n,
                        "Publishes on unexpected topics ignored (acknowledged).");
                }
                return Decoded::Refused;
            }
        };
        if !valid_id(store_id) || !valid_id(agent_id) {
            counters.refused_invalid_id += 1;
            if let Some(n) = self.log_limit.note(&Refusal::InvalidId, 1, now) {
                warn!(topic = %topic.escape_debug(), publishes = n,
                    "Publishes naming an invalid store or agent id refused (acknowledged): ids are \
                    1 to {MAX_ID_LEN} characters of A-Z, a-z, 0-9, '_', '.', '-'.");
            }
            return Decoded::Refused;
        }
        if let Some(own) = &self.own_stores {
            if !own.contains(store_id) {
                if self.warned_foreign.len() < MAX_WARNED
                    && self.warned_foreign.insert(store_id.to_owned())
                {
                    warn!(%store_id, %topic, "Batches of a store not in `stores` are ignored (first seen).");
                }
                return Decoded::Refused;
            }
        }
        if tail == "cmd/result" {
            // Not a reason to keep state for a store: the command book knows its own targets.
            return Decoded::CommandResult(AgentKey::new(store_id, agent_id));
        }
        if !self.known_stores.contains(store_id) {
            if self.known_stores.len() >= self.max_stores {
                counters.refused_store_cap += 1;
                if let Some(n) = self.log_limit.note(&Refusal::StoreCap, 1, now) {
                    error!(%store_id, %agent_id, publishes = n, max_stores = self.max_stores,
                        "Publishes of a new store refused (acknowledged): the collector keeps \
                        state for [ingest] max_stores stores already. Raise it if the chain has \
                        grown.");
                }
                return Decoded::Refused;
            }
            self.known_stores.insert(store_id.to_owned());
        }
        let key = AgentKey::new(store_id, agent_id);
        if tail == "status" {
            return Decoded::Status(key);
        }
        match EventBatch::decode(payload) {
            Ok(batch) => {
                counters.batches_total += 1;
                // The topic is the identity (brokers can enforce ACLs on it), not the payload.
                let mismatch = (!batch.store_id.is_empty() && batch.store_id != store_id)
                    || (!batch.agent_id.is_empty() && batch.agent_id != agent_id);
                if mismatch
                    && self.warned_mismatch.len() < MAX_WARNED
                    && self.warned_mismatch.insert(key.clone())
                {
                    warn!(%store_id, %agent_id, payload_store_id = %batch.store_id.escape_debug(),
                        payload_agent_id = %batch.agent_id.escape_debug(),
                        "Batch payload names another agent than its topic; the topic wins.");
                }
                Decoded::Events(key, batch)
            }
            Err(e) => {
                counters.rejected_batches += 1;
                let bytes = payload.len();
                if let Some(n) = self.log_limit.note(&Refusal::Undecodable(key), 1, now) {
                    error!(%store_id, %agent_id, bytes, batches = n, error = %e,
                        "Undecodable batches rejected; acknowledged so they cannot block the session.");
                }
                Decoded::Refused
            }
        }
    }
}
