//! Scan modes for staff: printed command barcodes that change what the next scans mean.
//!
//! Every scanner kind (serial, HID POS, keyboard wedge) passes its decoded scans through one
//! [`ModeState`] before they are recorded. The rules, checked in this order on the scan's data
//! (the text after the AIM id, compared exactly):
//!
//! 1. **Mode barcodes** ([`ModeConfig::barcodes`], e.g. `MODE-COUNT` → stock count) switch the
//!    mode of every following item scan. The switch lasts until another mode barcode is scanned
//!    (the default mode's own barcode switches back), or, when [`ModeConfig::mode_timeout_secs`]
//!    is set, until the scanner has been idle that long: then the mode returns to the driver's
//!    configured default (`mode`, sale for scanners at a till).
//! 2. **Shift barcodes** ([`ModeConfig::shift_start_barcode`], [`ModeConfig::shift_end_barcode`])
//!    say whether the *next* badge scan starts or ends a shift.
//! 3. **Badges**: data starting with [`ModeConfig::badge_prefix`] and something after it is a
//!    staff badge. It is recorded as a scan with mode BADGE, `data` = the badge id (the text
//!    after the prefix; `raw` keeps all bytes) and `shift` = START or END when a shift barcode
//!    came just before, else UNSPECIFIED (the collector toggles on/off duty).
//! 4. **Quantity barcodes**: [`ModeConfig::quantity_prefix`] followed by 1 to 6 digits (value at
//!    least 1, e.g. `QTY12`) set the quantity of the *next item scan only*. An item that carries
//!    its own count (GS1 AI 37 or 30) is multiplied by it: `QTY3` then a case of 12 is 36 units.
//!    A quantity barcode with anything else after the prefix is not a command: it is recorded
//!    as an ordinary scan, so nothing a scanner reads is lost to a misprint.
//! 5. Anything else is an item scan, recorded with the current mode and pending quantity.
//!
//! **What is recorded.** Mode, shift and quantity barcodes are commands, not stock events: they
//! are not recorded as scans (HQ sees their effect in the `mode`, `shift` and `quantity` of the
//! scans that follow) and are logged instead. A quantity or shift action with no item or badge
//! scan after it within [`ModeConfig::pending_timeout_secs`] is dropped with a warning; so is a
//! quantity replaced by another quantity before any item. Badge scans and commands do not use
//! up a pending quantity; decode errors (bytes that formed no scan) touch no state at all.
//!
//! The module is pure: time comes in as an [`Instant`] argument, and what happened comes back
//! as [`Note`]s for the driver to log under its id.

mod config;
pub mod remote;
#[cfg(test)]
mod tests;

pub use config::ModeConfig;

use std::time::{Duration, Instant};

use serde::Deserialize;
use store_proto::v1::{self, Scan, ShiftAction};

/// What a scan is for; recorded in every item scan of a driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanMode {
    /// `sale`: an item sold (scanners at a till).
    #[default]
    Sale,
    /// `stock_count`: an item counted in a stock take.
    StockCount,
    /// `receiving`: goods received from a supplier.
    Receiving,
    /// `shrink`: damaged, expired or stolen goods written off.
    Shrink,
    /// `transfer_out`: goods sent to another store.
    TransferOut,
    /// `transfer_in`: goods received from another store.
    TransferIn,
}

impl From<ScanMode> for v1::ScanMode {
    fn from(m: ScanMode) -> Self {
        match m {
            ScanMode::Sale => v1::ScanMode::Sale,
            ScanMode::StockCount => v1::ScanMode::StockCount,
            ScanMode::Receiving => v1::ScanMode::Receiving,
            ScanMode::Shrink => v1::ScanMode::Shrink,
            ScanMode::TransferOut => v1::ScanMode::TransferOut,
            ScanMode::TransferIn => v1::ScanMode::TransferIn,
        }
    }
}

/// Largest quantity a quantity barcode can set (six digits).
pub const MAX_QUANTITY: u32 = 999_999;

/// Something the driver should log: a command taken, or state that expired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// The mode changed, by a mode barcode or (`timeout`) by returning to the default.
    ModeChanged {
        from: ScanMode,
        to: ScanMode,
        timeout: bool,
    },
    /// A mode barcode for the mode already in force.
    ModeUnchanged(ScanMode),
    /// A quantity barcode was scanned; it waits for the next item.
    QuantitySet(u32),
    /// A quantity was dropped without an item: `replaced` by another quantity, else timed out.
    QuantityDropped { quantity: u32, replaced: bool },
    /// A shift barcode was scanned; it waits for the next badge.
    ShiftSet(ShiftAction),
    /// A shift action was dropped without a badge: `replaced`, else timed out.
    ShiftDropped { action: ShiftAction, replaced: bool },
}

/// The result of one scan: the scan to record (`None` for a command) and what to log.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub scan: Option<Scan>,
    pub notes: Vec<Note>,
}

/// The mode state of one scanner.
#[derive(Debug, Clone)]
pub struct ModeState {
    config: ModeConfig,
    default: ScanMode,
    current: ScanMode,
    last_scan: Option<Instant>,
    /// Pending quantity and when it was scanned.
    quantity: Option<(u32, Instant)>,
    /// Pending shift action and when it was scanned.
    shift: Option<(ShiftAction, Instant)>,
}

impl ModeState {
    /// A scanner in its `default` mode with nothing pending.
    pub fn new(default: ScanMode, config: ModeConfig) -> Self {
        ModeState {
            config,
            default,
            current: default,
            last_scan: None,
            quantity: None,
            shift: None,
        }
    }

    /// The mode item scans get now (before any expiry due).
    pub fn current(&self) -> ScanMode {
        self.current
    }

    /// The quantity waiting for the next item, if any.
    pub fn pending_quantity(&self) -> Option<u32> {
        self.quantity.map(|(q, _)| q)
    }

    /// When [`ModeState::expire`] next has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let mode = (self.current != self.default)
            .then(|| self.deadline(self.last_scan?, self.config.mode_timeout_secs))
            .flatten();
        let pending = |at: Option<Instant>| self.deadline(at?, self.config.pending_timeout_secs);
        [
            mode,
            pending(self.quantity.map(|(_, at)| at)),
            pending(self.shift.map(|(_, at)| at)),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn deadline(&self, from: Instant, secs: u64) -> Option<Instant> {
        (secs > 0).then(|| from + Duration::from_secs(secs))
    }

    /// Applies the timeouts due at `now`: a switched mode back to default, pending quantity or
    /// shift action dropped.
    pub fn expire(&mut self, now: Instant) -> Vec<Note> {
        let mut notes = Vec::new();
        let timeout = self.config.pending_timeout_secs;
        if let Some((quantity, at)) = self.quantity {
            if self.deadline(at, timeout).is_some_and(|d| now >= d) {
                self.quantity = None;
                notes.push(Note::QuantityDropped {
                    quantity,
                    replaced: false,
                });
            }
        }
        if let Some((action, at)) = self.shift {
            if self.deadline(at, timeout).is_some_and(|d| now >= d) {
                self.shift = None;
                notes.push(Note::ShiftDropped {
                    action,
                    replaced: false,
                });
            }
        }
        if self.current != self.default {
            let due = self
                .last_scan
                .and_then(|at| self.deadline(at, self.config.mode_timeout_secs));
            if due.is_some_and(|d| now >= d) {
                notes.push(Note::ModeChanged {
                    from: self.current,
                    to: self.default,
                    timeout: true,
                });
                self.current = self.default;
            }
        }
        notes
    }

    /// Switches to `mode` at `now` as its mode barcode would (HQ's SetScanMode): timeouts due
    /// are applied first, and the idle timeout back to the default counts from `now`.
    pub fn set_mode(&mut self, mode: ScanMode, now: Instant) -> Vec<Note> {
        let mut notes = self.expire(now);
        self.last_scan = Some(now);
        if mode == self.current {
            notes.push(Note::ModeUnchanged(mode));
        } else {
            notes.push(Note::ModeChanged {
                from: self.current,
                to: mode,
                timeout: false,
            });
            self.current = mode;
        }
        notes
    }

    /// Takes one decoded scan (its `mode`, `quantity` and `shift` as decoded from the barcode)
    /// at time `now`: a command changes the state and records nothing; an item or badge scan
    /// comes back ready to record.
    pub fn apply(&mut self, mut scan: Scan, now: Instant) -> Applied {
        let mut notes = self.expire(now);
        self.last_scan = Some(now);
        let data = scan.data.as_str();

        if let Some(&mode) = self.config.barcodes.get(data) {
            if mode == self.current {
                notes.push(Note::ModeUnchanged(mode));
            } else {
                notes.push(Note::ModeChanged {
                    from: self.current,
                    to: mode,
                    timeout: false,
                });
                self.current = mode;
            }
            return Applied { scan: None, notes };
        }

        let shift = if !data.is_empty() && data == self.config.shift_start_barcode {
            Some(ShiftAction::Start)
        } else if !data.is_empty() && data == self.config.shift_end_barcode {
            Some(ShiftAction::End)
        } else {
            None
        };
        if let Some(action) = shift {
            if let Some((old, _)) = self.shift.replace((action, now)) {
                notes.push(Note::ShiftDropped {
                    action: old,
                    replaced: true,
                });
            }
            notes.push(Note::ShiftSet(action));
            return Applied { scan: None, notes };
        }

        if let Some(badge) = strip_nonempty(data, &self.config.badge_prefix) {
            let action = self
                .shift
                .take()
                .map_or(ShiftAction::Unspecified, |(a, _)| a);
            scan.data = badge.to_owned();
            scan.mode = v1::ScanMode::Badge as i32;
            scan.shift = action as i32;
            scan.quantity = 0;
            // A badge is no product: drop what the GS1 decoder may have read into it.
            scan.gtin.clear();
            scan.elements.clear();
            return Applied {
                scan: Some(scan),
                notes,
            };
        }

        if let Some(quantity) =
            strip_nonempty(data, &self.config.quantity_prefix).and_then(parse_quantity)
        {
            if let Some((old, _)) = self.quantity.replace((quantity, now)) {
                notes.push(Note::QuantityDropped {
                    quantity: old,
                    replaced: true,
                });
            }
            notes.push(Note::QuantitySet(quantity));
            return Applied { scan: None, notes };
        }

        scan.mode = v1::ScanMode::from(self.current) as i32;
        if let Some((quantity, _)) = self.quantity.take() {
            let per_scan = scan.quantity.max(1) as i64;
            scan.quantity = (per_scan * quantity as i64).min(i32::MAX as i64) as i32;
        }
        Applied {
            scan: Some(scan),
            notes,
        }
    }
}

/// The text after `prefix`, if `data` starts with a non-empty prefix and has more after it.
fn strip_nonempty<'a>(data: &'a str, prefix: &str) -> Option<&'a str> {
    if prefix.is_empty() {
        return None;
    }
    data.strip_prefix(prefix).filter(|rest| !rest.is_empty())
}

/// 1 to 6 ASCII digits, value at least 1.
fn parse_quantity(digits: &str) -> Option<u32> {
    if digits.is_empty() || digits.len() > 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits
        .parse()
        .ok()
        .filter(|q| (1..=MAX_QUANTITY).contains(q))
}
