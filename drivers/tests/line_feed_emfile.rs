//! The line feed survives running out of file descriptors: with the soft `RLIMIT_NOFILE` lowered
//! so that accepting fails with `EMFILE`, the driver keeps running (backing off and retrying
//! instead of failing), a connected client keeps being answered, and once descriptors are free
//! again new clients are served without a restart.
//!
//! Alone in its own test binary because the limit is the whole process's. The limit is changed
//! with util-linux's `prlimit` on our own pid (no unsafe code).

use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use store_drivers::line_feed::{serve_listener, LineFeedConfig, BUSY};
use store_drivers::listen::Listener;
use store_drivers::Record;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const GOOD: &[u8] = b"{\"type\":\"scan\",\"device_id\":\"s\",\"data\":\"1\"}\n";
const PATIENCE: Duration = Duration::from_secs(10);

fn open_fds() -> u64 {
    // The directory handle itself is one of them; it is closed again right after.
    std::fs::read_dir("/proc/self/fd").unwrap().count() as u64 - 1
}

fn soft_nofile() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    line.split_whitespace().nth(3).unwrap().parse().unwrap()
}

fn set_soft_nofile(limit: u64) {
    let status = Command::new("prlimit")
        .arg(format!("--pid={}", std::process::id()))
        .arg(format!("--nofile={limit}:"))
        .status()
        .expect("run prlimit (util-linux)");
    assert!(status.success(), "prlimit failed: {status}");
    assert_eq!(soft_nofile(), limit);
}

/// Sends one good line and reads its answer.
async fn ask(read: &mut BufReader<OwnedReadHalf>, write: &mut OwnedWriteHalf) -> String {
    write.write_all(GOOD).await.unwrap();
    let mut line = String::new();
    tokio::time::timeout(PATIENCE, read.read_line(&mut line))
        .await
        .expect("an answer in time")
        .unwrap();
    line
}

async fn client(addr: SocketAddr) -> (BufReader<OwnedReadHalf>, OwnedWriteHalf) {
    let (read, write) = TcpStream::connect(addr).await.unwrap().into_split();
    (BufReader::new(read), write)
}

#[tokio::test]
async fn emfile_on_accept_is_waited_out_without_failing_the_driver() {
    let (sink, mut journal) = mpsc::channel::<Record>(64);
    tokio::spawn(async move {
        let mut seq = 0;
        while let Some(record) = journal.recv().await {
            seq += 1;
            let _ = record.reply.unwrap().send(Ok(seq));
        }
    });
    let inner = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = inner.local_addr().unwrap();
    let config = LineFeedConfig {
        id: "feed-emfile".into(),
        listen: addr,
        max_line_bytes: 1024,
        max_pending: 16,
        max_connections: 1000,
        idle_timeout_secs: 300,
        line_timeout_secs: 30,
    };
    let listener = Listener::new(&config.id, inner, config.max_connections, BUSY);
    let stats = listener.stats().clone();
    let server = tokio::spawn(serve_listener(listener, config, sink));

    let (mut good_read, mut good_write) = client(addr).await;
    assert!(ask(&mut good_read, &mut good_write)
        .await
        .starts_with("ok "));

    let original = soft_nofile();
    // An odd number of spare descriptors: each served connection takes two (ours and the
    // server's), so the last one goes to a client whose connection the server cannot accept.
    set_soft_nofile(open_fds() + 15);
    let mut flood = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    // Two failed accepts: the driver retried after the first instead of stopping.
    while stats.accept_errors.load(Ordering::Relaxed) < 2 {
        assert!(Instant::now() < deadline, "accept never failed");
        assert!(!server.is_finished(), "driver stopped: {:?}", server.await);
        match TcpStream::connect(addr).await {
            Ok(stream) => flood.push(stream),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    // The connected client is still served while the table is full.
    assert!(ask(&mut good_read, &mut good_write)
        .await
        .starts_with("ok "));

    // Descriptors come free: the pending connection is taken, and new clients are served.
    drop(flood);
    let deadline = Instant::now() + PATIENCE;
    let (mut read, mut write) = loop {
        if let Ok(stream) = TcpStream::connect(addr).await {
            let (read, write) = stream.into_split();
            break (BufReader::new(read), write);
        }
        assert!(Instant::now() < deadline, "no descriptor came free");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(ask(&mut read, &mut write).await.starts_with("ok "));
    assert!(!server.is_finished(), "driver stopped: {:?}", server.await);
    set_soft_nofile(original);
}
