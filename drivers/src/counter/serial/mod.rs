//! `counter_serial` driver: an infrared beam counter on a serial port, speaking our ASCII line
//! protocol ([`serial_line`](crate::counter::serial_line)).
//!
//! ```text
//! open port ──▶ DeviceStatus CONNECTED
//! read ─▶ LineSplitter ─line─▶ SerialLineCounter ──▶ FootTraffic (IN/OUT ticks, TOTAL deltas)
//!                                  └─ bad line ──▶ DeviceStatus DECODE_ERROR (line kept raw)
//! read fails / port hung up ──▶ [partial line: DECODE_ERROR] ──▶ DeviceStatus DISCONNECTED ──▶ Err
//! ```
//!
//! When the port cannot be opened, or reading it fails or ends (device unplugged), [`run`]
//! returns an error and the agent's supervisor restarts the driver with backoff; a replugged
//! counter is picked up by the next start. The `DISCONNECTED` event is written once, when an
//! open port is lost, not at every failed reopen. Bytes after the last LF at that point are
//! not counted (a cut-off `IN 12` may have been `IN 120`) but kept raw in a decode error.
//!
//! `TOTAL` baselines live in memory: after a restart the first `TOTAL` is a baseline again, so
//! what the counter counted while it was away is not reported (it could not have been sent
//! anyway). Events go without a reply channel: the counter cannot take an answer.

mod config;
#[cfg(test)]
mod tests;

pub use config::CounterSerialConfig;

use store_proto::v1::{DeviceState, DeviceStatus};
use store_proto::{Body, Event};
use tokio::io::AsyncReadExt;
use tokio_serial::SerialPortBuilderExt;
use tracing::{info, warn};

use crate::counter::serial_line::{LineSplitter, SerialLineCounter};
use crate::{clock, DriverError, Record, Sink};

/// Opens the port and records counts until reading fails or the sink closes.
pub async fn run(config: CounterSerialConfig, sink: Sink) -> Result<(), DriverError> {
    let io_err = |source: std::io::Error| DriverError::Io {
        id: config.id.clone(),
        source,
    };
    let mut port = tokio_serial::new(&config.path, config.baud)
        .data_bits(tokio_serial::DataBits::Eight)
        .parity(tokio_serial::Parity::None)
        .stop_bits(tokio_serial::StopBits::One)
        .flow_control(tokio_serial::FlowControl::None)
        .open_native_async()
        .map_err(|e| {
            let e = std::io::Error::from(e);
            io_err(std::io::Error::new(
                e.kind(),
                format!("cannot open {}: {e}", config.path),
            ))
        })?;
    info!(driver_id = %config.id, path = %config.path, "Serial people counter opened.");
    let record = |body: Body| send(&config.id, &sink, body);
    record(status(
        DeviceState::Connected,
        format!("opened {}", config.path),
        Vec::new(),
    ))
    .await?;

    let mut splitter = LineSplitter::new();
    let mut counter = SerialLineCounter::new(config.id.clone(), config.line.clone());
    let mut buf = [0u8; 1024];
    let error = loop {
        match port.read(&mut buf).await {
            Ok(0) => {
                break std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("{} closed (device unplugged?)", config.path),
                )
            }
            Ok(n) => {
                for line in splitter.push(&buf[..n]) {
                    if let Some(body) = line_body(&mut counter, &line, clock::wall_ms()) {
                        record(body).await?;
                    }
                }
            }
            Err(e) => break e,
        }
    };
    warn!(driver_id = %config.id, path = %config.path, %error, "Serial people counter read failed.");
    if let Some(partial) = splitter.finish() {
        record(status(
            DeviceState::DecodeError,
            "line cut off when the port went away; not counted".into(),
            partial,
        ))
        .await?;
    }
    record(status(
        DeviceState::Disconnected,
        format!("{}: {error}", config.path),
        Vec::new(),
    ))
    .await?;
    Err(io_err(error))
}

/// What one received line becomes: foot traffic, a decode error with the line kept raw
/// (without its terminator), or nothing (blank, comment, baseline, `TOTAL` without news).
pub fn line_body(counter: &mut SerialLineCounter, line: &[u8], now_ms: i64) -> Option<Body> {
    match counter.feed(line, now_ms) {
        Ok(traffic) => traffic.map(Body::FootTraffic),
        Err(e) => {
            let raw = line.strip_suffix(b"\r").unwrap_or(line).to_vec();
            Some(status(DeviceState::DecodeError, e.to_string(), raw))
        }
    }
}

fn status(state: DeviceState, reason: String, raw: Vec<u8>) -> Body {
    Body::DeviceStatus(DeviceStatus {
        state: state as i32,
        reason,
        raw,
    })
}

async fn send(id: &str, sink: &Sink, body: Body) -> Result<(), DriverError> {
    let mut event = Event {
        device_id: id.to_owned(),
        body: Some(body),
        ..Default::default()
    };
    clock::stamp(&mut event);
    // No reply channel: nobody to tell the seq to. A full journal makes this wait, and the
    // port's kernel buffer holds the next lines meanwhile.
    sink.send(Record { event, reply: None })
        .await
        .map_err(|_| DriverError::SinkClosed { id: id.to_owned() })
}
