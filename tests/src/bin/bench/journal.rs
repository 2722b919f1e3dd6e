//! `journal`: the agent's journal alone, in process, at several group sizes, next to the disk's
//! own rate of small synchronous writes measured on the same filesystem in the same run.
//!
//! Each group size runs for `--journal-secs`: groups of that many events appended and made
//! durable (one `Journal::append` each: sled flush and fdatasync) one after the other. The disk
//! baseline writes 4 KiB at a time to one file and calls fdatasync after each write: the most
//! durable commits per second this filesystem gives one writer. A journal group commit per second
//! close to that rate means the journal spends its time waiting for the disk.

use std::io::{Seek, SeekFrom, Write};
use std::time::{Duration, Instant};

use store_agent::config::JournalConfig;
use store_agent::journal::Journal;
use store_proto::v1::FootTraffic;
use store_proto::{Body, Event};
use store_tests::benchkit::{metric, Metric};

use crate::Opts;

/// Group sizes measured, with their metric names (names are static in the suite).
pub const GROUPS: &[(u64, &str, &str)] = &[
    (1, "g1_events_per_sec", "g1_commits_per_sec"),
    (16, "g16_events_per_sec", "g16_commits_per_sec"),
    (256, "g256_events_per_sec", "g256_commits_per_sec"),
    (4096, "g4096_events_per_sec", "g4096_commits_per_sec"),
];

pub fn journal(opts: &Opts) -> Result<Vec<Metric>, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let secs = Duration::from_secs_f64(opts.journal_secs);
    // Before and after the journal: the machine is shared, its disk's rate moves.
    let before = disk_fdatasync_rate(dir.path(), secs / 2)?;
    let mut out = Vec::new();
    for &(group, events_name, commits_name) in GROUPS {
        let sub = dir.path().join(format!("g{group}"));
        let (events, commits, took) = journal_rate(&sub, group, secs)?;
        let s = took.as_secs_f64();
        out.push(metric(events_name, "events/s", events as f64 / s));
        out.push(metric(commits_name, "commits/s", commits as f64 / s));
    }
    let after = disk_fdatasync_rate(dir.path(), secs / 2)?;
    out.push(metric(
        "disk_fdatasyncs_per_sec",
        "fdatasync/s",
        (before + after) / 2.0,
    ));
    Ok(out)
}

/// Appends groups of `group` events for about `secs`: (events, groups, time taken).
fn journal_rate(
    dir: &std::path::Path,
    group: u64,
    secs: Duration,
) -> Result<(u64, u64, Duration), String> {
    let (mut journal, _reader, _) =
        Journal::open(dir, JournalConfig::default()).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let (mut i, mut groups) = (0u64, 0u64);
    while groups == 0 || started.elapsed() < secs {
        let out = journal
            .append((i..i + group).map(event).collect())
            .map_err(|e| e.to_string())?;
        if out.iter().any(|r| r.is_err()) {
            return Err("journal refused events".into());
        }
        i += group;
        groups += 1;
    }
    Ok((i, groups, started.elapsed()))
}

fn event(i: u64) -> Event {
    Event {
        device_id: "door-1".into(),
        wall_time_ms: 1_700_000_000_000 + i as i64,
        body: Some(Body::FootTraffic(FootTraffic {
            counter_id: "door-1".into(),
            line: "main".into(),
            entries: 1,
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// 4 KiB write + fdatasync, over and over for about `secs`, cycling over 1 MiB of one file
/// written and synced beforehand (so each fdatasync flushes data, not new block allocations).
fn disk_fdatasync_rate(dir: &std::path::Path, secs: Duration) -> Result<f64, String> {
    let path = dir.join("fdatasync-probe");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(&vec![0u8; 1 << 20])
        .and_then(|_| f.sync_all())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let block = [0x5Au8; 4096];
    let started = Instant::now();
    let mut n = 0u64;
    while n == 0 || started.elapsed() < secs {
        f.seek(SeekFrom::Start((n % 256) * 4096))
            .and_then(|_| f.write_all(&block))
            .and_then(|_| f.sync_data())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        n += 1;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}
