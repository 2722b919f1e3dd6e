//! store-edge's side: line feed → agent → Mosquitto → collector, confirmation = applied at HQ
//! (the collector's committed mark on `/v1/stats`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prost::Message as _;
use store_tests::benchkit::{metric, Metric};
use store_tests::check::{delivery_violations, exact_violations};
use store_tests::peer::CentralSubscriber;
use store_tests::stats::Stats;
use store_tests::{http, ports, Agent, AgentConfig, Stack, TestEnv, Writer, WriterOptions};

use crate::sample::{achieved_rate, latency_metrics, rss_mib, some_metric, CpuMeter};
use crate::Opts;

/// Baseline: how fast the agent journals line-feed events with no broker to talk to.
pub fn feed_only(opts: &Opts) -> Result<Vec<Metric>, String> {
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

/// Flat out through Mosquitto to the collector, with the delivery checks of the tests; then
/// idle for `--idle-secs` (the agent's idle RSS and CPU).
pub fn end_to_end(opts: &Opts) -> Result<Vec<Metric>, String> {
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
    let cpu = CpuMeter::start(stack.agent.pid());
    store_tests::wait::sleep_checking(Duration::from_secs(opts.idle_secs), || stack.alive());
    let idle_cpu = cpu.and_then(|c| c.percent());
    // VmHWM now: the peak over the whole run, idle period included.
    let (idle, peak) = stack.agent.rss_kib().unwrap_or((0, 0));
    let mut m = vec![
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
    ];
    m.extend(some_metric("agent_cpu_idle_pct", "% of a core", idle_cpu));
    Ok(m)
}

/// Latency at `--latency-rate`.
pub fn latency_low(opts: &Opts) -> Result<Vec<Metric>, String> {
    latency(opts, opts.latency_rate)
}

/// Latency at `--latency-rate-high`.
pub fn latency_high(opts: &Opts) -> Result<Vec<Metric>, String> {
    latency(opts, opts.latency_rate_high)
}

/// Latency at a fixed rate, from line sent to collector committed: the writer records when each
/// line was sent, a poller reads `/v1/stats` every 1 ms and records when each `committed_seq`
/// was first seen (when the response arrived, so latencies are upper bounds by up to one poll).
fn latency(opts: &Opts, rate: f64) -> Result<Vec<Metric>, String> {
    let mut stack = Stack::with_mosquitto("bench-latency");
    let (store, agent_id) = (stack.store_id(), stack.agent_id());
    let api = stack.collector.api_addr();

    // (when seen, committed_seq), appended when committed_seq changes.
    let marks: Arc<Mutex<Vec<(Instant, u64)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let (marks, stop) = (marks.clone(), stop.clone());
        let (store, agent_id) = (store.clone(), agent_id.clone());
        std::thread::spawn(move || {
            let mut last = 0;
            let mut next = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                if let Ok(r) = http::get(api, "/v1/stats", Duration::from_secs(2)) {
                    let seen = Instant::now();
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

    let total = (rate * opts.latency_secs as f64) as u64;
    let cpu = CpuMeter::start(stack.agent.pid());
    let report = Writer::start(
        WriterOptions::new(stack.agent.feed_addr())
            .total(total)
            .rate(rate)
            .record_send_times(),
    )
    .finish(Duration::from_secs(opts.latency_secs * 10 + 60));
    let cpu_pct = cpu.and_then(|c| c.percent());
    let rss = rss_mib(stack.agent.pid());
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
    let v = delivery_violations(&stats, &store, &agent_id, &report);
    if !v.is_empty() {
        println!("  delivery VIOLATED:\n    - {}", v.join("\n    - "));
    }
    let mut m = latency_metrics(&mut lat_ms)?;
    m.extend(some_metric(
        "achieved_events_per_sec",
        "events/s",
        achieved_rate(
            report.send_times.first().map(|s| s.1),
            report.send_times.last().map(|s| s.1),
            report.send_times.len(),
        ),
    ));
    m.push(metric("violations", "count", v.len() as f64));
    m.extend(some_metric("agent_rss_mib", "MiB", rss.map(|r| r.0)));
    m.extend(some_metric("agent_cpu_pct", "% of a core", cpu_pct));
    Ok(m)
}

/// Backlog with the historical rate capped at 5000 events/s (`[uplink] backlog_events_per_sec`;
/// the default before the live-first drain window, kept for comparison).
pub fn backlog_default(opts: &Opts) -> Result<Vec<Metric>, String> {
    backlog(opts, 5_000)
}

/// Backlog with no rate cap (`backlog_events_per_sec = 0`, the default: the live-first drain
/// window alone paces it).
pub fn backlog_unlimited(opts: &Opts) -> Result<Vec<Metric>, String> {
    backlog(opts, 0)
}

/// HQ's broker down while `--backlog` events are journaled; then up: when the collector first
/// commits again (resume), when it has committed the whole backlog (drain), and the latency of
/// live events sent at `--live-rate` during the drain, taken at their arrival at a subscriber
/// on HQ's broker (the collector's committed mark is contiguous, so it cannot time a live
/// event that overtakes the backlog). The agent keeps its shipped reconnect and stall settings.
fn backlog(opts: &Opts, historical_rate: u64) -> Result<Vec<Metric>, String> {
    let mut stack = Stack::with_mosquitto_and("bench-backlog", |c| {
        c.backlog_events_per_sec = historical_rate;
        c.reconnect_min_ms = 250;
        c.reconnect_max_ms = 30_000;
        c.stall_timeout_secs = 30;
    });
    let (store, agent_id) = (stack.store_id(), stack.agent_id());
    let hq = stack.broker().addr();
    let observer = CentralSubscriber::start_with(
        hq,
        "bench-hq-observer",
        store_proto::topics::ALL_EVENTS_FILTER,
        true,
        batch_seqs,
    );
    let committed = |stack: &Stack| {
        stack.stats().ok().and_then(|s| {
            s.agent(&store, &agent_id)
                .map(|a| (a.committed_seq, a.gaps.is_empty()))
        })
    };
    let before = committed(&stack).map_or(0, |c| c.0);
    let rss_before = rss_mib(stack.agent.pid());
    stack.broker().stop();

    let report = Writer::start(
        WriterOptions::new(stack.agent.feed_addr())
            .total(opts.backlog)
            .window(opts.window),
    )
    .finish(Duration::from_secs(3_600));
    if report.acked.len() as u64 != opts.backlog {
        return Err(format!("backlog writer: {}", report.summary()));
    }
    let ingest = report.acked.len() as f64
        / (report.last_ack_at.expect("acks") - report.started).as_secs_f64();
    let max = report.max_acked().expect("acks");

    stack.broker().start();
    let up = Instant::now();
    let live = Writer::start(
        WriterOptions::new(stack.agent.feed_addr())
            .rate(opts.live_rate)
            .first_index(opts.backlog)
            .record_send_times(),
    );
    let deadline = up + Duration::from_secs(opts.backlog_timeout_secs);
    let mut resumed = None;
    let drained = loop {
        stack.alive()?;
        if let Some((c, no_gaps)) = committed(&stack) {
            if c > before && resumed.is_none() {
                resumed = Some(Instant::now());
            }
            if c >= max && no_gaps {
                break Instant::now();
            }
        }
        if Instant::now() > deadline {
            return Err(format!(
                "backlog not drained within {} s: {}",
                opts.backlog_timeout_secs,
                stack.stats_summary()
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let live = live.stop();
    let rss_drained = rss_mib(stack.agent.pid());
    let live_seqs: Vec<(u64, Instant)> = live
        .send_times
        .iter()
        .copied()
        .filter(|&(_, sent)| sent < drained)
        .collect();
    observer.wait(Duration::from_secs(60), "every live event", |a| {
        live_seqs.iter().all(|(s, _)| a.first.contains_key(s))
    })?;
    let mut lat_ms: Vec<f64> = {
        let a = observer.arrivals();
        live_seqs
            .iter()
            .map(|(s, sent)| a.first[s].saturating_duration_since(*sent).as_secs_f64() * 1e3)
            .collect()
    };
    let resumed = resumed.unwrap_or(drained);
    let secs = |t: Instant| t.saturating_duration_since(up).as_secs_f64();
    let mut m = vec![
        metric("ingest_events_per_sec", "events/s", ingest),
        metric("resume_secs", "s", secs(resumed)),
        metric("drain_secs", "s", secs(drained)),
        metric(
            "drain_events_per_sec",
            "events/s",
            opts.backlog as f64 / secs(drained),
        ),
    ];
    if !lat_ms.is_empty() {
        lat_ms.sort_by(f64::total_cmp);
        m.push(metric(
            "live_p50_ms",
            "ms",
            store_tests::benchkit::percentile(&lat_ms, 50.0),
        ));
        m.push(metric(
            "live_p99_ms",
            "ms",
            store_tests::benchkit::percentile(&lat_ms, 99.0),
        ));
        m.push(metric("live_events", "count", lat_ms.len() as f64));
    }
    m.extend(some_metric(
        "agent_rss_before_mib",
        "MiB",
        rss_before.map(|r| r.0),
    ));
    m.extend(some_metric(
        "agent_rss_peak_mib",
        "MiB",
        rss_drained.map(|r| r.1),
    ));
    m.extend(some_metric(
        "agent_rss_drained_mib",
        "MiB",
        rss_drained.map(|r| r.0),
    ));
    Ok(m)
}

/// The seqs of an `EventBatch` payload (none if it does not decode).
fn batch_seqs(payload: &[u8]) -> Vec<u64> {
    store_proto::EventBatch::decode(payload)
        .map(|b| b.events.iter().map(|e| e.seq).collect())
        .unwrap_or_default()
}
