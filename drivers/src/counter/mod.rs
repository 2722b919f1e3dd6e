//! People counters: pure decoders of what counters send, the tracker that turns running totals
//! into interval counts, and the `counter_push` driver that receives counts over HTTP.
//!
//! - [`decode`]: the common output ([`Decoded`]: interval counts and/or running totals, plus
//!   the device's identity) and [`decode::decode`], which picks the vendor decoder:
//!   [`axis`], [`xovis`], [`irisys`], [`hikvision`], [`vivotek`]. Each vendor module quotes the
//!   payload shape it reads and names the vendor document it comes from.
//! - [`tracker`]: running totals → differences, with baselines, resets and duplicates.
//! - [`serial_line`]: our own ASCII line protocol for infrared beam counters on a serial line.
//! - [`push`]: the `counter_push` driver (axum HTTP server).
//! - [`poll`]: the `counter_poll` driver (polls an Axis live sum over HTTP, through [`http`]).
//! - [`serial`]: the `counter_serial` driver (tokio-serial, the line protocol above).
//! - [`generator`]: a virtual counter posting vendor payloads to a `counter_push` receiver, for
//!   tests and demos.
//!
//! Everything except the drivers, [`http`] and [`generator`] is I/O-free and tested byte-exact without devices; the decoders are
//! also fuzzed with mutated valid payloads and never panic.
//!
//! How counts are labelled: each event's `device_id` is the driver's id; its
//! `FootTraffic.counter_id` is the device's own identity (serial number, MAC address) when the
//! payload carries one, the driver's id otherwise; its `line` is the device's name for the
//! counting line (Xovis logic, VIVOTEK rule) when it has one, the driver's `line` setting
//! otherwise.

pub mod axis;
pub mod decode;
pub mod generator;
pub mod hikvision;
pub mod http;
pub mod irisys;
mod json;
pub mod poll;
pub mod push;
pub mod serial;
pub mod serial_line;
mod time;
pub mod tracker;
pub mod vivotek;
pub mod xovis;

#[cfg(test)]
mod fuzz;

pub use decode::{DecodeError, Decoded, Totals, Vendor};
pub use poll::CounterPollConfig;
pub use push::CounterPushConfig;
pub use serial::CounterSerialConfig;
pub use tracker::{CumulativeTracker, Trackers};
