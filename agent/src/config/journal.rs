//! `[journal]`: the size and pacing of the local durable buffer.
//!
//! These bound what a store can hold while HQ is unreachable (`max_bytes`) and how far seq
//! numbering may jump after a quarantined journal (`seq_reserve`); the journal module owns what
//! they mean.

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

impl Default for JournalConfig {
    fn default() -> Self {
        Self {
            max_bytes: default_max_bytes(),
            group_max_events: default_group_max_events(),
            cache_bytes: default_cache_bytes(),
            seq_reserve: default_seq_reserve(),
        }
    }
}
