//! The driver on a real temporary folder, with a journal stand-in the test answers by hand.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use store_proto::v1::PosTransaction;
use store_proto::Body;
use tokio::sync::mpsc;

use super::*;
use crate::{Record, RecordError};

const SALE: &[u8] = include_bytes!("../../../tests/fixtures/pos/poslog/sale.xml");
const MULTI: &[u8] = include_bytes!("../../../tests/fixtures/pos/poslog/multi.xml");
/// The receipt ids of MULTI's retail transactions, in order.
const MULTI_IDS: [&str; 5] = ["501", "503", "504", "505", "506"];

/// How long a test waits for something that should happen at once.
const WAIT: Duration = Duration::from_secs(10);

fn config(dir: &Path, settle_ms: u64) -> PosLogFolderConfig {
    PosLogFolderConfig {
        id: "poslog-1".into(),
        path: dir.to_path_buf(),
        poll_interval_ms: 20,
        settle_ms,
        max_file_bytes: 1024 * 1024,
    }
}

fn start(config: PosLogFolderConfig) -> (mpsc::Receiver<Record>, tokio::task::JoinHandle<()>) {
    let (sink, journal) = mpsc::channel(64);
    let driver = tokio::spawn(async move {
        let e = run(config, sink).await;
        panic!("driver stopped: {e:?}");
    });
    (journal, driver)
}

async fn next_record(journal: &mut mpsc::Receiver<Record>) -> (PosTransaction, Record) {
    let record = tokio::time::timeout(WAIT, journal.recv())
        .await
        .expect("no event in time")
        .expect("driver gone");
    assert_eq!(record.event.device_id, "poslog-1");
    assert!(record.event.wall_time_ms > 0);
    assert!(record.reply.is_some(), "a file event must ask for a reply");
    match &record.event.body {
        Some(Body::PosTransaction(t)) => (t.clone(), record),
        other => panic!("expected a transaction, got {other:?}"),
    }
}

fn answer(record: Record, result: Result<u64, RecordError>) {
    let _ = record.reply.unwrap().send(result);
}

/// Waits until `path` exists.
async fn appears(path: &Path) {
    tokio::time::timeout(WAIT, async {
        while !path.exists() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{} did not appear", path.display()));
}

/// Lets the driver poll a few times (to show that something does not happen).
async fn a_few_polls() {
    tokio::time::sleep(Duration::from_millis(150)).await;
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn a_file_moves_to_done_only_after_every_event_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("0001.xml"), MULTI).unwrap();
    let (mut journal, driver) = start(config(dir.path(), 50));

    let mut records = Vec::new();
    for id in MULTI_IDS {
        let (tx, record) = next_record(&mut journal).await;
        assert_eq!(tx.receipt_id, id);
        records.push(record);
    }
    let last = records.pop().unwrap();
    for (seq, r) in records.into_iter().enumerate() {
        answer(r, Ok(seq as u64 + 1));
    }
    a_few_polls().await;
    // One answer missing: the file has not moved.
    assert!(dir.path().join("0001.xml").exists());
    assert!(names(&dir.path().join(DONE)).is_empty());
    answer(last, Ok(5));
    appears(&dir.path().join(DONE).join("0001.xml")).await;
    assert!(!dir.path().join("0001.xml").exists());
    assert_eq!(
        std::fs::read(dir.path().join(DONE).join("0001.xml")).unwrap(),
        MULTI
    );

    // The same name again: kept beside the first, not over it.
    std::fs::write(dir.path().join("0001.xml"), SALE).unwrap();
    let (tx, record) = next_record(&mut journal).await;
    assert_eq!(tx.receipt_id, "1001");
    answer(record, Ok(6));
    appears(&dir.path().join(DONE).join("0001.1.xml")).await;
    assert_eq!(names(&dir.path().join(DONE)), ["0001.1.xml", "0001.xml"]);
    assert!(!driver.is_finished());
    driver.abort();
}

#[tokio::test]
async fn a_malformed_file_is_rejected_with_its_reason_and_others_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let text = String::from_utf8(SALE.to_vec()).unwrap();
    // Break a closing tag on a known line.
    let line = text
        .lines()
        .position(|l| l.contains("</OperatorID>"))
        .unwrap()
        + 1;
    let bad = text.replacen("</OperatorID>", "</OperatorId>", 1);
    std::fs::write(dir.path().join("bad.xml"), bad).unwrap();
    for ignored in [".hidden.xml", "0002.xml.part", "0003.tmp", "notes.txt"] {
        std::fs::write(dir.path().join(ignored), SALE).unwrap();
    }
    let (mut journal, driver) = start(config(dir.path(), 50));

    let reason_path = dir.path().join(REJECTED).join("bad.xml.reason");
    appears(&reason_path).await;
    appears(&dir.path().join(REJECTED).join("bad.xml")).await;
    let reason = std::fs::read_to_string(&reason_path).unwrap();
    assert!(reason.starts_with("bad.xml: "), "{reason}");
    assert!(reason.contains(&format!("line {line}")), "{reason}");
    assert!(reason.contains("OperatorID"), "{reason}");

    a_few_polls().await;
    assert!(journal.try_recv().is_err(), "nothing should be sent");
    assert_eq!(
        names(dir.path()),
        [
            ".hidden.xml",
            "0002.xml.part",
            "0003.tmp",
            DONE,
            "notes.txt",
            REJECTED
        ]
    );
    driver.abort();
}

#[tokio::test]
async fn a_file_still_being_written_is_not_read_until_it_settles() {
    let dir = tempfile::tempdir().unwrap();
    // Generous settle time against a busy machine; the writer pauses far less between steps.
    let (mut journal, driver) = start(config(dir.path(), 1000));
    let path = dir.path().join("0001.xml");
    let mut file = std::fs::File::create(&path).unwrap();
    for step in MULTI.chunks(MULTI.len() / 6 + 1) {
        file.write_all(step).unwrap();
        file.flush().unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(journal.try_recv().is_err(), "read before it settled");
    }
    drop(file);
    for (seq, id) in MULTI_IDS.into_iter().enumerate() {
        let (tx, record) = next_record(&mut journal).await;
        assert_eq!(tx.receipt_id, id);
        answer(record, Ok(seq as u64 + 1));
    }
    appears(&dir.path().join(DONE).join("0001.xml")).await;
    assert!(names(&dir.path().join(REJECTED)).is_empty());
    driver.abort();
}

#[tokio::test]
async fn a_journal_error_leaves_the_file_and_only_the_unstored_events_are_retried() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("0001.xml"), MULTI).unwrap();
    let (mut journal, driver) = start(config(dir.path(), 50));
    for (i, id) in MULTI_IDS.into_iter().enumerate() {
        let (tx, record) = next_record(&mut journal).await;
        assert_eq!(tx.receipt_id, id);
        if id == "504" {
            answer(record, Err(RecordError::Journal("disk full".into())));
        } else {
            answer(record, Ok(i as u64 + 1));
        }
    }
    // Tried again at a later poll: only 504.
    let (tx, record) = next_record(&mut journal).await;
    assert_eq!(tx.receipt_id, "504");
    assert!(dir.path().join("0001.xml").exists());
    assert!(names(&dir.path().join(DONE)).is_empty());
    answer(record, Ok(6));
    appears(&dir.path().join(DONE).join("0001.xml")).await;
    a_few_polls().await;
    assert!(journal.try_recv().is_err(), "nothing more to send");
    driver.abort();
}

#[tokio::test]
async fn a_missing_folder_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-drop-folder");
    let (sink, _journal) = mpsc::channel(1);
    let e = tokio::time::timeout(WAIT, run(config(&missing, 50), sink))
        .await
        .unwrap()
        .unwrap_err();
    assert!(e.to_string().contains("no-such-drop-folder"), "{e}");
    assert!(!missing.exists(), "the drop folder must not be created");
}
