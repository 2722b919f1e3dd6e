//! The event history and the audit log, kept in the collector's own sled database.
//!
//! Once applied, an event is folded into totals and the rules engine's state; the history keeps
//! the event itself, so HQ can ask what happened at a store in a time window, which events made
//! a stock position, and which events an alert is about. The audit log keeps who at HQ did what.
//!
//! - [`keys`]: the key layout (time index per store, audit log) and its ordering;
//! - [`record`]: a row's bytes and its JSON;
//! - [`time`]: RFC 3339 and millisecond times in queries and exports;
//! - [`query`]: time-range pages with filters and cursors, and single rows;
//! - [`audit`]: audit records, [`audit::AuditLog::record`] and audit pages;
//! - [`retention`]: pruning by age and bytes in small batches;
//! - [`export`]: CSV and JSON Lines;
//! - [`cli`]: `store-collector history`, from the database or the running collector.
//!
//! # Written with the state it explains
//! Rows are built while a commit group is applied ([`Recorder`], fed by
//! [`crate::rules::GroupApply::apply`] for each event applied for the first time) and go into
//! the group's [`crate::ledger::Changes`], so [`crate::ledger::Db::commit`] writes them in the
//! same sled batch as the dedup marks and the engine state (ARCHITECTURE.md invariant 9): after
//! a crash the history holds exactly the applied events, and a duplicate, never applied twice,
//! is never recorded twice.

pub mod audit;
pub mod cli;
pub mod export;
pub mod keys;
pub mod query;
pub mod record;
pub mod retention;
#[cfg(test)]
mod tests;
pub mod time;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use store_proto::Event;

pub use self::audit::{Actor, AuditEntry, AuditLog};
pub use self::query::{Page, Query, QueryError};
pub use self::record::Row;

/// Size of one row in the byte count: its key and its value.
fn row_bytes(time_key: usize, value: usize) -> u64 {
    (time_key + value) as u64
}

/// Collects a commit group's history rows, as key/value pairs ready for the sled batch.
#[derive(Debug, Default)]
pub struct Recorder {
    pub(crate) kv: Vec<(Vec<u8>, Vec<u8>)>,
    pub(crate) rows: u64,
    pub(crate) bytes: u64,
}

impl Recorder {
    /// Records one event applied for the first time, filed under its wall time.
    pub fn record(&mut self, store: &str, agent: &str, arrival_ms: i64, event: &Event) {
        let key = keys::RowKey {
            store,
            time_ms: event.wall_time_ms,
            agent,
            seq: event.seq,
        };
        let time_key = key.time_key();
        let value = record::encode(arrival_ms, event);
        self.bytes += row_bytes(time_key.len(), value.len());
        self.rows += 1;
        // One key per event: a second (agent, seq) index key doubled the sled inserts of every
        // commit for a lookup that no request path needs (see `query::event`).
        self.kv.push((time_key, value));
    }
}

/// Gauges and counters of the history, for `/metrics`.
#[derive(Debug, Default)]
pub struct Stats {
    /// Whether rows are recorded (`[history] enabled`).
    pub enabled: AtomicBool,
    /// Event rows stored.
    pub rows: AtomicI64,
    /// Bytes of event rows (keys and values).
    pub bytes: AtomicI64,
    /// Event time of the oldest row, ms (0: none), as of the last retention pass.
    pub oldest_ms: AtomicI64,
    /// Event rows pruned since start.
    pub pruned: AtomicU64,
    /// Audit records pruned since start.
    pub audit_pruned: AtomicU64,
    /// Audit records written since start.
    pub audit_written: AtomicU64,
    /// History and audit queries refused as malformed since start.
    pub refused_queries: AtomicU64,
    /// One log line per minute about refused queries.
    refused_log: std::sync::Mutex<store_runtime::log_limit::LogLimit<&'static str>>,
}

impl Stats {
    /// Counts what is stored (at start-up: one pass over the history's keys). Blocking.
    pub fn count(tree: &sled::Tree, enabled: bool) -> Result<Stats, sled::Error> {
        let stats = Stats::default();
        stats.enabled.store(enabled, Ordering::Relaxed);
        let (mut rows, mut bytes) = (0i64, 0i64);
        for item in tree.scan_prefix(keys::TIME_PREFIX) {
            let (key, value) = item?;
            rows += 1;
            bytes += (key.len() + value.len()) as i64;
        }
        stats.rows.store(rows, Ordering::Relaxed);
        stats.bytes.store(bytes, Ordering::Relaxed);
        Ok(stats)
    }

    /// Counts a refused query, and logs it at most once a minute.
    pub fn refused_query(&self, reason: &str) {
        self.refused_queries.fetch_add(1, Ordering::Relaxed);
        let now = tokio::time::Instant::now();
        let mut limit = self.refused_log.lock().expect("log limit lock poisoned");
        if let Some(n) = limit.note(&"query", 1, now) {
            tracing::warn!(refused = n, last_reason = %reason, "History or audit queries refused.");
        }
    }

    /// Adds a committed group's rows.
    pub fn committed(&self, rows: u64, bytes: u64) {
        self.rows.fetch_add(rows as i64, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as i64, Ordering::Relaxed);
    }
}
