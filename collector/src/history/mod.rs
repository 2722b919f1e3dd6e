//! The event history and the audit log, kept in the collector's own sled database.
//!
//! Once applied, an event is folded into totals and the rules engine's state; the history keeps
//! the event itself, so HQ can ask what happened at a store in a time window, which events made
//! a stock position, and which events an alert is about. The audit log keeps who at HQ did what.
//!
//! - [`keys`]: the key layout (time index per store, audit log) and its ordering;
//! - [`pack`]: one agent's rows of one commit group in one value, and reading them back;
//! - [`record`]: a row and its JSON;
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
pub mod pack;
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

/// Collects a commit group's history rows as packs ([`pack`]): one per agent, more only where
/// a pack's bounds are reached.
#[derive(Debug, Default)]
pub struct Recorder {
    packs: Vec<pack::Builder>,
    /// The pack the last row went to (rows of one batch come one after another).
    last: usize,
    rows: u64,
}

/// A commit group's history, ready for the sled batch.
#[derive(Debug, Default)]
pub struct Recorded {
    /// Pack keys and values.
    pub kv: Vec<(Vec<u8>, Vec<u8>)>,
    /// Rows (events) in them.
    pub rows: u64,
    /// Bytes of keys and values, as [`Stats::bytes`] counts them.
    pub bytes: u64,
}

impl Recorder {
    /// Records one event applied for the first time, filed under its wall time.
    pub fn record(&mut self, store: &str, agent: &str, arrival_ms: i64, event: &Event) {
        self.rows += 1;
        let same = |p: &pack::Builder| p.store == store && p.agent == agent;
        let found = match self.packs.get(self.last) {
            Some(p) if same(p) => Some(self.last),
            _ => self.packs.iter().rposition(same),
        };
        if let Some(i) = found {
            if self.packs[i].fits(event) {
                self.packs[i].push(event);
                self.last = i;
                return;
            }
        }
        self.packs
            .push(pack::Builder::new(store, agent, arrival_ms, event));
        self.last = self.packs.len() - 1;
    }

    /// The packs' keys and values, and what they add to the stats.
    pub fn finish(self) -> Recorded {
        let mut bytes = 0u64;
        let kv: Vec<(Vec<u8>, Vec<u8>)> = self
            .packs
            .into_iter()
            .map(|p| {
                let (key, value) = p.finish();
                bytes += (key.len() + value.len()) as u64;
                (key, value)
            })
            .collect();
        Recorded {
            kv,
            rows: self.rows,
            bytes,
        }
    }
}

/// Gauges and counters of the history, for `/metrics`.
#[derive(Debug, Default)]
pub struct Stats {
    /// Whether rows are recorded (`[history] enabled`).
    pub enabled: AtomicBool,
    /// Event rows stored (events, not packs).
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
    /// Counts what is stored (at start-up: one pass over the history's keys, reading each
    /// pack's header, not its rows). Blocking.
    pub fn count(tree: &sled::Tree, enabled: bool) -> Result<Stats, sled::Error> {
        let stats = Stats::default();
        stats.enabled.store(enabled, Ordering::Relaxed);
        let (mut rows, mut bytes) = (0i64, 0i64);
        for item in tree.scan_prefix(keys::TIME_PREFIX) {
            let (key, value) = item?;
            // A damaged value still takes its bytes; it counts as one row.
            rows += pack::parse(&key, &value).map_or(1, |p| i64::from(p.rows));
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
