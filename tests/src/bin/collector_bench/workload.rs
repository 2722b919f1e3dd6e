//! The workload of every measurement: encoded `EventBatch`es of a store mix, and the
//! catalogue and collector config they are measured against.
//!
//! One agent per store, each publishing batches of `--batch` events (the agent's default) with
//! strictly increasing seqs, interleaved across stores, as agents publishing at once would. The
//! mix per event: 40 % scans (sale, receiving, stock count, shrink, transfers, staff badges),
//! 25 % POS transactions of 1-3 lines over 500 GTINs (sales, some returns and voids), 30 %
//! foot-traffic ticks, 5 % device statuses. With `--mix stocked` (the default) every store first
//! receives 100 units of each GTIN and counts find 60-120 units, so alerts are the exception as
//! in a trading store; `--mix empty` starts from empty shelves and counts of 1-60, so nearly
//! every position is LOW or OUT (a stress case for the alert rules). Every GTIN is in the
//! catalogue (half with a fixed reorder point, half derived from demand). Event times span the
//! last 20 minutes; batches are live (sent now). The generator is seeded, so every measurement
//! gets the same events; each encodes them afresh before its clock starts.

use std::path::Path;

use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use store_collector::config::Config;
use store_proto::v1::{
    DeviceState, DeviceStatus, FootTraffic, LineItem, PosTransaction, Scan, ScanMode,
    TransactionKind,
};
use store_proto::{topics, Body, Event, EventBatch};
use store_tests::agent::toml_str;

use crate::Opts;

/// Number of distinct GTINs in the catalogue and the events.
const GTINS: usize = 500;

/// How far back event times reach.
const SPAN_MS: i64 = 20 * 60 * 1000;

/// The encoded batches of one measurement and what they should add up to.
pub struct Workload {
    /// `(topic, payload)` in publishing order.
    pub batches: Vec<(String, Vec<u8>)>,
    pub events: u64,
}

pub fn now_ms() -> i64 {
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
pub fn catalogue_csv() -> String {
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
pub fn workload(opts: &Opts) -> Workload {
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

/// One event of the mix.
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
pub fn collector_config(dir: &Path) -> Result<Config, String> {
    let catalogue = dir.join("catalogue.csv");
    std::fs::write(&catalogue, catalogue_csv()).map_err(|e| e.to_string())?;
    let text = format!(
        "collector_id = \"bench\"\nstate_dir = {}\n\n[intel]\ncatalogue = {}\n",
        toml_str(&dir.join("state-dir").to_string_lossy()),
        toml_str(&catalogue.to_string_lossy())
    );
    Config::parse(&text, "bench.toml").map_err(|e| e.to_string())
}
