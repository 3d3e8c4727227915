//! Replays the `http_request` fuzz corpus (`fuzz/corpus/http_request/`) through its harness
//! (`shardpeer_embassy::fuzz_harness::http_request`) on the stable toolchain, so the seeds and
//! every crash turned regression run in the normal `cargo test --workspace`. A missing or empty
//! corpus fails. (The core's targets are replayed by `core/tests/fuzz_corpus.rs`.)
//!
//! Needs the `fuzz-harness` feature, which the crate's self dev-dependency turns on for tests.

use shardpeer_embassy::fuzz_harness::http_request;
use std::path::{Path, PathBuf};

// The corpus runner the core's replay test uses too.
#[path = "../../core/tests/support/corpus.rs"]
mod corpus;
use corpus::replay;

const TARGET: &str = "http_request";

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

#[test]
fn http_request_corpus() {
    replay(TARGET, http_request);
}

/// The corpus replayed here belongs to a fuzz target.
#[test]
fn the_target_exists() {
    let shim = fuzz_dir().join("fuzz_targets").join(format!("{TARGET}.rs"));
    assert!(shim.is_file(), "{} is missing", shim.display());
}
