//! The collector's durable state in sled.
//!
//! # Layout
//! One sled database in `{state_dir}/state`, default tree. Keys are UTF-8; topic levels never
//! contain `/`, so they are unambiguous:
//!
//! | key                     | value                                                          |
//! |-------------------------|----------------------------------------------------------------|
//! | `meta/format`           | `1` (ASCII): layout version; other versions are refused        |
//! | `meta/filters`          | event filters subscribed last run, one per line                |
//! | `agent/{store}/{agent}` | [`AgentRecord`] (protobuf): applied and lost seq ranges        |
//! | `store/{store}`         | [`StoreRecord`] (protobuf): event counts per kind, foot traffic |
//! | `intel/{part}/{key}`    | rules-engine state, owned by [`crate::rules::engine`] (each part documents its keys) |
//! | `deliver/{dest}/{seq}`  | an alert or signal waiting for delivery, owned by [`crate::deliver`] |
//! | `pgsink/...`            | the PostgreSQL sink's feed, owned by [`crate::pgsink::feed`]   |
//! | `hist/...`, `audit/...` | event history and audit log, binary keys owned by [`crate::history::keys`] |
//!
//! The tree `commands` holds the command book ([`crate::command`]): key = command id, value =
//! the command's record (JSON). It is written by [`Db::write_commands`] with the same durability
//! (flush + fdatasync), apart from the ledger's commits: a command never shares a batch with
//! events. A backup holds every tree: [`all_entries`] lists them in one flat list, keys of other
//! trees under a `0xFF {tree}/` prefix, and [`write_entries`] puts them back.
//!
//! Ranges are stored flattened (`first0, last0, first1, last1, ...`), so an agent that delivered
//! millions of events in order costs two numbers.
//!
//! # Invariants
//! - One [`Db::commit`] writes every changed agent record *and* the store totals changed by
//!   the same events in one sled `apply_batch`: after a crash either all of a group's effects are
//!   on disk or none are, so no event is applied twice or lost (ARCHITECTURE.md invariant 6).
//!   The group's history rows and audit records go in that same batch (invariant 9).
//! - A commit is durable only after sled's `flush()` *and* an fdatasync of sled's data file
//!   `{state_dir}/state/db`: sled flushes with sync_file_range, which does not survive a power cut
//!   (ARCHITECTURE.md invariant 4). Callers PUBACK batches and publish commit marks only after `commit` returned.
//! - Records stay small (ranges, not seqs), so they mostly live in sled's main log. sled writes
//!   log items over about 128 KiB (a big value, or a leaf of 16 values that add up to it) to
//!   separate blob files that it never fsyncs; every commit fsyncs new blob files before the
//!   data file (`store_runtime::sled_durable::Blobs`).

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use prost::Message;
use store_proto::SeqSet;

use super::dedup::AgentState;
use super::dedup::StoreStats;
use super::live::{AgentKey, State};

const FORMAT_KEY: &[u8] = b"meta/format";
const FORMAT_VERSION: &[u8] = b"1";
const FILTERS_KEY: &[u8] = b"meta/filters";
const AGENT_PREFIX: &str = "agent/";
const STORE_PREFIX: &str = "store/";
const INTEL_PREFIX: &str = "intel/";
const COMMANDS_TREE: &[u8] = b"commands";
/// sled's page cache. sled's default is 1 GiB, and with the event history (every event a key)
/// the cache of a long-running collector filled it and more; the hot state (agent records,
/// store totals, rules-engine keys) is small, and history reads are range scans that the OS
/// page cache serves well, so a bounded cache costs little.
const CACHE_BYTES: u64 = 128 * 1024 * 1024;

/// One stored key and its value, as [`Db::entries`] returns them.
pub type Entry = (Vec<u8>, Vec<u8>);

/// Value of `agent/{store}/{agent}`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AgentRecord {
    /// Applied seqs as flattened inclusive ranges.
    #[prost(uint64, repeated, tag = "1")]
    pub applied: Vec<u64>,
    /// Seqs settled by DataLoss events (never applied), flattened inclusive ranges.
    #[prost(uint64, repeated, tag = "2")]
    pub lost: Vec<u64>,
    /// `sent_wall_time_ms` of the newest batch seen.
    #[prost(int64, tag = "3")]
    pub last_batch_wall_ms: i64,
}

/// Value of `store/{store}`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StoreRecord {
    #[prost(btree_map = "string, uint64", tag = "1")]
    pub kinds: BTreeMap<String, u64>,
    #[prost(uint64, tag = "2")]
    pub foot_traffic_entries: u64,
    #[prost(uint64, tag = "3")]
    pub foot_traffic_exits: u64,
}

/// The records one group commit changes.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub agents: BTreeMap<AgentKey, AgentState>,
    pub stores: BTreeMap<String, StoreStats>,
    /// Changed rules-engine keys (`intel/...`) and delivery outbox entries (`deliver/...`,
    /// written with the alert changes that made them); `None` deletes.
    pub intel: Vec<(String, Option<Vec<u8>>)>,
    /// History rows of the events applied (`hist/...`, from [`crate::history::Recorder`]).
    pub history: Vec<(Vec<u8>, Vec<u8>)>,
    /// Audit records (`audit/...`, from [`crate::history::AuditEntry::to_kv`]).
    pub audit: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.agents.is_empty()
            && self.stores.is_empty()
            && self.intel.is_empty()
            && self.history.is_empty()
            && self.audit.is_empty()
    }
}

/// Errors of the state database. Any of them during a commit is fatal for the process: memory
/// may be ahead of disk, and restarting from disk is the only safe way on.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("state database {}: {source}", path.display())]
    Sled {
        path: PathBuf,
        #[source]
        source: sled::Error,
    },
    #[error("state database {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("state database task: {0}")]
    Task(String),
    #[error("state database {}: layout version {found:?} is not supported (expected 1)", path.display())]
    Format { path: PathBuf, found: String },
    #[error("state database {}: corrupt record {key:?}: {reason}", path.display())]
    Corrupt {
        path: PathBuf,
        key: String,
        reason: String,
    },
}

/// The sled database plus the handle used to fdatasync its data file.
pub struct Db {
    db: sled::Db,
    /// The command book's tree (see the module docs).
    commands: sled::Tree,
    data_file: File,
    /// sled's blob files, fsynced before each fdatasync (see `store_runtime::sled_durable`).
    blobs: store_runtime::sled_durable::Blobs,
    path: PathBuf,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("path", &self.path).finish()
    }
}

impl Db {
    /// Opens (or creates) the database in `dir` and loads the state. Blocking.
    pub fn open(dir: &Path) -> Result<(Db, State), DbError> {
        let path = dir.to_owned();
        let io = |source| DbError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(CACHE_BYTES)
            .open()
            .map_err(|source| DbError::Sled {
                path: path.clone(),
                source,
            })?;
        store_runtime::sled_durable::sync(dir).map_err(io)?;
        // A separate handle on sled's data file, only for fdatasync (see the module docs).
        let data_file = File::options()
            .read(true)
            .write(true)
            .open(dir.join("db"))
            .map_err(io)?;
        let commands = db
            .open_tree(COMMANDS_TREE)
            .map_err(|source| DbError::Sled {
                path: path.clone(),
                source,
            })?;
        let db = Db {
            db,
            commands,
            data_file,
            blobs: store_runtime::sled_durable::Blobs::new(dir),
            path: path.clone(),
        };
        match db.db.get(FORMAT_KEY).map_err(|e| db.sled(e))? {
            Some(v) if v.as_ref() == FORMAT_VERSION => {}
            Some(v) => {
                return Err(DbError::Format {
                    path,
                    found: String::from_utf8_lossy(&v).into_owned(),
                })
            }
            None => {
                db.db
                    .insert(FORMAT_KEY, FORMAT_VERSION)
                    .map_err(|e| db.sled(e))?;
                db.sync()?;
                // The database files are new: make their directory entries durable too.
                for d in [Some(dir), dir.parent()].into_iter().flatten() {
                    if let Ok(handle) = File::open(d) {
                        handle.sync_all().map_err(io)?;
                    }
                }
            }
        }
        let state = db.load()?;
        Ok((db, state))
    }

    fn sled(&self, source: sled::Error) -> DbError {
        DbError::Sled {
            path: self.path.clone(),
            source,
        }
    }

    fn corrupt(&self, key: &[u8], reason: impl ToString) -> DbError {
        DbError::Corrupt {
            path: self.path.clone(),
            key: String::from_utf8_lossy(key).into_owned(),
            reason: reason.to_string(),
        }
    }

    fn load(&self) -> Result<State, DbError> {
        let items = self
            .db
            .scan_prefix(AGENT_PREFIX)
            .chain(self.db.scan_prefix(STORE_PREFIX))
            .map(|item| item.map_err(|e| self.sled(e)));
        decode_state(&self.path, items)
    }

    /// The ledger state that `entries` (as [`Db::entries`] returns them) hold, checked as
    /// [`Db::open`] checks it: what a backup's manifest reports and a restore compares.
    pub fn state_of_entries(path: &Path, entries: &[Entry]) -> Result<State, DbError> {
        match entries.iter().find(|(k, _)| k.as_slice() == FORMAT_KEY) {
            Some((_, v)) if v.as_slice() == FORMAT_VERSION => {}
            found => {
                return Err(DbError::Format {
                    path: path.to_owned(),
                    found: found
                        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
                        .unwrap_or_default(),
                })
            }
        }
        decode_state(path, entries.iter().map(|(k, v)| Ok((k, v))))
    }

    /// Writes all records in `changes` atomically and durably. Blocking (fdatasync).
    pub fn commit(&self, changes: &Changes) -> Result<(), DbError> {
        let mut batch = sled::Batch::default();
        for (key, agent) in &changes.agents {
            let record = AgentRecord {
                applied: flatten(agent.applied()),
                lost: flatten(agent.lost()),
                last_batch_wall_ms: agent.last_batch_wall_ms(),
            };
            batch.insert(agent_key(key).into_bytes(), record.encode_to_vec());
        }
        for (store_id, stats) in &changes.stores {
            let record = StoreRecord {
                kinds: stats.kinds.clone(),
                foot_traffic_entries: stats.foot_traffic_entries,
                foot_traffic_exits: stats.foot_traffic_exits,
            };
            batch.insert(
                format!("{STORE_PREFIX}{store_id}").into_bytes(),
                record.encode_to_vec(),
            );
        }
        for (key, value) in &changes.intel {
            match value {
                Some(v) => batch.insert(key.as_bytes(), v.as_slice()),
                None => batch.remove(key.as_bytes()),
            }
        }
        for (key, value) in changes.history.iter().chain(&changes.audit) {
            batch.insert(key.as_slice(), value.as_slice());
        }
        self.db.apply_batch(batch).map_err(|e| self.sled(e))?;
        self.sync()
    }

    /// Feeds every stored `intel/...` entry to `load`, in key order (start-up).
    pub fn load_intel(
        &self,
        mut load: impl FnMut(&str, &[u8]) -> Result<(), String>,
    ) -> Result<(), DbError> {
        for item in self.db.scan_prefix(INTEL_PREFIX) {
            let (key, value) = item.map_err(|e| self.sled(e))?;
            let name = std::str::from_utf8(&key).map_err(|e| self.corrupt(&key, e))?;
            load(name, &value).map_err(|e| self.corrupt(&key, e))?;
        }
        Ok(())
    }

    /// The first (`last = false`) or last entry whose key starts with `prefix`, in key order.
    pub fn edge_under(
        &self,
        prefix: &str,
        last: bool,
    ) -> Result<Option<(String, Vec<u8>)>, DbError> {
        let mut iter = self.db.scan_prefix(prefix);
        let item = if last { iter.next_back() } else { iter.next() };
        match item {
            None => Ok(None),
            Some(item) => {
                let (key, value) = item.map_err(|e| self.sled(e))?;
                let name = std::str::from_utf8(&key).map_err(|e| self.corrupt(&key, e))?;
                Ok(Some((name.to_owned(), value.to_vec())))
            }
        }
    }

    /// Removes `key` without waiting for the disk: for delivered outbox entries, where a
    /// removal lost in a crash only means one more (idempotent) delivery.
    pub fn remove_unsynced(&self, key: &str) -> Result<(), DbError> {
        self.db.remove(key.as_bytes()).map_err(|e| self.sled(e))?;
        Ok(())
    }

    /// Feeds every stored command record to `load`, in id order (start-up).
    pub fn load_commands(
        &self,
        mut load: impl FnMut(&str, &[u8]) -> Result<(), String>,
    ) -> Result<(), DbError> {
        for item in self.commands.iter() {
            let (key, value) = item.map_err(|e| self.sled(e))?;
            let id = std::str::from_utf8(&key).map_err(|e| self.corrupt(&key, e))?;
            load(id, &value).map_err(|e| self.corrupt(&key, e))?;
        }
        Ok(())
    }

    /// Writes (`Some`) or deletes (`None`) command records in one atomic batch, durably.
    /// Blocking (fdatasync).
    pub fn write_commands(&self, changes: &[(String, Option<Vec<u8>>)]) -> Result<(), DbError> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        for (id, value) in changes {
            match value {
                Some(v) => batch.insert(id.as_bytes(), v.as_slice()),
                None => batch.remove(id.as_bytes()),
            }
        }
        self.commands.apply_batch(batch).map_err(|e| self.sled(e))?;
        self.sync()
    }

    /// sled flush, then fdatasync of the data file: only both together survive a power cut.
    fn sync(&self) -> Result<(), DbError> {
        self.db.flush().map_err(|e| self.sled(e))?;
        self.blobs.sync_new().map_err(|source| DbError::Io {
            path: self.path.join("blobs"),
            source,
        })?;
        self.data_file.sync_data().map_err(|source| DbError::Io {
            path: self.path.join("db"),
            source,
        })
    }

    /// The database for reading (history queries) and for pruning, which needs no fdatasync.
    pub fn tree(&self) -> &sled::Tree {
        &self.db
    }

    /// A fresh id, unique in this database across restarts (audit record keys).
    pub fn generate_id(&self) -> Result<u64, DbError> {
        self.db.generate_id().map_err(|e| self.sled(e))
    }

    /// Every stored entry of the database, the default tree's and the other trees' (see
    /// [`all_entries`]), in key order: a backup's content. Blocking. Only consistent when no
    /// commit runs meanwhile: the caller holds the commit lock
    /// ([`crate::rules::Runtime::snapshot`]) or the only handle on the database.
    pub fn entries(&self) -> Result<Vec<Entry>, DbError> {
        all_entries(&self.db).map_err(|e| self.sled(e))
    }

    /// [`Db::entries`] without the default tree's keys under `prefix`, and those keys apart:
    /// a backup reads the (large, append-only) history outside the commit lock.
    /// The keys under `prefix` are not read at all (reading them and dropping them cost a backup
    /// about 12 s of paused ingest per million history rows).
    pub fn entries_split(&self, prefix: &[u8]) -> Result<Vec<Entry>, DbError> {
        let before = self.db.range(..prefix);
        let after = prefix_end(prefix).map(|end| self.db.range(end..));
        let mut entries = before
            .chain(after.into_iter().flatten())
            .map(|item| item.map(|(k, v)| (k.to_vec(), v.to_vec())))
            .collect::<sled::Result<Vec<_>>>()
            .map_err(|e| self.sled(e))?;
        other_tree_entries(&self.db, &mut entries).map_err(|e| self.sled(e))?;
        Ok(entries)
    }

    /// The default tree's entries under `prefix`, in key order. Not a snapshot: entries written
    /// or removed meanwhile may or may not be in it.
    pub fn entries_under(&self, prefix: &[u8]) -> Result<Vec<Entry>, DbError> {
        self.db
            .scan_prefix(prefix)
            .map(|item| {
                item.map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .map_err(|e| self.sled(e))
            })
            .collect()
    }

    /// The event filters recorded by the last [`Db::set_subscribed_filters`].
    pub fn subscribed_filters(&self) -> Result<Vec<String>, DbError> {
        let value = self.db.get(FILTERS_KEY).map_err(|e| self.sled(e))?;
        Ok(value
            .map(|v| {
                String::from_utf8_lossy(&v)
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Records the event filters this collector subscribes to now.
    pub fn set_subscribed_filters(&self, filters: &[String]) -> Result<(), DbError> {
        self.db
            .insert(FILTERS_KEY, filters.join("\n").into_bytes())
            .map_err(|e| self.sled(e))?;
        self.sync()
    }
}

/// Every entry of `db`: the default tree's, then those of the other trees this layout has
/// (`commands`), each under its tree's [`TREE_MARK`] prefix. The prefix byte is not valid at the
/// start of UTF-8 and no binary key of the default tree starts with it (they all begin with an
/// ASCII prefix such as `hist/`), so one flat, ordered list holds the whole database and
/// [`write_entries`] can put every entry back into its tree.
pub fn all_entries(db: &sled::Db) -> sled::Result<Vec<Entry>> {
    let mut entries = db
        .iter()
        .map(|item| item.map(|(k, v)| (k.to_vec(), v.to_vec())))
        .collect::<sled::Result<Vec<_>>>()?;
    other_tree_entries(db, &mut entries)?;
    Ok(entries)
}

/// The first key after every key that starts with `prefix`; `None` when there is none (a prefix
/// of only 0xff bytes).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Appends the entries of the trees other than the default one, their keys prefixed with the
/// tree's name as [`all_entries`] lists them.
fn other_tree_entries(db: &sled::Db, entries: &mut Vec<Entry>) -> sled::Result<()> {
    for name in OTHER_TREES {
        let prefix = tree_prefix(name);
        for item in db.open_tree(name)?.iter() {
            let (k, v) = item?;
            let mut key = prefix.clone();
            key.extend_from_slice(&k);
            entries.push((key, v.to_vec()));
        }
    }
    Ok(())
}

/// Writes `entries` (as [`all_entries`] lists them) into `db`, each into its tree, in batches of
/// at most `per_batch` entries. Blocking; the caller flushes.
pub fn write_entries(db: &sled::Db, entries: &[Entry], per_batch: usize) -> sled::Result<()> {
    let mut trees = vec![(Vec::new(), (**db).clone())];
    for name in OTHER_TREES {
        trees.push((tree_prefix(name), db.open_tree(name)?));
    }
    for chunk in entries.chunks(per_batch.max(1)) {
        let mut batches: Vec<sled::Batch> = trees.iter().map(|_| sled::Batch::default()).collect();
        for (k, v) in chunk {
            // The longest matching prefix: the default tree's is empty and matches everything.
            let (i, prefix) = trees
                .iter()
                .enumerate()
                .rev()
                .find(|(_, (p, _))| k.starts_with(p))
                .map(|(i, (p, _))| (i, p.len()))
                .unwrap_or((0, 0));
            batches[i].insert(&k[prefix..], v.as_slice());
        }
        for ((_, tree), batch) in trees.iter().zip(batches) {
            tree.apply_batch(batch)?;
        }
    }
    Ok(())
}

/// Marks a key of another tree in [`all_entries`]: `TREE_MARK ++ name ++ '/' ++ key`.
pub const TREE_MARK: u8 = 0xFF;
/// The trees besides the default one. A new tree goes here, or backups lose it.
const OTHER_TREES: [&[u8]; 1] = [COMMANDS_TREE];

fn tree_prefix(name: &[u8]) -> Vec<u8> {
    let mut p = vec![TREE_MARK];
    p.extend_from_slice(name);
    p.push(b'/');
    p
}

/// Decodes the `agent/...` and `store/...` records among `items`; other keys are skipped.
fn decode_state<K: AsRef<[u8]>, V: AsRef<[u8]>>(
    path: &Path,
    items: impl Iterator<Item = Result<(K, V), DbError>>,
) -> Result<State, DbError> {
    let corrupt = |key: &[u8], reason: &dyn std::fmt::Display| DbError::Corrupt {
        path: path.to_owned(),
        key: String::from_utf8_lossy(key).into_owned(),
        reason: reason.to_string(),
    };
    let mut state = State::default();
    for item in items {
        let (key, value) = item?;
        let (key, value) = (key.as_ref(), value.as_ref());
        if let Some(name) = key.strip_prefix(AGENT_PREFIX.as_bytes()) {
            let name = std::str::from_utf8(name).map_err(|e| corrupt(key, &e))?;
            let (store_id, agent_id) = name
                .split_once('/')
                .ok_or_else(|| corrupt(key, &"key is not agent/{store}/{agent}"))?;
            let record = AgentRecord::decode(value).map_err(|e| corrupt(key, &e))?;
            let applied = unflatten(&record.applied).ok_or_else(|| corrupt(key, &"bad ranges"))?;
            let lost = unflatten(&record.lost).ok_or_else(|| corrupt(key, &"bad ranges"))?;
            state.agents.insert(
                AgentKey::new(store_id, agent_id),
                AgentState::from_parts(applied, lost, record.last_batch_wall_ms),
            );
        } else if let Some(store_id) = key.strip_prefix(STORE_PREFIX.as_bytes()) {
            let store_id = std::str::from_utf8(store_id).map_err(|e| corrupt(key, &e))?;
            let record = StoreRecord::decode(value).map_err(|e| corrupt(key, &e))?;
            state.stores.insert(
                store_id.to_owned(),
                StoreStats {
                    kinds: record.kinds,
                    foot_traffic_entries: record.foot_traffic_entries,
                    foot_traffic_exits: record.foot_traffic_exits,
                },
            );
        }
    }
    Ok(state)
}

fn agent_key(key: &AgentKey) -> String {
    format!("{AGENT_PREFIX}{}/{}", key.store_id, key.agent_id)
}

fn flatten(set: &SeqSet) -> Vec<u64> {
    set.ranges().flat_map(|(a, b)| [a, b]).collect()
}

fn unflatten(flat: &[u64]) -> Option<SeqSet> {
    if flat.len() % 2 != 0 {
        return None;
    }
    let mut set = SeqSet::new();
    for pair in flat.chunks_exact(2) {
        if pair[0] > pair[1] {
            return None;
        }
        set.insert_range(pair[0], pair[1]);
    }
    Some(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::apply_batch;
    use crate::ledger::fixtures::{batch, foot, loss, scans};

    /// Applies batches for `s1/a1` and commits the touched records, as ingest does.
    fn apply_and_commit(db: &Db, state: &mut State, batches: &[store_proto::EventBatch]) {
        let key = AgentKey::new("s1", "a1");
        let mut changes = Changes::default();
        let agent = state.agents.entry(key.clone()).or_default();
        let stats = state.stores.entry("s1".into()).or_default();
        for b in batches {
            apply_batch(agent, stats, b);
        }
        changes.agents.insert(key, agent.clone());
        changes.stores.insert("s1".into(), stats.clone());
        db.commit(&changes).unwrap();
    }

    #[test]
    fn entries_split_is_every_entry_but_those_under_the_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let (db, mut state) = Db::open(&dir.path().join("s")).unwrap();
        apply_and_commit(&db, &mut state, &[scans(1..=3)]);
        let tree = db.tree();
        // Keys just below, under, at the end of and just after the prefix `hist/t/`.
        for key in [
            "hist/s",
            "hist/t/",
            "hist/t/s1\0a",
            "hist/t/\u{7f}",
            "hist/t0",
            "zz",
        ] {
            tree.insert(key, b"v".to_vec()).unwrap();
        }
        db.commands.insert("c1", b"x".to_vec()).unwrap();
        let prefix = b"hist/t/";
        let mut expected = db.entries().unwrap();
        expected.retain(|(k, _)| !k.starts_with(prefix));
        let split = db.entries_split(prefix).unwrap();
        assert_eq!(split, expected);
        assert!(split.iter().any(|(k, _)| k == b"hist/s"));
        assert!(split.iter().any(|(k, _)| k == b"hist/t0"));
        assert!(split.iter().any(|(k, _)| k.ends_with(b"c1")));
        assert_eq!(db.entries_under(prefix).unwrap().len(), 3);
        assert_eq!(prefix_end(b"a/"), Some(b"a0".to_vec()));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
    }

    /// Opens again once sled's background flusher of the dropped handle has let go of the
    /// database's file lock (it can outlive the drop by a moment on a busy machine).
    fn reopen(path: &Path) -> (Db, State) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match Db::open(path) {
                Ok(opened) => return opened,
                Err(e) if std::time::Instant::now() < deadline => {
                    eprintln!("reopen: {e}; trying again");
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => panic!("reopen {}: {e}", path.display()),
            }
        }
    }

    #[test]
    fn reopened_state_is_identical() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        let (db, mut state) = Db::open(&path).unwrap();
        assert_eq!(state, State::default());
        apply_and_commit(
            &db,
            &mut state,
            &[
                scans(1..=10),
                scans(20..=25),
                batch(vec![foot(30, 7, 4), loss(31, &[(12, 15)])]),
            ],
        );
        db.set_subscribed_filters(&["stores/s1/agents/+/events".into()])
            .unwrap();
        drop(db);

        let (db, reopened) = reopen(&path);
        assert_eq!(reopened, state);
        let agent = &reopened.agents[&AgentKey::new("s1", "a1")];
        assert_eq!(agent.committed_seq(), 10);
        assert_eq!(agent.gaps(), vec![(11, 11), (16, 19), (26, 29)]);
        assert_eq!(agent.lost().ranges().collect::<Vec<_>>(), vec![(12, 15)]);
        assert_eq!(agent.applied_count(), 18);
        let stats = &reopened.stores["s1"];
        assert_eq!(stats.kinds["scan"], 16);
        assert_eq!(
            (stats.foot_traffic_entries, stats.foot_traffic_exits),
            (7, 4)
        );
        assert_eq!(reopened.applied_total(), 18);
        assert_eq!(
            db.subscribed_filters().unwrap(),
            vec!["stores/s1/agents/+/events".to_owned()]
        );

        // Replaying everything after the restart changes nothing.
        let mut again = reopened.clone();
        apply_and_commit(&db, &mut again, &[scans(1..=10), scans(20..=25)]);
        assert_eq!(again, reopened);
    }

    #[test]
    fn unknown_layout_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        {
            let (db, _) = Db::open(&path).unwrap();
            db.db.insert(FORMAT_KEY, b"9".as_slice()).unwrap();
            db.db.flush().unwrap();
        }
        let err = Db::open(&path).unwrap_err();
        assert!(matches!(err, DbError::Format { .. }), "{err}");
    }
}
