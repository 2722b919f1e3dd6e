//! The store PC's wall clock stepped under load: the agent runs under libfaketime, the writer
//! streams, and the clock is stepped back one hour, then to one hour ahead. Seqs must keep
//! increasing and every confirmed event arrive once. The collector keeps the latest batch wall
//! time it saw, which proves the forward step took effect.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::rngs::StdRng;

use super::{drain_strict, Outcome, Params};
use crate::faketime;
use crate::wait::sleep_checking;
use crate::{Agent, AgentConfig, Collector, CollectorConfig, Mosquitto, Stack, TestEnv};
use crate::{Writer, WriterOptions};

pub fn run(p: &Params, _rng: &mut StdRng) -> Outcome {
    let env = TestEnv::new("faults-clock_step");
    let broker = Mosquitto::start_in(&env.subdir("mosquitto"));
    let collector_dir = env.subdir("collector");
    let collector = Collector::start(
        &collector_dir,
        CollectorConfig::new(&collector_dir, broker.port()),
    );
    let agent_dir = env.subdir("agent");
    let offset_file = env.path().join("faketime-offset");
    let mut agent = Agent::create(&agent_dir, AgentConfig::new(&agent_dir, broker.port()));
    faketime::attach(&mut agent, &offset_file);
    agent.start_again();
    let mut stack = Stack {
        agent,
        collector,
        broker: Some(broker),
        env,
    };
    let (store, agent_id) = (stack.store_id(), stack.agent_id());
    let writer = Writer::start(WriterOptions::new(stack.agent.feed_addr()).rate(1_000.0));
    for (k, offset) in ["+0", "-1h", "+1h"].into_iter().enumerate() {
        faketime::set_offset(&offset_file, offset);
        stack.env.log(format!("wall clock offset {offset}"));
        writer.wait_acked(
            p.clock_phase_events * (k as u64 + 1),
            Duration::from_secs(60),
        );
        sleep_checking(Duration::from_millis(500), || stack.alive());
    }
    let report = writer.stop();
    let mut o = drain_strict(&mut stack, &report, p);
    let stats = stack.stats().unwrap_or_else(|e| panic!("stats: {e}"));
    let wall = stats
        .agent(&store, &agent_id)
        .map(|a| a.last_batch_wall_ms)
        .unwrap_or(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64;
    let ahead_min = (wall - now) / 60_000;
    o.extra("steps", "-1 h, +1 h");
    o.extra("last batch wall vs real", format!("{ahead_min:+} min"));
    o.require(ahead_min >= 50, || {
        format!("the agent's last batch wall time is {ahead_min:+} min from real time: the +1 h step did not take effect")
    });
    o
}
