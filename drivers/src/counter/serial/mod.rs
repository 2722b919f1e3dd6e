//! `counter_serial` driver: an infrared beam counter on a serial port, speaking our ASCII line
//! protocol ([`serial_line`](crate::counter::serial_line)).
//!
//! ```text
//! open port ──▶ DeviceStatus CONNECTED
//! read ─▶ decode::LineDecoder (LineSplitter ─line─▶ SerialLineCounter) ──▶ FootTraffic (IN/OUT ticks, TOTAL deltas)
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
pub mod decode;
#[cfg(test)]
mod tests;

pub use config::CounterSerialConfig;
pub use decode::{line_body, LineDecoder};

use store_proto::v1::DeviceState;
use store_proto::{Body, Event};
use tokio::io::AsyncReadExt;
use tokio_serial::SerialPortBuilderExt;
use tracing::{info, warn};

use crate::{clock, DriverError, Record, Sink};
use decode::status;

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

    let mut decoder = LineDecoder::new(config.id.clone(), config.line.clone());
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
                for line in decoder.lines(&buf[..n]) {
                    if let Some(body) = decoder.line(&line, clock::wall_ms()) {
                        record(body).await?;
                    }
                }
            }
            Err(e) => break e,
        }
    };
    warn!(driver_id = %config.id, path = %config.path, %error, "Serial people counter read failed.");
    if let Some(body) = decoder.finish() {
        record(body).await?;
    }
    record(status(
        DeviceState::Disconnected,
        format!("{}: {error}", config.path),
        Vec::new(),
    ))
    .await?;
    Err(io_err(error))
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
