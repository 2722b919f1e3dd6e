//! The ingest loop: decode → dedup → apply → group commit → PUBACK → marks.
//!
//! Every notice from the polling task arrives here, in order. Publishes are taken in groups: all
//! that are immediately available, up to [`MAX_GROUP`]. A group costs one sled batch and one
//! flush + fdatasync, however many events it holds, which is what makes high event rates possible.
//!
//! Order of effects for a group, and why:
//! 1. apply to *copies* of the touched records (the shared state only ever shows committed data);
//! 2. commit the copies durably ([`Store::commit`]);
//! 3. swap them into the shared state;
//! 4. PUBACK every publish of the group: the broker may now forget them;
//! 5. hand the new marks to the mark publisher: agents may now delete the events.
//!
//! A crash before 2 completes loses nothing (nothing was acknowledged, the broker redelivers);
//! a crash after it double-applies nothing (the redelivered events are duplicates).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use store_proto::{topics, EventBatch};
use store_runtime::clock::now_ms;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{debug, error, info, warn};

use crate::acks::AckCommand;
use crate::config::Config;
use crate::gaps::GapTracker;
use crate::hq::{Hq, Output};
use crate::intel::BatchInfo;
use crate::mqtt::{status_payload, Incoming, Mqtt, MqttError, Notice};
use crate::state::{apply_batch_with, AgentKey, AgentState, Counters, Mark, Shared, StoreStats};
use crate::store::{Changes, Store, StoreError};

/// Most publishes committed together. Large, because a group's cost is dominated by the
/// records it writes, and a stock position touched by many events of a group is written once:
/// when the collector falls behind, bigger groups are how it catches up (1024 agent batches of
/// 500 events are about 45 MiB of payload in hand).
pub const MAX_GROUP: usize = 1024;

/// How often open gaps are checked for staleness.
const GAP_CHECK_EVERY: Duration = Duration::from_secs(5);

/// Why the ingest loop stopped early. All are fatal for the process.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Mqtt(#[from] MqttError),
    #[error("commit task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("the MQTT polling task stopped")]
    PollingStopped,
}

/// What woke the ingest loop.
enum Wake {
    Notice(Notice),
    GapCheck,
    Evaluate,
    CatalogueCheck,
}

/// The ingest task's own state.
pub struct Ingest<M> {
    mqtt: M,
    store: Arc<Store>,
    shared: Shared,
    acks: mpsc::UnboundedSender<AckCommand>,
    collector_id: String,
    /// Event filters to subscribe to on every CONNACK.
    filters: Vec<String>,
    /// Filters of earlier configurations: the persistent session may still hold them.
    stale_filters: Vec<String>,
    /// `None`: every store is ours.
    own_stores: Option<HashSet<String>>,
    gaps: GapTracker,
    warned_foreign: HashSet<String>,
    warned_mismatch: HashSet<AgentKey>,
    hq: Arc<Hq>,
    /// Alerts and signals, published by their own task so a slow broker never stalls ingest.
    outputs: mpsc::UnboundedSender<Output>,
    evaluate_every: Duration,
    catalogue_check_every: Duration,
}

impl<M> std::fmt::Debug for Ingest<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("collector_id", &self.collector_id)
            .field("filters", &self.filters)
            .finish()
    }
}

/// The event filters a configuration subscribes to.
///
/// Besides events, the agents' retained statuses: they tell HQ which agents are online and how
/// their clocks compare with the collector's.
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
        ]
    } else {
        config
            .stores
            .iter()
            .flat_map(|s| {
                [
                    topics::store_events_filter(s),
                    topics::store_status_filter(s),
                ]
            })
            .collect()
    }
}

impl<M: Mqtt> Ingest<M> {
    /// Prepares the loop. Records the configured filters in the store (blocking, at start-up), so
    /// the filters of this configuration are unsubscribed once a later one drops them.
    pub fn new(
        config: &Config,
        mqtt: M,
        store: Arc<Store>,
        shared: Shared,
        acks: mpsc::UnboundedSender<AckCommand>,
        hq: Arc<Hq>,
        outputs: mpsc::UnboundedSender<Output>,
    ) -> Result<Self, StoreError> {
        let filters = event_filters(config);
        let mut known = store.subscribed_filters()?;
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
            store.set_subscribed_filters(&known)?;
        }
        let own_stores =
            (!config.stores.is_empty()).then(|| config.stores.iter().cloned().collect());
        // Gaps left open by the previous run are news too.
        let mut gaps = GapTracker::default();
        {
            let live = shared.lock().expect("state lock poisoned");
            let now = Instant::now();
            for (key, agent) in &live.state.agents {
                gaps.update(key, &agent.gaps(), now);
            }
        }
        Ok(Self {
            mqtt,
            store,
            shared,
            acks,
            collector_id: config.collector_id.clone(),
            filters,
            stale_filters,
            own_stores,
            gaps,
            warned_foreign: HashSet::new(),
            warned_mismatch: HashSet::new(),
            hq,
            outputs,
            evaluate_every: Duration::from_millis(config.intel.evaluate_interval_ms),
            catalogue_check_every: Duration::from_secs(config.intel.catalogue_check_secs.max(1)),
        })
    }

    /// Runs until `stop` turns true. On stop, the group in hand is committed and
    /// acknowledged first; publishes not yet taken stay unacknowledged and the broker redelivers
    /// them to the next run.
    pub async fn run(
        mut self,
        mut notices: mpsc::UnboundedReceiver<Notice>,
        mut stop: watch::Receiver<bool>,
    ) -> Result<(), IngestError> {
        let mut gap_check = tokio::time::interval(GAP_CHECK_EVERY);
        gap_check.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut evaluate = tokio::time::interval(self.evaluate_every);
        evaluate.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut catalogue_check = tokio::time::interval(self.catalogue_check_every);
        catalogue_check.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // A non-publish notice met while gathering a group waits here until the group is done.
        let mut deferred: Option<Notice> = None;
        loop {
            let notice = match deferred.take() {
                Some(n) => n,
                None => {
                    let wake = tokio::select! {
                        // Stop wins over new work; the timers (due every second or few) must not
                        // starve under a steady stream of publishes.
                        biased;
                        _ = stop.wait_for(|&s| s) => return Ok(()),
                        _ = gap_check.tick() => Wake::GapCheck,
                        // Time-based rules fire even when no events arrive (a store gone quiet).
                        _ = evaluate.tick() => Wake::Evaluate,
                        _ = catalogue_check.tick() => Wake::CatalogueCheck,
                        n = notices.recv() => match n {
                            Some(n) => Wake::Notice(n),
                            // The polling task stops only after a deliberate disconnect, which
                            // comes after this loop ended: anything else is a fault.
                            None => return Err(IngestError::PollingStopped),
                        },
                    };
                    match wake {
                        Wake::Notice(n) => n,
                        Wake::GapCheck => {
                            self.gaps.warn_stale(Instant::now());
                            continue;
                        }
                        Wake::Evaluate => {
                            self.evaluate().await?;
                            continue;
                        }
                        Wake::CatalogueCheck => {
                            let hq = self.hq.clone();
                            // A refused file is logged inside; the last good one stays.
                            let _ = tokio::task::spawn_blocking(move || {
                                hq.reload_catalogue_if_changed(false)
                            })
                            .await?;
                            continue;
                        }
                    }
                }
            };
            match notice {
                Notice::Connected { session_present } => self.on_connected(session_present).await?,
                Notice::Disconnected => debug!("Broker connection down; waiting for reconnect."),
                Notice::Publish(first) => {
                    let mut group = vec![first];
                    while group.len() < MAX_GROUP {
                        match notices.try_recv() {
                            Ok(Notice::Publish(p)) => group.push(p),
                            Ok(other) => {
                                deferred = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.process(group).await?;
                }
            }
        }
    }

    /// After every CONNACK: drop stale subscriptions, subscribe (the broker may have lost our
    /// session; doing it again on a resumed one is harmless), announce, and republish marks.
    async fn on_connected(&mut self, session_present: bool) -> Result<(), IngestError> {
        for filter in &self.stale_filters {
            info!(%filter, "Unsubscribing from a filter no longer configured.");
            self.mqtt.unsubscribe(filter.clone()).await?;
        }
        self.mqtt.subscribe(self.filters.clone()).await?;
        // After the subscription request, so agents that see us online find us listening.
        self.mqtt
            .publish(
                topics::collector_status(&self.collector_id),
                true,
                status_payload(&self.collector_id, true, now_ms()),
            )
            .await?;
        let marks: Vec<(AgentKey, Mark)> = {
            let live = self.shared.lock().expect("state lock poisoned");
            live.state
                .agents
                .iter()
                .map(|(k, a)| (k.clone(), a.mark()))
                .collect()
        };
        info!(session_present, filters = ?self.filters, agents = marks.len(), "Subscribed; collector online.");
        let _ = self.acks.send(AckCommand::RepublishAll(marks));
        Ok(())
    }

    /// Decodes, applies, commits and acknowledges one group of publishes.
    async fn process(&mut self, group: Vec<Incoming>) -> Result<(), IngestError> {
        let started = Instant::now();
        let mut counters = Counters::default();
        let mut decoded: Vec<(AgentKey, EventBatch)> = Vec::with_capacity(group.len());
        for incoming in &group {
            if let Some(batch) = self.decode(incoming, &mut counters) {
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

        // Held until the outputs are handed over: API acknowledgements wait, so keys are
        // committed in the order they changed.
        let _commit = self.hq.commit.lock().await;
        let mut changed_agents = BTreeSet::new();
        let mut changed_stores = BTreeSet::new();
        let mut with_duplicates = BTreeSet::new();
        let mut applied = 0;
        let hq = self.hq.clone();
        // A block, not drop(): the guard must visibly end before the next await.
        {
            let mut engine = hq.engine.lock().expect("engine lock poisoned");
            let wall = now_ms();
            for (key, batch) in &decoded {
                let agent = agents.get_mut(key).expect("copied above");
                let stats = stores.get_mut(&key.store_id).expect("copied above");
                hq.note_batch(key, batch);
                let info = BatchInfo {
                    store: &key.store_id,
                    agent: &key.agent_id,
                    historical: batch.historical,
                    sent_ms: batch.sent_wall_time_ms,
                };
                let out = apply_batch_with(agent, stats, batch, |event| {
                    hq.observe_event_time(event.wall_time_ms);
                    // Per event: with the event clock, "now" moves with the events.
                    engine.apply(info, hq.now_at(wall), event);
                });
                applied += out.applied;
                counters.duplicates_total += out.duplicates;
                if out.invalid > 0 {
                    error!(store_id = %key.store_id, agent_id = %key.agent_id, events = out.invalid,
                    "Events with seq 0 skipped: agents never issue seq 0.");
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
        }
        let (intel, outputs) = hq.drain();
        let mut changes = Changes {
            agents: agents
                .into_iter()
                .filter(|(k, _)| changed_agents.contains(k))
                .collect(),
            stores: stores
                .into_iter()
                .filter(|(s, _)| changed_stores.contains(s))
                .collect(),
            intel,
        };

        if !changes.is_empty() {
            let store = self.store.clone();
            // sled and fdatasync block: keep them off the async workers.
            changes = tokio::task::spawn_blocking(move || store.commit(&changes).map(|()| changes))
                .await??;
        }

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
        for output in outputs {
            let _ = self.outputs.send(output);
        }
        if !refresh.is_empty() {
            // An agent resending what is applied may have missed its mark: send it again.
            let _ = self.acks.send(AckCommand::Refresh(refresh));
        }
        let now = Instant::now();
        for (key, gaps) in gaps {
            self.gaps.update(&key, &gaps, now);
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

    /// Evaluates the time-based rules, commits what they changed, and hands over the outputs.
    async fn evaluate(&mut self) -> Result<(), IngestError> {
        let _commit = self.hq.commit.lock().await;
        let hq = self.hq.clone();
        let store = self.store.clone();
        let outputs = tokio::task::spawn_blocking(move || hq.evaluate_and_commit(&store)).await??;
        for output in outputs {
            let _ = self.outputs.send(output);
        }
        Ok(())
    }

    /// The agent key and batch of a publish, or `None` (counted and logged) when it is not ours
    /// or cannot be decoded. Either way the publish is acknowledged with its group.
    fn decode(
        &mut self,
        incoming: &Incoming,
        counters: &mut Counters,
    ) -> Option<(AgentKey, EventBatch)> {
        let topic = incoming.publish.topic.as_str();
        let (store_id, agent_id) = match topics::parse_agent_topic(topic) {
            Some((store_id, agent_id, "events")) => (store_id, agent_id),
            Some((store_id, agent_id, "status")) => {
                self.hq.note_status(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::state::tests::scans;
    use crate::state::Live;
    use crate::test_support::FakeMqtt;
    use rumqttc::{Publish, QoS};
    use std::sync::Mutex;

    fn publish(topic: &str, payload: Vec<u8>, pkid: u16) -> Notice {
        let mut p = Publish::new(topic, QoS::AtLeastOnce, payload);
        p.pkid = pkid;
        Notice::Publish(Incoming {
            publish: p,
            epoch: 1,
        })
    }

    struct Harness {
        fake: FakeMqtt,
        shared: Shared,
        notices: mpsc::UnboundedSender<Notice>,
        acks: mpsc::UnboundedReceiver<AckCommand>,
        stop: watch::Sender<bool>,
        task: tokio::task::JoinHandle<Result<(), IngestError>>,
        _dir: tempfile::TempDir,
    }

    fn start(stores: &str) -> Harness {
        start_in(tempfile::tempdir().unwrap(), stores)
    }

    fn start_in(dir: tempfile::TempDir, stores: &str) -> Harness {
        let config = Config::parse(
            &format!("collector_id = \"hq-1\"\nstate_dir = \"/unused\"\nstores = {stores}\n"),
            "t.toml",
        )
        .unwrap();
        let (store, state) = Store::open(&dir.path().join("state")).unwrap();
        let shared: Shared = Arc::new(Mutex::new(Live {
            collector_id: "hq-1".into(),
            state,
            ..Default::default()
        }));
        let fake = FakeMqtt::default();
        let (ack_tx, ack_rx) = mpsc::unbounded_channel();
        let hq = Arc::new(crate::hq::Hq::open(&config, &store).unwrap());
        let (outputs, _) = mpsc::unbounded_channel();
        let ingest = Ingest::new(
            &config,
            fake.clone(),
            Arc::new(store),
            shared.clone(),
            ack_tx,
            hq,
            outputs,
        )
        .unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = tokio::spawn(ingest.run(rx, stop_rx));
        Harness {
            fake,
            shared,
            notices: tx,
            acks: ack_rx,
            stop: stop_tx,
            task,
            _dir: dir,
        }
    }

    async fn settle(h: &Harness, acks: usize) {
        for _ in 0..500 {
            if h.fake.acked().len() >= acks {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("expected {acks} acks, got {:?}", h.fake.acked());
    }

    #[tokio::test]
    async fn commits_then_acks_dedups_and_rejects_garbage() {
        let mut h = start("[]");
        // Every PUBACK must come after its batch is committed (and so visible in the state).
        let applied_at_ack = Arc::new(Mutex::new(Vec::new()));
        let (seen, state) = (applied_at_ack.clone(), h.shared.clone());
        h.fake.on_ack(move || {
            let applied = state.lock().unwrap().state.applied_total();
            seen.lock().unwrap().push(applied);
        });
        h.notices
            .send(Notice::Connected {
                session_present: false,
            })
            .unwrap();
        let good = scans(1..=10).encode_to_vec();
        h.notices
            .send(publish("stores/s1/agents/a1/events", good.clone(), 1))
            .unwrap();
        h.notices
            .send(publish("stores/s1/agents/a1/events", good, 2))
            .unwrap();
        h.notices
            .send(publish(
                "stores/s1/agents/a2/events",
                vec![0xff, 0xff, 0xff],
                3,
            ))
            .unwrap();
        settle(&h, 3).await;
        assert_eq!(
            h.fake.subscribed(),
            vec![vec![
                "stores/+/agents/+/events".to_owned(),
                "stores/+/agents/+/status".to_owned()
            ]]
        );
        assert_eq!(h.fake.acked(), vec![1, 2, 3]);
        assert_eq!(*applied_at_ack.lock().unwrap(), vec![10, 10, 10]);
        {
            let live = h.shared.lock().unwrap();
            assert_eq!(live.state.applied_total(), 10);
            assert_eq!(live.counters.duplicates_total, 10);
            assert_eq!(live.counters.batches_total, 2);
            assert_eq!(live.counters.rejected_batches, 1);
            assert_eq!(
                live.state.agents[&AgentKey::new("s1", "a1")].committed_seq(),
                10
            );
        }
        // The online status went out, then the marks followed the commit.
        let (topic, retain, _) = h.fake.published()[0].clone();
        assert_eq!((topic.as_str(), retain), ("hq/collector/hq-1/status", true));
        assert!(matches!(h.acks.recv().await, Some(AckCommand::RepublishAll(m)) if m.is_empty()));
        let mut saw_mark = false;
        while let Ok(cmd) = h.acks.try_recv() {
            if let AckCommand::Marks(m) = cmd {
                assert_eq!(m, vec![(AgentKey::new("s1", "a1"), 10.into())]);
                saw_mark = true;
            }
        }
        assert!(saw_mark);
        h.stop.send(true).unwrap();
        h.task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn foreign_stores_are_acked_but_not_applied() {
        let h = start("[\"s1\"]");
        let b = scans(1..=3).encode_to_vec();
        h.notices
            .send(publish("stores/s2/agents/a1/events", b.clone(), 7))
            .unwrap();
        h.notices
            .send(publish("stores/s1/agents/a1/events", b, 8))
            .unwrap();
        settle(&h, 2).await;
        {
            let live = h.shared.lock().unwrap();
            assert_eq!(live.state.applied_total(), 3);
            assert!(!live.state.stores.contains_key("s2"));
        }
        h.stop.send(true).unwrap();
        h.task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn filters_of_an_earlier_configuration_are_unsubscribed() {
        let h = start("[]");
        h.stop.send(true).unwrap();
        h.task.await.unwrap().unwrap();
        let h = start_in(h._dir, "[\"s1\", \"s2\"]");
        h.notices
            .send(Notice::Connected {
                session_present: true,
            })
            .unwrap();
        for _ in 0..200 {
            if !h.fake.subscribed().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            h.fake.unsubscribed(),
            vec![
                "stores/+/agents/+/events".to_owned(),
                "stores/+/agents/+/status".to_owned()
            ]
        );
        assert_eq!(
            h.fake.subscribed(),
            vec![vec![
                "stores/s1/agents/+/events".to_owned(),
                "stores/s1/agents/+/status".to_owned(),
                "stores/s2/agents/+/events".to_owned(),
                "stores/s2/agents/+/status".to_owned()
            ]]
        );
        h.stop.send(true).unwrap();
        h.task.await.unwrap().unwrap();
    }

    #[test]
    fn a_shared_group_shares_the_events_filters_only() {
        let config = Config::parse(
            "collector_id = \"hq-1\"\nstate_dir = \"/x\"\nstores = [\"s1\"]\n[mqtt]\nshared_group = \"collectors\"\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(
            event_filters(&config),
            vec![
                "$share/collectors/stores/s1/agents/+/events".to_owned(),
                "stores/s1/agents/+/status".to_owned()
            ]
        );
    }

    #[tokio::test]
    async fn acks_of_an_old_connection_are_not_sent() {
        let h = start("[]");
        h.fake.set_epoch(2);
        h.notices
            .send(publish(
                "stores/s1/agents/a1/events",
                scans(1..=3).encode_to_vec(),
                4,
            ))
            .unwrap();
        for _ in 0..200 {
            if h.shared.lock().unwrap().state.applied_total() == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(h.shared.lock().unwrap().state.applied_total(), 3);
        assert!(h.fake.acked().is_empty());
        h.stop.send(true).unwrap();
        h.task.await.unwrap().unwrap();
    }
}
