//! Retention: what the collector committed stays in the journal for `retain_age_secs` and up to
//! `retain_max_bytes`, so a collector restored from a backup can be refilled from the store.
//!
//! Retained events are exactly the held seqs at or below the acknowledged mark (the highest
//! committed mark this journal has seen, persisted as a meta entry); everything above it is in
//! the in-memory index (`index.rs`). Retained events cost no memory per event: they are
//! summarised in coarse [`Chunk`]s (seq span, count, bytes, newest event time), at most
//! [`CHUNK_EVENTS`] events each, and sled is read when seqs are needed.
//!
//! Retention only ever deletes a prefix (oldest seqs first), so one number says what is gone:
//! the **floor**. Every seq below it is no longer held; it is persisted in the same atomic batch
//! as the deletions that move it.

use std::collections::VecDeque;

/// Most events summarised by one chunk: bounds the work of dropping one.
pub const CHUNK_EVENTS: u64 = 4096;

/// A chunk spans at most this fraction of `retain_age_secs` in event time, so in a quiet store
/// an event outlives the age limit by at most that much (a chunk expires as a whole).
pub const SPANS_PER_AGE: i64 = 64;

/// Most retained events deleted by one enforcement step outside budget pressure, so appends are
/// never held up for long; the rest goes in later steps.
pub const STEP_EVENTS: usize = 16_384;

/// A run of retained seqs (gaps inside are seqs shed or never held).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    pub first: u64,
    pub last: u64,
    pub events: u64,
    pub bytes: u64,
    /// Newest `wall_time_ms` in the chunk: the chunk expires as a whole when this is too old.
    pub newest_ms: i64,
    /// Oldest `wall_time_ms` in the chunk (only to bound its span).
    oldest_ms: i64,
}

/// The retained part of the journal, as aggregates.
#[derive(Debug, Default)]
pub struct Retained {
    chunks: VecDeque<Chunk>,
    events: u64,
    bytes: u64,
    /// Widest span of event times in one chunk.
    max_span_ms: i64,
}

impl Retained {
    /// Empty, for a retention age of `age_secs`.
    pub fn new(age_secs: u64) -> Self {
        let age_ms = i64::try_from(age_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        Self {
            max_span_ms: (age_ms / SPANS_PER_AGE).max(1),
            ..Self::default()
        }
    }

    /// A committed event joins retention; seqs arrive in ascending order.
    pub fn add(&mut self, seq: u64, bytes: u32, wall_ms: i64) {
        let bytes = u64::from(bytes);
        let span = self.max_span_ms;
        match self.chunks.back_mut() {
            Some(c)
                if c.events < CHUNK_EVENTS
                    && c.newest_ms
                        .max(wall_ms)
                        .saturating_sub(c.oldest_ms.min(wall_ms))
                        <= span =>
            {
                debug_assert!(seq > c.last);
                c.last = seq;
                c.events += 1;
                c.bytes += bytes;
                c.newest_ms = c.newest_ms.max(wall_ms);
                c.oldest_ms = c.oldest_ms.min(wall_ms);
            }
            _ => self.chunks.push_back(Chunk {
                first: seq,
                last: seq,
                events: 1,
                bytes,
                newest_ms: wall_ms,
                oldest_ms: wall_ms,
            }),
        }
        self.events += 1;
        self.bytes += bytes;
    }

    /// The oldest retained event `seq` (of `bytes`) was deleted.
    pub fn remove_oldest(&mut self, seq: u64, bytes: u32) {
        // Saturating: the aggregates must never wrap, even if sled and they ever disagreed.
        while let Some(c) = self.chunks.front() {
            if c.last >= seq {
                break;
            }
            self.events = self.events.saturating_sub(c.events);
            self.bytes = self.bytes.saturating_sub(c.bytes);
            self.chunks.pop_front();
        }
        let Some(c) = self.chunks.front_mut() else {
            return;
        };
        c.events = c.events.saturating_sub(1);
        c.bytes = c.bytes.saturating_sub(u64::from(bytes));
        c.first = seq + 1;
        if c.events == 0 || c.first > c.last {
            self.chunks.pop_front();
        }
        self.events = self.events.saturating_sub(1);
        self.bytes = self.bytes.saturating_sub(u64::from(bytes));
    }

    pub fn events(&self) -> u64 {
        self.events
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The chunks, oldest first.
    pub fn chunks(&self) -> &VecDeque<Chunk> {
        &self.chunks
    }

    /// Chunks held in memory (for tests of the memory bound).
    #[cfg(test)]
    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }
}

/// What one enforcement step should free.
#[derive(Debug, Clone, Copy)]
pub struct Goal {
    /// Bytes that must be freed (budget pressure); 0 outside it.
    pub need: u64,
    /// Retained bytes allowed to remain.
    pub max_bytes: u64,
    /// Chunks whose newest event is older than this expire.
    pub expire_before_ms: i64,
    /// Most deletions in this step (`usize::MAX` under budget pressure).
    pub max_events: usize,
}

impl Retained {
    /// Whether anything is due for deletion without budget pressure.
    pub fn due(&self, goal: &Goal) -> bool {
        self.bytes > goal.max_bytes
            || self
                .chunks
                .front()
                .is_some_and(|c| c.newest_ms < goal.expire_before_ms)
    }
}

/// Walks retained seqs oldest first and decides which to delete: while the front chunk is
/// expired, while bytes exceed the limit, or while `need` is not met.
pub struct Planner<'a> {
    retained: &'a Retained,
    goal: Goal,
    chunk: usize,
    freed: u64,
    taken: usize,
}

impl<'a> Planner<'a> {
    pub fn new(retained: &'a Retained, goal: Goal) -> Self {
        Self {
            retained,
            goal,
            chunk: 0,
            freed: 0,
            taken: 0,
        }
    }

    /// Offers the next retained seq (ascending); true when it is to be deleted. Once it says
    /// false, the walk is over.
    pub fn take(&mut self, seq: u64, bytes: u32) -> bool {
        if self.taken >= self.goal.max_events {
            return false;
        }
        let chunks = self.retained.chunks();
        while chunks.get(self.chunk).is_some_and(|c| seq > c.last) {
            self.chunk += 1;
        }
        let expired = chunks
            .get(self.chunk)
            .is_some_and(|c| c.newest_ms < self.goal.expire_before_ms);
        let over = self.retained.bytes().saturating_sub(self.freed) > self.goal.max_bytes;
        if !(expired || over || self.freed < self.goal.need) {
            return false;
        }
        self.freed += u64::from(bytes);
        self.taken += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_coarse_and_shrink_from_the_front() {
        let mut r = Retained::new(3600);
        for seq in 1..=CHUNK_EVENTS * 2 + 1 {
            r.add(seq, 10, seq as i64);
        }
        assert_eq!(r.chunk_count(), 3, "memory grows per chunk, not per event");
        assert_eq!(
            (r.events(), r.bytes()),
            (CHUNK_EVENTS * 2 + 1, 10 * (CHUNK_EVENTS * 2 + 1))
        );
        r.remove_oldest(1, 10);
        assert_eq!(r.chunks()[0].first, 2);
        let goal = Goal {
            need: 0,
            max_bytes: u64::MAX,
            expire_before_ms: CHUNK_EVENTS as i64 + 1,
            max_events: usize::MAX,
        };
        assert!(r.due(&goal), "the whole first chunk is older");
        let mut p = Planner::new(&r, goal);
        let taken = (2..=CHUNK_EVENTS * 2 + 1)
            .take_while(|&s| p.take(s, 10))
            .count() as u64;
        assert_eq!(taken, CHUNK_EVENTS - 1, "only the expired chunk goes");
    }

    #[test]
    fn a_chunk_spans_a_bounded_stretch_of_event_time() {
        // 64 s of age: a chunk spans at most 1 s of event time.
        let mut r = Retained::new(64);
        for seq in 1..=10 {
            r.add(seq, 10, seq as i64 * 400);
        }
        assert_eq!(r.chunk_count(), 4, "{:?}", r.chunks());
        assert!(r.chunks().iter().all(|c| c.newest_ms - c.oldest_ms <= 1000));
    }
}
