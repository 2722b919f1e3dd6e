//! An in-test TCP proxy between a client (the agent) and a server (the broker), whose link a test
//! can break in the ways real store uplinks break.
//!
//! [`Mode::Pass`] forwards bytes. [`Mode::Cut`] closes every open connection at once and refuses
//! new ones (accepted and closed): a router reboot, a reset. [`Mode::Blackhole`] keeps every
//! connection open but drops all bytes in both directions, so the peers see a connection that
//! simply hangs (no FIN, no RST): a cable pulled upstream, a NAT entry gone. A connection that
//! was black-holed stays so until its client gives up on it (forwarding bytes again after a gap
//! would corrupt the stream, which TCP would never do); connections made after the mode returns
//! to `Pass` work normally. [`Mode::Throttle`] forwards at most `n` bytes per second per
//! direction and connection: a link slowed to a trickle, so back-pressure reaches the client.
//!
//! Each direction of a connection is one thread copying through one 16 KiB buffer and reading
//! no more than it may forward, so the proxy holds at most 32 KiB per connection whatever its
//! peers do; it never queues. Every blocking read has a 50 ms timeout, so a mode change and the
//! proxy's drop take effect within that. Listens on `127.0.0.1` only.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::ports;

/// How the proxy treats the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pass,
    Cut,
    Blackhole,
    /// Bytes per second per direction and connection.
    Throttle(u64),
}

const BUF: usize = 16 * 1024;
const POLL: Duration = Duration::from_millis(50);

struct Shared {
    mode: Mutex<Mode>,
    /// Bumped by every switch to [`Mode::Cut`]: connections older than it close.
    cut_epoch: AtomicU64,
    stop: AtomicBool,
    /// Bytes forwarded, both directions, all connections.
    forwarded: AtomicU64,
    /// Bytes read and thrown away while black-holed.
    dropped: AtomicU64,
    connections: AtomicU64,
}

impl Shared {
    fn mode(&self) -> Mode {
        *self.mode.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running proxy; dropping it closes everything.
pub struct Proxy {
    port: u16,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Listens on a free `127.0.0.1` port and forwards to `upstream`.
    pub fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("proxy addr").port();
        let shared = Arc::new(Shared {
            mode: Mutex::new(Mode::Pass),
            cut_epoch: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            forwarded: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            connections: AtomicU64::new(0),
        });
        let accept = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("proxy-accept".into())
                .spawn(move || accept_loop(listener, upstream, &shared))
                .expect("spawn proxy")
        };
        Self {
            port,
            shared,
            accept: Some(accept),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        ports::localhost(self.port)
    }

    pub fn mode(&self) -> Mode {
        self.shared.mode()
    }

    pub fn set_mode(&self, mode: Mode) {
        let mut m = self.shared.mode.lock().unwrap_or_else(|e| e.into_inner());
        if mode == Mode::Cut {
            self.shared.cut_epoch.fetch_add(1, Ordering::SeqCst);
        }
        *m = mode;
    }

    /// `(forwarded, dropped)` bytes so far.
    pub fn bytes(&self) -> (u64, u64) {
        (
            self.shared.forwarded.load(Ordering::Relaxed),
            self.shared.dropped.load(Ordering::Relaxed),
        )
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::Relaxed)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: TcpListener, upstream: SocketAddr, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                shared.connections.fetch_add(1, Ordering::Relaxed);
                if shared.mode() == Mode::Cut {
                    drop(client);
                    continue;
                }
                let server = match TcpStream::connect_timeout(&upstream, Duration::from_secs(2)) {
                    Ok(s) => s,
                    // The broker is down: the client sees the same refusal it would see directly.
                    Err(_) => continue,
                };
                let epoch = shared.cut_epoch.load(Ordering::SeqCst);
                let black = Arc::new(AtomicBool::new(shared.mode() == Mode::Blackhole));
                for (from, to, name) in [
                    (client.try_clone(), server.try_clone(), "proxy-up"),
                    (server.try_clone(), client.try_clone(), "proxy-down"),
                ] {
                    let (Ok(from), Ok(to)) = (from, to) else {
                        break;
                    };
                    let shared = shared.clone();
                    let black = black.clone();
                    let _ = std::thread::Builder::new()
                        .name(name.into())
                        .spawn(move || pump(from, to, epoch, &black, &shared));
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Copies one direction until either side closes, the link is cut or the proxy stops.
fn pump(mut from: TcpStream, mut to: TcpStream, epoch: u64, black: &AtomicBool, shared: &Shared) {
    let _ = from.set_read_timeout(Some(POLL));
    let _ = to.set_write_timeout(Some(POLL));
    let mut buf = vec![0u8; BUF];
    // Throttle: bytes this direction may still send in the current one-second window.
    let mut window_start = Instant::now();
    let mut window_sent = 0u64;
    let close = |a: &TcpStream, b: &TcpStream| {
        let _ = a.shutdown(Shutdown::Both);
        let _ = b.shutdown(Shutdown::Both);
    };
    loop {
        if shared.stop.load(Ordering::SeqCst) || shared.cut_epoch.load(Ordering::SeqCst) != epoch {
            close(&from, &to);
            return;
        }
        let mode = shared.mode();
        if mode == Mode::Blackhole {
            black.store(true, Ordering::SeqCst);
        }
        let limit = match mode {
            Mode::Throttle(rate) => {
                if window_start.elapsed() >= Duration::from_secs(1) {
                    window_start = Instant::now();
                    window_sent = 0;
                }
                let left = rate.saturating_sub(window_sent).min(BUF as u64) as usize;
                if left == 0 {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
                left
            }
            _ => BUF,
        };
        let n = match from.read(&mut buf[..limit]) {
            Ok(0) => {
                close(&from, &to);
                return;
            }
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => {
                close(&from, &to);
                return;
            }
        };
        if black.load(Ordering::SeqCst) {
            shared.dropped.fetch_add(n as u64, Ordering::Relaxed);
            continue;
        }
        window_sent += n as u64;
        if !write_all_checking(&mut to, &buf[..n], epoch, shared) {
            close(&from, &to);
            return;
        }
        shared.forwarded.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// `write_all` that gives up when the link is cut or the proxy stops while the peer is not
/// reading (a plain `write_all` could block forever).
fn write_all_checking(to: &mut TcpStream, mut data: &[u8], epoch: u64, shared: &Shared) -> bool {
    while !data.is_empty() {
        if shared.stop.load(Ordering::SeqCst) || shared.cut_epoch.load(Ordering::SeqCst) != epoch {
            return false;
        }
        match to.write(data) {
            Ok(0) => return false,
            Ok(n) => data = &data[n..],
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;

    fn echo_server() -> (SocketAddr, JoinHandle<()>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            for s in l.incoming().take(4) {
                let Ok(mut s) = s else { return };
                std::thread::spawn(move || {
                    let mut r = s.try_clone().unwrap();
                    let _ = std::io::copy(&mut r, &mut s);
                });
            }
        });
        (addr, t)
    }

    fn roundtrip(s: &mut TcpStream, line: &str) -> std::io::Result<String> {
        s.write_all(line.as_bytes())?;
        let mut r = std::io::BufReader::new(s.try_clone()?);
        let mut got = String::new();
        r.read_line(&mut got)?;
        Ok(got)
    }

    #[test]
    fn pass_cut_blackhole_throttle() {
        let (upstream, _t) = echo_server();
        let proxy = Proxy::start(upstream);
        let mut a = TcpStream::connect(proxy.addr()).unwrap();
        a.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(roundtrip(&mut a, "hello\n").unwrap(), "hello\n");

        // Black-holed: the write succeeds, no answer ever comes, the socket stays open.
        proxy.set_mode(Mode::Blackhole);
        std::thread::sleep(POLL * 3);
        a.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let e = roundtrip(&mut a, "lost\n").unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
            "{e}"
        );
        assert!(proxy.bytes().1 >= 5, "{:?}", proxy.bytes());

        // Cut: the hung connection is closed.
        proxy.set_mode(Mode::Cut);
        a.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut rest = Vec::new();
        assert_eq!(a.read_to_end(&mut rest).unwrap_or(0), 0);

        // Throttled to 1 KiB/s: 3 KiB echo back take over 2 s.
        proxy.set_mode(Mode::Throttle(1024));
        let mut b = TcpStream::connect(proxy.addr()).unwrap();
        b.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let line = format!("{}\n", "x".repeat(3 * 1024));
        let start = Instant::now();
        assert_eq!(roundtrip(&mut b, &line).unwrap(), line);
        assert!(
            start.elapsed() >= Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }
}
