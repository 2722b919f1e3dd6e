//! HID POS scanner reports (`scanner::hid::hidpos::HidPosDecoder`), and what the driver does
//! with a decoded scan (the GS1 decode of `scanner::record`).
//!
//! Input: byte 0: bits 0..=1 the length convention (auto, data only, AIM included; 3 is auto),
//! bit 2 set: round-trip mode; byte 1: `max_len / 4`. Then, in report mode, operations (the
//! byte modulo 4): a 64-byte report (id 0x02 then the next 63 bytes, zero padded), a 63-byte
//! report without id, a raw report (a short string: any size), the idle timeout. In round-trip
//! mode, scans (short strings: two AIM characters, then the data) that the harness splits into
//! reports as a scanner does, with the convention pinned (data only, or AIM included).
//!
//! Asserted besides "no panic": no scan is empty or longer than `max_len`; an over-long scan
//! keeps exactly `max_len` bytes and an incomplete one at most that; only reports of a size
//! other than 63 and 64 are refused for their size; an AIM id is `]` and two characters; and
//! in round-trip mode every scan comes back with its AIM id and data (or as too long, with the
//! first `max_len` bytes), from reports of each of the scanner's two conventions.

use store_drivers::scanner::gs1;
use store_drivers::scanner::hid::hidpos::{
    HidPosDecoder, HidPosError, HidPosScan, LengthConvention, DATA_FIELD_LEN, REPORT_ID, REPORT_LEN,
};

use super::Reader;

/// One fuzz input: panics when an invariant above is broken.
pub fn run(data: &[u8]) {
    let mut r = Reader::new(data);
    let (Some(mode), Some(max)) = (r.u8(), r.u8()) else {
        return;
    };
    let max_len = usize::from(max) * 4;
    if mode & 4 != 0 {
        round_trip(&mut r, mode, max_len);
        return;
    }
    let convention = [
        LengthConvention::Auto,
        LengthConvention::DataOnly,
        LengthConvention::IncludesAim,
        LengthConvention::Auto,
    ][usize::from(mode & 3)];
    let mut d = HidPosDecoder::new(max_len).with_length_convention(convention);
    while let Some(op) = r.u8() {
        let result = match op % 4 {
            0 | 1 => {
                let mut report = Vec::with_capacity(REPORT_LEN);
                if op % 4 == 0 {
                    report.push(REPORT_ID);
                }
                while report.len() < REPORT_LEN - usize::from(op % 4) {
                    report.push(r.u8().unwrap_or(0));
                }
                d.push_report(&report)
            }
            2 => {
                let Some(report) = r.short() else { break };
                let result = d.push_report(report);
                if let Some(Err(HidPosError::WrongSize { raw })) = &result {
                    assert!(
                        !matches!(raw.len(), 63 | 64),
                        "refused for its size: {raw:?}"
                    );
                }
                result
            }
            _ => d.flush_idle(),
        };
        if let Some(result) = result {
            check(&result, max_len);
        }
    }
    if let Some(result) = d.flush_idle() {
        check(&result, max_len);
    }
}

fn check(result: &Result<HidPosScan, HidPosError>, max_len: usize) {
    match result {
        Ok(scan) => {
            assert!(!scan.data.is_empty(), "an empty scan");
            assert!(
                scan.data.len() <= max_len,
                "{} > {max_len}",
                scan.data.len()
            );
            if let Some(aim) = &scan.aim {
                assert!(aim.len() == 3 && aim.starts_with(']'), "AIM id {aim:?}");
            }
            // What the driver does next with the bytes (AIM id back in front).
            let mut raw = scan.aim.clone().unwrap_or_default().into_bytes();
            raw.extend_from_slice(&scan.data);
            let _ = gs1::decode_scan(&raw);
        }
        Err(HidPosError::TooLong { max, kept }) => {
            assert_eq!(*max, max_len);
            assert_eq!(
                kept.data.len(),
                max_len,
                "too long but kept {}",
                kept.data.len()
            );
        }
        Err(HidPosError::Incomplete { partial }) => {
            assert!(
                partial.data.len() <= max_len,
                "{} > {max_len}",
                partial.data.len()
            );
        }
        Err(_) => {}
    }
}

/// Scans split into reports as a scanner sends them, decoded with the convention pinned.
fn round_trip(r: &mut Reader<'_>, mode: u8, max_len: usize) {
    let includes_aim = mode & 1 != 0;
    let convention = if includes_aim {
        LengthConvention::IncludesAim
    } else {
        LengthConvention::DataOnly
    };
    let mut d = HidPosDecoder::new(max_len).with_length_convention(convention);
    while let Some(scan) = r.short() {
        let (aim, data) = match scan {
            [a, b, data @ ..] => {
                // Printable AIM characters (0x21..=0x7E), as the decoder requires.
                let c = |x: u8| (0x21 + x % 94) as char;
                (format!("]{}{}", c(*a), c(*b)), data)
            }
            _ => continue,
        };
        let reports = encode(&aim, data, includes_aim);
        let mut results: Vec<_> = reports
            .iter()
            .filter_map(|rep| d.push_report(rep))
            .collect();
        assert!(results.len() <= 1, "one scan gave {results:?}");
        let Some(result) = results.pop() else {
            panic!("no result for {aim} {data:?}");
        };
        match result {
            Ok(scan) => {
                assert!(data.len() <= max_len);
                assert_eq!(scan.aim.as_deref(), Some(aim.as_str()));
                assert_eq!(scan.data, data, "data changed");
            }
            Err(HidPosError::Empty { .. }) => assert!(data.is_empty()),
            Err(HidPosError::TooLong { kept, .. }) => {
                assert!(data.len() > max_len);
                assert_eq!(kept.data, data[..max_len], "kept prefix changed");
                // The rest of the over-long scan is skipped up to its last report.
                assert!(d.flush_idle().is_none());
            }
            Err(e) => panic!("{aim} {data:?}: {e}"),
        }
    }
}

/// The reports of one scan: 56 data bytes each, bit 0 of byte 63 set on all but the last.
fn encode(aim: &str, data: &[u8], includes_aim: bool) -> Vec<[u8; REPORT_LEN]> {
    let chunks: Vec<&[u8]> = if data.is_empty() {
        vec![&[]]
    } else {
        data.chunks(DATA_FIELD_LEN).collect()
    };
    let last = chunks.len() - 1;
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let mut report = [0u8; REPORT_LEN];
            report[0] = REPORT_ID;
            report[1] = (chunk.len() + if includes_aim { 3 } else { 0 }) as u8;
            report[2..5].copy_from_slice(aim.as_bytes());
            report[5..5 + chunk.len()].copy_from_slice(chunk);
            report[63] = u8::from(i < last);
            report
        })
        .collect()
}
