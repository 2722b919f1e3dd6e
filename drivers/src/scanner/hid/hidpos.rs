//! Pure, incremental decoder of HID POS barcode scanner input reports.
//!
//! A scanner in "HID POS" mode is a HID device with usage page 0x8C (Bar Code Scanner) and
//! usage 0x02 (Bar Code Scanner) (USB HID Point of Sale Usage Tables 1.02, ch. 3). Honeywell
//! ("USB Interfaces User's Guide", HID POS interface, "Getting Scanned Data") and Access-IS
//! (product manuals, appendix "HID reports: Receive data") document this input report:
//!
//! ```text
//! byte 0       report id 0x02
//! byte 1       length of the data field
//! bytes 2-4    AIM symbology identifier: ']' and two characters (ISO/IEC 15424)
//! bytes 5-60   decoded data, up to 56 bytes, zero padded
//! byte 61      vendor code id ("Hand Held Products symbology identifier", "further symbology id")
//! byte 62      reserved
//! byte 63      bit 0: more data follows in the next report (the scan continues)
//! ```
//!
//! A scan longer than 56 bytes is split over consecutive reports; every report but the last has
//! bit 0 of byte 63 set, and [`HidPosDecoder`] joins their data. The AIM id and vendor code of a
//! scan are those of its first report (later reports may repeat them).
//!
//! **Reports without the report id.** hidapi documents the report id as the first byte of a
//! numbered report, but on some platforms the read hands over only the 63 bytes after it. A
//! report of 63 bytes is therefore read as bytes 1-63 of the layout above. Any other size, or a 64-byte
//! report whose first byte is not 0x02, is an error that keeps the raw report.
//!
//! **The length byte.** Honeywell and Access-IS count only the data (the Access-IS example: a
//! full first report of a 60-byte scan has length 56 and 56 data bytes). Other devices count the
//! three AIM bytes as well. [`LengthConvention::Auto`] (the default) decides per report:
//!
//! 1. The AIM id is *present* when byte 2 is `]` and bytes 3 and 4 are printable ASCII
//!    (0x21-0x7E). Without it, the length counts data only.
//! 2. With the AIM id present, a length of 57-59 can only count the AIM bytes (the data field
//!    holds 56): data length = length − 3. A length below 3 can only count data.
//! 3. Otherwise (AIM present, 3 ≤ length ≤ 56), look at the three bytes at data offsets
//!    length−3, length−2, length−1 (report bytes 5+length−3 … 5+length−1). If the length counts
//!    the AIM bytes, those are padding and all 0x00: data length = length − 3. If any is non-zero,
//!    they are data and the length counts data only.
//! 4. A length that fits neither reading (over 56 without the AIM id, over 59 with it) is
//!    [`HidPosError::BadLength`].
//!
//! The one misreading: data-only data that ends in three 0x00 bytes loses them. Barcode text
//! never does; for binary symbols, pin the convention with
//! [`HidPosDecoder::with_length_convention`].
//!
//! Errors never disturb a scan being reassembled: a malformed report is reported and skipped.
//! A scan growing past `max_len` is reported as [`HidPosError::TooLong`] with its first
//! `max_len` bytes, and the rest of it (up to its last report) is skipped. Memory held is at
//! most `max_len` bytes.

use serde::Deserialize;

/// Size of the input report including the report id.
pub const REPORT_LEN: usize = 64;
/// Report id of the scanned-data input report.
pub const REPORT_ID: u8 = 0x02;
/// Data bytes one report can carry (bytes 5-60).
pub const DATA_FIELD_LEN: usize = 56;
/// Default bound of a reassembled scan: above the largest QR code (7089 digits).
pub const DEFAULT_MAX_LEN: usize = 8192;

const AIM_LEN: usize = 3;

/// What the length byte of a report counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LengthConvention {
    /// Decide per report from the report's content (module docs): `auto`.
    #[default]
    Auto,
    /// The length counts the data bytes only (Honeywell, Access-IS): `data_only`.
    DataOnly,
    /// The length counts the three AIM bytes plus the data: `includes_aim`.
    IncludesAim,
}

/// One complete scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HidPosScan {
    /// AIM symbology identifier such as `]E0`, if the report carried one.
    pub aim: Option<String>,
    /// Vendor code id (byte 61), often called the symbology id; 0 if not sent.
    pub vendor_code: u8,
    /// The decoded data, bytes as the scanner sent them.
    pub data: Vec<u8>,
}

/// A report that could not be used, or a scan that could not be completed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HidPosError {
    #[error("HID POS report of {} bytes (expected 64, or 63 without the report id)", raw.len())]
    WrongSize { raw: Vec<u8> },
    #[error("HID POS report id 0x{id:02X} (expected 0x02)")]
    WrongReportId { id: u8, raw: Vec<u8> },
    #[error("HID POS report length {len} fits neither length convention")]
    BadLength { len: u8, raw: Vec<u8> },
    #[error("HID POS scan without data")]
    Empty { raw: Vec<u8> },
    #[error("HID POS scan longer than {max} bytes (first {} kept)", kept.data.len())]
    TooLong { max: usize, kept: HidPosScan },
    #[error("HID POS scan of {} bytes still announced more data at the idle timeout", partial.data.len())]
    Incomplete { partial: HidPosScan },
}

impl HidPosError {
    /// The device bytes this error carries (to keep raw with the error): the report, or the data
    /// of the scan so far.
    pub fn raw(&self) -> &[u8] {
        match self {
            HidPosError::WrongSize { raw }
            | HidPosError::WrongReportId { raw, .. }
            | HidPosError::BadLength { raw, .. }
            | HidPosError::Empty { raw } => raw,
            HidPosError::TooLong { kept: scan, .. } | HidPosError::Incomplete { partial: scan } => {
                &scan.data
            }
        }
    }
}

/// The useful fields of one well-formed report.
struct Report<'a> {
    aim: Option<String>,
    data: &'a [u8],
    vendor_code: u8,
    more: bool,
}

/// Incremental decoder: one input report in, at most one scan or error out.
#[derive(Debug, Clone)]
pub struct HidPosDecoder {
    max_len: usize,
    convention: LengthConvention,
    /// The scan being reassembled from continued reports.
    pending: Option<HidPosScan>,
    /// Skipping the rest of a scan already reported as too long.
    discarding: bool,
}

impl Default for HidPosDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_LEN)
    }
}

impl HidPosDecoder {
    /// A decoder keeping at most `max_len` bytes of a scan, with [`LengthConvention::Auto`].
    pub fn new(max_len: usize) -> Self {
        HidPosDecoder {
            max_len,
            convention: LengthConvention::Auto,
            pending: None,
            discarding: false,
        }
    }

    /// Pins what the length byte counts instead of deciding per report.
    pub fn with_length_convention(mut self, convention: LengthConvention) -> Self {
        self.convention = convention;
        self
    }

    /// Feeds one input report as read (64 bytes, or 63 without the report id). Returns the scan
    /// it completes, an error, or `None` while a continued scan is still open.
    pub fn push_report(&mut self, report: &[u8]) -> Option<Result<HidPosScan, HidPosError>> {
        let parsed = match self.parse(report) {
            Ok(parsed) => parsed,
            Err(e) => return Some(Err(e)),
        };
        if self.discarding {
            // The last report of the over-long scan ends the skipping.
            self.discarding = parsed.more;
            return None;
        }
        let scan = self.pending.get_or_insert_with(|| HidPosScan {
            aim: None,
            vendor_code: parsed.vendor_code,
            data: Vec::new(),
        });
        if scan.aim.is_none() {
            scan.aim = parsed.aim;
        }
        let room = self.max_len.saturating_sub(scan.data.len());
        if parsed.data.len() > room {
            scan.data.extend_from_slice(&parsed.data[..room]);
            let kept = self.pending.take()?;
            self.discarding = parsed.more;
            return Some(Err(HidPosError::TooLong {
                max: self.max_len,
                kept,
            }));
        }
        scan.data.extend_from_slice(parsed.data);
        if parsed.more {
            return None;
        }
        let scan = self.pending.take()?;
        if scan.data.is_empty() {
            return Some(Err(HidPosError::Empty {
                raw: report.to_vec(),
            }));
        }
        Some(Ok(scan))
    }

    /// Ends a continued scan whose last report never came (call after the I/O loop's idle
    /// timeout): returns it as [`HidPosError::Incomplete`]. Also ends skipping an over-long scan.
    pub fn flush_idle(&mut self) -> Option<Result<HidPosScan, HidPosError>> {
        self.discarding = false;
        let partial = self.pending.take()?;
        Some(Err(HidPosError::Incomplete { partial }))
    }

    fn parse<'a>(&self, report: &'a [u8]) -> Result<Report<'a>, HidPosError> {
        // `body` is the report without its id: body[i] is report byte i + 1.
        let body = match report {
            [REPORT_ID, body @ ..] if report.len() == REPORT_LEN => body,
            [id, ..] if report.len() == REPORT_LEN => {
                return Err(HidPosError::WrongReportId {
                    id: *id,
                    raw: report.to_vec(),
                })
            }
            _ if report.len() == REPORT_LEN - 1 => report,
            _ => {
                return Err(HidPosError::WrongSize {
                    raw: report.to_vec(),
                })
            }
        };
        let len = body[0];
        let aim_bytes = &body[1..1 + AIM_LEN];
        let field = &body[1 + AIM_LEN..1 + AIM_LEN + DATA_FIELD_LEN];
        let has_aim = looks_like_aim(aim_bytes);
        let data_len = data_len(self.convention, len, has_aim, field).ok_or_else(|| {
            HidPosError::BadLength {
                len,
                raw: report.to_vec(),
            }
        })?;
        Ok(Report {
            aim: has_aim.then(|| aim_bytes.iter().map(|&b| char::from(b)).collect()),
            data: &field[..data_len],
            vendor_code: body[60],
            more: body[62] & 0x01 != 0,
        })
    }
}

/// `]` followed by two printable ASCII characters.
fn looks_like_aim(bytes: &[u8]) -> bool {
    matches!(bytes, [b']', a, b] if a.is_ascii_graphic() && b.is_ascii_graphic())
}

/// How many bytes of the data field are data (module docs, "The length byte"); `None` if the
/// length fits no reading.
fn data_len(convention: LengthConvention, len: u8, has_aim: bool, field: &[u8]) -> Option<usize> {
    let len = usize::from(len);
    let counts_aim = match convention {
        LengthConvention::DataOnly => false,
        LengthConvention::IncludesAim => true,
        LengthConvention::Auto => {
            has_aim
                && len >= AIM_LEN
                && (len > field.len() || field[len - AIM_LEN..len].iter().all(|&b| b == 0))
        }
    };
    let n = if counts_aim {
        len.checked_sub(AIM_LEN)?
    } else {
        len
    };
    (n <= field.len()).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report as a scanner builds it: `len` is written as given (the convention is the test's).
    fn report(len: u8, aim: &[u8; 3], data: &[u8], vendor: u8, more: bool) -> [u8; 64] {
        let mut r = [0u8; 64];
        r[0] = REPORT_ID;
        r[1] = len;
        r[2..5].copy_from_slice(aim);
        r[5..5 + data.len()].copy_from_slice(data);
        r[61] = vendor;
        r[63] = u8::from(more);
        r
    }

    fn scan(aim: &str, vendor: u8, data: &[u8]) -> HidPosScan {
        HidPosScan {
            aim: Some(aim.to_string()),
            vendor_code: vendor,
            data: data.to_vec(),
        }
    }

    /// A GS1 element string of 60 bytes: more than one report holds.
    const LONG: &[u8] = b"010950600013435217220630\x1d10ABC123\x1d21SERIAL000000000000000042";

    #[test]
    fn single_report_byte_exact() {
        // EAN-13 5901234123457, Honeywell code id 'd', length counting the data only.
        let mut r = [0u8; 64];
        r[..18].copy_from_slice(&[
            0x02, 0x0D, 0x5D, 0x45, 0x30, 0x35, 0x39, 0x30, 0x31, 0x32, 0x33, 0x34, 0x31, 0x32,
            0x33, 0x34, 0x35, 0x37,
        ]);
        r[61] = 0x64;
        let mut d = HidPosDecoder::default();
        let expected = scan("]E0", b'd', b"5901234123457");
        assert_eq!(d.push_report(&r), Some(Ok(expected.clone())));
        // The same scan from a device whose length counts the AIM bytes: 13 + 3.
        r[1] = 0x10;
        assert_eq!(d.push_report(&r), Some(Ok(expected)));
    }

    #[test]
    fn both_conventions_at_every_length() {
        let data: Vec<u8> = (0..DATA_FIELD_LEN as u8).map(|i| b'0' + i % 10).collect();
        for n in 1..=DATA_FIELD_LEN {
            let expected = scan("]C0", 0x6A, &data[..n]);
            let mut d = HidPosDecoder::default();
            let data_only = report(n as u8, b"]C0", &data[..n], 0x6A, false);
            assert_eq!(d.push_report(&data_only), Some(Ok(expected.clone())), "{n}");
            let with_aim = report(n as u8 + 3, b"]C0", &data[..n], 0x6A, false);
            assert_eq!(d.push_report(&with_aim), Some(Ok(expected)), "{n}");
        }
    }

    #[test]
    fn continued_reports_data_only_length() {
        // Access-IS example shape: 56 bytes with "more" set, then the remaining 4.
        assert_eq!(LONG.len(), 60);
        let mut d = HidPosDecoder::default();
        let first = report(56, b"]d2", &LONG[..56], b'w', true);
        let last = report(4, b"]d2", &LONG[56..], b'w', false);
        assert_eq!(d.push_report(&first), None);
        assert_eq!(d.push_report(&last), Some(Ok(scan("]d2", b'w', LONG))));
    }

    #[test]
    fn continued_reports_length_with_aim() {
        let mut d = HidPosDecoder::default();
        let first = report(59, b"]d2", &LONG[..56], b'w', true);
        let last = report(7, b"]d2", &LONG[56..], b'w', false);
        assert_eq!(d.push_report(&first), None);
        assert_eq!(d.push_report(&last), Some(Ok(scan("]d2", b'w', LONG))));
    }

    #[test]
    fn continued_reports_without_repeated_aim() {
        // A later report without the AIM id: its length can only count data.
        let mut d = HidPosDecoder::default();
        let mut data = LONG.to_vec();
        data.extend_from_slice(LONG);
        assert_eq!(
            d.push_report(&report(59, b"]d2", &data[..56], 0, true)),
            None
        );
        assert_eq!(
            d.push_report(&report(56, &[0; 3], &data[56..112], 0, true)),
            None
        );
        assert_eq!(
            d.push_report(&report(8, &[0; 3], &data[112..], 0, false)),
            Some(Ok(scan("]d2", 0, &data)))
        );
    }

    #[test]
    fn reports_without_report_id() {
        let mut d = HidPosDecoder::default();
        let first = report(56, b"]d2", &LONG[..56], b'w', true);
        let last = report(7, b"]d2", &LONG[56..], b'w', false);
        assert_eq!(d.push_report(&first[1..]), None);
        assert_eq!(d.push_report(&last[1..]), Some(Ok(scan("]d2", b'w', LONG))));
    }

    #[test]
    fn short_data_and_missing_aim() {
        let mut d = HidPosDecoder::default();
        // Lengths below 3 can only count data; 2 + 3 with padding after counts the AIM.
        assert_eq!(
            d.push_report(&report(2, b"]C0", b"42", 0, false)),
            Some(Ok(scan("]C0", 0, b"42")))
        );
        assert_eq!(
            d.push_report(&report(5, b"]C0", b"42", 0, false)),
            Some(Ok(scan("]C0", 0, b"42")))
        );
        // No AIM id: the length is the data length.
        let r = report(4, &[0; 3], b"1234", 0, false);
        let expected = HidPosScan {
            aim: None,
            vendor_code: 0,
            data: b"1234".to_vec(),
        };
        assert_eq!(d.push_report(&r), Some(Ok(expected)));
    }

    #[test]
    fn trailing_zero_bytes_need_a_pinned_convention() {
        // Data-only length, binary data ending in three NULs: read as counting the AIM bytes.
        let data = b"AB\0\0\0";
        let r = report(5, b"]d1", data, 0, false);
        let mut auto = HidPosDecoder::default();
        assert_eq!(auto.push_report(&r), Some(Ok(scan("]d1", 0, b"AB"))));
        let mut pinned =
            HidPosDecoder::default().with_length_convention(LengthConvention::DataOnly);
        assert_eq!(pinned.push_report(&r), Some(Ok(scan("]d1", 0, data))));
        let mut pinned =
            HidPosDecoder::default().with_length_convention(LengthConvention::IncludesAim);
        assert_eq!(
            pinned.push_report(&report(8, b"]d1", data, 0, false)),
            Some(Ok(scan("]d1", 0, data)))
        );
        assert_eq!(
            serde_json::from_str::<LengthConvention>("\"includes_aim\"").unwrap(),
            LengthConvention::IncludesAim
        );
    }

    #[test]
    fn bad_reports_are_errors_with_raw_bytes_and_keep_the_open_scan() {
        let mut d = HidPosDecoder::default();
        assert_eq!(
            d.push_report(&report(56, b"]d2", &LONG[..56], 1, true)),
            None
        );

        let short = [0x02, 0x01, b'x'];
        assert_eq!(
            d.push_report(&short),
            Some(Err(HidPosError::WrongSize {
                raw: short.to_vec()
            }))
        );
        let mut other = report(4, b"]d2", b"abcd", 1, false);
        other[0] = 0x01;
        assert_eq!(
            d.push_report(&other),
            Some(Err(HidPosError::WrongReportId {
                id: 1,
                raw: other.to_vec()
            }))
        );
        let too_big = report(60, b"]d2", b"x", 1, false);
        assert_eq!(
            d.push_report(&too_big),
            Some(Err(HidPosError::BadLength {
                len: 60,
                raw: too_big.to_vec()
            }))
        );
        let no_aim_too_big = report(57, &[0; 3], b"x", 1, false);
        assert!(matches!(
            d.push_report(&no_aim_too_big),
            Some(Err(HidPosError::BadLength { len: 57, .. }))
        ));
        assert_eq!(
            d.push_report(&[]),
            Some(Err(HidPosError::WrongSize { raw: vec![] }))
        );

        // The scan opened before the bad reports completes as if they had not come.
        assert_eq!(
            d.push_report(&report(4, b"]d2", &LONG[56..], 1, false)),
            Some(Ok(scan("]d2", 1, LONG)))
        );

        let empty = report(0, b"]Q1", b"", 0, false);
        assert_eq!(
            d.push_report(&empty),
            Some(Err(HidPosError::Empty {
                raw: empty.to_vec()
            }))
        );
        let e = HidPosError::WrongSize { raw: vec![1, 2] };
        assert_eq!(e.raw(), &[1, 2]);
        assert!(e.to_string().contains("2 bytes"), "{e}");
    }

    #[test]
    fn too_long_reports_the_prefix_and_skips_to_the_last_report() {
        let mut d = HidPosDecoder::new(60);
        let chunk = [b'7'; 56];
        assert_eq!(d.push_report(&report(56, b"]Q1", &chunk, 0, true)), None);
        assert_eq!(
            d.push_report(&report(56, b"]Q1", &chunk, 0, true)),
            Some(Err(HidPosError::TooLong {
                max: 60,
                kept: scan("]Q1", 0, &[b'7'; 60])
            }))
        );
        assert_eq!(d.push_report(&report(56, b"]Q1", &chunk, 0, true)), None);
        assert_eq!(d.push_report(&report(3, b"]Q1", b"end", 0, false)), None);
        // The next scan decodes normally.
        assert_eq!(
            d.push_report(&report(3, b"]E4", b"123", 0, false)),
            Some(Ok(scan("]E4", 0, b"123")))
        );
        // A single report over the bound ends at once.
        let mut d = HidPosDecoder::new(2);
        assert!(matches!(
            d.push_report(&report(3, b"]E4", b"123", 0, false)),
            Some(Err(HidPosError::TooLong { .. }))
        ));
        assert_eq!(
            d.push_report(&report(2, b"]E4", b"12", 0, false)),
            Some(Ok(scan("]E4", 0, b"12")))
        );
    }

    #[test]
    fn flush_idle_reports_an_open_scan() {
        let mut d = HidPosDecoder::default();
        assert_eq!(d.flush_idle(), None);
        assert_eq!(d.push_report(&report(3, b"]E0", b"590", 0, true)), None);
        assert_eq!(
            d.flush_idle(),
            Some(Err(HidPosError::Incomplete {
                partial: scan("]E0", 0, b"590")
            }))
        );
        assert_eq!(d.flush_idle(), None);
    }

    use crate::testing::XorShift;

    #[test]
    fn fuzz_never_panics_and_keeps_invariants() {
        let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
        let conventions = [
            LengthConvention::Auto,
            LengthConvention::DataOnly,
            LengthConvention::IncludesAim,
        ];
        for round in 0..3000 {
            let max_len = rng.below(200);
            let mut d = HidPosDecoder::new(max_len).with_length_convention(conventions[round % 3]);
            // Data bytes that reports could have carried since the last result.
            let mut fed = 0usize;
            for _ in 0..rng.below(12) {
                let n = rng.below(57);
                let data: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                let len = (n + 3 * rng.below(2)) as u8;
                let mut r = report(len, b"]C1", &data, rng.next() as u8, rng.below(3) > 0);
                for _ in 0..rng.below(4) {
                    let at = rng.below(64);
                    r[at] = rng.next() as u8;
                }
                let bytes: &[u8] = match rng.below(8) {
                    0 => &r[1..],
                    1 => &r[..rng.below(70).min(64)],
                    _ => &r,
                };
                fed += DATA_FIELD_LEN;
                let out = d.push_report(bytes);
                if let Some(Ok(s)) = &out {
                    assert!(!s.data.is_empty());
                    assert!(s.data.len() <= max_len && s.data.len() <= fed);
                    if let Some(aim) = &s.aim {
                        assert!(aim.len() == 3 && aim.starts_with(']'));
                    }
                }
                if let Some(Err(e)) = &out {
                    assert!(e.raw().len() <= 64.max(max_len));
                    assert!(!e.to_string().is_empty());
                }
                if d.pending.is_none() {
                    fed = 0;
                }
                let held = d.pending.as_ref().map_or(0, |s| s.data.len());
                assert!(held <= max_len, "buffer bounded");
            }
            if let Some(r) = d.flush_idle() {
                assert!(matches!(r, Err(HidPosError::Incomplete { .. })));
            }
            assert!(d.pending.is_none() && !d.discarding);
        }
    }
}
