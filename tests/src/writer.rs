//! A line-feed client standing in for store devices.
//!
//! [`Writer::start`] streams the lines of [`crate::events`] to the agent's line-feed driver on a
//! background thread: flat out or at a target rate, with up to `window` lines pipelined (sent and
//! not yet answered). A reader thread per connection matches the in-order answers to the lines:
//! `ok <seq>` adds `seq` to the acknowledged set, `err <reason>` is counted.
//!
//! When the agent is killed, the connection breaks: the lines sent on it without an answer are
//! counted as `unanswered` (they may or may not be stored; they are never resent, as a device
//! that lost its connection would not know either), and the writer reconnects until the agent
//! is back or `reconnect_timeout` passes.
//!
//! [`Writer::start_with_source`] sends the lines of a [`LineSource`] instead, each with its
//! expected [`Effect`], so the tallies stay exact for other mixes (the `demo` binary's store day).
//!
//! The writer also checks what it can see of invariant 2 (seqs strictly increasing, never
//! reused): with one writer per agent, every `ok` seq must exceed all earlier ones, across agent
//! restarts too. Run one writer per agent at a time.

use std::collections::{BTreeSet, VecDeque};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::events::{self, Effect, Tally};

/// What to send and how.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// The agent's line-feed address.
    pub addr: SocketAddr,
    /// Lines to send; `None` sends until [`Writer::stop`].
    pub total: Option<u64>,
    /// Target events per second; `None` sends flat out.
    pub rate: Option<f64>,
    /// Most lines in flight (sent, not answered) on a connection.
    pub window: usize,
    /// How long to keep trying to (re)connect before giving up.
    pub reconnect_timeout: Duration,
    /// How long to wait for the answers still owed when stopping or finishing.
    pub drain_timeout: Duration,
    /// Index of the first line (see [`crate::events`]); lets a second writer continue the mix.
    pub first_index: u64,
    /// Record `(seq, send instant)` of every acknowledged line, for latency measurements.
    pub record_send_times: bool,
}

impl WriterOptions {
    /// Flat out, until stopped, window 2048, 60 s to reconnect.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            total: None,
            rate: None,
            window: 2048,
            reconnect_timeout: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(60),
            first_index: 0,
            record_send_times: false,
        }
    }

    pub fn total(mut self, n: u64) -> Self {
        self.total = Some(n);
        self
    }

    pub fn rate(mut self, events_per_sec: f64) -> Self {
        assert!(events_per_sec > 0.0);
        self.rate = Some(events_per_sec);
        self
    }

    pub fn window(mut self, lines: usize) -> Self {
        self.window = lines.max(1);
        self
    }

    pub fn first_index(mut self, i: u64) -> Self {
        self.first_index = i;
        self
    }

    pub fn reconnect_timeout(mut self, d: Duration) -> Self {
        self.reconnect_timeout = d;
        self
    }

    pub fn record_send_times(mut self) -> Self {
        self.record_send_times = true;
        self
    }
}

/// Makes the line with a given index (newline included) and names its effect on the collector's
/// stats; replaces the standard mix of [`crate::events`]. Called from the writer thread, in index
/// order, once per line written, just before the line is written.
#[derive(Clone)]
pub struct LineSource(Arc<dyn Fn(u64) -> (String, Effect) + Send + Sync>);

impl LineSource {
    pub fn new(f: impl Fn(u64) -> (String, Effect) + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// The standard mix of [`crate::events`].
    pub fn standard() -> Self {
        Self::new(|i| (events::line(i), events::effect_of(i)))
    }

    fn line(&self, index: u64) -> (String, Effect) {
        (self.0)(index)
    }
}

impl std::fmt::Debug for LineSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LineSource(..)")
    }
}

/// What a writer saw.
#[derive(Debug, Clone)]
pub struct WriterReport {
    /// Lines written to a socket.
    pub sent: u64,
    /// Seqs answered with `ok`.
    pub acked: BTreeSet<u64>,
    /// Expected effect of the acknowledged lines.
    pub acked_tally: Tally,
    /// Expected effect of every line sent, acknowledged or not (an upper bound).
    pub sent_tally: Tally,
    /// Lines answered with `err`.
    pub errors: u64,
    /// The first few `err` answers.
    pub error_samples: Vec<String>,
    /// Lines sent on a connection that broke before their answer came.
    pub unanswered: u64,
    /// Connections made (1 + reconnects).
    pub connections: u32,
    /// Seqs answered `ok` twice (a reused seq).
    pub reused_seqs: Vec<u64>,
    /// `(highest so far, then got)` for an `ok` seq that did not exceed all earlier ones.
    pub out_of_order: Vec<(u64, u64)>,
    /// Answers that match no line or are neither `ok` nor `err`.
    pub protocol_errors: Vec<String>,
    /// `(seq, when its line was written)`, when asked for.
    pub send_times: Vec<(u64, Instant)>,
    /// Why the writer gave up early (could not reconnect), if it did.
    pub failure: Option<String>,
    /// Index the next line would have had.
    pub next_index: u64,
    pub started: Instant,
    pub last_ack_at: Option<Instant>,
}

impl WriterReport {
    /// Highest acknowledged seq.
    pub fn max_acked(&self) -> Option<u64> {
        self.acked.last().copied()
    }

    /// Adds the report of a later writer to the same agent.
    pub fn merge(&mut self, later: WriterReport) {
        if let (Some(max), Some(first)) = (self.max_acked(), later.acked.first().copied()) {
            if first <= max {
                self.out_of_order.push((max, first));
            }
        }
        for seq in &later.acked {
            if !self.acked.insert(*seq) {
                self.reused_seqs.push(*seq);
            }
        }
        self.sent += later.sent;
        self.acked_tally.merge(&later.acked_tally);
        self.sent_tally.merge(&later.sent_tally);
        self.errors += later.errors;
        self.error_samples.extend(later.error_samples);
        self.unanswered += later.unanswered;
        self.connections += later.connections;
        self.reused_seqs.extend(later.reused_seqs);
        self.out_of_order.extend(later.out_of_order);
        self.protocol_errors.extend(later.protocol_errors);
        self.send_times.extend(later.send_times);
        if self.failure.is_none() {
            self.failure = later.failure;
        }
        self.next_index = self.next_index.max(later.next_index);
        self.last_ack_at = self.last_ack_at.max(later.last_ack_at);
    }

    /// What the writer itself saw go wrong: `err` answers, reused or decreasing seqs, protocol
    /// errors, giving up on reconnecting.
    pub fn violations(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.errors > 0 {
            v.push(format!(
                "{} lines answered with err, e.g. {:?}",
                self.errors, self.error_samples
            ));
        }
        if !self.reused_seqs.is_empty() {
            v.push(format!(
                "seqs acknowledged twice (reused): {:?}",
                &self.reused_seqs[..self.reused_seqs.len().min(10)]
            ));
        }
        if !self.out_of_order.is_empty() {
            v.push(format!(
                "ok seqs not increasing, (highest before, got): {:?}",
                &self.out_of_order[..self.out_of_order.len().min(10)]
            ));
        }
        if !self.protocol_errors.is_empty() {
            v.push(format!("protocol errors: {:?}", self.protocol_errors));
        }
        if let Some(f) = &self.failure {
            v.push(format!("writer gave up: {f}"));
        }
        v
    }

    /// One line for logs.
    pub fn summary(&self) -> String {
        format!(
            "sent={} acked={} max_acked={:?} errors={} unanswered={} connections={}",
            self.sent,
            self.acked.len(),
            self.max_acked(),
            self.errors,
            self.unanswered,
            self.connections
        )
    }
}

/// A snapshot of a running writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub sent: u64,
    pub acked: u64,
    pub max_acked: Option<u64>,
    pub errors: u64,
    pub unanswered: u64,
    pub connections: u32,
    pub connected: bool,
    pub finished: bool,
}

/// A running line-feed writer; dropping it stops it.
pub struct Writer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    addr: SocketAddr,
}

impl Writer {
    /// Starts streaming the standard mix of [`crate::events`] on a background thread.
    pub fn start(opts: WriterOptions) -> Self {
        Self::start_with_source(opts, LineSource::standard())
    }

    /// Starts streaming the lines of `source` on a background thread.
    pub fn start_with_source(opts: WriterOptions, source: LineSource) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(opts.first_index)),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let addr = opts.addr;
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("line-feed-writer".into())
                .spawn(move || write_loop(&opts, &source, &shared))
                .expect("spawn writer thread")
        };
        Self {
            shared,
            thread: Some(thread),
            addr,
        }
    }

    /// Current counters.
    pub fn progress(&self) -> Progress {
        let st = self.shared.lock();
        Progress {
            sent: st.sent,
            acked: st.acked.len() as u64,
            max_acked: st.acked.last().copied(),
            errors: st.errors,
            unanswered: st.unanswered,
            connections: st.connections,
            connected: st.alive,
            finished: st.finished,
        }
    }

    /// Waits until at least `n` lines are acknowledged (panics on timeout or if the writer ends
    /// first).
    pub fn wait_acked(&self, n: u64, timeout: Duration) {
        crate::wait::wait_for(
            timeout,
            &format!("{n} acknowledged lines from {}", self.addr),
            || {
                let p = self.progress();
                if p.acked >= n {
                    Ok(())
                } else if p.finished {
                    panic!(
                        "writer ended with only {} of {n} lines acknowledged: {p:?}",
                        p.acked
                    )
                } else {
                    Err(format!("{p:?}"))
                }
            },
        )
    }

    /// Waits until the writer has made a connection after the `connections`-th one (see
    /// [`Progress::connections`]) and then has a line acknowledged on it: the agent behind the
    /// address is back and journaling. Answers received on the old connection before it broke
    /// do not count (the old reader is drained before a reconnect).
    pub fn wait_reconnected(&self, connections: u32, timeout: Duration) {
        let what = format!("a new connection to {} and an ok on it", self.addr);
        let deadline = Instant::now() + timeout;
        let acked_before = crate::wait::wait_for(timeout, &what, || {
            let p = self.progress();
            if p.finished {
                panic!("writer ended while waiting for {what}: {p:?}");
            }
            if p.connections > connections {
                Ok(p.acked)
            } else {
                Err(format!("{p:?}"))
            }
        });
        self.wait_acked(
            acked_before + 1,
            deadline.saturating_duration_since(Instant::now()),
        );
    }

    /// Stops sending, collects the answers still owed (up to the drain timeout), and reports.
    pub fn stop(mut self) -> WriterReport {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.changed.notify_all();
        self.join()
    }

    /// Waits until the `total` lines are sent and answered (or the connection broke), and
    /// reports. Panics after `timeout`.
    pub fn finish(mut self, timeout: Duration) -> WriterReport {
        let deadline = Instant::now() + timeout;
        {
            let mut st = self.shared.lock();
            while !st.finished {
                let now = Instant::now();
                if now >= deadline {
                    let msg = format!(
                        "writer to {} did not finish within {timeout:?}: sent={} acked={} pending={} connected={}",
                        self.addr,
                        st.sent,
                        st.acked.len(),
                        st.pending.len(),
                        st.alive
                    );
                    drop(st);
                    panic!("{msg}");
                }
                st = self
                    .shared
                    .changed
                    .wait_timeout(st, deadline - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        }
        self.join()
    }

    fn join(&mut self) -> WriterReport {
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                panic!("line-feed writer thread panicked");
            }
        }
        let mut st = self.shared.lock();
        st.report()
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.changed.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    stop: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// A line sent and not yet answered.
struct Pending {
    index: u64,
    effect: Effect,
    sent_at: Instant,
}

struct State {
    pending: VecDeque<Pending>,
    /// The current connection's reader is still reading.
    alive: bool,
    finished: bool,
    sent: u64,
    acked: BTreeSet<u64>,
    acked_tally: Tally,
    sent_tally: Tally,
    errors: u64,
    error_samples: Vec<String>,
    unanswered: u64,
    connections: u32,
    reused_seqs: Vec<u64>,
    out_of_order: Vec<(u64, u64)>,
    protocol_errors: Vec<String>,
    send_times: Vec<(u64, Instant)>,
    failure: Option<String>,
    next_index: u64,
    started: Instant,
    last_ack_at: Option<Instant>,
}

impl State {
    fn new(first_index: u64) -> Self {
        Self {
            pending: VecDeque::new(),
            alive: false,
            finished: false,
            sent: 0,
            acked: BTreeSet::new(),
            acked_tally: Tally::default(),
            sent_tally: Tally::default(),
            errors: 0,
            error_samples: Vec::new(),
            unanswered: 0,
            connections: 0,
            reused_seqs: Vec::new(),
            out_of_order: Vec::new(),
            protocol_errors: Vec::new(),
            send_times: Vec::new(),
            failure: None,
            next_index: first_index,
            started: Instant::now(),
            last_ack_at: None,
        }
    }

    fn on_answer(&mut self, text: &str, record_send_times: bool) {
        let Some(line) = self.pending.pop_front() else {
            self.protocol_error(format!("answer {text:?} for no line"));
            return;
        };
        if let Some(rest) = text.strip_prefix("ok ") {
            let Ok(seq) = rest.trim().parse::<u64>() else {
                self.protocol_error(format!("line {}: bad answer {text:?}", line.index));
                return;
            };
            if let Some(&max) = self.acked.last() {
                if seq <= max {
                    self.out_of_order.push((max, seq));
                }
            }
            if !self.acked.insert(seq) {
                self.reused_seqs.push(seq);
            }
            self.acked_tally.add_effect(line.effect);
            self.last_ack_at = Some(Instant::now());
            if record_send_times {
                self.send_times.push((seq, line.sent_at));
            }
        } else if text == "err" || text.starts_with("err ") {
            self.errors += 1;
            if self.error_samples.len() < 10 {
                self.error_samples
                    .push(format!("line {}: {}", line.index, text));
            }
        } else {
            self.protocol_error(format!("line {}: unexpected answer {text:?}", line.index));
        }
    }

    fn protocol_error(&mut self, msg: String) {
        if self.protocol_errors.len() < 10 {
            self.protocol_errors.push(msg);
        }
    }

    fn report(&mut self) -> WriterReport {
        WriterReport {
            sent: self.sent,
            acked: std::mem::take(&mut self.acked),
            acked_tally: self.acked_tally.clone(),
            sent_tally: self.sent_tally.clone(),
            errors: self.errors,
            error_samples: self.error_samples.clone(),
            unanswered: self.unanswered,
            connections: self.connections,
            reused_seqs: self.reused_seqs.clone(),
            out_of_order: self.out_of_order.clone(),
            protocol_errors: self.protocol_errors.clone(),
            send_times: std::mem::take(&mut self.send_times),
            failure: self.failure.clone(),
            next_index: self.next_index,
            started: self.started,
            last_ack_at: self.last_ack_at,
        }
    }
}

/// Lines written between explicit flushes when sending flat out.
const FLUSH_EVERY: u32 = 256;

fn write_loop(opts: &WriterOptions, source: &LineSource, shared: &Arc<Shared>) {
    let end = opts.total.map(|t| opts.first_index + t);
    let mut next = opts.first_index;
    let interval = opts.rate.map(|r| Duration::from_secs_f64(1.0 / r));
    let mut next_due = Instant::now();
    let more = |next: u64| end.is_none_or(|e| next < e);

    while !shared.stopped() && more(next) {
        let Some(stream) = connect(opts, shared) else {
            break;
        };
        let reader = {
            let stream = stream.try_clone().expect("clone socket");
            let shared = Arc::clone(shared);
            let record = opts.record_send_times;
            std::thread::Builder::new()
                .name("line-feed-reader".into())
                .spawn(move || read_answers(stream, &shared, record))
                .expect("spawn reader thread")
        };
        let mut out = BufWriter::with_capacity(64 * 1024, &stream);
        let mut unflushed = 0u32;
        let mut broken = false;
        while !shared.stopped() && more(next) {
            if let Some(interval) = interval {
                // Pace from a schedule; after a long stall, do not burst to catch up.
                let now = Instant::now();
                next_due = next_due.max(now.checked_sub(Duration::from_secs(1)).unwrap_or(now));
                while Instant::now() < next_due && !shared.stopped() {
                    std::thread::sleep((next_due - Instant::now()).min(Duration::from_millis(50)));
                }
                next_due += interval;
                if shared.stopped() {
                    break;
                }
            }
            if !wait_for_window(opts.window, shared, &mut out) {
                broken = true;
                break;
            }
            if shared.stopped() {
                break;
            }
            let (text, effect) = source.line(next);
            {
                let mut st = shared.lock();
                st.pending.push_back(Pending {
                    index: next,
                    effect,
                    sent_at: Instant::now(),
                });
                st.sent += 1;
                st.sent_tally.add_effect(effect);
                next += 1;
                st.next_index = next;
            }
            if out.write_all(text.as_bytes()).is_err() {
                broken = true;
                break;
            }
            unflushed += 1;
            if interval.is_some() || unflushed >= FLUSH_EVERY {
                unflushed = 0;
                if out.flush().is_err() {
                    broken = true;
                    break;
                }
            }
        }
        if !broken && out.flush().is_ok() {
            // Done or stopped: collect the answers still owed before closing.
            let deadline = Instant::now() + opts.drain_timeout;
            let mut st = shared.lock();
            while st.alive && !st.pending.is_empty() && Instant::now() < deadline {
                st = shared
                    .changed
                    .wait_timeout(st, Duration::from_millis(100))
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        }
        drop(out);
        // Unblocks the reader whether or not the agent closed the connection.
        let _ = stream.shutdown(Shutdown::Both);
        let _ = reader.join();
        let mut st = shared.lock();
        let lost = st.pending.len() as u64;
        st.unanswered += lost;
        st.pending.clear();
        st.alive = false;
    }
    shared.lock().finished = true;
    shared.changed.notify_all();
}

/// Flushes and waits while `window` lines are in flight. False when the connection broke.
fn wait_for_window(window: usize, shared: &Shared, out: &mut BufWriter<&TcpStream>) -> bool {
    {
        let st = shared.lock();
        if !st.alive {
            return false;
        }
        if st.pending.len() < window {
            return true;
        }
    }
    // The answers we wait for may depend on lines still in our buffer.
    if out.flush().is_err() {
        return false;
    }
    let mut st = shared.lock();
    while st.alive && st.pending.len() >= window && !shared.stopped() {
        st = shared
            .changed
            .wait_timeout(st, Duration::from_millis(100))
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
    st.alive
}

fn connect(opts: &WriterOptions, shared: &Shared) -> Option<TcpStream> {
    let deadline = Instant::now() + opts.reconnect_timeout;
    loop {
        if shared.stopped() {
            return None;
        }
        let err = match TcpStream::connect_timeout(&opts.addr, Duration::from_millis(500)) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                let mut st = shared.lock();
                st.alive = true;
                st.connections += 1;
                return Some(s);
            }
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            shared.lock().failure = Some(format!(
                "could not connect to {} for {:?}: {err}",
                opts.addr, opts.reconnect_timeout
            ));
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn read_answers(stream: TcpStream, shared: &Shared, record_send_times: bool) {
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if !line.ends_with('\n') {
            break; // cut mid-answer: the line it belonged to stays unanswered
        }
        shared
            .lock()
            .on_answer(line.trim_end_matches(['\r', '\n']), record_send_times);
        shared.changed.notify_all();
    }
    shared.lock().alive = false;
    shared.changed.notify_all();
}
