//! Invariant 6: the collector is SIGKILLed mid-stream and restarted on the same state dir; its
//! dedup mark and the state it guards must stay in step, so nothing is applied twice or lost.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use store_tests::wait::sleep_checking;
use store_tests::{env_u64, seed, serial, Stack, Writer, WriterOptions};

#[test]
fn collector_sigkill() {
    let _serial = serial();
    let mut rng = StdRng::seed_from_u64(seed("collector_sigkill"));
    let kills = env_u64("STORE_TESTS_COLLECTOR_KILLS", 3);
    let rate = env_u64("STORE_TESTS_RATE", 3_000) as f64;
    let mut stack = Stack::with_mosquitto("collector_sigkill");
    let (store, agent) = (stack.store_id(), stack.agent_id());

    let writer = Writer::start(WriterOptions::new(stack.agent.feed_addr()).rate(rate));
    writer.wait_acked(1_000, Duration::from_secs(60));
    for k in 1..=kills {
        // Mid-stream: the collector is applying batches right now.
        let before = stack.stats().map(|s| s.applied_total).unwrap_or(0);
        stack
            .env
            .log(format!("waiting for the collector to apply past {before}"));
        store_tests::wait::wait_for(
            Duration::from_secs(120),
            "the collector applying batches",
            || {
                stack.alive()?;
                let s = stack.stats()?;
                if s.applied_total > before + 500 {
                    Ok(())
                } else {
                    Err(s.summary(&store, &agent))
                }
            },
        );
        let delay = Duration::from_millis(rng.random_range(100..=1_500));
        sleep_checking(delay, || stack.alive());
        let at_kill = stack.stats_summary();
        stack.collector.kill();
        stack.env.log(format!(
            "SIGKILL #{k} of the collector after {delay:?}; it had: {at_kill}; writer {:?}",
            writer.progress()
        ));
        let down = Duration::from_millis(rng.random_range(0..=2_000));
        sleep_checking(down, || stack.alive());
        stack.collector.start_again();
        stack.env.log(format!(
            "collector back after {down:?}: {}",
            stack.stats_summary()
        ));
    }
    sleep_checking(Duration::from_secs(2), || stack.alive());
    stack.finish_exact("collector SIGKILL", writer);
}
