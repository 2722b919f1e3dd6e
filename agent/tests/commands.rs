//! HQ commands against the real `store-agent` binary and a real Mosquitto (skipped when
//! `/usr/sbin/mosquitto` is missing): a test client plays HQ, publishing `Command`s on the
//! agent's `.../cmd` topic and reading `CommandResult`s from `.../cmd/result`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use prost::Message;
use rumqttc::{AsyncClient, Event as MqttEvent, MqttOptions, Packet, QoS};
use store_proto::topics;
use store_proto::v1::{self, command::Kind, Command, CommandResult, Scan};
use store_proto::{Body, EventBatch};
use tokio::sync::mpsc;

const MOSQUITTO: &str = "/usr/sbin/mosquitto";
const WAIT: Duration = Duration::from_secs(20);

struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_listening(port: u16, what: &str) {
    let deadline = Instant::now() + WAIT;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} does not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
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
    wait_listening(port, "mosquitto");
    (guard, port)
}

fn config_text(dir: &Path, broker: u16, metrics: u16, drivers: &str) -> String {
    format!(
        "store_id = \"s1\"\nagent_id = \"a1\"\nstate_dir = \"{}\"\n\n[mqtt]\nhost = \"127.0.0.1\"\nport = {broker}\n\n[metrics]\nlisten = \"127.0.0.1:{metrics}\"\n{drivers}",
        dir.join("state").display()
    )
}

fn start_agent(config: &Path, log: &Path) -> Guard {
    let child = Process::new(env!("CARGO_BIN_EXE_store-agent"))
        .arg("run")
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("start store-agent");
    Guard(child)
}

/// HQ: a client subscribed to the agent's results (and events); each decoded result and scan
/// arrives on its channel.
async fn hq(port: u16) -> (AsyncClient, mpsc::UnboundedReceiver<CommandResult>) {
    let (client, results, _) = hq_with_scans(port).await;
    (client, results)
}

async fn hq_with_scans(
    port: u16,
) -> (
    AsyncClient,
    mpsc::UnboundedReceiver<CommandResult>,
    mpsc::UnboundedReceiver<Scan>,
) {
    let mut opts = MqttOptions::new("hq-commands", "127.0.0.1", port);
    // Room for the oversized command the test sends on purpose.
    opts.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = AsyncClient::new(opts, 64);
    client
        .subscribe(topics::cmd_result("s1", "a1"), QoS::AtLeastOnce)
        .await
        .unwrap();
    client
        .subscribe(topics::events("s1", "a1"), QoS::AtLeastOnce)
        .await
        .unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let (scan_tx, scan_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(MqttEvent::Incoming(Packet::Publish(p))) if p.topic.ends_with("/events") => {
                    let batch = EventBatch::decode(p.payload.as_ref()).expect("a batch");
                    for event in batch.events {
                        if let Some(Body::Scan(scan)) = event.body {
                            let _ = scan_tx.send(scan);
                        }
                    }
                }
                Ok(MqttEvent::Incoming(Packet::Publish(p))) => {
                    let result = CommandResult::decode(p.payload.as_ref()).expect("a result");
                    let _ = tx.send(result);
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    });
    (client, rx, scan_rx)
}

fn command(id: &str, kind: Kind) -> Command {
    let now = store_runtime::clock::now_ms();
    Command {
        id: id.to_owned(),
        store_id: "s1".into(),
        agent_id: "a1".into(),
        issued_at_ms: now,
        expires_at_ms: now + 60_000,
        issued_by: "test-hq".into(),
        kind: Some(kind),
    }
}

fn status() -> Kind {
    Kind::StatusReport(Default::default())
}

async fn publish(client: &AsyncClient, payload: Vec<u8>) {
    client
        .publish(topics::cmd("s1", "a1"), QoS::AtLeastOnce, false, payload)
        .await
        .unwrap();
}

/// The next result, whatever it is.
async fn next(results: &mut mpsc::UnboundedReceiver<CommandResult>) -> CommandResult {
    tokio::time::timeout(WAIT, results.recv())
        .await
        .expect("a result in time")
        .expect("HQ client alive")
}

/// Sends `c` and returns its result, the next one published (commands run one at a time).
async fn ask(
    client: &AsyncClient,
    results: &mut mpsc::UnboundedReceiver<CommandResult>,
    c: &Command,
) -> CommandResult {
    publish(client, c.encode_to_vec()).await;
    let r = next(results).await;
    assert_eq!(r.id, c.id, "results come in command order: {r:?}");
    assert_eq!((r.store_id.as_str(), r.agent_id.as_str()), ("s1", "a1"));
    r
}

/// Waits until the agent has subscribed: commands sent before are lost (not retained), so
/// probes are sent until one is answered; then any late answers are drained.
async fn wait_subscribed(
    client: &AsyncClient,
    results: &mut mpsc::UnboundedReceiver<CommandResult>,
    round: &str,
) {
    let deadline = Instant::now() + WAIT;
    for n in 0.. {
        assert!(
            Instant::now() < deadline,
            "the agent never answered a probe"
        );
        publish(
            client,
            command(&format!("probe-{round}-{n}"), status()).encode_to_vec(),
        )
        .await;
        if let Ok(Some(r)) = tokio::time::timeout(Duration::from_millis(300), results.recv()).await
        {
            assert!(r.id.starts_with("probe-"), "{r:?}");
            break;
        }
    }
    while let Ok(Some(r)) = tokio::time::timeout(Duration::from_millis(500), results.recv()).await {
        assert!(r.id.starts_with("probe-"), "{r:?}");
    }
}

async fn next_scan(scans: &mut mpsc::UnboundedReceiver<Scan>) -> Scan {
    tokio::time::timeout(WAIT, scans.recv())
        .await
        .expect("a scan in time")
        .expect("HQ client alive")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

fn metrics(port: u16) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text
}

fn metric(text: &str, outcome: &str) -> u64 {
    let prefix = format!("store_agent_commands_total{{outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("{prefix} missing from:\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hq_commands_are_checked_run_once_and_answered() {
    if !Path::new(MOSQUITTO).exists() {
        eprintln!("skipped: {MOSQUITTO} missing");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_broker, broker) = start_mosquitto(dir.path());
    let metrics_port = free_port();
    let config: PathBuf = dir.path().join("agent.toml");
    std::fs::write(&config, config_text(dir.path(), broker, metrics_port, "")).unwrap();
    let log = dir.path().join("agent.log");
    let mut agent = start_agent(&config, &log);
    let (client, mut results) = hq(broker).await;
    wait_subscribed(&client, &mut results, "1").await;

    // StatusReport: ok, with the status as JSON.
    let report = ask(&client, &mut results, &command("status-1", status())).await;
    assert!(report.ok && !report.duplicate, "{report:?}");
    let detail: serde_json::Value = serde_json::from_str(&report.detail_json).unwrap();
    assert_eq!(detail["store_id"], "s1");
    assert!(detail["journal"]["head_seq"].is_u64(), "{detail}");
    assert!(detail["uplink"]["connected"].as_bool().unwrap(), "{detail}");
    assert!(!detail["boot_id"].as_str().unwrap().is_empty());

    // The same id again: the stored result, marked duplicate.
    let again = ask(&client, &mut results, &command("status-1", status())).await;
    assert!(again.duplicate && again.ok);
    assert_eq!(again.detail_json, report.detail_json, "nothing ran again");

    // Expired, and addressed to another store: refused.
    let mut expired = command("old-1", status());
    expired.expires_at_ms = store_runtime::clock::now_ms() - 1;
    let r = ask(&client, &mut results, &expired).await;
    assert!(!r.ok && r.message.contains("expired"), "{r:?}");
    let mut elsewhere = command("other-store-1", status());
    elsewhere.store_id = "s2".into();
    let r = ask(&client, &mut results, &elsewhere).await;
    assert!(
        !r.ok && r.message.contains("addressed to store \"s2\""),
        "{r:?}"
    );
    assert!(
        r.detail_json.is_empty(),
        "a refused status report reveals nothing"
    );

    // Garbage and an oversized payload: no answer, no crash; the next command works.
    publish(&client, b"\xff\xfe\xfd not a command".to_vec()).await;
    publish(&client, vec![0x0a; 100 * 1024]).await;
    let r = ask(&client, &mut results, &command("after-garbage", status())).await;
    assert!(r.ok, "{r:?}");
    assert!(
        agent.0.try_wait().unwrap().is_none(),
        "the agent is still running"
    );

    // SetLogFilter: with "warn" for 3 s the next command's INFO line is not written; once the
    // timer restores the filter it is again.
    let filter = Kind::SetLogFilter(store_proto::v1::SetLogFilter {
        filter: "warn".into(),
        duration_s: 3,
    });
    let r = ask(&client, &mut results, &command("log-1", filter)).await;
    assert!(
        r.ok && r.message.contains("\"warn\" in force for 3 s"),
        "{r:?}"
    );
    let r = ask(&client, &mut results, &command("quiet-1", status())).await;
    assert!(r.ok);
    assert!(!read(&log).contains("id=\"quiet-1\""), "INFO filtered out");
    let deadline = Instant::now() + WAIT;
    while !read(&log).contains("previous filter restored") {
        assert!(
            Instant::now() < deadline,
            "the log filter was never restored"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = ask(&client, &mut results, &command("loud-1", status())).await;
    assert!(r.ok);
    assert!(read(&log).contains("id=\"loud-1\""), "INFO logged again");

    // Reload: a new driver starts (its port opens); a broken file changes nothing and says where.
    let feed = free_port();
    let driver = format!(
        "\n[[drivers]]\ntype = \"line_feed\"\nid = \"pos-feed\"\nlisten = \"127.0.0.1:{feed}\"\n"
    );
    std::fs::write(
        &config,
        config_text(dir.path(), broker, metrics_port, &driver),
    )
    .unwrap();
    let r = ask(
        &client,
        &mut results,
        &command("reload-1", Kind::Reload(Default::default())),
    )
    .await;
    assert!(r.ok && r.message.contains("pos-feed"), "{r:?}");
    wait_listening(feed, "the reloaded line_feed driver");
    let broken = config_text(dir.path(), broker, metrics_port, &driver)
        .replace(&format!("port = {broker}"), "port = \"many\"");
    std::fs::write(&config, broken).unwrap();
    let r = ask(
        &client,
        &mut results,
        &command("reload-2", Kind::Reload(Default::default())),
    )
    .await;
    assert!(!r.ok, "{r:?}");
    assert!(
        r.message.contains("agent.toml:7: mqtt.port"),
        "file, line and key: {r:?}"
    );
    assert!(
        TcpStream::connect(("127.0.0.1", feed)).is_ok(),
        "the running driver stays"
    );

    let text = metrics(metrics_port);
    assert_eq!(metric(&text, "duplicate"), 1);
    assert_eq!(metric(&text, "refused"), 2);
    assert_eq!(metric(&text, "invalid"), 2);
    assert_eq!(metric(&text, "error"), 1);

    // SIGKILL and restart: the id is remembered.
    agent.0.kill().unwrap();
    agent.0.wait().unwrap();
    std::fs::write(&config, config_text(dir.path(), broker, metrics_port, "")).unwrap();
    let _agent = start_agent(&config, &dir.path().join("agent-2.log"));
    wait_subscribed(&client, &mut results, "2").await;
    let r = ask(&client, &mut results, &command("status-1", status())).await;
    assert!(r.duplicate && r.ok, "{r:?}");
    assert_eq!(r.detail_json, report.detail_json);
    assert!(
        read(&log).contains("id=\"status-1\"") && read(&log).contains("issued_by=\"test-hq\""),
        "commands are logged with id and issuer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_scan_mode_switches_a_running_scanner_from_its_next_scan() {
    if !Path::new(MOSQUITTO).exists() {
        eprintln!("skipped: {MOSQUITTO} missing");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_broker, broker) = start_mosquitto(dir.path());
    let mut pty = store_drivers::test_pty::open_pty();
    let scanner = format!(
        "\n[[drivers]]\ntype = \"serial_scanner\"\nid = \"till-scanner\"\npath = \"{}\"\nframing = \"lf\"\n",
        pty.path
    );
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        config_text(dir.path(), broker, free_port(), &scanner),
    )
    .unwrap();
    let _agent = start_agent(&config, &dir.path().join("agent.log"));
    let (client, mut results, mut scans) = hq_with_scans(broker).await;
    wait_subscribed(&client, &mut results, "1").await;

    let scan = |pty: &mut store_drivers::test_pty::Pty, data: &str| {
        pty.master
            .write_all(format!("{data}\n").as_bytes())
            .unwrap();
    };
    scan(&mut pty, "4006381333931");
    let before = next_scan(&mut scans).await;
    assert_eq!(
        before.mode,
        v1::ScanMode::Sale as i32,
        "the configured default"
    );

    let set = |n: usize, device: &str| {
        command(
            &format!("mode-{n}"),
            Kind::SetScanMode(v1::SetScanMode {
                device_id: device.into(),
                mode: v1::ScanMode::StockCount as i32,
            }),
        )
    };
    let r = ask(&client, &mut results, &set(0, "no-such-scanner")).await;
    assert!(!r.ok && r.message.contains("no scanner driver"), "{r:?}");
    // The driver has scanned, so it runs and holds its slot.
    let r = ask(&client, &mut results, &set(1, "till-scanner")).await;
    assert!(r.ok, "{r:?}");
    scan(&mut pty, "4006381333931");
    let after = next_scan(&mut scans).await;
    assert_eq!(
        after.mode,
        v1::ScanMode::StockCount as i32,
        "as a mode barcode would"
    );
    scan(&mut pty, "4006381333931");
    assert_eq!(
        next_scan(&mut scans).await.mode,
        v1::ScanMode::StockCount as i32,
        "and it stays"
    );
}
