//! HQ commands: the agent runs what a collector publishes on its `.../cmd` topic and answers on
//! `.../cmd/result`.
//!
//! ```text
//! link (cmd topic) ─Inbox (bounded)─▶ serve ─▶ Executor::handle ─▶ CommandResult ─▶ link (cmd/result)
//!                                               │ validate: size, protobuf, id
//!                                               │ done: already answered? repeat, duplicate = true
//!                                               │ validate: addressee, expiry, kind, arguments
//!                                               │ run: resend port, reload, scanner mode,
//!                                               │      status, log filter
//!                                               └ done: record (fdatasync) before publishing
//! ```
//!
//! Every byte of a command is untrusted: [`validate`] bounds and checks it before anything
//! runs, and a refusal changes nothing. An id runs at most once, across restarts ([`done`]):
//! a repeated id gets the stored answer again, marked duplicate, refusals included. Commands
//! run one at a time, each bounded by [`EXEC_TIMEOUT`]; the inbox holds at most
//! [`INBOX_CAPACITY`] waiting ones, and a command arriving when it is full is dropped, counted
//! (`busy`) and logged without an answer: under the clean session nothing is redelivered, so HQ
//! sees no result and may send the same id again, which is safe.

pub mod done;
pub mod log_filter;
pub mod reload;
#[cfg(test)]
mod tests;
pub mod validate;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prost::Message;
use store_drivers::scanner::mode::remote;
use store_proto::v1::{Command, CommandResult};
use store_runtime::log_limit::LogLimit;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::uplink::resend::ResendHandle;
use crate::uplink::Link;
use done::{Done, DoneStore};
use log_filter::LogFilterSwitch;
use reload::ReloadRequest;
use validate::{Action, Unreadable};

/// Commands waiting to run before new ones are dropped.
pub const INBOX_CAPACITY: usize = 64;
/// Longest a replay or reload may take before the command is answered with an error.
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a result waits for the broker connection before it is given up (the answer stays
/// stored: HQ gets it by sending the same id again).
const PUBLISH_PATIENCE: Duration = Duration::from_secs(30);

/// How a command ended, as counted in `store_agent_commands_total{outcome}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Ran and succeeded.
    Ok,
    /// Ran (or tried to) and failed.
    Error,
    /// Not for this agent, or out of its time window.
    Refused,
    /// Already answered: the stored answer was repeated.
    Duplicate,
    /// Malformed: too large, undecodable, a bad id, an unknown kind or bad arguments.
    Invalid,
    /// Dropped unanswered because too many commands were waiting.
    Busy,
}

impl Outcome {
    pub const ALL: [Outcome; 6] = [
        Outcome::Ok,
        Outcome::Error,
        Outcome::Refused,
        Outcome::Duplicate,
        Outcome::Invalid,
        Outcome::Busy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Refused => "refused",
            Outcome::Duplicate => "duplicate",
            Outcome::Invalid => "invalid",
            Outcome::Busy => "busy",
        }
    }
}

/// Commands counted by outcome since start.
#[derive(Debug, Default)]
pub struct Counters {
    counts: [AtomicU64; 6],
}

impl Counters {
    pub fn count(&self, outcome: Outcome) {
        let i = Outcome::ALL
            .iter()
            .position(|o| *o == outcome)
            .expect("listed");
        self.counts[i].fetch_add(1, Ordering::Relaxed);
    }

    /// `(outcome, count)` for every outcome.
    pub fn samples(&self) -> Vec<(&'static str, u64)> {
        Outcome::ALL
            .iter()
            .zip(&self.counts)
            .map(|(o, n)| (o.as_str(), n.load(Ordering::Relaxed)))
            .collect()
    }

    pub fn get(&self, outcome: Outcome) -> u64 {
        self.samples()
            .into_iter()
            .find(|(o, _)| *o == outcome.as_str())
            .map_or(0, |(_, n)| n)
    }
}

/// Rate-limited log of rejected input, shared by the inbox and the executor.
type Rejections = Arc<Mutex<LogLimit<&'static str>>>;

fn log_rejection(log: &Rejections, reason: &'static str, detail: &str) {
    let due = log
        .lock()
        .expect("log limit lock")
        .note(&reason, 1, tokio::time::Instant::now());
    if let Some(commands) = due {
        warn!(reason, %detail, commands, "HQ command rejected unanswered (at most one line a minute per reason).");
    }
}

/// The link's side of the command route: takes payloads from the `.../cmd` topic without ever
/// waiting (the MQTT polling task must not block).
#[derive(Debug, Clone)]
pub struct Inbox {
    tx: mpsc::Sender<Vec<u8>>,
    counters: Arc<Counters>,
    rejections: Rejections,
}

impl Inbox {
    /// An inbox and the receiver [`serve`] reads.
    pub fn channel(counters: Arc<Counters>) -> (Inbox, mpsc::Receiver<Vec<u8>>) {
        let (tx, rx) = mpsc::channel(INBOX_CAPACITY);
        let inbox = Inbox {
            tx,
            counters,
            rejections: Rejections::default(),
        };
        (inbox, rx)
    }

    /// Queues one command payload; an oversized one is dropped before it is copied, and one
    /// that finds the inbox full is dropped too, each counted and logged.
    pub fn offer(&self, payload: &[u8]) {
        if payload.len() > validate::MAX_COMMAND_BYTES {
            self.counters.count(Outcome::Invalid);
            let detail = format!("{} bytes", payload.len());
            log_rejection(&self.rejections, "too_large", &detail);
            return;
        }
        if self.tx.try_send(payload.to_vec()).is_err() {
            self.counters.count(Outcome::Busy);
            log_rejection(
                &self.rejections,
                "busy",
                &format!("{INBOX_CAPACITY} commands already waiting"),
            );
        }
    }
}

/// What the executor reaches to run commands.
pub struct Parts {
    /// The uplink's resend port (Replay).
    pub resend: ResendHandle,
    /// The run loop's reload path (Reload); `None` when the agent runs without a config file.
    pub reload: Option<mpsc::Sender<ReloadRequest>>,
    /// The agent's status as JSON (StatusReport).
    pub status: Box<dyn Fn() -> String + Send + Sync>,
    /// The switchable log filter (SetLogFilter); `None` when logging was set up without one.
    pub log_filter: Option<LogFilterSwitch>,
}

/// Checks, deduplicates and runs commands, one at a time.
pub struct Executor {
    store_id: String,
    agent_id: String,
    done: DoneStore,
    parts: Parts,
    counters: Arc<Counters>,
    rejections: Rejections,
    /// When refusals, invalid commands and duplicates were last logged.
    answers: LogLimit<&'static str>,
}

impl Executor {
    pub fn new(
        store_id: &str,
        agent_id: &str,
        done: DoneStore,
        parts: Parts,
        counters: Arc<Counters>,
    ) -> Self {
        Executor {
            store_id: store_id.to_owned(),
            agent_id: agent_id.to_owned(),
            done,
            parts,
            counters,
            rejections: Rejections::default(),
            answers: LogLimit::default(),
        }
    }

    /// Handles one payload at the agent's wall clock `now_ms`: the result to publish, or
    /// `None` when there is no id to answer to.
    pub async fn handle(&mut self, payload: &[u8], now_ms: i64) -> Option<CommandResult> {
        let command = match validate::decode(payload) {
            Ok(c) => c,
            Err(Unreadable::NoAnswer { reason, detail }) => {
                self.counters.count(Outcome::Invalid);
                log_rejection(&self.rejections, reason, &detail);
                return None;
            }
            Err(Unreadable::BadId(message)) => {
                self.counters.count(Outcome::Invalid);
                log_rejection(&self.rejections, "bad_id", &message);
                return Some(self.addressed(
                    CommandResult {
                        message,
                        ..Default::default()
                    },
                    now_ms,
                ));
            }
        };
        if let Some(done) = self.done.get(&command.id) {
            self.counters.count(Outcome::Duplicate);
            let mut result = done.result();
            result.duplicate = true;
            self.log_answer(Outcome::Duplicate, &command, &result.message);
            return Some(self.addressed(result, now_ms));
        }
        let (outcome, mut result) =
            match validate::check(&command, &self.store_id, &self.agent_id, now_ms) {
                Ok(action) => self.run(action).await,
                Err(refusal) => (
                    refusal.outcome,
                    CommandResult {
                        message: refusal.message,
                        ..Default::default()
                    },
                ),
            };
        result.id = command.id.clone();
        result.ok = outcome == Outcome::Ok;
        let done = Done {
            id: command.id.clone(),
            at_ms: now_ms,
            outcome: outcome.as_str().to_owned(),
            ok: result.ok,
            message: result.message.clone(),
            detail_json: result.detail_json.clone(),
            events_queued: result.events_queued,
            not_retained: result
                .not_retained
                .iter()
                .map(|r| (r.first, r.last))
                .collect(),
        };
        // Durable before anyone hears of it: a crash after publishing must not let it run again.
        if let Err(e) = self.done.record(done) {
            warn!(id = ?command.id, error = %e, "Cannot record an answered HQ command; a resend of its id would run it again.");
        }
        self.counters.count(outcome);
        self.log_answer(outcome, &command, &result.message);
        Some(self.addressed(result, now_ms))
    }

    /// Logs an answer at INFO: every command that ran; refused and invalid ones and duplicates,
    /// which anyone able to publish on the topic could send by the thousand, at most once a
    /// minute per outcome, with how many there were.
    fn log_answer(&mut self, outcome: Outcome, command: &Command, message: &str) {
        let id = &command.id;
        let kind = validate::kind_name(command);
        let issued_by = validate::bounded(&command.issued_by);
        let outcome = outcome.as_str();
        if matches!(outcome, "ok" | "error") {
            info!(
                ?id,
                kind,
                ?issued_by,
                outcome,
                ?message,
                "HQ command answered."
            );
            return;
        }
        if let Some(commands) = self.answers.note(&outcome, 1, tokio::time::Instant::now()) {
            info!(?id, kind, ?issued_by, outcome, ?message, commands,
                "HQ command answered without running (at most one line a minute per outcome; `commands` counts them).");
        }
    }

    /// How many outcomes of each kind were counted (for tests and status).
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    fn addressed(&self, mut result: CommandResult, now_ms: i64) -> CommandResult {
        result.store_id = self.store_id.clone();
        result.agent_id = self.agent_id.clone();
        result.wall_time_ms = now_ms;
        result
    }

    async fn run(&mut self, action: Action) -> (Outcome, CommandResult) {
        let error = |message: String| {
            (
                Outcome::Error,
                CommandResult {
                    message,
                    ..Default::default()
                },
            )
        };
        let ok = |message: String| {
            (
                Outcome::Ok,
                CommandResult {
                    message,
                    ..Default::default()
                },
            )
        };
        match action {
            Action::StatusReport => {
                let mut result = ok("status attached".into()).1;
                result.detail_json = (self.parts.status)();
                (Outcome::Ok, result)
            }
            Action::Replay(range) => {
                match tokio::time::timeout(EXEC_TIMEOUT, self.parts.resend.resend(range)).await {
                    Err(_) => error(format!(
                        "replay failed: the uplink did not answer within {} s",
                        EXEC_TIMEOUT.as_secs()
                    )),
                    Ok(Err(e)) => error(format!("replay failed: {e}")),
                    Ok(Ok(outcome)) => {
                        let mut result = ok(format!(
                            "{} events queued for resending; {} requested seq ranges no longer held",
                            outcome.queued,
                            outcome.not_retained.len()
                        ))
                        .1;
                        result.events_queued = outcome.queued;
                        result.not_retained = outcome
                            .not_retained
                            .iter()
                            .map(|&(first, last)| store_proto::v1::SeqRange { first, last })
                            .collect();
                        (Outcome::Ok, result)
                    }
                }
            }
            Action::Reload => {
                let Some(tx) = &self.parts.reload else {
                    return error(
                        "reload failed: this agent was started without a config file".into(),
                    );
                };
                let (reply, answer) = oneshot::channel();
                if tx.try_send(ReloadRequest { reply }).is_err() {
                    return error("reload failed: a reload is already in progress".into());
                }
                match tokio::time::timeout(EXEC_TIMEOUT, answer).await {
                    Ok(Ok(Ok(report))) => ok(report.describe()),
                    Ok(Ok(Err(e))) => error(format!(
                        "reload refused, the running config stays: {e}"
                    )),
                    Ok(Err(_)) => error("reload failed: the agent is shutting down".into()),
                    Err(_) => error(format!(
                        "reload failed: no answer within {} s",
                        EXEC_TIMEOUT.as_secs()
                    )),
                }
            }
            Action::SetScanMode { device_id, mode } => match remote::request(&device_id, mode) {
                Ok(()) => ok(format!(
                    "scanner {device_id:?} switches to {mode:?} mode from its next scan, as its mode barcode would"
                )),
                Err(e) => (
                    Outcome::Invalid,
                    CommandResult {
                        message: format!("invalid set_scan_mode: {e}"),
                        ..Default::default()
                    },
                ),
            },
            Action::SetLogFilter { filter, duration } => {
                let Some(switch) = &self.parts.log_filter else {
                    return error(
                        "set_log_filter failed: logging was set up without a switchable filter"
                            .into(),
                    );
                };
                match switch.apply(&filter, duration) {
                    Ok(back) => ok(format!(
                        "log filter {filter:?} in force for {} s, then {back:?} again",
                        duration.as_secs()
                    )),
                    Err(e) => error(format!("set_log_filter failed: {e}")),
                }
            }
        }
    }
}

/// Runs commands from `inbox` until it closes, publishing each result through the link the
/// uplink hands over once it has started.
pub async fn serve(
    mut executor: Executor,
    mut inbox: mpsc::Receiver<Vec<u8>>,
    link: oneshot::Receiver<Link>,
) {
    let Ok(link) = link.await else {
        return;
    };
    while let Some(payload) = inbox.recv().await {
        let now_ms = store_runtime::clock::now_ms();
        let Some(result) = executor.handle(&payload, now_ms).await else {
            continue;
        };
        publish(&link, &result).await;
    }
}

/// Publishes one result, waiting (bounded) for a connection if there is none.
async fn publish(link: &Link, result: &CommandResult) {
    let payload = result.encode_to_vec();
    let deadline = tokio::time::Instant::now() + PUBLISH_PATIENCE;
    while !link.publish_command_result(payload.clone()) {
        if tokio::time::Instant::now() >= deadline {
            warn!(id = ?result.id, "HQ command result not published: no broker connection; HQ gets it by resending the id.");
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The wiring [`crate::run`] hands the uplink: where cmd payloads go, and where the link goes
/// once it exists.
#[derive(Debug)]
pub struct CommandRoute {
    pub inbox: Inbox,
    pub link: oneshot::Sender<Link>,
}
