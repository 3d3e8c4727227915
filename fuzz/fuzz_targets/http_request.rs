//! Harness and oracles: `shardpeer_embassy::fuzz_harness::http_request` (transport-embassy/src/fuzz_harness.rs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| shardpeer_embassy::fuzz_harness::http_request(data));
