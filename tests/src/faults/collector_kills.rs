//! Collector SIGKILLs mid-stream: each kill lands while the collector is applying batches, and
//! it stays down for a random moment before it restarts on its state dir.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::Rng;

use super::{drain_strict, Outcome, Params};
use crate::wait::{sleep_checking, wait_for};
use crate::{Stack, Writer, WriterOptions};

pub fn run(p: &Params, rng: &mut StdRng) -> Outcome {
    let mut stack = Stack::with_mosquitto("faults-collector_kills");
    let (store, agent) = (stack.store_id(), stack.agent_id());
    let writer = Writer::start(WriterOptions::new(stack.agent.feed_addr()).rate(3_000.0));
    writer.wait_acked(500, Duration::from_secs(60));
    for k in 1..=p.collector_kills {
        let before = stack.stats().map(|s| s.applied_total).unwrap_or(0);
        wait_for(
            Duration::from_secs(120),
            "the collector applying batches",
            || {
                stack.alive()?;
                let s = stack.stats()?;
                if s.applied_total > before + 300 {
                    Ok(())
                } else {
                    Err(s.summary(&store, &agent))
                }
            },
        );
        let delay = Duration::from_millis(rng.random_range(50..=800));
        sleep_checking(delay, || stack.alive());
        stack.collector.kill();
        let down = Duration::from_millis(rng.random_range(0..=1_500));
        stack
            .env
            .log(format!("SIGKILL #{k} of the collector; down for {down:?}"));
        sleep_checking(down, || stack.alive());
        stack.collector.start_again();
    }
    sleep_checking(Duration::from_secs(1), || stack.alive());
    let report = writer.stop();
    let mut o = drain_strict(&mut stack, &report, p);
    o.extra("kills", p.collector_kills);
    o
}
