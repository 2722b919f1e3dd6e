//! The same fault, store-edge against the common alternative: a store PC crashes while HQ's
//! broker is down.
//!
//! - `store_edge`: HQ's broker stops; the writer keeps feeding the agent, which is SIGKILLed
//!   and restarted halfway through the outage; the broker comes back. Confirmation = the line
//!   feed's `ok`.
//! - `peer` (the bridge peer): a QoS 1 publisher feeds a local Mosquitto with persistence
//!   (`autosave_interval 1`) bridged to a central Mosquitto (`cleansession false`,
//!   `max_queued_messages 0`). Confirmation = the local broker's PUBACK. The central broker
//!   stops; halfway through, the local one is SIGKILLed and restarted; the central one comes
//!   back; a persistent subscriber at the centre then counts which PUBACKed messages never
//!   arrive, and the copies (it reads until a fence message published last has arrived). The local broker saves its queue once a second, so what it
//!   PUBACKed since the last save dies with it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;

use super::{drain_strict, Outcome, Params};
use crate::mqtt_probe::MqttProbe;
use crate::wait::sleep_checking;
use crate::{Mosquitto, Stack, TestEnv, Writer, WriterOptions};

const RATE: f64 = 1_000.0;
const TOPIC: &str = "peer/events";
const SINK: &str = "peer-central-sink";
/// The last message, published after the publisher stopped.
const FENCE: &str = "fence";

pub fn store_edge(p: &Params, _rng: &mut StdRng) -> Outcome {
    let mut stack = Stack::with_mosquitto("faults-kill_in_outage");
    let writer = Writer::start(
        WriterOptions::new(stack.agent.feed_addr())
            .rate(RATE)
            .reconnect_timeout(Duration::from_secs(60)),
    );
    writer.wait_acked(500, Duration::from_secs(60));
    stack.wait_committed(1, Duration::from_secs(60));
    stack.broker().stop();
    sleep_checking(p.outage_kill_for / 2, || stack.alive());
    let before = writer.progress();
    stack.agent.kill();
    stack
        .env
        .log(format!("agent SIGKILLed with the broker down: {before:?}"));
    stack.agent.start_again();
    writer.wait_reconnected(before.connections, Duration::from_secs(60));
    sleep_checking(p.outage_kill_for / 2, || stack.alive());
    stack.broker().start();
    sleep_checking(Duration::from_secs(1), || stack.alive());
    let report = writer.stop();
    let mut o = drain_strict(&mut stack, &report, p);
    o.extra("outage", format!("{} s", p.outage_kill_for.as_secs()));
    o.extra("unanswered at the kill", report.unanswered);
    o
}

pub fn peer(p: &Params, _rng: &mut StdRng) -> Outcome {
    let env = TestEnv::new("faults-bridge_peer");
    let mut central = Mosquitto::start_in(&env.subdir("central"));
    // The HQ consumer's persistent session exists before anything is published.
    let (sink, _) = MqttProbe::connect(central.addr(), SINK, false, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("sink: {e}"));
    let mut sink = sink;
    sink.subscribe(TOPIC, 1)
        .unwrap_or_else(|e| panic!("subscribe: {e}"));
    sink.disconnect();
    let central_port = central.port();
    let mut local = Mosquitto::start_with_config(&env.subdir("local"), |port, dir, log| {
        bridged_config(port, dir, log, central_port)
    });
    env.log(format!(
        "local broker {} bridged to central {}",
        local.addr(),
        central.addr()
    ));
    let publisher = Publisher::start(local.addr());
    publisher.wait_acked(500, Duration::from_secs(30));
    central.stop();
    env.log("central broker stopped");
    std::thread::sleep(p.outage_kill_for / 2);
    local.kill();
    let acked_at_kill = publisher.acked();
    env.log(format!(
        "local broker SIGKILLed; {acked_at_kill} PUBACKed so far"
    ));
    local.start();
    publisher.wait_acked(acked_at_kill + 100, Duration::from_secs(30));
    std::thread::sleep(p.outage_kill_for / 2);
    central.start();
    env.log("central broker back");
    let (acked, published) = publisher.stop();
    publish_fence(&local);
    let received = collect(&central);
    let mut o = Outcome {
        confirmed: acked.len() as u64,
        ..Outcome::default()
    };
    let mut copies = 0;
    for (n, count) in &received {
        if acked.contains(n) {
            o.applied += 1;
        }
        copies += count - 1;
    }
    o.lost = o.confirmed - o.applied;
    o.double_applied = copies;
    o.extra("outage", format!("{} s", p.outage_kill_for.as_secs()));
    o.extra("published", published);
    env.log(format!(
        "bridge peer: {} PUBACKed, {} arrived, {} lost, {copies} copies",
        o.confirmed, o.applied, o.lost
    ));
    o
}

/// The harness's broker config plus a bridge to `central_port` for [`TOPIC`].
fn bridged_config(port: u16, dir: &Path, log: &Path, central_port: u16) -> String {
    crate::mosquitto::config(port, dir, log)
        + &format!(
            "connection central\n\
             address 127.0.0.1:{central_port}\n\
             topic {TOPIC} out 1\n\
             cleansession false\n\
             restart_timeout 1\n\
             bridge_protocol_version mqttv311\n"
        )
}

/// Publishes [`FENCE`] through the local broker once the publisher has stopped: the bridge
/// forwards its queue in order, so once the fence reaches the sink, every message still held
/// for the bridge has too.
fn publish_fence(local: &Mosquitto) {
    crate::wait::wait_for(
        Duration::from_secs(30),
        "the fence PUBACKed by the local broker",
        || {
            let (mut c, _) =
                MqttProbe::connect(local.addr(), "peer-fence", true, Duration::from_secs(2))?;
            c.publish(TOPIC, FENCE.as_bytes(), false)?;
            c.disconnect();
            Ok(())
        },
    );
}

/// Reads the sink's session until the fence arrives (at most 120 s), then 1 s more for late
/// copies. Returns how many times each numbered payload arrived.
fn collect(central: &Mosquitto) -> BTreeMap<u64, u64> {
    let (mut sink, _) = MqttProbe::connect(central.addr(), SINK, false, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("sink: {e}"));
    let mut got: BTreeMap<u64, u64> = BTreeMap::new();
    let start = Instant::now();
    let mut fenced: Option<Instant> = None;
    while start.elapsed() < Duration::from_secs(120)
        && fenced.is_none_or(|t| t.elapsed() < Duration::from_secs(1))
    {
        let msgs = sink
            .receive_for(Duration::from_millis(200))
            .unwrap_or_else(|e| panic!("sink: {e}"));
        for m in msgs {
            if m.payload == FENCE.as_bytes() {
                fenced.get_or_insert_with(Instant::now);
            } else if let Some(n) = std::str::from_utf8(&m.payload)
                .ok()
                .and_then(|s| s.parse().ok())
            {
                *got.entry(n).or_default() += 1;
            }
        }
    }
    sink.disconnect();
    if fenced.is_none() {
        panic!(
            "the fence did not reach the central sink within 120 s: the bridge never reconnected"
        );
    }
    got
}

/// A QoS 1 publisher on its own thread: numbered payloads at [`RATE`], one in flight, each
/// recorded once PUBACKed; reconnects (every 100 ms) while the broker is down.
struct Publisher {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<BTreeSet<u64>>>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl Publisher {
    fn start(addr: std::net::SocketAddr) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(BTreeSet::new()));
        let thread = {
            let (stop, acked) = (stop.clone(), acked.clone());
            std::thread::spawn(move || {
                let mut next = 1u64;
                let start = Instant::now();
                let mut conn: Option<MqttProbe> = None;
                while !stop.load(Ordering::SeqCst) {
                    let Some(c) = conn.as_mut() else {
                        match MqttProbe::connect(
                            addr,
                            "peer-publisher",
                            true,
                            Duration::from_secs(2),
                        ) {
                            Ok((c, _)) => conn = Some(c),
                            Err(_) => std::thread::sleep(Duration::from_millis(100)),
                        }
                        continue;
                    };
                    let due = start + Duration::from_secs_f64(next as f64 / RATE);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    // A message whose PUBACK never came is not confirmed, and not retried: the
                    // source would not know whether it was stored either.
                    match c.publish(TOPIC, next.to_string().as_bytes(), false) {
                        Ok(()) => {
                            acked.lock().unwrap_or_else(|e| e.into_inner()).insert(next);
                        }
                        Err(_) => conn = None,
                    }
                    next += 1;
                }
                next - 1
            })
        };
        Self {
            stop,
            acked,
            thread: Some(thread),
        }
    }

    fn acked(&self) -> u64 {
        self.acked.lock().unwrap_or_else(|e| e.into_inner()).len() as u64
    }

    fn wait_acked(&self, n: u64, timeout: Duration) {
        crate::wait::wait_for(
            timeout,
            &format!("{n} PUBACKs from the local broker"),
            || {
                let a = self.acked();
                if a >= n {
                    Ok(())
                } else {
                    Err(format!("{a} PUBACKed"))
                }
            },
        )
    }

    /// Stops; returns the PUBACKed payloads and how many were published.
    fn stop(mut self) -> (BTreeSet<u64>, u64) {
        self.stop.store(true, Ordering::SeqCst);
        let published = self
            .thread
            .take()
            .map(|t| t.join().expect("publisher thread"))
            .unwrap_or(0);
        let acked = std::mem::take(&mut *self.acked.lock().unwrap_or_else(|e| e.into_inner()));
        (acked, published)
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
