//! Commands from HQ through a real Mosquitto and the `store-collector` binary: the test plays
//! the agents (MQTT clients subscribed to their `.../cmd` topics that answer with
//! `CommandResult`s) and HQ (HTTP requests with the operator and viewer tokens). Skipped when
//! `/usr/sbin/mosquitto` is missing.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use prost::Message;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{json, Value};
use store_proto::v1::{command, AgentStatus, Command, CommandResult, Replay};
use tokio::sync::mpsc;

const MOSQUITTO: &str = "/usr/sbin/mosquitto";
const OPERATOR: &str = "operator-secret";
const VIEWER: &str = "viewer-secret";

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
        format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
    )
    .unwrap();
    let child = Process::new(MOSQUITTO)
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
    _child: Guard,
    api: SocketAddr,
    log: PathBuf,
}

impl Drop for Collector {
    fn drop(&mut self) {
        // The collector's log is kept out of the test output unless the test fails.
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!("--- store-collector log ---\n{log}");
        }
    }
}

fn start_collector(dir: &Path, mqtt_port: u16) -> Collector {
    let api_port = free_port();
    let config = dir.join("collector.toml");
    std::fs::write(
        &config,
        format!(
            "collector_id = \"hq-1\"\nstate_dir = \"{}\"\n[mqtt]\nport = {mqtt_port}\nkeep_alive_secs = 5\n\
             [api]\nlisten = \"127.0.0.1:{api_port}\"\ntoken = \"{OPERATOR}\"\n\
             viewer_token = \"{VIEWER}\"\ntoken_name = \"ops-alice\"\n",
            dir.join("state-dir").display()
        ),
    )
    .unwrap();
    let log = dir.join("collector.log");
    // Appended: a restarted collector's log follows the first one's.
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .unwrap();
    let child = Process::new(env!("CARGO_BIN_EXE_store-collector"))
        .args(["run", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .expect("start store-collector");
    let collector = Collector {
        _child: Guard(child),
        api: SocketAddr::from(([127, 0, 0, 1], api_port)),
        log,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if http(collector.api, "GET", "/healthz", None, None).is_some_and(|(s, _)| s == 200) {
            return collector;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("collector API did not come up");
}

/// Minimal HTTP/1.1 request: (status, body).
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

fn post_command(api: SocketAddr, agent: &str, token: &str, body: Value) -> (u16, Value) {
    let path = format!("/v1/stores/s1/agents/{agent}/commands");
    let (status, text) =
        http(api, "POST", &path, Some(token), Some(&body.to_string())).expect("POST");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn command_record(api: SocketAddr, id: &str) -> Value {
    let (status, body) = http(
        api,
        "GET",
        &format!("/v1/commands/{id}"),
        Some(VIEWER),
        None,
    )
    .expect("GET command");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

async fn wait_record(api: SocketAddr, id: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let record = command_record(api, id);
        if ok(&record) {
            return record;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {record:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn metric(api: SocketAddr, line_prefix: &str) -> u64 {
    let (status, body) = http(api, "GET", "/metrics", None, None).expect("metrics");
    assert_eq!(status, 200);
    body.lines()
        .find_map(|l| l.strip_prefix(line_prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no metric {line_prefix}"))
}

async fn wait_metric(api: SocketAddr, line_prefix: &str, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while metric(api, line_prefix) != want {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {line_prefix} {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A test agent: an MQTT client subscribed to its `.../cmd` topic.
struct Agent {
    id: &'static str,
    client: AsyncClient,
    commands: mpsc::UnboundedReceiver<Command>,
}

async fn agent(port: u16, id: &'static str) -> Agent {
    let opts = MqttOptions::new(format!("test-agent-{id}"), "127.0.0.1", port);
    let (client, mut eventloop) = AsyncClient::new(opts, 100);
    let (tx, rx) = mpsc::unbounded_channel();
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let _ = tx.send(Command::decode(p.payload.as_ref()).expect("a Command"));
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    let _ = ready_tx.send(());
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    client
        .subscribe(format!("stores/s1/agents/{id}/cmd"), QoS::AtLeastOnce)
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), ready_rx.recv())
        .await
        .expect("suback");
    Agent {
        id,
        client,
        commands: rx,
    }
}

impl Agent {
    /// Publishes the agent's retained online status (its birth).
    async fn online(&self) {
        let status = AgentStatus {
            store_id: "s1".into(),
            agent_id: self.id.into(),
            online: true,
            ..Default::default()
        };
        self.client
            .publish(
                format!("stores/s1/agents/{}/status", self.id),
                QoS::AtLeastOnce,
                true,
                status.encode_to_vec(),
            )
            .await
            .unwrap();
    }

    async fn next_command(&mut self) -> Command {
        tokio::time::timeout(Duration::from_secs(20), self.commands.recv())
            .await
            .unwrap_or_else(|_| panic!("no command reached {}", self.id))
            .expect("client task alive")
    }

    async fn publish_result(&self, payload: Vec<u8>) {
        self.client
            .publish(
                format!("stores/s1/agents/{}/cmd/result", self.id),
                QoS::AtLeastOnce,
                false,
                payload,
            )
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_reach_online_agents_wait_for_offline_ones_and_expire() {
    if !Path::new(MOSQUITTO).exists() {
        eprintln!("SKIPPED: {MOSQUITTO} is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_mosquitto, port) = start_mosquitto(dir.path());
    let collector = start_collector(dir.path(), port);
    let api = collector.api;

    // An online agent gets the command with the right fields, answers, and the answer is
    // recorded.
    let mut a1 = agent(port, "a1").await;
    a1.online().await;
    let (status, viewer) = post_command(api, "a1", VIEWER, json!({"kind": "status_report"}));
    assert_eq!(status, 403, "{viewer}");
    let (status, record) = post_command(
        api,
        "a1",
        OPERATOR,
        json!({"kind": "replay", "from_seq": 5, "to_seq": 9}),
    );
    assert_eq!(status, 202, "{record}");
    assert_eq!(record["issued_by"], "ops-alice");
    let id = record["id"].as_str().unwrap().to_owned();
    // The collector may hear the birth after the POST: wait for the delivery either way.
    let command = a1.next_command().await;
    assert_eq!(command.id, id);
    assert_eq!(
        (command.store_id.as_str(), command.agent_id.as_str()),
        ("s1", "a1")
    );
    assert_eq!(command.issued_by, "ops-alice");
    assert_eq!(command.expires_at_ms - command.issued_at_ms, 3_600_000);
    assert_eq!(
        command.kind,
        Some(command::Kind::Replay(Replay {
            from_seq: 5,
            to_seq: 9,
            ..Default::default()
        }))
    );
    let sent = command_record(api, &id);
    assert_eq!(sent["state"], "sent", "{sent:#}");
    a1.publish_result(
        CommandResult {
            id: id.clone(),
            ok: true,
            message: "5 events queued".into(),
            store_id: "s1".into(),
            agent_id: "a1".into(),
            events_queued: 5,
            ..Default::default()
        }
        .encode_to_vec(),
    )
    .await;
    let answered = wait_record(api, &id, "the answer", |r| r["state"] == "answered").await;
    assert_eq!(answered["result"]["ok"], true);
    assert_eq!(answered["result"]["message"], "5 events queued");
    assert_eq!(answered["result"]["events_queued"], 5);
    assert_eq!(answered["attempts"], 1);

    // A malformed result and one for an unknown id are ignored and counted; the recorded answer
    // stays.
    a1.publish_result(vec![0xff, 0xff, 0xff, 0xff]).await;
    wait_metric(
        api,
        "store_collector_command_results_rejected_total{reason=\"undecodable\"}",
        1,
    )
    .await;
    a1.publish_result(
        CommandResult {
            id: "0000000000001-hq-1-0000000000000000".into(),
            ok: false,
            ..Default::default()
        }
        .encode_to_vec(),
    )
    .await;
    wait_metric(
        api,
        "store_collector_command_results_rejected_total{reason=\"unknown_id\"}",
        1,
    )
    .await;
    assert_eq!(command_record(api, &id)["result"]["ok"], true);

    // An offline agent (no retained online status): the command waits in the book...
    let mut a2 = agent(port, "a2").await;
    let (status, waiting) = post_command(api, "a2", OPERATOR, json!({"kind": "reload"}));
    assert_eq!(status, 202, "{waiting}");
    let waiting_id = waiting["id"].as_str().unwrap().to_owned();
    // ...while a later one to the online agent goes through, so the command task has run
    // past it.
    let (_, later) = post_command(api, "a1", OPERATOR, json!({"kind": "status_report"}));
    assert_eq!(a1.next_command().await.id, later["id"].as_str().unwrap());
    assert!(
        a2.commands.try_recv().is_err(),
        "offline agent got a command"
    );
    let pending = command_record(api, &waiting_id);
    assert_eq!(
        (pending["state"].as_str(), pending["attempts"].as_u64()),
        (Some("pending"), Some(0))
    );
    // ...and goes out at its birth.
    a2.online().await;
    let delivered = a2.next_command().await;
    assert_eq!(delivered.id, waiting_id);
    assert!(matches!(delivered.kind, Some(command::Kind::Reload(_))));
    wait_record(api, &waiting_id, "sent", |r| r["state"] == "sent").await;

    // An offline agent whose command expires first never gets it.
    let mut a3 = agent(port, "a3").await;
    let (status, short) = post_command(
        api,
        "a3",
        OPERATOR,
        json!({"kind": "set_scan_mode", "device_id": "scanner-1", "mode": "stock_count", "expires_in_secs": 1}),
    );
    assert_eq!(status, 202, "{short}");
    let short_id = short["id"].as_str().unwrap().to_owned();
    let expired = wait_record(api, &short_id, "expiry", |r| r["state"] == "expired").await;
    assert_eq!(expired["attempts"], 0);
    let (_, fresh) = post_command(api, "a3", OPERATOR, json!({"kind": "status_report"}));
    a3.online().await;
    // The first (and only) command a3 gets is the fresh one.
    assert_eq!(a3.next_command().await.id, fresh["id"].as_str().unwrap());
    assert!(a3.commands.try_recv().is_err());
    assert_eq!(command_record(api, &short_id)["state"], "expired");
    assert!(metric(api, "store_collector_commands_expired_total ") >= 1);

    // The list: newest first, filtered by agent and state.
    let (status, body) = http(
        api,
        "GET",
        "/v1/commands?agent=a1&state=answered",
        Some(VIEWER),
        None,
    )
    .unwrap();
    assert_eq!(status, 200);
    let list: Value = serde_json::from_str(&body).unwrap();
    let ids: Vec<&str> = list["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![id.as_str()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_command_survives_sigkill_and_reaches_an_agent_online_at_start_up() {
    if !Path::new(MOSQUITTO).exists() {
        eprintln!("SKIPPED: {MOSQUITTO} is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_mosquitto, port) = start_mosquitto(dir.path());
    let mut collector = start_collector(dir.path(), port);
    let mut a1 = agent(port, "a1").await;
    let (status, record) = post_command(
        collector.api,
        "a1",
        OPERATOR,
        json!({"kind": "set_log_filter", "filter": "store_agent=debug", "duration_secs": 60}),
    );
    assert_eq!(status, 202, "{record}");
    let id = record["id"].as_str().unwrap().to_owned();
    assert_eq!(command_record(collector.api, &id)["state"], "pending");

    // The collector dies; the agent comes online while it is away.
    collector._child.0.kill().unwrap();
    collector._child.0.wait().unwrap();
    a1.online().await;
    collector = start_collector(dir.path(), port);

    // At start-up it reads the retained online status and sends what the book still holds.
    let command = a1.next_command().await;
    assert_eq!(command.id, id);
    assert_eq!(
        command.kind,
        Some(command::Kind::SetLogFilter(store_proto::v1::SetLogFilter {
            filter: "store_agent=debug".into(),
            duration_s: 60,
        }))
    );
    let sent = wait_record(collector.api, &id, "sent", |r| r["state"] == "sent").await;
    assert_eq!(sent["attempts"], 1);
    assert_eq!(sent["issued_by"], "ops-alice");
}
