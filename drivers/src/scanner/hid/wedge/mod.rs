//! Pure, incremental decoder of keyboard-wedge scanners: HID boot keyboard reports → scans.
//!
//! A wedge scanner is a USB keyboard that types the barcode. Its input report is the boot
//! keyboard report (HID 1.11, appendix B.1), 8 bytes:
//!
//! ```text
//! byte 0     modifiers: bit0 LCtrl, bit1 LShift, bit2 LAlt, bit3 LGUI,
//!                       bit4 RCtrl, bit5 RShift, bit6 RAlt (AltGr), bit7 RGUI
//! byte 1     reserved
//! bytes 2-7  usage ids of the keys held down (HID Usage Tables, Keyboard/Keypad page 0x07), 0 = none
//! ```
//!
//! The report lists the keys *held*, so a key press is a usage that was not in the previous
//! report: a key held over several reports types once, and a character typed twice in a row needs
//! the key to leave the array in between (scanners send an all-zero release report after each
//! key). Keys new in the same report are taken in slot order. Usages 0xE0-0xE7 in the array are
//! ignored (byte 0 is the authority on modifiers). A report with ErrorRollOver (0x01) in a slot
//! is ignored entirely and does not change the held keys; POSTFail (0x02) and ErrorUndefined
//! (0x03) likewise, but are noted as [`KeyError::Device`].
//!
//! What a key types depends on the keyboard layout the scanner is set to ([`Layout`]; built in:
//! [`KeyboardLayout::Us`] and [`KeyboardLayout::De`], German QWERTZ). Bytes are Latin-1 (the
//! default character set of Code 128 and QR): `ä` is 0xE4. Further rules:
//! - Shift is left or right Shift. AltGr is right Alt, or Ctrl together with left Alt (as
//!   Windows reads it).
//! - Ctrl with a key typing `@`, `A`-`Z`, `[`, `\`, `]`, `^`, `_` or `a`-`z` types that character
//!   & 0x1F, and `?` types DEL: Ctrl+] (modifier 0x01, usage 0x30 on US) is GS (0x1D), the GS1
//!   separator.
//! - Alt held while keypad digits are pressed (usages 0x59-0x62) types, when Alt is released,
//!   the byte with that decimal value: Alt + keypad 0, 2, 9 is GS. Code pages are not translated
//!   (Windows reads a leading 0 as "ANSI" and no 0 as "OEM"); values above 255 are an error.
//!   Keypad digits without Alt type digits.
//! - Dead keys (German `^`, `´`, `` ` ``) combine with the next key as Windows does: with a
//!   vowel into the accented letter, with space into the accent alone, with anything else into
//!   the accent followed by that character.
//! - A terminator key ([`Terminator`]: Enter 0x28, Tab 0x2B, keypad Enter 0x58; Enter and
//!   keypad Enter by default) ends the scan; a terminator that is not configured types CR or HT.
//!   A terminator with nothing before it yields nothing.
//! - A key that types nothing in the layout does not end the scan: the scan carries on and comes
//!   out with the problem in [`WedgeScan::errors`] (at most [`MAX_ERRORS`] entries).
//! - A scan growing past `max_len` is reported as [`WedgeError::TooLong`] with its first
//!   `max_len` bytes; the rest of it, up to its terminator, is skipped.
//!
//! Memory held is bounded: `max_len` bytes of data, [`MAX_ERRORS`] errors and a queue of at most
//! 8 results. A report completes at most one scan unless it presses several keys at once
//! (scanners do not): [`WedgeDecoder::push_report`] returns the first result, and
//! [`WedgeDecoder::take_ready`] the others.

mod keymap;
#[cfg(test)]
mod tests;

pub use keymap::{compose_latin1, Key, KeyboardLayout, Layout, Terminator};

use std::collections::VecDeque;

use keymap::*;

/// Size of a boot keyboard input report.
pub const REPORT_LEN: usize = 8;
/// Default bound of a scan in bytes.
pub const DEFAULT_MAX_LEN: usize = 8192;
/// Most entries in [`WedgeScan::errors`]; the last one counts any further errors.
pub const MAX_ERRORS: usize = 16;
/// Terminators used by [`WedgeDecoder::default`].
pub const DEFAULT_TERMINATORS: [Terminator; 2] = [Terminator::Enter, Terminator::KeypadEnter];

const MAX_READY: usize = 8;

/// A problem with one key; the scan carries on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("usage 0x{usage:02X} with modifiers 0x{modifiers:02X} types nothing in this layout")]
    Unknown { usage: u8, modifiers: u8 },
    #[error("Ctrl with usage 0x{usage:02X} (modifiers 0x{modifiers:02X}) is no control character")]
    NoControl { usage: u8, modifiers: u8 },
    #[error("Alt with usage 0x{usage:02X} (modifiers 0x{modifiers:02X}), not a keypad digit")]
    AltKey { usage: u8, modifiers: u8 },
    #[error("Alt code {value} is above 255")]
    AltCodeOutOfRange { value: u32 },
    #[error("keyboard reported error state 0x{usage:02X}")]
    Device { usage: u8 },
    #[error("{count} more key errors")]
    More { count: usize },
}

/// One scan: the bytes typed before the terminator, and the keys that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WedgeScan {
    pub data: Vec<u8>,
    pub errors: Vec<KeyError>,
}

/// A report that could not be used, or a scan that could not be kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WedgeError {
    #[error("keyboard report of {} bytes (expected 8)", raw.len())]
    BadReport { raw: Vec<u8> },
    #[error("scan longer than {max} bytes (first {} kept)", kept.data.len())]
    TooLong { max: usize, kept: WedgeScan },
    #[error("{results} results dropped: reports completed scans faster than they were taken")]
    Dropped { results: usize },
}

/// Incremental decoder: one keyboard report in, at most one scan or error out.
#[derive(Debug, Clone)]
pub struct WedgeDecoder<L = KeyboardLayout> {
    layout: L,
    /// Usage ids of the terminator keys.
    terminators: Vec<u8>,
    max_len: usize,
    prev_keys: [u8; 6],
    prev_mods: u8,
    data: Vec<u8>,
    errors: Vec<KeyError>,
    /// Accent of a dead key waiting for the next key.
    dead: Option<u8>,
    /// Decimal value of the keypad digits typed with Alt held so far.
    alt_code: Option<u32>,
    /// Skipping the rest of a scan already reported as too long.
    discarding: bool,
    ready: VecDeque<Result<WedgeScan, WedgeError>>,
}

impl Default for WedgeDecoder<KeyboardLayout> {
    fn default() -> Self {
        Self::new(KeyboardLayout::Us, &DEFAULT_TERMINATORS)
    }
}

impl<L: Layout> WedgeDecoder<L> {
    /// A decoder for a scanner typing in `layout`, ending scans at `terminators`.
    pub fn new(layout: L, terminators: &[Terminator]) -> Self {
        WedgeDecoder {
            layout,
            terminators: terminators.iter().map(|t| t.usage()).collect(),
            max_len: DEFAULT_MAX_LEN,
            prev_keys: [0; 6],
            prev_mods: 0,
            data: Vec::new(),
            errors: Vec::new(),
            dead: None,
            alt_code: None,
            discarding: false,
            ready: VecDeque::new(),
        }
    }

    /// Bounds a scan to `max_len` bytes (default [`DEFAULT_MAX_LEN`]).
    pub fn with_max_len(mut self, max_len: usize) -> Self {
        self.max_len = max_len;
        self
    }

    /// Feeds one input report as read (8 bytes). Returns the scan it completes, an error, or
    /// `None`.
    pub fn push_report(&mut self, report: &[u8]) -> Option<Result<WedgeScan, WedgeError>> {
        match <&[u8; REPORT_LEN]>::try_from(report) {
            Ok(report) => self.process(report),
            Err(_) => self.emit(Err(WedgeError::BadReport {
                raw: report.to_vec(),
            })),
        }
        self.ready.pop_front()
    }

    /// A further result of an earlier report, if one report completed more than one scan.
    pub fn take_ready(&mut self) -> Option<Result<WedgeScan, WedgeError>> {
        self.ready.pop_front()
    }

    /// Ends the scan in progress after the I/O loop's idle timeout (for scanners configured
    /// without a terminator): returns it as if a terminator had been pressed.
    pub fn flush_idle(&mut self) -> Option<Result<WedgeScan, WedgeError>> {
        self.end_scan();
        self.ready.pop_front()
    }

    fn process(&mut self, report: &[u8; REPORT_LEN]) {
        let mods = report[0];
        let keys = &report[2..];
        if keys.contains(&ERROR_ROLL_OVER) {
            // Too many keys at once: the key list is meaningless; keep the previous one.
            return;
        }
        if let Some(&usage) = keys
            .iter()
            .find(|&&k| k == POST_FAIL || k == ERROR_UNDEFINED)
        {
            self.note(KeyError::Device { usage });
            return;
        }
        if self.prev_mods & ALT != 0 && mods & ALT == 0 {
            // Alt released (before any key new in this report was pressed).
            self.finish_alt_code();
        }
        for (i, &usage) in keys.iter().enumerate() {
            let new = usage != 0
                && !(0xE0..=0xE7).contains(&usage)
                && !keys[..i].contains(&usage)
                && !self.prev_keys.contains(&usage);
            if new {
                self.press(usage, mods);
            }
        }
        self.prev_keys.copy_from_slice(keys);
        self.prev_mods = mods;
    }

    fn press(&mut self, usage: u8, mods: u8) {
        if self.terminators.contains(&usage) {
            self.end_scan();
            return;
        }
        let ctrl_alt = mods & CTRL != 0 && mods & LALT != 0;
        let shift = mods & SHIFT != 0;
        let altgr = mods & RALT != 0 || ctrl_alt;
        let ctrl = mods & CTRL != 0 && !ctrl_alt;
        if mods & ALT != 0 {
            if let Some(digit) = keypad_digit(usage) {
                self.flush_dead();
                let value = self.alt_code.unwrap_or(0);
                self.alt_code = Some(value.saturating_mul(10).saturating_add(digit));
                return;
            }
            if mods & LALT != 0 && !ctrl_alt {
                self.note(KeyError::AltKey {
                    usage,
                    modifiers: mods,
                });
                return;
            }
        }
        let key = self.layout.key(usage, shift, altgr);
        if ctrl {
            let c = match key {
                Some(Key::Char(c) | Key::Dead(c)) => control(c),
                None => None,
            };
            match c {
                Some(c) => {
                    self.flush_dead();
                    self.put(c);
                }
                None => self.note(KeyError::NoControl {
                    usage,
                    modifiers: mods,
                }),
            }
            return;
        }
        match key {
            Some(Key::Char(c)) => self.type_char(c),
            Some(Key::Dead(accent)) => match self.dead.take() {
                Some(pending) => {
                    self.put(pending);
                    self.put(accent);
                }
                None => self.dead = Some(accent),
            },
            None => self.note(KeyError::Unknown {
                usage,
                modifiers: mods,
            }),
        }
    }

    fn type_char(&mut self, c: u8) {
        match self.dead.take() {
            None => self.put(c),
            Some(accent) if c == b' ' => self.put(accent),
            Some(accent) => match self.layout.compose(accent, c) {
                Some(composed) => self.put(composed),
                None => {
                    self.put(accent);
                    self.put(c);
                }
            },
        }
    }

    fn flush_dead(&mut self) {
        if let Some(accent) = self.dead.take() {
            self.put(accent);
        }
    }

    fn finish_alt_code(&mut self) {
        if let Some(value) = self.alt_code.take() {
            match u8::try_from(value) {
                Ok(b) => self.put(b),
                Err(_) => self.note(KeyError::AltCodeOutOfRange { value }),
            }
        }
    }

    /// A terminator (or the idle timeout): the scan so far is complete.
    fn end_scan(&mut self) {
        self.finish_alt_code();
        self.flush_dead();
        if std::mem::take(&mut self.discarding) {
            return;
        }
        if self.data.is_empty() && self.errors.is_empty() {
            return;
        }
        let scan = WedgeScan {
            data: std::mem::take(&mut self.data),
            errors: std::mem::take(&mut self.errors),
        };
        self.emit(Ok(scan));
    }

    fn put(&mut self, b: u8) {
        if self.discarding {
            return;
        }
        if self.data.len() >= self.max_len {
            let kept = WedgeScan {
                data: std::mem::take(&mut self.data),
                errors: std::mem::take(&mut self.errors),
            };
            self.emit(Err(WedgeError::TooLong {
                max: self.max_len,
                kept,
            }));
            self.discarding = true;
            return;
        }
        self.data.push(b);
    }

    fn note(&mut self, e: KeyError) {
        if self.discarding {
            return;
        }
        if self.errors.len() + 1 < MAX_ERRORS {
            self.errors.push(e);
        } else if let Some(KeyError::More { count }) = self.errors.last_mut() {
            *count += 1;
        } else {
            self.errors.push(KeyError::More { count: 1 });
        }
    }

    fn emit(&mut self, result: Result<WedgeScan, WedgeError>) {
        if self.ready.len() + 1 < MAX_READY {
            self.ready.push_back(result);
        } else if let Some(Err(WedgeError::Dropped { results })) = self.ready.back_mut() {
            *results += 1;
        } else {
            self.ready
                .push_back(Err(WedgeError::Dropped { results: 1 }));
        }
    }
}
