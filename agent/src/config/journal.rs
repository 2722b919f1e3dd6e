//! `[journal]`: the size and pacing of the local durable buffer.
//!
//! These bound what a store can hold while HQ is unreachable (`max_bytes`) and how far seq
//! numbering may jump after a quarantined journal (`seq_reserve`), and how much of what the
//! collector committed is kept for refilling a restored HQ (`retain_age_secs`,
//! `retain_max_bytes`); the journal module owns what they mean.

use serde::Deserialize;

/// `[journal]`: the local durable buffer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalConfig {
    /// Byte budget for events held (key + value bytes; sled's files take about 2-3x that on
    /// disk). When full, the journal sheds by class and records a DataLoss event.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// Most events made durable by one fdatasync (group commit).
    #[serde(default = "default_group_max_events")]
    pub group_max_events: usize,
    /// Memory sled may use to cache the journal's pages, in bytes.
    #[serde(default = "default_cache_bytes")]
    pub cache_bytes: u64,
    /// Seqs reserved ahead in the reservation file per fsync; bounds how far seq numbering jumps
    /// after a quarantined journal.
    #[serde(default = "default_seq_reserve")]
    pub seq_reserve: u64,
    /// How long events the collector committed stay in the journal (by their `wall_time_ms`), so
    /// a collector restored from a backup can be refilled from here. Seconds.
    #[serde(default = "default_retain_age_secs")]
    pub retain_age_secs: u64,
    /// Most bytes of committed events kept for that; must be below `max_bytes`, which counts
    /// them too (they are shed first when it is full). 0 disables retention: committed events
    /// are deleted as soon as the collector's mark passes them. Unset: 256 MiB, or half of
    /// `max_bytes` when that is smaller (so a small budget set before retention existed stays
    /// valid); read it through [`JournalConfig::retain_max_bytes`].
    #[serde(default)]
    pub retain_max_bytes: Option<u64>,
}

fn default_max_bytes() -> u64 {
    512 * 1024 * 1024
}
fn default_group_max_events() -> usize {
    4096
}
fn default_cache_bytes() -> u64 {
    32 * 1024 * 1024
}
fn default_seq_reserve() -> u64 {
    100_000
}
fn default_retain_age_secs() -> u64 {
    7 * 24 * 3600
}
/// `retain_max_bytes` when the file does not set it (capped at half of `max_bytes`).
pub const DEFAULT_RETAIN_MAX_BYTES: u64 = 256 * 1024 * 1024;

impl JournalConfig {
    /// The retention byte limit in effect (0: retention off).
    pub fn retain_max_bytes(&self) -> u64 {
        self.retain_max_bytes
            .unwrap_or_else(|| DEFAULT_RETAIN_MAX_BYTES.min(self.max_bytes / 2))
    }
}

impl Default for JournalConfig {
    fn default() -> Self {
        Self {
            max_bytes: default_max_bytes(),
            group_max_events: default_group_max_events(),
            cache_bytes: default_cache_bytes(),
            seq_reserve: default_seq_reserve(),
            retain_age_secs: default_retain_age_secs(),
            retain_max_bytes: None,
        }
    }
}
