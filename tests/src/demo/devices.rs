//! The demo's virtual devices: each speaks to the agent the way the real device does, so the
//! agent's own drivers read them.
//!
//! - [`SerialScanner`]: a pseudo-terminal; the agent's `serial_scanner` opens its slave side,
//!   the demo writes scans into the master as a scanner does (data, CR LF).
//! - [`HidPosScanner`]: a FIFO of 64-byte HID POS input reports, read by the agent's
//!   `hid_pos_scanner` through its report-file source.
//! - [`Till`] and [`Printer`]: the till prints ESC/POS receipts to the agent's `escpos_tap`,
//!   which passes every byte on to the printer (a TCP sink here) and reads the receipts.
//! - [`DoorCounter`]: a Xovis sensor posting live-data packages to the agent's `counter_push`.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::http;
use crate::pty::Pty;

/// A serial barcode scanner on a pseudo-terminal.
#[derive(Debug)]
pub struct SerialScanner {
    pty: Pty,
}

impl SerialScanner {
    /// Opens a pty pair in raw mode (no echo, no CR/LF translation).
    pub fn open() -> Result<Self, String> {
        Ok(SerialScanner { pty: Pty::open()? })
    }

    /// The path the agent opens (`/dev/pts/N`).
    pub fn path(&self) -> &str {
        self.pty.path()
    }

    /// One scan: the data, then CR LF, as a scanner set to the usual suffix sends it.
    pub fn scan(&mut self, data: &str) -> Result<(), String> {
        self.pty
            .master
            .write_all(format!("{data}\r\n").as_bytes())
            .map_err(|e| format!("serial scanner {}: {e}", self.pty.path()))
    }
}

/// Size of a HID POS input report.
pub const HID_REPORT_LEN: usize = 64;
/// Data bytes one HID POS report carries.
const HID_DATA_LEN: usize = 56;

/// The input reports of one HID POS scan (Honeywell layout: report id 0x02, data length, AIM
/// id, data, vendor code at 61, bit 0 of byte 63 = more data follows).
pub fn hid_pos_reports(aim: &str, data: &[u8]) -> Vec<[u8; HID_REPORT_LEN]> {
    let chunks: Vec<&[u8]> = if data.is_empty() {
        vec![&[]]
    } else {
        data.chunks(HID_DATA_LEN).collect()
    };
    let last = chunks.len() - 1;
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let mut r = [0u8; HID_REPORT_LEN];
            r[0] = 0x02;
            r[1] = chunk.len() as u8;
            r[2..5].copy_from_slice(&aim.as_bytes()[..3]);
            r[5..5 + chunk.len()].copy_from_slice(chunk);
            r[61] = b'd';
            r[63] = u8::from(i < last);
            r
        })
        .collect()
}

/// A USB HID POS scanner, played through a FIFO the agent reads reports from.
#[derive(Debug)]
pub struct HidPosScanner {
    path: PathBuf,
    writer: Option<File>,
}

impl HidPosScanner {
    /// Makes the FIFO (the agent's driver opens it for reading).
    pub fn create(path: &Path) -> Result<Self, String> {
        let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        // SAFETY: a NUL-terminated path that lives across the call.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) };
        if rc != 0 {
            return Err(format!(
                "mkfifo {}: {}",
                path.display(),
                std::io::Error::last_os_error()
            ));
        }
        Ok(HidPosScanner {
            path: path.to_owned(),
            writer: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// "Plugs the scanner in": opens the writing end once the agent's driver has the FIFO open
    /// for reading (until then, opening it without blocking fails with ENXIO).
    pub fn plug_in(&mut self, timeout: Duration) -> Result<(), String> {
        use std::os::unix::fs::OpenOptionsExt;
        let deadline = Instant::now() + timeout;
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&self.path)
            {
                Ok(file) => {
                    clear_nonblocking(&file)?;
                    self.writer = Some(file);
                    return Ok(());
                }
                Err(e) if e.raw_os_error() == Some(libc::ENXIO) && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => {
                    return Err(format!(
                        "HID POS FIFO {}: no reader (is the agent's hid_pos_scanner running?): {e}",
                        self.path.display()
                    ))
                }
            }
        }
    }

    /// One EAN-13 scan with its AIM id `]E0`. A driver restart (the FIFO reader went away) is
    /// followed by plugging in again.
    pub fn scan_ean13(&mut self, gtin: &str) -> Result<(), String> {
        let mut bytes = Vec::with_capacity(HID_REPORT_LEN);
        for r in hid_pos_reports("]E0", gtin.as_bytes()) {
            bytes.extend_from_slice(&r);
        }
        for attempt in 0..2 {
            if self.writer.is_none() {
                self.plug_in(Duration::from_secs(10))?;
            }
            let writer = self.writer.as_mut().expect("plugged in");
            match writer.write_all(&bytes) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe && attempt == 0 => {
                    self.writer = None;
                }
                Err(e) => return Err(format!("HID POS FIFO {}: {e}", self.path.display())),
            }
        }
        unreachable!("the second attempt returns")
    }
}

fn clear_nonblocking(file: &File) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on an fd owned by `file`, which outlives the calls; F_GETFL/F_SETFL take
    // and return plain ints.
    #[allow(unsafe_code)]
    let rc = unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 {
            flags
        } else {
            libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK)
        }
    };
    if rc < 0 {
        return Err(format!("fcntl: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// What the fake receipt printer received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Printed {
    pub connections: u64,
    pub bytes: Vec<u8>,
}

/// A network receipt printer (raw port printing) that keeps what it is sent.
#[derive(Debug)]
pub struct Printer {
    addr: SocketAddr,
    printed: Arc<Mutex<Printed>>,
}

impl Printer {
    /// Listens on a free `127.0.0.1` port; each connection is read to its end on a thread.
    pub fn start() -> Result<Self, String> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("printer: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let printed = Arc::new(Mutex::new(Printed::default()));
        let shared = Arc::clone(&printed);
        std::thread::Builder::new()
            .name("demo-printer".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    let Ok(mut stream) = stream else { continue };
                    let shared = Arc::clone(&shared);
                    std::thread::spawn(move || {
                        let mut job = Vec::new();
                        let _ = stream.read_to_end(&mut job);
                        let mut p = shared.lock().unwrap_or_else(|e| e.into_inner());
                        p.connections += 1;
                        p.bytes.extend_from_slice(&job);
                    });
                }
            })
            .map_err(|e| e.to_string())?;
        Ok(Printer { addr, printed })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn printed(&self) -> Printed {
        self.printed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The till: prints each receipt as one print job (one connection) to the tap's address.
#[derive(Debug)]
pub struct Till {
    tap: SocketAddr,
    pub sent_bytes: u64,
    pub jobs: u64,
}

impl Till {
    pub fn new(tap: SocketAddr) -> Self {
        Till {
            tap,
            sent_bytes: 0,
            jobs: 0,
        }
    }

    /// Sends one print job and waits until the tap has passed it on (the tap closes the
    /// connection once the printer has it all), as a till's spooler does.
    pub fn print(&mut self, job: &[u8]) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut stream = loop {
            match TcpStream::connect_timeout(&self.tap, Duration::from_secs(2)) {
                Ok(s) => break s,
                // The tap restarting: tills retry.
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                Err(e) => return Err(format!("till: cannot reach the tap {}: {e}", self.tap)),
            }
        };
        let io = |e: std::io::Error| format!("till: printing through {}: {e}", self.tap);
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(io)?;
        stream.write_all(job).map_err(io)?;
        stream.shutdown(Shutdown::Write).map_err(io)?;
        // The printer's status bytes (none from ours), until the tap closes.
        let mut back = Vec::new();
        let _ = stream.read_to_end(&mut back);
        self.sent_bytes += job.len() as u64;
        self.jobs += 1;
        Ok(())
    }
}

/// A Xovis people counter posting live-data packages (one frame per post, one COUNT event per
/// person: counter 1001 forward = in, 1002 backward = out).
#[derive(Debug)]
pub struct DoorCounter {
    addr: SocketAddr,
    frame: u64,
    pub posts: u64,
    pub retries: u64,
}

impl DoorCounter {
    pub fn new(addr: SocketAddr) -> Self {
        DoorCounter {
            addr,
            frame: 0,
            posts: 0,
            retries: 0,
        }
    }

    /// The package of one post at `time_ms` (the sensor's clock: simulated time here).
    pub fn payload(&mut self, time_ms: i64, entries: u32, exits: u32) -> String {
        self.frame += 1;
        let event = |counter_id: u32| {
            json!({"category": "COUNT", "type": "COUNT_INCREMENT",
                   "attributes": {"counter_id": counter_id, "logic_name": "Entrance"}})
        };
        let events: Vec<_> = std::iter::repeat_n(1001, entries as usize)
            .chain(std::iter::repeat_n(1002, exits as usize))
            .map(event)
            .collect();
        json!({"live_data": {
            "package_info": {"version": "5.0", "id": self.frame, "agent_id": 1},
            "frames": [{"framenumber": self.frame, "time": time_ms, "events": events}],
        }})
        .to_string()
    }

    /// Posts what was counted; a 503 (journal busy) or a refused connection is retried, as the
    /// sensor does, for up to 10 s.
    pub fn post(&mut self, time_ms: i64, entries: u32, exits: u32) -> Result<(), String> {
        let body = self.payload(time_ms, entries, exits);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let answer = http::request(
                self.addr,
                "POST",
                "/counter",
                &[],
                Some(&body),
                Duration::from_secs(5),
            );
            match answer {
                Ok(r) if r.status == 200 => {
                    self.posts += 1;
                    return Ok(());
                }
                Ok(r) if r.status != 503 => {
                    return Err(format!("door counter: answered {} {}", r.status, r.body))
                }
                other if Instant::now() >= deadline => {
                    return Err(format!("door counter: gave up: {other:?}"))
                }
                _ => {
                    self.retries += 1;
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hid_pos_reports_follow_the_honeywell_layout() {
        let one = hid_pos_reports("]E0", b"4006381333931");
        assert_eq!(one.len(), 1);
        assert_eq!(&one[0][..5], &[0x02, 13, b']', b'E', b'0']);
        assert_eq!(&one[0][5..18], b"4006381333931");
        assert!(one[0][18..61].iter().all(|&b| b == 0));
        assert_eq!(one[0][63], 0);
        let long = vec![b'7'; 60];
        let two = hid_pos_reports("]C1", &long);
        assert_eq!((two[0][1], two[0][63]), (56, 1));
        assert_eq!((two[1][1], two[1][63]), (4, 0));
    }

    #[test]
    fn xovis_package_counts_each_person() {
        let mut c = DoorCounter::new("127.0.0.1:9".parse().unwrap());
        let v: serde_json::Value = serde_json::from_str(&c.payload(1_000, 2, 1)).unwrap();
        let frame = &v["live_data"]["frames"][0];
        assert_eq!(frame["time"], 1_000);
        let ids: Vec<u64> = frame["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["attributes"]["counter_id"].as_u64().unwrap())
            .collect();
        assert_eq!(ids, [1001, 1001, 1002]);
    }

    #[test]
    fn serial_scanner_writes_crlf_frames_into_the_pty() {
        let mut s = SerialScanner::open().unwrap();
        assert!(s.path().starts_with("/dev/pts/"), "{}", s.path());
        let mut slave = std::fs::OpenOptions::new()
            .read(true)
            .open(s.path())
            .unwrap();
        s.scan("QTY12").unwrap();
        let mut buf = [0u8; 7];
        slave.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"QTY12\r\n");
    }

    #[test]
    fn till_prints_through_to_the_printer() {
        let printer = Printer::start().unwrap();
        let mut till = Till::new(printer.addr());
        till.print(b"\x1b@hello\n\x1dV\x42\x00").unwrap();
        crate::wait::wait_until(Duration::from_secs(5), "the print job", || {
            printer.printed().connections == 1
        });
        assert_eq!(printer.printed().bytes, b"\x1b@hello\n\x1dV\x42\x00");
        assert_eq!((till.jobs, till.sent_bytes), (1, 12));
    }
}
