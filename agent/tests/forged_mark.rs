//! A forged retained commit mark against the real uplink, journal and a real Mosquitto (skipped
//! when `/usr/sbin/mosquitto` is missing): events above what the agent published are neither
//! trimmed nor held back, a forged `u64::MAX` does not stop later genuine marks, and HQ hears of
//! the forgery through a TAMPERED device status. (Retention is off here, so a mark deletes what
//! it covers and "trimmed" is visible as the journal's first held seq.) And a retained message as large as the broker
//! allows, on a topic the agent subscribes to, does not put it into a reconnect loop.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message;
use rumqttc::{AsyncClient, Event as MqttEvent, MqttOptions, Packet, QoS};
use store_agent::config::AgentConfig;
use store_agent::journal::{run_writer, Journal, JournalReader};
use store_agent::privacy::Privacy;
use store_agent::status::Board;
use store_drivers::Record;
use store_proto::v1::{CommitMark, DeviceState, Scan};
use store_proto::{topics, Body, Event, EventBatch};
use tokio::sync::{mpsc, oneshot, watch};

const MOSQUITTO: &str = "/usr/sbin/mosquitto";
const WAIT: Duration = Duration::from_secs(20);

struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_mosquitto(dir: &Path, extra: &str) -> (Guard, u16) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n{extra}"),
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
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "mosquitto does not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    (guard, port)
}

/// The agent's journal writer and uplink, as `store-agent run` wires them (no drivers).
struct Agent {
    sink: mpsc::Sender<Record>,
    reader: JournalReader,
    board: Arc<Board>,
    stop_tx: watch::Sender<bool>,
    writer: tokio::task::JoinHandle<Journal>,
    uplink: tokio::task::JoinHandle<()>,
}

impl Agent {
    fn start(dir: &Path, config: AgentConfig) -> Agent {
        let (journal, reader, _) =
            Journal::open(&dir.join("state"), config.journal.clone()).unwrap();
        let (sink, records) = mpsc::channel(64);
        let (journal_tx, journal_rx) = mpsc::unbounded_channel();
        let writer = tokio::spawn(run_writer(
            journal,
            records,
            journal_rx,
            Privacy::new(None, false),
        ));
        let (stop_tx, stop_rx) = watch::channel(false);
        let board = Arc::new(Board::default());
        let (_resend, resend_rx) = store_agent::uplink::resend::ResendHandle::channel(1);
        let uplink = tokio::spawn(store_agent::uplink::run(
            config,
            store_agent::uplink::BrokerAccess::default(),
            reader.clone(),
            journal_tx,
            store_agent::uplink::HqPorts {
                resend: resend_rx,
                commands: None,
            },
            stop_rx,
            board.clone(),
        ));
        Agent {
            sink,
            reader,
            board,
            stop_tx,
            writer,
            uplink,
        }
    }
}

/// Stops the uplink and the writer the way a shutdown does.
async fn stop(
    stop_tx: watch::Sender<bool>,
    sink: mpsc::Sender<Record>,
    writer: tokio::task::JoinHandle<Journal>,
    uplink: tokio::task::JoinHandle<()>,
) {
    let _ = stop_tx.send(true);
    drop(sink);
    let _ = writer.await;
    let _ = tokio::time::timeout(Duration::from_secs(10), uplink).await;
}

/// HQ's view: a client subscribed to the agent's events topic, with a packet limit above any
/// message the broker may hand it. Returns the client, the events it receives, and one signal
/// per PUBACK for its own publishes.
async fn hq_probe(
    port: u16,
) -> (
    AsyncClient,
    mpsc::UnboundedReceiver<Event>,
    mpsc::UnboundedReceiver<()>,
) {
    let mut opts = MqttOptions::new("hq-probe", "127.0.0.1", port);
    opts.set_max_packet_size(32 << 20, 32 << 20);
    let (hq, mut hq_loop) = AsyncClient::new(opts, 64);
    hq.subscribe(topics::events("s1", "a1"), QoS::AtLeastOnce)
        .await
        .unwrap();
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let (ack_tx, ack_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            match hq_loop.poll().await {
                Ok(MqttEvent::Incoming(Packet::PubAck(_))) => {
                    let _ = ack_tx.send(());
                }
                Ok(MqttEvent::Incoming(Packet::Publish(p))) => {
                    if let Ok(b) = EventBatch::decode(p.payload.as_ref()) {
                        for e in b.events {
                            let _ = ev_tx.send(e);
                        }
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    });
    (hq, ev_rx, ack_rx)
}

async fn record(sink: &mpsc::Sender<Record>, data: &str) -> u64 {
    let (tx, rx) = oneshot::channel();
    let event = Event {
        device_id: "scanner-1".into(),
        body: Some(Body::Scan(Scan {
            data: data.into(),
            ..Default::default()
        })),
        ..Default::default()
    };
    sink.send(Record {
        event,
        reply: Some(tx),
    })
    .await
    .unwrap();
    rx.await.unwrap().unwrap()
}

/// Waits until `seen` (seq -> event) holds `seq`, pumping the subscriber.
async fn wait_seen(
    rx: &mut mpsc::UnboundedReceiver<Event>,
    seen: &mut std::collections::BTreeMap<u64, Event>,
    seq: u64,
) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !seen.contains_key(&seq) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(e)) => {
                seen.insert(e.seq, e);
            }
            _ => panic!("seq {seq} never published; saw {:?}", seen.keys()),
        }
    }
}

async fn wait_first_held(reader: &JournalReader, want: Option<u64>) {
    let deadline = Instant::now() + WAIT;
    while reader.first_seq() != want {
        assert!(
            Instant::now() < deadline,
            "journal's first held seq is {:?}, want {want:?}",
            reader.first_seq()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn publish_mark(client: &AsyncClient, topic: &str, committed_seq: u64) {
    let mark = CommitMark {
        committed_seq,
        collector_id: "intruder".into(),
        ..Default::default()
    };
    client
        .publish(topic, QoS::AtLeastOnce, true, mark.encode_to_vec())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_marks_neither_trim_nor_hold_back_events() {
    if !Path::new(MOSQUITTO).exists() {
        eprintln!("skipped: {MOSQUITTO} missing");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_broker, port) = start_mosquitto(dir.path(), "");
    let config = AgentConfig::parse(
        &format!(
            "store_id = \"s1\"\nagent_id = \"a1\"\nstate_dir = {:?}\n[mqtt]\nport = {port}\n\
             keep_alive_secs = 5\n[uplink]\nlinger_ms = 0\nreconnect_min_ms = 50\nreconnect_max_ms = 200\n\
             [journal]\nretain_max_bytes = 0\n",
            dir.path().join("state")
        ),
        "test.toml",
    )
    .unwrap();
    let ack = topics::ack("s1", "a1");

    // HQ's view: everything on the events topic.
    let (hq, mut ev_rx, _pubacks) = hq_probe(port).await;

    // Retained before the agent starts: head + 1000 with an empty journal.
    publish_mark(&hq, &ack, 1000).await;

    let Agent {
        sink,
        reader,
        board,
        stop_tx,
        writer,
        uplink,
    } = Agent::start(dir.path(), config);

    let mut seen = std::collections::BTreeMap::new();
    let mut last = 0;
    for i in 0..5 {
        last = record(&sink, &format!("item-{i}")).await;
    }
    wait_seen(&mut ev_rx, &mut seen, last).await;
    // The forgery reached HQ as a TAMPERED status of the agent, after the events it arrived
    // behind (its seq is not known in advance: find it).
    let deadline = Instant::now() + WAIT;
    let tampered = loop {
        let found = seen.values().find(|e| {
            matches!(&e.body, Some(Body::DeviceStatus(s)) if s.state == DeviceState::Tampered as i32)
        });
        if let Some(e) = found {
            break e.clone();
        }
        assert!(Instant::now() < deadline, "no TAMPERED status: {seen:?}");
        if let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(200), ev_rx.recv()).await {
            seen.insert(e.seq, e);
        }
    };
    let Some(Body::DeviceStatus(s)) = &tampered.body else {
        unreachable!()
    };
    assert_eq!(tampered.device_id, "agent");
    assert!(
        s.reason
            .starts_with("forged commit mark 1000 above highest published "),
        "{}",
        s.reason
    );
    assert!(s.reason.contains(&ack), "{}", s.reason);
    assert_eq!(reader.first_seq(), Some(1), "nothing was trimmed");
    // The status snapshot refreshes every 50 ms.
    let deadline = Instant::now() + WAIT;
    loop {
        let status = board.uplink.lock().unwrap().clone();
        if status.forged_marks >= 1 {
            assert_eq!(status.last_forged_mark, Some(1000));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "status never counted the forgery"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A forged u64::MAX, then a genuine mark: the genuine one still trims.
    publish_mark(&hq, &ack, u64::MAX).await;
    let more = record(&sink, "item-after-max").await;
    wait_seen(&mut ev_rx, &mut seen, more).await;
    assert_eq!(reader.first_seq(), Some(1), "u64::MAX trimmed nothing");
    publish_mark(&hq, &ack, 3).await;
    wait_first_held(&reader, Some(4)).await;
    let head = reader.head();
    wait_seen(&mut ev_rx, &mut seen, head).await;
    publish_mark(&hq, &ack, head).await;
    wait_first_held(&reader, None).await;

    stop(stop_tx, sink, writer, uplink).await;
}

/// The shipped broker config's `message_size_limit`: the largest payload Mosquitto accepts.
const BROKER_MESSAGE_SIZE_LIMIT: usize = 16 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retained_status_as_large_as_the_broker_allows_does_not_loop_the_agent() {
    if !Path::new(MOSQUITTO).exists() {
        eprintln!("skipped: {MOSQUITTO} missing");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_broker, port) = start_mosquitto(
        dir.path(),
        &format!("message_size_limit {BROKER_MESSAGE_SIZE_LIMIT}\n"),
    );
    let config = AgentConfig::parse(
        &format!(
            "store_id = \"s1\"\nagent_id = \"a1\"\nstate_dir = {:?}\n[mqtt]\nport = {port}\n\
             keep_alive_secs = 5\n[uplink]\nlinger_ms = 0\nreconnect_min_ms = 50\nreconnect_max_ms = 200\n\
             [journal]\nretain_max_bytes = 0\n",
            dir.path().join("state")
        ),
        "test.toml",
    )
    .unwrap();

    let (hq, mut ev_rx, mut pubacks) = hq_probe(port).await;
    // The payload is exactly the broker's limit, so the packet (topic and header added) is a
    // little larger: a client whose own limit equals the broker's refuses it, reconnects, and
    // is handed the same retained message again.
    let big_topic = topics::collector_status("big");
    hq.publish(
        &big_topic,
        QoS::AtLeastOnce,
        true,
        vec![0xFF_u8; BROKER_MESSAGE_SIZE_LIMIT],
    )
    .await
    .unwrap();
    tokio::time::timeout(WAIT, pubacks.recv())
        .await
        .expect("the broker took the large retained status")
        .unwrap();

    let Agent {
        sink,
        reader,
        board,
        stop_tx,
        writer,
        uplink,
    } = Agent::start(dir.path(), config);

    let mut seen = std::collections::BTreeMap::new();
    let mut last = 0;
    for i in 0..5 {
        last = record(&sink, &format!("item-{i}")).await;
    }
    wait_seen(&mut ev_rx, &mut seen, last).await;
    // Marks still arrive and trim: the subscription survived the large message.
    publish_mark(&hq, &topics::ack("s1", "a1"), last).await;
    wait_first_held(&reader, None).await;
    let status = board.uplink.lock().unwrap().clone();
    assert!(status.connected, "{status:?}");
    // `reconnects` counts every connection, the first included.
    assert_eq!(
        status.reconnects, 1,
        "the agent connected more than once: {status:?}"
    );

    stop(stop_tx, sink, writer, uplink).await;
}
