//! The command book: every command HQ issued, durable in the collector's sled (tree `commands`,
//! see [`crate::ledger::db`]), with who sent it, when, to whom, what it asked, its state and the
//! agent's answer.
//!
//! States: `pending` (waiting for its agent to be online) → `sent` (published at least once) →
//! `answered` (a result arrived, `ok` or not) or `expired` (its expiry passed unanswered; it is
//! never published again). A result that arrives after expiry is still recorded: it says what
//! the agent did.
//!
//! Every change is written (flush + fdatasync) before the caller acts on it, and logged at INFO
//! with the command id and the actor: together with the records, that is the audit trail of
//! commands. The book is bounded: at most [`Limits::max_outstanding_per_agent`] unfinished
//! commands per agent, and pruning keeps at most [`Limits::keep`] commands issued within
//! [`Limits::keep_ms`], a bounded number per call so no caller waits long.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use store_proto::v1::{Command, CommandResult};
use tracing::info;

use super::request::Kind;
use crate::ledger::{AgentKey, Db, DbError};

/// Most records removed by one [`Book::prune`] call.
const PRUNE_BATCH: usize = 1_000;
/// Longest result message kept (characters); the agent's text beyond is cut.
pub const MAX_MESSAGE_CHARS: usize = 1_024;
/// Most `not_retained` ranges kept of one result.
pub const MAX_NOT_RETAINED: usize = 64;
/// Largest `detail_json` kept; a larger one is replaced by a note of its size, so the book's
/// size stays bounded by its command count (and records stay in sled's fsynced main log).
pub const MAX_DETAIL_BYTES: usize = 16 * 1024;

/// Where a command is in its life (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Pending,
    Sent,
    Answered,
    Expired,
}

impl State {
    /// The state named in a query (`pending`, `sent`, `answered`, `expired`).
    pub fn parse(name: &str) -> Option<State> {
        match name {
            "pending" => Some(State::Pending),
            "sent" => Some(State::Sent),
            "answered" => Some(State::Answered),
            "expired" => Some(State::Expired),
            _ => None,
        }
    }

    fn finished(self) -> bool {
        matches!(self, State::Answered | State::Expired)
    }
}

/// An agent's answer to a command, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    pub ok: bool,
    pub message: String,
    /// `detail_json` parsed (kept as a string when it is not JSON); absent when empty.
    pub detail: Option<Value>,
    pub events_queued: u64,
    /// Requested seqs the agent no longer held, `[first, last]`.
    pub not_retained: Vec<[u64; 2]>,
    /// The agent had already run this id and repeated that run's result.
    pub duplicate: bool,
    /// The agent's clock when it answered.
    pub agent_wall_time_ms: i64,
    /// The collector's clock when the answer arrived.
    pub answered_at_ms: i64,
}

impl Answer {
    /// The recorded form of a result (strings bounded, ranges capped).
    pub fn from_result(result: &CommandResult, now_ms: i64) -> Answer {
        let json = &result.detail_json;
        let detail = (!json.is_empty()).then(|| {
            if json.len() > MAX_DETAIL_BYTES {
                return serde_json::json!({ "not_kept": "detail too large", "bytes": json.len() });
            }
            serde_json::from_str(json).unwrap_or_else(|_| Value::String(json.clone()))
        });
        Answer {
            ok: result.ok,
            message: result.message.chars().take(MAX_MESSAGE_CHARS).collect(),
            detail,
            events_queued: result.events_queued,
            not_retained: result
                .not_retained
                .iter()
                .take(MAX_NOT_RETAINED)
                .map(|r| [r.first, r.last])
                .collect(),
            duplicate: result.duplicate,
            agent_wall_time_ms: result.wall_time_ms,
            answered_at_ms: now_ms,
        }
    }
}

/// One command and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub store_id: String,
    pub agent_id: String,
    /// The API token's name.
    pub issued_by: String,
    pub issued_at_ms: i64,
    pub expires_at_ms: i64,
    pub command: Kind,
    pub state: State,
    /// Publishes so far (a resend after the agent came back counts again).
    pub attempts: u32,
    pub last_sent_ms: Option<i64>,
    /// When it was answered or expired.
    pub finished_at_ms: Option<i64>,
    pub result: Option<Answer>,
}

impl Record {
    /// The agent the command is for.
    pub fn target(&self) -> AgentKey {
        AgentKey::new(&self.store_id, &self.agent_id)
    }

    /// The wire form published on the agent's `.../cmd`.
    pub fn to_command(&self) -> Command {
        Command {
            id: self.id.clone(),
            store_id: self.store_id.clone(),
            agent_id: self.agent_id.clone(),
            issued_at_ms: self.issued_at_ms,
            expires_at_ms: self.expires_at_ms,
            issued_by: self.issued_by.clone(),
            kind: Some(self.command.to_proto()),
        }
    }
}

/// The book's bounds (from `[commands]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_outstanding_per_agent: usize,
    pub keep: usize,
    pub keep_ms: i64,
    /// A sent, unanswered command is due again this long after its last publish.
    pub resend_after_ms: i64,
}

/// Why a command was not taken into the book.
#[derive(Debug, thiserror::Error)]
pub enum InsertError {
    #[error("{store_id}/{agent_id} already has {max} commands neither answered nor expired; wait for answers or expiry")]
    TooMany {
        store_id: String,
        agent_id: String,
        max: usize,
    },
    #[error("a command with id {0} exists already")]
    DuplicateId(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// What a result did to the book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answered {
    /// Recorded; the command is now `answered`.
    Recorded,
    /// The command was answered already (a redelivered or repeated result): nothing changed.
    Repeat,
    /// No command has this id.
    UnknownId,
    /// The command exists but is for another agent than the one the result came from.
    WrongAgent,
}

/// What `GET /v1/commands` asks for.
#[derive(Debug, Clone, Default)]
pub struct Query<'a> {
    pub store: Option<&'a str>,
    pub agent: Option<&'a str>,
    pub state: Option<State>,
    /// Only commands older than this id (the previous page's last).
    pub after: Option<&'a str>,
    pub limit: usize,
}

/// The command book (see the module docs).
pub struct Book {
    db: Arc<Db>,
    limits: Limits,
    /// Ids begin with the zero-padded issue time, so id order is issue order.
    records: BTreeMap<String, Record>,
    /// Unfinished commands (`pending` or `sent`) per agent.
    outstanding: BTreeMap<AgentKey, BTreeSet<String>>,
    /// Unfinished commands by expiry.
    deadlines: BTreeSet<(i64, String)>,
}

impl std::fmt::Debug for Book {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Book")
            .field("records", &self.records.len())
            .field("limits", &self.limits)
            .finish()
    }
}

impl Book {
    /// Loads the book from `db`. Blocking.
    pub fn open(db: Arc<Db>, limits: Limits) -> Result<Book, DbError> {
        let mut records = BTreeMap::new();
        db.load_commands(|id, value| {
            let record: Record = serde_json::from_slice(value).map_err(|e| e.to_string())?;
            if record.id != id {
                return Err(format!("record names id {:?}", record.id));
            }
            records.insert(id.to_owned(), record);
            Ok(())
        })?;
        let mut book = Book {
            db,
            limits,
            records: BTreeMap::new(),
            outstanding: BTreeMap::new(),
            deadlines: BTreeSet::new(),
        };
        for (id, record) in records {
            if !record.state.finished() {
                book.index(&record);
            }
            book.records.insert(id, record);
        }
        Ok(book)
    }

    fn index(&mut self, record: &Record) {
        self.outstanding
            .entry(record.target())
            .or_default()
            .insert(record.id.clone());
        self.deadlines
            .insert((record.expires_at_ms, record.id.clone()));
    }

    fn unindex(&mut self, record: &Record) {
        let key = record.target();
        if let Some(ids) = self.outstanding.get_mut(&key) {
            ids.remove(&record.id);
            if ids.is_empty() {
                self.outstanding.remove(&key);
            }
        }
        self.deadlines
            .remove(&(record.expires_at_ms, record.id.clone()));
    }

    fn write(&self, records: &[&Record]) -> Result<(), DbError> {
        let changes: Vec<(String, Option<Vec<u8>>)> = records
            .iter()
            .map(|r| {
                let json = serde_json::to_vec(r).expect("a record always serialises");
                (r.id.clone(), Some(json))
            })
            .collect();
        self.db.write_commands(&changes)
    }

    /// Takes a new `pending` command (durably). Blocking.
    pub fn insert(&mut self, record: Record) -> Result<&Record, InsertError> {
        let key = record.target();
        let open = self.outstanding.get(&key).map_or(0, BTreeSet::len);
        if open >= self.limits.max_outstanding_per_agent {
            return Err(InsertError::TooMany {
                store_id: key.store_id,
                agent_id: key.agent_id,
                max: self.limits.max_outstanding_per_agent,
            });
        }
        if self.records.contains_key(&record.id) {
            return Err(InsertError::DuplicateId(record.id));
        }
        self.write(&[&record])?;
        info!(command_id = %record.id, actor = %record.issued_by, store_id = %record.store_id,
            agent_id = %record.agent_id, kind = record.command.name(),
            expires_at_ms = record.expires_at_ms, "Command issued (pending).");
        self.index(&record);
        let id = record.id.clone();
        Ok(self.records.entry(id).or_insert(record))
    }

    /// The command with this id.
    pub fn get(&self, id: &str) -> Option<&Record> {
        self.records.get(id)
    }

    /// Commands matching `query`, newest first, at most `query.limit`.
    pub fn list(&self, query: &Query<'_>) -> Vec<&Record> {
        use std::ops::Bound;
        let upper = query.after.map_or(Bound::Unbounded, Bound::Excluded);
        let range = self.records.range::<str, _>((Bound::Unbounded, upper));
        range
            .rev()
            .map(|(_, r)| r)
            .filter(|r| query.store.is_none_or(|s| s == r.store_id))
            .filter(|r| query.agent.is_none_or(|a| a == r.agent_id))
            .filter(|r| query.state.is_none_or(|s| s == r.state))
            .take(query.limit)
            .collect()
    }

    /// Commands neither answered nor expired, all agents.
    pub fn outstanding_count(&self) -> usize {
        self.deadlines.len()
    }

    /// Marks up to `max` of `key`'s commands that are due as sent (durably) and returns them to
    /// publish: `pending` ones, and `sent` ones last published `resend_after_ms` ago or more.
    /// Never one past its expiry. Blocking.
    pub fn take_due(
        &mut self,
        key: &AgentKey,
        now_ms: i64,
        max: usize,
    ) -> Result<Vec<Command>, DbError> {
        let Some(ids) = self.outstanding.get(key) else {
            return Ok(Vec::new());
        };
        let resend_before = now_ms - self.limits.resend_after_ms;
        let due: Vec<String> = ids
            .iter()
            .filter(|id| {
                let r = &self.records[*id];
                r.expires_at_ms > now_ms
                    && match r.state {
                        State::Pending => true,
                        State::Sent => r.last_sent_ms.is_none_or(|t| t <= resend_before),
                        _ => false,
                    }
            })
            .take(max)
            .cloned()
            .collect();
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let mut updated: Vec<Record> = due
            .iter()
            .map(|id| {
                let mut r = self.records[id].clone();
                r.state = State::Sent;
                r.attempts += 1;
                r.last_sent_ms = Some(now_ms);
                r
            })
            .collect();
        self.write(&updated.iter().collect::<Vec<_>>())?;
        let mut commands = Vec::with_capacity(updated.len());
        for r in updated.drain(..) {
            info!(command_id = %r.id, actor = "collector", store_id = %r.store_id,
                agent_id = %r.agent_id, attempt = r.attempts, "Command sent.");
            commands.push(r.to_command());
            self.records.insert(r.id.clone(), r);
        }
        Ok(commands)
    }

    /// Records `result`, which arrived on `from`'s result topic. Blocking.
    pub fn answer(
        &mut self,
        from: &AgentKey,
        result: &CommandResult,
        now_ms: i64,
    ) -> Result<Answered, DbError> {
        let Some(current) = self.records.get(&result.id) else {
            return Ok(Answered::UnknownId);
        };
        // The topic is the sender's identity (the broker's ACL enforces it); the payload's ids
        // must agree when present.
        let payload_agrees = (result.store_id.is_empty() || result.store_id == current.store_id)
            && (result.agent_id.is_empty() || result.agent_id == current.agent_id);
        if current.target() != *from || !payload_agrees {
            return Ok(Answered::WrongAgent);
        }
        if current.state == State::Answered {
            return Ok(Answered::Repeat);
        }
        let mut r = current.clone();
        let was_finished = r.state.finished();
        r.state = State::Answered;
        r.finished_at_ms = Some(now_ms);
        r.result = Some(Answer::from_result(result, now_ms));
        self.write(&[&r])?;
        let answer = r.result.as_ref().expect("just set");
        info!(command_id = %r.id, actor = %format!("{}/{}", r.store_id, r.agent_id),
            ok = answer.ok, duplicate = answer.duplicate, message = %answer.message.escape_debug(),
            "Command answered.");
        if !was_finished {
            self.unindex(&r);
        }
        self.records.insert(r.id.clone(), r);
        Ok(Answered::Recorded)
    }

    /// Marks every unfinished command whose expiry has passed as `expired` (durably) and
    /// returns how many. Blocking.
    pub fn expire_due(&mut self, now_ms: i64) -> Result<usize, DbError> {
        let due: Vec<String> = self
            .deadlines
            .iter()
            .take_while(|(at, _)| *at <= now_ms)
            .map(|(_, id)| id.clone())
            .collect();
        if due.is_empty() {
            return Ok(0);
        }
        let updated: Vec<Record> = due
            .iter()
            .map(|id| {
                let mut r = self.records[id].clone();
                r.state = State::Expired;
                r.finished_at_ms = Some(now_ms);
                r
            })
            .collect();
        self.write(&updated.iter().collect::<Vec<_>>())?;
        for r in updated {
            info!(command_id = %r.id, actor = "collector", store_id = %r.store_id,
                agent_id = %r.agent_id, attempts = r.attempts, "Command expired unanswered.");
            self.unindex(&r);
            self.records.insert(r.id.clone(), r);
        }
        Ok(due.len())
    }

    /// Removes (durably) the oldest commands beyond [`Limits::keep`] or issued more than
    /// [`Limits::keep_ms`] ago, at most `PRUNE_BATCH` (1000) per call; returns how many. Blocking.
    pub fn prune(&mut self, now_ms: i64) -> Result<usize, DbError> {
        let over = self.records.len().saturating_sub(self.limits.keep);
        let oldest_kept = now_ms - self.limits.keep_ms;
        let gone: Vec<String> = self
            .records
            .iter()
            .enumerate()
            .take_while(|(i, (_, r))| *i < over || r.issued_at_ms < oldest_kept)
            .take(PRUNE_BATCH)
            .map(|(_, (id, _))| id.clone())
            .collect();
        if gone.is_empty() {
            return Ok(0);
        }
        let changes: Vec<(String, Option<Vec<u8>>)> =
            gone.iter().map(|id| (id.clone(), None)).collect();
        self.db.write_commands(&changes)?;
        for id in &gone {
            if let Some(r) = self.records.remove(id) {
                if !r.state.finished() {
                    self.unindex(&r);
                }
            }
        }
        info!(
            commands = gone.len(),
            kept = self.records.len(),
            "Old commands pruned from the command book."
        );
        Ok(gone.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use store_proto::v1::SeqRange;

    const LIMITS: Limits = Limits {
        max_outstanding_per_agent: 3,
        keep: 5,
        keep_ms: 1_000_000,
        resend_after_ms: 100,
    };

    fn open(dir: &std::path::Path) -> Book {
        let (db, _) = Db::open(&dir.join("state")).unwrap();
        Book::open(Arc::new(db), LIMITS).unwrap()
    }

    fn record(n: i64, agent: &str) -> Record {
        Record {
            id: format!("{n:013}-hq-1-{n:016x}"),
            store_id: "s1".into(),
            agent_id: agent.into(),
            issued_by: "operator".into(),
            issued_at_ms: n,
            expires_at_ms: n + 1_000,
            command: Kind::StatusReport,
            state: State::Pending,
            attempts: 0,
            last_sent_ms: None,
            finished_at_ms: None,
            result: None,
        }
    }

    fn result(id: &str, ok: bool) -> CommandResult {
        CommandResult {
            id: id.into(),
            ok,
            message: "done".into(),
            store_id: "s1".into(),
            agent_id: "a1".into(),
            detail_json: r#"{"backlog":3}"#.into(),
            not_retained: vec![SeqRange { first: 1, last: 4 }],
            ..Default::default()
        }
    }

    #[test]
    fn pending_sent_answered_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let a1 = AgentKey::new("s1", "a1");
        let mut book = open(dir.path());
        let id = book.insert(record(10, "a1")).unwrap().id.clone();
        assert_eq!(book.get(&id).unwrap().state, State::Pending);

        let sent = book.take_due(&a1, 20, 10).unwrap();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].id, id);
        assert_eq!(sent[0].issued_by, "operator");
        let r = book.get(&id).unwrap();
        assert_eq!(
            (r.state, r.attempts, r.last_sent_ms),
            (State::Sent, 1, Some(20))
        );
        // Not due again before resend_after_ms...
        assert!(book.take_due(&a1, 119, 10).unwrap().is_empty());
        // ...then due again.
        assert_eq!(book.take_due(&a1, 120, 10).unwrap().len(), 1);
        assert_eq!(book.get(&id).unwrap().attempts, 2);

        assert_eq!(
            book.answer(&a1, &result(&id, true), 130).unwrap(),
            Answered::Recorded
        );
        assert_eq!(
            book.answer(&a1, &result(&id, false), 140).unwrap(),
            Answered::Repeat
        );
        assert_eq!(book.outstanding_count(), 0);
        assert!(book.take_due(&a1, 1_000, 10).unwrap().is_empty());
        let mut huge = result(&id, true);
        huge.detail_json = format!("\"{}\"", "x".repeat(MAX_DETAIL_BYTES));
        assert_eq!(
            Answer::from_result(&huge, 0).detail,
            Some(
                serde_json::json!({"not_kept": "detail too large", "bytes": MAX_DETAIL_BYTES + 2})
            )
        );
        let answered = book.get(&id).unwrap().clone();
        let answer = answered.result.as_ref().unwrap();
        assert!(answer.ok);
        assert_eq!(answer.message, "done");
        assert_eq!(answer.detail, Some(serde_json::json!({"backlog": 3})));
        assert_eq!(answer.not_retained, vec![[1, 4]]);
        assert_eq!(answered.finished_at_ms, Some(130));
        drop(book);

        let book = open(dir.path());
        assert_eq!(book.get(&id), Some(&answered));
        assert_eq!(book.outstanding_count(), 0);
    }

    #[test]
    fn results_from_another_agent_or_for_unknown_ids_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut book = open(dir.path());
        let id = book.insert(record(10, "a1")).unwrap().id.clone();
        let a2 = AgentKey::new("s1", "a2");
        assert_eq!(
            book.answer(&a2, &result(&id, true), 20).unwrap(),
            Answered::WrongAgent
        );
        let mut lying = result(&id, true);
        lying.agent_id = "a2".into();
        assert_eq!(
            book.answer(&AgentKey::new("s1", "a1"), &lying, 20).unwrap(),
            Answered::WrongAgent
        );
        assert_eq!(
            book.answer(&AgentKey::new("s1", "a1"), &result("nope", true), 20)
                .unwrap(),
            Answered::UnknownId
        );
        assert_eq!(book.get(&id).unwrap().state, State::Pending);
        assert_eq!(book.outstanding_count(), 1);
    }

    #[test]
    fn expiry_sweep_finishes_unanswered_commands_and_they_are_never_sent() {
        let dir = tempfile::tempdir().unwrap();
        let a1 = AgentKey::new("s1", "a1");
        let mut book = open(dir.path());
        let early = book.insert(record(10, "a1")).unwrap().id.clone();
        let late = book.insert(record(500, "a1")).unwrap().id.clone();
        book.take_due(&a1, 600, 1).unwrap();
        // Past the first one's expiry but before the sweep ran: not published.
        let due = book.take_due(&a1, 1_010, 10).unwrap();
        assert!(due.iter().all(|c| c.id != early), "{due:?}");
        assert_eq!(book.expire_due(1_009).unwrap(), 0);
        assert_eq!(book.expire_due(1_010).unwrap(), 1);
        let r = book.get(&early).unwrap();
        assert_eq!((r.state, r.finished_at_ms), (State::Expired, Some(1_010)));
        assert_eq!(book.get(&late).unwrap().state, State::Sent);
        assert_eq!(book.outstanding_count(), 1);
        // A late answer is still recorded: it says what the agent did.
        assert_eq!(
            book.answer(&a1, &result(&early, false), 1_100).unwrap(),
            Answered::Recorded
        );
        assert_eq!(book.get(&early).unwrap().state, State::Answered);
        assert_eq!(book.outstanding_count(), 1);
    }

    #[test]
    fn per_agent_bound_refuses_beyond_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let mut book = open(dir.path());
        for n in 0..3 {
            book.insert(record(n, "a1")).unwrap();
        }
        let e = book.insert(record(3, "a1")).unwrap_err();
        assert!(matches!(e, InsertError::TooMany { max: 3, .. }), "{e}");
        // Other agents are not affected; a finished command frees a place.
        book.insert(record(4, "a2")).unwrap();
        book.expire_due(1_000).unwrap();
        book.insert(record(5, "a1")).unwrap();
    }

    #[test]
    fn pruning_keeps_the_newest_within_count_and_age() {
        let dir = tempfile::tempdir().unwrap();
        let mut book = open(dir.path());
        for n in 0..8 {
            book.insert(record(n * 1_000, &format!("a{n}"))).unwrap();
        }
        // keep = 5: the three oldest go, unfinished ones included.
        assert_eq!(book.prune(7_000).unwrap(), 3);
        let ids: Vec<i64> = book
            .list(&Query {
                limit: 100,
                ..Default::default()
            })
            .iter()
            .map(|r| r.issued_at_ms)
            .collect();
        assert_eq!(ids, vec![7_000, 6_000, 5_000, 4_000, 3_000]);
        assert_eq!(book.outstanding_count(), 5);
        // Age: older than keep_ms goes too.
        assert_eq!(book.prune(1_004_500).unwrap(), 2);
        assert_eq!(book.prune(1_004_500).unwrap(), 0);
        drop(book);
        let book = open(dir.path());
        assert_eq!(
            book.list(&Query {
                limit: 100,
                ..Default::default()
            })
            .len(),
            3
        );
    }

    #[test]
    fn listing_filters_and_pages_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let mut book = open(dir.path());
        for n in 1..=4 {
            book.insert(record(n, if n % 2 == 0 { "a2" } else { "a1" }))
                .unwrap();
        }
        let page = book.list(&Query {
            limit: 2,
            ..Default::default()
        });
        assert_eq!(
            page.iter().map(|r| r.issued_at_ms).collect::<Vec<_>>(),
            vec![4, 3]
        );
        let next = book.list(&Query {
            limit: 2,
            after: Some(&page[1].id),
            ..Default::default()
        });
        assert_eq!(
            next.iter().map(|r| r.issued_at_ms).collect::<Vec<_>>(),
            vec![2, 1]
        );
        let a1 = book.list(&Query {
            agent: Some("a1"),
            state: Some(State::Pending),
            limit: 10,
            ..Default::default()
        });
        assert_eq!(
            a1.iter().map(|r| r.issued_at_ms).collect::<Vec<_>>(),
            vec![3, 1]
        );
    }
}
