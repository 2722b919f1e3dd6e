//! The peer the benchmark compares store-edge with: the usual Mosquitto-bridge setup.
//!
//! A device publishes each event at QoS 1 to a Mosquitto in the store (persistence on), which
//! bridges the topic to a central Mosquitto at HQ (`cleansession false`, no queue limit); a
//! central subscriber stands in for HQ. An event counts as confirmed at the device when the local
//! broker PUBACKs it, and as arrived when the central subscriber receives it.
//!
//! Parts, each with one job:
//! - [`bridge`]: the two brokers' config text (pure, unit-tested), in the two durability
//!   settings compared ([`Durability`]).
//! - [`wire`]: just enough MQTT 3.1.1 framing for a fast pipelined client, with bounded reads.
//! - [`publisher`]: the device: QoS 1 publishes paced like the line-feed writer (flat out or at a
//!   rate, a window of unacknowledged publishes), counting PUBACKs.
//! - [`subscriber`]: the central subscriber: records when each event first arrived, reconnects
//!   when the central broker comes back.
//! - [`stack`]: one central broker, one local bridged broker and a subscriber, wired together.

pub mod bridge;
pub mod publisher;
pub mod stack;
pub mod subscriber;
pub mod wire;

pub use bridge::Durability;
pub use publisher::{PeerPublisher, PublisherOptions, PublisherReport};
pub use stack::PeerStack;
pub use subscriber::CentralSubscriber;

/// The topic the peer's device publishes on (bridged out by the local broker).
pub const TOPIC: &str = "bench/store-1/events";

/// The payload of event `index`: its index, a space, then the line the line-feed writer would
/// send for the same index, so both systems carry the same bytes per event.
pub fn payload(index: u64) -> Vec<u8> {
    let mut p = format!("{index} ").into_bytes();
    p.extend_from_slice(crate::events::line(index).trim_end().as_bytes());
    p
}

/// The event index at the start of a payload made by [`payload`].
pub fn index_of(payload: &[u8]) -> Option<u64> {
    let end = payload.iter().position(|&b| b == b' ')?;
    std::str::from_utf8(&payload[..end]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_its_index() {
        for i in [0, 1, 42, 1_000_000] {
            assert_eq!(index_of(&payload(i)), Some(i));
        }
        assert_eq!(index_of(b"nope"), None);
        assert_eq!(index_of(b"x1 line"), None);
    }
}
