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
//! expected [`Effect`](crate::events::Effect), so the tallies stay exact for other mixes (the `demo` binary's store day).
//!
//! The writer also checks what it can see of ARCHITECTURE.md invariant 2 (seqs strictly increasing, never
//! reused): with one writer per agent, every `ok` seq must exceed all earlier ones, across agent
//! restarts too. Run one writer per agent at a time.
//!
//! Parts, each with one job: `options` (what to send and how), `state` (the lines in flight
//! and the counters, shared by the threads), `connection` (the write loop and the answer
//! readers), `report` (what the writer saw, and its own violations); this file is the handle
//! a test holds.

mod connection;
mod options;
mod report;
mod state;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use options::{LineSource, WriterOptions};
pub use report::WriterReport;

use connection::write_loop;
use state::{Shared, State};

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
