//! The ingest loop against a fake broker and a real database.

use std::collections::BTreeSet;
use std::sync::Mutex;

use prost::Message;
use rumqttc::{Publish, QoS};

use super::fake_mqtt::FakeMqtt;
use super::mqtt::Incoming;
use super::*;
use crate::config::Config;
use crate::ledger::fixtures::scans;
use crate::ledger::Live;

fn publish(topic: &str, payload: Vec<u8>, pkid: u16) -> Notice {
    let mut p = Publish::new(topic, QoS::AtLeastOnce, payload);
    p.pkid = pkid;
    Notice::Publish(Incoming {
        publish: p,
        epoch: 1,
    })
}

struct Harness {
    fake: FakeMqtt,
    shared: Shared,
    notices: mpsc::UnboundedSender<Notice>,
    acks: mpsc::UnboundedReceiver<AckCommand>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), IngestError>>,
    _dir: tempfile::TempDir,
}

fn start(stores: &str) -> Harness {
    start_in(tempfile::tempdir().unwrap(), stores)
}

fn start_in(dir: tempfile::TempDir, stores: &str) -> Harness {
    start_with(dir, &format!("stores = {stores}\n"))
}

/// Starts the loop with `extra` appended to a minimal config.
fn start_with(dir: tempfile::TempDir, extra: &str) -> Harness {
    let config = Config::parse(
        &format!("collector_id = \"hq-1\"\nstate_dir = \"/unused\"\n{extra}"),
        "t.toml",
    )
    .unwrap();
    let (db, state) = Db::open(&dir.path().join("state")).unwrap();
    let db = Arc::new(db);
    let shared: Shared = Arc::new(Mutex::new(Live {
        collector_id: "hq-1".into(),
        state,
        ..Default::default()
    }));
    let fake = FakeMqtt::default();
    let (ack_tx, ack_rx) = mpsc::unbounded_channel();
    let (outputs, _) = mpsc::unbounded_channel();
    let rules = Arc::new(Runtime::open(&config, db.clone(), outputs).unwrap());
    let ingest = Ingest::new(&config, fake.clone(), &db, shared.clone(), ack_tx, rules).unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(ingest.run(rx, stop_rx));
    Harness {
        fake,
        shared,
        notices: tx,
        acks: ack_rx,
        stop: stop_tx,
        task,
        _dir: dir,
    }
}

/// Records, at every PUBACK, how many events the state holds as applied at that moment.
fn record_applied_at_acks(h: &Harness) -> Arc<Mutex<Vec<u64>>> {
    let applied_at_ack = Arc::new(Mutex::new(Vec::new()));
    let (seen, state) = (applied_at_ack.clone(), h.shared.clone());
    h.fake.on_ack(move || {
        let applied = state.lock().unwrap().state.applied_total();
        seen.lock().unwrap().push(applied);
    });
    applied_at_ack
}

async fn settle(h: &Harness, acks: usize) {
    for _ in 0..500 {
        if h.fake.acked().len() >= acks {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("expected {acks} acks, got {:?}", h.fake.acked());
}

#[tokio::test]
async fn commits_then_acks_dedups_and_rejects_garbage() {
    let mut h = start("[]");
    // Every PUBACK must come after its batch is committed (and so visible in the state).
    let applied_at_ack = record_applied_at_acks(&h);
    h.notices
        .send(Notice::Connected {
            session_present: false,
        })
        .unwrap();
    let good = scans(1..=10).encode_to_vec();
    h.notices
        .send(publish("stores/s1/agents/a1/events", good.clone(), 1))
        .unwrap();
    h.notices
        .send(publish("stores/s1/agents/a1/events", good, 2))
        .unwrap();
    h.notices
        .send(publish(
            "stores/s1/agents/a2/events",
            vec![0xff, 0xff, 0xff],
            3,
        ))
        .unwrap();
    settle(&h, 3).await;
    assert_eq!(
        h.fake.subscribed(),
        vec![vec![
            "stores/+/agents/+/events".to_owned(),
            "stores/+/agents/+/status".to_owned(),
            "stores/+/agents/+/cmd/result".to_owned()
        ]]
    );
    assert_eq!(h.fake.acked(), vec![1, 2, 3]);
    assert_eq!(*applied_at_ack.lock().unwrap(), vec![10, 10, 10]);
    {
        let live = h.shared.lock().unwrap();
        assert_eq!(live.state.applied_total(), 10);
        assert_eq!(live.counters.duplicates_total, 10);
        assert_eq!(live.counters.batches_total, 2);
        assert_eq!(live.counters.rejected_batches, 1);
        assert_eq!(
            live.state.agents[&AgentKey::new("s1", "a1")].committed_seq(),
            10
        );
    }
    // The online status went out, then the marks followed the commit.
    let (topic, retain, _) = h.fake.published()[0].clone();
    assert_eq!((topic.as_str(), retain), ("hq/collector/hq-1/status", true));
    assert!(matches!(h.acks.recv().await, Some(AckCommand::RepublishAll(m)) if m.is_empty()));
    let mut saw_mark = false;
    while let Ok(cmd) = h.acks.try_recv() {
        if let AckCommand::Marks(m) = cmd {
            assert_eq!(m, vec![(AgentKey::new("s1", "a1"), 10.into())]);
            saw_mark = true;
        }
    }
    assert!(saw_mark);
    h.stop.send(true).unwrap();
    h.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn foreign_stores_are_acked_but_not_applied() {
    let h = start("[\"s1\"]");
    let b = scans(1..=3).encode_to_vec();
    h.notices
        .send(publish("stores/s2/agents/a1/events", b.clone(), 7))
        .unwrap();
    h.notices
        .send(publish("stores/s1/agents/a1/events", b, 8))
        .unwrap();
    settle(&h, 2).await;
    {
        let live = h.shared.lock().unwrap();
        assert_eq!(live.state.applied_total(), 3);
        assert!(!live.state.stores.contains_key("s2"));
    }
    h.stop.send(true).unwrap();
    h.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn filters_of_an_earlier_configuration_are_unsubscribed() {
    let h = start("[]");
    h.stop.send(true).unwrap();
    h.task.await.unwrap().unwrap();
    let h = start_in(h._dir, "[\"s1\", \"s2\"]");
    h.notices
        .send(Notice::Connected {
            session_present: true,
        })
        .unwrap();
    for _ in 0..200 {
        if !h.fake.subscribed().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        h.fake.unsubscribed(),
        vec![
            "stores/+/agents/+/events".to_owned(),
            "stores/+/agents/+/status".to_owned(),
            "stores/+/agents/+/cmd/result".to_owned()
        ]
    );
    assert_eq!(
        h.fake.subscribed(),
        vec![vec![
            "stores/s1/agents/+/events".to_owned(),
            "stores/s1/agents/+/status".to_owned(),
            "stores/s1/agents/+/cmd/result".to_owned(),
            "stores/s2/agents/+/events".to_owned(),
            "stores/s2/agents/+/status".to_owned(),
            "stores/s2/agents/+/cmd/result".to_owned()
        ]]
    );
    h.stop.send(true).unwrap();
    h.task.await.unwrap().unwrap();
}

#[test]
fn a_shared_group_shares_the_events_filters_only() {
    let config = Config::parse(
        "collector_id = \"hq-1\"\nstate_dir = \"/x\"\nstores = [\"s1\"]\n[mqtt]\nshared_group = \"collectors\"\n",
        "t.toml",
    )
    .unwrap();
    assert_eq!(
        event_filters(&config),
        vec![
            "$share/collectors/stores/s1/agents/+/events".to_owned(),
            "stores/s1/agents/+/status".to_owned(),
            "stores/s1/agents/+/cmd/result".to_owned()
        ]
    );
}

#[tokio::test]
async fn acks_of_an_old_connection_are_not_sent() {
    let h = start("[]");
    h.fake.set_epoch(2);
    h.notices
        .send(publish(
            "stores/s1/agents/a1/events",
            scans(1..=3).encode_to_vec(),
            4,
        ))
        .unwrap();
    for _ in 0..200 {
        if h.shared.lock().unwrap().state.applied_total() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(h.shared.lock().unwrap().state.applied_total(), 3);
    assert!(h.fake.acked().is_empty());
    h.stop.send(true).unwrap();
    h.task.await.unwrap().unwrap();
}

/// Waits until `cond` holds on the shared state.
async fn wait_state(h: &Harness, what: &str, cond: impl Fn(&Live) -> bool) {
    for _ in 0..2000 {
        if cond(&h.shared.lock().unwrap()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn sparse_seqs_hit_the_range_cap_and_do_not_stall_other_stores() {
    let h = start("[]");
    // 500k sparse seqs (2, 4, ..., 1_000_000) in one batch: well inside the seq window.
    let sparse = crate::ledger::fixtures::batch(
        (1..=500_000u64)
            .map(|i| crate::ledger::fixtures::scan(i * 2))
            .collect(),
    );
    let started = std::time::Instant::now();
    h.notices
        .send(publish(
            "stores/s1/agents/a1/events",
            sparse.encode_to_vec(),
            1,
        ))
        .unwrap();
    settle(&h, 1).await;
    h.notices
        .send(publish(
            "stores/s2/agents/a1/events",
            scans(1..=10).encode_to_vec(),
            2,
        ))
        .unwrap();
    settle(&h, 2).await;
    // Generous: the quadratic gap tracking took minutes here; the point is the counts below.
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    {
        let live = h.shared.lock().unwrap();
        let cap = crate::ledger::dedup::DEFAULT_MAX_RANGES_PER_AGENT;
        let a1 = &live.state.agents[&AgentKey::new("s1", "a1")];
        assert_eq!(a1.ranges_above_mark(), cap);
        assert_eq!(a1.applied_count(), cap as u64);
        assert_eq!(live.counters.events_over_range_cap, 500_000 - cap as u64);
        assert_eq!(
            live.state.agents[&AgentKey::new("s2", "a1")].committed_seq(),
            10
        );
    }
    // The genuine agent resending from its mark gets through, refused seqs included.
    h.notices
        .send(publish(
            "stores/s1/agents/a1/events",
            scans(1..=5000).encode_to_vec(),
            3,
        ))
        .unwrap();
    settle(&h, 3).await;
    {
        let live = h.shared.lock().unwrap();
        let a1 = &live.state.agents[&AgentKey::new("s1", "a1")];
        assert_eq!(a1.committed_seq(), 5000);
        // Nothing above 5000 was applied: the refused sparse seqs left no trace.
        assert_eq!(a1.applied_count(), 5000);
        assert_eq!(a1.ranges_above_mark(), 0);
    }
    h.stop.send(true).unwrap();
    h.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn refused_publishes_are_acked_counted_and_dropped() {
    let h = start_with(
        tempfile::tempdir().unwrap(),
        "[ingest]\nmax_stores = 2\nmax_seq_ahead = 1000\n",
    );
    let good = scans(1..=3).encode_to_vec();
    // Larger than any batch, and not a batch: acknowledged like any undecodable payload.
    let huge = vec![0xff; 17 * 1024 * 1024];
    let mut pkid = 0;
    for (topic, payload) in [
        ("stores/s1/agents/a1/events", huge),
        ("stores/s+1/agents/a1/events", good.clone()),
        ("stores/s1/agents/a%20b/events", good.clone()),
        ("stores/s1/agents/a1/other", good.clone()),
        ("stores/s1/agents/a1/events", good.clone()),
        ("stores/s2/agents/a1/events", good.clone()),
        // A third store is one too many.
        ("stores/s3/agents/a1/events", good.clone()),
        ("stores/s3/agents/a1/status", Vec::new()),
        // Seqs beyond the window above mark 3, and a DataLoss claiming 2^64-1.
        (
            "stores/s2/agents/a1/events",
            crate::ledger::fixtures::batch(vec![
                crate::ledger::fixtures::scan(2000),
                crate::ledger::fixtures::loss(u64::MAX, &[(1, u64::MAX - 1)]),
                crate::ledger::fixtures::scan(4),
            ])
            .encode_to_vec(),
        ),
    ] {
        pkid += 1;
        h.notices.send(publish(topic, payload, pkid)).unwrap();
    }
    settle(&h, pkid as usize).await;
    assert_eq!(h.fake.acked(), (1..=pkid).collect::<Vec<_>>());
    wait_state(&h, "counters", |l| l.counters.events_out_of_window == 2).await;
    {
        let live = h.shared.lock().unwrap();
        let c = &live.counters;
        assert_eq!(c.rejected_batches, 1);
        assert_eq!(c.refused_invalid_id, 2);
        assert_eq!(c.refused_topic, 1);
        assert_eq!(c.refused_store_cap, 2);
        assert_eq!(c.events_out_of_window, 2);
        assert!(!live.state.stores.contains_key("s3"));
        assert_eq!(live.state.applied_total(), 3 + 3 + 1);
        let s2 = &live.state.agents[&AgentKey::new("s2", "a1")];
        assert_eq!(s2.committed_seq(), 4);
        assert!(s2.lost().is_empty());
    }
    h.stop.send(true).unwrap();
    h.task.await.unwrap().unwrap();
}

/// The history holds exactly the applied events after a restart: every applied event once,
/// redelivered and partly redelivered batches not again, settled (lost) seqs not at all.
#[tokio::test]
async fn history_rows_equal_applied_events_after_reopening() {
    use crate::history::query::{page, Query};
    use crate::ledger::fixtures::{batch, loss, scan};

    let h = start("[]");
    let timed = |range: std::ops::RangeInclusive<u64>, agent: &str| {
        let mut b = batch(
            range
                .map(|seq| {
                    let mut e = scan(seq);
                    e.wall_time_ms = 1_764_600_000_000 + seq as i64 * 1000;
                    e
                })
                .collect(),
        );
        b.agent_id = agent.into();
        b
    };
    let publishes = [
        ("stores/s1/agents/a1/events", timed(1..=10, "a1")),
        ("stores/s1/agents/a1/events", timed(1..=10, "a1")),
        ("stores/s1/agents/a1/events", timed(5..=15, "a1")),
        ("stores/s1/agents/a2/events", timed(1..=3, "a2")),
        (
            "stores/s1/agents/a2/events",
            batch(vec![loss(9, &[(4, 8)])]),
        ),
    ];
    for (pkid, (topic, b)) in publishes.iter().enumerate() {
        h.notices
            .send(publish(topic, b.encode_to_vec(), pkid as u16 + 1))
            .unwrap();
    }
    settle(&h, publishes.len()).await;
    let applied: Vec<(String, u64)> = {
        let live = h.shared.lock().unwrap();
        assert_eq!(live.state.applied_total(), 15 + 3 + 1);
        let mut out = Vec::new();
        for (key, agent) in &live.state.agents {
            for (a, b) in agent.applied().ranges() {
                out.extend((a..=b).map(|seq| (key.agent_id.clone(), seq)));
            }
        }
        out
    };
    h.stop.send(true).unwrap();
    h.task.await.unwrap().unwrap();

    let (db, _) = Db::open(&h._dir.path().join("state")).unwrap();
    let rows = page(
        db.tree(),
        &Query {
            store: "s1".into(),
            limit: 1000,
            ..Query::default()
        },
        100_000,
    )
    .unwrap();
    assert!(rows.next_cursor.is_none());
    let mut recorded: Vec<(String, u64)> = rows
        .rows
        .iter()
        .map(|r| (r.agent.clone(), r.event.seq))
        .collect();
    recorded.sort();
    let mut applied = applied;
    applied.sort();
    assert_eq!(recorded, applied);
    // The DataLoss event itself is history; the seqs it settled are not.
    assert!(rows.rows.iter().any(|r| r.kind() == "data_loss"));
    assert!(rows.rows.iter().all(|r| r.arrival_ms > 0));
    let stats = crate::history::Stats::count(db.tree(), true).unwrap();
    assert_eq!(stats.rows.load(std::sync::atomic::Ordering::Relaxed), 19);
}

#[tokio::test]
async fn history_off_records_nothing() {
    let h = start_with(tempfile::tempdir().unwrap(), "[history]\nenabled = false\n");
    h.notices
        .send(publish(
            "stores/s1/agents/a1/events",
            scans(1..=10).encode_to_vec(),
            1,
        ))
        .unwrap();
    settle(&h, 1).await;
    h.stop.send(true).unwrap();
    h.task.await.unwrap().unwrap();
    let (db, state) = Db::open(&h._dir.path().join("state")).unwrap();
    assert_eq!(state.applied_total(), 10);
    assert_eq!(
        db.tree()
            .scan_prefix(crate::history::keys::TIME_PREFIX)
            .count(),
        0
    );
}

#[tokio::test]
async fn a_group_closes_at_max_group_bytes() {
    let h = start("[]");
    let applied_at_ack = record_applied_at_acks(&h);
    h.notices
        .send(Notice::Connected {
            session_present: false,
        })
        .unwrap();
    // Batches worth more than twice the bound, all queued before the loop takes any.
    let per_batch = 20_000u64;
    let (mut seq, mut bytes, mut pkid) = (0u64, 0usize, 0u16);
    while bytes <= 2 * MAX_GROUP_BYTES {
        let payload = scans(seq + 1..=seq + per_batch).encode_to_vec();
        bytes += payload.len();
        seq += per_batch;
        pkid += 1;
        h.notices
            .send(publish("stores/s1/agents/a1/events", payload, pkid))
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while h.fake.acked().len() < usize::from(pkid) {
        assert!(Instant::now() < deadline, "acks: {:?}", h.fake.acked());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // One group would have acknowledged every batch with all events applied; the bound makes
    // at least two commits, the first before everything is applied.
    let seen = applied_at_ack.lock().unwrap().clone();
    let commits: BTreeSet<u64> = seen.iter().copied().collect();
    assert!(commits.len() >= 2, "applied at each ack: {seen:?}");
    assert!(seen[0] < seq, "applied at each ack: {seen:?}");
    assert_eq!(*seen.last().unwrap(), seq);
}
