//! What a writer saw, as [`WriterReport`]: the acknowledged seqs with the effects they should
//! have had at the collector, and what the writer itself saw go wrong.
//!
//! The acknowledged set is what the delivery checks hold the collector to (ARCHITECTURE.md
//! invariant 1: every `ok`'d event arrives exactly once); the reused and decreasing seqs are
//! the part of ARCHITECTURE.md invariant 2 a client can see. Reports of successive writers to
//! one agent merge into one, keeping those checks across the boundary.

use std::collections::BTreeSet;
use std::time::Instant;

use crate::events::Tally;

#[derive(Debug, Clone)]
pub struct WriterReport {
    /// Lines written to a socket.
    pub sent: u64,
    /// Seqs answered with `ok`.
    pub acked: BTreeSet<u64>,
    /// Expected effect of the acknowledged lines.
    pub acked_tally: Tally,
    /// Expected effect of every line sent, acknowledged or not (an upper bound).
    pub sent_tally: Tally,
    /// Lines answered with `err`.
    pub errors: u64,
    /// The first few `err` answers.
    pub error_samples: Vec<String>,
    /// Lines sent on a connection that broke before their answer came.
    pub unanswered: u64,
    /// Connections made (1 + reconnects).
    pub connections: u32,
    /// Seqs answered `ok` twice (a reused seq).
    pub reused_seqs: Vec<u64>,
    /// `(highest so far, then got)` for an `ok` seq that did not exceed all earlier ones.
    pub out_of_order: Vec<(u64, u64)>,
    /// Answers that match no line or are neither `ok` nor `err`.
    pub protocol_errors: Vec<String>,
    /// `(seq, when its line was written)`, when asked for.
    pub send_times: Vec<(u64, Instant)>,
    /// Why the writer gave up early (could not reconnect), if it did.
    pub failure: Option<String>,
    /// Index the next line would have had.
    pub next_index: u64,
    pub started: Instant,
    pub last_ack_at: Option<Instant>,
}

impl WriterReport {
    /// Highest acknowledged seq.
    pub fn max_acked(&self) -> Option<u64> {
        self.acked.last().copied()
    }

    /// Adds the report of a later writer to the same agent.
    pub fn merge(&mut self, later: WriterReport) {
        if let (Some(max), Some(first)) = (self.max_acked(), later.acked.first().copied()) {
            if first <= max {
                self.out_of_order.push((max, first));
            }
        }
        for seq in &later.acked {
            if !self.acked.insert(*seq) {
                self.reused_seqs.push(*seq);
            }
        }
        self.sent += later.sent;
        self.acked_tally.merge(&later.acked_tally);
        self.sent_tally.merge(&later.sent_tally);
        self.errors += later.errors;
        self.error_samples.extend(later.error_samples);
        self.unanswered += later.unanswered;
        self.connections += later.connections;
        self.reused_seqs.extend(later.reused_seqs);
        self.out_of_order.extend(later.out_of_order);
        self.protocol_errors.extend(later.protocol_errors);
        self.send_times.extend(later.send_times);
        if self.failure.is_none() {
            self.failure = later.failure;
        }
        self.next_index = self.next_index.max(later.next_index);
        self.last_ack_at = self.last_ack_at.max(later.last_ack_at);
    }

    /// What the writer itself saw go wrong: `err` answers, reused or decreasing seqs, protocol
    /// errors, giving up on reconnecting.
    pub fn violations(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.errors > 0 {
            v.push(format!(
                "{} lines answered with err, e.g. {:?}",
                self.errors, self.error_samples
            ));
        }
        if !self.reused_seqs.is_empty() {
            v.push(format!(
                "seqs acknowledged twice (reused): {:?}",
                &self.reused_seqs[..self.reused_seqs.len().min(10)]
            ));
        }
        if !self.out_of_order.is_empty() {
            v.push(format!(
                "ok seqs not increasing, (highest before, got): {:?}",
                &self.out_of_order[..self.out_of_order.len().min(10)]
            ));
        }
        if !self.protocol_errors.is_empty() {
            v.push(format!("protocol errors: {:?}", self.protocol_errors));
        }
        if let Some(f) = &self.failure {
            v.push(format!("writer gave up: {f}"));
        }
        v
    }

    /// One line for logs.
    pub fn summary(&self) -> String {
        format!(
            "sent={} acked={} max_acked={:?} errors={} unanswered={} connections={}",
            self.sent,
            self.acked.len(),
            self.max_acked(),
            self.errors,
            self.unanswered,
            self.connections
        )
    }
}
