//! Replays the fuzz corpora (`fuzz/corpus/<target>/`) through their harnesses
//! (`shardpeer_core::fuzz_harness`) on the stable toolchain, so the seeds and every crash turned
//! regression run in the normal `cargo test --workspace`. A missing or empty corpus fails.
//!
//! The differential targets' oracles need `sfv` and `serde_json`, dependencies of the fuzz
//! workspace only: here `sf_differential`'s corpus goes through the core's own structured-field
//! oracles (`fuzz_harness::sf`) and `app_meta_differential`'s through `fuzz_harness::app_meta_acl`
//! (same input format); the differential replay is `fuzz/src/seeds.rs`, run by CI's fuzz step.
//!
//! Needs the `fuzz-harness` feature, which the crate's self dev-dependency turns on for tests.

use shardpeer_core::fuzz_harness as h;
use std::path::Path;

#[path = "support/corpus.rs"]
mod corpus;
use corpus::replay;

/// A fuzz target's name and the harness its corpus is replayed through.
type Target = (&'static str, fn(&[u8]));

const TARGETS: [Target; 11] = [
    ("shard_id", h::shard_id),
    ("keys", h::keys),
    ("sf", h::sf),
    ("sf_differential", h::sf),
    ("signature_base", h::signature_base),
    ("verify_request", h::verify_request),
    ("verify_response", h::verify_response),
    ("content_digest", h::content_digest),
    ("path", h::path),
    ("app_meta_acl", h::app_meta_acl),
    ("app_meta_differential", h::app_meta_acl),
];

/// Targets over other crates, and the test that replays their corpora.
const ELSEWHERE: [(&str, &str); 1] = [("http_request", "transport-embassy/tests/fuzz_corpus.rs")];

/// Every fuzz target has a corpus replayed here (or by the test `ELSEWHERE` names), and nothing
/// here lacks a target.
#[test]
fn every_target_is_replayed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/fuzz_targets");
    let mut targets: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".rs").map(str::to_string)
        })
        .collect();
    targets.sort();
    for (target, test) in ELSEWHERE {
        let test = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(test);
        let text = std::fs::read_to_string(&test)
            .unwrap_or_else(|e| panic!("{target} is replayed by {}: {e}", test.display()));
        assert!(
            text.contains(target),
            "{} does not replay {target}",
            test.display()
        );
    }
    let mut replayed: Vec<String> = TARGETS
        .iter()
        .map(|(t, _)| t.to_string())
        .chain(ELSEWHERE.iter().map(|(t, _)| t.to_string()))
        .collect();
    replayed.sort();
    assert_eq!(targets, replayed);
}

macro_rules! replay_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let (target, harness) = TARGETS
                    .iter()
                    .find(|(t, _)| *t == stringify!($name))
                    .unwrap();
                replay(target, *harness);
            }
        )*
    };
}

replay_tests!(
    shard_id,
    keys,
    sf,
    sf_differential,
    signature_base,
    verify_request,
    verify_response,
    content_digest,
    path,
    app_meta_acl,
    app_meta_differential,
);
