//! Worked examples of whole scans, and a robustness test on random and mutated input.
//!
//! GTINs, SSCCs and element strings come from the examples of the GS1 General Specifications
//! (GTIN 09506000134352, the DataMatrix example (01)09501101530003(17)140704(10)AB-123, SSCC
//! 106141411234567897) and from the UPC-E example 06543217 ↔ 065100004327.

use super::*;

fn today() -> Date {
    Date::new(2024, 5, 1).unwrap()
}

fn scan(raw: &[u8]) -> ScanDecode {
    decode_scan_at(raw, today())
}

fn date(y: u16, m: u8, d: u8) -> Option<Date> {
    Some(Date::new(y, m, d).unwrap())
}

fn elements(s: &ScanDecode) -> Vec<(&str, &str)> {
    s.elements
        .iter()
        .map(|e| (e.ai.as_str(), e.value.as_str()))
        .collect()
}

#[test]
fn gs1_128_gtin_batch_expiry() {
    let s = scan(b"]C101095060001343521012345\x1D17220630");
    assert_eq!(s.aim.as_deref(), Some("]C1"));
    assert_eq!(s.symbology, "gs1-128");
    assert!(s.gs1);
    assert!(s.valid, "{:?}", s.error);
    assert_eq!(s.error, None);
    assert_eq!(s.data, "01095060001343521012345\x1D17220630");
    assert_eq!(
        elements(&s),
        [("01", "09506000134352"), ("10", "12345"), ("17", "220630")]
    );
    assert_eq!(s.gtin.as_deref(), Some("09506000134352"));
    assert_eq!(s.batch.as_deref(), Some("12345"));
    assert_eq!(s.expiry, date(2022, 6, 30));
}

#[test]
fn gs1_datamatrix_with_gtin_expiry_batch_serial() {
    let s = scan(b"]d201095011015300031714070410AB-123\x1D21SN-0042");
    assert_eq!(s.symbology, "gs1-datamatrix");
    assert!(s.valid, "{:?}", s.error);
    assert_eq!(
        elements(&s),
        [
            ("01", "09501101530003"),
            ("17", "140704"),
            ("10", "AB-123"),
            ("21", "SN-0042")
        ]
    );
    assert_eq!(s.gtin.as_deref(), Some("09501101530003"));
    assert_eq!(s.expiry, date(2014, 7, 4));
    assert_eq!(s.batch.as_deref(), Some("AB-123"));
    assert_eq!(s.serial.as_deref(), Some("SN-0042"));
}

#[test]
fn other_gs1_symbologies() {
    for (raw, name) in [
        (&b"]e00109506000134352"[..], "gs1-databar"),
        (b"]Q30109506000134352", "gs1-qr"),
        (b"]J10109506000134352", "gs1-dotcode"),
        (b"]d50109506000134352", "gs1-datamatrix"),
    ] {
        let s = scan(raw);
        assert_eq!(s.symbology, name);
        assert!(s.gs1 && s.valid, "{name}: {:?}", s.error);
        assert_eq!(s.gtin.as_deref(), Some("09506000134352"));
    }
}

#[test]
fn leading_gs_with_or_without_aim_id() {
    let s = scan(b"]C1\x1D0109506000134352");
    assert!(s.valid && s.gs1);
    assert_eq!(s.gtin.as_deref(), Some("09506000134352"));

    let s = scan(b"\x1D0109506000134352\x1D10ABC");
    assert_eq!(s.aim, None);
    assert_eq!(s.symbology, "unknown");
    assert!(s.valid && s.gs1, "{:?}", s.error);
    assert_eq!(elements(&s), [("01", "09506000134352"), ("10", "ABC")]);
}

#[test]
fn sscc_check_digit() {
    let s = scan(b"]C100106141411234567897");
    assert!(s.valid);
    assert_eq!(s.sscc.as_deref(), Some("106141411234567897"));

    let s = scan(b"]C100106141411234567890");
    assert!(!s.valid);
    assert!(s.elements.is_empty());
    assert_eq!(s.sscc, None);
    assert_eq!(s.error_ai.as_deref(), Some("00"));
    assert_eq!(s.error_position, Some(19));
    assert_eq!(
        s.error.as_deref(),
        Some("AI (00) at position 19: bad check digit 0, expected 7")
    );
}

#[test]
fn logistic_unit_content_and_count() {
    let s = scan(b"]C10010614141123456789702095060001343523724");
    assert!(s.valid, "{:?}", s.error);
    assert_eq!(s.sscc.as_deref(), Some("106141411234567897"));
    assert_eq!(s.content_gtin.as_deref(), Some("09506000134352"));
    assert_eq!(s.gtin, None);
    assert_eq!(s.quantity, Some(24));
}

#[test]
fn variable_count() {
    let s = scan(b"]C1010950600013435230120");
    assert!(s.valid, "{:?}", s.error);
    assert_eq!(s.quantity, Some(120));
}

#[test]
fn net_weight_and_other_decimals() {
    let s = scan(b"]C101095060001343523103001250");
    assert!(s.valid, "{:?}", s.error);
    assert_eq!(elements(&s), [("01", "09506000134352"), ("3103", "001250")]);
    assert_eq!(s.net_weight_kg.as_deref(), Some("1.250"));
    assert_eq!(
        s.decimals,
        [DecimalValue {
            ai: "3103".into(),
            title: "NET WEIGHT (kg)".into(),
            value: "1.250".into(),
            currency: None,
        }]
    );

    // Price to pay 4.99 in euro (currency 978), then a weight in pounds without separator.
    let s = scan(b"]C101095060001343523932978499\x1D3202000150");
    assert!(s.valid, "{:?}", s.error);
    assert_eq!(s.net_weight_kg, None);
    assert_eq!(
        s.decimals,
        [
            DecimalValue {
                ai: "3932".into(),
                title: "PRICE".into(),
                value: "4.99".into(),
                currency: Some("978".into()),
            },
            DecimalValue {
                ai: "3202".into(),
                title: "NET WEIGHT (lb)".into(),
                value: "1.50".into(),
                currency: None,
            }
        ]
    );
}

#[test]
fn day_zero_is_the_last_day_of_the_month() {
    let s = scan(b"]C1010950600013435217240200");
    assert_eq!(s.expiry, date(2024, 2, 29)); // leap year
    let s = scan(b"]C1010950600013435217230200");
    assert_eq!(s.expiry, date(2023, 2, 28));
    let s = scan(b"]C1010950600013435215250400");
    assert_eq!(s.best_before, date(2025, 4, 30));
    // Other dates: 11 production, 13 packaging, 16 sell by.
    let s = scan(b"]C10109506000134352112401151324011616240200");
    assert!(s.valid, "{:?}", s.error);
    assert_eq!(s.production_date, date(2024, 1, 15));
    assert_eq!(s.packaging_date, date(2024, 1, 16));
    assert_eq!(s.sell_by, date(2024, 2, 29));
}

#[test]
fn century_window() {
    let at = |raw: &[u8], y: u16| decode_scan_at(raw, Date::new(y, 6, 15).unwrap()).expiry;
    let raw = |yy: &str| format!("]C1010950600013435217{yy}1231").into_bytes();
    assert_eq!(at(&raw("74"), 2024), date(2074, 12, 31)); // 50 years ahead
    assert_eq!(at(&raw("75"), 2024), date(1975, 12, 31)); // 51 ahead: previous century
    assert_eq!(at(&raw("99"), 2024), date(1999, 12, 31));
    assert_eq!(at(&raw("30"), 2080), date(2130, 12, 31)); // 50 behind: next century
    assert_eq!(at(&raw("31"), 2080), date(2031, 12, 31)); // 49 behind: this century
}

#[test]
fn bad_date_keeps_what_came_before() {
    let s = scan(b"]C10109506000134352\x1D10ABC\x1D17221330");
    assert!(!s.valid);
    assert_eq!(elements(&s), [("01", "09506000134352"), ("10", "ABC")]);
    assert_eq!(s.gtin.as_deref(), Some("09506000134352"));
    assert_eq!(s.batch.as_deref(), Some("ABC"));
    assert_eq!(s.expiry, None);
    assert_eq!(s.error_ai.as_deref(), Some("17"));
    assert_eq!(s.error_position, Some(25));
    assert_eq!(
        s.error.as_deref(),
        Some("AI (17) at position 25: invalid date 221330: month 13 out of range")
    );
}

#[test]
fn invalid_gs1_data() {
    // Unknown AI.
    let s = scan(b"]C10109506000134352\x1D2351");
    assert!(s.valid, "(235) is a real AI: {:?}", s.error);
    let s = scan(b"]C10109506000134352\x1D2312");
    assert!(!s.valid);
    assert_eq!(s.error_position, Some(17));
    assert!(
        s.error
            .as_deref()
            .unwrap()
            .contains("unknown application identifier"),
        "{:?}",
        s.error
    );
    // Letters in a numeric AI.
    let s = scan(b"]C1010950600013435A");
    assert!(!s.valid);
    assert_eq!(s.error_ai.as_deref(), Some("01"));
    // Cut short.
    let s = scan(b"]C1010950600013");
    assert!(!s.valid);
    // Missing GS after a variable-length AI followed by more data.
    let s = scan(b"]C10109506000134352301217220630");
    assert!(!s.valid);
    assert_eq!(s.error_ai.as_deref(), Some("30"));
    assert_eq!(s.quantity, None);
    assert!(s.error.as_deref().unwrap().contains("missing GS separator"));
    // Batch too long (X..20).
    let s = scan(b"]C11012345678901234567890X");
    assert!(!s.valid);
    // Nothing after the AIM id.
    let s = scan(b"]C1");
    assert!(!s.valid);
    assert!(s.gs1);
}

#[test]
fn ean_and_upc() {
    let s = scan(b"]E09506000134352");
    assert_eq!(
        (s.symbology.as_str(), s.gtin.as_deref(), s.valid),
        ("ean13", Some("09506000134352"), true)
    );
    assert!(!s.gs1 && s.elements.is_empty());

    let s = scan(b"]E0036000291452");
    assert_eq!(
        (s.symbology.as_str(), s.gtin.as_deref()),
        ("upca", Some("00036000291452"))
    );

    let s = scan(b"]E004252614");
    assert_eq!(
        (s.symbology.as_str(), s.gtin.as_deref()),
        ("upce", Some("00042100005264"))
    );
    let s = scan(b"]E006543217");
    assert_eq!(s.gtin.as_deref(), Some("00065100004327"));

    let s = scan(b"]E495012346");
    assert_eq!(
        (s.symbology.as_str(), s.gtin.as_deref()),
        ("ean8", Some("00000095012346"))
    );

    let s = scan(b"]E3950600013435212");
    assert_eq!(s.symbology, "ean13-addon2");
    assert_eq!(s.gtin.as_deref(), Some("09506000134352"));
    assert_eq!(s.addon.as_deref(), Some("12"));

    let s = scan(b"]E251234");
    assert_eq!(
        (s.symbology.as_str(), s.addon.as_deref(), s.valid),
        ("ean-addon5", Some("51234"), true)
    );
    assert_eq!(s.gtin, None);
}

#[test]
fn ean_with_bad_check_digit_is_invalid() {
    let s = scan(b"]E09506000134353");
    assert!(!s.valid);
    assert_eq!(s.gtin, None);
    assert_eq!(
        s.error.as_deref(),
        Some("EAN-13 9506000134353: bad check digit 3, expected 2")
    );
    let s = scan(b"]E495012347");
    assert!(!s.valid);
    let s = scan(b"]E004252615");
    assert!(!s.valid);
    assert_eq!(s.symbology, "upce");
    let s = scan(b"]E01234");
    assert!(!s.valid);
}

#[test]
fn itf14() {
    let s = scan(b"]I115012345678907");
    assert_eq!(
        (s.symbology.as_str(), s.gtin.as_deref(), s.valid),
        ("itf14", Some("15012345678907"), true)
    );
    let s = scan(b"]I115012345678908");
    assert!(!s.valid);
    let s = scan(b"]I1123457");
    assert_eq!((s.symbology.as_str(), s.valid), ("itf", true));
}

#[test]
fn plain_symbologies() {
    let s = scan(b"]C0ABC-123");
    assert_eq!(s.symbology, "code128");
    assert!(s.valid && !s.gs1);
    assert!(s.elements.is_empty());
    assert_eq!(s.gtin, None);
    assert_eq!(s.data, "ABC-123");

    // Digits in a plain Code 128 are not GS1, whatever they look like.
    let s = scan(b"]C00109506000134352");
    assert!(s.valid && s.elements.is_empty() && s.gtin.is_none());

    let s = scan(b"]Q1https://example.com/p?id=1");
    assert_eq!((s.symbology.as_str(), s.valid), ("qr", true));

    let s = scan(b"]Y9whatever");
    assert_eq!(s.aim.as_deref(), Some("]Y9"));
    assert_eq!((s.symbology.as_str(), s.valid), ("unknown", true));
}

#[test]
fn no_aim_id() {
    let s = scan(b"9506000134352");
    assert_eq!(s.aim, None);
    assert_eq!(s.symbology, "unknown");
    assert_eq!(s.gtin.as_deref(), Some("09506000134352"));
    assert!(s.valid);
    // A wrong check digit is just not a GTIN: the symbology might be anything.
    let s = scan(b"9506000134353");
    assert!(s.valid);
    assert_eq!(s.gtin, None);
    let s = scan(b"HELLO");
    assert!(s.valid && s.gtin.is_none() && !s.gs1);
    let s = scan(b"");
    assert!(s.valid);
    assert_eq!(s.data, "");
}

#[test]
fn serialises_to_json() {
    let s = scan(b"]C101095060001343521012345\x1D17220630");
    let v: serde_json::Value = serde_json::to_value(&s).unwrap();
    assert_eq!(v["symbology"], "gs1-128");
    assert_eq!(v["aim"], "]C1");
    assert_eq!(v["valid"], true);
    assert_eq!(v["error"], serde_json::Value::Null);
    assert_eq!(v["gtin"], "09506000134352");
    assert_eq!(v["batch"], "12345");
    assert_eq!(v["expiry"], "2022-06-30");
    assert_eq!(v["serial"], serde_json::Value::Null);
    assert_eq!(v["quantity"], serde_json::Value::Null);
    assert_eq!(
        v["elements"],
        serde_json::json!([
            {"ai": "01", "value": "09506000134352"},
            {"ai": "10", "value": "12345"},
            {"ai": "17", "value": "220630"}
        ])
    );
    assert_eq!(v["data"], "01095060001343521012345\u{1d}17220630");
}

/// Small deterministic PRNG (xorshift64*), so the robustness test needs no extra crate.
use crate::testing::XorShift;

/// A byte biased towards what GS1 data is made of, with an occasional arbitrary one.
fn gs1_byte(rng: &mut XorShift) -> u8 {
    const ALPHABET: &[u8] = b"0123456789012345678901234567890123456789\x1D\x1D\x1DABCXYZaz-_=/#]%";
    match rng.below(10) {
        0 => rng.next() as u8,
        _ => ALPHABET[rng.below(ALPHABET.len())],
    }
}

/// Re-encodes elements as element strings: GS after every element that is not of predefined
/// length, except the last.
fn encode(elements: &[Element]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, e) in elements.iter().enumerate() {
        out.extend_from_slice(e.ai.as_bytes());
        out.extend_from_slice(e.value.as_bytes());
        let predefined = ai_table::lookup(e.ai.as_bytes()).is_some_and(|d| d.predefined);
        if !predefined && i + 1 < elements.len() {
            out.push(GS);
        }
    }
    out
}

fn check_invariants(raw: &[u8]) -> ScanDecode {
    let s = scan(raw);
    assert_eq!(s.valid, s.error.is_none(), "{raw:?}");
    if let Some(pos) = s.error_position {
        assert!(pos <= s.data.len(), "{raw:?}");
    }
    assert!(s.gs1 || s.elements.is_empty());
    for e in &s.elements {
        assert!(ai_table::lookup(e.ai.as_bytes()).is_some(), "{raw:?}");
        assert!(e.value.is_ascii(), "{raw:?}");
    }
    if let Some(g) = &s.gtin {
        assert!(g.len() == 14 && check::is_valid(g.as_bytes()), "{raw:?}");
    }
    serde_json::to_string(&s).unwrap();
    // What was decoded, re-encoded, decodes to the same elements without error.
    if s.gs1 && !s.elements.is_empty() {
        let again = decode::parse(&encode(&s.elements), today());
        assert_eq!(again.error, None, "{raw:?}");
        assert_eq!(again.elements, s.elements, "{raw:?}");
    }
    s
}

#[test]
fn never_panics_on_random_or_mutated_input() {
    const SEEDS: &[&[u8]] = &[
        b"]C101095060001343521012345\x1D17220630",
        b"]d201095011015300031714070410AB-123\x1D21SN-0042",
        b"]C10010614141123456789702095060001343523724",
        b"]C101095060001343523932978499\x1D3202000150",
        b"]C12539506000134352ABC\x1D8006095060001343520102\x1D4330001250-",
        b"]C18008060101123045\x1D70032401011230\x1D8030ABC-_9==",
        b"]E004252614",
        b"]E3950600013435212",
        b"]I115012345678907",
        b"\x1D0109506000134352\x1D10ABC",
    ];
    const PREFIXES: &[&[u8]] = &[
        b"", b"]C1", b"]d2", b"]Q3", b"]e0", b"]J1", b"]E0", b"]E1", b"]E2", b"]E3", b"]E4",
        b"]I1", b"]C0", b"]", b"]C", b"\x1D",
    ];
    let mut rng = XorShift(0x5EED_0F5C_A4D1_u64);
    let (mut with_elements, mut valid_gs1, mut invalid_gs1) = (0, 0, 0);
    for _ in 0..20_000 {
        let raw: Vec<u8> = if rng.below(2) == 0 {
            // Random: an AIM-ish prefix and up to 60 bytes.
            let mut raw = PREFIXES[rng.below(PREFIXES.len())].to_vec();
            let len = rng.below(61);
            raw.extend((0..len).map(|_| gs1_byte(&mut rng)));
            raw
        } else {
            // Mutated: a valid example with a few bytes changed, inserted, removed or cut.
            let mut raw = SEEDS[rng.below(SEEDS.len())].to_vec();
            for _ in 0..=rng.below(3) {
                let at = rng.below(raw.len() + 1);
                match rng.below(4) {
                    0 if at < raw.len() => raw[at] = gs1_byte(&mut rng),
                    1 => raw.insert(at, gs1_byte(&mut rng)),
                    2 if at < raw.len() => {
                        raw.remove(at);
                    }
                    _ => raw.truncate(at),
                }
            }
            raw
        };
        let s = check_invariants(&raw);
        with_elements += usize::from(!s.elements.is_empty());
        valid_gs1 += usize::from(s.gs1 && s.valid);
        invalid_gs1 += usize::from(s.gs1 && !s.valid);
    }
    // The input reaches deep into the parser, not just its first checks.
    assert!(with_elements > 1_500, "{with_elements}");
    assert!(valid_gs1 > 400, "{valid_gs1}");
    assert!(invalid_gs1 > 3_000, "{invalid_gs1}");
}

#[test]
fn every_ai_decodes_a_well_formed_value() {
    // For each AI of the table, a value built from its format decodes without error.
    for def in ai_table::AIS {
        for ai in def.ais() {
            let mut value = Vec::new();
            for part in def.parts {
                let len = usize::from(part.max);
                let mut field: Vec<u8> = match part.check {
                    ai_table::Check::DateDay0 | ai_table::Check::Date => b"240229".to_vec(),
                    ai_table::Check::LongDate => b"20240229".to_vec(),
                    ai_table::Check::Hyphen => b"-".to_vec(),
                    ai_table::Check::PieceOfTotal => b"0102".to_vec(),
                    ai_table::Check::HourMinute => b"2359".to_vec(),
                    ai_table::Check::Winding => b"9".to_vec(),
                    ai_table::Check::Zero => b"0".to_vec(),
                    _ => match part.cset {
                        ai_table::Cset::Numeric => vec![b'1'; len],
                        _ => vec![b'A'; len],
                    },
                };
                if part.check == ai_table::Check::CheckDigit {
                    field.pop();
                    field.push(b'0' + check::mod10(&field).unwrap());
                }
                value.extend(field);
            }
            let mut raw = b"]C1".to_vec();
            raw.extend_from_slice(ai.as_bytes());
            raw.extend_from_slice(&value);
            let s = scan(&raw);
            assert!(s.valid, "{ai}: {:?}", s.error);
            assert_eq!(s.elements.len(), 1, "{ai}");
            assert_eq!(s.elements[0].value.as_bytes(), &value[..], "{ai}");
        }
    }
}
