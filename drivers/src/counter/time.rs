//! Date-time parsing for counter payloads, without a calendar crate.
//!
//! Counters write times in three shapes:
//! - compact `YYYYMMDDhhmmss` (Axis People Counter live sums),
//! - `YYYY-MM-DD hh:mm:ss` (Axis 3D People Counter exports),
//! - RFC 3339 / ISO 8601 `YYYY-MM-DDThh:mm:ss[.fff](Z|±hh:mm)` (Irisys, Hikvision, Vivotek).
//!
//! A time without a zone is read as UTC: the device does not say which zone it meant. Such
//! counters should run on UTC; otherwise their interval bounds are shifted by the zone offset (the
//! counts themselves are unaffected).
//!
//! Every function returns milliseconds since the Unix epoch, or a reason that fits in an error
//! message. Years 1970 to 9999 are accepted; nothing here can overflow or panic.

/// Days from 1970-01-01 to the given proleptic Gregorian date (`month` 1-12, `day` 1-31).
///
/// Counts whole 400-year eras (146 097 days each) from 0000-03-01, so that the leap day is the
/// last day of the counted year, then shifts to the Unix epoch (719 468 days after 0000-03-01).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (i64::from(month) + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A calendar date and wall-clock time, checked for range.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

impl Civil {
    fn to_ms(&self) -> Result<i64, String> {
        if !(1970..=9999).contains(&self.year) {
            return Err(format!("year {} is outside 1970-9999", self.year));
        }
        if !(1..=12).contains(&self.month) {
            return Err(format!("month {} is outside 1-12", self.month));
        }
        let last_day = days_in_month(self.year, self.month);
        if self.day == 0 || self.day > last_day {
            return Err(format!("day {} is outside 1-{last_day}", self.day));
        }
        if self.hour > 23 || self.minute > 59 || self.second > 60 {
            return Err(format!(
                "time {:02}:{:02}:{:02} is not a valid time of day",
                self.hour, self.minute, self.second
            ));
        }
        // A leap second (:60) counts as the first second of the next minute.
        let days = days_from_civil(self.year, self.month, self.day);
        let secs = days * 86_400
            + i64::from(self.hour) * 3_600
            + i64::from(self.minute) * 60
            + i64::from(self.second);
        Ok(secs * 1_000)
    }
}

/// A cursor over ASCII digits and separators.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Cursor {
            bytes: s.as_bytes(),
            pos: 0,
        }
    }

    /// Exactly `n` decimal digits.
    fn digits(&mut self, n: usize) -> Option<u32> {
        let end = self.pos.checked_add(n)?;
        let chunk = self.bytes.get(self.pos..end)?;
        let mut value = 0u32;
        for &b in chunk {
            if !b.is_ascii_digit() {
                return None;
            }
            value = value * 10 + u32::from(b - b'0');
        }
        self.pos = end;
        Some(value)
    }

    fn eat(&mut self, expected: &[u8]) -> Option<u8> {
        let b = *self.bytes.get(self.pos)?;
        if expected.contains(&b) {
            self.pos += 1;
            Some(b)
        } else {
            None
        }
    }

    fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.pos..).unwrap_or_default()
    }
}

/// Shortens a device-supplied value for an error message.
pub(crate) fn excerpt(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX {
        format!("{s:?}")
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head:?}…")
    }
}

/// `YYYYMMDDhhmmss`, read as UTC.
pub(crate) fn parse_compact(s: &str) -> Result<i64, String> {
    let bad = || format!("expected YYYYMMDDhhmmss, got {}", excerpt(s));
    let mut c = Cursor::new(s);
    let civil = (|| {
        Some(Civil {
            year: i64::from(c.digits(4)?),
            month: c.digits(2)?,
            day: c.digits(2)?,
            hour: c.digits(2)?,
            minute: c.digits(2)?,
            second: c.digits(2)?,
        })
    })()
    .ok_or_else(bad)?;
    if !c.rest().is_empty() {
        return Err(bad());
    }
    civil.to_ms()
}

/// The date of a day count from 1970-01-01: the inverse of [`days_from_civil`], by the same
/// era arithmetic (years starting on 1 March).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `YYYYMMDDhhmmss` (UTC) of an epoch-ms time, the fraction of a second dropped: what
/// [`parse_compact`] reads.
pub(crate) fn format_compact(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{year:04}{month:02}{day:02}{:02}{:02}{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// `YYYY-MM-DD hh:mm:ss` or `YYYY-MM-DDThh:mm:ss`, with optional fraction (`.f`, any number of
/// digits, kept to the millisecond) and optional zone (`Z`, `±hh:mm` or `±hhmm`; none = UTC).
pub(crate) fn parse_iso(s: &str) -> Result<i64, String> {
    let bad = || {
        format!(
            "expected YYYY-MM-DDThh:mm:ss with optional fraction and zone, got {}",
            excerpt(s)
        )
    };
    let mut c = Cursor::new(s);
    let civil = (|| {
        let year = i64::from(c.digits(4)?);
        c.eat(b"-")?;
        let month = c.digits(2)?;
        c.eat(b"-")?;
        let day = c.digits(2)?;
        c.eat(b"Tt ")?;
        let hour = c.digits(2)?;
        c.eat(b":")?;
        let minute = c.digits(2)?;
        c.eat(b":")?;
        let second = c.digits(2)?;
        Some(Civil {
            year,
            month,
            day,
            hour,
            minute,
            second,
        })
    })()
    .ok_or_else(bad)?;

    let mut millis = 0i64;
    if c.eat(b".,").is_some() {
        let mut n = 0;
        while let Some(d) = c.digits(1) {
            if n < 3 {
                millis = millis * 10 + i64::from(d);
            }
            n += 1;
        }
        if n == 0 {
            return Err(bad());
        }
        for _ in n..3 {
            millis *= 10;
        }
    }

    let offset_secs = match c.eat(b"Zz+-") {
        None => 0,
        Some(b'Z' | b'z') => 0,
        Some(sign) => {
            let hours = c.digits(2).ok_or_else(bad)?;
            c.eat(b":");
            let minutes = c.digits(2).ok_or_else(bad)?;
            if hours > 23 || minutes > 59 {
                return Err(format!("zone offset in {} is out of range", excerpt(s)));
            }
            let secs = i64::from(hours * 3_600 + minutes * 60);
            if sign == b'-' {
                -secs
            } else {
                secs
            }
        }
    };
    if !c.rest().is_empty() {
        return Err(bad());
    }
    // Local time minus its offset is UTC.
    Ok(civil.to_ms()? + millis - offset_secs * 1_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_compact_is_the_inverse_of_parse_compact() {
        assert_eq!(format_compact(0), "19700101000000");
        assert_eq!(format_compact(1_493_810_876_999), "20170503112756");
        // Leap days and year ends, every few days over two centuries.
        let mut ms = 0;
        while ms < 7_258_118_400_000 {
            let text = format_compact(ms);
            assert_eq!(parse_compact(&text), Ok(ms), "{text}");
            ms += 3 * 86_400_000 + 3_723_000;
        }
        assert_eq!(
            parse_compact(&format_compact(951_782_400_000)),
            Ok(951_782_400_000)
        );
        assert_eq!(format_compact(951_782_400_000), "20000229000000");
    }

    #[test]
    fn epoch_and_known_dates() {
        assert_eq!(parse_compact("19700101000000"), Ok(0));
        // 2017-05-03T11:27:56Z (the Axis example): 1493810876 s.
        assert_eq!(parse_compact("20170503112756"), Ok(1_493_810_876_000));
        assert_eq!(parse_iso("2020-06-23 00:00:00"), Ok(1_592_870_400_000));
        assert_eq!(parse_iso("2020-08-05T08:11:00Z"), Ok(1_596_615_060_000));
        // Leap day and the day after.
        assert_eq!(parse_iso("2024-02-29T00:00:00Z"), Ok(1_709_164_800_000));
        assert_eq!(parse_iso("2024-03-01T00:00:00Z"), Ok(1_709_251_200_000));
        assert_eq!(parse_iso("2000-02-29T12:00:00Z"), Ok(951_825_600_000));
    }

    #[test]
    fn offsets_and_fractions() {
        // 2017-01-01T00:00:00+08:00 is 2016-12-31T16:00:00Z.
        assert_eq!(
            parse_iso("2017-01-01T00:00:00+08:00"),
            Ok(1_483_200_000_000)
        );
        assert_eq!(parse_iso("2017-01-01T00:00:00+0800"), Ok(1_483_200_000_000));
        assert_eq!(
            parse_iso("2016-12-31T14:30:00-01:30"),
            Ok(1_483_200_000_000)
        );
        assert_eq!(parse_iso("1970-01-01T00:00:00.5Z"), Ok(500));
        assert_eq!(parse_iso("1970-01-01T00:00:00.123456789Z"), Ok(123));
        assert_eq!(parse_iso("1970-01-01T00:00:00.12+00:00"), Ok(120));
    }

    #[test]
    fn rejects_what_is_not_a_time() {
        for s in [
            "",
            "2017050311275",
            "201705031127567",
            "2017-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2017-01-01T24:00:00Z",
            "2017-01-01T00:00:00+",
            "2017-01-01T00:00:00+25:00",
            "2017-01-01T00:00:00.Z",
            "2017-01-01T00:00:00Zjunk",
            "1969-12-31T23:59:59Z",
            "2017-01-01",
            "２０１７-01-01T00:00:00Z",
        ] {
            assert!(parse_iso(s).is_err(), "{s}");
        }
        assert!(parse_compact("2017-05-03 11:27").is_err());
        assert!(parse_compact("20170230112756").is_err());
        let long = "9".repeat(200);
        assert!(parse_iso(&long).unwrap_err().len() < 150);
    }
}
