//! The journal: every event is made durable here before anything downstream sees it, and stays
//! until a collector says it has committed it, and then for the retention window (see
//! [`retain`]), so a collector restored from a backup can be refilled.
//!
//! # On-disk format
//! `{state_dir}/journal/` is a sled database with one tree (the default one):
//! - event entries: key = `seq` as 8 big-endian bytes (so sled's order is seq order), value =
//!   one class tag byte ([`EventClass::tag`]) followed by the protobuf-encoded `Event` (whose
//!   `seq` field equals the key);
//! - one meta entry, key = `[0xFF; 8] ++ b"next_seq"` (longer than 8 bytes, so it sorts after every
//!   event key), value = the next seq to issue, 8 big-endian bytes. It is written in the same
//!   atomic batch as the events it accounts for.
//! - meta `[0xFF; 8] ++ b"acked"`: the highest committed mark this journal has seen (8 bytes BE).
//!   Held seqs at or below it are *retained*, the rest *unacknowledged*. Written (not fsynced)
//!   when a mark arrives: a crash that undoes it only makes events be sent once more.
//! - meta `[0xFF; 8] ++ b"retain_floor"`: every seq below it is no longer held (8 bytes BE).
//!   Written in the same atomic batch as the retention deletions that move it.
//!
//! `{state_dir}/seq.reserved` (see [`seqfile`]) reserves seqs ahead, outside the journal folder,
//! so seq numbering survives a journal that has to be quarantined.
//!
//! # Invariants
//! - A group of events is acknowledged to its sources (and published to the uplink through the
//!   durable head) only after sled's `flush()` **and** an fdatasync of sled's data file: sled's
//!   flush uses sync_file_range, which does not survive a power cut (sled#1452).
//! - `seq` is strictly increasing and never reused: after a normal restart it continues from the
//!   meta entry; after a quarantine from the reservation file.
//! - An unacknowledged entry (above the acked mark) is deleted only by the byte-budget policy,
//!   which records every deleted seq in a `DataLoss` event written in the same atomic batch.
//! - A retained entry (at or below the acked mark) is deleted oldest first only: when older than
//!   `retain_age_secs`, while retained bytes exceed `retain_max_bytes`, and first of all when
//!   `max_bytes` (retained plus unacknowledged) needs room. That is no DataLoss (the collector had
//!   it); it moves the retention floor, so "which seqs are no longer held" is always exact: below
//!   the floor, none. With `retain_max_bytes = 0` the mark deletes at once (floor = mark + 1).
//! - Retained events cost no memory per event (chunk aggregates, see [`retain`]); each
//!   enforcement step outside budget pressure deletes at most [`retain::STEP_EVENTS`], and a
//!   mark is applied at most that many events per step, so appends never wait long.
//! - The floor is at least the lowest held seq at open: after a quarantine, nothing issued
//!   before the new journal is claimed to be held.
//! - A journal that cannot be opened is moved to `{state_dir}/quarantine/` and replaced; the agent
//!   never crash-loops on it (opening and quarantine live in `open.rs`).

mod budget;
mod index;
pub mod inspect;
mod open;
pub mod retain;
pub mod seqfile;
mod writer;

pub use writer::{run_writer, JournalInput};

use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use prost::Message;
use sled::IVec;
use store_drivers::{clock, RecordError};
use store_proto::{Body, Event, EventClass, SeqSet};
use tokio::sync::watch;
use tracing::warn;

use crate::config::JournalConfig;
use index::Index;
use retain::{Goal, Planner, Retained};
use seqfile::SeqFile;

const META_NEXT_SEQ: &[u8] = b"\xff\xff\xff\xff\xff\xff\xff\xffnext_seq";
const META_ACKED: &[u8] = b"\xff\xff\xff\xff\xff\xff\xff\xffacked";
const META_FLOOR: &[u8] = b"\xff\xff\xff\xff\xff\xff\xff\xffretain_floor";

/// Device id of events the agent itself produces.
pub const AGENT_DEVICE_ID: &str = "agent";

/// Why the journal could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal at {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("journal at {path}: {source}")]
    Sled { path: PathBuf, source: sled::Error },
    #[error("journal at {path}: corrupt: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    /// Another process (or a journal not yet closed in this one) holds the journal. Never a
    /// reason to quarantine: the journal is fine, it is in use.
    #[error("journal at {path} is in use by another process (is another store-agent running with this state_dir?)")]
    Locked { path: PathBuf },
}

/// Counters shared with the uplink, status and metrics.
#[derive(Debug, Default)]
pub struct JournalStats {
    pub bytes: AtomicU64,
    pub entries: AtomicU64,
    pub head: AtomicU64,
    /// The acked mark: the highest committed mark seen (persisted).
    pub trimmed_through: AtomicU64,
    /// Committed events kept for refilling a restored collector, and their bytes.
    pub retained_events: AtomicU64,
    pub retained_bytes: AtomicU64,
    /// Every seq below it is no longer held.
    pub retain_floor: AtomicU64,
    pub shed_events: AtomicU64,
    pub coalesced_events: AtomicU64,
    pub rejected_events: AtomicU64,
    /// Events appended since start, by kind, in the order of [`KINDS`].
    pub appended: [AtomicU64; KINDS.len()],
}

/// Event kinds counted in [`JournalStats::appended`].
pub const KINDS: [&str; 6] = [
    "scan",
    "pos_transaction",
    "foot_traffic",
    "device_status",
    "data_loss",
    "unknown",
];

fn kind_slot(body: Option<&Body>) -> usize {
    let name = store_proto::kind_name(body);
    KINDS
        .iter()
        .position(|k| *k == name)
        .unwrap_or(KINDS.len() - 1)
}

/// What happened while opening.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// Where a journal that failed to open was moved.
    pub quarantined_to: Option<PathBuf>,
    /// Next seq the journal will issue.
    pub next_seq: u64,
    /// Events found in the journal.
    pub held: u64,
}

/// The writable journal. Owned by one writer (see [`run_writer`]); methods block on disk I/O.
pub struct Journal {
    path: PathBuf,
    db: sled::Db,
    data_file: File,
    index: Index,
    next_seq: u64,
    seqfile: SeqFile,
    cfg: JournalConfig,
    trimmed_through: u64,
    retained: retain::Retained,
    floor: u64,
    head_tx: watch::Sender<u64>,
    stats: Arc<JournalStats>,
    /// Events the agent itself must record first (e.g. a quarantine's DataLoss).
    internal: Vec<Event>,
}

/// Read access for the uplink: events up to the durable head.
#[derive(Clone)]
pub struct JournalReader {
    db: sled::Db,
    head: watch::Receiver<u64>,
    stats: Arc<JournalStats>,
}

impl std::fmt::Debug for JournalReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalReader")
            .field("head", &*self.head.borrow())
            .finish()
    }
}

fn key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

impl Journal {
    /// Appends events durably, in order. Each gets its seq, or an error when the byte budget
    /// cannot make room even after shedding everything sheddable. Returns only after fdatasync.
    pub fn append(
        &mut self,
        events: Vec<Event>,
    ) -> Result<Vec<Result<u64, RecordError>>, JournalError> {
        let mut events = events;
        let internal = std::mem::take(&mut self.internal);
        let n_internal = internal.len();
        let mut all = internal;
        all.append(&mut events);
        for ev in &mut all {
            if ev.boot_id.is_empty() {
                ev.boot_id = clock::boot_id().to_owned();
            }
        }
        // Upper estimate of each entry: the seq varint (<= 10), class tag and 8-byte key.
        let sizes: Vec<u64> = all.iter().map(|e| e.encoded_len() as u64 + 19).collect();
        let incoming: u64 = sizes.iter().sum();
        let mut plan = budget::ShedPlan::default();
        if self.total_bytes() + incoming > self.cfg.max_bytes {
            // Retained events were delivered: they go before anything the collector lacks.
            let need = self.total_bytes() + incoming - self.cfg.max_bytes;
            self.enforce_retention(need, usize::MAX)?;
        }
        if self.total_bytes() + incoming > self.cfg.max_bytes {
            let need = self.total_bytes() + incoming - self.cfg.max_bytes;
            plan = budget::shed(&self.db, &mut self.index, need)?;
        }
        // Whatever still does not fit is refused (newest first); the sources hear "err". The
        // DataLoss record itself is exempt: the budget may be exceeded by those few bytes.
        let mut accepted = all.len();
        let mut total = self.total_bytes() + incoming;
        while total > self.cfg.max_bytes && accepted > n_internal {
            accepted -= 1;
            total -= sizes[accepted];
        }
        let refused = all.len() - accepted;
        if refused > 0 {
            self.stats
                .rejected_events
                .fetch_add(refused as u64, Ordering::Relaxed);
            warn!(
                refused,
                max_bytes = self.cfg.max_bytes,
                "Journal budget exhausted by events that may not be shed; refusing new events."
            );
        }
        let mut to_write: Vec<Event> = all.drain(..accepted).collect();
        if let Some(loss) = plan.loss_event() {
            to_write.push(loss);
        }
        if to_write.is_empty() && plan.is_empty() {
            return Ok(refusals(refused));
        }

        let first = self.next_seq;
        let last = first + to_write.len() as u64 - 1;
        self.seqfile
            .ensure(last, self.cfg.seq_reserve, self.trimmed_through)
            .map_err(|source| JournalError::Io {
                path: self.path.clone(),
                source,
            })?;
        let mut entries = Vec::with_capacity(to_write.len());
        let mut kinds = [0u64; KINDS.len()];
        let mut values = Vec::with_capacity(to_write.len());
        for (i, mut ev) in to_write.into_iter().enumerate() {
            let seq = first + i as u64;
            ev.seq = seq;
            let class = EventClass::of(ev.body.as_ref());
            let mut value = Vec::with_capacity(ev.encoded_len() + 1);
            value.push(class.tag());
            ev.encode(&mut value).expect("Vec grows as needed");
            entries.push((seq, class, (value.len() + 8) as u32));
            kinds[kind_slot(ev.body.as_ref())] += 1;
            values.push((seq, value));
        }
        let written = if plan.is_empty() {
            // The common path: plain inserts are much cheaper in sled than a batch, and a group
            // needs no atomicity: nothing in it is acknowledged or published before the sync.
            self.insert_all(values, last)
        } else {
            // Removals and the DataLoss event that accounts for them must land together.
            let mut batch = sled::Batch::default();
            for (seq, value) in values {
                batch.insert(&key(seq), value);
            }
            // Rewrites before removes: a merged event may itself be dropped in the same plan.
            for (seq, value) in &plan.rewrites {
                batch.insert(&key(*seq), value.clone());
            }
            for seq in &plan.removes {
                batch.remove(&key(*seq));
            }
            batch.insert(META_NEXT_SEQ, &(last + 1).to_be_bytes());
            self.db.apply_batch(batch).map_err(|e| self.sled_err(e))
        };
        // On failure the seqs are issued again by the next group, overwriting whatever part of
        // this one reached sled: none of it was acknowledged or published, and skipping them
        // would leave a gap the collector waits on forever.
        written?;
        self.sync()?;
        self.next_seq = last + 1;
        for (seq, class, bytes) in entries {
            self.index.push(seq, class, bytes);
        }
        for (counter, n) in self.stats.appended.iter().zip(kinds) {
            counter.fetch_add(n, Ordering::Relaxed);
        }
        self.stats
            .shed_events
            .fetch_add(plan.dropped_total(), Ordering::Relaxed);
        self.stats
            .coalesced_events
            .fetch_add(plan.coalesced_total(), Ordering::Relaxed);
        if !plan.is_empty() {
            warn!(
                dropped = plan.dropped_total(),
                coalesced = plan.coalesced_total(),
                max_bytes = self.cfg.max_bytes,
                "Journal byte budget full: shed events (recorded in a DataLoss event)."
            );
        }
        let _ = self.head_tx.send(last);
        self.retention_step();
        self.publish_stats();
        let mut out: Vec<Result<u64, RecordError>> = (0..accepted - n_internal)
            .map(|i| Ok(first + (n_internal + i) as u64))
            .collect();
        out.extend(refusals(refused));
        Ok(out)
    }

    /// The collector committed every event `<= mark`: they become retained (or, with retention
    /// off, are deleted). Not fsynced: should a crash undo it, the events are sent again and the
    /// collector drops them as duplicates. Returns how many events left the unacknowledged set.
    pub fn trim(&mut self, mark: u64) -> Result<u64, JournalError> {
        let mut total = 0;
        loop {
            let (n, done) = self.trim_step(mark, retain::STEP_EVENTS)?;
            total += n;
            if done {
                return Ok(total);
            }
        }
    }

    /// One bounded step of [`Journal::trim`]: at most `max_events` events, so appends wait
    /// little behind a mark that covers a long backlog. Returns the events committed and whether
    /// the journal has reached `mark`.
    pub fn trim_step(&mut self, mark: u64, max_events: usize) -> Result<(u64, bool), JournalError> {
        if mark <= self.trimmed_through {
            return Ok((0, true));
        }
        let from = self.trimmed_through.saturating_add(1);
        // Scan sled, not the index, so nothing can linger unaccounted; the values give each
        // event's time for the age limit.
        let mut taken: Vec<(u64, u32, i64)> = Vec::new();
        let mut to = mark;
        for item in self.db.range(key(from)..=key(mark)) {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            if k.len() != 8 {
                continue;
            }
            let seq = u64::from_be_bytes(k.as_ref().try_into().expect("8 bytes"));
            if taken.len() >= max_events.max(1) {
                to = seq - 1;
                break;
            }
            // An event that cannot be decoded is kept as long as a fresh one.
            let wall = Event::decode(&v[1..])
                .map(|e| e.wall_time_ms)
                .unwrap_or_else(|_| clock::reported_ms());
            taken.push((seq, (v.len() + 8) as u32, wall));
        }
        let removed = self.index.remove_through(to).len() as u64;
        if self.cfg.retain_max_bytes() == 0 {
            self.delete_committed(from, to)?;
        } else {
            for (seq, bytes, wall) in taken {
                self.retained.add(seq, bytes, wall);
            }
            self.db
                .insert(META_ACKED, &to.to_be_bytes())
                .map_err(|e| self.sled_err(e))?;
        }
        self.trimmed_through = to;
        self.stats.trimmed_through.store(to, Ordering::Relaxed);
        self.retention_step();
        self.publish_stats();
        Ok((removed, to == mark))
    }

    /// Retention off: deletes `from..=mark` at once, with the acked mark and the floor.
    fn delete_committed(&mut self, from: u64, mark: u64) -> Result<(), JournalError> {
        let mut batch = sled::Batch::default();
        for k in self.db.range(key(from)..=key(mark)).keys() {
            let k = k.map_err(|e| self.sled_err(e))?;
            if k.len() == 8 {
                batch.remove(k);
            }
        }
        // Retained events of an earlier run with retention on go too.
        for k in self.db.range(key(0)..key(from)).keys() {
            let k = k.map_err(|e| self.sled_err(e))?;
            if k.len() == 8 {
                batch.remove(k);
            }
        }
        self.retained = Retained::new(self.cfg.retain_age_secs);
        let floor = mark + 1;
        batch.insert(META_ACKED, &mark.to_be_bytes());
        batch.insert(META_FLOOR, &floor.to_be_bytes());
        self.db.apply_batch(batch).map_err(|e| self.sled_err(e))?;
        self.floor = floor;
        Ok(())
    }

    /// One bounded retention step (age and byte limits); a failure is logged, retried later.
    pub fn retention_step(&mut self) {
        if let Err(e) = self.enforce_retention(0, retain::STEP_EVENTS) {
            warn!(error = %e, "Journal retention step failed; will retry.");
        }
    }

    /// Deletes retained events oldest first: expired ones, those over `retain_max_bytes`, and
    /// at least `need` bytes; at most `max_events`. The deletions and the new floor land in one
    /// atomic batch. Returns the bytes freed.
    pub fn enforce_retention(&mut self, need: u64, max_events: usize) -> Result<u64, JournalError> {
        let age_ms =
            i64::try_from(self.cfg.retain_age_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        let goal = Goal {
            need,
            max_bytes: self.cfg.retain_max_bytes(),
            expire_before_ms: clock::reported_ms().saturating_sub(age_ms),
            max_events,
        };
        if self.retained.events() == 0 || (need == 0 && !self.retained.due(&goal)) {
            return Ok(0);
        }
        let mut victims: Vec<(u64, u32)> = Vec::new();
        {
            let mut planner = Planner::new(&self.retained, goal);
            let first = self.retained.chunks().front().map_or(0, |c| c.first);
            for item in self.db.range(key(first)..=key(self.trimmed_through)) {
                let (k, v) = item.map_err(|e| self.sled_err(e))?;
                if k.len() != 8 {
                    continue;
                }
                let seq = u64::from_be_bytes(k.as_ref().try_into().expect("8 bytes"));
                let bytes = (v.len() + 8) as u32;
                if !planner.take(seq, bytes) {
                    break;
                }
                victims.push((seq, bytes));
            }
        }
        let Some(&(last, _)) = victims.last() else {
            return Ok(0);
        };
        let floor = last + 1;
        let mut batch = sled::Batch::default();
        for (seq, _) in &victims {
            batch.remove(&key(*seq));
        }
        batch.insert(META_FLOOR, &floor.to_be_bytes());
        self.db.apply_batch(batch).map_err(|e| self.sled_err(e))?;
        let mut freed = 0u64;
        for (seq, bytes) in victims {
            self.retained.remove_oldest(seq, bytes);
            freed += u64::from(bytes);
        }
        self.floor = floor;
        self.publish_stats();
        Ok(freed)
    }

    /// Bytes the budget counts: retained plus unacknowledged.
    fn total_bytes(&self) -> u64 {
        self.index.bytes() + self.retained.bytes()
    }

    fn insert_all(&self, values: Vec<(u64, Vec<u8>)>, last: u64) -> Result<(), JournalError> {
        for (seq, value) in values {
            self.db
                .insert(key(seq), value)
                .map_err(|e| self.sled_err(e))?;
        }
        self.db
            .insert(META_NEXT_SEQ, &(last + 1).to_be_bytes())
            .map_err(|e| self.sled_err(e))?;
        Ok(())
    }

    /// Next seq to be issued.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Logical bytes of unacknowledged events.
    pub fn bytes(&self) -> u64 {
        self.index.bytes()
    }

    /// Unacknowledged events held.
    pub fn entries(&self) -> u64 {
        self.index.entries()
    }

    /// Retained (committed) events held, and their bytes.
    pub fn retained(&self) -> (u64, u64) {
        (self.retained.events(), self.retained.bytes())
    }

    /// Every seq below it is no longer held.
    pub fn retain_floor(&self) -> u64 {
        self.floor
    }

    /// The highest committed mark this journal has seen.
    pub fn acked(&self) -> u64 {
        self.trimmed_through
    }

    /// Flushes sled and fdatasyncs its data file: only then is a group durable.
    fn sync(&mut self) -> Result<(), JournalError> {
        self.db.flush().map_err(|e| self.sled_err(e))?;
        self.data_file
            .sync_data()
            .map_err(|source| JournalError::Io {
                path: self.path.clone(),
                source,
            })
    }

    fn sled_err(&self, source: sled::Error) -> JournalError {
        JournalError::Sled {
            path: self.path.clone(),
            source,
        }
    }

    fn publish_stats(&self) {
        self.stats
            .bytes
            .store(self.index.bytes(), Ordering::Relaxed);
        self.stats
            .entries
            .store(self.index.entries(), Ordering::Relaxed);
        self.stats.head.store(self.next_seq - 1, Ordering::Relaxed);
        self.stats
            .retained_events
            .store(self.retained.events(), Ordering::Relaxed);
        self.stats
            .retained_bytes
            .store(self.retained.bytes(), Ordering::Relaxed);
        self.stats.retain_floor.store(self.floor, Ordering::Relaxed);
    }
}

fn refusals(n: usize) -> Vec<Result<u64, RecordError>> {
    (0..n)
        .map(|_| {
            Err(RecordError::Journal(
                "journal byte budget exhausted".to_owned(),
            ))
        })
        .collect()
}

impl JournalReader {
    /// Highest durable seq; everything up to it may be read and sent.
    pub fn head(&self) -> u64 {
        *self.head.borrow()
    }

    /// A receiver that changes whenever the durable head moves.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.head.clone()
    }

    pub fn stats(&self) -> &Arc<JournalStats> {
        &self.stats
    }

    /// Lowest seq held, if any (retained ones included).
    pub fn first_seq(&self) -> Option<u64> {
        self.first_from(0)
    }

    /// Lowest seq held above the acked mark: the oldest event the collector lacks.
    pub fn first_unacked(&self) -> Option<u64> {
        self.first_from(self.acked().saturating_add(1))
    }

    fn first_from(&self, from: u64) -> Option<u64> {
        self.db
            .range(key(from)..=key(u64::MAX))
            .keys()
            .next()
            .and_then(|k| k.ok())
            .map(|k| u64::from_be_bytes(k.as_ref().try_into().expect("8 bytes")))
    }

    /// The highest committed mark the journal has seen (persisted across restarts).
    pub fn acked(&self) -> u64 {
        self.stats.trimmed_through.load(Ordering::Relaxed)
    }

    /// Every seq below it is no longer held.
    pub fn retain_floor(&self) -> u64 {
        self.stats.retain_floor.load(Ordering::Relaxed)
    }

    /// The held seqs in `from..=to` (keys only, no values read); an error past `limit` seqs.
    pub fn held(&self, from: u64, to: u64, limit: u64) -> Result<SeqSet, String> {
        let mut out = SeqSet::new();
        if from > to {
            return Ok(out);
        }
        for k in self.db.range(key(from)..=key(to)).keys() {
            let k = k.map_err(|e| e.to_string())?;
            if k.len() != 8 {
                continue;
            }
            if out.len() >= limit {
                return Err(format!("more than {limit} events in the range"));
            }
            out.insert(u64::from_be_bytes(k.as_ref().try_into().expect("8 bytes")));
        }
        Ok(out)
    }

    /// The held seqs whose event's `wall_time_ms` lies in `from_ms..=to_ms` (reads and decodes
    /// every held event); an error past `limit` matches.
    pub fn held_in_time(&self, from_ms: i64, to_ms: i64, limit: u64) -> Result<SeqSet, String> {
        let mut out = SeqSet::new();
        for item in self.db.range(key(0)..=key(u64::MAX)) {
            let (k, v) = item.map_err(|e| e.to_string())?;
            if k.len() != 8 || v.is_empty() {
                continue;
            }
            let Ok(ev) = Event::decode(&v[1..]) else {
                continue;
            };
            if ev.wall_time_ms < from_ms || ev.wall_time_ms > to_ms {
                continue;
            }
            if out.len() >= limit {
                return Err(format!("more than {limit} events in the time range"));
            }
            out.insert(u64::from_be_bytes(k.as_ref().try_into().expect("8 bytes")));
        }
        Ok(out)
    }

    /// Reads held events with `from <= seq <= to`, at most `max_events` and about `max_bytes`
    /// (always at least one). Returns `(seq, encoded Event)` pairs; events shed or trimmed in the
    /// range are simply absent.
    pub fn read(
        &self,
        from: u64,
        to: u64,
        max_events: usize,
        max_bytes: usize,
    ) -> Result<Vec<(u64, IVec)>, sled::Error> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for item in self.db.range(key(from)..=key(to)) {
            let (k, v) = item?;
            if k.len() != 8 {
                continue;
            }
            if !out.is_empty() && bytes + v.len() > max_bytes {
                break;
            }
            let seq = u64::from_be_bytes(k.as_ref().try_into().expect("8 bytes"));
            bytes += v.len();
            out.push((seq, v.subslice(1, v.len() - 1)));
            if out.len() >= max_events {
                break;
            }
        }
        Ok(out)
    }

    /// Decodes one held event (for `journal dump` and tests).
    pub fn get(&self, seq: u64) -> Option<Event> {
        let v = self.db.get(key(seq)).ok()??;
        Event::decode(&v[1..]).ok()
    }
}

#[cfg(test)]
mod tests;
