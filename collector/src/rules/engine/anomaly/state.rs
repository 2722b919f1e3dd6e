//! What the anomaly rules remember per store, saved as one JSON value per store.
//!
//! The field names and their order are the saved format: state written by earlier versions must
//! keep loading, so fields are only ever added (with a serde default), never renamed or moved.
//! Each field belongs to one rule (noted on it); the rules share the struct only so a store is
//! saved as one key.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub(super) const MIN_MS: i64 = 60_000;
pub(super) const HOUR_MS: i64 = 3_600_000;
pub(super) const DAY_MS: i64 = 86_400_000;

/// One device's activity and connection state (the device rules' state).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct Device {
    pub(super) first_seen_ms: i64,
    /// Event time of the newest event from the device (status changes aside).
    pub(super) last_seen_ms: Option<i64>,
    /// Local hour starts in which the device sent events (last 7 days).
    pub(super) active_hours: BTreeSet<i64>,
    /// Event time of the DISCONNECTED not yet followed by CONNECTED.
    pub(super) disconnected_since: Option<i64>,
    /// Event time of the newest status change (older ones arriving late are ignored).
    pub(super) status_ms: i64,
    /// (hour start, regular?) of the last regularity check; recomputed once per hour.
    #[serde(skip)]
    pub(super) regular_cache: Option<(i64, bool)>,
}

/// One agent's forgery reports (the tamper rule's state), kept while its alert may be active.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct Tamper {
    /// Collector time at which the newest TAMPERED report arrived.
    pub(super) last_report_ms: i64,
    /// Reports since the alert was raised.
    pub(super) reports: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct StoreAnomaly {
    /// Oldest event time seen (how much history the returns baseline has).
    pub(super) first_seen_ms: i64,
    /// Returns rule: local hour start → returns.
    pub(super) returns: BTreeMap<i64, u32>,
    /// Returns rule: hours already recorded as retrospective returns spikes.
    pub(super) retro_returns: BTreeSet<i64>,
    /// Void-rate rule: register → minute → (transactions, voids).
    pub(super) registers: BTreeMap<String, BTreeMap<i64, (u32, u32)>>,
    /// Door-counter rule: minute → sales.
    pub(super) sales: BTreeMap<i64, u32>,
    /// Door-counter rule: event time of the newest people-counter entry.
    pub(super) last_entry_ms: Option<i64>,
    /// Device rules (offline, silent).
    pub(super) devices: BTreeMap<String, Device>,
    /// Tamper rule: agent → its forgery reports.
    #[serde(default)]
    pub(super) tamper: BTreeMap<String, Tamper>,
}
