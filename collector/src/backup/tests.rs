//! Backup and restore against real sled databases and the real rules runtime.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use store_proto::EventBatch;
use tokio::sync::mpsc;

use super::manifest::{Manifest, MANIFEST_FILE, STATE_DIR};
use super::restore::restore;
use super::{BackupError, Backups};
use crate::config::Config;
use crate::ledger::fixtures::{batch, foot, loss, scan, scans};
use crate::ledger::{apply_batch_with, AgentKey, Changes, Db, Entry, Limits, State};
use crate::rules::engine::BatchInfo;
use crate::rules::Runtime;

/// The collector's database and rules runtime on `{state_dir}/state`, as `run` opens them.
struct Collector {
    db: Arc<Db>,
    rules: Arc<Runtime>,
    state: State,
}

fn config(state_dir: &Path) -> Config {
    Config::parse(
        &format!(
            "collector_id = \"hq-1\"\nstate_dir = \"{}\"\n",
            state_dir.display()
        ),
        "t.toml",
    )
    .unwrap()
}

fn open(state_dir: &Path) -> Collector {
    let (db, state) = Db::open(&state_dir.join(STATE_DIR)).unwrap();
    let db = Arc::new(db);
    let (outputs, _) = mpsc::unbounded_channel();
    let rules = Arc::new(Runtime::open(&config(state_dir), db.clone(), outputs).unwrap());
    Collector { db, rules, state }
}

fn with_agent(mut b: EventBatch, agent: &str) -> EventBatch {
    b.agent_id = agent.to_owned();
    b
}

impl Collector {
    async fn group(&mut self, batches: &[EventBatch]) {
        group(&self.rules, &mut self.state, batches).await;
    }
}

/// Commits `batches` as one group, through the engine, as ingest does.
async fn group(rules: &Runtime, state: &mut State, batches: &[EventBatch]) {
    rules
        .apply_group(|rules| {
            let mut changes = Changes::default();
            for b in batches {
                let key = AgentKey::new(&b.store_id, &b.agent_id);
                let agent = state.agents.entry(key.clone()).or_default();
                let stats = state.stores.entry(b.store_id.clone()).or_default();
                let info = BatchInfo {
                    store: &b.store_id,
                    agent: &b.agent_id,
                    historical: false,
                    sent_ms: 0,
                };
                apply_batch_with(agent, stats, b, Limits::default(), |e| rules.apply(info, e));
                changes.agents.insert(key, agent.clone());
                changes.stores.insert(b.store_id.clone(), stats.clone());
            }
            changes
        })
        .await
        .unwrap();
}

/// An address nothing listens on: "no collector answers".
fn silent_api() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

fn request(dest: &Path) -> Vec<u8> {
    serde_json::json!({ "dest": dest }).to_string().into_bytes()
}

fn entries_of(state_dir: &Path) -> Vec<Entry> {
    let (db, _) = Db::open(&state_dir.join(STATE_DIR)).unwrap();
    db.entries().unwrap()
}

fn siblings(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn flip_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

/// A collector with agents, gaps, lost ranges and rules-engine state, backed up online.
async fn backed_up(root: &Path) -> (Collector, PathBuf, Manifest, Vec<Entry>) {
    let live = root.join("live");
    let mut c = open(&live);
    let now = store_runtime::clock::now_ms();
    let mut traffic = batch(vec![foot(30, 7, 4), loss(31, &[(12, 15)])]);
    for e in &mut traffic.events {
        e.wall_time_ms = now;
    }
    c.group(&[scans(1..=10), scans(20..=25), traffic]).await;
    c.group(&[with_agent(scans(1..=3), "a2")]).await;
    let backups = Backups::new("hq-1", &live);
    let dest = root.join("backup-1");
    let (written, manifest) = backups.take(&c.rules, &request(&dest)).await.unwrap();
    assert_eq!(written, dest);
    let entries = c.db.entries().unwrap();
    (c, dest, manifest, entries)
}

#[tokio::test]
async fn a_restored_backup_opens_with_identical_state() {
    let root = tempfile::tempdir().unwrap();
    let (original, dest, manifest, entries) = backed_up(root.path()).await;
    assert!(
        entries.iter().any(|(k, _)| k.starts_with(b"intel/")),
        "the fixture must hold rules-engine state"
    );
    assert_eq!(manifest.collector_id, "hq-1");
    assert!(manifest.online);
    assert_eq!(manifest.counts.entries, entries.len() as u64);
    let marks: Vec<_> = manifest
        .agents
        .iter()
        .map(|a| (a.agent_id.as_str(), a.committed_seq, a.highest_seq))
        .collect();
    assert_eq!(marks, vec![("a1", 10, 31), ("a2", 3, 3)]);
    assert_eq!(Manifest::read(&dest).unwrap(), manifest);

    let target = root.path().join("restored");
    let report = restore(&dest, &target, "hq-1", silent_api(), false).unwrap();
    assert_eq!(report.moved_aside, None);
    assert_eq!(report.manifest, manifest);
    // Every entry, byte for byte: marks, gaps, lost ranges, totals and the engine's state.
    assert_eq!(entries_of(&target), entries);
    let restored = open(&target);
    assert_eq!(restored.state, original.state);
    let a1 = &restored.state.agents[&AgentKey::new("s1", "a1")];
    assert_eq!(a1.gaps(), vec![(11, 11), (16, 19), (26, 29)]);
    let traffic = |c: &Collector| {
        c.rules.read(|e| {
            serde_json::to_string(
                &e.traffic
                    .windows("s1", 0, i64::MAX / 2, e.profiles.get("s1")),
            )
            .unwrap()
        })
    };
    assert_eq!(traffic(&restored), traffic(&original));
    assert!(traffic(&restored).contains('7'), "{}", traffic(&restored));
}

/// The command book lives in its own sled tree: a backup that copied only the default tree
/// would restore a collector that forgot every command it accepted.
#[tokio::test]
async fn a_backup_holds_every_tree_and_restore_puts_each_back() {
    let root = tempfile::tempdir().unwrap();
    let live = root.path().join("live");
    let mut c = open(&live);
    c.group(&[scans(1..=5)]).await;
    let book = [
        ("cmd-1".to_owned(), Some(br#"{"id":"cmd-1"}"#.to_vec())),
        ("cmd-2".to_owned(), Some(br#"{"id":"cmd-2"}"#.to_vec())),
    ];
    c.db.write_commands(&book).unwrap();
    let dest = root.path().join("backup-1");
    let (_, manifest) = Backups::new("hq-1", &live)
        .take(&c.rules, &request(&dest))
        .await
        .unwrap();
    let entries = c.db.entries().unwrap();
    let marked = entries
        .iter()
        .filter(|(k, _)| k.starts_with(b"\xffcommands/"))
        .count();
    assert_eq!(
        marked, 2,
        "the commands tree is part of the backup's content"
    );
    assert_eq!(manifest.counts.entries, entries.len() as u64);
    drop(c);

    let target = root.path().join("restored");
    restore(&dest, &target, "hq-1", silent_api(), false).unwrap();
    assert_eq!(entries_of(&target), entries);
    let (db, _) = Db::open(&target.join(STATE_DIR)).unwrap();
    let mut restored = Vec::new();
    db.load_commands(|id, v| {
        restored.push((id.to_owned(), v.to_vec()));
        Ok(())
    })
    .unwrap();
    let want: Vec<_> = book
        .iter()
        .map(|(id, v)| (id.clone(), v.clone().unwrap()))
        .collect();
    assert_eq!(restored, want, "each command back in its own tree");
    assert!(
        db.tree().iter().keys().all(|k| k.unwrap()[0] != 0xFF),
        "no marked key leaked into the default tree"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_during_ingest_holds_whole_groups_only() {
    let root = tempfile::tempdir().unwrap();
    let live = root.path().join("live");
    let c = open(&live);
    let stop = Arc::new(AtomicBool::new(false));
    // Group n applies seq n for a1 (foot traffic: engine state too) and for a2 (a scan), so
    // between two groups both marks, the store's entries and its scans are all equal.
    let writer = {
        let (rules, stop, mut state) = (c.rules.clone(), stop.clone(), c.state.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let mut a1 = batch(vec![foot(n, 1, 0)]);
                a1.events[0].wall_time_ms = store_runtime::clock::now_ms();
                let a2 = with_agent(batch(vec![scan(n)]), "a2");
                group(&rules, &mut state, &[a1, a2]).await;
            }
            n
        })
    };
    let backups = Backups::new("hq-1", &live);
    let mut marks = Vec::new();
    for i in 0..12 {
        let dest = root.path().join(format!("backup-{i}"));
        let (_, manifest) = backups.take(&c.rules, &request(&dest)).await.unwrap();
        let target = root.path().join(format!("restored-{i}"));
        restore(&dest, &target, "hq-1", silent_api(), false).unwrap();
        let (_, state) = Db::open(&target.join(STATE_DIR)).unwrap();
        let mark = |agent: &str| {
            state
                .agents
                .get(&AgentKey::new("s1", agent))
                .map_or(0, |a| a.committed_seq())
        };
        let store = state.stores.get("s1").cloned().unwrap_or_default();
        let scans = store.kinds.get("scan").copied().unwrap_or(0);
        assert_eq!(
            (mark("a2"), store.foot_traffic_entries, scans),
            (mark("a1"), mark("a1"), mark("a1")),
            "backup {i} holds part of a group"
        );
        let in_manifest: Vec<u64> = manifest.agents.iter().map(|a| a.committed_seq).collect();
        let expected = if mark("a1") == 0 {
            vec![]
        } else {
            vec![mark("a1"); 2]
        };
        assert_eq!(
            in_manifest, expected,
            "backup {i}: manifest and content differ"
        );
        marks.push(mark("a1"));
    }
    stop.store(true, Ordering::Relaxed);
    let groups = writer.await.unwrap();
    // The backups were taken while groups were being committed, not before or after them all.
    assert!(
        marks.iter().any(|&m| m > 0 && m < groups),
        "{marks:?} of {groups}"
    );
    assert!(marks.windows(2).all(|w| w[0] <= w[1]), "{marks:?}");
    let pauses = backups.counters().last_pause_us.load(Ordering::Relaxed);
    assert!(pauses > 0, "the ingest pause is measured");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_waits_for_the_group_in_hand() {
    let root = tempfile::tempdir().unwrap();
    let c = open(&root.path().join("live"));
    let (entered_tx, entered_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let writer = {
        let rules = c.rules.clone();
        tokio::spawn(async move {
            let mut state = State::default();
            let mut b = scans(1..=5);
            let release_rx = std::sync::Mutex::new(release_rx);
            rules
                .apply_group(|rules| {
                    entered_tx.send(()).unwrap();
                    // The group is in hand (commit lock held) until the test lets it go.
                    release_rx.lock().unwrap().recv().unwrap();
                    let mut changes = Changes::default();
                    let key = AgentKey::new("s1", "a1");
                    let agent = state.agents.entry(key.clone()).or_default();
                    let stats = state.stores.entry("s1".into()).or_default();
                    b.agent_id = "a1".into();
                    let info = BatchInfo {
                        store: "s1",
                        agent: "a1",
                        historical: false,
                        sent_ms: 0,
                    };
                    apply_batch_with(agent, stats, &b, Limits::default(), |e| {
                        rules.apply(info, e)
                    });
                    changes.agents.insert(key, agent.clone());
                    changes.stores.insert("s1".into(), stats.clone());
                    changes
                })
                .await
                .unwrap();
        })
    };
    entered_rx.recv().unwrap();
    let snapshot = {
        let rules = c.rules.clone();
        tokio::spawn(async move { rules.snapshot().await.unwrap() })
    };
    // While the group is in hand the snapshot must not complete: it would miss half of it.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !snapshot.is_finished(),
        "the snapshot did not wait for the commit lock"
    );
    release_tx.send(()).unwrap();
    writer.await.unwrap();
    let snapshot = snapshot.await.unwrap();
    let state = Db::state_of_entries(Path::new("snapshot"), &snapshot.entries).unwrap();
    assert_eq!(state.agents[&AgentKey::new("s1", "a1")].committed_seq(), 5);
}

#[tokio::test]
async fn a_damaged_backup_is_refused_and_nothing_changes() {
    let root = tempfile::tempdir().unwrap();
    let (_, dest, _, _) = backed_up(root.path()).await;
    // The state being restored over: one agent, a different history.
    let target = root.path().join("t").join("target");
    {
        let mut c = open(&target);
        c.group(&[scans(1..=5)]).await;
    }
    let before = entries_of(&target);
    let listing = siblings(&target);
    let check_unchanged = |what: &str| {
        assert_eq!(entries_of(&target), before, "{what}: the state changed");
        assert_eq!(
            siblings(&target),
            listing,
            "{what}: files appeared or vanished"
        );
    };

    // A flipped byte in sled's data file.
    let damaged = root.path().join("damaged-db");
    copy_dir(&dest, &damaged);
    flip_byte(&damaged.join(STATE_DIR).join("db"));
    let err = restore(&damaged, &target, "hq-1", silent_api(), false).unwrap_err();
    assert!(
        matches!(&err, BackupError::Damaged { reason, .. } if reason.contains("state/db")),
        "{err}"
    );
    check_unchanged("flipped byte");

    // A manifest whose mark was edited: the files match, the content does not.
    let edited = root.path().join("edited-manifest");
    copy_dir(&dest, &edited);
    let text = std::fs::read_to_string(edited.join(MANIFEST_FILE)).unwrap();
    let text = text.replacen("\"committed_seq\": 10", "\"committed_seq\": 11", 1);
    std::fs::write(edited.join(MANIFEST_FILE), text).unwrap();
    let err = restore(&edited, &target, "hq-1", silent_api(), false).unwrap_err();
    assert!(
        matches!(&err, BackupError::Damaged { reason, .. } if reason.contains("marks")),
        "{err}"
    );
    check_unchanged("edited manifest");

    // Not a backup at all.
    let foreign_dir = root.path().join("not-a-backup");
    std::fs::create_dir(&foreign_dir).unwrap();
    std::fs::write(foreign_dir.join(MANIFEST_FILE), "{\"format\": \"other\"}").unwrap();
    let err = restore(&foreign_dir, &target, "hq-1", silent_api(), false).unwrap_err();
    assert!(matches!(err, BackupError::Damaged { .. }), "{err}");
    check_unchanged("foreign manifest");

    // Another collector's backup, unless forced.
    let err = restore(&dest, &target, "hq-2", silent_api(), false).unwrap_err();
    assert!(matches!(err, BackupError::Foreign { .. }), "{err}");
    check_unchanged("other collector");
}

#[tokio::test]
async fn a_running_collectors_state_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let (c, dest, _, entries) = backed_up(root.path()).await;
    let live = root.path().join("live");
    // `live` is still open: its collector holds sled's lock (this process, another handle).
    let listing = siblings(&live);
    let err = restore(&dest, &live, "hq-1", silent_api(), false).unwrap_err();
    assert!(matches!(err, BackupError::Running(_)), "{err}");
    assert_eq!(siblings(&live), listing);

    // A collector answering on the configured API address is refused too, lock or not.
    let target = root.path().join("elsewhere");
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = api.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let app = axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok" }));
        axum::serve(api, app).await.unwrap();
    });
    let err = tokio::task::spawn_blocking({
        let (dest, target) = (dest.clone(), target.clone());
        move || restore(&dest, &target, "hq-1", addr, false).unwrap_err()
    })
    .await
    .unwrap();
    assert!(matches!(err, BackupError::Running(_)), "{err}");
    assert!(!target.exists());
    server.abort();
    drop((c, entries));
}

#[tokio::test]
async fn restore_moves_the_old_state_aside_and_never_deletes_it() {
    let root = tempfile::tempdir().unwrap();
    let (_, dest, _, entries) = backed_up(root.path()).await;
    let target = root.path().join("target");
    {
        let mut c = open(&target);
        c.group(&[scans(1..=5)]).await;
    }
    let old = entries_of(&target);
    let report = restore(&dest, &target, "hq-1", silent_api(), false).unwrap();
    let aside = report.moved_aside.expect("the old state was moved aside");
    let name = aside.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("target.before-restore-"), "{name}");
    assert_eq!(entries_of(&aside), old, "the old state is kept whole");
    assert_eq!(entries_of(&target), entries);
    // The backup itself is untouched and can be restored again.
    super::restore::verify_files(&dest).unwrap();
    assert!(
        !siblings(&target).iter().any(|n| n.contains(".restoring-")),
        "no temporary copy is left"
    );
}

#[tokio::test]
async fn bad_backup_requests_are_refused_and_counted() {
    let root = tempfile::tempdir().unwrap();
    let (c, dest, _, _) = backed_up(root.path()).await;
    let live = root.path().join("live");
    let backups = Backups::new("hq-1", &live);
    let bodies: Vec<Vec<u8>> = vec![
        b"not json".to_vec(),
        br#"{"dest": "relative/path"}"#.to_vec(),
        br#"{"dest": "/tmp/x", "extra": 1}"#.to_vec(),
        serde_json::json!({"dest": format!("/{}", "a".repeat(5000))})
            .to_string()
            .into_bytes(),
        request(&live.join(STATE_DIR).join("inside")),
        request(&root.path().join("x").join("..").join("y")),
        request(&root.path().join("no-such-dir").join("b")),
        request(&dest),
    ];
    for body in &bodies {
        let err = backups.take(&c.rules, body).await.unwrap_err();
        assert!(super::online::refused(&err), "{err}");
    }
    assert!(matches!(
        backups.take(&c.rules, &request(&dest)).await.unwrap_err(),
        BackupError::Exists(_)
    ));
    let counters = backups.counters();
    assert_eq!(
        counters.refused.load(Ordering::Relaxed),
        bodies.len() as u64 + 1
    );
    assert_eq!(counters.written.load(Ordering::Relaxed), 0);
    // The existing backup was not touched.
    super::restore::verify_files(&dest).unwrap();
}

#[test]
fn timestamps_are_utc() {
    use super::manifest::{compact_utc, rfc3339};
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(rfc3339(951_782_400_250), "2000-02-29T00:00:00.250Z");
    assert_eq!(rfc3339(1_796_131_845_007), "2026-12-01T13:30:45.007Z");
    assert_eq!(compact_utc(1_796_131_845_007), "20261201T133045Z");
}

#[test]
fn the_cli_copies_a_stopped_collectors_directory_itself() {
    let root = tempfile::tempdir().unwrap();
    let state_dir = root.path().join("state-dir");
    let api = silent_api();
    let config = Config::parse(
        &format!(
            "collector_id = \"hq-1\"\nstate_dir = \"{}\"\n[api]\nlisten = \"{api}\"\n",
            state_dir.display()
        ),
        "t.toml",
    )
    .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let c = runtime.block_on(async {
        let mut c = open(&state_dir);
        c.group(&[scans(1..=7)]).await;
        c
    });
    // Running (the lock is held) but no API answering: refused, nothing written.
    let dest = root.path().join("offline");
    let err = super::cli::backup(&config, &dest, None).unwrap_err();
    assert!(matches!(err, BackupError::Running(_)), "{err}");
    assert!(!dest.exists());
    let entries = c.db.entries().unwrap();
    drop(c);
    drop(runtime);

    let (via, written, manifest) = super::cli::backup(&config, &dest, None).unwrap();
    assert_eq!(via, super::cli::Via::Directory);
    assert_eq!(written, dest);
    assert!(!manifest.online);
    assert_eq!(manifest.agents[0].committed_seq, 7);
    let target = root.path().join("restored");
    restore(&dest, &target, "hq-1", silent_api(), false).unwrap();
    assert_eq!(entries_of(&target), entries);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir(to).unwrap();
    std::fs::copy(from.join(MANIFEST_FILE), to.join(MANIFEST_FILE)).unwrap();
    super::files::copy_tree(&from.join(STATE_DIR), &to.join(STATE_DIR)).unwrap();
}

/// Measures what a large history costs a backup's ingest pause, with `STORE_BACKUP_HISTORY_ROWS`
/// (default 1 000 000) rows of a realistic size in the tree: the history is read after the
/// commit lock is released, so the pause should not grow with it. The rows name seqs no dedup
/// record counts as applied, so the copy leaves them out (as it leaves out rows of groups
/// committed after the lock). A measurement, not a check of a bound: run with
/// `cargo test --release -p store-collector --lib backup::tests::history_rows_pause -- --ignored
/// --nocapture`; the README's "Backup and restore" quotes its numbers.
#[tokio::test]
#[ignore]
async fn history_rows_pause() {
    let rows: u64 = std::env::var("STORE_BACKUP_HISTORY_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let root = tempfile::tempdir().unwrap();
    let live = root.path().join("live");
    let mut c = open(&live);
    c.group(&[scans(1..=5)]).await;
    // Row keys and values of the size of a one-row value (about 120 bytes); their content does
    // not matter to a snapshot.
    let tree = c.db.tree();
    for chunk in (0..rows).collect::<Vec<_>>().chunks(10_000) {
        let mut batch = sled::Batch::default();
        for &i in chunk {
            let mut t = b"hist/t/s1\0".to_vec();
            t.extend_from_slice(&(i as i64).to_be_bytes());
            t.extend_from_slice(format!("a1\0{i:020}").as_bytes());
            batch.insert(t, vec![0x5a; 120]);
        }
        tree.apply_batch(batch).unwrap();
    }
    tree.flush().unwrap();
    let started = std::time::Instant::now();
    let snapshot = c.rules.snapshot().await.unwrap();
    let bytes: usize = snapshot
        .entries
        .iter()
        .map(|(k, v)| k.len() + v.len())
        .sum();
    println!(
        "{rows} history rows: {} entries, {:.1} MB of keys and values held in memory, ingest \
         paused {:?} (snapshot call {:?})",
        snapshot.entries.len(),
        bytes as f64 / 1e6,
        snapshot.paused,
        started.elapsed()
    );
    // The state of the one applied group is there; rows of seqs never applied are not.
    assert!(!snapshot.entries.is_empty());
    assert!(
        (snapshot.entries.len() as u64) < rows,
        "{} entries",
        snapshot.entries.len()
    );
}
