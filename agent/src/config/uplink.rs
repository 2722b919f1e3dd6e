//! `[uplink]`: batching, flow control and recovery of the link to the broker.
//!
//! `AgentConfig::validate` rejects a zero batch limit, in-flight window, stall timeout or first
//! reconnect delay, and an inverted reconnect range: each would stall or spin the uplink.

use serde::Deserialize;

/// `[uplink]`: batching, flow control and recovery.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UplinkConfig {
    /// Most events in one MQTT message.
    #[serde(default = "default_batch_max_events")]
    pub batch_max_events: usize,
    /// How long live events may wait for a batch to fill (ms); 0 sends each at once.
    #[serde(default = "default_linger_ms")]
    pub linger_ms: u64,
    /// Most bytes of events in one MQTT message.
    #[serde(default = "default_batch_max_bytes")]
    pub batch_max_bytes: usize,
    /// Batches published and not yet acknowledged by the broker (PUBACK).
    #[serde(default = "default_max_inflight")]
    pub max_inflight: usize,
    /// When a collector is online but its committed mark stays behind what the broker has
    /// acknowledged for this long, the broker lost batches (crash, wipe): resend from the mark.
    #[serde(default = "default_stall_timeout_secs")]
    pub stall_timeout_secs: u64,
    /// A backlog of at least this many events (after an outage or restart) is drained as
    /// `historical` batches beside the live ones, so new events are not stuck behind it.
    #[serde(default = "default_backlog_threshold_events")]
    pub backlog_threshold_events: u64,
    /// Optional cap on the drain rate of historical batches, in events per second; 0 (the
    /// default) = no cap: the backlog takes whatever the link and HQ leave after live events,
    /// bounded by `drain_window_events`.
    #[serde(default = "default_backlog_events_per_sec")]
    pub backlog_events_per_sec: u64,
    /// Most historical events out at a time: published and not yet under the collector's
    /// committed mark. A live batch queues at HQ behind at most this many, so it bounds live
    /// latency during a drain (about this many events' processing time at HQ), while the drain
    /// runs as fast as the collector's marks come back. Historical batches also leave a quarter
    /// of `max_inflight` free for live ones.
    #[serde(default = "default_drain_window_events")]
    pub drain_window_events: u64,
    /// First reconnect delay; doubles per failure up to `reconnect_max_ms`, with full jitter.
    #[serde(default = "default_reconnect_min_ms")]
    pub reconnect_min_ms: u64,
    #[serde(default = "default_reconnect_max_ms")]
    pub reconnect_max_ms: u64,
    /// While a reconnect wait is longer than this (ms), the broker's port is probed with a bare
    /// TCP connect about this often (jittered ±50 %), and the agent reconnects within one more
    /// such interval (uniform, so a fleet does not arrive in step) once it accepts: the store is
    /// not left blind for the rest of a long backoff. 0 turns probing off.
    #[serde(default = "default_reconnect_probe_ms")]
    pub reconnect_probe_ms: u64,
}

fn default_batch_max_events() -> usize {
    500
}
fn default_linger_ms() -> u64 {
    5
}
fn default_batch_max_bytes() -> usize {
    256 * 1024
}
fn default_max_inflight() -> usize {
    32
}
fn default_stall_timeout_secs() -> u64 {
    30
}
fn default_backlog_threshold_events() -> u64 {
    10_000
}
fn default_backlog_events_per_sec() -> u64 {
    0
}
fn default_drain_window_events() -> u64 {
    20_000
}
fn default_reconnect_min_ms() -> u64 {
    250
}
fn default_reconnect_max_ms() -> u64 {
    30_000
}
fn default_reconnect_probe_ms() -> u64 {
    1_000
}

impl Default for UplinkConfig {
    fn default() -> Self {
        Self {
            batch_max_events: default_batch_max_events(),
            linger_ms: default_linger_ms(),
            batch_max_bytes: default_batch_max_bytes(),
            max_inflight: default_max_inflight(),
            stall_timeout_secs: default_stall_timeout_secs(),
            backlog_threshold_events: default_backlog_threshold_events(),
            backlog_events_per_sec: default_backlog_events_per_sec(),
            drain_window_events: default_drain_window_events(),
            reconnect_min_ms: default_reconnect_min_ms(),
            reconnect_max_ms: default_reconnect_max_ms(),
            reconnect_probe_ms: default_reconnect_probe_ms(),
        }
    }
}
