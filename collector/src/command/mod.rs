//! Commands from HQ to agents: the collector's side.
//!
//! An operator asks through the API (`POST /v1/stores/{store}/agents/{agent}/commands`); the
//! request is checked ([`request`]), given an id, and written to the durable command book
//! ([`book`]) as `pending`. The command task ([`publish`]) publishes it QoS 1, not retained, on
//! the agent's `.../cmd` once the agent is online, and publishes unfinished ones again whenever
//! the agent's retained status says online (agents use clean sessions, so a publish to an
//! offline agent is lost by the broker; the agent runs each id at most once, so a resend is
//! harmless). The agent answers on `.../cmd/result`; [`results`] checks the answer and records
//! it. A command past its expiry is never published and becomes `expired`.
//!
//! - [`request`]: the API's JSON body → a checked [`Request`];
//! - [`book`]: the durable book, its states, bounds and pruning;
//! - [`publish`]: the task that publishes (rate limited), sweeps expiry and prunes;
//! - [`results`]: results from agents, bounded, matched and recorded.
//!
//! [`Commands`] ties them together for the API, the ingest loop (which hears statuses and
//! results on the collector's one MQTT session and hands them over through an [`Inbox`]) and the
//! metrics.

pub mod book;
pub mod publish;
pub mod request;
pub mod results;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use store_runtime::log_limit::LogLimit;
use tokio::sync::mpsc;

pub use self::book::{Book, InsertError, Query, Record, State};
pub use self::request::{Request, RequestError};
use self::results::Reject;
use crate::config::Config;
use crate::ledger::{AgentKey, Db, DbError};

/// Most wake-ups waiting for the command task; beyond, statuses are dropped (the agent's next
/// status, about every 30 s, wakes it again) and results are counted as `overload`.
pub const WAKE_CAPACITY: usize = 4_096;

/// What the command task is woken for.
#[derive(Debug)]
pub enum Wake {
    /// The agent's retained status says online: its due commands go out.
    Online(AgentKey),
    /// A command was issued for this agent.
    Issued(AgentKey),
    /// A result payload arrived on this agent's result topic (already bounded in size).
    Result(AgentKey, Vec<u8>),
}

/// Since-start counters of the command path (the `/metrics` page).
#[derive(Debug, Default)]
pub struct Counters {
    sent: AtomicU64,
    answered: AtomicU64,
    expired: AtomicU64,
    rejected: [AtomicU64; Reject::ALL.len()],
}

impl Counters {
    pub(crate) fn sent(&self, n: u64) {
        self.sent.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn answered(&self) {
        self.answered.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn expired(&self, n: u64) {
        self.expired.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn rejected(&self, reason: Reject) {
        self.rejected[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Command publishes since start (resends included).
    pub fn sent_count(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Results recorded since start.
    pub fn answered_count(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }

    /// Commands expired unanswered since start.
    pub fn expired_count(&self) -> u64 {
        self.expired.load(Ordering::Relaxed)
    }

    /// Results ignored since start for `reason`.
    pub fn rejected_count(&self, reason: Reject) -> u64 {
        self.rejected[reason as usize].load(Ordering::Relaxed)
    }
}

/// The command book and its wake-ups, shared by the API, the ingest loop and the command task.
#[derive(Debug)]
pub struct Commands {
    book: Mutex<Book>,
    collector_id: String,
    /// Recorded as `issued_by` ([api] token_name: only the operator token may issue).
    issued_by: String,
    wakes: mpsc::Sender<Wake>,
    pub counters: Counters,
    max_publishes_per_sec: u32,
}

impl Commands {
    /// Loads the book from `db`. Blocking. The receiver is the command task's
    /// ([`publish::run`]).
    pub fn open(
        db: Arc<Db>,
        config: &Config,
    ) -> Result<(Arc<Commands>, mpsc::Receiver<Wake>), DbError> {
        let c = &config.commands;
        let limits = book::Limits {
            max_outstanding_per_agent: c.max_outstanding_per_agent,
            keep: c.keep_commands,
            keep_ms: i64::from(c.keep_days) * 86_400_000,
            resend_after_ms: (c.resend_after_secs as i64).saturating_mul(1_000),
        };
        let book = Book::open(db, limits)?;
        let (wakes, rx) = mpsc::channel(WAKE_CAPACITY);
        let commands = Commands {
            book: Mutex::new(book),
            collector_id: config.collector_id.clone(),
            issued_by: config.api.token_name.clone(),
            wakes,
            counters: Counters::default(),
            max_publishes_per_sec: c.max_publishes_per_sec,
        };
        Ok((Arc::new(commands), rx))
    }

    /// The book, locked (short: one lookup or one durable write).
    pub fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().expect("command book lock poisoned")
    }

    /// Issues a command to `target`: a new id, the issue and expiry times, `issued_by`, written
    /// to the book as `pending`; the command task is woken to send it if the agent is online.
    /// Blocking (durable write).
    pub fn issue(
        &self,
        target: &AgentKey,
        request: Request,
        now_ms: i64,
    ) -> Result<Record, InsertError> {
        let record = Record {
            id: self.new_id(now_ms),
            store_id: target.store_id.clone(),
            agent_id: target.agent_id.clone(),
            issued_by: self.issued_by.clone(),
            issued_at_ms: now_ms,
            expires_at_ms: now_ms + (request.expires_in_secs as i64) * 1_000,
            command: request.kind,
            state: State::Pending,
            attempts: 0,
            last_sent_ms: None,
            finished_at_ms: None,
            result: None,
        };
        let record = self.book().insert(record)?.clone();
        // If the queue is full the agent's next online status sends it.
        let _ = self.wakes.try_send(Wake::Issued(target.clone()));
        Ok(record)
    }

    /// A copy of the command with this id.
    pub fn get(&self, id: &str) -> Option<Record> {
        self.book().get(id).cloned()
    }

    /// Copies of the commands `query` selects, newest first.
    pub fn list(&self, query: &Query<'_>) -> Vec<Record> {
        self.book().list(query).into_iter().cloned().collect()
    }

    /// Commands neither answered nor expired.
    pub fn outstanding(&self) -> usize {
        self.book().outstanding_count()
    }

    /// Whether `id` has the form of this collector's ids (`{ms:013}-{collector_id}-{hex}`).
    pub fn is_own_id(&self, id: &str) -> bool {
        id.as_bytes().get(13) == Some(&b'-')
            && id.get(14..).is_some_and(|rest| {
                rest.strip_prefix(self.collector_id.as_str())
                    .is_some_and(|r| r.starts_with('-'))
            })
    }

    /// A new id: the issue time first (ids sort in issue order), this collector's id (results
    /// of other collectors' commands are told apart), 64 random bits (unique without a counter
    /// to persist).
    fn new_id(&self, now_ms: i64) -> String {
        format!(
            "{now_ms:013}-{}-{:016x}",
            self.collector_id,
            rand::random::<u64>()
        )
    }

    /// What the ingest loop hands statuses and results to.
    pub fn inbox(self: &Arc<Self>) -> Inbox {
        Inbox {
            commands: self.clone(),
            log_limit: LogLimit::default(),
        }
    }

    /// The publish rate bound (`[commands] max_publishes_per_sec`).
    pub fn max_publishes_per_sec(&self) -> u32 {
        self.max_publishes_per_sec
    }
}

/// The ingest loop's side of the command task: agents' statuses and results, never blocking.
#[derive(Debug)]
pub struct Inbox {
    commands: Arc<Commands>,
    log_limit: LogLimit<Reject>,
}

impl Inbox {
    /// An agent's retained status arrived; `online`: it says online.
    pub fn status(&mut self, key: AgentKey, online: bool) {
        if online {
            // Dropped when full: the agent's next status comes within about 30 s.
            let _ = self.commands.wakes.try_send(Wake::Online(key));
        }
    }

    /// A publish arrived on `key`'s result topic.
    pub fn result(&mut self, key: AgentKey, payload: &[u8]) {
        if payload.len() > results::MAX_RESULT_BYTES {
            let detail = format!("{} bytes", payload.len());
            results::note_rejected(
                &self.commands,
                &mut self.log_limit,
                Reject::TooLarge,
                &key,
                &detail,
            );
            return;
        }
        if let Err(mpsc::error::TrySendError::Full(Wake::Result(key, _))) = self
            .commands
            .wakes
            .try_send(Wake::Result(key, payload.to_vec()))
        {
            results::note_rejected(
                &self.commands,
                &mut self.log_limit,
                Reject::Overload,
                &key,
                "command task busy",
            );
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A command service on a fresh database in `dir` (collector `hq-1`).
    pub(crate) fn commands(dir: &std::path::Path) -> (Arc<Commands>, mpsc::Receiver<Wake>) {
        let config = Config::parse(
            "collector_id = \"hq-1\"\nstate_dir = \"/unused\"\n",
            "t.toml",
        )
        .unwrap();
        let (db, _) = Db::open(&dir.join("state")).unwrap();
        Commands::open(Arc::new(db), &config).unwrap()
    }

    #[test]
    fn ids_are_unique_sortable_and_recognised() {
        let dir = tempfile::tempdir().unwrap();
        let (commands, mut wakes) = commands(dir.path());
        let key = AgentKey::new("s1", "a1");
        let request = Request {
            kind: request::Kind::StatusReport,
            expires_in_secs: 10,
        };
        let a = commands.issue(&key, request.clone(), 1_000).unwrap();
        let b = commands.issue(&key, request, 2_000).unwrap();
        assert_ne!(a.id, b.id);
        assert!(a.id < b.id, "{} {}", a.id, b.id);
        assert!(a.id.starts_with("0000000001000-hq-1-"), "{}", a.id);
        assert_eq!(
            (a.issued_by.as_str(), a.expires_at_ms),
            ("operator", 11_000)
        );
        assert!(commands.is_own_id(&a.id));
        assert!(!commands.is_own_id("0000000001000-hq-10-00"));
        assert!(!commands.is_own_id("hq-1"));
        assert!(!commands.is_own_id("0000000001000é-hq-1-00"));
        assert!(matches!(wakes.try_recv(), Ok(Wake::Issued(k)) if k == key));
    }
}
