//! `store-agent status` talks to the running agent over its local socket and reports the
//! journal, the uplink, the collector's mark and the drivers, with numbers that match what the
//! collector says.

use std::process::Command;
use std::time::Duration;

use store_tests::{bins, serial, wait, Stack, Writer, WriterOptions};

fn status(stack: &Stack) -> serde_json::Value {
    let out = Command::new(bins::agent())
        .args(["status", "--json", "--config"])
        .arg(stack.agent.config_path())
        .output()
        .expect("run store-agent status");
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).expect("status is JSON")
}

#[test]
fn status_reports_journal_uplink_mark_and_drivers() {
    let _serial = serial();
    let mut stack = Stack::with_mosquitto("status");
    let report = Writer::start(WriterOptions::new(stack.agent.feed_addr()).total(2_000))
        .finish(Duration::from_secs(120));
    let max = report.max_acked().expect("acknowledged lines");
    stack.wait_committed(max, Duration::from_secs(120));
    // The agent hears the mark a moment after the collector publishes it.
    wait::wait_until(Duration::from_secs(30), "agent sees the mark", || {
        status(&stack)["uplink"]["committed_seq"] == max
    });
    let s = status(&stack);
    assert_eq!(s["store_id"], stack.store_id());
    assert_eq!(s["journal"]["head_seq"], max);
    assert_eq!(s["journal"]["ahead_of_collector"], 0);
    assert_eq!(s["uplink"]["connected"], true);
    assert_eq!(s["uplink"]["collector_online"], true);
    assert_eq!(s["uplink"]["mode"], "normal");
    let drivers = s["drivers"].as_object().expect("drivers");
    assert_eq!(drivers.len(), 1);
    let (_, feed) = drivers.iter().next().unwrap();
    assert_eq!(feed["kind"], "line_feed");
    assert_eq!(feed["state"], "running");

    // With the broker gone the agent says so, and the backlog shows.
    stack.broker().kill();
    wait::wait_until(
        Duration::from_secs(30),
        "agent notices the broker is gone",
        || status(&stack)["uplink"]["connected"] == false,
    );
    let more = Writer::start(WriterOptions::new(stack.agent.feed_addr()).total(100))
        .finish(Duration::from_secs(60));
    assert_eq!(more.acked.len(), 100);
    let s = status(&stack);
    assert_eq!(s["journal"]["ahead_of_collector"], 100);
    assert!(s["journal"]["oldest_unacked_age_ms"].as_i64().is_some());

    // A text rendering for people.
    let out = Command::new(bins::agent())
        .args(["status", "--config"])
        .arg(stack.agent.config_path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("100 ahead of the collector"), "{text}");
    assert!(text.contains("not connected"), "{text}");
}

/// `/metrics` serves Prometheus text whose numbers follow what the agent did.
#[test]
fn metrics_endpoint_serves_prometheus_text() {
    use store_tests::{http, ports, Agent, AgentConfig, TestEnv};
    let _serial = serial();
    let env = TestEnv::new("metrics");
    let dir = env.subdir("agent");
    // No broker: events stay in the journal, which is what the gauges should show.
    let config = AgentConfig::new(&dir, ports::free_port());
    let metrics = ports::localhost(ports::free_port());
    let mut agent = Agent::create(&dir, config.clone());
    let text = format!("{}\n[metrics]\nlisten = \"{metrics}\"\n", config.to_toml());
    std::fs::write(agent.config_path(), text).unwrap();
    agent.start_again();
    let report = Writer::start(WriterOptions::new(agent.feed_addr()).total(300))
        .finish(Duration::from_secs(60));
    assert_eq!(report.acked.len(), 300);
    let body = wait::wait_for(Duration::from_secs(10), "metrics answer", || {
        http::get(metrics, "/metrics", Duration::from_secs(2)).map(|r| r.body)
    });
    let value = |name: &str| -> f64 {
        body.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("{name} missing in:\n{body}"))
            .parse()
            .unwrap()
    };
    assert_eq!(value("store_agent_journal_events"), 300.0);
    assert_eq!(value("store_agent_journal_head_seq"), 300.0);
    assert_eq!(value("store_agent_journal_ahead_of_collector"), 300.0);
    assert_eq!(value("store_agent_broker_connected"), 0.0);
    let journaled: f64 = body
        .lines()
        .filter(|l| l.starts_with("store_agent_events_journaled_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(journaled, 300.0);
    assert!(body.contains("# TYPE store_agent_publish_latency_seconds histogram"));
    assert!(
        body.contains("store_agent_driver_restarts_total{driver=\"feed\",kind=\"line_feed\"} 0")
    );
}
