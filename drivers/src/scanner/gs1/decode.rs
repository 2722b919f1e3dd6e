//! Parser of GS1 element strings: `AI data [GS] AI data …` → a list of [`Element`]s.
//!
//! Rules (GS1 General Specifications section 7.8, processing of data from a GS1 symbol):
//! - The leading FNC1 is implied by the AIM id; a scanner that sends it anyway sends a GS at
//!   the start, which is skipped.
//! - An AI whose first two digits are in the table of predefined-length element strings takes
//!   exactly its fixed length and needs no separator (a GS after it is tolerated).
//! - Every other AI runs to the next GS or to the end of the data. Its field is then checked
//!   against the AI's format, so a missing separator shows up as a field that is too long or
//!   has the wrong length or characters.
//! - A single trailing GS is tolerated; two GS in a row are an error.
//!
//! Parsing stops at the first error; the elements decoded before it are kept. Positions in
//! errors are 0-based byte offsets into the data after the AIM id.

use super::ai_table::{self, AiDef, Check, Kind};
use super::check;
use super::date::{self, Date, DateError};

/// GS (ASCII 0x1D): how scanners transmit FNC1 used as a separator.
pub const GS: u8 = 0x1D;

/// One element string: an AI and its data field.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Element {
    pub ai: String,
    pub value: String,
}

/// Why GS1 data is not valid, with the AI and the position it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Gs1Error {
    #[error("no element strings after the FNC1")]
    Empty,
    #[error("unknown application identifier at position {pos} (data there: {found:?})")]
    UnknownAi { pos: usize, found: String },
    #[error("position {pos}: unexpected GS separator (empty element string)")]
    UnexpectedSeparator { pos: usize },
    #[error("AI ({ai}) at position {pos}: {found} character(s) is too short for format {format}")]
    TooShort {
        ai: String,
        pos: usize,
        found: usize,
        format: String,
    },
    #[error(
        "AI ({ai}) at position {pos}: {found} characters is too long for format {format} \
         (missing GS separator?)"
    )]
    TooLong {
        ai: String,
        pos: usize,
        found: usize,
        format: String,
    },
    #[error("AI ({ai}) at position {pos}: character {found} not allowed ({cset} field)")]
    BadCharacter {
        ai: String,
        pos: usize,
        found: String,
        cset: &'static str,
    },
    #[error("AI ({ai}) at position {pos}: bad check digit {found}, expected {expected}")]
    CheckDigit {
        ai: String,
        pos: usize,
        found: char,
        expected: u8,
    },
    #[error("AI ({ai}) at position {pos}: invalid date {value}: {source}")]
    Date {
        ai: String,
        pos: usize,
        value: String,
        source: DateError,
    },
    #[error("AI ({ai}) at position {pos}: invalid value {value}: {what}")]
    Invalid {
        ai: String,
        pos: usize,
        value: String,
        what: &'static str,
    },
}

impl Gs1Error {
    /// The AI the error concerns, when it got that far.
    pub fn ai(&self) -> Option<&str> {
        match self {
            Gs1Error::Empty | Gs1Error::UnknownAi { .. } | Gs1Error::UnexpectedSeparator { .. } => {
                None
            }
            Gs1Error::TooShort { ai, .. }
            | Gs1Error::TooLong { ai, .. }
            | Gs1Error::BadCharacter { ai, .. }
            | Gs1Error::CheckDigit { ai, .. }
            | Gs1Error::Date { ai, .. }
            | Gs1Error::Invalid { ai, .. } => Some(ai),
        }
    }

    /// Byte offset into the data (after the AIM id) where the problem is.
    pub fn position(&self) -> Option<usize> {
        match self {
            Gs1Error::Empty => None,
            Gs1Error::UnknownAi { pos, .. }
            | Gs1Error::UnexpectedSeparator { pos }
            | Gs1Error::TooShort { pos, .. }
            | Gs1Error::TooLong { pos, .. }
            | Gs1Error::BadCharacter { pos, .. }
            | Gs1Error::CheckDigit { pos, .. }
            | Gs1Error::Date { pos, .. }
            | Gs1Error::Invalid { pos, .. } => Some(*pos),
        }
    }
}

/// The outcome of parsing: everything decoded up to the first error, and that error.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parsed {
    pub elements: Vec<Element>,
    pub error: Option<Gs1Error>,
}

/// Parses GS1 element strings (`data` without the AIM id). `today` anchors the century of
/// two-digit years when dates are checked.
pub fn parse(data: &[u8], today: Date) -> Parsed {
    let mut parsed = Parsed::default();
    if let Err(e) = parse_into(data, today, &mut parsed.elements) {
        parsed.error = Some(e);
    }
    parsed
}

fn parse_into(data: &[u8], today: Date, out: &mut Vec<Element>) -> Result<(), Gs1Error> {
    let mut pos = usize::from(data.first() == Some(&GS));
    if pos >= data.len() {
        return Err(Gs1Error::Empty);
    }
    while pos < data.len() {
        if data[pos] == GS {
            return Err(Gs1Error::UnexpectedSeparator { pos });
        }
        let rest = &data[pos..];
        let Some(def) = ai_table::lookup_prefix(rest) else {
            return Err(Gs1Error::UnknownAi {
                pos,
                found: printable(&rest[..rest.len().min(4)]),
            });
        };
        let ai_len = def.ai_len();
        let ai = String::from_utf8_lossy(&rest[..ai_len]).into_owned();
        let start = pos + ai_len;
        let end = match def.fixed_len().filter(|_| def.predefined) {
            Some(len) => {
                // A predefined-length field may not be cut short by the end or by a GS.
                let avail = data[start..]
                    .iter()
                    .take(len)
                    .take_while(|b| **b != GS)
                    .count();
                if avail < len {
                    return Err(Gs1Error::TooShort {
                        ai,
                        pos: start,
                        found: avail,
                        format: def.format(),
                    });
                }
                start + len
            }
            None => data[start..]
                .iter()
                .position(|b| *b == GS)
                .map_or(data.len(), |i| start + i),
        };
        let field = &data[start..end];
        check_field(def, &ai, field, start, today)?;
        out.push(Element {
            ai,
            value: String::from_utf8_lossy(field).into_owned(),
        });
        pos = end;
        if data.get(pos) == Some(&GS) {
            // Separator after a variable-length field, or a tolerated one after a fixed field.
            pos += 1;
        }
    }
    Ok(())
}

/// Checks one data field against the AI's format: lengths, character sets and the content
/// checks of each part.
fn check_field(
    def: &AiDef,
    ai: &str,
    field: &[u8],
    start: usize,
    today: Date,
) -> Result<(), Gs1Error> {
    let mut at = 0;
    for part in def.parts {
        let left = field.len() - at;
        if left == 0 && part.optional {
            break;
        }
        let take = if part.is_fixed() {
            usize::from(part.max)
        } else {
            left.min(usize::from(part.max))
        };
        if left < take.max(usize::from(part.min)) {
            return Err(Gs1Error::TooShort {
                ai: ai.to_string(),
                pos: start,
                found: field.len(),
                format: def.format(),
            });
        }
        let value = &field[at..at + take];
        if let Some(i) = value.iter().position(|b| !part.cset.allows(*b)) {
            return Err(Gs1Error::BadCharacter {
                ai: ai.to_string(),
                pos: start + at + i,
                found: printable(&value[i..=i]),
                cset: part.cset.describe(),
            });
        }
        check_part(part.check, ai, value, start + at, today)?;
        at += take;
    }
    if at < field.len() {
        return Err(Gs1Error::TooLong {
            ai: ai.to_string(),
            pos: start,
            found: field.len(),
            format: def.format(),
        });
    }
    Ok(())
}

/// Applies one content check to a part whose characters are already known to be allowed.
fn check_part(
    kind: Check,
    ai: &str,
    value: &[u8],
    pos: usize,
    today: Date,
) -> Result<(), Gs1Error> {
    let invalid = |what: &'static str| Gs1Error::Invalid {
        ai: ai.to_string(),
        pos,
        value: printable(value),
        what,
    };
    let number = || {
        value
            .iter()
            .fold(0u32, |n, d| n * 10 + u32::from(d.wrapping_sub(b'0')))
    };
    let date_error = |source| Gs1Error::Date {
        ai: ai.to_string(),
        pos,
        value: printable(value),
        source,
    };
    match kind {
        Check::None => {}
        Check::CheckDigit => {
            let (last, body) = value.split_last().ok_or_else(|| invalid("empty"))?;
            let expected = check::mod10(body).ok_or_else(|| invalid("not digits"))?;
            if *last != b'0' + expected {
                return Err(Gs1Error::CheckDigit {
                    ai: ai.to_string(),
                    pos: pos + body.len(),
                    found: char::from(*last),
                    expected,
                });
            }
        }
        Check::DateDay0 => {
            date::parse_yymmdd(value, today, true).map_err(date_error)?;
        }
        Check::Date => {
            date::parse_yymmdd(value, today, false).map_err(date_error)?;
        }
        Check::LongDate => {
            date::parse_yyyymmdd(value).map_err(date_error)?;
        }
        Check::Hour if number() > 23 => return Err(invalid("hour out of range")),
        Check::Minute if number() > 59 => return Err(invalid("minute out of range")),
        Check::Second if number() > 59 => return Err(invalid("second out of range")),
        Check::HourMinute if value.len() == 4 => {
            let (h, m) = (number() / 100, number() % 100);
            if h > 23 || m > 59 {
                return Err(invalid("time out of range"));
            }
        }
        Check::YesNo if !matches!(value, b"0" | b"1") => return Err(invalid("must be 0 or 1")),
        Check::Hyphen if value != b"-" => return Err(invalid("must be '-'")),
        Check::Zero if value != b"0" => return Err(invalid("must be 0")),
        Check::NonZero if number() == 0 => return Err(invalid("must not be zero")),
        Check::Winding if !matches!(value, b"0" | b"1" | b"9") => {
            return Err(invalid("winding direction must be 0, 1 or 9"))
        }
        Check::PieceOfTotal if value.len() == 4 => {
            let (piece, total) = (number() / 100, number() % 100);
            if piece == 0 || total == 0 || piece > total {
                return Err(invalid("piece number must be 1 to the total"));
            }
        }
        Check::Base64Padding => {
            let padding = value.iter().rev().take_while(|b| **b == b'=').count();
            let inner = &value[..value.len() - padding];
            if padding > 2 || inner.contains(&b'=') {
                return Err(invalid("'=' only as padding at the end"));
            }
        }
        Check::Hour
        | Check::Minute
        | Check::Second
        | Check::HourMinute
        | Check::YesNo
        | Check::Hyphen
        | Check::Zero
        | Check::NonZero
        | Check::Winding
        | Check::PieceOfTotal => {}
    }
    Ok(())
}

/// The number value of a decimal AI's element (`"001250"` of AI 3103 → `"1.250"`), with the
/// ISO 4217 currency code for 391n/393n. `None` for AIs that are not decimal.
pub fn decimal_value(element: &Element) -> Option<(String, Option<String>)> {
    let def = ai_table::lookup(element.ai.as_bytes())?;
    let decimals = element.ai.as_bytes().last()?.wrapping_sub(b'0');
    match def.kind {
        Kind::Plain => None,
        Kind::Decimal => Some((with_decimals(&element.value, decimals), None)),
        Kind::DecimalWithCurrency => {
            let (currency, amount) = element.value.split_at_checked(3)?;
            Some((with_decimals(amount, decimals), Some(currency.to_string())))
        }
    }
}

/// Places a decimal point `decimals` digits from the right of `digits` and drops leading zeros
/// of the integer part: `("001250", 3)` → `"1.250"`, `("5", 2)` → `"0.05"`, `("0100", 0)` →
/// `"100"`.
pub fn with_decimals(digits: &str, decimals: u8) -> String {
    let decimals = usize::from(decimals);
    let padded = format!("{digits:0>width$}", width = decimals + 1);
    let (int, frac) = padded.split_at(padded.len() - decimals);
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    }
}

/// Bytes for an error message: ASCII as is, anything else as `\xNN`.
fn printable(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| match b {
            0x20..=0x7E => char::from(*b).to_string(),
            _ => format!("\\x{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> Date {
        Date::new(2024, 5, 1).unwrap()
    }

    fn ok(data: &[u8]) -> Vec<(String, String)> {
        let p = parse(data, today());
        assert_eq!(p.error, None, "{}", String::from_utf8_lossy(data));
        p.elements.into_iter().map(|e| (e.ai, e.value)).collect()
    }

    fn err(data: &[u8]) -> (Vec<(String, String)>, Gs1Error) {
        let p = parse(data, today());
        let e = p.error.expect("an error");
        (p.elements.into_iter().map(|e| (e.ai, e.value)).collect(), e)
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, v)| (a.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn predefined_lengths_need_no_separator() {
        assert_eq!(
            ok(b"010950600013435217220630"),
            pairs(&[("01", "09506000134352"), ("17", "220630")])
        );
        // A GS after a predefined-length field is tolerated.
        assert_eq!(
            ok(b"0109506000134352\x1D17220630"),
            pairs(&[("01", "09506000134352"), ("17", "220630")])
        );
    }

    #[test]
    fn variable_lengths_end_at_gs_or_end() {
        assert_eq!(
            ok(b"10ABC123\x1D21XYZ"),
            pairs(&[("10", "ABC123"), ("21", "XYZ")])
        );
        // Trailing GS tolerated.
        assert_eq!(ok(b"10ABC\x1D"), pairs(&[("10", "ABC")]));
        // Leading GS (FNC1 transmitted by the scanner) skipped.
        assert_eq!(ok(b"\x1D10ABC"), pairs(&[("10", "ABC")]));
    }

    #[test]
    fn fixed_but_not_predefined_needs_a_separator() {
        assert_eq!(
            ok(b"422528\x1D0109506000134352"),
            pairs(&[("422", "528"), ("01", "09506000134352")])
        );
        let (before, e) = err(b"4225280109506000134352");
        assert!(before.is_empty());
        assert!(
            matches!(e, Gs1Error::TooLong { ref ai, pos: 3, .. } if ai == "422"),
            "{e}"
        );
    }

    #[test]
    fn multi_part_formats() {
        assert_eq!(
            ok(b"2539506000134352ABC"),
            pairs(&[("253", "9506000134352ABC")])
        );
        assert_eq!(ok(b"2539506000134352"), pairs(&[("253", "9506000134352")]));
        assert_eq!(ok(b"3912978123456"), pairs(&[("3912", "978123456")]));
        assert_eq!(ok(b"4330001250-"), pairs(&[("4330", "001250-")]));
        assert_eq!(ok(b"80080601011230"), pairs(&[("8008", "0601011230")]));
        assert_eq!(ok(b"800806010112"), pairs(&[("8008", "06010112")]));
        assert!(matches!(err(b"8008060101123").1, Gs1Error::TooShort { .. }));
        assert_eq!(ok(b"423276528"), pairs(&[("423", "276528")]));
        assert!(matches!(err(b"42327652").1, Gs1Error::TooShort { .. }));
        assert_eq!(
            ok(b"8006095060001343520102"),
            pairs(&[("8006", "095060001343520102")])
        );
        assert!(matches!(
            err(b"8006095060001343520302").1,
            Gs1Error::Invalid { .. }
        ));
    }

    #[test]
    fn errors_say_what_and_where() {
        let (before, e) = err(b"0109506000134352\x1D17221330");
        assert_eq!(before, pairs(&[("01", "09506000134352")]));
        assert_eq!(e.ai(), Some("17"));
        assert_eq!(e.position(), Some(19));
        assert_eq!(
            e.to_string(),
            "AI (17) at position 19: invalid date 221330: month 13 out of range"
        );

        let e = err(b"0109506000134353").1;
        assert_eq!(
            e.to_string(),
            "AI (01) at position 15: bad check digit 3, expected 2"
        );

        let e = err(b"0109506000134352\x1D9").1;
        assert_eq!(e.position(), Some(17));
        assert!(matches!(e, Gs1Error::UnknownAi { .. }));

        let e = err(b"3106001250").1;
        assert_eq!(
            e.to_string(),
            "unknown application identifier at position 0 (data there: \"3106\")"
        );

        let e = err(b"30ABC").1;
        assert_eq!(
            e.to_string(),
            "AI (30) at position 2: character A not allowed (numeric field)"
        );

        let e = err(b"10ABC\x1D\x1D21X").1;
        assert_eq!(e, Gs1Error::UnexpectedSeparator { pos: 6 });

        let e = err(b"0109506000\x1D17220630").1;
        assert!(
            matches!(
                e,
                Gs1Error::TooShort {
                    found: 8,
                    pos: 2,
                    ..
                }
            ),
            "{e}"
        );

        let e = err(b"10\x1D21X").1;
        assert!(matches!(e, Gs1Error::TooShort { found: 0, .. }), "{e}");

        let e = err(b"10ABC DEF").1;
        assert!(matches!(e, Gs1Error::BadCharacter { pos: 5, .. }), "{e}");

        let e = err(b"10\xC3\xA9").1;
        assert_eq!(
            e.to_string(),
            "AI (10) at position 2: character \\xC3 not allowed (GS1 character set 82 field)"
        );

        assert_eq!(err(b"").1, Gs1Error::Empty);
        assert_eq!(err(b"\x1D").1, Gs1Error::Empty);
    }

    #[test]
    fn missing_separator_after_a_variable_field() {
        // Count (30) is N..8: without the GS the expiry runs into it.
        let (before, e) = err(b"0109506000134352301217220630");
        assert_eq!(before, pairs(&[("01", "09506000134352")]));
        assert!(matches!(e, Gs1Error::TooLong { ref ai, pos: 18, found: 10, .. } if ai == "30"));
        assert!(e.to_string().contains("missing GS separator"), "{e}");
    }

    #[test]
    fn content_checks() {
        assert!(matches!(err(b"4321" as &[u8]).1, Gs1Error::TooShort { .. }));
        assert!(matches!(err(b"43212").1, Gs1Error::Invalid { .. }));
        assert_eq!(ok(b"43211"), pairs(&[("4321", "1")]));
        assert!(matches!(err(b"70030601012460").1, Gs1Error::Invalid { .. }));
        assert!(matches!(err(b"7006060230").1, Gs1Error::Date { .. }));
        assert!(matches!(err(b"4331001250+").1, Gs1Error::Invalid { .. }));
        assert!(matches!(
            err(b"800300950600013435").1,
            Gs1Error::CheckDigit { .. }
        ));
        assert_eq!(ok(b"725019991231"), pairs(&[("7250", "19991231")]));
        assert!(matches!(err(b"725019990229").1, Gs1Error::Date { .. }));
        assert!(matches!(err(b"8030AB=C").1, Gs1Error::Invalid { .. }));
        assert_eq!(ok(b"8030ABC-_9=="), pairs(&[("8030", "ABC-_9==")]));
    }

    #[test]
    fn decimals() {
        assert_eq!(with_decimals("001250", 3), "1.250");
        assert_eq!(with_decimals("001250", 0), "1250");
        assert_eq!(with_decimals("000000", 2), "0.00");
        assert_eq!(with_decimals("001250", 5), "0.01250");
        assert_eq!(with_decimals("5", 2), "0.05");
        assert_eq!(with_decimals("123456789012345", 9), "123456.789012345");
        let e = |ai: &str, value: &str| Element {
            ai: ai.into(),
            value: value.into(),
        };
        assert_eq!(
            decimal_value(&e("3103", "001250")),
            Some(("1.250".into(), None))
        );
        assert_eq!(
            decimal_value(&e("3922", "1999")),
            Some(("19.99".into(), None))
        );
        assert_eq!(
            decimal_value(&e("3932", "9781999")),
            Some(("19.99".into(), Some("978".into())))
        );
        assert_eq!(decimal_value(&e("10", "ABC")), None);
    }
}
