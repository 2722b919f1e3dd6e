//! Random agent SIGKILLs under load: the writer streams (flat out in the full run), the agent is killed at a
//! random moment and restarted on its state dir, again and again; then a last batch and a
//! drain.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::Rng;

use super::{drain_strict, Outcome, Params};
use crate::wait::sleep_checking;
use crate::{Stack, Writer, WriterOptions};

pub fn run(p: &Params, rng: &mut StdRng) -> Outcome {
    let mut stack = Stack::with_mosquitto("faults-agent_kills");
    let addr = stack.agent.feed_addr();
    // Flat out in the full run; the reduced one caps the rate so the journal each restart
    // reopens stays small enough for CI's time budget.
    let mut opts = WriterOptions::new(addr).reconnect_timeout(Duration::from_secs(90));
    if !p.full {
        opts = opts.rate(10_000.0);
    }
    let writer = Writer::start(opts);
    writer.wait_acked(500, Duration::from_secs(60));
    // Short gaps in the reduced run keep it inside CI's budget; the full run spreads kills
    // over journal groups of every size.
    let gap = if p.full { 300..=2_000 } else { 100..=400 };
    for k in 1..=p.agent_kills {
        let delay = Duration::from_millis(rng.random_range(gap.clone()));
        sleep_checking(delay, || stack.alive());
        let before = writer.progress();
        stack.agent.kill();
        stack.env.log(format!(
            "SIGKILL #{k} of the agent after {delay:?}: {before:?}"
        ));
        stack.agent.start_again();
        writer.wait_reconnected(before.connections, Duration::from_secs(60));
    }
    let mut report = writer.stop();
    let last = Writer::start(
        WriterOptions::new(addr)
            .total(500)
            .first_index(report.next_index),
    )
    .finish(Duration::from_secs(120));
    report.merge(last);
    let mut o = drain_strict(&mut stack, &report, p);
    o.extra("kills", p.agent_kills);
    o.extra("unanswered at kills", report.unanswered);
    o.require(report.connections > p.agent_kills, || {
        format!(
            "the writer did not reconnect after each kill: {}",
            report.summary()
        )
    });
    o
}
