//! The GS1 / EAN / UPC decoder of every scanner driver (`scanner::gs1::decode_scan_at`): the
//! input is the raw scan, AIM symbology id optional, exactly as a scanner sends it.
//!
//! Asserted besides "no panic": every GTIN, content GTIN and SSCC the decode reports has the
//! right length, only digits and a right check digit; `valid` is false exactly when an error is
//! named, and the error's position lies inside the data; the decode is deterministic; and the
//! element strings read from valid GS1 data, written out again (a GS after each field that is
//! not of predefined length), parse back to the same elements without an error.

use store_drivers::scanner::gs1::{ai_table, check, date::Date, decode, decode_scan_at, GS};

/// One fuzz input: panics when an invariant above is broken.
pub fn run(data: &[u8]) {
    // A fixed "today" so that a two-digit year decodes the same on every replay.
    let today = Date::new(2026, 6, 15).expect("a valid date");
    let d = decode_scan_at(data, today);
    assert_eq!(d, decode_scan_at(data, today), "not deterministic");
    assert_eq!(d.valid, d.error.is_none(), "valid but with an error: {d:?}");
    if let Some(pos) = d.error_position {
        assert!(pos <= d.data.len(), "error at {pos} past the data: {d:?}");
    }
    for (what, value, len) in [
        ("gtin", &d.gtin, 14),
        ("content_gtin", &d.content_gtin, 14),
        ("sscc", &d.sscc, 18),
    ] {
        if let Some(v) = value {
            assert!(
                v.len() == len && v.bytes().all(|b| b.is_ascii_digit()),
                "{what} {v:?} is not {len} digits"
            );
            assert!(
                check::is_valid(v.as_bytes()),
                "{what} {v:?}: wrong check digit"
            );
        }
    }
    if let Some(addon) = &d.addon {
        assert!(matches!(addon.len(), 2 | 5) && addon.bytes().all(|b| b.is_ascii_digit()));
    }
    if d.gs1 && d.valid {
        let mut again = Vec::new();
        for (i, e) in d.elements.iter().enumerate() {
            again.extend_from_slice(e.ai.as_bytes());
            again.extend_from_slice(e.value.as_bytes());
            let def = ai_table::lookup(e.ai.as_bytes()).expect("a decoded AI is in the table");
            let predefined = def.predefined && def.fixed_len().is_some();
            if !predefined && i + 1 < d.elements.len() {
                again.push(GS);
            }
        }
        let parsed = decode::parse(&again, today);
        assert_eq!(parsed.error, None, "re-encoded {again:?} does not parse");
        assert_eq!(
            parsed.elements, d.elements,
            "re-encoded {again:?} reads differently"
        );
    }
}
