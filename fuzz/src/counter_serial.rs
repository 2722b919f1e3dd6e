//! The beam counters' serial line protocol (`counter::serial::LineDecoder`: `IN n`, `OUT n`,
//! `TOTAL in out`, comments), as `counter_serial` reads it from the port.
//!
//! Input: byte 0 a split point; the rest is the byte stream.
//!
//! Asserted besides "no panic": the events do not depend on how reads split the stream (all at
//! once, split at the chosen point, one byte per read); a line that is refused keeps at most
//! `MAX_LINE_BYTES + 2` bytes raw (the splitter's
//! slack), with a reason; the counts of `IN` and `OUT` lines
//! are the numbers the lines say.

use store_drivers::counter::serial::LineDecoder;
use store_drivers::counter::serial_line::{parse_line, LineSplitter, Message, MAX_LINE_BYTES};
use store_proto::v1::DeviceState;
use store_proto::Body;

const NOW_MS: i64 = 1_700_000_000_000;

/// One fuzz input: panics when an invariant above is broken.
pub fn run(data: &[u8]) {
    let Some((&split, stream)) = data.split_first() else {
        return;
    };
    let at = usize::from(split) % (stream.len() + 1);
    let whole = events(&[stream]);
    let (a, b) = stream.split_at(at);
    assert_eq!(whole, events(&[a, b]), "split at {at}");
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(whole, events(&bytes), "one byte per read");

    // What the lines say, read on their own.
    let (mut said_in, mut said_out) = (0u64, 0u64);
    for line in LineSplitter::new().push(stream) {
        match parse_line(&line) {
            Ok(Some(Message::In(n))) => said_in += u64::from(n),
            Ok(Some(Message::Out(n))) => said_out += u64::from(n),
            _ => {}
        }
    }
    let (mut counted_in, mut counted_out) = (0u64, 0u64);
    for body in &whole {
        match body {
            Body::FootTraffic(t) => {
                assert!(t.interval_start_ms <= t.interval_end_ms, "{t:?}");
                counted_in += u64::from(t.entries);
                counted_out += u64::from(t.exits);
            }
            Body::DeviceStatus(s) => {
                assert_eq!(s.state, DeviceState::DecodeError as i32);
                assert!(
                    s.raw.len() <= MAX_LINE_BYTES + 2,
                    "{} raw bytes",
                    s.raw.len()
                );
                assert!(!s.reason.is_empty());
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // TOTAL lines add counts of their own; without them the counts are exactly the lines'.
    if !stream.windows(5).any(|w| w.eq_ignore_ascii_case(b"total")) {
        assert_eq!((counted_in, counted_out), (said_in, said_out));
    }
}

fn events(reads: &[&[u8]]) -> Vec<Body> {
    let mut d = LineDecoder::new("beam-1", "main");
    let mut out = Vec::new();
    for r in reads {
        out.extend(d.feed(r, NOW_MS));
    }
    out.extend(d.finish());
    out
}
