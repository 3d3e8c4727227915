//! Harness and oracles: `shardpeer_fuzz::app_meta_differential` (fuzz/src/lib.rs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| shardpeer_fuzz::app_meta_differential(data));
