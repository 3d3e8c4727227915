//! `response.json`: a peer's signed response, checked by the caller against the request it
//! sent and the key it pinned for that peer.

use super::util::*;
use super::{FileBuilder, GroupSchema, case, file_schema};
use crate::wire;
use serde_json::{Value, json};
use shardpeer_core::profile;
use shardpeer_core::sign::SignatureParams;

pub const ALGORITHM: &str = "SHARDPEER-RESPONSE";

const CODES: &[&str] = &[
    "signature_missing",
    "signature_syntax",
    "signature_label_not_found",
    "signature_ambiguous",
    "signature_malformed",
    "component_invalid",
    "component_duplicate",
    "signature_no_components",
    "signature_component_not_covered",
    "signature_component_not_allowed",
    "component_missing",
    "signature_params_invalid",
    "signature_alg_unsupported",
    "signature_created_missing",
    "signature_created_in_future",
    "signature_too_old",
    "signature_expired",
    "signature_keyid_mismatch",
    "signature_keyid_invalid",
    "signature_keyid_not_canonical",
    "signature_tag_mismatch",
    "signature_key_not_of_id",
    "component_unsupported",
    "component_value_invalid",
    "component_sf_invalid",
    "signature_noncanonical_s",
    "signature_noncanonical_point",
    "signature_small_order",
    "signature_not_on_curve",
    "signature_mixed_order",
    "signature_invalid",
    "content_digest_malformed",
    "content_digest_unsupported",
    "content_digest_mismatch",
];

pub fn run(group: &Value, test: &Value) -> Result<Actual, String> {
    let now = u(group, "now")?;
    let peer = group.get("peer").ok_or("no peer")?;
    let peer_id = s(peer, "id")?;
    let key = public_key(s(peer, "publicKey")?)?;
    let req = read_request(s(test, "request")?, scheme(group)?, None)?;
    let req_refs = wire::field_refs(&req.fields);
    let req_view = req.view(&req_refs);
    let resp = read_response(s(test, "response")?, None)?;
    let refs = wire::field_refs(&resp.fields);
    let view = resp.view(&refs, Some(&req_view));
    let mut cache = SeenNonces::default();
    let mut buf = vec![0u8; 8192];
    let v = match profile::response_verifier(peer_id)
        .verify_response(&view, &key, &mut cache, now, &mut buf)
    {
        Ok(v) => v,
        Err(e) => return Ok(code(&e)),
    };
    let digest = v
        .content_digest
        .ok_or("a response signature always covers content-digest")?;
    if let Err(e) = digest.check_body(&resp.body) {
        return Ok(code(&e));
    }
    Ok(Actual::valid().with("keyid", v.keyid))
}

/// Response parameters as the profile writes them, with `keyid` and `tag` chosen.
fn resp_params<'a>(keyid: &'a str, created: u64, tag: &'a str) -> SignatureParams<'a> {
    SignatureParams {
        created: Some(created as i64),
        expires: Some(created as i64 + 300),
        nonce: None,
        keyid: Some(keyid),
        alg: true,
        tag: Some(tag),
    }
}

pub fn generate() -> Value {
    let mut f = FileBuilder::new("response", ALGORITHM, run);
    f.header(&[
        "Signed responses: docs/protocol.md, \"Signed responses\" and the steps of \"Verification procedure and errors\" that apply.",
        "Group: peer (the shard called: its full ID and the key pinned for it), now, scheme. Test: request (the signed request the caller sent, wire form) and response (the answer received, wire form).",
        "Procedure: verify the response's signature labelled shardpeer with the peer's pinned key: components exactly @status, content-digest, \"signature\";req;key=\"shardpeer\" (taken from the request) and content-type iff the response has one; parameters as for requests but tag=\"shardpeer/1/response\", keyid equal to the peer's full ID, no nonce required; freshness as for requests; then the response body against Content-Digest.",
        "Expected: valid (with the keyid verified), or invalid with the first failing step's code. A host answers 502 peer_response_unverified for every failure; the codes here are the core's.",
    ]);
    let notes: &[(&str, &str, &str, &str)] = &[
        (
            "Profile",
            "BASIC",
            "A response as shardpeer signs it.",
            "Callers cannot trust any response.",
        ),
        (
            "NoContentType",
            "BASIC",
            "A response without Content-Type: content-type is not covered.",
            "204 and empty answers refused.",
        ),
        (
            "Tampered",
            "BASIC",
            "The status, Content-Type or body changed on the way.",
            "A forged answer passed to the app.",
        ),
        (
            "Binding",
            "AUTH_BYPASS",
            "The response is checked against another request than the one it answers, or the request lacks its Signature.",
            "A recorded response replayed as the answer to a new request.",
        ),
        (
            "TagSwap",
            "AUTH_BYPASS",
            "A request signature presented as a response signature, or a response signed with the request tag.",
            "Signatures made for one direction accepted for the other.",
        ),
        (
            "WrongSigner",
            "AUTH_BYPASS",
            "Signed by another shard than the one called: its own keyid, or the called peer's keyid with another key.",
            "Any shard (or a man in the middle with a key) answers for the peer.",
        ),
        (
            "SignatureMissing",
            "BASIC",
            "No signature.",
            "An unsigned (forged) answer accepted.",
        ),
        (
            "Freshness",
            "BASIC",
            "created too old.",
            "Old answers replayed.",
        ),
        (
            "Components",
            "AUTH_BYPASS",
            "The binding component is not covered.",
            "Responses not bound to their request.",
        ),
    ];
    for (flag, bug, d, e) in notes {
        f.note(flag, bug, d, e);
    }
    let post = post_to_bob();
    let req = sign_profile(&post, &ALICE, T0, NONCE_1);
    let other_req = sign_profile(&post, &ALICE, T0, NONCE_2);
    let answer = bob_answer();
    let ok = sign_profile_response(&answer, &req, &BOB, T0 + 1);
    let refusal_body = r#"{"error": "access_denied", "message": "access denied"}"#;
    let refusal = response(
        "401 Unauthorized",
        &[
            ("Content-Type", "application/json"),
            ("Content-Length", &refusal_body.len().to_string()),
            ("Content-Digest", &digest256(refusal_body.as_bytes())),
        ],
        refusal_body,
    );
    let empty = response("204 No Content", &[("Content-Digest", &digest256(b""))], "");
    let bob_id = BOB.id();
    let full =
        "\"@status\" \"content-digest\" \"signature\";req;key=\"shardpeer\" \"content-type\"";
    let swapped = add_fields(
        &remove_field(&remove_field(&ok, "Signature-Input"), "Signature"),
        &[
            ("Signature-Input", &field(&req, "Signature-Input")),
            ("Signature", &field(&req, "Signature")),
        ],
    );
    let cases = vec![
        case("bob's 200 answer to alice's request", &["Profile"], json!({"request": req, "response": ok})).valid(),
        case("bob's signed refusal (401)", &["Profile"], json!({"request": req, "response": sign_profile_response(&refusal, &req, &BOB, T0 + 1)})).valid(),
        case("a 204 without body or Content-Type", &["Profile", "NoContentType"], json!({"request": req, "response": sign_profile_response(&empty, &req, &BOB, T0 + 1)})).valid(),
        case("status changed to 201", &["Tampered"], json!({"request": req, "response": set_start_line(&ok, "HTTP/1.1 201 Created")})).invalid("signature_invalid"),
        case("body changed (same length)", &["Tampered"], json!({"request": req, "response": set_body(&ok, r#"{"received": 1234}"#)})).invalid("content_digest_mismatch"),
        case("Content-Type changed", &["Tampered"], json!({"request": req, "response": set_field(&ok, "Content-Type", "text/html")})).invalid("signature_invalid"),
        case("Content-Type removed", &["Tampered"], json!({"request": req, "response": remove_field(&ok, "Content-Type")})).invalid("component_missing"),
        case(
            "checked against another request of alice's (another nonce, so another Signature)",
            &["Binding"],
            json!({"request": other_req, "response": ok}),
        )
        .invalid("signature_invalid"),
        case("checked against the request without its signature fields", &["Binding"], json!({"request": post, "response": ok})).invalid("component_missing"),
        case("the request's Signature-Input and Signature put on the response", &["TagSwap"], json!({"request": req, "response": swapped})).invalid("signature_component_not_covered"),
        case(
            "bob signs the response with the request tag",
            &["TagSwap"],
            json!({"request": req, "response": sign_response_params(&answer, Some(&req), &BOB, full, &resp_params(&bob_id, T0 + 1, "shardpeer/1"))}),
        )
        .invalid("signature_tag_mismatch"),
        case(
            "bob signs without covering the request's signature",
            &["Components", "Binding"],
            json!({"request": req, "response": sign_response_params(&answer, Some(&req), &BOB, "\"@status\" \"content-digest\" \"content-type\"", &resp_params(&bob_id, T0 + 1, "shardpeer/1/response"))}),
        )
        .invalid("signature_component_not_covered"),
        case("alice's own key signs the response (keyid alice)", &["WrongSigner"], json!({"request": req, "response": sign_profile_response(&answer, &req, &ALICE, T0 + 1)})).invalid("signature_keyid_mismatch"),
        case(
            "mallory signs the response with keyid = bob's ID",
            &["WrongSigner"],
            json!({"request": req, "response": sign_response_params(&answer, Some(&req), &MALLORY, full, &resp_params(&bob_id, T0 + 1, "shardpeer/1/response"))}),
        )
        .invalid("signature_invalid"),
        case("no signature", &["SignatureMissing"], json!({"request": req, "response": answer})).invalid("signature_missing"),
        case("signed 400 s before now", &["Freshness"], json!({"request": req, "response": sign_profile_response(&answer, &req, &BOB, NOW - 400)})).invalid("signature_too_old"),
    ];
    f.group(
        json!({
            "type": "ResponseVerification",
            "scheme": "https",
            "now": NOW,
            "peer": {"name": BOB.name, "id": bob_id, "publicKey": BOB.public_hex(), "publicKeyPem": BOB.public_pem()},
        }),
        cases,
    );
    f.finish()
}

pub fn schema() -> Value {
    file_schema(
        "response",
        ALGORITHM,
        "shardpeer conformance vectors: signed responses",
        vec![GroupSchema {
            kind: "ResponseVerification",
            shared: json!({
                "scheme": {"$ref": "#/$defs/scheme"},
                "now": {"$ref": "#/$defs/unixTime"},
                "peer": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["id", "publicKey", "publicKeyPem"],
                    "properties": {
                        "name": {"type": "string"},
                        "id": {"$ref": "#/$defs/shardId"},
                        "publicKey": {"$ref": "#/$defs/hex32"},
                        "publicKeyPem": {"$ref": "#/$defs/publicKeyPem"},
                    },
                },
            }),
            shared_required: &["scheme", "now", "peer"],
            inputs: json!({
                "request": {"$ref": "#/$defs/httpRequest"},
                "response": {"$ref": "#/$defs/httpResponse"},
            }),
            inputs_required: &["request", "response"],
            outputs: json!({"keyid": {"$ref": "#/$defs/shardId"}}),
            outputs_required: &["keyid"],
            test_constraints: Value::Null,
            group_constraints: Value::Null,
        }],
        CODES,
    )
}
