//! Pure, incremental framing of serial scanner output: bytes as read → one frame per scan.
//!
//! Serial scanners (and USB "COM emulation", which looks the same to tokio-serial) send the
//! decoded data followed by a suffix, usually CR or CR LF, or wrap it in STX (0x02) … ETX (0x03).
//! Reads split that stream anywhere, so [`FrameDecoder`] keeps state between calls.
//!
//! Rules (each has a test):
//! - Line framings: [`Framing::Cr`] ends a frame at CR, [`Framing::Lf`] at LF (a CR before it
//!   stays in the data), [`Framing::CrLf`] at CR LF and also at a lone CR or a lone LF. Empty
//!   frames are never produced, so the LF of a CR LF pair (even split across reads) and blank
//!   lines yield nothing.
//! - [`Framing::StxEtx`]: a frame is the bytes between STX and ETX. Bytes outside a frame are not
//!   dropped: they come out as [`FrameError::Stray`] when the next STX arrives (or at
//!   [`FrameDecoder::flush_idle`], or in chunks of `max_len`). An STX inside a frame reports the
//!   open frame as [`FrameError::Unterminated`] and starts a new one. `STX ETX` yields nothing.
//! - A frame longer than `max_len` yields [`FrameError::TooLong`] with its first `max_len` bytes
//!   as soon as the next byte arrives; the rest of it is skipped up to the next terminator (ETX,
//!   or a new STX, for `StxEtx`). Memory held is at most `max_len` bytes.
//! - The output depends only on the byte sequence, not on how reads split it.
//! - Every payload (frame, kept prefix, stray or unterminated bytes) is a contiguous run of the
//!   input, and each input byte appears in at most one payload.

use serde::Deserialize;

const STX: u8 = 0x02;
const ETX: u8 = 0x03;
const CR: u8 = b'\r';
const LF: u8 = b'\n';

/// How a serial scanner delimits scans (the suffix or wrapping configured in the scanner).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Framing {
    /// Data then CR (0x0D): `cr`.
    Cr,
    /// Data then CR LF; a lone CR or LF also ends a frame: `cr_lf`.
    CrLf,
    /// Data then LF (0x0A): `lf`.
    Lf,
    /// STX (0x02), data, ETX (0x03): `stx_etx`.
    StxEtx,
}

/// Input that did not form a good frame. Each variant keeps the device's bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The frame grew past `max`; `kept` holds its first `max` bytes, the rest was skipped.
    #[error("frame longer than {max} bytes (first {} kept)", kept.len())]
    TooLong { max: usize, kept: Vec<u8> },
    /// Bytes outside STX…ETX.
    #[error("{} bytes outside STX…ETX", bytes.len())]
    Stray { bytes: Vec<u8> },
    /// A frame opened by STX that was not closed by ETX before a new STX or the idle timeout.
    #[error("frame of {} bytes not terminated by ETX", bytes.len())]
    Unterminated { bytes: Vec<u8> },
}

impl FrameError {
    /// The device bytes this error carries (to keep raw with the error).
    pub fn bytes(&self) -> &[u8] {
        match self {
            FrameError::TooLong { kept, .. } => kept,
            FrameError::Stray { bytes } | FrameError::Unterminated { bytes } => bytes,
        }
    }
}

/// One decoded frame (without its terminator or STX/ETX) or an error.
pub type FrameResult = Result<Vec<u8>, FrameError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Line framings: collecting a frame. `StxEtx`: outside a frame, collecting stray bytes.
    Open,
    /// `StxEtx` only: between STX and ETX.
    InFrame,
    /// Skipping the rest of a frame already reported as too long.
    Discarding,
}

/// Incremental frame decoder; see the module docs for the rules.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    framing: Framing,
    max_len: usize,
    state: State,
    /// The frame (or, outside a `StxEtx` frame, the stray bytes) so far; at most `max_len` bytes.
    buf: Vec<u8>,
}

impl FrameDecoder {
    /// A decoder for `framing` keeping at most `max_len` bytes of a frame (0 makes every
    /// non-empty frame too long).
    pub fn new(framing: Framing, max_len: usize) -> Self {
        FrameDecoder {
            framing,
            max_len,
            state: State::Open,
            buf: Vec::new(),
        }
    }

    /// The framing this decoder was built for.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Feeds bytes as read; returns the frames and errors they complete, in input order.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<FrameResult> {
        let mut out = Vec::new();
        for &b in bytes {
            match self.framing {
                Framing::StxEtx => self.push_stx_etx(b, &mut out),
                _ => self.push_line(b, &mut out),
            }
        }
        out
    }

    /// Ends whatever is pending after the I/O loop's idle timeout: a partial line is returned as
    /// a frame (scanners configured without a suffix rely on this), an open `StxEtx` frame as
    /// [`FrameError::Unterminated`], stray bytes as [`FrameError::Stray`]. The rest of a frame
    /// already reported as too long is forgotten. The next byte starts afresh.
    pub fn flush_idle(&mut self) -> Option<FrameResult> {
        let state = std::mem::replace(&mut self.state, State::Open);
        let bytes = std::mem::take(&mut self.buf);
        match (self.framing, state) {
            (_, State::Discarding) => None,
            (Framing::StxEtx, State::InFrame) => Some(Err(FrameError::Unterminated { bytes })),
            _ if bytes.is_empty() => None,
            (Framing::StxEtx, _) => Some(Err(FrameError::Stray { bytes })),
            _ => Some(Ok(bytes)),
        }
    }

    fn is_line_end(&self, b: u8) -> bool {
        match self.framing {
            Framing::Cr => b == CR,
            Framing::Lf => b == LF,
            Framing::CrLf => b == CR || b == LF,
            Framing::StxEtx => false,
        }
    }

    fn push_line(&mut self, b: u8, out: &mut Vec<FrameResult>) {
        if self.is_line_end(b) {
            // A terminator ends a skipped frame too; an empty frame (the LF of CR LF, a blank
            // line) carries nothing worth an event.
            if self.state == State::Discarding {
                self.state = State::Open;
            } else if !self.buf.is_empty() {
                out.push(Ok(std::mem::take(&mut self.buf)));
            }
        } else if self.state != State::Discarding {
            self.collect(b, out);
        }
    }

    fn push_stx_etx(&mut self, b: u8, out: &mut Vec<FrameResult>) {
        match (self.state, b) {
            (State::Open, STX) => {
                if !self.buf.is_empty() {
                    let bytes = std::mem::take(&mut self.buf);
                    out.push(Err(FrameError::Stray { bytes }));
                }
                self.state = State::InFrame;
            }
            (State::Open, _) => {
                if self.buf.len() >= self.max_len && !self.buf.is_empty() {
                    let bytes = std::mem::take(&mut self.buf);
                    out.push(Err(FrameError::Stray { bytes }));
                }
                if self.max_len == 0 {
                    out.push(Err(FrameError::Stray { bytes: vec![b] }));
                } else {
                    self.buf.push(b);
                }
            }
            (State::InFrame, STX) => {
                let bytes = std::mem::take(&mut self.buf);
                out.push(Err(FrameError::Unterminated { bytes }));
            }
            (State::InFrame, ETX) => {
                self.state = State::Open;
                if !self.buf.is_empty() {
                    out.push(Ok(std::mem::take(&mut self.buf)));
                }
            }
            (State::InFrame, _) => self.collect(b, out),
            // STX resyncs on a new frame, ETX closes the skipped one.
            (State::Discarding, STX) => self.state = State::InFrame,
            (State::Discarding, ETX) => self.state = State::Open,
            (State::Discarding, _) => {}
        }
    }

    /// Adds a data byte to the frame, or reports the frame as too long and starts skipping.
    fn collect(&mut self, b: u8, out: &mut Vec<FrameResult>) {
        if self.buf.len() >= self.max_len {
            let kept = std::mem::take(&mut self.buf);
            out.push(Err(FrameError::TooLong {
                max: self.max_len,
                kept,
            }));
            self.state = State::Discarding;
        } else {
            self.buf.push(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(b: &[u8]) -> FrameResult {
        Ok(b.to_vec())
    }

    fn all(framing: Framing, max_len: usize, input: &[u8]) -> Vec<FrameResult> {
        FrameDecoder::new(framing, max_len).push(input)
    }

    #[test]
    fn framing_names_in_config() {
        for (text, framing) in [
            ("\"cr\"", Framing::Cr),
            ("\"cr_lf\"", Framing::CrLf),
            ("\"lf\"", Framing::Lf),
            ("\"stx_etx\"", Framing::StxEtx),
        ] {
            assert_eq!(serde_json::from_str::<Framing>(text).unwrap(), framing);
        }
        assert!(serde_json::from_str::<Framing>("\"crlf\"").is_err());
    }

    #[test]
    fn cr_frames() {
        let out = all(Framing::Cr, 64, b"5901234123457\r\r0123\nX\r");
        assert_eq!(out, vec![ok(b"5901234123457"), ok(b"0123\nX")]);
    }

    #[test]
    fn lf_frames_keep_a_cr() {
        let out = all(Framing::Lf, 64, b"abc\n\ndef\r\n");
        assert_eq!(out, vec![ok(b"abc"), ok(b"def\r")]);
    }

    #[test]
    fn crlf_frames_and_lone_terminators() {
        let out = all(
            Framing::CrLf,
            64,
            b"one\r\ntwo\rthree\nfour\n\r\r\nfive\r\n",
        );
        assert_eq!(
            out,
            vec![
                ok(b"one"),
                ok(b"two"),
                ok(b"three"),
                ok(b"four"),
                ok(b"five")
            ]
        );
    }

    #[test]
    fn crlf_split_between_cr_and_lf_gives_no_empty_frame() {
        let mut d = FrameDecoder::new(Framing::CrLf, 64);
        assert_eq!(d.push(b"0123\r"), vec![ok(b"0123")]);
        assert_eq!(d.push(b"\n"), vec![]);
        assert_eq!(d.push(b"4567\r"), vec![ok(b"4567")]);
        assert_eq!(d.push(b"\n"), vec![]);
        assert_eq!(d.flush_idle(), None);
    }

    #[test]
    fn gs_and_binary_pass_through() {
        let out = all(
            Framing::CrLf,
            64,
            b"]C101095060001343521012345\x1d17220630\r\n",
        );
        assert_eq!(out, vec![ok(b"]C101095060001343521012345\x1d17220630")]);
    }

    #[test]
    fn stx_etx_frames() {
        let out = all(Framing::StxEtx, 64, b"\x02abc\x03\x02\x03\x02d\re\x03");
        assert_eq!(out, vec![ok(b"abc"), ok(b"d\re")]);
    }

    #[test]
    fn stx_etx_stray_bytes_are_reported() {
        let mut d = FrameDecoder::new(Framing::StxEtx, 64);
        assert_eq!(
            d.push(b"xy\x02abc\x03\r\n\x03\x02def\x03"),
            vec![
                Err(FrameError::Stray {
                    bytes: b"xy".to_vec()
                }),
                ok(b"abc"),
                Err(FrameError::Stray {
                    bytes: b"\r\n\x03".to_vec()
                }),
                ok(b"def"),
            ]
        );
        assert_eq!(d.push(b"zz"), vec![]);
        assert_eq!(
            d.flush_idle(),
            Some(Err(FrameError::Stray {
                bytes: b"zz".to_vec()
            }))
        );
        assert_eq!(d.flush_idle(), None);
    }

    #[test]
    fn stx_etx_stray_bytes_come_in_chunks_of_max_len() {
        let out = all(Framing::StxEtx, 4, b"0123456789\x02a\x03");
        let stray = |b: &[u8]| Err(FrameError::Stray { bytes: b.to_vec() });
        assert_eq!(
            out,
            vec![stray(b"0123"), stray(b"4567"), stray(b"89"), ok(b"a")]
        );
    }

    #[test]
    fn stx_etx_new_stx_reports_the_open_frame() {
        let out = all(Framing::StxEtx, 64, b"\x02abc\x02def\x03\x02\x02g\x03");
        assert_eq!(
            out,
            vec![
                Err(FrameError::Unterminated {
                    bytes: b"abc".to_vec()
                }),
                ok(b"def"),
                Err(FrameError::Unterminated { bytes: vec![] }),
                ok(b"g"),
            ]
        );
    }

    #[test]
    fn too_long_keeps_prefix_and_resyncs_at_terminator() {
        let out = all(Framing::Cr, 4, b"0123456789\rab\r");
        assert_eq!(
            out,
            vec![
                Err(FrameError::TooLong {
                    max: 4,
                    kept: b"0123".to_vec()
                }),
                ok(b"ab")
            ]
        );
        // Exactly max_len is fine.
        assert_eq!(all(Framing::Cr, 4, b"0123\r"), vec![ok(b"0123")]);
        // StxEtx resyncs at ETX, or at a new STX.
        let out = all(Framing::StxEtx, 3, b"\x02abcdef\x03\x02xyz0\x02ok\x03");
        assert_eq!(
            out,
            vec![
                Err(FrameError::TooLong {
                    max: 3,
                    kept: b"abc".to_vec()
                }),
                Err(FrameError::TooLong {
                    max: 3,
                    kept: b"xyz".to_vec()
                }),
                ok(b"ok"),
            ]
        );
    }

    #[test]
    fn zero_max_len_reports_everything() {
        assert_eq!(
            all(Framing::Lf, 0, b"a\n"),
            vec![Err(FrameError::TooLong {
                max: 0,
                kept: vec![]
            })]
        );
        assert_eq!(
            all(Framing::StxEtx, 0, b"x"),
            vec![Err(FrameError::Stray {
                bytes: b"x".to_vec()
            })]
        );
    }

    #[test]
    fn flush_idle_returns_the_partial_frame() {
        let mut d = FrameDecoder::new(Framing::Cr, 64);
        assert_eq!(d.push(b"0950600013435"), vec![]);
        assert_eq!(d.flush_idle(), Some(ok(b"0950600013435")));
        assert_eq!(d.flush_idle(), None);

        let mut d = FrameDecoder::new(Framing::StxEtx, 64);
        assert_eq!(d.push(b"\x02abc"), vec![]);
        assert_eq!(
            d.flush_idle(),
            Some(Err(FrameError::Unterminated {
                bytes: b"abc".to_vec()
            }))
        );
        // After the flush, bytes are outside a frame again.
        assert_eq!(
            d.push(b"d\x03\x02e\x03"),
            vec![
                Err(FrameError::Stray {
                    bytes: b"d\x03".to_vec()
                }),
                ok(b"e")
            ]
        );

        // The rest of a too-long frame is forgotten at idle; the next bytes start a frame.
        let mut d = FrameDecoder::new(Framing::CrLf, 2);
        assert_eq!(d.push(b"abc").len(), 1);
        assert_eq!(d.flush_idle(), None);
        assert_eq!(d.push(b"xy\r\n"), vec![ok(b"xy")]);
    }

    /// A fixed input with every feature, split at every position (and at every pair of
    /// positions), gives the same output as one push.
    #[test]
    fn output_does_not_depend_on_read_boundaries() {
        let line: &[u8] = b"]C10109506000134352\x1d10AB\r\n\r\n0123456789ABCDEF\r\nx\ry\n\r\n";
        let stx: &[u8] =
            b"ab\x02]E05901234123457\x03\r\n\x02open\x02long-long-long\x03\x02\x03\x02ok\x03zz";
        for framing in [Framing::Cr, Framing::CrLf, Framing::Lf, Framing::StxEtx] {
            let input = if framing == Framing::StxEtx {
                stx
            } else {
                line
            };
            let mut whole = FrameDecoder::new(framing, 10);
            let mut expected = whole.push(input);
            expected.extend(whole.flush_idle());
            assert!(expected.len() >= 4, "{framing:?}: {expected:?}");
            for i in 0..=input.len() {
                for j in i..=input.len() {
                    let mut d = FrameDecoder::new(framing, 10);
                    let mut got = d.push(&input[..i]);
                    got.extend(d.push(&input[i..j]));
                    got.extend(d.push(&input[j..]));
                    got.extend(d.flush_idle());
                    assert_eq!(got, expected, "{framing:?} split at {i},{j}");
                }
            }
        }
    }

    use crate::testing::XorShift;

    fn contains_run(hay: &[u8], needle: &[u8]) -> bool {
        needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn fuzz_never_panics_and_keeps_invariants() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let alphabet = [STX, ETX, CR, LF, b'0', b'7', b']', 0x1D, 0x00, 0xFF];
        for round in 0..4000 {
            let len = rng.below(80);
            let input: Vec<u8> = (0..len)
                .map(|_| {
                    if rng.below(3) == 0 {
                        rng.next() as u8
                    } else {
                        alphabet[rng.below(alphabet.len())]
                    }
                })
                .collect();
            let framing = [Framing::Cr, Framing::CrLf, Framing::Lf, Framing::StxEtx][round % 4];
            let max_len = rng.below(12);

            let mut d = FrameDecoder::new(framing, max_len);
            let mut got = Vec::new();
            let mut at = 0;
            while at < input.len() {
                let n = 1 + rng.below(input.len() - at);
                got.extend(d.push(&input[at..at + n]));
                assert!(d.buf.len() <= max_len, "buffer bounded");
                at += n;
            }
            got.extend(d.flush_idle());
            assert!(d.buf.is_empty() && d.state == State::Open);

            let mut once = FrameDecoder::new(framing, max_len);
            let mut expected = once.push(&input);
            expected.extend(once.flush_idle());
            assert_eq!(got, expected, "split-invariant: {input:?}");

            let mut total = 0;
            for r in &got {
                let payload = match r {
                    Ok(frame) => {
                        assert!(!frame.is_empty() && frame.len() <= max_len);
                        frame.as_slice()
                    }
                    Err(e) => {
                        assert!(e.bytes().len() <= max_len.max(1));
                        e.bytes()
                    }
                };
                assert!(contains_run(&input, payload), "{payload:?} from {input:?}");
                total += payload.len();
            }
            assert!(total <= input.len());
        }
    }
}
