//! In-memory index of the journal: which seqs it holds, in which class, and how many bytes.
//!
//! Rebuilt by one scan at open. The byte budget and the shedding policy work on it without
//! touching sled, and it is cheap: 16 bytes per held event. A queue that emptied (a backlog
//! drained) gives its memory back: a million-event backlog would otherwise keep 16-32 MiB
//! for good.

use std::collections::VecDeque;

use store_proto::EventClass;

#[derive(Debug, Default)]
pub struct Index {
    /// Per class, `(seq, bytes)` in ascending seq order.
    by_class: [VecDeque<(u64, u32)>; 4],
    bytes: u64,
    entries: u64,
}

fn slot(class: EventClass) -> usize {
    class.tag() as usize - 1
}

/// Queues this small keep their capacity: shrinking them saves nothing worth a copy.
const SHRINK_ABOVE: usize = 4096;

/// Halves a queue's capacity when it is a quarter full at most (amortised: each shrink copies
/// at most a quarter of what was removed since the last one).
fn shrink(q: &mut VecDeque<(u64, u32)>) {
    if q.capacity() > SHRINK_ABOVE && q.len() <= q.capacity() / 4 {
        q.shrink_to((q.len() * 2).max(SHRINK_ABOVE));
    }
}

impl Index {
    pub fn push(&mut self, seq: u64, class: EventClass, bytes: u32) {
        let q = &mut self.by_class[slot(class)];
        debug_assert!(q.back().is_none_or(|&(s, _)| s < seq));
        q.push_back((seq, bytes));
        self.bytes += u64::from(bytes);
        self.entries += 1;
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Lowest seq held, if any.
    #[cfg(test)]
    pub fn first_seq(&self) -> Option<u64> {
        self.by_class
            .iter()
            .filter_map(|q| q.front().map(|e| e.0))
            .min()
    }

    /// Removes and returns every seq `<= mark`.
    pub fn remove_through(&mut self, mark: u64) -> Vec<u64> {
        let mut out = Vec::new();
        for q in &mut self.by_class {
            while let Some(&(seq, bytes)) = q.front() {
                if seq > mark {
                    break;
                }
                q.pop_front();
                self.bytes -= u64::from(bytes);
                self.entries -= 1;
                out.push(seq);
            }
            shrink(q);
        }
        out
    }

    /// Removes the oldest event of a class.
    pub fn pop_oldest(&mut self, class: EventClass) -> Option<(u64, u32)> {
        let q = &mut self.by_class[slot(class)];
        let e = q.pop_front()?;
        shrink(q);
        self.bytes -= u64::from(e.1);
        self.entries -= 1;
        Some(e)
    }

    /// The held events of a class, oldest first.
    pub fn class(&self, class: EventClass) -> &VecDeque<(u64, u32)> {
        &self.by_class[slot(class)]
    }

    /// Removes specific seqs of a class (used by coalescing); returns the bytes freed.
    pub fn remove_seqs(&mut self, class: EventClass, seqs: &[u64]) -> u64 {
        if seqs.is_empty() {
            return 0;
        }
        let set: std::collections::HashSet<u64> = seqs.iter().copied().collect();
        let q = &mut self.by_class[slot(class)];
        let mut freed = 0u64;
        let mut removed = 0u64;
        q.retain(|&(s, b)| {
            if set.contains(&s) {
                freed += u64::from(b);
                removed += 1;
                false
            } else {
                true
            }
        });
        self.bytes -= freed;
        self.entries -= removed;
        freed
    }

    /// Changes the recorded size of a held event (after it was rewritten).
    pub fn resize(&mut self, class: EventClass, seq: u64, bytes: u32) {
        let q = &mut self.by_class[slot(class)];
        if let Ok(i) = q.binary_search_by_key(&seq, |e| e.0) {
            self.bytes = self.bytes - u64::from(q[i].1) + u64::from(bytes);
            q[i].1 = bytes;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_bytes_and_trims() {
        let mut ix = Index::default();
        ix.push(1, EventClass::Business, 10);
        ix.push(2, EventClass::FootTraffic, 20);
        ix.push(3, EventClass::Business, 30);
        assert_eq!((ix.bytes(), ix.entries(), ix.first_seq()), (60, 3, Some(1)));
        let mut removed = ix.remove_through(2);
        removed.sort();
        assert_eq!(removed, vec![1, 2]);
        assert_eq!((ix.bytes(), ix.entries(), ix.first_seq()), (30, 1, Some(3)));
        ix.resize(EventClass::Business, 3, 5);
        assert_eq!(ix.bytes(), 5);
        assert_eq!(ix.pop_oldest(EventClass::Business), Some((3, 5)));
        assert_eq!((ix.bytes(), ix.entries(), ix.first_seq()), (0, 0, None));
    }

    #[test]
    fn a_drained_backlog_gives_its_memory_back() {
        let mut ix = Index::default();
        for seq in 1..=100_000 {
            ix.push(seq, EventClass::Business, 10);
        }
        let full = ix.class(EventClass::Business).capacity();
        assert!(full >= 100_000);
        ix.remove_through(99_990);
        let left = ix.class(EventClass::Business);
        assert_eq!(left.len(), 10);
        assert!(left.capacity() <= 2 * SHRINK_ABOVE, "{}", left.capacity());
        assert_eq!(ix.bytes(), 100);
        // Popping one by one shrinks too.
        for seq in 1..=50_000 {
            ix.push(100_000 + seq, EventClass::Business, 10);
        }
        while ix.pop_oldest(EventClass::Business).is_some() {}
        assert!(ix.class(EventClass::Business).capacity() <= 2 * SHRINK_ABOVE);
    }
}
