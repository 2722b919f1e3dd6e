//! Barcode scanners: pure decoders for what scanners send (framing, HID reports, keyboard
//! reports) and the GS1 element-string decoding shared by every scanner kind.
//!
//! Only pure decoders live here so far: bytes in, text or typed errors out, tested byte-exact
//! without hardware. The I/O loops (tokio-serial, hidapi) come with the scanner drivers.

pub mod aim;
pub mod gs1;
pub mod hidpos;
pub mod serial;
pub mod serial_framing;
pub mod wedge;
