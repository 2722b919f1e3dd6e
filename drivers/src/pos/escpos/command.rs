//! The ESC/POS command table: how many bytes each command takes and what it means for the
//! receipt text. Lengths are from Epson's ESC/POS command reference (the commands of the TM
//! series); a command whose length depends on its parameters is measured from them.
//!
//! [`measure`] looks at the bytes of one command seen so far (prefix byte first) and answers
//! [`Measure::More`] until it can tell; the decoder calls it again after every byte, so a
//! command split across reads is measured the same way as a whole one.

/// ESC, GS, FS and DLE: the bytes that start a command.
pub(super) const ESC: u8 = 0x1B;
pub(super) const GS: u8 = 0x1D;
pub(super) const FS: u8 = 0x1C;
pub(super) const DLE: u8 = 0x10;

/// What a complete command does to the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Effect {
    /// Nothing visible in the text (styles, sizes, status requests, drawer kicks, …).
    None,
    /// `ESC @`: initialise the printer.
    Init,
    /// `GS V`, `ESC i`, `ESC m`: cut the paper.
    Cut,
    /// `ESC t n`: select a character code table.
    CodePage(u8),
    /// Print and feed (`ESC d`, `ESC e`, `ESC J`, `ESC K`, `ESC FF`): the current line ends.
    EndLine,
    /// Horizontal positioning (`ESC $`, `ESC \`): a column break.
    Column,
}

/// What follows the command's fixed part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Then {
    /// Nothing: the command is complete.
    Done,
    /// A payload of this many bytes (image data, 2D-code data, …), skipped without buffering.
    Skip(u64),
    /// Bytes up to and including a NUL, at most this many (`ESC D` tab stops).
    UntilNul(u16),
    /// Barcode data up to a NUL (`GS k` with m = 0–6).
    BarcodeUntilNul { symbology: u8 },
    /// Barcode data of a given length (`GS k` with m = 65–79).
    Barcode { symbology: u8, len: u8 },
    /// `ESC &`: `count` user-defined characters follow, each a width byte x then y × x bytes.
    UserChars { y: u8, count: u16 },
    /// `FS q`: `count` NV bit images follow, each xL xH yL yH then (x × y × 8) bytes.
    NvImages { count: u8 },
}

/// The verdict on the command bytes seen so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Measure {
    /// Not enough bytes yet to tell.
    More,
    /// A known command, complete with the bytes seen.
    Known { effect: Effect, then: Then },
    /// Not a command this table knows.
    Unknown,
}

const fn known(effect: Effect, then: Then) -> Measure {
    Measure::Known { effect, then }
}

const DONE: Measure = known(Effect::None, Then::Done);

fn u16le(lo: u8, hi: u8) -> u64 {
    u64::from(lo) + (u64::from(hi) << 8)
}

/// Measures the command in `cmd` (`cmd[0]` is ESC, GS, FS or DLE).
pub(super) fn measure(cmd: &[u8]) -> Measure {
    let Some(&f) = cmd.get(1) else {
        return Measure::More;
    };
    let have = cmd.len();
    // `need!(n)`: the command (or the part that decides its form) is n bytes long in all.
    macro_rules! need {
        ($n:expr) => {
            if have < $n {
                return Measure::More;
            }
        };
    }
    match cmd[0] {
        ESC => match f {
            0x0C => known(Effect::EndLine, Then::Done), // ESC FF: print page-mode data
            b'2' | b'<' | b'L' | b'S' | b'v' => DONE,
            b'@' => known(Effect::Init, Then::Done),
            b'i' | b'm' => known(Effect::Cut, Then::Done),
            b' ' | b'!' | b'%' | b'-' | b'3' | b'=' | b'?' | b'E' | b'G' | b'M' | b'R' | b'T'
            | b'U' | b'V' | b'a' | b'r' | b'u' | b'{' => {
                need!(3);
                DONE
            }
            b'J' | b'K' | b'd' | b'e' => {
                need!(3);
                known(Effect::EndLine, Then::Done)
            }
            b't' => {
                need!(3);
                known(Effect::CodePage(cmd[2]), Then::Done)
            }
            b'$' | b'\\' => {
                need!(4);
                known(Effect::Column, Then::Done)
            }
            b'c' | b'f' => {
                need!(4);
                DONE
            }
            b'p' => {
                need!(5); // ESC p m t1 t2: drawer kick
                DONE
            }
            b'W' => {
                need!(10);
                DONE
            }
            b'D' => known(Effect::None, Then::UntilNul(33)),
            b'(' => {
                need!(5); // ESC ( fn pL pH [data]
                known(Effect::None, Then::Skip(u16le(cmd[3], cmd[4])))
            }
            b'*' => {
                need!(3); // ESC * m nL nH [data]: bit image, n columns of 1 or 3 bytes
                let per_column = match cmd[2] {
                    0 | 1 => 1,
                    32 | 33 => 3,
                    _ => return Measure::Unknown,
                };
                need!(5);
                known(Effect::None, Then::Skip(u16le(cmd[3], cmd[4]) * per_column))
            }
            b'&' => {
                need!(5); // ESC & y c1 c2 [x d1 … d(y × x)] for c1..=c2
                let count = if cmd[4] >= cmd[3] {
                    u16::from(cmd[4] - cmd[3]) + 1
                } else {
                    0
                };
                known(Effect::None, Then::UserChars { y: cmd[2], count })
            }
            _ => Measure::Unknown,
        },
        GS => match f {
            b':' | b'c' => DONE,
            b'!' | b'/' | b'B' | b'E' | b'H' | b'I' | b'T' | b'a' | b'b' | b'f' | b'h' | b'r'
            | b'w' => {
                need!(3);
                DONE
            }
            b'$' | b'L' | b'P' | b'W' | b'\\' => {
                need!(4);
                DONE
            }
            b'^' => {
                need!(5);
                DONE
            }
            b'V' => {
                need!(3);
                match cmd[2] {
                    0 | 1 | 48 | 49 => known(Effect::Cut, Then::Done),
                    65 | 66 | 97 | 98 | 103 | 104 => {
                        need!(4);
                        known(Effect::Cut, Then::Done)
                    }
                    _ => Measure::Unknown,
                }
            }
            b'(' => {
                need!(5); // GS ( fn pL pH [data]: GS ( k 2D codes, GS ( L graphics, …
                known(Effect::None, Then::Skip(u16le(cmd[3], cmd[4])))
            }
            b'8' => {
                need!(3);
                if cmd[2] != b'L' {
                    return Measure::Unknown;
                }
                need!(7); // GS 8 L p1 p2 p3 p4 [data]: graphics with a 32-bit length
                let len = u64::from(u32::from_le_bytes([cmd[3], cmd[4], cmd[5], cmd[6]]));
                known(Effect::None, Then::Skip(len))
            }
            b'*' => {
                need!(4); // GS * x y [data]: downloaded bit image of x × y × 8 bytes
                let len = u64::from(cmd[2]) * u64::from(cmd[3]) * 8;
                known(Effect::None, Then::Skip(len))
            }
            b'v' => {
                need!(3);
                if cmd[2] != b'0' {
                    return Measure::Unknown;
                }
                need!(8); // GS v 0 m xL xH yL yH [data]: raster image, x bytes × y rows
                let len = u16le(cmd[4], cmd[5]) * u16le(cmd[6], cmd[7]);
                known(Effect::None, Then::Skip(len))
            }
            b'k' => {
                need!(3);
                match cmd[2] {
                    m @ 0..=6 => known(Effect::None, Then::BarcodeUntilNul { symbology: m }),
                    m @ 65..=79 => {
                        need!(4);
                        known(
                            Effect::None,
                            Then::Barcode {
                                symbology: m,
                                len: cmd[3],
                            },
                        )
                    }
                    _ => Measure::Unknown,
                }
            }
            b'C' => {
                need!(3); // counter printing
                match cmd[2] {
                    b'0' | b'2' => {
                        need!(5);
                        DONE
                    }
                    b'1' => {
                        need!(9);
                        DONE
                    }
                    _ => Measure::Unknown,
                }
            }
            b'g' => {
                need!(3); // maintenance counters: GS g 0 m nL nH, GS g 2 m nL nH
                match cmd[2] {
                    b'0' | b'2' => {
                        need!(6);
                        DONE
                    }
                    _ => Measure::Unknown,
                }
            }
            b'z' => {
                need!(5); // GS z 0 t1 t2
                DONE
            }
            _ => Measure::Unknown,
        },
        FS => match f {
            b'&' | b'.' => DONE,
            b'!' | b'-' | b'C' | b'W' => {
                need!(3);
                DONE
            }
            b'S' | b'p' => {
                need!(4);
                DONE
            }
            b'(' => {
                need!(5);
                known(Effect::None, Then::Skip(u16le(cmd[3], cmd[4])))
            }
            b'q' => {
                need!(3);
                known(Effect::None, Then::NvImages { count: cmd[2] })
            }
            _ => Measure::Unknown,
        },
        DLE => match f {
            0x04 => {
                need!(3); // DLE EOT n, DLE EOT 7 a, DLE EOT 8 a: status requests
                if matches!(cmd[2], 7 | 8) {
                    need!(4);
                }
                DONE
            }
            0x05 => {
                need!(3); // DLE ENQ n
                DONE
            }
            0x14 => {
                need!(3); // DLE DC4 fn …
                match cmd[2] {
                    1 | 2 => {
                        need!(5);
                        DONE
                    }
                    7 => {
                        need!(4);
                        DONE
                    }
                    8 => {
                        need!(10);
                        DONE
                    }
                    _ => Measure::Unknown,
                }
            }
            _ => Measure::Unknown,
        },
        _ => Measure::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `cmd` byte by byte: `More` for every strict prefix, then the verdict.
    fn complete(cmd: &[u8]) -> Measure {
        for n in 1..cmd.len() {
            assert_eq!(measure(&cmd[..n]), Measure::More, "{cmd:02X?} at {n}");
        }
        measure(cmd)
    }

    #[test]
    fn fixed_length_commands() {
        for cmd in [
            &b"\x1b@"[..],
            b"\x1bE\x01",
            b"\x1b!\x30",
            b"\x1ba\x01",
            b"\x1d!\x11",
            b"\x1bp\x00\x19\xfa",
            b"\x1dB\x01",
            b"\x10\x04\x01",
            b"\x10\x04\x07\x01",
            b"\x10\x14\x01\x00\x05",
            b"\x1dg\x30\x00\x14\x00",
            b"\x1bW\x00\x00\x00\x00\x00\x02\x00\x02",
        ] {
            assert!(matches!(complete(cmd), Measure::Known { .. }), "{cmd:02X?}");
        }
    }

    #[test]
    fn cuts_and_their_forms() {
        for cmd in [
            &b"\x1dV\x00"[..],
            b"\x1dV\x01",
            b"\x1dV0",
            b"\x1dV1",
            b"\x1dVA\x10",
            b"\x1dVB\x00",
            b"\x1dVa\x03",
            b"\x1dVh\x03",
            b"\x1bi",
            b"\x1bm",
        ] {
            assert_eq!(complete(cmd), known(Effect::Cut, Then::Done), "{cmd:02X?}");
        }
        assert_eq!(measure(b"\x1dV\x07"), Measure::Unknown);
    }

    #[test]
    fn payload_lengths() {
        // GS v 0: 2 bytes per row × 3 rows.
        assert_eq!(
            complete(b"\x1dv0\x00\x02\x00\x03\x00"),
            known(Effect::None, Then::Skip(6))
        );
        assert_eq!(
            complete(b"\x1d(k\x04\x00"),
            known(Effect::None, Then::Skip(4))
        );
        assert_eq!(
            complete(b"\x1d(L\x02\x01"),
            known(Effect::None, Then::Skip(258))
        );
        assert_eq!(
            complete(b"\x1d8L\x01\x00\x01\x00"),
            known(Effect::None, Then::Skip(65537))
        );
        assert_eq!(
            complete(b"\x1b*\x21\x40\x00"),
            known(Effect::None, Then::Skip(192))
        );
        assert_eq!(
            complete(b"\x1b*\x00\x40\x00"),
            known(Effect::None, Then::Skip(64))
        );
        assert_eq!(
            complete(b"\x1d*\x02\x03"),
            known(Effect::None, Then::Skip(48))
        );
        assert_eq!(
            complete(b"\x1dkI\x0b"),
            known(
                Effect::None,
                Then::Barcode {
                    symbology: 73,
                    len: 11
                }
            )
        );
        assert_eq!(
            complete(b"\x1dk\x02"),
            known(Effect::None, Then::BarcodeUntilNul { symbology: 2 })
        );
        assert_eq!(
            complete(b"\x1b&\x03\x41\x42"),
            known(Effect::None, Then::UserChars { y: 3, count: 2 })
        );
        assert_eq!(
            complete(b"\x1cq\x02"),
            known(Effect::None, Then::NvImages { count: 2 })
        );
    }

    #[test]
    fn text_effects() {
        assert_eq!(
            complete(b"\x1bt\x13"),
            known(Effect::CodePage(19), Then::Done)
        );
        assert_eq!(complete(b"\x1bd\x03"), known(Effect::EndLine, Then::Done));
        assert_eq!(
            complete(b"\x1b$\x10\x00"),
            known(Effect::Column, Then::Done)
        );
    }

    #[test]
    fn unknown_commands() {
        for cmd in [
            &b"\x1bx"[..],
            b"\x1d\x0a",
            b"\x1c\x00",
            b"\x10A",
            b"\x1dv1",
            b"\x1dk\x07",
            b"\x1b*\x05",
        ] {
            assert_eq!(measure(cmd), Measure::Unknown, "{cmd:02X?}");
        }
    }
}
