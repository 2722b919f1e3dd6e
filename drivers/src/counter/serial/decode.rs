//! The pure half of `counter_serial`: bytes read from the port in, event bodies out.
//!
//! Used by the driver's read loop and by `store-agent replay-capture`, so a capture replays
//! exactly as the driver records it. The caller says when the bytes arrived (`now_ms`, the
//! reception time the counts are stamped with) and when the stream ended ([`finish`]).
//!
//! [`finish`]: LineDecoder::finish

use store_proto::v1::{DeviceState, DeviceStatus};
use store_proto::Body;

use crate::counter::serial_line::{LineSplitter, SerialLineCounter};

/// The reason of the decode error for bytes after the last LF when the stream ends.
pub const CUT_OFF_REASON: &str = "line cut off when the port went away; not counted";

/// One port's line protocol: splits lines and counts them, with the `TOTAL` baselines.
#[derive(Debug)]
pub struct LineDecoder {
    splitter: LineSplitter,
    counter: SerialLineCounter,
}

impl LineDecoder {
    /// Counts recorded with `counter_id` (the driver's id) and the configured `line`.
    pub fn new(counter_id: impl Into<String>, line: impl Into<String>) -> Self {
        LineDecoder {
            splitter: LineSplitter::new(),
            counter: SerialLineCounter::new(counter_id.into(), line.into()),
        }
    }

    /// The events of the lines `bytes` complete, all received at `now_ms`.
    pub fn feed(&mut self, bytes: &[u8], now_ms: i64) -> Vec<Body> {
        self.lines(bytes)
            .iter()
            .filter_map(|line| self.line(line, now_ms))
            .collect()
    }

    /// The lines `bytes` complete, for a caller that reads the clock per line (the driver: a
    /// line waits for the journal to take the one before it).
    pub fn lines(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        self.splitter.push(bytes)
    }

    /// What one complete line, received at `now_ms`, becomes.
    pub fn line(&mut self, line: &[u8], now_ms: i64) -> Option<Body> {
        line_body(&mut self.counter, line, now_ms)
    }

    /// The stream ended: bytes after the last LF are not counted (a cut-off `IN 12` may have
    /// been `IN 120`) but kept raw in a decode error.
    pub fn finish(&mut self) -> Option<Body> {
        let partial = self.splitter.finish()?;
        Some(status(
            DeviceState::DecodeError,
            CUT_OFF_REASON.into(),
            partial,
        ))
    }
}

/// What one received line becomes: foot traffic, a decode error with the line kept raw
/// (without its terminator), or nothing (blank, comment, baseline, `TOTAL` without news).
pub fn line_body(counter: &mut SerialLineCounter, line: &[u8], now_ms: i64) -> Option<Body> {
    match counter.feed(line, now_ms) {
        Ok(traffic) => traffic.map(Body::FootTraffic),
        Err(e) => {
            let raw = line.strip_suffix(b"\r").unwrap_or(line).to_vec();
            Some(status(DeviceState::DecodeError, e.to_string(), raw))
        }
    }
}

/// A device status body (`raw` empty unless it is a decode error).
pub(crate) fn status(state: DeviceState, reason: String, raw: Vec<u8>) -> Body {
    Body::DeviceStatus(DeviceStatus {
        state: state as i32,
        reason,
        raw,
    })
}
