//! Unit tests of the history: queries with paging and filters, retention, the audit log.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use serde_json::json;
use store_proto::v1::{LineItem, PosTransaction, Scan};
use store_proto::{Body, Event};

use super::query::{page, Query, QueryError};
use super::retention::{self, Policy};
use super::{audit, keys, pack, Recorder, Stats};

fn tree() -> sled::Db {
    sled::Config::new().temporary(true).open().unwrap()
}

fn event(seq: u64, wall_time_ms: i64, device: &str, gtin: &str) -> Event {
    Event {
        seq,
        device_id: device.into(),
        wall_time_ms,
        body: Some(Body::Scan(Scan {
            gtin: gtin.into(),
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// Writes rows as one commit group does; returns the recorder's (rows, bytes).
fn write(tree: &sled::Tree, rows: &[(&str, &str, Event)]) -> (u64, u64) {
    let mut recorder = Recorder::default();
    for (store, agent, e) in rows {
        recorder.record(store, agent, 1, e);
    }
    let recorded = recorder.finish();
    let mut batch = sled::Batch::default();
    for (k, v) in &recorded.kv {
        batch.insert(k.as_slice(), v.as_slice());
    }
    tree.apply_batch(batch).unwrap();
    (recorded.rows, recorded.bytes)
}

/// Every row stored, as (store, agent, seq, time), in key order.
fn stored(tree: &sled::Tree) -> Vec<(String, String, u64, i64)> {
    let mut out = Vec::new();
    for item in tree.scan_prefix(keys::TIME_PREFIX) {
        let (k, v) = item.unwrap();
        for row in pack::parse(&k, &v).unwrap().decode_all().unwrap() {
            out.push((row.store, row.agent, row.event.seq, row.time_ms));
        }
    }
    out
}

/// Three agents, 300 events over 300 seconds, plus another store's rows in between; written as
/// ten commit groups of 30 seconds, so each group packs 10 rows per agent.
fn fixture(tree: &sled::Tree) {
    let mut rows = Vec::new();
    for i in 0..300u64 {
        let agent = ["a1", "a2", "a10"][(i % 3) as usize];
        let device = if i % 2 == 0 { "scanner-1" } else { "till-1" };
        let gtin = if i % 5 == 0 {
            "00000000000017"
        } else {
            "00000000000024"
        };
        rows.push((
            "s1",
            agent,
            event(i / 3 + 1, 1_000 * i as i64, device, gtin),
        ));
        rows.push(("s10", "a1", event(i + 1, 1_000 * i as i64, device, gtin)));
    }
    for group in rows.chunks(60) {
        write(tree, group);
    }
}

/// Every page of `q`, following cursors; panics on a loop.
fn all_pages(tree: &sled::Tree, mut q: Query, max_scan: usize) -> (Vec<(String, u64, i64)>, usize) {
    let mut out = Vec::new();
    let mut pages = 0;
    loop {
        let p = page(tree, &q, max_scan).unwrap();
        pages += 1;
        assert!(pages < 10_000, "paging does not end");
        out.extend(
            p.rows
                .iter()
                .map(|r| (r.agent.clone(), r.event.seq, r.time_ms)),
        );
        match p.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => return (out, pages),
        }
    }
}

#[test]
fn time_range_pages_return_every_row_once_oldest_pack_first() {
    let db = tree();
    fixture(&db);
    let q = Query {
        store: "s1".into(),
        from_ms: Some(10_000),
        to_ms: Some(250_000),
        limit: 7,
        ..Query::default()
    };
    let (rows, pages) = all_pages(&db, q.clone(), 20_000);
    // Rows 10..250 of s1: exactly those, none twice; s10 never leaks in. The packs that start
    // before 10 s hold rows after it, and those are found.
    assert_eq!(rows.len(), 240);
    assert_eq!(pages, 240 / 7 + 1);
    let mut times: Vec<i64> = rows.iter().map(|r| r.2).collect();
    times.sort_unstable();
    let expected: Vec<i64> = (10..250).map(|i| 1_000 * i).collect();
    assert_eq!(times, expected);
    let unique: BTreeSet<_> = rows.iter().map(|r| (r.0.clone(), r.1)).collect();
    assert_eq!(unique.len(), 240);
    // Oldest first to within a pack's span; one agent's rows strictly in time order.
    let mut newest = i64::MIN;
    for r in &rows {
        assert!(
            r.2 > newest.saturating_sub(pack::SPAN_MS),
            "{r:?} after {newest}"
        );
        newest = newest.max(r.2);
    }
    for agent in ["a1", "a2", "a10"] {
        let own: Vec<i64> = rows.iter().filter(|r| r.0 == agent).map(|r| r.2).collect();
        assert!(own.windows(2).all(|w| w[0] < w[1]), "{agent}: {own:?}");
    }

    // A tiny scan bound gives short (even empty) pages, never a different set of rows.
    let filtered = Query {
        gtin: Some("00000000000017".into()),
        ..q
    };
    let (few, pages) = all_pages(&db, filtered.clone(), 3);
    let (many, _) = all_pages(&db, filtered, 20_000);
    assert_eq!(few, many);
    assert_eq!(many.len(), 48);
    assert!(pages >= 240 / 3, "{pages} pages");
}

#[test]
fn filters_select_by_agent_kind_device_and_gtin() {
    let db = tree();
    fixture(&db);
    let base = Query {
        store: "s1".into(),
        limit: 1000,
        ..Query::default()
    };
    let count = |q: Query| all_pages(&db, q, 20_000).0.len();
    assert_eq!(count(base.clone()), 300);
    assert_eq!(
        count(Query {
            agent: Some("a10".into()),
            ..base.clone()
        }),
        100
    );
    assert_eq!(
        count(Query {
            device: Some("till-1".into()),
            ..base.clone()
        }),
        150
    );
    assert_eq!(
        count(Query {
            kind: Some("pos_transaction".into()),
            ..base.clone()
        }),
        0
    );
    assert_eq!(
        count(Query {
            kind: Some("scan".into()),
            gtin: Some("00000000000017".into()),
            device: Some("scanner-1".into()),
            ..base.clone()
        }),
        30
    );
    // An unknown store has no rows; a store that is a prefix of another sees only its own.
    assert_eq!(
        count(Query {
            store: "s".into(),
            ..base.clone()
        }),
        0
    );
    // POS lines are found by GTIN too, and by register as an alert subject.
    write(
        &db,
        &[(
            "s1",
            "a1",
            Event {
                seq: 1000,
                wall_time_ms: 5,
                body: Some(Body::PosTransaction(PosTransaction {
                    register_id: "reg-3".into(),
                    items: vec![LineItem {
                        gtin: "00000000000031".into(),
                        ..Default::default()
                    }],
                    ..Default::default()
                })),
                ..Default::default()
            },
        )],
    );
    assert_eq!(
        count(Query {
            gtin: Some("00000000000031".into()),
            ..base.clone()
        }),
        1
    );
    assert_eq!(
        count(Query {
            subject: Some("reg-3".into()),
            ..base
        }),
        1
    );
}

#[test]
fn foreign_cursors_are_refused() {
    let db = tree();
    fixture(&db);
    let q = Query {
        store: "s1".into(),
        limit: 5,
        ..Query::default()
    };
    let first = page(&db, &q, 100).unwrap();
    let cursor = first.next_cursor.unwrap();
    // The same cursor for another store, or outside the time range, or junk: refused.
    for (store, from_ms, cursor) in [
        ("s10", None, cursor.clone()),
        ("s1", Some(200_000), cursor.clone()),
        ("s1", None, b"hist/t/s1\0".to_vec()),
        ("s1", None, Vec::new()),
    ] {
        let q = Query {
            store: store.into(),
            from_ms,
            cursor: Some(cursor),
            ..q.clone()
        };
        assert!(matches!(page(&db, &q, 100), Err(QueryError::BadCursor)));
    }
}

#[test]
fn single_rows_are_found_by_agent_and_seq() {
    let db = tree();
    fixture(&db);
    let row = super::query::event(&db, "s1", "a10", 7).unwrap().unwrap();
    assert_eq!((row.agent.as_str(), row.event.seq), ("a10", 7));
    assert_eq!(row.time_ms, 1_000 * (6 * 3 + 2));
    assert!(super::query::event(&db, "s1", "a10", 101)
        .unwrap()
        .is_none());
}

#[test]
fn a_commit_group_writes_one_key_per_agent() {
    let db = tree();
    // Two stores' agents interleaved, batch by batch, as a group applies them.
    let mut rows = Vec::new();
    for batch in 0..4u64 {
        for (store, agent) in [("s1", "a1"), ("s1", "a2"), ("s2", "a1")] {
            for i in 0..15 {
                let seq = batch * 15 + i + 1;
                rows.push((store, agent, event(seq, 1_000 + seq as i64, "d", "g")));
            }
        }
    }
    let (n, bytes) = write(&db, &rows);
    assert_eq!(n, 180);
    assert_eq!(db.scan_prefix(keys::TIME_PREFIX).count(), 3);
    // The counts match a fresh count, and every row reads back once.
    let stats = Stats::count(&db, true).unwrap();
    assert_eq!(stats.rows.load(Ordering::Relaxed), 180);
    assert_eq!(stats.bytes.load(Ordering::Relaxed), bytes as i64);
    let all = stored(&db);
    assert_eq!(all.len(), 180);
    let unique: BTreeSet<_> = all.iter().map(|r| (&r.0, &r.1, r.2)).collect();
    assert_eq!(unique.len(), 180);
    // A later row of a pack is found by its seq; its pack keeps its own arrival time.
    let row = super::query::event(&db, "s1", "a2", 47).unwrap().unwrap();
    assert_eq!((row.event.seq, row.time_ms, row.arrival_ms), (47, 1_047, 1));
    // Rows a minute apart go to separate packs, so a pack stays within its span.
    write(
        &db,
        &[
            ("s3", "a1", event(1, 0, "d", "g")),
            ("s3", "a1", event(2, pack::SPAN_MS, "d", "g")),
        ],
    );
    assert_eq!(db.scan_prefix(keys::store_prefix("s3")).count(), 2);
    // A pack closes at MAX_ROWS rows: an agent's long batch takes one key per MAX_ROWS rows.
    let long: Vec<_> = (1..=3 * u64::from(pack::MAX_ROWS))
        .map(|seq| ("s4", "a1", event(seq, 5_000 + seq as i64, "d", "g")))
        .collect();
    write(&db, &long);
    assert_eq!(db.scan_prefix(keys::store_prefix("s4")).count(), 3);
    let mut values = db.scan_prefix(keys::TIME_PREFIX).values();
    assert!(values.all(|v| v.unwrap().len() < pack::MAX_BYTES + 1_024));
}

#[test]
fn retention_prunes_by_age_oldest_first_in_batches() {
    let db = tree();
    let rows: Vec<_> = (0..1200u64)
        .map(|i| ("s1", "a1", event(i + 1, i as i64 * 1000, "d", "g")))
        .collect();
    let (n, bytes) = write(&db, &rows);
    // Rows a second apart: one pack per minute, 60 rows each.
    assert_eq!(db.scan_prefix(keys::TIME_PREFIX).count(), 20);
    let stats = Stats::count(&db, true).unwrap();
    assert_eq!(stats.rows.load(Ordering::Relaxed), n as i64);
    assert_eq!(stats.bytes.load(Ordering::Relaxed), bytes as i64);
    let policy = Policy {
        max_age_ms: Some(400_000),
        max_bytes: None,
        audit_max_age_ms: None,
    };
    // Now is 1 400 000: rows older than 1 000 000 go, whole packs, at most 500 rows per step.
    // The pack of 960 000..1 019 000 holds younger rows and stays: rows are kept up to a
    // pack's span past the bound, never pruned early.
    let now = 1_400_000;
    assert_eq!(retention::step(&db, &stats, &policy, now).unwrap(), 480);
    assert_eq!(retention::step(&db, &stats, &policy, now).unwrap(), 480);
    assert_eq!(retention::step(&db, &stats, &policy, now).unwrap(), 0);
    assert_eq!(stats.pruned.load(Ordering::Relaxed), 960);
    assert_eq!(stats.rows.load(Ordering::Relaxed), 240);
    assert_eq!(stats.oldest_ms.load(Ordering::Relaxed), 960_000);
    assert!(super::query::event(&db, "s1", "a1", 960).unwrap().is_none());
    assert!(super::query::event(&db, "s1", "a1", 961).unwrap().is_some());
    // The counts match a fresh count.
    let fresh = Stats::count(&db, true).unwrap();
    assert_eq!(fresh.rows.load(Ordering::Relaxed), 240);
    assert_eq!(
        fresh.bytes.load(Ordering::Relaxed),
        stats.bytes.load(Ordering::Relaxed)
    );
    // Nothing else under `hist/`.
    assert_eq!(db.scan_prefix(b"hist/").count(), 4);
}

#[test]
fn retention_prunes_by_bytes_oldest_first_across_stores() {
    let db = tree();
    // s1 holds the old half, s2 the new half, interleaved a little.
    let mut rows = Vec::new();
    for i in 0..400u64 {
        let store = if i < 220 { "s1" } else { "s2" };
        rows.push((store, "a1", event(i + 1, i as i64, "d", "g")));
    }
    // Commit groups of 10 rows: packs of 10.
    for group in rows.chunks(10) {
        write(&db, group);
    }
    let stats = Stats::count(&db, true).unwrap();
    let per_row = stats.bytes.load(Ordering::Relaxed) / 400;
    let policy = Policy {
        max_age_ms: None,
        max_bytes: Some((per_row * 100) as u64),
        audit_max_age_ms: None,
    };
    while retention::step(&db, &stats, &policy, 0).unwrap() > 0 {}
    assert!(stats.bytes.load(Ordering::Relaxed) <= per_row * 100);
    // What is left is the newest rows, all of s2.
    let left: Vec<i64> = stored(&db).into_iter().map(|r| r.3).collect();
    assert!(!left.is_empty());
    let oldest_left = *left.iter().min().unwrap();
    assert_eq!(
        left.len() as i64,
        400 - oldest_left,
        "only the oldest rows went"
    );
    assert!(oldest_left >= 300);
}

#[test]
fn audit_records_are_kept_in_time_order_and_filtered() {
    let db = tree();
    let operator = audit::Actor::new("operator", "operator");
    let mut batch = sled::Batch::default();
    for (i, (actor, action)) in [
        (&operator, "alert.acknowledge"),
        (&audit::Actor::system(), "catalogue.reload"),
        (&operator, "catalogue.reload"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut entry = audit::AuditEntry::new(actor, action, "t", json!({"i": i}));
        entry.at_ms = 1000 + i as i64;
        let (k, v) = entry.to_kv(db.generate_id().unwrap());
        batch.insert(k, v);
    }
    db.apply_batch(batch).unwrap();
    let q = audit::AuditQuery {
        actor: Some("operator".into()),
        limit: 1,
        ..Default::default()
    };
    let first = audit::page(&db, &q, 100).unwrap();
    assert_eq!(first.entries.len(), 1);
    assert_eq!(first.entries[0].action, "alert.acknowledge");
    assert_eq!(first.entries[0].role, "operator");
    let second = audit::page(
        &db,
        &audit::AuditQuery {
            cursor: first.next_cursor,
            ..q.clone()
        },
        100,
    )
    .unwrap();
    assert_eq!(second.entries[0].action, "catalogue.reload");
    assert_eq!(second.entries[0].detail, json!({"i": 2}));
    let all = audit::page(
        &db,
        &audit::AuditQuery {
            from_ms: Some(1001),
            limit: 10,
            ..Default::default()
        },
        100,
    )
    .unwrap();
    assert_eq!(all.entries.len(), 2);
    assert!(all.next_cursor.is_none());
    // Over-long fields from a client are cut, an over-long detail replaced.
    let long = audit::AuditEntry::new(
        &operator,
        &"x".repeat(10_000),
        "t",
        json!("y".repeat(10_000)),
    );
    assert_eq!(long.action.len(), 200);
    assert!(long.detail.as_str().unwrap().contains("not kept"));
    // Audit retention drops records older than its bound, and only those.
    let stats = Stats::default();
    assert_eq!(retention::prune_audit(&db, &stats, 1002, 500).unwrap(), 2);
    assert_eq!(db.scan_prefix(keys::AUDIT_PREFIX).count(), 1);
}
