//! Axis people counters.
//!
//! **AXIS People Counter, live sum** (VAPIX "People counter API", `live-sum.json`):
//!
//! ```text
//! {"serial":"00408CAC512B","name":"Exit south","timestamp":"20170503112756","in":12,"out":318}
//! ```
//!
//! `in` and `out` are running totals (the application resets them, e.g. at the start of a day),
//! so each payload becomes one [`Totals`] sample; `timestamp` (camera time, no zone: read as
//! UTC) orders the samples. `serial` identifies the device (`name` stands in when there is no
//! serial).
//!
//! **AXIS 3D People Counter export** (VAPIX "P8815-2 3D people counter API", `export/json`):
//!
//! ```text
//! {"data":[{"start":"2020-06-23 00:00:00","end":"2020-06-23 01:00:00","in":0,"out":0}]}
//! ```
//!
//! Each element is an interval count (camera time, no zone: read as UTC). The export names no
//! device, so the driver's id stands in.

use super::json::{self, Node};
use crate::counter::reading::{interval, DecodeError, Decoded, Totals};
use crate::counter::time;

/// Decodes a live-sum payload into one running-totals sample.
pub fn decode_live_sum(body: &[u8]) -> Result<Decoded, DecodeError> {
    let value = json::parse(body)?;
    let root = Node::root(&value);
    let serial = json::opt_id(&root, "serial")?;
    let device = if serial.is_empty() {
        json::opt_id(&root, "name")?
    } else {
        serial
    };
    let stamp = root.get("timestamp")?;
    let at_ms = time::parse_compact(stamp.str()?).map_err(|reason| stamp.invalid(reason))?;
    let entries = root.get("in")?.u64()?;
    let exits = root.get("out")?.u64()?;
    Ok(Decoded {
        totals: vec![Totals {
            counter_id: device.clone(),
            line: String::new(),
            // parse_compact accepts only years from 1970, so the time is never negative.
            order: u64::try_from(at_ms).unwrap_or(0),
            at_ms,
            entries,
            exits,
        }],
        device,
        traffic: Vec::new(),
    })
}

/// Decodes a 3D People Counter export into interval counts.
pub fn decode_3d_export(body: &[u8]) -> Result<Decoded, DecodeError> {
    let value = json::parse(body)?;
    let root = Node::root(&value);
    let mut traffic = Vec::new();
    for item in root.get("data")?.items()? {
        let start = item.get("start")?.iso_time()?;
        let end_node = item.get("end")?;
        let end = end_node.iso_time()?;
        if end < start {
            return Err(end_node.invalid("interval ends before it starts"));
        }
        let entries = item.get("in")?.u32()?;
        let exits = item.get("out")?.u32()?;
        traffic.push(interval("", "", start, end, entries, exits));
    }
    Ok(Decoded {
        device: String::new(),
        traffic,
        totals: Vec::new(),
    })
}

/// An epoch-ms time as the AXIS live sum writes its `timestamp` (`YYYYMMDDhhmmss`, UTC, the
/// fraction of a second dropped), for tools that play an Axis counter.
pub fn format_timestamp(ms: i64) -> String {
    time::format_compact(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_sum_from_the_vapix_example() {
        let body = br#"{"serial":"00408CAC512B","name":"Exit south","timestamp":"20170503112756","in":12,"out":318}"#;
        let d = decode_live_sum(body).unwrap();
        assert_eq!(d.device, "00408CAC512B");
        assert!(d.traffic.is_empty());
        assert_eq!(
            d.totals,
            vec![Totals {
                counter_id: "00408CAC512B".into(),
                line: String::new(),
                order: 1_493_810_876_000,
                at_ms: 1_493_810_876_000,
                entries: 12,
                exits: 318,
            }]
        );
    }

    #[test]
    fn live_sum_without_serial_uses_the_name() {
        let body = br#"{"name":"Exit south","timestamp":"20170503112756","in":0,"out":0}"#;
        assert_eq!(decode_live_sum(body).unwrap().device, "Exit south");
    }

    #[test]
    fn live_sum_errors_name_the_field() {
        let e =
            decode_live_sum(br#"{"serial":"x","timestamp":"20170503112756","out":1}"#).unwrap_err();
        assert_eq!(e, DecodeError::Missing("in".into()));
        let e = decode_live_sum(br#"{"timestamp":"2017-05-03","in":1,"out":1}"#).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("field `timestamp`: expected YYYYMMDDhhmmss"));
        let e = decode_live_sum(br#"{"timestamp":"20170503112756","in":-1,"out":1}"#).unwrap_err();
        assert_eq!(e.to_string(), "field `in` must be a non-negative integer");
        let e = decode_live_sum(br#"[1,2]"#).unwrap_err();
        assert_eq!(e.to_string(), "field `(payload)` must be an object");
    }

    #[test]
    fn export_from_the_vapix_example() {
        let body = br#"{"data":[{"start":"2020-06-23 00:00:00","end":"2020-06-23 01:00:00","in":0,"out":0},{"start":"2020-06-23 01:00:00","end":"2020-06-23 02:00:00","in":7,"out":5}]}"#;
        let d = decode_3d_export(body).unwrap();
        assert_eq!(d.device, "");
        assert_eq!(d.traffic.len(), 2);
        let t = &d.traffic[1];
        assert_eq!(t.interval_start_ms, 1_592_874_000_000);
        assert_eq!(t.interval_end_ms, 1_592_877_600_000);
        assert_eq!((t.entries, t.exits, t.coalesced_ticks), (7, 5, 1));
    }

    #[test]
    fn export_errors_name_the_element() {
        let e = decode_3d_export(
            br#"{"data":[{"start":"2020-06-23 00:00:00","end":"2020-06-23 01:00:00","in":0,"out":0},{"start":"2020-06-23 01:00:00","end":"2020-06-23 02:00:00","in":7}]}"#,
        )
        .unwrap_err();
        assert_eq!(e, DecodeError::Missing("data[1].out".into()));
        let e = decode_3d_export(
            br#"{"data":[{"start":"2020-06-23 02:00:00","end":"2020-06-23 01:00:00","in":0,"out":0}]}"#,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "field `data[0].end`: interval ends before it starts"
        );
        let e = decode_3d_export(
            br#"{"data":[{"start":"2020-06-23 00:00:00","end":"2020-06-23 01:00:00","in":4294967296,"out":0}]}"#,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "field `data[0].in`: 4294967296 is larger than 4294967295"
        );
    }
}
