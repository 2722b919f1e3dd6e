//! The peer's side: QoS 1 publisher → store Mosquitto (persistence) → bridge → HQ Mosquitto →
//! subscriber; confirmation = arrival at the HQ subscriber. One function per measurement and
//! durability setting, as the suite wants plain functions.

use std::time::{Duration, Instant};

use store_tests::benchkit::{metric, Metric};
use store_tests::peer::{Durability, PeerPublisher, PeerStack, PublisherOptions};
use store_tests::TestEnv;

use crate::sample::{achieved_rate, latency_metrics, rss_mib, some_metric, CpuMeter};
use crate::Opts;

pub fn e2e_second(o: &Opts) -> Result<Vec<Metric>, String> {
    end_to_end(o, Durability::EverySecond)
}
pub fn e2e_change(o: &Opts) -> Result<Vec<Metric>, String> {
    end_to_end(o, Durability::EveryChange)
}
pub fn latency_low_second(o: &Opts) -> Result<Vec<Metric>, String> {
    latency(o, Durability::EverySecond, o.latency_rate)
}
pub fn latency_low_change(o: &Opts) -> Result<Vec<Metric>, String> {
    latency(o, Durability::EveryChange, o.latency_rate)
}
pub fn latency_high_second(o: &Opts) -> Result<Vec<Metric>, String> {
    latency(o, Durability::EverySecond, o.latency_rate_high)
}
pub fn latency_high_change(o: &Opts) -> Result<Vec<Metric>, String> {
    latency(o, Durability::EveryChange, o.latency_rate_high)
}
pub fn backlog_second(o: &Opts) -> Result<Vec<Metric>, String> {
    backlog(o, Durability::EverySecond)
}
pub fn backlog_change(o: &Opts) -> Result<Vec<Metric>, String> {
    backlog(o, Durability::EveryChange)
}

fn start(name: &str, d: Durability) -> Result<(TestEnv, PeerStack), String> {
    let env = TestEnv::new(name);
    let stack = PeerStack::start(&env.subdir("peer"), d)?;
    Ok((env, stack))
}

/// Events a flat-out or backlog measurement publishes: fewer when every change rewrites the
/// store broker's database (`--peer-change-events`), or a run would take hours.
fn events_for(o: &Opts, d: Durability, n: u64) -> u64 {
    match d {
        Durability::EverySecond => n,
        Durability::EveryChange => n.min(o.peer_change_events),
    }
}

/// Flat out, `--events` events: events/s from the first publish until every event arrived at
/// HQ; then `--idle-secs` idle (the store broker's idle RSS and CPU).
fn end_to_end(o: &Opts, d: Durability) -> Result<Vec<Metric>, String> {
    let (_env, stack) = start("bench-peer-e2e", d)?;
    let total = events_for(o, d, o.events);
    let mut opts = PublisherOptions::new(stack.local.addr(), total);
    opts.window = o.window;
    let report = PeerPublisher::start(opts)?.finish(Duration::from_secs(o.peer_timeout_secs));
    if let Some(f) = report.failure {
        return Err(format!("publisher: {f}"));
    }
    stack.subscriber.wait(
        Duration::from_secs(o.peer_timeout_secs),
        "every event",
        |a| a.first.len() as u64 >= total,
    )?;
    let (last, dups) = {
        let a = stack.subscriber.arrivals();
        (
            a.first.values().max().copied().expect("arrivals"),
            a.duplicates,
        )
    };
    let took = last.saturating_duration_since(report.started).as_secs_f64();
    let feed_took = report
        .last_ack_at
        .expect("acks")
        .saturating_duration_since(report.started)
        .as_secs_f64();
    let drained = rss_mib(stack.local.pid());
    let cpu = CpuMeter::start(stack.local.pid());
    std::thread::sleep(Duration::from_secs(o.idle_secs));
    let idle_cpu = cpu.and_then(|c| c.percent());
    let idle = rss_mib(stack.local.pid());
    let mut m = vec![
        metric("events", "count", total as f64),
        metric("events_per_sec", "events/s", total as f64 / took),
        metric("feed_events_per_sec", "events/s", total as f64 / feed_took),
        metric("duplicates_total", "count", dups as f64),
    ];
    m.extend(some_metric("broker_rss_peak_mib", "MiB", idle.map(|r| r.1)));
    m.extend(some_metric(
        "broker_rss_drained_mib",
        "MiB",
        drained.map(|r| r.0),
    ));
    m.extend(some_metric("broker_rss_idle_mib", "MiB", idle.map(|r| r.0)));
    m.extend(some_metric("broker_cpu_idle_pct", "% of a core", idle_cpu));
    Ok(m)
}

/// `rate` events/s for `--latency-secs`: latency from publish to arrival at HQ.
fn latency(o: &Opts, d: Durability, rate: f64) -> Result<Vec<Metric>, String> {
    let (_env, stack) = start("bench-peer-latency", d)?;
    let total = (rate * o.latency_secs as f64) as u64;
    let mut opts = PublisherOptions::new(stack.local.addr(), total);
    opts.rate = Some(rate);
    let cpu = CpuMeter::start(stack.local.pid());
    // A setting that cannot keep up falls ever further behind: give up after 3x the run.
    let limit = Duration::from_secs(o.latency_secs * 3 + 30);
    let report = PeerPublisher::start(opts)?.finish(limit);
    let cpu_pct = cpu.and_then(|c| c.percent());
    let rss = rss_mib(stack.local.pid());
    if let Some(f) = report.failure {
        return Err(format!("publisher: {f}"));
    }
    stack
        .subscriber
        .wait(limit, "every event", |a| a.first.len() as u64 >= total)?;
    let mut lat_ms: Vec<f64> = {
        let a = stack.subscriber.arrivals();
        report
            .send_times
            .iter()
            .enumerate()
            .map(|(i, sent)| {
                a.first[&(report.first_index + i as u64)]
                    .saturating_duration_since(*sent)
                    .as_secs_f64()
                    * 1e3
            })
            .collect()
    };
    let mut m = latency_metrics(&mut lat_ms)?;
    m.extend(some_metric(
        "achieved_events_per_sec",
        "events/s",
        achieved_rate(
            report.send_times.first().copied(),
            report.send_times.last().copied(),
            report.send_times.len(),
        ),
    ));
    m.extend(some_metric("broker_rss_mib", "MiB", rss.map(|r| r.0)));
    m.extend(some_metric("broker_cpu_pct", "% of a core", cpu_pct));
    Ok(m)
}

/// HQ's broker down while `--backlog` events are published to the store's broker; then up:
/// first arrival at HQ (resume), arrival of the whole backlog (drain), and the latency of live
/// events published at `--live-rate` during the drain.
fn backlog(o: &Opts, d: Durability) -> Result<Vec<Metric>, String> {
    let (_env, mut stack) = start("bench-peer-backlog", d)?;
    let n = events_for(o, d, o.backlog);
    let rss_before = rss_mib(stack.local.pid());
    stack.central.stop();
    let mut opts = PublisherOptions::new(stack.local.addr(), n);
    opts.window = o.window;
    let report = PeerPublisher::start(opts)?.finish(Duration::from_secs(o.peer_timeout_secs));
    if let Some(f) = report.failure {
        return Err(format!("publisher: {f}"));
    }
    let ingest = n as f64
        / report
            .last_ack_at
            .expect("acks")
            .saturating_duration_since(report.started)
            .as_secs_f64();

    stack.central.start();
    let up = Instant::now();
    let mut live = PublisherOptions::new(
        stack.local.addr(),
        (o.live_rate as u64).max(1) * o.backlog_timeout_secs,
    );
    live.first_index = n;
    live.rate = Some(o.live_rate);
    live.client_id = "bench-live-device".into();
    let live = PeerPublisher::start(live)?;
    let all_backlog = |a: &store_tests::peer::subscriber::Arrivals| {
        a.first.len() as u64 >= n && (0..n).all(|i| a.first.contains_key(&i))
    };
    let waited = stack.subscriber.wait(
        Duration::from_secs(o.backlog_timeout_secs),
        "the whole backlog",
        all_backlog,
    );
    let live = live.stop_sending(Duration::from_secs(30));
    waited?;
    let rss_drained = rss_mib(stack.local.pid());
    let (resumed, drained) = {
        let a = stack.subscriber.arrivals();
        let resumed = a
            .first
            .values()
            .filter(|t| **t >= up)
            .min()
            .copied()
            .expect("arrivals");
        let drained = (0..n)
            .filter_map(|i| a.first.get(&i))
            .max()
            .copied()
            .expect("arrivals");
        (resumed, drained)
    };
    // Live events published before the drain ended and acknowledged by the store's broker.
    let sent: Vec<(u64, Instant)> = live
        .send_times
        .iter()
        .take(live.acked as usize)
        .enumerate()
        .map(|(i, t)| (live.first_index + i as u64, *t))
        .filter(|&(_, t)| t < drained)
        .collect();
    stack
        .subscriber
        .wait(Duration::from_secs(60), "every live event", |a| {
            sent.iter().all(|(i, _)| a.first.contains_key(i))
        })?;
    let mut lat_ms: Vec<f64> = {
        let a = stack.subscriber.arrivals();
        sent.iter()
            .map(|(i, t)| a.first[i].saturating_duration_since(*t).as_secs_f64() * 1e3)
            .collect()
    };
    let secs = |t: Instant| t.saturating_duration_since(up).as_secs_f64();
    let mut m = vec![
        metric("events", "count", n as f64),
        metric("ingest_events_per_sec", "events/s", ingest),
        metric("resume_secs", "s", secs(resumed)),
        metric("drain_secs", "s", secs(drained)),
        metric("drain_events_per_sec", "events/s", n as f64 / secs(drained)),
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
        "broker_rss_before_mib",
        "MiB",
        rss_before.map(|r| r.0),
    ));
    m.extend(some_metric(
        "broker_rss_peak_mib",
        "MiB",
        rss_drained.map(|r| r.1),
    ));
    m.extend(some_metric(
        "broker_rss_drained_mib",
        "MiB",
        rss_drained.map(|r| r.0),
    ));
    Ok(m)
}
