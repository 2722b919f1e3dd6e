//! Invariants 1 and 2 across agent crashes: the agent is SIGKILLed at random moments while a
//! writer streams flat out, and restarted on the same state dir each time. Every acknowledged
//! event must be applied exactly once and seqs must keep increasing across restarts.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use store_tests::check::{assert_no_violations, delivery_violations};
use store_tests::wait::sleep_checking;
use store_tests::{env_u64, seed, serial, Stack, Writer, WriterOptions};

#[test]
fn agent_sigkill() {
    let _serial = serial();
    let mut rng = StdRng::seed_from_u64(seed("agent_sigkill"));
    let kills = env_u64("STORE_TESTS_AGENT_KILLS", 5);
    let mut stack = Stack::with_mosquitto("agent_sigkill");
    let (store, agent) = (stack.store_id(), stack.agent_id());
    let addr = stack.agent.feed_addr();

    let writer = Writer::start(WriterOptions::new(addr).reconnect_timeout(Duration::from_secs(90)));
    writer.wait_acked(1_000, Duration::from_secs(60));
    for k in 1..=kills {
        let delay = Duration::from_millis(rng.random_range(300..=2_000));
        sleep_checking(delay, || stack.alive());
        let before = writer.progress();
        stack.agent.kill();
        stack.env.log(format!(
            "SIGKILL #{k} of the agent after {delay:?}: writer {before:?}; collector: {}",
            stack.stats_summary()
        ));
        stack.agent.start_again();
        // The writer reconnected and the restarted agent takes new lines.
        writer.wait_reconnected(before.connections, Duration::from_secs(60));
    }
    let mut report = writer.stop();
    stack
        .env
        .log(format!("stream stopped: {}", report.summary()));
    assert!(
        report.connections > kills as u32,
        "the writer did not reconnect after each kill: {}",
        report.summary()
    );

    // A final batch after the last restart, then everything must drain.
    let last = Writer::start(
        WriterOptions::new(addr)
            .total(1_000)
            .first_index(report.next_index),
    )
    .finish(Duration::from_secs(120));
    report.merge(last);
    let max = report.max_acked().expect("acknowledged lines");
    stack
        .env
        .log(format!("final batch done: {}", report.summary()));
    let reached = stack.wait_committed(max, Duration::from_secs(300));
    let stats = stack.settled_stats(reached, Duration::from_secs(2));
    let v = delivery_violations(&stats, &store, &agent, &report);
    assert_no_violations("agent SIGKILL", &v, &stats, &store, &agent, &report);
    let a = stats.agent(&store, &agent).expect("agent entry");
    stack.env.log(format!(
        "ok: {} acknowledged, {} unanswered at kills, {} applied ({} beyond the acknowledged)",
        report.acked.len(),
        report.unanswered,
        a.applied_count,
        a.applied_count - report.acked.len() as u64
    ));
}
