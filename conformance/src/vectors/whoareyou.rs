//! `whoareyou.json`: a shard's signed `whoareyou` document, checked for the ID it was fetched
//! for.

use super::util::*;
use super::{FileBuilder, GroupSchema, case, file_schema};
use crate::wire;
use serde_json::{Value, json};
use shardpeer_core::identity::PublicKey;
use shardpeer_core::message::Response;
use shardpeer_core::sign::SignatureParams;
use shardpeer_core::whoareyou;

pub const ALGORITHM: &str = "SHARDPEER-WHOAREYOU";

const CODES: &[&str] = &[
    "key_input_too_large",
    "key_pem_malformed",
    "key_pem_wrong_label",
    "key_pem_trailing_data",
    "key_base64",
    "key_der_unsupported",
    "key_rejected",
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
    let expected = s(test, "expectedId")?;
    let resp = read_response(s(test, "response")?, None)?;
    let doc: Value = serde_json::from_slice(&resp.body).map_err(|e| format!("body: {e}"))?;
    let pem = doc["public_key_pem"].as_str().ok_or("no public_key_pem")?;
    let key = match PublicKey::from_pem(pem) {
        Ok(k) => k,
        Err(e) => return Ok(code(&e)),
    };
    let refs = wire::field_refs(&resp.fields);
    let view: Response<'_, _, [(&str, &[u8])]> = Response {
        status: resp.status,
        fields: refs.as_slice(),
        request: None,
    };
    let mut cache = SeenNonces::default();
    let mut buf = vec![0u8; 8192];
    let v = match whoareyou::verifier(expected)
        .verify_response(&view, &key, &mut cache, now, &mut buf)
    {
        Ok(v) => v,
        Err(e) => return Ok(code(&e)),
    };
    let digest = v.content_digest.ok_or("content-digest is covered")?;
    if let Err(e) = digest.check_body(&resp.body) {
        return Ok(code(&e));
    }
    Ok(Actual::valid()
        .with("publicKey", hex::encode(key.as_bytes()))
        .with("name", doc["name"].clone())
        .with("domain", doc["domain"].clone()))
}

/// The document a shard serves, as the tokio host serialises it.
fn document(id: &str, short_id: &str, name: &str, domain: &str, pem: &str) -> String {
    serde_json::to_string(&json!({
        "id": id,
        "short_id": short_id,
        "name": name,
        "domain": domain,
        "public_key_pem": pem,
    }))
    .expect("serialises")
}

fn doc_of(k: &Key, name: &str) -> String {
    document(&k.id(), &k.short(), name, &k.domain(), &k.public_pem())
}

/// The unsigned response carrying `body`.
fn unsigned(status_line: &str, body: &str) -> String {
    response(
        status_line,
        &[
            ("Content-Type", "application/json"),
            ("Content-Length", &body.len().to_string()),
            ("Content-Digest", &digest256(body.as_bytes())),
        ],
        body,
    )
}

/// Signed as a shard signs its whoareyou (`whoareyou::sign`).
fn signed(who: &Key, body: &str, created: u64) -> String {
    let w = unsigned("200 OK", body);
    let parsed = wire::parse_response(w.as_bytes()).expect("parses");
    let refs = wire::field_refs(&parsed.fields);
    let mut buf = [0u8; 4096];
    let s = whoareyou::sign(&who.identity(), 200, refs.as_slice(), created, &mut buf)
        .expect("whoareyou signing");
    add_fields(
        &w,
        &[
            ("Signature-Input", s.signature_input.as_str()),
            ("Signature", s.signature.as_str()),
        ],
    )
}

/// Signed by `who` with `keyid` and `tag` of the caller's choosing.
fn forged(who: &Key, body: &str, keyid: &str, tag: &str) -> String {
    let p = SignatureParams {
        created: Some(T0 as i64),
        expires: Some(T0 as i64 + 300),
        nonce: None,
        keyid: Some(keyid),
        alg: true,
        tag: Some(tag),
    };
    sign_response_params(
        &unsigned("200 OK", body),
        None,
        who,
        whoareyou::COMPONENTS,
        &p,
    )
}

fn spki_pem(key: &[u8; 32]) -> String {
    let mut der = hex::decode("302a300506032b6570032100").unwrap();
    der.extend_from_slice(key);
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        b64(&der)
    )
}

pub fn generate() -> Value {
    let mut f = FileBuilder::new("whoareyou", ALGORITHM, run);
    f.header(&[
        "The signed whoareyou document (GET /core/public/meta/whoareyou): how a shard learns and pins a peer's key, name and domain. docs/protocol.md, \"Learning the sender's key\", requires only that the key derives the ID asked for; it does not yet specify the signature, so these vectors follow the reference implementation (core/src/whoareyou.rs).",
        "The body is JSON with id, short_id, name, domain and public_key_pem. The response is signed like a profile response by the key it carries: label shardpeer, components exactly @status, content-digest, content-type; parameters created, expires, keyid = the shard's full ID, alg, tag=\"shardpeer/1/whoareyou\"; no nonce and no request binding.",
        "Procedure: read public_key_pem (key_* codes; the key must pass the Ed25519 key checks), verify the signature for expectedId (the full ID the client asked for) with that key: keyid must equal expectedId and the key must derive it (signature_key_not_of_id), freshness as for requests; then the body against Content-Digest. Output: publicKey (the key to pin), name, domain.",
        "Clients also check that the document's id field equals expectedId; no vector here needs it, since a document whose key derives expectedId was signed by that shard.",
    ]);
    let notes: &[(&str, &str, &str, &str)] = &[
        (
            "Basic",
            "BASIC",
            "A shard's own signed document.",
            "Peers cannot be added.",
        ),
        (
            "OtherId",
            "AUTH_BYPASS",
            "A valid document of another shard than the one asked for.",
            "A redirected fetch pins the wrong shard's key under the ID.",
        ),
        (
            "ShortIdTwin",
            "AUTH_BYPASS",
            "A document from a key whose ID shares the short ID of the one asked for.",
            "An implementation that compares short IDs or prefixes pins an impostor's key.",
        ),
        (
            "Impostor",
            "AUTH_BYPASS",
            "A document naming the asked-for ID with another key, or its key with another signer.",
            "A man in the middle renames a peer, redirects its domain, or has its own key pinned.",
        ),
        (
            "Stale",
            "BASIC",
            "Signed too long ago or in the future.",
            "An old document (an old name or domain) replayed.",
        ),
        (
            "Altered",
            "BASIC",
            "Body or status changed after signing.",
            "A name or domain changed on the way.",
        ),
        (
            "Tag",
            "AUTH_BYPASS",
            "Signed with another tag than shardpeer/1/whoareyou.",
            "A signed response of another kind offered as a whoareyou document.",
        ),
        (
            "SignatureMissing",
            "BASIC",
            "No signature.",
            "Name and domain accepted from anyone on the path.",
        ),
        (
            "Key",
            "BASIC",
            "public_key_pem unreadable, or a key that fails the Ed25519 key checks.",
            "A key pinned that can never verify, or verifies forgeries.",
        ),
    ];
    for (flag, bug, d, e) in notes {
        f.note(flag, bug, d, e);
    }
    let alice_doc = doc_of(&ALICE, "Alice");
    let ok = signed(&ALICE, &alice_doc, T0);
    let alice = ALICE.id();
    let mallory_claims_alice = document(
        &alice,
        &ALICE.short(),
        "Alice",
        &MALLORY.domain(),
        &MALLORY.public_pem(),
    );
    let twin_claims_carol = document(
        &CAROL.id(),
        &CAROL.short(),
        "Carol",
        &TWIN.domain(),
        &TWIN.public_pem(),
    );
    let expected = |id: &str, resp: &str| json!({"expectedId": id, "response": resp});
    let cases = vec![
        case(
            "alice's document, fetched for alice",
            &["Basic"],
            expected(&alice, &ok),
        )
        .valid(),
        case(
            "carol's document, fetched for carol",
            &["Basic", "ShortIdTwin"],
            expected(&CAROL.id(), &signed(&CAROL, &doc_of(&CAROL, "Carol"), T0)),
        )
        .valid(),
        case(
            "alice's document, fetched for bob",
            &["OtherId"],
            expected(&BOB.id(), &ok),
        )
        .invalid("signature_keyid_mismatch"),
        case(
            "the twin's own document, fetched for carol (same short ID)",
            &["OtherId", "ShortIdTwin"],
            expected(&CAROL.id(), &signed(&TWIN, &doc_of(&TWIN, "Carol"), T0)),
        )
        .invalid("signature_keyid_mismatch"),
        case(
            "the twin claims carol's ID with its own key, keyid carol",
            &["Impostor", "ShortIdTwin"],
            expected(
                &CAROL.id(),
                &forged(&TWIN, &twin_claims_carol, &CAROL.id(), whoareyou::TAG),
            ),
        )
        .invalid("signature_key_not_of_id"),
        case(
            "mallory claims alice's ID with mallory's key, keyid alice",
            &["Impostor"],
            expected(
                &alice,
                &forged(&MALLORY, &mallory_claims_alice, &alice, whoareyou::TAG),
            ),
        )
        .invalid("signature_key_not_of_id"),
        case(
            "alice's document with a new domain, signed by mallory as alice",
            &["Impostor"],
            expected(
                &alice,
                &forged(
                    &MALLORY,
                    &document(
                        &alice,
                        &ALICE.short(),
                        "Alice",
                        &MALLORY.domain(),
                        &ALICE.public_pem(),
                    ),
                    &alice,
                    whoareyou::TAG,
                ),
            ),
        )
        .invalid("signature_invalid"),
        case(
            "signed 400 s before now",
            &["Stale"],
            expected(&alice, &signed(&ALICE, &alice_doc, NOW - 400)),
        )
        .invalid("signature_too_old"),
        case(
            "signed 100 s after now",
            &["Stale"],
            expected(&alice, &signed(&ALICE, &alice_doc, NOW + 100)),
        )
        .invalid("signature_created_in_future"),
        case(
            "name changed in the body, Content-Digest kept",
            &["Altered"],
            expected(
                &alice,
                &set_body(&ok, &alice_doc.replace("\"Alice\"", "\"Malice\"")),
            ),
        )
        .invalid("content_digest_mismatch"),
        case(
            "name changed in the body and Content-Digest recomputed",
            &["Altered"],
            expected(&alice, &{
                let body = alice_doc.replace("\"Alice\"", "\"Malice\"");
                set_field(
                    &set_body(&ok, &body),
                    "Content-Digest",
                    &digest256(body.as_bytes()),
                )
            }),
        )
        .invalid("signature_invalid"),
        case(
            "status changed to 203",
            &["Altered"],
            expected(
                &alice,
                &set_start_line(&ok, "HTTP/1.1 203 Non-Authoritative Information"),
            ),
        )
        .invalid("signature_invalid"),
        case(
            "signed with the response tag",
            &["Tag"],
            expected(
                &alice,
                &forged(&ALICE, &alice_doc, &alice, "shardpeer/1/response"),
            ),
        )
        .invalid("signature_tag_mismatch"),
        case(
            "no signature",
            &["SignatureMissing"],
            expected(&alice, &unsigned("200 OK", &alice_doc)),
        )
        .invalid("signature_missing"),
        case(
            "public_key_pem is not PEM",
            &["Key"],
            expected(
                &alice,
                &signed(
                    &ALICE,
                    &document(
                        &alice,
                        &ALICE.short(),
                        "Alice",
                        &ALICE.domain(),
                        "not a key",
                    ),
                    T0,
                ),
            ),
        )
        .invalid("key_pem_malformed"),
        case(
            "public_key_pem holds a private key",
            &["Key"],
            expected(
                &alice,
                &signed(
                    &ALICE,
                    &document(
                        &alice,
                        &ALICE.short(),
                        "Alice",
                        &ALICE.domain(),
                        &ALICE.private_pem(),
                    ),
                    T0,
                ),
            ),
        )
        .invalid("key_pem_wrong_label"),
        case(
            "public_key_pem holds the identity point (small order)",
            &["Key"],
            expected(
                &alice,
                &signed(
                    &ALICE,
                    &document(
                        &alice,
                        &ALICE.short(),
                        "Alice",
                        &ALICE.domain(),
                        &spki_pem(&identity_point()),
                    ),
                    T0,
                ),
            ),
        )
        .invalid("key_rejected"),
    ];
    f.group(json!({"type": "WhoAreYou", "now": NOW}), cases);
    f.finish()
}

pub fn schema() -> Value {
    file_schema(
        "whoareyou",
        ALGORITHM,
        "shardpeer conformance vectors: signed whoareyou documents",
        vec![GroupSchema {
            kind: "WhoAreYou",
            shared: json!({"now": {"$ref": "#/$defs/unixTime"}}),
            shared_required: &["now"],
            inputs: json!({
                "expectedId": {"$ref": "#/$defs/shardId"},
                "response": {"$ref": "#/$defs/httpResponse"},
            }),
            inputs_required: &["expectedId", "response"],
            outputs: json!({
                "publicKey": {"$ref": "#/$defs/hex32"},
                "name": {"type": "string"},
                "domain": {"type": "string"},
            }),
            outputs_required: &["publicKey", "name", "domain"],
            test_constraints: Value::Null,
            group_constraints: Value::Null,
        }],
        CODES,
    )
}
