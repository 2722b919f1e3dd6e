//! The outbox as the rules runtime fills it: entries are committed with the alert change that
//! made them, by each of the runtime's writers, and survive a reopen.

use std::sync::Arc;

use store_proto::v1::{DeviceState, DeviceStatus};
use store_proto::{Body, Event};
use tokio::sync::mpsc;

use crate::config::Config;
use crate::ledger::{Changes, Db};
use crate::rules::engine::BatchInfo;
use crate::rules::Runtime;

fn config() -> Config {
    Config::parse(
        "collector_id = \"hq-1\"\nstate_dir = \"/unused\"\n\
         [[deliver.webhook]]\nname = \"erp\"\nurl = \"http://127.0.0.1:1/\"\nsecret_file = \"k\"\n",
        "t.toml",
    )
    .unwrap()
}

fn tamper(t: i64) -> Event {
    Event {
        seq: 1,
        device_id: "agent".into(),
        wall_time_ms: t,
        clock_synced: true,
        body: Some(Body::DeviceStatus(DeviceStatus {
            state: DeviceState::Tampered as i32,
            reason: "forged mark".into(),
            ..Default::default()
        })),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_group_and_an_acknowledgement_commit_their_deliveries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state");
    let (db, _) = Db::open(&path).unwrap();
    let (outputs, _rx) = mpsc::unbounded_channel();
    let rules = Arc::new(Runtime::open(&config(), Arc::new(db), outputs).unwrap());
    let now = crate::clock::now_ms();
    rules
        .apply_group(|g| {
            let info = BatchInfo {
                store: "s1",
                agent: "a1",
                historical: false,
                sent_ms: now,
            };
            g.apply(info, &tamper(now));
            Changes::default()
        })
        .await
        .unwrap();
    let outbox = rules.deliveries().clone();
    let erp = outbox.destinations()[0].clone();
    let head = outbox
        .head(&erp)
        .unwrap()
        .expect("committed with the raise");
    assert_eq!(head.stored.key, "s1-1:TAMPERED:OPEN");
    let body: serde_json::Value = serde_json::from_str(&head.stored.body).unwrap();
    assert_eq!(body["alert"]["subject"], "a1");

    rules
        .acknowledge(
            "s1-1",
            "maria",
            &crate::history::Actor::new("operator", "operator"),
        )
        .await
        .unwrap();
    assert_eq!(erp.depth(), 2);
    outbox.delivered(&erp, head.seq).unwrap();
    drop((rules, outbox, erp));

    // What is on disk: the acknowledgement, waiting; the delivered raise, gone.
    let (db, _) = Db::open(&path).unwrap();
    let (outputs, _rx) = mpsc::unbounded_channel();
    let rules = Runtime::open(&config(), Arc::new(db), outputs).unwrap();
    let outbox = rules.deliveries();
    let erp = &outbox.destinations()[0];
    assert_eq!(erp.depth(), 1);
    let entry = outbox.head(erp).unwrap().unwrap();
    assert_eq!(entry.stored.key, "s1-1:TAMPERED:ACKNOWLEDGED");
}
