//! The rules engine at run time: shared handle, clock, catalogue reloads and outputs.
//!
//! [`crate::intel`] is pure; this module gives it a home in the running collector:
//! - one [`Hq`] shared by the ingest task (which applies events, evaluates on a timer and
//!   commits) and the HTTP API (which reads, and acknowledges alerts);
//! - [`Hq::commit`], an async lock held across "change the engine → save → commit → publish", so
//!   two writers never commit the same key out of order and outputs leave only after the state
//!   that produced them is durable;
//! - encoding of alerts and signals for `hq/alerts/{store}` and `hq/signals/{store}`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

use prost::Message;
use serde_json::json;
use store_proto::v1::{AgentStatus, Alert, AlertKind, AlertState, SignalKind, StaffingSignal};
use store_proto::EventBatch;
use store_runtime::clock::now_ms;
use tracing::{error, info};

use crate::config::{ClockMode, Config, OutputFormat};
use crate::intel::catalogue::Catalogue;
use crate::intel::Intel;
use crate::state::AgentKey;
use crate::store::{Changes, Store, StoreError};

/// Stored newest event time (the event clock), beside the engine's own `intel/...` keys.
const CLOCK_KEY: &str = "intel/clock/newest";

/// Why the rules engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum HqError {
    #[error("catalogue {}: {message}", path.display())]
    Catalogue { path: PathBuf, message: String },
    #[error("rules: {0}")]
    Profiles(#[from] crate::intel::profile::ProfileError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The rules engine and what surrounds it at run time.
#[derive(Debug)]
pub struct Hq {
    pub engine: Mutex<Intel>,
    /// Held across engine change → save → commit → publish (see the module docs).
    pub commit: tokio::sync::Mutex<()>,
    clock: ClockMode,
    format: OutputFormat,
    catalogue_path: Option<PathBuf>,
    catalogue_mtime: Mutex<Option<SystemTime>>,
    newest_event_ms: AtomicI64,
    /// `newest_event_ms` as last saved: the event clock survives a restart (else the rules would
    /// jump back to the wall clock until the next event).
    saved_newest_ms: AtomicI64,
    /// What HQ knows of each agent's connection (not persisted: retained statuses and the next
    /// batches rebuild it after a restart).
    presence: Mutex<BTreeMap<AgentKey, Presence>>,
}

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

impl Hq {
    /// Builds the engine from the config and restores its state from the store.
    pub fn open(config: &Config, store: &Store) -> Result<Hq, HqError> {
        let profiles = config.profiles()?;
        let (catalogue, mtime) = match &config.intel.catalogue {
            Some(path) => {
                let mtime = modified(path);
                let catalogue = Catalogue::load(path).map_err(|e| HqError::Catalogue {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
                (catalogue, mtime)
            }
            None => (Catalogue::default(), None),
        };
        let mut engine = Intel::new(profiles, catalogue);
        let mut newest = 0;
        store.load_intel(|key, value| {
            if key == CLOCK_KEY {
                let bytes: [u8; 8] = value.try_into().map_err(|_| "bad length".to_owned())?;
                newest = i64::from_be_bytes(bytes);
                Ok(())
            } else {
                engine.load(key, value)
            }
        })?;
        Ok(Hq {
            engine: Mutex::new(engine),
            commit: tokio::sync::Mutex::new(()),
            clock: config.intel.clock,
            format: config.intel.format,
            catalogue_path: config.intel.catalogue.clone(),
            catalogue_mtime: Mutex::new(mtime),
            newest_event_ms: AtomicI64::new(newest),
            saved_newest_ms: AtomicI64::new(newest),
            presence: Mutex::default(),
        })
    }

    /// An engine with defaults and no stored state (tests).
    pub fn in_memory(engine: Intel, clock: ClockMode, format: OutputFormat) -> Hq {
        Hq {
            engine: Mutex::new(engine),
            commit: tokio::sync::Mutex::new(()),
            clock,
            format,
            catalogue_path: None,
            catalogue_mtime: Mutex::new(None),
            newest_event_ms: AtomicI64::new(0),
            saved_newest_ms: AtomicI64::new(0),
            presence: Mutex::default(),
        }
    }

    /// Records an agent's retained status (birth or last will).
    pub fn note_status(&self, key: AgentKey, payload: &[u8]) {
        let mut presence = self.presence.lock().expect("presence lock poisoned");
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
    }

    /// Records a batch's arrival.
    pub fn note_batch(&self, key: &AgentKey, batch: &EventBatch) {
        let now = now_ms();
        let mut presence = self.presence.lock().expect("presence lock poisoned");
        let entry = presence.entry(key.clone()).or_default();
        entry.last_seen_ms = now;
        entry.last_batch_sent_ms = batch.sent_wall_time_ms;
        entry.draining_backlog = batch.historical;
        if !batch.historical && batch.sent_wall_time_ms > 0 {
            entry.clock_offset_ms = Some(batch.sent_wall_time_ms - now);
        }
    }

    /// Every agent's presence.
    pub fn presence(&self) -> BTreeMap<AgentKey, Presence> {
        self.presence
            .lock()
            .expect("presence lock poisoned")
            .clone()
    }

    /// Now for the rules: the collector's clock, or the newest event time seen.
    pub fn now_ms(&self) -> i64 {
        self.now_at(now_ms())
    }

    /// [`Hq::now_ms`] with the wall clock already read (once per commit group, not per event).
    pub fn now_at(&self, wall_ms: i64) -> i64 {
        match self.clock {
            ClockMode::Wall => wall_ms,
            ClockMode::Event => {
                let newest = self.newest_event_ms.load(Ordering::Relaxed);
                if newest == 0 {
                    wall_ms
                } else {
                    newest
                }
            }
        }
    }

    /// Notes an event's time (the event clock advances with it).
    pub fn observe_event_time(&self, wall_ms: i64) {
        self.newest_event_ms.fetch_max(wall_ms, Ordering::Relaxed);
    }

    /// Re-reads the catalogue if its file changed. A bad file is logged and the last good
    /// catalogue stays in force. Returns whether a new catalogue was taken.
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
                self.engine.lock().expect("engine lock poisoned").catalogue = catalogue;
                info!(path = %path.display(), "Catalogue reloaded.");
                Ok(true)
            }
            Err(e) => {
                error!(path = %path.display(), error = %e, "Catalogue refused; the previous one stays in force.");
                Err(e.to_string())
            }
        }
    }

    /// Takes the engine's changed state (for the commit) and its pending outputs (to publish
    /// once the commit is durable).
    pub fn drain(&self) -> (Vec<KeyChange>, Vec<Output>) {
        let mut engine = self.engine.lock().expect("engine lock poisoned");
        let mut changes = engine.save();
        let newest = self.newest_event_ms.load(Ordering::Relaxed);
        if self.saved_newest_ms.swap(newest, Ordering::Relaxed) != newest {
            changes.push((CLOCK_KEY.to_owned(), Some(newest.to_be_bytes().to_vec())));
        }
        let mut outputs: Vec<Output> = engine
            .outbox
            .alerts
            .take_published()
            .into_iter()
            .map(|a| self.encode_alert(&a))
            .collect();
        outputs.extend(
            std::mem::take(&mut engine.outbox.signals)
                .iter()
                .map(|s| self.encode_signal(s)),
        );
        (changes, outputs)
    }

    /// Evaluates the time-based rules, commits what changed (blocking) and returns the outputs.
    /// Call with [`Hq::commit`] held.
    pub fn evaluate_and_commit(&self, store: &Store) -> Result<Vec<Output>, StoreError> {
        let now = self.now_ms();
        self.engine
            .lock()
            .expect("engine lock poisoned")
            .evaluate(now);
        self.commit_pending(store)
    }

    /// Commits the engine's changed state (blocking) and returns the outputs to publish. Call
    /// with [`Hq::commit`] held.
    pub fn commit_pending(&self, store: &Store) -> Result<Vec<Output>, StoreError> {
        let (intel, outputs) = self.drain();
        if !intel.is_empty() {
            store.commit(&Changes {
                intel,
                ..Changes::default()
            })?;
        }
        Ok(outputs)
    }

    fn encode_alert(&self, alert: &Alert) -> Output {
        Output {
            topic: format!("hq/alerts/{}", alert.store_id),
            payload: match self.format {
                OutputFormat::Protobuf => alert.encode_to_vec(),
                OutputFormat::Json => alert_json(alert).to_string().into_bytes(),
            },
        }
    }

    fn encode_signal(&self, signal: &StaffingSignal) -> Output {
        Output {
            topic: format!("hq/signals/{}", signal.store_id),
            payload: match self.format {
                OutputFormat::Protobuf => signal.encode_to_vec(),
                OutputFormat::Json => signal_json(signal).to_string().into_bytes(),
            },
        }
    }
}

/// A changed `intel/...` key; `None` deletes it.
pub type KeyChange = (String, Option<Vec<u8>>);

/// One message for HQ.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub topic: String,
    pub payload: Vec<u8>,
}

fn modified(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// `ALERT_KIND_LOW` → `"LOW"`.
pub fn alert_kind_name(kind: i32) -> &'static str {
    AlertKind::try_from(kind)
        .map(|k| k.as_str_name().trim_start_matches("ALERT_KIND_"))
        .unwrap_or("UNSPECIFIED")
}

/// `ALERT_STATE_OPEN` → `"OPEN"`.
pub fn alert_state_name(state: i32) -> &'static str {
    AlertState::try_from(state)
        .map(|k| k.as_str_name().trim_start_matches("ALERT_STATE_"))
        .unwrap_or("UNSPECIFIED")
}

/// `SIGNAL_KIND_UNDERSTAFFED` → `"UNDERSTAFFED"`.
pub fn signal_kind_name(kind: i32) -> &'static str {
    SignalKind::try_from(kind)
        .map(|k| k.as_str_name().trim_start_matches("SIGNAL_KIND_"))
        .unwrap_or("UNSPECIFIED")
}

/// An alert as JSON: the proto's field names, enums as their short names.
pub fn alert_json(a: &Alert) -> serde_json::Value {
    json!({
        "id": a.id,
        "store_id": a.store_id,
        "kind": alert_kind_name(a.kind),
        "state": alert_state_name(a.state),
        "subject": a.subject,
        "message": a.message,
        "event_time_ms": a.event_time_ms,
        "raised_at_ms": a.raised_at_ms,
        "resolved_at_ms": a.resolved_at_ms,
        "retrospective": a.retrospective,
        "position": a.position,
        "reorder_point": a.reorder_point,
        "suggested_order_qty": a.suggested_order_qty,
        "from_store_id": a.from_store_id,
        "transfer_qty": a.transfer_qty,
        "observed": a.observed,
        "baseline": a.baseline,
        "acknowledged_by": a.acknowledged_by,
    })
}

/// A staffing signal as JSON: the proto's field names, the kind as its short name.
pub fn signal_json(s: &StaffingSignal) -> serde_json::Value {
    json!({
        "store_id": s.store_id,
        "kind": signal_kind_name(s.kind),
        "hour_start_ms": s.hour_start_ms,
        "forecast": s.forecast,
        "entries_per_hour": s.entries_per_hour,
        "needed_staff": s.needed_staff,
        "on_duty": s.on_duty,
        "message": s.message,
        "retrospective": s.retrospective,
        "event_time_ms": s.event_time_ms,
    })
}
