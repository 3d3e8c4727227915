//! `signing.json`: seed + message + label + components + parameters → the exact
//! `Signature-Input` and `Signature` values (Ed25519 is deterministic).

use super::util::*;
use super::{FileBuilder, GroupSchema, case, file_schema};
use crate::wire;
use serde_json::{Value, json};
use shardpeer_core::base;
use shardpeer_core::identity::Identity;
use shardpeer_core::sf;
use shardpeer_core::sign::{self, SignatureParams};

pub const ALGORITHM: &str = "RFC9421-ED25519-SIGN";

const CODES: &[&str] = &[
    "sign_label_invalid",
    "sign_components_invalid",
    "sign_no_components",
    "sign_param_invalid",
    "sign_input_too_long",
    "sign_base_failed",
];

fn read_params(v: &Value) -> Result<SignatureParams<'_>, String> {
    let obj = v.as_object().ok_or("params is not an object")?;
    let mut p = SignatureParams::default();
    for (k, x) in obj {
        match k.as_str() {
            "created" => p.created = Some(x.as_i64().ok_or("created")?),
            "expires" => p.expires = Some(x.as_i64().ok_or("expires")?),
            "nonce" => p.nonce = Some(x.as_str().ok_or("nonce")?),
            "keyid" => p.keyid = Some(x.as_str().ok_or("keyid")?),
            "alg" => p.alg = x.as_bool().ok_or("alg")?,
            "tag" => p.tag = Some(x.as_str().ok_or("tag")?),
            other => return Err(format!("unknown parameter {other}")),
        }
    }
    Ok(p)
}

pub fn run(group: &Value, test: &Value) -> Result<Actual, String> {
    let identity = Identity::from_seed_hex(s(group, "seed")?).map_err(|e| e.to_string())?;
    let from_pem =
        Identity::from_pkcs8_pem(s(group, "privateKeyPem")?).map_err(|e| e.to_string())?;
    if from_pem.seed() != identity.seed()
        || hex::encode(identity.public_key().as_bytes()) != s(group, "publicKey")?
    {
        return Err("seed, privateKeyPem and publicKey disagree".into());
    }
    let scheme = scheme(group)?;
    let label = s(test, "label")?;
    let components = s(test, "components")?;
    let params = read_params(test.get("params").ok_or("no params")?)?;
    let req = read_request(s(test, "request")?, scheme, None)?;
    let req_refs = wire::field_refs(&req.fields);
    let req_view = req.view(&req_refs);
    let mut buf = vec![0u8; 8192];
    let resp = opt_s(test, "response")?
        .map(|r| read_response(r, None))
        .transpose()?;
    let resp_refs = resp.as_ref().map(|r| wire::field_refs(&r.fields));
    let resp_view = resp
        .as_ref()
        .zip(resp_refs.as_ref())
        .map(|(r, f)| r.view(f, Some(&req_view)));
    let signed = match &resp_view {
        Some(v) => sign::sign_response(&identity, label, components, &params, v, &mut buf),
        None => sign::sign_request(&identity, label, components, &params, &req_view, &mut buf),
    };
    let signed = match signed {
        Ok(s) => s,
        Err(e) => return Ok(code(&e)),
    };
    // The base the signature is over, rebuilt from the Signature-Input written.
    let inner = signed
        .signature_input
        .strip_prefix(label)
        .and_then(|r| r.strip_prefix('='))
        .ok_or("Signature-Input does not start with the label")?;
    let list = sf::parse_inner_list(inner).map_err(|e| e.to_string())?;
    let base = match &resp_view {
        Some(v) => base::response_base(v, &list, &mut buf),
        None => base::request_base(&req_view, &list, &mut buf),
    }
    .map_err(|e| e.to_string())?;
    Ok(Actual::valid()
        .with(
            "signatureBase",
            String::from_utf8(base.to_vec()).map_err(|e| e.to_string())?,
        )
        .with("signatureInput", signed.signature_input.as_str())
        .with("signature", signed.signature.as_str()))
}

fn key_group(k: &Key) -> Value {
    json!({
        "type": "Signing",
        "keyName": k.name,
        "seed": k.seed_hex(),
        "privateKeyPem": k.private_pem(),
        "publicKey": k.public_hex(),
        "publicKeyPem": k.public_pem(),
        "scheme": "https",
    })
}

pub fn generate() -> Value {
    let mut f = FileBuilder::new("signing", ALGORITHM, run);
    f.header(&[
        "RFC 9421 signing with Ed25519 (RFC 8032, deterministic): docs/protocol.md, \"Signed requests\" and \"Signed responses\".",
        "Group: the key (seed, PKCS#8 v1 PEM, public key). Test: request (wire form), optional response (then the response is signed, bound to the request for ;req components), label, components (the covered component identifiers as they appear inside the parentheses), params (which parameters to emit; alg is true to emit alg=\"ed25519\").",
        "Parameters are always emitted in the order created, expires, nonce, keyid, alg, tag, whatever the order of the params object, and only when given.",
        "Outputs: signatureBase (the bytes signed, LF-separated), signatureInput and signature (the field values, starting with the label). Errors are the signer's own (answered 500): sign_* codes, not wire codes of the verification procedure.",
    ]);
    f.note(
        "Rfc9421Example",
        "BASIC",
        "RFC 9421 Appendix B with the B.1.4 Ed25519 key, byte for byte (third-party/rfc9421-appendix-b.txt).",
        "An implementation that differs does not interoperate with RFC 9421.",
    );
    f.note(
        "Profile",
        "BASIC",
        "A shardpeer request or response: the profile's components and all six parameters.",
        "Other shards refuse the signature.",
    );
    f.note(
        "ParameterOrder",
        "DEFINED",
        "The signer's fixed order: created, expires, nonce, keyid, alg, tag (RFC 9421 fixes none; shardpeer does, so signatures are reproducible).",
        "A signer emitting another order still verifies (verifiers keep the received order), but its output differs from these vectors and from other shardpeer signers.",
    );
    f.note(
        "Escaping",
        "EDGE_CASE",
        "String parameters are RFC 8941 strings: '\"' and '\\' are escaped.",
        "A keyid with a quote produces an unparsable Signature-Input or a base the verifier does not rebuild.",
    );
    f.note(
        "Response",
        "BASIC",
        "A response signature bound to its request.",
        "Responses cannot be verified by the caller.",
    );
    f.note(
        "SignerRefuses",
        "BASIC",
        "Input a signer must refuse rather than sign: no component, a label that is not an RFC 8941 key (lowercase, at most 32 bytes), a parameter that is not printable ASCII, expires before created, a component it cannot compute.",
        "The signer emits a signature no verifier accepts, or one that covers nothing.",
    );

    let rfc = rfc_key();
    let b2 = b2_request();
    let b26_components = r#""date" "@method" "@path" "@authority" "content-type" "content-length""#;
    f.group(
        key_group(&rfc),
        vec![
            case(
                "RFC 9421 B.2.6: the B.2 request, label sig-b26",
                &["Rfc9421Example"],
                json!({"request": b2, "label": "sig-b26", "components": b26_components, "params": {"created": RFC_CREATED, "keyid": "test-key-ed25519"}}),
            )
            .pinned(json!({"signatureBase": B26_BASE, "signatureInput": B26_INPUT, "signature": B26_SIGNATURE})),
            case(
                "RFC 9421 B.4: label transform, two Accept lines",
                &["Rfc9421Example"],
                json!({"request": b4_request(), "label": "transform", "components": r#""@method" "@path" "@authority" "accept""#, "params": {"created": RFC_CREATED, "keyid": "test-key-ed25519"}}),
            )
            .pinned(json!({"signatureBase": B4_BASE, "signatureInput": B4_INPUT, "signature": B4_SIGNATURE})),
            case(
                "params given as tag, alg, keyid, nonce, expires, created: emitted as created, expires, nonce, keyid, alg, tag",
                &["ParameterOrder"],
                json!({"request": b2, "label": "sig1", "components": b26_components, "params": {"tag": "app/1", "alg": true, "keyid": "test-key-ed25519", "nonce": "n0nce", "expires": RFC_CREATED + 300, "created": RFC_CREATED}}),
            )
            .valid(),
            case(
                "only alg: no other parameter is emitted",
                &["ParameterOrder"],
                json!({"request": b2, "label": "sig1", "components": "\"@method\"", "params": {"alg": true}}),
            )
            .valid(),
            case(
                "keyid with a quote and a backslash",
                &["Escaping"],
                json!({"request": b2, "label": "sig1", "components": "\"@method\"", "params": {"created": RFC_CREATED, "keyid": "a\"b\\c"}}),
            )
            .valid(),
        ],
    );

    let post = post_to_bob();
    let get = get_from_bob();
    let alice_id = ALICE.id();
    let full = |created: u64, nonce: &str| json!({"created": created, "expires": created + 300, "nonce": nonce, "keyid": alice_id, "alg": true, "tag": "shardpeer/1"});
    let signed_post = sign_profile(&post, &ALICE, T0, NONCE_1);
    let profile_cases = vec![
        case(
            "alice's POST to bob: the profile with Content-Type (the Signature-Input of docs/protocol.md's example)",
            &["Profile"],
            json!({"request": post, "label": "shardpeer", "components": profile_components(true), "params": full(T0, NONCE_1)}),
        )
        .pinned(json!({
            "signatureInput": field(&signed_post, "Signature-Input"),
            "signature": field(&signed_post, "Signature"),
        })),
        case(
            "alice's GET: no Content-Type, so content-type is not covered; empty-body digest",
            &["Profile"],
            json!({"request": get, "label": "shardpeer", "components": profile_components(false), "params": full(T0, NONCE_2)}),
        )
        .pinned(json!({
            "signatureInput": field(&sign_profile(&get, &ALICE, T0, NONCE_2), "Signature-Input"),
        })),
        case(
            "no component",
            &["SignerRefuses"],
            json!({"request": post, "label": "shardpeer", "components": "", "params": full(T0, NONCE_1)}),
        )
        .invalid("sign_no_components"),
        case(
            "components that are not an inner list's items (unquoted)",
            &["SignerRefuses"],
            json!({"request": post, "label": "shardpeer", "components": "@method @path", "params": full(T0, NONCE_1)}),
        )
        .invalid("sign_components_invalid"),
        case(
            "uppercase label",
            &["SignerRefuses"],
            json!({"request": post, "label": "Shardpeer", "components": profile_components(true), "params": full(T0, NONCE_1)}),
        )
        .invalid("sign_label_invalid"),
        case(
            "label of 33 bytes",
            &["SignerRefuses"],
            json!({"request": post, "label": "a".repeat(33), "components": profile_components(true), "params": full(T0, NONCE_1)}),
        )
        .invalid("sign_label_invalid"),
        case(
            "expires before created",
            &["SignerRefuses"],
            json!({"request": post, "label": "shardpeer", "components": profile_components(true), "params": {"created": T0, "expires": T0 - 1}}),
        )
        .invalid("sign_param_invalid"),
        case(
            "nonce with a line break",
            &["SignerRefuses"],
            json!({"request": post, "label": "shardpeer", "components": profile_components(true), "params": {"created": T0, "nonce": "line\nbreak"}}),
        )
        .invalid("sign_param_invalid"),
        case(
            "keyid with a non-ASCII character",
            &["SignerRefuses"],
            json!({"request": post, "label": "shardpeer", "components": profile_components(true), "params": {"created": T0, "keyid": "café"}}),
        )
        .invalid("sign_param_invalid"),
        case(
            "covering a field the request does not have",
            &["SignerRefuses"],
            json!({"request": get, "label": "shardpeer", "components": profile_components(true), "params": full(T0, NONCE_1)}),
        )
        .invalid("sign_base_failed"),
    ];
    f.group(key_group(&ALICE), profile_cases);

    let answer = bob_answer();
    let signed_answer = sign_profile_response(&answer, &signed_post, &BOB, T0 + 1);
    f.group(
        key_group(&BOB),
        vec![case(
            "bob's response to alice's signed POST: bound to it by \"signature\";req;key=\"shardpeer\"",
            &["Profile", "Response"],
            json!({
                "request": signed_post,
                "response": answer,
                "label": "shardpeer",
                "components": "\"@status\" \"content-digest\" \"signature\";req;key=\"shardpeer\" \"content-type\"",
                "params": {"created": T0 + 1, "expires": T0 + 301, "keyid": BOB.id(), "alg": true, "tag": "shardpeer/1/response"},
            }),
        )
        .pinned(json!({
            "signatureInput": field(&signed_answer, "Signature-Input"),
            "signature": field(&signed_answer, "Signature"),
        }))],
    );
    f.finish()
}

pub fn schema() -> Value {
    file_schema(
        "signing",
        ALGORITHM,
        "shardpeer conformance vectors: RFC 9421 signing with Ed25519",
        vec![GroupSchema {
            kind: "Signing",
            shared: json!({
                "keyName": {"type": "string"},
                "seed": {"$ref": "#/$defs/hex32"},
                "privateKeyPem": {"$ref": "#/$defs/privateKeyPem"},
                "publicKey": {"$ref": "#/$defs/hex32"},
                "publicKeyPem": {"$ref": "#/$defs/publicKeyPem"},
                "scheme": {"$ref": "#/$defs/scheme"},
            }),
            shared_required: &[
                "seed",
                "privateKeyPem",
                "publicKey",
                "publicKeyPem",
                "scheme",
            ],
            inputs: json!({
                "request": {"$ref": "#/$defs/httpRequest"},
                "response": {"$ref": "#/$defs/httpResponse"},
                "label": {"type": "string"},
                "components": {"type": "string"},
                "params": {
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "created": {"type": "integer"},
                        "expires": {"type": "integer"},
                        "nonce": {"type": "string"},
                        "keyid": {"type": "string"},
                        "alg": {"type": "boolean"},
                        "tag": {"type": "string"},
                    },
                },
            }),
            inputs_required: &["request", "label", "components", "params"],
            outputs: json!({
                "signatureBase": {"type": "string"},
                "signatureInput": {"type": "string"},
                "signature": {"type": "string", "pattern": "^[a-z*][a-z0-9_.*-]*=:[A-Za-z0-9+/]{86}==:$"},
            }),
            outputs_required: &["signatureBase", "signatureInput", "signature"],
            test_constraints: Value::Null,
            group_constraints: Value::Null,
        }],
        CODES,
    )
}
