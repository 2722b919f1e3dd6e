//! Pure, incremental decoding of what a POS sends its ESC/POS receipt printer: bytes as read
//! (from a serial line, a printer port or a network print socket) → one [`Receipt`] per printed
//! receipt, with its text, its raw bytes and the barcodes printed on it.
//!
//! Rules (each has a test):
//! - Text is bytes 0x20–0x7E (ASCII) and 0x80–0xFF decoded by the active character code table
//!   ([`CodePage`]: CP437, CP850, CP858, CP1252, ISO 8859-7 and ISO 8859-15; see
//!   [`codepage`]). The table starts as [`EscPosOptions::code_page`], changes with `ESC t n`, and
//!   is reset by `ESC @`. After `ESC t n` with a table not supported here, upper-half bytes come
//!   out as U+FFFD rather than as a wrong letter.
//! - LF ends a line; CR does too (CR LF counts once); HT is a tab; the print-and-feed commands
//!   (`ESC d`, `ESC e`, `ESC J`, `ESC K`, `ESC FF`) and FF end the current line if it has text;
//!   horizontal positioning (`ESC $`, `ESC \`) comes out as a tab so columns stay apart. Other
//!   control bytes are dropped.
//! - Commands are stripped, with their parameters and payloads, using Epson's lengths
//!   (the table in `command.rs`): styles and sizes, code tables, drawer kicks (`ESC p`), status requests
//!   (`DLE EOT`, `DLE ENQ`, `DLE DC4`), bit and raster images (`ESC *`, `GS v 0`, `GS *`,
//!   `FS q`), `GS ( …`/`ESC ( …`/`FS ( …` with their pL pH lengths (QR codes, graphics), and
//!   `GS 8 L` with its 32-bit length. Payloads are skipped as they stream past, never buffered.
//! - Barcodes (`GS k`, both the NUL-terminated and the length-prefixed forms) are not text; their
//!   data is kept in [`Receipt::barcodes`] (CODE128 code-set prefixes resolved, code set C
//!   expanded to digits). A NUL-terminated barcode whose data is not printable ASCII, or longer
//!   than 255 bytes, is malformed: its data bytes are read again as ordinary input.
//! - Unknown commands are skipped conservatively: only the prefix byte (ESC, GS, FS or DLE)
//!   and, when it is printable, the byte after it are dropped; everything after is read as
//!   ordinary input. At worst a stray parameter character shows up in the text; no later text
//!   or cut is ever swallowed by a guess. [`EscPosStats::unknown_commands`] counts them.
//! - Receipts end at a cut (`GS V` in all its forms, `ESC i`, `ESC m`): [`EndedBy::Cut`], the
//!   cut's bytes belong to the receipt it ends. `ESC @` while text is pending also ends the
//!   receipt ([`EndedBy::Init`]): the `ESC @` starts the next one. [`EscPosDecoder::flush_idle`]
//!   ends the pending receipt when the feed has gone quiet ([`EndedBy::Idle`]), for POS systems
//!   that never cut; it also abandons a command cut short, so a corrupt image length cannot
//!   swallow the input for longer than one burst.
//! - A receipt is produced only when it has content (a non-whitespace character or a barcode).
//!   Command-only stretches (a feed and cut after a cut, a logo before the first text that is
//!   then cut) yield nothing; [`EscPosStats::empty_segments`] counts them.
//! - Memory is bounded: text longer than [`EscPosOptions::max_text_bytes`] is split into
//!   several receipts ([`EndedBy::Limit`]); raw bytes past [`EscPosOptions::max_raw_bytes`] are
//!   not kept ([`Receipt::raw_truncated`]).
//! - Receipt text ends with a newline. [`Receipt::raw`] is a contiguous run of the input (its
//!   prefix when truncated), and the raws of successive receipts appear in input order.
//! - The output depends only on the byte sequence, not on how reads split it; nothing panics,
//!   whatever the input.

pub mod codepage;
mod command;
#[cfg(test)]
mod tests;

pub use codepage::CodePage;

use std::collections::VecDeque;

use serde::Deserialize;

use command::{Effect, Measure, Then, DLE, ESC, FS, GS};

const LF: u8 = 0x0A;
const CR: u8 = 0x0D;
const HT: u8 = 0x09;
const FF: u8 = 0x0C;
/// The longest NUL-terminated barcode kept before the data is read again as text.
const MAX_BARCODE_BYTES: usize = 255;
/// No command's fixed part is longer (`ESC W` and `DLE DC4 8` take 10 bytes).
const MAX_COMMAND_BYTES: usize = 16;

/// How to read an ESC/POS stream (part of a POS printer driver's config).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscPosOptions {
    /// Character code table in force at power-on and after `ESC @` (`cp437`, `cp850`, `cp858`,
    /// `cp1252`, `iso-8859-7` or `iso-8859-15`). Most printers start in CP437; set this to the
    /// table chosen in the printer's memory switches when the POS relies on it.
    #[serde(default = "default_code_page")]
    pub code_page: CodePage,
    /// Longest receipt text in bytes. Longer output is split into several receipts, so a POS
    /// that never cuts cannot make the driver hold unbounded text.
    #[serde(default = "default_max_text_bytes")]
    pub max_text_bytes: usize,
    /// Raw bytes kept per receipt (images included); the rest are not stored and the receipt
    /// says so.
    #[serde(default = "default_max_raw_bytes")]
    pub max_raw_bytes: usize,
}

fn default_code_page() -> CodePage {
    CodePage::Cp437
}

fn default_max_text_bytes() -> usize {
    64 * 1024
}

fn default_max_raw_bytes() -> usize {
    1024 * 1024
}

impl Default for EscPosOptions {
    fn default() -> Self {
        EscPosOptions {
            code_page: default_code_page(),
            max_text_bytes: default_max_text_bytes(),
            max_raw_bytes: default_max_raw_bytes(),
        }
    }
}

/// Why a receipt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndedBy {
    /// A cut command.
    Cut,
    /// `ESC @` while text was pending.
    Init,
    /// [`EscPosDecoder::flush_idle`]: the feed went quiet.
    Idle,
    /// The text reached [`EscPosOptions::max_text_bytes`]; the output continues in the next
    /// receipt.
    Limit,
}

/// One printed receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The printed text, lines separated by `\n`, ending with `\n`.
    pub text: String,
    /// The bytes the POS sent for this receipt, commands included.
    pub raw: Vec<u8>,
    /// `raw` holds only the first [`EscPosOptions::max_raw_bytes`] bytes.
    pub raw_truncated: bool,
    /// Data of the barcodes printed on the receipt, in order.
    pub barcodes: Vec<String>,
    pub ended_by: EndedBy,
}

/// Counters for diagnostics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EscPosStats {
    /// Receipts produced.
    pub receipts: u64,
    /// Commands not in the table, skipped conservatively.
    pub unknown_commands: u64,
    /// Commands abandoned: cut short by [`EscPosDecoder::flush_idle`], or malformed barcodes.
    pub abandoned_commands: u64,
    /// Stretches without content closed by a cut or an idle flush (nothing produced).
    pub empty_segments: u64,
}

/// Where to go once a payload has been skipped.
#[derive(Debug, Clone, Copy)]
enum After {
    Ground,
    UserChars { y: u8, count: u16 },
    NvImages { count: u8 },
}

#[derive(Debug)]
enum State {
    /// Text, or the start of a command.
    Ground,
    /// Collecting a command's fixed part in `EscPosDecoder::cmd`.
    Command,
    /// Skipping a payload.
    Skip { left: u64, then: After },
    /// Skipping up to a NUL (`ESC D`), at most `left` more bytes.
    UntilNul { left: u16 },
    /// Collecting barcode data: up to a NUL (`len` None) or `len` bytes.
    Barcode {
        symbology: u8,
        data: Vec<u8>,
        len: Option<u8>,
    },
    /// `ESC &`: the width byte of the next user-defined character.
    UserChars { y: u8, count: u16 },
    /// `FS q`: collecting the 4-byte header of the next NV image in `EscPosDecoder::cmd`.
    NvImages { count: u8 },
}

/// The receipt being built.
#[derive(Debug, Default)]
struct Pending {
    text: String,
    raw: Vec<u8>,
    raw_truncated: bool,
    /// Bytes of the input that belong to this receipt (kept in `raw` or not).
    raw_seen: u64,
    barcodes: Vec<String>,
    /// A non-whitespace character or a barcode was seen.
    has_content: bool,
    /// Characters on the current line.
    line_len: usize,
}

/// Incremental ESC/POS decoder: feed it bytes as they are read.
#[derive(Debug)]
pub struct EscPosDecoder {
    options: EscPosOptions,
    state: State,
    cmd: Vec<u8>,
    /// None after `ESC t n` selected a table not supported here.
    code_page: Option<CodePage>,
    after_cr: bool,
    pending: Pending,
    /// Bytes already seen (and kept in raw) that must be read again as ordinary input.
    replay: VecDeque<u8>,
    /// The byte being read again, while one is: a receipt split at it must take it along.
    replayed: Option<u8>,
    out: Vec<Receipt>,
    stats: EscPosStats,
}

impl Default for EscPosDecoder {
    fn default() -> Self {
        EscPosDecoder::new(EscPosOptions::default())
    }
}

impl EscPosDecoder {
    pub fn new(options: EscPosOptions) -> Self {
        EscPosDecoder {
            code_page: Some(options.code_page),
            options,
            state: State::Ground,
            cmd: Vec::with_capacity(MAX_COMMAND_BYTES),
            after_cr: false,
            pending: Pending::default(),
            replay: VecDeque::new(),
            replayed: None,
            out: Vec::new(),
            stats: EscPosStats::default(),
        }
    }

    /// Feeds bytes as read; returns the receipts they completed, in order.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Receipt> {
        let mut i = 0;
        while i < bytes.len() {
            // Payloads (images) go past in one piece instead of byte by byte.
            if let State::Skip { left, then } = self.state {
                let n = left.min((bytes.len() - i) as u64) as usize;
                self.keep_raw(&bytes[i..i + n]);
                i += n;
                self.state = self.skip(left - n as u64, then);
                continue;
            }
            let b = bytes[i];
            i += 1;
            self.keep_raw(&[b]);
            self.step(b, true);
            while let Some(again) = self.replay.pop_front() {
                self.replayed = Some(again);
                self.step(again, false);
            }
            self.replayed = None;
        }
        std::mem::take(&mut self.out)
    }

    /// Ends the pending receipt because the feed has gone quiet: returns it if it has content.
    /// A command still in progress is abandoned (its bytes stay in the receipt's raw).
    pub fn flush_idle(&mut self) -> Option<Receipt> {
        if !matches!(self.state, State::Ground) {
            self.stats.abandoned_commands += 1;
        }
        self.state = State::Ground;
        self.cmd.clear();
        self.replay.clear();
        self.after_cr = false;
        self.emit(EndedBy::Idle, &[]);
        self.out.pop()
    }

    /// Whether text or a barcode is waiting for a cut (or for [`EscPosDecoder::flush_idle`]).
    pub fn has_pending(&self) -> bool {
        self.pending.has_content
    }

    pub fn stats(&self) -> &EscPosStats {
        &self.stats
    }

    fn keep_raw(&mut self, bytes: &[u8]) {
        let p = &mut self.pending;
        let room = self.options.max_raw_bytes.saturating_sub(p.raw.len());
        if bytes.len() > room {
            p.raw_truncated = true;
        }
        p.raw.extend_from_slice(&bytes[..bytes.len().min(room)]);
        p.raw_seen += bytes.len() as u64;
    }

    /// Handles one byte; `fresh` is false for bytes read again from `replay`.
    fn step(&mut self, b: u8, fresh: bool) {
        match std::mem::replace(&mut self.state, State::Ground) {
            State::Ground => self.ground(b, fresh),
            State::Command => {
                self.cmd.push(b);
                self.command(fresh);
            }
            State::Skip { left, then } => self.state = self.skip(left.saturating_sub(1), then),
            State::UntilNul { left } => {
                if b != 0 && left > 1 {
                    self.state = State::UntilNul { left: left - 1 };
                }
            }
            State::Barcode {
                symbology,
                mut data,
                len: None,
            } => {
                if b == 0 {
                    self.barcode(symbology, &data);
                } else if (0x20..=0x7E).contains(&b) && data.len() < MAX_BARCODE_BYTES {
                    data.push(b);
                    self.state = State::Barcode {
                        symbology,
                        data,
                        len: None,
                    };
                } else {
                    // Malformed: read its data (and this byte) again as ordinary input.
                    self.stats.abandoned_commands += 1;
                    data.push(b);
                    self.replay_front(&data);
                }
            }
            State::Barcode {
                symbology,
                mut data,
                len: Some(len),
            } => {
                data.push(b);
                if data.len() >= usize::from(len) {
                    self.barcode(symbology, &data);
                } else {
                    self.state = State::Barcode {
                        symbology,
                        data,
                        len: Some(len),
                    };
                }
            }
            State::UserChars { y, count } => {
                let len = u64::from(y) * u64::from(b);
                self.state = self.skip(
                    len,
                    After::UserChars {
                        y,
                        count: count.saturating_sub(1),
                    },
                );
            }
            State::NvImages { count } => {
                self.cmd.push(b);
                if self.cmd.len() < 4 {
                    self.state = State::NvImages { count };
                } else {
                    let c = &self.cmd;
                    let x = u64::from(c[0]) + (u64::from(c[1]) << 8);
                    let y = u64::from(c[2]) + (u64::from(c[3]) << 8);
                    self.cmd.clear();
                    self.state = self.skip(
                        x * y * 8,
                        After::NvImages {
                            count: count.saturating_sub(1),
                        },
                    );
                }
            }
        }
    }

    /// The state for `left` more payload bytes, then `then`.
    fn skip(&mut self, left: u64, then: After) -> State {
        if left > 0 {
            return State::Skip { left, then };
        }
        match then {
            After::Ground | After::UserChars { count: 0, .. } | After::NvImages { count: 0 } => {
                State::Ground
            }
            After::UserChars { y, count } => State::UserChars { y, count },
            After::NvImages { count } => {
                self.cmd.clear();
                State::NvImages { count }
            }
        }
    }

    fn ground(&mut self, b: u8, fresh: bool) {
        let after_cr = std::mem::replace(&mut self.after_cr, false);
        let from = fresh.then_some(b);
        match b {
            ESC | GS | FS | DLE => {
                self.cmd.clear();
                self.cmd.push(b);
                self.state = State::Command;
            }
            LF if after_cr => {} // the LF of CR LF
            LF => self.push_char('\n', from),
            CR => {
                self.push_char('\n', from);
                self.after_cr = true;
            }
            HT => self.push_char('\t', from),
            FF => self.end_line(from),
            0x00..=0x1F | 0x7F => {}
            _ => {
                let c = match self.code_page {
                    Some(page) => page.decode(b),
                    None => codepage::decode_unknown(b),
                };
                self.push_char(c, from);
            }
        }
    }

    fn command(&mut self, fresh: bool) {
        let verdict = if self.cmd.len() > MAX_COMMAND_BYTES {
            Measure::Unknown
        } else {
            command::measure(&self.cmd)
        };
        match verdict {
            Measure::More => self.state = State::Command,
            Measure::Unknown => {
                self.stats.unknown_commands += 1;
                // Drop the prefix, and the byte after it if printable (a function byte);
                // read the rest again so nothing later is lost.
                let second = self.cmd.get(1).copied().unwrap_or(0);
                let from = if self.cmd.len() == 2 && !(0x20..=0x7E).contains(&second) {
                    1
                } else {
                    2
                };
                let again = self.cmd.split_off(from.min(self.cmd.len()));
                self.cmd.clear();
                self.replay_front(&again);
            }
            Measure::Known { effect, then } => {
                match effect {
                    Effect::None => {}
                    Effect::Init => {
                        if self.pending.has_content {
                            let carry: &[u8] = if fresh { &[ESC, b'@'] } else { &[] };
                            self.emit(EndedBy::Init, carry);
                        }
                        self.code_page = Some(self.options.code_page);
                    }
                    Effect::Cut => self.emit(EndedBy::Cut, &[]),
                    Effect::CodePage(n) => self.code_page = CodePage::from_escpos(n),
                    Effect::EndLine => self.end_line(None),
                    Effect::Column => self.push_char('\t', None),
                }
                self.cmd.clear();
                self.state = match then {
                    Then::Done => State::Ground,
                    Then::Skip(len) => self.skip(len, After::Ground),
                    Then::UntilNul(max) => State::UntilNul { left: max },
                    Then::BarcodeUntilNul { symbology } => State::Barcode {
                        symbology,
                        data: Vec::new(),
                        len: None,
                    },
                    Then::Barcode { len: 0, .. } => State::Ground,
                    Then::Barcode { symbology, len } => State::Barcode {
                        symbology,
                        data: Vec::with_capacity(usize::from(len)),
                        len: Some(len),
                    },
                    Then::UserChars { y, count } => self.skip(0, After::UserChars { y, count }),
                    Then::NvImages { count } => self.skip(0, After::NvImages { count }),
                };
            }
        }
    }

    /// Queues bytes to be read again before anything already queued.
    fn replay_front(&mut self, bytes: &[u8]) {
        for &b in bytes.iter().rev() {
            self.replay.push_front(b);
        }
    }

    fn barcode(&mut self, symbology: u8, data: &[u8]) {
        let text = barcode_text(symbology, data);
        if !text.is_empty() {
            self.pending.barcodes.push(text);
            self.pending.has_content = true;
        }
    }

    fn end_line(&mut self, from: Option<u8>) {
        if self.pending.line_len > 0 {
            self.push_char('\n', from);
        }
    }

    /// Adds a character; `from` is the input byte that brought it when that byte is the one
    /// just read (so it moves to the next receipt if this one is full).
    fn push_char(&mut self, c: char, from: Option<u8>) {
        if self.pending.text.len() + c.len_utf8() > self.options.max_text_bytes {
            match (from, self.replayed) {
                (Some(b), _) => self.emit(EndedBy::Limit, &[b]),
                // A byte read again (after an unknown command) and those queued after it are
                // the newest raw bytes: they move to the next receipt with the text they make,
                // or that receipt would hold text without the bytes it came from.
                (None, Some(b)) => {
                    let carry: Vec<u8> = std::iter::once(b)
                        .chain(self.replay.iter().copied())
                        .collect();
                    self.emit(EndedBy::Limit, &carry)
                }
                (None, None) => self.emit(EndedBy::Limit, &[]),
            }
        }
        let p = &mut self.pending;
        p.text.push(c);
        if c == '\n' {
            p.line_len = 0;
        } else {
            p.line_len += 1;
        }
        if !c.is_whitespace() {
            p.has_content = true;
        }
    }

    /// Ends the pending receipt; `carry` are its last input bytes, which start the next one.
    fn emit(&mut self, ended_by: EndedBy, carry: &[u8]) {
        let mut p = std::mem::take(&mut self.pending);
        // Take the carried bytes off this receipt's raw where they were stored.
        let keep = p.raw_seen.saturating_sub(carry.len() as u64);
        if p.raw.len() as u64 >= keep {
            p.raw.truncate(keep as usize);
            p.raw_truncated = false;
        }
        self.keep_raw(carry);
        if !p.has_content {
            if !p.raw.is_empty() || !p.text.is_empty() {
                self.stats.empty_segments += 1;
            }
            return;
        }
        if !p.text.ends_with('\n') {
            p.text.push('\n');
        }
        self.stats.receipts += 1;
        self.out.push(Receipt {
            text: p.text,
            raw: p.raw,
            raw_truncated: p.raw_truncated,
            barcodes: p.barcodes,
            ended_by,
        });
    }
}

/// CODE128 in ESC/POS (`GS k` m = 73).
const CODE128: u8 = 73;

/// The data a barcode encodes, as text. CODE128 data starts with a code-set selector (`{A`,
/// `{B`, `{C`); in code set C each byte is two digits; `{1` (FNC1) becomes GS (0x1D) except
/// in first position, `{{` is `{`, other `{` escapes are dropped. Bytes that are not printable
/// ASCII become U+FFFD.
fn barcode_text(symbology: u8, data: &[u8]) -> String {
    let printable = |b: u8| {
        if (0x20..=0x7E).contains(&b) {
            char::from(b)
        } else {
            char::REPLACEMENT_CHARACTER
        }
    };
    if symbology != CODE128 {
        return data.iter().map(|&b| printable(b)).collect();
    }
    let mut out = String::new();
    let mut set = b'B';
    let mut i = 0;
    while i < data.len() {
        let b = data[i];
        if b == b'{' && i + 1 < data.len() {
            match data[i + 1] {
                s @ (b'A' | b'B' | b'C') => set = s,
                b'{' => out.push('{'),
                b'1' if !out.is_empty() => out.push('\u{1d}'),
                _ => {}
            }
            i += 2;
            continue;
        }
        if set == b'C' {
            if b < 100 {
                out.push(char::from(b'0' + b / 10));
                out.push(char::from(b'0' + b % 10));
            } else {
                out.push(char::REPLACEMENT_CHARACTER);
            }
        } else {
            out.push(printable(b));
        }
        i += 1;
    }
    out
}
