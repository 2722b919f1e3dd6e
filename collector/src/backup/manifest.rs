//! `manifest.json`: what a backup holds and how to check it.
//!
//! Two digests: `content_sha256` covers the database's entries (what the collector will load),
//! `files` covers each file byte for byte (what sits on the backup disk). A restore checks both,
//! and compares the restored agents' marks with `agents`.

use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::files::hex;
use super::BackupError;
use crate::ledger::{Entry, State};

/// The value of `format`: tells a collector backup from any other directory with a manifest.
pub const FORMAT: &str = "store-collector-backup";
/// The layout described here; a restore refuses any other.
pub const FORMAT_VERSION: u32 = 1;
/// The manifest's file name inside a backup.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The database's directory inside a backup.
pub const STATE_DIR: &str = "state";
/// A manifest lists one line per agent; this is far above any chain's size and keeps a
/// hostile or mistaken file from filling memory.
const MAX_MANIFEST_BYTES: u64 = 64 << 20;

/// The manifest of one backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`FORMAT_VERSION`] for backups this collector writes.
    pub format_version: u32,
    /// Version of the `store-collector` that wrote it.
    pub collector_version: String,
    /// When the content was read, UTC, RFC 3339.
    pub created_at: String,
    /// The same, as Unix milliseconds.
    pub created_at_ms: i64,
    /// `collector_id` of the collector whose state this is.
    pub collector_id: String,
    /// Taken from a running collector (true) or from a stopped one's directory (false).
    pub online: bool,
    /// How long ingest waited while the content was read, in microseconds (0 offline).
    pub ingest_paused_us: u64,
    /// Entry counts.
    pub counts: Counts,
    /// Every agent's marks, sorted by store and agent id.
    pub agents: Vec<AgentMark>,
    /// SHA-256 of the entries, see [`content_digest`].
    pub content_sha256: String,
    /// Every file of `state/`, with size and SHA-256.
    pub files: Vec<FileDigest>,
}

/// How much a backup holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Database entries (keys).
    pub entries: u64,
    /// Agents with a dedup record.
    pub agents: u64,
    /// Stores with totals.
    pub stores: u64,
    /// Rules-engine entries (`intel/...`).
    pub intel: u64,
    /// Distinct seqs applied, over all agents.
    pub applied_events: u64,
}

/// One agent's marks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentMark {
    pub store_id: String,
    pub agent_id: String,
    /// Every seq up to here is applied or settled: the mark agents get after a restore.
    pub committed_seq: u64,
    /// Highest seq applied.
    pub highest_seq: u64,
    /// Distinct seqs applied.
    pub applied_count: u64,
}

/// One file of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    /// Relative to the backup directory, `/`-separated.
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

impl Manifest {
    /// Reads `{dir}/manifest.json`; a missing, oversized or unreadable file, or another format
    /// or version, is [`BackupError::Damaged`].
    pub fn read(dir: &Path) -> Result<Manifest, BackupError> {
        let path = dir.join(MANIFEST_FILE);
        let damaged = |reason: String| BackupError::Damaged {
            path: dir.to_owned(),
            reason,
        };
        let file = std::fs::File::open(&path)
            .map_err(|e| damaged(format!("cannot open {MANIFEST_FILE}: {e}")))?;
        let mut text = Vec::new();
        file.take(MAX_MANIFEST_BYTES + 1)
            .read_to_end(&mut text)
            .map_err(|e| damaged(format!("cannot read {MANIFEST_FILE}: {e}")))?;
        if text.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(damaged(format!(
                "{MANIFEST_FILE} is larger than {MAX_MANIFEST_BYTES} bytes"
            )));
        }
        // The marker first, so a foreign JSON file says so instead of naming a missing field.
        let head: serde_json::Value = serde_json::from_slice(&text)
            .map_err(|e| damaged(format!("{MANIFEST_FILE} is not JSON: {e}")))?;
        if head.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(damaged(format!(
                "{MANIFEST_FILE} is not a store-collector backup manifest"
            )));
        }
        let version = head.get("format_version").and_then(|v| v.as_u64());
        if version != Some(u64::from(FORMAT_VERSION)) {
            return Err(damaged(format!(
                "backup format version {version:?} is not supported (this collector reads {FORMAT_VERSION})"
            )));
        }
        serde_json::from_value(head).map_err(|e| damaged(format!("{MANIFEST_FILE}: {e}")))
    }

    /// The manifest as written to disk (pretty: operators read it).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a manifest always serialises")
    }
}

/// SHA-256 over every entry in order, each as key length (u64 BE), key, value length, value:
/// no two different contents hash the same bytes.
pub fn content_digest(entries: &[Entry]) -> String {
    let mut hasher = Sha256::new();
    for (k, v) in entries {
        hasher.update((k.len() as u64).to_be_bytes());
        hasher.update(k);
        hasher.update((v.len() as u64).to_be_bytes());
        hasher.update(v);
    }
    hex(&hasher.finalize())
}

/// Counts and marks of `entries`, whose ledger state is `state`.
pub fn summarise(entries: &[Entry], state: &State) -> (Counts, Vec<AgentMark>) {
    let counts = Counts {
        entries: entries.len() as u64,
        agents: state.agents.len() as u64,
        stores: state.stores.len() as u64,
        intel: entries
            .iter()
            .filter(|(k, _)| k.starts_with(b"intel/"))
            .count() as u64,
        applied_events: state.agents.values().map(|a| a.applied_count()).sum(),
    };
    let mut agents: Vec<AgentMark> = state
        .agents
        .iter()
        .map(|(key, a)| AgentMark {
            store_id: key.store_id.clone(),
            agent_id: key.agent_id.clone(),
            committed_seq: a.committed_seq(),
            highest_seq: a.highest_seq(),
            applied_count: a.applied_count(),
        })
        .collect();
    // The state's map is unordered; the manifest lists agents by store, then agent.
    agents.sort_by(|a, b| (&a.store_id, &a.agent_id).cmp(&(&b.store_id, &b.agent_id)));
    (counts, agents)
}

/// `ms` since the Unix epoch as RFC 3339 UTC with milliseconds, e.g. `2026-03-01T09:30:00.250Z`.
pub fn rfc3339(ms: i64) -> String {
    let (date, secs) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (y, m, d) = date_of(date);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs / 3_600_000,
        secs / 60_000 % 60,
        secs / 1000 % 60,
        secs % 1000
    )
}

/// `ms` as `20260301T093000Z`: a timestamp that fits in a file name.
pub fn compact_utc(ms: i64) -> String {
    let text = rfc3339(ms);
    let mut out: String = text[..19]
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    out.push('Z');
    out
}

/// The proleptic Gregorian date `days` after 1970-01-01, counted in 400-year eras of 146 097
/// days starting on a 1 March, so the leap day falls at the end of each era's year.
fn date_of(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}
