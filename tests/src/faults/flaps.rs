//! The store's uplink flaps, through the in-test TCP proxy between the agent and the broker:
//! cut (every connection closed, new ones refused) and restored at random moments (`cut`), or
//! black-holed: bytes silently dropped both ways so the connection hangs without a FIN or RST,
//! which only the agent's MQTT keep-alive can notice (`blackhole`).

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::Rng;

use super::{drain_strict, Outcome, Params};
use crate::proxy::Mode;
use crate::wait::{sleep_checking, wait_for};
use crate::{Stack, Writer, WriterOptions};

const RATE: f64 = 2_000.0;

pub fn cut(p: &Params, rng: &mut StdRng) -> Outcome {
    let (mut stack, proxy) = Stack::with_proxy("faults-link_cut", |_| {});
    let writer = Writer::start(WriterOptions::new(stack.agent.feed_addr()).rate(RATE));
    writer.wait_acked(500, Duration::from_secs(60));
    let mut worst = Duration::ZERO;
    for k in 1..=p.flaps {
        let up = Duration::from_millis(rng.random_range(300..=1_500));
        sleep_checking(up, || stack.alive());
        let down = Duration::from_millis(rng.random_range(300..=2_500));
        proxy.set_mode(Mode::Cut);
        stack.env.log(format!("cut #{k} for {down:?}"));
        sleep_checking(down, || stack.alive());
        proxy.set_mode(Mode::Pass);
        worst = worst.max(resumed(&mut stack, &writer));
    }
    let report = writer.stop();
    let mut o = drain_strict(&mut stack, &report, p);
    o.extra("cuts", p.flaps);
    o.extra("proxy connections", proxy.connections());
    o.extra("slowest resume", format!("{:.1} s", worst.as_secs_f64()));
    o
}

pub fn blackhole(p: &Params, _rng: &mut StdRng) -> Outcome {
    let (mut stack, proxy) = Stack::with_proxy("faults-link_blackhole", |_| {});
    let writer = Writer::start(WriterOptions::new(stack.agent.feed_addr()).rate(RATE));
    writer.wait_acked(500, Duration::from_secs(60));
    let mut worst = Duration::ZERO;
    let mut hung_kept = Vec::new();
    for k in 1..=p.blackholes {
        stack.wait_committed(
            writer.progress().max_acked.unwrap_or(1),
            Duration::from_secs(60),
        );
        let connections = proxy.connections();
        proxy.set_mode(Mode::Blackhole);
        stack
            .env
            .log(format!("black hole #{k} for {:?}", p.blackhole_for));
        sleep_checking(p.blackhole_for, || stack.alive());
        proxy.set_mode(Mode::Pass);
        worst = worst.max(resumed(&mut stack, &writer));
        // Delivery resumed on a new connection: the agent gave up the hung one by itself.
        let now = proxy.connections();
        stack.env.log(format!(
            "after black hole #{k}: {} new connection(s), {:?} bytes (forwarded, dropped)",
            now - connections,
            proxy.bytes()
        ));
        hung_kept.push(now == connections);
    }
    let report = writer.stop();
    let mut o = drain_strict(&mut stack, &report, p);
    o.require(!hung_kept.contains(&true), || {
        "delivery resumed without a new connection through the proxy: a black-holed \
         connection cannot carry bytes again, so this proxy is not in effect"
            .into()
    });
    o.extra(
        "black holes",
        format!("{} x {} s", p.blackholes, p.blackhole_for.as_secs()),
    );
    o.extra("dropped bytes", proxy.bytes().1);
    o.extra("slowest resume", format!("{:.1} s", worst.as_secs_f64()));
    o.require(proxy.bytes().1 > 0, || {
        "the black hole dropped no bytes".into()
    });
    o
}

/// How long after the link came back the collector's mark passed what was confirmed when it
/// came back.
fn resumed(stack: &mut Stack, writer: &Writer) -> Duration {
    let start = Instant::now();
    let target = writer.progress().max_acked.unwrap_or(1);
    let (store, agent) = (stack.store_id(), stack.agent_id());
    wait_for(Duration::from_secs(60), "delivery resuming", || {
        stack.alive()?;
        let s = stack.stats()?;
        match s.agent(&store, &agent) {
            Some(a) if a.committed_seq >= target => Ok(()),
            _ => Err(s.summary(&store, &agent)),
        }
    });
    start.elapsed()
}
