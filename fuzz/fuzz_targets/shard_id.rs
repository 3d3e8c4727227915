//! Harness and oracles: `shardpeer_core::fuzz_harness::shard_id` (core/src/fuzz_harness.rs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| shardpeer_core::fuzz_harness::shard_id(data));
