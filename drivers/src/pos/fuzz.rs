//! The POS decoders' robustness tests use the crate's shared generator and mutations.

pub(crate) use crate::testing::XorShift;
