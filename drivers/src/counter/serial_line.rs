//! A simple ASCII line protocol for infrared beam counters on a serial line.
//!
//! Beam counters see a pulse per beam break and tell direction from the order of two beams, but
//! the serial models do not agree on what they send. This is **our own** protocol, documented
//! here, for counters (or small adapter boards) that can be set up to speak it:
//!
//! ```text
//! # comment: anything after '#' is ignored
//! IN 3          three people came in since the previous message
//! OUT 1         one person went out
//! IN            one person came in (the count defaults to 1: one message per beam break)
//! TOTAL 1204 1187   running totals in and out since the counter was powered up or reset
//! ```
//!
//! - One message per line, ended by LF; a CR before the LF is ignored (CRLF is what most
//!   devices send). Blank lines and comment lines are ignored.
//! - Commands are case-insensitive; fields are separated by spaces or tabs.
//! - Counts are unsigned decimal: up to 4294967295 for `IN`/`OUT`, up to 2^64 - 1 for `TOTAL`.
//! - A line is at most [`MAX_LINE_BYTES`] bytes (terminator excluded).
//! - `IN`/`OUT` become one tick each, stamped with the time the line was received.
//! - `TOTAL` goes through a [`CumulativeTracker`]: the first `TOTAL` is the baseline and counts
//!   nothing, a repeated `TOTAL` with the same values counts nothing, totals that go down mean
//!   the counter was reset (see [`tracker`](super::tracker)). `TOTAL`s are ordered by arrival, as
//!   the counter sends no time.
//!
//! [`LineSplitter`] cuts the byte stream into lines for [`SerialLineCounter::feed`]; the
//! `counter_serial` driver ([`super::serial`]) reads the port and journals the results.

use store_proto::v1::FootTraffic;

use super::reading::interval;
use super::tracker::{CumulativeTracker, Step};

/// Longest accepted line, terminator excluded.
pub const MAX_LINE_BYTES: usize = 128;

/// One message of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    /// People in since the previous message.
    In(u32),
    /// People out since the previous message.
    Out(u32),
    /// Running totals since the counter's last reset.
    Total { entries: u64, exits: u64 },
}

/// A line that is not a valid message. Each variant carries the offending line (shortened and
/// made printable).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SerialLineError {
    #[error("line {line:?}: not ASCII text")]
    NotAscii { line: String },
    #[error("line {line:?}: longer than {MAX_LINE_BYTES} bytes")]
    TooLong { line: String },
    #[error("line {line:?}: unknown command `{command}` (expected IN, OUT or TOTAL)")]
    UnknownCommand { line: String, command: String },
    #[error("line {line:?}: {command} takes {expected}")]
    WrongArity {
        line: String,
        command: &'static str,
        expected: &'static str,
    },
    #[error("line {line:?}: `{value}` is not a count (unsigned decimal, at most {max})")]
    BadNumber {
        line: String,
        value: String,
        max: u64,
    },
}

/// The line as shown in errors: lossy UTF-8, at most 64 characters.
fn shown(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    if text.chars().count() <= 64 {
        text.into_owned()
    } else {
        let mut s: String = text.chars().take(64).collect();
        s.push('…');
        s
    }
}

fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn number(raw: &[u8], field: &str, max: u64) -> Result<u64, SerialLineError> {
    let bad = || SerialLineError::BadNumber {
        line: shown(raw),
        value: field.chars().take(32).collect(),
        max,
    };
    if field.is_empty() || !field.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let value: u64 = field.parse().map_err(|_| bad())?;
    if value > max {
        return Err(bad());
    }
    Ok(value)
}

/// Parses one line (with or without its terminator). `Ok(None)` for blank and comment lines.
pub fn parse_line(raw: &[u8]) -> Result<Option<Message>, SerialLineError> {
    let line = strip_eol(raw);
    if line.len() > MAX_LINE_BYTES {
        return Err(SerialLineError::TooLong { line: shown(line) });
    }
    if !line.is_ascii() {
        return Err(SerialLineError::NotAscii { line: shown(line) });
    }
    // ASCII was checked just above, so this cannot fail; an error is still handled, not unwrapped.
    let text =
        std::str::from_utf8(line).map_err(|_| SerialLineError::NotAscii { line: shown(line) })?;
    let text = text.split('#').next().unwrap_or_default();
    let mut fields = text.split([' ', '\t']).filter(|f| !f.is_empty());
    let Some(command) = fields.next() else {
        return Ok(None);
    };
    let args: Vec<&str> = fields.collect();
    let arity = |command: &'static str, expected: &'static str| SerialLineError::WrongArity {
        line: shown(line),
        command,
        expected,
    };
    let max32 = u64::from(u32::MAX);
    let message = if command.eq_ignore_ascii_case("IN") || command.eq_ignore_ascii_case("OUT") {
        let is_in = command.eq_ignore_ascii_case("IN");
        let name = if is_in { "IN" } else { "OUT" };
        let n = match args.as_slice() {
            [] => 1,
            [n] => number(line, n, max32)?,
            _ => return Err(arity(name, "at most one count")),
        };
        // number() checked n <= u32::MAX.
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        if is_in {
            Message::In(n)
        } else {
            Message::Out(n)
        }
    } else if command.eq_ignore_ascii_case("TOTAL") {
        match args.as_slice() {
            [i, o] => Message::Total {
                entries: number(line, i, u64::MAX)?,
                exits: number(line, o, u64::MAX)?,
            },
            _ => return Err(arity("TOTAL", "two counts: in and out")),
        }
    } else {
        return Err(SerialLineError::UnknownCommand {
            line: shown(line),
            command: command.chars().take(32).collect(),
        });
    };
    Ok(Some(message))
}

/// Decoder state of one serial counter: its identity and the tracker for its `TOTAL`s.
#[derive(Debug, Clone)]
pub struct SerialLineCounter {
    counter_id: String,
    line: String,
    tracker: CumulativeTracker,
    totals_seen: u64,
}

impl SerialLineCounter {
    /// `counter_id` and `line` label the events of this counter.
    pub fn new(counter_id: impl Into<String>, line: impl Into<String>) -> Self {
        SerialLineCounter {
            counter_id: counter_id.into(),
            line: line.into(),
            tracker: CumulativeTracker::new(),
            totals_seen: 0,
        }
    }

    /// Decodes one received line into foot traffic. `now_ms` is when the line was received
    /// (epoch ms). `Ok(None)` for blank and comment lines, for the first `TOTAL` (the baseline)
    /// and for a `TOTAL` that adds nothing.
    pub fn feed(
        &mut self,
        raw: &[u8],
        now_ms: i64,
    ) -> Result<Option<FootTraffic>, SerialLineError> {
        let traffic = match parse_line(raw)? {
            None => None,
            Some(Message::In(n)) => Some(self.tick(now_ms, now_ms, n, 0)),
            Some(Message::Out(n)) => Some(self.tick(now_ms, now_ms, 0, n)),
            Some(Message::Total { entries, exits }) => {
                self.totals_seen += 1;
                match self
                    .tracker
                    .observe(self.totals_seen, now_ms, entries, exits)
                {
                    Step::Delta {
                        start_ms,
                        end_ms,
                        entries,
                        exits,
                        ..
                    } if entries > 0 || exits > 0 => {
                        Some(self.tick(start_ms, end_ms, entries, exits))
                    }
                    _ => None,
                }
            }
        };
        Ok(traffic)
    }

    fn tick(&self, start_ms: i64, end_ms: i64, entries: u32, exits: u32) -> FootTraffic {
        interval(
            &self.counter_id,
            &self.line,
            start_ms,
            end_ms,
            entries,
            exits,
        )
    }
}

/// Cuts a serial byte stream into lines, whatever how reads split it.
///
/// A line is returned with its LF removed (a CR before it stays, [`parse_line`] ignores it).
/// A line that grows past [`MAX_LINE_BYTES`] + 1 bytes without an LF is returned at once as it
/// stands (so [`parse_line`] reports it as too long, with its start) and the rest of it, up to
/// the next LF, is skipped: memory held stays bounded whatever the device sends.
#[derive(Debug, Clone, Default)]
pub struct LineSplitter {
    buf: Vec<u8>,
    /// Skipping the rest of a line already returned as too long.
    discarding: bool,
}

impl LineSplitter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes as read; returns the lines they complete, in order.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for &b in bytes {
            if b == b'\n' {
                if !std::mem::take(&mut self.discarding) {
                    out.push(std::mem::take(&mut self.buf));
                }
                continue;
            }
            if self.discarding {
                continue;
            }
            self.buf.push(b);
            // One byte of slack for the CR of a CRLF line of exactly MAX_LINE_BYTES.
            if self.buf.len() > MAX_LINE_BYTES + 1 {
                out.push(std::mem::take(&mut self.buf));
                self.discarding = true;
            }
        }
        out
    }

    /// What was received after the last LF (for when the port goes away), if anything.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        self.discarding = false;
        Some(std::mem::take(&mut self.buf)).filter(|b| !b.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitter_cuts_lines_and_bounds_long_ones() {
        let mut s = LineSplitter::new();
        assert_eq!(s.push(b"IN 3\r\nOU"), vec![b"IN 3\r".to_vec()]);
        assert_eq!(s.push(b"T 1\n\n"), vec![b"OUT 1".to_vec(), Vec::new()]);
        let long = vec![b'1'; 300];
        let lines = s.push(&[&b"IN "[..], &long, b"\r\nIN\n"].concat());
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0].len(), MAX_LINE_BYTES + 2);
        assert!(matches!(
            parse_line(&lines[0]),
            Err(SerialLineError::TooLong { .. })
        ));
        assert_eq!(lines[1], b"IN");
        // A line of exactly MAX_LINE_BYTES with CRLF is not too long.
        let fits = [&b"# "[..], &[b'x'; MAX_LINE_BYTES - 2], b"\r\n"].concat();
        assert_eq!(s.push(&fits).len(), 1);
        assert_eq!(parse_line(&fits[..fits.len() - 1]), Ok(None));
        assert_eq!(s.push(b"TOTAL 1"), Vec::<Vec<u8>>::new());
        assert_eq!(s.finish(), Some(b"TOTAL 1".to_vec()));
        assert_eq!(s.finish(), None);
    }

    #[test]
    fn mutated_streams_never_panic_and_do_not_depend_on_read_sizes() {
        let valid = b"IN 3\r\nOUT\r\n# c\nTOTAL 1204 1187\r\nTOTAL 1210 1190\r\nin 2\n";
        let alphabet = b"INOUTAL0123456789 \t#\r\n\xff";
        let mut rng = crate::testing::XorShift(0x5EED_1234);
        for _ in 0..2000 {
            let input = rng.mutate(valid, alphabet);
            let mut whole = LineSplitter::new();
            let mut counter = SerialLineCounter::new("beam", "main");
            let expected: Vec<_> = whole
                .push(&input)
                .iter()
                .map(|l| counter.feed(l, 1).map_err(|e| e.to_string()))
                .collect();
            let mut split = LineSplitter::new();
            let mut counter = SerialLineCounter::new("beam", "main");
            let mut got = Vec::new();
            for chunk in rng.chunks(&input) {
                for l in split.push(chunk) {
                    assert!(l.len() <= MAX_LINE_BYTES + 2);
                    got.push(counter.feed(&l, 1).map_err(|e| e.to_string()));
                }
            }
            assert_eq!(got, expected, "{input:?}");
            assert_eq!(split.finish(), whole.finish());
        }
    }

    #[test]
    fn parses_each_message() {
        assert_eq!(parse_line(b"IN 3\r\n"), Ok(Some(Message::In(3))));
        assert_eq!(parse_line(b"OUT 1\r\n"), Ok(Some(Message::Out(1))));
        assert_eq!(parse_line(b"in\n"), Ok(Some(Message::In(1))));
        assert_eq!(
            parse_line(b"  Out\t 2  # side door\n"),
            Ok(Some(Message::Out(2)))
        );
        assert_eq!(
            parse_line(b"TOTAL 1204 1187\r\n"),
            Ok(Some(Message::Total {
                entries: 1204,
                exits: 1187
            }))
        );
        assert_eq!(
            parse_line(b"TOTAL 18446744073709551615 0"),
            Ok(Some(Message::Total {
                entries: u64::MAX,
                exits: 0
            }))
        );
        assert_eq!(
            parse_line(b"IN 4294967295"),
            Ok(Some(Message::In(u32::MAX)))
        );
        assert_eq!(parse_line(b"# counter v2 booted\r\n"), Ok(None));
        assert_eq!(parse_line(b"\r\n"), Ok(None));
        assert_eq!(parse_line(b""), Ok(None));
    }

    #[test]
    fn bad_lines_are_typed_errors_with_the_line() {
        assert_eq!(
            parse_line(b"IN -3\r\n"),
            Err(SerialLineError::BadNumber {
                line: "IN -3".into(),
                value: "-3".into(),
                max: u64::from(u32::MAX)
            })
        );
        assert_eq!(
            parse_line(b"IN 4294967296").unwrap_err().to_string(),
            "line \"IN 4294967296\": `4294967296` is not a count (unsigned decimal, at most 4294967295)"
        );
        assert_eq!(
            parse_line(b"TOTAL 5\r\n").unwrap_err().to_string(),
            "line \"TOTAL 5\": TOTAL takes two counts: in and out"
        );
        assert_eq!(
            parse_line(b"IN 1 2").unwrap_err().to_string(),
            "line \"IN 1 2\": IN takes at most one count"
        );
        assert_eq!(
            parse_line(b"ENTER 2\n").unwrap_err().to_string(),
            "line \"ENTER 2\": unknown command `ENTER` (expected IN, OUT or TOTAL)"
        );
        assert!(matches!(
            parse_line(b"IN 3\xff"),
            Err(SerialLineError::NotAscii { .. })
        ));
        assert!(matches!(
            parse_line(b"TOTAL 1e3 2"),
            Err(SerialLineError::BadNumber { .. })
        ));
        assert!(matches!(
            parse_line(b"TOTAL 18446744073709551616 0"),
            Err(SerialLineError::BadNumber { .. })
        ));
        let long = format!("IN {}", "1".repeat(200));
        let e = parse_line(long.as_bytes()).unwrap_err();
        assert!(matches!(e, SerialLineError::TooLong { .. }));
        assert!(e.to_string().len() < 120, "{e}");
    }

    #[test]
    fn counter_turns_lines_into_foot_traffic() {
        let mut c = SerialLineCounter::new("beam-1", "main");
        let t = c.feed(b"IN 3\r\n", 1_000).unwrap().unwrap();
        assert_eq!((t.counter_id.as_str(), t.line.as_str()), ("beam-1", "main"));
        assert_eq!((t.entries, t.exits), (3, 0));
        assert_eq!((t.interval_start_ms, t.interval_end_ms), (1_000, 1_000));
        let t = c.feed(b"OUT 1\r\n", 2_000).unwrap().unwrap();
        assert_eq!((t.entries, t.exits), (0, 1));
        assert_eq!(c.feed(b"# hello\r\n", 2_500).unwrap(), None);
        // TOTAL: baseline, difference, nothing new, reset.
        assert_eq!(c.feed(b"TOTAL 100 90\r\n", 3_000).unwrap(), None);
        let t = c.feed(b"TOTAL 104 91\r\n", 4_000).unwrap().unwrap();
        assert_eq!((t.entries, t.exits), (4, 1));
        assert_eq!((t.interval_start_ms, t.interval_end_ms), (3_000, 4_000));
        assert_eq!(c.feed(b"TOTAL 104 91\r\n", 5_000).unwrap(), None);
        let t = c.feed(b"TOTAL 2 0\r\n", 6_000).unwrap().unwrap();
        assert_eq!((t.entries, t.exits), (2, 0));
        assert_eq!((t.interval_start_ms, t.interval_end_ms), (5_000, 6_000));
        assert!(c.feed(b"SIDEWAYS 2\r\n", 7_000).is_err());
        // A bad line leaves the state alone.
        let t = c.feed(b"TOTAL 3 0\r\n", 8_000).unwrap().unwrap();
        assert_eq!((t.entries, t.exits), (1, 0));
    }
}
