//! The `ingest` measurement: `store_collector::ingest::Ingest` in process, fed through a fake of
//! the collector's `Mqtt` trait with at most `--window` publishes unacknowledged (an agent keeps
//! 32 in flight, so the default is 32 per store), together with the commit-mark publisher.
//!
//! Timed from the first publish handed over until the last is acknowledged, which ingest does
//! only after the group holding it is durably committed (sled flush + fdatasync,
//! ARCHITECTURE.md invariant 4): the number includes the durability it promises.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::{Publish, QoS};
use store_collector::ingest::acks::{self, AckCommand};
use store_collector::ingest::mqtt::{Incoming, Mqtt, MqttError, Notice};
use store_collector::ingest::Ingest;
use store_collector::ledger::{Db, Live, Shared};
use store_collector::rules::{Output, Runtime};
use store_tests::benchkit::{metric, Metric};
use store_tests::process::cpu_secs;
use tokio::sync::{mpsc, watch, Semaphore};

use crate::workload::{collector_config, workload};
use crate::Opts;

/// The collector's `Mqtt` trait, faked: PUBACKs return a window permit and are counted.
#[derive(Clone)]
struct BenchMqtt {
    window: Arc<Semaphore>,
    acked: Arc<watch::Sender<u64>>,
    published: Arc<AtomicU64>,
}

impl Mqtt for BenchMqtt {
    async fn publish(
        &self,
        _topic: String,
        _retain: bool,
        _payload: Vec<u8>,
    ) -> Result<(), MqttError> {
        self.published.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn ack(&self, _incoming: &Incoming) -> Result<bool, MqttError> {
        self.window.add_permits(1);
        self.acked.send_modify(|n| *n += 1);
        Ok(true)
    }

    async fn subscribe(&self, _filters: Vec<String>) -> Result<(), MqttError> {
        Ok(())
    }

    async fn unsubscribe(&self, _filter: String) -> Result<(), MqttError> {
        Ok(())
    }
}

/// [`ingest`] with `[history] enabled = false`.
pub fn ingest_no_history(opts: &Opts) -> Result<Vec<Metric>, String> {
    ingest(&Opts {
        history: false,
        ..opts.clone()
    })
}

pub fn ingest(opts: &Opts) -> Result<Vec<Metric>, String> {
    let mut metrics = ingest_run(opts)?;
    // After the database, the runtime and the temporary directory are gone: what a run leaves
    // behind shows up here, and the high-water mark shows the largest run so far.
    metrics.push(metric("rss_after_mb", "MiB", proc_status_mib("VmRSS")));
    metrics.push(metric("peak_rss_mb", "MiB", proc_status_mib("VmHWM")));
    Ok(metrics)
}

/// A `/proc/self/status` memory field (kB there) in MiB; 0 where there is none (not Linux).
fn proc_status_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix(field)?.strip_prefix(':')?;
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn ingest_run(opts: &Opts) -> Result<Vec<Metric>, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut config = collector_config(dir.path())?;
    config.history.enabled = opts.history;
    let work = workload(opts);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let (db, state) = Db::open(&config.state_dir.join("state")).map_err(|e| e.to_string())?;
        let db = Arc::new(db);
        let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Output>();
        let rules =
            Arc::new(Runtime::open(&config, db.clone(), out_tx).map_err(|e| e.to_string())?);
        let shared: Shared = Arc::new(Mutex::new(Live {
            collector_id: config.collector_id.clone(),
            state,
            ..Default::default()
        }));
        let (acked_tx, mut acked_rx) = watch::channel(0u64);
        let mqtt = BenchMqtt {
            window: Arc::new(Semaphore::new(opts.window())),
            acked: Arc::new(acked_tx),
            published: Arc::new(AtomicU64::new(0)),
        };
        let (ack_tx, ack_rx) = mpsc::unbounded_channel::<AckCommand>();
        let acks_task = tokio::spawn(acks::run(
            mqtt.clone(),
            config.collector_id.clone(),
            Duration::from_millis(config.ack.interval_ms),
            ack_rx,
        ));
        let outputs = tokio::spawn(async move {
            let mut n = 0u64;
            while out_rx.recv().await.is_some() {
                n += 1;
            }
            n
        });
        let ingest = Ingest::new(&config, mqtt.clone(), &db, shared.clone(), ack_tx, rules)
            .map_err(|e| e.to_string())?;
        let (notice_tx, notice_rx) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = tokio::spawn(ingest.run(notice_rx, stop_rx));
        let _ = notice_tx.send(Notice::Connected {
            session_present: false,
        });

        // Built before the clock starts: what the polling task would hand over.
        let notices: Vec<Notice> = work
            .batches
            .into_iter()
            .enumerate()
            .map(|(i, (topic, payload))| {
                let mut p = Publish::new(topic, QoS::AtLeastOnce, payload);
                p.pkid = (i % 65_535) as u16 + 1;
                Notice::Publish(Incoming {
                    publish: p,
                    epoch: 1,
                })
            })
            .collect();
        let total = notices.len() as u64;
        let cpu_before = cpu_secs(std::process::id());
        let started = Instant::now();
        let window = mqtt.window.clone();
        let feeder = tokio::spawn(async move {
            for n in notices {
                // Like a broker: no more than the window unacknowledged.
                window.acquire().await.expect("never closed").forget();
                if notice_tx.send(n).is_err() {
                    break;
                }
            }
            notice_tx
        });
        let waited = tokio::time::timeout(
            Duration::from_secs(1_800),
            acked_rx.wait_for(|&n| n >= total),
        )
        .await
        .map(|r| r.map(|_| ()));
        let took = started.elapsed();
        let cpu = cpu_secs(std::process::id())
            .zip(cpu_before)
            .map_or(0.0, |(after, before)| after - before);
        let _notice_tx = feeder.await.map_err(|e| e.to_string())?;
        let _ = stop_tx.send(true);
        task.await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        if !matches!(waited, Ok(Ok(_))) {
            return Err(format!(
                "only {} of {total} batches acknowledged",
                *acked_rx.borrow()
            ));
        }
        let (applied, duplicates) = {
            let live = shared.lock().expect("state lock");
            (live.state.applied_total(), live.counters.duplicates_total)
        };
        drop(shared);
        if applied != work.events || duplicates != 0 {
            return Err(format!(
                "applied {applied} of {} events, {duplicates} duplicates",
                work.events
            ));
        }
        acks_task.abort();
        let outputs = outputs.await.unwrap_or(0);
        Ok(vec![
            metric(
                "events_per_sec",
                "events/s",
                work.events as f64 / took.as_secs_f64(),
            ),
            // CPU time (user + system, all threads) per event while timed: the cost per event,
            // which the machine's other load disturbs far less than the rate does.
            metric(
                "cpu_us_per_event",
                "µs CPU/event",
                cpu * 1e6 / work.events as f64,
            ),
            metric(
                "batches_per_sec",
                "batches/s",
                total as f64 / took.as_secs_f64(),
            ),
            metric("outputs", "alerts+signals", outputs as f64),
            metric(
                "mark_publishes",
                "publishes",
                mqtt.published.load(Ordering::Relaxed) as f64,
            ),
        ])
    })
}
