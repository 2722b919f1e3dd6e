//! The ingest loop against a fake broker and a real database.

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
    let config = Config::parse(
        &format!("collector_id = \"hq-1\"\nstate_dir = \"/unused\"\nstores = {stores}\n"),
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
    let applied_at_ack = Arc::new(Mutex::new(Vec::new()));
    let (seen, state) = (applied_at_ack.clone(), h.shared.clone());
    h.fake.on_ack(move || {
        let applied = state.lock().unwrap().state.applied_total();
        seen.lock().unwrap().push(applied);
    });
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
            "stores/+/agents/+/status".to_owned()
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
            "stores/+/agents/+/status".to_owned()
        ]
    );
    assert_eq!(
        h.fake.subscribed(),
        vec![vec![
            "stores/s1/agents/+/events".to_owned(),
            "stores/s1/agents/+/status".to_owned(),
            "stores/s2/agents/+/events".to_owned(),
            "stores/s2/agents/+/status".to_owned()
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
            "stores/s1/agents/+/status".to_owned()
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
