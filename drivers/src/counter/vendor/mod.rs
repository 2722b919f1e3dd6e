//! The vendor decoders, one file per payload format, and the choice of decoder by [`Vendor`].
//!
//! Each vendor module quotes the payload shape it reads and names the vendor document it comes
//! from; all of them speak the types of [`crate::counter::reading`] and share the JSON walking
//! of `json`. Nothing outside this folder knows which vendors exist except through
//! [`decode`] and [`Vendor`].

pub mod axis;
pub mod hikvision;
pub mod irisys;
mod json;
pub mod vivotek;
pub mod xovis;

use crate::counter::reading::{DecodeError, Decoded, Vendor};

/// Decodes one payload of the given vendor.
pub fn decode(vendor: Vendor, body: &[u8]) -> Result<Decoded, DecodeError> {
    match vendor {
        Vendor::Axis => axis::decode_live_sum(body),
        Vendor::Axis3d => axis::decode_3d_export(body),
        Vendor::Xovis => xovis::decode(body),
        Vendor::Irisys => irisys::decode(body),
        Vendor::Hikvision => hikvision::decode(body),
        Vendor::Vivotek => vivotek::decode(body),
    }
}
