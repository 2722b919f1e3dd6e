//! From decoded scanner input to journal records, shared by every scanner kind.
//!
//! ```text
//! ScanInput ──record::ScanRecorder (gs1 decode, scan modes)──▶ body ──stamp──▶ sink
//!                                                          └─▶ command: logged, not recorded
//! device opened ──────────────────────▶ DeviceStatus { CONNECTED, reason = which device }
//! ```
//!
//! The pure part is [`record`](super::record), which `replay-capture` runs too; this module
//! adds the clock, the logs and the journal.
//!
//! Events go to the journal without a reply channel: a scanner cannot take an answer. A full
//! journal makes `ScanEmitter` wait (back-pressure; the device's kernel buffer holds the next
//! scans meanwhile).

use std::time::Instant;

use store_proto::v1::{DeviceState, DeviceStatus};
use store_proto::{Body, Event};
use tracing::{info, warn};

use crate::scanner::mode::remote::RemoteMode;
use crate::scanner::mode::{ModeConfig, Note, ScanMode};
use crate::scanner::record::{ScanInput, ScanRecorder};
use crate::{clock, DriverError, Record, Sink};

/// An event of `device_id` with `body`, stamped with the current time.
pub fn event(device_id: &str, body: Body) -> Event {
    let mut event = Event {
        device_id: device_id.to_owned(),
        body: Some(body),
        ..Default::default()
    };
    clock::stamp(&mut event);
    event
}

/// A device status event (`raw` empty unless it is a decode error).
pub fn status(device_id: &str, state: DeviceState, reason: String, raw: Vec<u8>) -> Event {
    event(
        device_id,
        Body::DeviceStatus(DeviceStatus {
            state: state as i32,
            reason,
            raw,
        }),
    )
}

/// Records one scanner's scans in the journal, through its scan-mode state.
pub(crate) struct ScanEmitter {
    id: String,
    sink: Sink,
    recorder: ScanRecorder,
    /// Modes asked for from outside (HQ), applied before the next scan.
    remote: RemoteMode,
}

impl ScanEmitter {
    pub(crate) fn new(id: &str, sink: Sink, default: ScanMode, modes: ModeConfig) -> Self {
        ScanEmitter {
            id: id.to_owned(),
            sink,
            recorder: ScanRecorder::new(default, modes),
            remote: RemoteMode::register(id),
        }
    }

    /// Records what a device decoder produced: a scan through the scan modes (a staff
    /// command is logged, not recorded), or input that formed no scan, raw, with why.
    pub(crate) async fn record(&mut self, input: ScanInput) -> Result<(), DriverError> {
        if let ScanInput::Error { reason, .. } = &input {
            warn!(driver_id = %self.id, %reason, "Undecodable scanner input kept raw.");
        }
        if let Some(mode) = self.remote.take() {
            let notes = self.recorder.set_mode(mode, now());
            self.log(&notes);
        }
        let recorded = self.recorder.record(input, now());
        self.log(&recorded.notes);
        match recorded.body {
            Some(body) => self.send(event(&self.id, body)).await,
            None => Ok(()),
        }
    }

    /// Records that the device is open, naming it.
    pub(crate) async fn connected(&mut self, reason: String) -> Result<(), DriverError> {
        self.send(status(&self.id, DeviceState::Connected, reason, Vec::new()))
            .await
    }

    /// When the mode state next expires something (for the I/O loop's timer).
    pub(crate) fn next_deadline(&self) -> Option<tokio::time::Instant> {
        // Exact: the mode state's instants come from tokio's clock (see `now`).
        self.recorder
            .next_deadline()
            .map(tokio::time::Instant::from_std)
    }

    /// Applies the mode timeouts due now, logging what expired.
    pub(crate) fn expire(&mut self) {
        let notes = self.recorder.expire(now());
        self.log(&notes);
    }

    async fn send(&self, event: Event) -> Result<(), DriverError> {
        self.sink
            .send(Record { event, reply: None })
            .await
            .map_err(|_| DriverError::SinkClosed {
                id: self.id.clone(),
            })
    }

    fn log(&self, notes: &[Note]) {
        let id = &self.id;
        for note in notes {
            match note {
                Note::ModeChanged { from, to, timeout } => {
                    info!(driver_id = %id, ?from, ?to, timeout, "Scan mode changed.")
                }
                Note::ModeUnchanged(mode) => {
                    info!(driver_id = %id, ?mode, "Scan mode barcode for the mode in force.")
                }
                Note::QuantitySet(quantity) => {
                    info!(driver_id = %id, quantity, "Quantity set for the next item.")
                }
                Note::QuantityDropped { quantity, replaced } => warn!(
                    driver_id = %id, quantity, replaced,
                    "Quantity dropped: no item scanned after it."
                ),
                Note::ShiftSet(action) => {
                    info!(driver_id = %id, ?action, "Shift action set for the next badge.")
                }
                Note::ShiftDropped { action, replaced } => warn!(
                    driver_id = %id, ?action, replaced,
                    "Shift action dropped: no badge scanned after it."
                ),
            }
        }
    }
}

/// "Now" for the mode state: tokio's clock (so paused-time tests can move it) as a std instant.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// The earlier of two optional deadlines.
pub(crate) fn earliest(
    a: Option<tokio::time::Instant>,
    b: Option<tokio::time::Instant>,
) -> Option<tokio::time::Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
