//! The HID drivers' I/O loop driven through a virtual device, report bytes as a scanner sends
//! them; and the hidapi source against devices that are not there.

use std::time::Duration;

use store_proto::v1::{self, DeviceState, ShiftAction};
use store_proto::{Body, Event};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::*;
use crate::scanner::hid::hidpos::LengthConvention;
use crate::scanner::hid::wedge::{KeyboardLayout, Terminator};
use crate::scanner::mode::{ModeConfig, ScanMode};
use crate::{DriverError, Record};

/// How long a test waits for something that should happen at once.
const WAIT: Duration = Duration::from_secs(10);

fn pos_config() -> HidPosScannerConfig {
    HidPosScannerConfig {
        id: "pos-scanner".into(),
        device: HidSelector::Path("/dev/hidraw-test".into()),
        length_convention: LengthConvention::Auto,
        max_len: 8192,
        idle_timeout_ms: 150,
        mode: ScanMode::Sale,
        modes: ModeConfig::default(),
    }
}

fn wedge_config() -> WedgeScannerConfig {
    WedgeScannerConfig {
        id: "wedge-scanner".into(),
        device: HidSelector::Path("/dev/hidraw-test".into()),
        layout: KeyboardLayout::Us,
        terminators: vec![Terminator::Enter],
        max_len: 8192,
        idle_timeout_ms: 0,
        mode: ScanMode::Receiving,
        modes: ModeConfig::default(),
    }
}

/// A journal stand-in that passes events on and checks no reply is asked for.
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

type Driver = JoinHandle<Result<(), DriverError>>;

fn start_pos(
    config: HidPosScannerConfig,
    source: VirtualHidSource,
) -> (Driver, mpsc::UnboundedReceiver<Event>) {
    let (sink, events) = fake_journal();
    (tokio::spawn(run_hid_pos_with(config, source, sink)), events)
}

fn start_wedge(
    config: WedgeScannerConfig,
    source: VirtualHidSource,
) -> (Driver, mpsc::UnboundedReceiver<Event>) {
    let (sink, events) = fake_journal();
    (tokio::spawn(run_wedge_with(config, source, sink)), events)
}

async fn next(events: &mut mpsc::UnboundedReceiver<Event>) -> Event {
    tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("no event in time")
        .expect("journal gone")
}

async fn next_scan(events: &mut mpsc::UnboundedReceiver<Event>) -> v1::Scan {
    match next(events).await.body {
        Some(Body::Scan(scan)) => scan,
        other => panic!("expected a scan, got {other:?}"),
    }
}

async fn next_status(
    events: &mut mpsc::UnboundedReceiver<Event>,
    state: DeviceState,
) -> v1::DeviceStatus {
    match next(events).await.body {
        Some(Body::DeviceStatus(s)) => {
            assert_eq!(s.state, state as i32, "{s:?}");
            s
        }
        other => panic!("expected a {state:?} status, got {other:?}"),
    }
}

async fn stopped(driver: Driver) -> Result<(), DriverError> {
    tokio::time::timeout(WAIT, driver)
        .await
        .expect("driver did not stop")
        .expect("driver panicked")
}

/// A 64-byte HID POS input report: id 0x02, length, AIM id, data, vendor code, more-data flag.
fn pos_report(aim: &[u8; 3], data: &[u8], more: bool) -> Vec<u8> {
    assert!(data.len() <= 56);
    let mut r = vec![0u8; 64];
    r[0] = 0x02;
    r[1] = data.len() as u8;
    r[2..5].copy_from_slice(aim);
    r[5..5 + data.len()].copy_from_slice(data);
    r[61] = 0x4A;
    r[63] = u8::from(more);
    r
}

const RELEASE: [u8; 8] = [0; 8];

/// Boot keyboard reports typing `digits` (US layout, top row), each key released after.
fn type_digits(digits: &str) -> Vec<[u8; 8]> {
    let mut out = Vec::new();
    for c in digits.bytes() {
        let usage = match c {
            b'0' => 0x27,
            b'1'..=b'9' => 0x1E + (c - b'1'),
            _ => panic!("not a digit: {c}"),
        };
        out.push([0, 0, usage, 0, 0, 0, 0, 0]);
        out.push(RELEASE);
    }
    out
}

fn send_all(device: &VirtualHidDevice, reports: &[[u8; 8]]) {
    for r in reports {
        assert!(device.send_report(r.to_vec()));
    }
}

fn send_all9(device: &VirtualHidDevice, reports: &[[u8; 9]]) {
    for r in reports {
        assert!(device.send_report(r.to_vec()));
    }
}

#[tokio::test]
async fn hid_pos_scans_and_continued_reports() {
    let (source, device) = VirtualHidSource::new("honeywell");
    let (driver, mut events) = start_pos(pos_config(), source);

    let status = next_status(&mut events, DeviceState::Connected).await;
    assert_eq!(status.reason, "opened honeywell (virtual)");

    // One report: EAN-13 with its AIM id.
    device.send_report(pos_report(b"]E0", b"5901234123457", false));
    let scan = next_scan(&mut events).await;
    assert_eq!(scan.raw, b"]E05901234123457");
    assert_eq!(scan.aim, "]E0");
    assert_eq!(scan.gtin, "05901234123457");
    assert_eq!(scan.mode, v1::ScanMode::Sale as i32);
    assert_eq!(scan.error, "");

    // 70 bytes of GS1-128 over two reports: 56 with "more data", then 14.
    let data: &[u8] =
        b"010950600013435210ABCDEFGHIJKLMNOPQRST\x1d2112345678901234567890\x1d17220630";
    assert_eq!(data.len(), 70);
    let first = pos_report(b"]C1", &data[..56], true);
    assert_eq!(first[63], 1);
    device.send_report(first);
    device.send_report(pos_report(b"]C1", &data[56..], false));
    let scan = next_scan(&mut events).await;
    assert_eq!(scan.raw, [&b"]C1"[..], data].concat());
    assert_eq!(scan.gtin, "09506000134352");
    let elements: Vec<(&str, &str)> = scan
        .elements
        .iter()
        .map(|e| (e.ai.as_str(), e.value.as_str()))
        .collect();
    assert_eq!(
        elements,
        [
            ("01", "09506000134352"),
            ("10", "ABCDEFGHIJKLMNOPQRST"),
            ("21", "12345678901234567890"),
            ("17", "220630")
        ]
    );

    // A report with another report id is kept raw as a decode error; the scanner carries on.
    let mut bad = pos_report(b"]E0", b"5901234123457", false);
    bad[0] = 0x05;
    device.send_report(bad.clone());
    let status = next_status(&mut events, DeviceState::DecodeError).await;
    assert_eq!(status.raw, bad);
    assert!(status.reason.contains("0x05"), "{}", status.reason);

    // 63-byte reports (without the id byte) are read too.
    device.send_report(pos_report(b"]E0", b"4006381333931", false)[1..].to_vec());
    assert_eq!(next_scan(&mut events).await.gtin, "04006381333931");

    assert!(!driver.is_finished());
    driver.abort();
}

#[tokio::test]
async fn hid_pos_scan_left_open_is_kept_at_the_idle_timeout() {
    let (source, device) = VirtualHidSource::new("scanner");
    let (driver, mut events) = start_pos(pos_config(), source);
    next_status(&mut events, DeviceState::Connected).await;

    device.send_report(pos_report(b"]C0", b"PART-ONE", true));
    let status = next_status(&mut events, DeviceState::DecodeError).await;
    assert_eq!(status.raw, b"PART-ONE");
    assert!(status.reason.contains("more data"), "{}", status.reason);

    // The next scan is unaffected.
    device.send_report(pos_report(b"]E0", b"5901234123457", false));
    assert_eq!(next_scan(&mut events).await.gtin, "05901234123457");
    driver.abort();
}

#[tokio::test]
async fn hid_pos_device_vanishing_keeps_the_partial_scan_and_fails() {
    let (source, device) = VirtualHidSource::new("scanner");
    let mut config = pos_config();
    config.idle_timeout_ms = 0;
    let (driver, mut events) = start_pos(config, source);
    next_status(&mut events, DeviceState::Connected).await;

    device.send_report(pos_report(b"]C0", b"HALF", true));
    device.unplug("USB disconnect");
    let status = next_status(&mut events, DeviceState::DecodeError).await;
    assert_eq!(status.raw, b"HALF");
    match stopped(driver).await {
        Err(DriverError::Hid {
            id,
            source: HidSourceError::Gone { what, reason },
        }) => {
            assert_eq!((id.as_str(), what.as_str()), ("pos-scanner", "scanner"));
            assert_eq!(reason, "USB disconnect");
        }
        other => panic!("expected the device gone, got {other:?}"),
    }
}

#[tokio::test]
async fn dropped_virtual_device_is_a_vanished_device() {
    let (source, device) = VirtualHidSource::new("scanner");
    let (driver, mut events) = start_pos(pos_config(), source);
    next_status(&mut events, DeviceState::Connected).await;
    drop(device);
    let e = stopped(driver).await.unwrap_err();
    assert!(e.to_string().contains("went away"), "{e}");
}

#[tokio::test]
async fn device_that_cannot_open_fails_without_connected() {
    let source = VirtualHidSource::unavailable("scanner", "permission denied");
    let (driver, mut events) = start_pos(pos_config(), source);
    let e = stopped(driver).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "driver pos-scanner: cannot open HID device scanner: permission denied"
    );
    assert!(events.try_recv().is_err(), "no event expected");
}

#[tokio::test]
async fn hid_pos_mode_quantity_and_badge_barcodes() {
    // Code 39 (]A0) command labels as staff would print them.
    let source = VirtualHidSource::from_reports(
        "scanner",
        [
            pos_report(b"]A0", b"MODE-COUNT", false),
            pos_report(b"]A0", b"QTY6", false),
            pos_report(b"]E0", b"5901234123457", false),
            pos_report(b"]E0", b"5901234123457", false),
            pos_report(b"]A0", b"SHIFT-START", false),
            pos_report(b"]A0", b"BADGE-1042", false),
            pos_report(b"]A0", b"MODE-SALE", false),
            pos_report(b"]E0", b"4006381333931", false),
        ],
    );
    let (driver, mut events) = start_pos(pos_config(), source);
    next_status(&mut events, DeviceState::Connected).await;

    let scan = next_scan(&mut events).await;
    assert_eq!(
        (scan.gtin.as_str(), scan.mode, scan.quantity),
        ("05901234123457", v1::ScanMode::StockCount as i32, 6)
    );
    let scan = next_scan(&mut events).await;
    assert_eq!(
        (scan.mode, scan.quantity),
        (v1::ScanMode::StockCount as i32, 0)
    );
    let badge = next_scan(&mut events).await;
    assert_eq!(badge.data, "1042");
    assert_eq!(badge.raw, b"]A0BADGE-1042");
    assert_eq!(badge.mode, v1::ScanMode::Badge as i32);
    assert_eq!(badge.shift, ShiftAction::Start as i32);
    let scan = next_scan(&mut events).await;
    assert_eq!(
        (scan.gtin.as_str(), scan.mode),
        ("04006381333931", v1::ScanMode::Sale as i32)
    );
    assert!(events.try_recv().is_err(), "commands must not be recorded");
    driver.abort();
}

#[tokio::test]
async fn wedge_scans_with_both_gs_forms_and_key_releases() {
    let (source, device) = VirtualHidSource::new("wedge");
    let (driver, mut events) = start_wedge(wedge_config(), source);
    next_status(&mut events, DeviceState::Connected).await;

    // "]C1" (']' unshifted, Shift+c, '1'), GTIN (01), batch (10) "12", GS as Ctrl+],
    // expiry (17), Enter.
    let mut reports = vec![
        [0x00, 0, 0x30, 0, 0, 0, 0, 0], // ]
        RELEASE,
        [0x02, 0, 0x06, 0, 0, 0, 0, 0], // Shift + c = C
        RELEASE,
    ];
    reports.extend(type_digits("1010950600013435210"));
    reports.extend(type_digits("12"));
    reports.push([0x01, 0, 0x30, 0, 0, 0, 0, 0]); // Ctrl + ] = GS
    reports.push(RELEASE);
    reports.extend(type_digits("17220630"));
    reports.push([0x00, 0, 0x28, 0, 0, 0, 0, 0]); // Enter
    reports.push(RELEASE);
    send_all(&device, &reports);
    let scan = next_scan(&mut events).await;
    assert_eq!(scan.raw, b"]C101095060001343521012\x1d17220630");
    assert_eq!(scan.gtin, "09506000134352");
    assert_eq!(scan.mode, v1::ScanMode::Receiving as i32);
    assert_eq!(scan.error, "");
    assert_eq!(scan.elements.len(), 3);

    // The same with GS as Alt held over keypad 0, 2, 9 (typed when Alt is released).
    let mut reports = vec![
        [0x00, 0, 0x30, 0, 0, 0, 0, 0],
        RELEASE,
        [0x02, 0, 0x06, 0, 0, 0, 0, 0],
        RELEASE,
    ];
    reports.extend(type_digits("1010950600013435210"));
    reports.extend(type_digits("12"));
    reports.extend([
        [0x04, 0, 0x00, 0, 0, 0, 0, 0], // LAlt down
        [0x04, 0, 0x62, 0, 0, 0, 0, 0], // keypad 0
        [0x04, 0, 0x00, 0, 0, 0, 0, 0],
        [0x04, 0, 0x5A, 0, 0, 0, 0, 0], // keypad 2
        [0x04, 0, 0x00, 0, 0, 0, 0, 0],
        [0x04, 0, 0x61, 0, 0, 0, 0, 0], // keypad 9
        [0x04, 0, 0x00, 0, 0, 0, 0, 0],
        RELEASE, // LAlt up: GS
    ]);
    reports.extend(type_digits("17220630"));
    reports.push([0x00, 0, 0x28, 0, 0, 0, 0, 0]);
    reports.push(RELEASE);
    send_all(&device, &reports);
    let scan = next_scan(&mut events).await;
    assert_eq!(scan.raw, b"]C101095060001343521012\x1d17220630");
    assert_eq!(scan.elements.len(), 3);

    // A key held over two reports types once; released in between, twice.
    send_all(
        &device,
        &[
            [0, 0, 0x21, 0, 0, 0, 0, 0], // 4
            [0, 0, 0x21, 0, 0, 0, 0, 0], // still held
            RELEASE,
            [0, 0, 0x27, 0, 0, 0, 0, 0], // 0
            RELEASE,
            [0, 0, 0x27, 0, 0, 0, 0, 0], // 0 again
            [0, 0, 0x27, 0, 0, 0, 0, 0],
            RELEASE,
            [0, 0, 0x28, 0, 0, 0, 0, 0],
            RELEASE,
        ],
    );
    assert_eq!(next_scan(&mut events).await.raw, b"400");

    // Numbered keyboard reports (report id 0x01 first, 9 bytes) are read the same.
    send_all9(
        &device,
        &[
            [0x01, 0, 0, 0x1F, 0, 0, 0, 0, 0], // 2
            [0x01, 0, 0, 0, 0, 0, 0, 0, 0],
            [0x01, 0, 0, 0x28, 0, 0, 0, 0, 0],
            [0x01, 0, 0, 0, 0, 0, 0, 0, 0],
        ],
    );
    assert_eq!(next_scan(&mut events).await.raw, b"2");

    // A report of the wrong size is kept raw as a decode error.
    device.send_report(vec![0u8; 5]);
    let status = next_status(&mut events, DeviceState::DecodeError).await;
    assert_eq!(status.raw, [0u8; 5]);
    driver.abort();
}

#[tokio::test]
async fn wedge_idle_timeout_ends_a_scan_without_terminator() {
    let mut config = wedge_config();
    config.idle_timeout_ms = 100;
    let mut reports = type_digits("4006381333931");
    // An unmapped key: the scan carries on with the problem noted.
    reports.push([0, 0, 0x68, 0, 0, 0, 0, 0]);
    reports.push(RELEASE);
    let bytes: Vec<u8> = reports.concat();
    let source = VirtualHidSource::from_bytes("wedge", &bytes, 8);
    let (driver, mut events) = start_wedge(config, source);
    next_status(&mut events, DeviceState::Connected).await;
    let scan = next_scan(&mut events).await;
    assert_eq!(scan.raw, b"4006381333931");
    assert_eq!(scan.gtin, "04006381333931");
    assert!(
        scan.error.starts_with("keyboard: usage 0x68"),
        "{}",
        scan.error
    );
    driver.abort();
}

#[tokio::test]
async fn wedge_device_vanishing_keeps_typed_text() {
    let (source, device) = VirtualHidSource::new("wedge");
    let (driver, mut events) = start_wedge(wedge_config(), source);
    next_status(&mut events, DeviceState::Connected).await;
    send_all(&device, &type_digits("12345"));
    device.unplug("unplugged");
    assert_eq!(next_scan(&mut events).await.raw, b"12345");
    let e = stopped(driver).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "driver wedge-scanner: HID device wedge went away: unplugged"
    );
}

#[tokio::test]
async fn reader_thread_ends_when_the_driver_is_stopped() {
    let (source, device) = VirtualHidSource::new("scanner");
    let (driver, mut events) = start_pos(pos_config(), source);
    next_status(&mut events, DeviceState::Connected).await;
    driver.abort();
    // The thread drops the source (closing the device) within POLL: sends start failing.
    let deadline = std::time::Instant::now() + WAIT;
    while device.send_report(vec![0u8; 64]) {
        assert!(
            std::time::Instant::now() < deadline,
            "reader thread still running"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn hidapi_source_names_what_it_cannot_find() {
    let mut by_ids = HidApiSource::new(
        HidSelector::Ids {
            vendor_id: 0xFFFF,
            product_id: Some(0xFFFE),
            serial_number: None,
        },
        HID_POS_USAGE_PAGE,
        HID_POS_USAGE,
    );
    let e = by_ids.open().unwrap_err();
    assert!(e.to_string().contains("ffff:fffe"), "{e}");

    let mut missing = HidApiSource::new(
        HidSelector::Path("/dev/store-edge-no-such-hidraw".into()),
        HID_POS_USAGE_PAGE,
        HID_POS_USAGE,
    );
    let e = missing.open().unwrap_err();
    assert!(matches!(e, HidSourceError::Open { .. }), "{e:?}");
    assert!(e.to_string().contains("no-such-hidraw"), "{e}");

    // Not a hidraw node: refused, not read.
    let mut not_hid = HidApiSource::new(
        HidSelector::Path("/dev/null".into()),
        KEYBOARD_USAGE_PAGE,
        KEYBOARD_USAGE,
    );
    let e = not_hid.open().unwrap_err();
    assert!(e.to_string().contains("/dev/null"), "{e}");
    assert!(not_hid.read_report(Duration::ZERO).is_err());
}

#[tokio::test]
async fn configured_driver_without_device_fails_with_the_selector() {
    let mut config = pos_config();
    config.device = HidSelector::Ids {
        vendor_id: 0xFFFF,
        product_id: None,
        serial_number: Some("X1".into()),
    };
    let (sink, _events) = fake_journal();
    let e = crate::run(crate::DriverConfig::HidPosScanner(config), sink)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("ffff:* serial X1"), "{e}");
}

#[tokio::test]
async fn random_reports_never_stop_the_loop() {
    let mut rng = crate::testing::XorShift(0x0BAD_5CA2);
    let seeds: [Vec<u8>; 3] = [
        pos_report(b"]C1", b"0109506000134352\x1d10ABC", true),
        pos_report(b"]E0", b"5901234123457", false),
        [0x01u8, 0, 0x30, 0, 0, 0, 0, 0].to_vec(),
    ];
    for wedge in [false, true] {
        let (source, device) = VirtualHidSource::new("fuzz");
        let (driver, mut events) = if wedge {
            start_wedge(wedge_config(), source)
        } else {
            start_pos(pos_config(), source)
        };
        for _ in 0..2000 {
            let seed = &seeds[rng.below(seeds.len())];
            device.send_report(rng.mutate(seed, &[0x00, 0x02, 0x1d, b']', 0x28, 0x04]));
        }
        device.unplug("end of fuzz input");
        // The loop survives every report and stops only for the unplug.
        match stopped(driver).await {
            Err(DriverError::Hid {
                source: HidSourceError::Gone { reason, .. },
                ..
            }) => assert_eq!(reason, "end of fuzz input"),
            other => panic!("{other:?}"),
        }
        let mut count = 0;
        while let Ok(event) = events.try_recv() {
            assert!(matches!(
                event.body,
                Some(Body::Scan(_) | Body::DeviceStatus(_))
            ));
            count += 1;
        }
        assert!(count > 1, "wedge={wedge}: only {count} events");
    }
}

#[tokio::test]
async fn hid_pos_scanner_reads_a_report_fifo_written_by_another_process() {
    use std::io::Write;

    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("hidpos.fifo");
    super::file_source::tests::mkfifo(&fifo);
    let toml = format!(
        "type = \"hid_pos_scanner\"\nid = \"till-scanner\"\ndevice = {{ report_file = {:?} }}",
        fifo.display().to_string()
    );
    let config: crate::DriverConfig = toml::from_str(&toml).unwrap();
    let (sink, mut events) = fake_journal();
    let driver = tokio::spawn(crate::run(config, sink));

    let status = next_status(&mut events, DeviceState::Connected).await;
    assert_eq!(
        status.reason,
        format!("opened {} (FIFO, 64-byte reports)", fifo.display())
    );
    // The reader is open now, so opening the writing end does not wait.
    let mut writer = super::file_source::tests::fifo_writer(&fifo);
    let mut bytes = pos_report(b"]E0", b"5901234123457", false);
    // A quantity barcode, then a GS1-128 scan split over two reports.
    bytes.extend(pos_report(b"]C0", b"QTY3", false));
    bytes.extend(pos_report(b"]C1", b"0109506000134352", true));
    bytes.extend(pos_report(b"]C1", b"\x1d10LOT7", false));
    // Written in odd pieces: the source cuts reports by size, not by write.
    for piece in bytes.chunks(50) {
        writer.write_all(piece).unwrap();
    }
    let ean = next_scan(&mut events).await;
    assert_eq!(
        (ean.gtin.as_str(), ean.aim.as_str(), ean.quantity),
        ("05901234123457", "]E0", 0)
    );
    let gs1 = next_scan(&mut events).await;
    assert_eq!(gs1.gtin, "09506000134352");
    assert_eq!(
        gs1.quantity, 3,
        "the quantity barcode applies to the next item"
    );
    assert_eq!(gs1.elements.len(), 2, "{gs1:?}");

    // Closing the FIFO unplugs the scanner: the driver fails naming the file.
    drop(writer);
    let e = stopped(driver).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "driver till-scanner: HID device {} went away: the writer closed the FIFO",
            fifo.display()
        )
    );
}
