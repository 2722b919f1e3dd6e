//! Wire format of store-edge.
//!
//! The `.proto` files under `proto/` are the single source of truth; `build.rs` compiles them with
//! protox and prost-build, so no system `protoc` is needed. This crate adds only small, I/O-free
//! helpers on top: the MQTT topic names ([`topics`]) and the event classes used by the agent's
//! journal when it has to shed ([`EventClass`]).

#![allow(clippy::derive_partial_eq_without_eq)]

/// Generated from `proto/store/edge/v1/*.proto`.
#[allow(missing_docs, clippy::all)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/store.edge.v1.rs"));
}

pub mod seqset;
pub mod topics;

pub use seqset::SeqSet;
pub use v1::event::Body;
pub use v1::{Event, EventBatch};

/// Which class an event belongs to when the journal's byte budget forces loss.
///
/// Classes are shed in ascending order of their shed rank (`store-agent`'s journal budget): foot-traffic ticks are
/// coalesced first, diagnostics are dropped next, then foot traffic, and sales and stock events
/// (scans, POS transactions) last. `DataLoss` events are never shed: they are the record of loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum EventClass {
    /// Device status and decode errors.
    Diagnostic = 1,
    /// People-counter ticks.
    FootTraffic = 2,
    /// Scans and POS transactions: sales and stock.
    Business = 3,
    /// DataLoss records.
    Critical = 4,
}

impl EventClass {
    /// All classes, in the order the budget policy considers them for dropping.
    pub const SHED_ORDER: [EventClass; 3] = [
        EventClass::Diagnostic,
        EventClass::FootTraffic,
        EventClass::Business,
    ];

    /// The class of an event body (`None` body counts as diagnostic).
    pub fn of(body: Option<&Body>) -> Self {
        match body {
            Some(Body::FootTraffic(_)) => EventClass::FootTraffic,
            Some(Body::Scan(_)) | Some(Body::PosTransaction(_)) => EventClass::Business,
            Some(Body::DataLoss(_)) => EventClass::Critical,
            Some(Body::DeviceStatus(_)) | None => EventClass::Diagnostic,
        }
    }

    /// Stable one-byte tag stored in front of each journal entry.
    pub fn tag(self) -> u8 {
        self as u8
    }

    /// Inverse of [`EventClass::tag`].
    pub fn from_tag(tag: u8) -> Option<Self> {
        match tag {
            1 => Some(EventClass::Diagnostic),
            2 => Some(EventClass::FootTraffic),
            3 => Some(EventClass::Business),
            4 => Some(EventClass::Critical),
            _ => None,
        }
    }

    /// Name used in `ClassCount.class` and in logs.
    pub fn name(self) -> &'static str {
        match self {
            EventClass::Diagnostic => "device_status",
            EventClass::FootTraffic => "foot_traffic",
            EventClass::Business => "business",
            EventClass::Critical => "data_loss",
        }
    }
}

/// Short name of an event's kind ("scan", "pos_transaction", ...), used in stats and logs.
pub fn kind_name(body: Option<&Body>) -> &'static str {
    match body {
        Some(Body::Scan(_)) => "scan",
        Some(Body::PosTransaction(_)) => "pos_transaction",
        Some(Body::FootTraffic(_)) => "foot_traffic",
        Some(Body::DeviceStatus(_)) => "device_status",
        Some(Body::DataLoss(_)) => "data_loss",
        None => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn batch_round_trips() {
        let batch = EventBatch {
            store_id: "s1".into(),
            agent_id: "a1".into(),
            historical: true,
            events: vec![Event {
                seq: 42,
                body: Some(Body::FootTraffic(v1::FootTraffic {
                    entries: 3,
                    ..Default::default()
                })),
                ..Default::default()
            }],
            ..Default::default()
        };
        let bytes = batch.encode_to_vec();
        let back = EventBatch::decode(bytes.as_slice()).unwrap();
        assert_eq!(back, batch);
        assert_eq!(
            EventClass::of(back.events[0].body.as_ref()),
            EventClass::FootTraffic
        );
    }

    #[test]
    fn class_tags_round_trip() {
        for c in [
            EventClass::Diagnostic,
            EventClass::FootTraffic,
            EventClass::Business,
            EventClass::Critical,
        ] {
            assert_eq!(EventClass::from_tag(c.tag()), Some(c));
        }
        assert_eq!(EventClass::from_tag(0), None);
    }
}
