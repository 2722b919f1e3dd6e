//! `serial_scanner` driver: a barcode scanner on a serial port (RS-232, or USB "COM emulation").
//!
//! ```text
//! port ─read─▶ decode::SerialScanDecoder (framing, max_len; finish after idle_timeout_ms)
//!   frame ──gs1::decode_scan──▶ ModeState ──▶ Scan { data, raw, aim, symbology, gtin, elements,
//!                                                    error, mode, quantity, shift }
//!   frame error (stray / too long / unterminated) ──▶ DeviceStatus { DECODE_ERROR, reason, raw }
//! ```
//!
//! Every frame becomes exactly one event, except staff command barcodes (scan modes, quantity,
//! shift; see [`crate::scanner::mode`]), which change how the following scans are recorded:
//! invalid data is still a `Scan` (with `error` set and the raw bytes kept), and bytes that form
//! no frame are kept raw in a decode-error status. When the port opens, a `DeviceStatus
//! CONNECTED` naming it is recorded.
//!
//! When the port cannot be opened, or reading it fails or ends (device unplugged, port hung
//! up), [`run`] returns an error and the agent's supervisor records a `DeviceStatus
//! DISCONNECTED` with that error as the reason and restarts the driver with backoff. A frame
//! still pending at that point is recorded first.

pub(crate) mod config;
pub mod decode;
pub mod framing;
#[cfg(test)]
mod tests;

pub use crate::scanner::mode::ScanMode;
pub use config::{DataBits, Parity, SerialScannerConfig, StopBits};
pub use decode::SerialScanDecoder;

use tokio::io::AsyncReadExt;
use tokio::time::Instant;
use tokio_serial::SerialPortBuilderExt;
use tracing::{info, warn};

use crate::scanner::emit::{earliest, ScanEmitter};
use crate::scanner::record::ScanInput;
use crate::{DriverError, Sink};

/// Opens the port and records scans until reading fails or the sink closes.
pub async fn run(config: SerialScannerConfig, sink: Sink) -> Result<(), DriverError> {
    let id = config.id.clone();
    let io_err = |source: std::io::Error| DriverError::Io {
        id: id.clone(),
        source,
    };
    let mut port = open(&config).map_err(io_err)?;
    info!(driver_id = %config.id, path = %config.path, "Serial scanner opened.");
    let mut out = ScanEmitter::new(&config.id, sink, config.mode, config.modes.clone());
    out.connected(format!("opened {} at {} baud", config.path, config.baud))
        .await?;

    let mut decoder = SerialScanDecoder::new(config.framing, config.max_len);
    let idle = std::time::Duration::from_millis(config.idle_timeout_ms);
    let mut buf = [0u8; 1024];
    // When a partial frame is ended: `idle` after the last bytes, while any may be pending.
    let mut idle_deadline: Option<Instant> = None;
    loop {
        let wake = earliest(idle_deadline, out.next_deadline());
        let read = match wake {
            // Dropping the read at the deadline loses nothing: tokio's read is cancel-safe.
            Some(wake) => match tokio::time::timeout_at(wake, port.read(&mut buf)).await {
                Ok(read) => read,
                Err(_elapsed) => {
                    if idle_deadline.is_some_and(|d| d <= Instant::now()) {
                        idle_deadline = None;
                        send(&mut out, decoder.finish()).await?;
                    }
                    out.expire();
                    continue;
                }
            },
            None => port.read(&mut buf).await,
        };
        let error = match read {
            Ok(0) => std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("{} closed (device unplugged?)", config.path),
            ),
            Ok(n) => {
                idle_deadline = Some(Instant::now() + idle);
                send(&mut out, decoder.feed(&buf[..n])).await?;
                continue;
            }
            Err(e) => e,
        };
        // Keep what the scanner sent before it went away.
        send(&mut out, decoder.finish()).await?;
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

/// Records the scans (or frame errors) in the journal, in order, through the scan modes.
async fn send(out: &mut ScanEmitter, inputs: Vec<ScanInput>) -> Result<(), DriverError> {
    for input in inputs {
        out.record(input).await?;
    }
    Ok(())
}
