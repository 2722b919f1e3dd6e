//! The pure half of `counter_push`: one posted payload in, labelled counts or the decode-error
//! status the driver journals out.
//!
//! Used by the driver's HTTP handler and by `store-agent replay-capture`, so a capture replays
//! exactly as the driver records it. Running totals are left to a
//! [`Trackers`]: the driver moves it past a sample only once
//! the journal stored the event ([`PushReplay`] is the case where every event is stored).

use store_proto::v1::{DeviceState, DeviceStatus, FootTraffic};
use store_proto::Body;

use crate::counter::reading::{Decoded, Vendor};
use crate::counter::tracker::Trackers;
use crate::counter::vendor;

/// How much of an undecodable body is kept in its `DeviceStatus` event.
pub const MAX_RAW_BYTES: usize = 4096;

/// Decodes one driver's payloads and labels their counts.
#[derive(Debug, Clone)]
pub struct PayloadDecoder {
    vendor: Vendor,
    id: String,
    line: String,
}

/// A payload that could not be decoded: why, and the start of it, kept raw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub reason: String,
    pub raw: Vec<u8>,
}

impl Rejected {
    /// The decode-error status the driver journals for it.
    pub fn into_body(self) -> Body {
        Body::DeviceStatus(DeviceStatus {
            state: DeviceState::DecodeError as i32,
            reason: self.reason,
            raw: self.raw,
        })
    }
}

impl PayloadDecoder {
    /// Counts that name no device get `id` (the driver's id); no line, the configured `line`.
    pub fn new(vendor: Vendor, id: impl Into<String>, line: impl Into<String>) -> Self {
        PayloadDecoder {
            vendor,
            id: id.into(),
            line: line.into(),
        }
    }

    pub fn vendor(&self) -> Vendor {
        self.vendor
    }

    /// One payload, decoded with the vendor's decoder and labelled.
    pub fn decode(&self, body: &[u8]) -> Result<Decoded, Rejected> {
        let mut decoded = vendor::decode(self.vendor, body).map_err(|e| Rejected {
            reason: format!("{} payload: {e}", self.vendor.name()),
            raw: body.get(..MAX_RAW_BYTES).unwrap_or(body).to_vec(),
        })?;
        for t in &mut decoded.traffic {
            self.label(&mut t.counter_id, &mut t.line);
        }
        for t in &mut decoded.totals {
            self.label(&mut t.counter_id, &mut t.line);
        }
        Ok(decoded)
    }

    /// Labels counts that name no device or line with the driver's id and configured line.
    fn label(&self, counter_id: &mut String, line: &mut String) {
        if counter_id.is_empty() {
            counter_id.clone_from(&self.id);
        }
        if line.is_empty() {
            line.clone_from(&self.line);
        }
    }
}

/// A run of payloads as the driver records them when the journal stores every event: interval
/// counts first, then the differences of the running totals.
#[derive(Debug)]
pub struct PushReplay {
    payloads: PayloadDecoder,
    trackers: Trackers,
}

impl PushReplay {
    pub fn new(payloads: PayloadDecoder) -> Self {
        PushReplay {
            payloads,
            trackers: Trackers::new(),
        }
    }

    /// The events of one payload, in the order the driver journals them.
    pub fn feed(&mut self, payload: &[u8]) -> Vec<Body> {
        let decoded = match self.payloads.decode(payload) {
            Ok(d) => d,
            Err(rejected) => return vec![rejected.into_body()],
        };
        let mut traffic: Vec<FootTraffic> = decoded.traffic;
        if !decoded.totals.is_empty() {
            let plan = self.trackers.plan(&decoded.totals);
            traffic.extend(plan.traffic.iter().cloned());
            let stored = plan.traffic.len();
            self.trackers.commit(plan, stored);
        }
        traffic.into_iter().map(Body::FootTraffic).collect()
    }
}
