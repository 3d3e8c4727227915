//! The Ed25519 validity rule, stated as data and checked against the C2SP/CCTV edge-case
//! vectors (`conformance/vectors/third-party/ed25519vectors.json`, see the README beside it).
//!
//! `RULE` is the protocol's rule (also in `docs/ID.md`): a vector is accepted exactly when
//! none of its flags is rejected. `COMPACT_ALONE` records what ed25519-compact does without
//! the core's pre-check, to show why the pre-check exists and to notice if an upgrade of the
//! backend changes its behaviour.

use shardpeer_core::ed25519::{
    CompactBackend, Ed25519Backend, PointRole, RingBackend, SignatureRuleError, check_public_key,
    check_signature, verify_raw, verify_with,
};
use shardpeer_core::identity::PublicKey;
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
    let mut ring_checked = 0;
    for v in &vectors {
        let ours = verify_raw(&CompactBackend, &v.key, &v.msg, &v.sig);
        let alone = CompactBackend.verify(&v.key, &v.msg, &v.sig);

        // ring skips the subgroup test on `R` when it accepts (REJECTS_TORSION_IN_R): the
        // verdict and the error must still be exactly the compact path's, on raw keys and
        // on pinned ones.
        assert_eq!(
            verify_raw(&RingBackend, &v.key, &v.msg, &v.sig),
            ours,
            "vector {}: ring and compact disagree, {:?}",
            v.number,
            v.flags
        );
        if let Ok(pinned) = PublicKey::from_bytes(v.key) {
            assert_eq!(
                verify_with(&RingBackend, &pinned, &v.msg, &v.sig),
                verify_with(&CompactBackend, &pinned, &v.msg, &v.sig),
                "vector {}: pinned key, {:?}",
                v.number,
                v.flags
            );
        }
        // The claim behind skipping: with a key that passes the rule and an `R` that is
        // canonical and not small order, ring alone never accepts an `R` with a small-order
        // component (ed25519-compact alone does: COMPACT_ALONE).
        let r_encoding_ok = !v.has("non_canonical_R") && !v.has("low_order_R");
        if check_public_key(&v.key).is_ok() && r_encoding_ok && v.has("low_order_component_R") {
            assert!(
                !RingBackend.verify(&v.key, &v.msg, &v.sig),
                "vector {}: ring alone accepted a mixed-order R, {:?}",
                v.number,
                v.flags
            );
            ring_checked += 1;
        }

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
    // The file as shipped has 7 such vectors; `mixed_order_r_made_here` adds more.
    assert!(
        ring_checked >= 7,
        "only {ring_checked} vectors with a mixed-order R and a good key"
    );
    eprintln!("mixed-order R under a good key, refused by ring alone: {ring_checked}");
    eprintln!(
        "{:<24} {:>7} {:>9} {:>13}",
        "flag", "vectors", "accepted", "compact alone"
    );
    for (flag, [n, ours, alone]) in &summary {
        eprintln!("{flag:<24} {n:>7} {ours:>9} {alone:>13}");
    }
}

/// Signatures whose `R` carries each of the seven non-trivial small-order components, made so
/// that the cofactored equation holds: `R = [r]B + T`, `S = r + H(R‖A‖M)·a`. ed25519-compact
/// alone accepts them; ring alone must not (the claim `REJECTS_TORSION_IN_R` rests on), and
/// the core must refuse them with the same error whichever backend runs. `T` = identity is
/// the control: an ordinary signature every path accepts.
#[test]
fn mixed_order_r_made_here() {
    use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
    use curve25519_dalek::scalar::Scalar;
    use sha2::{Digest as _, Sha512};

    let mut made = 0;
    for seed in 1u8..=4 {
        // RFC 8032 §5.1.5: a = clamp(SHA-512(seed)[..32]), prefix = the other half.
        let h = Sha512::digest([seed; 32]);
        let mut a_bytes: [u8; 32] = h[..32].try_into().unwrap();
        a_bytes[0] &= 248;
        a_bytes[31] &= 127;
        a_bytes[31] |= 64;
        let a = Scalar::from_bytes_mod_order(a_bytes);
        let key = (ED25519_BASEPOINT_POINT * a).compress().to_bytes();
        let pinned = PublicKey::from_bytes(key).unwrap();
        for (t_index, t) in EIGHT_TORSION.iter().enumerate() {
            let msg = format!("mixed-order R, seed {seed}, T{t_index}");
            let r = Scalar::from_bytes_mod_order_wide(
                &Sha512::new()
                    .chain_update(&h[32..])
                    .chain_update(msg.as_bytes())
                    .finalize()
                    .into(),
            );
            let big_r = (ED25519_BASEPOINT_POINT * r + t).compress().to_bytes();
            let k = Scalar::from_bytes_mod_order_wide(
                &Sha512::new()
                    .chain_update(big_r)
                    .chain_update(key)
                    .chain_update(msg.as_bytes())
                    .finalize()
                    .into(),
            );
            let s = r + k * a;
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(&big_r);
            sig[32..].copy_from_slice(s.as_bytes());
            let msg = msg.as_bytes();

            if t_index == 0 {
                assert!(CompactBackend.verify(&key, msg, &sig));
                assert!(RingBackend.verify(&key, msg, &sig));
                assert_eq!(verify_with(&RingBackend, &pinned, msg, &sig), Ok(()));
                assert_eq!(verify_with(&CompactBackend, &pinned, msg, &sig), Ok(()));
                continue;
            }
            // Small-order T of order 2 and 4 and 8 alike.
            assert!(
                CompactBackend.verify(&key, msg, &sig),
                "seed {seed}, T{t_index}: the construction is not cofactored-valid"
            );
            assert!(
                !RingBackend.verify(&key, msg, &sig),
                "seed {seed}, T{t_index}: ring alone accepted a mixed-order R"
            );
            let expected = Err(SignatureRuleError::MixedOrderPoint {
                point: PointRole::R,
            });
            for got in [
                verify_with(&RingBackend, &pinned, msg, &sig),
                verify_with(&CompactBackend, &pinned, msg, &sig),
                verify_raw(&RingBackend, &key, msg, &sig),
                verify_raw(&CompactBackend, &key, msg, &sig),
            ] {
                assert_eq!(got, expected, "seed {seed}, T{t_index}");
            }
            made += 1;
        }
    }
    assert_eq!(made, 28);
}
