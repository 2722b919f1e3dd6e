//! AIM symbology identifiers (ISO/IEC 15424): the optional `]` + code character + modifier
//! character prefix that a scanner puts in front of the data to say which symbology it read.
//!
//! ```text
//! ]C1 0109506000134352 10 ABC <GS> 17 220630
//! ─┬─ ───────────────────┬──────────────────
//!  │                     └ data: GS1 element strings (the leading FNC1 is implied by ]C1)
//!  └ AIM id: code 'C' (Code 128), modifier '1' (FNC1 in first position: GS1-128)
//! ```
//!
//! The table follows ISO/IEC 15424 and the GS1 General Specifications (figure 5.1.2-2, "GS1
//! symbology identifiers"). An id that is not in the table is kept verbatim with the name
//! `"unknown"`: a scanner that reports something new is not an error.

/// What the data after an AIM id holds, as far as the id tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// GS1 element strings; the leading FNC1 is implied by the id, separators arrive as GS.
    Gs1,
    /// An EAN/UPC main symbol, with or without add-on (]E0 ]E3 ]E4): carries a GTIN.
    EanUpc,
    /// An EAN/UPC 2- or 5-digit add-on sent on its own (]E1 ]E2).
    EanAddOn,
    /// ITF with its check digit validated and transmitted (]I1): ITF-14 carries a GTIN-14.
    Itf14,
    /// Anything else: text whose meaning the symbology does not define.
    Plain,
}

/// A symbology as announced by an AIM id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbology {
    /// The id as received, three characters such as `]C1`.
    pub id: String,
    /// Short lowercase name (`"gs1-128"`, `"ean13"`, `"qr"`, …); `"unknown"` when the id is not
    /// in the table.
    pub name: &'static str,
    /// What the data holds.
    pub content: Content,
}

impl Symbology {
    /// True when the data is GS1 element strings.
    pub fn is_gs1(&self) -> bool {
        self.content == Content::Gs1
    }
}

/// Splits an AIM id off the front of `raw`. Returns `None` and all of `raw` when `raw` does not
/// start with `]` followed by an ASCII letter (the code character) and an ASCII alphanumeric
/// (the modifier).
pub fn split(raw: &[u8]) -> (Option<Symbology>, &[u8]) {
    match raw {
        [b']', code, modifier, rest @ ..]
            if code.is_ascii_alphabetic() && modifier.is_ascii_alphanumeric() =>
        {
            let (name, content) = lookup(*code, *modifier);
            let id = String::from_utf8_lossy(&raw[..3]).into_owned();
            (Some(Symbology { id, name, content }), rest)
        }
        _ => (None, raw),
    }
}

/// Name and content of a code character and modifier (ISO/IEC 15424 and the symbology
/// specifications; GS1 General Specifications figure 5.1.2-2 for the GS1 ones).
fn lookup(code: u8, modifier: u8) -> (&'static str, Content) {
    use Content::*;
    match (code, modifier) {
        // Code 39: modifiers 0-7 tell check digit and full-ASCII handling.
        (b'A', b'0'..=b'7') => ("code39", Plain),
        (b'B', _) => ("telepen", Plain),
        // Code 128: 0 plain, 1 FNC1 in first position (GS1-128), 2 FNC1 in second position,
        // 4 concatenation (ISBT 128).
        (b'C', b'1') => ("gs1-128", Gs1),
        (b'C', b'0' | b'2' | b'4') => ("code128", Plain),
        (b'D', _) => ("code-one", Plain),
        // EAN/UPC: 0 EAN-13, UPC-A or UPC-E; 1 two-digit add-on; 2 five-digit add-on;
        // 3 main symbol and add-on in one packet; 4 EAN-8.
        (b'E', b'0') => ("ean13", EanUpc),
        (b'E', b'1' | b'2') => ("ean-addon", EanAddOn),
        (b'E', b'3') => ("ean13-addon", EanUpc),
        (b'E', b'4') => ("ean8", EanUpc),
        // GS1 DataBar (all variants) and GS1 Composite.
        (b'e', b'0') => ("gs1-databar", Gs1),
        (b'e', _) => ("gs1-databar", Plain),
        (b'F', _) => ("codabar", Plain),
        (b'G', _) => ("code93", Plain),
        (b'H', _) => ("code11", Plain),
        // Interleaved 2 of 5: 1 = check digit validated and transmitted (ITF-14 in GS1 use).
        (b'I', b'1') => ("itf14", Itf14),
        (b'I', _) => ("itf", Plain),
        // DotCode: 1 = FNC1 in first position (GS1 DotCode).
        (b'J', b'1') => ("gs1-dotcode", Gs1),
        (b'J', _) => ("dotcode", Plain),
        (b'K', _) => ("code16k", Plain),
        (b'L', _) => ("pdf417", Plain),
        (b'M', _) => ("msi", Plain),
        (b'N', _) => ("anker", Plain),
        (b'O', _) => ("codablock", Plain),
        (b'P', _) => ("plessey", Plain),
        // QR Code: 3 = FNC1 in first position, 4 = the same with ECI (GS1 QR Code).
        (b'Q', b'3' | b'4') => ("gs1-qr", Gs1),
        (b'Q', _) => ("qr", Plain),
        (b'R', _) => ("straight-2of5-2bar", Plain),
        (b'S', _) => ("straight-2of5-3bar", Plain),
        (b'T', _) => ("code49", Plain),
        (b'U', _) => ("maxicode", Plain),
        (b'X', _) => ("other", Plain),
        (b'Z', _) => ("non-barcode", Plain),
        // Data Matrix: 2 = FNC1 in first position (GS1 DataMatrix), 5 = the same with ECI.
        (b'd', b'2' | b'5') => ("gs1-datamatrix", Gs1),
        (b'd', _) => ("datamatrix", Plain),
        (b'g', _) => ("grid-matrix", Plain),
        (b'h', _) => ("han-xin", Plain),
        (b'z', _) => ("aztec", Plain),
        _ => ("unknown", Plain),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &[u8]) -> (Option<(String, &'static str, Content)>, &[u8]) {
        let (s, rest) = split(raw);
        (s.map(|s| (s.id, s.name, s.content)), rest)
    }

    #[test]
    fn gs1_ids_imply_element_strings() {
        for id in ["]C1", "]e0", "]d2", "]d5", "]Q3", "]Q4", "]J1"] {
            let raw = format!("{id}0109506000134352");
            let (s, rest) = split(raw.as_bytes());
            let s = s.unwrap();
            assert!(s.is_gs1(), "{id}");
            assert_eq!(s.id, id);
            assert_eq!(rest, b"0109506000134352");
        }
    }

    #[test]
    fn names_and_content() {
        assert_eq!(
            parse(b"]E09501234567897").0,
            Some(("]E0".into(), "ean13", Content::EanUpc))
        );
        assert_eq!(
            parse(b"]E495012346").0,
            Some(("]E4".into(), "ean8", Content::EanUpc))
        );
        assert_eq!(
            parse(b"]E212345").0,
            Some(("]E2".into(), "ean-addon", Content::EanAddOn))
        );
        assert_eq!(
            parse(b"]I115012345678907").0,
            Some(("]I1".into(), "itf14", Content::Itf14))
        );
        assert_eq!(
            parse(b"]C0ABC").0,
            Some(("]C0".into(), "code128", Content::Plain))
        );
        assert_eq!(
            parse(b"]d1ABC").0,
            Some(("]d1".into(), "datamatrix", Content::Plain))
        );
        assert_eq!(
            parse(b"]Q1https://example.com").0,
            Some(("]Q1".into(), "qr", Content::Plain))
        );
        assert_eq!(
            parse(b"]A0CODE39").0,
            Some(("]A0".into(), "code39", Content::Plain))
        );
    }

    #[test]
    fn unknown_ids_are_kept_verbatim() {
        let (s, rest) = split(b"]Y7data");
        let s = s.unwrap();
        assert_eq!(s.id, "]Y7");
        assert_eq!(s.name, "unknown");
        assert_eq!(s.content, Content::Plain);
        assert_eq!(rest, b"data");
    }

    #[test]
    fn no_prefix() {
        assert_eq!(parse(b"09506000134352"), (None, &b"09506000134352"[..]));
        assert_eq!(parse(b"]"), (None, &b"]"[..]));
        assert_eq!(parse(b"]C"), (None, &b"]C"[..]));
        assert_eq!(parse(b"]1C"), (None, &b"]1C"[..]));
        assert_eq!(parse(b"]C\x1D"), (None, &b"]C\x1D"[..]));
        assert_eq!(parse(b""), (None, &b""[..]));
        // Exactly the prefix and no data.
        assert_eq!(
            parse(b"]C1"),
            (Some(("]C1".into(), "gs1-128", Content::Gs1)), &b""[..])
        );
    }
}
