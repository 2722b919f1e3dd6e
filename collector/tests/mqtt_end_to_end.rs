//! Black-box tests of the `store-collector` binary against a real broker: Mosquitto (skipped
//! when `/usr/sbin/mosquitto` is missing) and the embedded rumqttd.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use prost::Message;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value;
use store_proto::v1::{CollectorStatus, CommitMark, DataLoss, FootTraffic, Scan, SeqRange};
use store_proto::{Body, Event as StoreEvent, EventBatch};
use tokio::sync::mpsc;

const MOSQUITTO: &str = "/usr/sbin/mosquitto";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("nothing listens on port {port}");
}

/// Kills the child when the test ends, however it ends.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_mosquitto(dir: &Path) -> (Guard, u16) {
    let port = free_port();
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        // Unlimited queue: Mosquitto drops (silently) past 1000 queued messages by default.
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n"
        ),
    )
    .unwrap();
    let child = Command::new(MOSQUITTO)
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mosquitto");
    let guard = Guard(child);
    wait_for_port(port);
    (guard, port)
}

struct Collector {
    child: Guard,
    api: SocketAddr,
    log: PathBuf,
}

impl Drop for Collector {
    fn drop(&mut self) {
        // The collector's log is kept out of the test output unless the test fails.
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!(
                "--- store-collector log ({}) ---\n{log}",
                self.log.display()
            );
        }
    }
}

fn write_config(dir: &Path, mqtt: &str, api_port: u16) -> PathBuf {
    let path = dir.join("collector.toml");
    std::fs::write(
        &path,
        format!(
            "collector_id = \"hq-1\"\nstate_dir = \"{}\"\n{mqtt}\n[ack]\ninterval_ms = 50\n[api]\nlisten = \"127.0.0.1:{api_port}\"\n",
            dir.join("state-dir").display()
        ),
    )
    .unwrap();
    path
}

fn start_collector(config: &Path, api_port: u16) -> Collector {
    let log = config.with_extension("log");
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_store-collector"))
        .args(["run", "--config"])
        .arg(config)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .expect("start store-collector");
    let collector = Collector {
        child: Guard(child),
        api: SocketAddr::from(([127, 0, 0, 1], api_port)),
        log,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Some((200, body)) = http_get(collector.api, "/healthz") {
            assert_eq!(body, "ok");
            return collector;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("collector API did not come up");
}

/// Sends SIGTERM and waits for the exit status.
fn stop_collector(collector: Collector) -> std::process::ExitStatus {
    signal_collector(collector, "-TERM")
}

fn signal_collector(mut collector: Collector, signal: &str) -> std::process::ExitStatus {
    let pid = collector.child.0.id().to_string();
    assert!(Command::new("kill")
        .args([signal, &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Some(status) = collector.child.0.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("collector did not stop on SIGTERM");
}

/// Minimal HTTP/1.1 GET: (status, body).
fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

fn stats(api: SocketAddr) -> Value {
    let (status, body) = http_get(api, "/v1/stats").expect("stats");
    assert_eq!(status, 200);
    serde_json::from_str(&body).expect("stats JSON")
}

async fn wait_stats(api: SocketAddr, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = stats(api);
        if ok(&s) {
            return s;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}; stats: {s:#}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn scan(seq: u64) -> StoreEvent {
    StoreEvent {
        seq,
        body: Some(Body::Scan(Scan {
            data: "04012345678901".into(),
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn batch(events: Vec<StoreEvent>) -> Vec<u8> {
    EventBatch {
        store_id: "s1".into(),
        agent_id: "a1".into(),
        events,
        sent_wall_time_ms: 1_700_000_000_000,
        ..Default::default()
    }
    .encode_to_vec()
}

/// A plain test client: publishes batches and collects what arrives on its subscriptions.
struct Client {
    client: AsyncClient,
    incoming: mpsc::UnboundedReceiver<(String, Vec<u8>)>,
}

async fn client(port: u16, id: &str, subscriptions: &[&str]) -> Client {
    let mut opts = MqttOptions::new(id, "127.0.0.1", port);
    opts.set_max_packet_size(16 << 20, 16 << 20);
    let (client, mut eventloop) = AsyncClient::new(opts, 100);
    let (tx, rx) = mpsc::unbounded_channel();
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let _ = tx.send((p.topic.clone(), p.payload.to_vec()));
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    let _ = ready_tx.send(());
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    for s in subscriptions {
        client.subscribe(*s, QoS::AtLeastOnce).await.unwrap();
        tokio::time::timeout(Duration::from_secs(10), ready_rx.recv())
            .await
            .expect("suback");
    }
    Client {
        client,
        incoming: rx,
    }
}

impl Client {
    async fn publish_batch(&self, payload: Vec<u8>) {
        self.client
            .publish(
                "stores/s1/agents/a1/events",
                QoS::AtLeastOnce,
                false,
                payload,
            )
            .await
            .unwrap();
    }

    /// Waits for a message on `topic` that satisfies `ok`.
    async fn expect(&mut self, topic: &str, what: &str, ok: impl Fn(&[u8]) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            match tokio::time::timeout_at(deadline, self.incoming.recv()).await {
                Ok(Some((t, payload))) if t == topic && ok(&payload) => return,
                Ok(Some(_)) => {}
                _ => panic!("timed out waiting for {what} on {topic}"),
            }
        }
    }
}

fn mark_is(payload: &[u8], committed: u64) -> bool {
    let mark = CommitMark::decode(payload).unwrap();
    assert_eq!(mark.collector_id, "hq-1");
    mark.committed_seq == committed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_exactly_once_marks_and_restart() {
    if !Path::new(MOSQUITTO).exists() {
        eprintln!("SKIPPED: {MOSQUITTO} is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_mosquitto, port) = start_mosquitto(dir.path());
    let api_port = free_port();
    let config = write_config(
        dir.path(),
        &format!("[mqtt]\nport = {port}\nkeep_alive_secs = 5"),
        api_port,
    );
    let collector = start_collector(&config, api_port);
    let mut agent = client(
        port,
        "test-agent",
        &["stores/s1/agents/a1/ack", "hq/collector/hq-1/status"],
    )
    .await;
    agent
        .expect("hq/collector/hq-1/status", "online status", |p| {
            CollectorStatus::decode(p).unwrap().online
        })
        .await;

    // Live data before the backlog: a gap first, then filled; duplicates; garbage; a loss record.
    agent
        .publish_batch(batch((11..=20).map(scan).collect()))
        .await;
    let s = wait_stats(collector.api, "live batch", |s| s["applied_total"] == 10).await;
    assert_eq!(s["agents"][0]["committed_seq"], 0);
    assert_eq!(s["agents"][0]["gaps"], serde_json::json!([[1, 10]]));
    agent
        .publish_batch(batch((1..=5).map(scan).collect()))
        .await;
    agent
        .publish_batch(batch((1..=5).map(scan).collect()))
        .await;
    agent.publish_batch(vec![0xde, 0xad, 0xbe, 0xef]).await;
    agent
        .publish_batch(batch(vec![
            StoreEvent {
                seq: 21,
                body: Some(Body::FootTraffic(FootTraffic {
                    entries: 4,
                    exits: 3,
                    ..Default::default()
                })),
                ..Default::default()
            },
            StoreEvent {
                seq: 22,
                body: Some(Body::DataLoss(DataLoss {
                    ranges: vec![SeqRange { first: 6, last: 10 }],
                    exact: true,
                    ..Default::default()
                })),
                ..Default::default()
            },
        ]))
        .await;
    let s = wait_stats(collector.api, "all batches", |s| {
        s["applied_total"] == 17 && s["rejected_batches"] == 1
    })
    .await;
    assert_eq!(s["collector_id"], "hq-1");
    assert_eq!(s["duplicates_total"], 5);
    assert_eq!(s["batches_total"], 4);
    let store = &s["stores"]["s1"];
    assert_eq!(store["kinds"]["scan"], 15);
    assert_eq!(store["kinds"]["foot_traffic"], 1);
    assert_eq!(store["kinds"]["data_loss"], 1);
    assert_eq!(store["foot_traffic_entries"], 4);
    assert_eq!(store["foot_traffic_exits"], 3);
    let a = &s["agents"][0];
    assert_eq!(a["committed_seq"], 22);
    assert_eq!(a["highest_seq"], 22);
    assert_eq!(a["applied_count"], 17);
    assert_eq!(a["applied_ranges"], serde_json::json!([[1, 5], [11, 22]]));
    assert_eq!(a["lost_ranges"], serde_json::json!([[6, 10]]));
    assert_eq!(a["gaps"], serde_json::json!([]));
    assert_eq!(a["last_batch_wall_ms"], 1_700_000_000_000i64);
    agent
        .expect("stores/s1/agents/a1/ack", "mark 22", |p| mark_is(p, 22))
        .await;

    // SIGTERM: exit 0 and say goodbye.
    let status = stop_collector(collector);
    assert!(status.success(), "{status}");
    agent
        .expect("hq/collector/hq-1/status", "offline status", |p| {
            !CollectorStatus::decode(p).unwrap().online
        })
        .await;

    // Batches published while the collector is away wait in its persistent session.
    agent
        .publish_batch(batch((23..=30).map(scan).collect()))
        .await;
    agent
        .publish_batch(batch((1..=5).map(scan).collect()))
        .await;
    let collector = start_collector(&config, api_port);
    let s = wait_stats(collector.api, "queued batches after restart", |s| {
        s["applied_total"] == 25 && s["duplicates_total"] == 5
    })
    .await;
    assert_eq!(s["stores"]["s1"]["kinds"]["scan"], 23);
    assert_eq!(s["agents"][0]["committed_seq"], 30);
    agent
        .expect("stores/s1/agents/a1/ack", "mark 30", |p| mark_is(p, 30))
        .await;
    // A new subscriber gets the retained mark.
    let mut late = client(port, "late-agent", &["stores/s1/agents/a1/ack"]).await;
    late.expect("stores/s1/agents/a1/ack", "retained mark 30", |p| {
        mark_is(p, 30)
    })
    .await;
    assert!(stop_collector(collector).success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_never_loses_or_double_applies() {
    if !Path::new(MOSQUITTO).exists() {
        eprintln!("SKIPPED: {MOSQUITTO} is not installed");
        return;
    }
    const BATCHES: u64 = 1000;
    const PER_BATCH: u64 = 50;
    let dir = tempfile::tempdir().unwrap();
    let (_mosquitto, port) = start_mosquitto(dir.path());
    let api_port = free_port();
    let config = write_config(dir.path(), &format!("[mqtt]\nport = {port}"), api_port);
    // First run only creates the persistent session, so nothing published is lost.
    let collector = start_collector(&config, api_port);
    let mut agent = client(port, "test-agent", &["stores/s1/agents/a1/ack"]).await;
    assert!(stop_collector(collector).success());

    for b in 0..BATCHES {
        let first = b * PER_BATCH + 1;
        let events = (first..first + PER_BATCH)
            .map(|seq| {
                if seq % 10 == 0 {
                    StoreEvent {
                        seq,
                        body: Some(Body::FootTraffic(FootTraffic {
                            entries: 2,
                            exits: 1,
                            ..Default::default()
                        })),
                        ..Default::default()
                    }
                } else {
                    scan(seq)
                }
            })
            .collect();
        agent.publish_batch(batch(events)).await;
    }
    // Kill the collector at arbitrary moments while it works through the queue.
    for delay_ms in [0, 20, 5, 60, 10, 120] {
        let collector = start_collector(&config, api_port);
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        let applied = http_get(collector.api, "/v1/stats")
            .and_then(|(_, body)| serde_json::from_str::<Value>(&body).ok())
            .map(|s| s["applied_total"].clone());
        eprintln!("SIGKILL after {delay_ms} ms; applied_total then: {applied:?}");
        let status = signal_collector(collector, "-KILL");
        assert!(!status.success());
    }
    let collector = start_collector(&config, api_port);
    let total = BATCHES * PER_BATCH;
    let s = wait_stats(collector.api, "every event", |s| {
        s["applied_total"] == total
    })
    .await;
    // Let anything still queued arrive: it must all be duplicates.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let s2 = stats(collector.api);
    assert_eq!(s2["applied_total"], s["applied_total"]);
    let store = &s2["stores"]["s1"];
    assert_eq!(store["kinds"]["scan"], total - total / 10);
    assert_eq!(store["kinds"]["foot_traffic"], total / 10);
    assert_eq!(store["foot_traffic_entries"], 2 * (total / 10));
    assert_eq!(store["foot_traffic_exits"], total / 10);
    assert_eq!(
        s2["agents"][0]["applied_ranges"],
        serde_json::json!([[1, total]])
    );
    agent
        .expect("stores/s1/agents/a1/ack", "final mark", |p| {
            mark_is(p, total)
        })
        .await;
    assert!(stop_collector(collector).success());
}

/// A 17 MiB publish on an events topic, and one retained on a status topic, reach the collector
/// (its packet limit is above them), are acknowledged and dropped: the session goes on, with no
/// reconnect loop, and the next good batch is applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_oversized_publishes_are_acked_not_looped() {
    if !Path::new(MOSQUITTO).exists() {
        eprintln!("SKIPPED: {MOSQUITTO} is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_mosquitto, port) = start_mosquitto(dir.path());
    let api_port = free_port();
    let config = write_config(dir.path(), &format!("[mqtt]\nport = {port}"), api_port);
    let collector = start_collector(&config, api_port);
    let mut agent = client(port, "test-agent", &["stores/s1/agents/a1/ack"]).await;
    // Subscribed once the collector announced itself online (it subscribes first).
    let mut watcher = client(port, "watcher", &["hq/collector/+/status"]).await;
    watcher
        .expect("hq/collector/hq-1/status", "collector online", |p| {
            CollectorStatus::decode(p).unwrap().online
        })
        .await;

    let mut opts = MqttOptions::new("big-publisher", "127.0.0.1", port);
    opts.set_max_packet_size(32 << 20, 32 << 20);
    let (big, mut eventloop) = AsyncClient::new(opts, 10);
    let (acked_tx, mut acked_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => {
                    let _ = acked_tx.send(());
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    let huge = vec![0xffu8; 17 << 20];
    big.publish(
        "stores/s1/agents/a1/events",
        QoS::AtLeastOnce,
        false,
        huge.clone(),
    )
    .await
    .unwrap();
    big.publish("stores/s1/agents/a2/status", QoS::AtLeastOnce, true, huge)
        .await
        .unwrap();
    for _ in 0..2 {
        tokio::time::timeout(Duration::from_secs(20), acked_rx.recv())
            .await
            .expect("broker PUBACK of the big publishes");
    }
    agent
        .publish_batch(batch((1..=10).map(scan).collect()))
        .await;
    let s = wait_stats(collector.api, "the good batch", |s| {
        s["applied_total"] == 10 && s["rejected_batches"] == 1
    })
    .await;
    assert_eq!(s["agents"][0]["committed_seq"], 10);
    agent
        .expect("stores/s1/agents/a1/ack", "mark 10", |p| mark_is(p, 10))
        .await;
    let log = std::fs::read_to_string(&collector.log).unwrap();
    assert_eq!(log.matches("Connected to broker.").count(), 1, "{log}");
    assert!(!log.contains("max_packet_bytes"), "{log}");
    assert!(stop_collector(collector).success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_broker_happy_path() {
    let dir = tempfile::tempdir().unwrap();
    let (broker_port, api_port) = (free_port(), free_port());
    let config = write_config(
        dir.path(),
        &format!("[embedded_broker]\nlisten = \"127.0.0.1:{broker_port}\""),
        api_port,
    );
    let collector = start_collector(&config, api_port);
    let mut agent = client(broker_port, "test-agent", &["stores/s1/agents/a1/ack"]).await;
    agent
        .publish_batch(batch((1..=50).map(scan).collect()))
        .await;
    agent
        .publish_batch(batch((51..=100).map(scan).collect()))
        .await;
    let s = wait_stats(collector.api, "batches", |s| s["applied_total"] == 100).await;
    assert_eq!(s["agents"][0]["committed_seq"], 100);
    agent
        .expect("stores/s1/agents/a1/ack", "mark 100", |p| mark_is(p, 100))
        .await;
    assert!(stop_collector(collector).success());
}

#[test]
fn check_config_reports_ok_or_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/collector.example.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_store-collector"))
        .arg("check-config")
        .arg(&example)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "collector_id = \"hq-1\"\nstate_dir = \"/x\"\n[mqtt]\nport = \"x\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_store-collector"))
        .arg("check-config")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        format!(
            "{}:4: mqtt.port: invalid type: string \"x\", expected u16",
            bad.display()
        )
    );
}

#[test]
fn check_config_reads_the_delivery_secret_files() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("erp.key");
    let config = dir.path().join("collector.toml");
    std::fs::write(
        &config,
        format!(
            "collector_id = \"hq-1\"\nstate_dir = \"/x\"\n[[deliver.webhook]]\nname = \"erp\"\n\
             url = \"http://127.0.0.1:9000/\"\nsecret_file = \"{}\"\n",
            key.display()
        ),
    )
    .unwrap();
    let check = || {
        Command::new(env!("CARGO_BIN_EXE_store-collector"))
            .arg("check-config")
            .arg(&config)
            .output()
            .unwrap()
    };
    let out = check();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("deliver.webhook.secret_file") && stderr.contains("erp.key"),
        "{stderr}"
    );
    std::fs::write(&key, "\n").unwrap();
    let stderr = String::from_utf8_lossy(&check().stderr).into_owned();
    assert!(stderr.contains("the file is empty"), "{stderr}");
    std::fs::write(&key, "s3cret\n").unwrap();
    let out = check();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
