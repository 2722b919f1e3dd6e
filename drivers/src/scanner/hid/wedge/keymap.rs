//! What a key types: the HID boot keyboard's modifier bits and usage ids, the terminator keys,
//! and the keyboard layouts ([`Layout`], the built-in [`KeyboardLayout`]s) with their Latin-1
//! dead-key composition and Ctrl characters.
//!
//! Pure tables: no state. The decoder ([`super::WedgeDecoder`]) holds what was pressed before.

use serde::Deserialize;

// Modifier bits of byte 0 (HID 1.11 appendix B.1; usages 0xE0-0xE7 in that order).
pub(super) const LCTRL: u8 = 0x01;
pub(super) const LSHIFT: u8 = 0x02;
pub(super) const LALT: u8 = 0x04;
pub(super) const RCTRL: u8 = 0x10;
pub(super) const RSHIFT: u8 = 0x20;
pub(super) const RALT: u8 = 0x40;
pub(super) const CTRL: u8 = LCTRL | RCTRL;
pub(super) const SHIFT: u8 = LSHIFT | RSHIFT;
pub(super) const ALT: u8 = LALT | RALT;

// Keyboard/Keypad page (0x07) usages (HID Usage Tables, ch. 10).
pub(super) const ERROR_ROLL_OVER: u8 = 0x01;
pub(super) const POST_FAIL: u8 = 0x02;
pub(super) const ERROR_UNDEFINED: u8 = 0x03;
pub(super) const ENTER: u8 = 0x28;
pub(super) const TAB: u8 = 0x2B;
pub(super) const KEYPAD_ENTER: u8 = 0x58;
pub(super) const KEYPAD_1: u8 = 0x59;
pub(super) const KEYPAD_9: u8 = 0x61;
pub(super) const KEYPAD_0: u8 = 0x62;

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
pub(super) fn control(c: u8) -> Option<u8> {
    match c {
        b'@'..=b'_' | b'a'..=b'z' => Some(c & 0x1F),
        b'?' => Some(0x7F),
        _ => None,
    }
}

pub(super) fn keypad_digit(usage: u8) -> Option<u32> {
    match usage {
        KEYPAD_1..=KEYPAD_9 => Some(u32::from(usage - KEYPAD_1) + 1),
        KEYPAD_0 => Some(0),
        _ => None,
    }
}
