//! Alert delivery to webhooks, against the real collector binary, a real Mosquitto and two real
//! HTTP receivers in this test (issue "alerts reach nobody unless someone watches"):
//!
//! - Eight TAMPERED alerts are raised (one per agent), half of them acknowledged through the API
//!   and all resolved, with the collector SIGKILLed once while the raises are being applied and
//!   once right after the acknowledgements. Every state change reaches each destination with a
//!   valid `X-Store-Edge-Signature` (checked here with the `hmac` and `sha2` crates, not with the
//!   collector's code), and after deduplication by `X-Store-Edge-Idempotency-Key` each receiver
//!   holds exactly the expected keys: none missing after the restarts, none invented.
//! - Destination `flaky` answers 500 until the other destination, `fast`, has received
//!   everything and at least `STORE_TESTS_WEBHOOK_FAIL_SECS` (default 20; 60 for the full run)
//!   have passed; then it receives everything too, in order per alert (open before acknowledged
//!   before resolved), while `fast` had finished before `flaky`'s first success.
//! - An Alertmanager destination (TAMPERED is one of its default IT kinds) gets the same changes
//!   in API v2 form (`endsAt` on resolved ones) and repeats of the active alerts.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use prost::Message as _;
use serde_json::Value;
use sha2::Sha256;
use store_proto::v1::{CollectorStatus, DeviceState, DeviceStatus, Scan};
use store_proto::{Body, Event, EventBatch};
use store_tests::mqtt_probe::MqttProbe;
use store_tests::wait::wait_for;
use store_tests::{env_u64, http, serial, Collector, CollectorConfig, Mosquitto, TestEnv};

const TOKEN: &str = "webhook-operator";
const AGENTS: usize = 8;
const ACKED: usize = 4;
const WAIT: Duration = Duration::from_secs(60);
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Request {
    at: Instant,
    key: String,
    signature_ok: bool,
    accepted: bool,
    body: Value,
}

/// An HTTP receiver on 127.0.0.1 that checks signatures and records every request.
struct Receiver {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    failing: Arc<Mutex<bool>>,
    _runtime: tokio::runtime::Runtime,
}

#[derive(Clone)]
struct ReceiverState {
    secret: Vec<u8>,
    requests: Arc<Mutex<Vec<Request>>>,
    failing: Arc<Mutex<bool>>,
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a receiver must check: the HMAC-SHA256 of "{timestamp}.{body}", and a fresh timestamp.
fn signature_ok(secret: &[u8], headers: &HeaderMap, body: &[u8]) -> bool {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let timestamp = header("x-store-edge-timestamp");
    let Ok(ts) = timestamp.parse::<i64>() else {
        return false;
    };
    if (now_secs() - ts).abs() > 300 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let expected = format!("sha256={}", hex(&mac.finalize().into_bytes()));
    header("x-store-edge-signature") == expected && header("content-type") == "application/json"
}

async fn hook(State(st): State<ReceiverState>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let signature_ok = signature_ok(&st.secret, &headers, &body);
    let failing = *st.failing.lock().unwrap();
    let key = headers
        .get("x-store-edge-idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let accepted = signature_ok && !failing;
    st.requests.lock().unwrap().push(Request {
        at: Instant::now(),
        key,
        signature_ok,
        accepted,
        body: serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned())),
    });
    match (signature_ok, failing) {
        (false, _) => StatusCode::UNAUTHORIZED,
        (true, true) => StatusCode::INTERNAL_SERVER_ERROR,
        (true, false) => StatusCode::NO_CONTENT,
    }
}

impl Receiver {
    fn start(secret: &str, failing: bool) -> Receiver {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let failing = Arc::new(Mutex::new(failing));
        let state = ReceiverState {
            secret: secret.as_bytes().to_vec(),
            requests: requests.clone(),
            failing: failing.clone(),
        };
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(hook))
            .route("/api/v2/alerts", axum::routing::post(hook))
            .with_state(state);
        runtime.spawn(async move { axum::serve(listener, app).await });
        Receiver {
            addr,
            requests,
            failing,
            _runtime: runtime,
        }
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// Accepted outbox deliveries (not Alertmanager repeats), first arrival of each key, in
    /// arrival order.
    fn first_arrivals(&self) -> Vec<Request> {
        let mut seen = BTreeSet::new();
        self.requests()
            .into_iter()
            .filter(|r| r.accepted && !r.key.starts_with("resend:") && seen.insert(r.key.clone()))
            .collect()
    }

    fn keys(&self) -> BTreeSet<String> {
        self.first_arrivals().into_iter().map(|r| r.key).collect()
    }
}

fn tamper_batch(agent: &str, t: i64) -> Vec<u8> {
    EventBatch {
        store_id: "s1".into(),
        agent_id: agent.into(),
        events: vec![Event {
            seq: 1,
            device_id: "agent".into(),
            wall_time_ms: t,
            clock_synced: true,
            body: Some(Body::DeviceStatus(DeviceStatus {
                state: DeviceState::Tampered as i32,
                reason: "forged commit mark".into(),
                ..Default::default()
            })),
            ..Default::default()
        }],
        sent_wall_time_ms: t,
        ..Default::default()
    }
    .encode_to_vec()
}

/// A scan stamped `t`: with `[intel] clock = "event"` it moves the rules' "now" to `t`.
fn scan_batch(agent: &str, seq: u64, t: i64) -> Vec<u8> {
    EventBatch {
        store_id: "s1".into(),
        agent_id: agent.into(),
        events: vec![Event {
            seq,
            device_id: "scanner-1".into(),
            wall_time_ms: t,
            clock_synced: true,
            body: Some(Body::Scan(Scan {
                data: "04012345678901".into(),
                ..Default::default()
            })),
            ..Default::default()
        }],
        sent_wall_time_ms: t,
        ..Default::default()
    }
    .encode_to_vec()
}

fn publish(mosquitto: &Mosquitto, client: &str, agent: &str, payload: &[u8]) {
    let (mut probe, _) =
        MqttProbe::connect(mosquitto.addr(), client, true, HTTP_TIMEOUT).expect("probe");
    probe
        .publish(&format!("stores/s1/agents/{agent}/events"), payload, false)
        .expect("publish");
    probe.disconnect();
}

/// Waits until the collector has subscribed (it then publishes its retained status, online)
/// since `since_ms`: before that, a first run has no session at the broker to queue batches in.
fn wait_online(mosquitto: &Mosquitto, since_ms: i64) {
    let (mut probe, _) =
        MqttProbe::connect(mosquitto.addr(), "status-watch", true, HTTP_TIMEOUT).expect("probe");
    probe
        .subscribe("hq/collector/hq-1/status", 1)
        .expect("subscribe");
    wait_for(WAIT, "the collector's online status", || {
        let messages = probe.receive_for(Duration::from_millis(100))?;
        let online = messages.iter().any(|m| {
            CollectorStatus::decode(m.payload.as_slice())
                .is_ok_and(|s| s.online && s.wall_time_ms >= since_ms)
        });
        if online {
            Ok(())
        } else {
            Err("not yet".to_owned())
        }
    });
    probe.disconnect();
}

fn api_alerts(collector: &Collector, state: &str) -> Vec<Value> {
    let v = http::get_json(
        collector.api_addr(),
        TOKEN,
        &format!("/v1/alerts?store=s1&state={state}"),
    )
    .unwrap_or(Value::Null);
    v["alerts"].as_array().cloned().unwrap_or_default()
}

fn metrics(collector: &Collector) -> String {
    http::get(collector.api_addr(), "/metrics", HTTP_TIMEOUT)
        .map(|r| r.body)
        .unwrap_or_default()
}

fn metric(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

/// Per alert id, the states in the order their keys first arrived.
fn states_by_alert(arrivals: &[Request]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in arrivals {
        let mut parts = r.key.rsplitn(3, ':');
        let state = parts.next().unwrap_or_default().to_owned();
        let _kind = parts.next();
        let id = parts.next().unwrap_or_default().to_owned();
        out.entry(id).or_default().push(state);
    }
    out
}

fn check_receiver(name: &str, r: &Receiver, expected: &BTreeSet<String>) {
    let requests = r.requests();
    let bad: Vec<_> = requests.iter().filter(|q| !q.signature_ok).collect();
    assert!(
        bad.is_empty(),
        "{name}: requests with a bad signature: {bad:?}"
    );
    let arrivals = r.first_arrivals();
    let keys: BTreeSet<String> = arrivals.iter().map(|q| q.key.clone()).collect();
    assert_eq!(&keys, expected, "{name}: delivered keys after dedup");
    for q in &arrivals {
        if q.body.is_array() {
            // Alertmanager API v2: one alert per change, resolved ones with endsAt.
            let a = &q.body[0];
            assert_eq!(q.body.as_array().unwrap().len(), 1, "{name}: {}", q.body);
            assert_eq!(a["labels"]["kind"], "TAMPERED");
            assert_eq!(a["labels"]["alertname"], "StoreEdgeTampered");
            assert_eq!(a["labels"]["severity"], "critical");
            assert!(a["labels"]["agent"].is_string(), "{name}: {a}");
            let id = a["annotations"]["alert_id"].as_str().unwrap();
            assert!(q.key.starts_with(&format!("{id}:")), "{name}: {a}");
            assert_eq!(
                q.key.ends_with(":RESOLVED"),
                a["endsAt"].is_string(),
                "{name}: {a}"
            );
        } else {
            assert_eq!(
                q.body["idempotency_key"],
                q.key.as_str(),
                "{name}: body and header agree: {}",
                q.body
            );
            assert_eq!(q.body["type"], "alert");
            assert_eq!(q.body["alert"]["kind"], "TAMPERED");
        }
    }
    for (id, states) in states_by_alert(&arrivals) {
        let order = |s: &str| {
            ["OPEN", "ACKNOWLEDGED", "RESOLVED"]
                .iter()
                .position(|x| *x == s)
        };
        let positions: Vec<_> = states.iter().map(|s| order(s)).collect();
        let mut sorted = positions.clone();
        sorted.sort();
        assert_eq!(
            positions, sorted,
            "{name}: alert {id} changes out of order: {states:?}"
        );
    }
}

#[test]
fn every_alert_change_reaches_every_webhook_once_signed_in_order_across_kills_and_outages() {
    let env = TestEnv::new("webhook_delivery");
    let _serial = serial();
    let fail_secs = env_u64("STORE_TESTS_WEBHOOK_FAIL_SECS", 20);
    let mosquitto = Mosquitto::start_in(&env.subdir("mosquitto"));
    let fast = Receiver::start("fast-secret", false);
    let flaky = Receiver::start("flaky-secret", true);
    let am = Receiver::start("am-secret", false);
    let dir = env.subdir("collector");
    std::fs::write(dir.join("fast.key"), "fast-secret\n").unwrap();
    std::fs::write(dir.join("flaky.key"), "flaky-secret\n").unwrap();
    std::fs::write(dir.join("am.key"), "am-secret\n").unwrap();
    let mut config = CollectorConfig::new(&dir, mosquitto.port());
    config.api_token = Some(TOKEN.into());
    config.extra_toml = format!(
        "\n[intel]\nclock = \"event\"\nevaluate_interval_ms = 200\n\
         [rules.anomaly]\ntamper_quiet_hours = 1\n\
         [[deliver.webhook]]\nname = \"fast\"\nurl = \"http://{}/hook\"\nsecret_file = \"{}\"\n\
         retry_min_ms = 100\nretry_max_ms = 1000\n\
         [[deliver.webhook]]\nname = \"flaky\"\nurl = \"http://{}/hook\"\nsecret_file = \"{}\"\n\
         retry_min_ms = 100\nretry_max_ms = 2000\n\
         [[deliver.alertmanager]]\nname = \"am\"\nurl = \"http://{}\"\nsecret_file = \"{}\"\n\
         resend_ms = 300\nretry_min_ms = 100\nretry_max_ms = 1000\n",
        fast.addr,
        dir.join("fast.key").display(),
        flaky.addr,
        dir.join("flaky.key").display(),
        am.addr,
        dir.join("am.key").display(),
    );
    let t0 = now_ms();
    let mut collector = Collector::start(&dir, config);
    wait_online(&mosquitto, t0);

    // Raises: three, then five more with a SIGKILL while they are being applied.
    for a in 1..=3 {
        publish(
            &mosquitto,
            "raiser",
            &format!("a{a}"),
            &tamper_batch(&format!("a{a}"), t0),
        );
    }
    wait_for(WAIT, "the first raises at fast", || {
        let n = fast.keys().len();
        if n >= 3 {
            Ok(())
        } else {
            Err(format!("{n} keys"))
        }
    });
    for a in 4..=AGENTS {
        publish(
            &mosquitto,
            "raiser",
            &format!("a{a}"),
            &tamper_batch(&format!("a{a}"), t0),
        );
    }
    collector.kill();
    env.log("collector SIGKILLed while raises were applied");
    let restarted = now_ms();
    collector.start_again();
    wait_online(&mosquitto, restarted);
    wait_for(WAIT, "every raise at fast", || {
        let open = fast.keys().iter().filter(|k| k.ends_with(":OPEN")).count();
        if open == AGENTS {
            Ok(())
        } else {
            Err(format!("{open} open keys"))
        }
    });

    // Alertmanager gets the active alerts repeated, from the engine's current alerts.
    wait_for(
        WAIT,
        "a repeat of every active alert at the Alertmanager",
        || {
            let repeats: Vec<usize> = am
                .requests()
                .iter()
                .filter(|r| r.accepted && r.key.starts_with("resend:"))
                .map(|r| r.body.as_array().map_or(0, Vec::len))
                .collect();
            if repeats.contains(&AGENTS) {
                Ok(())
            } else {
                Err(format!("repeats of {repeats:?} alerts"))
            }
        },
    );

    // Acknowledgements through the API, then a SIGKILL: they were committed before the API
    // answered, so their deliveries must survive it.
    let active = api_alerts(&collector, "active");
    assert_eq!(active.len(), AGENTS, "{active:?}");
    for alert in active.iter().take(ACKED) {
        let id = alert["id"].as_str().unwrap();
        let r = http::request(
            collector.api_addr(),
            "POST",
            &format!("/v1/alerts/{id}/ack"),
            &[("Authorization", &format!("Bearer {TOKEN}"))],
            Some(r#"{"by":"test"}"#),
            HTTP_TIMEOUT,
        )
        .unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let restarted = now_ms();
    collector.restart();
    wait_online(&mosquitto, restarted);
    env.log("collector SIGKILLed after the acknowledgements and restarted");

    // Two hours of event time later, with no new tamper report: every alert resolves.
    publish(
        &mosquitto,
        "resolver",
        "a1",
        &scan_batch("a1", 2, t0 + 2 * 3_600_000),
    );
    let expected: BTreeSet<String> = wait_for(WAIT, "every alert resolved", || {
        let past = api_alerts(&collector, "past");
        if past.len() < AGENTS {
            return Err(format!("{} resolved", past.len()));
        }
        let mut keys = BTreeSet::new();
        for a in &past {
            let id = a["id"].as_str().unwrap();
            keys.insert(format!("{id}:TAMPERED:OPEN"));
            keys.insert(format!("{id}:TAMPERED:RESOLVED"));
            if a["acknowledged_by"] == "test" {
                keys.insert(format!("{id}:TAMPERED:ACKNOWLEDGED"));
            }
        }
        Ok(keys)
    });
    assert_eq!(expected.len(), 2 * AGENTS + ACKED);

    wait_for(WAIT, "fast has every key", || {
        let got = fast.keys();
        if got == expected {
            Ok(())
        } else {
            Err(format!("{} of {} keys", got.len(), expected.len()))
        }
    });
    let fast_done = fast.first_arrivals().last().unwrap().at;
    env.log(format!("fast has all {} keys", expected.len()));
    assert!(
        flaky.requests().iter().all(|r| !r.accepted),
        "flaky accepted nothing yet"
    );

    // flaky stays down for the configured time, counted from its first refusal.
    let first_refusal = wait_for(WAIT, "a refused attempt at flaky", || {
        flaky
            .requests()
            .first()
            .map(|r| r.at)
            .ok_or_else(|| "none".to_owned())
    });
    let up_at = first_refusal + Duration::from_secs(fail_secs);
    while Instant::now() < up_at {
        std::thread::sleep(Duration::from_millis(200));
    }
    let failed = metric(
        &metrics(&collector),
        "store_collector_delivery_failed_attempts_total{destination=\"flaky\"}",
    )
    .unwrap_or(0.0);
    assert!(failed > 0.0, "failed attempts are counted");
    *flaky.failing.lock().unwrap() = false;
    let flipped = Instant::now();
    env.log(format!(
        "flaky up after {:.1} s of 500s ({} refused attempts)",
        flipped.duration_since(first_refusal).as_secs_f64(),
        flaky.requests().len()
    ));

    wait_for(WAIT, "flaky has every key", || {
        let got = flaky.keys();
        if got == expected {
            Ok(())
        } else {
            Err(format!("{} of {} keys", got.len(), expected.len()))
        }
    });
    let flaky_first_ok = flaky.first_arrivals()[0].at;
    assert!(
        fast_done < flaky_first_ok,
        "fast finished before flaky's first success: it did not wait for flaky"
    );
    env.log(format!(
        "fast finished {:.1} s before flaky's first success; flaky caught up in {:.1} s",
        flaky_first_ok.duration_since(fast_done).as_secs_f64(),
        flaky
            .first_arrivals()
            .last()
            .unwrap()
            .at
            .duration_since(flipped)
            .as_secs_f64()
    ));
    check_receiver("fast", &fast, &expected);
    check_receiver("flaky", &flaky, &expected);
    wait_for(WAIT, "every change at the Alertmanager", || {
        let got = am.keys();
        if got == expected {
            Ok(())
        } else {
            Err(format!("{} of {} keys", got.len(), expected.len()))
        }
    });
    check_receiver("am", &am, &expected);
    for (name, r) in [("fast", &fast), ("flaky", &flaky), ("am", &am)] {
        let accepted = r
            .requests()
            .iter()
            .filter(|q| q.accepted && !q.key.starts_with("resend:"))
            .count();
        env.log(format!(
            "{name}: {} duplicate deliveries (deduplicated by key)",
            accepted - expected.len()
        ));
    }
    let m = wait_for(WAIT, "empty outboxes", || {
        let m = metrics(&collector);
        let depth = |d: &str| {
            metric(
                &m,
                &format!("store_collector_delivery_outbox_depth{{destination=\"{d}\"}}"),
            )
        };
        match (depth("fast"), depth("flaky")) {
            (Some(a), Some(b)) if a == 0.0 && b == 0.0 => Ok(m.clone()),
            other => Err(format!("{other:?}")),
        }
    });
    assert_eq!(
        metric(
            &m,
            "store_collector_delivery_dropped_total{destination=\"flaky\"}"
        ),
        Some(0.0)
    );
    collector.check_not_crashed().unwrap();
}
