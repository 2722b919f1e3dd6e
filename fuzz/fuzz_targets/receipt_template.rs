//! libFuzzer entry point of [`store_edge_fuzz::receipt_template::run`]; the input format and the asserted
//! invariants are documented on its module.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| store_edge_fuzz::receipt_template::run(data));
