//! GTINs: normalisation to 14 digits and the GS1 check digit. Used by the catalogue's parsers and
//! by the stock rules (which see GTINs from drivers and tills).

/// Why a string is not a GTIN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GtinError {
    #[error("{0:?} is not a GTIN: only digits are allowed")]
    NotDigits(String),
    #[error("{0:?} is not a GTIN: it has {1} digits (8, 12, 13 or 14 expected)")]
    Length(String, usize),
    #[error("{0:?} is not a GTIN: the check digit should be {1}")]
    CheckDigit(String, u32),
}

/// Normalises a GTIN-8/12/13/14 to 14 digits and verifies its check digit.
pub fn normalize_gtin(s: &str) -> Result<String, GtinError> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(GtinError::NotDigits(s.to_owned()));
    }
    if ![8, 12, 13, 14].contains(&s.len()) {
        return Err(GtinError::Length(s.to_owned(), s.len()));
    }
    let padded = format!("{s:0>14}");
    let expected = check_digit(&padded[..13]);
    if padded.as_bytes()[13] - b'0' != expected as u8 {
        return Err(GtinError::CheckDigit(s.to_owned(), expected));
    }
    Ok(padded)
}

/// GS1 mod-10 check digit of `data` (the digits before the check digit).
pub fn check_digit(data: &str) -> u32 {
    let sum: u32 = data
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    (10 - sum % 10) % 10
}

/// Pads an 8–14 digit string to 14 digits without checking it (for GTINs that a driver already
/// validated). `None` when it is not 8–14 digits.
pub fn pad_gtin(s: &str) -> Option<String> {
    let s = s.trim();
    ((8..=14).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| format!("{s:0>14}"))
}
