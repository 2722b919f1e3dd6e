//! The driver against real pseudo-terminals: the test writes what a beam counter sends into the
//! master side; the driver reads the slave side by its path.

use std::io::Write;
use std::time::Duration;

use store_proto::v1::{DeviceState, FootTraffic};
use store_proto::{Body, Event};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::timeout;

use super::*;
use crate::counter::serial_line::SerialLineCounter;
use crate::test_pty::open_pty;

const PATIENCE: Duration = Duration::from_secs(10);

fn config(path: &str) -> CounterSerialConfig {
    CounterSerialConfig {
        id: "beam-1".into(),
        path: path.into(),
        baud: 9600,
        line: "side door".into(),
    }
}

fn start(
    config: CounterSerialConfig,
) -> (JoinHandle<Result<(), DriverError>>, mpsc::Receiver<Record>) {
    let (sink, journal) = mpsc::channel(16);
    (tokio::spawn(run(config, sink)), journal)
}

async fn next(journal: &mut mpsc::Receiver<Record>) -> Event {
    let record = timeout(PATIENCE, journal.recv())
        .await
        .expect("an event within the timeout")
        .expect("driver running");
    assert!(
        record.reply.is_none(),
        "a serial counter cannot take an answer"
    );
    assert_eq!(record.event.device_id, "beam-1");
    assert!(record.event.wall_time_ms > 0);
    record.event
}

async fn next_status(
    journal: &mut mpsc::Receiver<Record>,
    state: DeviceState,
) -> (String, Vec<u8>) {
    match next(journal).await.body {
        Some(Body::DeviceStatus(s)) if s.state == state as i32 => (s.reason, s.raw),
        other => panic!("expected {state:?}, got {other:?}"),
    }
}

async fn next_traffic(journal: &mut mpsc::Receiver<Record>) -> FootTraffic {
    match next(journal).await.body {
        Some(Body::FootTraffic(t)) => {
            assert_eq!(
                (t.counter_id.as_str(), t.line.as_str()),
                ("beam-1", "side door")
            );
            assert!(t.interval_start_ms <= t.interval_end_ms && t.interval_start_ms > 0);
            t
        }
        other => panic!("expected foot traffic, got {other:?}"),
    }
}

#[tokio::test]
async fn lines_become_counts_and_bad_lines_are_kept() {
    let mut pty = open_pty();
    let (driver, mut journal) = start(config(&pty.path));
    let (reason, _) = next_status(&mut journal, DeviceState::Connected).await;
    assert!(reason.contains(&pty.path), "{reason}");

    pty.master
        .write_all(b"# beam v1\r\nIN 3\r\nOUT\r\nTOTAL 1204 1187\r\n")
        .unwrap();
    let t = next_traffic(&mut journal).await;
    assert_eq!((t.entries, t.exits, t.coalesced_ticks), (3, 0, 1));
    let t = next_traffic(&mut journal).await;
    assert_eq!((t.entries, t.exits), (0, 1));
    // TOTAL 1204 1187 was the baseline; split across writes, the next one still counts.
    pty.master.write_all(b"TOTAL 12").unwrap();
    pty.master
        .write_all(b"10 1190\r\nTOTAL 1210 1190\r\n")
        .unwrap();
    let t = next_traffic(&mut journal).await;
    assert_eq!((t.entries, t.exits), (6, 3));
    // A reset: totals since.
    pty.master
        .write_all(b"TOTAL 4 1\r\nSIDEWAYS 2\r\nIN 7\r\n")
        .unwrap();
    let t = next_traffic(&mut journal).await;
    assert_eq!((t.entries, t.exits), (4, 1));
    let (reason, raw) = next_status(&mut journal, DeviceState::DecodeError).await;
    assert!(reason.contains("unknown command `SIDEWAYS`"), "{reason}");
    assert_eq!(raw, b"SIDEWAYS 2");
    let t = next_traffic(&mut journal).await;
    assert_eq!((t.entries, t.exits), (7, 0));

    assert!(!driver.is_finished());
    driver.abort();
}

#[tokio::test]
async fn unplugging_reports_once_and_stops_for_a_restart_that_picks_the_device_up_again() {
    let mut pty = open_pty();
    let (driver, mut journal) = start(config(&pty.path));
    next_status(&mut journal, DeviceState::Connected).await;
    pty.master.write_all(b"IN 2\r\nOUT 1").unwrap();
    let t = next_traffic(&mut journal).await;
    assert_eq!(t.entries, 2);

    // Closing the master hangs the terminal up, as when a USB adapter is unplugged.
    drop(pty.master);
    let (reason, raw) = next_status(&mut journal, DeviceState::DecodeError).await;
    assert!(reason.contains("cut off"), "{reason}");
    assert_eq!(raw, b"OUT 1");
    let (reason, _) = next_status(&mut journal, DeviceState::Disconnected).await;
    assert!(reason.contains(&pty.path), "{reason}");
    let result = timeout(PATIENCE, driver)
        .await
        .expect("driver stopped")
        .unwrap();
    match result {
        Err(DriverError::Io { id, .. }) => assert_eq!(id, "beam-1"),
        other => panic!("expected an I/O error for the supervisor, got {other:?}"),
    }

    // A missing device is an error at once, without a DISCONNECTED for every retry.
    let (driver, mut journal) = start(config("/dev/store-edge-no-such-counter"));
    let result = timeout(PATIENCE, driver).await.unwrap().unwrap();
    assert!(
        matches!(&result, Err(e @ DriverError::Io { .. }) if e.to_string().contains("no-such-counter")),
        "{result:?}"
    );
    assert!(journal.try_recv().is_err());

    // Replugged (a new device node): the restarted driver reads it.
    let mut pty = open_pty();
    let (driver, mut journal) = start(config(&pty.path));
    next_status(&mut journal, DeviceState::Connected).await;
    pty.master.write_all(b"IN\n").unwrap();
    assert_eq!(next_traffic(&mut journal).await.entries, 1);
    driver.abort();
}

#[test]
fn line_body_keeps_bad_lines_without_terminator() {
    let mut c = SerialLineCounter::new("b", "main");
    assert_eq!(line_body(&mut c, b"# hi\r", 5), None);
    match line_body(&mut c, b"IN x\r", 5) {
        Some(Body::DeviceStatus(s)) => {
            assert_eq!(s.state, DeviceState::DecodeError as i32);
            assert_eq!(s.raw, b"IN x");
        }
        other => panic!("{other:?}"),
    }
    match line_body(&mut c, b"OUT 2", 5) {
        Some(Body::FootTraffic(t)) => assert_eq!((t.exits, t.interval_end_ms), (2, 5)),
        other => panic!("{other:?}"),
    }
}
