//! `[ingest]` and `[ack]`: what the collector accepts from agents and how it answers them.
//!
//! Both sections shape the ingest path: `[ingest]` bounds what one agent's batches may make the
//! ledger record (the limits themselves are enforced by `ledger::dedup`), `[ack]` paces the
//! commit marks the collector publishes back.

use serde::Deserialize;

/// `[ingest]`: bounds on what agents' batches may make the collector record. Whatever arrives on
/// an agent's topic is checked against them; what falls outside is refused, counted
/// (`store_collector_rejected_events_total`, `store_collector_refused_publishes_total`) and
/// logged once a minute per agent. See the `ledger::dedup` module for the rules.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Highest seq accepted from an agent, counted above its committed mark. Events beyond are
    /// refused (the agent resends them once its mark has caught up), so a forged seq can never
    /// move the mark far ahead. Must exceed any gap a genuine agent can open: its journal budget
    /// bounds that.
    #[serde(default = "default_max_seq_ahead")]
    pub max_seq_ahead: u64,
    /// Most ranges of applied seqs above an agent's committed mark (each gap behind them is one
    /// range). Once reached, events that would open another range are refused until gaps close;
    /// the agent resends them. Keeps an agent's record small and its cost per batch bounded.
    #[serde(default = "default_max_ranges_per_agent")]
    pub max_ranges_per_agent: usize,
    /// Most stores this collector keeps state for. Batches of further stores are refused
    /// (acknowledged, counted and logged), so a flood of made-up store ids cannot fill memory
    /// and disk.
    #[serde(default = "default_max_stores")]
    pub max_stores: usize,
}

fn default_max_seq_ahead() -> u64 {
    crate::ledger::dedup::DEFAULT_MAX_SEQ_AHEAD
}

fn default_max_ranges_per_agent() -> usize {
    crate::ledger::dedup::DEFAULT_MAX_RANGES_PER_AGENT
}

fn default_max_stores() -> usize {
    20_000
}

impl IngestConfig {
    /// The per-agent limits of the ledger.
    pub fn limits(&self) -> crate::ledger::dedup::Limits {
        crate::ledger::dedup::Limits {
            max_seq_ahead: self.max_seq_ahead,
            max_ranges_per_agent: self.max_ranges_per_agent,
        }
    }
}

pub(super) fn default_ingest() -> IngestConfig {
    IngestConfig {
        max_seq_ahead: default_max_seq_ahead(),
        max_ranges_per_agent: default_max_ranges_per_agent(),
        max_stores: default_max_stores(),
    }
}

/// `[ack]`: commit marks published to agents on `stores/{store}/agents/{agent}/ack`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckConfig {
    /// At most one mark per agent is published per interval (milliseconds), and only when it
    /// moved. Lower means agents free journal space sooner; higher means less broker traffic.
    #[serde(default = "default_ack_interval_ms")]
    pub interval_ms: u64,
}

fn default_ack_interval_ms() -> u64 {
    200
}

pub(super) fn default_ack() -> AckConfig {
    AckConfig {
        interval_ms: default_ack_interval_ms(),
    }
}
