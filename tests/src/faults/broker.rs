//! The broker goes away under load: SIGKILLed and down for a while, then back with whatever
//! its last autosave held (`down`), or SIGKILLed and restarted with its persistence wiped, so
//! batches it had already PUBACKed and the retained commit marks are gone (`empty`).

use std::time::Duration;

use rand::rngs::StdRng;

use super::{drain_strict, Outcome, Params};
use crate::wait::sleep_checking;
use crate::{Stack, Writer, WriterOptions};

const RATE: f64 = 2_000.0;

pub fn down(p: &Params, _rng: &mut StdRng) -> Outcome {
    outage("faults-broker_down", p, p.broker_down, false)
}

pub fn empty(p: &Params, _rng: &mut StdRng) -> Outcome {
    outage("faults-broker_empty", p, Duration::from_secs(2), true)
}

fn outage(name: &str, p: &Params, down_for: Duration, wipe: bool) -> Outcome {
    let mut stack = Stack::with_mosquitto(name);
    let writer = Writer::start(WriterOptions::new(stack.agent.feed_addr()).rate(RATE));
    writer.wait_acked(1_000, Duration::from_secs(60));
    stack.wait_committed(1, Duration::from_secs(60));
    stack.broker().kill();
    if wipe {
        stack.broker().wipe();
    }
    let at_outage = writer.progress();
    stack.env.log(format!(
        "broker killed (wiped: {wipe}) for {down_for:?}; {at_outage:?}"
    ));
    sleep_checking(down_for, || stack.alive());
    let after = writer.progress();
    stack.broker().start();
    stack.env.log(format!("broker back; {after:?}"));
    sleep_checking(Duration::from_secs(1), || stack.alive());
    let report = writer.stop();
    let mut o = drain_strict(&mut stack, &report, p);
    let during = after.acked - at_outage.acked;
    o.extra("down", format!("{} s", down_for.as_secs()));
    o.extra("confirmed while down", during);
    // The journal, not the broker, is the source of truth: the line feed kept confirming.
    let expected = (down_for.as_secs_f64() * RATE * 0.5) as u64;
    o.require(during >= expected, || {
        format!("only {during} lines confirmed while the broker was down (expected >= {expected})")
    });
    o
}
