//! The durable outbox: one sled entry per (alert state change or signal, matching destination),
//! written in the same commit as the engine change that produced it, removed once the
//! destination answered 2xx.
//!
//! # Keys
//! `deliver/{destination}/{seq:020}` → [`Stored`] (JSON). `seq` counts per destination and
//! orders its entries; they are assigned under the rules runtime's commit lock, so key order is
//! the order the changes were made.
//!
//! # Crash behaviour
//! An entry is made in the sled batch of the state change ([`Outbox::enqueue`] returns key
//! changes for that batch), so after a crash an alert change and its deliveries are both on disk
//! or neither is. A sender only sees entries whose commit returned ([`Outbox::committed`]), so it
//! never delivers a change that a crash could still undo. A delivered entry is removed without
//! an fdatasync: a removal lost in a crash means the entry is sent again, which the idempotency
//! key makes harmless (at least once, deduplicated by the receiver).
//!
//! # Bound
//! Each destination keeps at most `max_entries`; enqueueing past that drops the oldest entries
//! in the same batch, counted in `store_collector_delivery_dropped_total` and logged (rate
//! limited). Entries are removed only from the front (delivered in order, or dropped oldest
//! first), so a destination's entries are always the contiguous range `front..next`.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use store_proto::v1::{Alert, StaffingSignal};
use store_runtime::log_limit::LogLimit;
use tokio::sync::Notify;
use tracing::warn;

use super::filter::{Filter, IT_KINDS};
use super::{alertmanager, payload};
use crate::config::DeliverConfig;
use crate::ledger::{Db, DbError};
use crate::rules::KeyChange;

const PREFIX: &str = "deliver/";

/// What a destination speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// Signed JSON, one alert or signal per request.
    Webhook,
    /// Alertmanager API v2 (an array holding the one alert).
    Alertmanager { generator_url: String },
}

/// Counters and gauges of one destination (rendered on `/metrics`).
#[derive(Debug, Default)]
pub struct Metrics {
    pub delivered: AtomicU64,
    pub failed_attempts: AtomicU64,
    pub dropped: AtomicU64,
    /// `created_ms` of the entry at the head, 0 when empty.
    pub oldest_created_ms: AtomicI64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Queue {
    /// Lowest seq still held.
    front: u64,
    /// Seq the next entry gets.
    next: u64,
    /// Seqs below this are committed (visible to the sender).
    durable: u64,
}

/// One destination's share of the outbox.
#[derive(Debug)]
pub struct Destination {
    pub name: String,
    pub format: Format,
    filter: Filter,
    max_entries: u64,
    queue: Mutex<Queue>,
    /// Woken after a commit added entries.
    pub wake: Notify,
    pub metrics: Metrics,
}

impl Destination {
    /// Entries held (delivered ones leave, dropped ones too).
    pub fn depth(&self) -> u64 {
        let q = self.queue();
        q.next - q.front
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().expect("outbox lock poisoned")
    }

    fn key(&self, seq: u64) -> String {
        format!("{PREFIX}{}/{seq:020}", self.name)
    }

    fn prefix(&self) -> String {
        format!("{PREFIX}{}/", self.name)
    }

    /// Whether `alert` (of a store in `region`) goes here.
    pub fn wants_alert(&self, alert: &Alert, region: &str) -> bool {
        self.filter.alert(alert, region)
    }
}

/// An entry as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stored {
    /// `X-Store-Edge-Idempotency-Key`.
    pub key: String,
    /// The alert id (empty for signals), for logs.
    pub alert: String,
    /// Collector wall time when the change was committed.
    pub created_ms: i64,
    /// The request body.
    pub body: String,
}

/// An entry ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub seq: u64,
    pub stored: Stored,
}

/// Every destination's outbox.
#[derive(Debug)]
pub struct Outbox {
    db: Arc<Db>,
    destinations: Vec<Arc<Destination>>,
    drop_log: Mutex<LogLimit<String>>,
}

impl Outbox {
    /// The destinations of `config`, with their entries found in `db`. Blocking (reads sled).
    pub fn open(config: &DeliverConfig, db: Arc<Db>) -> Result<Outbox, DbError> {
        let mut destinations = Vec::new();
        for w in &config.webhook {
            destinations.push((
                w.name.clone(),
                Format::Webhook,
                Filter::new(&w.filter(), &[]),
                w.max_entries,
            ));
        }
        for a in &config.alertmanager {
            destinations.push((
                a.name.clone(),
                Format::Alertmanager {
                    generator_url: a.generator_url.clone(),
                },
                Filter::new(&a.filter(), &IT_KINDS),
                a.max_entries,
            ));
        }
        let mut out = Vec::new();
        for (name, format, filter, max_entries) in destinations {
            let mut d = Destination {
                name,
                format,
                filter,
                max_entries,
                queue: Mutex::new(Queue::default()),
                wake: Notify::new(),
                metrics: Metrics::default(),
            };
            let prefix = d.prefix();
            let first = db.edge_under(&prefix, false)?;
            let last = db.edge_under(&prefix, true)?;
            if let (Some((first, _)), Some((last, _))) = (first, last) {
                let seq = |k: &str| k[prefix.len()..].parse::<u64>().unwrap_or(0);
                let q = Queue {
                    front: seq(&first),
                    next: seq(&last) + 1,
                    durable: seq(&last) + 1,
                };
                *d.queue.get_mut().expect("fresh lock") = q;
            }
            out.push(Arc::new(d));
        }
        Ok(Outbox {
            db,
            destinations: out,
            drop_log: Mutex::new(LogLimit::default()),
        })
    }

    pub fn destinations(&self) -> &[Arc<Destination>] {
        &self.destinations
    }

    /// The outbox entries for these changes (in the order given), plus removals of the oldest
    /// entries of destinations over their cap: key changes for the commit that makes the
    /// changes durable. Only under the rules runtime's commit lock, followed by
    /// [`Outbox::committed`] once the commit returned.
    pub fn enqueue(
        &self,
        alerts: &[Alert],
        signals: &[StaffingSignal],
        region: impl Fn(&str) -> String,
        now_ms: i64,
    ) -> Vec<KeyChange> {
        let mut changes = Vec::new();
        if self.destinations.is_empty() {
            return changes;
        }
        for d in &self.destinations {
            let mut q = d.queue();
            let mut push = |key: String, alert: String, body: Vec<u8>| {
                let stored = Stored {
                    key,
                    alert,
                    created_ms: now_ms,
                    body: String::from_utf8(body).expect("serde_json writes UTF-8"),
                };
                let value = serde_json::to_vec(&stored).expect("plain struct serialises");
                changes.push((d.key(q.next), Some(value)));
                q.next += 1;
            };
            for a in alerts {
                let r = region(&a.store_id);
                if !d.filter.alert(a, &r) {
                    continue;
                }
                let body = match &d.format {
                    Format::Webhook => payload::alert_body(a, &r),
                    Format::Alertmanager { generator_url } => {
                        alertmanager::body([a], generator_url)
                    }
                };
                push(payload::alert_key(a), a.id.clone(), body);
            }
            if d.format == Format::Webhook {
                for s in signals {
                    let r = region(&s.store_id);
                    if d.filter.signal(&s.store_id, &r) {
                        push(
                            payload::signal_key(s),
                            String::new(),
                            payload::signal_body(s, &r),
                        );
                    }
                }
            }
            let over = (q.next - q.front).saturating_sub(d.max_entries);
            if over > 0 {
                for seq in q.front..q.front + over {
                    changes.push((d.key(seq), None));
                }
                q.front += over;
                d.metrics.dropped.fetch_add(over, Ordering::Relaxed);
                let now = tokio::time::Instant::now();
                let due = self
                    .drop_log
                    .lock()
                    .expect("log lock poisoned")
                    .note(&d.name, over, now);
                if let Some(total) = due {
                    warn!(
                        destination = %d.name,
                        dropped = total,
                        max_entries = d.max_entries,
                        "Delivery outbox full: the oldest entries were dropped undelivered."
                    );
                }
            }
        }
        changes
    }

    /// The entries enqueued so far are durable: senders may see them.
    pub fn committed(&self) {
        for d in &self.destinations {
            let mut q = d.queue();
            if q.durable != q.next {
                q.durable = q.next;
                drop(q);
                d.wake.notify_one();
            }
        }
    }

    /// The oldest committed entry of `d`. Blocking (a sled read, usually from its cache).
    pub fn head(&self, d: &Destination) -> Result<Option<Entry>, DbError> {
        let prefix = d.prefix();
        loop {
            let durable = d.queue().durable;
            let Some((key, value)) = self.db.edge_under(&prefix, false)? else {
                d.metrics.oldest_created_ms.store(0, Ordering::Relaxed);
                return Ok(None);
            };
            let seq = key[prefix.len()..].parse::<u64>().ok();
            let stored = serde_json::from_slice::<Stored>(&value).ok();
            let (Some(seq), Some(stored)) = (seq, stored) else {
                // Not written by this code: removed rather than blocking the destination.
                warn!(destination = %d.name, key = %key, "Unreadable delivery outbox entry removed.");
                self.db.remove_unsynced(&key)?;
                d.metrics.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            if seq >= durable {
                return Ok(None);
            }
            d.metrics
                .oldest_created_ms
                .store(stored.created_ms, Ordering::Relaxed);
            return Ok(Some(Entry { seq, stored }));
        }
    }

    /// `seq` of `d` was delivered: it leaves the outbox. Blocking.
    pub fn delivered(&self, d: &Destination, seq: u64) -> Result<(), DbError> {
        self.db.remove_unsynced(&d.key(seq))?;
        let mut q = d.queue();
        q.front = q.front.max(seq + 1);
        d.metrics.delivered.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::ledger::Changes;
    use store_proto::v1::{AlertKind, AlertState};

    fn config(max_entries: u64) -> DeliverConfig {
        let text = format!(
            "collector_id = \"hq-1\"\nstate_dir = \"/tmp/x\"\n\
             [[deliver.webhook]]\nname = \"erp\"\nurl = \"http://127.0.0.1/\"\nsecret_file = \"k\"\n\
             kinds = [\"LOW\", \"OUT\"]\nmax_entries = {max_entries}\ninclude_signals = true\n\
             [[deliver.alertmanager]]\nname = \"it\"\nurl = \"http://127.0.0.1:9093\"\n"
        );
        Config::parse(&text, "t").unwrap().deliver
    }

    fn alert(n: u32, kind: AlertKind) -> Alert {
        Alert {
            id: format!("s1-{n}"),
            store_id: "s1".into(),
            kind: kind as i32,
            state: AlertState::Open as i32,
            ..Alert::default()
        }
    }

    fn commit(db: &Db, intel: Vec<KeyChange>) {
        db.commit(&Changes {
            intel,
            ..Changes::default()
        })
        .unwrap();
    }

    #[test]
    fn filters_route_entries_and_only_committed_ones_are_sent_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (db, _) = Db::open(&dir.path().join("state")).unwrap();
        let db = Arc::new(db);
        let outbox = Outbox::open(&config(100), db.clone()).unwrap();
        let [erp, it] = [&outbox.destinations()[0], &outbox.destinations()[1]];
        let signal = StaffingSignal {
            store_id: "s1".into(),
            ..StaffingSignal::default()
        };
        let changes = outbox.enqueue(
            &[
                alert(1, AlertKind::Low),
                alert(2, AlertKind::DeviceOffline),
                alert(3, AlertKind::Out),
            ],
            std::slice::from_ref(&signal),
            |_| "north".to_owned(),
            1_000,
        );
        // erp: LOW, OUT and the signal; it: DEVICE_OFFLINE (its default IT kinds).
        assert_eq!(changes.len(), 4);
        assert_eq!((erp.depth(), it.depth()), (3, 1));
        commit(&db, changes);
        assert_eq!(outbox.head(erp).unwrap(), None, "not handed over yet");
        outbox.committed();

        let first = outbox.head(erp).unwrap().unwrap();
        assert_eq!(first.stored.key, "s1-1:LOW:OPEN");
        assert_eq!(first.stored.created_ms, 1_000);
        outbox.delivered(erp, first.seq).unwrap();
        let second = outbox.head(erp).unwrap().unwrap();
        assert_eq!(second.stored.key, "s1-3:OUT:OPEN");
        let am = outbox.head(it).unwrap().unwrap();
        let body: serde_json::Value = serde_json::from_str(&am.stored.body).unwrap();
        assert_eq!(body[0]["labels"]["kind"], "DEVICE_OFFLINE");

        // A restart finds what is left, in the same order, and numbers on after it.
        drop(outbox);
        let outbox = Outbox::open(&config(100), db.clone()).unwrap();
        let erp = &outbox.destinations()[0];
        assert_eq!(erp.depth(), 2);
        assert_eq!(outbox.head(erp).unwrap().unwrap(), second);
        let changes = outbox.enqueue(&[alert(4, AlertKind::Low)], &[], |_| String::new(), 2);
        assert_eq!(changes[0].0, format!("deliver/erp/{:020}", second.seq + 2));
    }

    #[test]
    fn the_cap_drops_the_oldest_in_the_same_batch_and_counts_them() {
        let dir = tempfile::tempdir().unwrap();
        let (db, _) = Db::open(&dir.path().join("state")).unwrap();
        let db = Arc::new(db);
        let outbox = Outbox::open(&config(3), db.clone()).unwrap();
        let erp = outbox.destinations()[0].clone();
        for n in 1..=5 {
            let changes = outbox.enqueue(&[alert(n, AlertKind::Low)], &[], |_| String::new(), 0);
            commit(&db, changes);
            outbox.committed();
        }
        assert_eq!(erp.depth(), 3);
        assert_eq!(erp.metrics.dropped.load(Ordering::Relaxed), 2);
        let head = outbox.head(&erp).unwrap().unwrap();
        assert_eq!(head.stored.key, "s1-3:LOW:OPEN", "the two oldest went");
        // On disk too: a reopened outbox holds exactly three.
        let outbox = Outbox::open(&config(3), db).unwrap();
        assert_eq!(outbox.destinations()[0].depth(), 3);
        // One batch larger than the cap keeps its newest entries only.
        let many: Vec<Alert> = (10..20).map(|n| alert(n, AlertKind::Out)).collect();
        let changes = outbox.enqueue(&many, &[], |_| String::new(), 0);
        let removed = changes.iter().filter(|(_, v)| v.is_none()).count();
        assert_eq!((removed, outbox.destinations()[0].depth()), (10, 3));
    }
}
