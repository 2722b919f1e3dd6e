//! Feed entries as PostgreSQL rows: the events in COPY text format, the KPI days as hourly rows.
//!
//! Everything here came from the network (through an agent or the rules fed by it), so it is
//! made acceptable to PostgreSQL before it leaves: a value PostgreSQL refuses would fail the
//! whole transaction again on every retry and stall the sink for good. NUL characters (refused
//! in `text` and `jsonb`) become U+FFFD; times are clamped into the years 1970 to 9999.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::Value;

use super::entry::{FeedEntry, KpiDay};
use crate::history::record::body_json;
use crate::history::time::format_ms;
use crate::rules::engine::kpi::counters::Counters;
use crate::rules::engine::kpi::day::StoreDay;

/// Latest time written: 9999-12-31T23:59:59.999Z.
const MAX_MS: i64 = 253_402_300_799_999;

/// The columns [`events_copy`] writes, in order.
pub const EVENT_COLUMNS: &str =
    "store, agent, seq, device, kind, event_time, arrival_time, clock_synced, body";

/// A time PostgreSQL accepts, as `timestamptz` text.
pub fn time_text(ms: i64) -> String {
    format_ms(ms.clamp(0, MAX_MS))
}

/// `s` without NUL characters.
pub fn clean(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{fffd}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// `v` as JSON text `jsonb` accepts (no `\u0000`).
pub fn json_text(mut v: Value) -> String {
    let text = v.to_string();
    if !text.contains("\\u0000") {
        return text;
    }
    clean_value(&mut v);
    v.to_string()
}

fn clean_value(v: &mut Value) {
    match v {
        Value::String(s) if s.contains('\0') => *s = s.replace('\0', "\u{fffd}"),
        Value::Array(items) => items.iter_mut().for_each(clean_value),
        Value::Object(map) => {
            let cleaned: serde_json::Map<String, Value> = std::mem::take(map)
                .into_iter()
                .map(|(k, mut v)| {
                    clean_value(&mut v);
                    (clean(&k).into_owned(), v)
                })
                .collect();
            *map = cleaned;
        }
        _ => {}
    }
}

/// Appends `s` as one field of COPY's text format.
fn field(out: &mut Vec<u8>, s: &str) {
    for b in clean(s).bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

/// Appends the events of `entry` as COPY text rows (columns [`EVENT_COLUMNS`]); returns how many
/// rows and how many events were skipped (a seq beyond PostgreSQL's `bigint`).
pub fn events_copy(entry: &FeedEntry, out: &mut Vec<u8>) -> (u64, u64) {
    let (mut rows, mut skipped) = (0, 0);
    for fe in &entry.events {
        let Some(e) = &fe.event else {
            skipped += 1;
            continue;
        };
        let Ok(seq) = i64::try_from(e.seq) else {
            skipped += 1;
            continue;
        };
        field(out, &fe.store);
        out.push(b'\t');
        field(out, &fe.agent);
        out.push(b'\t');
        out.extend_from_slice(seq.to_string().as_bytes());
        out.push(b'\t');
        field(out, &e.device_id);
        out.push(b'\t');
        field(out, store_proto::kind_name(e.body.as_ref()));
        out.push(b'\t');
        field(out, &time_text(e.wall_time_ms));
        out.push(b'\t');
        field(out, &time_text(fe.arrival_ms));
        out.push(b'\t');
        out.push(if e.clock_synced { b't' } else { b'f' });
        out.push(b'\t');
        field(out, &json_text(body_json(e.body.as_ref())));
        out.push(b'\n');
        rows += 1;
    }
    (rows, skipped)
}

/// One row of `kpi_hourly`.
#[derive(Debug, Clone, PartialEq)]
pub struct KpiHour {
    pub store: String,
    pub hour_start_ms: i64,
    /// Local day, days since 1970-01-01.
    pub day: i64,
    pub counters: Counters,
}

/// The hourly rows of the KPI days in `entries`: for each store and day only its newest state
/// (a later entry holds the day as it was after more events), one row per hour. A day that
/// cannot be decoded is skipped and counted.
pub fn kpi_hours<'a>(days: impl IntoIterator<Item = &'a KpiDay>) -> (Vec<KpiHour>, u64) {
    let mut newest: BTreeMap<(&str, i64), &[u8]> = BTreeMap::new();
    for d in days {
        newest.insert((d.store.as_str(), d.day), &d.row);
    }
    let mut out = Vec::new();
    let mut bad = 0;
    for ((store, day), row) in newest {
        let Ok(parsed) = serde_json::from_slice::<StoreDay>(row) else {
            bad += 1;
            continue;
        };
        for (hour_start_ms, counters) in parsed.hours {
            out.push(KpiHour {
                store: store.to_owned(),
                hour_start_ms,
                day,
                counters,
            });
        }
    }
    (out, bad)
}

#[cfg(test)]
mod tests {
    use super::super::entry::FeedEvent;
    use super::*;
    use store_proto::v1::Scan;
    use store_proto::{Body, Event};

    #[test]
    fn copy_text_escapes_separators_and_replaces_nul() {
        let entry = FeedEntry {
            events: vec![FeedEvent {
                store: "s1".into(),
                agent: "a\t1".into(),
                arrival_ms: 0,
                event: Some(Event {
                    seq: 7,
                    device_id: "dev\\\n\0".into(),
                    wall_time_ms: i64::MAX,
                    body: Some(Body::Scan(Scan {
                        data: "x\0y".into(),
                        ..Default::default()
                    })),
                    ..Default::default()
                }),
            }],
            ..FeedEntry::default()
        };
        let mut out = Vec::new();
        assert_eq!(events_copy(&entry, &mut out), (1, 0));
        let text = String::from_utf8(out).unwrap();
        let fields: Vec<&str> = text.trim_end_matches('\n').split('\t').collect();
        assert_eq!(fields.len(), 9, "{text:?}");
        assert_eq!(fields[1], "a\\t1");
        assert_eq!(fields[3], "dev\\\\\\n\u{fffd}");
        assert_eq!(fields[5], "9999-12-31T23:59:59.999Z");
        assert_eq!(fields[6], "1970-01-01T00:00:00.000Z");
        assert!(fields[8].contains("x\u{fffd}y"), "{}", fields[8]);
        assert!(!text.contains("u0000"));
    }

    #[test]
    fn a_seq_beyond_bigint_is_skipped_not_sent() {
        let entry = FeedEntry {
            events: vec![FeedEvent {
                event: Some(Event {
                    seq: u64::MAX,
                    ..Default::default()
                }),
                ..FeedEvent::default()
            }],
            ..FeedEntry::default()
        };
        let mut out = Vec::new();
        assert_eq!(events_copy(&entry, &mut out), (0, 1));
        assert!(out.is_empty());
    }

    #[test]
    fn only_the_newest_state_of_a_day_becomes_rows() {
        let day = |transactions: u64| {
            let mut d = StoreDay::default();
            d.add(
                Some(3_600_000),
                &Counters {
                    transactions,
                    ..Counters::default()
                },
            );
            KpiDay {
                store: "s1".into(),
                day: 0,
                row: serde_json::to_vec(&d).unwrap(),
            }
        };
        let bad = KpiDay {
            store: "s2".into(),
            day: 0,
            row: b"not json".to_vec(),
        };
        let (rows, skipped) = kpi_hours(&[day(1), day(5), bad]);
        assert_eq!(skipped, 1);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].counters.transactions, 5);
        assert_eq!(rows[0].hour_start_ms, 3_600_000);
    }
}
