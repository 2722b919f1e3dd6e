//! The pure last step of every scanner kind: what a device decoder produced ([`ScanInput`]) in,
//! the event body the driver journals out, through the scanner's scan modes.
//!
//! ```text
//! ScanInput::Scan  ──gs1 decode (+ the device decoder's own problems in `error`)──▶ Scan
//!                  ──ModeState::apply──▶ item / badge Scan body, or a command (no body)
//! ScanInput::Error ──────────────────────▶ DeviceStatus { DECODE_ERROR, reason, raw }
//! ```
//!
//! Used by the drivers' [`emit`](super::emit) (which stamps, logs and sends) and by
//! `store-agent replay-capture`, so a capture replays exactly as the driver records it. Time is
//! the caller's: the drivers pass tokio's clock, a replay one instant for the whole capture.

use std::time::Instant;

use store_proto::v1::{DeviceState, DeviceStatus, Gs1Element, Scan};
use store_proto::Body;

use crate::scanner::gs1;
use crate::scanner::mode::{ModeConfig, ModeState, Note, ScanMode};

/// What a scanner's device decoder (framing, HID POS reports, keyboard reports) produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanInput {
    /// The bytes of one scan (AIM id in front when the scanner sends one), with problems the
    /// device decoder noted (such as keys a wedge layout could not type).
    Scan {
        raw: Vec<u8>,
        extra_error: Option<String>,
    },
    /// Input that formed no scan, kept raw, with why.
    Error { reason: String, raw: Vec<u8> },
}

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

/// [`decode`], with the device decoder's problems (`extra_error`) in front of the decode error.
pub fn decode_with(raw: Vec<u8>, extra_error: Option<String>) -> Scan {
    let mut scan = decode(raw);
    if let Some(extra) = extra_error {
        scan.error = if scan.error.is_empty() {
            extra
        } else {
            format!("{extra}; {}", scan.error)
        };
    }
    scan
}

/// A decode-error status body: bytes that formed no scan, kept raw.
pub fn decode_error(reason: String, raw: Vec<u8>) -> Body {
    Body::DeviceStatus(DeviceStatus {
        state: DeviceState::DecodeError as i32,
        reason,
        raw,
    })
}

/// What one input became: the body to journal (none for a staff command) and what to log.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub body: Option<Body>,
    pub notes: Vec<Note>,
}

/// One scanner's inputs → event bodies, with its scan-mode state.
#[derive(Debug, Clone)]
pub struct ScanRecorder {
    modes: ModeState,
}

impl ScanRecorder {
    /// A scanner in its `default` mode, with the staff command barcodes of `modes`.
    pub fn new(default: ScanMode, modes: ModeConfig) -> Self {
        ScanRecorder {
            modes: ModeState::new(default, modes),
        }
    }

    /// The body for `input`, taken at `now`.
    pub fn record(&mut self, input: ScanInput, now: Instant) -> Recorded {
        match input {
            ScanInput::Scan { raw, extra_error } => {
                let applied = self.modes.apply(decode_with(raw, extra_error), now);
                Recorded {
                    body: applied.scan.map(Body::Scan),
                    notes: applied.notes,
                }
            }
            ScanInput::Error { reason, raw } => Recorded {
                body: Some(decode_error(reason, raw)),
                notes: Vec::new(),
            },
        }
    }

    /// Switches the scan mode at `now` as a mode barcode would; returns what to log.
    pub fn set_mode(&mut self, mode: ScanMode, now: Instant) -> Vec<Note> {
        self.modes.set_mode(mode, now)
    }

    /// When the mode state next expires something.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.modes.next_deadline()
    }

    /// Applies the mode timeouts due at `now`; returns what expired.
    pub fn expire(&mut self, now: Instant) -> Vec<Note> {
        self.modes.expire(now)
    }
}
