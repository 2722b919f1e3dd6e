use super::*;

const UP: [u8; 8] = [0; 8];
/// Usage ids of the digit row, '0'..='9' (Usage Tables: 0x1E-0x26 are 1-9, 0x27 is 0).
const DIGIT: [u8; 10] = [0x27, 0x1E, 0x1F, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26];

fn rep(mods: u8, keys: &[u8]) -> [u8; 8] {
    let mut r = [0u8; 8];
    r[0] = mods;
    r[2..2 + keys.len()].copy_from_slice(keys);
    r
}

/// A key press as scanners send it: the key report, then the all-zero release report.
fn tap(mods: u8, usage: u8) -> [[u8; 8]; 2] {
    [rep(mods, &[usage]), UP]
}

fn digits(s: &str) -> Vec<[u8; 8]> {
    s.bytes()
        .flat_map(|c| tap(0, DIGIT[usize::from(c - b'0')]))
        .collect()
}

fn run<L: Layout>(
    d: &mut WedgeDecoder<L>,
    reports: &[[u8; 8]],
) -> Vec<Result<WedgeScan, WedgeError>> {
    let mut out = Vec::new();
    for r in reports {
        out.extend(d.push_report(r));
        while let Some(more) = d.take_ready() {
            out.push(more);
        }
    }
    out
}

fn ok(data: &[u8]) -> Result<WedgeScan, WedgeError> {
    Ok(WedgeScan {
        data: data.to_vec(),
        errors: vec![],
    })
}

const GS1: &[u8] = b"]C101095060001343521012345\x1d17220630";

/// `]C1` then the element string up to the GS, as a US wedge types it.
fn gs1_head() -> Vec<[u8; 8]> {
    let mut r = vec![
        [0x00, 0, 0x30, 0, 0, 0, 0, 0], // ]  (unshifted on US)
        UP,
        [0x02, 0, 0x06, 0, 0, 0, 0, 0], // C  (LShift + c)
        UP,
    ];
    r.extend(digits("101095060001343521012345"));
    r
}

fn gs1_tail() -> Vec<[u8; 8]> {
    let mut r = digits("17220630");
    r.extend(tap(0, 0x28)); // Enter
    r
}

#[test]
fn gs1_with_ctrl_bracket() {
    let mut reports = gs1_head();
    reports.extend([
        [0x01, 0, 0x30, 0, 0, 0, 0, 0], // LCtrl + ]
        UP,
    ]);
    reports.extend(gs1_tail());
    let mut d = WedgeDecoder::default();
    assert_eq!(run(&mut d, &reports), vec![ok(GS1)]);
}

#[test]
fn gs1_with_alt_keypad_code() {
    let mut reports = gs1_head();
    reports.extend([
        [0x04, 0, 0x00, 0, 0, 0, 0, 0], // LAlt down
        [0x04, 0, 0x62, 0, 0, 0, 0, 0], // keypad 0
        [0x04, 0, 0x00, 0, 0, 0, 0, 0],
        [0x04, 0, 0x5A, 0, 0, 0, 0, 0], // keypad 2
        [0x04, 0, 0x00, 0, 0, 0, 0, 0],
        [0x04, 0, 0x61, 0, 0, 0, 0, 0], // keypad 9
        [0x04, 0, 0x00, 0, 0, 0, 0, 0],
        UP, // LAlt up: GS
    ]);
    reports.extend(gs1_tail());
    let mut d = WedgeDecoder::default();
    assert_eq!(run(&mut d, &reports), vec![ok(GS1)]);

    // Alt released together with the last digit key; right Alt works too.
    let reports = [
        rep(0x40, &[0x62]),
        rep(0x40, &[0x5A]),
        rep(0x40, &[0x61]),
        UP,
        rep(0, &[0x28]),
    ];
    let mut d = WedgeDecoder::default();
    assert_eq!(run(&mut d, &reports), vec![ok(b"\x1d")]);
}

#[test]
fn keypad_digits_without_alt_are_digits() {
    let mut reports: Vec<[u8; 8]> = [0x62, 0x5A, 0x61, 0x59, 0x63]
        .iter()
        .flat_map(|&k| tap(0, k))
        .collect();
    reports.extend(tap(0, 0x58)); // keypad Enter
    let mut d = WedgeDecoder::default();
    assert_eq!(run(&mut d, &reports), vec![ok(b"0291.")]);
}

#[test]
fn repeated_characters_need_a_release() {
    let one = rep(0, &[0x1E]);
    let two = rep(0, &[0x1F]);
    let enter = rep(0, &[0x28]);
    let mut d = WedgeDecoder::default();
    // With release reports: "11".
    assert_eq!(run(&mut d, &[one, UP, one, UP, enter, UP]), vec![ok(b"11")]);
    // Without: the key is held, one character.
    assert_eq!(run(&mut d, &[one, one, one, UP, enter, UP]), vec![ok(b"1")]);
    // The key leaving the array is a release too.
    assert_eq!(run(&mut d, &[one, two, one, enter]), vec![ok(b"121")]);
    // Modifier changes while a key is held do not retype it.
    assert_eq!(
        run(&mut d, &[one, rep(0x02, &[0x1E]), UP, enter, UP]),
        vec![ok(b"1")]
    );
    // Two keys new in one report, in slot order; a held key next to a new one.
    assert_eq!(
        run(
            &mut d,
            &[rep(0, &[0x1E, 0x1F]), rep(0, &[0x1F, 0x20]), UP, enter]
        ),
        vec![ok(b"123")]
    );
}

#[test]
fn rollover_reports_are_ignored() {
    let rollover = rep(0, &[1, 1, 1, 1, 1, 1]);
    let mut d = WedgeDecoder::default();
    let reports = [
        rep(0, &[0x1E]),
        rollover,
        rep(0, &[0x1E, 0x1F]), // 1 was held through the rollover: only 2 is new
        UP,
        rep(0, &[0x28]),
    ];
    assert_eq!(run(&mut d, &reports), vec![ok(b"12")]);
}

#[test]
fn shift_and_symbols_on_us() {
    let mut d = WedgeDecoder::default();
    let reports = [
        rep(0x02, &[0x04]), // A (left Shift)
        rep(0x20, &[0x05]), // B (right Shift)
        rep(0x00, &[0x06]), // c
        rep(0x02, &[0x1F]), // @
        rep(0x02, &[0x2D]), // _
        rep(0x00, &[0x2C]), // space
        rep(0x02, &[0x34]), // "
        rep(0x00, &[0x31]), // \
        rep(0x02, &[0x38]), // ?
        rep(0x00, &[0x2B]), // Tab is data unless a terminator
        rep(0x00, &[0x28]),
    ];
    assert_eq!(run(&mut d, &reports), vec![ok(b"ABc@_ \"\\?\t")]);
    // Tab as terminator; keypad Enter not configured types CR.
    let mut d = WedgeDecoder::new(KeyboardLayout::Us, &[Terminator::Tab]);
    let reports = [rep(0, &[0x04]), rep(0, &[0x58]), rep(0, &[0x2B])];
    assert_eq!(run(&mut d, &reports), vec![ok(b"a\r")]);
}

#[test]
fn unknown_keys_are_kept_with_the_scan() {
    let mut d = WedgeDecoder::default();
    let reports = [
        rep(0, &[0x1E]),
        rep(0, &[0x3A]),    // F1
        rep(0x04, &[0x04]), // Alt+A
        rep(0x01, &[0x1E]), // Ctrl+1
        rep(0x40, &[0x14]), // AltGr+Q: nothing on US
        rep(0, &[0x1F]),
        rep(0, &[0x28]),
    ];
    let scan = WedgeScan {
        data: b"12".to_vec(),
        errors: vec![
            KeyError::Unknown {
                usage: 0x3A,
                modifiers: 0,
            },
            KeyError::AltKey {
                usage: 0x04,
                modifiers: 0x04,
            },
            KeyError::NoControl {
                usage: 0x1E,
                modifiers: 0x01,
            },
            KeyError::Unknown {
                usage: 0x14,
                modifiers: 0x40,
            },
        ],
    };
    assert_eq!(run(&mut d, &reports), vec![Ok(scan)]);
    // Errors alone still make a scan; a bare terminator makes none.
    assert_eq!(run(&mut d, &[rep(0, &[0x28]), UP]), vec![]);
    let out = run(&mut d, &[rep(0, &[0x3B]), UP, rep(0, &[0x28])]);
    assert!(matches!(&out[..], [Ok(s)] if s.data.is_empty() && s.errors.len() == 1));
    // Device error states are noted.
    let out = run(&mut d, &[rep(0, &[2, 2, 2, 2, 2, 2]), UP, rep(0, &[0x28])]);
    assert!(matches!(&out[..], [Ok(s)] if s.errors == [KeyError::Device { usage: 2 }]));
}

#[test]
fn errors_and_alt_codes_are_bounded() {
    let mut d = WedgeDecoder::default();
    let mut reports = Vec::new();
    for _ in 0..40 {
        reports.extend(tap(0, 0x3A));
    }
    // Alt + 9 9 9 9: above 255.
    reports.extend([rep(0x04, &[0x61]), rep(0x04, &[]), rep(0x04, &[0x61])]);
    reports.extend([rep(0x04, &[]), rep(0x04, &[0x61]), rep(0x04, &[])]);
    reports.extend([rep(0x04, &[0x61]), UP, rep(0, &[0x28])]);
    let out = run(&mut d, &reports);
    let [Ok(scan)] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(scan.errors.len(), MAX_ERRORS);
    assert_eq!(scan.errors[MAX_ERRORS - 1], KeyError::More { count: 26 });

    let mut d = WedgeDecoder::default();
    let out = run(
        &mut d,
        &[
            rep(0x04, &[0x5A]),
            rep(0x04, &[0x5D]),
            rep(0x04, &[0x5E]),
            UP,
        ],
    );
    assert_eq!(out, vec![]);
    let out = run(&mut d, &[rep(0, &[0x28])]);
    assert!(matches!(&out[..], [Ok(s)]
        if s.errors == [KeyError::AltCodeOutOfRange { value: 256 }] && s.data.is_empty()));
}

#[test]
fn too_long_reports_prefix_and_skips_to_terminator() {
    let mut d = WedgeDecoder::default().with_max_len(3);
    let mut reports = digits("123456");
    reports.extend(tap(0, 0x28));
    reports.extend(digits("78"));
    reports.extend(tap(0, 0x28));
    assert_eq!(
        run(&mut d, &reports),
        vec![
            Err(WedgeError::TooLong {
                max: 3,
                kept: WedgeScan {
                    data: b"123".to_vec(),
                    errors: vec![]
                }
            }),
            ok(b"78"),
        ]
    );
}

#[test]
fn bad_reports_and_flush_idle() {
    let mut d = WedgeDecoder::default();
    assert_eq!(run(&mut d, &digits("42")), vec![]);
    assert_eq!(
        d.push_report(&[0, 0, 0x1E]),
        Some(Err(WedgeError::BadReport {
            raw: vec![0, 0, 0x1E]
        }))
    );
    assert_eq!(d.flush_idle(), Some(ok(b"42")));
    assert_eq!(d.flush_idle(), None);
}

#[test]
fn several_scans_in_one_report_are_all_returned() {
    let mut d = WedgeDecoder::default();
    let r = rep(0, &[0x04, 0x28, 0x05, 0x58, 0x06, 0x2B]);
    assert_eq!(d.push_report(&r), Some(ok(b"a")));
    assert_eq!(d.take_ready(), Some(ok(b"b")));
    assert_eq!(d.take_ready(), None);
    assert_eq!(run(&mut d, &[UP, rep(0, &[0x28])]), vec![ok(b"c\t")]);
}

#[test]
fn german_layout() {
    let mut d = WedgeDecoder::new(KeyboardLayout::De, &DEFAULT_TERMINATORS);
    let reports = [
        rep(0x00, &[0x1C]), // z (the US y key)
        rep(0x00, &[0x1D]), // y (the US z key)
        rep(0x02, &[0x1C]), // Z
        rep(0x02, &[0x1D]), // Y
        rep(0x40, &[0x14]), // AltGr+Q: @
        rep(0x02, &[0x24]), // /
        rep(0x00, &[0x38]), // -
        rep(0x00, &[0x34]), // ä
        rep(0x00, &[0x2D]), // ß
        rep(0x05, &[0x25]), // LCtrl+LAlt+8 as AltGr: [
        rep(0x00, &[0x63]), // keypad ,
        UP,
        rep(0x00, &[0x28]),
    ];
    assert_eq!(run(&mut d, &reports), vec![ok(b"zyZY@/-\xe4\xdf[,")]);
    let mut us = WedgeDecoder::default();
    let reports = [rep(0, &[0x1C]), rep(0, &[0x1D]), rep(0, &[0x28])];
    assert_eq!(run(&mut us, &reports), vec![ok(b"yz")]);
}

#[test]
fn german_gs1_with_altgr_and_ctrl() {
    let mut reports = vec![
        [0x40, 0, 0x26, 0, 0, 0, 0, 0], // AltGr+9: ]
        UP,
        [0x02, 0, 0x06, 0, 0, 0, 0, 0], // C
        UP,
    ];
    reports.extend(digits("101095060001343521012345"));
    reports.extend([
        [0x41, 0, 0x26, 0, 0, 0, 0, 0], // LCtrl + AltGr+9 (Ctrl+]): GS
        UP,
    ]);
    reports.extend(gs1_tail());
    let mut d = WedgeDecoder::new(KeyboardLayout::De, &DEFAULT_TERMINATORS);
    assert_eq!(run(&mut d, &reports), vec![ok(GS1)]);
}

#[test]
fn german_dead_keys() {
    let mut d = WedgeDecoder::new(KeyboardLayout::De, &DEFAULT_TERMINATORS);
    let circ = rep(0, &[0x35]);
    let acute = rep(0, &[0x2E]);
    let grave = rep(0x02, &[0x2E]);
    let reports = [
        circ,
        UP,
        rep(0, &[0x2C]), // ^ + space: ^
        acute,
        UP,
        rep(0, &[0x08]), // ´ + e: é
        grave,
        UP,
        rep(0x02, &[0x04]), // ` + A: À
        circ,
        UP,
        rep(0, &[0x1B]), // ^ + x: ^x
        circ,
        UP,
        circ,
        UP, // ^ ^: ^^
        acute,
        UP,
        rep(0, &[0x28]), // ´ then Enter: ´
    ];
    assert_eq!(run(&mut d, &reports), vec![ok(b"^\xe9\xc0^x^^\xb4")]);
}

#[test]
fn config_names() {
    assert_eq!(
        serde_json::from_str::<KeyboardLayout>("\"de\"").unwrap(),
        KeyboardLayout::De
    );
    assert_eq!(
        serde_json::from_str::<Vec<Terminator>>(r#"["enter","tab","keypad_enter"]"#).unwrap(),
        vec![Terminator::Enter, Terminator::Tab, Terminator::KeypadEnter]
    );
}

use crate::testing::XorShift;

/// Inverts a layout: for each byte, the first (usage, modifiers) typing it, and whether the
/// key is dead (then a space completes it). Terminator keys are left out.
fn keymap(layout: &KeyboardLayout) -> Vec<(u8, u8, u8, bool)> {
    let mut map: Vec<(u8, u8, u8, bool)> = Vec::new();
    for (mods, shift, altgr) in [(0, false, false), (0x02, true, false), (0x40, false, true)] {
        for usage in 0x04..=0x64u8 {
            if DEFAULT_TERMINATORS.iter().any(|t| t.usage() == usage) {
                continue;
            }
            let (c, dead) = match layout.key(usage, shift, altgr) {
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

/// Random text typed through each layout's own key map decodes to the same bytes, with or
/// without release reports between different keys.
#[test]
fn typed_text_round_trips_through_both_layouts() {
    let mut rng = XorShift(0xD1B5_4A32_D192_ED03);
    for layout in [KeyboardLayout::Us, KeyboardLayout::De] {
        let map = keymap(&layout);
        assert!(map.len() > 90, "{layout:?}: {}", map.len());
        for _ in 0..300 {
            let mut text = Vec::new();
            let mut reports = Vec::new();
            let mut last: Option<[u8; 8]> = None;
            for _ in 0..rng.below(40) {
                let (c, mods, usage, dead) = map[rng.below(map.len())];
                let mut keys = vec![rep(mods, &[usage])];
                if dead {
                    keys.extend([UP, rep(0, &[0x2C])]);
                }
                for k in keys {
                    // The same key twice in a row (whatever the modifiers) needs the
                    // release in between.
                    if last.is_some_and(|l| l[2] == k[2]) || rng.below(2) == 0 {
                        reports.push(UP);
                    }
                    reports.push(k);
                    last = Some(k);
                }
                text.push(c);
            }
            reports.extend([UP, rep(0, &[0x28]), UP]);
            let mut d = WedgeDecoder::new(layout, &DEFAULT_TERMINATORS);
            let expected = if text.is_empty() {
                vec![]
            } else {
                vec![ok(&text)]
            };
            assert_eq!(run(&mut d, &reports), expected, "{layout:?}");
        }
    }
}

#[test]
fn fuzz_never_panics_and_keeps_invariants() {
    let mut rng = XorShift(0x6A09_E667_F3BC_C908);
    let interesting = [
        0x00, 0x00, 0x00, 0x01, 0x02, 0x28, 0x2B, 0x58, 0x30, 0x2E, 0x35, 0x2C, 0x62, 0x5A, 0x61,
        0x1E, 0x04, 0x3A, 0xE1,
    ];
    for round in 0..3000 {
        let layout = [KeyboardLayout::Us, KeyboardLayout::De][round % 2];
        let max_len = rng.below(40);
        let terminators =
            &[Terminator::Enter, Terminator::Tab, Terminator::KeypadEnter][..rng.below(4)];
        let mut d = WedgeDecoder::new(layout, terminators).with_max_len(max_len);
        let mut presses = 0usize;
        let mut produced = 0usize;
        for _ in 0..rng.below(60) {
            let size = if rng.below(20) == 0 { rng.below(12) } else { 8 };
            let mut r: Vec<u8> = (0..size)
                .map(|_| {
                    if rng.below(2) == 0 {
                        interesting[rng.below(interesting.len())]
                    } else {
                        rng.next() as u8
                    }
                })
                .collect();
            if size == 8 && rng.below(2) == 0 {
                r[0] &= [0x00, 0x02, 0x04, 0x01, 0x40][rng.below(5)];
                r[3..].fill(0);
            }
            presses += r.len().saturating_sub(2);
            let mut out: Vec<_> = d.push_report(&r).into_iter().collect();
            if rng.below(4) == 0 {
                out.extend(d.flush_idle());
            }
            while let Some(more) = d.take_ready() {
                out.push(more);
            }
            for result in out {
                let scan = match result {
                    Ok(scan) => scan,
                    Err(WedgeError::TooLong { kept, .. }) => kept,
                    Err(e) => {
                        assert!(!e.to_string().is_empty());
                        continue;
                    }
                };
                assert!(scan.data.len() <= max_len);
                assert!(scan.errors.len() <= MAX_ERRORS);
                produced += scan.data.len();
            }
            assert!(d.data.len() <= max_len && d.errors.len() <= MAX_ERRORS);
            assert!(d.ready.len() <= MAX_READY);
            // A key press types at most two bytes (a pending accent and a character).
            assert!(produced <= 2 * presses);
        }
    }
}
