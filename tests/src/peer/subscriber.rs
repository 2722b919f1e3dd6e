//! The peer's HQ: a subscriber on the central broker recording when each event first arrived.
//!
//! It uses a persistent session (`cleansession false`), so events bridged while it was away are
//! kept for it, and reconnects every 20 ms while the central broker is down. PUBACKs are batched:
//! written when the read buffer runs dry, so acknowledging does not cost a syscall per event.
//! Publishes whose payload carries no event index (the warm-up probe) are only counted.
//!
//! [`CentralSubscriber::start_with`] takes the filter, the session kind and the function that
//! reads event indices from a payload, so the same subscriber also watches store-edge's HQ
//! broker (`bench` decodes `EventBatch`es there to time live events during a backlog drain).

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::io::{BufReader, BufWriter, ErrorKind, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::wire;

/// What arrived so far.
#[derive(Debug, Default)]
pub struct Arrivals {
    /// Event index -> first arrival.
    pub first: HashMap<u64, Instant>,
    /// Events that arrived again (QoS 1 redeliveries).
    pub duplicates: u64,
    /// Publishes without an event index.
    pub other: u64,
    pub last_at: Option<Instant>,
    /// Connections made (1 + reconnects).
    pub connections: u32,
}

/// A running subscriber; dropping it stops it.
pub struct CentralSubscriber {
    arrivals: Arc<Mutex<Arrivals>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl CentralSubscriber {
    /// Starts subscribing to `bench/#` on `addr` as `client_id` (persistent session) in the
    /// background; payloads are the peer's ([`super::index_of`]).
    pub fn start(addr: SocketAddr, client_id: &str) -> Self {
        Self::start_with(addr, client_id, "bench/#", false, |p| {
            super::index_of(p).into_iter().collect()
        })
    }

    /// Starts subscribing to `filter` at QoS 1; `indices` reads the event indices a payload
    /// carries (none: counted as `other`).
    pub fn start_with(
        addr: SocketAddr,
        client_id: &str,
        filter: &str,
        clean_session: bool,
        indices: fn(&[u8]) -> Vec<u64>,
    ) -> Self {
        let arrivals: Arc<Mutex<Arrivals>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (arrivals, stop) = (arrivals.clone(), stop.clone());
            let client_id = client_id.to_owned();
            let how = Session {
                addr,
                client_id,
                filter: filter.to_owned(),
                clean_session,
                indices,
            };
            std::thread::Builder::new()
                .name("peer-central-subscriber".into())
                .spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        if session(&how, &arrivals, &stop).is_err() {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    }
                })
                .expect("spawn subscriber")
        };
        Self {
            arrivals,
            stop,
            thread: Some(thread),
        }
    }

    /// The arrivals so far, under the lock.
    pub fn arrivals(&self) -> MutexGuard<'_, Arrivals> {
        self.arrivals.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Distinct events arrived.
    pub fn distinct(&self) -> u64 {
        self.arrivals().first.len() as u64
    }

    /// Waits until `cond` holds on the arrivals, or `timeout` passes (`Err` with a summary).
    pub fn wait(
        &self,
        timeout: Duration,
        what: &str,
        mut cond: impl FnMut(&Arrivals) -> bool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let a = self.arrivals();
                if cond(&a) {
                    return Ok(());
                }
                if Instant::now() >= deadline {
                    return Err(format!(
                        "central subscriber: {what} not within {timeout:?} ({} distinct, {} duplicates, {} other)",
                        a.first.len(),
                        a.duplicates,
                        a.other
                    ));
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for CentralSubscriber {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// How to connect and read.
struct Session {
    addr: SocketAddr,
    client_id: String,
    filter: String,
    clean_session: bool,
    indices: fn(&[u8]) -> Vec<u64>,
}

/// One connection: connect, subscribe, receive until an error or a stop.
fn session(how: &Session, arrivals: &Mutex<Arrivals>, stop: &AtomicBool) -> Result<(), String> {
    let stream = TcpStream::connect_timeout(&how.addr, Duration::from_millis(500))
        .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let mut reader = BufReader::with_capacity(256 * 1024, stream.try_clone().unwrap());
    let mut out = BufWriter::with_capacity(64 * 1024, stream.try_clone().unwrap());
    wire::send(&mut out, &wire::connect(&how.client_id, how.clean_session))
        .map_err(|e| e.to_string())?;
    wire::expect_connack(&mut reader).map_err(|e| e.to_string())?;
    wire::send(&mut out, &wire::subscribe(1, &how.filter)).map_err(|e| e.to_string())?;
    arrivals
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .connections += 1;
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| e.to_string())?;
    let mut acks = Vec::with_capacity(64 * 1024);
    let result = loop {
        if stop.load(Ordering::SeqCst) {
            break Ok(());
        }
        match wire::read_packet(&mut reader) {
            Ok((first, body)) if first >> 4 == wire::PUBLISH => {
                let now = Instant::now();
                let Some((id, payload)) = wire::parse_publish(first, &body) else {
                    break Err("malformed PUBLISH".to_string());
                };
                {
                    let mut guard = arrivals.lock().unwrap_or_else(|e| e.into_inner());
                    let a = &mut *guard;
                    a.last_at = Some(now);
                    let indices = (how.indices)(payload);
                    if indices.is_empty() {
                        a.other += 1;
                    }
                    for i in indices {
                        match a.first.entry(i) {
                            Entry::Occupied(_) => a.duplicates += 1,
                            Entry::Vacant(v) => {
                                v.insert(now);
                            }
                        }
                    }
                }
                if let Some(id) = id {
                    wire::puback(&mut acks, id);
                }
            }
            Ok((first, _)) if first >> 4 == wire::SUBACK => {}
            Ok((first, _)) => break Err(format!("unexpected packet type {}", first >> 4)),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => break Err(e.to_string()),
        }
        if !acks.is_empty() && (reader.buffer().is_empty() || acks.len() >= 60_000) {
            if let Err(e) = wire::send(&mut out, &acks) {
                break Err(e.to_string());
            }
            acks.clear();
        }
    };
    let _ = out.flush();
    let _ = stream.shutdown(Shutdown::Both);
    result
}
