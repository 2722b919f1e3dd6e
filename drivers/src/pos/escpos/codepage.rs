//! Character code tables of ESC/POS printers: the byte → character mapping of the upper half
//! (0x80–0xFF) of the tables selected with `ESC t n`; 0x20–0x7E is ASCII in all of them.
//!
//! Supported tables and their `ESC t` numbers (Epson's numbering, as listed for the TM-T88 series
//! in the escpos-printer-db capability profiles that python-escpos ships; other vendors may
//! number differently):
//!
//! | `n` | table | notes |
//! | --- | --- | --- |
//! | 0 | PC437 (USA, standard Europe) | power-on default of most printers |
//! | 2 | PC850 (multilingual) | |
//! | 15 | ISO 8859-7 (Greek) | 2003 edition: 0xA4 is € |
//! | 16 | WPC1252 (Windows Latin 1) | 0x80 is € |
//! | 19 | PC858 (PC850 with €) | 0xD5 is € instead of ı |
//! | 40 | ISO 8859-15 (Latin 9) | 0xA4 is € |
//!
//! The tables are the IBM and ISO code pages as published (and as Python's codecs implement
//! them). Bytes that a table leaves undefined, C1 control codes of the ISO tables, and every
//! upper-half byte of a table not listed here decode to U+FFFD, so text never silently takes a
//! wrong letter.

use serde::Deserialize;

/// A character code table (`ESC t n`), as named in config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum CodePage {
    /// IBM PC437: `cp437`.
    #[serde(rename = "cp437")]
    Cp437,
    /// IBM PC850: `cp850`.
    #[serde(rename = "cp850")]
    Cp850,
    /// IBM PC858 (PC850 with the euro sign): `cp858`.
    #[serde(rename = "cp858")]
    Cp858,
    /// Windows-1252: `cp1252`.
    #[serde(rename = "cp1252")]
    Cp1252,
    /// ISO 8859-7 (2003): `iso-8859-7`.
    #[serde(rename = "iso-8859-7")]
    Iso8859_7,
    /// ISO 8859-15: `iso-8859-15`.
    #[serde(rename = "iso-8859-15")]
    Iso8859_15,
}

impl CodePage {
    /// The table selected by `ESC t n`, if it is one of the supported ones.
    pub fn from_escpos(n: u8) -> Option<CodePage> {
        match n {
            0 => Some(CodePage::Cp437),
            2 => Some(CodePage::Cp850),
            15 => Some(CodePage::Iso8859_7),
            16 => Some(CodePage::Cp1252),
            19 => Some(CodePage::Cp858),
            40 => Some(CodePage::Iso8859_15),
            _ => None,
        }
    }

    /// Decodes one byte. Control bytes (below 0x20, and 0x7F) are not text: U+FFFD.
    pub fn decode(self, b: u8) -> char {
        match b {
            0x20..=0x7E => char::from(b),
            0x80..=0xFF => {
                let i = usize::from(b - 0x80);
                match self {
                    CodePage::Cp437 => CP437[i],
                    CodePage::Cp850 => CP850[i],
                    CodePage::Cp858 if b == 0xD5 => '\u{20AC}',
                    CodePage::Cp858 => CP850[i],
                    CodePage::Cp1252 if b < 0xA0 => WINDOWS_1252_80_9F[i],
                    CodePage::Cp1252 => char::from(b),
                    CodePage::Iso8859_7 => iso_8859_7(b),
                    CodePage::Iso8859_15 => iso_8859_15(b),
                }
            }
            _ => char::REPLACEMENT_CHARACTER,
        }
    }
}

/// Decodes a byte while the active table is one not supported here: ASCII, or U+FFFD.
pub fn decode_unknown(b: u8) -> char {
    if (0x20..=0x7E).contains(&b) {
        char::from(b)
    } else {
        char::REPLACEMENT_CHARACTER
    }
}

fn iso_8859_15(b: u8) -> char {
    // ISO 8859-15 is ISO 8859-1 with eight positions changed.
    match b {
        0x80..=0x9F => char::REPLACEMENT_CHARACTER,
        0xA4 => '\u{20AC}',
        0xA6 => '\u{0160}',
        0xA8 => '\u{0161}',
        0xB4 => '\u{017D}',
        0xB8 => '\u{017E}',
        0xBC => '\u{0152}',
        0xBD => '\u{0153}',
        0xBE => '\u{0178}',
        _ => char::from(b),
    }
}

fn iso_8859_7(b: u8) -> char {
    match b {
        0x80..=0x9F | 0xAE | 0xD2 | 0xFF => char::REPLACEMENT_CHARACTER,
        0xA1 => '\u{2018}',
        0xA2 => '\u{2019}',
        0xA4 => '\u{20AC}',
        0xA5 => '\u{20AF}',
        0xAF => '\u{2015}',
        // Positions shared with ISO 8859-1.
        0xA0 | 0xA3 | 0xA6..=0xA9 | 0xAB..=0xAD | 0xB0..=0xB3 | 0xB7 | 0xBB | 0xBD => char::from(b),
        // The Greek block: ͺ ΄ ΅ Ά … ώ sit at U+037A–U+03CE, 0x2D0 above their byte.
        _ => char::from_u32(u32::from(b) + 0x2D0).unwrap_or(char::REPLACEMENT_CHARACTER),
    }
}

/// IBM PC437, 0x80–0xFF.
#[rustfmt::skip]
const CP437: [char; 128] = [
    '\u{00C7}', '\u{00FC}', '\u{00E9}', '\u{00E2}', '\u{00E4}', '\u{00E0}', '\u{00E5}', '\u{00E7}',
    '\u{00EA}', '\u{00EB}', '\u{00E8}', '\u{00EF}', '\u{00EE}', '\u{00EC}', '\u{00C4}', '\u{00C5}',
    '\u{00C9}', '\u{00E6}', '\u{00C6}', '\u{00F4}', '\u{00F6}', '\u{00F2}', '\u{00FB}', '\u{00F9}',
    '\u{00FF}', '\u{00D6}', '\u{00DC}', '\u{00A2}', '\u{00A3}', '\u{00A5}', '\u{20A7}', '\u{0192}',
    '\u{00E1}', '\u{00ED}', '\u{00F3}', '\u{00FA}', '\u{00F1}', '\u{00D1}', '\u{00AA}', '\u{00BA}',
    '\u{00BF}', '\u{2310}', '\u{00AC}', '\u{00BD}', '\u{00BC}', '\u{00A1}', '\u{00AB}', '\u{00BB}',
    '\u{2591}', '\u{2592}', '\u{2593}', '\u{2502}', '\u{2524}', '\u{2561}', '\u{2562}', '\u{2556}',
    '\u{2555}', '\u{2563}', '\u{2551}', '\u{2557}', '\u{255D}', '\u{255C}', '\u{255B}', '\u{2510}',
    '\u{2514}', '\u{2534}', '\u{252C}', '\u{251C}', '\u{2500}', '\u{253C}', '\u{255E}', '\u{255F}',
    '\u{255A}', '\u{2554}', '\u{2569}', '\u{2566}', '\u{2560}', '\u{2550}', '\u{256C}', '\u{2567}',
    '\u{2568}', '\u{2564}', '\u{2565}', '\u{2559}', '\u{2558}', '\u{2552}', '\u{2553}', '\u{256B}',
    '\u{256A}', '\u{2518}', '\u{250C}', '\u{2588}', '\u{2584}', '\u{258C}', '\u{2590}', '\u{2580}',
    '\u{03B1}', '\u{00DF}', '\u{0393}', '\u{03C0}', '\u{03A3}', '\u{03C3}', '\u{00B5}', '\u{03C4}',
    '\u{03A6}', '\u{0398}', '\u{03A9}', '\u{03B4}', '\u{221E}', '\u{03C6}', '\u{03B5}', '\u{2229}',
    '\u{2261}', '\u{00B1}', '\u{2265}', '\u{2264}', '\u{2320}', '\u{2321}', '\u{00F7}', '\u{2248}',
    '\u{00B0}', '\u{2219}', '\u{00B7}', '\u{221A}', '\u{207F}', '\u{00B2}', '\u{25A0}', '\u{00A0}',
];

/// IBM PC850, 0x80–0xFF.
#[rustfmt::skip]
const CP850: [char; 128] = [
    '\u{00C7}', '\u{00FC}', '\u{00E9}', '\u{00E2}', '\u{00E4}', '\u{00E0}', '\u{00E5}', '\u{00E7}',
    '\u{00EA}', '\u{00EB}', '\u{00E8}', '\u{00EF}', '\u{00EE}', '\u{00EC}', '\u{00C4}', '\u{00C5}',
    '\u{00C9}', '\u{00E6}', '\u{00C6}', '\u{00F4}', '\u{00F6}', '\u{00F2}', '\u{00FB}', '\u{00F9}',
    '\u{00FF}', '\u{00D6}', '\u{00DC}', '\u{00F8}', '\u{00A3}', '\u{00D8}', '\u{00D7}', '\u{0192}',
    '\u{00E1}', '\u{00ED}', '\u{00F3}', '\u{00FA}', '\u{00F1}', '\u{00D1}', '\u{00AA}', '\u{00BA}',
    '\u{00BF}', '\u{00AE}', '\u{00AC}', '\u{00BD}', '\u{00BC}', '\u{00A1}', '\u{00AB}', '\u{00BB}',
    '\u{2591}', '\u{2592}', '\u{2593}', '\u{2502}', '\u{2524}', '\u{00C1}', '\u{00C2}', '\u{00C0}',
    '\u{00A9}', '\u{2563}', '\u{2551}', '\u{2557}', '\u{255D}', '\u{00A2}', '\u{00A5}', '\u{2510}',
    '\u{2514}', '\u{2534}', '\u{252C}', '\u{251C}', '\u{2500}', '\u{253C}', '\u{00E3}', '\u{00C3}',
    '\u{255A}', '\u{2554}', '\u{2569}', '\u{2566}', '\u{2560}', '\u{2550}', '\u{256C}', '\u{00A4}',
    '\u{00F0}', '\u{00D0}', '\u{00CA}', '\u{00CB}', '\u{00C8}', '\u{0131}', '\u{00CD}', '\u{00CE}',
    '\u{00CF}', '\u{2518}', '\u{250C}', '\u{2588}', '\u{2584}', '\u{00A6}', '\u{00CC}', '\u{2580}',
    '\u{00D3}', '\u{00DF}', '\u{00D4}', '\u{00D2}', '\u{00F5}', '\u{00D5}', '\u{00B5}', '\u{00FE}',
    '\u{00DE}', '\u{00DA}', '\u{00DB}', '\u{00D9}', '\u{00FD}', '\u{00DD}', '\u{00AF}', '\u{00B4}',
    '\u{00AD}', '\u{00B1}', '\u{2017}', '\u{00BE}', '\u{00B6}', '\u{00A7}', '\u{00F7}', '\u{00B8}',
    '\u{00B0}', '\u{00A8}', '\u{00B7}', '\u{00B9}', '\u{00B3}', '\u{00B2}', '\u{25A0}', '\u{00A0}',
];

/// Windows-1252, 0x80–0x9F (0xA0–0xFF is ISO 8859-1).
#[rustfmt::skip]
const WINDOWS_1252_80_9F: [char; 32] = [
    '\u{20AC}', '\u{FFFD}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{02C6}', '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{FFFD}', '\u{017D}', '\u{FFFD}',
    '\u{FFFD}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{02DC}', '\u{2122}', '\u{0161}', '\u{203A}', '\u{0153}', '\u{FFFD}', '\u{017E}', '\u{0178}',
];

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(page: CodePage, bytes: &[u8]) -> String {
        bytes.iter().map(|&b| page.decode(b)).collect()
    }

    #[test]
    fn euro_sign_and_accents_where_each_table_has_them() {
        assert_eq!(
            decode(CodePage::Cp437, b"Caf\x82 cr\x8ame \x9c"),
            "Café crème £"
        );
        assert_eq!(decode(CodePage::Cp850, b"\x99l \xd5"), "Öl ı");
        assert_eq!(decode(CodePage::Cp858, b"\x99l \xd5"), "Öl €");
        assert_eq!(decode(CodePage::Cp1252, b"\x80 \xe9\xe8 \x8a"), "€ éè Š");
        assert_eq!(decode(CodePage::Iso8859_15, b"\xa4 \xe9 \xbd"), "€ é œ");
        assert_eq!(
            decode(CodePage::Iso8859_7, b"\xa4 \xc1\xe8\xde\xed\xe1"),
            "€ Αθήνα"
        );
    }

    #[test]
    fn undefined_and_control_bytes_are_replacement_characters() {
        assert_eq!(CodePage::Cp1252.decode(0x81), char::REPLACEMENT_CHARACTER);
        assert_eq!(
            CodePage::Iso8859_7.decode(0xD2),
            char::REPLACEMENT_CHARACTER
        );
        assert_eq!(
            CodePage::Iso8859_15.decode(0x85),
            char::REPLACEMENT_CHARACTER
        );
        assert_eq!(CodePage::Cp437.decode(0x1B), char::REPLACEMENT_CHARACTER);
        assert_eq!(decode_unknown(0xE9), char::REPLACEMENT_CHARACTER);
        assert_eq!(decode_unknown(b'A'), 'A');
    }

    #[test]
    fn every_byte_decodes_and_ascii_is_ascii() {
        for page in [
            CodePage::Cp437,
            CodePage::Cp850,
            CodePage::Cp858,
            CodePage::Cp1252,
            CodePage::Iso8859_7,
            CodePage::Iso8859_15,
        ] {
            for b in 0x20..=0x7E {
                assert_eq!(page.decode(b), char::from(b));
            }
            let upper: Vec<char> = (0x80..=0xFF).map(|b| page.decode(b)).collect();
            assert!(upper.iter().all(|c| !c.is_ascii()), "{page:?}");
        }
        assert_eq!(CodePage::from_escpos(19), Some(CodePage::Cp858));
        assert_eq!(CodePage::from_escpos(1), None);
    }
}
