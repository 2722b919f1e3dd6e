//! Serving [`super::resend`] requests in the uplink task.
//!
//! Finding the held seqs of a request reads the journal (keys for a seq range; every held event
//! for a time range), so that runs on the blocking pool, one request at a time; the uplink task
//! then queues the result as replays (below the mark) or sends (above it) and answers. Bounded:
//! at most [`MAX_RESEND_EVENTS`] per request and [`MAX_REPLAY_QUEUED`] waiting in all, or the
//! request is refused with an error.

use store_proto::SeqSet;
use tokio::sync::{mpsc, oneshot};

use super::resend::{ResendOutcome, ResendRange, ResendRequest};
use super::state::State;
use crate::journal::JournalReader;

/// Most events one request may ask for.
pub const MAX_RESEND_EVENTS: u64 = 1_000_000;

/// Most seqs waiting for replay before further requests are refused.
pub const MAX_REPLAY_QUEUED: u64 = 2_000_000;

type Reply = oneshot::Sender<Result<ResendOutcome, String>>;

/// A request looked up in the journal: its held seqs and the requested ones not held, or why it
/// cannot be served.
#[derive(Debug)]
pub struct Prepared {
    found: Result<(SeqSet, Vec<(u64, u64)>), String>,
    reply: Reply,
}

/// Looks `req` up on the blocking pool and sends the result to `done`.
pub fn prepare(req: ResendRequest, reader: JournalReader, done: mpsc::UnboundedSender<Prepared>) {
    tokio::task::spawn_blocking(move || {
        let ResendRequest { range, reply } = req;
        let found = find(&reader, range);
        if let Err(mpsc::error::SendError(p)) = done.send(Prepared { found, reply }) {
            let _ = p.reply.send(Err("the uplink has stopped".to_owned()));
        }
    });
}

/// Queues a prepared request and answers it; the error when it was refused.
pub fn finish(state: &mut State, p: Prepared) -> Result<(), String> {
    let answer = p.found.and_then(|(held, not_retained)| {
        if state.replay_len().saturating_add(held.len()) > MAX_REPLAY_QUEUED {
            return Err(format!(
                "{} seqs already wait for resending; try again later",
                state.replay_len()
            ));
        }
        Ok(ResendOutcome {
            queued: state.queue_resend(&held),
            not_retained,
        })
    });
    let refused = answer.as_ref().err().cloned();
    let _ = p.reply.send(answer);
    refused.map_or(Ok(()), Err)
}

/// The held seqs of a range, and the requested seqs not held (exact for a seq range).
fn find(reader: &JournalReader, range: ResendRange) -> Result<(SeqSet, Vec<(u64, u64)>), String> {
    match range {
        ResendRange::Seqs { from, to } => {
            if from == 0 || from > to {
                return Err(format!("invalid seq range {from}..={to}"));
            }
            if to - from >= MAX_RESEND_EVENTS {
                return Err(format!(
                    "seq range {from}..={to} is larger than {MAX_RESEND_EVENTS} events"
                ));
            }
            let held = reader.held(from, to, MAX_RESEND_EVENTS)?;
            let mut missing = SeqSet::from_ranges([(from, to)]);
            for (a, b) in held.ranges() {
                missing.remove_range(a, b);
            }
            Ok((held, missing.ranges().collect()))
        }
        ResendRange::Time { from_ms, to_ms } => {
            if from_ms > to_ms {
                return Err(format!("invalid time range {from_ms}..={to_ms}"));
            }
            let held = reader.held_in_time(from_ms, to_ms, MAX_RESEND_EVENTS)?;
            // Which seqs an event no longer held had cannot be told from its time; what can be
            // said exactly: below the floor nothing is held, and the range reaches back there
            // when it starts before the oldest event still held.
            let floor = reader.retain_floor();
            let oldest_ms = reader
                .first_seq()
                .and_then(|seq| reader.get(seq))
                .map(|e| e.wall_time_ms);
            let reaches_back = oldest_ms.is_none_or(|o| from_ms < o);
            let not_retained = if floor > 1 && reaches_back {
                vec![(1, floor - 1)]
            } else {
                vec![]
            };
            Ok((held, not_retained))
        }
    }
}
