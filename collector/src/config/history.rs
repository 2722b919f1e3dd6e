//! `[history]`: the event history and audit log kept in the collector's own database.
//!
//! What is recorded and how it is queried lives in `crate::history`; this section only says
//! whether rows are kept and how long.

use serde::Deserialize;

/// `[history]`: every applied event kept with its store, agent, seq, device, times and body,
/// queryable by store and time (`GET /v1/history`), plus the audit log of HQ actions. Rows are
/// written in the same durable commit as the state they explain.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryConfig {
    /// Whether applied events are recorded. Off, ingest writes no history rows (the audit log
    /// is kept regardless: it is small and answers who changed what).
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// Rows whose event time is older than this many days are pruned (oldest first, in small
    /// batches, in the background). 0 keeps rows regardless of age.
    #[serde(default = "default_max_age_days")]
    pub max_age_days: u64,
    /// Once event rows take more than this many bytes (keys and values), the oldest are pruned
    /// until they fit again. 0 means no byte bound.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// Audit records older than this many days are pruned. 0 keeps them for good.
    #[serde(default = "default_audit_max_age_days")]
    pub audit_max_age_days: u64,
    /// How often retention runs, seconds.
    #[serde(default = "default_prune_interval_secs")]
    pub prune_interval_secs: u64,
}

fn default_enabled() -> bool {
    true
}
fn default_max_age_days() -> u64 {
    90
}
fn default_max_bytes() -> u64 {
    2 * 1024 * 1024 * 1024
}
fn default_audit_max_age_days() -> u64 {
    400
}
fn default_prune_interval_secs() -> u64 {
    60
}

pub(super) fn default_history() -> HistoryConfig {
    HistoryConfig {
        enabled: default_enabled(),
        max_age_days: default_max_age_days(),
        max_bytes: default_max_bytes(),
        audit_max_age_days: default_audit_max_age_days(),
        prune_interval_secs: default_prune_interval_secs(),
    }
}
