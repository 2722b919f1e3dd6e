//! Reading a process's CPU and memory, and turning latencies into metrics.

use std::time::Instant;

use store_tests::benchkit::{metric, percentile, Metric};
use store_tests::process;

/// CPU use of one process from a starting point, as a share of one core.
pub struct CpuMeter {
    pid: u32,
    cpu0: f64,
    t0: Instant,
}

impl CpuMeter {
    pub fn start(pid: Option<u32>) -> Option<Self> {
        let pid = pid?;
        Some(Self {
            pid,
            cpu0: process::cpu_secs(pid)?,
            t0: Instant::now(),
        })
    }

    /// Percent of one core used since [`CpuMeter::start`].
    pub fn percent(&self) -> Option<f64> {
        let used = process::cpu_secs(self.pid)? - self.cpu0;
        Some(100.0 * used / self.t0.elapsed().as_secs_f64())
    }
}

/// `(VmRSS, VmHWM)` in MiB.
pub fn rss_mib(pid: Option<u32>) -> Option<(f64, f64)> {
    let (rss, hwm) = process::rss_kib(pid?)?;
    Some((rss as f64 / 1024.0, hwm as f64 / 1024.0))
}

/// The metric, or nothing when the process was not there to read.
pub fn some_metric(name: &'static str, unit: &'static str, v: Option<f64>) -> Vec<Metric> {
    v.map(|v| metric(name, unit, v)).into_iter().collect()
}

/// p50, p99, p999 and max of latencies in ms (sorted here), and how many.
pub fn latency_metrics(lat_ms: &mut [f64]) -> Result<Vec<Metric>, String> {
    if lat_ms.is_empty() {
        return Err("no latencies".into());
    }
    lat_ms.sort_by(f64::total_cmp);
    Ok(vec![
        metric("latency_p50_ms", "ms", percentile(lat_ms, 50.0)),
        metric("latency_p99_ms", "ms", percentile(lat_ms, 99.0)),
        metric("latency_p999_ms", "ms", percentile(lat_ms, 99.9)),
        metric("latency_max_ms", "ms", lat_ms[lat_ms.len() - 1]),
        metric("events", "count", lat_ms.len() as f64),
    ])
}

/// Events per second between the first and last send, of the sends that happened.
pub fn achieved_rate(first: Option<Instant>, last: Option<Instant>, n: usize) -> Option<f64> {
    let secs = last?.saturating_duration_since(first?).as_secs_f64();
    (n > 1 && secs > 0.0).then(|| (n - 1) as f64 / secs)
}
