//! The poller against a real HTTP server on 127.0.0.1 playing the camera: each GET takes the
//! next answer of a script (the last one repeats), and the test stands in for the journal.
//!
//! Waits are on conditions with timeouts. "Nothing more happens" is checked once the camera has
//! served further polls: events of a poll reach the journal before the next poll starts, so
//! after N more requests nothing of the earlier polls can still be on its way.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use store_proto::v1::{DeviceState, FootTraffic};
use store_proto::{Body, Event};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;
use tokio::time::timeout;

use super::*;
use crate::counter::http::Url;
use crate::RecordError;

const PATIENCE: Duration = Duration::from_secs(10);
const TICK: Duration = Duration::from_millis(20);

/// One answer of the camera.
#[derive(Clone)]
enum Reply {
    Live {
        at: &'static str,
        in_: u64,
        out: u64,
    },
    Status(u16),
    Text(&'static str),
    /// Never answers (the poll times out).
    Hang,
}

#[derive(Default)]
struct Camera {
    script: VecDeque<Reply>,
    last: Option<Reply>,
    served: usize,
    authorization: Vec<Option<String>>,
    /// When set, requests without exactly this Authorization are answered 401.
    require: Option<String>,
}

#[derive(Clone)]
struct Shared {
    camera: Arc<Mutex<Camera>>,
    served: Arc<Notify>,
}

async fn live_sum(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let reply = {
        let mut cam = shared.camera.lock().unwrap();
        cam.served += 1;
        cam.authorization.push(auth.clone());
        if cam.require.is_some() && cam.require != auth {
            None
        } else {
            let next = cam.script.pop_front().or_else(|| cam.last.clone());
            cam.last.clone_from(&next);
            next
        }
    };
    shared.served.notify_waiters();
    match reply {
        None => StatusCode::UNAUTHORIZED.into_response(),
        Some(Reply::Live { at, in_, out }) => format!(
            r#"{{"serial":"00408CAC512B","name":"Entrance","timestamp":"{at}","in":{in_},"out":{out}}}"#
        )
        .into_response(),
        Some(Reply::Status(code)) => StatusCode::from_u16(code).unwrap().into_response(),
        Some(Reply::Text(text)) => text.into_response(),
        Some(Reply::Hang) => std::future::pending().await,
    }
}

struct CameraServer {
    addr: SocketAddr,
    shared: Shared,
}

impl CameraServer {
    async fn start(script: Vec<Reply>) -> CameraServer {
        Self::start_on(TcpListener::bind("127.0.0.1:0").await.unwrap(), script).await
    }

    async fn start_on(listener: TcpListener, script: Vec<Reply>) -> CameraServer {
        let addr = listener.local_addr().unwrap();
        let shared = Shared {
            camera: Arc::new(Mutex::new(Camera {
                script: script.into(),
                ..Default::default()
            })),
            served: Arc::new(Notify::new()),
        };
        let app = Router::new()
            .route("/local/pc/live-sum.json", get(live_sum))
            .with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        CameraServer { addr, shared }
    }

    fn served(&self) -> usize {
        self.shared.camera.lock().unwrap().served
    }

    /// Waits until the camera has served at least `n` requests.
    async fn wait_served(&self, n: usize) {
        timeout(PATIENCE, async {
            loop {
                let notified = self.shared.served.notified();
                if self.served() >= n {
                    return;
                }
                notified.await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("camera served {} of {n} requests", self.served()));
    }
}

fn config(addr: SocketAddr) -> CounterPollConfig {
    CounterPollConfig {
        id: "door-poll".into(),
        url: Url::parse(&format!("http://{addr}/local/pc/live-sum.json")).unwrap(),
        interval_secs: 1,
        timeout_ms: 300,
        auth: PollAuth::None,
        line: "front".into(),
    }
}

/// A journal stand-in: hands each event to the test and answers it with `answer(event)`.
fn journal(
    answer: impl Fn(&Event) -> Result<u64, RecordError> + Send + 'static,
) -> (Sink, mpsc::UnboundedReceiver<Event>) {
    let (tx, mut rx) = mpsc::channel::<Record>(16);
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut seq = 0;
        while let Some(r) = rx.recv().await {
            seq += 1;
            let outcome = answer(&r.event).map(|_| seq);
            let _ = events_tx.send(r.event);
            r.reply
                .expect("the poller asks for a reply")
                .send(outcome)
                .expect("the poller waits for the reply");
        }
    });
    (tx, events_rx)
}

fn start(config: CounterPollConfig, sink: Sink) -> JoinHandle<Result<(), DriverError>> {
    tokio::spawn(poll_loop(config, TICK, sink))
}

async fn next(events: &mut mpsc::UnboundedReceiver<Event>) -> Event {
    timeout(PATIENCE, events.recv())
        .await
        .expect("an event within the timeout")
        .expect("journal running")
}

/// A compact view of an event for exact comparisons.
#[derive(Debug, PartialEq)]
enum Seen {
    Status(DeviceState, String),
    Traffic(FootTraffic),
}

fn seen(event: &Event) -> Seen {
    assert_eq!(event.device_id, "door-poll");
    assert!(event.wall_time_ms > 0);
    match &event.body {
        Some(Body::DeviceStatus(s)) => {
            Seen::Status(DeviceState::try_from(s.state).unwrap(), s.reason.clone())
        }
        Some(Body::FootTraffic(t)) => Seen::Traffic(t.clone()),
        other => panic!("unexpected event {other:?}"),
    }
}

/// 2024-03-01 10:00:00 UTC in epoch ms, plus `secs`.
fn at(secs: i64) -> i64 {
    1_709_287_200_000 + secs * 1000
}

fn traffic(start: i64, end: i64, entries: u32, exits: u32) -> Seen {
    Seen::Traffic(FootTraffic {
        counter_id: "00408CAC512B".into(),
        line: "front".into(),
        interval_start_ms: at(start),
        interval_end_ms: at(end),
        entries,
        exits,
        coalesced_ticks: 1,
    })
}

fn is_state(s: &Seen, state: DeviceState) -> bool {
    matches!(s, Seen::Status(st, _) if *st == state)
}

#[tokio::test]
async fn running_totals_become_exact_deltas_and_outages_are_reported_once() {
    let live = |at, in_, out| Reply::Live { at, in_, out };
    let camera = CameraServer::start(vec![
        live("20240301100000", 100, 90), // baseline
        live("20240301100010", 103, 91), // 3 in, 1 out
        live("20240301100010", 103, 91), // same timestamp: ignored
        live("20240301100020", 103, 91), // nobody: no event
        live("20240301100030", 2, 0),    // counter reset: 2 in since
        Reply::Status(503),              // unreachable from here ...
        Reply::Hang,
        Reply::Status(500),
        Reply::Text("<html>login</html>"), // ... answering again, but not a live sum
        live("20240301100100", 7, 4),      // 5 in, 4 out since the reset sample
    ])
    .await;
    let (sink, mut events) = journal(|_| Ok(0));
    let driver = start(config(camera.addr), sink);

    let mut got = Vec::new();
    for _ in 0..7 {
        got.push(seen(&next(&mut events).await));
    }
    assert!(is_state(&got[0], DeviceState::Connected), "{got:?}");
    assert_eq!(got[1], traffic(0, 10, 3, 1));
    assert_eq!(got[2], traffic(20, 30, 2, 0));
    match &got[3] {
        Seen::Status(DeviceState::Disconnected, reason) => {
            assert!(reason.contains("503"), "{reason}")
        }
        other => panic!("expected DISCONNECTED, got {other:?}"),
    }
    assert!(is_state(&got[4], DeviceState::Connected), "{got:?}");
    match &next_decode_error(&got[5]) {
        Some(reason) => assert!(reason.contains("not valid JSON"), "{reason}"),
        None => panic!("expected a decode error, got {:?}", got[5]),
    }
    assert_eq!(got[6], traffic(30, 60, 5, 4));

    // The last answer repeats: three more polls add nothing.
    let served = camera.served();
    camera.wait_served(served + 3).await;
    assert!(events.try_recv().is_err(), "unexpected event");
    assert!(!driver.is_finished());
    driver.abort();
}

fn next_decode_error(s: &Seen) -> Option<String> {
    match s {
        Seen::Status(DeviceState::DecodeError, reason) => Some(reason.clone()),
        _ => None,
    }
}

#[tokio::test]
async fn undecodable_answers_keep_their_bytes() {
    let camera = CameraServer::start(vec![Reply::Text(r#"{"serial":"x","in":1}"#)]).await;
    let (sink, mut events) = journal(|_| Ok(0));
    let driver = start(config(camera.addr), sink);
    assert!(is_state(
        &seen(&next(&mut events).await),
        DeviceState::Connected
    ));
    let event = next(&mut events).await;
    let Some(Body::DeviceStatus(s)) = event.body else {
        panic!("{event:?}");
    };
    assert_eq!(s.state, DeviceState::DecodeError as i32);
    assert_eq!(s.raw, br#"{"serial":"x","in":1}"#);
    assert!(
        s.reason.contains("field `timestamp` is missing"),
        "{}",
        s.reason
    );
    driver.abort();
}

#[tokio::test]
async fn a_camera_that_is_not_there_yet_then_comes_up() {
    // Take a free port, then leave it closed: polls are refused.
    let port = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = port.local_addr().unwrap();
    drop(port);
    let (sink, mut events) = journal(|_| Ok(0));
    let driver = start(config(addr), sink);
    match seen(&next(&mut events).await) {
        Seen::Status(DeviceState::Disconnected, reason) => {
            assert!(reason.contains("cannot connect"), "{reason}")
        }
        other => panic!("expected DISCONNECTED, got {other:?}"),
    }

    let camera = CameraServer::start_on(
        TcpListener::bind(addr).await.unwrap(),
        vec![
            Reply::Live {
                at: "20240301100000",
                in_: 5,
                out: 5,
            },
            Reply::Live {
                at: "20240301100005",
                in_: 6,
                out: 5,
            },
        ],
    )
    .await;
    // Only one DISCONNECTED however many polls were refused meanwhile.
    assert!(is_state(
        &seen(&next(&mut events).await),
        DeviceState::Connected
    ));
    assert_eq!(seen(&next(&mut events).await), traffic(0, 5, 1, 0));
    let served = camera.served();
    camera.wait_served(served + 2).await;
    assert!(events.try_recv().is_err());
    driver.abort();
}

#[tokio::test]
async fn credentials_are_sent_and_a_refusal_is_an_outage() {
    let camera = CameraServer::start(vec![Reply::Live {
        at: "20240301100000",
        in_: 1,
        out: 1,
    }])
    .await;
    camera.shared.camera.lock().unwrap().require = Some("Basic dmlld2VyOnMzY3JldA==".to_owned());

    let mut wrong = config(camera.addr);
    wrong.auth = PollAuth::Bearer("t0k".into());
    let (sink, mut events) = journal(|_| Ok(0));
    let driver = start(wrong, sink);
    match seen(&next(&mut events).await) {
        Seen::Status(DeviceState::Disconnected, reason) => {
            assert!(reason.contains("401"), "{reason}")
        }
        other => panic!("expected DISCONNECTED, got {other:?}"),
    }
    driver.abort();
    assert_eq!(
        camera.shared.camera.lock().unwrap().authorization[0].as_deref(),
        Some("Bearer t0k")
    );

    let mut right = config(camera.addr);
    right.auth = PollAuth::Basic {
        username: "viewer".into(),
        password: "s3cret".into(),
    };
    let (sink, mut events) = journal(|_| Ok(0));
    let driver = start(right, sink);
    assert!(is_state(
        &seen(&next(&mut events).await),
        DeviceState::Connected
    ));
    driver.abort();
}

#[tokio::test]
async fn counts_refused_by_the_journal_come_with_the_next_poll() {
    let live = |at, in_, out| Reply::Live { at, in_, out };
    let camera = CameraServer::start(vec![
        live("20240301100000", 10, 10),
        live("20240301100010", 12, 10),
        live("20240301100020", 15, 11),
    ])
    .await;
    let refused = Arc::new(Mutex::new(false));
    let refused_in_journal = refused.clone();
    let (sink, mut events) = journal(move |e| {
        let mut once = refused_in_journal.lock().unwrap();
        if matches!(e.body, Some(Body::FootTraffic(_))) && !*once {
            *once = true;
            return Err(RecordError::Journal("budget full".into()));
        }
        Ok(0)
    });
    let driver = start(config(camera.addr), sink);
    assert!(is_state(
        &seen(&next(&mut events).await),
        DeviceState::Connected
    ));
    // Refused: 2 in between 0 s and 10 s.
    assert_eq!(seen(&next(&mut events).await), traffic(0, 10, 2, 0));
    // Counted again with the next sample: from the last stored baseline.
    assert_eq!(seen(&next(&mut events).await), traffic(0, 20, 5, 1));
    driver.abort();
}

#[tokio::test]
async fn stops_when_the_journal_goes_away() {
    let camera = CameraServer::start(vec![Reply::Status(404)]).await;
    let (sink, journal) = mpsc::channel::<Record>(16);
    drop(journal);
    let driver = start(config(camera.addr), sink);
    let result = timeout(PATIENCE, driver)
        .await
        .expect("driver stopped")
        .unwrap();
    assert!(
        matches!(result, Err(DriverError::SinkClosed { .. })),
        "{result:?}"
    );
}
