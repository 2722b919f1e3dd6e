//! Retention: the oldest rows go once they are older than `[history] max_age_days` or once the
//! rows take more than `[history] max_bytes`; audit records after `audit_max_age_days`.
//!
//! Rows go a pack at a time ([`super::pack`]); a pack goes by age once its earliest row is
//! `SPAN_MS` older than the cut-off, so its newest row is older too (rows are kept up to a minute
//! past `max_age_days`, never pruned early).
//!
//! Pruning never takes the commit lock and never holds anything across batches: each step
//! deletes at most [`BATCH_ROWS`] rows (or one pack, if it is larger) in one sled batch, so a
//! commit group waits at most for one small batch. Deletions need no fdatasync: a deletion lost in a crash is
//! simply done again. "Oldest" is by event time, per store for age; for bytes, the store whose
//! oldest row is oldest loses rows first, so across stores the oldest rows go first too.

use std::sync::atomic::Ordering;

use super::keys;
use super::pack;
use super::Stats;

/// Most rows deleted in one sled batch.
pub const BATCH_ROWS: usize = 500;

const DAY_MS: i64 = 86_400_000;

/// What to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Rows with an event time older than this go (`None`: no age bound).
    pub max_age_ms: Option<i64>,
    /// Rows beyond this many bytes go, oldest first (`None`: no byte bound).
    pub max_bytes: Option<u64>,
    /// Audit records older than this go.
    pub audit_max_age_ms: Option<i64>,
}

impl Policy {
    /// From `[history]`.
    pub fn from_config(config: &crate::config::HistoryConfig) -> Policy {
        let days = |d: u64| (d > 0).then(|| d as i64 * DAY_MS);
        Policy {
            max_age_ms: days(config.max_age_days),
            max_bytes: (config.max_bytes > 0).then_some(config.max_bytes),
            audit_max_age_ms: days(config.audit_max_age_days),
        }
    }
}

/// Every store with rows, and the event time of its oldest row. One seek per store.
pub fn oldest_per_store(tree: &sled::Tree) -> Result<Vec<(String, i64)>, sled::Error> {
    let mut out = Vec::new();
    let mut from = keys::TIME_PREFIX.to_vec();
    let end = keys::prefix_end(keys::TIME_PREFIX);
    while let Some((key, _)) = tree.range(from.clone()..end.clone()).next().transpose()? {
        let Some(row) = keys::parse_time_key(&key) else {
            // Not a row key (should not exist): step over it.
            from = key.to_vec();
            from.push(0);
            continue;
        };
        out.push((row.store.to_owned(), row.time_ms));
        from = keys::prefix_end(&keys::store_prefix(row.store));
    }
    Ok(out)
}

/// Deletes `store`'s oldest packs, those filed before `before` (any when `None`), about `max`
/// rows' worth: packs are taken while they fit in `max` rows, and at least one. Returns how many
/// rows went.
pub fn prune_store(
    tree: &sled::Tree,
    stats: &Stats,
    store: &str,
    before: Option<i64>,
    max: usize,
) -> Result<usize, sled::Error> {
    let start = keys::store_prefix(store);
    let end = match before {
        Some(t) => keys::store_time_key(store, t),
        None => keys::prefix_end(&start),
    };
    let mut batch = sled::Batch::default();
    let (mut rows, mut bytes) = (0usize, 0i64);
    for item in tree.range(start..end) {
        let (key, value) = item?;
        if keys::parse_time_key(&key).is_none() {
            continue;
        }
        // A damaged value goes like any other; it counts as one row, as `Stats::count` did.
        let pack_rows = pack::parse(&key, &value).map_or(1, |p| p.rows as usize);
        if rows > 0 && rows + pack_rows > max {
            break;
        }
        bytes += (key.len() + value.len()) as i64;
        batch.remove(key.to_vec());
        rows += pack_rows;
        if rows >= max {
            break;
        }
    }
    if rows > 0 {
        tree.apply_batch(batch)?;
        stats.rows.fetch_sub(rows as i64, Ordering::Relaxed);
        stats.bytes.fetch_sub(bytes, Ordering::Relaxed);
        stats.pruned.fetch_add(rows as u64, Ordering::Relaxed);
    }
    Ok(rows)
}

/// Deletes up to `max` audit records older than `before`. Returns how many went.
pub fn prune_audit(
    tree: &sled::Tree,
    stats: &Stats,
    before: i64,
    max: usize,
) -> Result<usize, sled::Error> {
    let mut batch = sled::Batch::default();
    let mut n = 0;
    for item in tree
        .range(keys::AUDIT_PREFIX.to_vec()..keys::audit_time_key(before))
        .take(max)
    {
        let (key, _) = item?;
        batch.remove(key);
        n += 1;
    }
    if n > 0 {
        tree.apply_batch(batch)?;
        stats.audit_pruned.fetch_add(n as u64, Ordering::Relaxed);
    }
    Ok(n)
}

/// One step of a retention pass: at most one batch. Returns how many rows and records went;
/// 0 means nothing is over the policy any more (the pass is done). Blocking.
pub fn step(
    tree: &sled::Tree,
    stats: &Stats,
    policy: &Policy,
    now_ms: i64,
) -> Result<usize, sled::Error> {
    let stores = oldest_per_store(tree)?;
    stats.oldest_ms.store(
        stores.iter().map(|(_, t)| *t).min().unwrap_or(0),
        Ordering::Relaxed,
    );
    if let Some(max_age) = policy.max_age_ms {
        let cutoff = now_ms.saturating_sub(max_age);
        for (store, oldest) in &stores {
            if *oldest < cutoff {
                // A pack filed before `cutoff - SPAN_MS` holds only rows older than `cutoff`.
                let before = cutoff.saturating_sub(pack::SPAN_MS);
                let n = prune_store(tree, stats, store, Some(before), BATCH_ROWS)?;
                if n > 0 {
                    return Ok(n);
                }
            }
        }
    }
    if let Some(max_bytes) = policy.max_bytes {
        let bytes = stats.bytes.load(Ordering::Relaxed);
        if bytes > max_bytes as i64 {
            let mut by_age = stores.clone();
            by_age.sort_by_key(|(_, t)| *t);
            if let Some((store, _)) = by_age.first() {
                // About as many rows as the excess takes (not a whole batch: that would cut
                // far below the bound when rows are few and large).
                let rows = stats.rows.load(Ordering::Relaxed).max(1);
                let average = (bytes / rows).max(1);
                let excess = bytes - max_bytes as i64;
                let want = ((excess + average - 1) / average).clamp(1, BATCH_ROWS as i64) as usize;
                // Up to the next store's oldest row, so rows of several stores go in age order.
                let before = by_age.get(1).map(|(_, t)| t.saturating_add(1));
                return prune_store(tree, stats, store, before, want);
            }
        }
    }
    if let Some(max_age) = policy.audit_max_age_ms {
        return prune_audit(tree, stats, now_ms.saturating_sub(max_age), BATCH_ROWS);
    }
    Ok(0)
}

/// The retention task: a pass every `every`, for as long as the collector runs. A failed pass
/// is logged and tried again next time (pruning is never urgent enough to stop ingest).
pub async fn run(
    db: std::sync::Arc<crate::ledger::Db>,
    stats: std::sync::Arc<Stats>,
    policy: Policy,
    every: std::time::Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match pass(db.clone(), stats.clone(), policy).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(pruned = n, "History retention pruned rows."),
            Err(e) => tracing::error!(error = %e, "History retention pass failed."),
        }
    }
}

/// A whole retention pass: steps until nothing is over the policy, yielding between batches so
/// commits interleave. Returns the rows and records pruned.
pub async fn pass(
    db: std::sync::Arc<crate::ledger::Db>,
    stats: std::sync::Arc<Stats>,
    policy: Policy,
) -> Result<u64, String> {
    let mut total = 0u64;
    loop {
        let (db, stats) = (db.clone(), stats.clone());
        let n = tokio::task::spawn_blocking(move || {
            step(db.tree(), &stats, &policy, crate::clock::now_ms())
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        if n == 0 {
            return Ok(total);
        }
        total += n as u64;
        tokio::task::yield_now().await;
    }
}
