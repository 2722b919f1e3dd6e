//! Barcode scanners: pure decoders for what scanners send (framing, HID reports, keyboard
//! reports), the GS1 element-string decoding and the staff scan modes shared by every scanner
//! kind, and the drivers' I/O loops.
//!
//! Drivers: [`serial`] (tokio-serial), [`hid`] (HID POS and keyboard-wedge scanners through
//! hidapi, or a virtual device). Each turns its device's input into raw scan bytes and hands
//! them to [`emit`], which decodes them, applies the [`mode`] rules and records the events.

pub mod aim;
pub mod emit;
pub mod gs1;
pub mod hid;
pub mod hidpos;
pub mod mode;
pub mod serial;
pub mod serial_framing;
pub mod wedge;
