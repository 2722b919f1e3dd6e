//! Tests of the line feed over real sockets, with a fake journal.

use super::*;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// A journal stand-in that answers every record with an increasing seq.
fn fake_journal() -> (Sink, tokio::task::JoinHandle<Vec<Event>>) {
    let (tx, mut rx) = mpsc::channel::<Record>(16);
    let handle = tokio::spawn(async move {
        let mut seen = Vec::new();
        let mut seq = 0;
        while let Some(r) = rx.recv().await {
            seq += 1;
            if let Some(reply) = r.reply {
                let _ = reply.send(Ok(seq));
            }
            seen.push(r.event);
        }
        seen
    });
    (tx, handle)
}

#[tokio::test]
async fn answers_in_order_and_keeps_good_lines_around_bad_ones() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let (sink, journal) = fake_journal();
    let config = LineFeedConfig {
        id: "feed".into(),
        listen: addr,
        max_line_bytes: 200,
        max_pending: 4,
        max_connections: 4,
        idle_timeout_secs: 300,
        line_timeout_secs: 30,
    };
    let server = tokio::spawn(run(config, sink));
    let mut stream = loop {
        match TcpStream::connect(addr).await {
            Ok(s) => break s,
            Err(_) => tokio::task::yield_now().await,
        }
    };
    let long = format!("{}\n", "x".repeat(500));
    let input = [
        r#"{"type":"scan","device_id":"s","data":"1"}"#.to_string() + "\n",
        "not json\r\n".into(),
        "\n".into(),
        long,
        r#"{"type":"scan","device_id":"s","data":"2"}"#.to_string() + "\n",
    ]
    .concat();
    stream.write_all(input.as_bytes()).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut answers = String::new();
    stream.read_to_string(&mut answers).await.unwrap();
    let lines: Vec<&str> = answers.lines().collect();
    assert_eq!(lines.len(), 4, "{answers}");
    assert_eq!(lines[0], "ok 1");
    assert!(lines[1].starts_with("err invalid event"), "{}", lines[1]);
    assert_eq!(lines[2], "err line longer than 200 bytes");
    assert_eq!(lines[3], "ok 2");
    server.abort();
    let _ = server.await;
    let seen = journal.await.unwrap();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|e| e.wall_time_ms > 0 && e.seq == 0));
}

const GOOD: &str = "{\"type\":\"scan\",\"device_id\":\"s\",\"data\":\"1\"}\n";

/// Longest a test waits for the server to act; far beyond what it needs.
const PATIENCE: Duration = Duration::from_secs(10);

fn config(id: &str, max_connections: usize, idle: u64, line: u64) -> LineFeedConfig {
    LineFeedConfig {
        id: id.into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        max_line_bytes: 200,
        max_pending: 16,
        max_connections,
        idle_timeout_secs: idle,
        line_timeout_secs: line,
    }
}

/// Starts the driver on a free loopback port; returns its address, stats and task.
async fn start(
    config: LineFeedConfig,
) -> (
    std::net::SocketAddr,
    Arc<ListenerStats>,
    tokio::task::JoinHandle<Result<(), DriverError>>,
) {
    let inner = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = inner.local_addr().unwrap();
    let listener = Listener::new(&config.id, inner, config.max_connections, BUSY);
    let stats = listener.stats().clone();
    let (sink, _journal) = fake_journal();
    let server = tokio::spawn(serve_listener(listener, config, sink));
    (addr, stats, server)
}

/// Reads one answer line, within [`PATIENCE`].
async fn answer(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> String {
    let mut line = String::new();
    tokio::time::timeout(PATIENCE, reader.read_line(&mut line))
        .await
        .expect("no answer in time")
        .unwrap();
    line
}

/// Reads until the server closes, within [`PATIENCE`].
async fn until_closed(stream: &mut TcpStream) -> String {
    let mut text = String::new();
    tokio::time::timeout(PATIENCE, stream.read_to_string(&mut text))
        .await
        .expect("connection not closed in time")
        .unwrap();
    text
}

/// Connects and has one good line answered; `None` when refused as busy.
async fn served_client(
    addr: std::net::SocketAddr,
) -> Option<(
    BufReader<tokio::net::tcp::OwnedReadHalf>,
    tokio::net::tcp::OwnedWriteHalf,
)> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    // The server may close before taking the line (refused): the write may then fail.
    let _ = write.write_all(GOOD.as_bytes()).await;
    let line = answer(&mut read).await;
    if line.starts_with("ok ") {
        Some((read, write))
    } else {
        assert_eq!(line, "err busy: too many connections\n");
        None
    }
}

#[tokio::test]
async fn connections_beyond_the_cap_are_refused_and_a_freed_slot_serves_again() {
    let (addr, stats, server) = start(config("feed-cap", 2, 300, 30)).await;
    let first = served_client(addr).await.expect("first client served");
    let _second = served_client(addr).await.expect("second client served");

    let mut third = TcpStream::connect(addr).await.unwrap();
    assert_eq!(
        until_closed(&mut third).await,
        "err busy: too many connections\n"
    );
    assert_eq!(stats.refused_busy.load(Ordering::Relaxed), 1);
    assert_eq!(stats.open.load(Ordering::Relaxed), 2);

    // The first client leaves: its slot comes back once the server has seen it go.
    drop(first);
    let deadline = Instant::now() + PATIENCE;
    let _again = loop {
        if let Some(client) = served_client(addr).await {
            break client;
        }
        assert!(Instant::now() < deadline, "no slot freed in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(!server.is_finished());
    server.abort();
}

#[tokio::test]
async fn a_connection_without_lines_is_closed_after_the_idle_timeout() {
    let (addr, stats, server) = start(config("feed-idle", 4, 1, 30)).await;
    // A connection that is used, then falls silent.
    let (mut read, _write) = served_client(addr).await.unwrap();
    let silent_from = Instant::now();
    assert_eq!(answer(&mut read).await, "err timeout: no line within 1 s\n");
    assert!(silent_from.elapsed() >= Duration::from_millis(900));
    assert_eq!(answer(&mut read).await, "", "connection not closed");
    // A connection that never sends anything.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    assert_eq!(
        until_closed(&mut silent).await,
        "err timeout: no line within 1 s\n"
    );
    assert_eq!(stats.timed_out.load(Ordering::Relaxed), 2);
    assert_eq!(stats.open.load(Ordering::Relaxed), 0);
    server.abort();
}

#[tokio::test]
async fn a_line_trickled_byte_by_byte_is_cut_off_after_the_line_timeout() {
    let (addr, stats, server) = start(config("feed-slow", 4, 60, 1)).await;
    let (mut read, mut write) = served_client(addr).await.unwrap();
    // One byte every 100 ms, never a newline: the idle timeout alone would never fire.
    let trickle = tokio::spawn(async move {
        let started = Instant::now();
        while write.write_all(b"x").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        started.elapsed()
    });
    assert_eq!(
        answer(&mut read).await,
        "err timeout: line not finished within 1 s\n"
    );
    assert_eq!(answer(&mut read).await, "", "connection not closed");
    let trickled = tokio::time::timeout(PATIENCE, trickle)
        .await
        .expect("writes still accepted after the close")
        .unwrap();
    assert!(trickled >= Duration::from_millis(900), "{trickled:?}");
    assert_eq!(stats.timed_out.load(Ordering::Relaxed), 1);
    server.abort();
}

#[tokio::test]
async fn long_lines_do_not_keep_their_buffer() {
    let mut line = Vec::new();
    let limits = Limits {
        max: 100_000,
        idle: Duration::from_secs(5),
        line: Duration::from_secs(5),
    };
    let input = format!("{}\n", "y".repeat(50_000));
    let mut reader = BufReader::with_capacity(READ_BUFFER, input.as_bytes());
    assert_eq!(
        read_line(&mut reader, &mut line, &limits).await.unwrap(),
        LineRead::Line { too_long: false }
    );
    assert_eq!(line.len(), 50_001);
    // What `serve` does before each line.
    line.clear();
    line.shrink_to(KEEP_LINE_CAPACITY);
    assert!(line.capacity() <= KEEP_LINE_CAPACITY);
    assert_eq!(
        read_line(&mut reader, &mut line, &limits).await.unwrap(),
        LineRead::Eof
    );
}
