//! The push receiver's connection limits over real sockets: the cap, the header timeout (idle
//! keep-alive included) and the body timeout. Each test has its own driver id, so the counters it
//! reads are its own.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::timeout;

use super::tests::{exchange, request};
use super::*;
use crate::counter::reading::Vendor;
use crate::listen::stats_for;

const PATIENCE: Duration = Duration::from_secs(10);

/// Starts a receiver that wants the token `t`; the journal receiver must be kept alive.
async fn start(
    id: &str,
    max_connections: usize,
    header_timeout_secs: u64,
    body_timeout_secs: u64,
) -> (SocketAddr, mpsc::Receiver<Record>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (sink, journal) = mpsc::channel(64);
    let config = CounterPushConfig {
        id: id.into(),
        listen: addr,
        vendor: Vendor::Xovis,
        token: Some("t".into()),
        max_body_bytes: 1024,
        line: "main".into(),
        max_connections,
        header_timeout_secs,
        body_timeout_secs,
    };
    tokio::spawn(serve(listener, config, sink));
    (addr, journal)
}

/// Reads until the server closes, within [`PATIENCE`].
async fn until_closed(stream: &mut TcpStream) -> String {
    let mut response = Vec::new();
    timeout(PATIENCE, stream.read_to_end(&mut response))
        .await
        .expect("connection closed within the timeout")
        .unwrap();
    String::from_utf8_lossy(&response).into_owned()
}

#[test]
fn busy_answer_is_well_formed() {
    let text = std::str::from_utf8(BUSY).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 503 "), "{head}");
    assert!(
        head.contains(&format!("Content-Length: {}\r\n", body.len())),
        "{head}"
    );
}

#[tokio::test]
async fn connections_beyond_the_cap_get_503_and_a_freed_slot_serves_again() {
    let id = "push-cap";
    let (addr, _journal) = start(id, 1, 10, 30).await;
    let stats = stats_for(id);
    // Holds the only slot, idle.
    let holder = TcpStream::connect(addr).await.unwrap();
    let mut refused = TcpStream::connect(addr).await.unwrap();
    let response = until_closed(&mut refused).await;
    assert!(response.starts_with("HTTP/1.1 503 "), "{response}");
    assert!(
        response.ends_with("busy: too many connections\n"),
        "{response}"
    );
    assert_eq!(stats.refused_busy.load(Ordering::Relaxed), 1);

    drop(holder);
    // Without the token: answered 401 by the handler, so served without touching the journal.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (status, _) = exchange(addr, request("/", &[], b"{}")).await;
        if status == 401 {
            break;
        }
        assert_eq!(status, 503);
        assert!(Instant::now() < deadline, "no slot freed in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn trickled_headers_and_idle_keep_alive_connections_are_closed() {
    let id = "push-headers";
    let (addr, _journal) = start(id, 4, 1, 30).await;
    let stats = stats_for(id);

    // Headers one byte every 100 ms: never complete within the timeout.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    slow.write_all(b"POST / HTTP/1.1\r\n").await.unwrap();
    let trickle = async {
        while slow.write_all(b"X").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    timeout(PATIENCE, trickle)
        .await
        .expect("trickling connection closed within the timeout");
    assert!(started.elapsed() >= Duration::from_millis(900));

    // A keep-alive connection: answered, then closed after a second without a next request.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    let keep_alive = String::from_utf8(request("/", &[], b"{}"))
        .unwrap()
        .replace("Connection: close\r\n", "");
    idle.write_all(keep_alive.as_bytes()).await.unwrap();
    let started = Instant::now();
    let response = until_closed(&mut idle).await;
    assert!(response.starts_with("HTTP/1.1 401 "), "{response}");
    assert!(started.elapsed() >= Duration::from_millis(900));

    let deadline = Instant::now() + PATIENCE;
    while stats.timed_out.load(Ordering::Relaxed) < 2 {
        assert!(Instant::now() < deadline, "timeouts not counted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_body_that_does_not_arrive_is_answered_408() {
    let id = "push-body";
    let (addr, mut journal) = start(id, 4, 10, 1).await;
    let stats = stats_for(id);
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = "POST / HTTP/1.1\r\nHost: agent\r\nAuthorization: Bearer t\r\nContent-Length: 100\r\n\r\n{\"partial\":";
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let response = until_closed(&mut stream).await;
    assert!(response.starts_with("HTTP/1.1 408 "), "{response}");
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(stats.timed_out.load(Ordering::Relaxed), 1);
    assert!(journal.try_recv().is_err(), "nothing journaled");
}
