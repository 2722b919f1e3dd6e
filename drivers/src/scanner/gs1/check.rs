//! The GS1 mod-10 check digit (GS1 General Specifications section 7.9.1): used by GTIN-8,
//! GTIN-12, GTIN-13, GTIN-14, SSCC, GLN, GDTI, GCN, GSIN, GSRN, GRAI and ITIP.
//!
//! Weights alternate 3, 1, 3, … starting from the rightmost data digit (the digit just left of
//! the check digit); check = (10 − sum mod 10) mod 10.

/// The check digit for `data` (ASCII digits without the check digit). `None` when `data` is
/// empty or holds anything but digits.
pub fn mod10(data: &[u8]) -> Option<u8> {
    if data.is_empty() || !data.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = data
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d - b'0');
            if i % 2 == 0 {
                3 * d
            } else {
                d
            }
        })
        .sum();
    Some(((10 - sum % 10) % 10) as u8)
}

/// Whether the last digit of `digits` is the correct check digit for the rest.
pub fn is_valid(digits: &[u8]) -> bool {
    match digits.split_last() {
        Some((last, data)) if last.is_ascii_digit() => mod10(data) == Some(last - b'0'),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Worked examples: GS1 General Specifications section 7.9.1 (digits 629104150021 give
    // check digit 3) and keys used as examples in the specification.
    #[test]
    fn known_check_digits() {
        assert_eq!(mod10(b"629104150021"), Some(3));
        assert_eq!(mod10(b"0950600013435"), Some(2)); // GTIN 09506000134352
        assert_eq!(mod10(b"9501234"), Some(6)); // EAN-8 95012346
        assert_eq!(mod10(b"03600029145"), Some(2)); // UPC-A 036000291452
        assert_eq!(mod10(b"10614141123456789"), Some(7)); // SSCC 106141411234567897
        assert_eq!(mod10(b"04210000526"), Some(4)); // UPC-A of UPC-E 04252614
        assert_eq!(mod10(b""), None);
        assert_eq!(mod10(b"12a4"), None);
    }

    #[test]
    fn validity() {
        assert!(is_valid(b"09506000134352"));
        assert!(!is_valid(b"09506000134353"));
        assert!(is_valid(b"106141411234567897"));
        assert!(!is_valid(b"106141411234567890"));
        assert!(!is_valid(b""));
        assert!(!is_valid(b"5"));
        assert!(!is_valid(b"0950600013435X"));
        assert!(!is_valid(b"A"));
    }
}
