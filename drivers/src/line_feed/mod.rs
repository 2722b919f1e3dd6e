//! `line_feed` driver: a TCP listener that takes one JSON event per line (schema in [`decode`])
//! and answers each line, in order, with `ok <seq>` once the event is durable in the journal or
//! `err <reason>` when the line is bad. A bad line does not close the connection, and the good
//! lines around it are kept.
//!
//! Lines are pipelined: a client may send many lines before reading answers; up to
//! `max_pending` are in flight per connection before reading pauses (back-pressure).
//!
//! Bounds (see [`crate::listen`] for the listener's): at most `max_connections` clients at once;
//! a connection that begins no line within `idle_timeout_secs`, takes longer than
//! `line_timeout_secs` to finish one, or does not take its answers within `line_timeout_secs` is
//! closed. Per connection, memory is a small read buffer plus one line of at most
//! `max_line_bytes` (released again after a long line), so a flood of connections costs little
//! and its memory comes back when it ends.

mod config;
pub mod decode;

pub use config::LineFeedConfig;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::listen::{Listener, ListenerStats, LogLimiter, Slot, LOG_EVERY};
use crate::{clock, DriverError, Record, RecordError, Sink};
use store_proto::Event;

/// Written to a client beyond `max_connections` before closing its connection.
pub const BUSY: &[u8] = b"err busy: too many connections\n";

/// Read buffer per connection. Small on purpose: a line longer than this is gathered in the
/// line buffer, which is bounded by `max_line_bytes`.
const READ_BUFFER: usize = 8 * 1024;

/// A line buffer grown past this by a long line is shrunk back, so idle connections stay small.
const KEEP_LINE_CAPACITY: usize = 8 * 1024;

/// An answer the connection owes its client, in line order.
enum Answer {
    Pending(oneshot::Receiver<Result<u64, RecordError>>),
    Err(String),
}

/// What the connections of one driver run share.
struct Shared {
    config: LineFeedConfig,
    sink: Sink,
    stats: Arc<ListenerStats>,
    timeout_log: LogLimiter,
}

/// Accepts connections until the listening socket fails (accept errors such as `EMFILE` are
/// waited out, see [`Listener::accept`]) or the journal goes away.
pub async fn run(config: LineFeedConfig, sink: Sink) -> Result<(), DriverError> {
    let listener = Listener::bind(&config.id, config.listen, config.max_connections, BUSY).await?;
    info!(
        driver_id = %config.id,
        addr = %config.listen,
        max_connections = config.max_connections,
        "Line feed listening."
    );
    serve_listener(listener, config, sink).await
}

/// Serves on a bound listener (tests bind port 0 and pass it in).
pub async fn serve_listener(
    mut listener: Listener,
    config: LineFeedConfig,
    sink: Sink,
) -> Result<(), DriverError> {
    let shared = Arc::new(Shared {
        stats: listener.stats().clone(),
        config,
        sink,
        timeout_log: LogLimiter::new(LOG_EVERY),
    });
    loop {
        let (stream, peer, slot) = listener.accept().await?;
        if shared.sink.is_closed() {
            return Err(DriverError::SinkClosed {
                id: shared.config.id.clone(),
            });
        }
        debug!(driver_id = %shared.config.id, %peer, "Line feed client connected.");
        let shared = shared.clone();
        tokio::spawn(async move {
            if let Err(e) = serve(stream, slot, &shared).await {
                debug!(driver_id = %shared.config.id, %peer, error = %e, "Line feed client gone.");
            }
        });
    }
}

/// How reading a line ended.
#[derive(Debug, PartialEq, Eq)]
enum LineRead {
    /// A line (terminator included, or cut by end of input); `too_long` when it was not stored.
    Line {
        too_long: bool,
    },
    Eof,
    /// No line begun within the idle timeout.
    Idle,
    /// A line begun but not finished within the line timeout.
    Slow,
}

async fn serve(stream: TcpStream, _slot: Slot, shared: &Shared) -> std::io::Result<()> {
    let config = &shared.config;
    let _ = stream.set_nodelay(true);
    let (read, write) = stream.into_split();
    // Bounded: when the journal is slower than the client, reading pauses instead of buffering.
    let (tx, rx) = mpsc::channel::<Answer>(config.max_pending.max(1));
    let line_timeout = Duration::from_secs(config.line_timeout_secs);
    let writer = tokio::spawn(write_answers(rx, write, line_timeout));
    let mut reader = BufReader::with_capacity(READ_BUFFER, read);
    let mut line = Vec::new();
    let limits = Limits {
        max: config.max_line_bytes,
        idle: Duration::from_secs(config.idle_timeout_secs),
        line: line_timeout,
    };
    loop {
        line.clear();
        if line.capacity() > KEEP_LINE_CAPACITY {
            line.shrink_to(KEEP_LINE_CAPACITY);
        }
        let answer = match read_line(&mut reader, &mut line, &limits).await? {
            LineRead::Eof => break,
            read @ (LineRead::Idle | LineRead::Slow) => {
                let what = if read == LineRead::Idle {
                    format!("no line within {} s", config.idle_timeout_secs)
                } else {
                    format!("line not finished within {} s", config.line_timeout_secs)
                };
                shared.timed_out(&what);
                let _ = tx.send(Answer::Err(format!("timeout: {what}"))).await;
                break;
            }
            LineRead::Line { too_long: true } => {
                Answer::Err(decode::LineError::TooLong(config.max_line_bytes).to_string())
            }
            LineRead::Line { too_long: false } => {
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
                        if shared.sink.send(record).await.is_err() {
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
            }
        };
        if tx.send(answer).await.is_err() {
            break; // the writer failed: the client is gone or does not read
        }
    }
    drop(tx);
    // Answer everything already accepted before closing, so a client that half-closes still
    // learns which lines are stored.
    writer.await.map_err(std::io::Error::other)?
}

impl Shared {
    fn timed_out(&self, what: &str) {
        let total = self.stats.timed_out.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(not_logged) = self.timeout_log.allow() {
            warn!(
                driver_id = %self.config.id,
                reason = what,
                not_logged,
                timed_out_total = total,
                "Closed a line feed connection: timeout."
            );
        }
    }
}

/// Bounds of one line.
struct Limits {
    /// Longest stored line in bytes, terminator excluded.
    max: usize,
    /// Until the first byte of a line.
    idle: Duration,
    /// From the first byte of a line to its newline.
    line: Duration,
}

/// Reads one line into `buf` (terminator included). A line longer than `limits.max` is consumed
/// up to its newline but not stored; the result says so.
async fn read_line<R: AsyncBufReadExt + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    limits: &Limits,
) -> std::io::Result<LineRead> {
    let mut too_long = false;
    let mut started = false;
    let mut deadline = Instant::now() + limits.idle;
    loop {
        let available = match tokio::time::timeout_at(deadline, reader.fill_buf()).await {
            Ok(read) => read?,
            Err(_) if started => return Ok(LineRead::Slow),
            Err(_) => return Ok(LineRead::Idle),
        };
        if available.is_empty() {
            return Ok(if started {
                LineRead::Line { too_long }
            } else {
                LineRead::Eof
            });
        }
        if !started {
            started = true;
            deadline = Instant::now() + limits.line;
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        let n = chunk.len();
        if !too_long {
            if buf.len() + n > limits.max + 2 {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        reader.consume(n);
        if done {
            return Ok(LineRead::Line { too_long });
        }
    }
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Writes the answers in order. A client that does not take an answer within `timeout` fails
/// the writer, which ends the connection: one that never reads must not pin it.
async fn write_answers(
    mut rx: mpsc::Receiver<Answer>,
    write: tokio::net::tcp::OwnedWriteHalf,
    timeout: Duration,
) -> std::io::Result<()> {
    let mut out = BufWriter::with_capacity(1024, write);
    while let Some(answer) = rx.recv().await {
        let text = match answer {
            Answer::Pending(done) => match done.await {
                Ok(Ok(seq)) => format!("ok {seq}\n"),
                Ok(Err(e)) => format!("err {e}\n"),
                Err(_) => format!("err {}\n", RecordError::ShuttingDown),
            },
            Answer::Err(reason) => format!("err {reason}\n"),
        };
        // Flush only when nothing else is ready, so a burst of answers goes out in few segments.
        let flush = rx.is_empty();
        within(timeout, async {
            out.write_all(text.as_bytes()).await?;
            if flush {
                out.flush().await?;
            }
            Ok(())
        })
        .await?;
    }
    within(timeout, out.flush()).await
}

async fn within(
    timeout: Duration,
    io: impl std::future::Future<Output = std::io::Result<()>>,
) -> std::io::Result<()> {
    tokio::time::timeout(timeout, io).await.unwrap_or_else(|_| {
        Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "client does not take its answers",
        ))
    })
}

#[cfg(test)]
mod tests;
