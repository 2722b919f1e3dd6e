//! A flood of connections on the line feed of a real `store-agent` held to the usual soft limit
//! of 1,024 file descriptors: about 2,000 connections opened and kept open by the test. The
//! driver must keep serving: a client connected before the flood gets `ok` for every line
//! throughout, connections beyond `max_connections` get `err busy: too many connections` and are
//! closed (so the agent never runs out of descriptors), the driver is never restarted, and once
//! the flood is gone the agent's memory is back near where it was and new clients are served.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use store_tests::{bins, ports, serial, wait, Agent, AgentConfig, TestEnv};

/// Connections the flood opens (fewer if this process may not open that many descriptors).
const FLOOD: u64 = 2_000;
/// The agent's soft and hard `RLIMIT_NOFILE`, the usual default soft limit.
const AGENT_NOFILE: u64 = 1_024;
/// The line feed's default `max_connections`.
const MAX_CONNECTIONS: usize = 64;
/// How far above its pre-flood resident size the agent may stay once the flood is gone.
const RSS_SLACK_KIB: u64 = 20 * 1024;

const GOOD_LINE: &[u8] = b"{\"type\":\"scan\",\"device_id\":\"good\",\"data\":\"4006381333931\"}\n";
const BUSY: &str = "err busy: too many connections\n";

fn prlimit_nofile(pid: u32, limits: &str) {
    let status = Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .arg(format!("--nofile={limits}"))
        .status()
        .expect("run prlimit (util-linux)");
    assert!(
        status.success(),
        "prlimit --pid={pid} --nofile={limits}: {status}"
    );
}

fn nofile_of(pid: &str) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let mut fields = line.split_whitespace().skip(3);
    let mut next = || fields.next().unwrap().parse().unwrap();
    (next(), next())
}

/// A line-feed client that sends one line at a time and checks every answer is `ok`.
struct GoodClient {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Result<u64, String>>,
}

impl GoodClient {
    fn start(addr: SocketAddr, acked: Arc<std::sync::atomic::AtomicU64>) -> Self {
        let stream = TcpStream::connect(addr).expect("good client connects");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut writer = stream;
            let mut n = 0u64;
            while !stopping.load(Ordering::Relaxed) {
                writer
                    .write_all(GOOD_LINE)
                    .map_err(|e| format!("line {n}: write: {e}"))?;
                let mut answer = String::new();
                reader
                    .read_line(&mut answer)
                    .map_err(|e| format!("line {n}: read: {e}"))?;
                if !answer.starts_with("ok ") {
                    return Err(format!("line {n} answered {answer:?}"));
                }
                n += 1;
                acked.store(n, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(n)
        });
        Self { stop, thread }
    }

    fn finish(self) -> Result<u64, String> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("good client thread")
    }
}

/// What became of the flood's connections.
#[derive(Debug, Default)]
struct Classified {
    busy: usize,
    /// Still open without an answer: served (or not yet refused).
    open: usize,
    other: usize,
}

fn classify(flood: &mut [TcpStream]) -> Classified {
    let mut c = Classified::default();
    let mut buf = [0u8; 64];
    for stream in flood {
        // `peek` leaves the refusal in place for the next round.
        match stream.peek(&mut buf) {
            Ok(n) if buf[..n] == *BUSY.as_bytes() => c.busy += 1,
            Ok(0) => c.other += 1,
            Ok(n) if BUSY.as_bytes().starts_with(&buf[..n]) => c.open += 1,
            Ok(_) => c.other += 1,
            Err(e) if e.kind() == ErrorKind::WouldBlock => c.open += 1,
            Err(_) => c.other += 1,
        }
    }
    c
}

/// A fresh client's answer to one good line.
fn one_line(addr: SocketAddr) -> Result<String, String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // A refused client may be closed before it writes: the answer is what counts.
    let _ = stream.write_all(GOOD_LINE);
    let mut answer = String::new();
    BufReader::new(&mut stream)
        .read_line(&mut answer)
        .map_err(|e| format!("read: {e}"))?;
    Ok(answer)
}

fn driver_restarts(agent: &Agent) -> u64 {
    let out = Command::new(bins::agent())
        .args(["status", "--json", "--config"])
        .arg(agent.config_path())
        .output()
        .expect("run store-agent status");
    assert!(out.status.success(), "{out:?}");
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    let feed = &status["drivers"][&agent.config().feed_id];
    assert_eq!(feed["kind"], "line_feed", "{status}");
    feed["restarts"].as_u64().expect("restarts")
}

fn rss_kib(agent: &Agent) -> u64 {
    agent.rss_kib().expect("agent running").0
}

#[test]
fn a_connection_flood_is_refused_without_starving_good_clients_or_keeping_memory() {
    let _serial = serial();
    let env = TestEnv::new("line_feed_flood");
    let dir = env.subdir("agent");
    // No broker: the journal answers the line feed regardless.
    let mut agent = Agent::start(&dir, AgentConfig::new(&dir, ports::free_port()));
    let pid = agent.pid().expect("agent pid");
    prlimit_nofile(pid, &format!("{AGENT_NOFILE}:{AGENT_NOFILE}"));
    assert_eq!(nofile_of(&pid.to_string()), (AGENT_NOFILE, AGENT_NOFILE));
    let addr = agent.feed_addr();

    // This process holds the whole flood open.
    let (soft, hard) = nofile_of("self");
    if soft < hard {
        prlimit_nofile(std::process::id(), &format!("{hard}:"));
    }
    let flood_size = FLOOD.min(hard.saturating_sub(256));
    assert!(
        flood_size > AGENT_NOFILE,
        "hard RLIMIT_NOFILE {hard} too low to outnumber the agent's {AGENT_NOFILE}"
    );

    let acked = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let good = GoodClient::start(addr, acked.clone());
    wait::wait_until(Duration::from_secs(30), "good client warmed up", || {
        acked.load(Ordering::Relaxed) >= 100
    });
    let baseline = rss_kib(&agent);
    env.log(format!("agent VmRSS before the flood: {baseline} KiB"));

    let before_flood = acked.load(Ordering::Relaxed);
    let started = Instant::now();
    let mut flood = Vec::with_capacity(flood_size as usize);
    for i in 0..flood_size {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("flood connection {i}: {e}"));
        stream.set_nonblocking(true).unwrap();
        flood.push(stream);
    }
    env.log(format!(
        "{} flood connections open after {:?}",
        flood.len(),
        started.elapsed()
    ));
    // All but the free slots are refused (the good client holds one).
    let classified = wait::wait_for(Duration::from_secs(60), "flood refused", || {
        let c = classify(&mut flood);
        if c.open < MAX_CONNECTIONS && c.busy + c.open == flood.len() {
            Ok(c)
        } else {
            Err(format!("{c:?}"))
        }
    });
    env.log(format!("flood: {classified:?}"));
    let peak = rss_kib(&agent);
    env.log(format!("agent VmRSS with the flood open: {peak} KiB"));
    // The listener still answers new clients while the flood is open.
    assert_eq!(one_line(addr).unwrap(), BUSY);
    // The good client was answered during the flood.
    wait::wait_until(
        Duration::from_secs(30),
        "good lines answered during the flood",
        || acked.load(Ordering::Relaxed) >= before_flood + 50,
    );

    // Make the flood's served connections send something too, then close everything.
    for stream in &mut flood {
        let _ = stream.write(GOOD_LINE);
        let mut sink = [0u8; 256];
        let _ = stream.read(&mut sink);
    }
    drop(flood);

    // New clients are served again, by the same driver.
    let answer = wait::wait_for(
        Duration::from_secs(30),
        "a new client served",
        || match one_line(addr) {
            Ok(a) if a.starts_with("ok ") => Ok(a),
            other => Err(format!("{other:?}")),
        },
    );
    env.log(format!("new client after the flood: {answer:?}"));
    let after_flood = acked.load(Ordering::Relaxed);
    wait::wait_until(
        Duration::from_secs(30),
        "good lines after the flood",
        || acked.load(Ordering::Relaxed) >= after_flood + 50,
    );
    let sent = good.finish().expect("every good line answered ok");
    env.log(format!("good client: {sent} lines, all ok"));
    assert_eq!(driver_restarts(&agent), 0, "the line feed was restarted");

    let settled = wait::wait_for(Duration::from_secs(60), "agent memory back", || {
        let rss = rss_kib(&agent);
        if rss <= baseline + RSS_SLACK_KIB {
            Ok(rss)
        } else {
            Err(format!("VmRSS {rss} KiB, baseline {baseline} KiB"))
        }
    });
    env.log(format!("agent VmRSS after the flood: {settled} KiB"));
    agent.check_running().expect("agent still running");
}
