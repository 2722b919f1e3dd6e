//! What every vendor decoder returns: the shared vocabulary of the counter decoders.
//!
//! A leaf module: it imports nothing from the vendor decoders (which import it), so the
//! dependency runs one way, `vendor::* → reading`. The choice of decoder by vendor lives in
//! [`super::vendor`].
//!
//! Decoders are pure: bytes in, [`Decoded`] or a [`DecodeError`] naming the field out. They never
//! panic, whatever the input (see the fuzz tests in `counter/fuzz.rs`).
//!
//! Counters report in one of two ways:
//! - **intervals** (Axis 3D, Xovis, Hikvision, Vivotek): "so many in and out between these two
//!   times" — ready to journal as [`FootTraffic`];
//! - **running totals** (Axis People Counter live sums, Irisys registers): "so many in and out
//!   since the counter was reset" — [`Totals`], which a
//!   [`Trackers`](super::tracker::Trackers) turns into intervals by subtracting consecutive
//!   samples.

use serde::Deserialize;
use store_proto::v1::FootTraffic;

/// Which payload format a `counter_push` driver expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Vendor {
    /// AXIS People Counter live sum: `{"serial","name","timestamp","in","out"}`, running totals.
    Axis,
    /// AXIS 3D People Counter export: `{"data":[{"start","end","in","out"}]}`, intervals.
    Axis3d,
    /// Xovis sensor live data push: one `COUNT` event per person crossing a line.
    Xovis,
    /// Irisys Vector count logs: cumulative registers.
    Irisys,
    /// Hikvision ISAPI `PeopleCounting` metadata.
    Hikvision,
    /// VIVOTEK counting report push: intervals per counting rule.
    Vivotek,
}

impl Vendor {
    /// The name as written in config.
    pub fn name(self) -> &'static str {
        match self {
            Vendor::Axis => "axis",
            Vendor::Axis3d => "axis3d",
            Vendor::Xovis => "xovis",
            Vendor::Irisys => "irisys",
            Vendor::Hikvision => "hikvision",
            Vendor::Vivotek => "vivotek",
        }
    }
}

/// What one payload says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decoded {
    /// Identity the device reports (serial number, MAC address); empty when the payload names
    /// none, in which case the driver's id stands in.
    pub device: String,
    /// Interval counts, ready to journal. `counter_id` is the device's identity (empty when it
    /// sent none); `line` is the device's name for the counting line, empty when it has none.
    pub traffic: Vec<FootTraffic>,
    /// Running totals, in the order they should be applied.
    pub totals: Vec<Totals>,
}

/// One sample of a counter's running totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Totals {
    /// The device's identity (empty when it sent none), as in [`FootTraffic::counter_id`].
    pub counter_id: String,
    /// The counting line, empty when the device does not name it.
    pub line: String,
    /// Orders the samples of one counter: Irisys `LogEntryId`, Axis timestamp. A sample whose
    /// order is not above the last one taken is a duplicate or arrived late, and is ignored.
    pub order: u64,
    /// When the device took the sample (epoch ms).
    pub at_ms: i64,
    /// People counted in since the counter's last reset.
    pub entries: u64,
    /// People counted out since the counter's last reset.
    pub exits: u64,
}

/// Why a payload could not be decoded. Every variant names the field concerned, with its path
/// in the payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("payload is not valid JSON: {0}")]
    NotJson(String),
    #[error("field `{0}` is missing")]
    Missing(String),
    #[error("field `{field}` must be {expected}")]
    WrongType {
        field: String,
        expected: &'static str,
    },
    #[error("field `{field}`: {reason}")]
    Invalid { field: String, reason: String },
}

/// An interval count as decoders produce it: one original reading.
pub(crate) fn interval(
    counter_id: &str,
    line: &str,
    start_ms: i64,
    end_ms: i64,
    entries: u32,
    exits: u32,
) -> FootTraffic {
    FootTraffic {
        counter_id: counter_id.to_owned(),
        line: line.to_owned(),
        interval_start_ms: start_ms,
        interval_end_ms: end_ms,
        entries,
        exits,
        coalesced_ticks: 1,
    }
}
