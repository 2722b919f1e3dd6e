//! Per-store profiles: region, local time (an IANA zone with daylight saving, or a fixed offset)
//! and opening hours, and the rules' thresholds as chain
//! defaults (`[rules.*]` in the collector's config) merged with per-store overrides
//! (`[store.{id}.rules.*]`).
//!
//! Overrides are merged as TOML tables before the typed structs are built, so a store only names
//! the keys it changes, and an unknown key is still an error.
//!
//! Each part owns its thresholds (`stock::rules`, `staffing::rules`, `anomaly::rules`); this
//! module only composes them. Those rule modules never look at a profile, so the parts can use
//! profiles without an import circle.

use std::collections::HashMap;

use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::Timestamp;
use serde::Deserialize;

use super::anomaly::rules::AnomalyRules;
use super::staffing::rules::StaffingRules;
use super::stock::rules::StockRules;

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

/// The thresholds of every rule, for one store.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    #[serde(default)]
    pub stock: StockRules,
    #[serde(default)]
    pub staffing: StaffingRules,
    #[serde(default)]
    pub anomaly: AnomalyRules,
}

/// `[store.{id}]`: what HQ knows about one store.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreTable {
    /// Region used for transfer suggestions: stock moves between stores of one region.
    #[serde(default = "default_region")]
    region: String,
    /// Offset of the store's local time from UTC, minutes (e.g. 60 for CET in winter). Kept for
    /// old configs; `timezone` follows daylight saving and is preferred. Not both.
    #[serde(default)]
    utc_offset_minutes: Option<i32>,
    /// IANA time zone, e.g. "Europe/Berlin" (the tz database is compiled into the binary).
    #[serde(default)]
    timezone: Option<String>,
    /// Opening time, local, "HH:MM".
    #[serde(default = "default_open")]
    open: String,
    /// Closing time, local, "HH:MM".
    #[serde(default = "default_close")]
    close: String,
    /// Overrides of the chain's `[rules]`, key by key.
    #[serde(default)]
    rules: toml::Table,
}

fn default_region() -> String {
    "default".to_owned()
}
fn default_open() -> String {
    "08:00".to_owned()
}
fn default_close() -> String {
    "20:00".to_owned()
}

/// One store's profile with its rules resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreProfile {
    pub region: String,
    /// Fixed offset from UTC, minutes; used only when `zone` is `None`.
    pub utc_offset_minutes: i32,
    /// The store's IANA zone, when configured: local time then follows daylight saving.
    pub zone: Option<TimeZone>,
    /// Opening and closing minute of the local day (0..1440).
    pub open_minute: u32,
    pub close_minute: u32,
    pub rules: RulesConfig,
}

impl Default for StoreProfile {
    fn default() -> Self {
        StoreProfile {
            region: default_region(),
            utc_offset_minutes: 0,
            zone: None,
            open_minute: 8 * 60,
            close_minute: 20 * 60,
            rules: RulesConfig::default(),
        }
    }
}

impl StoreProfile {
    /// Offset of local time from UTC at the instant `utc_ms`, ms.
    fn offset_ms(&self, utc_ms: i64) -> i64 {
        match (&self.zone, Timestamp::from_millisecond(utc_ms)) {
            (Some(tz), Ok(ts)) => i64::from(tz.to_offset(ts).seconds()) * 1000,
            _ => i64::from(self.utc_offset_minutes) * 60_000,
        }
    }

    /// Local wall time of `utc_ms` written as if it were UTC ms: its day and minute are the
    /// local calendar day and time of day.
    pub fn local_ms(&self, utc_ms: i64) -> i64 {
        // Saturating: an event time from a hostile payload can be anywhere in i64.
        utc_ms.saturating_add(self.offset_ms(utc_ms))
    }

    /// The instant (UTC ms) of a local wall time given as by [`StoreProfile::local_ms`]. A time
    /// that happens twice (clocks go back) is its first occurrence; a time that does not exist
    /// (clocks go forward) is the instant the clocks jump, so "opens at 02:30" on that day opens
    /// at the first minute that exists after 02:30's place.
    pub fn utc_of_local(&self, local_ms: i64) -> i64 {
        let Some(tz) = &self.zone else {
            return local_ms.saturating_sub(i64::from(self.utc_offset_minutes) * 60_000);
        };
        let Ok(civil) = Timestamp::from_millisecond(local_ms).map(|t| t.to_zoned(TimeZone::UTC))
        else {
            return local_ms;
        };
        let secs = |o: jiff::tz::Offset| i64::from(o.seconds()) * 1000;
        match tz.to_ambiguous_timestamp(civil.datetime()).offset() {
            AmbiguousOffset::Unambiguous { offset } => local_ms - secs(offset),
            AmbiguousOffset::Fold { before, .. } => local_ms - secs(before),
            AmbiguousOffset::Gap { before, after } => {
                // Read with the later offset the time lies before the jump; the next transition
                // from there is the jump itself.
                let probe = local_ms - secs(after);
                Timestamp::from_millisecond(probe)
                    .ok()
                    .and_then(|ts| tz.following(ts).next())
                    .map(|t| t.timestamp().as_millisecond())
                    .unwrap_or(local_ms - secs(before))
            }
        }
    }

    /// The same local time of day `days` local days earlier (UTC ms): "this hour last week"
    /// stays the same wall-clock hour across a daylight-saving change.
    pub fn days_before(&self, utc_ms: i64, days: i64) -> i64 {
        self.utc_of_local(self.local_ms(utc_ms) - days * DAY_MS)
    }

    /// Local calendar day of `utc_ms`, as days since 1970-01-01.
    pub fn local_day(&self, utc_ms: i64) -> i64 {
        self.local_ms(utc_ms).div_euclid(DAY_MS)
    }

    /// Start (UTC ms) of local calendar day `day` (days since 1970-01-01).
    pub fn start_of_local_day(&self, day: i64) -> i64 {
        self.utc_of_local(day * DAY_MS)
    }

    /// Minute of the local day, 0..1440.
    pub fn local_minute(&self, utc_ms: i64) -> u32 {
        (self.local_ms(utc_ms).rem_euclid(DAY_MS) / 60_000) as u32
    }

    /// Local weekday, 0 = Monday .. 6 = Sunday (1970-01-01 was a Thursday).
    pub fn local_weekday(&self, utc_ms: i64) -> u32 {
        ((self.local_day(utc_ms) + 3).rem_euclid(7)) as u32
    }

    /// Local hour of the day, 0..24.
    pub fn local_hour(&self, utc_ms: i64) -> u32 {
        self.local_minute(utc_ms) / 60
    }

    /// Start (UTC ms) of the local hour containing `utc_ms` (when the clocks go back, the two
    /// hours with the same wall-clock time are two hours).
    pub fn hour_start(&self, utc_ms: i64) -> i64 {
        utc_ms - self.local_ms(utc_ms).rem_euclid(HOUR_MS)
    }

    /// Start (UTC ms) of the local day containing `utc_ms` (a day can be 23 or 25 hours long).
    pub fn day_start(&self, utc_ms: i64) -> i64 {
        self.start_of_local_day(self.local_day(utc_ms))
    }

    /// Start (UTC ms) of the opening session containing or preceding `utc_ms` (a store open past
    /// midnight started today's session yesterday).
    pub fn session_start(&self, utc_ms: i64) -> i64 {
        let open = i64::from(self.open_minute) * 60_000;
        let day = self.local_day(utc_ms);
        let opened = self.utc_of_local(day * DAY_MS + open);
        if opened > utc_ms {
            self.utc_of_local((day - 1) * DAY_MS + open)
        } else {
            opened
        }
    }

    /// Local time of day of `utc_ms`, "HH:MM", for messages.
    pub fn hhmm(&self, utc_ms: i64) -> String {
        let m = self.local_minute(utc_ms);
        format!("{:02}:{:02}", m / 60, m % 60)
    }

    /// Whether the store is open at `utc_ms` (a close before the open means open past midnight).
    pub fn is_open(&self, utc_ms: i64) -> bool {
        let m = self.local_minute(utc_ms);
        if self.open_minute <= self.close_minute {
            (self.open_minute..self.close_minute).contains(&m)
        } else {
            m >= self.open_minute || m < self.close_minute
        }
    }
}

/// Profiles of every configured store; stores without a `[store.{id}]` table get the chain
/// defaults.
#[derive(Debug, Clone, Default)]
pub struct Profiles {
    default: StoreProfile,
    stores: HashMap<String, StoreProfile>,
}

/// A profile that could not be built; `key` is the dotted config key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ProfileError {
    pub key: String,
    pub message: String,
}

impl Profiles {
    /// Builds the profiles from the raw `[rules]` and `[store.*]` tables of the config file.
    pub fn from_tables(
        rules: &toml::Table,
        stores: &toml::Table,
    ) -> Result<Profiles, ProfileError> {
        let chain: RulesConfig =
            rules
                .clone()
                .try_into()
                .map_err(|e: toml::de::Error| ProfileError {
                    key: "rules".to_owned(),
                    message: e.message().to_owned(),
                })?;
        let default = StoreProfile {
            rules: chain,
            ..StoreProfile::default()
        };
        let mut out = HashMap::new();
        for (id, value) in stores {
            let key = format!("store.{id}");
            let table: StoreTable =
                value
                    .clone()
                    .try_into()
                    .map_err(|e: toml::de::Error| ProfileError {
                        key: key.clone(),
                        message: e.message().to_owned(),
                    })?;
            let mut merged = rules.clone();
            merge(&mut merged, &table.rules);
            let rules: RulesConfig =
                toml::Value::Table(merged)
                    .try_into()
                    .map_err(|e: toml::de::Error| ProfileError {
                        key: format!("{key}.rules"),
                        message: e.message().to_owned(),
                    })?;
            let open_minute = parse_hhmm(&table.open).ok_or_else(|| ProfileError {
                key: format!("{key}.open"),
                message: format!("{:?} is not a time \"HH:MM\"", table.open),
            })?;
            let close_minute = parse_hhmm(&table.close).ok_or_else(|| ProfileError {
                key: format!("{key}.close"),
                message: format!("{:?} is not a time \"HH:MM\"", table.close),
            })?;
            let zone = match (&table.timezone, table.utc_offset_minutes) {
                (Some(_), Some(_)) => {
                    return Err(ProfileError {
                        key: format!("{key}.timezone"),
                        message: "give either timezone or utc_offset_minutes, not both".to_owned(),
                    })
                }
                (Some(name), None) => Some(TimeZone::get(name).map_err(|e| ProfileError {
                    key: format!("{key}.timezone"),
                    message: format!("{name:?} is not a known IANA time zone: {e}"),
                })?),
                (None, _) => None,
            };
            out.insert(
                id.clone(),
                StoreProfile {
                    region: table.region,
                    utc_offset_minutes: table.utc_offset_minutes.unwrap_or(0),
                    zone,
                    open_minute,
                    close_minute,
                    rules,
                },
            );
        }
        Ok(Profiles {
            default,
            stores: out,
        })
    }

    /// The profile of `store` (the chain defaults when it has none).
    pub fn get(&self, store: &str) -> &StoreProfile {
        self.stores.get(store).unwrap_or(&self.default)
    }

    /// Sets one store's profile (tests and the demo).
    pub fn insert(&mut self, store: impl Into<String>, profile: StoreProfile) {
        self.stores.insert(store.into(), profile);
    }
}

/// Merges `over` into `base`, table by table (values in `over` win).
fn merge(base: &mut toml::Table, over: &toml::Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= 1440).then_some(h * 60 + m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_time_helpers() {
        // 2026-11-23 is a Monday; 09:30 UTC is 10:30 at +60.
        let p = StoreProfile {
            utc_offset_minutes: 60,
            ..StoreProfile::default()
        };
        let t = 1_795_426_200_000; // 2026-11-23T09:30:00Z
        assert_eq!(p.local_weekday(t), 0);
        assert_eq!(p.local_hour(t), 10);
        assert_eq!(p.hour_start(t), 1_795_424_400_000); // 09:00Z = 10:00 local
        assert!(p.is_open(t));
        assert!(!p.is_open(t + 11 * HOUR_MS));
    }

    fn ms(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_millisecond()
    }

    fn berlin(open: &str) -> StoreProfile {
        let rules: toml::Table = toml::from_str("").unwrap();
        let stores: toml::Table = toml::from_str(&format!(
            "[s1]\ntimezone = \"Europe/Berlin\"\nopen = \"{open}\"\nclose = \"20:00\"\n"
        ))
        .unwrap();
        Profiles::from_tables(&rules, &stores)
            .unwrap()
            .get("s1")
            .clone()
    }

    #[test]
    fn daylight_saving_days_have_23_and_25_hours() {
        let p = berlin("08:00");
        // Clocks go forward at 01:00Z on 2026-03-29: that local day is 23 hours long.
        let spring = ms("2026-03-29T10:00:00Z");
        assert_eq!(p.day_start(spring), ms("2026-03-28T23:00:00Z"));
        assert_eq!(p.day_start(spring + DAY_MS), ms("2026-03-29T22:00:00Z"));
        assert_eq!(p.local_hour(ms("2026-03-29T00:59:00Z")), 1);
        assert_eq!(p.local_hour(ms("2026-03-29T01:00:00Z")), 3);
        // Clocks go back at 01:00Z on 2026-10-25: 25 hours, 02:00 twice as two hours.
        let fall = ms("2026-10-25T10:00:00Z");
        assert_eq!(p.day_start(fall), ms("2026-10-24T22:00:00Z"));
        assert_eq!(p.day_start(fall + DAY_MS), ms("2026-10-25T23:00:00Z"));
        let first = ms("2026-10-25T00:30:00Z");
        let second = ms("2026-10-25T01:30:00Z");
        assert_eq!((p.local_hour(first), p.local_hour(second)), (2, 2));
        assert_eq!(p.hour_start(first), ms("2026-10-25T00:00:00Z"));
        assert_eq!(p.hour_start(second), ms("2026-10-25T01:00:00Z"));
        // Opening at 08:00 local: 07:00Z in winter, 06:00Z in summer.
        assert!(p.is_open(ms("2026-12-01T07:00:00Z")));
        assert!(!p.is_open(ms("2026-12-01T06:59:00Z")));
        assert!(p.is_open(ms("2026-07-01T06:00:00Z")));
        assert_eq!(p.local_weekday(ms("2026-03-29T22:30:00Z")), 0); // Monday 00:30 CEST
                                                                    // The same hour a week earlier is the same wall-clock hour.
        assert_eq!(
            p.days_before(ms("2026-03-30T08:00:00Z"), 7),
            ms("2026-03-23T09:00:00Z")
        );
    }

    #[test]
    fn an_opening_time_that_does_not_exist_or_happens_twice() {
        let p = berlin("02:30");
        // 02:30 does not exist on 2026-03-29: the session opens when the clocks jump (03:00).
        assert_eq!(
            p.session_start(ms("2026-03-29T10:00:00Z")),
            ms("2026-03-29T01:00:00Z")
        );
        assert!(p.is_open(ms("2026-03-29T01:00:00Z")));
        assert!(!p.is_open(ms("2026-03-29T00:59:00Z")));
        // 02:30 happens twice on 2026-10-25: the session opens at the first one.
        assert_eq!(
            p.session_start(ms("2026-10-25T10:00:00Z")),
            ms("2026-10-25T00:30:00Z")
        );
        assert!(p.is_open(ms("2026-10-25T00:30:00Z")));
    }

    #[test]
    fn timezone_errors_name_the_key() {
        let rules: toml::Table = toml::from_str("").unwrap();
        let both: toml::Table =
            toml::from_str("[s1]\ntimezone = \"Europe/Berlin\"\nutc_offset_minutes = 60\n")
                .unwrap();
        let err = Profiles::from_tables(&rules, &both).unwrap_err();
        assert_eq!(err.key, "store.s1.timezone");
        assert!(err.message.contains("not both"), "{err}");
        let unknown: toml::Table = toml::from_str("[s1]\ntimezone = \"Mars/Olympus\"\n").unwrap();
        let err = Profiles::from_tables(&rules, &unknown).unwrap_err();
        assert_eq!(err.key, "store.s1.timezone");
        assert!(err.message.contains("Mars/Olympus"), "{err}");
        let old: toml::Table = toml::from_str("[s1]\nutc_offset_minutes = 60\n").unwrap();
        let p = Profiles::from_tables(&rules, &old).unwrap();
        assert_eq!(p.get("s1").local_hour(ms("2026-07-01T09:00:00Z")), 10);
    }

    #[test]
    fn store_overrides_merge_key_by_key_and_unknown_keys_fail() {
        let rules: toml::Table = toml::from_str("").unwrap();
        let stores: toml::Table =
            toml::from_str("[s1]\nregion = \"north\"\nopen = \"07:30\"\n[s1.rules]\n").unwrap();
        let p = Profiles::from_tables(&rules, &stores).unwrap();
        assert_eq!(p.get("s1").region, "north");
        assert_eq!(p.get("s1").open_minute, 450);
        assert_eq!(p.get("other").region, "default");

        let bad: toml::Table = toml::from_str("[s1]\nopen = \"7h\"\n").unwrap();
        let err = Profiles::from_tables(&rules, &bad).unwrap_err();
        assert_eq!(err.key, "store.s1.open");
        let bad: toml::Table = toml::from_str("[s1.rules.stock]\nnope = 1\n").unwrap();
        let err = Profiles::from_tables(&rules, &bad).unwrap_err();
        assert_eq!(err.key, "store.s1.rules", "{err}");
    }
}
