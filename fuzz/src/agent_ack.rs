//! The agent's handling of incoming messages on its `.../ack` (CommitMark) and
//! `hq/collector/+/status` (CollectorStatus) topics: decoded by `uplink::decode_incoming` and
//! fed to the uplink state machine (`uplink::state::State`), interleaved with what the rest of
//! the agent does to it: connections, sends (and refused publishes), PUBACKs, journal head
//! moves, skips and ticks (see `store_edge_fuzz::ack` for the input format).
//!
//! Asserted after every step, besides "no panic": the journal is never trimmed above what this
//! run published, trims only move up, and only a plausible mark trims; the state's own
//! invariants (`State::audit`: above the mark every seq in at most one of to-send, in flight,
//! PUBACKed); every journal seq above the mark is still tracked for sending unless the journal
//! does not hold it or the collector's latest mark says it has it (nothing silently dropped).

use std::time::{Duration, Instant};

use super::{ack, Reader};
use store_agent::config::UplinkConfig;
use store_agent::uplink::state::{MarkVerdict, State};
use store_agent::uplink::{decode_incoming, LinkEvent};
use store_proto::SeqSet;

/// One fuzz input: panics when an invariant above is broken.
pub fn run(data: &[u8]) {
    let mut r = Reader::new(data);
    let (Some(held), Some(head), Some(cfg)) = (r.u8(), r.u8(), r.u8()) else {
        return;
    };
    let mut head = u64::from(head);
    let held = (held != 0)
        .then_some(u64::from(held))
        .filter(|&h| h <= head);
    let config = UplinkConfig {
        batch_max_events: usize::from(cfg & 7) + 1,
        max_inflight: usize::from((cfg >> 3) & 3) + 1,
        backlog_events_per_sec: if cfg & 0x20 != 0 { 50 } else { 0 },
        backlog_threshold_events: 4 << (cfg >> 6),
        stall_timeout_secs: 1,
        linger_ms: 20,
        ..UplinkConfig::default()
    };
    let mut now = Instant::now();
    let start_head = head;
    let mut state = State::new(config, held, head, now);
    // The model: what was published in this run, the last trim, what may be missing.
    let mut published = 0u64;
    let mut trimmed = 0u64;
    // Seqs the journal does not hold (trimmed before this run, skipped), and what the last
    // accepted mark says the collector holds above it.
    let mut excused = SeqSet::new();
    let mut claim = SeqSet::new();
    let mut claimed = 0u64;
    // Below the first held seq the journal holds nothing (trimmed in an earlier run).
    let first_held = held.unwrap_or(head + 1);
    if first_held > 1 {
        excused.insert_range(1, first_held - 1);
    }
    // Batches handed to the client since the last connection, as the link reports PUBACKs.
    let mut batches: Vec<u64> = Vec::new();

    while let Some(op) = r.u8() {
        match op % ack::OPS {
            ack::CONNECT => {
                batches.clear();
                state.on_connected();
            }
            ack::DISCONNECT => {
                batches.clear();
                state.on_disconnected();
            }
            ack::SEND => {
                let Some(arg) = r.u8() else { break };
                if let Some(pick) = state.pick(now) {
                    let n = u64::from(arg & 0x7f) + 1;
                    let last = pick.to.min(pick.from.saturating_add(n - 1));
                    let events = (last - pick.from + 1) as usize;
                    let id = state.sent(pick.from, last, events, pick.historical);
                    if arg & 0x80 != 0 {
                        state.on_disconnected_batch(id);
                    } else {
                        published = published.max(last);
                        batches.push(id);
                    }
                    if let Some(to) = state.due_trim(now) {
                        check_trim(to, published, &mut trimmed);
                    }
                }
            }
            ack::PUBACK => {
                let Some(arg) = r.u8() else { break };
                if !batches.is_empty() {
                    let id = batches.remove(usize::from(arg) % batches.len());
                    state.on_puback(id, now);
                }
            }
            ack::HEAD => {
                let Some(arg) = r.u8() else { break };
                head += u64::from(arg);
                state.on_head(head, now);
            }
            ack::TICK => {
                let Some(ms) = r.u16() else { break };
                now += Duration::from_millis(u64::from(ms) * 32);
                state.tick(now);
            }
            ack::MESSAGE => {
                let Some(kind) = r.u8() else { break };
                let topic = match kind {
                    0 => ack::ACK_TOPIC.to_owned(),
                    1 => {
                        let Some(id) = r.short() else { break };
                        format!("hq/collector/{}/status", String::from_utf8_lossy(id))
                    }
                    _ => {
                        let Some(t) = r.short() else { break };
                        String::from_utf8_lossy(t).into_owned()
                    }
                };
                let Some(payload) = r.long() else { break };
                let decoded = decode_incoming(ack::ACK_TOPIC, &topic, payload);
                if decoded.is_err() {
                    assert_eq!(
                        topic,
                        ack::ACK_TOPIC,
                        "only marks are refused as undecodable"
                    );
                }
                match decoded.ok().flatten() {
                    Some(LinkEvent::Mark {
                        committed,
                        done_above,
                    }) => {
                        assert!(done_above.len() <= 64);
                        let bound = start_head.max(published);
                        match state.on_mark(committed, &done_above, now) {
                            MarkVerdict::Trim(to) => {
                                assert!(to <= committed, "trim {to} above the mark {committed}");
                                check_trim(to, published, &mut trimmed);
                            }
                            MarkVerdict::Nothing => {}
                            MarkVerdict::Forged { mark, bound: b } => {
                                assert_eq!((mark, b), (committed, bound));
                                assert!(committed > bound, "a plausible mark called forged");
                            }
                            MarkVerdict::Rewind { from, to } => {
                                assert_eq!(to, committed);
                                assert!(to < from && from == claimed, "rewind {from} -> {to}");
                            }
                        }
                        // Every plausible mark is taken (a lower one as a rewind, which
                        // replays what is below the applied mark and keeps it).
                        if committed <= bound {
                            // What the state may leave unsent: held above the mark, published
                            // here, and (only) as long as the collector keeps saying so.
                            claimed = committed;
                            claim = SeqSet::new();
                            for (a, b) in done_above {
                                let (a, b) = (a.max(committed.saturating_add(1)), b.min(published));
                                if a <= b {
                                    claim.insert_range(a, b);
                                }
                            }
                        }
                    }
                    Some(LinkEvent::Collector { .. }) if kind == 0 => {
                        panic!("a status decoded from the ack topic")
                    }
                    Some(LinkEvent::Collector { id, online, .. }) => {
                        assert!(topic.ends_with("/status") && topic.contains(id.as_str()));
                        state.on_collector(&id, online);
                    }
                    Some(other) => panic!("unexpected {other:?} from {topic:?}"),
                    None => {}
                }
            }
            ack::SKIP => {
                if let Some(pick) = state.pick(now) {
                    state.skip(pick.from, pick.to);
                    excused.insert_range(pick.from, pick.to);
                }
            }
            _ => unreachable!(),
        }

        assert!(
            state.mark() <= published,
            "mark {} above published {published}",
            state.mark()
        );
        assert_eq!(state.mark(), trimmed);
        if let Err(e) = state.audit() {
            panic!("{e}");
        }
        // Nothing silently forgotten: above the mark, up to the head, every seq is tracked
        // for sending unless the journal does not hold it or the collector's latest mark says
        // it has it.
        let mut covered = state.tracked();
        for (a, b) in excused.ranges().chain(claim.ranges()) {
            covered.insert_range(a, b);
        }
        let from = state.mark() + 1;
        if from <= head {
            let reached = covered.contiguous_from(from);
            assert!(
                reached >= head,
                "seq {} (mark {}, head {head}) neither tracked nor excused",
                reached + 1,
                state.mark()
            );
        }
    }
}

/// A trim: only up, and never above what this run published.
fn check_trim(to: u64, published: u64, trimmed: &mut u64) {
    assert!(to <= published, "trim {to} above published {published}");
    assert!(to > *trimmed, "trim {to} not above the last trim {trimmed}");
    *trimmed = to;
}
