//! Barcode scanners: pure decoders for what scanners send (framing, HID reports, keyboard
//! reports), the GS1 element-string decoding and the staff scan modes shared by every scanner
//! kind, and the drivers' I/O loops.
//!
//! Drivers: [`serial`] (tokio-serial), [`hid`] (HID POS and keyboard-wedge scanners through
//! hidapi, or a virtual device). Each has a pure decoder (`serial::decode`, `hid::decode`) that
//! turns its device's input into [`record::ScanInput`]s; [`record`] makes them event bodies
//! (GS1 decoding, the [`mode`] rules) and [`emit`] stamps and records them. `store-agent
//! replay-capture` runs the same pure steps over a capture.

pub mod aim;
pub mod emit;
pub mod gs1;
pub mod hid;
pub mod mode;
pub mod record;
pub mod serial;
