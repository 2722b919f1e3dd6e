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

use std::collections::VecDeque;

use serde::Deserialize;

/// Size of a boot keyboard input report.
pub const REPORT_LEN: usize = 8;
/// Default bound of a scan in bytes.
pub const DEFAULT_MAX_LEN: usize = 8192;
/// Most entries in [`WedgeScan::errors`]; the last one counts any further errors.
pub const MAX_ERRORS: usize = 16;
/// Terminators used by [`WedgeDecoder::default`].
pub const DEFAULT_TERMINATORS: [Terminator; 2] = [Terminator::Enter, Terminator::KeypadEnter];

const MAX_READY: usize = 8;

// Modifier bits of byte 0 (HID 1.11 appendix B.1; usages 0xE0-0xE7 in that order).
const LCTRL: u8 = 0x01;
const LSHIFT: u8 = 0x02;
const LALT: u8 = 0x04;
const RCTRL: u8 = 0x10;
const RSHIFT: u8 = 0x20;
const RALT: u8 = 0x40;
const CTRL: u8 = LCTRL | RCTRL;
const SHIFT: u8 = LSHIFT | RSHIFT;
const ALT: u8 = LALT | RALT;

// Keyboard/Keypad page (0x07) usages (HID Usage Tables, ch. 10).
const ERROR_ROLL_OVER: u8 = 0x01;
const POST_FAIL: u8 = 0x02;
const ERROR_UNDEFINED: u8 = 0x03;
const ENTER: u8 = 0x28;
const TAB: u8 = 0x2B;
const KEYPAD_ENTER: u8 = 0x58;
const KEYPAD_1: u8 = 0x59;
const KEYPAD_9: u8 = 0x61;
const KEYPAD_0: u8 = 0x62;

/// A key that ends a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Terminator {
    /// Enter (usage 0x28): `enter`.
    Enter,
    /// Tab (usage 0x2B): `tab`.
    Tab,
    /// Keypad Enter (usage 0x58): `keypad_enter`.
    KeypadEnter,
}

impl Terminator {
    /// The key's usage id on the Keyboard/Keypad page.
    pub fn usage(self) -> u8 {
        match self {
            Terminator::Enter => ENTER,
            Terminator::Tab => TAB,
            Terminator::KeypadEnter => KEYPAD_ENTER,
        }
    }
}

/// What a key types in a layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A character (Latin-1 byte).
    Char(u8),
    /// A dead key: the accent (Latin-1 byte of its spacing form) waits for the next key.
    Dead(u8),
}

/// A keyboard layout: what each key types. Implement it for a layout not built in.
pub trait Layout {
    /// What key `usage` types with Shift and/or AltGr held; `None` if it types nothing.
    fn key(&self, usage: u8, shift: bool, altgr: bool) -> Option<Key>;

    /// The character a dead key's `accent` makes with `base`, if they combine.
    fn compose(&self, accent: u8, base: u8) -> Option<u8> {
        compose_latin1(accent, base)
    }
}

/// The built-in layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyboardLayout {
    /// US English: `us`.
    #[default]
    Us,
    /// German QWERTZ (DIN 2137 basic layout as Windows has it): `de`.
    De,
}

impl Layout for KeyboardLayout {
    fn key(&self, usage: u8, shift: bool, altgr: bool) -> Option<Key> {
        if let Some(b) = common_key(usage) {
            return Some(Key::Char(b));
        }
        match self {
            KeyboardLayout::Us => us_key(usage, shift, altgr),
            KeyboardLayout::De => de_key(usage, shift, altgr),
        }
    }
}

/// Keys that type the same in every layout here, whatever the modifiers.
fn common_key(usage: u8) -> Option<u8> {
    Some(match usage {
        ENTER | KEYPAD_ENTER => b'\r',
        0x29 => 0x1B, // Escape
        0x2A => 0x08, // Backspace
        TAB => b'\t',
        0x2C => b' ',
        0x4C => 0x7F, // Delete Forward
        0x54 => b'/',
        0x55 => b'*',
        0x56 => b'-',
        0x57 => b'+',
        KEYPAD_1..=KEYPAD_9 => b'1' + (usage - KEYPAD_1),
        KEYPAD_0 => b'0',
        _ => return None,
    })
}

fn letter(lower: u8, shift: bool) -> Key {
    Key::Char(if shift {
        lower.to_ascii_uppercase()
    } else {
        lower
    })
}

/// US layout. Usage 0x32 (Non-US # and ~) and 0x64 (Non-US \ and |) type `\` and `|` as the
/// Usage Tables' "typical language mappings" give for US.
fn us_key(usage: u8, shift: bool, altgr: bool) -> Option<Key> {
    const DIGITS: &[u8; 10] = b"1234567890";
    const DIGITS_SHIFTED: &[u8; 10] = b"!@#$%^&*()";
    // Usages 0x2D-0x38.
    const PUNCT: &[u8; 12] = b"-=[]\\\\;'`,./";
    const PUNCT_SHIFTED: &[u8; 12] = b"_+{}||:\"~<>?";
    if altgr {
        return None;
    }
    let i = |first: u8| usize::from(usage - first);
    Some(match (usage, shift) {
        (0x04..=0x1D, _) => letter(b'a' + (usage - 0x04), shift),
        (0x1E..=0x27, false) => Key::Char(DIGITS[i(0x1E)]),
        (0x1E..=0x27, true) => Key::Char(DIGITS_SHIFTED[i(0x1E)]),
        (0x2D..=0x38, false) => Key::Char(PUNCT[i(0x2D)]),
        (0x2D..=0x38, true) => Key::Char(PUNCT_SHIFTED[i(0x2D)]),
        (0x63, _) => Key::Char(b'.'),
        (0x64, false) => Key::Char(b'\\'),
        (0x64, true) => Key::Char(b'|'),
        _ => return None,
    })
}

/// German QWERTZ. The key left of Enter is usage 0x32 on ISO keyboards; 0x31 types the same.
/// AltGr+E (€) has no Latin-1 byte and types nothing here.
fn de_key(usage: u8, shift: bool, altgr: bool) -> Option<Key> {
    const DIGITS: &[u8; 10] = b"1234567890";
    // ! " § $ % & / ( ) =
    const DIGITS_SHIFTED: &[u8; 10] = &[b'!', b'"', 0xA7, b'$', b'%', b'&', b'/', b'(', b')', b'='];
    use Key::{Char, Dead};
    if altgr {
        return Some(Char(match usage {
            0x14 => b'@',  // Q
            0x10 => 0xB5,  // M: µ
            0x1F => 0xB2,  // 2: ²
            0x20 => 0xB3,  // 3: ³
            0x24 => b'{',  // 7
            0x25 => b'[',  // 8
            0x26 => b']',  // 9
            0x27 => b'}',  // 0
            0x2D => b'\\', // ß
            0x30 => b'~',  // +
            0x64 => b'|',  // <
            _ => return None,
        }));
    }
    Some(match (usage, shift) {
        (0x1C, _) => letter(b'z', shift),
        (0x1D, _) => letter(b'y', shift),
        (0x04..=0x1B, _) => letter(b'a' + (usage - 0x04), shift),
        (0x1E..=0x27, false) => Char(DIGITS[usize::from(usage - 0x1E)]),
        (0x1E..=0x27, true) => Char(DIGITS_SHIFTED[usize::from(usage - 0x1E)]),
        (0x2D, false) => Char(0xDF), // ß
        (0x2D, true) => Char(b'?'),
        (0x2E, false) => Dead(0xB4), // ´
        (0x2E, true) => Dead(b'`'),
        (0x2F, false) => Char(0xFC), // ü
        (0x2F, true) => Char(0xDC),  // Ü
        (0x30, false) => Char(b'+'),
        (0x30, true) => Char(b'*'),
        (0x31 | 0x32, false) => Char(b'#'),
        (0x31 | 0x32, true) => Char(b'\''),
        (0x33, false) => Char(0xF6), // ö
        (0x33, true) => Char(0xD6),  // Ö
        (0x34, false) => Char(0xE4), // ä
        (0x34, true) => Char(0xC4),  // Ä
        (0x35, false) => Dead(b'^'),
        (0x35, true) => Char(0xB0), // °
        (0x36, false) => Char(b','),
        (0x36, true) => Char(b';'),
        (0x37, false) => Char(b'.'),
        (0x37, true) => Char(b':'),
        (0x38, false) => Char(b'-'),
        (0x38, true) => Char(b'_'),
        (0x63, _) => Char(b','), // keypad decimal separator
        (0x64, false) => Char(b'<'),
        (0x64, true) => Char(b'>'),
        _ => return None,
    })
}

/// Latin-1 composition of grave (`` ` ``), acute (0xB4) and circumflex (`^`) with a vowel (and
/// acute with y). In Latin-1 each vowel's accented forms are consecutive: grave, acute, circumflex.
pub fn compose_latin1(accent: u8, base: u8) -> Option<u8> {
    let step = match accent {
        b'`' => 0,
        0xB4 => 1,
        b'^' => 2,
        _ => return None,
    };
    let (lower, upper) = (base.to_ascii_lowercase(), base.is_ascii_uppercase());
    let first = match lower {
        b'a' => 0xE0,
        b'e' => 0xE8,
        b'i' => 0xEC,
        b'o' => 0xF2,
        b'u' => 0xF9,
        b'y' if step == 1 => 0xFC, // ý is 0xFD
        _ => return None,
    };
    let c = first + step;
    Some(if upper { c - 0x20 } else { c })
}

/// The control character Ctrl types with a key typing `c`.
fn control(c: u8) -> Option<u8> {
    match c {
        b'@'..=b'_' | b'a'..=b'z' => Some(c & 0x1F),
        b'?' => Some(0x7F),
        _ => None,
    }
}

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

fn keypad_digit(usage: u8) -> Option<u32> {
    match usage {
        KEYPAD_1..=KEYPAD_9 => Some(u32::from(usage - KEYPAD_1) + 1),
        KEYPAD_0 => Some(0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UP: [u8; 8] = [0; 8];
    /// Usage ids of the digit row, '0'..='9' (Usage Tables: 0x1E-0x26 are 1-9, 0x27 is 0).
    const DIGIT: [u8; 10] = [0x27, 0x1E, 0x1F, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26];

    fn rep(mods: u8, keys: &[u8]) -> [u8; 8] {
        let mut r = [0u8; 8];
        r[0] = mods;
        r[2..2 + keys.len()].copy_from_slice(keys);
        r
    }

    /// A key press as scanners send it: the key report, then the all-zero release report.
    fn tap(mods: u8, usage: u8) -> [[u8; 8]; 2] {
        [rep(mods, &[usage]), UP]
    }

    fn digits(s: &str) -> Vec<[u8; 8]> {
        s.bytes()
            .flat_map(|c| tap(0, DIGIT[usize::from(c - b'0')]))
            .collect()
    }

    fn run<L: Layout>(
        d: &mut WedgeDecoder<L>,
        reports: &[[u8; 8]],
    ) -> Vec<Result<WedgeScan, WedgeError>> {
        let mut out = Vec::new();
        for r in reports {
            out.extend(d.push_report(r));
            while let Some(more) = d.take_ready() {
                out.push(more);
            }
        }
        out
    }

    fn ok(data: &[u8]) -> Result<WedgeScan, WedgeError> {
        Ok(WedgeScan {
            data: data.to_vec(),
            errors: vec![],
        })
    }

    const GS1: &[u8] = b"]C101095060001343521012345\x1d17220630";

    /// `]C1` then the element string up to the GS, as a US wedge types it.
    fn gs1_head() -> Vec<[u8; 8]> {
        let mut r = vec![
            [0x00, 0, 0x30, 0, 0, 0, 0, 0], // ]  (unshifted on US)
            UP,
            [0x02, 0, 0x06, 0, 0, 0, 0, 0], // C  (LShift + c)
            UP,
        ];
        r.extend(digits("101095060001343521012345"));
        r
    }

    fn gs1_tail() -> Vec<[u8; 8]> {
        let mut r = digits("17220630");
        r.extend(tap(0, 0x28)); // Enter
        r
    }

    #[test]
    fn gs1_with_ctrl_bracket() {
        let mut reports = gs1_head();
        reports.extend([
            [0x01, 0, 0x30, 0, 0, 0, 0, 0], // LCtrl + ]
            UP,
        ]);
        reports.extend(gs1_tail());
        let mut d = WedgeDecoder::default();
        assert_eq!(run(&mut d, &reports), vec![ok(GS1)]);
    }

    #[test]
    fn gs1_with_alt_keypad_code() {
        let mut reports = gs1_head();
        reports.extend([
            [0x04, 0, 0x00, 0, 0, 0, 0, 0], // LAlt down
            [0x04, 0, 0x62, 0, 0, 0, 0, 0], // keypad 0
            [0x04, 0, 0x00, 0, 0, 0, 0, 0],
            [0x04, 0, 0x5A, 0, 0, 0, 0, 0], // keypad 2
            [0x04, 0, 0x00, 0, 0, 0, 0, 0],
            [0x04, 0, 0x61, 0, 0, 0, 0, 0], // keypad 9
            [0x04, 0, 0x00, 0, 0, 0, 0, 0],
            UP, // LAlt up: GS
        ]);
        reports.extend(gs1_tail());
        let mut d = WedgeDecoder::default();
        assert_eq!(run(&mut d, &reports), vec![ok(GS1)]);

        // Alt released together with the last digit key; right Alt works too.
        let reports = [
            rep(0x40, &[0x62]),
            rep(0x40, &[0x5A]),
            rep(0x40, &[0x61]),
            UP,
            rep(0, &[0x28]),
        ];
        let mut d = WedgeDecoder::default();
        assert_eq!(run(&mut d, &reports), vec![ok(b"\x1d")]);
    }

    #[test]
    fn keypad_digits_without_alt_are_digits() {
        let mut reports: Vec<[u8; 8]> = [0x62, 0x5A, 0x61, 0x59, 0x63]
            .iter()
            .flat_map(|&k| tap(0, k))
            .collect();
        reports.extend(tap(0, 0x58)); // keypad Enter
        let mut d = WedgeDecoder::default();
        assert_eq!(run(&mut d, &reports), vec![ok(b"0291.")]);
    }

    #[test]
    fn repeated_characters_need_a_release() {
        let one = rep(0, &[0x1E]);
        let two = rep(0, &[0x1F]);
        let enter = rep(0, &[0x28]);
        let mut d = WedgeDecoder::default();
        // With release reports: "11".
        assert_eq!(run(&mut d, &[one, UP, one, UP, enter, UP]), vec![ok(b"11")]);
        // Without: the key is held, one character.
        assert_eq!(run(&mut d, &[one, one, one, UP, enter, UP]), vec![ok(b"1")]);
        // The key leaving the array is a release too.
        assert_eq!(run(&mut d, &[one, two, one, enter]), vec![ok(b"121")]);
        // Modifier changes while a key is held do not retype it.
        assert_eq!(
            run(&mut d, &[one, rep(0x02, &[0x1E]), UP, enter, UP]),
            vec![ok(b"1")]
        );
        // Two keys new in one report, in slot order; a held key next to a new one.
        assert_eq!(
            run(
                &mut d,
                &[rep(0, &[0x1E, 0x1F]), rep(0, &[0x1F, 0x20]), UP, enter]
            ),
            vec![ok(b"123")]
        );
    }

    #[test]
    fn rollover_reports_are_ignored() {
        let rollover = rep(0, &[1, 1, 1, 1, 1, 1]);
        let mut d = WedgeDecoder::default();
        let reports = [
            rep(0, &[0x1E]),
            rollover,
            rep(0, &[0x1E, 0x1F]), // 1 was held through the rollover: only 2 is new
            UP,
            rep(0, &[0x28]),
        ];
        assert_eq!(run(&mut d, &reports), vec![ok(b"12")]);
    }

    #[test]
    fn shift_and_symbols_on_us() {
        let mut d = WedgeDecoder::default();
        let reports = [
            rep(0x02, &[0x04]), // A (left Shift)
            rep(0x20, &[0x05]), // B (right Shift)
            rep(0x00, &[0x06]), // c
            rep(0x02, &[0x1F]), // @
            rep(0x02, &[0x2D]), // _
            rep(0x00, &[0x2C]), // space
            rep(0x02, &[0x34]), // "
            rep(0x00, &[0x31]), // \
            rep(0x02, &[0x38]), // ?
            rep(0x00, &[0x2B]), // Tab is data unless a terminator
            rep(0x00, &[0x28]),
        ];
        assert_eq!(run(&mut d, &reports), vec![ok(b"ABc@_ \"\\?\t")]);
        // Tab as terminator; keypad Enter not configured types CR.
        let mut d = WedgeDecoder::new(KeyboardLayout::Us, &[Terminator::Tab]);
        let reports = [rep(0, &[0x04]), rep(0, &[0x58]), rep(0, &[0x2B])];
        assert_eq!(run(&mut d, &reports), vec![ok(b"a\r")]);
    }

    #[test]
    fn unknown_keys_are_kept_with_the_scan() {
        let mut d = WedgeDecoder::default();
        let reports = [
            rep(0, &[0x1E]),
            rep(0, &[0x3A]),    // F1
            rep(0x04, &[0x04]), // Alt+A
            rep(0x01, &[0x1E]), // Ctrl+1
            rep(0x40, &[0x14]), // AltGr+Q: nothing on US
            rep(0, &[0x1F]),
            rep(0, &[0x28]),
        ];
        let scan = WedgeScan {
            data: b"12".to_vec(),
            errors: vec![
                KeyError::Unknown {
                    usage: 0x3A,
                    modifiers: 0,
                },
                KeyError::AltKey {
                    usage: 0x04,
                    modifiers: 0x04,
                },
                KeyError::NoControl {
                    usage: 0x1E,
                    modifiers: 0x01,
                },
                KeyError::Unknown {
                    usage: 0x14,
                    modifiers: 0x40,
                },
            ],
        };
        assert_eq!(run(&mut d, &reports), vec![Ok(scan)]);
        // Errors alone still make a scan; a bare terminator makes none.
        assert_eq!(run(&mut d, &[rep(0, &[0x28]), UP]), vec![]);
        let out = run(&mut d, &[rep(0, &[0x3B]), UP, rep(0, &[0x28])]);
        assert!(matches!(&out[..], [Ok(s)] if s.data.is_empty() && s.errors.len() == 1));
        // Device error states are noted.
        let out = run(&mut d, &[rep(0, &[2, 2, 2, 2, 2, 2]), UP, rep(0, &[0x28])]);
        assert!(matches!(&out[..], [Ok(s)] if s.errors == [KeyError::Device { usage: 2 }]));
    }

    #[test]
    fn errors_and_alt_codes_are_bounded() {
        let mut d = WedgeDecoder::default();
        let mut reports = Vec::new();
        for _ in 0..40 {
            reports.extend(tap(0, 0x3A));
        }
        // Alt + 9 9 9 9: above 255.
        reports.extend([rep(0x04, &[0x61]), rep(0x04, &[]), rep(0x04, &[0x61])]);
        reports.extend([rep(0x04, &[]), rep(0x04, &[0x61]), rep(0x04, &[])]);
        reports.extend([rep(0x04, &[0x61]), UP, rep(0, &[0x28])]);
        let out = run(&mut d, &reports);
        let [Ok(scan)] = &out[..] else {
            panic!("{out:?}")
        };
        assert_eq!(scan.errors.len(), MAX_ERRORS);
        assert_eq!(scan.errors[MAX_ERRORS - 1], KeyError::More { count: 26 });

        let mut d = WedgeDecoder::default();
        let out = run(
            &mut d,
            &[
                rep(0x04, &[0x5A]),
                rep(0x04, &[0x5D]),
                rep(0x04, &[0x5E]),
                UP,
            ],
        );
        assert_eq!(out, vec![]);
        let out = run(&mut d, &[rep(0, &[0x28])]);
        assert!(matches!(&out[..], [Ok(s)]
            if s.errors == [KeyError::AltCodeOutOfRange { value: 256 }] && s.data.is_empty()));
    }

    #[test]
    fn too_long_reports_prefix_and_skips_to_terminator() {
        let mut d = WedgeDecoder::default().with_max_len(3);
        let mut reports = digits("123456");
        reports.extend(tap(0, 0x28));
        reports.extend(digits("78"));
        reports.extend(tap(0, 0x28));
        assert_eq!(
            run(&mut d, &reports),
            vec![
                Err(WedgeError::TooLong {
                    max: 3,
                    kept: WedgeScan {
                        data: b"123".to_vec(),
                        errors: vec![]
                    }
                }),
                ok(b"78"),
            ]
        );
    }

    #[test]
    fn bad_reports_and_flush_idle() {
        let mut d = WedgeDecoder::default();
        assert_eq!(run(&mut d, &digits("42")), vec![]);
        assert_eq!(
            d.push_report(&[0, 0, 0x1E]),
            Some(Err(WedgeError::BadReport {
                raw: vec![0, 0, 0x1E]
            }))
        );
        assert_eq!(d.flush_idle(), Some(ok(b"42")));
        assert_eq!(d.flush_idle(), None);
    }

    #[test]
    fn several_scans_in_one_report_are_all_returned() {
        let mut d = WedgeDecoder::default();
        let r = rep(0, &[0x04, 0x28, 0x05, 0x58, 0x06, 0x2B]);
        assert_eq!(d.push_report(&r), Some(ok(b"a")));
        assert_eq!(d.take_ready(), Some(ok(b"b")));
        assert_eq!(d.take_ready(), None);
        assert_eq!(run(&mut d, &[UP, rep(0, &[0x28])]), vec![ok(b"c\t")]);
    }

    #[test]
    fn german_layout() {
        let mut d = WedgeDecoder::new(KeyboardLayout::De, &DEFAULT_TERMINATORS);
        let reports = [
            rep(0x00, &[0x1C]), // z (the US y key)
            rep(0x00, &[0x1D]), // y (the US z key)
            rep(0x02, &[0x1C]), // Z
            rep(0x02, &[0x1D]), // Y
            rep(0x40, &[0x14]), // AltGr+Q: @
            rep(0x02, &[0x24]), // /
            rep(0x00, &[0x38]), // -
            rep(0x00, &[0x34]), // ä
            rep(0x00, &[0x2D]), // ß
            rep(0x05, &[0x25]), // LCtrl+LAlt+8 as AltGr: [
            rep(0x00, &[0x63]), // keypad ,
            UP,
            rep(0x00, &[0x28]),
        ];
        assert_eq!(run(&mut d, &reports), vec![ok(b"zyZY@/-\xe4\xdf[,")]);
        let mut us = WedgeDecoder::default();
        let reports = [rep(0, &[0x1C]), rep(0, &[0x1D]), rep(0, &[0x28])];
        assert_eq!(run(&mut us, &reports), vec![ok(b"yz")]);
    }

    #[test]
    fn german_gs1_with_altgr_and_ctrl() {
        let mut reports = vec![
            [0x40, 0, 0x26, 0, 0, 0, 0, 0], // AltGr+9: ]
            UP,
            [0x02, 0, 0x06, 0, 0, 0, 0, 0], // C
            UP,
        ];
        reports.extend(digits("101095060001343521012345"));
        reports.extend([
            [0x41, 0, 0x26, 0, 0, 0, 0, 0], // LCtrl + AltGr+9 (Ctrl+]): GS
            UP,
        ]);
        reports.extend(gs1_tail());
        let mut d = WedgeDecoder::new(KeyboardLayout::De, &DEFAULT_TERMINATORS);
        assert_eq!(run(&mut d, &reports), vec![ok(GS1)]);
    }

    #[test]
    fn german_dead_keys() {
        let mut d = WedgeDecoder::new(KeyboardLayout::De, &DEFAULT_TERMINATORS);
        let circ = rep(0, &[0x35]);
        let acute = rep(0, &[0x2E]);
        let grave = rep(0x02, &[0x2E]);
        let reports = [
            circ,
            UP,
            rep(0, &[0x2C]), // ^ + space: ^
            acute,
            UP,
            rep(0, &[0x08]), // ´ + e: é
            grave,
            UP,
            rep(0x02, &[0x04]), // ` + A: À
            circ,
            UP,
            rep(0, &[0x1B]), // ^ + x: ^x
            circ,
            UP,
            circ,
            UP, // ^ ^: ^^
            acute,
            UP,
            rep(0, &[0x28]), // ´ then Enter: ´
        ];
        assert_eq!(run(&mut d, &reports), vec![ok(b"^\xe9\xc0^x^^\xb4")]);
    }

    #[test]
    fn config_names() {
        assert_eq!(
            serde_json::from_str::<KeyboardLayout>("\"de\"").unwrap(),
            KeyboardLayout::De
        );
        assert_eq!(
            serde_json::from_str::<Vec<Terminator>>(r#"["enter","tab","keypad_enter"]"#).unwrap(),
            vec![Terminator::Enter, Terminator::Tab, Terminator::KeypadEnter]
        );
    }

    use crate::testing::XorShift;

    /// Inverts a layout: for each byte, the first (usage, modifiers) typing it, and whether the
    /// key is dead (then a space completes it). Terminator keys are left out.
    fn keymap(layout: &KeyboardLayout) -> Vec<(u8, u8, u8, bool)> {
        let mut map: Vec<(u8, u8, u8, bool)> = Vec::new();
        for (mods, shift, altgr) in [(0, false, false), (0x02, true, false), (0x40, false, true)] {
            for usage in 0x04..=0x64u8 {
                if DEFAULT_TERMINATORS.iter().any(|t| t.usage() == usage) {
                    continue;
                }
                let (c, dead) = match layout.key(usage, shift, altgr) {
                    Some(Key::Char(c)) => (c, false),
                    Some(Key::Dead(c)) => (c, true),
                    None => continue,
                };
                if !map.iter().any(|m| m.0 == c) {
                    map.push((c, mods, usage, dead));
                }
            }
        }
        map
    }

    /// Random text typed through each layout's own key map decodes to the same bytes, with or
    /// without release reports between different keys.
    #[test]
    fn typed_text_round_trips_through_both_layouts() {
        let mut rng = XorShift(0xD1B5_4A32_D192_ED03);
        for layout in [KeyboardLayout::Us, KeyboardLayout::De] {
            let map = keymap(&layout);
            assert!(map.len() > 90, "{layout:?}: {}", map.len());
            for _ in 0..300 {
                let mut text = Vec::new();
                let mut reports = Vec::new();
                let mut last: Option<[u8; 8]> = None;
                for _ in 0..rng.below(40) {
                    let (c, mods, usage, dead) = map[rng.below(map.len())];
                    let mut keys = vec![rep(mods, &[usage])];
                    if dead {
                        keys.extend([UP, rep(0, &[0x2C])]);
                    }
                    for k in keys {
                        // The same key twice in a row (whatever the modifiers) needs the
                        // release in between.
                        if last.is_some_and(|l| l[2] == k[2]) || rng.below(2) == 0 {
                            reports.push(UP);
                        }
                        reports.push(k);
                        last = Some(k);
                    }
                    text.push(c);
                }
                reports.extend([UP, rep(0, &[0x28]), UP]);
                let mut d = WedgeDecoder::new(layout, &DEFAULT_TERMINATORS);
                let expected = if text.is_empty() {
                    vec![]
                } else {
                    vec![ok(&text)]
                };
                assert_eq!(run(&mut d, &reports), expected, "{layout:?}");
            }
        }
    }

    #[test]
    fn fuzz_never_panics_and_keeps_invariants() {
        let mut rng = XorShift(0x6A09_E667_F3BC_C908);
        let interesting = [
            0x00, 0x00, 0x00, 0x01, 0x02, 0x28, 0x2B, 0x58, 0x30, 0x2E, 0x35, 0x2C, 0x62, 0x5A,
            0x61, 0x1E, 0x04, 0x3A, 0xE1,
        ];
        for round in 0..3000 {
            let layout = [KeyboardLayout::Us, KeyboardLayout::De][round % 2];
            let max_len = rng.below(40);
            let terminators =
                &[Terminator::Enter, Terminator::Tab, Terminator::KeypadEnter][..rng.below(4)];
            let mut d = WedgeDecoder::new(layout, terminators).with_max_len(max_len);
            let mut presses = 0usize;
            let mut produced = 0usize;
            for _ in 0..rng.below(60) {
                let size = if rng.below(20) == 0 { rng.below(12) } else { 8 };
                let mut r: Vec<u8> = (0..size)
                    .map(|_| {
                        if rng.below(2) == 0 {
                            interesting[rng.below(interesting.len())]
                        } else {
                            rng.next() as u8
                        }
                    })
                    .collect();
                if size == 8 && rng.below(2) == 0 {
                    r[0] &= [0x00, 0x02, 0x04, 0x01, 0x40][rng.below(5)];
                    r[3..].fill(0);
                }
                presses += r.len().saturating_sub(2);
                let mut out: Vec<_> = d.push_report(&r).into_iter().collect();
                if rng.below(4) == 0 {
                    out.extend(d.flush_idle());
                }
                while let Some(more) = d.take_ready() {
                    out.push(more);
                }
                for result in out {
                    let scan = match result {
                        Ok(scan) => scan,
                        Err(WedgeError::TooLong { kept, .. }) => kept,
                        Err(e) => {
                            assert!(!e.to_string().is_empty());
                            continue;
                        }
                    };
                    assert!(scan.data.len() <= max_len);
                    assert!(scan.errors.len() <= MAX_ERRORS);
                    produced += scan.data.len();
                }
                assert!(d.data.len() <= max_len && d.errors.len() <= MAX_ERRORS);
                assert!(d.ready.len() <= MAX_READY);
                // A key press types at most two bytes (a pending accent and a character).
                assert!(produced <= 2 * presses);
            }
        }
    }
}
