//! `ed25519_rule.json`: the Ed25519 validity rule as data: C2SP/CCTV edge cases (one per flag
//! combination) plus honest and hand-made signatures and keys.

use super::util::*;
use super::{FileBuilder, GroupSchema, case, file_schema};
use serde_json::{Value, json};
use shardpeer_core::ed25519::{CompactBackend, verify_raw};
use shardpeer_core::identity::{KeyError, PublicKey};
use shardpeer_core::wire::WireError;
use std::collections::BTreeMap;

pub const ALGORITHM: &str = "SHARDPEER-ED25519-RULE";

const CODES: &[&str] = &[
    "signature_noncanonical_s",
    "signature_noncanonical_point",
    "signature_small_order",
    "signature_not_on_curve",
    "signature_mixed_order",
    "signature_invalid",
    "key_rejected",
];

/// Where the CCTV vectors are, relative to the crate.
const CCTV_FILE: &str = "vectors/third-party/ed25519vectors.json";

pub fn run(group: &Value, test: &Value) -> Result<Actual, String> {
    match s(group, "type")? {
        "Ed25519Verify" => {
            let key = hex32_field(test, "publicKey")?;
            let sig: [u8; 64] = hex_field(test, "signature")?
                .try_into()
                .map_err(|_| "signature is not 64 bytes")?;
            let msg = hex_field(test, "message")?;
            match verify_raw(&CompactBackend, &key, &msg, &sig) {
                Ok(()) => Ok(Actual::valid()),
                Err(e) => Ok(code(&e)),
            }
        }
        "Ed25519PublicKey" => match PublicKey::from_bytes(hex32_field(test, "publicKey")?) {
            Ok(k) => Ok(Actual::valid().with("id", k.id().as_str())),
            Err(e @ KeyError::KeyRejected { reason }) => {
                Ok(code(&e).with("ruleError", reason.code()))
            }
            Err(e) => Ok(code(&e)),
        },
        other => Err(format!("unknown group type {other}")),
    }
}

/// The code the rule gives a CCTV vector, from its flags alone (docs/protocol.md's table):
/// the first failing check in the order S, A (encoding, small order, mixed order), R (same).
fn expected_code(flags: &[String]) -> Option<&'static str> {
    let has = |f: String| flags.contains(&f);
    for p in ["A", "R"] {
        if has(format!("non_canonical_{p}")) {
            return Some("signature_noncanonical_point");
        }
        if has(format!("low_order_{p}")) {
            return Some("signature_small_order");
        }
        if has(format!("low_order_component_{p}")) {
            return Some("signature_mixed_order");
        }
    }
    None
}

fn cctv() -> Vec<Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(CCTV_FILE);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("CCTV vectors are JSON")
}

pub fn generate() -> Value {
    let mut f = FileBuilder::new("ed25519_rule", ALGORITHM, run);
    f.header(&[
        "The Ed25519 validity rule: docs/protocol.md, \"Ed25519 validity rule\" (checks 1-10 and the CCTV flag table).",
        "Ed25519Verify: publicKey (32 bytes), signature (64 bytes: R then S), message (hex) -> valid, or the code of the first failing check: 1 S < L; 2-5 the public key A (canonical encoding, not one of the 8 small-order points, on the curve, no small-order component); 6-9 the same for R; 10 the cofactorless or cofactored equation.",
        "Ed25519PublicKey: a public key given by a user (a peer's pinned key): checks 2-5 alone -> valid (with the key's shard id), or key_rejected with ruleError, the check that failed.",
        "Tests flagged CctvVector are taken from C2SP/CCTV ed25519vectors.json (third-party/ed25519vectors.json, see third-party/README.md): one per distinct combination of its flags, the lowest-numbered; cctvNumber cites the entry. Their other flags are CCTV's own.",
    ]);
    let notes: &[(&str, &str, &str, &str)] = &[
        (
            "CctvVector",
            "EDGE_CASE",
            "From C2SP/CCTV ed25519vectors.json (entry cctvNumber).",
            "Backends disagree on these edge cases; without the rule two shards reach different verdicts on the same request.",
        ),
        (
            "non_canonical_A",
            "MALLEABILITY",
            "Non-canonical encoding of A (a CCTV flag) (y >= p, or the sign bit set with x = 0).",
            "One key with several encodings: a peer pinned under one spelling signs as another.",
        ),
        (
            "non_canonical_R",
            "MALLEABILITY",
            "Non-canonical encoding of R (a CCTV flag).",
            "One signature with several encodings, each a fresh request to a replay cache keyed on bytes.",
        ),
        (
            "low_order_A",
            "AUTH_BYPASS",
            "(CCTV flag) A is one of the 8 small-order points.",
            "A key for which signatures verify for many messages.",
        ),
        (
            "low_order_R",
            "MALLEABILITY",
            "(CCTV flag) R is a small-order point.",
            "Signatures accepted by some backends only.",
        ),
        (
            "low_order_component_A",
            "MALLEABILITY",
            "(CCTV flag) A has a small-order component (order 2L, 4L or 8L).",
            "Cofactored and cofactorless backends disagree.",
        ),
        (
            "low_order_component_R",
            "MALLEABILITY",
            "(CCTV flag) R has a small-order component.",
            "Cofactored and cofactorless backends disagree.",
        ),
        (
            "low_order_residue",
            "MALLEABILITY",
            "(CCTV flag) Verifies only with the cofactored equation.",
            "Cofactored and cofactorless backends disagree.",
        ),
        (
            "reencoded_k",
            "MALLEABILITY",
            "(CCTV flag) k was computed over a canonical re-encoding of a non-canonical A or R.",
            "Backends that re-encode before hashing accept it.",
        ),
        (
            "Honest",
            "BASIC",
            "A signature made by a correct signer.",
            "Valid signatures refused.",
        ),
        (
            "Rfc8032",
            "BASIC",
            "RFC 8032 §7.1 TEST 1 (empty message).",
            "The implementation is not Ed25519.",
        ),
        (
            "WrongMessage",
            "BASIC",
            "A valid signature of another message (check 10).",
            "Forgeries accepted.",
        ),
        (
            "NonCanonicalS",
            "MALLEABILITY",
            "S >= L (check 1): S + L in place of S.",
            "Two encodings of one signature; backends that reduce S accept it.",
        ),
        (
            "NotOnCurve",
            "EDGE_CASE",
            "A canonical encoding that names no curve point (checks 4 or 8).",
            "Undefined behaviour in backends that decompress without checking.",
        ),
        (
            "MixedOrder",
            "MALLEABILITY",
            "A prime-order point plus the point of order 2 (checks 5 or 9).",
            "Cofactored and cofactorless backends disagree.",
        ),
        (
            "SmallOrderTable",
            "AUTH_BYPASS",
            "One of the eight small-order points listed in docs/protocol.md (check 3).",
            "A key that verifies forged signatures.",
        ),
        (
            "CheckOrder",
            "DEFINED",
            "Several checks fail: the first decides the code.",
            "Codes differ between implementations.",
        ),
    ];
    for (flag, bug, d, e) in notes {
        f.note(flag, bug, d, e);
    }

    let mut cases = Vec::new();
    let alice = ALICE.identity();
    let msg = b"shardpeer ed25519 rule";
    let sig = alice.sign(msg);
    let pk = *alice.public_key().as_bytes();
    let sig_case = |comment: &str, flags: &[&str], key: &[u8; 32], sig: &[u8; 64], msg: &[u8]| {
        case(
            comment,
            flags,
            json!({"publicKey": hex::encode(key), "signature": hex::encode(sig), "message": hex::encode(msg)}),
        )
    };
    let with_r = |r: [u8; 32]| {
        let mut s = sig;
        s[..32].copy_from_slice(&r);
        s
    };
    let r: [u8; 32] = sig[..32].try_into().unwrap();
    cases.push(sig_case("alice signs a message", &["Honest"], &pk, &sig, msg).valid());
    let mut rfc_pk = [0u8; 32];
    hex::decode_to_slice(
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        &mut rfc_pk,
    )
    .unwrap();
    let mut rfc_sig = [0u8; 64];
    hex::decode_to_slice("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b", &mut rfc_sig).unwrap();
    cases.push(
        sig_case(
            "RFC 8032 §7.1 TEST 1",
            &["Rfc8032", "Honest"],
            &rfc_pk,
            &rfc_sig,
            b"",
        )
        .valid(),
    );
    cases.push(
        sig_case(
            "alice's signature, another message",
            &["WrongMessage"],
            &pk,
            &sig,
            b"shardpeer ed25519 rulf",
        )
        .invalid("signature_invalid"),
    );
    cases.push(
        sig_case(
            "S replaced by S + L",
            &["NonCanonicalS"],
            &pk,
            &with_s_plus_l(&sig),
            msg,
        )
        .invalid("signature_noncanonical_s"),
    );
    let mut top = sig;
    top[63] |= 0xe0;
    cases.push(
        sig_case(
            "S with its top three bits set",
            &["NonCanonicalS"],
            &pk,
            &top,
            msg,
        )
        .invalid("signature_noncanonical_s"),
    );
    cases.push(
        sig_case(
            "R not on the curve",
            &["NotOnCurve"],
            &pk,
            &with_r(not_on_curve()),
            msg,
        )
        .invalid("signature_not_on_curve"),
    );
    cases.push(
        sig_case(
            "A not on the curve",
            &["NotOnCurve"],
            &not_on_curve(),
            &sig,
            msg,
        )
        .invalid("signature_not_on_curve"),
    );
    cases.push(
        sig_case(
            "R + the point of order 2",
            &["MixedOrder"],
            &pk,
            &with_r(plus_order_2(&r)),
            msg,
        )
        .invalid("signature_mixed_order"),
    );
    cases.push(
        sig_case(
            "A + the point of order 2",
            &["MixedOrder"],
            &plus_order_2(&pk),
            &sig,
            msg,
        )
        .invalid("signature_mixed_order"),
    );
    cases.push(
        sig_case(
            "S + L, and A the identity: check 1 first",
            &["CheckOrder", "NonCanonicalS"],
            &identity_point(),
            &with_s_plus_l(&sig),
            msg,
        )
        .invalid("signature_noncanonical_s"),
    );
    cases.push(
        sig_case(
            "A mixed order and R the identity: A is checked before R",
            &["CheckOrder", "MixedOrder"],
            &plus_order_2(&pk),
            &with_r(identity_point()),
            msg,
        )
        .invalid("signature_mixed_order"),
    );

    // One CCTV vector per flag combination.
    let mut by_flags: BTreeMap<Vec<String>, Value> = BTreeMap::new();
    for v in cctv() {
        let mut flags: Vec<String> = v["flags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|f| f.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        flags.sort();
        by_flags.entry(flags).or_insert(v);
    }
    let mut picked: Vec<(Vec<String>, Value)> = by_flags.into_iter().collect();
    picked.sort_by_key(|(_, v)| v["number"].as_u64());
    for (flags, v) in picked {
        let number = v["number"].as_u64().expect("number");
        let mut all = vec!["CctvVector"];
        all.extend(flags.iter().map(String::as_str));
        let c = case(
            format!(
                "C2SP/CCTV ed25519vectors.json #{number}: {}",
                if flags.is_empty() {
                    "no flags".to_string()
                } else {
                    flags.join(", ")
                }
            ),
            &all,
            json!({
                "cctvNumber": number,
                "publicKey": v["key"],
                "signature": v["sig"],
                "message": hex::encode(v["msg"].as_str().expect("msg")),
            }),
        );
        cases.push(match expected_code(&flags) {
            None => c.valid(),
            Some(code) => c.invalid(code),
        });
    }
    f.group(json!({"type": "Ed25519Verify"}), cases);

    let key = |comment: &str, flags: &[&str], k: &[u8; 32]| {
        case(comment, flags, json!({"publicKey": hex::encode(k)}))
    };
    let mut keys = vec![
        key("alice's key", &["Honest"], &pk).valid(),
        key(
            "the RFC 9421 B.1.4 key",
            &["Honest"],
            rfc_key().identity().public_key().as_bytes(),
        )
        .valid(),
    ];
    let small: [(&str, &str); 8] = [
        (
            "0100000000000000000000000000000000000000000000000000000000000000",
            "the identity (order 1)",
        ),
        (
            "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
            "order 2",
        ),
        (
            "0000000000000000000000000000000000000000000000000000000000000000",
            "order 4",
        ),
        (
            "0000000000000000000000000000000000000000000000000000000000000080",
            "order 4",
        ),
        (
            "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
            "order 8",
        ),
        (
            "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
            "order 8",
        ),
        (
            "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
            "order 8",
        ),
        (
            "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
            "order 8",
        ),
    ];
    for (h, what) in small {
        let mut k = [0u8; 32];
        hex::decode_to_slice(h, &mut k).unwrap();
        keys.push(
            key(
                &format!("small-order point: {what}"),
                &["SmallOrderTable"],
                &k,
            )
            .invalid("key_rejected"),
        );
    }
    let mut y_is_p = P;
    y_is_p[31] &= 0x7f;
    let mut signed_one = identity_point();
    signed_one[31] |= 0x80;
    keys.extend([
        key(
            "y = p + 1 (the identity, non-canonical)",
            &["non_canonical_A"],
            &non_canonical_identity(),
        )
        .invalid("key_rejected"),
        key("y = p (non-canonical)", &["non_canonical_A"], &y_is_p).invalid("key_rejected"),
        key(
            "y = 1 with the sign bit set (x = 0 has one encoding)",
            &["non_canonical_A"],
            &signed_one,
        )
        .invalid("key_rejected"),
        key("not on the curve", &["NotOnCurve"], &not_on_curve()).invalid("key_rejected"),
        key(
            "alice's key + the point of order 2",
            &["MixedOrder"],
            &plus_order_2(&pk),
        )
        .invalid("key_rejected"),
    ]);
    f.group(json!({"type": "Ed25519PublicKey"}), keys);
    f.finish()
}

pub fn schema() -> Value {
    file_schema(
        "ed25519_rule",
        ALGORITHM,
        "shardpeer conformance vectors: the Ed25519 validity rule",
        vec![
            GroupSchema {
                kind: "Ed25519Verify",
                shared: json!({}),
                shared_required: &[],
                inputs: json!({
                    "cctvNumber": {"type": "integer", "minimum": 0},
                    "publicKey": {"$ref": "#/$defs/hex32"},
                    "signature": {"$ref": "#/$defs/hex64"},
                    "message": {"$ref": "#/$defs/hex"},
                }),
                inputs_required: &["publicKey", "signature", "message"],
                outputs: json!({}),
                outputs_required: &[],
                test_constraints: Value::Null,
                group_constraints: Value::Null,
            },
            GroupSchema {
                kind: "Ed25519PublicKey",
                shared: json!({}),
                shared_required: &[],
                inputs: json!({"publicKey": {"$ref": "#/$defs/hex32"}}),
                inputs_required: &["publicKey"],
                outputs: json!({
                    "id": {"$ref": "#/$defs/shardId"},
                    "ruleError": {"enum": [
                        "signature_noncanonical_point",
                        "signature_small_order",
                        "signature_not_on_curve",
                        "signature_mixed_order",
                    ]},
                }),
                outputs_required: &["id"],
                test_constraints: json!({"allOf": [{"if": {"properties": {"result": {"const": "invalid"}}}, "then": {"required": ["ruleError"]}}]}),
                group_constraints: Value::Null,
            },
        ],
        CODES,
    )
}
