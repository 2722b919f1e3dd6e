//! Calendar dates of GS1 element strings (GS1 General Specifications section 7.12).
//!
//! Date AIs carry `YYMMDD`. The century is not encoded: it follows a sliding window around the
//! current year, so a year more than 50 ahead of this year belongs to the previous century and
//! a year more than 49 behind it to the next. For most date AIs (11, 12, 13, 15, 16, 17 and
//! the date part of 4324/4325) `DD = 00` means "the last day of the month"; other date fields
//! need a real day.

use std::fmt;

/// A calendar date (proleptic Gregorian), printed and serialised as ISO 8601 `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

/// Why a date field is not a date.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    #[error("date must be digits")]
    NotDigits,
    #[error("month {0:02} out of range")]
    Month(u8),
    #[error("day 00 is not allowed in this field")]
    DayZero,
    #[error("day {day:02} out of range for {year:04}-{month:02}")]
    Day { year: u16, month: u8, day: u8 },
}

impl Date {
    /// The date, or `None` when it does not exist (or the year is past 9999).
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        let valid = year <= 9999
            && (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month);
        valid.then_some(Date { year, month, day })
    }

    pub fn year(self) -> u16 {
        self.year
    }

    pub fn month(self) -> u8 {
        self.month
    }

    pub fn day(self) -> u8 {
        self.day
    }

    /// The date `days` days after 1970-01-01 (Howard Hinnant's `civil_from_days`; valid for
    /// the whole range of `Date`).
    pub fn from_unix_days(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Date {
            year: year.clamp(0, 9999) as u16,
            month,
            day,
        }
    }

    /// Today's date in UTC from the system clock. (UTC rather than local time: the date only
    /// anchors the century window, where a few hours either way do not matter.)
    pub fn today_utc() -> Date {
        let secs = match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => d.as_secs() as i64,
            Err(e) => -(e.duration().as_secs() as i64),
        };
        Date::from_unix_days(secs.div_euclid(86_400))
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl serde::Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

pub fn is_leap_year(year: u16) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in `month` (1-12) of `year`; 0 for a month out of range.
pub fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// The four-digit year of a two-digit `yy`, by the GS1 sliding window around `this_year`
/// (GS1 General Specifications section 7.12): 51-99 years ahead → previous century, 50-99
/// years behind → next century, else this century.
pub fn full_year(yy: u8, this_year: u16) -> u16 {
    let this_year = i32::from(this_year);
    let century = this_year - this_year % 100;
    let diff = i32::from(yy) - this_year % 100;
    let year = if diff > 50 {
        century - 100 + i32::from(yy)
    } else if diff < -49 {
        century + 100 + i32::from(yy)
    } else {
        century + i32::from(yy)
    };
    year.clamp(0, 9999) as u16
}

fn two_digits(s: &[u8]) -> Result<u8, DateError> {
    match s {
        [a, b] if a.is_ascii_digit() && b.is_ascii_digit() => Ok((a - b'0') * 10 + (b - b'0')),
        _ => Err(DateError::NotDigits),
    }
}

fn checked(year: u16, month: u8, day: u8, day_zero_ok: bool) -> Result<Date, DateError> {
    if !(1..=12).contains(&month) {
        return Err(DateError::Month(month));
    }
    let last = days_in_month(year, month);
    let day = match day {
        0 if day_zero_ok => last,
        0 => return Err(DateError::DayZero),
        d => d,
    };
    Date::new(year, month, day).ok_or(DateError::Day { year, month, day })
}

/// Parses six ASCII digits `YYMMDD`; the century comes from the sliding window around `today`.
/// With `day_zero_ok`, `DD = 00` stands for the last day of the month.
pub fn parse_yymmdd(s: &[u8], today: Date, day_zero_ok: bool) -> Result<Date, DateError> {
    if s.len() != 6 {
        return Err(DateError::NotDigits);
    }
    let yy = two_digits(&s[0..2])?;
    let month = two_digits(&s[2..4])?;
    let day = two_digits(&s[4..6])?;
    checked(full_year(yy, today.year()), month, day, day_zero_ok)
}

/// Parses eight ASCII digits `YYYYMMDD` (a real day is required).
pub fn parse_yyyymmdd(s: &[u8]) -> Result<Date, DateError> {
    if s.len() != 8 {
        return Err(DateError::NotDigits);
    }
    let year = u16::from(two_digits(&s[0..2])?) * 100 + u16::from(two_digits(&s[2..4])?);
    let month = two_digits(&s[4..6])?;
    let day = two_digits(&s[6..8])?;
    checked(year, month, day, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: u16, m: u8, day: u8) -> Date {
        Date::new(y, m, day).unwrap()
    }

    #[test]
    fn iso_format() {
        assert_eq!(d(2022, 6, 30).to_string(), "2022-06-30");
        assert_eq!(d(5, 1, 2).to_string(), "0005-01-02");
        assert_eq!(
            serde_json::to_string(&d(2024, 2, 29)).unwrap(),
            "\"2024-02-29\""
        );
    }

    #[test]
    fn unix_days() {
        assert_eq!(Date::from_unix_days(0), d(1970, 1, 1));
        assert_eq!(Date::from_unix_days(-1), d(1969, 12, 31));
        assert_eq!(Date::from_unix_days(19_782), d(2024, 2, 29));
        assert_eq!(Date::from_unix_days(10_957), d(2000, 1, 1));
        assert!(Date::today_utc().year() >= 2024);
    }

    #[test]
    fn day_zero_is_the_last_day_of_the_month() {
        let today = d(2024, 5, 1);
        assert_eq!(parse_yymmdd(b"240200", today, true), Ok(d(2024, 2, 29)));
        assert_eq!(parse_yymmdd(b"230200", today, true), Ok(d(2023, 2, 28)));
        assert_eq!(parse_yymmdd(b"000200", today, true), Ok(d(2000, 2, 29)));
        assert_eq!(parse_yymmdd(b"241100", today, true), Ok(d(2024, 11, 30)));
        assert_eq!(parse_yymmdd(b"241200", today, true), Ok(d(2024, 12, 31)));
        assert_eq!(
            parse_yymmdd(b"241200", today, false),
            Err(DateError::DayZero)
        );
    }

    #[test]
    fn bad_dates() {
        let today = d(2024, 5, 1);
        assert_eq!(
            parse_yymmdd(b"221330", today, true),
            Err(DateError::Month(13))
        );
        assert_eq!(
            parse_yymmdd(b"220015", today, true),
            Err(DateError::Month(0))
        );
        assert_eq!(
            parse_yymmdd(b"230229", today, true),
            Err(DateError::Day {
                year: 2023,
                month: 2,
                day: 29
            })
        );
        assert_eq!(
            parse_yymmdd(b"220431", today, true),
            Err(DateError::Day {
                year: 2022,
                month: 4,
                day: 31
            })
        );
        assert_eq!(
            parse_yymmdd(b"22O431", today, true),
            Err(DateError::NotDigits)
        );
        assert_eq!(
            parse_yymmdd(b"2204", today, true),
            Err(DateError::NotDigits)
        );
        assert_eq!(
            parse_yyyymmdd(b"19000229"),
            Err(DateError::Day {
                year: 1900,
                month: 2,
                day: 29
            })
        );
        assert_eq!(parse_yyyymmdd(b"20000229"), Ok(d(2000, 2, 29)));
    }

    // GS1 General Specifications section 7.12: the century of YY is the one that puts the year
    // no more than 50 years ahead of, and no more than 49 years behind, the current year.
    #[test]
    fn century_window() {
        assert_eq!(full_year(24, 2024), 2024);
        assert_eq!(full_year(74, 2024), 2074); // 50 ahead: this century
        assert_eq!(full_year(75, 2024), 1975); // 51 ahead: previous century
        assert_eq!(full_year(99, 2024), 1999);
        assert_eq!(full_year(0, 2024), 2000);
        assert_eq!(full_year(0, 2049), 2000); // 49 behind: this century
        assert_eq!(full_year(0, 2050), 2100); // 50 behind: next century
        assert_eq!(full_year(99, 2000), 1999);
        assert_eq!(full_year(50, 2000), 2050);
        assert_eq!(full_year(51, 2000), 1951);
        assert_eq!(full_year(10, 2080), 2110);
        assert_eq!(full_year(31, 2080), 2031);
        assert_eq!(full_year(30, 2080), 2130);
        assert_eq!(
            parse_yymmdd(b"991231", d(2000, 1, 1), true),
            Ok(d(1999, 12, 31))
        );
        assert_eq!(
            parse_yymmdd(b"300101", d(2080, 6, 1), true),
            Ok(d(2130, 1, 1))
        );
    }
}
