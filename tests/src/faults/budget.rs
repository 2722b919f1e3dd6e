//! The journal's byte budget exhausted: with the broker down, more events are confirmed than
//! `journal.max_bytes` holds, so the agent coalesces and sheds by class, recording every removed
//! seq in a `DataLoss` event. Once the broker is back, the seqs HQ did not get must be exactly
//! the ones the `DataLoss` events name: counted (settled at the collector) equals expected
//! (confirmed and not applied), and none of them was applied as well.

use std::time::Duration;

use rand::rngs::StdRng;

use super::{drain, Outcome, Params};
use crate::wait::sleep_checking;
use crate::{Stack, Writer, WriterOptions};

pub fn run(p: &Params, _rng: &mut StdRng) -> Outcome {
    let mut stack = Stack::with_mosquitto_and("faults-byte_budget", |c| {
        c.journal_max_bytes = p.budget_bytes;
    });
    let (store, agent) = (stack.store_id(), stack.agent_id());
    stack.broker().kill();
    let report = Writer::start(WriterOptions::new(stack.agent.feed_addr()).total(p.budget_events))
        .finish(Duration::from_secs(300));
    stack.env.log(format!(
        "written with the broker down: {}",
        report.summary()
    ));
    stack.broker().start();
    sleep_checking(Duration::from_secs(1), || stack.alive());
    let (stats, mut o) = drain(&mut stack, &report, p);
    o.violations.extend(report.violations());
    let a = stats.agent(&store, &agent).expect("agent entry");
    let counted: u64 = a.lost_ranges.iter().map(|&(x, y)| y - x + 1).sum();
    let expected = o.confirmed - o.applied;
    o.extra("budget", format!("{} KiB", p.budget_bytes / 1024));
    o.extra("DataLoss counted", counted);
    o.extra("DataLoss expected", expected);
    o.require(counted > 0, || {
        format!("the budget of {} bytes was never exhausted", p.budget_bytes)
    });
    o.require(counted == expected, || {
        format!("DataLoss settled {counted} seqs, but {expected} confirmed seqs were not applied")
    });
    o.require(
        report.unanswered == 0 && report.acked.len() as u64 == p.budget_events,
        || format!("not every line was confirmed: {}", report.summary()),
    );
    o
}
