//! How soon events reach HQ once a broker outage ends (README, "Recovery after an outage").
//!
//! 1. The agent's reconnect backoff is set to a flat 30 s (full jitter: any wait in 0..=30 s):
//!    once the broker is back, its port probe must reconnect the agent within seconds, not
//!    whenever the wait runs out.
//! 2. The broker restarts empty while the collector is down: the agent's batches are accepted
//!    (PUBACKed) and dropped for want of a subscriber. The stall timeout is 30 s, so only the
//!    collector's birth can bring them to HQ within seconds of its return.
//!
//! The bounds are generous for a loaded CI machine (10 s; the targets, 5 s, are measured by
//! `bench recovery`); each test prints what it measured. Both end with the exactly-once check.

use std::time::{Duration, Instant};

use store_tests::wait::{sleep_checking, wait_until};
use store_tests::{serial, Stack, Writer, WriterOptions};

/// The bound asserted on each recovery.
const BOUND: Duration = Duration::from_secs(10);

/// Lines the broker's log holds that say this client connected.
fn connections(stack: &mut Stack, client_id: &str) -> usize {
    let log = stack.broker().log_tail(100_000);
    log.lines()
        .filter(|l| l.contains("New client connected") && l.contains(client_id))
        .count()
}

#[test]
fn first_events_reach_hq_soon_after_the_broker_returns() {
    let _serial = serial();
    let name = "recovery_broker_returns";
    let mut stack = Stack::with_mosquitto_and(name, |c| {
        c.reconnect_min_ms = 30_000;
        c.reconnect_max_ms = 30_000;
    });
    let writer = Writer::start(WriterOptions::new(stack.agent.feed_addr()).rate(200.0));
    writer.wait_acked(200, Duration::from_secs(60));
    stack.wait_committed(1, Duration::from_secs(60));

    stack.broker().kill();
    sleep_checking(Duration::from_secs(3), || stack.alive());
    stack.broker().start();
    let back = Instant::now();
    let pending = writer.progress().max_acked.expect("acknowledged lines");
    stack.wait_committed(pending, BOUND + Duration::from_secs(50));
    let took = back.elapsed();
    stack.env.log(format!(
        "events journaled during the outage (through seq {pending}) at HQ {took:?} after the broker returned"
    ));
    println!("first events at HQ {took:?} after the broker returned");
    assert!(
        took <= BOUND,
        "events reached HQ {took:?} after the broker returned (bound {BOUND:?})"
    );
    stack.finish_exact(name, writer);
}

#[test]
fn batches_an_empty_broker_dropped_reach_hq_soon_after_the_collector_returns() {
    let _serial = serial();
    let name = "recovery_empty_broker";
    let mut stack = Stack::with_mosquitto_and(name, |c| {
        c.stall_timeout_secs = 30;
    });
    let client_id = format!(
        "store-agent-{}-{}",
        stack.agent.config().store_id,
        stack.agent.config().agent_id
    );
    let writer = Writer::start(WriterOptions::new(stack.agent.feed_addr()).rate(200.0));
    writer.wait_acked(200, Duration::from_secs(60));
    stack.wait_committed(1, Duration::from_secs(60));

    stack.collector.kill();
    stack.broker().kill();
    stack.broker().wipe();
    let before = connections(&mut stack, &client_id);
    stack.broker().start();
    wait_until(Duration::from_secs(30), "the agent reconnects", || {
        connections(&mut stack, &client_id) > before
    });
    // The agent publishes live events into the empty broker for a while: PUBACKed, dropped.
    let dropped_from = writer.progress().max_acked.unwrap_or(0);
    writer.wait_acked(writer.progress().acked + 200, Duration::from_secs(30));
    let dropped_to = writer.progress().max_acked.expect("acknowledged lines");
    assert!(dropped_to > dropped_from);
    let back = Instant::now();
    stack.collector.start_again();
    stack.wait_committed(dropped_to, BOUND + Duration::from_secs(50));
    let took = back.elapsed();
    stack.env.log(format!(
        "seqs {dropped_from}..={dropped_to}, accepted by the empty broker before the collector returned, at HQ {took:?} after its start"
    ));
    println!("batches dropped by the empty broker at HQ {took:?} after the collector's start");
    assert!(
        took <= BOUND,
        "dropped batches reached HQ {took:?} after the collector's start (bound {BOUND:?})"
    );
    stack.finish_exact(name, writer);
}
