//! Decimal numbers as POS systems print and write them: money in minor units (cents) and
//! quantities.
//!
//! Rules (each has a test):
//! - Surrounding whitespace is ignored. A sign is a leading `-` or `+`, or a trailing `-` (many
//!   receipt printers put the minus after the number: `3,98-`); whitespace may separate the sign
//!   from the digits. Two signs are an error.
//! - The number starts and ends with a digit. Between digits it may hold one decimal separator
//!   and grouping (thousands) separators: `.`, `,`, `'`, space, no-break space or narrow
//!   no-break space. Every grouping separator must be followed by exactly three digits.
//! - Which of `.` and `,` is the decimal separator is set by [`DecimalSeparator`]. With
//!   [`DecimalSeparator::Auto`], when both appear the last one is the decimal separator
//!   (`1.234,56`, `1,234.56`); when only one of them appears once, it is the decimal separator
//!   unless exactly three digits follow it and amounts have another number of decimals
//!   (`1.234` is one thousand two hundred and thirty-four when amounts have two decimals; it is
//!   one point two three four as a quantity); when it appears more than once it is grouping.
//! - An amount with fewer decimals than the currency has is padded (`12` → 1200, `1.5` → 150);
//!   more decimals are accepted only when the extra ones are zeros (`3.980` → 398), otherwise
//!   the amount is refused ([`parse_minor`]) or rounded half away from zero
//!   ([`parse_minor_rounded`]).
//! - Nothing overflows silently: amounts beyond `i64` minor units are an error.

use serde::Deserialize;

/// Which character separates the decimals in amounts and quantities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecimalSeparator {
    /// Guess from the number itself (see the module documentation): `auto`.
    #[default]
    Auto,
    /// `.` is the decimal separator, `,` groups thousands: `point`.
    Point,
    /// `,` is the decimal separator, `.` groups thousands: `comma`.
    Comma,
}

/// Why a printed number could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("empty number")]
    Empty,
    #[error("`{0}` is not a number")]
    NotANumber(String),
    #[error("`{text}` has more than {digits} decimals")]
    TooPrecise { text: String, digits: u8 },
    #[error("`{0}` is out of range")]
    Overflow(String),
}

/// A parsed decimal: sign, all digits (integer and fraction) and how many of them are decimals.
struct Decimal {
    negative: bool,
    digits: Vec<u8>,
    scale: usize,
}

fn is_space(c: char) -> bool {
    c.is_whitespace() || c == '\u{a0}' || c == '\u{202f}'
}

fn is_grouping_only(c: char) -> bool {
    c == '\'' || is_space(c)
}

/// Parses `text` into sign, digits and scale. `three_digits_group` tells [`DecimalSeparator::Auto`]
/// that a lone separator followed by exactly three digits groups thousands.
fn parse_decimal(
    text: &str,
    separator: DecimalSeparator,
    three_digits_group: bool,
) -> Result<Decimal, AmountError> {
    let not_a_number = || AmountError::NotANumber(text.to_string());
    let mut body = text.trim_matches(is_space);
    if body.is_empty() {
        return Err(AmountError::Empty);
    }
    let mut negative = false;
    let mut signs = 0;
    if let Some(rest) = body.strip_prefix('-') {
        negative = true;
        signs += 1;
        body = rest.trim_start_matches(is_space);
    } else if let Some(rest) = body.strip_prefix('+') {
        signs += 1;
        body = rest.trim_start_matches(is_space);
    }
    if let Some(rest) = body.strip_suffix('-') {
        negative = true;
        signs += 1;
        body = rest.trim_end_matches(is_space);
    }
    if signs > 1 {
        return Err(not_a_number());
    }
    let chars: Vec<char> = body.chars().collect();
    let (Some(first), Some(last)) = (chars.first(), chars.last()) else {
        return Err(not_a_number());
    };
    if !first.is_ascii_digit() || !last.is_ascii_digit() {
        return Err(not_a_number());
    }
    if chars
        .iter()
        .any(|&c| !(c.is_ascii_digit() || c == '.' || c == ',' || is_grouping_only(c)))
    {
        return Err(not_a_number());
    }
    let points = chars.iter().filter(|&&c| c == '.').count();
    let commas = chars.iter().filter(|&&c| c == ',').count();
    let decimal: Option<char> = match separator {
        DecimalSeparator::Point => (points > 0).then_some('.'),
        DecimalSeparator::Comma => (commas > 0).then_some(','),
        DecimalSeparator::Auto => match (points, commas) {
            (0, 0) => None,
            (p, c) if p > 0 && c > 0 => chars.iter().rev().copied().find(|&c| c == '.' || c == ','),
            (p, c) => {
                let (sep, count) = if p > 0 { ('.', p) } else { (',', c) };
                if count > 1 {
                    None
                } else {
                    let after = chars
                        .iter()
                        .rev()
                        .take_while(|c| c.is_ascii_digit())
                        .count();
                    let at = chars.len() - after - 1;
                    if chars[at] == sep && !(three_digits_group && after == 3) {
                        Some(sep)
                    } else {
                        None
                    }
                }
            }
        },
    };
    if let Some(d) = decimal {
        if chars.iter().filter(|&&c| c == d).count() > 1 {
            return Err(not_a_number());
        }
    }
    let mut digits = Vec::with_capacity(chars.len());
    let mut scale = 0;
    let mut in_fraction = false;
    // Length of the digit run since the last grouping separator (None before the first one).
    let mut group: Option<usize> = None;
    let mut previous_was_digit = false;
    for &c in &chars {
        if c.is_ascii_digit() {
            digits.push(c as u8 - b'0');
            if in_fraction {
                scale += 1;
            }
            if let Some(n) = group.as_mut() {
                *n += 1;
            }
            previous_was_digit = true;
            continue;
        }
        // A separator: it must sit between digits.
        if !previous_was_digit {
            return Err(not_a_number());
        }
        previous_was_digit = false;
        if group.is_some_and(|n| n != 3) {
            return Err(not_a_number());
        }
        if Some(c) == decimal {
            in_fraction = true;
            group = None;
        } else if in_fraction {
            // Grouping inside the decimals is not a printed amount.
            return Err(not_a_number());
        } else {
            group = Some(0);
        }
    }
    if group.is_some_and(|n| n != 3) {
        return Err(not_a_number());
    }
    Ok(Decimal {
        negative,
        digits,
        scale,
    })
}

fn to_minor(text: &str, d: &Decimal, minor_digits: u8, round: bool) -> Result<i64, AmountError> {
    let minor = usize::from(minor_digits);
    let overflow = || AmountError::Overflow(text.to_string());
    let mut kept = d.digits.len();
    let mut round_up = false;
    if d.scale > minor {
        let extra = &d.digits[d.digits.len() - (d.scale - minor)..];
        if extra.iter().any(|&x| x != 0) {
            if !round {
                return Err(AmountError::TooPrecise {
                    text: text.to_string(),
                    digits: minor_digits,
                });
            }
            round_up = extra[0] >= 5;
        }
        kept -= d.scale - minor;
    }
    let mut value: i64 = 0;
    for &x in &d.digits[..kept] {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(x)))
            .ok_or_else(overflow)?;
    }
    for _ in d.scale..minor {
        value = value.checked_mul(10).ok_or_else(overflow)?;
    }
    if round_up {
        value = value.checked_add(1).ok_or_else(overflow)?;
    }
    Ok(if d.negative { -value } else { value })
}

/// Parses a printed amount into minor units with `minor_digits` decimals (2 for EUR and USD,
/// 0 for JPY). More decimals than that, unless zeros, are an error.
pub fn parse_minor(
    text: &str,
    separator: DecimalSeparator,
    minor_digits: u8,
) -> Result<i64, AmountError> {
    let d = parse_decimal(text, separator, minor_digits != 3)?;
    to_minor(text, &d, minor_digits, false)
}

/// As [`parse_minor`], but rounds extra decimals half away from zero (for unit prices, which
/// POS systems may keep to a tenth of a cent).
pub fn parse_minor_rounded(
    text: &str,
    separator: DecimalSeparator,
    minor_digits: u8,
) -> Result<i64, AmountError> {
    let d = parse_decimal(text, separator, minor_digits != 3)?;
    to_minor(text, &d, minor_digits, true)
}

/// Parses a quantity (`2`, `0,750`, `1.5`): a lone separator is always decimal with
/// [`DecimalSeparator::Auto`].
pub fn parse_quantity(text: &str, separator: DecimalSeparator) -> Result<f64, AmountError> {
    let d = parse_decimal(text, separator, false)?;
    if d.digits.len() > 30 {
        return Err(AmountError::Overflow(text.to_string()));
    }
    let mut s = String::with_capacity(d.digits.len() + 2);
    if d.negative {
        s.push('-');
    }
    let int_len = d.digits.len() - d.scale;
    for (i, x) in d.digits.iter().enumerate() {
        if i == int_len {
            s.push('.');
        }
        s.push(char::from(b'0' + x));
    }
    s.parse::<f64>()
        .map_err(|_| AmountError::NotANumber(text.to_string()))
}

/// Writes minor units as a decimal for messages: `-398` with 2 digits is `-3.98`.
pub fn format_minor(value: i64, minor_digits: u8) -> String {
    let digits = u32::from(minor_digits.min(18));
    if digits == 0 {
        return value.to_string();
    }
    let scale = 10u64.pow(digits);
    let sign = if value < 0 { "-" } else { "" };
    let abs = value.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        abs / scale,
        abs % scale,
        width = digits as usize
    )
}

/// The number of decimals of an ISO 4217 currency: 2 unless listed here (ISO 4217 minor units
/// of the currencies in circulation that do not use two).
pub fn currency_minor_digits(code: &str) -> u8 {
    match code {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        "CLF" | "UYW" => 4,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DecimalSeparator::{Auto, Comma, Point};

    #[test]
    fn reads_common_receipt_amounts() {
        let cases: &[(&str, DecimalSeparator, i64)] = &[
            ("3.98", Auto, 398),
            ("3,98", Auto, 398),
            ("0.05", Point, 5),
            ("12", Auto, 1200),
            ("1.5", Auto, 150),
            ("3.980", Point, 398),
            ("1.234,56", Auto, 123_456),
            ("1,234.56", Auto, 123_456),
            ("1 234,56", Auto, 123_456),
            ("1\u{a0}234,56", Comma, 123_456),
            ("1'234.56", Auto, 123_456),
            ("1.234.567", Auto, 123_456_700),
            ("1.234", Auto, 123_400),
            ("1.234", Comma, 123_400),
            ("  7,36 ", Comma, 736),
            ("-3.98", Auto, -398),
            ("3.98-", Auto, -398),
            ("3,98 -", Comma, -398),
            ("- 3,98", Comma, -398),
            ("+3.98", Auto, 398),
        ];
        for (text, sep, want) in cases {
            assert_eq!(parse_minor(text, *sep, 2), Ok(*want), "{text:?} {sep:?}");
        }
        assert_eq!(parse_minor("1500", Auto, 0), Ok(1500));
        assert_eq!(parse_minor("1.500", Auto, 3), Ok(1500));
        assert_eq!(parse_minor("12.345", Point, 3), Ok(12_345));
    }

    #[test]
    fn refuses_what_is_not_an_amount() {
        for text in [
            "",
            " ",
            "-",
            "abc",
            "3.98€",
            "€3.98",
            "--3",
            "-3-",
            "3..98",
            "3.9.8,1",
            ".50",
            "3.",
            "1,23,456.00",
            "12 34",
            "1.234.5",
            "3,98,00",
            "3.98.00,1",
        ] {
            assert!(parse_minor(text, Auto, 2).is_err(), "{text:?}");
        }
        assert_eq!(
            parse_minor("1.995", Point, 2),
            Err(AmountError::TooPrecise {
                text: "1.995".into(),
                digits: 2
            })
        );
        assert!(matches!(
            parse_minor("99999999999999999999", Auto, 2),
            Err(AmountError::Overflow(_))
        ));
        assert!(matches!(
            parse_minor("92233720368547758.08", Point, 2),
            Err(AmountError::Overflow(_))
        ));
        assert_eq!(parse_minor("92233720368547758.07", Point, 2), Ok(i64::MAX));
    }

    #[test]
    fn rounds_unit_prices_half_away_from_zero() {
        assert_eq!(parse_minor_rounded("1.995", Point, 2), Ok(200));
        assert_eq!(parse_minor_rounded("1.994", Point, 2), Ok(199));
        assert_eq!(parse_minor_rounded("-1.995", Point, 2), Ok(-200));
        assert_eq!(parse_minor_rounded("0.0049", Point, 2), Ok(0));
    }

    #[test]
    fn reads_quantities() {
        assert_eq!(parse_quantity("2", Auto), Ok(2.0));
        assert_eq!(parse_quantity("0,750", Auto), Ok(0.75));
        assert_eq!(parse_quantity("1.234", Auto), Ok(1.234));
        assert_eq!(parse_quantity("1-", Auto), Ok(-1.0));
        assert!(parse_quantity("1,5", Point).is_err());
        assert!(parse_quantity("x", Auto).is_err());
    }

    #[test]
    fn formats_minor_units() {
        assert_eq!(format_minor(398, 2), "3.98");
        assert_eq!(format_minor(-5, 2), "-0.05");
        assert_eq!(format_minor(1500, 0), "1500");
        assert_eq!(format_minor(i64::MIN, 2), "-92233720368547758.08");
    }

    #[test]
    fn never_panics_on_random_numbers() {
        const ALPHABET: [char; 16] = [
            '0', '1', '5', '9', '.', ',', '\'', ' ', '-', '+', '\u{a0}', 'x', '0', '3', '.', ',',
        ];
        let mut rng = crate::pos::fuzz::XorShift(0x5DEE_CE66_D1CE_4E5B);
        for _ in 0..20_000 {
            let len = rng.below(24);
            let text: String = (0..len)
                .map(|_| ALPHABET[rng.below(ALPHABET.len())])
                .collect();
            for sep in [Auto, Point, Comma] {
                for digits in [0, 2, 3] {
                    if let Ok(v) = parse_minor(&text, sep, digits) {
                        // What was read can be written back and read again to the same value.
                        let again = parse_minor(&format_minor(v, digits), Point, digits);
                        assert_eq!(again, Ok(v), "{text:?} {sep:?} {digits}");
                    }
                    let _ = parse_minor_rounded(&text, sep, digits);
                }
                let _ = parse_quantity(&text, sep);
            }
        }
    }

    #[test]
    fn knows_currencies_without_two_decimals() {
        assert_eq!(currency_minor_digits("EUR"), 2);
        assert_eq!(currency_minor_digits("JPY"), 0);
        assert_eq!(currency_minor_digits("KWD"), 3);
    }
}
