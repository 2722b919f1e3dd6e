//! VIVOTEK people-counting cameras: counting report push in JSON (VIVOTEK SC8131 user's manual,
//! "report pushing"; SC8131/SC8132 integration guide).
//!
//! ```text
//! {"Source":{"UtcTime":"2015-05-28T06:30:01Z","GroupID":"0","DeviceID":"0","ModelName":" SC8131",
//!            "MacAddress":"00:02:81:31:00:08","IPAddress":"172.16.2.134","TimeZone":"+8","DST":"0"},
//!  "Data":[{"RuleType":"Counting","CountingInfo":[{"RuleName":"Counting1","In":1,"Out":2,
//!           "StartTime":"2015-05-28T06:15:00Z","EndTime":"2015-05-28T06:30:00Z"}]}]}
//! ```
//!
//! Decisions:
//! - Each `CountingInfo` element becomes one interval count, with its `RuleName` as the line.
//!   Intervals with zero counts (sent unless the camera is in "lite mode") are kept: they tell
//!   HQ the counter was working.
//! - `Data` elements of other rule types are not foot traffic and are skipped.
//! - `Source.MacAddress` identifies the device (`DeviceID` is often "0" and not unique).

use super::json::{self, Node};
use crate::counter::reading::{interval, DecodeError, Decoded};

/// Decodes one counting report.
pub fn decode(body: &[u8]) -> Result<Decoded, DecodeError> {
    let value = json::parse(body)?;
    let root = Node::root(&value);
    let device = match root.opt("Source")? {
        Some(source) => json::opt_id(&source, "MacAddress")?,
        None => String::new(),
    };
    let mut traffic = Vec::new();
    for data in root.get("Data")?.items()? {
        if data.get("RuleType")?.str()? != "Counting" {
            continue;
        }
        for info in data.get("CountingInfo")?.items()? {
            let rule = info.get("RuleName")?.str()?.trim();
            let start = info.get("StartTime")?.iso_time()?;
            let end_node = info.get("EndTime")?;
            let end = end_node.iso_time()?;
            if end < start {
                return Err(end_node.invalid("interval ends before it starts"));
            }
            let entries = info.get("In")?.u32()?;
            let exits = info.get("Out")?.u32()?;
            traffic.push(interval(&device, rule, start, end, entries, exits));
        }
    }
    Ok(Decoded {
        device,
        traffic,
        totals: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_from_the_manual_shape() {
        let body = br#"{"Source":{"UtcTime":"2015-05-28T06:30:01Z","GroupID":"0","DeviceID":"0","ModelName":" SC8131","MacAddress":"00:02:81:31:00:08","IPAddress":"172.16.2.134","TimeZone":"+8","DST":"0"},"Data":[{"RuleType":"Counting","CountingInfo":[{"RuleName":"Counting1","In":1,"Out":2,"StartTime":"2015-05-28T06:15:00Z","EndTime":"2015-05-28T06:30:00Z"},{"RuleName":"Counting2","In":0,"Out":0,"StartTime":"2015-05-28T06:15:00Z","EndTime":"2015-05-28T06:30:00Z"}]},{"RuleType":"ZoneDetection","ZoneInfo":[]}]}"#;
        let d = decode(body).unwrap();
        assert_eq!(d.device, "00:02:81:31:00:08");
        assert_eq!(d.traffic.len(), 2);
        let t = &d.traffic[0];
        assert_eq!(t.counter_id, "00:02:81:31:00:08");
        assert_eq!(t.line, "Counting1");
        assert_eq!(t.interval_start_ms, 1_432_793_700_000);
        assert_eq!(t.interval_end_ms, 1_432_794_600_000);
        assert_eq!((t.entries, t.exits), (1, 2));
        assert_eq!(d.traffic[1].line, "Counting2");
        assert_eq!((d.traffic[1].entries, d.traffic[1].exits), (0, 0));
    }

    #[test]
    fn errors_name_the_rule() {
        let e = decode(br#"{"Data":[{"RuleType":"Counting","CountingInfo":[{"RuleName":"A","In":1,"StartTime":"2015-05-28T06:15:00Z","EndTime":"2015-05-28T06:30:00Z"}]}]}"#).unwrap_err();
        assert_eq!(
            e,
            DecodeError::Missing("Data[0].CountingInfo[0].Out".into())
        );
        let e = decode(br#"{"Data":[{"RuleType":"Counting","CountingInfo":[{"RuleName":"A","In":1,"Out":1,"StartTime":"2015-05-28T06:15:00Z","EndTime":"2015-05-28T06:00:00Z"}]}]}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "field `Data[0].CountingInfo[0].EndTime`: interval ends before it starts"
        );
        let e = decode(br#"{"Data":{"RuleType":"Counting"}}"#).unwrap_err();
        assert_eq!(e.to_string(), "field `Data` must be an array");
    }
}
