//! Alert lifecycle: open → acknowledged → resolved.
//!
//! Rules call [`AlertBook::raise`] and [`AlertBook::resolve`] with a *key* that names the
//! condition (e.g. `s1/stock/00012345678905`); the book keeps at most one active alert per key, so
//! a rule that keeps firing does not page twice. Raising a different kind under an active key
//! (LOW → OUT) updates the alert in place and publishes it again. Every change is queued for
//! publishing on `hq/alerts/{store}` ([`AlertBook::take_published`]) and saved as changed keys.
//! Resolved alerts are kept (bounded per store) so the API can list past alerts.

use std::collections::{BTreeMap, HashSet, VecDeque};

use prost::Message;
use store_proto::v1::{Alert, AlertKind, AlertState};

use super::persist::Persist;

/// Builds the [`Alert`] a rule raises: every field a rule sets, named, instead of a long list of
/// positional arguments (two `f64` and two `i64` side by side are easy to swap unnoticed). Id,
/// state and lifecycle times are the book's to fill in ([`AlertBook::raise`]).
#[derive(Debug, Clone)]
#[must_use]
pub struct AlertBuilder(Alert);

impl AlertBuilder {
    /// An alert of `kind` about `subject` (a GTIN, a register, a device, an agent…) in `store`.
    pub fn new(store: &str, kind: AlertKind, subject: &str, message: String) -> Self {
        AlertBuilder(Alert {
            store_id: store.to_owned(),
            kind: kind as i32,
            subject: subject.to_owned(),
            message,
            ..Alert::default()
        })
    }

    /// The observed figure and what it was judged against (a baseline or a limit).
    pub fn observed(mut self, observed: f64, baseline: f64) -> Self {
        self.0.observed = observed;
        self.0.baseline = baseline;
        self
    }

    /// A stock alert's position and the reorder point it was judged against.
    pub fn position(mut self, position: f64, reorder_point: f64) -> Self {
        self.0.position = position;
        self.0.reorder_point = reorder_point;
        self
    }

    /// The order a LOW/OUT alert suggests, in units.
    pub fn suggested_order(mut self, qty: i64) -> Self {
        self.0.suggested_order_qty = qty;
        self
    }

    /// The store a transfer suggestion takes stock from, and how much.
    pub fn transfer(mut self, from_store: &str, qty: i64) -> Self {
        self.0.from_store_id = from_store.to_owned();
        self.0.transfer_qty = qty;
        self
    }

    /// Event time of the situation the alert is about.
    pub fn at(mut self, event_time_ms: i64) -> Self {
        self.0.event_time_ms = event_time_ms;
        self
    }

    /// Whether the situation was already over when it was learned (recorded, not paged).
    pub fn retrospective(mut self, retrospective: bool) -> Self {
        self.0.retrospective = retrospective;
        self
    }

    pub fn build(self) -> Alert {
        self.0
    }
}

/// Resolved alerts kept per store for the API.
const PAST_PER_STORE: usize = 500;

/// Why an acknowledgement was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    #[error("no active alert with id {0:?}")]
    NotFound(String),
}

/// A step in an alert's life, as the KPIs count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    Raised,
    Acknowledged,
    /// Resolved at this "now" (ms).
    Resolved(i64),
}

/// Lifecycle steps kept for the KPIs between two drains; past this many, older ones are dropped
/// (the engine drains them at every save, so this only bounds a misuse).
const MAX_LIFECYCLE: usize = 10_000;

#[derive(Debug, Default)]
pub struct AlertBook {
    /// (store, step, raised at) since the last [`AlertBook::take_lifecycle`].
    lifecycle: Vec<(String, Lifecycle, i64)>,
    /// Active (open or acknowledged) alerts by key.
    active: BTreeMap<String, Alert>,
    /// Resolved alerts per store, newest last.
    past: BTreeMap<String, VecDeque<Alert>>,
    next_id: u64,
    published: Vec<Alert>,
    dirty_active: HashSet<String>,
    dirty_past: HashSet<String>,
    dirty_meta: bool,
}

impl AlertBook {
    /// Raises (or updates) the alert for `key`. `alert` carries kind, store, subject, message,
    /// numbers and times; the book fills in id and state. Returns true when something was
    /// published (a new alert, or a change of kind).
    pub fn raise(&mut self, key: &str, mut alert: Alert, now_ms: i64) -> bool {
        if let Some(existing) = self.active.get_mut(key) {
            let escalated = existing.kind != alert.kind;
            // Keep the identity and lifecycle; refresh the numbers.
            alert.id = existing.id.clone();
            alert.state = existing.state;
            alert.raised_at_ms = existing.raised_at_ms;
            alert.acknowledged_by = existing.acknowledged_by.clone();
            alert.retrospective = existing.retrospective && alert.retrospective;
            if escalated {
                alert.state = AlertState::Open as i32;
                alert.acknowledged_by.clear();
            }
            if *existing == alert {
                // Re-raised by every evaluation while the condition holds: nothing to save.
                return false;
            }
            *existing = alert;
            self.dirty_active.insert(key.to_owned());
            if escalated {
                self.published.push(existing.clone());
            }
            return escalated;
        }
        self.next_id += 1;
        self.dirty_meta = true;
        alert.id = format!("{}-{}", alert.store_id, self.next_id);
        alert.state = AlertState::Open as i32;
        alert.raised_at_ms = now_ms;
        self.note(&alert.store_id, Lifecycle::Raised, now_ms);
        self.published.push(alert.clone());
        self.active.insert(key.to_owned(), alert);
        self.dirty_active.insert(key.to_owned());
        true
    }

    /// Resolves the active alert for `key`, if any. Returns the resolved alert.
    pub fn resolve(
        &mut self,
        key: &str,
        message: impl Into<String>,
        event_time_ms: i64,
        now_ms: i64,
    ) -> Option<Alert> {
        let mut alert = self.active.remove(key)?;
        self.dirty_active.insert(key.to_owned());
        alert.state = AlertState::Resolved as i32;
        alert.resolved_at_ms = now_ms;
        alert.event_time_ms = event_time_ms;
        alert.message = message.into();
        self.note(
            &alert.store_id,
            Lifecycle::Resolved(now_ms),
            alert.raised_at_ms,
        );
        self.published.push(alert.clone());
        let past = self.past.entry(alert.store_id.clone()).or_default();
        past.push_back(alert.clone());
        while past.len() > PAST_PER_STORE {
            past.pop_front();
        }
        self.dirty_past.insert(alert.store_id.clone());
        Some(alert)
    }

    /// The active alert for `key`.
    pub fn active(&self, key: &str) -> Option<&Alert> {
        self.active.get(key)
    }

    /// Every active alert, by key.
    pub fn all_active(&self) -> impl Iterator<Item = (&str, &Alert)> {
        self.active.iter().map(|(k, a)| (k.as_str(), a))
    }

    /// Resolved alerts of one store, oldest first.
    pub fn past(&self, store: &str) -> impl Iterator<Item = &Alert> {
        self.past.get(store).into_iter().flatten()
    }

    /// Stores with resolved alerts.
    pub fn stores_with_past(&self) -> Vec<String> {
        self.past.keys().cloned().collect()
    }

    /// Acknowledges an active alert by id (someone at HQ is on it). Published again.
    pub fn acknowledge(&mut self, id: &str, by: &str) -> Result<Alert, AckError> {
        let (key, alert) = self
            .active
            .iter_mut()
            .find(|(_, a)| a.id == id)
            .ok_or_else(|| AckError::NotFound(id.to_owned()))?;
        alert.state = AlertState::Acknowledged as i32;
        alert.acknowledged_by = by.to_owned();
        self.dirty_active.insert(key.clone());
        self.published.push(alert.clone());
        let alert = alert.clone();
        self.note(&alert.store_id, Lifecycle::Acknowledged, alert.raised_at_ms);
        Ok(alert)
    }

    fn note(&mut self, store: &str, step: Lifecycle, raised_at_ms: i64) {
        if self.lifecycle.len() >= MAX_LIFECYCLE {
            self.lifecycle.remove(0);
        }
        self.lifecycle.push((store.to_owned(), step, raised_at_ms));
    }

    /// Lifecycle steps since the last call: (store, step, raised at ms).
    pub fn take_lifecycle(&mut self) -> Vec<(String, Lifecycle, i64)> {
        std::mem::take(&mut self.lifecycle)
    }

    /// Alerts changed since the last call, in order, for publishing.
    pub fn take_published(&mut self) -> Vec<Alert> {
        std::mem::take(&mut self.published)
    }

    /// Counts of active alerts of one kind (metrics).
    pub fn count_active(&self, kind: AlertKind) -> usize {
        self.active
            .values()
            .filter(|a| a.kind == kind as i32)
            .count()
    }
}

/// Saved keys: `meta` (next id), `active/{key}` (Alert), `past/{store}` (alerts, length-delimited).
impl Persist for AlertBook {
    const PART: &'static str = "alerts";

    fn save(&mut self, out: &mut Vec<(String, Option<Vec<u8>>)>) {
        if std::mem::take(&mut self.dirty_meta) {
            out.push(("meta".to_owned(), Some(self.next_id.to_be_bytes().to_vec())));
        }
        for key in self.dirty_active.drain() {
            let value = self.active.get(&key).map(|a| a.encode_to_vec());
            out.push((format!("active/{key}"), value));
        }
        for store in self.dirty_past.drain() {
            let mut buf = Vec::new();
            for a in self.past.get(&store).into_iter().flatten() {
                a.encode_length_delimited(&mut buf)
                    .expect("a Vec grows as needed");
            }
            out.push((format!("past/{store}"), Some(buf)));
        }
    }

    fn load(&mut self, key: &str, value: &[u8]) -> Result<(), String> {
        if key == "meta" {
            let bytes: [u8; 8] = value.try_into().map_err(|_| "bad length".to_owned())?;
            self.next_id = u64::from_be_bytes(bytes);
        } else if let Some(k) = key.strip_prefix("active/") {
            let alert = Alert::decode(value).map_err(|e| e.to_string())?;
            self.active.insert(k.to_owned(), alert);
        } else if let Some(store) = key.strip_prefix("past/") {
            let mut buf = value;
            let mut list = VecDeque::new();
            while !buf.is_empty() {
                list.push_back(
                    Alert::decode_length_delimited(&mut buf).map_err(|e| e.to_string())?,
                );
            }
            self.past.insert(store.to_owned(), list);
        } else {
            return Err(format!("unknown key {key:?}"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn low(store: &str) -> Alert {
        Alert {
            store_id: store.to_owned(),
            kind: AlertKind::Low as i32,
            subject: "00012345678905".to_owned(),
            ..Alert::default()
        }
    }

    #[test]
    fn one_alert_per_key_escalation_republishes_and_lifecycle_survives_a_reload() {
        let mut book = AlertBook::default();
        assert!(book.raise("s1/stock/x", low("s1"), 10));
        assert!(
            !book.raise("s1/stock/x", low("s1"), 11),
            "still the same condition"
        );
        let id = book.active("s1/stock/x").unwrap().id.clone();
        book.acknowledge(&id, "maria").unwrap();
        let out = Alert {
            kind: AlertKind::Out as i32,
            ..low("s1")
        };
        assert!(book.raise("s1/stock/x", out, 12), "LOW → OUT is news");
        let a = book.active("s1/stock/x").unwrap();
        assert_eq!(
            (a.id.as_str(), a.state),
            (id.as_str(), AlertState::Open as i32)
        );
        assert_eq!(book.take_published().len(), 3);

        let mut saved = Vec::new();
        book.save(&mut saved);
        let mut reloaded = AlertBook::default();
        for (k, v) in &saved {
            reloaded.load(k, v.as_deref().unwrap()).unwrap();
        }
        assert_eq!(reloaded.active("s1/stock/x"), book.active("s1/stock/x"));
        assert!(reloaded.raise("s1/other", low("s1"), 13));
        assert_ne!(
            reloaded.active("s1/other").unwrap().id,
            id,
            "ids are not reused"
        );

        let resolved = book.resolve("s1/stock/x", "received", 20, 21).unwrap();
        assert_eq!(resolved.state, AlertState::Resolved as i32);
        assert_eq!(book.past("s1").count(), 1);
        assert!(book.acknowledge(&id, "x").is_err());
    }
}
