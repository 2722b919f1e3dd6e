//! `line_feed` driver: a TCP listener that takes one JSON event per line (schema in [`decode`])
//! and answers each line, in order, with `ok <seq>` once the event is durable in the journal or
//! `err <reason>` when the line is bad. A bad line does not close the connection, and the good
//! lines around it are kept.
//!
//! Lines are pipelined: a client may send many lines before reading answers; up to
//! `max_pending` are in flight per connection before reading pauses (back-pressure).

mod config;
pub mod decode;

pub use config::LineFeedConfig;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use crate::{clock, DriverError, Record, RecordError, Sink};
use store_proto::Event;

/// An answer the connection owes its client, in line order.
enum Answer {
    Pending(oneshot::Receiver<Result<u64, RecordError>>),
    Err(String),
}

/// Accepts connections until the listener fails.
pub async fn run(config: LineFeedConfig, sink: Sink) -> Result<(), DriverError> {
    let listener = crate::bind(&config.id, config.listen).await?;
    info!(driver_id = %config.id, addr = %config.listen, "Line feed listening.");
    loop {
        let (stream, peer) = listener.accept().await.map_err(|source| DriverError::Io {
            id: config.id.clone(),
            source,
        })?;
        if sink.is_closed() {
            return Err(DriverError::SinkClosed { id: config.id });
        }
        debug!(driver_id = %config.id, %peer, "Line feed client connected.");
        let config = config.clone();
        let sink = sink.clone();
        tokio::spawn(async move {
            if let Err(e) = serve(stream, &config, sink).await {
                debug!(driver_id = %config.id, %peer, error = %e, "Line feed client gone.");
            }
        });
    }
}

async fn serve(stream: TcpStream, config: &LineFeedConfig, sink: Sink) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let (read, write) = stream.into_split();
    // Bounded: when the journal is slower than the client, reading pauses instead of buffering.
    let (tx, rx) = mpsc::channel::<Answer>(config.max_pending.max(1));
    let writer = tokio::spawn(write_answers(rx, write));
    let mut reader = BufReader::with_capacity(64 * 1024, read);
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        let too_long = read_line(&mut reader, &mut line, config.max_line_bytes).await?;
        if line.is_empty() && !too_long {
            break; // EOF
        }
        let answer = if too_long {
            Answer::Err(decode::LineError::TooLong(config.max_line_bytes).to_string())
        } else {
            let text = trim_eol(&line);
            if text.iter().all(u8::is_ascii_whitespace) {
                continue; // blank lines are keep-alives, not events
            }
            match decode::decode_line(text) {
                Ok((device_id, body)) => {
                    let mut event = Event {
                        device_id,
                        body: Some(body),
                        ..Default::default()
                    };
                    clock::stamp(&mut event);
                    let (reply, rx) = oneshot::channel();
                    let record = Record {
                        event,
                        reply: Some(reply),
                    };
                    if sink.send(record).await.is_err() {
                        let _ = tx
                            .send(Answer::Err(RecordError::ShuttingDown.to_string()))
                            .await;
                        break;
                    }
                    Answer::Pending(rx)
                }
                Err(e) => {
                    warn!(driver_id = %config.id, error = %e, "Rejected line.");
                    Answer::Err(e.to_string())
                }
            }
        };
        if tx.send(answer).await.is_err() {
            break; // the writer failed: the client is gone
        }
    }
    drop(tx);
    // Answer everything already accepted before closing, so a client that half-closes still
    // learns which lines are stored.
    writer.await.map_err(std::io::Error::other)?
}

/// Reads one line into `buf` (terminator included). A line longer than `max` is consumed up to
/// its newline but not stored; the return value says so.
async fn read_line<R: AsyncBufReadExt + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<bool> {
    let mut too_long = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(too_long);
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        let n = chunk.len();
        if !too_long {
            if buf.len() + n > max + 2 {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        reader.consume(n);
        if done {
            return Ok(too_long);
        }
    }
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

async fn write_answers(
    mut rx: mpsc::Receiver<Answer>,
    write: tokio::net::tcp::OwnedWriteHalf,
) -> std::io::Result<()> {
    let mut out = BufWriter::new(write);
    while let Some(answer) = rx.recv().await {
        let text = match answer {
            Answer::Pending(done) => match done.await {
                Ok(Ok(seq)) => format!("ok {seq}\n"),
                Ok(Err(e)) => format!("err {e}\n"),
                Err(_) => format!("err {}\n", RecordError::ShuttingDown),
            },
            Answer::Err(reason) => format!("err {reason}\n"),
        };
        out.write_all(text.as_bytes()).await?;
        // Flush only when nothing else is ready, so a burst of answers goes out in few segments.
        if rx.is_empty() {
            out.flush().await?;
        }
    }
    out.flush().await
}

#[cfg(test)]
mod tests {
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
}
