//! Times in queries and exports: RFC 3339 (UTC or with an offset) or milliseconds since the
//! Unix epoch in, RFC 3339 UTC out. Small and strict on purpose: a query string is client input.

/// Parses `1764600000000` or `2025-12-01T14:40:00Z` / `2025-12-01T14:40:00.5+01:00`.
pub fn parse_time(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        return text
            .parse::<i64>()
            .map_err(|_| format!("{text:?}: not a time (milliseconds since 1970 or RFC 3339)"));
    }
    parse_rfc3339(text)
        .ok_or_else(|| format!("{text:?}: not a time (milliseconds since 1970 or RFC 3339)"))
}

/// Milliseconds since the Unix epoch of an RFC 3339 timestamp (a full date, a time, optional
/// fractions and an explicit `Z` or `±HH:MM` offset), or `None` when `text` is not one.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20
        || b.len() > 40
        || b[4] != b'-'
        || b[7] != b'-'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &text[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        let first3 = format!("{:0<3}", &fraction[..digits.min(3)]);
        millis = first3.parse::<i64>().ok()?;
        rest = &fraction[digits..];
    }
    let offset_minutes = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let r = rest.as_bytes();
            if r.len() != 6 || r[3] != b':' {
                return None;
            }
            let digits = |s: &str| -> Option<i64> {
                if s.bytes().all(|c| c.is_ascii_digit()) {
                    s.parse().ok()
                } else {
                    None
                }
            };
            let (h, m) = (digits(&rest[1..3])?, digits(&rest[4..6])?);
            if h > 23 || m > 59 {
                return None;
            }
            sign * (h * 60 + m)
        }
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1_000 + millis)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (counting 400-year eras of 146 097 days
/// from 0000-03-01, so the leap day is the last day of each counted year).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `2025-12-01T14:40:00.000Z`.
pub fn format_ms(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1_000 % 60,
        in_day % 1_000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_milliseconds_and_rfc3339() {
        assert_eq!(parse_time("1764600000000"), Ok(1_764_600_000_000));
        assert_eq!(parse_time("-5"), Ok(-5));
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_time("2025-12-01T14:40:00Z"), Ok(1_764_600_000_000));
        assert_eq!(
            parse_time("2025-12-01T15:40:00.5+01:00"),
            Ok(1_764_600_000_500)
        );
        assert_eq!(
            parse_time("2024-02-29T00:00:00.123456Z"),
            Ok(1_709_164_800_123)
        );
        for bad in [
            "",
            "soon",
            "2025-02-29T00:00:00Z",
            "2025-13-01T00:00:00Z",
            "2025-12-01T24:00:00Z",
            "2025-12-01T14:40:00",
            "2025-12-01T14:40:00+1:00",
            "2025-12-01T14:40:00.Z",
            "2025-12-01T1a:40:00Z",
            "99999999999999999999999",
        ] {
            assert!(parse_time(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn rfc3339_offsets_and_fractions() {
        // 2026-12-01T14:00:00Z, computed from 20788 days since the epoch.
        let day = 20_788 * 86_400_000 + 14 * 3_600_000;
        assert_eq!(parse_rfc3339("2026-12-01T14:00:00Z"), Some(day));
        assert_eq!(
            parse_rfc3339("2026-12-01T15:30:00.25+01:30"),
            Some(day + 250)
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00.123456-00:00"),
            Some(19_782 * 86_400_000 + 123)
        );
        for bad in [
            "2026-12-01",
            "2026-12-01T14:00:00+0100",
            "2026-12-01T14:00:00Zjunk",
            "\u{ff12}026-12-01T14:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_what_it_parses() {
        for ms in [
            0,
            1_764_600_000_123,
            -1,
            951_782_400_000,
            253_402_300_799_999,
        ] {
            assert_eq!(parse_time(&format_ms(ms)), Ok(ms), "{}", format_ms(ms));
        }
        assert_eq!(format_ms(-1), "1969-12-31T23:59:59.999Z");
    }
}
