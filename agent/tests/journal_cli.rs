//! `store-agent journal stats|dump` against a journal written by the library.

use std::process::Command;

use store_agent::config::JournalConfig;
use store_agent::journal::Journal;
use store_proto::v1::Scan;
use store_proto::{Body, Event};

fn agent(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_store-agent"))
        .args(args)
        .output()
        .expect("run store-agent")
}

#[test]
fn stats_and_dump_show_what_is_held() {
    let dir = tempfile::tempdir().unwrap();
    {
        // Retention off: the mark deletes (retention is shown by the next test).
        let cfg = JournalConfig {
            retain_max_bytes: Some(0),
            ..JournalConfig::default()
        };
        let (mut j, _r, _) = Journal::open(dir.path(), cfg).unwrap();
        let scans = (0..5)
            .map(|i| Event {
                device_id: "scanner-1".into(),
                body: Some(Body::Scan(Scan {
                    data: format!("code-{i}"),
                    ..Default::default()
                })),
                ..Default::default()
            })
            .collect();
        j.append(scans).unwrap();
        j.trim(2).unwrap();
    }
    let state = dir.path().to_str().unwrap();
    let out = agent(&["journal", "stats", "--state-dir", state, "--json"]);
    assert!(out.status.success(), "{out:?}");
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stats["events"], 3);
    assert_eq!(stats["first_seq"], 3);
    assert_eq!(stats["last_seq"], 5);
    assert_eq!(stats["kinds"]["scan"][0], 3);

    let out = agent(&["journal", "dump", "--state-dir", state, "--from", "4"]);
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["seq"], 4);
    assert_eq!(lines[0]["kind"], "scan");
    assert!(lines[0]["body"].as_str().unwrap().contains("code-3"));
}

#[test]
fn stats_show_retained_events_and_the_floor() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut j, _r, _) = Journal::open(dir.path(), JournalConfig::default()).unwrap();
        let scans = (0..5)
            .map(|i| {
                let mut e = Event {
                    device_id: "scanner-1".into(),
                    body: Some(Body::Scan(Scan {
                        data: format!("code-{i}"),
                        ..Default::default()
                    })),
                    ..Default::default()
                };
                store_drivers::clock::stamp(&mut e);
                e
            })
            .collect();
        j.append(scans).unwrap();
        j.trim(2).unwrap();
    }
    let state = dir.path().to_str().unwrap();
    let out = agent(&["journal", "stats", "--state-dir", state, "--json"]);
    assert!(out.status.success(), "{out:?}");
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stats["events"], 5, "committed events stay, retained");
    assert_eq!(stats["retained_events"], 2);
    assert_eq!(stats["acked_seq"], 2);
    let out = agent(&["journal", "stats", "--state-dir", state]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("retained:    2 committed events"), "{text}");
}

#[test]
fn a_missing_journal_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = agent(&[
        "journal",
        "stats",
        "--state-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no journal here"), "{err}");
    assert!(
        !dir.path().join("journal").exists(),
        "inspecting must not create a journal"
    );
}
