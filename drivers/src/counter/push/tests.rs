//! The push receiver over real HTTP on 127.0.0.1, with the test standing in for the journal.
//!
//! The client is a few lines of raw HTTP/1.1 on a TCP socket (`Connection: close`, read to EOF),
//! so the tests see exactly what a counter would. Every wait is on a condition with a timeout;
//! the only fixed wait is the short window in which a response must *not* arrive yet.

use std::net::SocketAddr;
use std::time::Duration;

use store_proto::v1::DeviceState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::timeout;

use super::*;
use crate::counter::reading::Vendor;

const PATIENCE: Duration = Duration::from_secs(10);

/// A running driver; its task ends with the test's runtime.
struct Server {
    addr: SocketAddr,
    journal: mpsc::Receiver<Record>,
    task: JoinHandle<Result<(), DriverError>>,
}

async fn start(vendor: Vendor, token: Option<&str>, max_body_bytes: usize) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (sink, journal) = mpsc::channel(64);
    let config = CounterPushConfig {
        id: "door-push".into(),
        listen: addr,
        vendor,
        token: token.map(str::to_owned),
        max_body_bytes,
        line: "front".into(),
        max_connections: 32,
        header_timeout_secs: 10,
        body_timeout_secs: 30,
    };
    let task = tokio::spawn(serve(listener, config, sink));
    Server {
        addr,
        journal,
        task,
    }
}

impl Server {
    /// The next record the driver sends to the journal.
    async fn next_record(&mut self) -> Record {
        timeout(PATIENCE, self.journal.recv())
            .await
            .expect("a record within the timeout")
            .expect("the driver is running")
    }

    /// Answers the next record as the journal would, and returns its event.
    async fn answer(&mut self, outcome: Result<u64, RecordError>) -> Event {
        let record = self.next_record().await;
        record
            .reply
            .expect("the driver asks for a reply")
            .send(outcome)
            .expect("the driver waits for the reply");
        record.event
    }

    fn send(&self, request: Vec<u8>) -> JoinHandle<(u16, String)> {
        tokio::spawn(exchange(self.addr, request))
    }
}

pub(super) fn request(path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST {path} HTTP/1.1\r\nHost: agent\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        r.push_str(&format!("{name}: {value}\r\n"));
    }
    r.push_str("\r\n");
    let mut bytes = r.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Sends raw bytes, reads the whole response, returns status and body.
pub(super) async fn exchange(addr: SocketAddr, request: Vec<u8>) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&request).await.unwrap();
    let mut response = Vec::new();
    timeout(PATIENCE, stream.read_to_end(&mut response))
        .await
        .expect("a response within the timeout")
        .unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

async fn finish(client: JoinHandle<(u16, String)>) -> (u16, String) {
    timeout(PATIENCE, client)
        .await
        .expect("the response within the timeout")
        .unwrap()
}

fn traffic(event: &Event) -> &FootTraffic {
    match &event.body {
        Some(Body::FootTraffic(t)) => t,
        other => panic!("not foot traffic: {other:?}"),
    }
}

fn status_of(event: &Event) -> &v1::DeviceStatus {
    match &event.body {
        Some(Body::DeviceStatus(s)) => s,
        other => panic!("not a device status: {other:?}"),
    }
}

const VIVOTEK_TWO_RULES: &[u8] = br#"{"Source":{"MacAddress":"00:02:81:31:00:08"},"Data":[{"RuleType":"Counting","CountingInfo":[{"RuleName":"Counting1","In":1,"Out":2,"StartTime":"2015-05-28T06:15:00Z","EndTime":"2015-05-28T06:30:00Z"},{"RuleName":"Counting2","In":4,"Out":0,"StartTime":"2015-05-28T06:15:00Z","EndTime":"2015-05-28T06:30:00Z"}]}]}"#;

#[tokio::test]
async fn answers_200_only_after_every_event_is_durable() {
    let mut server = start(Vendor::Vivotek, None, 1024 * 1024).await;
    let client = server.send(request("/", &[], VIVOTEK_TWO_RULES));

    let first = server.next_record().await;
    let second = server.next_record().await;
    let t = traffic(&first.event);
    assert_eq!(first.event.device_id, "door-push");
    assert!(first.event.wall_time_ms > 0 && first.event.seq == 0);
    assert_eq!(t.counter_id, "00:02:81:31:00:08");
    assert_eq!(t.line, "Counting1");
    assert_eq!((t.entries, t.exits, t.coalesced_ticks), (1, 2, 1));
    assert_eq!(traffic(&second.event).line, "Counting2");

    // Nothing is durable yet: no answer may arrive.
    let mut client = client;
    assert!(timeout(Duration::from_millis(150), &mut client)
        .await
        .is_err());
    first.reply.unwrap().send(Ok(1)).unwrap();
    // One of two durable: still no answer.
    assert!(timeout(Duration::from_millis(150), &mut client)
        .await
        .is_err());
    second.reply.unwrap().send(Ok(2)).unwrap();

    let (status, body) = finish(client).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, "stored 2\n");
}

#[tokio::test]
async fn answers_503_when_the_journal_refuses() {
    let mut server = start(Vendor::Vivotek, None, 1024 * 1024).await;
    let client = server.send(request("/counter", &[], VIVOTEK_TWO_RULES));
    server.answer(Ok(1)).await;
    server
        .answer(Err(RecordError::Journal("disk full".into())))
        .await;
    let (status, body) = finish(client).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("disk full"), "{body}");
}

#[tokio::test]
async fn answers_401_without_the_token_and_journals_nothing() {
    let mut server = start(Vendor::Vivotek, Some("s3cret"), 1024 * 1024).await;
    for headers in [
        &[][..],
        &[("Authorization", "Bearer wrong")][..],
        &[("Authorization", "Basic czNjcmV0")][..],
    ] {
        let (status, body) = finish(server.send(request("/", headers, VIVOTEK_TWO_RULES))).await;
        assert_eq!(status, 401, "{headers:?}: {body}");
    }
    let (status, _) = finish(server.send(request("/?token=wrong", &[], VIVOTEK_TWO_RULES))).await;
    assert_eq!(status, 401);
    assert!(server.journal.try_recv().is_err(), "nothing journaled");

    // The right token, in the header or in the query.
    let client = server.send(request(
        "/",
        &[("Authorization", "Bearer s3cret")],
        VIVOTEK_TWO_RULES,
    ));
    server.answer(Ok(1)).await;
    server.answer(Ok(2)).await;
    assert_eq!(finish(client).await.0, 200);
    let client = server.send(request("/counter?token=s3cret", &[], VIVOTEK_TWO_RULES));
    server.answer(Ok(3)).await;
    server.answer(Ok(4)).await;
    assert_eq!(finish(client).await.0, 200);
}

#[tokio::test]
async fn answers_413_over_the_size_limit_and_records_why() {
    let mut server = start(Vendor::Vivotek, None, 256).await;

    // Declared too large: refused before the body is read (none is sent).
    let mut head = request("/", &[], b"");
    let declared = String::from_utf8(head.clone())
        .unwrap()
        .replace("Content-Length: 0", "Content-Length: 100000");
    head = declared.into_bytes();
    let client = server.send(head);
    let event = server.answer(Ok(1)).await;
    let status = status_of(&event);
    assert_eq!(status.state, DeviceState::DecodeError as i32);
    assert_eq!(
        status.reason,
        "request body larger than max_body_bytes (256)"
    );
    assert!(status.raw.is_empty());
    let (code, body) = finish(client).await;
    assert_eq!(code, 413, "{body}");

    // Chunked, so only reading finds out.
    let chunk = vec![b' '; 400];
    let mut chunked = format!(
        "POST / HTTP/1.1\r\nHost: agent\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
        chunk.len()
    )
    .into_bytes();
    chunked.extend_from_slice(&chunk);
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    let client = server.send(chunked);
    server.answer(Ok(2)).await;
    assert_eq!(finish(client).await.0, 413);

    // At the limit is fine (and here simply undecodable).
    let client = server.send(request("/", &[], &[b' '; 256]));
    server.answer(Ok(3)).await;
    assert_eq!(finish(client).await.0, 400);
}

#[tokio::test]
async fn answers_400_for_garbage_and_keeps_it_in_a_device_status() {
    let mut server = start(Vendor::Irisys, None, 1024 * 1024).await;
    let client = server.send(request("/", &[], b"certainly not json"));
    let record = server.next_record().await;
    let status = status_of(&record.event);
    assert_eq!(record.event.device_id, "door-push");
    assert_eq!(status.state, DeviceState::DecodeError as i32);
    assert!(
        status
            .reason
            .starts_with("irisys payload: payload is not valid JSON"),
        "{}",
        status.reason
    );
    assert_eq!(status.raw, b"certainly not json");
    // The 400 waits for the status to be durable too.
    let mut client = client;
    assert!(timeout(Duration::from_millis(150), &mut client)
        .await
        .is_err());
    record.reply.unwrap().send(Ok(1)).unwrap();
    let (code, body) = finish(client).await;
    assert_eq!(code, 400);
    assert_eq!(body, format!("{}\n", status.reason));

    // A field error names the field; a large body is kept truncated to 4 KiB.
    let mut big =
        br#"{"CountLogs":[{"Counts":[],"LogEntryId":1,"Timestamp":"2024-01-01T00:00:00Z","Pad":""#
            .to_vec();
    big.extend(std::iter::repeat_n(b'x', 10_000));
    big.extend_from_slice(br#""}]}"#);
    let client = server.send(request("/", &[], &big));
    let event = server.answer(Ok(2)).await;
    let status = status_of(&event);
    assert_eq!(status.raw.len(), 4096);
    assert_eq!(&status.raw[..], &big[..4096]);
    let (code, body) = finish(client).await;
    assert_eq!(code, 400);
    assert!(
        body.contains("field `CountLogs[0].Counts`: no register counts in or out"),
        "{body}"
    );

    // If even the status cannot be stored, the device is asked to send again.
    let client = server.send(request("/", &[], b"{"));
    server
        .answer(Err(RecordError::Journal("disk full".into())))
        .await;
    assert_eq!(finish(client).await.0, 503);
}

fn irisys_logs(logs: &[(u64, u64, u64)]) -> Vec<u8> {
    let logs: Vec<String> = logs
        .iter()
        .map(|(id, i, o)| {
            format!(
                r#"{{"Counts":[{{"Name":"Line 1","RegisterId":0,"Tags":["direction=IN"],"Value":{i}}},{{"Name":"Line 2","RegisterId":1,"Tags":["direction=OUT"],"Value":{o}}}],"LogEntryId":{id},"Timestamp":"2024-03-01T10:{id:02}:00Z"}}"#
            )
        })
        .collect();
    format!(
        r#"{{"CountLogs":[{}],"FriendlyDeviceSerial":"V4D-1"}}"#,
        logs.join(",")
    )
    .into_bytes()
}

#[tokio::test]
async fn running_totals_are_counted_once_even_across_a_refused_request() {
    let mut server = start(Vendor::Irisys, None, 1024 * 1024).await;

    // The first log is the baseline: nothing to store, still a 200.
    let (code, body) = finish(server.send(request("/", &[], &irisys_logs(&[(1, 100, 90)])))).await;
    assert_eq!((code, body.as_str()), (200, "stored 0\n"));

    // Two new logs: two differences. The journal refuses the second.
    let payload = irisys_logs(&[(2, 103, 90), (3, 104, 92)]);
    let client = server.send(request("/", &[], &payload));
    let e = server.answer(Ok(1)).await;
    let t = traffic(&e);
    assert_eq!((t.counter_id.as_str(), t.line.as_str()), ("V4D-1", "front"));
    assert_eq!((t.entries, t.exits), (3, 0));
    server
        .answer(Err(RecordError::Journal("disk full".into())))
        .await;
    assert_eq!(finish(client).await.0, 503);

    // The counter sends the same payload again: the stored difference is a duplicate now, the
    // refused one is counted.
    let client = server.send(request("/", &[], &payload));
    let e = server.answer(Ok(2)).await;
    assert_eq!((traffic(&e).entries, traffic(&e).exits), (1, 2));
    assert_eq!(finish(client).await, (200, "stored 1\n".into()));

    // And once more: all duplicates.
    assert_eq!(
        finish(server.send(request("/", &[], &payload))).await,
        (200, "stored 0\n".into())
    );

    // A reboot: the totals start again from zero.
    let client = server.send(request("/", &[], &irisys_logs(&[(4, 5, 1)])));
    let e = server.answer(Ok(3)).await;
    assert_eq!((traffic(&e).entries, traffic(&e).exits), (5, 1));
    assert_eq!(finish(client).await.0, 200);
    assert!(server.journal.try_recv().is_err());
}

#[tokio::test]
async fn other_paths_and_methods_are_refused() {
    let server = start(Vendor::Vivotek, None, 1024).await;
    let (code, _) = finish(server.send(request("/elsewhere", &[], b"{}"))).await;
    assert_eq!(code, 404);
    let get = b"GET /counter HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n".to_vec();
    let (code, _) = finish(server.send(get)).await;
    assert_eq!(code, 405);
}

#[tokio::test]
async fn stops_when_the_journal_goes_away() {
    let server = start(Vendor::Vivotek, None, 1024).await;
    let Server { journal, task, .. } = server;
    drop(journal);
    let result = timeout(PATIENCE, task)
        .await
        .expect("stops in time")
        .unwrap();
    assert!(matches!(result, Err(DriverError::SinkClosed { ref id }) if id == "door-push"));
}
