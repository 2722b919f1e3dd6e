//! The taps with real parts: TCP sockets on 127.0.0.1 (a fake printer that records what it
//! gets), and pseudo-terminals for the serial tap.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use store_proto::v1::{DeviceState, DeviceStatus, PosTransaction, TransactionKind};
use store_proto::{Body, Event};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::*;
use crate::pos::escpos::EscPosOptions;
use crate::scanner::serial::{DataBits, Parity, StopBits};
use crate::test_pty::open_pty;
use crate::{DriverError, Record};

/// How long a test waits for something that should happen at once.
const WAIT: Duration = Duration::from_secs(10);

const SALE: &[u8] = b"\x1b@\x1b!\x30SHOP\x1b!\x00\nReceipt: 1001\nRegister: 3\nCashier: 42\n\
Milk 1L          2 x 1.99    3.98\nBread                        2.49\n\
TOTAL EUR                    6.47\n\x1dk\x02400638133393\x00\n\n\x1dV\x00";
const RETURN: &[u8] = b"\x1b@Receipt: 1002\nRegister: 3\nRETURN\n\
Milk 1L                     -1.99\nTOTAL EUR                   -1.99\n\x1b\x70\x00\x19\xfa\x1dVA\x03";
const VOID: &[u8] = b"\x1b@Receipt: 1003\nVOID\nBread                        2.49\n\
TOTAL EUR                    2.49\n\x1bi";
const MISFIT: &[u8] = b"\x1b@Thank you for shopping\nSee you soon\n\x1dV\x01";
/// Printer status bytes (answers to DLE EOT), including ones a text filter would mangle.
const STATUS: &[u8] = b"\x12\x00\x16\xff\x0d\x0a";

fn template() -> ReceiptTemplate {
    ReceiptTemplate::load("generic").unwrap()
}

/// A journal stand-in that hands each event to the test and checks no reply is asked for.
fn fake_journal(capacity: usize) -> (Sink, mpsc::UnboundedReceiver<Event>) {
    let (tx, mut rx) = mpsc::channel::<Record>(capacity);
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(r) = rx.recv().await {
            assert!(r.reply.is_none(), "a tap event asked for a reply");
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

async fn next_tx(events: &mut mpsc::UnboundedReceiver<Event>) -> PosTransaction {
    let e = next(events).await;
    assert_eq!(e.device_id, "tap-1");
    assert!(e.wall_time_ms > 0 && e.seq == 0);
    match e.body {
        Some(Body::PosTransaction(t)) => t,
        other => panic!("expected a transaction, got {other:?}"),
    }
}

async fn next_status(events: &mut mpsc::UnboundedReceiver<Event>) -> DeviceStatus {
    match next(events).await.body {
        Some(Body::DeviceStatus(s)) => s,
        other => panic!("expected a status, got {other:?}"),
    }
}

fn kind(t: &PosTransaction) -> TransactionKind {
    TransactionKind::try_from(t.kind).unwrap()
}

/// Checks the three receipts and the misfit arrive as expected, in order.
async fn expect_receipts(events: &mut mpsc::UnboundedReceiver<Event>) {
    let sale = next_tx(events).await;
    assert_eq!(sale.error, "", "{sale:?}");
    assert_eq!(kind(&sale), TransactionKind::Sale);
    assert_eq!(
        (
            sale.receipt_id.as_str(),
            sale.register_id.as_str(),
            sale.operator_id.as_str()
        ),
        ("1001", "3", "42")
    );
    assert_eq!((sale.total_minor, sale.currency.as_str()), (647, "EUR"));
    let lines: Vec<(&str, f64, i64)> = sale
        .items
        .iter()
        .map(|i| (i.description.as_str(), i.quantity, i.extended_minor))
        .collect();
    assert_eq!(lines, [("Milk 1L", 2.0, 398), ("Bread", 1.0, 249)]);

    let ret = next_tx(events).await;
    assert_eq!(ret.error, "", "{ret:?}");
    assert_eq!(kind(&ret), TransactionKind::Return);
    assert_eq!((ret.receipt_id.as_str(), ret.total_minor), ("1002", 199));
    assert_eq!(ret.items[0].extended_minor, 199);

    let void = next_tx(events).await;
    assert_eq!(kind(&void), TransactionKind::Void);
    assert_eq!(void.receipt_id, "1003");

    let misfit = next_tx(events).await;
    assert!(misfit.error.contains("total"), "{misfit:?}");
    assert_eq!(misfit.raw_text, "Thank you for shopping\nSee you soon\n");
    assert!(misfit.items.is_empty());
}

/// A network printer that records what it receives, per connection, and answers each
/// connection with `reply`.
struct FakePrinter {
    addr: SocketAddr,
    /// Chunks as received; an empty chunk marks the end of a connection.
    chunks: mpsc::UnboundedReceiver<Vec<u8>>,
    received: Vec<u8>,
}

impl FakePrinter {
    async fn start(reply: &'static [u8]) -> FakePrinter {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        FakePrinter::serve(listener, reply)
    }

    fn serve(listener: TcpListener, reply: &'static [u8]) -> FakePrinter {
        let addr = listener.local_addr().unwrap();
        let (tx, chunks) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                let tx = tx.clone();
                tokio::spawn(async move {
                    s.write_all(reply).await.unwrap();
                    let mut buf = [0u8; 1024];
                    loop {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                let _ = tx.send(buf[..n].to_vec());
                            }
                        }
                    }
                    let _ = tx.send(Vec::new());
                });
            }
        });
        FakePrinter {
            addr,
            chunks,
            received: Vec::new(),
        }
    }

    /// Waits until `len` bytes in all have arrived.
    async fn wait_for(&mut self, len: usize) {
        while self.received.len() < len {
            let chunk = tokio::time::timeout(WAIT, self.chunks.recv())
                .await
                .expect("printer got too little")
                .unwrap();
            self.received.extend_from_slice(&chunk);
        }
    }

    /// Waits for the end of the current connection.
    async fn wait_closed(&mut self) {
        loop {
            let chunk = tokio::time::timeout(WAIT, self.chunks.recv())
                .await
                .expect("printer connection not closed")
                .unwrap();
            if chunk.is_empty() {
                return;
            }
            self.received.extend_from_slice(&chunk);
        }
    }
}

fn tcp_config(listen: SocketAddr, printer: SocketAddr, queue: usize) -> EscPosTapConfig {
    EscPosTapConfig {
        id: "tap-1".into(),
        listen,
        printer: printer.to_string(),
        connect_timeout_ms: 2000,
        template: template(),
        escpos: EscPosOptions::default(),
        idle_timeout_ms: 200,
        capture_queue: queue,
    }
}

async fn free_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

/// Starts the tap and returns its address once it accepts connections.
async fn start_tap(printer: SocketAddr, sink: Sink, queue: usize) -> SocketAddr {
    let listen = free_addr().await;
    tokio::spawn(run_tcp(tcp_config(listen, printer, queue), sink));
    listen
}

async fn connect(addr: SocketAddr) -> TcpStream {
    tokio::time::timeout(WAIT, async {
        loop {
            match TcpStream::connect(addr).await {
                Ok(s) => return s,
                Err(_) => tokio::task::yield_now().await,
            }
        }
    })
    .await
    .expect("tap not listening")
}

#[tokio::test]
async fn tcp_passes_bytes_through_and_reads_receipts() {
    let mut printer = FakePrinter::start(STATUS).await;
    let (sink, mut events) = fake_journal(16);
    let tap = start_tap(printer.addr, sink, 64).await;

    let mut till = connect(tap).await;
    let all = [SALE, RETURN, VOID, MISFIT].concat();
    // Awkward splits: in the middle of commands and lines.
    for chunk in [&all[..5], &all[5..77], &all[77..200], &all[200..]] {
        till.write_all(chunk).await.unwrap();
    }
    // The printer's status bytes reach the till unchanged.
    let mut status = vec![0u8; STATUS.len()];
    tokio::time::timeout(WAIT, till.read_exact(&mut status))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, STATUS);
    expect_receipts(&mut events).await;

    // A receipt without a cut ends when the till closes the connection.
    let uncut = b"Receipt: 1004\nBread   2.49\nTOTAL   2.49\n";
    till.write_all(uncut).await.unwrap();
    till.shutdown().await.unwrap();
    printer.wait_closed().await;
    assert_eq!(printer.received, [&all[..], uncut].concat());
    let last = next_tx(&mut events).await;
    assert_eq!((last.receipt_id.as_str(), last.total_minor), ("1004", 249));
    // The tap closes the till's side once the printer is done.
    let mut rest = Vec::new();
    tokio::time::timeout(WAIT, till.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert!(rest.is_empty());
}

#[tokio::test]
async fn tcp_idle_timeout_ends_an_uncut_receipt() {
    let mut printer = FakePrinter::start(b"").await;
    let (sink, mut events) = fake_journal(16);
    let tap = start_tap(printer.addr, sink, 64).await;
    let mut till = connect(tap).await;
    let uncut = b"\x1b@Receipt: 1005\nBread   2.49\nTOTAL   2.49\n";
    till.write_all(uncut).await.unwrap();
    printer.wait_for(uncut.len()).await;
    // The connection stays open: only the idle timeout can end this receipt.
    let tx = next_tx(&mut events).await;
    assert_eq!((tx.receipt_id.as_str(), tx.total_minor), ("1005", 249));
}

#[tokio::test]
async fn tcp_printing_goes_on_when_the_sink_is_closed() {
    let mut printer = FakePrinter::start(STATUS).await;
    let (sink, events) = mpsc::channel::<Record>(1);
    drop(events);
    let tap = start_tap(printer.addr, sink, 1).await;
    let mut till = connect(tap).await;
    let all = [SALE, RETURN, VOID, MISFIT, SALE].concat();
    for chunk in all.chunks(23) {
        till.write_all(chunk).await.unwrap();
    }
    let mut status = vec![0u8; STATUS.len()];
    tokio::time::timeout(WAIT, till.read_exact(&mut status))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, STATUS);
    till.shutdown().await.unwrap();
    printer.wait_closed().await;
    assert_eq!(printer.received, all);
}

#[tokio::test]
async fn tcp_printing_goes_on_when_the_journal_is_full_and_the_gap_is_reported() {
    let mut printer = FakePrinter::start(b"").await;
    // A journal with room for one record that nobody reads yet.
    let (sink, mut journal) = mpsc::channel::<Record>(1);
    let tap = start_tap(printer.addr, sink, 1).await;
    let mut till = connect(tap).await;
    let mut sent = Vec::new();
    // SALE fills the journal; RETURN's event blocks the reader; the rest piles up and spills.
    for receipt in [SALE, RETURN, VOID, MISFIT, VOID, MISFIT] {
        till.write_all(receipt).await.unwrap();
        sent.extend_from_slice(receipt);
        // Printed before the next write, whatever the reader does.
        printer.wait_for(sent.len()).await;
    }
    assert_eq!(printer.received, sent);

    // The journal catches up.
    let (events_tx, mut events) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(r) = journal.recv().await {
            let _ = events_tx.send(r.event);
        }
    });
    let first = next_tx(&mut events).await;
    assert_eq!(first.receipt_id, "1001");
    // Keep printing until the reader reports the gap and reads a whole receipt again.
    let mut gap = None;
    let mut clean_after_gap = false;
    for _ in 0..50 {
        till.write_all(SALE).await.unwrap();
        sent.extend_from_slice(SALE);
        printer.wait_for(sent.len()).await;
        while let Ok(Some(e)) =
            tokio::time::timeout(Duration::from_millis(100), events.recv()).await
        {
            match e.body {
                Some(Body::DeviceStatus(s)) => gap = Some(s),
                Some(Body::PosTransaction(t)) if gap.is_some() && t.error.is_empty() => {
                    assert_eq!(t.receipt_id, "1001");
                    clean_after_gap = true;
                }
                _ => {}
            }
        }
        if clean_after_gap {
            break;
        }
    }
    let gap = gap.expect("the gap was not reported");
    assert_eq!(gap.state, DeviceState::DecodeError as i32);
    let dropped: usize = gap.reason.split(' ').next().unwrap().parse().unwrap();
    let spilled = VOID.len() + MISFIT.len() + VOID.len() + MISFIT.len();
    assert!(
        dropped > 0 && dropped <= spilled + RETURN.len(),
        "{}",
        gap.reason
    );
    assert!(clean_after_gap, "no whole receipt read after the gap");
    till.shutdown().await.unwrap();
    printer.wait_closed().await;
    assert_eq!(printer.received, sent);
}

#[tokio::test]
async fn tcp_unreachable_printer_closes_the_till_and_is_reported_once() {
    // A port with nobody listening.
    let printer_addr = free_addr().await;
    let (sink, mut events) = fake_journal(16);
    let tap = start_tap(printer_addr, sink, 16).await;
    for _ in 0..2 {
        let mut till = connect(tap).await;
        let _ = till.write_all(SALE).await;
        let mut buf = Vec::new();
        // Closed by the tap: end of stream, or a reset when the write raced the close.
        let read = tokio::time::timeout(WAIT, till.read_to_end(&mut buf))
            .await
            .expect("till connection left open");
        assert!(read.is_err() || buf.is_empty(), "{read:?} {buf:?}");
    }
    let down = next_status(&mut events).await;
    assert_eq!(down.state, DeviceState::Disconnected as i32);
    assert!(
        down.reason.contains(&printer_addr.to_string()),
        "{}",
        down.reason
    );

    // The printer comes back on the same address.
    let listener = TcpListener::bind(printer_addr).await.unwrap();
    let mut printer = FakePrinter::serve(listener, b"");
    let mut till = connect(tap).await;
    till.write_all(SALE).await.unwrap();
    printer.wait_for(SALE.len()).await;
    assert_eq!(printer.received, SALE);
    // The second refusal was not reported again: the next status is the recovery.
    let up = next_status(&mut events).await;
    assert_eq!(up.state, DeviceState::Connected as i32);
    assert_eq!(next_tx(&mut events).await.receipt_id, "1001");
}

fn serial_config(till: &str, printer: &str) -> EscPosSerialTapConfig {
    EscPosSerialTapConfig {
        id: "tap-1".into(),
        till_path: till.into(),
        printer_path: printer.into(),
        baud: 9600,
        data_bits: DataBits::Eight,
        parity: Parity::None,
        stop_bits: StopBits::One,
        flow_control: FlowControl::None,
        template: template(),
        escpos: EscPosOptions::default(),
        idle_timeout_ms: 200,
        capture_queue: 64,
    }
}

/// Reads a pty master on a thread (its reads block), handing chunks to the test.
fn read_master(mut master: std::fs::File) -> mpsc::UnboundedReceiver<Vec<u8>> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1024];
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    rx
}

/// Reads `len` bytes from a pty master on a thread that then lets go of it, so closing the
/// test's own handle afterwards really closes the master (a hang-up).
async fn read_once(mut master: std::fs::File, len: usize) -> Vec<u8> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut got = vec![0u8; len];
        let _ = tx.send(master.read_exact(&mut got).map(|()| got));
    });
    tokio::time::timeout(WAIT, rx)
        .await
        .expect("too few bytes in time")
        .unwrap()
        .expect("port closed")
}

async fn read_exactly(rx: &mut mpsc::UnboundedReceiver<Vec<u8>>, len: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < len {
        let chunk = tokio::time::timeout(WAIT, rx.recv())
            .await
            .expect("too few bytes in time")
            .expect("port closed");
        got.extend_from_slice(&chunk);
    }
    got
}

#[tokio::test]
async fn serial_passes_bytes_through_and_reads_receipts() {
    let mut till = open_pty();
    let mut printer = open_pty();
    let (sink, mut events) = fake_journal(16);
    let driver = tokio::spawn(run_serial(serial_config(&till.path, &printer.path), sink));
    let mut at_printer = read_master(printer.master.try_clone().unwrap());
    let mut at_till = read_master(till.master.try_clone().unwrap());
    let up = next_status(&mut events).await;
    assert_eq!(up.state, DeviceState::Connected as i32);
    assert_eq!(
        up.reason,
        format!(
            "opened till port {} and printer port {} at 9600 baud",
            till.path, printer.path
        )
    );

    let all = [SALE, RETURN, VOID, MISFIT].concat();
    for chunk in all.chunks(50) {
        till.master.write_all(chunk).unwrap();
    }
    assert_eq!(read_exactly(&mut at_printer, all.len()).await, all);
    expect_receipts(&mut events).await;

    printer.master.write_all(STATUS).unwrap();
    assert_eq!(read_exactly(&mut at_till, STATUS.len()).await, STATUS);
    assert!(!driver.is_finished());
    driver.abort();
}

#[tokio::test]
async fn serial_printing_goes_on_when_the_sink_is_closed() {
    let mut till = open_pty();
    let printer = open_pty();
    let (sink, events) = mpsc::channel::<Record>(1);
    drop(events);
    let driver = tokio::spawn(run_serial(serial_config(&till.path, &printer.path), sink));
    let mut at_printer = read_master(printer.master.try_clone().unwrap());
    let all = [SALE, RETURN, VOID, MISFIT, SALE, SALE].concat();
    for chunk in all.chunks(31) {
        till.master.write_all(chunk).unwrap();
    }
    assert_eq!(read_exactly(&mut at_printer, all.len()).await, all);
    assert!(!driver.is_finished());
    driver.abort();
}

#[tokio::test]
async fn serial_missing_port_stops_the_driver_naming_it_and_records_nothing() {
    // The supervisor records the error as a DISCONNECTED status on each failed start; the tap
    // adds nothing of its own, so a port that stays missing costs one status per retry.
    let till = open_pty();
    let printer = open_pty();
    for (till_path, printer_path, missing) in [
        (
            till.path.as_str(),
            "/dev/store-edge-no-such-printer",
            "no-such-printer",
        ),
        (
            "/dev/store-edge-no-such-till",
            printer.path.as_str(),
            "no-such-till",
        ),
    ] {
        let (sink, mut events) = fake_journal(4);
        let config = serial_config(till_path, printer_path);
        let result = tokio::time::timeout(WAIT, run_serial(config, sink))
            .await
            .unwrap();
        match result {
            Err(e @ DriverError::Io { .. }) => {
                let e = e.to_string();
                assert!(e.contains("tap-1") && e.contains(missing), "{e}");
            }
            other => panic!("expected an I/O error, got {other:?}"),
        }
        // The sink was dropped with the driver: everything it recorded is in.
        let after = tokio::time::timeout(WAIT, events.recv()).await.unwrap();
        assert!(
            after.is_none(),
            "a status for a port never opened: {after:?}"
        );
    }
}

/// A stable name for a port that can vanish and come back, like `/dev/serial/by-id/…`: a
/// symlink to the current pty, removed on unplug and recreated (to a new pty) on replug.
struct StablePath {
    _dir: tempfile::TempDir,
    path: String,
}

impl StablePath {
    fn new(name: &str) -> StablePath {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name).to_str().unwrap().to_owned();
        StablePath { _dir: dir, path }
    }

    /// Plugs a new device in: a fresh pty behind the stable name.
    fn plug(&self) -> crate::test_pty::Pty {
        let pty = open_pty();
        std::os::unix::fs::symlink(&pty.path, &self.path).unwrap();
        pty
    }

    /// Unplugs the device: its pty hangs up (closing the master does that) and the name goes.
    fn unplug(&self, pty: crate::test_pty::Pty) {
        drop(pty);
        std::fs::remove_file(&self.path).unwrap();
    }
}

type Driver = tokio::task::JoinHandle<Result<(), DriverError>>;

/// Starts the tap and waits for its CONNECTED status, so both ports are open.
async fn start_serial(
    till: &StablePath,
    printer: &StablePath,
) -> (Driver, mpsc::UnboundedReceiver<Event>) {
    let (sink, mut events) = fake_journal(16);
    let driver = tokio::spawn(run_serial(serial_config(&till.path, &printer.path), sink));
    let up = next_status(&mut events).await;
    assert_eq!(up.state, DeviceState::Connected as i32, "{up:?}");
    assert!(
        up.reason.contains(&till.path) && up.reason.contains(&printer.path),
        "{}",
        up.reason
    );
    (driver, events)
}

/// Waits for the driver to stop and returns its error's text.
async fn stopped(driver: Driver) -> String {
    let result = tokio::time::timeout(WAIT, driver)
        .await
        .expect("driver did not stop after the unplug")
        .unwrap();
    match result {
        Err(e @ DriverError::Io { .. }) => e.to_string(),
        other => panic!("expected an I/O error for the supervisor, got {other:?}"),
    }
}

/// Starts the tap while a port is missing: it fails at once, naming the port.
async fn fails_while_unplugged(till: &StablePath, printer: &StablePath, missing: &str) {
    let (sink, _events) = fake_journal(4);
    let config = serial_config(&till.path, &printer.path);
    let e = tokio::time::timeout(WAIT, run_serial(config, sink))
        .await
        .expect("a start without the port hangs")
        .unwrap_err()
        .to_string();
    assert!(e.contains(&format!("cannot open {missing}")), "{e}");
}

/// An uncut receipt: only the end of the print stream can close it.
const UNCUT: &[u8] = b"\x1b@Receipt: 1004\nBread   2.49\nTOTAL   2.49\n";

#[tokio::test]
async fn serial_till_unplug_and_replug_recovers_after_a_restart() {
    let till_name = StablePath::new("till");
    let printer_name = StablePath::new("printer");
    let mut till = till_name.plug();
    let mut printer = printer_name.plug();
    let mut at_printer = read_master(printer.master.try_clone().unwrap());
    let (driver, mut events) = start_serial(&till_name, &printer_name).await;

    let before = [SALE, UNCUT].concat();
    till.master.write_all(&before).unwrap();
    assert_eq!(read_exactly(&mut at_printer, before.len()).await, before);
    assert_eq!(next_tx(&mut events).await.receipt_id, "1001");

    // The till's cable is pulled in the middle of a receipt.
    till_name.unplug(till);
    let e = stopped(driver).await;
    assert!(e.contains("tap-1") && e.contains(&till_name.path), "{e}");
    // What was printed before the unplug is still read: the uncut receipt ends with the line.
    let cut_short = next_tx(&mut events).await;
    assert_eq!(
        (cut_short.receipt_id.as_str(), cut_short.total_minor),
        ("1004", 249)
    );
    assert!(
        tokio::time::timeout(WAIT, events.recv())
            .await
            .expect("the stopped driver's capture did not finish")
            .is_none(),
        "more events than the two receipts"
    );

    // The supervisor's restarts fail while the till is away...
    fails_while_unplugged(&till_name, &printer_name, &till_name.path).await;

    // ...and the first one after the replug prints and reads receipts again, both ways.
    let mut till = till_name.plug();
    let mut at_till = read_master(till.master.try_clone().unwrap());
    let (driver, mut events) = start_serial(&till_name, &printer_name).await;
    let after = [RETURN, VOID, MISFIT].concat();
    for chunk in after.chunks(40) {
        till.master.write_all(chunk).unwrap();
    }
    assert_eq!(read_exactly(&mut at_printer, after.len()).await, after);
    printer.master.write_all(STATUS).unwrap();
    assert_eq!(read_exactly(&mut at_till, STATUS.len()).await, STATUS);
    let ret = next_tx(&mut events).await;
    assert_eq!(
        (kind(&ret), ret.receipt_id.as_str()),
        (TransactionKind::Return, "1002")
    );
    let void = next_tx(&mut events).await;
    assert_eq!(
        (kind(&void), void.receipt_id.as_str()),
        (TransactionKind::Void, "1003")
    );
    assert!(!next_tx(&mut events).await.error.is_empty());
    assert!(!driver.is_finished());
    driver.abort();
}

#[tokio::test]
async fn serial_printer_unplug_and_replug_recovers_after_a_restart() {
    let till_name = StablePath::new("till");
    let printer_name = StablePath::new("printer");
    let mut till = till_name.plug();
    let printer = printer_name.plug();
    let (driver, mut events) = start_serial(&till_name, &printer_name).await;

    till.master.write_all(SALE).unwrap();
    let printed = read_once(printer.master.try_clone().unwrap(), SALE.len()).await;
    assert_eq!(printed, SALE);
    assert_eq!(next_tx(&mut events).await.receipt_id, "1001");

    // The printer's USB adapter is pulled.
    printer_name.unplug(printer);
    let e = stopped(driver).await;
    assert!(e.contains("tap-1") && e.contains(&printer_name.path), "{e}");
    assert!(
        tokio::time::timeout(WAIT, events.recv())
            .await
            .expect("the stopped driver's capture did not finish")
            .is_none(),
        "an event after the unplug with nothing printed"
    );
    fails_while_unplugged(&till_name, &printer_name, &printer_name.path).await;

    // Replugged: the same till prints on through the restarted tap.
    let mut printer = printer_name.plug();
    let mut at_printer = read_master(printer.master.try_clone().unwrap());
    let mut at_till = read_master(till.master.try_clone().unwrap());
    let (driver, mut events) = start_serial(&till_name, &printer_name).await;
    let after = [RETURN, VOID].concat();
    till.master.write_all(&after).unwrap();
    assert_eq!(read_exactly(&mut at_printer, after.len()).await, after);
    printer.master.write_all(STATUS).unwrap();
    assert_eq!(read_exactly(&mut at_till, STATUS.len()).await, STATUS);
    assert_eq!(next_tx(&mut events).await.receipt_id, "1002");
    assert_eq!(next_tx(&mut events).await.receipt_id, "1003");
    assert!(!driver.is_finished());
    driver.abort();
}
