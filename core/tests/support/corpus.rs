//! Replaying a fuzz target's checked-in corpus (`fuzz/corpus/<target>/`) through its harness,
//! for the stable-toolchain tests of every crate that has fuzz targets. Both including crates
//! sit beside `fuzz/`, so the path is the same from either; included with `#[path]`.

use std::path::{Path, PathBuf};

pub fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

/// Runs every file of the target's corpus; fails with the names of those whose oracle fails.
/// A missing or empty corpus fails too.
pub fn replay(target: &str, harness: fn(&[u8])) {
    let dir = corpus_dir(target);
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
            std::panic::catch_unwind(|| harness(&bytes)).is_err()
        })
        .map(|p| p.display().to_string())
        .collect();
    assert!(failed.is_empty(), "{target}: oracles failed on {failed:#?}");
}
