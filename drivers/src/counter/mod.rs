//! People counters: pure decoders of what counters send, the tracker that turns running totals
//! into interval counts, and the drivers that receive, poll or read counts.
//!
//! - [`reading`]: the common output of the decoders ([`Decoded`]: interval counts and/or running
//!   totals, plus the device's identity), [`Vendor`] and [`DecodeError`]. A leaf: it knows no
//!   vendor.
//! - [`vendor`]: one decoder per payload format ([`vendor::axis`], [`vendor::xovis`],
//!   [`vendor::irisys`], [`vendor::hikvision`], [`vendor::vivotek`]) and [`vendor::decode`],
//!   which picks one by [`Vendor`].
//! - [`tracker`]: running totals → differences, with baselines, resets and duplicates.
//! - [`serial_line`]: our own ASCII line protocol for infrared beam counters on a serial line.
//! - [`push`]: the `counter_push` driver (axum HTTP server); its pure half, [`push::decode`].
//! - [`poll`]: the `counter_poll` driver (polls an Axis live sum over HTTP, through [`http`]).
//! - [`serial`]: the `counter_serial` driver (tokio-serial, the line protocol above); its pure
//!   half, [`serial::decode`].
//!
//! Everything except the drivers and [`http`] is I/O-free and tested byte-exact without
//! devices; the decoders are also fuzzed with mutated valid payloads and never panic. The
//! drivers' pure halves are what `store-agent replay-capture` runs, so a capture replays exactly
//! as the driver records it.
//!
//! How counts are labelled: each event's `device_id` is the driver's id; its
//! `FootTraffic.counter_id` is the device's own identity (serial number, MAC address) when the
//! payload carries one, the driver's id otherwise; its `line` is the device's name for the
//! counting line (Xovis logic, VIVOTEK rule) when it has one, the driver's `line` setting
//! otherwise.

pub mod http;
pub mod poll;
pub mod push;
pub mod reading;
pub mod serial;
pub mod serial_line;
mod time;
pub mod tracker;
pub mod vendor;

#[cfg(test)]
mod fuzz;

pub use poll::CounterPollConfig;
pub use push::CounterPushConfig;
pub use reading::{DecodeError, Decoded, Totals, Vendor};
pub use serial::CounterSerialConfig;
pub use tracker::{CumulativeTracker, Trackers};
