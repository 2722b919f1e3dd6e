//! Xovis sensors: live data push (Xovis sensor API documentation, "data push", live data).
//!
//! ```text
//! {"live_data":{"package_info":{"version":"5.0","id":150,"agent_id":1005},
//!   "frames":[{"framenumber":4137403,"time":1645780665470,
//!     "events":[{"category":"COUNT","type":"COUNT_INCREMENT",
//!                "attributes":{"counter_id":1001,"logic_name":"Entrance"}}]}]}}
//! ```
//!
//! Each `COUNT` event is one person counted by a counting logic. `attributes.counter_id` is
//! `logic × 1000 + 1` for the forward direction and `logic × 1000 + 2` for the backward one; we
//! count forward as in and backward as out, so set the line up with forward pointing into the
//! store. `time` is the frame's time in epoch milliseconds.
//!
//! Decisions:
//! - Counts of one frame are summed per logic into one [`FootTraffic`](store_proto::v1::FootTraffic)
//!   tick (start = end = frame time); the line is the event's `logic_name`, or `logic <n>` when
//!   the event has none.
//! - Events of other categories (`SCENE`, track events), other counters of a logic (ids ending
//!   in anything but 1 or 2, e.g. balance counters) and `COUNT_DECREMENT` events are not foot
//!   traffic and are skipped. An event without `type` counts as an increment.
//! - The live data package names no sensor, so the driver's id stands in as counter id: give
//!   each sensor its own driver (or its own line names).

use std::collections::BTreeMap;

use super::json::{self, Node};
use crate::counter::reading::{interval, DecodeError, Decoded};

/// Decodes a live data package into per-frame, per-logic ticks.
pub fn decode(body: &[u8]) -> Result<Decoded, DecodeError> {
    let value = json::parse(body)?;
    let root = Node::root(&value);
    let live = root.get("live_data")?;
    let mut traffic = Vec::new();
    for frame in live.get("frames")?.items()? {
        let Some(events) = frame.opt("events")? else {
            continue;
        };
        // line → (entries, exits), in a stable order.
        let mut counts: BTreeMap<String, (u32, u32)> = BTreeMap::new();
        for event in events.items()? {
            if event.get("category")?.str()? != "COUNT" {
                continue;
            }
            if let Some(kind) = event.opt("type")? {
                if kind.str()? != "COUNT_INCREMENT" {
                    continue;
                }
            }
            let attributes = event.get("attributes")?;
            let counter_id = attributes.get("counter_id")?.u64()?;
            let (logic, direction) = (counter_id / 1000, counter_id % 1000);
            if direction != 1 && direction != 2 {
                continue;
            }
            let line = match attributes.opt("logic_name")? {
                Some(name) if !name.str()?.trim().is_empty() => name.str()?.trim().to_owned(),
                _ => format!("logic {logic}"),
            };
            let entry = counts.entry(line).or_default();
            if direction == 1 {
                entry.0 = entry.0.saturating_add(1);
            } else {
                entry.1 = entry.1.saturating_add(1);
            }
        }
        if counts.is_empty() {
            continue;
        }
        let at = frame.get("time")?.epoch_ms()?;
        for (line, (entries, exits)) in counts {
            traffic.push(interval("", &line, at, at, entries, exits));
        }
    }
    Ok(Decoded {
        device: String::new(),
        traffic,
        totals: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_FRAMES: &[u8] = br#"{"live_data":{"package_info":{"version":"5.0","id":150,"agent_id":1005},"frames":[{"framenumber":4137403,"time":1645780665470,"tracked_objects":[{"track_id":490,"type":"PERSON","position":[-0.04,0.07,1.73],"attributes":{}}],"events":[{"category":"COUNT","type":"COUNT_INCREMENT","attributes":{"counter_id":1001,"counter_name":"fw","counter_value":17,"logic_name":"Entrance"}},{"category":"COUNT","type":"COUNT_INCREMENT","attributes":{"counter_id":1001,"counter_name":"fw","counter_value":18,"logic_name":"Entrance"}},{"category":"COUNT","type":"COUNT_INCREMENT","attributes":{"counter_id":1002,"counter_name":"bw","counter_value":4,"logic_name":"Entrance"}},{"category":"SCENE","type":"LINE_CROSS_FORWARD","attributes":{"track_id":490}},{"category":"COUNT","type":"COUNT_INCREMENT","attributes":{"counter_id":1003,"counter_name":"balance"}}]},{"framenumber":4137404,"time":1645780665510},{"framenumber":4137405,"time":1645780665550,"events":[{"category":"COUNT","attributes":{"counter_id":2002}},{"category":"COUNT","type":"COUNT_DECREMENT","attributes":{"counter_id":2001}}]}]}}"#;

    #[test]
    fn counts_forward_as_in_and_backward_as_out_per_logic() {
        let d = decode(TWO_FRAMES).unwrap();
        assert_eq!(d.device, "");
        assert!(d.totals.is_empty());
        assert_eq!(d.traffic.len(), 2, "{:?}", d.traffic);
        let a = &d.traffic[0];
        assert_eq!(a.line, "Entrance");
        assert_eq!((a.entries, a.exits), (2, 1));
        assert_eq!(
            (a.interval_start_ms, a.interval_end_ms),
            (1_645_780_665_470, 1_645_780_665_470)
        );
        let b = &d.traffic[1];
        assert_eq!(b.line, "logic 2");
        assert_eq!((b.entries, b.exits), (0, 1));
        assert_eq!(b.interval_start_ms, 1_645_780_665_550);
    }

    #[test]
    fn errors_name_the_event() {
        let e = decode(br#"{"live_data":{"frames":[{"time":1,"events":[{"category":"COUNT","attributes":{"logic_name":"x"}}]}]}}"#).unwrap_err();
        assert_eq!(
            e,
            DecodeError::Missing("live_data.frames[0].events[0].attributes.counter_id".into())
        );
        let e = decode(br#"{"live_data":{"frames":[{"events":[{"category":"COUNT","attributes":{"counter_id":1001}}]}]}}"#).unwrap_err();
        assert_eq!(e, DecodeError::Missing("live_data.frames[0].time".into()));
        let e = decode(br#"{"live_data":{"frames":[{"time":"now","events":[{"category":"COUNT","attributes":{"counter_id":"1001"}}]}]}}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "field `live_data.frames[0].events[0].attributes.counter_id` must be a non-negative integer"
        );
        let e = decode(br#"{"status_data":{}}"#).unwrap_err();
        assert_eq!(e, DecodeError::Missing("live_data".into()));
    }
}
