//! A slow broker: the agent's link is throttled to a trickle (TCP proxy, a few KiB/s each
//! way) while the writer keeps streaming. The agent's memory must stay bounded (the backlog
//! waits in the journal, not in memory: at most `uplink.max_inflight` batches are in flight),
//! the line feed keeps confirming far faster than the trickle delivers, and once the link is
//! released everything drains exactly once. Peak agent RSS is sampled every 100 ms.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;

use super::{drain_strict, Outcome, Params};
use crate::proxy::Mode;
use crate::{Stack, Writer, WriterOptions};

const RATE: f64 = 5_000.0;
/// Most the agent's resident size may grow over its size before the throttle.
const RSS_GROWTH_LIMIT_KIB: u64 = 128 * 1024;

pub fn run(p: &Params, _rng: &mut StdRng) -> Outcome {
    let (mut stack, proxy) = Stack::with_proxy("faults-slow_broker", |_| {});
    let (store, agent) = (stack.store_id(), stack.agent_id());
    let writer = Writer::start(WriterOptions::new(stack.agent.feed_addr()).rate(RATE));
    writer.wait_acked(2_000, Duration::from_secs(60));
    let (base_rss, _) = stack.agent.rss_kib().expect("agent RSS");
    proxy.set_mode(Mode::Throttle(p.slow_bytes_per_sec));
    let before = writer.progress();
    let committed_before = committed(&stack, &store, &agent);
    let start = Instant::now();
    let mut peak = base_rss;
    while start.elapsed() < p.slow_for {
        if let Err(e) = stack.alive() {
            panic!("under the throttle: {e}");
        }
        if let Some((rss, _)) = stack.agent.rss_kib() {
            peak = peak.max(rss);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let secs = start.elapsed().as_secs_f64();
    let after = writer.progress();
    let committed_after = committed(&stack, &store, &agent);
    proxy.set_mode(Mode::Pass);
    stack.env.log(format!(
        "throttle released after {secs:.1} s: writer {after:?}; agent RSS {base_rss} -> peak {peak} KiB"
    ));
    let report = writer.stop();
    let mut o = drain_strict(&mut stack, &report, p);
    let fed = (after.acked - before.acked) as f64 / secs;
    let delivered = committed_after.saturating_sub(committed_before) as f64 / secs;
    o.extra(
        "throttle",
        format!(
            "{} KiB/s for {} s",
            p.slow_bytes_per_sec / 1024,
            p.slow_for.as_secs()
        ),
    );
    o.extra("line feed confirmed/s", format!("{fed:.0}"));
    o.extra("HQ committed/s", format!("{delivered:.0}"));
    o.extra(
        "agent RSS base/peak",
        format!("{} / {} MiB", base_rss / 1024, peak / 1024),
    );
    o.require(
        peak.saturating_sub(base_rss) <= RSS_GROWTH_LIMIT_KIB,
        || format!("agent RSS grew from {base_rss} to {peak} KiB under the throttle"),
    );
    // The backlog waits in the journal: the line feed keeps confirming at the writer's pace,
    // far above what the trickle delivers (compared in the same run, so a loaded machine that
    // slows both does not fail it).
    o.require(fed >= 3.0 * delivered.max(1.0), || {
        format!("the line feed slowed to {fed:.0}/s, near the uplink's {delivered:.0}/s")
    });
    o
}

fn committed(stack: &Stack, store: &str, agent: &str) -> u64 {
    stack
        .stats()
        .ok()
        .and_then(|s| s.agent(store, agent).map(|a| a.committed_seq))
        .unwrap_or(0)
}
