//! libFuzzer entry point of [`store_edge_fuzz::collector_publish`], where the input format and the
//! asserted invariants are documented.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| store_edge_fuzz::collector_publish::run(data));
