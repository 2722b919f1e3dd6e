//! The broker link on a hostile network: the shipped Mosquitto config (`config/mosquitto/`:
//! mutual TLS, the certificate's common name as identity, the shipped ACL) with a throw-away CA.
//!
//! - Events cross over mutual TLS with zero loss and an exact effect (invariant 1).
//! - A broker whose certificate does not chain to the configured CA is refused, and the agent
//!   says why in its log; the broker refuses clients without a certificate of its CA.
//! - One store's certificate can neither feed events into another store, nor forge commit marks
//!   (`.../ack`, which would make an agent trim events the collector never had: invariant 3)
//!   or collector statuses (`hq/...`), nor read other stores' topics.

use std::time::Duration;

use prost::Message as _;
use store_proto::v1::{CollectorStatus, CommitMark, Scan};
use store_proto::{Body, Event as StoreEvent, EventBatch};
use store_tests::check::{assert_no_violations, exact_violations};
use store_tests::pki::Pki;
use store_tests::tls_probe::TlsProbe;
use store_tests::wait::wait_until;
use store_tests::{
    env_u64, serial, Agent, AgentConfig, Mosquitto, Stack, TestEnv, Writer, WriterOptions,
};

const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn mutual_tls_delivery_has_no_loss() {
    let _serial = serial();
    let events = env_u64("STORE_TESTS_TLS_EVENTS", 5_000);
    let (mut stack, _pki) = Stack::with_shipped_mosquitto("mutual_tls_delivery", "");
    let (store, agent) = (stack.store_id(), stack.agent_id());
    let report = Writer::start(WriterOptions::new(stack.agent.feed_addr()).total(events))
        .finish(Duration::from_secs(600));
    stack.env.log(format!("writer done: {}", report.summary()));
    stack.alive().unwrap_or_else(|e| panic!("{e}"));
    let max = report
        .max_acked()
        .unwrap_or_else(|| panic!("no line acknowledged: {}", report.summary()));
    let reached = stack.wait_committed(max, Duration::from_secs(300));
    let stats = stack.settled_stats(reached, Duration::from_secs(2));
    let v = exact_violations(&stats, &store, &agent, &report, events);
    assert_no_violations("mutual TLS", &v, &stats, &store, &agent, &report);
    // The connection really was TLS with the agent's certificate as its identity.
    let log = stack.broker().log_tail(200);
    assert!(
        log.contains("u'store-1/agents/agent-1'"),
        "the broker did not see the agent's certificate identity:\n{log}"
    );
    assert!(
        !log.contains("port 1883"),
        "the shipped config must open no other (plaintext) listener:\n{log}"
    );
}

#[test]
fn wrong_ca_is_refused_with_a_clear_error() {
    let _serial = serial();
    let env = TestEnv::new("wrong_ca");
    let pki = Pki::new(&env.subdir("pki"), "hq");
    let rogue = Pki::new(&env.subdir("rogue"), "rogue");
    let broker = Mosquitto::start_shipped(&env.subdir("mosquitto"), "mosquitto.conf", &pki, "");

    // The agent trusts another CA than the one that signed the broker's certificate.
    let agent_dir = env.subdir("agent");
    let mut cfg = AgentConfig::new(&agent_dir, broker.port());
    let cert = pki.client(&format!("{}/agents/{}", cfg.store_id, cfg.agent_id));
    cfg.mqtt_extra = store_tests::stack::tls_keys(&rogue, Some(&cert));
    let mut agent = Agent::start(&agent_dir, cfg);
    wait_until(
        Duration::from_secs(30),
        "the agent logs the refused certificate",
        || {
            let log = agent.log_tail(50);
            log.contains("Cannot connect to the broker") && log.contains("UnknownIssuer")
        },
    );
    agent.check_running().unwrap_or_else(|e| panic!("{e}"));
    // Logged once, not at every reconnect attempt.
    std::thread::sleep(Duration::from_secs(2));
    let log = agent.log_tail(500);
    assert_eq!(
        log.matches("Cannot connect to the broker").count(),
        1,
        "repeated failures should be logged once:\n{log}"
    );

    // The same from a plain client: the handshake fails on the broker's certificate.
    let e = TlsProbe::connect(
        broker.port(),
        "p1",
        &rogue.ca_file,
        Some((&cert.cert, &cert.key)),
        PROBE_TIMEOUT,
    )
    .err()
    .expect("a broker certificate from another CA must be refused");
    assert!(e.contains("UnknownIssuer"), "{e}");
    // The broker refuses a client without a certificate, and one signed by another CA.
    let e = TlsProbe::connect(broker.port(), "p2", &pki.ca_file, None, PROBE_TIMEOUT)
        .err()
        .expect("a client without a certificate must be refused");
    env.log(format!("no client certificate: {e}"));
    let forged = rogue.client("store-1/agents/agent-1");
    let e = TlsProbe::connect(
        broker.port(),
        "p3",
        &pki.ca_file,
        Some((&forged.cert, &forged.key)),
        PROBE_TIMEOUT,
    )
    .err()
    .expect("a client certificate from another CA must be refused");
    env.log(format!("rogue client certificate: {e}"));
    // And a certificate of the right CA gets in (the refusals above were not the broker's fault).
    let ok = pki.client("store-9/agents/a9");
    TlsProbe::connect(
        broker.port(),
        "p4",
        &pki.ca_file,
        Some((&ok.cert, &ok.key)),
        PROBE_TIMEOUT,
    )
    .unwrap_or_else(|e| panic!("a valid client certificate was refused: {e}"))
    .disconnect();
}

fn batch(store: &str, agent: &str, seq: u64) -> Vec<u8> {
    EventBatch {
        store_id: store.into(),
        agent_id: agent.into(),
        events: vec![StoreEvent {
            seq,
            body: Some(Body::Scan(Scan {
                data: "04012345678901".into(),
                ..Default::default()
            })),
            ..Default::default()
        }],
        sent_wall_time_ms: 1_700_000_000_000,
        ..Default::default()
    }
    .encode_to_vec()
}

#[test]
fn a_store_cannot_write_or_read_another_stores_topics() {
    let _serial = serial();
    // A test-only identity that may read everything, to see what gets through.
    let observer_acl = "\n# Test only: sees every message.\nuser test-observer\ntopic read #\n";
    let (mut stack, pki) = Stack::with_shipped_mosquitto("store_isolation", observer_acl);
    let port = stack.broker().port();
    let ca = pki.ca_file.clone();
    let honest_ack = "stores/store-1/agents/agent-1/ack";

    let obs = pki.client("test-observer");
    let mut observer =
        TlsProbe::connect(port, "obs", &ca, Some((&obs.cert, &obs.key)), PROBE_TIMEOUT)
            .unwrap_or_else(|e| panic!("observer: {e}"));
    for filter in ["stores/#", "hq/#"] {
        assert!(
            observer.subscribe(filter, PROBE_TIMEOUT).unwrap(),
            "{filter}"
        );
    }
    let victim_cert = pki.client("store-b/agents/b1");
    let mut victim = TlsProbe::connect(
        port,
        "b1",
        &ca,
        Some((&victim_cert.cert, &victim_cert.key)),
        PROBE_TIMEOUT,
    )
    .unwrap_or_else(|e| panic!("victim: {e}"));
    assert!(victim
        .subscribe("stores/store-b/agents/b1/ack", PROBE_TIMEOUT)
        .unwrap());

    // Store A's agent, with a valid certificate of the chain's CA. Mosquitto drops the
    // connection of a client whose publish its ACL denies, so each forgery gets a connection of
    // its own; the first one also claims the collector's client id (the broker replaces it by
    // the user name, so the collector is not disconnected).
    let a_cert = pki.client("store-a/agents/a1");
    let connect_a = |client_id: &str| {
        TlsProbe::connect(
            port,
            client_id,
            &ca,
            Some((&a_cert.cert, &a_cert.key)),
            PROBE_TIMEOUT,
        )
        .unwrap_or_else(|e| panic!("store A: {e}"))
    };
    let forged_mark = CommitMark {
        committed_seq: 999_999_999,
        ..Default::default()
    }
    .encode_to_vec();
    let forged_status = CollectorStatus {
        collector_id: "hq-1".into(),
        online: false,
        wall_time_ms: 42,
    }
    .encode_to_vec();
    let forgeries: Vec<(&str, Vec<u8>, bool)> = vec![
        (
            "stores/store-b/agents/b1/events",
            batch("store-b", "b1", 1),
            false,
        ),
        ("stores/store-b/agents/b1/status", b"forged".to_vec(), true),
        ("stores/store-b/agents/b1/ack", forged_mark.clone(), true),
        (honest_ack, forged_mark.clone(), true),
        ("stores/store-a/agents/a1/ack", forged_mark.clone(), true),
        ("hq/collector/hq-1/status", forged_status.clone(), true),
        ("hq/alerts/store-b", b"forged".to_vec(), false),
    ];
    for (i, (topic, payload, retain)) in forgeries.iter().enumerate() {
        let id = if i == 0 { "store-collector-hq-1" } else { "a1" };
        let mut a = connect_a(id);
        // Either acknowledged (MQTT 3.1.1 has no "denied" PUBACK) or disconnected: both fine,
        // what matters is what reaches the subscribers below.
        match a.publish(topic, payload.clone(), *retain, PROBE_TIMEOUT) {
            Ok(()) => stack.env.log(format!("{topic}: PUBACK")),
            Err(e) => stack.env.log(format!("{topic}: {e}")),
        }
        a.disconnect();
    }
    // The control: a batch on A's own topic, after the forgeries. The broker handled each
    // forgery before the connection that sent it ended, so once the observer and the collector
    // have the control batch, they would have had the forgeries.
    let mut a = connect_a("a1");
    a.publish(
        "stores/store-a/agents/a1/events",
        batch("store-a", "a1", 1),
        false,
        PROBE_TIMEOUT,
    )
    .unwrap();
    let seen = observer
        .receive_until("stores/store-a/agents/a1/events", PROBE_TIMEOUT)
        .unwrap_or_else(|e| panic!("observer: {e}"));
    for (topic, payload, _) in &forgeries {
        assert!(
            !seen
                .iter()
                .any(|m| &m.topic == topic && &m.payload == payload),
            "A's forgery on {topic} reached the broker's subscribers"
        );
    }
    // The collector applied A's own batch, and nothing for store B.
    wait_until(
        Duration::from_secs(30),
        "the collector applies store A's batch",
        || {
            stack.stats().is_ok_and(|s| {
                s.agent("store-a", "a1")
                    .is_some_and(|x| x.committed_seq >= 1)
            })
        },
    );
    let stats = stack.stats().unwrap();
    assert!(
        stats.agent("store-b", "b1").is_none() && !stats.stores.contains_key("store-b"),
        "store B's state changed: {stats:?}"
    );
    // Reading: A may read its own mark (retained, published by the collector for the control
    // batch), nothing of any other store (the honest agent's retained status, B's topics). The
    // wide subscription goes first, so its retained messages arrive before the mark.
    let wide = a.subscribe("stores/#", PROBE_TIMEOUT).unwrap();
    assert!(a
        .subscribe("stores/store-a/agents/a1/ack", PROBE_TIMEOUT)
        .unwrap());
    let got = a
        .receive_until("stores/store-a/agents/a1/ack", Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("store A's own mark: {e}"));
    stack.env.log(format!(
        "store A: stores/# granted={wide}, received {:?}",
        got.iter().map(|m| &m.topic).collect::<Vec<_>>()
    ));
    let foreign: Vec<&str> = got
        .iter()
        .map(|m| m.topic.as_str())
        .filter(|t| !t.starts_with("stores/store-a/"))
        .collect();
    assert!(
        foreign.is_empty(),
        "store A read other stores' topics: {foreign:?}"
    );
    assert!(
        !got.iter().any(|m| m.payload == forged_mark),
        "A's forged mark on its own ack topic was stored"
    );
    // The victim never got a forged mark, the collector was never disconnected, and the broker
    // replaced client ids by user names.
    let victim_got = victim.receive_for(Duration::from_millis(200)).unwrap();
    assert!(victim_got.is_empty(), "store B received {victim_got:?}");
    let collector_log = stack.collector.log_tail(200);
    assert!(
        !collector_log.contains("Connection to broker lost"),
        "the collector was disconnected:\n{collector_log}"
    );
    let broker_log = stack.broker().log_tail(200);
    assert!(
        broker_log.contains("as collector-hq-1 ") && broker_log.contains("as store-a/agents/a1 "),
        "client ids should be the user names:\n{broker_log}"
    );
    a.disconnect();
    observer.disconnect();
    victim.disconnect();
    stack.alive().unwrap_or_else(|e| panic!("{e}"));
}
