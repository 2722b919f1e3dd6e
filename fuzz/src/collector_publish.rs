//! The collector's pure path for incoming publishes: topic + payload → decode (ids, store cap,
//! protobuf) → dedup within [`Limits`] → gap tracking, on one state kept across the publishes
//! of an input (see `store_edge_fuzz::publish` for the input format).
//!
//! Asserted, besides "no panic, no hang": per batch the committed mark never falls and never
//! rises more than `max_seq_ahead`; every event of a batch is counted exactly once in the
//! outcome; applied counts, store totals and the rules' callback agree; what is published as
//! the mark (`done_above`) and the gaps lie above the mark and are ordered.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use super::{publish, Reader};
use store_collector::config::Config;
use store_collector::ingest::decode::{Decoded, Decoder};
use store_collector::ingest::gaps::GapTracker;
use store_collector::ingest::valid_id;
use store_collector::ledger::{
    apply_batch_with, AgentKey, AgentState, Counters, Limits, StoreStats,
};
use tokio::time::Instant;

/// Configs by (own stores, max_stores - 1): parsed once.
fn config(own: bool, max_stores: u8) -> &'static Config {
    static CONFIGS: OnceLock<Vec<Config>> = OnceLock::new();
    let configs = CONFIGS.get_or_init(|| {
        let mut v = Vec::new();
        for own in [false, true] {
            for n in 1..=4 {
                let stores = if own {
                    "stores = [\"s1\", \"s2\"]\n"
                } else {
                    ""
                };
                let text = format!(
                    "collector_id = \"hq-1\"\nstate_dir = \"/nonexistent\"\n{stores}\
                     [ingest]\nmax_stores = {n}\n"
                );
                v.push(Config::parse(&text, "fuzz.toml").expect("fuzz config"));
            }
        }
        v
    });
    &configs[usize::from(own) * 4 + usize::from(max_stores)]
}

/// One fuzz input: panics when an invariant above is broken.
pub fn run(data: &[u8]) {
    let mut r = Reader::new(data);
    let (Some(flags), Some(window)) = (r.u8(), r.u8()) else {
        return;
    };
    let own = flags & publish::OWN_STORES != 0;
    let limits = Limits {
        max_ranges_per_agent: usize::from((flags >> 1) & 7) + 1,
        max_seq_ahead: if window == 0 {
            Limits::default().max_seq_ahead
        } else {
            u64::from(window) * 8
        },
    };
    let config = config(own, (flags >> 4) & 3);
    let mut decoder = Decoder::new(config, Vec::new());
    let mut counters = Counters::default();
    let mut agents: BTreeMap<AgentKey, AgentState> = BTreeMap::new();
    let mut stores: BTreeMap<String, StoreStats> = BTreeMap::new();
    let mut gaps = GapTracker::default();
    let start = Instant::now();
    let mut step = 0u64;

    while let (Some(topic), Some(payload)) = (r.short(), r.long()) {
        step += 1;
        let Ok(topic) = std::str::from_utf8(topic) else {
            continue; // MQTT topics are UTF-8: the client library refuses anything else
        };
        let (key, batch) = match decoder.decode_publish(topic, payload, &mut counters) {
            Decoded::Events(key, batch) => (key, batch),
            Decoded::Status(key) | Decoded::CommandResult(key) => {
                assert!(valid_id(&key.store_id) && valid_id(&key.agent_id));
                continue;
            }
            Decoded::Refused => continue,
        };
        assert!(
            valid_id(&key.store_id) && valid_id(&key.agent_id),
            "{key:?}"
        );
        if own {
            assert!(["s1", "s2"].contains(&key.store_id.as_str()), "{key:?}");
        }
        let agent = agents.entry(key.clone()).or_default();
        if !stores.contains_key(&key.store_id) {
            assert!(stores.len() < config.ingest.max_stores, "store cap broken");
        }
        let store = stores.entry(key.store_id.clone()).or_default();
        let before_mark = agent.committed_seq();
        let before_applied = agent.applied_count();
        let before_kinds: u64 = store.kinds.values().sum();
        let mut seen = 0u64;
        let out = apply_batch_with(agent, store, &batch, limits, |_| seen += 1);

        let after_mark = agent.committed_seq();
        assert!(
            after_mark >= before_mark,
            "mark fell: {before_mark} -> {after_mark}"
        );
        assert!(
            after_mark - before_mark <= limits.max_seq_ahead,
            "mark rose {before_mark} -> {after_mark}, beyond max_seq_ahead {}",
            limits.max_seq_ahead
        );
        // A seq beyond the window is never recorded (it would shadow the genuine event later).
        let window_end = before_mark.saturating_add(limits.max_seq_ahead);
        for e in &batch.events {
            if e.seq > window_end {
                assert!(
                    !agent.is_done(e.seq),
                    "seq {} beyond {window_end} recorded",
                    e.seq
                );
            }
        }
        assert!(agent.highest_seq() <= after_mark.saturating_add(limits.max_seq_ahead));
        let events = batch.events.len() as u64;
        assert_eq!(
            out.applied + out.duplicates + out.invalid + out.out_of_window + out.over_range_cap,
            events,
            "{out:?}"
        );
        assert_eq!(out.applied, seen);
        assert_eq!(agent.applied_count() - before_applied, out.applied);
        assert_eq!(
            store.kinds.values().sum::<u64>() - before_kinds,
            out.applied
        );
        if out.applied > 0 || out.settled > 0 {
            assert!(out.changed);
        }

        let mark = agent.mark();
        assert_eq!(mark.committed, after_mark);
        assert!(mark.done_above.len() <= 64);
        let mut floor = after_mark;
        for &(a, b) in &mark.done_above {
            // Done ranges are disjoint and not adjacent; none touches the mark.
            assert!(a > floor.saturating_add(1) && a <= b, "{mark:?}");
            floor = b;
        }
        let open = agent.gaps();
        let mut floor = after_mark;
        for &(a, b) in &open {
            assert!(
                a > floor && a <= b && b <= agent.highest_seq(),
                "{open:?} {after_mark}"
            );
            assert!(!agent.is_done(a) && !agent.is_done(b));
            floor = b;
        }
        let new = gaps.update(&key, &open, start + std::time::Duration::from_secs(step));
        assert!(new <= open.len());
    }
    gaps.warn_stale(start + std::time::Duration::from_secs(step + 3600));
}
