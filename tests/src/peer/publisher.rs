//! The peer's device: QoS 1 publishes to the store's broker, paced like the line-feed writer.
//!
//! One thread writes PUBLISHes (flat out, or from a schedule at a target rate, never bursting to
//! catch up after a stall, exactly as [`crate::writer`] paces lines) with at most `window`
//! unacknowledged; one thread reads the PUBACKs. The index of each event and when it was
//! written are recorded, so latencies can be taken against the central subscriber's arrivals.

use std::io::{BufReader, BufWriter, ErrorKind, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::wire;

/// Lines written between explicit flushes when publishing flat out (as the line-feed writer).
const FLUSH_EVERY: u32 = 256;

/// What to publish and how.
#[derive(Debug, Clone)]
pub struct PublisherOptions {
    /// The store's broker.
    pub addr: SocketAddr,
    /// Events to publish, indices `first_index..first_index + total`.
    pub total: u64,
    pub first_index: u64,
    /// Target events per second; `None` publishes flat out.
    pub rate: Option<f64>,
    /// Most publishes without a PUBACK (capped below the 65535 packet ids).
    pub window: usize,
    pub client_id: String,
}

impl PublisherOptions {
    pub fn new(addr: SocketAddr, total: u64) -> Self {
        Self {
            addr,
            total,
            first_index: 0,
            rate: None,
            window: 2048,
            client_id: "bench-device".into(),
        }
    }
}

/// What the publisher saw.
#[derive(Debug, Clone)]
pub struct PublisherReport {
    pub sent: u64,
    /// PUBACKs received.
    pub acked: u64,
    pub started: Instant,
    pub last_ack_at: Option<Instant>,
    /// When event `first_index + i` was written, at `i`.
    pub send_times: Vec<Instant>,
    pub first_index: u64,
    /// Why publishing stopped early, if it did.
    pub failure: Option<String>,
}

#[derive(Default)]
struct State {
    sent: u64,
    acked: u64,
    last_ack_at: Option<Instant>,
    send_times: Vec<Instant>,
    failure: Option<String>,
    done_writing: bool,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    stop: AtomicBool,
    /// No more publishes; PUBACKs are still read.
    no_more: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fail(&self, why: String) {
        let mut st = self.lock();
        st.failure.get_or_insert(why);
        drop(st);
        self.stop.store(true, Ordering::SeqCst);
        self.changed.notify_all();
    }
}

/// A running publisher; dropping it stops it.
pub struct PeerPublisher {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    stream: Option<TcpStream>,
    started: Instant,
    opts: PublisherOptions,
}

impl PeerPublisher {
    /// Connects (clean session) and starts publishing on background threads.
    pub fn start(opts: PublisherOptions) -> Result<Self, String> {
        let stream = TcpStream::connect_timeout(&opts.addr, Duration::from_secs(5))
            .map_err(|e| format!("connect {}: {e}", opts.addr))?;
        let _ = stream.set_nodelay(true);
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        let mut reader = BufReader::with_capacity(64 * 1024, stream.try_clone().unwrap());
        wire::send(&mut &stream, &wire::connect(&opts.client_id, true))
            .map_err(|e| format!("CONNECT: {e}"))?;
        wire::expect_connack(&mut reader).map_err(|e| format!("CONNACK: {e}"))?;
        // Short timeouts from here: the reader wakes up to notice a stop.
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .map_err(|e| e.to_string())?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                send_times: Vec::with_capacity(opts.total.min(1 << 20) as usize),
                ..State::default()
            }),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
            no_more: AtomicBool::new(false),
        });
        let started = Instant::now();
        let reader_thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("peer-puback-reader".into())
                .spawn(move || read_acks(reader, &shared))
                .expect("spawn reader")
        };
        let writer_thread = {
            let shared = shared.clone();
            let stream = stream.try_clone().unwrap();
            let opts = opts.clone();
            std::thread::Builder::new()
                .name("peer-publisher".into())
                .spawn(move || write_loop(&opts, &stream, &shared))
                .expect("spawn writer")
        };
        Ok(Self {
            shared,
            threads: vec![writer_thread, reader_thread],
            stream: Some(stream),
            started,
            opts,
        })
    }

    /// `(sent, acked)` so far.
    pub fn progress(&self) -> (u64, u64) {
        let st = self.shared.lock();
        (st.sent, st.acked)
    }

    /// Waits until every event is acknowledged, publishing fails, or `timeout` passes; then
    /// stops and reports (a timeout is reported as a failure, not a panic).
    pub fn finish(mut self, timeout: Duration) -> PublisherReport {
        let deadline = Instant::now() + timeout;
        {
            let mut st = self.shared.lock();
            while st.acked < self.opts.total && st.failure.is_none() {
                let now = Instant::now();
                if now >= deadline {
                    st.failure = Some(format!(
                        "not finished within {timeout:?}: sent {}, acked {} of {}",
                        st.sent, st.acked, self.opts.total
                    ));
                    break;
                }
                st = self
                    .shared
                    .changed
                    .wait_timeout(st, (deadline - now).min(Duration::from_millis(200)))
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        }
        self.report()
    }

    /// Stops publishing, waits up to `grace` for the PUBACKs still owed, and reports (used for
    /// open-ended live traffic). PUBACKs come in order, so the first `acked` events are the
    /// acknowledged ones.
    pub fn stop_sending(mut self, grace: Duration) -> PublisherReport {
        self.shared.no_more.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + grace;
        let mut st = self.shared.lock();
        while (!st.done_writing || st.acked < st.sent)
            && st.failure.is_none()
            && Instant::now() < deadline
        {
            st = self
                .shared
                .changed
                .wait_timeout(st, Duration::from_millis(50))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        drop(st);
        self.report()
    }

    fn report(&mut self) -> PublisherReport {
        self.stop();
        let mut st = self.shared.lock();
        PublisherReport {
            sent: st.sent,
            acked: st.acked,
            started: self.started,
            last_ack_at: st.last_ack_at,
            send_times: std::mem::take(&mut st.send_times),
            first_index: self.opts.first_index,
            failure: st.failure.clone(),
        }
    }

    fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.changed.notify_all();
        if let Some(s) = self.stream.take() {
            let _ = s.shutdown(Shutdown::Both);
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for PeerPublisher {
    fn drop(&mut self) {
        self.stop();
    }
}

fn write_loop(opts: &PublisherOptions, stream: &TcpStream, shared: &Shared) {
    let window = opts.window.clamp(1, 32_768) as u64;
    let interval = opts.rate.map(|r| Duration::from_secs_f64(1.0 / r));
    let mut next_due = Instant::now();
    let mut out = BufWriter::with_capacity(64 * 1024, stream);
    let mut packet = Vec::with_capacity(512);
    let mut unflushed = 0u32;
    for n in 0..opts.total {
        if shared.stop.load(Ordering::SeqCst) || shared.no_more.load(Ordering::SeqCst) {
            break;
        }
        if let Some(interval) = interval {
            let now = Instant::now();
            next_due = next_due.max(now.checked_sub(Duration::from_secs(1)).unwrap_or(now));
            while Instant::now() < next_due
                && !shared.stop.load(Ordering::SeqCst)
                && !shared.no_more.load(Ordering::SeqCst)
            {
                std::thread::sleep((next_due - Instant::now()).min(Duration::from_millis(50)));
            }
            next_due += interval;
        }
        // Window: flush first, the PUBACKs we wait for may be for publishes still buffered.
        let full = {
            let st = shared.lock();
            st.sent - st.acked >= window
        };
        if full {
            if let Err(e) = out.flush() {
                return shared.fail(format!("write: {e}"));
            }
            let mut st = shared.lock();
            while st.sent - st.acked >= window && !shared.stop.load(Ordering::SeqCst) {
                st = shared
                    .changed
                    .wait_timeout(st, Duration::from_millis(100))
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        }
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let index = opts.first_index + n;
        packet.clear();
        let id = (index % 65_535) as u16 + 1;
        wire::publish_qos1(&mut packet, super::TOPIC, id, &super::payload(index));
        {
            let mut st = shared.lock();
            st.send_times.push(Instant::now());
            st.sent += 1;
        }
        if let Err(e) = out.write_all(&packet) {
            return shared.fail(format!("write: {e}"));
        }
        unflushed += 1;
        if interval.is_some() || unflushed >= FLUSH_EVERY {
            unflushed = 0;
            if let Err(e) = out.flush() {
                return shared.fail(format!("write: {e}"));
            }
        }
    }
    if let Err(e) = out.flush() {
        return shared.fail(format!("write: {e}"));
    }
    shared.lock().done_writing = true;
    shared.changed.notify_all();
}

fn read_acks(mut reader: BufReader<TcpStream>, shared: &Shared) {
    while !shared.stop.load(Ordering::SeqCst) {
        match wire::read_packet(&mut reader) {
            Ok((first, _)) if first >> 4 == wire::PUBACK => {
                let mut st = shared.lock();
                st.acked += 1;
                st.last_ack_at = Some(Instant::now());
                drop(st);
                shared.changed.notify_all();
            }
            Ok((first, _)) => {
                return shared.fail(format!("unexpected packet type {}", first >> 4));
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => {
                if !shared.stop.load(Ordering::SeqCst) {
                    shared.fail(format!("read: {e}"));
                }
                return;
            }
        }
    }
}
