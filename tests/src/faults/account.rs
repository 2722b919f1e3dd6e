//! The suite's accounting: what a case's line-feed writer saw confirmed against what the
//! collector applied or holds as reported lost (definitions in the [module overview](super)).

use serde::Serialize;
use store_proto::SeqSet;

use crate::stats::{short_ranges, Stats};
use crate::writer::WriterReport;

/// What one case measured, and whether it passed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    pub confirmed: u64,
    pub applied: u64,
    pub reported: u64,
    pub lost: u64,
    pub double_applied: u64,
    /// Case-specific figures, e.g. `("kills", "50")`, in table order.
    pub extras: Vec<(String, String)>,
    /// Everything that went wrong besides loss and double application.
    pub violations: Vec<String>,
}

impl Outcome {
    /// Zero lost, zero double-applied, no violation.
    pub fn passed(&self) -> bool {
        self.lost == 0 && self.double_applied == 0 && self.violations.is_empty()
    }

    pub fn extra(&mut self, key: &str, value: impl ToString) -> &mut Self {
        self.extras.push((key.to_string(), value.to_string()));
        self
    }

    /// Adds a violation unless `ok`.
    pub fn require(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.violations.push(what());
        }
    }
}

/// Counts confirmed, applied, reported, lost and double-applied seqs of one agent. Adds a
/// violation naming the lost seqs, and one for seqs both applied and reported lost (a
/// `DataLoss` that named an event HQ has: its report would be wrong).
pub fn account(stats: &Stats, store_id: &str, agent_id: &str, report: &WriterReport) -> Outcome {
    let mut o = Outcome {
        confirmed: report.acked.len() as u64,
        ..Outcome::default()
    };
    let distinct_all: u64 = stats.agents.iter().map(|a| a.applied_count).sum();
    o.double_applied = stats.applied_total.saturating_sub(distinct_all);
    let Some(agent) = stats.agent(store_id, agent_id) else {
        o.lost = o.confirmed;
        o.violations
            .push(format!("collector has no entry for {store_id}/{agent_id}"));
        return o;
    };
    let applied = agent.applied();
    let reported = SeqSet::from_ranges(agent.lost_ranges.iter().copied());
    let mut lost = SeqSet::new();
    for &seq in &report.acked {
        if applied.contains(seq) {
            o.applied += 1;
        } else if reported.contains(seq) {
            o.reported += 1;
        } else {
            lost.insert(seq);
        }
    }
    o.lost = lost.len();
    if !lost.is_empty() {
        let r: Vec<(u64, u64)> = lost.ranges().collect();
        o.violations.push(format!(
            "LOST: {} confirmed seqs neither applied nor reported: {}",
            lost.len(),
            short_ranges(&r)
        ));
    }
    let both: Vec<(u64, u64)> = agent
        .lost_ranges
        .iter()
        .filter(|&&(a, b)| agent.applied_ranges.iter().any(|&(c, d)| a <= d && c <= b))
        .copied()
        .collect();
    if !both.is_empty() {
        o.violations.push(format!(
            "DataLoss ranges overlapping applied seqs: {}",
            short_ranges(&both)
        ));
    }
    o
}

/// Merges [`crate::check::delivery_violations`] (the strict invariant-1 checks for a case where
/// no loss is allowed, not even a reported one) into an outcome.
pub fn strict(
    o: &mut Outcome,
    stats: &Stats,
    store_id: &str,
    agent_id: &str,
    report: &WriterReport,
) {
    for v in crate::check::delivery_violations(stats, store_id, agent_id, report) {
        // Loss and double application are already counted in the table's own columns.
        if !v.starts_with("LOSS:") && !v.starts_with("DOUBLE APPLY:") {
            o.violations.push(v);
        }
    }
}
