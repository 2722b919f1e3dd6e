//! The same capture through both paths: the live driver (its I/O loop fed by a pseudo-terminal,
//! a virtual HID device, a TCP till, a drop folder or HTTP posts, as the drivers' own tests do)
//! and `replay-capture` ([`Replay::events`]). The events must be equal field by field, once the
//! driver's time stamps and connection statuses (I/O, which a replay has none of) are set aside.
//!
//! One test per driver kind; the captures are the `replay_capture` fixtures.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use store_agent::replay::Replay;
use store_drivers::scanner::hid::{self, VirtualHidSource};
use store_drivers::test_pty::{open_pty, Pty};
use store_drivers::{DriverConfig, Record, Sink};
use store_proto::v1::{DeviceState, FootTraffic};
use store_proto::{Body, Event};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// The driver's id, and the replay's `--device-id`.
const ID: &str = "replay";
/// How long a test waits for events that should come at once.
const WAIT: Duration = Duration::from_secs(10);
/// How long a test waits to be sure no further event comes.
const QUIET: Duration = Duration::from_millis(400);

fn fixture(name: &str) -> Vec<u8> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let path = match name.strip_prefix("pos/") {
        Some(rest) => dir.join("../drivers/tests/fixtures/pos").join(rest),
        None => dir.join("tests/fixtures/replay").join(name),
    };
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn replay(kind: &str, framing: Option<&str>, bytes: &[u8]) -> Vec<Event> {
    Replay::new(kind, framing, None, ID, 1_000)
        .unwrap()
        .events(bytes)
}

/// A journal stand-in: every record is stored (answered with a seq when a reply is asked for)
/// and handed to the test.
fn journal() -> (Sink, mpsc::UnboundedReceiver<Event>) {
    let (tx, mut rx) = mpsc::channel::<Record>(64);
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut seq = 0;
        while let Some(r) = rx.recv().await {
            seq += 1;
            if let Some(reply) = r.reply {
                let _ = reply.send(Ok(seq));
            }
            let _ = events_tx.send(r.event);
        }
    });
    (tx, events_rx)
}

/// Connection statuses come from the I/O, not from the bytes: a replay has none.
fn is_connection(event: &Event) -> bool {
    matches!(&event.body, Some(Body::DeviceStatus(s))
        if s.state == DeviceState::Connected as i32 || s.state == DeviceState::Disconnected as i32)
}

/// The driver's event without what only a live observation has (time stamps, seq).
fn unstamped(mut event: Event) -> Event {
    event.seq = 0;
    event.wall_time_ms = 0;
    event.monotonic_ns = 0;
    event.clock_synced = false;
    event.boot_id.clear();
    event
}

/// The driver's next `n` data events, then a check that no further one comes.
async fn driver_events(rx: &mut mpsc::UnboundedReceiver<Event>, n: usize) -> Vec<Event> {
    let mut out = Vec::new();
    while out.len() < n {
        let event = tokio::time::timeout(WAIT, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} driver events: {out:?}", out.len()))
            .expect("journal stand-in gone");
        if !is_connection(&event) {
            out.push(unstamped(event));
        }
    }
    tokio::time::sleep(QUIET).await;
    while let Ok(event) = rx.try_recv() {
        assert!(
            is_connection(&event),
            "an event more than replayed: {event:?}"
        );
    }
    out
}

/// Compares field by field, event by event, so a failure names the first difference.
fn assert_same(driver: &[Event], replayed: &[Event]) {
    assert!(!replayed.is_empty(), "an empty capture proves nothing");
    for (i, (d, r)) in driver.iter().zip(replayed).enumerate() {
        assert_eq!(d, r, "event {i} differs");
    }
    assert_eq!(driver.len(), replayed.len());
}

fn config(toml_text: &str) -> DriverConfig {
    toml::from_str(toml_text).unwrap_or_else(|e| panic!("{toml_text}\n{e}"))
}

async fn serial_scanner(file: &str, framing: &str) {
    let bytes = fixture(file);
    let replayed = replay("serial_scanner", Some(framing), &bytes);
    let mut pty = open_pty();
    let (sink, mut rx) = journal();
    let c = config(&format!(
        "type = \"serial_scanner\"\nid = \"{ID}\"\npath = \"{}\"\nframing = \"{framing}\"\n\
         idle_timeout_ms = 100",
        pty.path
    ));
    let driver = tokio::spawn(store_drivers::run(c, sink));
    pty.master.write_all(&bytes).unwrap();
    let driven = driver_events(&mut rx, replayed.len()).await;
    driver.abort();
    assert_same(&driven, &replayed);
}

#[tokio::test]
async fn serial_scanner_replays_as_the_driver_records() {
    serial_scanner("serial_scanner_crlf.bin", "cr_lf").await;
    serial_scanner("serial_scanner_stx_etx.bin", "stx_etx").await;
    // Staff command barcodes: the driver's default scan modes apply in both paths.
    let bytes = b"MODE-COUNT\r\n4006381333931\r\nQTY3\r\n]E05901234123457\r\n";
    let replayed = replay("serial_scanner", None, bytes);
    assert_eq!(replayed.len(), 2, "{replayed:?}");
    let mut pty = open_pty();
    let (sink, mut rx) = journal();
    let c = config(&format!(
        "type = \"serial_scanner\"\nid = \"{ID}\"\npath = \"{}\"",
        pty.path
    ));
    let driver = tokio::spawn(store_drivers::run(c, sink));
    pty.master.write_all(bytes).unwrap();
    let driven = driver_events(&mut rx, replayed.len()).await;
    driver.abort();
    assert_same(&driven, &replayed);
}

/// A wedge capture with a key the US layout cannot type (usage 0x64 with AltGr): the driver
/// records it as `keyboard: …` in front of the scan's error, and so must the replay.
fn wedge_with_a_bad_key() -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut report = |mods: u8, key: u8| bytes.extend_from_slice(&[mods, 0, key, 0, 0, 0, 0, 0]);
    for key in [0x21, 0x40, 0x68, 0x1E] {
        report(0, key);
        report(0, 0);
    }
    report(0x40, 0x34);
    report(0, 0);
    report(0, 0x28);
    report(0, 0);
    bytes
}

async fn hid(kind: &str, bytes: &[u8]) {
    let replayed = replay(kind, None, bytes);
    let (sink, mut rx) = journal();
    let device = "{ path = \"/dev/hidraw-test\" }";
    let driver = if kind == "hid_pos" {
        let DriverConfig::HidPosScanner(c) = config(&format!(
            "type = \"hid_pos_scanner\"\nid = \"{ID}\"\ndevice = {device}\nidle_timeout_ms = 100"
        )) else {
            unreachable!()
        };
        let source = VirtualHidSource::from_bytes("v", bytes, 64);
        tokio::spawn(hid::run_hid_pos_with(c, source, sink))
    } else {
        let DriverConfig::WedgeScanner(c) = config(&format!(
            "type = \"wedge_scanner\"\nid = \"{ID}\"\ndevice = {device}\nidle_timeout_ms = 100"
        )) else {
            unreachable!()
        };
        let source = VirtualHidSource::from_bytes("v", bytes, 8);
        tokio::spawn(hid::run_wedge_with(c, source, sink))
    };
    let driven = driver_events(&mut rx, replayed.len()).await;
    driver.abort();
    assert_same(&driven, &replayed);
}

#[tokio::test]
async fn hid_pos_replays_as_the_driver_records() {
    hid("hid_pos", &fixture("hid_pos.bin")).await;
}

#[tokio::test]
async fn wedge_replays_as_the_driver_records() {
    hid("wedge", &fixture("wedge.bin")).await;
    let bytes = wedge_with_a_bad_key();
    hid("wedge", &bytes).await;
    let replayed = replay("wedge", None, &bytes);
    let Some(Body::Scan(scan)) = &replayed[0].body else {
        panic!("{replayed:?}")
    };
    assert!(scan.error.starts_with("keyboard: "), "{}", scan.error);
}

#[tokio::test]
async fn escpos_replays_as_the_tap_records() {
    let bytes = fixture("pos/escpos/sale_cut.bin");
    let replayed = replay("escpos", None, &bytes);
    // The printer: takes everything, answers nothing.
    let printer = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let printer_addr = printer.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = printer.accept().await {
            tokio::spawn(async move {
                let mut sink = Vec::new();
                let _ = s.read_to_end(&mut sink).await;
            });
        }
    });
    let listen = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (sink, mut rx) = journal();
    let c = config(&format!(
        "type = \"escpos_tap\"\nid = \"{ID}\"\nlisten = \"{listen}\"\nprinter = \"{printer_addr}\""
    ));
    let driver = tokio::spawn(store_drivers::run(c, sink));
    let mut till = loop {
        match TcpStream::connect(listen).await {
            Ok(s) => break s,
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    till.write_all(&bytes).await.unwrap();
    till.shutdown().await.unwrap();
    let driven = driver_events(&mut rx, replayed.len()).await;
    driver.abort();
    assert_same(&driven, &replayed);
}

#[tokio::test]
async fn poslog_replays_as_the_folder_driver_records() {
    let bytes = fixture("pos/poslog/sale.xml");
    let replayed = replay("poslog", None, &bytes);
    let dir = tempfile::tempdir().unwrap();
    let (sink, mut rx) = journal();
    let c = config(&format!(
        "type = \"poslog_folder\"\nid = \"{ID}\"\npath = \"{}\"\npoll_interval_ms = 20\n\
         settle_ms = 20",
        dir.path().display()
    ));
    std::fs::write(dir.path().join("sale.xml"), &bytes).unwrap();
    let driver = tokio::spawn(store_drivers::run(c, sink));
    let driven = driver_events(&mut rx, replayed.len()).await;
    driver.abort();
    assert_same(&driven, &replayed);
}

/// The reception time of a serial counter's counts is the wall clock in the driver and
/// `--start-ms` in a replay: the one field that cannot agree.
fn without_reception_time(mut events: Vec<Event>) -> Vec<Event> {
    for e in &mut events {
        if let Some(Body::FootTraffic(FootTraffic {
            interval_start_ms,
            interval_end_ms,
            ..
        })) = &mut e.body
        {
            *interval_start_ms = 0;
            *interval_end_ms = 0;
        }
    }
    events
}

#[tokio::test]
async fn counter_serial_replays_as_the_driver_records() {
    let bytes = fixture("counter_serial.txt");
    let replayed = without_reception_time(replay("counter_serial", None, &bytes));
    let pty = open_pty();
    let Pty {
        mut master,
        slave: _slave,
        path,
    } = pty;
    let (sink, mut rx) = journal();
    let c = config(&format!(
        "type = \"counter_serial\"\nid = \"{ID}\"\npath = \"{path}\""
    ));
    let driver = tokio::spawn(store_drivers::run(c, sink));
    // The driver reads the port once it is open (its CONNECTED status says so).
    let opened = tokio::time::timeout(WAIT, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(is_connection(&opened), "{opened:?}");
    master.write_all(&bytes).unwrap();
    // The end of the capture: the counter goes away.
    tokio::time::sleep(QUIET).await;
    drop(master);
    drop(_slave);
    let driven = without_reception_time(driver_events(&mut rx, replayed.len()).await);
    driver.abort();
    assert_same(&driven, &replayed);
}

/// Posts one payload to the `counter_push` driver; returns the HTTP status line.
async fn post(addr: std::net::SocketAddr, body: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /counter HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    answer.lines().next().unwrap_or_default().to_owned()
}

async fn counter_push(vendor: &str, bytes: Vec<u8>, one_post_per_line: bool) {
    let replayed = replay(vendor, None, &bytes);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (sink, mut rx) = journal();
    let DriverConfig::CounterPush(c) = config(&format!(
        "type = \"counter_push\"\nid = \"{ID}\"\nlisten = \"{addr}\"\nvendor = \"{vendor}\""
    )) else {
        unreachable!()
    };
    let driver = tokio::spawn(store_drivers::counter::push::serve(listener, c, sink));
    let payloads: Vec<&[u8]> = if one_post_per_line {
        bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .collect()
    } else {
        vec![&bytes]
    };
    for payload in payloads {
        let status = post(addr, payload).await;
        assert!(
            status.contains(" 200 ") || status.contains(" 400 "),
            "{status}"
        );
    }
    let driven = driver_events(&mut rx, replayed.len()).await;
    driver.abort();
    assert_same(&driven, &replayed);
}

#[tokio::test]
async fn counter_push_vendors_replay_as_the_driver_records() {
    counter_push("axis", fixture("axis.jsonl"), true).await;
    let axis3d = br#"{"data":[{"start":"2020-06-23 00:00:00","end":"2020-06-23 01:00:00","in":0,"out":0},{"start":"2020-06-23 01:00:00","end":"2020-06-23 02:00:00","in":7,"out":5}]}"#;
    counter_push("axis3d", axis3d.to_vec(), false).await;
    counter_push("xovis", fixture("xovis.json"), false).await;
    counter_push("irisys", fixture("irisys.json"), false).await;
    counter_push("hikvision", fixture("hikvision.json"), false).await;
    counter_push("vivotek", fixture("vivotek.json"), false).await;
    counter_push("hikvision", fixture("not_json.txt"), false).await;
}
