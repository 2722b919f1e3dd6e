//! Invariant 1 with nothing going wrong: every event sent through the line feed is acknowledged
//! and applied exactly once, with exact per-kind counts and foot-traffic sums.

use std::time::Duration;

use store_tests::check::{assert_no_violations, exact_violations};
use store_tests::{env_u64, serial, Stack, Writer, WriterOptions};

fn run(mut stack: Stack, events: u64) {
    let (store, agent) = (stack.store_id(), stack.agent_id());
    let report = Writer::start(WriterOptions::new(stack.agent.feed_addr()).total(events))
        .finish(Duration::from_secs(600));
    stack.env.log(format!("writer done: {}", report.summary()));
    stack.alive().unwrap_or_else(|e| panic!("{e}"));
    let max = report
        .max_acked()
        .unwrap_or_else(|| panic!("no line acknowledged: {}", report.summary()));
    let reached = stack.wait_committed(max, Duration::from_secs(300));
    let stats = stack.settled_stats(reached, Duration::from_secs(2));
    let v = exact_violations(&stats, &store, &agent, &report, events);
    assert_no_violations("happy path", &v, &stats, &store, &agent, &report);
}

#[test]
fn happy_path_mosquitto() {
    let _serial = serial();
    let events = env_u64("STORE_TESTS_HAPPY_EVENTS", 100_000);
    run(Stack::with_mosquitto("happy_path_mosquitto"), events);
}

#[test]
fn happy_path_embedded_rumqttd() {
    let _serial = serial();
    let events = env_u64("STORE_TESTS_EMBEDDED_EVENTS", 20_000);
    run(
        Stack::with_embedded_broker("happy_path_embedded_rumqttd"),
        events,
    );
}
