//! The rules engine at run time: the one owner of the engine and of its commits.
//!
//! [`engine`] is pure; [`Runtime`] gives it a home in the running collector. Three writers
//! change the engine: the ingest task applying a group of events ([`Runtime::apply_group`]), the
//! evaluation timer ([`Runtime::evaluate`]) and the HTTP API acknowledging an alert
//! ([`Runtime::acknowledge`]). Each of those methods takes the commit lock, then the engine lock,
//! changes the engine, drains its changed keys and outputs, commits them durably, and hands the
//! outputs over before it lets go of the commit lock. The locks are private, so the order lives
//! here and nowhere else:
//! - two writers never commit the same key out of order;
//! - outputs leave only after the state that produced them is durable, and in the order they
//!   were produced;
//! - a group's engine keys are committed in the same sled batch as the ledger records of the
//!   events that changed them (ARCHITECTURE.md invariant 6);
//! - the delivery outbox entries of the alert changes and signals ([`crate::deliver`]) are
//!   written in that same batch, so a crash can neither lose a delivery nor invent one.
//!
//! Readers (the HTTP API) see the engine through [`Runtime::read`], under the engine lock only.
//! A backup reads the whole database through [`Runtime::snapshot`], under the commit lock: it
//! waits for the group in hand and holds the next one off only while it reads.

pub mod engine;
mod output;
mod presence;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use store_proto::v1::Alert;
use store_proto::{Event, EventBatch};
use tokio::sync::mpsc;
use tracing::{error, info};

use crate::clock::{now_ms, RulesClock};
use crate::config::{Config, OutputFormat};
use crate::deliver::Outbox as DeliveryOutbox;
use crate::history::{Actor, AuditEntry, AuditLog, Recorder};
use crate::ledger::{AgentKey, Changes, Db, DbError, Entry};
use crate::pgsink::{Feed as PgFeed, FeedEntry, FeedEvent};
use crate::rules::engine::alerts::AckError;
use crate::rules::engine::catalogue::Catalogue;
use crate::rules::engine::{BatchInfo, Engine};

pub use self::output::{
    alert_json, alert_kind_name, alert_state_name, signal_json, signal_kind_name, Output,
};
pub use self::presence::Presence;
use self::presence::Presences;

/// Stored newest event time (the event clock), beside the engine's own `intel/...` keys.
const CLOCK_KEY: &str = "intel/clock/newest";

/// Why the rules engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("catalogue {}: {message}", path.display())]
    Catalogue { path: PathBuf, message: String },
    #[error("rules: {0}")]
    Profiles(#[from] crate::rules::engine::profile::ProfileError),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Why a commit of the engine's state failed. Fatal for the ingest task: memory may be ahead of
/// disk.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Join(#[from] tokio::task::JoinError),
}

/// Why an alert could not be acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum AcknowledgeError {
    /// No active alert has that id.
    #[error(transparent)]
    NotFound(#[from] AckError),
    #[error(transparent)]
    Commit(#[from] CommitError),
}

/// The rules engine and what surrounds it at run time (see the module docs).
#[derive(Debug)]
pub struct Runtime {
    engine: Mutex<Engine>,
    /// Held across engine change → drain → commit → hand over outputs.
    commit: tokio::sync::Mutex<()>,
    db: Arc<Db>,
    /// Alerts and signals, published by their own task so a slow broker never stalls a writer.
    outputs: mpsc::UnboundedSender<Output>,
    clock: RulesClock,
    format: OutputFormat,
    catalogue_path: Option<PathBuf>,
    catalogue_mtime: Mutex<Option<SystemTime>>,
    presence: Presences,
    /// Alert changes and signals waiting for webhooks and Alertmanagers.
    deliveries: Arc<DeliveryOutbox>,
    /// History gauges; `enabled` says whether groups record their events.
    history: Arc<crate::history::Stats>,
    /// The PostgreSQL sink's feed, with `[postgres]` configured.
    pgsink: Option<Arc<PgFeed>>,
}

/// The whole database as it stood between two commit groups ([`Runtime::snapshot`]).
#[derive(Debug)]
pub struct Snapshot {
    /// Every entry, in key order.
    pub entries: Vec<Entry>,
    /// How long writers were held off while it was read.
    pub paused: std::time::Duration,
}

/// A changed `intel/...` key; `None` deletes it.
pub type KeyChange = (String, Option<Vec<u8>>);

/// The engine as one commit group sees it, inside [`Runtime::apply_group`]: events go in, the
/// locks stay out of reach.
pub struct GroupApply<'a> {
    engine: &'a mut Engine,
    runtime: &'a Runtime,
    /// The wall clock, read once for the group.
    wall_ms: i64,
    /// The group's history rows (empty with `[history] enabled = false`).
    recorder: Recorder,
    record_history: bool,
    /// The group's events for the PostgreSQL sink (only with the sink on).
    sink_events: Vec<FeedEvent>,
}

impl GroupApply<'_> {
    /// Records a batch's arrival (agent presence).
    pub fn note_batch(&self, key: &AgentKey, batch: &EventBatch) {
        self.runtime.presence.note_batch(key, batch);
    }

    /// Hands the engine an event applied for the first time.
    #[inline]
    pub fn apply(&mut self, info: BatchInfo<'_>, event: &Event) {
        let clock = &self.runtime.clock;
        clock.observe(event.wall_time_ms);
        // Per event: with the event clock, "now" moves with the events.
        self.engine.apply(info, clock.now_at(self.wall_ms), event);
        if self.record_history {
            self.recorder
                .record(info.store, info.agent, self.wall_ms, event);
        }
        if self.runtime.pgsink.is_some() {
            self.sink_events.push(FeedEvent {
                store: info.store.to_owned(),
                agent: info.agent.to_owned(),
                arrival_ms: self.wall_ms,
                event: Some(event.clone()),
            });
        }
    }
}

impl Runtime {
    /// Builds the engine from the config and restores its state from `db`. Blocking (reads the
    /// catalogue and the stored state). Outputs go to `outputs`.
    pub fn open(
        config: &Config,
        db: Arc<Db>,
        outputs: mpsc::UnboundedSender<Output>,
    ) -> Result<Runtime, RulesError> {
        let profiles = config.profiles()?;
        let (catalogue, mtime) = match &config.intel.catalogue {
            Some(path) => {
                let mtime = modified(path);
                let catalogue = Catalogue::load(path).map_err(|e| RulesError::Catalogue {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
                (catalogue, mtime)
            }
            None => (Catalogue::default(), None),
        };
        let mut engine = Engine::new(profiles, catalogue);
        let mut newest = 0;
        db.load_intel(|key, value| {
            if key == CLOCK_KEY {
                let bytes: [u8; 8] = value.try_into().map_err(|_| "bad length".to_owned())?;
                newest = i64::from_be_bytes(bytes);
                Ok(())
            } else {
                engine.load(key, value)
            }
        })?;
        let deliveries = Arc::new(DeliveryOutbox::open(&config.deliver, db.clone())?);
        let history =
            crate::history::Stats::count(db.tree(), config.history.enabled).map_err(|source| {
                RulesError::Db(DbError::Sled {
                    path: config.state_dir.join("state"),
                    source,
                })
            })?;
        let pgsink = match &config.postgres {
            Some(pg) => Some(Arc::new(
                PgFeed::open(db.tree().clone(), pg.max_backlog_bytes).map_err(|source| {
                    RulesError::Db(DbError::Sled {
                        path: config.state_dir.join("state"),
                        source,
                    })
                })?,
            )),
            None => None,
        };
        Ok(Runtime {
            pgsink,
            history: Arc::new(history),
            engine: Mutex::new(engine),
            commit: tokio::sync::Mutex::new(()),
            db,
            outputs,
            clock: RulesClock::new(config.intel.clock, newest),
            format: config.intel.format,
            catalogue_path: config.intel.catalogue.clone(),
            catalogue_mtime: Mutex::new(mtime),
            presence: Presences::default(),
            deliveries,
        })
    }

    /// Applies one commit group: `apply` feeds the group's new events to the engine and returns
    /// the ledger records they changed (its `intel` is left for the engine's changed keys, which
    /// replace it); everything is committed in one durable sled batch (blocking work off the
    /// async workers). Then the outputs are handed over. Returns the committed changes.
    pub async fn apply_group(
        &self,
        apply: impl FnOnce(&mut GroupApply<'_>) -> Changes,
    ) -> Result<Changes, CommitError> {
        let _commit = self.commit.lock().await;
        // A block, not drop(): the engine guard must visibly end before the next await.
        let (mut changes, outputs, (history_rows, history_bytes)) = {
            let mut engine = self.engine();
            let mut group = GroupApply {
                engine: &mut engine,
                runtime: self,
                wall_ms: now_ms(),
                recorder: Recorder::default(),
                record_history: self
                    .history
                    .enabled
                    .load(std::sync::atomic::Ordering::Relaxed),
                sink_events: Vec::new(),
            };
            let mut changes = apply(&mut group);
            let recorded = std::mem::take(&mut group.recorder).finish();
            let sink_events = std::mem::take(&mut group.sink_events);
            let (intel, outputs) = self.drain(&mut engine, sink_events);
            changes.intel = intel;
            changes.history = recorded.kv;
            (changes, outputs, (recorded.rows, recorded.bytes))
        };
        if !changes.is_empty() {
            let db = self.db.clone();
            // sled and fdatasync block: keep them off the async workers.
            changes = tokio::task::spawn_blocking(move || db.commit(&changes).map(|()| changes))
                .await??;
            self.history.committed(history_rows, history_bytes);
        }
        // The rows are on disk; the caller needs only the ledger records.
        changes.history = Vec::new();
        self.hand_over(outputs);
        Ok(changes)
    }

    /// Evaluates the time-based rules, commits what they changed and hands over the outputs.
    pub async fn evaluate(self: &Arc<Self>) -> Result<(), CommitError> {
        let _commit = self.commit.lock().await;
        let rules = self.clone();
        let outputs = tokio::task::spawn_blocking(move || {
            let now = rules.clock.now_ms();
            rules.engine().evaluate(now);
            rules.commit_pending(None)
        })
        .await??;
        self.hand_over(outputs);
        Ok(())
    }

    /// Acknowledges an active alert (someone at HQ is on it), commits it with its audit record
    /// (`actor` did `alert.acknowledge`) and hands over the republished alert. Returns the alert
    /// as acknowledged.
    pub async fn acknowledge(
        self: &Arc<Self>,
        id: &str,
        by: &str,
        actor: &Actor,
    ) -> Result<Alert, AcknowledgeError> {
        let _commit = self.commit.lock().await;
        let alert = self.engine().outbox.alerts.acknowledge(id, by)?;
        let entry = AuditEntry::new(
            actor,
            "alert.acknowledge",
            id,
            serde_json::json!({ "by": by, "store_id": alert.store_id, "subject": alert.subject }),
        );
        let rules = self.clone();
        let outputs = tokio::task::spawn_blocking(move || rules.commit_pending(Some(entry)))
            .await
            .map_err(CommitError::from)?
            .map_err(CommitError::from)?;
        self.hand_over(outputs);
        Ok(alert)
    }

    /// Reads every stored entry between two commit groups, for a backup: under the commit lock,
    /// so no group, evaluation or acknowledgement is half-written in what it returns. Writers
    /// wait for as long as the read takes (returned as `paused`); the copy is written to disk
    /// by the caller after the lock is released.
    ///
    /// The event history is the exception: it can be large, and its rows never change once
    /// written, so it is read after the lock is released, keeping exactly the rows of the events
    /// the copied dedup records count as applied (rows of later groups are left out; rows pruned
    /// by retention meanwhile are missing, as they would be a moment later anyway). A pack
    /// (`history::pack`) is committed whole with its dedup marks, so its key's first seq
    /// stands for all its rows.
    pub async fn snapshot(&self) -> Result<Snapshot, CommitError> {
        use crate::history::keys::{parse_time_key, TIME_PREFIX};
        let (mut entries, paused) = {
            let _commit = self.commit.lock().await;
            let started = std::time::Instant::now();
            let db = self.db.clone();
            let entries =
                tokio::task::spawn_blocking(move || db.entries_split(TIME_PREFIX)).await??;
            (entries, started.elapsed())
        };
        let db = self.db.clone();
        let rows = tokio::task::spawn_blocking(move || db.entries_under(TIME_PREFIX)).await??;
        let state = Db::state_of_entries(std::path::Path::new("snapshot"), &entries)?;
        entries.extend(rows.into_iter().filter(|(key, _)| {
            parse_time_key(key).is_some_and(|row| {
                state
                    .agents
                    .get(&AgentKey::new(row.store, row.agent))
                    .is_some_and(|agent| agent.applied().contains(row.seq))
            })
        }));
        // The order `Db::entries` lists them in (key order; other trees after the default one).
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(Snapshot { entries, paused })
    }

    /// Runs `read` on the engine (a snapshot under the engine lock; keep it short, no I/O).
    pub fn read<T>(&self, read: impl FnOnce(&Engine) -> T) -> T {
        read(&self.engine())
    }

    /// Records an agent's retained status (birth or last will); returns whether it says online.
    pub fn note_status(&self, key: AgentKey, payload: &[u8]) -> bool {
        self.presence.note_status(key, payload)
    }

    /// Whether the agent's last retained status said online.
    pub fn is_online(&self, key: &AgentKey) -> bool {
        self.presence.is_online(key)
    }

    /// Every agent's presence.
    pub fn presence(&self) -> BTreeMap<AgentKey, Presence> {
        self.presence.snapshot()
    }

    /// The delivery outbox (for the senders and `/metrics`).
    pub fn deliveries(&self) -> &Arc<DeliveryOutbox> {
        &self.deliveries
    }

    /// Now for the rules: the collector's clock, or the newest event time seen.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Re-reads the catalogue if its file changed (or always, with `force`). Blocking. A bad
    /// file is logged and the last good catalogue stays in force. Returns whether a new
    /// catalogue was taken.
    pub fn reload_catalogue_if_changed(&self, force: bool) -> Result<bool, String> {
        let Some(path) = &self.catalogue_path else {
            return Err("no catalogue configured ([intel] catalogue)".to_owned());
        };
        let mtime = modified(path);
        {
            let last = self
                .catalogue_mtime
                .lock()
                .expect("catalogue lock poisoned");
            if !force && *last == mtime {
                return Ok(false);
            }
        }
        *self
            .catalogue_mtime
            .lock()
            .expect("catalogue lock poisoned") = mtime;
        match Catalogue::load(path) {
            Ok(catalogue) => {
                // The catalogue is configuration, not committed state: no commit lock needed.
                self.engine().catalogue = catalogue;
                info!(path = %path.display(), "Catalogue reloaded.");
                Ok(true)
            }
            Err(e) => {
                error!(path = %path.display(), error = %e, "Catalogue refused; the previous one stays in force.");
                Err(e.to_string())
            }
        }
    }

    fn engine(&self) -> MutexGuard<'_, Engine> {
        self.engine.lock().expect("engine lock poisoned")
    }

    /// Takes the engine's changed state, the delivery outbox entries of its alert changes and
    /// signals and the PostgreSQL sink's feed entry (with `events`, the group's) for the commit,
    /// and its pending outputs (to hand over once the commit is durable).
    fn drain(&self, engine: &mut Engine, events: Vec<FeedEvent>) -> (Vec<KeyChange>, Vec<Output>) {
        let mut changes = engine.save();
        if let Some(newest) = self.clock.take_unsaved() {
            changes.push((CLOCK_KEY.to_owned(), Some(newest.to_be_bytes().to_vec())));
        }
        let alerts = engine.outbox.alerts.take_published();
        let signals = std::mem::take(&mut engine.outbox.signals);
        let profiles = &engine.profiles;
        changes.extend(self.deliveries.enqueue(
            &alerts,
            &signals,
            |store| profiles.get(store).region.clone(),
            now_ms(),
        ));
        if let Some(feed) = &self.pgsink {
            let mut entry = FeedEntry {
                created_ms: now_ms(),
                events,
                alerts: alerts.clone(),
                signals: signals.clone(),
                kpi_days: Vec::new(),
            };
            entry.add_kpi_changes(&changes);
            changes.extend(feed.enqueue(&entry));
        }
        let mut outputs: Vec<Output> = alerts
            .iter()
            .map(|a| output::encode_alert(self.format, a))
            .collect();
        outputs.extend(
            signals
                .iter()
                .map(|s| output::encode_signal(self.format, s)),
        );
        (changes, outputs)
    }

    /// Commits the engine's changed state and `audit`, in one batch (blocking), and returns the
    /// outputs to hand over. Only with the commit lock held.
    fn commit_pending(&self, audit: Option<AuditEntry>) -> Result<Vec<Output>, DbError> {
        let (intel, outputs) = self.drain(&mut self.engine(), Vec::new());
        let audit = match audit {
            Some(entry) => vec![entry.to_kv(self.db.generate_id()?)],
            None => Vec::new(),
        };
        let written = audit.len() as u64;
        if !intel.is_empty() || !audit.is_empty() {
            self.db.commit(&Changes {
                intel,
                audit,
                ..Changes::default()
            })?;
        }
        self.history
            .audit_written
            .fetch_add(written, std::sync::atomic::Ordering::Relaxed);
        Ok(outputs)
    }

    /// The PostgreSQL sink's feed (for the writer and `/metrics`), with `[postgres]` configured.
    pub fn pgsink(&self) -> Option<&Arc<PgFeed>> {
        self.pgsink.as_ref()
    }

    /// The database, for history and audit queries.
    pub fn db(&self) -> &Arc<Db> {
        &self.db
    }

    /// The history's gauges and counters.
    pub fn history_stats(&self) -> &Arc<crate::history::Stats> {
        &self.history
    }

    /// For audit records of actions that commit no engine state.
    pub fn audit_log(&self) -> AuditLog {
        AuditLog::new(self.db.clone(), self.history.clone())
    }

    /// Queues outputs for publishing (only with the commit lock held, after the commit).
    fn hand_over(&self, outputs: Vec<Output>) {
        self.deliveries.committed();
        if let Some(feed) = &self.pgsink {
            feed.committed();
        }
        for output in outputs {
            // The receiver is gone only when the collector is stopping.
            let _ = self.outputs.send(output);
        }
    }
}

fn modified(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}
