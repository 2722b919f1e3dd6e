//! Irisys Vector people counters: count logs pushed over HTTP (Irisys Vector "data push",
//! JSON count logs).
//!
//! ```text
//! {"CountLogs":[{"Counts":[{"Name":"Line 1","RegisterId":0,"Tags":["direction=IN"],"Value":4},
//!                          {"Name":"Line 2","RegisterId":1,"Tags":["direction=OUT"],"Value":7}],
//!                "LogEntryId":3994,"Timestamp":"2020-08-05T08:11:00Z"}],
//!  "FriendlyDeviceSerial":"V4D-20050095"}
//! ```
//!
//! Register values are cumulative, so each log becomes one [`Totals`] sample ordered by
//! `LogEntryId`; a [`Trackers`](crate::counter::tracker::Trackers) subtracts consecutive logs and handles
//! resets and resent logs.
//!
//! Decisions:
//! - A register's direction comes from a `direction=IN` / `direction=OUT` tag, or else from its
//!   `Name` when the last word is `In` or `Out` (any case). Registers with neither (occupancy,
//!   custom registers) are not foot traffic and are skipped; a log with no register in either
//!   direction is an error, so a misconfigured device is noticed.
//! - All in-registers of a log are summed into entries and all out-registers into exits, as one
//!   line of the device.
//! - Logs are applied in `LogEntryId` order, whatever their order in the payload.
//! - `FriendlyDeviceSerial` identifies the device.

use super::json::{self, Node};
use crate::counter::reading::{DecodeError, Decoded, Totals};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    In,
    Out,
}

fn direction(register: &Node<'_>) -> Result<Option<Direction>, DecodeError> {
    if let Some(tags) = register.opt("Tags")? {
        for tag in tags.items()? {
            let tag = tag.str()?.trim();
            if let Some((key, value)) = tag.split_once('=') {
                if key.trim().eq_ignore_ascii_case("direction") {
                    let value = value.trim();
                    if value.eq_ignore_ascii_case("in") {
                        return Ok(Some(Direction::In));
                    }
                    if value.eq_ignore_ascii_case("out") {
                        return Ok(Some(Direction::Out));
                    }
                }
            }
        }
    }
    if let Some(name) = register.opt("Name")? {
        match name.str()?.split_whitespace().last() {
            Some(w) if w.eq_ignore_ascii_case("in") => return Ok(Some(Direction::In)),
            Some(w) if w.eq_ignore_ascii_case("out") => return Ok(Some(Direction::Out)),
            _ => {}
        }
    }
    Ok(None)
}

/// Decodes count logs into running-totals samples, oldest log first.
pub fn decode(body: &[u8]) -> Result<Decoded, DecodeError> {
    let value = json::parse(body)?;
    let root = Node::root(&value);
    let device = json::opt_id(&root, "FriendlyDeviceSerial")?;
    let mut totals = Vec::new();
    for log in root.get("CountLogs")?.items()? {
        let order = log.get("LogEntryId")?.u64()?;
        let at_ms = log.get("Timestamp")?.iso_time()?;
        let counts = log.get("Counts")?;
        let (mut entries, mut exits, mut directional) = (0u64, 0u64, false);
        for register in counts.items()? {
            let Some(dir) = direction(&register)? else {
                continue;
            };
            let value_node = register.get("Value")?;
            let value = value_node.u64()?;
            let sum = if dir == Direction::In {
                &mut entries
            } else {
                &mut exits
            };
            *sum = sum
                .checked_add(value)
                .ok_or_else(|| value_node.invalid("sum of registers overflows"))?;
            directional = true;
        }
        if !directional {
            return Err(counts.invalid(
                "no register counts in or out (tag \"direction=IN\"/\"direction=OUT\", \
                 or a Name ending in In/Out)",
            ));
        }
        totals.push(Totals {
            counter_id: device.clone(),
            line: String::new(),
            order,
            at_ms,
            entries,
            exits,
        });
    }
    totals.sort_by_key(|t| t.order);
    Ok(Decoded {
        device,
        traffic: Vec::new(),
        totals,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shape of a Vector 4D push with its usual extra fields (which we ignore).
    const TWO_LOGS: &[u8] = br#"{"CountLogs":[{"Counts":[{"LogPeriodValue":2,"Name":"Line 1","RegisterId":0,"RegisterType":"Line","Tags":["direction=IN"],"UUID":"93e95be9","Value":6},{"LogPeriodValue":1,"Name":"Line 2","RegisterId":1,"RegisterType":"Custom","Tags":["direction=OUT"],"UUID":"3cc89f5a","Value":8},{"Name":"Occupancy","RegisterId":2,"Value":3}],"LogEntryId":3995,"StartTimestamp":"2020-08-05T08:11:00Z","Timestamp":"2020-08-05T08:12:00Z"},{"Counts":[{"LogPeriodValue":1,"Name":"Line 1","RegisterId":0,"RegisterType":"Line","Tags":["direction=IN"],"UUID":"93e95be9","Value":4},{"LogPeriodValue":1,"Name":"Line 2","RegisterId":1,"RegisterType":"Custom","Tags":["direction=OUT"],"UUID":"3cc89f5a","Value":7}],"LogEntryId":3994,"StartTimestamp":"2020-08-05T08:10:00Z","Timestamp":"2020-08-05T08:11:00Z","TimestampLocaltime":"2020-08-05T11:11:00+03:00"}],"DeviceID":"D001","DeviceName":"DefaultName","FriendlyDeviceSerial":"V4D-20050095","SiteName":"DefaultSiteName"}"#;

    #[test]
    fn logs_become_totals_in_log_order() {
        let d = decode(TWO_LOGS).unwrap();
        assert_eq!(d.device, "V4D-20050095");
        assert!(d.traffic.is_empty());
        assert_eq!(
            d.totals,
            vec![
                Totals {
                    counter_id: "V4D-20050095".into(),
                    line: String::new(),
                    order: 3994,
                    at_ms: 1_596_615_060_000,
                    entries: 4,
                    exits: 7,
                },
                Totals {
                    counter_id: "V4D-20050095".into(),
                    line: String::new(),
                    order: 3995,
                    at_ms: 1_596_615_120_000,
                    entries: 6,
                    exits: 8,
                },
            ]
        );
    }

    #[test]
    fn direction_from_names_when_untagged() {
        let body = br#"{"CountLogs":[{"Counts":[{"Name":"Door In","RegisterId":"1","Value":10},{"Name":"Door In","RegisterId":"3","Value":5},{"Name":"door OUT","RegisterId":"2","Value":9}],"LogEntryId":1,"Timestamp":"2024-01-01T10:00:00+01:00"}],"FriendlyDeviceSerial":"V4D-1"}"#;
        let d = decode(body).unwrap();
        assert_eq!((d.totals[0].entries, d.totals[0].exits), (15, 9));
        assert_eq!(d.totals[0].at_ms, 1_704_099_600_000);
    }

    #[test]
    fn errors_name_the_register() {
        let e = decode(br#"{"CountLogs":[{"Counts":[{"Name":"In","RegisterId":0}],"LogEntryId":1,"Timestamp":"2024-01-01T10:00:00Z"}]}"#).unwrap_err();
        assert_eq!(
            e,
            DecodeError::Missing("CountLogs[0].Counts[0].Value".into())
        );
        let e = decode(br#"{"CountLogs":[{"Counts":[{"Name":"Occupancy","Value":1}],"LogEntryId":1,"Timestamp":"2024-01-01T10:00:00Z"}]}"#).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("field `CountLogs[0].Counts`: no register counts in or out"),
            "{e}"
        );
        let e = decode(br#"{"CountLogs":[{"Counts":[],"LogEntryId":1,"Timestamp":"yesterday"}]}"#)
            .unwrap_err();
        assert!(e
            .to_string()
            .starts_with("field `CountLogs[0].Timestamp`: expected"));
        let e = decode(br#"{"CountLogs":[{"Counts":[{"Name":"In","Value":18446744073709551615},{"Name":"In","Value":1}],"LogEntryId":1,"Timestamp":"2024-01-01T10:00:00Z"}]}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "field `CountLogs[0].Counts[1].Value`: sum of registers overflows"
        );
    }
}
