//! Builds the EventBatch payload straight from the journal's encoded events.
//!
//! The journal already holds each `Event` protobuf-encoded, and a repeated message field on the
//! wire is just `key, length, bytes` per element, so the batch is the encoded header fields
//! followed by the stored bytes: no decode and re-encode per event.

use prost::encoding::{encode_key, encode_varint, WireType};
use prost::Message;
use store_proto::EventBatch;

/// Field number of `EventBatch.events` in events.proto.
const EVENTS_FIELD: u32 = 5;

/// Who is sending.
#[derive(Debug, Clone)]
pub struct Identity {
    pub store_id: String,
    pub agent_id: String,
    pub boot_id: String,
}

/// Encodes a batch from already-encoded events.
pub fn encode<'a>(
    identity: &Identity,
    historical: bool,
    sent_wall_time_ms: i64,
    events: impl IntoIterator<Item = &'a [u8]>,
) -> Vec<u8> {
    let header = EventBatch {
        store_id: identity.store_id.clone(),
        agent_id: identity.agent_id.clone(),
        boot_id: identity.boot_id.clone(),
        historical,
        events: Vec::new(),
        sent_wall_time_ms,
    };
    let mut out = Vec::with_capacity(header.encoded_len() + 64 * 1024);
    header.encode(&mut out).expect("Vec grows as needed");
    for bytes in events {
        encode_key(EVENTS_FIELD, WireType::LengthDelimited, &mut out);
        encode_varint(bytes.len() as u64, &mut out);
        out.extend_from_slice(bytes);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use store_proto::v1::Scan;
    use store_proto::{Body, Event};

    #[test]
    fn matches_a_normally_encoded_batch() {
        let events: Vec<Event> = (1..=3)
            .map(|seq| Event {
                seq,
                device_id: "s".into(),
                body: Some(Body::Scan(Scan {
                    data: "x".repeat(seq as usize * 100),
                    ..Default::default()
                })),
                ..Default::default()
            })
            .collect();
        let encoded: Vec<Vec<u8>> = events.iter().map(|e| e.encode_to_vec()).collect();
        let id = Identity {
            store_id: "st".into(),
            agent_id: "ag".into(),
            boot_id: "b".into(),
        };
        let bytes = encode(&id, true, 7, encoded.iter().map(Vec::as_slice));
        let batch = EventBatch::decode(bytes.as_slice()).unwrap();
        assert_eq!(batch.events, events);
        assert!(batch.historical);
        assert_eq!(
            (batch.store_id.as_str(), batch.sent_wall_time_ms),
            ("st", 7)
        );
    }
}
