//! Recovery measurements: how soon events reach HQ after an outage, how fast a backlog drains
//! and what live events pay meanwhile, and the agent's CPU and memory doing it.
//!
//! Agent settings are written explicitly (production backoff `250..30000` ms, stall timeout
//! 30 s, drain rate `--drain-rate`) and only with keys every version understands, so the same
//! bench runs against older binaries (`STORE_AGENT_BIN`, `STORE_COLLECTOR_BIN`) for a baseline.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use store_tests::benchkit::{metric, Metric};
use store_tests::stats::Stats;
use store_tests::wait::sleep_checking;
use store_tests::{http, process, AgentConfig, Stack, Writer, WriterOptions};

use crate::{percentile, Opts};

/// The agent's uplink as shipped: full-jitter backoff up to 30 s, 30 s stall timeout; the
/// drain rate and any `--uplink` keys from the options.
fn production(c: &mut AgentConfig, opts: &Opts) {
    c.reconnect_min_ms = 250;
    c.reconnect_max_ms = 30_000;
    c.stall_timeout_secs = 30;
    c.backlog_events_per_sec = opts.drain_rate;
    c.uplink_extra = opts.uplink_extra.clone();
}

/// Polls `/v1/stats` every 5 ms until the agent's contiguous mark reaches `seq`; returns when
/// that was first seen.
fn wait_committed_at(stack: &mut Stack, seq: u64, timeout: Duration) -> Result<Instant, String> {
    let (store, agent) = (stack.store_id(), stack.agent_id());
    let deadline = Instant::now() + timeout;
    loop {
        stack.alive()?;
        if let Ok(s) = stack.stats() {
            if s.agent(&store, &agent)
                .is_some_and(|a| a.committed_seq >= seq && a.gaps.is_empty())
            {
                return Ok(Instant::now());
            }
        }
        if Instant::now() > deadline {
            return Err(format!(
                "seq {seq} not committed: {}",
                stack.stats_summary()
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Broker killed for `--outage-secs` (long enough for the backoff to reach its cap), then
/// started again: seconds until everything journaled meanwhile is committed at HQ.
pub fn reconnect(opts: &Opts) -> Result<Vec<Metric>, String> {
    let mut stack = Stack::with_mosquitto_and("bench-reconnect", |c| production(c, opts));
    let writer = Writer::start(WriterOptions::new(stack.agent.feed_addr()).rate(100.0));
    writer.wait_acked(100, Duration::from_secs(60));
    stack.wait_committed(1, Duration::from_secs(60));
    stack.broker().kill();
    sleep_checking(Duration::from_secs(opts.outage_secs), || stack.alive());
    stack.broker().start();
    let back = Instant::now();
    let pending = writer.progress().max_acked.ok_or("nothing acknowledged")?;
    let at = wait_committed_at(&mut stack, pending, Duration::from_secs(300))?;
    writer.stop();
    Ok(vec![metric(
        "first_at_hq_secs",
        "s",
        at.saturating_duration_since(back).as_secs_f64(),
    )])
}

/// Collector SIGKILLed, broker killed and wiped and started again: the agent's batches are
/// accepted and dropped until the collector returns. Seconds from the collector's start (and
/// from its `/healthz` answering) until they are committed.
pub fn empty_broker(opts: &Opts) -> Result<Vec<Metric>, String> {
    let mut stack = Stack::with_mosquitto_and("bench-empty-broker", |c| production(c, opts));
    let client_id = format!("store-agent-{}-{}", stack.store_id(), stack.agent_id());
    let writer = Writer::start(WriterOptions::new(stack.agent.feed_addr()).rate(100.0));
    writer.wait_acked(100, Duration::from_secs(60));
    stack.wait_committed(1, Duration::from_secs(60));
    stack.collector.kill();
    stack.broker().kill();
    stack.broker().wipe();
    let connections = |stack: &mut Stack| {
        stack
            .broker()
            .log_tail(100_000)
            .lines()
            .filter(|l| l.contains("New client connected") && l.contains(&client_id))
            .count()
    };
    let before = connections(&mut stack);
    stack.broker().start();
    store_tests::wait::wait_until(Duration::from_secs(120), "the agent reconnects", || {
        connections(&mut stack) > before
    });
    writer.wait_acked(writer.progress().acked + 200, Duration::from_secs(60));
    let dropped_to = writer.progress().max_acked.ok_or("nothing acknowledged")?;
    let started = Instant::now();
    stack.collector.start_again();
    let ready = Instant::now();
    let at = wait_committed_at(&mut stack, dropped_to, Duration::from_secs(300))?;
    writer.stop();
    Ok(vec![
        metric(
            "at_hq_after_collector_start_secs",
            "s",
            at.saturating_duration_since(started).as_secs_f64(),
        ),
        metric(
            "at_hq_after_collector_ready_secs",
            "s",
            at.saturating_duration_since(ready).as_secs_f64(),
        ),
    ])
}

/// What the poller saw: when, the contiguous mark, and the applied ranges above the backlog.
type Seen = (Instant, u64, Vec<(u64, u64)>);

/// A `--backlog` of events journaled with the broker down, then the broker back with live
/// events at `--live-rate` meanwhile: drain time, live latency (line sent → applied at HQ,
/// polled every 5 ms), agent RSS while draining and after, agent CPU over the drain.
pub fn drain(opts: &Opts) -> Result<Vec<Metric>, String> {
    let mut stack = Stack::with_mosquitto_and("bench-drain", |c| {
        production(c, opts);
        // Only the drain is measured: the agent reconnects quickly once the broker is back.
        c.reconnect_min_ms = 100;
        c.reconnect_max_ms = 1_000;
    });
    let (store, agent_id) = (stack.store_id(), stack.agent_id());
    stack.broker().kill();
    let report = Writer::start(
        WriterOptions::new(stack.agent.feed_addr())
            .total(opts.backlog)
            .window(opts.window),
    )
    .finish(Duration::from_secs(1_800));
    let backlog_max = report.max_acked().ok_or("nothing acknowledged")?;
    let pid = stack.agent.pid().ok_or("agent not running")?;
    let (rss_backlog, _) = process::rss_kib(pid).unwrap_or((0, 0));

    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let rss_max = Arc::new(Mutex::new(0u64));
    let stop = Arc::new(AtomicBool::new(false));
    let api = stack.collector.api_addr();
    let poller = {
        let (seen, stop, rss_max) = (seen.clone(), stop.clone(), rss_max.clone());
        let (store, agent_id) = (store.clone(), agent_id.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Some((rss, _)) = process::rss_kib(pid) {
                    let mut m = rss_max.lock().unwrap();
                    *m = (*m).max(rss);
                }
                if let Ok(r) = http::get(api, "/v1/stats", Duration::from_secs(2)) {
                    let at = Instant::now();
                    if let Ok(s) = Stats::parse(&r.body) {
                        if let Some(a) = s.agent(&store, &agent_id) {
                            let live = a
                                .applied_ranges
                                .iter()
                                .copied()
                                .filter(|&(_, l)| l > backlog_max)
                                .collect();
                            seen.lock().unwrap().push((at, a.committed_seq, live));
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let cpu_before = process::cpu_ticks(pid).unwrap_or(0);
    stack.broker().start();
    let back = Instant::now();
    // Live events are those written once the broker is back: what was journaled before is
    // the backlog, whenever it was written.
    let live = Writer::start(
        WriterOptions::new(stack.agent.feed_addr())
            .rate(opts.live_rate)
            .first_index(opts.backlog)
            .record_send_times(),
    );
    let drained = wait_committed_at(&mut stack, backlog_max, Duration::from_secs(1_800))?;
    let cpu_drain = process::cpu_ticks(pid).unwrap_or(0) - cpu_before;
    let live_report = live.stop();
    let live_max = live_report.max_acked().unwrap_or(backlog_max);
    let result = wait_committed_at(&mut stack, live_max, Duration::from_secs(120));
    // The poller must have seen the last live event applied before it stops.
    let last_seen = Instant::now() + Duration::from_secs(10);
    while Instant::now() < last_seen {
        let caught_up = seen
            .lock()
            .unwrap()
            .last()
            .is_some_and(|(_, c, _)| *c >= live_max);
        if caught_up {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let (rss_drained, _) = process::rss_kib(pid).unwrap_or((0, 0));
    stop.store(true, Ordering::Relaxed);
    let _ = poller.join();
    result?;
    sleep_checking(Duration::from_secs(opts.idle_secs), || stack.alive());
    let (rss_idle, hwm) = process::rss_kib(pid).unwrap_or((0, 0));
    let rss_draining = *rss_max.lock().unwrap();

    let seen = seen.lock().unwrap();
    let mut lat_ms = Vec::with_capacity(live_report.send_times.len());
    for &(seq, sent) in &live_report.send_times {
        let applied = seen.iter().find(|(at, c, live)| {
            *at >= sent && (*c >= seq || live.iter().any(|&(a, b)| a <= seq && seq <= b))
        });
        match applied {
            Some((at, _, _)) => lat_ms.push(at.saturating_duration_since(sent).as_secs_f64() * 1e3),
            None => return Err(format!("live seq {seq} never seen applied")),
        }
    }
    if lat_ms.is_empty() {
        return Err("no live events".into());
    }
    lat_ms.sort_by(f64::total_cmp);
    let drain_secs = drained.saturating_duration_since(back).as_secs_f64();
    let mib = |kib: u64| kib as f64 / 1024.0;
    Ok(vec![
        metric("drain_secs", "s", drain_secs),
        metric(
            "drain_events_per_sec",
            "events/s",
            backlog_max as f64 / drain_secs,
        ),
        metric("live_p50_ms", "ms", percentile(&lat_ms, 50.0)),
        metric("live_p99_ms", "ms", percentile(&lat_ms, 99.0)),
        metric("live_max_ms", "ms", lat_ms[lat_ms.len() - 1]),
        metric("live_events", "count", lat_ms.len() as f64),
        metric(
            "agent_cpu_drain_pct",
            "%",
            100.0 * cpu_drain as f64 / process::clock_ticks() as f64 / drain_secs,
        ),
        metric("agent_rss_backlog_mib", "MiB", mib(rss_backlog)),
        metric("agent_rss_draining_max_mib", "MiB", mib(rss_draining)),
        metric("agent_rss_drained_mib", "MiB", mib(rss_drained)),
        metric("agent_rss_idle_mib", "MiB", mib(rss_idle)),
        metric("agent_rss_hwm_mib", "MiB", mib(hwm)),
    ])
}
