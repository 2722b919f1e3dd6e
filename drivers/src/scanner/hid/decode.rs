//! The pure half of the HID scanner drivers: one input report in, scanner inputs out.
//!
//! [`ReportDecoder`] is what the drivers' loop drives and what `store-agent replay-capture`
//! runs over a capture of reports, so a capture replays exactly as the driver records it. The
//! report decoders themselves are [`hidpos`](super::hidpos) and [`wedge`]; this
//! module only maps their results onto [`ScanInput`].

use crate::scanner::hid::hidpos::{HidPosDecoder, HidPosError, HidPosScan};
use crate::scanner::hid::wedge::{self, KeyboardLayout, WedgeDecoder, WedgeError, WedgeScan};
use crate::scanner::record::ScanInput;

/// A pure report decoder as the drivers' loop drives it.
pub trait ReportDecoder {
    /// The inputs of one input report, as hidraw delivers it.
    fn feed(&mut self, report: &[u8]) -> Vec<ScanInput>;
    /// Ends what is open after the idle timeout, when the device went away, or at the end of a
    /// capture.
    fn finish(&mut self) -> Vec<ScanInput>;
}

impl ReportDecoder for HidPosDecoder {
    fn feed(&mut self, report: &[u8]) -> Vec<ScanInput> {
        self.push_report(report)
            .map(hid_pos_input)
            .into_iter()
            .collect()
    }

    fn finish(&mut self) -> Vec<ScanInput> {
        self.flush_idle().map(hid_pos_input).into_iter().collect()
    }
}

fn hid_pos_input(result: Result<HidPosScan, HidPosError>) -> ScanInput {
    match result {
        Ok(scan) => {
            // The AIM id goes back in front, as serial scanners send it, for gs1::decode_scan.
            let mut raw = scan.aim.map(String::into_bytes).unwrap_or_default();
            raw.extend_from_slice(&scan.data);
            ScanInput::Scan {
                raw,
                extra_error: None,
            }
        }
        Err(e) => ScanInput::Error {
            reason: e.to_string(),
            raw: e.raw().to_vec(),
        },
    }
}

impl ReportDecoder for WedgeDecoder<KeyboardLayout> {
    fn feed(&mut self, report: &[u8]) -> Vec<ScanInput> {
        // A keyboard that numbers its reports (a composite device, e.g. with media keys) gets
        // its report id in front from hidraw: 9 bytes. Only the keyboard report has that size.
        let report = match report {
            [_id, keyboard @ ..] if keyboard.len() == wedge::REPORT_LEN => keyboard,
            _ => report,
        };
        let mut out: Vec<ScanInput> = self
            .push_report(report)
            .map(wedge_input)
            .into_iter()
            .collect();
        while let Some(r) = self.take_ready() {
            out.push(wedge_input(r));
        }
        out
    }

    fn finish(&mut self) -> Vec<ScanInput> {
        let mut out: Vec<ScanInput> = self.flush_idle().map(wedge_input).into_iter().collect();
        while let Some(r) = self.take_ready() {
            out.push(wedge_input(r));
        }
        out
    }
}

fn wedge_input(result: Result<WedgeScan, WedgeError>) -> ScanInput {
    match result {
        Ok(WedgeScan { data, errors }) => ScanInput::Scan {
            raw: data,
            extra_error: (!errors.is_empty()).then(|| {
                let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
                format!("keyboard: {}", errors.join("; "))
            }),
        },
        Err(e) => {
            let raw = match &e {
                WedgeError::BadReport { raw } => raw.clone(),
                WedgeError::TooLong { kept, .. } => kept.data.clone(),
                WedgeError::Dropped { .. } => Vec::new(),
            };
            ScanInput::Error {
                reason: e.to_string(),
                raw,
            }
        }
    }
}
