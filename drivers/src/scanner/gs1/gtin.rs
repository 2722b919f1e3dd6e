//! GTINs from EAN/UPC and ITF-14 symbols: check digit, UPC-E expansion and normalisation to
//! 14 digits (GS1 General Specifications: GTIN formats, the check digit of section 7.9, and the
//! zero-suppression rules of the UPC-E symbol).
//!
//! Every GTIN is reported as GTIN-14: right-aligned and padded with zeros on the left, so
//! EAN-13 `9506000134352` is `09506000134352`, UPC-A `036000291452` is `00036000291452` and
//! EAN-8 `95012346` is `00000095012346`.

use super::check;

/// Why digits from an EAN/UPC or ITF-14 symbol are not a GTIN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GtinError {
    #[error("{kind} must be digits")]
    NotDigits { kind: &'static str },
    #[error("{kind} cannot have {len} digits")]
    Length { kind: &'static str, len: usize },
    #[error("{kind} {digits}: bad check digit {found}, expected {expected}")]
    CheckDigit {
        kind: &'static str,
        digits: String,
        found: char,
        expected: u8,
    },
    #[error("UPC-E {0}: number system must be 0 or 1")]
    NumberSystem(String),
}

/// A GTIN read from an EAN/UPC symbol, with its add-on if one was sent in the same packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EanUpc {
    /// As [`symbol_name`].
    pub name: &'static str,
    pub gtin14: String,
    pub addon: Option<String>,
}

/// Pads a GTIN-8, -12, -13 or -14 (check digit included) to 14 digits after checking it.
pub fn to_gtin14(kind: &'static str, digits: &str) -> Result<String, GtinError> {
    let bytes = digits.as_bytes();
    if !bytes.iter().all(u8::is_ascii_digit) || bytes.is_empty() {
        return Err(GtinError::NotDigits { kind });
    }
    if !matches!(bytes.len(), 8 | 12 | 13 | 14) {
        return Err(GtinError::Length {
            kind,
            len: bytes.len(),
        });
    }
    verify(kind, digits)?;
    Ok(format!("{digits:0>14}"))
}

fn verify(kind: &'static str, digits: &str) -> Result<(), GtinError> {
    let bytes = digits.as_bytes();
    let (last, body) = bytes.split_last().ok_or(GtinError::NotDigits { kind })?;
    let expected = check::mod10(body).ok_or(GtinError::NotDigits { kind })?;
    if *last == b'0' + expected {
        Ok(())
    } else {
        Err(GtinError::CheckDigit {
            kind,
            digits: digits.to_string(),
            found: char::from(*last),
            expected,
        })
    }
}

/// Expands an 8-digit UPC-E (number system, six digits, check digit) to its 12-digit UPC-A,
/// checking the number system (0 or 1) and the check digit (which is the UPC-A's).
///
/// The sixth digit says where the zeros were suppressed (`N` number system, `C` check digit):
///
/// ```text
/// UPC-E N d1 d2 d3 d4 d5 d6 C   →  UPC-A
/// d6 = 0, 1, 2                  →  N d1 d2 d6 0 0 0 0 d3 d4 d5 C
/// d6 = 3                        →  N d1 d2 d3 0 0 0 0 0 d4 d5 C
/// d6 = 4                        →  N d1 d2 d3 d4 0 0 0 0 0 d5 C
/// d6 = 5 … 9                    →  N d1 d2 d3 d4 d5 0 0 0 0 d6 C
/// ```
pub fn expand_upce(upce: &str) -> Result<String, GtinError> {
    const KIND: &str = "UPC-E";
    let b = upce.as_bytes();
    if !b.iter().all(u8::is_ascii_digit) {
        return Err(GtinError::NotDigits { kind: KIND });
    }
    let [ns, d1, d2, d3, d4, d5, d6, c] = *b else {
        return Err(GtinError::Length {
            kind: KIND,
            len: b.len(),
        });
    };
    if !matches!(ns, b'0' | b'1') {
        return Err(GtinError::NumberSystem(upce.to_string()));
    }
    let z = b'0';
    let upca: [u8; 12] = match d6 {
        b'0'..=b'2' => [ns, d1, d2, d6, z, z, z, z, d3, d4, d5, c],
        b'3' => [ns, d1, d2, d3, z, z, z, z, z, d4, d5, c],
        b'4' => [ns, d1, d2, d3, d4, z, z, z, z, z, d5, c],
        _ => [ns, d1, d2, d3, d4, d5, z, z, z, z, d6, c],
    };
    let upca = String::from_utf8_lossy(&upca).into_owned();
    verify(KIND, &upca).map_err(|e| match e {
        GtinError::CheckDigit {
            found, expected, ..
        } => GtinError::CheckDigit {
            kind: KIND,
            digits: upce.to_string(),
            found,
            expected,
        },
        other => other,
    })?;
    Ok(upca)
}

/// The symbology name for EAN/UPC data of `len` characters sent with AIM modifier `modifier`:
/// `"ean13"`, `"upca"`, `"upce"`, `"ean8"`, `"ean13-addon2"` or `"ean13-addon5"`.
pub fn symbol_name(modifier: u8, len: usize) -> Option<&'static str> {
    match (modifier, len) {
        (b'4', _) => Some("ean8"),
        (b'3', 15) => Some("ean13-addon2"),
        (b'3', 18) => Some("ean13-addon5"),
        (b'3', _) => None,
        (_, 13) => Some("ean13"),
        (_, 12) => Some("upca"),
        (_, 8) => Some("upce"),
        _ => None,
    }
}

/// Reads the data of an EAN/UPC symbol as the AIM modifier announces it: `b'0'` EAN-13, UPC-A
/// (sent as 13 digits, or as 12) or UPC-E (sent as 8 digits; ISO/IEC 15424 asks for the
/// 13-digit form, but many scanners send it unexpanded); `b'4'` EAN-8; `b'3'` a 13-digit main
/// symbol followed by its 2- or 5-digit add-on.
pub fn from_ean_upc(modifier: u8, data: &str) -> Result<EanUpc, GtinError> {
    let plain = |name: &'static str, kind| -> Result<EanUpc, GtinError> {
        Ok(EanUpc {
            name,
            gtin14: to_gtin14(kind, data)?,
            addon: None,
        })
    };
    if !data.bytes().all(|b| b.is_ascii_digit()) {
        return Err(GtinError::NotDigits { kind: "EAN/UPC" });
    }
    match (modifier, data.len()) {
        (b'4', 8) => plain("ean8", "EAN-8"),
        (b'4', len) => Err(GtinError::Length { kind: "EAN-8", len }),
        (b'3', 15 | 18) => {
            let (main, addon) = data.split_at(13);
            Ok(EanUpc {
                name: if addon.len() == 2 {
                    "ean13-addon2"
                } else {
                    "ean13-addon5"
                },
                gtin14: to_gtin14("EAN-13", main)?,
                addon: Some(addon.to_string()),
            })
        }
        (b'3', len) => Err(GtinError::Length {
            kind: "EAN/UPC with add-on",
            len,
        }),
        (_, 13) => plain("ean13", "EAN-13"),
        (_, 12) => plain("upca", "UPC-A"),
        (_, 8) => Ok(EanUpc {
            name: "upce",
            gtin14: format!("00{}", expand_upce(data)?),
            addon: None,
        }),
        (_, len) => Err(GtinError::Length {
            kind: "EAN/UPC",
            len,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalised_to_14_digits() {
        assert_eq!(
            to_gtin14("EAN-13", "9506000134352").unwrap(),
            "09506000134352"
        );
        assert_eq!(
            to_gtin14("UPC-A", "036000291452").unwrap(),
            "00036000291452"
        );
        assert_eq!(to_gtin14("EAN-8", "95012346").unwrap(), "00000095012346");
        assert_eq!(
            to_gtin14("GTIN-14", "09506000134352").unwrap(),
            "09506000134352"
        );
        assert_eq!(
            to_gtin14("EAN-13", "9506000134353"),
            Err(GtinError::CheckDigit {
                kind: "EAN-13",
                digits: "9506000134353".into(),
                found: '3',
                expected: 2
            })
        );
        assert_eq!(
            to_gtin14("X", "12345"),
            Err(GtinError::Length { kind: "X", len: 5 })
        );
        assert_eq!(
            to_gtin14("X", "1234567A"),
            Err(GtinError::NotDigits { kind: "X" })
        );
    }

    // UPC-E vectors worked by the zero-suppression table above (check digits verified with
    // the mod-10 rule on the expanded UPC-A).
    #[test]
    fn upce_expansion() {
        assert_eq!(expand_upce("04252614").unwrap(), "042100005264"); // d6 = 1
        assert_eq!(expand_upce("06543217").unwrap(), "065100004327"); // d6 = 1
        assert_eq!(expand_upce("01234505").unwrap(), "012000003455"); // d6 = 0
        assert_eq!(expand_upce("01234531").unwrap(), "012300000451"); // d6 = 3
        assert_eq!(expand_upce("01234543").unwrap(), "012340000053"); // d6 = 4
        assert_eq!(expand_upce("01234572").unwrap(), "012345000072"); // d6 = 7
        assert_eq!(expand_upce("12345670").unwrap(), "123456000070"); // number system 1
        assert_eq!(
            expand_upce("04252615"),
            Err(GtinError::CheckDigit {
                kind: "UPC-E",
                digits: "04252615".into(),
                found: '5',
                expected: 4
            })
        );
        assert_eq!(
            expand_upce("24252614"),
            Err(GtinError::NumberSystem("24252614".into()))
        );
        assert!(matches!(
            expand_upce("0425261"),
            Err(GtinError::Length { len: 7, .. })
        ));
    }

    #[test]
    fn ean_upc_by_modifier_and_length() {
        let r = from_ean_upc(b'0', "9506000134352").unwrap();
        assert_eq!((r.name, r.gtin14.as_str()), ("ean13", "09506000134352"));
        let r = from_ean_upc(b'0', "036000291452").unwrap();
        assert_eq!((r.name, r.gtin14.as_str()), ("upca", "00036000291452"));
        let r = from_ean_upc(b'0', "04252614").unwrap();
        assert_eq!((r.name, r.gtin14.as_str()), ("upce", "00042100005264"));
        let r = from_ean_upc(b'4', "95012346").unwrap();
        assert_eq!((r.name, r.gtin14.as_str()), ("ean8", "00000095012346"));
        let r = from_ean_upc(b'3', "950600013435212").unwrap();
        assert_eq!(r.gtin14, "09506000134352");
        assert_eq!(r.addon.as_deref(), Some("12"));
        let r = from_ean_upc(b'3', "950600013435251234").unwrap();
        assert_eq!(r.addon.as_deref(), Some("51234"));
        assert!(from_ean_upc(b'0', "12345").is_err());
        assert!(from_ean_upc(b'0', "ABCDEFGH").is_err());
        assert!(from_ean_upc(b'4', "9501234").is_err());
        assert!(from_ean_upc(b'3', "9506000134352").is_err());
        assert!(from_ean_upc(b'3', "95060001343521X").is_err());
    }
}
