//! The threads behind a writer: the write loop, which connects, paces and pipelines the lines
//! and reconnects when the agent goes away, and one reader per connection matching the answers.
//!
//! A connection's pending lines are settled before the next connection is made: the reader is
//! joined, and whatever it did not get an answer for is counted unanswered, never resent (a
//! device that lost its connection does not know whether its line was stored either). So the
//! answers of an old connection can never be taken for answers on a new one.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::options::{LineSource, WriterOptions};
use super::state::{Pending, Shared};

/// Lines written between explicit flushes when sending flat out.
const FLUSH_EVERY: u32 = 256;

pub(super) fn write_loop(opts: &WriterOptions, source: &LineSource, shared: &Arc<Shared>) {
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
