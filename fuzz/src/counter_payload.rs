//! The people-counter payloads that `counter_push` accepts over HTTP: AXIS People Counter live
//! sums, AXIS 3D People Counter exports, Xovis live data, Irisys count logs, Hikvision
//! `PeopleCounting` metadata and VIVOTEK counting reports (`counter::vendor::decode`), as the
//! driver labels and journals them (`counter::push::{PayloadDecoder, PushReplay}`).
//!
//! Input: byte 0 picks the vendor (modulo 6); the rest is the posted body.
//!
//! Asserted besides "no panic": the decode is deterministic; an undecodable body becomes one
//! decode-error status naming the vendor, keeping at most `MAX_RAW_BYTES` of the body; every
//! count is labelled (device and line) and its interval does not end before it starts; the
//! body posted a second time (a device retrying) adds no counts from running totals: only its
//! interval counts come again.

use store_drivers::counter::push::decode::MAX_RAW_BYTES;
use store_drivers::counter::push::{PayloadDecoder, PushReplay};
use store_drivers::counter::Vendor;
use store_proto::v1::DeviceState;
use store_proto::Body;

pub const VENDORS: [Vendor; 6] = [
    Vendor::Axis,
    Vendor::Axis3d,
    Vendor::Xovis,
    Vendor::Irisys,
    Vendor::Hikvision,
    Vendor::Vivotek,
];

/// One fuzz input: panics when an invariant above is broken.
pub fn run(data: &[u8]) {
    let Some((&v, body)) = data.split_first() else {
        return;
    };
    let vendor = VENDORS[usize::from(v) % VENDORS.len()];
    let decoder = PayloadDecoder::new(vendor, "door-1", "main");
    let decoded = decoder.decode(body);
    assert_eq!(decoded, decoder.decode(body), "not deterministic");
    let mut replay = PushReplay::new(decoder);
    let first = replay.feed(body);
    let second = replay.feed(body);
    match decoded {
        Err(rejected) => {
            assert_eq!(first, second);
            assert_eq!(first.len(), 1);
            let Body::DeviceStatus(s) = &first[0] else {
                panic!("a rejected body became {first:?}");
            };
            assert_eq!(s.state, DeviceState::DecodeError as i32);
            assert!(s.reason.starts_with(vendor.name()), "{:?}", s.reason);
            assert!(s.raw.len() <= MAX_RAW_BYTES && body.starts_with(&s.raw));
            assert_eq!(s.raw, rejected.raw);
        }
        Ok(decoded) => {
            for body in first.iter().chain(&second) {
                let Body::FootTraffic(t) = body else {
                    panic!("a decoded body became {body:?}");
                };
                assert!(!t.counter_id.is_empty() && !t.line.is_empty(), "{t:?}");
                assert!(
                    t.interval_start_ms <= t.interval_end_ms,
                    "interval ends before it starts: {t:?}"
                );
            }
            assert!(first.len() >= decoded.traffic.len());
            let again: Vec<Body> = decoded.traffic.into_iter().map(Body::FootTraffic).collect();
            assert_eq!(second, again, "running totals counted twice");
        }
    }
}
