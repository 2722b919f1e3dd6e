//! The sink feed: entries waiting for PostgreSQL in the collector's own sled database.
//!
//! # Keys
//! `pgsink/e/{seq:020}` → [`FeedEntry`] (protobuf); `pgsink/next` → the next seq (u64, big
//! endian), so numbering carries on after the feed was emptied; `pgsink/id` → this feed's id,
//! which names its progress row in PostgreSQL (a collector whose state was wiped starts a new
//! feed instead of being taken for one that already wrote its seqs).
//!
//! # Crash behaviour
//! An entry is made in the sled batch of the commit it describes ([`Feed::enqueue`] returns key
//! changes for that batch), so after a crash an applied group and its entry are both on disk or
//! neither is. The writer reads only entries whose commit returned ([`Feed::committed`]).
//! Written entries are removed without an fdatasync: one that comes back after a crash is at or
//! below the mark PostgreSQL holds, and the writer skips and removes it again.
//!
//! # Bound
//! The entries' bytes are capped by `[postgres] max_backlog_bytes`. An enqueue past the cap drops
//! the oldest entries in the same batch, counted as lost events and logged (rate-limited): a
//! PostgreSQL outage costs the sink its oldest rows, never ingest its pace. Entries leave only from
//! the front, so the feed is always the contiguous range `front..next` (less dropped entries).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use prost::Message;
use store_runtime::log_limit::LogLimit;
use tokio::sync::Notify;
use tracing::warn;

use super::entry::FeedEntry;
use crate::rules::KeyChange;

const ENTRY_PREFIX: &str = "pgsink/e/";
const NEXT_KEY: &str = "pgsink/next";
const ID_KEY: &str = "pgsink/id";

/// Counters and gauges of the sink (rendered on `/metrics`).
#[derive(Debug, Default)]
pub struct Stats {
    /// Seqs below this are in PostgreSQL (as far as this process knows).
    pub written_next: AtomicU64,
    pub events_written: AtomicU64,
    pub alert_rows_written: AtomicU64,
    pub signal_rows_written: AtomicU64,
    pub kpi_rows_written: AtomicU64,
    pub batches: AtomicU64,
    pub errors: AtomicU64,
    /// Events of entries dropped over the byte bound.
    pub lost_events: AtomicU64,
    pub dropped_entries: AtomicU64,
    /// 1 while a connection to PostgreSQL is up.
    pub connected: AtomicU64,
    /// Collector wall time of the last batch written, ms.
    pub last_write_ms: AtomicI64,
}

#[derive(Debug, Default)]
struct State {
    /// Lowest seq possibly still held.
    front: u64,
    /// Seq the next entry gets.
    next: u64,
    /// Seqs below this are committed (visible to the writer).
    durable: u64,
    /// Bytes of the entries held (values only).
    bytes: u64,
    /// Whether `pgsink/id` is on disk (or in a batch on its way there).
    id_saved: bool,
}

/// One read entry.
#[derive(Debug, Clone)]
pub struct Read {
    pub seq: u64,
    pub entry: FeedEntry,
}

/// The sink feed (see the module docs).
#[derive(Debug)]
pub struct Feed {
    tree: sled::Tree,
    id: String,
    max_bytes: u64,
    state: Mutex<State>,
    /// Woken after a commit added entries.
    pub wake: Notify,
    pub stats: Stats,
    log: Mutex<LogLimit<&'static str>>,
}

fn key(seq: u64) -> String {
    format!("{ENTRY_PREFIX}{seq:020}")
}

fn seq_of(key: &[u8]) -> Option<u64> {
    std::str::from_utf8(key.strip_prefix(ENTRY_PREFIX.as_bytes())?)
        .ok()?
        .parse()
        .ok()
}

impl Feed {
    /// The feed held in `tree`. Blocking (reads the whole feed once, for its size).
    pub fn open(tree: sled::Tree, max_bytes: u64) -> sled::Result<Feed> {
        let stored_next = tree
            .get(NEXT_KEY)?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map(u64::from_be_bytes);
        let stored_id = tree
            .get(ID_KEY)?
            .map(|v| String::from_utf8_lossy(&v).into_owned());
        let mut state = State {
            front: 1,
            next: stored_next.unwrap_or(1).max(1),
            id_saved: stored_id.is_some(),
            ..State::default()
        };
        let mut first = None;
        for item in tree.scan_prefix(ENTRY_PREFIX) {
            let (k, v) = item?;
            let Some(seq) = seq_of(&k) else { continue };
            first.get_or_insert(seq);
            state.next = state.next.max(seq + 1);
            state.bytes += v.len() as u64;
        }
        state.front = first.unwrap_or(state.next);
        state.durable = state.next;
        let stats = Stats::default();
        stats.written_next.store(state.front, Relaxed);
        Ok(Feed {
            tree,
            id: stored_id.unwrap_or_else(|| format!("{:016x}", rand::random::<u64>())),
            max_bytes,
            state: Mutex::new(state),
            wake: Notify::new(),
            stats,
            log: Mutex::new(LogLimit::default()),
        })
    }

    /// The id naming this feed's progress row in PostgreSQL.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("feed lock poisoned")
    }

    /// The key changes that add `entry` to the feed, plus removals of the oldest entries when
    /// the feed would exceed its byte bound: for the commit that makes the entry's changes
    /// durable. Only under the rules runtime's commit lock, followed by [`Feed::committed`] once
    /// the commit returned.
    pub fn enqueue(&self, entry: &FeedEntry) -> Vec<KeyChange> {
        if entry.is_empty() {
            return Vec::new();
        }
        let value = entry.encode_to_vec();
        let mut changes = Vec::with_capacity(3);
        let mut state = self.state();
        let seq = state.next;
        state.next += 1;
        state.bytes += value.len() as u64;
        changes.push((key(seq), Some(value)));
        changes.push((NEXT_KEY.to_owned(), Some(state.next.to_be_bytes().to_vec())));
        if !state.id_saved {
            state.id_saved = true;
            changes.push((ID_KEY.to_owned(), Some(self.id.as_bytes().to_vec())));
        }
        let (mut lost, mut dropped) = (0u64, 0u64);
        while state.bytes > self.max_bytes && state.front < seq {
            let front = state.front;
            state.front += 1;
            // A missing entry was trimmed (written) or dropped already: nothing to count.
            let Ok(Some(old)) = self.tree.get(key(front)) else {
                continue;
            };
            state.bytes = state.bytes.saturating_sub(old.len() as u64);
            lost += FeedEntry::decode(old.as_ref()).map_or(0, |e| e.events.len() as u64);
            dropped += 1;
            changes.push((key(front), None));
        }
        drop(state);
        if dropped > 0 {
            self.stats.lost_events.fetch_add(lost, Relaxed);
            self.stats.dropped_entries.fetch_add(dropped, Relaxed);
            let due = self.log.lock().expect("feed log lock poisoned").note(
                &"dropped",
                lost,
                tokio::time::Instant::now(),
            );
            if let Some(n) = due {
                warn!(
                    lost_events = n,
                    max_backlog_bytes = self.max_bytes,
                    "PostgreSQL sink: feed over its byte bound, oldest entries dropped (those events will be missing in PostgreSQL)"
                );
            }
        }
        changes
    }

    /// Makes the entries enqueued so far visible to the writer: their commit returned.
    pub fn committed(&self) {
        let mut state = self.state();
        if state.durable != state.next {
            state.durable = state.next;
            drop(state);
            self.wake.notify_one();
        }
    }

    /// Committed entries above `mark`, oldest first, whole entries until they hold at least
    /// `max_events` events (at least one entry). Blocking. An entry that cannot be decoded (a
    /// damaged database) is skipped, counted as lost and logged.
    pub fn read_after(&self, mark: u64, max_events: usize) -> sled::Result<Vec<Read>> {
        let durable = self.state().durable;
        let mut out = Vec::new();
        let mut events = 0;
        if mark + 1 >= durable {
            return Ok(out);
        }
        for item in self.tree.range(key(mark + 1)..key(durable)) {
            let (k, v) = item?;
            let Some(seq) = seq_of(&k) else { continue };
            match FeedEntry::decode(v.as_ref()) {
                Ok(entry) => {
                    events += entry.events.len();
                    out.push(Read { seq, entry });
                }
                Err(e) => {
                    self.stats.dropped_entries.fetch_add(1, Relaxed);
                    warn!(seq, error = %e, "PostgreSQL sink: undecodable feed entry skipped");
                    // Still returned as a placeholder so the mark moves past it.
                    out.push(Read {
                        seq,
                        entry: FeedEntry::default(),
                    });
                }
            }
            if events >= max_events {
                break;
            }
        }
        Ok(out)
    }

    /// Records that PostgreSQL holds every seq up to `mark` and removes those entries (without
    /// an fdatasync; see the module docs). Blocking.
    pub fn trim_through(&self, mark: u64) -> sled::Result<()> {
        self.stats.written_next.fetch_max(mark + 1, Relaxed);
        let front = self.state().front;
        if front > mark {
            return Ok(());
        }
        let mut sizes = Vec::new();
        for item in self.tree.range(key(front)..=key(mark)) {
            let (k, v) = item?;
            if let Some(seq) = seq_of(&k) {
                sizes.push((seq, v.len() as u64));
            }
        }
        let mut removed = Vec::with_capacity(sizes.len());
        {
            let mut state = self.state();
            for (seq, len) in sizes {
                // Below the front now: dropped meanwhile, its bytes already given back.
                if seq >= state.front {
                    state.bytes = state.bytes.saturating_sub(len);
                    removed.push(seq);
                }
            }
            state.front = state.front.max(mark + 1);
        }
        for seq in removed {
            self.tree.remove(key(seq))?;
        }
        Ok(())
    }

    /// Entries committed but not yet in PostgreSQL.
    pub fn lag_entries(&self) -> u64 {
        let durable = self.state().durable;
        durable.saturating_sub(self.stats.written_next.load(Relaxed).max(1))
    }

    /// Bytes the feed holds.
    pub fn bytes(&self) -> u64 {
        self.state().bytes
    }

    /// `created_ms` of the oldest entry not yet in PostgreSQL, if any. Blocking (one read).
    pub fn oldest_unwritten_ms(&self) -> Option<i64> {
        if self.lag_entries() == 0 {
            return None;
        }
        let from = self.stats.written_next.load(Relaxed).max(1);
        let (_, v) = self.tree.range(key(from)..).next()?.ok()?;
        FeedEntry::decode(v.as_ref()).ok().map(|e| e.created_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::super::entry::{FeedEvent, KpiDay};
    use super::*;

    fn entry(events: usize) -> FeedEntry {
        FeedEntry {
            created_ms: 1,
            events: (0..events)
                .map(|i| FeedEvent {
                    store: "s1".into(),
                    agent: "a1".into(),
                    arrival_ms: i as i64,
                    event: None,
                })
                .collect(),
            ..FeedEntry::default()
        }
    }

    fn apply(tree: &sled::Tree, changes: Vec<KeyChange>) {
        let mut batch = sled::Batch::default();
        for (k, v) in changes {
            match v {
                Some(v) => batch.insert(k.as_bytes(), v),
                None => batch.remove(k.as_bytes()),
            }
        }
        tree.apply_batch(batch).unwrap();
    }

    fn tree() -> sled::Tree {
        let db = sled::Config::new().temporary(true).open().unwrap();
        db.open_tree("t").unwrap()
    }

    #[test]
    fn only_committed_entries_are_read_and_numbering_survives_trimming() {
        let tree = tree();
        let feed = Feed::open(tree.clone(), 1 << 20).unwrap();
        assert!(feed.enqueue(&FeedEntry::default()).is_empty());
        let changes = feed.enqueue(&entry(3));
        apply(&tree, changes);
        assert!(
            feed.read_after(0, 10).unwrap().is_empty(),
            "not committed yet"
        );
        feed.committed();
        let read = feed.read_after(0, 10).unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].seq, 1);
        assert_eq!(feed.lag_entries(), 1);
        feed.trim_through(1).unwrap();
        assert_eq!(feed.lag_entries(), 0);
        assert_eq!(feed.bytes(), 0);
        // Reopened after trimming everything: seqs carry on, the id stays.
        let id = feed.id().to_owned();
        let feed = Feed::open(tree.clone(), 1 << 20).unwrap();
        assert_eq!(feed.id(), id);
        apply(&tree, feed.enqueue(&entry(1)));
        feed.committed();
        assert_eq!(feed.read_after(1, 10).unwrap()[0].seq, 2);
    }

    #[test]
    fn over_the_bound_the_oldest_entries_are_dropped_and_counted() {
        let tree = tree();
        let one = entry(100).encode_to_vec().len() as u64;
        let feed = Feed::open(tree.clone(), 3 * one).unwrap();
        for _ in 0..5 {
            apply(&tree, feed.enqueue(&entry(100)));
            feed.committed();
        }
        // Three fit; the first two were dropped.
        assert_eq!(feed.stats.lost_events.load(Relaxed), 200);
        assert_eq!(feed.stats.dropped_entries.load(Relaxed), 2);
        let read = feed.read_after(0, 1000).unwrap();
        assert_eq!(read.iter().map(|r| r.seq).collect::<Vec<_>>(), [3, 4, 5]);
        assert_eq!(feed.bytes(), 3 * one);
    }

    #[test]
    fn reads_stop_after_max_events_on_whole_entries() {
        let tree = tree();
        let feed = Feed::open(tree.clone(), 1 << 20).unwrap();
        for n in [2, 2, 2] {
            apply(&tree, feed.enqueue(&entry(n)));
        }
        let mut kpi = FeedEntry::default();
        kpi.kpi_days.push(KpiDay::default());
        apply(&tree, feed.enqueue(&kpi));
        feed.committed();
        assert_eq!(feed.read_after(0, 3).unwrap().len(), 2);
        assert_eq!(feed.read_after(2, 100).unwrap().len(), 2);
    }
}
