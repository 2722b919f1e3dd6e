//! A set of `u64` sequence numbers stored as disjoint inclusive ranges.
//!
//! Agents use it for what remains to be sent and what the broker has acknowledged; collectors use
//! it for what has been applied per agent. Seqs mostly arrive in long runs, so a handful of ranges
//! describes millions of seqs.

use std::collections::BTreeMap;

/// Disjoint, non-adjacent inclusive ranges `first..=last`, keyed by `first`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeqSet {
    ranges: BTreeMap<u64, u64>,
}

impl SeqSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a set from inclusive ranges (in any order, may overlap).
    pub fn from_ranges(ranges: impl IntoIterator<Item = (u64, u64)>) -> Self {
        let mut s = Self::new();
        for (a, b) in ranges {
            s.insert_range(a, b);
        }
        s
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Number of seqs in the set.
    pub fn len(&self) -> u64 {
        self.ranges.iter().map(|(a, b)| b - a + 1).sum()
    }

    pub fn contains(&self, seq: u64) -> bool {
        self.ranges
            .range(..=seq)
            .next_back()
            .is_some_and(|(_, &last)| seq <= last)
    }

    /// Inserts one seq; returns false if it was already present.
    pub fn insert(&mut self, seq: u64) -> bool {
        if self.contains(seq) {
            return false;
        }
        self.insert_range(seq, seq);
        true
    }

    /// Inserts `first..=last` (ignored when `first > last`), merging touching ranges.
    pub fn insert_range(&mut self, first: u64, last: u64) {
        if first > last {
            return;
        }
        let mut lo = first;
        let mut hi = last;
        // A range that starts before `first` and reaches `first - 1` or beyond merges.
        if let Some((&a, &b)) = self.ranges.range(..=first).next_back() {
            if b.saturating_add(1) >= first {
                lo = a;
                hi = hi.max(b);
            }
        }
        // Ranges starting inside `lo..=hi + 1` merge too.
        let upper = hi.saturating_add(1);
        let overlapping: Vec<u64> = self.ranges.range(lo..=upper).map(|(&a, _)| a).collect();
        for a in overlapping {
            let b = self.ranges.remove(&a).expect("key just listed");
            hi = hi.max(b);
        }
        self.ranges.insert(lo, hi);
    }

    /// Removes `first..=last` from the set.
    pub fn remove_range(&mut self, first: u64, last: u64) {
        if first > last {
            return;
        }
        let touched: Vec<(u64, u64)> = self
            .ranges
            .range(..=last)
            .rev()
            .take_while(|(_, &b)| b >= first)
            .map(|(&a, &b)| (a, b))
            .collect();
        for (a, b) in touched {
            self.ranges.remove(&a);
            if a < first {
                self.ranges.insert(a, first - 1);
            }
            if b > last {
                self.ranges.insert(last + 1, b);
            }
        }
    }

    /// Removes every seq `<= mark`.
    pub fn remove_through(&mut self, mark: u64) {
        self.remove_range(0, mark);
    }

    pub fn first(&self) -> Option<u64> {
        self.ranges.keys().next().copied()
    }

    pub fn last(&self) -> Option<u64> {
        self.ranges.values().next_back().copied()
    }

    /// The first range (lowest seqs), if any.
    pub fn first_range(&self) -> Option<(u64, u64)> {
        self.ranges.iter().next().map(|(&a, &b)| (a, b))
    }

    /// The lowest range that has seqs `>= from`, clipped to start at `from`.
    pub fn first_range_from(&self, from: u64) -> Option<(u64, u64)> {
        if let Some((_, &b)) = self.ranges.range(..=from).next_back() {
            if b >= from {
                return Some((from, b));
            }
        }
        self.ranges.range(from..).next().map(|(&a, &b)| (a, b))
    }

    /// The highest seq `h` such that every seq in `start..=h` is in the set, i.e. the contiguous
    /// mark reached from `start`; `start - 1` when `start` itself is missing.
    pub fn contiguous_from(&self, start: u64) -> u64 {
        match self.ranges.range(..=start).next_back() {
            Some((_, &b)) if b >= start => b,
            _ => start.saturating_sub(1),
        }
    }

    /// Iterates over the ranges in ascending order.
    pub fn ranges(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.ranges.iter().map(|(&a, &b)| (a, b))
    }

    /// Number of disjoint ranges.
    pub fn range_count(&self) -> usize {
        self.ranges.len()
    }

    /// The ranges missing between `from` and the highest member (the gaps).
    pub fn gaps_from(&self, from: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut next = from;
        for (a, b) in self.ranges() {
            if b < next {
                continue;
            }
            if a > next {
                out.push((next, a - 1));
            }
            next = b.saturating_add(1);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &SeqSet) -> Vec<(u64, u64)> {
        s.ranges().collect()
    }

    #[test]
    fn merges_adjacent_and_overlapping() {
        let mut s = SeqSet::new();
        s.insert_range(5, 7);
        s.insert_range(1, 2);
        s.insert_range(3, 4);
        assert_eq!(v(&s), vec![(1, 7)]);
        s.insert_range(10, 12);
        s.insert_range(6, 11);
        assert_eq!(v(&s), vec![(1, 12)]);
        assert_eq!(s.len(), 12);
        assert!(!s.insert(3));
        assert!(s.insert(14));
        assert_eq!(v(&s), vec![(1, 12), (14, 14)]);
    }

    #[test]
    fn removes_and_splits() {
        let mut s = SeqSet::from_ranges([(1, 10), (20, 30)]);
        s.remove_range(5, 22);
        assert_eq!(v(&s), vec![(1, 4), (23, 30)]);
        s.remove_through(25);
        assert_eq!(v(&s), vec![(26, 30)]);
        s.remove_range(30, 40);
        assert_eq!(v(&s), vec![(26, 29)]);
    }

    #[test]
    fn contiguous_and_gaps() {
        let s = SeqSet::from_ranges([(1, 10), (13, 15), (20, 20)]);
        assert_eq!(s.contiguous_from(1), 10);
        assert_eq!(s.contiguous_from(11), 10);
        assert_eq!(s.contiguous_from(14), 15);
        assert_eq!(s.gaps_from(1), vec![(11, 12), (16, 19)]);
        assert_eq!(s.first_range_from(14), Some((14, 15)));
        assert_eq!(s.first_range_from(16), Some((20, 20)));
        assert_eq!(s.first_range_from(21), None);
        assert!(s.contains(14) && !s.contains(12));
    }
}
