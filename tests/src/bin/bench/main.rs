//! End-to-end benchmark of store-edge with real processes. Prints numbers; asserts nothing timed.
//!
//! ```text
//! cargo build --release --bins
//! cargo run --release -p store-tests --bin bench -- [--runs 3] [--events 200000]
//!     [--latency-rate 1000] [--latency-secs 10] [--idle-secs 5] [--window 8192] [--group 1024]
//!     [--only journal,feed_only,e2e,latency,reconnect,empty_broker,drain]
//!     [--outage-secs 40] [--drain-rate 0] [--backlog 1000000] [--live-rate 100]
//!     [--uplink key=value,...]   (extra [uplink] keys for the recovery measurements)
//! ```
//!
//! Each run starts fresh processes in a fresh temporary directory and executes every selected
//! measurement once (measurements are interleaved across runs, so a slow phase of the machine
//! does not land on one measurement only). Medians over the runs are printed, and ratios of
//! measurements taken in the same run (e.g. end-to-end throughput over the journal-only
//! baseline), medians of the per-run ratios.
//!
//! Measurements:
//! - `journal`: the agent's journal alone, in process: groups of `--group` events appended and
//!   made durable (sled flush + fdatasync) one after the other. Events/s.
//! - `feed_only` (baseline): line feed → agent journal, no broker reachable. Events/s until the
//!   last `ok`.
//! - `e2e`: line feed → agent → Mosquitto → collector applied, flat out. Events/s from the first
//!   line sent until the collector's committed mark covers every acknowledged seq; zero loss and
//!   exactly-once effect are checked and reported; agent RSS: `VmRSS` when drained, `VmRSS`
//!   after `--idle-secs` idle, and the peak (`VmHWM`, read at the very end).
//! - `latency`: `--latency-rate` events/s for `--latency-secs`; the writer records when each
//!   line was sent, a poller reads `/v1/stats` every 1 ms and records when each `committed_seq`
//!   was first seen (the time the response arrived, so latencies are upper bounds by up to one
//!   poll). Latency = committed time − send time. Also the agent's CPU over the run
//!   (utime + stime from `/proc/<pid>/stat`), in % of one core.
//! - `reconnect`, `empty_broker`, `drain`: recovery after an outage and the drain of a backlog
//!   (see `recovery.rs`). Not run unless named in `--only`: they take minutes. `--drain-rate`
//!   is written as `uplink.backlog_events_per_sec` (0: uncapped; 5000 was the old default).
//!
//! To add a measurement (e.g. an in-process journal-only one), write a
//! `fn(&Opts) -> Result<Vec<Metric>, String>` and add it to [`MEASUREMENTS`]; to compare it with
//! another, add a line to [`RATIOS`].

mod recovery;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use store_tests::benchkit::{metric, Decimals, Measurement, Metric, Ratio, Suite};
use store_tests::check::{delivery_violations, exact_violations};
use store_tests::stats::Stats;
use store_tests::{http, ports, Agent, AgentConfig, Stack, TestEnv, Writer, WriterOptions};

/// Command-line options.
#[derive(Debug, Clone)]
struct Opts {
    runs: usize,
    events: u64,
    latency_rate: f64,
    latency_secs: u64,
    idle_secs: u64,
    window: usize,
    group: usize,
    only: Option<Vec<String>>,
    outage_secs: u64,
    drain_rate: u64,
    backlog: u64,
    live_rate: f64,
    uplink_extra: String,
}

impl Default for Opts {
    fn default() -> Self {
        Self {
            runs: 3,
            events: 200_000,
            latency_rate: 1_000.0,
            latency_secs: 10,
            idle_secs: 5,
            window: 8_192,
            group: 1_024,
            only: None,
            outage_secs: 40,
            drain_rate: 0,
            backlog: 1_000_000,
            live_rate: 100.0,
            uplink_extra: String::new(),
        }
    }
}

/// Run in this order in every run.
const MEASUREMENTS: &[Measurement<Opts>] = &[
    (
        "journal",
        "journal alone: durable group commits, in process",
        journal,
    ),
    (
        "feed_only",
        "baseline: line feed -> agent journal, no broker",
        feed_only,
    ),
    (
        "e2e",
        "line feed -> agent -> Mosquitto -> collector applied, flat out",
        end_to_end,
    ),
    (
        "latency",
        "line feed -> collector committed, at a fixed rate",
        latency,
    ),
    (
        "reconnect",
        "broker down for --outage-secs, then back: everything journaled meanwhile at HQ",
        recovery::reconnect,
    ),
    (
        "empty_broker",
        "broker restarted empty with the collector down: dropped batches at HQ after it returns",
        recovery::empty_broker,
    ),
    (
        "drain",
        "a --backlog journaled with the broker down drains beside live events at --live-rate",
        recovery::drain,
    ),
];

/// What runs without `--only`: the recovery measurements take minutes each.
const DEFAULT_ONLY: &[&str] = &["journal", "feed_only", "e2e", "latency"];

const RATIOS: &[Ratio] = &[
    (
        "end-to-end events/s over feed-only (journal) events/s",
        "e2e.events_per_sec",
        "feed_only.events_per_sec",
    ),
    (
        "feed-only events/s over journal-alone events/s",
        "feed_only.events_per_sec",
        "journal.events_per_sec",
    ),
];

/// Durable journal ingest, in process, without TCP or the writer task.
fn journal(opts: &Opts) -> Result<Vec<Metric>, String> {
    use store_agent::config::JournalConfig;
    use store_agent::journal::Journal;
    use store_proto::v1::FootTraffic;
    use store_proto::{Body, Event};

    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (mut journal, _reader, _) =
        Journal::open(dir.path(), JournalConfig::default()).map_err(|e| e.to_string())?;
    let event = |i: u64| Event {
        device_id: "door-1".into(),
        wall_time_ms: 1_700_000_000_000 + i as i64,
        body: Some(Body::FootTraffic(FootTraffic {
            counter_id: "door-1".into(),
            line: "main".into(),
            entries: 1,
            ..Default::default()
        })),
        ..Default::default()
    };
    let group = opts.group.max(1) as u64;
    let started = Instant::now();
    let mut i = 0;
    while i < opts.events {
        let n = group.min(opts.events - i);
        let out = journal
            .append((i..i + n).map(event).collect())
            .map_err(|e| e.to_string())?;
        if out.iter().any(|r| r.is_err()) {
            return Err("journal refused events".into());
        }
        i += n;
    }
    let took = started.elapsed();
    Ok(vec![
        metric(
            "events_per_sec",
            "events/s",
            opts.events as f64 / took.as_secs_f64(),
        ),
        metric(
            "fsyncs_per_sec",
            "groups/s",
            opts.events.div_ceil(group) as f64 / took.as_secs_f64(),
        ),
    ])
}

const SUITE: Suite<Opts> = Suite {
    measurements: MEASUREMENTS,
    ratios: RATIOS,
    decimals: Decimals::TwoBelowThousand,
};

fn main() {
    let opts = parse_args();
    println!(
        "store-edge bench: {} run(s); {} events flat out; latency at {} events/s for {} s",
        opts.runs, opts.events, opts.latency_rate, opts.latency_secs
    );
    let default_only: Vec<String> = DEFAULT_ONLY.iter().map(|s| s.to_string()).collect();
    SUITE.run(
        &opts,
        opts.runs,
        Some(opts.only.as_deref().unwrap_or(&default_only)),
    );
}

/// Baseline: how fast the agent journals line-feed events with no broker to talk to.
fn feed_only(opts: &Opts) -> Result<Vec<Metric>, String> {
    let env = TestEnv::new("bench-feed-only");
    let dir = env.subdir("agent");
    // Nothing listens on this port: the uplink keeps reconnecting, the journal only grows.
    let agent = Agent::start(&dir, AgentConfig::new(&dir, ports::free_port()));
    let report = Writer::start(
        WriterOptions::new(agent.feed_addr())
            .total(opts.events)
            .window(opts.window),
    )
    .finish(Duration::from_secs(1_800));
    if !report.violations().is_empty() || report.acked.len() as u64 != opts.events {
        return Err(format!(
            "writer: {} {:?}",
            report.summary(),
            report.violations()
        ));
    }
    let took = report.last_ack_at.expect("acks") - report.started;
    let (_, peak) = agent.rss_kib().unwrap_or((0, 0));
    Ok(vec![
        metric(
            "events_per_sec",
            "events/s",
            report.acked.len() as f64 / took.as_secs_f64(),
        ),
        metric("agent_rss_peak_mib", "MiB", peak as f64 / 1024.0),
    ])
}

/// Flat out through Mosquitto to the collector, with the delivery checks of the tests.
fn end_to_end(opts: &Opts) -> Result<Vec<Metric>, String> {
    let mut stack = Stack::with_mosquitto("bench-e2e");
    let (store, agent_id) = (stack.store_id(), stack.agent_id());
    let started = Instant::now();
    let report = Writer::start(
        WriterOptions::new(stack.agent.feed_addr())
            .total(opts.events)
            .window(opts.window),
    )
    .finish(Duration::from_secs(1_800));
    let max = report
        .max_acked()
        .ok_or_else(|| format!("nothing acknowledged: {}", report.summary()))?;
    // Poll finely here: the end time is the measurement.
    let deadline = Instant::now() + Duration::from_secs(1_800);
    let stats: Stats = loop {
        stack.alive()?;
        if let Ok(s) = stack.stats() {
            if s.agent(&store, &agent_id)
                .is_some_and(|a| a.committed_seq >= max && a.gaps.is_empty())
            {
                break s;
            }
        }
        if Instant::now() > deadline {
            return Err(format!("not drained: {}", stack.stats_summary()));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let took = started.elapsed();
    let feed_took = report.last_ack_at.expect("acks") - report.started;
    let (drained, _) = stack.agent.rss_kib().unwrap_or((0, 0));
    let mut violations = delivery_violations(&stats, &store, &agent_id, &report);
    violations.extend(exact_violations(
        &stats,
        &store,
        &agent_id,
        &report,
        opts.events,
    ));
    violations.sort();
    violations.dedup();
    if violations.is_empty() {
        println!(
            "  zero loss: OK ({} acknowledged, {} applied exactly once)",
            report.acked.len(),
            stats.applied_total
        );
    } else {
        println!(
            "  zero loss / exactly once: VIOLATED:\n    - {}",
            violations.join("\n    - ")
        );
    }
    store_tests::wait::sleep_checking(Duration::from_secs(opts.idle_secs), || stack.alive());
    // VmHWM now: the peak over the whole run, idle period included.
    let (idle, peak) = stack.agent.rss_kib().unwrap_or((0, 0));
    Ok(vec![
        metric(
            "events_per_sec",
            "events/s",
            report.acked.len() as f64 / took.as_secs_f64(),
        ),
        metric(
            "feed_events_per_sec",
            "events/s",
            report.acked.len() as f64 / feed_took.as_secs_f64(),
        ),
        metric("violations", "count", violations.len() as f64),
        metric("duplicates_total", "count", stats.duplicates_total as f64),
        metric("agent_rss_peak_mib", "MiB", peak as f64 / 1024.0),
        metric("agent_rss_drained_mib", "MiB", drained as f64 / 1024.0),
        metric("agent_rss_idle_mib", "MiB", idle as f64 / 1024.0),
    ])
}

/// Latency at a fixed rate, from line sent to collector committed.
fn latency(opts: &Opts) -> Result<Vec<Metric>, String> {
    let mut stack = Stack::with_mosquitto("bench-latency");
    let (store, agent_id) = (stack.store_id(), stack.agent_id());
    let api = stack.collector.api_addr();

    // (when seen, committed_seq), appended when committed_seq changes.
    let marks: Arc<Mutex<Vec<(Instant, u64)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let polls = Arc::new(Mutex::new(0u64));
    let poller = {
        let (marks, stop, polls) = (marks.clone(), stop.clone(), polls.clone());
        let (store, agent_id) = (store.clone(), agent_id.clone());
        std::thread::spawn(move || {
            let mut last = 0;
            let mut next = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                if let Ok(r) = http::get(api, "/v1/stats", Duration::from_secs(2)) {
                    let seen = Instant::now();
                    *polls.lock().unwrap() += 1;
                    if let Ok(s) = Stats::parse(&r.body) {
                        if let Some(a) = s.agent(&store, &agent_id) {
                            if a.committed_seq > last {
                                last = a.committed_seq;
                                marks.lock().unwrap().push((seen, last));
                            }
                        }
                    }
                }
                next += Duration::from_millis(1);
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                } else {
                    next = now;
                }
            }
        })
    };

    let total = (opts.latency_rate * opts.latency_secs as f64) as u64;
    let pid = stack.agent.pid().ok_or("agent not running")?;
    let cpu_before = store_tests::process::cpu_ticks(pid).unwrap_or(0);
    let poll_started = Instant::now();
    let report = Writer::start(
        WriterOptions::new(stack.agent.feed_addr())
            .total(total)
            .rate(opts.latency_rate)
            .record_send_times(),
    )
    .finish(Duration::from_secs(opts.latency_secs * 10 + 60));
    let cpu_pct = 100.0 * (store_tests::process::cpu_ticks(pid).unwrap_or(0) - cpu_before) as f64
        / store_tests::process::clock_ticks() as f64
        / poll_started.elapsed().as_secs_f64();
    let max = report
        .max_acked()
        .ok_or_else(|| format!("nothing acknowledged: {}", report.summary()))?;
    let stats = stack.wait_committed(max, Duration::from_secs(120));
    // Let the poller see the final mark too.
    store_tests::wait::wait_until(
        Duration::from_secs(10),
        "the poller seeing the final mark",
        || marks.lock().unwrap().last().is_some_and(|&(_, c)| c >= max),
    );
    stop.store(true, Ordering::Relaxed);
    let _ = poller.join();
    let poll_rate = *polls.lock().unwrap() as f64 / poll_started.elapsed().as_secs_f64();

    let marks = marks.lock().unwrap();
    let mut lat_ms: Vec<f64> = Vec::with_capacity(report.send_times.len());
    for &(seq, sent) in &report.send_times {
        let i = marks.partition_point(|&(_, c)| c < seq);
        if let Some(&(seen, _)) = marks.get(i) {
            lat_ms.push(seen.saturating_duration_since(sent).as_secs_f64() * 1e3);
        }
    }
    if lat_ms.len() != report.send_times.len() {
        return Err(format!(
            "{} of {} seqs never seen committed",
            report.send_times.len() - lat_ms.len(),
            report.send_times.len()
        ));
    }
    lat_ms.sort_by(f64::total_cmp);
    let v = delivery_violations(&stats, &store, &agent_id, &report);
    if !v.is_empty() {
        println!("  delivery VIOLATED:\n    - {}", v.join("\n    - "));
    }
    let (_, peak) = stack.agent.rss_kib().unwrap_or((0, 0));
    Ok(vec![
        metric("latency_p50_ms", "ms", percentile(&lat_ms, 50.0)),
        metric("latency_p99_ms", "ms", percentile(&lat_ms, 99.0)),
        metric("latency_max_ms", "ms", lat_ms[lat_ms.len() - 1]),
        metric("events", "count", lat_ms.len() as f64),
        metric("stats_polls_per_sec", "polls/s", poll_rate),
        metric("violations", "count", v.len() as f64),
        metric("agent_rss_peak_mib", "MiB", peak as f64 / 1024.0),
        metric("agent_cpu_pct", "% of a core", cpu_pct),
    ])
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn parse_args() -> Opts {
    let mut o = Opts::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| usage(&format!("{name} needs a value")))
        };
        match flag.as_str() {
            "--runs" => o.runs = parse(&value("--runs")),
            "--events" => o.events = parse(&value("--events")),
            "--latency-rate" => o.latency_rate = parse(&value("--latency-rate")),
            "--latency-secs" => o.latency_secs = parse(&value("--latency-secs")),
            "--idle-secs" => o.idle_secs = parse(&value("--idle-secs")),
            "--window" => o.window = parse(&value("--window")),
            "--group" => o.group = parse(&value("--group")),
            "--outage-secs" => o.outage_secs = parse(&value("--outage-secs")),
            "--drain-rate" => o.drain_rate = parse(&value("--drain-rate")),
            "--backlog" => o.backlog = parse(&value("--backlog")),
            "--live-rate" => o.live_rate = parse(&value("--live-rate")),
            "--uplink" => o.uplink_extra = value("--uplink").replace(',', "\n"),
            "--only" => {
                let list: Vec<String> = value("--only").split(',').map(str::to_string).collect();
                for n in &list {
                    if !SUITE.has(n) {
                        usage(&format!("unknown measurement {n}"));
                    }
                }
                o.only = Some(list);
            }
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    if o.runs == 0 {
        usage("--runs must be at least 1");
    }
    o
}

fn parse<T: std::str::FromStr>(s: &str) -> T {
    s.parse()
        .unwrap_or_else(|_| usage(&format!("not a number: {s}")))
}

fn usage(err: &str) -> ! {
    if !err.is_empty() {
        eprintln!("bench: {err}");
    }
    eprintln!(
        "usage: bench [--runs N] [--events N] [--latency-rate R] [--latency-secs S] \
         [--idle-secs S] [--window N] [--group N] [--only {}] [--outage-secs S] \
         [--drain-rate R] [--backlog N] [--live-rate R] [--uplink key=value,...]",
        SUITE.names()
    );
    std::process::exit(if err.is_empty() { 0 } else { 2 });
}
