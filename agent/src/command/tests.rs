use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prost::Message;
use store_drivers::scanner::mode::remote::RemoteMode;
use store_drivers::scanner::mode::ScanMode;
use store_proto::v1::{self, command::Kind, Command, CommandResult, SeqRange};
use tokio::sync::mpsc;

use super::done::{Done, DoneStore, MAX_AGE_MS};
use super::log_filter::{FilterTarget, LogFilterSwitch};
use super::reload::ReloadRequest;
use super::*;
use crate::uplink::resend::{ResendOutcome, ResendRange, ResendRequest};

const NOW: i64 = 1_800_000_000_000;
const HOUR: i64 = 3600 * 1000;

fn command(id: &str, kind: Kind) -> Command {
    Command {
        id: id.to_owned(),
        store_id: "s1".into(),
        agent_id: "a1".into(),
        issued_at_ms: NOW - 1000,
        expires_at_ms: NOW + HOUR,
        issued_by: "ops".into(),
        kind: Some(kind),
    }
}

fn status() -> Kind {
    Kind::StatusReport(v1::StatusReport {})
}

/// A filter target that remembers what it was set to.
#[derive(Clone, Default)]
struct FakeFilter {
    current: Arc<Mutex<String>>,
    sets: Arc<AtomicUsize>,
}

impl FilterTarget for FakeFilter {
    fn set(&self, filter: &str) -> Result<(), String> {
        self.sets.fetch_add(1, Ordering::SeqCst);
        *self.current.lock().unwrap() = filter.to_owned();
        Ok(())
    }
    fn current(&self) -> Result<String, String> {
        Ok(self.current.lock().unwrap().clone())
    }
}

impl FakeFilter {
    fn now(&self) -> String {
        self.current.lock().unwrap().clone()
    }
}

struct Rig {
    executor: Executor,
    status_calls: Arc<AtomicUsize>,
    filter: FakeFilter,
    resend_rx: mpsc::Receiver<ResendRequest>,
    reload_rx: mpsc::Receiver<ReloadRequest>,
}

fn rig(dir: &std::path::Path) -> Rig {
    let status_calls = Arc::new(AtomicUsize::new(0));
    let calls = status_calls.clone();
    let filter = FakeFilter::default();
    *filter.current.lock().unwrap() = "info".into();
    let (resend, resend_rx) = ResendHandle::channel(4);
    let (reload_tx, reload_rx) = mpsc::channel(1);
    let parts = Parts {
        resend,
        reload: Some(reload_tx),
        status: Box::new(move || {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            format!("{{\"calls\":{n}}}")
        }),
        log_filter: Some(LogFilterSwitch::new(Arc::new(filter.clone()))),
    };
    let done = DoneStore::open(dir, NOW).unwrap();
    Rig {
        executor: Executor::new("s1", "a1", done, parts, Arc::default()),
        status_calls,
        filter,
        resend_rx,
        reload_rx,
    }
}

async fn send(rig: &mut Rig, c: &Command) -> CommandResult {
    rig.executor
        .handle(&c.encode_to_vec(), NOW)
        .await
        .expect("a command with an id is answered")
}

#[tokio::test]
async fn unreadable_payloads_get_no_answer_and_count_as_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let mut rig = rig(dir.path());
    let huge = command(&"x".repeat(10), status());
    let mut big = huge.encode_to_vec();
    big.resize(validate::MAX_COMMAND_BYTES + 1, 0);
    assert_eq!(rig.executor.handle(&big, NOW).await, None);
    assert_eq!(rig.executor.handle(b"\xff\xff\xff", NOW).await, None);
    assert_eq!(rig.executor.counters().get(Outcome::Invalid), 2);
    // A bad id is answered, with an empty id, and not remembered.
    for id in [String::new(), "i".repeat(validate::MAX_ID_BYTES + 1)] {
        let r = send(&mut rig, &command(&id, status())).await;
        assert!(!r.ok);
        assert_eq!(r.id, "");
        assert!(r.message.contains("id"), "{}", r.message);
    }
    let r = send(
        &mut rig,
        &command(&"i".repeat(validate::MAX_ID_BYTES), status()),
    )
    .await;
    assert!(r.ok, "an id of exactly the limit is fine: {}", r.message);
    assert_eq!(rig.status_calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn each_refusal_has_its_reason_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut rig = rig(dir.path());
    let replay = |from_seq, to_seq, from_time_ms, to_time_ms| {
        Kind::Replay(v1::Replay {
            from_seq,
            to_seq,
            from_time_ms,
            to_time_ms,
        })
    };
    let filter = |f: &str, d| {
        Kind::SetLogFilter(v1::SetLogFilter {
            filter: f.into(),
            duration_s: d,
        })
    };
    let mut cases: Vec<(Command, Outcome, &str)> = Vec::new();
    let mut other_store = command("c1", status());
    other_store.store_id = "s2".into();
    cases.push((
        other_store,
        Outcome::Refused,
        "addressed to store \"s2\" agent \"a1\", this is store \"s1\" agent \"a1\"",
    ));
    let mut huge_store = command("c1b", status());
    huge_store.store_id = "s".repeat(20_000);
    cases.push((huge_store, Outcome::Refused, "addressed to store \"sss"));
    let mut other_agent = command("c2", status());
    other_agent.agent_id = "a9".into();
    cases.push((other_agent, Outcome::Refused, "agent \"a9\""));
    let mut expired = command("c3", status());
    expired.expires_at_ms = NOW;
    cases.push((expired, Outcome::Refused, "expired"));
    let mut no_expiry = command("c4", status());
    no_expiry.expires_at_ms = 0;
    cases.push((no_expiry, Outcome::Refused, "expired"));
    let mut far = command("c5", status());
    far.expires_at_ms = NOW + validate::MAX_EXPIRY_AHEAD_MS + 1;
    cases.push((far, Outcome::Refused, "more than 7 days"));
    let mut unknown = command("c6", status());
    unknown.kind = None;
    cases.push((unknown, Outcome::Invalid, "unknown command"));
    cases.push((
        command("c7", replay(10, 5, 0, 0)),
        Outcome::Invalid,
        "after to_seq",
    ));
    cases.push((
        command("c8", replay(1, 1_000_000 + 1, 0, 0)),
        Outcome::Invalid,
        "at most 1000000",
    ));
    cases.push((
        command("c9", replay(0, 0, 20, 10)),
        Outcome::Invalid,
        "after to_time_ms",
    ));
    cases.push((
        command("c10", replay(5, 0, 0, 0)),
        Outcome::Invalid,
        "to_seq is 0",
    ));
    cases.push((
        command(
            "c11",
            Kind::SetScanMode(v1::SetScanMode {
                device_id: "till-1".into(),
                mode: 99,
            }),
        ),
        Outcome::Invalid,
        "99 is not a scan mode",
    ));
    cases.push((
        command(
            "c12",
            Kind::SetScanMode(v1::SetScanMode {
                device_id: "till-1".into(),
                mode: v1::ScanMode::Badge as i32,
            }),
        ),
        Outcome::Invalid,
        "not a scan mode",
    ));
    cases.push((
        command(
            "c13",
            Kind::SetScanMode(v1::SetScanMode {
                device_id: "no-such-scanner-in-tests".into(),
                mode: v1::ScanMode::Shrink as i32,
            }),
        ),
        Outcome::Invalid,
        "no scanner driver \"no-such-scanner-in-tests\"",
    ));
    cases.push((
        command("c14", filter("store_agent=[", 60)),
        Outcome::Invalid,
        "does not parse",
    ));
    cases.push((
        command("c15", filter("debug", 0)),
        Outcome::Invalid,
        "duration_s 0",
    ));
    cases.push((
        command("c16", filter("debug", 24 * 3600 + 1)),
        Outcome::Invalid,
        "duration_s 86401",
    ));
    cases.push((
        command("c17", filter("", 60)),
        Outcome::Invalid,
        "1 to 1024 bytes",
    ));
    let n = cases.len() as u64;
    let (mut refused, mut invalid) = (0, 0);
    for (c, outcome, words) in cases {
        let r = send(&mut rig, &c).await;
        assert!(!r.ok, "{} ran", c.id);
        assert_eq!(r.id, c.id);
        assert_eq!((r.store_id.as_str(), r.agent_id.as_str()), ("s1", "a1"));
        assert!(
            r.message.contains(words),
            "{}: {:?} lacks {words:?}",
            c.id,
            r.message
        );
        match outcome {
            Outcome::Refused => refused += 1,
            _ => invalid += 1,
        }
    }
    let counters = rig.executor.counters();
    assert_eq!(counters.get(Outcome::Refused), refused);
    assert_eq!(counters.get(Outcome::Invalid), invalid);
    assert_eq!(refused + invalid, n);
    // Nothing ran: no status, no filter switch, no resend or reload asked for.
    assert_eq!(rig.status_calls.load(Ordering::SeqCst), 0);
    assert_eq!(rig.filter.sets.load(Ordering::SeqCst), 0);
    assert!(rig.resend_rx.try_recv().is_err());
    assert!(rig.reload_rx.try_recv().is_err());
}

#[tokio::test]
async fn an_id_runs_once_even_after_reopening_and_refusals_repeat_too() {
    let dir = tempfile::tempdir().unwrap();
    let first = {
        let mut rig = rig(dir.path());
        let first = send(&mut rig, &command("once", status())).await;
        assert!(first.ok && !first.duplicate);
        assert_eq!(first.detail_json, "{\"calls\":1}");
        let again = send(&mut rig, &command("once", status())).await;
        assert!(again.duplicate);
        assert_eq!(
            again.detail_json, first.detail_json,
            "the stored result, not a new run"
        );
        assert_eq!(rig.status_calls.load(Ordering::SeqCst), 1);
        let mut late = command("late", status());
        late.expires_at_ms = NOW - 1;
        let refused = send(&mut rig, &late).await;
        assert!(!refused.ok && refused.message.contains("expired"));
        assert_eq!(rig.executor.counters().get(Outcome::Duplicate), 1);
        first
    };
    // A restarted agent remembers both.
    let mut rig = rig(dir.path());
    let again = send(&mut rig, &command("once", status())).await;
    assert!(again.duplicate && again.ok);
    assert_eq!(
        (again.id.as_str(), again.message.as_str()),
        ("once", first.message.as_str())
    );
    assert_eq!(again.detail_json, first.detail_json);
    assert_eq!(
        rig.status_calls.load(Ordering::SeqCst),
        0,
        "nothing ran again"
    );
    // Even a now valid command with a refused id gets the same refusal.
    let late = send(&mut rig, &command("late", status())).await;
    assert!(late.duplicate && !late.ok && late.message.contains("expired"));
}

fn done(id: &str, at_ms: i64) -> Done {
    Done {
        id: id.to_owned(),
        at_ms,
        outcome: "ok".into(),
        ok: true,
        message: format!("ran {id}"),
        detail_json: String::new(),
        events_queued: 0,
        not_retained: vec![(1, 2)],
    }
}

#[test]
fn the_store_forgets_oldest_first_beyond_its_bounds_and_stays_compact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("commands/done.jsonl");
    {
        let mut store = DoneStore::open_bounded(dir.path(), NOW, 3).unwrap();
        for i in 0..10 {
            store.record(done(&format!("id{i}"), NOW + i)).unwrap();
        }
        assert_eq!(store.len(), 3);
        assert!(store.get("id6").is_none());
        assert_eq!(
            store.get("id9").unwrap().result().not_retained,
            [SeqRange { first: 1, last: 2 }]
        );
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        assert!(
            lines <= 6,
            "the file is rewritten at twice the bound: {lines} lines"
        );
    }
    // A torn last line (a crash mid-write) is skipped, the rest kept.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"{\"id\":\"torn"))
        .unwrap();
    let store = DoneStore::open_bounded(dir.path(), NOW + 100, 3).unwrap();
    assert_eq!(store.len(), 3);
    assert!(store.get("id7").is_some() && store.get("id9").is_some());
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 3);
    drop(store);
    // Thirty days later all of them are forgotten.
    let store = DoneStore::open_bounded(dir.path(), NOW + MAX_AGE_MS + 10, 3).unwrap();
    assert!(store.is_empty());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
}

#[tokio::test(start_paused = true)]
async fn a_temporary_log_filter_reverts_and_a_newer_one_replaces_the_timer() {
    let filter = FakeFilter::default();
    *filter.current.lock().unwrap() = "info".into();
    let switch = LogFilterSwitch::new(Arc::new(filter.clone()));
    assert_eq!(
        switch.apply("debug", Duration::from_secs(10)).unwrap(),
        "info"
    );
    assert_eq!(filter.now(), "debug");
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert_eq!(filter.now(), "debug");
    // The second switch goes back to the original filter, not to the first temporary one.
    assert_eq!(
        switch.apply("trace", Duration::from_secs(10)).unwrap(),
        "info"
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(filter.now(), "trace", "the first timer no longer applies");
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(filter.now(), "info");
    assert_eq!(filter.sets.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn set_log_filter_command_switches_the_filter() {
    let dir = tempfile::tempdir().unwrap();
    let mut rig = rig(dir.path());
    let c = command(
        "log",
        Kind::SetLogFilter(v1::SetLogFilter {
            filter: "store_agent=debug".into(),
            duration_s: 600,
        }),
    );
    let r = send(&mut rig, &c).await;
    assert!(r.ok, "{}", r.message);
    assert_eq!(rig.filter.now(), "store_agent=debug");
    assert!(r.message.contains("\"info\" again"), "{}", r.message);
}

#[tokio::test]
async fn replay_asks_the_resend_port_and_reports_its_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let mut rig = rig(dir.path());
    let mut requests = std::mem::replace(&mut rig.resend_rx, mpsc::channel(1).1);
    let server = tokio::spawn(async move {
        let req = requests.recv().await.unwrap();
        let range = req.range;
        let _ = req.reply.send(Ok(ResendOutcome {
            queued: 40,
            not_retained: vec![(100, 109)],
        }));
        let req = requests.recv().await.unwrap();
        let _ = req.reply.send(Err("journal read failed".into()));
        range
    });
    let c = command(
        "replay",
        Kind::Replay(v1::Replay {
            from_seq: 100,
            to_seq: 149,
            ..Default::default()
        }),
    );
    let r = send(&mut rig, &c).await;
    assert!(r.ok, "{}", r.message);
    assert_eq!(r.events_queued, 40);
    assert_eq!(
        r.not_retained,
        [SeqRange {
            first: 100,
            last: 109
        }]
    );
    let by_time = command(
        "replay-t",
        Kind::Replay(v1::Replay {
            from_time_ms: NOW - HOUR,
            to_time_ms: NOW,
            ..Default::default()
        }),
    );
    let r = send(&mut rig, &by_time).await;
    assert!(
        !r.ok && r.message.contains("journal read failed"),
        "{}",
        r.message
    );
    assert_eq!(
        server.await.unwrap(),
        ResendRange::Seqs { from: 100, to: 149 }
    );
    // Without anyone serving the port the command fails instead of hanging.
    let (resend, gone) = ResendHandle::channel(1);
    drop(gone);
    rig.executor.parts.resend = resend;
    let r = send(
        &mut rig,
        &command(
            "replay-2",
            Kind::Replay(v1::Replay {
                from_seq: 1,
                to_seq: 2,
                ..Default::default()
            }),
        ),
    )
    .await;
    assert!(!r.ok && r.message.contains("stopped"), "{}", r.message);
}

#[tokio::test]
async fn reload_reports_what_the_run_loop_did_or_why_nothing_changed() {
    let dir = tempfile::tempdir().unwrap();
    let mut rig = rig(dir.path());
    let mut requests = std::mem::replace(&mut rig.reload_rx, mpsc::channel(1).1);
    tokio::spawn(async move {
        let req = requests.recv().await.unwrap();
        let _ = req.reply.send(Ok(reload::ReloadReport {
            applied: crate::supervisor::Applied {
                started: vec!["till-2".into()],
                ..Default::default()
            },
            needs_restart: vec!["mqtt"],
        }));
        let req = requests.recv().await.unwrap();
        let _ = req
            .reply
            .send(Err("agent.toml:7: drivers[0].port: invalid type".into()));
    });
    let r = send(&mut rig, &command("reload-1", Kind::Reload(v1::Reload {}))).await;
    assert!(r.ok, "{}", r.message);
    assert!(
        r.message.contains("till-2") && r.message.contains("restart: mqtt"),
        "{}",
        r.message
    );
    let r = send(&mut rig, &command("reload-2", Kind::Reload(v1::Reload {}))).await;
    assert!(!r.ok);
    assert!(
        r.message.contains("agent.toml:7: drivers[0].port"),
        "{}",
        r.message
    );
    assert!(r.message.contains("running config stays"), "{}", r.message);
}

#[tokio::test]
async fn set_scan_mode_reaches_the_running_scanner() {
    let dir = tempfile::tempdir().unwrap();
    let mut rig = rig(dir.path());
    let scanner = RemoteMode::register("command-test-scanner");
    let c = command(
        "mode",
        Kind::SetScanMode(v1::SetScanMode {
            device_id: "command-test-scanner".into(),
            mode: v1::ScanMode::StockCount as i32,
        }),
    );
    let r = send(&mut rig, &c).await;
    assert!(r.ok, "{}", r.message);
    assert_eq!(scanner.take(), Some(ScanMode::StockCount));
}

#[tokio::test]
async fn a_full_inbox_drops_and_counts_instead_of_waiting() {
    let counters = Arc::new(Counters::default());
    let (inbox, mut rx) = Inbox::channel(counters.clone());
    for _ in 0..INBOX_CAPACITY + 3 {
        inbox.offer(b"x");
    }
    inbox.offer(&vec![0; validate::MAX_COMMAND_BYTES + 1]);
    assert_eq!(counters.get(Outcome::Busy), 3);
    assert_eq!(counters.get(Outcome::Invalid), 1);
    let mut queued = 0;
    while rx.try_recv().is_ok() {
        queued += 1;
    }
    assert_eq!(queued, INBOX_CAPACITY);
}

#[tokio::test]
async fn a_flood_of_refused_commands_is_counted_and_the_next_good_one_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut rig = rig(dir.path());
    let started = std::time::Instant::now();
    for n in 0..200 {
        let mut c = command(&format!("flood-{n}"), status());
        c.store_id = "s2".into();
        let r = send(&mut rig, &c).await;
        assert!(!r.ok);
    }
    let took = started.elapsed();
    eprintln!("200 refused commands answered and recorded in {took:?}");
    assert_eq!(rig.executor.counters().get(Outcome::Refused), 200);
    let r = send(&mut rig, &command("good", status())).await;
    assert!(r.ok, "{}", r.message);
    assert_eq!(rig.status_calls.load(Ordering::SeqCst), 1);
}
