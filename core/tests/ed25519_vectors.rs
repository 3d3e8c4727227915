//! The Ed25519 validity rule, stated as data and checked against the C2SP/CCTV edge-case
//! vectors (`conformance/vectors/third-party/ed25519vectors.json`, see the README beside it).
//!
//! `RULE` is the protocol's rule (also in `docs/ID.md`): a vector is accepted exactly when
//! none of its flags is rejected. `COMPACT_ALONE` records what ed25519-compact does without
//! the core's pre-check, to show why the pre-check exists and to notice if an upgrade of the
//! backend changes its behaviour.

use shardpeer_core::ed25519::{
    CompactBackend, Ed25519Backend, PointRole, SignatureRuleError, check_public_key,
    check_signature, verify_raw,
};
extern crate alloc;
use alloc::collections::BTreeMap;

/// The protocol's rule: flag → accepted.
const RULE: &[(&str, bool)] = &[
    // RFC 8032 §5.1.7: encodings must be canonical.
    ("non_canonical_A", false),
    ("non_canonical_R", false),
    // The eight small-order points, as A or as R.
    ("low_order_A", false),
    ("low_order_R", false),
    // Points of order 2L, 4L or 8L. Rejecting them makes the cofactored and cofactorless
    // equations agree, so the backend's choice of equation never shows.
    ("low_order_component_A", false),
    ("low_order_component_R", false),
    // Verifies only with the cofactored equation: needs a small-order component, so the
    // rule above already rejects every such vector.
    ("low_order_residue", false),
    // k hashed over a re-encoding: only meaningful for non-canonical A or R, rejected above.
    ("reencoded_k", false),
];

/// ed25519-compact 2.6 on its own: it rejects non-canonical and small-order A and R, but uses
/// the cofactored equation and does not test subgroup membership.
const COMPACT_ALONE: &[(&str, bool)] = &[
    ("non_canonical_A", false),
    ("non_canonical_R", false),
    ("low_order_A", false),
    ("low_order_R", false),
    ("low_order_component_A", true),
    ("low_order_component_R", true),
    ("low_order_residue", true),
    ("reencoded_k", false),
];

struct Vector {
    number: u64,
    key: [u8; 32],
    sig: [u8; 64],
    msg: Vec<u8>,
    flags: Vec<String>,
}

impl Vector {
    fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }
}

fn load() -> Vec<Vector> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../conformance/vectors/third-party/ed25519vectors.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read the Ed25519 vectors at {}: {e}", path.display()));
    let json: serde_json::Value = serde_json::from_str(&text).expect("vectors are not JSON");
    let vectors: Vec<Vector> = json
        .as_array()
        .expect("vectors: top level is not an array")
        .iter()
        .map(|t| {
            let mut key = [0u8; 32];
            hex::decode_to_slice(t["key"].as_str().expect("key"), &mut key).expect("key hex");
            let mut sig = [0u8; 64];
            hex::decode_to_slice(t["sig"].as_str().expect("sig"), &mut sig).expect("sig hex");
            let flags = match &t["flags"] {
                serde_json::Value::Null => Vec::new(),
                f => f
                    .as_array()
                    .expect("flags")
                    .iter()
                    .map(|f| f.as_str().expect("flag").to_owned())
                    .collect(),
            };
            Vector {
                number: t["number"].as_u64().expect("number"),
                key,
                sig,
                msg: t["msg"].as_str().expect("msg").as_bytes().to_vec(),
                flags,
            }
        })
        .collect();
    assert_eq!(vectors.len(), 914, "unexpected vector file");
    vectors
}

fn accepted_by(table: &[(&str, bool)], v: &Vector) -> bool {
    v.flags.iter().all(|flag| {
        table
            .iter()
            .find(|(name, _)| name == flag)
            .unwrap_or_else(|| panic!("vector {}: flag {flag} not in the rule table", v.number))
            .1
    })
}

/// The check that must fire first, derived from the flags alone.
fn expected_error(v: &Vector) -> Option<SignatureRuleError> {
    use SignatureRuleError::*;
    for (point, suffix) in [(PointRole::PublicKey, "A"), (PointRole::R, "R")] {
        if v.has(&format!("non_canonical_{suffix}")) {
            return Some(NonCanonicalPoint { point });
        }
        if v.has(&format!("low_order_{suffix}")) {
            return Some(SmallOrderPoint { point });
        }
        if v.has(&format!("low_order_component_{suffix}")) {
            return Some(MixedOrderPoint { point });
        }
    }
    None
}

#[test]
fn ed25519_validity_rule() {
    let vectors = load();
    // flag → [vectors, accepted by us, accepted by ed25519-compact alone]
    let mut summary: BTreeMap<&str, [usize; 3]> = BTreeMap::new();
    for v in &vectors {
        let ours = verify_raw(&CompactBackend, &v.key, &v.msg, &v.sig);
        let alone = CompactBackend.verify(&v.key, &v.msg, &v.sig);

        assert_eq!(
            ours.is_ok(),
            accepted_by(RULE, v),
            "vector {}: {:?} gave {ours:?}",
            v.number,
            v.flags
        );
        assert_eq!(
            alone,
            accepted_by(COMPACT_ALONE, v),
            "vector {}: compact alone, {:?}",
            v.number,
            v.flags
        );
        // Every rejection comes from the pre-check, never from the backend: the answer does
        // not depend on which backend runs.
        assert_eq!(
            check_signature(&v.key, &v.sig).err(),
            expected_error(v),
            "vector {}: {:?}",
            v.number,
            v.flags
        );

        // The key half of the rule on its own, as `PublicKey::from_bytes` applies it.
        let key_flagged = ["non_canonical_A", "low_order_A", "low_order_component_A"]
            .iter()
            .any(|f| v.has(f));
        let key_check = check_public_key(&v.key);
        assert_eq!(
            key_check.is_err(),
            key_flagged,
            "vector {}: key {:?}",
            v.number,
            v.flags
        );
        if v.has("low_order_A") && !v.has("non_canonical_A") {
            assert_eq!(
                key_check,
                Err(SignatureRuleError::SmallOrderPoint {
                    point: PointRole::PublicKey
                }),
                "vector {}: small-order table",
                v.number
            );
        }

        let labels = v.flags.iter().map(String::as_str).chain(["(all)"]);
        for flag in labels.chain(v.flags.is_empty().then_some("(no flags)")) {
            let entry = summary.entry(flag).or_default();
            entry[0] += 1;
            entry[1] += usize::from(ours.is_ok());
            entry[2] += usize::from(alone);
        }
    }
    eprintln!(
        "{:<24} {:>7} {:>9} {:>13}",
        "flag", "vectors", "accepted", "compact alone"
    );
    for (flag, [n, ours, alone]) in &summary {
        eprintln!("{flag:<24} {n:>7} {ours:>9} {alone:>13}");
    }
}
