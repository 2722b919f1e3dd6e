//! The driver against real pseudo-terminals: the test writes what a scanner sends into the
//! master side, the driver reads the slave side by its path, like a `/dev/ttyACM0`.

use std::io::Write;
use std::time::Duration;

use store_proto::v1::{self, DeviceState};
use store_proto::{Body, Event};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::*;
use crate::scanner::serial::framing::Framing;
use crate::test_pty::open_pty;
use crate::{DriverError, Record};

/// How long a test waits for something that should happen at once.
const WAIT: Duration = Duration::from_secs(10);

fn config(path: &str, framing: Framing) -> SerialScannerConfig {
    SerialScannerConfig {
        id: "scanner-1".into(),
        path: path.into(),
        baud: 9600,
        data_bits: DataBits::Eight,
        parity: Parity::None,
        stop_bits: StopBits::One,
        framing,
        max_len: 64,
        idle_timeout_ms: 100,
        mode: ScanMode::Sale,
        modes: crate::scanner::mode::ModeConfig::default(),
    }
}

/// A journal stand-in: passes each event to the test, and checks that the driver asks for no
/// answer (a scanner cannot take one).
fn fake_journal() -> (Sink, mpsc::UnboundedReceiver<Event>) {
    let (tx, mut rx) = mpsc::channel::<Record>(16);
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(r) = rx.recv().await {
            assert!(r.reply.is_none(), "a scanner event asked for a reply");
            let _ = events_tx.send(r.event);
        }
    });
    (tx, events_rx)
}

async fn next(events: &mut mpsc::UnboundedReceiver<Event>) -> Event {
    tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("no event in time")
        .expect("journal gone")
}

async fn next_scan(events: &mut mpsc::UnboundedReceiver<Event>) -> (Event, v1::Scan) {
    let event = next(events).await;
    match &event.body {
        Some(Body::Scan(scan)) => {
            let scan = scan.clone();
            (event, scan)
        }
        other => panic!("expected a scan, got {other:?}"),
    }
}

async fn next_connected(events: &mut mpsc::UnboundedReceiver<Event>) -> v1::DeviceStatus {
    match next(events).await.body {
        Some(Body::DeviceStatus(s)) => {
            assert_eq!(s.state, DeviceState::Connected as i32);
            s
        }
        other => panic!("expected a connected status, got {other:?}"),
    }
}

async fn next_decode_error(events: &mut mpsc::UnboundedReceiver<Event>) -> v1::DeviceStatus {
    match next(events).await.body {
        Some(Body::DeviceStatus(s)) => {
            assert_eq!(s.state, DeviceState::DecodeError as i32);
            s
        }
        other => panic!("expected a decode-error status, got {other:?}"),
    }
}

fn start(
    config: SerialScannerConfig,
) -> (
    JoinHandle<Result<(), DriverError>>,
    mpsc::UnboundedReceiver<Event>,
) {
    let (sink, events) = fake_journal();
    (tokio::spawn(run(config, sink)), events)
}

#[tokio::test]
async fn cr_lf_scans_become_events() {
    let mut pty = open_pty();
    let (driver, mut events) = start(config(&pty.path, Framing::CrLf));
    let status = next_connected(&mut events).await;
    assert_eq!(status.reason, format!("opened {} at 9600 baud", pty.path));

    // GS1-128 with GTIN, batch (variable length, ended by GS) and expiry date.
    let gs1 = b"]C101095060001343521012345\x1D17220630";
    pty.master.write_all(&[&gs1[..], b"\r\n"].concat()).unwrap();
    let (event, scan) = next_scan(&mut events).await;
    assert_eq!(event.device_id, "scanner-1");
    assert!(event.wall_time_ms > 0 && event.monotonic_ns > 0 && event.seq == 0);
    assert_eq!(scan.raw, gs1);
    assert_eq!(scan.aim, "]C1");
    assert_eq!(scan.symbology, "gs1-128");
    assert_eq!(scan.data, "01095060001343521012345\u{1d}17220630");
    assert_eq!(scan.gtin, "09506000134352");
    assert_eq!(scan.mode, v1::ScanMode::Sale as i32);
    assert_eq!(scan.error, "");
    let elements: Vec<(&str, &str)> = scan
        .elements
        .iter()
        .map(|e| (e.ai.as_str(), e.value.as_str()))
        .collect();
    assert_eq!(
        elements,
        [("01", "09506000134352"), ("10", "12345"), ("17", "220630")]
    );

    // A plain EAN-13 without an AIM id.
    pty.master.write_all(b"5901234123457\r\n").unwrap();
    let (_, scan) = next_scan(&mut events).await;
    assert_eq!(scan.data, "5901234123457");
    assert_eq!(scan.raw, b"5901234123457");
    assert_eq!(scan.aim, "");
    assert_eq!(scan.gtin, "05901234123457");
    assert_eq!(scan.error, "");

    // A bad check digit is still recorded, with the error and the raw bytes.
    pty.master.write_all(b"]E05901234123458\r\n").unwrap();
    let (_, scan) = next_scan(&mut events).await;
    assert_eq!(scan.raw, b"]E05901234123458");
    assert_eq!(scan.symbology, "ean13");
    assert!(!scan.error.is_empty(), "{scan:?}");

    // A scan longer than max_len is kept (first 64 bytes) as a decode error; the next is fine.
    let long = [b'7'; 100];
    pty.master
        .write_all(&[&long[..], b"\r\n4006381333931\r\n"].concat())
        .unwrap();
    let status = next_decode_error(&mut events).await;
    assert_eq!(status.raw, &long[..64]);
    assert!(
        status.reason.contains("longer than 64"),
        "{}",
        status.reason
    );
    let (_, scan) = next_scan(&mut events).await;
    assert_eq!(scan.gtin, "04006381333931");

    // A scan without terminator is ended by the idle timeout.
    pty.master.write_all(b"]E09506000134352").unwrap();
    let (_, scan) = next_scan(&mut events).await;
    assert_eq!(scan.raw, b"]E09506000134352");
    assert_eq!(scan.gtin, "09506000134352");

    assert!(!driver.is_finished());
    driver.abort();
}

#[tokio::test]
async fn stx_etx_scans_and_frame_errors() {
    let mut pty = open_pty();
    let mut config = config(&pty.path, Framing::StxEtx);
    config.mode = ScanMode::Receiving;
    let (driver, mut events) = start(config);
    next_connected(&mut events).await;

    pty.master.write_all(b"\x02]E05901234123457\x03").unwrap();
    let (_, scan) = next_scan(&mut events).await;
    assert_eq!(scan.raw, b"]E05901234123457");
    assert_eq!(scan.gtin, "05901234123457");
    assert_eq!(scan.mode, v1::ScanMode::Receiving as i32);

    // Bytes outside STX…ETX are kept raw as a decode error, in order with the scans.
    pty.master.write_all(b"zz\x02]E09506000134352\x03").unwrap();
    let status = next_decode_error(&mut events).await;
    assert_eq!(status.raw, b"zz");
    let (_, scan) = next_scan(&mut events).await;
    assert_eq!(scan.gtin, "09506000134352");

    // A frame never closed by ETX is reported at the idle timeout.
    pty.master.write_all(b"\x02abc").unwrap();
    let status = next_decode_error(&mut events).await;
    assert_eq!(status.raw, b"abc");
    assert!(
        status.reason.contains("not terminated"),
        "{}",
        status.reason
    );

    assert!(!driver.is_finished());
    driver.abort();
}

#[tokio::test]
async fn hang_up_stops_the_driver_with_an_error() {
    let mut pty = open_pty();
    let (driver, mut events) = start(config(&pty.path, Framing::Cr));
    next_connected(&mut events).await;
    pty.master.write_all(b"4006381333931\r").unwrap();
    // The driver is reading: its first scan is in.
    let (_, scan) = next_scan(&mut events).await;
    assert_eq!(scan.gtin, "04006381333931");

    // Closing the master hangs the terminal up, as when a USB scanner is unplugged.
    drop(pty.master);
    let result = tokio::time::timeout(WAIT, driver)
        .await
        .expect("driver did not stop after the hang-up")
        .unwrap();
    match result {
        Err(DriverError::Io { id, .. }) => assert_eq!(id, "scanner-1"),
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

#[tokio::test]
async fn unplug_and_replug_on_a_stable_path_recovers_after_a_restart() {
    // The configured path is a stable name (like `/dev/serial/by-id/…`): a symlink to the pty,
    // removed on unplug and pointed at a new pty on replug.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scanner").to_str().unwrap().to_owned();
    let plug = || {
        let pty = open_pty();
        std::os::unix::fs::symlink(&pty.path, &path).unwrap();
        pty
    };
    let mut pty = plug();
    let (driver, mut events) = start(config(&path, Framing::Cr));
    let status = next_connected(&mut events).await;
    assert!(status.reason.contains(&path), "{}", status.reason);
    // A whole scan, then half of one when the cable is pulled.
    pty.master.write_all(b"4006381333931\r59012").unwrap();
    let (_, scan) = next_scan(&mut events).await;
    assert_eq!(scan.gtin, "04006381333931");

    drop(pty);
    std::fs::remove_file(&path).unwrap();
    let result = tokio::time::timeout(WAIT, driver)
        .await
        .expect("driver did not stop after the unplug")
        .unwrap();
    assert!(
        matches!(&result, Err(DriverError::Io { id, .. }) if id == "scanner-1"),
        "{result:?}"
    );
    // The half scan is recorded with its bytes, as at an idle timeout, not lost with the port.
    let (_, scan) = next_scan(&mut events).await;
    assert_eq!(
        (scan.raw.as_slice(), scan.gtin.as_str()),
        (&b"59012"[..], "")
    );

    // Restarts while it is away fail at once, naming the path, and record nothing.
    let (driver, mut events) = start(config(&path, Framing::Cr));
    let result = tokio::time::timeout(WAIT, driver).await.unwrap().unwrap();
    assert!(
        matches!(&result, Err(e) if e.to_string().contains(&format!("cannot open {path}"))),
        "{result:?}"
    );
    let after = tokio::time::timeout(WAIT, events.recv()).await.unwrap();
    assert!(after.is_none(), "{after:?}");

    // Replugged: the next restart reads the scanner again.
    let mut pty = plug();
    let (driver, mut events) = start(config(&path, Framing::Cr));
    next_connected(&mut events).await;
    pty.master.write_all(b"5901234123457\r").unwrap();
    let (_, scan) = next_scan(&mut events).await;
    assert_eq!(scan.gtin, "05901234123457");
    assert!(!driver.is_finished());
    driver.abort();
}

#[tokio::test]
async fn staff_command_barcodes_change_the_following_scans() {
    let mut pty = open_pty();
    let (driver, mut events) = start(config(&pty.path, Framing::CrLf));
    next_connected(&mut events).await;

    pty.master
        .write_all(
            b"MODE-RECEIVE\r\nQTY24\r\n]E04006381333931\r\n]E04006381333931\r\n\
              SHIFT-END\r\nBADGE-77\r\nMODE-SALE\r\n5901234123457\r\n",
        )
        .unwrap();
    let (_, scan) = next_scan(&mut events).await;
    assert_eq!(scan.mode, v1::ScanMode::Receiving as i32);
    assert_eq!(scan.quantity, 24);
    let (_, scan) = next_scan(&mut events).await;
    assert_eq!(
        (scan.mode, scan.quantity),
        (v1::ScanMode::Receiving as i32, 0)
    );
    let (event, badge) = next_scan(&mut events).await;
    assert_eq!(event.device_id, "scanner-1");
    assert_eq!(badge.data, "77");
    assert_eq!(badge.mode, v1::ScanMode::Badge as i32);
    assert_eq!(badge.shift, v1::ShiftAction::End as i32);
    let (_, scan) = next_scan(&mut events).await;
    assert_eq!(scan.gtin, "05901234123457");
    assert_eq!(scan.mode, v1::ScanMode::Sale as i32);
    // Commands were not recorded.
    assert!(events.try_recv().is_err());
    driver.abort();
}

#[tokio::test]
async fn missing_device_is_an_error() {
    let (driver, mut events) = start(config("/dev/store-edge-no-such-scanner", Framing::Cr));
    let result = tokio::time::timeout(WAIT, driver).await.unwrap().unwrap();
    match result {
        Err(e @ DriverError::Io { .. }) => {
            assert!(e.to_string().contains("no-such-scanner"), "{e}");
        }
        other => panic!("expected an I/O error, got {other:?}"),
    }
    assert!(
        events.try_recv().is_err(),
        "no CONNECTED for a port never opened"
    );
}

#[test]
fn a_frame_error_becomes_a_decode_error_status() {
    // Stray bytes outside STX/ETX: raw in a decode error, whatever the scan mode.
    let mut decoder = SerialScanDecoder::new(Framing::StxEtx, 64);
    let mut inputs = decoder.feed(b"\x03");
    inputs.extend(decoder.finish());
    assert_eq!(inputs.len(), 1);
    let mut recorder = crate::scanner::record::ScanRecorder::new(
        ScanMode::Shrink,
        crate::scanner::mode::ModeConfig::default(),
    );
    let now = std::time::Instant::now();
    let body = recorder.record(inputs[0].clone(), now).body.unwrap();
    let event = crate::scanner::emit::event("s", body);
    match event.body {
        Some(Body::DeviceStatus(s)) => {
            assert_eq!(s.state, DeviceState::DecodeError as i32);
            assert_eq!(s.raw, b"\x03");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(event.device_id, "s");
}
