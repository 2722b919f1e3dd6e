//! Hikvision cameras: ISAPI people-counting metadata (Hikvision "Intelligent Security API
//! (Metadata) Developer Guide", `JSON_Metadata_PeopleCounting`).
//!
//! ```text
//! {"Metadata":{"type":"ruleTarget","subType":"PeopleCounting","time":"2017-01-01T00:00:00+08:00",
//!   "DevInfo":{"ipAddress":"192.168.0.64","portNo":"554","macAddress":"28:57:be:ee:d1:5a","channel":"1"},
//!   "Situation":{"enterRegionPeopleNum":3,"leaveRegionPeopleNum":1}}}
//! ```
//!
//! Decisions:
//! - A `PeopleCounting` message becomes one tick (start = end = `time`, whose zone offset is
//!   honoured) with `enterRegionPeopleNum` as entries and `leaveRegionPeopleNum` as exits: the
//!   counts are taken as people counted since the previous message. (Unverified against a
//!   device: if a firmware sends running totals instead, this decoder would over-count.)
//! - Other metadata (`framesPeopleCounting` region occupancy, heat maps) is not foot traffic: it
//!   decodes to nothing, so a camera that pushes every kind of metadata is not answered with
//!   errors.
//! - The device is `DevInfo.macAddress` (else `ipAddress`), with `/<channel>` appended when the
//!   message names a channel, so the channels of a recorder stay apart.

use super::json::{self, Node};
use crate::counter::reading::{interval, DecodeError, Decoded};

/// Decodes one metadata message.
pub fn decode(body: &[u8]) -> Result<Decoded, DecodeError> {
    let value = json::parse(body)?;
    let root = Node::root(&value);
    let metadata = root.get("Metadata")?;
    let sub_type = match metadata.opt("subType")? {
        Some(s) => s.str()?,
        None => "",
    };
    if sub_type != "PeopleCounting" {
        return Ok(Decoded::default());
    }
    let mut device = String::new();
    let mut channel = String::new();
    if let Some(info) = metadata.opt("DevInfo")? {
        device = json::opt_id(&info, "macAddress")?;
        if device.is_empty() {
            device = json::opt_id(&info, "ipAddress")?;
        }
        channel = json::opt_id(&info, "channel")?;
    }
    let counter_id = if channel.is_empty() {
        device.clone()
    } else {
        format!("{device}/{channel}")
    };
    let at = metadata.get("time")?.iso_time()?;
    let situation = metadata.get("Situation")?;
    let entries = situation.get("enterRegionPeopleNum")?.u32()?;
    let exits = situation.get("leaveRegionPeopleNum")?.u32()?;
    Ok(Decoded {
        device,
        traffic: vec![interval(&counter_id, "", at, at, entries, exits)],
        totals: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_counting_message() {
        let body = br#"{"Metadata":{"type":"ruleTarget","subType":"PeopleCounting","time":"2017-01-01T00:00:00+08:00","DevInfo":{"ipAddress":"192.168.0.64","portNo":"554","macAddress":"28:57:be:ee:d1:5a","channel":"1"},"Situation":{"enterRegionPeopleNum":3,"leaveRegionPeopleNum":1}}}"#;
        let d = decode(body).unwrap();
        assert_eq!(d.device, "28:57:be:ee:d1:5a");
        assert_eq!(d.traffic.len(), 1);
        let t = &d.traffic[0];
        assert_eq!(t.counter_id, "28:57:be:ee:d1:5a/1");
        assert_eq!(t.line, "");
        // 2017-01-01T00:00:00+08:00 = 2016-12-31T16:00:00Z
        assert_eq!(t.interval_start_ms, 1_483_200_000_000);
        assert_eq!(t.interval_end_ms, 1_483_200_000_000);
        assert_eq!((t.entries, t.exits), (3, 1));
    }

    #[test]
    fn other_metadata_decodes_to_nothing() {
        let body = br#"{"Metadata":{"type":"ruleTarget","subType":"framesPeopleCounting","time":"2017-01-01T00:00:00+08:00","Situation":{"personCount":4}}}"#;
        assert_eq!(decode(body).unwrap(), Decoded::default());
    }

    #[test]
    fn errors_name_the_field() {
        let e = decode(br#"{"Metadata":{"subType":"PeopleCounting","time":"2017-01-01T00:00:00Z","Situation":{"enterRegionPeopleNum":3}}}"#).unwrap_err();
        assert_eq!(
            e,
            DecodeError::Missing("Metadata.Situation.leaveRegionPeopleNum".into())
        );
        let e =
            decode(br#"{"Metadata":{"subType":"PeopleCounting","time":"1 Jan","Situation":{}}}"#)
                .unwrap_err();
        assert!(
            e.to_string().starts_with("field `Metadata.time`: expected"),
            "{e}"
        );
        let e = decode(br#"{"Metadata":{"subType":7}}"#).unwrap_err();
        assert_eq!(e.to_string(), "field `Metadata.subType` must be a string");
        let e = decode(br#"{"EventNotificationAlert":{}}"#).unwrap_err();
        assert_eq!(e, DecodeError::Missing("Metadata".into()));
    }
}
