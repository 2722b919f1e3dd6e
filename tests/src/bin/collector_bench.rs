//! Throughput of one collector: events applied per second by the real collector code, with the
//! rules engine and the durable sled commit included. Prints numbers; asserts nothing timed.
//!
//! ```text
//! cargo build --release --bins
//! cargo run --release -p store-tests --bin collector_bench -- [--runs 3] [--events 2000000]
//!     [--stores 100] [--batch 500] [--window 3200] [--publishers 4]
//!     [--only ingest,no_rules,rules,mosquitto]
//! ```
//!
//! Workload: one agent per store, each publishing `EventBatch`es of `--batch` events (the agent's
//! default) with strictly increasing seqs, interleaved across stores. The mix per event: 40 %
//! scans (sale, receiving, stock count, shrink, transfers, staff badges), 25 % POS transactions
//! of 1-3 lines over 500 GTINs (sales, some returns and voids), 30 % foot-traffic ticks, 5 %
//! device statuses. With `--mix stocked` (the default) every store first receives 100 units of
//! each GTIN and counts find 60-120 units, so alerts are the exception as in a trading store;
//! `--mix empty` starts from empty shelves and counts of 1-60, so nearly every position is LOW or
//! OUT (a stress case for the alert rules). Every GTIN is in a catalogue file (half with a fixed reorder point, half
//! derived from demand). Event times span the last 20 minutes; batches are live (sent now). The
//! batches are encoded before the clock starts, afresh for every measurement.
//!
//! Measurements, each run in a fresh state directory (medians over `--runs`, and ratios of
//! measurements taken in the same run):
//! - `ingest`: `store_collector::ingest::Ingest` in process, fed through a fake of the collector's
//!   `Mqtt` trait with at most `--window` publishes unacknowledged (an agent keeps 32 in flight,
//!   so the default is 32 per store), together with the commit-mark publisher. Timed from the
//!   first publish handed over until the last is acknowledged, which ingest does only after the
//!   group holding it is durably committed (sled flush + fdatasync).
//! - `no_rules` (baseline): the same batches through the same pieces without the rules engine:
//!   decode, dedup/apply (`ledger::apply_batch`) and `ledger::Db::commit` of the changed agent and
//!   store records, in groups of `ingest::MAX_GROUP` publishes (what ingest takes when it is
//!   behind).
//! - `rules`: the rules engine alone, in memory: `Engine::apply` for every event of pre-decoded
//!   batches and `Engine::save` (the serialisation of changed keys) once per group.
//! - `mosquitto`: a Mosquitto broker on a free 127.0.0.1 port (no queue limits) and the real
//!   `store-collector` binary; `--publishers` connections publish the batches at QoS 1. Timed
//!   from the first publish until `/v1/stats` reports every event applied.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rumqttc::{Publish, QoS};
use store_collector::config::Config;
use store_collector::ingest::acks::{self, AckCommand};
use store_collector::ingest::mqtt::{Incoming, Mqtt, MqttError, Notice};
use store_collector::ingest::{Ingest, MAX_GROUP};
use store_collector::ledger::{
    apply_batch, AgentKey, AgentState, Changes, Db, Live, Shared, StoreStats,
};
use store_collector::rules::engine::catalogue::Catalogue;
use store_collector::rules::engine::{BatchInfo, Engine};
use store_collector::rules::{Output, Runtime};
use store_proto::v1::{
    CollectorStatus, DeviceState, DeviceStatus, FootTraffic, LineItem, PosTransaction, Scan,
    ScanMode, TransactionKind,
};
use store_proto::{topics, Body, Event, EventBatch};
use store_tests::agent::toml_str;
use store_tests::benchkit::{metric, Decimals, Measurement, Metric, Ratio, Suite};
use store_tests::mqtt_probe::MqttProbe;
use store_tests::{Collector, CollectorConfig, Mosquitto, TestEnv};
use tokio::sync::{mpsc, watch, Semaphore};

/// Command-line options.
#[derive(Debug, Clone)]
struct Opts {
    runs: usize,
    events: u64,
    stores: usize,
    batch: usize,
    /// `None`: 32 per store.
    window: Option<usize>,
    publishers: usize,
    only: Option<Vec<String>>,
    /// Shelves stocked before the day starts (the default), or empty (a stress case where almost
    /// every position is LOW or OUT and the alert rules do the most work).
    stocked: bool,
}

impl Default for Opts {
    fn default() -> Self {
        Self {
            runs: 3,
            stocked: true,
            events: 2_000_000,
            stores: 100,
            batch: 500,
            window: None,
            publishers: 4,
            only: None,
        }
    }
}

impl Opts {
    fn window(&self) -> usize {
        self.window.unwrap_or(self.stores * 32).max(1)
    }
}

/// Run in this order in every run.
const MEASUREMENTS: &[Measurement<Opts>] = &[
    (
        "ingest",
        "in-process ingest: decode, dedup, rules, durable commit, PUBACK",
        ingest,
    ),
    (
        "no_rules",
        "baseline: decode, dedup, durable commit; no rules engine",
        no_rules,
    ),
    (
        "rules",
        "rules engine alone, in memory (apply + save)",
        rules,
    ),
    (
        "mosquitto",
        "publishers -> Mosquitto -> store-collector binary, applied",
        through_mosquitto,
    ),
];

const RATIOS: &[Ratio] = &[
    (
        "ingest over the no-rules baseline",
        "ingest.events_per_sec",
        "no_rules.events_per_sec",
    ),
    (
        "through Mosquitto over in-process ingest",
        "mosquitto.events_per_sec",
        "ingest.events_per_sec",
    ),
];

// ---------------------------------------------------------------------------------------------
// Workload

/// Number of distinct GTINs in the catalogue and the events.
const GTINS: usize = 500;

/// How far back event times reach.
const SPAN_MS: i64 = 20 * 60 * 1000;

/// The encoded batches of one measurement and what they should add up to.
struct Workload {
    /// `(topic, payload)` in publishing order.
    batches: Vec<(String, Vec<u8>)>,
    events: u64,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn store_id(i: usize) -> String {
    format!("store-{i:04}")
}

/// GTIN-13 number `i` of the workload, with a valid check digit.
fn gtin13(i: usize) -> String {
    let data = format!("400638{:06}", i);
    let sum: u32 = data
        .bytes()
        .rev()
        .enumerate()
        .map(|(k, b)| u32::from(b - b'0') * if k % 2 == 0 { 3 } else { 1 })
        .sum();
    format!("{data}{}", (10 - sum % 10) % 10)
}

/// A catalogue CSV with every GTIN of the workload.
fn catalogue_csv() -> String {
    let mut csv =
        String::from("gtin,name,pack_size,reorder_point,lead_time_days,max_stock,store\n");
    for i in 0..GTINS {
        let gtin = gtin13(i);
        if i % 2 == 0 {
            csv.push_str(&format!("{gtin},Item {i},12,{},,{},\n", 10 + i % 30, 200));
        } else {
            csv.push_str(&format!("{gtin},Item {i},6,,{},,\n", 1 + i % 5));
        }
    }
    csv
}

/// Builds the batches: `opts.events` rounded up to whole batches for every store.
fn workload(opts: &Opts) -> Workload {
    let stores = opts.stores.max(1);
    let batch = opts.batch.max(1);
    let per_store = (opts.events as usize).div_ceil(stores * batch);
    let events_per_store = (per_store * batch) as i64;
    let gtins: Vec<String> = (0..GTINS).map(|i| format!("0{}", gtin13(i))).collect();
    let sent = now_ms();
    let first_ms = sent - SPAN_MS;
    let mut rng = StdRng::seed_from_u64(0xc011_ec70);
    let mut batches = Vec::with_capacity(stores * per_store);
    for b in 0..per_store {
        for s in 0..stores {
            let store = store_id(s);
            let events = (0..batch)
                .map(|k| {
                    let seq = (b * batch + k + 1) as u64;
                    let t = first_ms + SPAN_MS * seq as i64 / events_per_store;
                    if opts.stocked && b == 0 && k < GTINS {
                        // Opening stock: every GTIN received once before trading starts.
                        receiving(&gtins[k], seq, t)
                    } else {
                        event(&mut rng, &gtins, seq, t, opts.stocked)
                    }
                })
                .collect();
            let payload = EventBatch {
                store_id: store.clone(),
                agent_id: "agent-1".into(),
                boot_id: BOOT_ID.into(),
                historical: false,
                events,
                sent_wall_time_ms: sent,
            }
            .encode_to_vec();
            batches.push((topics::events(&store, "agent-1"), payload));
        }
    }
    Workload {
        events: (stores * per_store * batch) as u64,
        batches,
    }
}

const BOOT_ID: &str = "6a1f2c3e-8b4d-4e5f-9a0b-1c2d3e4f5a6b";

/// One event of the mix.
/// The opening-stock receipt of one GTIN: 100 units.
fn receiving(gtin: &str, seq: u64, t: i64) -> Event {
    let data = gtin[1..].to_owned();
    let scan = Scan {
        raw: format!("{data}\r").into_bytes(),
        data,
        aim: "]E0".into(),
        symbology: "ean13".into(),
        gtin: gtin.to_owned(),
        mode: ScanMode::Receiving as i32,
        quantity: 100,
        ..Default::default()
    };
    Event {
        seq,
        device_id: "scanner-1".into(),
        wall_time_ms: t,
        monotonic_ns: seq * 1_000,
        clock_synced: true,
        boot_id: BOOT_ID.into(),
        body: Some(Body::Scan(scan)),
    }
}

fn event(rng: &mut StdRng, gtins: &[String], seq: u64, t: i64, stocked: bool) -> Event {
    let r: f64 = rng.random();
    let (device_id, body) = if r < 0.40 {
        let m: f64 = rng.random();
        let scanner = format!("scanner-{}", rng.random_range(1..=4));
        if m < 0.05 {
            let badge = format!("STAFF-{:03}", rng.random_range(1..=12));
            let scan = Scan {
                raw: badge.as_bytes().to_vec(),
                data: badge,
                symbology: "code128".into(),
                aim: "]C0".into(),
                mode: ScanMode::Badge as i32,
                ..Default::default()
            };
            (scanner, Body::Scan(scan))
        } else {
            let (mode, quantity) = match m {
                m if m < 0.55 => (ScanMode::Sale, 1),
                m if m < 0.70 => (ScanMode::Receiving, rng.random_range(1..=24)),
                // A count finds what a stocked shelf holds, or next to nothing on empty ones.
                m if m < 0.85 && stocked => (ScanMode::StockCount, rng.random_range(60..=120)),
                m if m < 0.85 => (ScanMode::StockCount, rng.random_range(1..=60)),
                m if m < 0.90 => (ScanMode::Shrink, 1),
                m if m < 0.95 => (ScanMode::TransferOut, rng.random_range(1..=6)),
                _ => (ScanMode::TransferIn, rng.random_range(1..=6)),
            };
            let gtin = &gtins[rng.random_range(0..gtins.len())];
            let data = gtin[1..].to_owned();
            let scan = Scan {
                raw: format!("{data}\r").into_bytes(),
                data,
                aim: "]E0".into(),
                symbology: "ean13".into(),
                gtin: gtin.clone(),
                mode: mode as i32,
                quantity,
                ..Default::default()
            };
            (scanner, Body::Scan(scan))
        }
    } else if r < 0.65 {
        let k: f64 = rng.random();
        let kind = if k < 0.90 {
            TransactionKind::Sale
        } else if k < 0.97 {
            TransactionKind::Return
        } else {
            TransactionKind::Void
        };
        let items: Vec<LineItem> = (0..rng.random_range(1..=3))
            .map(|_| {
                let i = rng.random_range(0..gtins.len());
                let quantity = f64::from(rng.random_range(1..=2));
                let unit_price_minor = 99 + (i as i64 % 40) * 50;
                LineItem {
                    gtin: gtins[i].clone(),
                    item_id: format!("A{i:05}"),
                    description: format!("Item {i}"),
                    quantity,
                    unit_price_minor,
                    extended_minor: unit_price_minor * quantity as i64,
                }
            })
            .collect();
        let register = rng.random_range(1..=3);
        let tx = PosTransaction {
            register_id: format!("till-{register}"),
            receipt_id: format!("R-{seq}"),
            kind: kind as i32,
            total_minor: items.iter().map(|l| l.extended_minor).sum(),
            items,
            currency: "EUR".into(),
            operator_id: format!("op-{}", rng.random_range(1..=6)),
            ..Default::default()
        };
        (format!("till-{register}"), Body::PosTransaction(tx))
    } else if r < 0.95 {
        let ft = FootTraffic {
            counter_id: "door-1".into(),
            line: "main".into(),
            interval_start_ms: t - 1000,
            interval_end_ms: t,
            entries: rng.random_range(0..=3),
            exits: rng.random_range(0..=3),
            coalesced_ticks: 1,
        };
        ("door-1".to_owned(), Body::FootTraffic(ft))
    } else {
        let state = if rng.random_bool(0.9) {
            DeviceState::Connected
        } else {
            DeviceState::Disconnected
        };
        let status = DeviceStatus {
            state: state as i32,
            reason: if state == DeviceState::Connected {
                String::new()
            } else {
                "device vanished".into()
            },
            raw: Vec::new(),
        };
        (
            format!("scanner-{}", rng.random_range(1..=4)),
            Body::DeviceStatus(status),
        )
    };
    Event {
        seq,
        device_id,
        wall_time_ms: t,
        monotonic_ns: (t as u64).wrapping_mul(1_000_000),
        clock_synced: true,
        boot_id: BOOT_ID.into(),
        body: Some(body),
    }
}

/// Writes the catalogue and a collector config into `dir`; returns the config.
fn collector_config(dir: &Path) -> Result<Config, String> {
    let catalogue = dir.join("catalogue.csv");
    std::fs::write(&catalogue, catalogue_csv()).map_err(|e| e.to_string())?;
    let text = format!(
        "collector_id = \"bench\"\nstate_dir = {}\n\n[intel]\ncatalogue = {}\n",
        toml_str(&dir.join("state-dir").to_string_lossy()),
        toml_str(&catalogue.to_string_lossy())
    );
    Config::parse(&text, "bench.toml").map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------------
// In-process ingest

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

fn ingest(opts: &Opts) -> Result<Vec<Metric>, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let config = collector_config(dir.path())?;
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

// ---------------------------------------------------------------------------------------------
// Baselines

/// Decode, dedup and durable commit of the same batches, without the rules engine.
fn no_rules(opts: &Opts) -> Result<Vec<Metric>, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let work = workload(opts);
    let (db, mut state) = Db::open(&dir.path().join("state")).map_err(|e| e.to_string())?;
    let group = MAX_GROUP.min(opts.window());
    let started = Instant::now();
    for chunk in work.batches.chunks(group) {
        let mut agents: BTreeMap<AgentKey, AgentState> = BTreeMap::new();
        let mut stores: BTreeMap<String, StoreStats> = BTreeMap::new();
        for (topic, payload) in chunk {
            let Some((store_id, agent_id, "events")) = topics::parse_agent_topic(topic) else {
                return Err(format!("bad topic {topic}"));
            };
            let batch = EventBatch::decode(payload.as_slice()).map_err(|e| e.to_string())?;
            let key = AgentKey::new(store_id, agent_id);
            let agent = agents
                .entry(key.clone())
                .or_insert_with(|| state.agents.get(&key).cloned().unwrap_or_default());
            let stats = stores
                .entry(store_id.to_owned())
                .or_insert_with(|| state.stores.get(store_id).cloned().unwrap_or_default());
            apply_batch(agent, stats, &batch);
        }
        let changes = Changes {
            agents,
            stores,
            intel: Vec::new(),
        };
        db.commit(&changes).map_err(|e| e.to_string())?;
        state.agents.extend(changes.agents);
        state.stores.extend(changes.stores);
    }
    let took = started.elapsed();
    if state.applied_total() != work.events {
        return Err(format!(
            "applied {} of {} events",
            state.applied_total(),
            work.events
        ));
    }
    Ok(vec![
        metric(
            "events_per_sec",
            "events/s",
            work.events as f64 / took.as_secs_f64(),
        ),
        metric(
            "commits_per_sec",
            "commits/s",
            work.batches.len().div_ceil(group) as f64 / took.as_secs_f64(),
        ),
    ])
}

/// The rules engine alone, in memory, on pre-decoded batches.
fn rules(opts: &Opts) -> Result<Vec<Metric>, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let config = collector_config(dir.path())?;
    let catalogue = Catalogue::load(config.intel.catalogue.as_ref().expect("written above"))
        .map_err(|e| e.to_string())?;
    let mut engine = Engine::new(config.profiles().map_err(|e| e.to_string())?, catalogue);
    let work = workload(opts);
    let group = MAX_GROUP.min(opts.window());
    let mut saved_keys = 0usize;
    let mut saved_bytes = 0usize;
    let mut by_part: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut took = Duration::ZERO;
    for chunk in work.batches.chunks(group) {
        // Decoded outside the clock (and one group at a time, to bound memory).
        let decoded: Vec<(&str, &str, EventBatch)> = chunk
            .iter()
            .map(|(topic, payload)| {
                let (s, a, _) = topics::parse_agent_topic(topic).expect("our topics");
                let batch = EventBatch::decode(payload.as_slice()).expect("our batches");
                (s, a, batch)
            })
            .collect();
        let started = Instant::now();
        for (store, agent, batch) in &decoded {
            let info = BatchInfo {
                store,
                agent,
                historical: batch.historical,
                sent_ms: batch.sent_wall_time_ms,
            };
            let now = now_ms();
            for ev in &batch.events {
                engine.apply(info, now, ev);
            }
        }
        for (key, value) in engine.save() {
            let len = value.map_or(0, |v| v.len());
            saved_keys += 1;
            saved_bytes += len;
            let part = key.split('/').nth(1).unwrap_or("?").to_owned();
            let e = by_part.entry(part).or_default();
            e.0 += 1;
            e.1 += len;
        }
        took += started.elapsed();
    }
    for (part, (keys, bytes)) in &by_part {
        println!("  saved intel/{part}: {keys} keys, {bytes} bytes");
    }
    Ok(vec![
        metric(
            "events_per_sec",
            "events/s",
            work.events as f64 / took.as_secs_f64(),
        ),
        metric(
            "saved_keys_per_group",
            "keys",
            saved_keys as f64 / work.batches.len().div_ceil(group) as f64,
        ),
        metric(
            "saved_bytes_per_event",
            "bytes",
            saved_bytes as f64 / work.events as f64,
        ),
    ])
}

// ---------------------------------------------------------------------------------------------
// Through Mosquitto

/// How long the collector may take to come online on the broker.
const ONLINE_TIMEOUT: Duration = Duration::from_secs(30);

fn through_mosquitto(opts: &Opts) -> Result<Vec<Metric>, String> {
    let env = TestEnv::new("collector-bench");
    let broker = Mosquitto::start_in(&env.subdir("mosquitto"));
    let dir = env.subdir("collector");
    let catalogue = dir.join("catalogue.csv");
    std::fs::write(&catalogue, catalogue_csv()).map_err(|e| e.to_string())?;
    let mut config = CollectorConfig::new(&dir, broker.port());
    config.extra_toml = format!(
        "\n[intel]\ncatalogue = {}\n",
        toml_str(&catalogue.to_string_lossy())
    );
    let collector = Collector::start(&dir, config);
    wait_online(&broker, "hq-1")?;

    let work = workload(opts);
    let total_events = work.events;
    let publishers = opts.publishers.max(1);
    // Each connection takes whole agents, so each agent's batches stay in seq order.
    let mut shares: Vec<Vec<(String, Vec<u8>)>> = vec![Vec::new(); publishers];
    let mut owner: HashMap<String, usize> = HashMap::new();
    for (topic, payload) in work.batches {
        let next = owner.len() % publishers;
        let p = *owner.entry(topic.clone()).or_insert(next);
        shares[p].push((topic, payload));
    }
    let addr = broker.addr();
    let started = Instant::now();
    let handles: Vec<_> = shares
        .into_iter()
        .enumerate()
        .map(|(i, share)| {
            std::thread::spawn(move || -> Result<Instant, String> {
                let (mut client, _) = MqttProbe::connect(
                    addr,
                    &format!("bench-publisher-{i}"),
                    true,
                    Duration::from_secs(30),
                )?;
                for (topic, payload) in &share {
                    client.publish(topic, payload, false)?;
                }
                let done = Instant::now();
                client.disconnect();
                Ok(done)
            })
        })
        .collect();
    let mut last_puback = started;
    for h in handles {
        let done = h.join().map_err(|_| "publisher panicked".to_owned())??;
        last_puback = last_puback.max(done);
    }
    let deadline = Instant::now() + Duration::from_secs(1_800);
    let applied_at = loop {
        let stats = collector.stats()?;
        if stats.applied_total >= total_events {
            break Instant::now();
        }
        if Instant::now() > deadline {
            return Err(format!(
                "applied {} of {total_events} events in time",
                stats.applied_total
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let took = applied_at - started;
    let stats = collector.stats()?;
    if stats.applied_total != total_events {
        return Err(format!(
            "applied {} events, expected {total_events}",
            stats.applied_total
        ));
    }
    Ok(vec![
        metric(
            "events_per_sec",
            "events/s",
            total_events as f64 / took.as_secs_f64(),
        ),
        metric(
            "publish_events_per_sec",
            "events/s",
            total_events as f64 / (last_puback - started).as_secs_f64(),
        ),
        metric("duplicates", "events", stats.duplicates_total as f64),
    ])
}

/// Waits for the collector's retained online status: it is published after the subscription
/// request, so from then on no batch misses the subscription.
fn wait_online(broker: &Mosquitto, collector_id: &str) -> Result<(), String> {
    let (mut probe, _) = MqttProbe::connect(
        broker.addr(),
        "bench-status-probe",
        true,
        Duration::from_secs(5),
    )?;
    let topic = topics::collector_status(collector_id);
    probe.subscribe(&topic, 1)?;
    let deadline = Instant::now() + ONLINE_TIMEOUT;
    while Instant::now() < deadline {
        for m in probe.receive_for(Duration::from_millis(100))? {
            if CollectorStatus::decode(m.payload.as_slice()).is_ok_and(|s| s.online) {
                probe.disconnect();
                return Ok(());
            }
        }
    }
    Err(format!(
        "collector {collector_id} not online within {ONLINE_TIMEOUT:?}"
    ))
}

// ---------------------------------------------------------------------------------------------
// Driver

const SUITE: Suite<Opts> = Suite {
    measurements: MEASUREMENTS,
    ratios: RATIOS,
    decimals: Decimals::TwoBelowHundred,
};

fn main() {
    let opts = parse_args();
    let per_store = (opts.events as usize).div_ceil(opts.stores.max(1) * opts.batch.max(1));
    println!(
        "store-collector bench: {} run(s); {} events = {} stores x {} batches x {} events; window {}",
        opts.runs,
        opts.stores.max(1) * per_store * opts.batch.max(1),
        opts.stores.max(1),
        per_store,
        opts.batch.max(1),
        opts.window()
    );
    SUITE.run(&opts, opts.runs, opts.only.as_deref());
}

fn parse_args() -> Opts {
    let mut opts = Opts::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--runs" => opts.runs = parse(&value()),
            "--events" => opts.events = parse(&value()),
            "--stores" => opts.stores = parse(&value()),
            "--batch" => opts.batch = parse(&value()),
            "--window" => opts.window = Some(parse(&value())),
            "--publishers" => opts.publishers = parse(&value()),
            "--mix" => {
                opts.stocked = match value().as_str() {
                    "stocked" => true,
                    "empty" => false,
                    other => usage(&format!("--mix {other:?}: expected stocked or empty")),
                }
            }
            "--only" => {
                let names: Vec<String> = value().split(',').map(str::to_owned).collect();
                for n in &names {
                    if !SUITE.has(n) {
                        usage(&format!("unknown measurement {n:?}"));
                    }
                }
                opts.only = Some(names);
            }
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    if opts.runs == 0 {
        usage("--runs must be at least 1");
    }
    opts
}

fn parse<T: std::str::FromStr>(s: &str) -> T {
    s.parse()
        .unwrap_or_else(|_| usage(&format!("not a valid number: {s:?}")))
}

fn usage(err: &str) -> ! {
    if !err.is_empty() {
        eprintln!("error: {err}");
    }
    eprintln!(
        "usage: collector_bench [--runs N] [--events N] [--stores N] [--batch N] [--window N] \
         [--publishers N] [--mix stocked|empty] [--only ingest,no_rules,rules,mosquitto]"
    );
    std::process::exit(if err.is_empty() { 0 } else { 2 });
}
