//! `hid_pos_scanner` and `wedge_scanner` drivers: USB barcode scanners read as HID devices.
//!
//! ```text
//! HidSource (hidapi on a dedicated thread, or VirtualHidSource)
//!   opened ─────────────▶ DeviceStatus { CONNECTED, reason = which device }
//!   input report ──▶ decode::ReportDecoder: HidPosDecoder (reassembles continued reports) /
//!                    WedgeDecoder (keys → text; a 9-byte report is a numbered keyboard report:
//!                    its id byte is dropped)
//!       scan bytes ─────▶ emit: gs1 decode ─▶ scan modes ─▶ Scan event
//!       bad report ─────▶ DeviceStatus { DECODE_ERROR, reason, raw }
//!   no report for idle_timeout_ms with a scan open ─▶ decoder flushed
//!   device gone ────────▶ decoder flushed (nothing kept back), run() returns the error
//! ```
//!
//! The blocking side is a small trait, [`HidSource`]: open the device and say which it is, read
//! one input report with a timeout. [`HidApiSource`] implements it with hidapi (Linux hidraw,
//! no libudev needed); [`VirtualHidSource`] with reports fed from a list or a channel, for
//! tests inside one process; [`FileHidSource`] with fixed-size reports read from a FIFO or a
//! file (`device = { report_file = "…" }`), for demos and replays that play the scanner from
//! another process.
//!
//! The source runs on its own thread (hidapi calls block); it hands reports to the async loop
//! over a bounded channel, so a full journal stops the thread reading and the kernel's hidraw
//! buffer holds the next reports meanwhile. The thread ends within [`POLL`] once the loop is
//! gone (driver stopped or restarted), closing the device, so a restart can open it again.
//!
//! Hot-plug: when the device cannot be found or opened, or goes away while read, [`run_hid_pos`]
//! and [`run_wedge`] return the error; the agent's supervisor records a `DeviceStatus
//! DISCONNECTED` with it as the reason and restarts the driver with capped exponential backoff
//! until the scanner is back.

mod config;
pub mod decode;
mod file_source;
mod hidapi_source;
pub mod hidpos;
#[cfg(test)]
mod tests;
mod virtual_source;
pub mod wedge;

pub use config::{HidPosScannerConfig, HidSelector, WedgeScannerConfig};
pub use decode::ReportDecoder;
pub use file_source::FileHidSource;
pub use hidapi_source::HidApiSource;
pub use virtual_source::{VirtualHidDevice, VirtualHidSource};

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::scanner::emit::{earliest, ScanEmitter};
use crate::scanner::record::ScanInput;
use crate::{DriverError, Sink};
use hidpos::HidPosDecoder;
use wedge::WedgeDecoder;

/// HID POS: usage page "Bar Code Scanner" (HID Point of Sale Usage Tables 1.02).
pub const HID_POS_USAGE_PAGE: u16 = 0x8C;
/// HID POS: usage "Bar Code Scanner".
pub const HID_POS_USAGE: u16 = 0x02;
/// Keyboard wedge: usage page "Generic Desktop".
pub const KEYBOARD_USAGE_PAGE: u16 = 0x01;
/// Keyboard wedge: usage "Keyboard".
pub const KEYBOARD_USAGE: u16 = 0x06;

/// How long one blocking read waits before the reader thread checks whether it is still wanted.
pub const POLL: Duration = Duration::from_millis(100);

/// Reports waiting between the reader thread and the async loop.
const CHANNEL: usize = 64;

/// A HID device as the drivers need it. Its calls may block; they run on a thread of their own.
pub trait HidSource: Send + 'static {
    /// Opens the device; returns a description of which device it is (for the CONNECTED status
    /// and the logs), such as `/dev/hidraw3 (0c2e:0b61 Honeywell 1900G serial 17012B0E7C)`.
    fn open(&mut self) -> Result<String, HidSourceError>;

    /// Waits at most `timeout` for one input report (as hidraw delivers it: with the report id
    /// first when the device numbers its reports). `Ok(None)`: none came in time.
    fn read_report(&mut self, timeout: Duration) -> Result<Option<Vec<u8>>, HidSourceError>;
}

/// Why a HID device cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HidSourceError {
    #[error("no HID device matches {0}")]
    NotFound(String),
    #[error("cannot open HID device {what}: {reason}")]
    Open { what: String, reason: String },
    #[error("HID device {what} went away: {reason}")]
    Gone { what: String, reason: String },
}

/// Runs a `hid_pos_scanner` on the configured hidapi device (or report file).
pub async fn run_hid_pos(config: HidPosScannerConfig, sink: Sink) -> Result<(), DriverError> {
    if let HidSelector::ReportFile { path, report_len } = &config.device {
        let source = FileHidSource::new(path, report_len.unwrap_or(hidpos::REPORT_LEN));
        return run_hid_pos_with(config, source, sink).await;
    }
    let source = HidApiSource::new(config.device.clone(), HID_POS_USAGE_PAGE, HID_POS_USAGE);
    run_hid_pos_with(config, source, sink).await
}

/// Runs a `hid_pos_scanner` on `source` instead of the configured device (tests, demos).
pub async fn run_hid_pos_with<S: HidSource>(
    config: HidPosScannerConfig,
    source: S,
    sink: Sink,
) -> Result<(), DriverError> {
    let decoder =
        HidPosDecoder::new(config.max_len).with_length_convention(config.length_convention);
    let out = ScanEmitter::new(&config.id, sink, config.mode, config.modes.clone());
    run_loop(&config.id, source, decoder, config.idle_timeout_ms, out).await
}

/// Runs a `wedge_scanner` on the configured hidapi device (or report file).
pub async fn run_wedge(config: WedgeScannerConfig, sink: Sink) -> Result<(), DriverError> {
    if let HidSelector::ReportFile { path, report_len } = &config.device {
        let source = FileHidSource::new(path, report_len.unwrap_or(wedge::REPORT_LEN));
        return run_wedge_with(config, source, sink).await;
    }
    let source = HidApiSource::new(config.device.clone(), KEYBOARD_USAGE_PAGE, KEYBOARD_USAGE);
    run_wedge_with(config, source, sink).await
}

/// Runs a `wedge_scanner` on `source` instead of the configured device (tests, demos).
pub async fn run_wedge_with<S: HidSource>(
    config: WedgeScannerConfig,
    source: S,
    sink: Sink,
) -> Result<(), DriverError> {
    let decoder =
        WedgeDecoder::new(config.layout, &config.terminators).with_max_len(config.max_len);
    let out = ScanEmitter::new(&config.id, sink, config.mode, config.modes.clone());
    run_loop(&config.id, source, decoder, config.idle_timeout_ms, out).await
}

/// What the reader thread tells the async loop.
enum FromDevice {
    Opened(String),
    Report(Vec<u8>),
    Failed(HidSourceError),
}

/// The async side: reports in, events out, until the device fails or the sink closes.
async fn run_loop<S: HidSource, D: ReportDecoder>(
    id: &str,
    source: S,
    mut decoder: D,
    idle_timeout_ms: u64,
    mut out: ScanEmitter,
) -> Result<(), DriverError> {
    let (tx, mut rx) = mpsc::channel(CHANNEL);
    std::thread::Builder::new()
        .name("hid-scanner".to_owned())
        .spawn(move || read_device(source, tx))
        .map_err(|source| DriverError::Io {
            id: id.to_owned(),
            source,
        })?;

    let idle = (idle_timeout_ms > 0).then(|| Duration::from_millis(idle_timeout_ms));
    // When an open scan is ended for lack of reports (reset by every report).
    let mut idle_deadline: Option<Instant> = None;
    loop {
        let wake = earliest(idle_deadline, out.next_deadline());
        let message = match wake {
            // recv is cancel-safe: a message is either returned or left in the channel.
            Some(wake) => match tokio::time::timeout_at(wake, rx.recv()).await {
                Ok(message) => message,
                Err(_elapsed) => {
                    if idle_deadline.is_some_and(|d| d <= Instant::now()) {
                        idle_deadline = None;
                        record(&mut out, decoder.finish()).await?;
                    }
                    out.expire();
                    continue;
                }
            },
            None => rx.recv().await,
        };
        let error = match message {
            Some(FromDevice::Opened(what)) => {
                info!(driver_id = %id, device = %what, "HID scanner opened.");
                out.connected(format!("opened {what}")).await?;
                continue;
            }
            Some(FromDevice::Report(report)) => {
                idle_deadline = idle.map(|idle| Instant::now() + idle);
                record(&mut out, decoder.feed(&report)).await?;
                continue;
            }
            Some(FromDevice::Failed(error)) => error,
            // The thread sends Failed before it ends; without it, it panicked.
            None => HidSourceError::Gone {
                what: id.to_owned(),
                reason: "the reader thread stopped".to_owned(),
            },
        };
        // Keep what the scanner sent before it went away.
        record(&mut out, decoder.finish()).await?;
        warn!(driver_id = %id, %error, "HID scanner failed.");
        return Err(DriverError::Hid {
            id: id.to_owned(),
            source: error,
        });
    }
}

/// Records what the decoder produced, in order.
async fn record(out: &mut ScanEmitter, inputs: Vec<ScanInput>) -> Result<(), DriverError> {
    for input in inputs {
        out.record(input).await?;
    }
    Ok(())
}

/// The reader thread: opens the source and passes its reports on until it fails or nobody
/// listens any more. Dropping `source` on return closes the device.
fn read_device<S: HidSource>(mut source: S, tx: mpsc::Sender<FromDevice>) {
    match source.open() {
        Ok(what) => {
            if tx.blocking_send(FromDevice::Opened(what)).is_err() {
                return;
            }
        }
        Err(e) => {
            let _ = tx.blocking_send(FromDevice::Failed(e));
            return;
        }
    }
    while !tx.is_closed() {
        match source.read_report(POLL) {
            Ok(None) => {}
            Ok(Some(report)) => {
                // Blocks while the loop is behind (journal back-pressure).
                if tx.blocking_send(FromDevice::Report(report)).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.blocking_send(FromDevice::Failed(e));
                return;
            }
        }
    }
}
