//! From decoded scanner input to journal records, shared by every scanner kind.
//!
//! ```text
//! raw scan bytes ──gs1::decode_scan──▶ Scan ──ModeState::apply──▶ item / badge Scan event
//!                                                              └─▶ command: logged, not recorded
//! bytes that formed no scan ──────────▶ DeviceStatus { DECODE_ERROR, reason, raw }
//! device opened ──────────────────────▶ DeviceStatus { CONNECTED, reason = which device }
//! ```
//!
//! Events go to the journal without a reply channel: a scanner cannot take an answer. A full
//! journal makes [`ScanEmitter`] wait (back-pressure; the device's kernel buffer holds the next
//! scans meanwhile).

use std::time::Instant;

use store_proto::v1::{DeviceState, DeviceStatus, Gs1Element, Scan};
use store_proto::{Body, Event};
use tracing::{info, warn};

use crate::scanner::gs1;
use crate::scanner::mode::{ModeConfig, ModeState, Note, ScanMode};
use crate::{clock, DriverError, Record, Sink};

/// The scan decoded from `raw` (AIM id optional), with `mode` left unspecified, `quantity` the
/// barcode's own count (AI 37 or 30; 0 = one unit) and the decode error, if any, in `error`.
pub fn decode(raw: Vec<u8>) -> Scan {
    let d = gs1::decode_scan(&raw);
    Scan {
        data: d.data,
        raw,
        aim: d.aim.unwrap_or_default(),
        symbology: d.symbology,
        gtin: d.gtin.unwrap_or_default(),
        mode: 0,
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
    }
}

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
    modes: ModeState,
}

impl ScanEmitter {
    pub(crate) fn new(id: &str, sink: Sink, default: ScanMode, modes: ModeConfig) -> Self {
        ScanEmitter {
            id: id.to_owned(),
            sink,
            modes: ModeState::new(default, modes),
        }
    }

    /// Records the scan read as `raw`; `extra_error` (problems the device decoder had, such as
    /// keys a wedge layout could not type) is added to the scan's `error`.
    pub(crate) async fn scan(
        &mut self,
        raw: Vec<u8>,
        extra_error: Option<String>,
    ) -> Result<(), DriverError> {
        let mut scan = decode(raw);
        if let Some(extra) = extra_error {
            scan.error = if scan.error.is_empty() {
                extra
            } else {
                format!("{extra}; {}", scan.error)
            };
        }
        let applied = self.modes.apply(scan, now());
        self.log(&applied.notes);
        match applied.scan {
            Some(scan) => self.send(event(&self.id, Body::Scan(scan))).await,
            None => Ok(()),
        }
    }

    /// Records bytes that formed no scan, raw, with why.
    pub(crate) async fn decode_error(
        &mut self,
        reason: String,
        raw: Vec<u8>,
    ) -> Result<(), DriverError> {
        warn!(driver_id = %self.id, %reason, "Undecodable scanner input kept raw.");
        self.send(status(&self.id, DeviceState::DecodeError, reason, raw))
            .await
    }

    /// Records that the device is open, naming it.
    pub(crate) async fn connected(&mut self, reason: String) -> Result<(), DriverError> {
        self.send(status(&self.id, DeviceState::Connected, reason, Vec::new()))
            .await
    }

    /// When the mode state next expires something (for the I/O loop's timer).
    pub(crate) fn next_deadline(&self) -> Option<tokio::time::Instant> {
        // Exact: the mode state's instants come from tokio's clock (see `now`).
        self.modes
            .next_deadline()
            .map(tokio::time::Instant::from_std)
    }

    /// Applies the mode timeouts due now, logging what expired.
    pub(crate) fn expire(&mut self) {
        let notes = self.modes.expire(now());
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
