//! A collector restored from a backup, against the real uplink, journal and a real Mosquitto
//! (skipped when `/usr/sbin/mosquitto` is missing). The test plays the collector: it reads the
//! agent's batches and publishes retained commit marks on `.../ack`.
//!
//! Asserted: after everything was committed, a lower mark makes the agent resend exactly the
//! retained events above it, once; events already out of retention are reported in exactly one
//! `DataLoss` (NOT_RETAINED) naming exactly them; the same low mark again changes nothing; and a
//! resend request through the port queues the held events and names the rest.

use std::collections::BTreeMap;
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
use store_agent::status::{Board, UplinkStatus};
use store_agent::uplink::resend::{ResendHandle, ResendOutcome, ResendRange};
use store_drivers::Record;
use store_proto::v1::{CommitMark, DataLoss, DataLossReason, Scan};
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

fn start_mosquitto(dir: &Path) -> (Guard, u16) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
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
    resend: ResendHandle,
    stop_tx: watch::Sender<bool>,
    writer: tokio::task::JoinHandle<Journal>,
    uplink: tokio::task::JoinHandle<()>,
}

impl Agent {
    fn start(dir: &Path, journal_toml: &str, port: u16) -> Agent {
        let config = AgentConfig::parse(
            &format!(
                "store_id = \"s1\"\nagent_id = \"a1\"\nstate_dir = {:?}\n[mqtt]\nport = {port}\n\
                 keep_alive_secs = 5\n[uplink]\nlinger_ms = 0\nreconnect_min_ms = 50\n\
                 reconnect_max_ms = 200\nbacklog_events_per_sec = 0\n[journal]\n{journal_toml}",
                dir.join("state")
            ),
            "test.toml",
        )
        .unwrap();
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
        let (resend, resend_rx) = ResendHandle::channel(4);
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
            resend,
            stop_tx,
            writer,
            uplink,
        }
    }

    async fn stop(self) {
        let _ = self.stop_tx.send(true);
        drop(self.sink);
        let _ = self.writer.await;
        let _ = tokio::time::timeout(Duration::from_secs(10), self.uplink).await;
    }

    async fn record(&self, data: &str) -> u64 {
        let (tx, rx) = oneshot::channel();
        let mut event = Event {
            device_id: "scanner-1".into(),
            body: Some(Body::Scan(Scan {
                data: data.into(),
                ..Default::default()
            })),
            ..Default::default()
        };
        store_drivers::clock::stamp(&mut event);
        self.sink
            .send(Record {
                event,
                reply: Some(tx),
            })
            .await
            .unwrap();
        rx.await.unwrap().unwrap()
    }

    fn status(&self) -> UplinkStatus {
        self.board.uplink.lock().unwrap().clone()
    }

    /// Waits until the uplink has counted `restores` rewinds and nothing waits to be sent or
    /// replayed and nothing is in flight (the count makes sure the snapshot, refreshed every
    /// 50 ms, is not one from before the last rewind).
    async fn wait_idle(&self, restores: u64) {
        let deadline = Instant::now() + WAIT;
        loop {
            let s = self.status();
            if s.connected
                && s.restores == restores
                && s.to_send == 0
                && s.to_replay == 0
                && s.inflight_batches == 0
            {
                return;
            }
            assert!(Instant::now() < deadline, "uplink never idle: {s:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the journal has applied the collector's mark `mark`.
    async fn wait_acked(&self, mark: u64) {
        let deadline = Instant::now() + WAIT;
        while self.reader.acked() != mark {
            assert!(
                Instant::now() < deadline,
                "journal acked {} , want {mark}",
                self.reader.acked()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The collector's side: the agent's events as they arrive, and retained marks.
struct Hq {
    client: AsyncClient,
    events: mpsc::UnboundedReceiver<Event>,
}

impl Hq {
    async fn connect(port: u16) -> Hq {
        let opts = MqttOptions::new("hq-probe", "127.0.0.1", port);
        let (client, mut eventloop) = AsyncClient::new(opts, 64);
        client
            .subscribe(topics::events("s1", "a1"), QoS::AtLeastOnce)
            .await
            .unwrap();
        let (tx, events) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(MqttEvent::Incoming(Packet::Publish(p))) => {
                        if let Ok(b) = EventBatch::decode(p.payload.as_ref()) {
                            for e in b.events {
                                let _ = tx.send(e);
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        Hq { client, events }
    }

    async fn mark(&self, committed_seq: u64) {
        let mark = CommitMark {
            committed_seq,
            collector_id: "hq-test".into(),
            ..Default::default()
        };
        self.client
            .publish(
                topics::ack("s1", "a1"),
                QoS::AtLeastOnce,
                true,
                mark.encode_to_vec(),
            )
            .await
            .unwrap();
    }

    /// Receives events until `seq` has arrived; returns everything received, in order.
    async fn until(&mut self, seq: u64) -> Vec<Event> {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut got = Vec::new();
        while !got.iter().any(|e: &Event| e.seq == seq) {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(e)) => got.push(e),
                _ => panic!(
                    "seq {seq} never arrived; got {:?}",
                    got.iter().map(|e| e.seq).collect::<Vec<_>>()
                ),
            }
        }
        got
    }

    /// Whatever has arrived and not been taken yet.
    fn pending(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        while let Ok(e) = self.events.try_recv() {
            out.push(e);
        }
        out
    }
}

fn losses(events: &[Event]) -> Vec<DataLoss> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            Some(Body::DataLoss(d)) => Some(d.clone()),
            _ => None,
        })
        .collect()
}

/// Counts per seq among `events`, scans only.
fn scan_counts(events: &[Event]) -> BTreeMap<u64, usize> {
    let mut out = BTreeMap::new();
    for e in events {
        if matches!(e.body, Some(Body::Scan(_))) {
            *out.entry(e.seq).or_default() += 1;
        }
    }
    out
}

const N: u64 = 20;

/// Sends `N` events, lets HQ commit them all, and returns the agent with the probe drained.
async fn committed_agent(dir: &Path, journal_toml: &str, port: u16, hq: &mut Hq) -> Agent {
    let agent = Agent::start(dir, journal_toml, port);
    let mut last = 0;
    for i in 0..N {
        last = agent.record(&format!("item-{i}")).await;
    }
    assert_eq!(last, N);
    let first = hq.until(N).await;
    assert_eq!(scan_counts(&first).len() as u64, N);
    hq.mark(N).await;
    agent.wait_acked(N).await;
    agent.wait_idle(0).await;
    assert!(hq.pending().is_empty());
    agent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lower_mark_is_refilled_from_retention_once() {
    if !Path::new(MOSQUITTO).exists() {
        eprintln!("skipped: {MOSQUITTO} missing");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_broker, port) = start_mosquitto(dir.path());
    let mut hq = Hq::connect(port).await;
    let agent = committed_agent(dir.path(), "", port, &mut hq).await;
    assert_eq!(agent.reader.first_seq(), Some(1), "all retained");

    // HQ restored from a backup: its mark is back at 12.
    hq.mark(12).await;
    let resent = hq.until(N).await;
    assert_eq!(
        scan_counts(&resent),
        (13..=N).map(|s| (s, 1)).collect::<BTreeMap<_, _>>(),
        "exactly the retained events above the mark, once"
    );
    assert!(losses(&resent).is_empty(), "everything was retained");

    // The same mark again (as after a reconnect), then a barrier: a live event and HQ's mark
    // for it (marks arrive in order, so the agent has seen the repeat when this one applies).
    agent.wait_idle(1).await;
    hq.mark(12).await;
    let live = agent.record("live").await;
    let after = hq.until(live).await;
    hq.mark(live).await;
    agent.wait_acked(live).await;
    agent.wait_idle(1).await;
    let mut after = after;
    after.extend(hq.pending());
    assert_eq!(
        after.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [live],
        "a repeated low mark resends nothing"
    );
    assert_eq!(agent.status().restores, 1);
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_out_of_retention_are_reported_once_and_a_resend_request_is_served() {
    if !Path::new(MOSQUITTO).exists() {
        eprintln!("skipped: {MOSQUITTO} missing");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_broker, port) = start_mosquitto(dir.path());
    let mut hq = Hq::connect(port).await;
    // Room for a few retained events only: the oldest fall out when the mark arrives.
    let agent = committed_agent(
        dir.path(),
        "max_bytes = 1048576\nretain_max_bytes = 600\n",
        port,
        &mut hq,
    )
    .await;
    let floor = agent.reader.retain_floor();
    assert!(floor > 6 && floor <= N, "floor {floor}");
    assert_eq!(agent.reader.first_seq(), Some(floor));

    hq.mark(5).await;
    // The DataLoss is a new event, the head's successor; replays follow it.
    let loss_seq = N + 1;
    let mut got = hq.until(loss_seq).await;
    agent.wait_idle(1).await;
    got.extend(hq.pending());
    let l = losses(&got);
    assert_eq!(l.len(), 1, "one DataLoss: {l:?}");
    assert_eq!(l[0].reason, DataLossReason::NotRetained as i32);
    let ranges: Vec<(u64, u64)> = l[0].ranges.iter().map(|r| (r.first, r.last)).collect();
    assert_eq!(
        ranges,
        [(6, floor - 1)],
        "exactly the seqs out of retention"
    );
    assert_eq!(
        scan_counts(&got),
        (floor..=N).map(|s| (s, 1)).collect::<BTreeMap<_, _>>(),
        "exactly the retained events above the mark"
    );

    // Repeated: no second DataLoss, no second resend (barrier as in the test above).
    hq.mark(5).await;
    let live = agent.record("live").await;
    let mut after = hq.until(live).await;
    hq.mark(live).await;
    agent.wait_acked(live).await;
    agent.wait_idle(1).await;
    after.extend(hq.pending());
    assert_eq!(after.iter().map(|e| e.seq).collect::<Vec<_>>(), [live]);

    // A replay through the port: seqs at or below the mark go out again; what is not held
    // (out of retention, or never issued) is named.
    let floor = agent.reader.retain_floor();
    let head = agent.reader.head();
    let outcome = agent
        .resend
        .resend(ResendRange::Seqs {
            from: 1,
            to: head + 3,
        })
        .await
        .unwrap();
    let held = head - floor + 1;
    assert_eq!(
        outcome,
        ResendOutcome {
            queued: held,
            not_retained: vec![(1, floor - 1), (head + 1, head + 3)],
        }
    );
    let mut replayed = hq.until(head).await;
    agent.wait_idle(1).await;
    replayed.extend(hq.pending());
    assert_eq!(replayed.len() as u64, held, "each held event once");
    assert_eq!(
        agent.reader.acked(),
        live,
        "a replay does not move the mark"
    );
    // Too large a request is refused with a reason.
    let err = agent
        .resend
        .resend(ResendRange::Seqs {
            from: 1,
            to: 2_000_000,
        })
        .await
        .unwrap_err();
    assert!(err.contains("larger than"), "{err}");
    agent.stop().await;
}
