//! Tests of the harness itself, runnable before the agent and collector exist: the Mosquitto
//! wrapper (stop keeps sessions and queued messages, kill + wipe loses them, restarts on the same
//! port) and the line-feed writer against a small fake line-feed server.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use store_tests::mqtt_probe::MqttProbe;
use store_tests::{ports, serial, Mosquitto, TestEnv, Writer, WriterOptions};

const T: Duration = Duration::from_secs(10);

#[test]
fn mosquitto_stop_keeps_sessions_and_queued_messages_wipe_loses_them() {
    let _serial = serial();
    let env = TestEnv::new("mosquitto");
    let mut broker = Mosquitto::start_in(&env.subdir("mosquitto"));
    let addr = broker.addr();
    let port = broker.port();

    // A persistent subscriber goes offline; three QoS 1 messages are queued for it.
    let (sub, present) = MqttProbe::connect(addr, "probe-sub", false, T).unwrap();
    assert!(!present);
    let mut sub = sub;
    sub.subscribe("t/#", 1).unwrap();
    sub.disconnect();
    let (mut publ, _) = MqttProbe::connect(addr, "probe-pub", true, T).unwrap();
    for i in 0..3 {
        publ.publish("t/x", format!("m{i}").as_bytes(), false)
            .unwrap();
    }
    publ.publish("t/retained", b"r", true).unwrap();
    publ.disconnect();
    store_tests::wait::wait_for(T, "$SYS store count to include the queued messages", || {
        match broker.stored_messages() {
            Some(n) if n >= 4 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });

    // Graceful stop saves them; the broker comes back on the same port with the session.
    broker.stop();
    assert!(!ports::accepts(addr));
    assert!(
        broker
            .persistence_files()
            .iter()
            .any(|p| p.ends_with("mosquitto.db")),
        "no mosquitto.db after a graceful stop: {:?}",
        broker.persistence_files()
    );
    broker.start();
    assert_eq!(broker.port(), port);
    let (mut sub, present) = MqttProbe::connect(addr, "probe-sub", false, T).unwrap();
    assert!(present, "session lost over a graceful stop");
    let got = sub.receive_for(Duration::from_millis(1500)).unwrap();
    let payloads: BTreeSet<Vec<u8>> = got
        .iter()
        .filter(|m| m.topic == "t/x")
        .map(|m| m.payload.clone())
        .collect();
    assert_eq!(
        payloads,
        [b"m0".to_vec(), b"m1".to_vec(), b"m2".to_vec()]
            .into_iter()
            .collect(),
        "queued messages after a graceful stop: {got:?}"
    );
    sub.disconnect();

    // A message queued, then a crash and a wipe: session and message are gone.
    let (mut publ, _) = MqttProbe::connect(addr, "probe-pub", true, T).unwrap();
    publ.publish("t/x", b"doomed", false).unwrap();
    publ.disconnect();
    broker.kill();
    assert!(!broker.is_running());
    broker.wipe();
    assert!(broker.persistence_files().is_empty());
    broker.start();
    let (mut sub, present) = MqttProbe::connect(addr, "probe-sub", false, T).unwrap();
    assert!(!present, "session survived a wipe");
    sub.subscribe("t/#", 1).unwrap();
    let got = sub.receive_for(Duration::from_millis(500)).unwrap();
    assert!(got.is_empty(), "messages survived a wipe: {got:?}");
    env.log("mosquitto stop/start/kill/wipe behave as the outage tests assume");
}

/// How the fake line-feed server answers.
#[derive(Clone, Copy)]
enum Behaviour {
    /// `ok <seq>` for every line.
    AllOk,
    /// `err ...` for every 10th line (index by arrival), `ok` otherwise.
    ErrEveryTenth,
    /// Answers `answer` lines, swallows `swallow` more without answering, then closes the
    /// connection and stops listening for `down`; comes back on the same port.
    DieAfter {
        answer: u64,
        swallow: u64,
        down: Duration,
    },
}

/// A fake agent line feed: one connection at a time, seqs from a shared counter (so they keep
/// increasing across "restarts", like a real journal).
struct FakeFeed {
    addr: SocketAddr,
    seq: Arc<AtomicU64>,
}

impl FakeFeed {
    fn start(behaviour: Behaviour) -> Self {
        // Below the ephemeral range, so no stray client of some dead listener connects to it.
        let listener = TcpListener::bind(("127.0.0.1", ports::free_port())).unwrap();
        let addr = listener.local_addr().unwrap();
        let seq = Arc::new(AtomicU64::new(0));
        let s = seq.clone();
        std::thread::spawn(move || serve(listener, behaviour, &s));
        Self { addr, seq }
    }
}

fn serve(mut listener: TcpListener, behaviour: Behaviour, seq: &AtomicU64) {
    let mut died = false;
    loop {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut out = BufWriter::new(stream.try_clone().unwrap());
        let mut line = String::new();
        let mut n = 0u64;
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            n += 1;
            let s = seq.fetch_add(1, Ordering::SeqCst) + 1;
            let answer = match behaviour {
                Behaviour::AllOk => format!("ok {s}\n"),
                Behaviour::ErrEveryTenth if n % 10 == 0 => "err invalid event: nope\n".into(),
                Behaviour::ErrEveryTenth => format!("ok {s}\n"),
                Behaviour::DieAfter {
                    answer,
                    swallow,
                    down,
                } if !died && n > answer => {
                    if n < answer + swallow {
                        // "Stored" but never answered; the answers before it still go out.
                        if reader.buffer().is_empty() && out.flush().is_err() {
                            break;
                        }
                        continue;
                    }
                    let _ = out.flush();
                    drop(out);
                    let _ = stream.shutdown(std::net::Shutdown::Both);
                    drop(reader);
                    drop(listener);
                    std::thread::sleep(down);
                    listener = TcpListener::bind(addr_of(&stream)).unwrap();
                    died = true;
                    break;
                }
                Behaviour::DieAfter { .. } => format!("ok {s}\n"),
            };
            if out.write_all(answer.as_bytes()).is_err() {
                break;
            }
            if reader.buffer().is_empty() && out.flush().is_err() {
                break;
            }
        }
    }
}

fn addr_of(stream: &TcpStream) -> SocketAddr {
    stream.local_addr().unwrap()
}

fn assert_strictly_increasing_and_clean(r: &store_tests::WriterReport) {
    assert!(r.reused_seqs.is_empty(), "{:?}", r.reused_seqs);
    assert!(r.out_of_order.is_empty(), "{:?}", r.out_of_order);
    assert!(r.protocol_errors.is_empty(), "{:?}", r.protocol_errors);
}

#[test]
fn writer_pipelines_and_collects_every_ok() {
    let feed = FakeFeed::start(Behaviour::AllOk);
    let started = Instant::now();
    let r = Writer::start(WriterOptions::new(feed.addr).total(20_000).window(512)).finish(T * 3);
    assert_eq!(r.sent, 20_000);
    assert_eq!(r.acked, (1..=20_000).collect::<BTreeSet<u64>>());
    assert_eq!((r.errors, r.unanswered, r.connections), (0, 0, 1));
    assert_strictly_increasing_and_clean(&r);
    assert!(r.violations().is_empty(), "{:?}", r.violations());
    assert_eq!(r.acked_tally.total(), 20_000);
    assert_eq!(r.acked_tally.entries, 6_000);
    assert_eq!(r.acked_tally, r.sent_tally);
    assert_eq!(r.next_index, 20_000);
    println!("fake feed: 20000 lines in {:?}", started.elapsed());
}

#[test]
fn writer_counts_err_answers() {
    let feed = FakeFeed::start(Behaviour::ErrEveryTenth);
    let r = Writer::start(WriterOptions::new(feed.addr).total(1000)).finish(T);
    assert_eq!(r.errors, 100);
    assert_eq!(r.acked.len(), 900);
    assert!(
        r.error_samples[0].contains("err invalid event"),
        "{:?}",
        r.error_samples
    );
    assert_eq!(r.violations().len(), 1, "{:?}", r.violations());
    assert_eq!(r.acked_tally.total() + 100, r.sent_tally.total());
}

#[test]
fn writer_survives_a_dying_feed_and_reconnects() {
    let feed = FakeFeed::start(Behaviour::DieAfter {
        answer: 3000,
        swallow: 200,
        down: Duration::from_millis(700),
    });
    let r = Writer::start(WriterOptions::new(feed.addr).total(10_000).window(1000)).finish(T * 3);
    assert_eq!(r.connections, 2, "{}", r.summary());
    assert!(r.unanswered >= 200, "{}", r.summary());
    assert_eq!(
        r.acked.len() as u64 + r.unanswered,
        r.sent,
        "{}",
        r.summary()
    );
    assert_eq!(r.sent, 10_000);
    assert_strictly_increasing_and_clean(&r);
    // The swallowed lines used seqs, so acks jump past them like after an agent crash.
    let max = r.max_acked().unwrap();
    assert!(max > r.acked.len() as u64, "{}", r.summary());
    assert!(max <= feed.seq.load(Ordering::SeqCst));
    assert!(r.failure.is_none());
}

#[test]
fn writer_gives_up_when_the_feed_never_returns() {
    let port = ports::free_port();
    let r = Writer::start(
        WriterOptions::new(ports::localhost(port))
            .total(10)
            .reconnect_timeout(Duration::from_millis(300)),
    )
    .finish(T);
    assert_eq!(r.sent, 0);
    let f = r.failure.clone().expect("failure reported");
    assert!(f.contains("could not connect"), "{f}");
    assert!(!r.violations().is_empty());
}

#[test]
fn writer_keeps_a_target_rate_and_records_send_times() {
    let feed = FakeFeed::start(Behaviour::AllOk);
    let started = Instant::now();
    let r = Writer::start(
        WriterOptions::new(feed.addr)
            .total(400)
            .rate(1000.0)
            .record_send_times(),
    )
    .finish(T);
    let took = started.elapsed();
    assert_eq!(r.acked.len(), 400);
    assert!(
        took >= Duration::from_millis(380) && took < Duration::from_secs(3),
        "400 lines at 1000/s took {took:?}"
    );
    assert_eq!(r.send_times.len(), 400);
    let span = r.send_times[399].1 - r.send_times[0].1;
    assert!(span >= Duration::from_millis(370), "send span {span:?}");
}

#[test]
fn stopping_an_endless_writer_collects_the_answers_owed() {
    let feed = FakeFeed::start(Behaviour::AllOk);
    let w = Writer::start(WriterOptions::new(feed.addr));
    w.wait_acked(5_000, T);
    let r = w.stop();
    assert!(r.sent >= 5_000);
    assert_eq!(r.acked.len() as u64, r.sent, "{}", r.summary());
    assert_eq!(r.unanswered, 0);
    // A second writer continues the mix and the seqs; merging checks the seqs kept increasing.
    let mut all = r;
    let next = all.next_index;
    let r2 = Writer::start(WriterOptions::new(feed.addr).total(100).first_index(next)).finish(T);
    all.merge(r2);
    assert_eq!(all.acked.len() as u64, all.sent);
    assert!(all.out_of_order.is_empty() && all.reused_seqs.is_empty());
}

#[test]
fn wait_reconnected_needs_an_ok_on_the_new_connection() {
    let feed = FakeFeed::start(Behaviour::DieAfter {
        answer: 2000,
        swallow: 100,
        down: Duration::from_millis(500),
    });
    let w = Writer::start(WriterOptions::new(feed.addr).window(256));
    w.wait_acked(1, T);
    w.wait_reconnected(1, T);
    let p = w.progress();
    assert_eq!(p.connections, 2, "{p:?}");
    assert!(p.acked > 2000, "{p:?}");
    let r = w.stop();
    assert!(r.violations().is_empty(), "{:?}", r.violations());
}
