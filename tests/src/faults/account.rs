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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Tally;
    use std::time::Instant;

    fn report(acked: impl IntoIterator<Item = u64>) -> WriterReport {
        let acked: std::collections::BTreeSet<u64> = acked.into_iter().collect();
        WriterReport {
            sent: acked.len() as u64,
            acked,
            acked_tally: Tally::default(),
            sent_tally: Tally::default(),
            errors: 0,
            error_samples: Vec::new(),
            unanswered: 0,
            connections: 1,
            reused_seqs: Vec::new(),
            out_of_order: Vec::new(),
            protocol_errors: Vec::new(),
            send_times: Vec::new(),
            failure: None,
            next_index: 0,
            started: Instant::now(),
            last_ack_at: None,
        }
    }

    fn stats(applied_total: u64, applied: &str, lost: &str, count: u64) -> Stats {
        Stats::parse(&format!(
            r#"{{"collector_id":"hq-1","applied_total":{applied_total},"duplicates_total":0,
            "batches_total":1,"rejected_batches":0,"stores":{{}},
            "agents":[{{"store_id":"s","agent_id":"a","committed_seq":10,"highest_seq":10,
            "applied_count":{count},"applied_ranges":{applied},"gaps":[],"lost_ranges":{lost},
            "last_batch_wall_ms":0}}]}}"#
        ))
        .unwrap()
    }

    #[test]
    fn confirmed_seqs_are_applied_reported_or_lost() {
        // 1-4 applied, 5-6 reported by a DataLoss, 7 confirmed but nowhere, 8 applied though
        // never confirmed (its answer was lost at a kill): not counted.
        let s = stats(5, "[[1,4],[8,8]]", "[[5,6]]", 5);
        let o = account(&s, "s", "a", &report(1..=7));
        assert_eq!(
            (o.confirmed, o.applied, o.reported, o.lost, o.double_applied),
            (7, 4, 2, 1, 0)
        );
        assert!(!o.passed());
        assert!(o.violations[0].contains("[[7,7]]"), "{:?}", o.violations);
    }

    #[test]
    fn a_second_application_and_an_overlapping_report_fail() {
        let s = stats(5, "[[1,4]]", "[[4,5]]", 4);
        let o = account(&s, "s", "a", &report(1..=5));
        assert_eq!((o.lost, o.double_applied), (0, 1));
        assert!(
            o.violations.iter().any(|v| v.contains("overlapping")),
            "{:?}",
            o.violations
        );
        assert!(!o.passed());
        let clean = account(&stats(4, "[[1,4]]", "[]", 4), "s", "a", &report(1..=4));
        assert!(clean.passed(), "{clean:?}");
    }
}
