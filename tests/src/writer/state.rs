//! The state a writer's threads share: the lines in flight, in the order they were sent, and
//! the counters the report is made of.
//!
//! The line feed answers in order, so the oldest pending line is the one each answer belongs
//! to; an answer with no pending line is a protocol error, never a guess. Every change is made
//! under the one mutex and announced on the condition variable, which the waits of the handle
//! and of the write loop sleep on.

use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

use super::report::WriterReport;
use crate::events::{Effect, Tally};

pub(super) struct Shared {
    pub(super) state: Mutex<State>,
    pub(super) changed: Condvar,
    pub(super) stop: AtomicBool,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// A line sent and not yet answered.
pub(super) struct Pending {
    pub(super) index: u64,
    pub(super) effect: Effect,
    pub(super) sent_at: Instant,
}

pub(super) struct State {
    pub(super) pending: VecDeque<Pending>,
    /// The current connection's reader is still reading.
    pub(super) alive: bool,
    pub(super) finished: bool,
    pub(super) sent: u64,
    pub(super) acked: BTreeSet<u64>,
    pub(super) acked_tally: Tally,
    pub(super) sent_tally: Tally,
    pub(super) errors: u64,
    pub(super) error_samples: Vec<String>,
    pub(super) unanswered: u64,
    pub(super) connections: u32,
    pub(super) reused_seqs: Vec<u64>,
    pub(super) out_of_order: Vec<(u64, u64)>,
    pub(super) protocol_errors: Vec<String>,
    pub(super) send_times: Vec<(u64, Instant)>,
    pub(super) failure: Option<String>,
    pub(super) next_index: u64,
    pub(super) started: Instant,
    pub(super) last_ack_at: Option<Instant>,
}

impl State {
    pub(super) fn new(first_index: u64) -> Self {
        Self {
            pending: VecDeque::new(),
            alive: false,
            finished: false,
            sent: 0,
            acked: BTreeSet::new(),
            acked_tally: Tally::default(),
            sent_tally: Tally::default(),
            errors: 0,
            error_samples: Vec::new(),
            unanswered: 0,
            connections: 0,
            reused_seqs: Vec::new(),
            out_of_order: Vec::new(),
            protocol_errors: Vec::new(),
            send_times: Vec::new(),
            failure: None,
            next_index: first_index,
            started: Instant::now(),
            last_ack_at: None,
        }
    }

    pub(super) fn on_answer(&mut self, text: &str, record_send_times: bool) {
        let Some(line) = self.pending.pop_front() else {
            self.protocol_error(format!("answer {text:?} for no line"));
            return;
        };
        if let Some(rest) = text.strip_prefix("ok ") {
            let Ok(seq) = rest.trim().parse::<u64>() else {
                self.protocol_error(format!("line {}: bad answer {text:?}", line.index));
                return;
            };
            if let Some(&max) = self.acked.last() {
                if seq <= max {
                    self.out_of_order.push((max, seq));
                }
            }
            if !self.acked.insert(seq) {
                self.reused_seqs.push(seq);
            }
            self.acked_tally.add_effect(line.effect);
            self.last_ack_at = Some(Instant::now());
            if record_send_times {
                self.send_times.push((seq, line.sent_at));
            }
        } else if text == "err" || text.starts_with("err ") {
            self.errors += 1;
            if self.error_samples.len() < 10 {
                self.error_samples
                    .push(format!("line {}: {}", line.index, text));
            }
        } else {
            self.protocol_error(format!("line {}: unexpected answer {text:?}", line.index));
        }
    }

    fn protocol_error(&mut self, msg: String) {
        if self.protocol_errors.len() < 10 {
            self.protocol_errors.push(msg);
        }
    }

    pub(super) fn report(&mut self) -> WriterReport {
        WriterReport {
            sent: self.sent,
            acked: std::mem::take(&mut self.acked),
            acked_tally: self.acked_tally.clone(),
            sent_tally: self.sent_tally.clone(),
            errors: self.errors,
            error_samples: self.error_samples.clone(),
            unanswered: self.unanswered,
            connections: self.connections,
            reused_seqs: self.reused_seqs.clone(),
            out_of_order: self.out_of_order.clone(),
            protocol_errors: self.protocol_errors.clone(),
            send_times: std::mem::take(&mut self.send_times),
            failure: self.failure.clone(),
            next_index: self.next_index,
            started: self.started,
            last_ack_at: self.last_ack_at,
        }
    }
}
