//! ESC/POS taps: pass a till's print stream on to its receipt printer unchanged, and read a copy
//! of it into sales (`escpos_tap` over TCP, `escpos_serial_tap` between two serial ports).
//!
//! ```text
//! till ──read──▶ write to printer ──▶ try_send copy ─(bounded)─▶ capture task
//!   ▲                                   full/closed: count bytes      ReceiptCapture (escpos +
//!   └──── printer's status bytes, unchanged ◀── printer                template) ─▶ sink
//! ```
//!
//! Printing comes first. Each read from the till is written to the printer before anything
//! else happens to it; the copy for the receipt reader goes through a bounded channel with
//! `try_send`, so a slow or stopped journal never holds up a till. Copies that do not fit are
//! dropped and counted; the capture reports the gap as a decode-error `DeviceStatus` when it
//! catches up, and keeps the receipts around the gap as raw text ([`capture`]). A closed sink
//! (agent shutting down) stops the capture, never the forwarding.
//!
//! Receipts end at a cut, at `ESC @` after text, after `idle_timeout_ms` without print data, or
//! when the till's connection closes. Events carry no reply channel: a till cannot take an
//! answer from its printer port.

pub mod capture;
mod config;
mod serial;
mod tcp;
#[cfg(test)]
mod tests;

pub use capture::ReceiptCapture;
pub use config::{
    EscPosSerialTapConfig, EscPosTapConfig, FlowControl, ReceiptTemplate, TemplateSourceError,
};
pub use serial::run_serial;
pub use tcp::run_tcp;

use std::sync::Arc;
use std::time::Duration;

use store_proto::v1::{DeviceState, DeviceStatus};
use store_proto::{Body, Event};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tracing::warn;

use crate::pos::escpos::EscPosOptions;
use crate::pos::template::Template;
use crate::{clock, Record, Sink};

/// Bytes read from the till in one go.
const READ_BYTES: usize = 4096;

/// One read from the till on its way to the receipt reader.
#[derive(Debug)]
struct Chunk {
    /// Bytes forwarded to the printer but dropped for the capture just before this chunk.
    dropped_before: u64,
    bytes: Vec<u8>,
}

/// The print path's side of the capture channel: never waits.
struct CaptureTx {
    id: String,
    tx: mpsc::Sender<Chunk>,
    /// Dropped since the last chunk that got through.
    dropped: u64,
}

impl CaptureTx {
    fn new(id: &str, tx: mpsc::Sender<Chunk>) -> Self {
        CaptureTx {
            id: id.to_owned(),
            tx,
            dropped: 0,
        }
    }

    /// Hands a copy of forwarded bytes to the capture, or counts them as dropped.
    fn offer(&mut self, bytes: &[u8]) {
        // Reserve first so a full channel costs no copy.
        match self.tx.try_reserve() {
            Ok(permit) => {
                permit.send(Chunk {
                    dropped_before: std::mem::take(&mut self.dropped),
                    bytes: bytes.to_vec(),
                });
            }
            Err(e) => {
                if self.dropped == 0 {
                    let why = match e {
                        mpsc::error::TrySendError::Full(()) => "behind",
                        mpsc::error::TrySendError::Closed(()) => "stopped",
                    };
                    warn!(driver_id = %self.id, why, "Receipt reader cannot keep up; printing goes on without it.");
                }
                self.dropped += bytes.len() as u64;
            }
        }
    }

    /// Tells the capture about bytes dropped at the very end of the stream. Waits for room: the
    /// stream is over, so no printing waits on it.
    async fn finish(self) {
        if self.dropped > 0 {
            let chunk = Chunk {
                dropped_before: self.dropped,
                bytes: Vec::new(),
            };
            if self.tx.send(chunk).await.is_err() {
                warn!(driver_id = %self.id, dropped = self.dropped, "Print data not read into sales: the journal is gone.");
            }
        }
    }
}

/// Starts the capture of one print stream; returns the print path's end of its channel.
/// `first` (a status) is recorded by the capture before any receipt, so recording it never
/// holds up printing.
fn start_capture(
    id: &str,
    template: Arc<Template>,
    options: EscPosOptions,
    idle: Duration,
    queue: usize,
    sink: Sink,
    first: Option<Body>,
) -> (CaptureTx, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(queue.max(1));
    let capture = ReceiptCapture::new(template, options);
    let task = tokio::spawn(run_capture(id.to_owned(), capture, rx, idle, sink, first));
    (CaptureTx::new(id, tx), task)
}

/// Reads copies into events until the print stream ends or the sink closes.
async fn run_capture(
    id: String,
    mut capture: ReceiptCapture,
    mut rx: mpsc::Receiver<Chunk>,
    idle: Duration,
    sink: Sink,
    first: Option<Body>,
) {
    if let Some(body) = first {
        if send(&sink, &id, body).await.is_err() {
            return;
        }
    }
    loop {
        let next = if capture.has_pending() {
            match tokio::time::timeout(idle, rx.recv()).await {
                Ok(next) => next,
                Err(_quiet) => {
                    if let Some(body) = capture.flush_idle() {
                        if send(&sink, &id, body).await.is_err() {
                            return;
                        }
                    }
                    continue;
                }
            }
        } else {
            rx.recv().await
        };
        let Some(chunk) = next else { break };
        let mut bodies = Vec::new();
        if chunk.dropped_before > 0 {
            bodies.extend(capture.gap(chunk.dropped_before));
        }
        bodies.extend(capture.push(&chunk.bytes));
        for body in bodies {
            // Dropping `rx` on return makes the print path count further copies as dropped.
            if send(&sink, &id, body).await.is_err() {
                return;
            }
        }
    }
    // The stream closed: its last receipt ends here.
    if let Some(body) = capture.flush_idle() {
        let _ = send(&sink, &id, body).await;
    }
}

/// Stamps and records one event (no reply: nobody to tell).
async fn send(sink: &Sink, id: &str, body: Body) -> Result<(), ()> {
    let mut event = Event {
        device_id: id.to_owned(),
        body: Some(body),
        ..Default::default()
    };
    clock::stamp(&mut event);
    sink.send(Record { event, reply: None })
        .await
        .map_err(|_| ())
}

/// A connection status event body.
fn status(state: DeviceState, reason: String) -> Body {
    Body::DeviceStatus(DeviceStatus {
        state: state as i32,
        reason,
        raw: Vec::new(),
    })
}

/// Copies the till's print stream to the printer, offering each read to the capture after it
/// was written. Returns at the till's end of stream, after passing the end on to the printer.
async fn forward<R, W>(mut till: R, mut printer: W, capture: &mut CaptureTx) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; READ_BYTES];
    loop {
        let n = till.read(&mut buf).await?;
        if n == 0 {
            // Pass the end on (a raw-port printer finishes the job and closes).
            let _ = printer.shutdown().await;
            return Ok(());
        }
        printer.write_all(&buf[..n]).await?;
        printer.flush().await?;
        capture.offer(&buf[..n]);
    }
}
