//! The uplink: sends journaled events to the broker as QoS 1 batches and tells the journal what
//! the collector has committed.
//!
//! A broker's PUBACK only means the broker holds the batch (in memory, until its next autosave),
//! so PUBACKs drive the in-flight window and the resend cursor, while journal entries are deleted
//! only below the collector's committed mark (retained on `.../ack`). See [`state`] for the
//! bookkeeping and `link` for the connection.
//!
//! A mark that goes back (a collector restored from a backup) is refilled from the journal's
//! retention window (`restore`); requests to resend held events ([`resend`]) are served
//! between the other work (`serve`). Both go out as historical batches after live events.

mod batch;
pub mod forged;
mod link;
pub mod resend;
mod restore;
mod serve;
pub mod state;

pub use batch::Identity;
pub use link::{decode_incoming, BrokerAccess, Link, LinkEvent};

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use crate::config::AgentConfig;
use crate::journal::{JournalInput, JournalReader};
use crate::status::{Board, UplinkStatus, LATENCY_BUCKETS};
use forged::ForgedMarks;
use state::{MarkVerdict, State};

/// How often the drain budget is refilled and stalls are checked.
const TICK: Duration = Duration::from_millis(50);
/// How often the retained status (with the backlog) is republished for HQ while online.
const HQ_STATUS_EVERY: Duration = Duration::from_secs(30);

/// How long a graceful shutdown waits for batches in flight to be acknowledged.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// What HQ can ask of this agent over the uplink's connection.
pub struct HqPorts {
    /// Resend requests, HQ's replays among them (see [`resend::ResendHandle::channel`]).
    pub resend: mpsc::Receiver<resend::ResendRequest>,
    /// Where publishes on the agent's `.../cmd` go; `None`: the topic is not subscribed.
    pub commands: Option<crate::command::CommandRoute>,
}

/// Runs the uplink until `shutdown` turns true and everything journaled is sent and
/// acknowledged by the broker (bounded by `SHUTDOWN_GRACE`; at once when disconnected).
/// Serves the resend requests and routes the commands of `hq`.
pub async fn run(
    config: AgentConfig,
    access: BrokerAccess,
    reader: JournalReader,
    journal: mpsc::UnboundedSender<JournalInput>,
    hq: HqPorts,
    mut shutdown: watch::Receiver<bool>,
    board: Arc<Board>,
) {
    let HqPorts {
        mut resend,
        commands,
    } = hq;
    let identity = Identity {
        store_id: config.store_id.clone(),
        agent_id: config.agent_id.clone(),
        boot_id: store_drivers::clock::boot_id().to_owned(),
    };
    let (inbox, link_out) = match commands {
        Some(route) => (Some(route.inbox), Some(route.link)),
        None => (None, None),
    };
    let (link, mut events) = Link::start(&config, access, identity.clone(), inbox);
    if let Some(out) = link_out {
        // The command executor publishes its results through the same connection.
        let _ = out.send(link.clone());
    }
    let mut head_rx = reader.subscribe();
    let head = *head_rx.borrow_and_update();
    // Retained events (at or below the acked mark) are not sent again unless a mark goes back.
    let mut state = State::new(
        config.uplink.clone(),
        reader.first_unacked(),
        head,
        Instant::now(),
    )
    .acked(reader.acked());
    let (prepared_tx, mut prepared_rx) = mpsc::unbounded_channel();
    let mut preparing = false;
    let mut refused_log = store_runtime::log_limit::LogLimit::<()>::default();
    let mut resend_open = true;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut mode = state.mode();
    let mut stopping_since: Option<Instant> = None;
    let mut head_open = true;
    let mut counters = Counters::default();
    let mut last_hq_status = Instant::now();
    let ack_topic = store_proto::topics::ack(&identity.store_id, &identity.agent_id);
    let mut forged = ForgedMarks::default();
    loop {
        crate::service::uplink_tick();
        restore::settle_unheld(&mut state, &reader, &journal);
        fill(&mut state, &reader, &link, &identity, &config);
        // A mark claimed before this run's resend caught up applies as it does.
        if let Some(mark) = state.due_trim(Instant::now()) {
            let _ = journal.send(JournalInput::Trim(mark));
        }
        if state.mode() != mode {
            if mode == state::Mode::Backlog {
                // The drain's buffers are free now: give them back instead of idling at the
                // drain's peak (see crate::memory).
                crate::memory::release_free();
            }
            mode = state.mode();
            info!(
                ?mode,
                backlog = state.todo_len(),
                mark = state.mark(),
                "Uplink mode changed."
            );
        }
        if let Some(since) = stopping_since {
            // Done when the broker has everything journaled, or cannot get it now (no
            // connection): what is left stays in the journal for the next start.
            let settled = state.inflight_len() == 0
                && (state.todo_len() == 0 || state.mode() == state::Mode::Disconnected);
            if settled || since.elapsed() > SHUTDOWN_GRACE {
                break;
            }
        }
        tokio::select! {
            ev = events.recv() => match ev {
                Some(ev) => {
                    let mut marks = Marks { journal: &journal, forged: &mut forged, topic: &ack_topic, reader: &reader };
                    handle(&mut state, ev, &mut marks, &mut counters);
                }
                None => break, // the connection task ended after a disconnect request
            },
            // New durable events: add them to what is to be sent.
            changed = head_rx.changed(), if head_open => {
                if changed.is_ok() {
                    state.on_head(*head_rx.borrow_and_update(), Instant::now());
                } else {
                    // The journal writer is gone (shutdown): nothing new will become durable,
                    // and a closed channel would wake this loop on every turn.
                    head_open = false;
                }
            }
            // One resend request at a time is looked up in the journal (off this task).
            req = resend.recv(), if resend_open && !preparing => match req {
                Some(req) => {
                    counters.resend_requests += 1;
                    preparing = true;
                    serve::prepare(req, reader.clone(), prepared_tx.clone());
                }
                None => resend_open = false,
            },
            Some(p) = prepared_rx.recv(), if preparing => {
                preparing = false;
                if let Err(e) = serve::finish(&mut state, p) {
                    counters.resend_refused += 1;
                    if let Some(n) = refused_log.note(&(), 1, tokio::time::Instant::now()) {
                        warn!(error = %e, refused = n, "Resend request refused (at most one line a minute).");
                    }
                }
            }
            // Lingering live events are due.
            _ = sleep_until(state.linger_deadline()) => {}
            _ = tick.tick() => {
                // The status snapshot is refreshed here, not per event: 50 ms is fresh enough.
                publish_status(&board, &state, &counters);
                if last_hq_status.elapsed() >= HQ_STATUS_EVERY {
                    last_hq_status = Instant::now();
                    link.publish_status(state.todo_len(), state.mark());
                }
                if state.tick(Instant::now()) {
                    warn!(
                        mark = state.mark(),
                        "Collector online but its mark stalled behind the broker's acks: the broker lost batches; resending from the mark."
                    );
                }
            }
            _ = shutdown.changed(), if stopping_since.is_none() => {
                // The journal has committed the drivers' last events by now: send those too,
                // not only what was already in flight.
                state.on_head(*head_rx.borrow_and_update(), Instant::now());
                info!(
                    inflight = state.inflight_len(),
                    to_send = state.todo_len(),
                    "Uplink stopping; sending what is journaled and waiting briefly for acks."
                );
                stopping_since = Some(Instant::now());
            }
        }
    }
    link.stop();
}

/// Sleeps until `deadline`, or forever when there is none.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

/// Counters kept only for the status snapshot.
#[derive(Debug, Default)]
struct Counters {
    reconnects: u64,
    last_puback_wall_ms: Option<i64>,
    latency_buckets: [u64; LATENCY_BUCKETS.len()],
    latency_count: u64,
    latency_sum_s: f64,
    last_forged_mark: Option<u64>,
    resend_requests: u64,
    /// Resend requests refused (invalid, too large, or too much waiting already).
    resend_refused: u64,
}

impl Counters {
    fn observe_latency(&mut self, took: Duration) {
        let s = took.as_secs_f64();
        for (bucket, bound) in self.latency_buckets.iter_mut().zip(LATENCY_BUCKETS) {
            if s <= bound {
                *bucket += 1;
            }
        }
        self.latency_count += 1;
        self.latency_sum_s += s;
    }
}

fn publish_status(board: &Board, state: &State, counters: &Counters) {
    let mode = match state.mode() {
        state::Mode::Disconnected => "disconnected",
        state::Mode::Normal => "normal",
        state::Mode::Backlog => "backlog",
    };
    let mut s = board.uplink.lock().expect("status lock");
    *s = UplinkStatus {
        mode: mode.to_owned(),
        connected: state.mode() != state::Mode::Disconnected,
        collector_online: state.collector_online(),
        committed_seq: state.mark(),
        inflight_batches: state.inflight_len(),
        to_send: state.todo_len(),
        last_puback_wall_ms: counters.last_puback_wall_ms,
        reconnects: counters.reconnects,
        rewinds: state.rewinds,
        restores: state.restores,
        to_replay: state.replay_len(),
        resend_requests: counters.resend_requests,
        resend_refused: counters.resend_refused,
        forged_marks: state.forged_marks,
        last_forged_mark: counters.last_forged_mark,
        puback_latency_buckets: counters.latency_buckets.to_vec(),
        puback_latency_count: counters.latency_count,
        puback_latency_sum_s: counters.latency_sum_s,
    };
}

/// Where marks go: trims to the journal, forged ones to their reporter (and HQ via the journal).
struct Marks<'a> {
    journal: &'a mpsc::UnboundedSender<JournalInput>,
    forged: &'a mut ForgedMarks,
    topic: &'a str,
    reader: &'a JournalReader,
}

fn handle(state: &mut State, ev: LinkEvent, marks: &mut Marks<'_>, counters: &mut Counters) {
    let now = Instant::now();
    match ev {
        LinkEvent::Connected => {
            counters.reconnects += 1;
            state.on_connected();
        }
        LinkEvent::Disconnected(reason) => {
            debug!(%reason, inflight = state.inflight_len(), "Resending what was in flight.");
            state.on_disconnected();
        }
        LinkEvent::PubAck(id) => {
            counters.last_puback_wall_ms = Some(store_drivers::clock::wall_ms());
            if let Some(took) = state.on_puback(id, now) {
                counters.observe_latency(took);
            }
        }
        LinkEvent::Mark {
            committed,
            done_above,
        } => match state.on_mark(committed, &done_above, now) {
            MarkVerdict::Trim(mark) => {
                let _ = marks.journal.send(JournalInput::Trim(mark));
            }
            MarkVerdict::Nothing => {}
            MarkVerdict::Rewind { from, to } => {
                restore::on_rewind(state, from, to, marks.reader, marks.journal);
            }
            MarkVerdict::Forged { mark, bound } => {
                counters.last_forged_mark = Some(mark);
                if let Some(event) = marks.forged.on_forged(mark, bound, marks.topic, now) {
                    let _ = marks.journal.send(JournalInput::Event(Box::new(event)));
                }
            }
        },
        LinkEvent::Collector {
            id,
            online,
            birth_ms,
        } => {
            info!(collector_id = %id, online, birth_ms, "Collector status.");
            if !online {
                state.on_collector(&id, false);
            } else if state.on_collector_birth(&id, birth_ms, now) {
                info!(
                    collector_id = %id,
                    mark = state.mark(),
                    to_send = state.todo_len(),
                    "A collector (re)subscribed: resending what the broker accepted before and the collector has not confirmed."
                );
            }
        }
    }
}

/// Publishes batches while the window and drain budget allow.
fn fill(
    state: &mut State,
    reader: &JournalReader,
    link: &Link,
    identity: &Identity,
    config: &AgentConfig,
) {
    while let Some(pick) = state.pick(Instant::now()) {
        let events = match reader.read(
            pick.from,
            pick.to,
            config.uplink.batch_max_events,
            config.uplink.batch_max_bytes,
        ) {
            Ok(e) => e,
            Err(e) => {
                warn!(error = %e, "Journal read failed; retrying on the next tick.");
                return;
            }
        };
        let Some(&(last, _)) = events.last() else {
            state.skip(pick.from, pick.to);
            continue;
        };
        let payload = batch::encode(
            identity,
            pick.historical,
            store_drivers::clock::reported_ms(),
            events.iter().map(|(_, v)| v.as_ref()),
        );
        // The id is reserved before publishing so the link can tag the request with it.
        let id = state.sent(pick.from, last, events.len(), pick.historical);
        if !link.publish_batch(id, payload) {
            state.on_disconnected_batch(id);
            return;
        }
    }
}
