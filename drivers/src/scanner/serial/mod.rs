//! `serial_scanner` driver: a barcode scanner on a serial port (RS-232, or USB "COM emulation").
//!
//! ```text
//! port ─read─▶ FrameDecoder (framing, max_len; flush_idle after idle_timeout_ms)
//!   frame ──gs1::decode_scan──▶ Scan { data, raw, aim, symbology, gtin, elements, error, mode }
//!   frame error (stray / too long / unterminated) ──▶ DeviceStatus { DECODE_ERROR, reason, raw }
//! ```
//!
//! Every frame becomes exactly one event: invalid data is still a `Scan` (with `error` set and
//! the raw bytes kept), and bytes that form no frame are kept raw in a decode-error status.
//! Events go to the journal without a reply channel: a scanner cannot take an answer.
//!
//! When the port cannot be opened, or reading it fails or ends (device unplugged, port hung
//! up), [`run`] returns an error and the agent's supervisor restarts the driver with backoff.
//! A frame still pending at that point is recorded first.

mod config;
#[cfg(test)]
mod tests;

pub use config::{DataBits, Parity, ScanMode, SerialScannerConfig, StopBits};

use std::time::Duration;

use store_proto::v1::{DeviceState, DeviceStatus, Gs1Element, Scan};
use store_proto::{Body, Event};
use tokio::io::AsyncReadExt;
use tokio_serial::SerialPortBuilderExt;
use tracing::{info, warn};

use crate::scanner::gs1;
use crate::scanner::serial_framing::{FrameDecoder, FrameResult};
use crate::{clock, DriverError, Record, Sink};

/// Opens the port and records scans until reading fails or the sink closes.
pub async fn run(config: SerialScannerConfig, sink: Sink) -> Result<(), DriverError> {
    let id = config.id.clone();
    let io_err = |source: std::io::Error| DriverError::Io {
        id: id.clone(),
        source,
    };
    let mut port = open(&config).map_err(io_err)?;
    info!(driver_id = %config.id, path = %config.path, "Serial scanner opened.");

    let mut decoder = FrameDecoder::new(config.framing, config.max_len);
    let idle = Duration::from_millis(config.idle_timeout_ms);
    let mut buf = [0u8; 1024];
    // Whether bytes arrived since the last idle flush, i.e. whether a flush may find something.
    let mut pending = false;
    loop {
        let read = if pending {
            // Dropping the read at the timeout loses nothing: tokio's read is cancel-safe.
            match tokio::time::timeout(idle, port.read(&mut buf)).await {
                Ok(read) => read,
                Err(_elapsed) => {
                    pending = false;
                    if let Some(frame) = decoder.flush_idle() {
                        send(&config, &sink, frame).await?;
                    }
                    continue;
                }
            }
        } else {
            port.read(&mut buf).await
        };
        let error = match read {
            Ok(0) => std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("{} closed (device unplugged?)", config.path),
            ),
            Ok(n) => {
                pending = true;
                for frame in decoder.push(&buf[..n]) {
                    send(&config, &sink, frame).await?;
                }
                continue;
            }
            Err(e) => e,
        };
        // Keep what the scanner sent before it went away.
        if let Some(frame) = decoder.flush_idle() {
            send(&config, &sink, frame).await?;
        }
        warn!(driver_id = %config.id, path = %config.path, %error, "Serial scanner read failed.");
        return Err(io_err(error));
    }
}

/// Opens the serial port with the configured line settings (no flow control: scanners send).
fn open(config: &SerialScannerConfig) -> std::io::Result<tokio_serial::SerialStream> {
    let data_bits = match config.data_bits {
        DataBits::Five => tokio_serial::DataBits::Five,
        DataBits::Six => tokio_serial::DataBits::Six,
        DataBits::Seven => tokio_serial::DataBits::Seven,
        DataBits::Eight => tokio_serial::DataBits::Eight,
    };
    let parity = match config.parity {
        Parity::None => tokio_serial::Parity::None,
        Parity::Even => tokio_serial::Parity::Even,
        Parity::Odd => tokio_serial::Parity::Odd,
    };
    let stop_bits = match config.stop_bits {
        StopBits::One => tokio_serial::StopBits::One,
        StopBits::Two => tokio_serial::StopBits::Two,
    };
    tokio_serial::new(&config.path, config.baud)
        .data_bits(data_bits)
        .parity(parity)
        .stop_bits(stop_bits)
        .flow_control(tokio_serial::FlowControl::None)
        .open_native_async()
        .map_err(|e| {
            let e = std::io::Error::from(e);
            std::io::Error::new(e.kind(), format!("cannot open {}: {e}", config.path))
        })
}

/// Records one frame (or frame error) in the journal.
async fn send(
    config: &SerialScannerConfig,
    sink: &Sink,
    frame: FrameResult,
) -> Result<(), DriverError> {
    let event = frame_event(&config.id, config.mode, frame);
    // No reply channel: nobody to tell the seq to. A full journal makes this wait (back-pressure;
    // the port's kernel buffer holds the next scans meanwhile).
    sink.send(Record { event, reply: None })
        .await
        .map_err(|_| DriverError::SinkClosed {
            id: config.id.clone(),
        })
}

/// The event for one frame: a `Scan` (valid or not), or a decode-error `DeviceStatus` for bytes
/// that formed no frame. Stamped with the current time.
pub fn frame_event(device_id: &str, mode: ScanMode, frame: FrameResult) -> Event {
    let body = match frame {
        Ok(raw) => {
            let d = gs1::decode_scan(&raw);
            Body::Scan(Scan {
                data: d.data,
                raw,
                aim: d.aim.unwrap_or_default(),
                symbology: d.symbology,
                gtin: d.gtin.unwrap_or_default(),
                mode: store_proto::v1::ScanMode::from(mode) as i32,
                // AI (37)/(30) counts; 0 (none) means one unit.
                quantity: d
                    .quantity
                    .map_or(0, |q| i32::try_from(q).unwrap_or(i32::MAX)),
                error: d.error.unwrap_or_default(),
                elements: d
                    .elements
                    .into_iter()
                    .map(|e| Gs1Element {
                        ai: e.ai,
                        value: e.value,
                    })
                    .collect(),
                shift: 0,
            })
        }
        Err(e) => Body::DeviceStatus(DeviceStatus {
            state: DeviceState::DecodeError as i32,
            reason: e.to_string(),
            raw: e.bytes().to_vec(),
        }),
    };
    let mut event = Event {
        device_id: device_id.to_owned(),
        body: Some(body),
        ..Default::default()
    };
    clock::stamp(&mut event);
    event
}
