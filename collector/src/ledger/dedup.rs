//! Dedup of one agent's events, and the one function that changes what the collector knows:
//! [`apply_batch`].
//!
//! Pure data and logic, no I/O: [`super::db`] persists it, [`crate::ingest`] feeds it.
//!
//! Per agent (keyed by the store and agent ids of the *topic*) the collector keeps the set of
//! applied seqs and the set of settled ("lost") seqs, both as ranges. Their union is what is
//! done; the contiguous committed mark is the highest `h` such that `1..=h` is all done. An event
//! whose seq is already done is a duplicate and changes nothing, which is what makes redelivery
//! (by the broker or by an agent rewinding) harmless (ARCHITECTURE.md invariants 1 and 5).
//!
//! # What an agent may make the collector record ([`Limits`])
//! Whatever arrives on an agent's topic is hostile until checked: a forged seq recorded as done
//! would move the committed mark past events the agent still holds, and the agent would trim
//! them (invariant 3), and a forged seq near `u64::MAX` would turn every later genuine event
//! into a "duplicate". So, per batch and per agent, with `c` the agent's committed mark when
//! the batch is applied:
//! - **Window**: an event is accepted only if `seq <= c + max_seq_ahead`. DataLoss ranges are
//!   clipped below their own event's seq, so they stay inside the window too. A new agent
//!   (`c = 0`) may send seqs `1..=max_seq_ahead`. The default is far above any gap a genuine
//!   agent can open (its journal budget bounds how many seqs lie between its oldest unsettled
//!   event and its head; see `config/collector.example.toml`).
//! - **Range cap**: an ordinary event that would open a new range of done seqs above `c` while
//!   `max_ranges_per_agent` such ranges exist is refused. An event that extends or joins ranges,
//!   in particular `c + 1`, is never refused by the cap, so an agent resending from its mark
//!   always progresses. DataLoss events are exempt: a genuine shed is scattered by event class,
//!   and refusing it could stall its agent for good; the window bounds them.
//!
//! A refused event is not applied, not recorded as done and does not move the mark: it is
//! counted in [`Outcome`] and otherwise treated as never received. Its batch is still
//! acknowledged to the broker, and the agent, whose mark does not cover the event, resends it
//! after its stall timeout, when it fits (nothing genuine is lost, invariant 5). The other
//! events of the batch are applied normally.

use std::collections::BTreeMap;

use store_proto::{Body, Event, EventBatch, SeqSet};

/// Totals of one store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Applied events per kind ([`store_proto::kind_name`]).
    pub kinds: BTreeMap<String, u64>,
    /// Sum of `FootTraffic.entries` over applied events.
    pub foot_traffic_entries: u64,
    /// Sum of `FootTraffic.exits` over applied events.
    pub foot_traffic_exits: u64,
}

/// Most ranges above the mark sent with it; beyond that the agent simply resends more.
const MAX_DONE_ABOVE: usize = 64;

/// Default of [`Limits::max_seq_ahead`] (`[ingest] max_seq_ahead`).
pub const DEFAULT_MAX_SEQ_AHEAD: u64 = 100_000_000;

/// Default of [`Limits::max_ranges_per_agent`] (`[ingest] max_ranges_per_agent`).
pub const DEFAULT_MAX_RANGES_PER_AGENT: usize = 1024;

/// Bounds on what one agent's events may make the collector record (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Highest accepted seq is the agent's committed mark plus this.
    pub max_seq_ahead: u64,
    /// Most ranges of done seqs above the committed mark that ordinary events may open.
    pub max_ranges_per_agent: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_seq_ahead: DEFAULT_MAX_SEQ_AHEAD,
            max_ranges_per_agent: DEFAULT_MAX_RANGES_PER_AGENT,
        }
    }
}

/// An agent's committed mark and the ranges already done above it.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mark {
    pub committed: u64,
    pub done_above: Vec<(u64, u64)>,
}

impl From<u64> for Mark {
    fn from(committed: u64) -> Self {
        Mark {
            committed,
            done_above: Vec::new(),
        }
    }
}

/// Dedup state of one agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentState {
    applied: SeqSet,
    lost: SeqSet,
    /// `applied ∪ lost`, kept so the duplicate check and the mark are one lookup each.
    done: SeqSet,
    /// `sent_wall_time_ms` of the newest batch seen from this agent.
    last_batch_wall_ms: i64,
}

impl AgentState {
    /// Rebuilds an agent's state from its persisted parts.
    pub fn from_parts(applied: SeqSet, lost: SeqSet, last_batch_wall_ms: i64) -> Self {
        let mut done = applied.clone();
        for (a, b) in lost.ranges() {
            done.insert_range(a, b);
        }
        Self {
            applied,
            lost,
            done,
            last_batch_wall_ms,
        }
    }

    /// Seqs that were applied.
    pub fn applied(&self) -> &SeqSet {
        &self.applied
    }

    /// Seqs settled by `DataLoss` events: they will never arrive, and were never applied.
    pub fn lost(&self) -> &SeqSet {
        &self.lost
    }

    pub fn last_batch_wall_ms(&self) -> i64 {
        self.last_batch_wall_ms
    }

    /// The committed mark with what is already done above it, as published to the agent.
    pub fn mark(&self) -> Mark {
        let committed = self.committed_seq();
        let done_above = self
            .done
            .ranges()
            .filter(|&(_, last)| last > committed)
            .take(MAX_DONE_ABOVE)
            .collect();
        Mark {
            committed,
            done_above,
        }
    }

    /// The contiguous committed mark: every seq in `1..=mark` is applied or settled.
    pub fn committed_seq(&self) -> u64 {
        self.done.contiguous_from(1)
    }

    /// Highest applied seq (0 when none).
    pub fn highest_seq(&self) -> u64 {
        self.applied.last().unwrap_or(0)
    }

    pub fn applied_count(&self) -> u64 {
        self.applied.len()
    }

    /// Whether `seq` was applied or settled already.
    pub fn is_done(&self, seq: u64) -> bool {
        self.done.contains(seq)
    }

    /// Ranges of done seqs above the committed mark (the range `1..=mark` does not count).
    pub fn ranges_above_mark(&self) -> usize {
        self.done.range_count() - usize::from(self.done.contains(1))
    }

    /// Whether marking the single missing `seq` done would open a new range above the mark
    /// (rather than extend or join existing ones, or extend `1..=mark`).
    fn opens_range(&self, seq: u64) -> bool {
        seq > 1
            && !self.done.contains(seq - 1)
            && seq
                .checked_add(1)
                .is_none_or(|next| !self.done.contains(next))
    }

    /// Ranges missing between the mark and the highest applied seq.
    pub fn gaps(&self) -> Vec<(u64, u64)> {
        let highest = self.highest_seq();
        self.done
            .gaps_from(self.committed_seq() + 1)
            .into_iter()
            .filter(|&(a, _)| a <= highest)
            .map(|(a, b)| (a, b.min(highest)))
            .collect()
    }

    /// Marks `first..=last` as settled, except the seqs already done (applied seqs stay applied,
    /// so `lost` and `applied` never overlap and `applied_count` stays exact).
    fn settle(&mut self, first: u64, last: u64) -> u64 {
        let mut settled = 0;
        for (a, b) in missing_in(&self.done, first, last) {
            self.lost.insert_range(a, b);
            self.done.insert_range(a, b);
            settled += b - a + 1;
        }
        settled
    }
}

/// The sub-ranges of `first..=last` not in `set`.
fn missing_in(set: &SeqSet, first: u64, last: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut cur = first;
    while cur <= last {
        match set.first_range_from(cur) {
            Some((a, b)) if a <= cur => match b.checked_add(1) {
                Some(next) => cur = next,
                None => break,
            },
            Some((a, _)) if a <= last => {
                out.push((cur, a - 1));
                cur = a;
            }
            _ => {
                out.push((cur, last));
                break;
            }
        }
    }
    out
}

/// What applying one batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Events applied (new seqs).
    pub applied: u64,
    /// Events skipped because their seq was already applied or settled.
    pub duplicates: u64,
    /// Events with seq 0, which no agent issues; skipped (and logged by the caller).
    pub invalid: u64,
    /// Events refused because their seq lies beyond the window above the committed mark.
    pub out_of_window: u64,
    /// Events refused because they would open a range beyond the per-agent range cap.
    pub over_range_cap: u64,
    /// Seqs newly settled by DataLoss events of this batch.
    pub settled: u64,
    /// DataLoss ranges that reached the DataLoss event's own seq or beyond (clipped: an agent
    /// can only report loss of seqs it issued before).
    pub clipped_loss_ranges: u64,
    /// Whether anything that must be persisted changed.
    pub changed: bool,
}

/// Applies a batch's new events to an agent and its store, within the default [`Limits`];
/// duplicates change nothing.
pub fn apply_batch(agent: &mut AgentState, store: &mut StoreStats, batch: &EventBatch) -> Outcome {
    apply_batch_with(agent, store, batch, Limits::default(), |_| {})
}

/// [`apply_batch`] within `limits`, calling `on_applied` with each event applied for the first
/// time (never with a duplicate or a refused event): how the rules engine sees every event
/// exactly once.
pub fn apply_batch_with(
    agent: &mut AgentState,
    store: &mut StoreStats,
    batch: &EventBatch,
    limits: Limits,
    mut on_applied: impl FnMut(&Event),
) -> Outcome {
    let mut out = Outcome::default();
    // The mark only rises while the batch is applied: the window at its start is the tighter.
    let window_end = agent.committed_seq().saturating_add(limits.max_seq_ahead);
    for event in &batch.events {
        if event.seq == 0 {
            out.invalid += 1;
            continue;
        }
        if event.seq > window_end {
            out.out_of_window += 1;
            continue;
        }
        if agent.is_done(event.seq) {
            out.duplicates += 1;
            continue;
        }
        // range_count() first: O(1), and below the cap nothing else is looked up.
        if agent.done.range_count() >= limits.max_ranges_per_agent
            && !matches!(event.body, Some(Body::DataLoss(_)))
            && agent.ranges_above_mark() >= limits.max_ranges_per_agent
            && agent.opens_range(event.seq)
        {
            out.over_range_cap += 1;
            continue;
        }
        agent.applied.insert(event.seq);
        agent.done.insert(event.seq);
        out.applied += 1;
        let body = event.body.as_ref();
        let kind = store_proto::kind_name(body);
        // get_mut first: no String allocation for kinds already counted (nearly every event).
        match store.kinds.get_mut(kind) {
            Some(count) => *count += 1,
            None => {
                store.kinds.insert(kind.to_owned(), 1);
            }
        }
        match body {
            Some(Body::FootTraffic(ft)) => {
                store.foot_traffic_entries += u64::from(ft.entries);
                store.foot_traffic_exits += u64::from(ft.exits);
            }
            Some(Body::DataLoss(loss)) => {
                for range in &loss.ranges {
                    let first = range.first.max(1);
                    let mut last = range.last;
                    if last >= event.seq {
                        out.clipped_loss_ranges += 1;
                        last = event.seq - 1;
                    }
                    if first <= last {
                        out.settled += agent.settle(first, last);
                    }
                }
            }
            _ => {}
        }
        on_applied(event);
    }
    if batch.sent_wall_time_ms > agent.last_batch_wall_ms {
        agent.last_batch_wall_ms = batch.sent_wall_time_ms;
        out.changed = true;
    }
    out.changed |= out.applied > 0;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::fixtures::{batch, foot, loss, scan, scans};

    fn ranges(s: &SeqSet) -> Vec<(u64, u64)> {
        s.ranges().collect()
    }

    #[test]
    fn mark_carries_what_is_done_above_it() {
        let agent = AgentState::from_parts(
            SeqSet::from_ranges([(1, 3), (6, 8), (10, 10)]),
            SeqSet::new(),
            0,
        );
        assert_eq!(
            agent.mark(),
            Mark {
                committed: 3,
                done_above: vec![(6, 8), (10, 10)],
            }
        );
    }

    #[test]
    fn same_batch_twice_applies_once() {
        let (mut agent, mut store) = (AgentState::default(), StoreStats::default());
        let b = batch(vec![scan(1), foot(2, 5, 3), scan(3)]);
        let first = apply_batch(&mut agent, &mut store, &b);
        assert_eq!((first.applied, first.duplicates), (3, 0));
        let (agent_before, store_before) = (agent.clone(), store.clone());
        let second = apply_batch(&mut agent, &mut store, &b);
        assert_eq!((second.applied, second.duplicates), (0, 3));
        assert!(!second.changed);
        assert_eq!(agent, agent_before);
        assert_eq!(store, store_before);
        assert_eq!(store.kinds["scan"], 2);
        assert_eq!(store.kinds["foot_traffic"], 1);
        assert_eq!(
            (store.foot_traffic_entries, store.foot_traffic_exits),
            (5, 3)
        );
        assert_eq!(agent.committed_seq(), 3);
        assert_eq!(agent.applied_count(), 3);
    }

    #[test]
    fn partly_duplicate_batch_applies_only_new_seqs() {
        let (mut agent, mut store) = (AgentState::default(), StoreStats::default());
        apply_batch(&mut agent, &mut store, &scans(1..=5));
        let out = apply_batch(&mut agent, &mut store, &scans(4..=8));
        assert_eq!((out.applied, out.duplicates), (3, 2));
        assert_eq!(store.kinds["scan"], 8);
        assert_eq!(agent.committed_seq(), 8);
    }

    #[test]
    fn out_of_order_batches_leave_gaps_until_filled() {
        let (mut agent, mut store) = (AgentState::default(), StoreStats::default());
        // Live data first, backlog later.
        apply_batch(&mut agent, &mut store, &scans(11..=15));
        assert_eq!(agent.committed_seq(), 0);
        assert_eq!(agent.highest_seq(), 15);
        assert_eq!(agent.gaps(), vec![(1, 10)]);
        apply_batch(&mut agent, &mut store, &scans(1..=4));
        assert_eq!(agent.committed_seq(), 4);
        assert_eq!(agent.gaps(), vec![(5, 10)]);
        apply_batch(&mut agent, &mut store, &scans(7..=8));
        assert_eq!(agent.gaps(), vec![(5, 6), (9, 10)]);
        assert_eq!(agent.committed_seq(), 4);
        apply_batch(&mut agent, &mut store, &scans(5..=6));
        apply_batch(&mut agent, &mut store, &scans(9..=10));
        assert_eq!(agent.committed_seq(), 15);
        assert!(agent.gaps().is_empty());
        assert_eq!(ranges(agent.applied()), vec![(1, 15)]);
        assert_eq!(store.kinds["scan"], 15);
    }

    #[test]
    fn data_loss_settles_seqs_and_moves_the_mark() {
        let (mut agent, mut store) = (AgentState::default(), StoreStats::default());
        apply_batch(&mut agent, &mut store, &scans(1..=3));
        apply_batch(&mut agent, &mut store, &scans(10..=12));
        assert_eq!(agent.committed_seq(), 3);
        // The agent shed 4..=8 (and says so in a DataLoss event with seq 9); its range also
        // covers 2..=3, already applied, which must stay applied and not count as lost.
        let out = apply_batch(&mut agent, &mut store, &batch(vec![loss(9, &[(2, 8)])]));
        assert_eq!(out.applied, 1);
        assert_eq!(out.settled, 5);
        assert_eq!(agent.committed_seq(), 12);
        assert!(agent.gaps().is_empty());
        assert_eq!(ranges(agent.lost()), vec![(4, 8)]);
        assert_eq!(ranges(agent.applied()), vec![(1, 3), (9, 12)]);
        assert_eq!(agent.applied_count(), 7);
        assert_eq!(store.kinds["data_loss"], 1);
        // A settled seq that shows up after all is a duplicate: it was reported lost.
        let late = apply_batch(&mut agent, &mut store, &scans(5..=5));
        assert_eq!((late.applied, late.duplicates), (0, 1));
        assert_eq!(store.kinds["scan"], 6);
    }

    #[test]
    fn data_loss_ranges_cannot_reach_past_their_own_event() {
        let (mut agent, mut store) = (AgentState::default(), StoreStats::default());
        let out = apply_batch(
            &mut agent,
            &mut store,
            &batch(vec![loss(5, &[(1, u64::MAX)])]),
        );
        assert_eq!(out.clipped_loss_ranges, 1);
        assert_eq!(ranges(agent.lost()), vec![(1, 4)]);
        assert_eq!(agent.committed_seq(), 5);
        let next = apply_batch(&mut agent, &mut store, &scans(6..=6));
        assert_eq!(next.applied, 1);
    }

    #[test]
    fn seq_zero_is_invalid() {
        let (mut agent, mut store) = (AgentState::default(), StoreStats::default());
        let out = apply_batch(&mut agent, &mut store, &batch(vec![scan(0), scan(1)]));
        assert_eq!((out.applied, out.invalid), (1, 1));
        assert_eq!(agent.committed_seq(), 1);
    }

    fn limits(max_seq_ahead: u64, max_ranges_per_agent: usize) -> Limits {
        Limits {
            max_seq_ahead,
            max_ranges_per_agent,
        }
    }

    fn apply_within(agent: &mut AgentState, b: &EventBatch, lim: Limits) -> Outcome {
        apply_batch_with(agent, &mut StoreStats::default(), b, lim, |_| {})
    }

    #[test]
    fn seqs_beyond_the_window_are_refused_and_leave_no_trace() {
        let mut agent = AgentState::default();
        let lim = limits(1000, 64);
        // A new agent: the window is 1..=1000 above mark 0.
        let out = apply_within(&mut agent, &scans(999..=1002), lim);
        assert_eq!((out.applied, out.out_of_window), (2, 2));
        assert_eq!(ranges(agent.applied()), vec![(999, 1000)]);
        // Forged seqs far ahead, and a DataLoss claiming everything up to u64::MAX.
        let forged = batch(vec![
            scan(5000),
            scan(u64::MAX),
            loss(u64::MAX, &[(1, u64::MAX - 1)]),
            scan(1),
        ]);
        let mut applied_seqs = Vec::new();
        let out = apply_batch_with(&mut agent, &mut StoreStats::default(), &forged, lim, |e| {
            applied_seqs.push(e.seq)
        });
        assert_eq!((out.applied, out.out_of_window, out.settled), (1, 3, 0));
        assert_eq!(applied_seqs, vec![1]);
        assert!(agent.lost().is_empty());
        assert_eq!(agent.committed_seq(), 1);
        assert!(!agent.is_done(5000) && !agent.is_done(u64::MAX));
        // The genuine events after them are applied, not taken for duplicates.
        let out = apply_within(&mut agent, &scans(2..=998), lim);
        assert_eq!((out.applied, out.duplicates), (997, 0));
        assert_eq!(agent.committed_seq(), 1000);
        // The window moved with the mark.
        let out = apply_within(&mut agent, &scans(2000..=2000), lim);
        assert_eq!(out.applied, 1);
    }

    #[test]
    fn the_range_cap_refuses_new_ranges_but_never_the_next_seq() {
        let mut agent = AgentState::default();
        let lim = limits(1_000_000, 3);
        // Sparse seqs: three ranges open, the rest refused.
        let out = apply_within(
            &mut agent,
            &batch((1..=6).map(|i| scan(i * 10)).collect()),
            lim,
        );
        assert_eq!((out.applied, out.over_range_cap), (3, 3));
        assert_eq!(agent.ranges_above_mark(), 3);
        // Extending or joining existing ranges is fine at the cap.
        let out = apply_within(&mut agent, &scans(11..=19), lim);
        assert_eq!((out.applied, out.over_range_cap), (9, 0));
        assert_eq!(agent.ranges_above_mark(), 2);
        // The next seq after the mark always goes in, and so does the run after it.
        let out = apply_within(&mut agent, &batch(vec![scan(55), scan(65), scan(1)]), lim);
        assert_eq!((out.applied, out.over_range_cap), (2, 1));
        assert!(!agent.is_done(65));
        assert_eq!(agent.committed_seq(), 1);
        let out = apply_within(&mut agent, &scans(2..=70), lim);
        assert_eq!(out.over_range_cap, 0);
        assert_eq!(agent.committed_seq(), 70);
        assert_eq!(agent.ranges_above_mark(), 0);
        // DataLoss is exempt: a scattered genuine shed must never stall its agent.
        apply_within(
            &mut agent,
            &batch((1..=3).map(|i| scan(100 + i * 10)).collect()),
            lim,
        );
        assert_eq!(agent.ranges_above_mark(), 3);
        let out = apply_within(
            &mut agent,
            &batch(vec![loss(200, &[(150, 150), (160, 160)])]),
            lim,
        );
        assert_eq!((out.applied, out.settled, out.over_range_cap), (1, 2, 0));
        assert_eq!(agent.ranges_above_mark(), 6);
    }

    #[test]
    fn missing_in_finds_holes() {
        let s = SeqSet::from_ranges([(3, 4), (8, 9)]);
        assert_eq!(missing_in(&s, 1, 10), vec![(1, 2), (5, 7), (10, 10)]);
        assert_eq!(missing_in(&s, 3, 4), vec![]);
        assert_eq!(missing_in(&s, 4, 8), vec![(5, 7)]);
        let full = SeqSet::from_ranges([(1, u64::MAX)]);
        assert_eq!(missing_in(&full, 5, u64::MAX), vec![]);
    }
}
