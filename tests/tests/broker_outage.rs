//! Invariant 3: the broker is not the source of truth. Mosquitto goes away for 30 s mid-stream
//! (`STORE_TESTS_OUTAGE_SECS`) while the writer keeps writing; the agent must keep journaling and,
//! once the broker is back, deliver everything exactly once:
//! 1. graceful stop and start, persistence intact;
//! 2. SIGKILL and wipe: sessions, subscriptions and queued batches are lost, including batches
//!    the broker had already PUBACKed to the agent;
//! 3. as 2, with the collector SIGKILLed 3 s before the broker (so the wiped broker had queued,
//!    and PUBACKed, batches for it) and down for the whole outage; both come back.

use std::time::Duration;

use store_tests::wait::sleep_checking;
use store_tests::{env_u64, serial, Stack, Writer, WriterOptions};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Outage {
    GracefulRestart,
    Wiped,
    WipedWithCollectorKilled,
}

fn outage(name: &str, kind: Outage) {
    let outage = Duration::from_secs(env_u64("STORE_TESTS_OUTAGE_SECS", 30));
    let rate = env_u64("STORE_TESTS_RATE", 2_000) as f64;
    let mut stack = Stack::with_mosquitto(name);
    let (store, agent) = (stack.store_id(), stack.agent_id());

    let writer = Writer::start(WriterOptions::new(stack.agent.feed_addr()).rate(rate));
    writer.wait_acked(2_000, Duration::from_secs(60));
    // Mid-stream: batches are flowing end to end.
    let flowing = stack.wait_committed(1, Duration::from_secs(60));
    stack
        .env
        .log(format!("flowing: {}", flowing.summary(&store, &agent)));

    if kind == Outage::WipedWithCollectorKilled {
        // HQ goes first: for a few seconds the broker PUBACKs the agent's batches and queues
        // them for the collector's session; the wipe below then loses batches the broker had
        // already acknowledged.
        stack.collector.kill();
        stack
            .env
            .log("collector killed; the broker queues batches for it");
        sleep_checking(Duration::from_secs(3), || stack.alive());
    }
    let held = stack.broker().stored_messages();
    stack.env.log(format!(
        "broker holds {held:?} messages ($SYS store count) before going down"
    ));
    match kind {
        Outage::GracefulRestart => stack.broker().stop(),
        Outage::Wiped | Outage::WipedWithCollectorKilled => {
            stack.broker().kill();
            stack.broker().wipe();
        }
    }
    let at_outage = writer.progress();
    stack.env.log(format!(
        "broker down ({kind:?}) for {outage:?}; writer {at_outage:?}"
    ));
    sleep_checking(outage, || stack.alive());
    let after_outage = writer.progress();
    // The agent journals regardless of the uplink: lines kept being acknowledged.
    let expected_min = (outage.as_secs_f64() * rate * 0.5) as u64;
    assert!(
        after_outage.acked >= at_outage.acked + expected_min,
        "the agent stopped acknowledging lines while the broker was down: {at_outage:?} -> {after_outage:?}"
    );
    stack.broker().start();
    if kind == Outage::WipedWithCollectorKilled {
        stack.collector.start_again();
    }
    stack.env.log(format!(
        "broker back; writer {after_outage:?}; collector: {}",
        stack.stats_summary()
    ));
    sleep_checking(Duration::from_secs(5), || stack.alive());
    stack.finish_exact(name, writer);
}

#[test]
fn broker_outage_graceful_restart() {
    let _serial = serial();
    outage("broker_outage_graceful_restart", Outage::GracefulRestart);
}

#[test]
fn broker_outage_wiped() {
    let _serial = serial();
    outage("broker_outage_wiped", Outage::Wiped);
}

#[test]
fn broker_outage_wiped_with_collector_killed() {
    let _serial = serial();
    outage(
        "broker_outage_wiped_with_collector_killed",
        Outage::WipedWithCollectorKilled,
    );
}
