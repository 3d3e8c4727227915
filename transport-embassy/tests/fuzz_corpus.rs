//! Replays the `http_request` fuzz corpus (`fuzz/corpus/http_request/`) through its harness
//! (`shardpeer_embassy::fuzz_harness::http_request`) on the stable toolchain, so the seeds and
//! every crash turned regression run in the normal `cargo test --workspace`. A missing or empty
//! corpus fails. (The core's targets are replayed by `core/tests/fuzz_corpus.rs`.)
//!
//! Needs the `fuzz-harness` feature, which the crate's self dev-dependency turns on for tests.

use shardpeer_embassy::fuzz_harness::http_request;
use std::path::{Path, PathBuf};

const TARGET: &str = "http_request";

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// Every file of the corpus through the harness; fails with the names of those whose oracle
/// fails.
#[test]
fn http_request_corpus() {
    let dir = fuzz_dir().join("corpus").join(TARGET);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {} is missing: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "corpus {} is empty", dir.display());
    let failed: Vec<String> = files
        .iter()
        .filter(|path| {
            let bytes = std::fs::read(path).unwrap();
            std::panic::catch_unwind(|| http_request(&bytes)).is_err()
        })
        .map(|p| p.display().to_string())
        .collect();
    assert!(failed.is_empty(), "{TARGET}: oracles failed on {failed:#?}");
}

/// The corpus replayed here belongs to a fuzz target.
#[test]
fn the_target_exists() {
    let shim = fuzz_dir().join("fuzz_targets").join(format!("{TARGET}.rs"));
    assert!(shim.is_file(), "{} is missing", shim.display());
}
