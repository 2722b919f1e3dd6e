//! The delivery invariants, judged from the writer's report and the collector's stats.
//!
//! Each check returns a list of violations rather than stopping at the first, so a failing test
//! says everything that went wrong at once. [`assert_no_violations`] panics with the list and the
//! numbers behind it.

use std::time::Duration;

use store_proto::SeqSet;

use crate::collector::Collector;
use crate::events::Kind;
use crate::stats::{short_ranges, Stats};
use crate::writer::WriterReport;

/// Invariant 1 for one agent whose writers' reports were merged into `report`:
/// - every acknowledged seq is applied, none twice (`applied_total` equals the distinct seqs
///   applied over all agents);
/// - the store's effect is consistent: `foot_traffic_entries` equals the foot-traffic events
///   applied (each was sent with `entries = 1`), every kind has at least its acknowledged count
///   and at most its sent count, and no more events were applied than lines were sent;
/// - the contiguous mark reached the highest acknowledged seq with no gaps, nothing settled as
///   lost, no batch rejected;
/// - the writer saw no `err`, reused or decreasing seqs.
pub fn delivery_violations(
    stats: &Stats,
    store_id: &str,
    agent_id: &str,
    report: &WriterReport,
) -> Vec<String> {
    let mut v = report.violations();
    let Some(agent) = stats.agent(store_id, agent_id) else {
        v.push(format!("collector has no entry for {store_id}/{agent_id}"));
        return v;
    };
    let applied = agent.applied();

    let mut missing = SeqSet::new();
    for &seq in &report.acked {
        if !applied.contains(seq) {
            missing.insert(seq);
        }
    }
    if !missing.is_empty() {
        let ranges: Vec<(u64, u64)> = missing.ranges().collect();
        v.push(format!(
            "LOSS: {} acknowledged seqs were never applied: {}",
            missing.len(),
            short_ranges(&ranges)
        ));
    }

    let distinct_all: u64 = stats.agents.iter().map(|a| a.applied_count).sum();
    if stats.applied_total != distinct_all {
        v.push(format!(
            "DOUBLE APPLY: applied_total {} != distinct seqs applied {} (over {} agents)",
            stats.applied_total,
            distinct_all,
            stats.agents.len()
        ));
    }
    if agent.applied_count != applied.len() {
        v.push(format!(
            "applied_count {} disagrees with applied_ranges, which hold {} seqs",
            agent.applied_count,
            applied.len()
        ));
    }

    let store = stats.store(store_id);
    let ft = store
        .kinds
        .get(Kind::FootTraffic.name())
        .copied()
        .unwrap_or(0);
    if store.foot_traffic_entries != ft {
        v.push(format!(
            "foot_traffic_entries {} != foot-traffic events applied {ft} (each carries entries=1)",
            store.foot_traffic_entries
        ));
    }
    for (kind, &acked) in &report.acked_tally.kinds {
        let got = store.kinds.get(kind).copied().unwrap_or(0);
        let sent = report.sent_tally.kinds.get(kind).copied().unwrap_or(0);
        if got < acked || got > sent {
            v.push(format!(
                "kind {kind}: {got} applied, expected between {acked} acknowledged and {sent} sent"
            ));
        }
    }
    if agent.applied_count > report.sent {
        v.push(format!(
            "{} events applied but only {} lines sent",
            agent.applied_count, report.sent
        ));
    }

    if let Some(max) = report.max_acked() {
        if agent.committed_seq < max {
            v.push(format!(
                "committed_seq {} below the highest acknowledged seq {max}",
                agent.committed_seq
            ));
        }
    }
    if !agent.gaps.is_empty() {
        v.push(format!("gaps: {}", short_ranges(&agent.gaps)));
    }
    if !agent.lost_ranges.is_empty() {
        v.push(format!(
            "seqs settled as lost (DataLoss) where no loss was expected: {}",
            short_ranges(&agent.lost_ranges)
        ));
    }
    if applied.last().is_some_and(|last| last != agent.highest_seq) {
        v.push(format!(
            "highest_seq {} but the highest applied seq is {:?}",
            agent.highest_seq,
            applied.last()
        ));
    }
    if stats.rejected_batches != 0 {
        v.push(format!("{} batches rejected", stats.rejected_batches));
    }
    v
}

/// [`delivery_violations`] plus exactness for a run where nothing was killed: all `expected`
/// lines acknowledged, seqs `1..=expected` applied exactly once, kinds and sums exact.
pub fn exact_violations(
    stats: &Stats,
    store_id: &str,
    agent_id: &str,
    report: &WriterReport,
    expected: u64,
) -> Vec<String> {
    let mut v = delivery_violations(stats, store_id, agent_id, report);
    if report.acked.len() as u64 != expected || report.unanswered != 0 {
        v.push(format!(
            "{} of {expected} lines acknowledged, {} unanswered",
            report.acked.len(),
            report.unanswered
        ));
    }
    if stats.applied_total != expected {
        v.push(format!(
            "applied_total {} != {expected}",
            stats.applied_total
        ));
    }
    let Some(agent) = stats.agent(store_id, agent_id) else {
        return v;
    };
    if agent.applied_count != expected {
        v.push(format!(
            "applied_count {} != {expected}",
            agent.applied_count
        ));
    }
    if agent.applied_ranges != [(1, expected)] {
        v.push(format!(
            "applied_ranges {} != [[1,{expected}]]",
            short_ranges(&agent.applied_ranges)
        ));
    }
    if agent.committed_seq != expected {
        v.push(format!(
            "committed_seq {} != {expected}",
            agent.committed_seq
        ));
    }
    let store = stats.store(store_id);
    if store.kinds != report.acked_tally.kinds {
        v.push(format!(
            "kinds {:?} != sent {:?}",
            store.kinds, report.acked_tally.kinds
        ));
    }
    if store.foot_traffic_entries != report.acked_tally.entries
        || store.foot_traffic_exits != report.acked_tally.exits
    {
        v.push(format!(
            "foot traffic entries/exits {}/{} != sent {}/{}",
            store.foot_traffic_entries,
            store.foot_traffic_exits,
            report.acked_tally.entries,
            report.acked_tally.exits
        ));
    }
    v
}

/// Panics listing the violations, with the numbers they were judged from.
pub fn assert_no_violations(
    what: &str,
    violations: &[String],
    stats: &Stats,
    store_id: &str,
    agent_id: &str,
    report: &WriterReport,
) {
    if violations.is_empty() {
        return;
    }
    panic!(
        "{what}: {} violation(s):\n  - {}\nwriter: {}\ncollector: {}\nstore: {:?}",
        violations.len(),
        violations.join("\n  - "),
        report.summary(),
        stats.summary(store_id, agent_id),
        stats.stores.get(store_id)
    );
}

/// Waits until the collector's contiguous mark for the agent reaches `target` with no gaps, and
/// returns the stats seen then. `alive` is asked on every poll (e.g. "are the processes still
/// running?") so a crash fails at once. Panics on timeout with the last stats seen.
pub fn wait_committed(
    collector: &Collector,
    store_id: &str,
    agent_id: &str,
    target: u64,
    timeout: Duration,
    mut alive: impl FnMut() -> Result<(), String>,
) -> Stats {
    crate::wait::wait_for(
        timeout,
        &format!("{store_id}/{agent_id} committed_seq >= {target} with no gaps"),
        || {
            alive()?;
            let stats = collector.stats()?;
            match stats.agent(store_id, agent_id) {
                Some(a) if a.committed_seq >= target && a.gaps.is_empty() => Ok(stats),
                _ => Err(stats.summary(store_id, agent_id)),
            }
        },
    )
}
