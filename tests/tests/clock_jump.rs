//! Invariants 2 and 8 when the store PC's wall clock jumps: the real agent runs under libfaketime
//! (Debian package `faketime`), whose offset file is re-read on every clock call
//! (`FAKETIME_TIMESTAMP_FILE` + `FAKETIME_NO_CACHE=1`) while CLOCK_MONOTONIC stays real
//! (`FAKETIME_DONT_FAKE_MONOTONIC=1`). Events are fed at the real time, then after a jump back
//! of one hour, then after a jump forward of a day. Every acknowledged event must reach the
//! collector exactly once; on the wire the events arrive once each, in seq order, with strictly
//! increasing seqs, wall times that show both jumps, and monotonic times that keep increasing.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prost::Message as _;
use store_proto::EventBatch;
use store_tests::check::{assert_no_violations, delivery_violations};
use store_tests::faketime::{self, libfaketime, set_offset};
use store_tests::mqtt_probe::MqttProbe;
use store_tests::{
    serial, Agent, AgentConfig, Collector, CollectorConfig, Mosquitto, Stack, TestEnv, Writer,
    WriterOptions, WriterReport,
};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// Real time a phase may take, and slack for the test's own pauses between phases.
const SLACK_MS: i64 = 60_000;
const EVENTS_PER_PHASE: u64 = 300;

fn real_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// One event as it went over MQTT.
#[derive(Debug, Clone)]
struct Wire {
    seq: u64,
    wall_ms: i64,
    mono_ns: u64,
    boot_id: String,
}

/// Reads event batches from the probe until every seq in `want` was seen (or `timeout`).
fn receive_events(
    probe: &mut MqttProbe,
    topic: &str,
    want: &WriterReport,
    timeout: Duration,
) -> Vec<Wire> {
    let deadline = Instant::now() + timeout;
    let mut wire = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    while Instant::now() < deadline && !want.acked.iter().all(|s| seen.contains(s)) {
        let messages = probe
            .receive_for(Duration::from_millis(300))
            .unwrap_or_else(|e| panic!("probe: {e}"));
        for m in messages {
            assert_eq!(m.topic, topic, "unexpected topic");
            let batch = EventBatch::decode(m.payload.as_slice())
                .unwrap_or_else(|e| panic!("undecodable batch on {topic}: {e}"));
            for e in batch.events {
                seen.insert(e.seq);
                wire.push(Wire {
                    seq: e.seq,
                    wall_ms: e.wall_time_ms,
                    mono_ns: e.monotonic_ns,
                    boot_id: e.boot_id,
                });
            }
        }
    }
    wire
}

#[test]
fn wall_clock_jumps_keep_seqs_and_delivery() {
    let _serial = serial();
    let name = "clock_jump";
    let env = TestEnv::new(name);
    let broker = Mosquitto::start_in(&env.subdir("mosquitto"));
    let collector_dir = env.subdir("collector");
    let collector = Collector::start(
        &collector_dir,
        CollectorConfig::new(&collector_dir, broker.port()),
    );
    let agent_dir = env.subdir("agent");
    let config = AgentConfig::new(&agent_dir, broker.port());
    let topic = format!(
        "stores/{}/agents/{}/events",
        config.store_id, config.agent_id
    );
    // Subscribed before the agent exists, so every batch it publishes is seen. QoS 1: the
    // probe's PUBACKs are traffic, which keeps the broker from timing out the idle probe.
    let (mut probe, _) = MqttProbe::connect(
        broker.addr(),
        "clock-jump-probe",
        true,
        Duration::from_secs(10),
    )
    .unwrap_or_else(|e| panic!("probe: {e}"));
    probe
        .subscribe("stores/+/agents/+/events", 1)
        .unwrap_or_else(|e| panic!("subscribe: {e}"));

    let offset_file = env.path().join("faketime-offset");
    let lib = libfaketime();
    let mut agent = Agent::create(&agent_dir, config);
    faketime::attach(&mut agent, &offset_file);
    agent.start_again();
    env.log(format!(
        "agent under {} ({})",
        lib.display(),
        offset_file.display()
    ));
    let mut stack = Stack {
        agent,
        collector,
        broker: Some(broker),
        env,
    };
    let (store, agent_id) = (stack.store_id(), stack.agent_id());
    let addr = stack.agent.feed_addr();

    // Phase 0 at the real time, 1 an hour back, 2 a day after phase 1.
    let offsets = ["+0", "-1h", "+23h"];
    let mut phases: Vec<WriterReport> = Vec::new();
    let mut report: Option<WriterReport> = None;
    let mut started_ms = Vec::new();
    for offset in offsets {
        set_offset(&offset_file, offset);
        started_ms.push(real_now_ms());
        let first = report.as_ref().map_or(0, |r| r.next_index);
        let phase = Writer::start(
            WriterOptions::new(addr)
                .total(EVENTS_PER_PHASE)
                .first_index(first),
        )
        .finish(Duration::from_secs(60));
        stack
            .env
            .log(format!("offset {offset}: {}", phase.summary()));
        assert_eq!(
            phase.acked.len() as u64,
            EVENTS_PER_PHASE,
            "{}",
            phase.summary()
        );
        match report.as_mut() {
            Some(r) => r.merge(phase.clone()),
            None => report = Some(phase.clone()),
        }
        phases.push(phase);
    }
    let report = report.expect("three phases");

    // Delivered exactly once (the collector's view) ...
    let max = report.max_acked().expect("acknowledged lines");
    let reached = stack.wait_committed(max, Duration::from_secs(120));
    let stats = stack.settled_stats(reached, Duration::from_secs(1));
    let v = delivery_violations(&stats, &store, &agent_id, &report);
    assert_no_violations(name, &v, &stats, &store, &agent_id, &report);
    assert_eq!(
        stats.applied_total,
        report.acked.len() as u64,
        "applied_total"
    );

    // ... and on the wire: once each, in seq order, nothing but what was acknowledged.
    let wire = receive_events(&mut probe, &topic, &report, Duration::from_secs(30));
    probe.disconnect();
    let seqs: Vec<u64> = wire.iter().map(|w| w.seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "seqs on the wire are not strictly increasing (a resend or reordering): {:?}",
        seqs.windows(2).find(|w| w[0] >= w[1])
    );
    assert_eq!(
        seqs.iter()
            .copied()
            .collect::<std::collections::BTreeSet<_>>(),
        report.acked,
        "the events on the wire are not exactly the acknowledged ones"
    );
    assert!(
        wire.windows(2).all(|w| w[0].mono_ns <= w[1].mono_ns),
        "monotonic time went back in seq order"
    );
    assert!(
        wire.iter().all(|w| w.boot_id == wire[0].boot_id),
        "boot id changed"
    );

    // Wall times: each phase at its offset, and the two jumps between phases.
    let by_seq = |seq: u64| wire.iter().find(|w| w.seq == seq).expect("seq on the wire");
    let mut ends: Vec<(&Wire, &Wire)> = Vec::new();
    for (k, phase) in phases.iter().enumerate() {
        let first = by_seq(*phase.acked.first().unwrap());
        let last = by_seq(*phase.acked.last().unwrap());
        let walls: Vec<i64> = phase.acked.iter().map(|&s| by_seq(s).wall_ms).collect();
        assert!(
            walls.windows(2).all(|w| w[0] <= w[1]),
            "wall time went back within phase {k} ({})",
            offsets[k]
        );
        let expected = started_ms[k] + [0, -HOUR_MS, 23 * HOUR_MS][k];
        assert!(
            (first.wall_ms - expected).abs() < SLACK_MS,
            "phase {k} ({}): first wall time {} is not near {expected} (libfaketime not in effect?)",
            offsets[k],
            first.wall_ms
        );
        ends.push((first, last));
    }
    let back = ends[1].0.wall_ms - ends[0].1.wall_ms;
    let forward = ends[2].0.wall_ms - ends[1].1.wall_ms;
    stack.env.log(format!(
        "wall jumps between phases: {:.3} h then {:.3} h; monotonic +{:.3} s then +{:.3} s",
        back as f64 / HOUR_MS as f64,
        forward as f64 / HOUR_MS as f64,
        (ends[1].0.mono_ns - ends[0].1.mono_ns) as f64 / 1e9,
        (ends[2].0.mono_ns - ends[1].1.mono_ns) as f64 / 1e9,
    ));
    assert!(
        (-HOUR_MS..-HOUR_MS + SLACK_MS).contains(&back),
        "the jump back shows as {back} ms"
    );
    assert!(
        (DAY_MS..DAY_MS + SLACK_MS).contains(&forward),
        "the jump forward shows as {forward} ms"
    );
    assert!(
        ends[1].0.mono_ns > ends[0].1.mono_ns && ends[2].0.mono_ns > ends[1].1.mono_ns,
        "monotonic time did not move on across the jumps"
    );
    stack
        .agent
        .check_not_crashed()
        .unwrap_or_else(|e| panic!("{e}"));
}
