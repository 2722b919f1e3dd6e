//! The measurements that take the rules engine out of ingest, or keep only it, so `ingest` can
//! be read against them:
//! - `no_rules` (baseline): the same batches through the same pieces without the rules engine:
//!   decode, dedup/apply (`ledger::apply_batch`) and `ledger::Db::commit` of the changed agent
//!   and store records, in groups of `ingest::MAX_GROUP` publishes (what ingest takes when it is
//!   behind).
//! - `rules`: the rules engine alone, in memory: `Engine::apply` for every event of pre-decoded
//!   batches and `Engine::save` (the serialisation of changed keys) once per group.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use prost::Message;
use store_collector::ingest::MAX_GROUP;
use store_collector::ledger::{apply_batch, AgentKey, AgentState, Changes, Db, StoreStats};
use store_collector::rules::engine::catalogue::Catalogue;
use store_collector::rules::engine::{BatchInfo, Engine};
use store_proto::{topics, EventBatch};
use store_tests::benchkit::{metric, Metric};

use crate::workload::{collector_config, now_ms, workload};
use crate::Opts;

/// Decode, dedup and durable commit of the same batches, without the rules engine.
pub fn no_rules(opts: &Opts) -> Result<Vec<Metric>, String> {
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
        // The ledger alone: no engine keys, no history rows.
        let changes = Changes {
            agents,
            stores,
            ..Changes::default()
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
pub fn rules(opts: &Opts) -> Result<Vec<Metric>, String> {
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
