//! Ingest: how a batch gets in, from the broker to its PUBACK and commit mark.
//!
//! Every notice from the polling task ([`mqtt`]) arrives at the loop here, in order. Publishes
//! are taken in groups: all that are immediately available, up to [`MAX_GROUP`] publishes and
//! [`MAX_GROUP_BYTES`] of payload. A group costs
//! one sled batch and one flush + fdatasync, however many events it holds, which is what makes
//! high event rates possible. The path of a batch, one module per step:
//! - [`mqtt`]: the MQTT session (connection, polling task, manual PUBACKs by epoch);
//! - [`decode`]: topic → agent (ids checked, stores capped), payload → batch;
//! - `group`: dedup and apply through the [`crate::ledger`], rules through
//!   [`crate::rules::Runtime::apply_group`], one durable commit, then PUBACKs;
//! - [`acks`]: the coalesced commit-mark publisher;
//! - [`gaps`]: logging of missing seqs;
//! - `ids`: which store and agent ids are accepted;
//! - `filters`: what to subscribe to, and what an earlier configuration left behind.
//!
//! The loop also runs the timers: gap staleness, rule evaluation and catalogue reloads, so every
//! writer of the ledger lives on this one task.

pub mod acks;
pub mod decode;
#[cfg(test)]
pub(crate) mod fake_mqtt;
mod filters;
pub mod gaps;
mod group;
mod ids;
pub mod mqtt;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use store_proto::topics;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{debug, info};

use self::acks::AckCommand;
use self::decode::Decoder;
pub use self::filters::event_filters;
use self::gaps::GapTracker;
pub use self::ids::{valid_id, MAX_ID_LEN};
use self::mqtt::{status_payload, Mqtt, MqttError, Notice};
use crate::clock::now_ms;
use crate::config::Config;
use crate::ledger::{AgentKey, Db, DbError, Limits, Mark, Shared};
use crate::rules::{CommitError, Runtime};

/// Most publishes committed together. Large, because a group's cost is dominated by the
/// records it writes, and a stock position touched by many events of a group is written once:
/// when the collector falls behind, bigger groups are how it catches up (1024 agent batches of
/// 500 events are about 45 MiB of payload in hand).
pub const MAX_GROUP: usize = 1024;

/// Most payload bytes committed together (a group closes once it holds this much). A group is
/// one sled batch under one epoch guard: every node version it replaces stays allocated until the
/// batch ends, so a group of 1024 batches from 1,000 stores (about 500,000 events) peaked at
/// 4.4 GiB of RSS; groups of a few MiB keep memory flat and still amortise the fdatasync over tens
/// of thousands of events.
pub const MAX_GROUP_BYTES: usize = 4 << 20;

/// How often open gaps are checked for staleness.
const GAP_CHECK_EVERY: Duration = Duration::from_secs(5);

/// Why the ingest loop stopped early. All are fatal for the process.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Mqtt(#[from] MqttError),
    #[error("commit task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("the MQTT polling task stopped")]
    PollingStopped,
}

impl From<CommitError> for IngestError {
    fn from(e: CommitError) -> Self {
        match e {
            CommitError::Db(e) => IngestError::Db(e),
            CommitError::Join(e) => IngestError::Join(e),
        }
    }
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
    shared: Shared,
    acks: mpsc::UnboundedSender<AckCommand>,
    collector_id: String,
    /// Event filters to subscribe to on every CONNACK.
    filters: Vec<String>,
    /// Filters of earlier configurations: the persistent session may still hold them.
    stale_filters: Vec<String>,
    decoder: Decoder,
    /// What one agent's events may make the ledger record.
    limits: Limits,
    gaps: GapTracker,
    rules: Arc<Runtime>,
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

impl<M: Mqtt> Ingest<M> {
    /// Prepares the loop. Records the configured filters in `db` (blocking, at start-up), so the
    /// filters of this configuration are unsubscribed once a later one drops them.
    pub fn new(
        config: &Config,
        mqtt: M,
        db: &Db,
        shared: Shared,
        acks: mpsc::UnboundedSender<AckCommand>,
        rules: Arc<Runtime>,
    ) -> Result<Self, DbError> {
        let filters = event_filters(config);
        let stale_filters = filters::record(db, &filters)?;
        // Gaps left open by the previous run are news too.
        let mut gaps = GapTracker::default();
        let mut known_stores: Vec<String> =
            rules.presence().into_keys().map(|k| k.store_id).collect();
        {
            let live = shared.lock().expect("state lock poisoned");
            let now = Instant::now();
            for (key, agent) in &live.state.agents {
                gaps.update(key, &agent.gaps(), now);
                known_stores.push(key.store_id.clone());
            }
            known_stores.extend(live.state.stores.keys().cloned());
        }
        Ok(Self {
            mqtt,
            shared,
            acks,
            collector_id: config.collector_id.clone(),
            filters,
            stale_filters,
            decoder: Decoder::new(config, known_stores),
            limits: config.ingest.limits(),
            gaps,
            rules,
            evaluate_every: Duration::from_millis(config.intel.evaluate_interval_ms),
            catalogue_check_every: Duration::from_secs(config.intel.catalogue_check_secs.max(1)),
        })
    }

    /// Hands agents' statuses and command results to the command book as well.
    pub fn with_commands(mut self, inbox: crate::command::Inbox) -> Self {
        self.decoder = self.decoder.with_commands(inbox);
        self
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
                            self.rules.evaluate().await?;
                            continue;
                        }
                        Wake::CatalogueCheck => {
                            let rules = self.rules.clone();
                            // A refused file is logged inside; the last good one stays.
                            let _ = tokio::task::spawn_blocking(move || {
                                rules.reload_catalogue_if_changed(false)
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
                    let mut bytes = first.publish.payload.len();
                    let mut group = vec![first];
                    while group.len() < MAX_GROUP && bytes < MAX_GROUP_BYTES {
                        match notices.try_recv() {
                            Ok(Notice::Publish(p)) => {
                                bytes += p.publish.payload.len();
                                group.push(p);
                            }
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
}
