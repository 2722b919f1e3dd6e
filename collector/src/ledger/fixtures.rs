//! Events and batches for unit tests across the collector.

use store_proto::v1::{DataLoss, FootTraffic, Scan, SeqRange};
use store_proto::{Body, Event, EventBatch};

pub(crate) fn scan(seq: u64) -> Event {
    Event {
        seq,
        body: Some(Body::Scan(Scan {
            data: format!("0400000000{seq:04}"),
            ..Default::default()
        })),
        ..Default::default()
    }
}

pub(crate) fn foot(seq: u64, entries: u32, exits: u32) -> Event {
    Event {
        seq,
        body: Some(Body::FootTraffic(FootTraffic {
            entries,
            exits,
            ..Default::default()
        })),
        ..Default::default()
    }
}

pub(crate) fn loss(seq: u64, ranges: &[(u64, u64)]) -> Event {
    Event {
        seq,
        body: Some(Body::DataLoss(DataLoss {
            ranges: ranges
                .iter()
                .map(|&(first, last)| SeqRange { first, last })
                .collect(),
            ..Default::default()
        })),
        ..Default::default()
    }
}

pub(crate) fn batch(events: Vec<Event>) -> EventBatch {
    EventBatch {
        store_id: "s1".into(),
        agent_id: "a1".into(),
        events,
        ..Default::default()
    }
}

pub(crate) fn scans(range: std::ops::RangeInclusive<u64>) -> EventBatch {
    batch(range.map(scan).collect())
}
