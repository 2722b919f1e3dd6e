//! Keyboard-wedge scanner reports (`scanner::hid::wedge::WedgeDecoder`): boot keyboard reports
//! in, typed scans out.
//!
//! Input: byte 0: bits 0..=2 the terminators (Enter, Tab, keypad Enter; none set: Enter), bit 3
//! the German layout (else US), bit 4 round-trip mode; byte 1: `max_len`. Then, in report mode,
//! reports: a byte below 0xFE is the modifier byte of an 8-byte report whose 7 other bytes
//! follow, 0xFE a raw report (a short string: any size), 0xFF the idle timeout. In round-trip
//! mode, the bytes are characters (indexes into the layout's key map) that the harness types as
//! a scanner does, key, release, then a terminator.
//!
//! Asserted besides "no panic": no scan is longer than `max_len` nor carries more than
//! `MAX_ERRORS` key errors; an over-long scan keeps exactly `max_len` bytes; only reports of a
//! size other than 8 are refused for their size; one report never leaves more than 8 results
//! queued; and in round-trip mode the text typed comes back unchanged without errors (or as
//! too long, with its first `max_len` bytes), in both layouts, whichever keys end it.

use store_drivers::scanner::hid::wedge::{
    Key, KeyboardLayout, Layout, Terminator, WedgeDecoder, WedgeError, WedgeScan, MAX_ERRORS,
    REPORT_LEN,
};

use super::Reader;

const LSHIFT: u8 = 0x02;
const RALT: u8 = 0x40;
const SPACE: u8 = 0x2C;
const UP: [u8; REPORT_LEN] = [0; REPORT_LEN];

/// One fuzz input: panics when an invariant above is broken.
pub fn run(data: &[u8]) {
    let mut r = Reader::new(data);
    let (Some(cfg), Some(max)) = (r.u8(), r.u8()) else {
        return;
    };
    let max_len = usize::from(max);
    let mut terminators: Vec<Terminator> =
        [Terminator::Enter, Terminator::Tab, Terminator::KeypadEnter]
            .into_iter()
            .enumerate()
            .filter(|(i, _)| cfg & (1 << i) != 0)
            .map(|(_, t)| t)
            .collect();
    if terminators.is_empty() {
        terminators.push(Terminator::Enter);
    }
    let layout = if cfg & 8 != 0 {
        KeyboardLayout::De
    } else {
        KeyboardLayout::Us
    };
    let mut d = WedgeDecoder::new(layout, &terminators).with_max_len(max_len);
    if cfg & 16 != 0 {
        round_trip(r, d, layout, &terminators, max_len);
        return;
    }
    while let Some(op) = r.u8() {
        let mut results = Vec::new();
        match op {
            0xFF => results.extend(d.flush_idle()),
            0xFE => {
                let Some(report) = r.short() else { break };
                let result = d.push_report(report);
                if let Some(Err(WedgeError::BadReport { raw })) = &result {
                    assert_ne!(raw.len(), REPORT_LEN, "an 8-byte report refused");
                }
                results.extend(result);
            }
            modifiers => {
                let mut report = [0u8; REPORT_LEN];
                report[0] = modifiers;
                for b in &mut report[1..] {
                    *b = r.u8().unwrap_or(0);
                }
                results.extend(d.push_report(&report));
            }
        }
        while let Some(more) = d.take_ready() {
            results.push(more);
        }
        assert!(
            results.len() <= 9,
            "{} results from one report",
            results.len()
        );
        for result in &results {
            check(result, max_len);
        }
    }
}

fn check(result: &Result<WedgeScan, WedgeError>, max_len: usize) {
    match result {
        Ok(scan) => {
            assert!(
                scan.data.len() <= max_len,
                "{} > {max_len}",
                scan.data.len()
            );
            assert!(
                scan.errors.len() <= MAX_ERRORS,
                "{} errors",
                scan.errors.len()
            );
        }
        Err(WedgeError::TooLong { max, kept }) => {
            assert_eq!(*max, max_len);
            assert_eq!(
                kept.data.len(),
                max_len,
                "too long but kept {}",
                kept.data.len()
            );
            assert!(kept.errors.len() <= MAX_ERRORS);
        }
        Err(_) => {}
    }
}

/// One way to type each character of `layout`: (character, modifiers, usage, dead key).
fn key_map(layout: KeyboardLayout, terminators: &[Terminator]) -> Vec<(u8, u8, u8, bool)> {
    let ends: Vec<u8> = terminators.iter().map(|t| t.usage()).collect();
    let mut map: Vec<(u8, u8, u8, bool)> = Vec::new();
    for mods in [0, LSHIFT, RALT, LSHIFT | RALT] {
        for usage in 0x04..=0xDDu8 {
            // Terminators end the scan; with Alt held the keypad digits make an Alt code.
            if ends.contains(&usage) || (mods & RALT != 0 && (0x59..=0x62).contains(&usage)) {
                continue;
            }
            let (c, dead) = match layout.key(usage, mods & LSHIFT != 0, mods & RALT != 0) {
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

fn round_trip(
    mut r: Reader<'_>,
    mut d: WedgeDecoder,
    layout: KeyboardLayout,
    terminators: &[Terminator],
    max_len: usize,
) {
    let map = key_map(layout, terminators);
    assert!(map.len() > 90, "{layout:?}: {} keys", map.len());
    let mut text = Vec::new();
    let mut reports = Vec::new();
    while let Some(i) = r.u8() {
        let (c, mods, usage, dead) = map[usize::from(i) % map.len()];
        let mut press = UP;
        press[0] = mods;
        press[2] = usage;
        reports.extend([press, UP]);
        if dead {
            // A dead key alone types its accent once space follows.
            let mut space = UP;
            space[2] = SPACE;
            reports.extend([space, UP]);
        }
        text.push(c);
    }
    let mut end = UP;
    end[2] = terminators[text.len() % terminators.len()].usage();
    reports.extend([end, UP]);

    let mut results = Vec::new();
    for report in &reports {
        results.extend(d.push_report(report));
        while let Some(more) = d.take_ready() {
            results.push(more);
        }
    }
    results.extend(d.flush_idle());
    let expected = if text.is_empty() {
        vec![]
    } else if text.len() > max_len {
        vec![Err(WedgeError::TooLong {
            max: max_len,
            kept: WedgeScan {
                data: text[..max_len].to_vec(),
                errors: vec![],
            },
        })]
    } else {
        vec![Ok(WedgeScan {
            data: text.clone(),
            errors: vec![],
        })]
    };
    assert_eq!(results, expected, "{layout:?} typed {text:?}");
}
