//! Every decoder of the crate, through its public API, on arbitrary bytes: uniformly random
//! input of every length up to a few KiB, fed whole and in random pieces. None may panic, loop
//! or hold more than its documented bound; errors must say something.
//!
//! The per-module robustness tests mutate valid input, which reaches deep into each parser;
//! this one checks the blunt promise of the drivers' issue ("survives arbitrary bytes") in one
//! place, so a new decoder without such a check stands out here. The generator is the crate's
//! shared one (fixed seeds: a failure reproduces).

#[allow(dead_code)]
#[path = "../src/testing.rs"]
mod testing;

use std::sync::Arc;

use store_drivers::counter::serial_line::{parse_line, LineSplitter, SerialLineCounter};
use store_drivers::counter::vendor::decode;
use store_drivers::counter::{Trackers, Vendor};
use store_drivers::line_feed::decode::decode_line;
use store_drivers::pos::escpos::{EscPosDecoder, EscPosOptions};
use store_drivers::pos::poslog::parse_poslog;
use store_drivers::pos::tap::{ReceiptCapture, ReceiptTemplate};
use store_drivers::scanner::gs1::decode_scan;
use store_drivers::scanner::hid::hidpos::{HidPosDecoder, LengthConvention};
use store_drivers::scanner::hid::wedge::{KeyboardLayout, Terminator, WedgeDecoder, WedgeError};
use store_drivers::scanner::serial::framing::{FrameDecoder, Framing};
use store_drivers::scanner::{aim, record};
use testing::XorShift;

/// Random inputs per decoder.
const ROUNDS: usize = 1500;

/// Uniformly random bytes; lengths mostly short (where parsers branch), sometimes long.
fn noise(rng: &mut XorShift) -> Vec<u8> {
    let len = match rng.below(10) {
        0 => rng.below(4096),
        1..=3 => rng.below(8),
        _ => rng.below(300),
    };
    (0..len).map(|_| rng.next() as u8).collect()
}

#[test]
fn escpos_decoder() {
    let mut rng = XorShift(0x0E5C_0905);
    let options = EscPosOptions {
        max_text_bytes: 64,
        max_raw_bytes: 128,
        ..Default::default()
    };
    for _ in 0..ROUNDS {
        let input = noise(&mut rng);
        let mut d = EscPosDecoder::new(options.clone());
        let mut receipts = Vec::new();
        for chunk in rng.chunks(&input) {
            receipts.extend(d.push(chunk));
        }
        receipts.extend(d.flush_idle());
        for r in receipts {
            // The bound, plus the line end that closes a receipt split at the limit.
            assert!(r.text.len() <= options.max_text_bytes + 1, "{r:?}");
            assert!(r.raw.len() <= options.max_raw_bytes, "{r:?}");
        }
    }
}

#[test]
fn receipt_capture_with_gaps() {
    let mut rng = XorShift(0xCA97_0E5E);
    let template = Arc::clone(ReceiptTemplate::load("generic").unwrap().template());
    for _ in 0..ROUNDS / 3 {
        let input = noise(&mut rng);
        let mut c = ReceiptCapture::new(template.clone(), EscPosOptions::default());
        for chunk in rng.chunks(&input) {
            let _ = c.push(chunk);
            if rng.below(16) == 0 {
                assert!(!c.gap(1 + rng.below(1000) as u64).is_empty());
            }
        }
        let _ = c.flush_idle();
        assert!(!c.has_pending());
    }
}

#[test]
fn poslog_reader() {
    let mut rng = XorShift(0x9051_0906);
    let head = br#"<?xml version="1.0"?><POSLog xmlns="http://www.nrf-arts.org/IXRetail/namespace/"><Transaction>"#;
    for round in 0..ROUNDS {
        let mut input = noise(&mut rng);
        // Half the rounds get past the document's first checks.
        if round % 2 == 0 {
            input.splice(0..0, head.iter().copied());
        }
        match parse_poslog(&input) {
            Ok(txs) => {
                for tx in txs {
                    assert!(tx.error.is_empty() || tx.items.is_empty(), "{tx:?}");
                }
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
}

#[test]
fn counter_vendor_payloads() {
    let mut rng = XorShift(0xC0C0_0A1E);
    let vendors = [
        Vendor::Axis,
        Vendor::Axis3d,
        Vendor::Xovis,
        Vendor::Irisys,
        Vendor::Hikvision,
        Vendor::Vivotek,
    ];
    for vendor in vendors {
        let mut trackers = Trackers::new();
        for _ in 0..ROUNDS {
            let input = noise(&mut rng);
            match decode(vendor, &input) {
                Ok(d) => drop(trackers.apply(&d.totals)),
                Err(e) => assert!(!e.to_string().is_empty()),
            }
        }
    }
}

#[test]
fn counter_serial_lines() {
    let mut rng = XorShift(0x5E71_A111);
    for _ in 0..ROUNDS {
        let input = noise(&mut rng);
        if let Err(e) = parse_line(&input) {
            assert!(!e.to_string().is_empty());
        }
        let mut split = LineSplitter::new();
        let mut counter = SerialLineCounter::new("beam", "main");
        for chunk in rng.chunks(&input) {
            for line in split.push(chunk) {
                let _ = counter.feed(&line, 1);
            }
        }
        if let Some(rest) = split.finish() {
            let _ = counter.feed(&rest, 2);
        }
    }
}

#[test]
fn serial_scanner_framing() {
    let mut rng = XorShift(0xF4A3_1316);
    for round in 0..ROUNDS {
        let input = noise(&mut rng);
        let framing = [Framing::Cr, Framing::CrLf, Framing::Lf, Framing::StxEtx][round % 4];
        let max_len = rng.below(300);
        let mut d = FrameDecoder::new(framing, max_len);
        let mut frames = Vec::new();
        for chunk in rng.chunks(&input) {
            frames.extend(d.push(chunk));
        }
        frames.extend(d.flush_idle());
        for f in frames {
            let bytes = match &f {
                Ok(frame) => frame.as_slice(),
                Err(e) => e.bytes(),
            };
            assert!(bytes.len() <= max_len.max(1), "{f:?}");
        }
    }
}

#[test]
fn hid_pos_reports() {
    let mut rng = XorShift(0x41D0_9053);
    let conventions = [
        LengthConvention::Auto,
        LengthConvention::DataOnly,
        LengthConvention::IncludesAim,
    ];
    for round in 0..ROUNDS {
        let max_len = 1 + rng.below(400);
        let mut d = HidPosDecoder::new(max_len).with_length_convention(conventions[round % 3]);
        for _ in 0..rng.below(8) {
            let report = noise(&mut rng);
            if let Some(Ok(scan)) = d.push_report(&report) {
                assert!(scan.data.len() <= max_len);
            }
        }
        if let Some(Ok(scan)) = d.flush_idle() {
            panic!("an idle flush completed a scan: {scan:?}");
        }
    }
}

#[test]
fn wedge_reports() {
    let mut rng = XorShift(0x3ED6_E000);
    for round in 0..ROUNDS {
        let layout = [KeyboardLayout::Us, KeyboardLayout::De][round % 2];
        let max_len = rng.below(200);
        let mut d =
            WedgeDecoder::new(layout, &[Terminator::Enter, Terminator::Tab]).with_max_len(max_len);
        let mut out = Vec::new();
        for _ in 0..rng.below(40) {
            // Mostly boot-keyboard sized, like a real device; any size now and then.
            let report: Vec<u8> = if rng.below(8) == 0 {
                noise(&mut rng)
            } else {
                (0..8).map(|_| rng.next() as u8).collect()
            };
            out.extend(d.push_report(&report));
            while let Some(more) = d.take_ready() {
                out.push(more);
            }
        }
        out.extend(d.flush_idle());
        for r in out {
            let scan = match r {
                Ok(scan) | Err(WedgeError::TooLong { kept: scan, .. }) => scan,
                Err(e) => {
                    assert!(!e.to_string().is_empty());
                    continue;
                }
            };
            assert!(scan.data.len() <= max_len, "{scan:?}");
        }
    }
}

#[test]
fn scan_data_gs1_and_aim() {
    let mut rng = XorShift(0x0651_A111);
    for round in 0..ROUNDS * 4 {
        let mut input = noise(&mut rng);
        input.truncate(200);
        // A quarter claim to be GS1, so the element-string parser sees the noise.
        if round % 4 == 0 {
            input.splice(0..0, *b"]C1");
        }
        let (symbology, rest) = aim::split(&input);
        assert!(rest.len() <= input.len());
        assert!(symbology.is_none() || input.starts_with(b"]"));
        let d = decode_scan(&input);
        assert!(d.valid || d.error.as_deref().is_some_and(|e| !e.is_empty()));
        let scan = record::decode(input.clone());
        assert_eq!(scan.raw, input);
    }
}

#[test]
fn line_feed_lines() {
    let mut rng = XorShift(0x11FE_ED00);
    for _ in 0..ROUNDS {
        let input = noise(&mut rng);
        if let Err(e) = decode_line(&input) {
            assert!(!e.to_string().is_empty());
        }
    }
}
