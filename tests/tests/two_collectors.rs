//! Scale-out by store: two collectors with disjoint `stores` lists share one Mosquitto. Every
//! store's state must be complete (every acknowledged event applied exactly once, exact per-kind
//! counts and foot-traffic sums) in exactly one collector, and absent from the other.

use std::time::Duration;

use store_tests::check::{assert_no_violations, exact_violations, wait_committed};
use store_tests::{
    env_u64, serial, Agent, AgentConfig, Collector, CollectorConfig, Mosquitto, TestEnv, Writer,
    WriterOptions,
};

#[test]
fn disjoint_store_lists_split_a_chain_between_two_collectors() {
    let _serial = serial();
    let events = env_u64("STORE_TESTS_TWO_COLLECTORS_EVENTS", 5_000);
    let env = TestEnv::new("two_collectors");
    let broker = Mosquitto::start_in(&env.subdir("mosquitto"));

    let owners: [(&str, &[&str]); 2] = [("hq-a", &["s1", "s2"]), ("hq-b", &["s3"])];
    let mut collectors = Vec::new();
    for (id, stores) in owners {
        let dir = env.subdir(id);
        let mut cfg = CollectorConfig::new(&dir, broker.port());
        cfg.collector_id = id.to_owned();
        cfg.stores = stores.iter().map(|s| s.to_string()).collect();
        collectors.push(Collector::start(&dir, cfg));
    }
    let mut agents = Vec::new();
    for store in ["s1", "s2", "s3"] {
        let dir = env.subdir(&format!("agent-{store}"));
        let mut cfg = AgentConfig::new(&dir, broker.port());
        cfg.store_id = store.to_owned();
        agents.push(Agent::start(&dir, cfg));
    }

    // All three stores write at once, so both collectors ingest concurrently.
    let writers: Vec<Writer> = agents
        .iter()
        .map(|a| Writer::start(WriterOptions::new(a.feed_addr()).total(events)))
        .collect();
    let reports: Vec<_> = writers
        .into_iter()
        .map(|w| w.finish(Duration::from_secs(300)))
        .collect();

    for (i, store) in ["s1", "s2", "s3"].iter().enumerate() {
        let owner = if *store == "s3" { 1 } else { 0 };
        let other = 1 - owner;
        let report = &reports[i];
        let max = report
            .max_acked()
            .unwrap_or_else(|| panic!("{store}: nothing acknowledged: {}", report.summary()));
        let reached = wait_committed(
            &collectors[owner],
            store,
            "agent-1",
            max,
            Duration::from_secs(120),
            || Ok(()),
        );
        let v = exact_violations(&reached, store, "agent-1", report, events);
        // exact_violations also compares the collector-wide total, which holds two stores on hq-a.
        let v: Vec<String> = v
            .into_iter()
            .filter(|m| !m.starts_with("applied_total"))
            .collect();
        assert_no_violations(
            &format!("{store} on its owner"),
            &v,
            &reached,
            store,
            "agent-1",
            report,
        );
        let foreign = collectors[other]
            .stats()
            .expect("stats of the other collector");
        assert!(
            foreign.agent(store, "agent-1").is_none() && !foreign.stores.contains_key(*store),
            "{store} must not be applied by the collector that does not own it: {}",
            foreign.summary(store, "agent-1")
        );
    }
    // Each owner applied exactly its stores' events.
    let totals: Vec<u64> = collectors
        .iter()
        .map(|c| c.stats().expect("stats").applied_total)
        .collect();
    assert_eq!(
        totals,
        vec![2 * events, events],
        "applied totals per collector"
    );
}
