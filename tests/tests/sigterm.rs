//! SIGTERM, the way systemd stops the agent (`KillSignal=SIGTERM`, `TimeoutStopSec=` in
//! systemd/store-agent.service): the agent stops its drivers, commits what they handed in, waits
//! a bounded time for the broker's PUBACKs and exits 0, while a writer is still streaming.
//! 1. Broker up: every acknowledged event reaches the collector without restarting the agent.
//! 2. Broker down: the agent still exits 0 within the bound; the acknowledged events the
//!    collector has not committed stay in the journal (`store-agent journal stats`) and are
//!    delivered exactly once after the broker and the agent are back.
//!
//! The bound: the agent has no config key for it. Its shutdown waits at most 2 s for connections
//! still handing in lines (agent/src/run.rs) and then `SHUTDOWN_GRACE` = 3 s for PUBACKs
//! (agent/src/uplink/mod.rs), so it must be gone within [`AGENT_BOUND`]; the unit's
//! `TimeoutStopSec` is the hard limit after which the harness, like systemd, SIGKILLs it.

use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use store_tests::check::{assert_no_violations, delivery_violations};
use store_tests::{bins, serial, Stack, Writer, WriterOptions, WriterReport};

/// 2 s (lines in flight) + 3 s (PUBACK grace) + 3 s for everything else on a busy machine.
const AGENT_BOUND: Duration = Duration::from_secs(8);

/// `TimeoutStopSec` of systemd/store-agent.service.
fn unit_stop_timeout() -> Duration {
    let unit = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd/store-agent.service"),
    )
    .expect("read systemd/store-agent.service");
    let secs = unit
        .lines()
        .find_map(|l| l.strip_prefix("TimeoutStopSec="))
        .expect("the unit sets TimeoutStopSec")
        .trim()
        .parse::<u64>()
        .expect("TimeoutStopSec in plain seconds");
    Duration::from_secs(secs)
}

/// SIGTERM; asserts exit status 0 within [`AGENT_BOUND`] (SIGKILL after the unit's
/// TimeoutStopSec, as systemd would). Returns how long it took.
fn terminate_cleanly(stack: &mut Stack) -> Duration {
    let hard = unit_stop_timeout();
    let start = Instant::now();
    let status: Option<ExitStatus> = stack.agent.terminate(hard);
    let took = start.elapsed();
    stack.env.log(format!(
        "SIGTERM: agent exited with {status:?} after {took:?}"
    ));
    let status = status.unwrap_or_else(|| {
        panic!(
            "the agent ignored SIGTERM for TimeoutStopSec ({hard:?}); log:\n{}",
            stack.agent.log_tail(60)
        )
    });
    assert!(
        status.success(),
        "the agent exited with {status} after SIGTERM; log:\n{}",
        stack.agent.log_tail(60)
    );
    assert!(
        took <= AGENT_BOUND,
        "the agent took {took:?} to stop (bound {AGENT_BOUND:?})"
    );
    let log = stack.agent.log_tail(200);
    assert!(
        log.contains("Agent stopped."),
        "no orderly stop in the log:\n{log}"
    );
    assert!(!log.contains("panicked"), "a panic during shutdown:\n{log}");
    took
}

/// Delivery violations, leaving out `err` answers that only say the agent was shutting down
/// (lines that arrived after SIGTERM are refused, never acknowledged: not a loss).
fn violations(stack: &Stack, report: &WriterReport) -> Vec<String> {
    let stats = stack.stats().expect("collector stats");
    let shutdown_errs_only = report
        .error_samples
        .iter()
        .all(|e| e.contains("shutting down"));
    delivery_violations(&stats, &stack.store_id(), &stack.agent_id(), report)
        .into_iter()
        .filter(|v| !(shutdown_errs_only && v.contains("lines answered with err")))
        .collect()
}

/// Starts a stack and a writer at `rate`, and waits until batches flow end to end.
fn streaming(name: &str, rate: f64) -> (Stack, Writer) {
    let mut stack = Stack::with_mosquitto(name);
    let writer = Writer::start(WriterOptions::new(stack.agent.feed_addr()).rate(rate));
    writer.wait_acked(1_000, Duration::from_secs(60));
    stack.wait_committed(1, Duration::from_secs(60));
    (stack, writer)
}

#[test]
fn sigterm_with_broker_up_delivers_everything_acknowledged() {
    let _serial = serial();
    let name = "sigterm_broker_up";
    let (mut stack, writer) = streaming(name, 2_000.0);
    let before = writer.progress();
    terminate_cleanly(&mut stack);
    let report = writer.stop();
    stack.env.log(format!(
        "writer at SIGTERM {before:?}; stopped: {}",
        report.summary()
    ));
    assert!(
        report.acked.len() as u64 >= before.acked,
        "acknowledged lines went missing from the report"
    );
    // Nothing restarts the agent: what it acknowledged was sent and PUBACKed before it exited.
    let (store, agent) = (stack.store_id(), stack.agent_id());
    let max = report.max_acked().expect("acknowledged lines");
    let reached = stack.wait_committed(max, Duration::from_secs(30));
    let stats = stack.settled_stats(reached, Duration::from_secs(1));
    let v = violations(&stack, &report);
    assert_no_violations(name, &v, &stats, &store, &agent, &report);
}

#[test]
fn sigterm_with_broker_down_keeps_events_for_after_restart() {
    let _serial = serial();
    let name = "sigterm_broker_down";
    let (mut stack, writer) = streaming(name, 1_000.0);
    stack.broker().stop();
    let at_outage = writer.progress();
    stack
        .env
        .log(format!("broker stopped; writer {at_outage:?}"));
    // The agent keeps journaling while the broker is away.
    writer.wait_acked(at_outage.acked + 1_000, Duration::from_secs(60));
    terminate_cleanly(&mut stack);
    let report = writer.stop();
    stack
        .env
        .log(format!("writer stopped: {}", report.summary()));

    // The broker is down, so the collector's mark cannot move any more: every acknowledged seq
    // above it must still be in the journal.
    let (store, agent) = (stack.store_id(), stack.agent_id());
    let mark = stack
        .stats()
        .expect("collector stats")
        .agent(&store, &agent)
        .expect("agent entry")
        .committed_seq;
    let max = report.max_acked().expect("acknowledged lines");
    let pending = report.acked.iter().filter(|&&s| s > mark).count() as u64;
    assert!(
        pending >= 1_000,
        "only {pending} events above the mark {mark}"
    );
    let out = Command::new(bins::agent())
        .args(["journal", "stats", "--json", "--state-dir"])
        .arg(&stack.agent.config().state_dir)
        .output()
        .expect("run store-agent journal stats");
    assert!(
        out.status.success(),
        "journal stats failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("journal stats --json is JSON");
    stack
        .env
        .log(format!("mark {mark}, max acked {max}, journal: {summary}"));
    let held = summary["events"].as_u64().expect("events");
    let last = summary["last_seq"].as_u64().expect("last_seq");
    assert!(
        held >= pending && last >= max,
        "the journal lost acknowledged events: holds {held} up to seq {last}, \
         {pending} acknowledged above the mark {mark} up to {max}"
    );

    stack.broker().start();
    stack.agent.start_again();
    let reached = stack.wait_committed(max, Duration::from_secs(120));
    let stats = stack.settled_stats(reached, Duration::from_secs(2));
    let v = violations(&stack, &report);
    assert_no_violations(name, &v, &stats, &store, &agent, &report);
}
