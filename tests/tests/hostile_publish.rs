//! Hostile publishers against the real binaries and a real Mosquitto (issue "safe on a hostile
//! network"):
//!
//! - Someone holding an agent's own credentials (its certificate, under the shipped ACL with
//!   mutual TLS) publishes a batch with a far-future seq and a DataLoss claiming every seq up to
//!   2^64-1: the collector refuses both by its seq window (counted on `/metrics`), the real
//!   agent's events are applied exactly once and the mark ends at the agent's real head.
//! - A forged retained commit mark on an agent's `.../ack` topic is ignored (nothing lost) and
//!   reaches HQ as a TAMPERED alert.
//! - One store's batch of 500 000 sparse seqs does not hold another store's events up for a
//!   second.
//! - Cashier and badge ids leave the agent only as pseudonyms, the same at two agents with the
//!   same key.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use prost::Message as _;
use store_proto::v1::{CommitMark, DataLoss, Scan, ScanMode, SeqRange};
use store_proto::{Body, Event, EventBatch};
use store_tests::check::{assert_no_violations, delivery_violations};
use store_tests::mqtt_probe::MqttProbe;
use store_tests::stack::tls_keys;
use store_tests::tls_probe::TlsProbe;
use store_tests::wait::{wait_for, wait_until};
use store_tests::{
    http, ports, serial, Agent, AgentConfig, Collector, CollectorConfig, Mosquitto, Stack, TestEnv,
    Writer, WriterOptions,
};

const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// A sample of a Prometheus text: the value of the line starting with `name_and_labels`.
fn metric(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

fn scan(seq: u64) -> Event {
    Event {
        seq,
        device_id: "intruder".into(),
        body: Some(Body::Scan(Scan {
            data: "04012345678901".into(),
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn batch(store: &str, agent: &str, events: Vec<Event>) -> Vec<u8> {
    EventBatch {
        store_id: store.into(),
        agent_id: agent.into(),
        events,
        sent_wall_time_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
        ..Default::default()
    }
    .encode_to_vec()
}

/// Sends each line to a line feed and returns the answers, in order.
fn feed(addr: SocketAddr, lines: &[String]) -> Vec<String> {
    let stream = TcpStream::connect_timeout(&addr, PROBE_TIMEOUT).expect("connect to line feed");
    stream.set_read_timeout(Some(PROBE_TIMEOUT)).unwrap();
    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    lines
        .iter()
        .map(|l| {
            w.write_all(l.as_bytes()).unwrap();
            let mut answer = String::new();
            r.read_line(&mut answer).expect("line feed answer");
            answer.trim_end().to_owned()
        })
        .collect()
}

#[test]
fn forged_batch_with_an_agents_credentials_is_refused_by_the_seq_window() {
    let _serial = serial();
    let env = TestEnv::new("forged_batch_tls");
    let pki = store_tests::pki::Pki::new(&env.subdir("pki"), "hq");
    let broker = Mosquitto::start_shipped(&env.subdir("mosquitto"), "mosquitto.conf", &pki, "");
    let cdir = env.subdir("collector");
    let mut ccfg = CollectorConfig::new(&cdir, broker.port());
    ccfg.mqtt_extra = tls_keys(&pki, Some(&pki.client("collector-hq-1")));
    let collector = Collector::start(&cdir, ccfg);
    let adir = env.subdir("agent");
    let mut cfg = AgentConfig::new(&adir, broker.port());
    let (store, agent_id) = (cfg.store_id.clone(), cfg.agent_id.clone());
    let cert = pki.client(&format!("{store}/agents/{agent_id}"));
    cfg.mqtt_extra = tls_keys(&pki, Some(&cert));
    let agent_metrics = ports::localhost(ports::free_port());
    cfg.extra_toml = format!("\n[metrics]\nlisten = \"{agent_metrics}\"\n");
    let agent = Agent::start(&adir, cfg);
    let mut stack = Stack {
        agent,
        collector,
        broker: Some(broker),
        env,
    };

    let writer = Writer::start(
        WriterOptions::new(stack.agent.feed_addr())
            .total(3_000)
            .rate(300.0),
    );
    writer.wait_acked(300, Duration::from_secs(60));
    let head = writer.progress().max_acked.expect("acked");
    // The intruder holds the agent's own certificate (same user name, so the same client id:
    // the broker kicks the real agent off, which reconnects).
    let forged = batch(
        &store,
        &agent_id,
        vec![
            scan(head + 1_000_000_000),
            Event {
                seq: u64::MAX,
                device_id: "agent".into(),
                body: Some(Body::DataLoss(DataLoss {
                    ranges: vec![SeqRange {
                        first: head + 1,
                        last: u64::MAX - 1,
                    }],
                    detail: "forged".into(),
                    ..Default::default()
                })),
                ..Default::default()
            },
        ],
    );
    // The real agent reconnects within milliseconds and kicks the intruder in turn, sometimes
    // before its PUBACK: publish until the broker has acknowledged the forged batch once.
    let mut attempts = Vec::new();
    loop {
        let published = TlsProbe::connect(
            stack.broker().port(),
            "intruder",
            &pki.ca_file,
            Some((&cert.cert, &cert.key)),
            PROBE_TIMEOUT,
        )
        .and_then(|mut intruder| {
            intruder.publish(
                &format!("stores/{store}/agents/{agent_id}/events"),
                forged.clone(),
                false,
                PROBE_TIMEOUT,
            )?;
            intruder.disconnect();
            Ok(())
        });
        match published {
            Ok(()) => break,
            Err(e) if attempts.len() < 20 => attempts.push(e.to_string()),
            Err(e) => panic!("forged publish: {e} (earlier attempts: {attempts:?})"),
        }
    }
    stack.env.log(format!(
        "forged batch acknowledged by the broker after {} kicked attempt(s)",
        attempts.len()
    ));
    stack
        .env
        .log(format!("forged batch published at head {head}"));

    let report = writer.finish(Duration::from_secs(120));
    stack.env.log(format!("writer done: {}", report.summary()));
    assert_eq!(report.acked.len(), 3_000, "{}", report.summary());
    let max = report.max_acked().unwrap();
    let reached = stack.wait_committed(max, Duration::from_secs(60));
    let stats = stack.settled_stats(reached, Duration::from_secs(2));
    let v = delivery_violations(&stats, &store, &agent_id, &report);
    assert_no_violations("forged batch", &v, &stats, &store, &agent_id, &report);
    assert_eq!(
        stats.applied_total,
        report.acked.len() as u64,
        "every genuine event applied exactly once, nothing forged"
    );
    // The mark is the agent's real head: the forged seqs moved nothing.
    let agent_head = wait_for(Duration::from_secs(10), "agent metrics", || {
        let body = http::get(agent_metrics, "/metrics", Duration::from_secs(2))?.body;
        metric(&body, "store_agent_journal_head_seq").ok_or(body)
    });
    let a = stats.agent(&store, &agent_id).unwrap();
    assert_eq!(
        (a.committed_seq, a.highest_seq),
        (agent_head as u64, agent_head as u64),
        "{}",
        stats.summary(&store, &agent_id)
    );
    assert!(a.lost_ranges.is_empty(), "{:?}", a.lost_ranges);
    let text = http::get(stack.collector.api_addr(), "/metrics", PROBE_TIMEOUT)
        .unwrap()
        .body;
    assert_eq!(
        metric(
            &text,
            "store_collector_rejected_events_total{reason=\"seq_window\"}"
        ),
        Some(2.0),
        "{text}"
    );
    stack.alive().unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn forged_retained_mark_is_ignored_and_raises_tampered_at_hq() {
    let _serial = serial();
    let mut stack = Stack::with_mosquitto("forged_mark_alert");
    let (store, agent_id) = (stack.store_id(), stack.agent_id());
    let writer = Writer::start(
        WriterOptions::new(stack.agent.feed_addr())
            .total(2_000)
            .rate(400.0),
    );
    writer.wait_acked(200, Duration::from_secs(60));
    let (mut attacker, _) =
        MqttProbe::connect(stack.broker().addr(), "attacker", true, PROBE_TIMEOUT).unwrap();
    let mark = CommitMark {
        committed_seq: 1 << 40,
        collector_id: "intruder".into(),
        ..Default::default()
    };
    attacker
        .publish(
            &format!("stores/{store}/agents/{agent_id}/ack"),
            &mark.encode_to_vec(),
            true,
        )
        .unwrap();
    attacker.disconnect();
    let report = writer.finish(Duration::from_secs(120));
    assert_eq!(report.acked.len(), 2_000, "{}", report.summary());
    let max = report.max_acked().unwrap();
    let reached = stack.wait_committed(max, Duration::from_secs(60));
    let stats = stack.settled_stats(reached, Duration::from_secs(1));
    // Every acknowledged event applied once, plus exactly one event of the agent's own: the
    // TAMPERED status (so the generic delivery check, which expects the writer's events only,
    // does not apply as is).
    assert!(report.violations().is_empty(), "{:?}", report.violations());
    let a = stats.agent(&store, &agent_id).unwrap();
    let applied = a.applied();
    assert!(
        report.acked.iter().all(|s| applied.contains(*s)),
        "acknowledged events lost: {}",
        stats.summary(&store, &agent_id)
    );
    assert!(
        a.gaps.is_empty() && a.lost_ranges.is_empty(),
        "{}",
        stats.summary(&store, &agent_id)
    );
    assert_eq!(a.committed_seq, a.highest_seq);
    assert_eq!(stats.applied_total, report.acked.len() as u64 + 1);
    let mut expected = report.acked_tally.kinds.clone();
    *expected.entry("device_status".to_owned()).or_default() += 1;
    assert_eq!(
        stats.store(&store).kinds,
        expected,
        "the TAMPERED status is the one extra event"
    );
    let api = stack.collector.api_addr();
    let alert = wait_for(
        Duration::from_secs(30),
        "a TAMPERED alert at HQ",
        || -> Result<serde_json::Value, String> {
            let v: serde_json::Value =
                serde_json::from_str(&http::get(api, "/v1/alerts?state=all", PROBE_TIMEOUT)?.body)
                    .map_err(|e| e.to_string())?;
            v["alerts"]
                .as_array()
                .and_then(|a| a.iter().find(|a| a["kind"] == "TAMPERED").cloned())
                .ok_or_else(|| v.to_string())
        },
    );
    stack.env.log(format!("alert: {alert}"));
    assert_eq!(alert["store_id"], store.as_str());
    assert_eq!(alert["subject"], agent_id.as_str());
    assert_eq!(alert["state"], "OPEN");
    assert_eq!(alert["retrospective"], false);
    let msg = alert["message"].as_str().unwrap();
    assert!(
        msg.contains("forged commit mark 1099511627776"),
        "the alert carries the agent's reason: {msg}"
    );
    stack.alive().unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_flood_of_sparse_seqs_does_not_delay_another_store() {
    let _serial = serial();
    let env = TestEnv::new("sparse_flood");
    let broker = Mosquitto::start_in(&env.subdir("mosquitto"));
    let cdir = env.subdir("collector");
    let collector = Collector::start(&cdir, CollectorConfig::new(&cdir, broker.port()));
    let (mut probe, _) =
        MqttProbe::connect(broker.addr(), "publisher", true, PROBE_TIMEOUT).unwrap();
    // Warm up: store Y is known and applied once, so the measurement is of the second batch.
    let applied_y = |n: u64| {
        collector.stats().is_ok_and(|s| {
            s.agent("store-y", "y1")
                .is_some_and(|a| a.applied_count >= n)
        })
    };
    probe
        .publish(
            "stores/store-y/agents/y1/events",
            &batch("store-y", "y1", vec![scan(1)]),
            false,
        )
        .unwrap();
    wait_until(Duration::from_secs(30), "store Y's first batch", || {
        applied_y(1)
    });
    // 500 000 sparse seqs (every other one): each would open a range of its own.
    let flood = batch(
        "store-x",
        "x1",
        (0..500_000u64).map(|i| scan(2 * i + 1)).collect(),
    );
    env.log(format!("flood batch: {} bytes", flood.len()));
    probe
        .publish("stores/store-x/agents/x1/events", &flood, false)
        .unwrap();
    let start = Instant::now();
    probe
        .publish(
            "stores/store-y/agents/y1/events",
            &batch("store-y", "y1", vec![scan(2)]),
            false,
        )
        .unwrap();
    let mut elapsed = None;
    while start.elapsed() < Duration::from_secs(30) {
        if applied_y(2) {
            elapsed = Some(start.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let elapsed = elapsed.expect("store Y's batch was never applied");
    env.log(format!("store Y's batch applied {elapsed:?} after publish"));
    // The flood was really processed (not dropped before the measurement ended).
    wait_until(
        Duration::from_secs(60),
        "store X's flood is handled",
        || {
            collector.stats().is_ok_and(|s| {
                s.agent("store-x", "x1")
                    .is_some_and(|a| a.applied_count >= 1)
            })
        },
    );
    let x = collector.stats().unwrap();
    env.log(format!("store X: {}", x.summary("store-x", "x1")));
    assert!(
        elapsed < Duration::from_secs(1),
        "store Y waited {elapsed:?} behind store X's flood"
    );
    probe.disconnect();
    drop(collector);
    drop(broker);
    drop(env);
}

/// `"p:"` and 16 lowercase hex digits.
fn is_pseudonym(s: &str) -> bool {
    s.strip_prefix("p:").is_some_and(|h| {
        h.len() == 16
            && h.chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}

#[test]
fn staff_ids_leave_the_agent_only_as_pseudonyms() {
    let _serial = serial();
    const CASHIER: &str = "cashier-alice-4711";
    const BADGE: &str = "BADGE-0042-BOB";
    let env = TestEnv::new("pseudonyms_on_the_wire");
    let key_file = env.subdir("secrets").join("privacy.key");
    std::fs::write(
        &key_file,
        "0123456789abcdef0123456789abcdef0123456789abcdef\n",
    )
    .unwrap();
    let privacy = format!(
        "\n[privacy]\nkey_file = {}\n",
        store_tests::agent::toml_str(&key_file.to_string_lossy())
    );
    let broker = Mosquitto::start_in(&env.subdir("mosquitto"));
    let (mut sub, _) = MqttProbe::connect(broker.addr(), "observer", true, PROBE_TIMEOUT).unwrap();
    sub.subscribe("stores/+/agents/+/events", 1).unwrap();
    let mut agents = Vec::new();
    for (i, agent_id) in ["agent-1", "agent-2"].into_iter().enumerate() {
        let dir = env.subdir(agent_id);
        let mut cfg = AgentConfig::new(&dir, broker.port());
        cfg.store_id = format!("store-{}", i + 1);
        cfg.agent_id = agent_id.into();
        cfg.extra_toml = privacy.clone();
        agents.push(Agent::start(&dir, cfg));
    }
    let lines = [
        format!(
            "{{\"type\":\"pos_transaction\",\"device_id\":\"till-1\",\"receipt_id\":\"R-1\",\"kind\":\"sale\",\"operator_id\":\"{CASHIER}\",\"items\":[{{\"gtin\":\"09506000134352\",\"quantity\":1,\"unit_price_minor\":499}}]}}\n"
        ),
        format!(
            "{{\"type\":\"scan\",\"device_id\":\"door-badge\",\"data\":\"{BADGE}\",\"mode\":\"badge\"}}\n"
        ),
    ];
    for a in &agents {
        let answers = feed(a.feed_addr(), &lines);
        assert!(answers.iter().all(|a| a.starts_with("ok ")), "{answers:?}");
    }
    // Collect batches until both agents' transactions and badge scans were seen.
    let mut seen: Vec<(String, String, String)> = Vec::new(); // (agent, operator, badge)
    let mut raw = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.len() < 2 {
        assert!(Instant::now() < deadline, "batches seen: {seen:?}");
        for m in sub.receive_for(Duration::from_millis(200)).unwrap() {
            raw.push(m.payload.clone());
            let b = EventBatch::decode(m.payload.as_slice()).expect("an EventBatch");
            let mut operator = None;
            let mut badge = None;
            for e in &b.events {
                match &e.body {
                    Some(Body::PosTransaction(t)) => operator = Some(t.operator_id.clone()),
                    Some(Body::Scan(s)) if s.mode == ScanMode::Badge as i32 => {
                        assert!(s.raw.is_empty(), "a badge scan's raw bytes are dropped");
                        badge = Some(s.data.clone())
                    }
                    _ => {}
                }
            }
            if let (Some(o), Some(bd)) = (operator, badge) {
                seen.push((b.agent_id.clone(), o, bd));
            }
        }
    }
    for (agent, operator, badge) in &seen {
        assert!(is_pseudonym(operator), "{agent}: operator id {operator:?}");
        assert!(is_pseudonym(badge), "{agent}: badge id {badge:?}");
    }
    assert_ne!(seen[0].0, seen[1].0, "one batch from each agent: {seen:?}");
    assert_eq!(
        (&seen[0].1, &seen[0].2),
        (&seen[1].1, &seen[1].2),
        "the same key gives the same pseudonyms at both agents"
    );
    assert_ne!(seen[0].1, seen[0].2, "different ids, different pseudonyms");
    for payload in &raw {
        for clear in [CASHIER, BADGE] {
            assert!(
                !payload.windows(clear.len()).any(|w| w == clear.as_bytes()),
                "{clear} in clear on the wire"
            );
        }
    }
    sub.disconnect();
    for mut a in agents {
        a.check_not_crashed().unwrap_or_else(|e| panic!("{e}"));
    }
}
