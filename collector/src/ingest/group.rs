//! One commit group: decode → dedup → apply → group commit → PUBACK → marks.
//!
//! Order of effects for a group, and why:
//! 1. apply to *copies* of the touched records (the shared state only ever shows committed data);
//! 2. commit the copies durably, with the rules engine's changes, through
//!    [`Runtime::apply_group`](crate::rules::Runtime::apply_group);
//! 3. swap them into the shared state;
//! 4. PUBACK every publish of the group: the broker may now forget them;
//! 5. hand the new marks to the mark publisher: agents may now delete the events.
//!
//! A crash before 2 completes loses nothing (nothing was acknowledged, the broker redelivers);
//! a crash after it double-applies nothing (the redelivered events are duplicates).

use std::collections::{BTreeMap, BTreeSet};

use store_proto::EventBatch;
use tokio::time::Instant;
use tracing::{debug, error, warn};

use super::acks::AckCommand;
use super::decode::Refusal;
use super::mqtt::{Incoming, Mqtt};
use super::{Ingest, IngestError};
use crate::ledger::{apply_batch_with, AgentKey, AgentState, Changes, Counters, Mark, StoreStats};
use crate::rules::engine::BatchInfo;

impl<M: Mqtt> Ingest<M> {
    /// Decodes, applies, commits and acknowledges one group of publishes.
    pub(super) async fn process(&mut self, group: Vec<Incoming>) -> Result<(), IngestError> {
        let started = Instant::now();
        let mut counters = Counters::default();
        let mut decoded: Vec<(AgentKey, EventBatch)> = Vec::with_capacity(group.len());
        for incoming in &group {
            if let Some(batch) = self.decoder.decode(incoming, &mut counters, &self.rules) {
                decoded.push(batch);
            }
        }

        // Working copies of the touched records, taken in one short lock.
        let mut agents: BTreeMap<AgentKey, AgentState> = BTreeMap::new();
        let mut stores: BTreeMap<String, StoreStats> = BTreeMap::new();
        {
            let live = self.shared.lock().expect("state lock poisoned");
            for (key, _) in &decoded {
                if !agents.contains_key(key) {
                    let current = live.state.agents.get(key).cloned().unwrap_or_default();
                    agents.insert(key.clone(), current);
                }
                if !stores.contains_key(&key.store_id) {
                    let current = live
                        .state
                        .stores
                        .get(&key.store_id)
                        .cloned()
                        .unwrap_or_default();
                    stores.insert(key.store_id.clone(), current);
                }
            }
        }

        let mut with_duplicates = BTreeSet::new();
        let mut applied = 0;
        // Refusals per agent, logged (rate limited) once the group is done.
        let mut refused: Vec<(AgentKey, u64, u64, u64)> = Vec::new();
        let limits = self.limits;
        let changes = self
            .rules
            .apply_group(|rules| {
                let mut changed_agents = BTreeSet::new();
                let mut changed_stores = BTreeSet::new();
                for (key, batch) in &decoded {
                    let agent = agents.get_mut(key).expect("copied above");
                    let stats = stores.get_mut(&key.store_id).expect("copied above");
                    rules.note_batch(key, batch);
                    let info = BatchInfo {
                        store: &key.store_id,
                        agent: &key.agent_id,
                        historical: batch.historical,
                        sent_ms: batch.sent_wall_time_ms,
                    };
                    let out = apply_batch_with(agent, stats, batch, limits, |event| {
                        rules.apply(info, event);
                    });
                    applied += out.applied;
                    counters.duplicates_total += out.duplicates;
                    counters.events_seq_zero += out.invalid;
                    counters.events_out_of_window += out.out_of_window;
                    counters.events_over_range_cap += out.over_range_cap;
                    if out.invalid + out.out_of_window + out.over_range_cap > 0 {
                        refused.push((
                            key.clone(),
                            out.invalid,
                            out.out_of_window,
                            out.over_range_cap,
                        ));
                    }
                    if out.clipped_loss_ranges > 0 {
                        warn!(store_id = %key.store_id, agent_id = %key.agent_id, ranges = out.clipped_loss_ranges,
                        "DataLoss ranges reaching past their own event were clipped.");
                    }
                    if out.settled > 0 {
                        warn!(store_id = %key.store_id, agent_id = %key.agent_id, seqs = out.settled,
                        "Agent reported lost events; their seqs are settled.");
                    }
                    if out.duplicates > 0 {
                        with_duplicates.insert(key.clone());
                    }
                    if out.changed {
                        changed_agents.insert(key.clone());
                    }
                    if out.applied > 0 {
                        changed_stores.insert(key.store_id.clone());
                    }
                }
                Changes {
                    agents: agents
                        .into_iter()
                        .filter(|(k, _)| changed_agents.contains(k))
                        .collect(),
                    stores: stores
                        .into_iter()
                        .filter(|(s, _)| changed_stores.contains(s))
                        .collect(),
                    ..Changes::default()
                }
            })
            .await?;

        // Durable from here on.
        let marks: Vec<(AgentKey, Mark)> = changes
            .agents
            .iter()
            .map(|(k, a)| (k.clone(), a.mark()))
            .collect();
        let gaps: Vec<(AgentKey, Vec<(u64, u64)>)> = changes
            .agents
            .iter()
            .map(|(k, a)| (k.clone(), a.gaps()))
            .collect();
        let refresh: Vec<(AgentKey, Mark)> = {
            let mut live = self.shared.lock().expect("state lock poisoned");
            live.state.agents.extend(changes.agents);
            live.state.stores.extend(changes.stores);
            live.counters.add(&counters);
            with_duplicates
                .into_iter()
                .filter_map(|k| live.state.agents.get(&k).map(|a| (k, a.mark())))
                .collect()
        };

        let mut acked = 0;
        for incoming in &group {
            if self.mqtt.ack(incoming).await? {
                acked += 1;
            }
        }
        if !marks.is_empty() {
            let _ = self.acks.send(AckCommand::Marks(marks));
        }
        if !refresh.is_empty() {
            // An agent resending what is applied may have missed its mark: send it again.
            let _ = self.acks.send(AckCommand::Refresh(refresh));
        }
        let now = Instant::now();
        for (key, gaps) in gaps {
            self.gaps.update(&key, &gaps, now);
        }
        for (key, seq_zero, out_of_window, over_range_cap) in refused {
            self.log_refused(key, seq_zero, out_of_window, over_range_cap, now);
        }
        debug!(
            publishes = group.len(),
            acked,
            applied,
            duplicates = counters.duplicates_total,
            elapsed_us = started.elapsed().as_micros() as u64,
            "Group committed."
        );
        Ok(())
    }

    /// Logs an agent's refused events, at most one line per agent, reason and minute.
    fn log_refused(
        &mut self,
        key: AgentKey,
        seq_zero: u64,
        out_of_window: u64,
        over_range_cap: u64,
        now: Instant,
    ) {
        let limit = &mut self.decoder.log_limit;
        if seq_zero > 0 {
            if let Some(n) = limit.note(&Refusal::SeqZero(key.clone()), seq_zero, now) {
                error!(store_id = %key.store_id, agent_id = %key.agent_id, events = n,
                    "Events with seq 0 refused: agents never issue seq 0.");
            }
        }
        if out_of_window > 0 {
            if let Some(n) = limit.note(&Refusal::OutOfWindow(key.clone()), out_of_window, now) {
                error!(store_id = %key.store_id, agent_id = %key.agent_id, events = n,
                    max_seq_ahead = self.limits.max_seq_ahead,
                    "Events with seqs too far above the agent's committed mark refused (forged, \
                    or [ingest] max_seq_ahead is too small); a genuine agent resends them later.");
            }
        }
        if over_range_cap > 0 {
            if let Some(n) = limit.note(&Refusal::OverRangeCap(key.clone()), over_range_cap, now) {
                warn!(store_id = %key.store_id, agent_id = %key.agent_id, events = n,
                    max_ranges_per_agent = self.limits.max_ranges_per_agent,
                    "Out-of-order events refused: the agent has [ingest] max_ranges_per_agent \
                    gaps open above its mark; it resends them once the gaps close.");
            }
        }
    }
}
