//! `verification.json`: a signed request, the receiver's keys, clock and policy → accepted, or
//! the error code of the first failing step of the verification procedure.

use super::util::*;
use super::{FileBuilder, GroupSchema, case, file_schema};
use crate::wire;
use serde_json::{Value, json};
use shardpeer_core::identity::PublicKey;
use shardpeer_core::profile;
use shardpeer_core::replay::ReplayCache;
use shardpeer_core::sign::SignatureParams;
use shardpeer_core::verify::{Policy, Verifier};

pub const ALGORITHM: &str = "SHARDPEER-VERIFY";

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
    "signature_nonce_missing",
    "signature_keyid_mismatch",
    "signature_keyid_invalid",
    "signature_keyid_not_canonical",
    "signature_tag_mismatch",
    "signature_key_unknown",
    "signature_key_not_of_id",
    "component_unsupported",
    "component_value_invalid",
    "component_sf_invalid",
    "signature_base_too_large",
    "signature_noncanonical_s",
    "signature_noncanonical_point",
    "signature_small_order",
    "signature_not_on_curve",
    "signature_mixed_order",
    "signature_invalid",
    "content_digest_malformed",
    "content_digest_unsupported",
    "signature_replayed",
    "replay_cache_full",
    "content_digest_mismatch",
];

pub fn run(group: &Value, test: &Value) -> Result<Actual, String> {
    let now = u(group, "now")?;
    let req = read_request(s(test, "request")?, scheme(group)?, test.get("extraFields"))?;
    let refs = wire::field_refs(&req.fields);
    let view = req.view(&refs);
    let mut cache = SeenNonces::default();
    for seen in test
        .get("previouslySeenNonces")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        cache
            .check_and_insert(s(seen, "keyid")?, s(seen, "nonce")?, now, u64::MAX)
            .map_err(|e| e.to_string())?;
    }
    let mut buf = vec![0u8; 8192];
    match s(group, "policy")? {
        "shardpeer" => {
            let mut peers = Vec::new();
            for p in group["peers"].as_array().ok_or("peers is not an array")? {
                let key = public_key(s(p, "publicKey")?)?;
                if let Some(pem) = opt_s(p, "publicKeyPem")?
                    && PublicKey::from_pem(pem).map_err(|e| e.to_string())? != key
                {
                    return Err("a peer's publicKey and publicKeyPem disagree".into());
                }
                peers.push((s(p, "id")?.to_string(), key));
            }
            let peers = Peers(peers);
            let v = match profile::request_verifier()
                .verify_request(&view, &peers, &mut cache, now, &mut buf)
            {
                Ok(v) => v,
                Err(e) => return Ok(code(&e)),
            };
            let digest = v
                .content_digest
                .ok_or("a profile signature always covers content-digest")?;
            if let Err(e) = digest.check_body(&req.body) {
                return Ok(code(&e));
            }
            Ok(Actual::valid()
                .with("label", v.label)
                .with("keyid", v.keyid))
        }
        "rfc9421" => {
            let key = public_key(s(group, "publicKey")?)?;
            let pem = PublicKey::from_pem(s(group, "publicKeyPem")?).map_err(|e| e.to_string())?;
            if pem != key {
                return Err("publicKey and publicKeyPem disagree".into());
            }
            match Verifier::new(Policy::RFC9421)
                .verify_request(&view, &key, &mut cache, now, &mut buf)
            {
                Ok(v) => Ok(Actual::valid()
                    .with("label", v.label)
                    .with("keyid", v.keyid)),
                Err(e) => Ok(code(&e)),
            }
        }
        other => Err(format!("unknown policy {other}")),
    }
}

fn peer(k: &Key) -> Value {
    json!({"name": k.name, "id": k.id(), "publicKey": k.public_hex(), "publicKeyPem": k.public_pem()})
}

fn rfc9421_group(k: &Key, now: u64) -> Value {
    json!({
        "type": "Verification",
        "policy": "rfc9421",
        "scheme": "https",
        "now": now,
        "publicKey": k.public_hex(),
        "publicKeyPem": k.public_pem(),
    })
}

fn shardpeer_group(scheme: &str, peers: Vec<Value>) -> Value {
    json!({
        "type": "Verification",
        "policy": "shardpeer",
        "scheme": scheme,
        "now": NOW,
        "peers": peers,
    })
}

/// `;created=…;expires=…;nonce=…;keyid=…;alg=…;tag=…` as the profile's signer writes it.
fn tail(created: u64, nonce: &str, keyid: &str) -> String {
    format!(
        ";created={created};expires={};nonce=\"{nonce}\";keyid=\"{keyid}\";alg=\"ed25519\";tag=\"shardpeer/1\"",
        created + 300
    )
}

/// A profile signature by `who` with `params` changed from the profile's.
fn signed_with<'a>(
    wire_text: &str,
    who: &Key,
    keyid: &'a str,
    f: impl FnOnce(&mut SignatureParams<'a>),
) -> String {
    let mut p = profile_params(keyid, T0, NONCE_1);
    f(&mut p);
    let ct = wire_text.contains("\r\nContent-Type: ");
    sign_params(wire_text, who, "shardpeer", &profile_components(ct), &p)
}

pub fn generate() -> Value {
    let mut f = FileBuilder::new("verification", ALGORITHM, run);
    f.header(&[
        "Verifying a signed request: docs/protocol.md, \"Verification procedure and errors\" (steps 1-18) and \"Signed requests (the RFC 9421 profile)\".",
        "Group: policy (\"shardpeer\": the profile, steps 1-18, keys from peers, a list of full ID -> pinned public key looked up by the exact keyid text; \"rfc9421\": plain RFC 9421 with the one key given, steps 1-5, 7 with unknown parameters allowed, 8 for whichever of created/expires is present, 14 and 15), now (the receiver's clock, seconds since the Unix epoch), scheme (the scheme the receiver sees).",
        "Test: request in wire form (the body is what was received), optional extraFields (field lines appended after parsing, with bytes wire form cannot carry), optional previouslySeenNonces (the (keyid, nonce) pairs already in the replay cache and still live).",
        "Expected: valid, with the label and keyid of the signature verified; or invalid with the code of the FIRST failing step. Under \"shardpeer\" the body is checked against Content-Digest last (step 18); under \"rfc9421\" it is not.",
        "Freshness (profile): created <= now + 60, now <= created + 360, now <= expires + 60. The vectors' signatures are made at created = 1763800000 and checked at now = 1763800030 unless a case says otherwise.",
    ]);
    let notes: &[(&str, &str, &str, &str)] = &[
        (
            "Rfc9421Example",
            "BASIC",
            "A signed request from RFC 9421 Appendix B (B.2.6, B.4), verified with the B.1.4 key.",
            "The implementation does not interoperate with RFC 9421.",
        ),
        (
            "Transformation",
            "EDGE_CASE",
            "RFC 9421 B.4: changes that keep a signature valid (added query parameter or field, removed uncovered field, field lines collapsed or reordered) and changes that break it (method and authority, order of Accept lines).",
            "Valid signatures refused after harmless proxy changes, or harmful changes accepted.",
        ),
        (
            "Profile",
            "BASIC",
            "A request as shardpeer signs it.",
            "Shards cannot talk to each other.",
        ),
        (
            "NoContentType",
            "BASIC",
            "A request without Content-Type: content-type is not covered.",
            "GET requests refused, or signers forced to add a Content-Type.",
        ),
        (
            "ParameterOrder",
            "EDGE_CASE",
            "Parameters received in another order than shardpeer's signer uses; @signature-params must be rebuilt in the received order.",
            "Signatures from other RFC 9421 signers refused.",
        ),
        (
            "OptionalParameter",
            "EDGE_CASE",
            "expires and alg may be omitted.",
            "Requests from other implementations refused.",
        ),
        (
            "Freshness",
            "BASIC",
            "created/expires against now, at and just past the limits of step 8.",
            "Replays accepted long after the replay cache forgot them, or honest requests from a clock 60 s off refused.",
        ),
        (
            "UncoveredField",
            "DEFINED",
            "A field the signature does not cover may change.",
            "Proxies that add or change fields break every request, or an implementation that trusts an uncovered field is spoofable.",
        ),
        (
            "Authority",
            "EDGE_CASE",
            "@authority from Host: lowercased, without the default port of the scheme the receiver sees.",
            "Requests through TLS terminators fail, or a request for another port verifies.",
        ),
        (
            "EmptyQuery",
            "EDGE_CASE",
            "A target ending in '?' has the same @query ('?') as one without '?'.",
            "Requests from clients that append '?' refused.",
        ),
        (
            "OtherLabel",
            "DEFINED",
            "A second signature with another label is ignored under the profile (only label shardpeer is verified).",
            "Requests refused when an intermediary adds its own signature.",
        ),
        (
            "ContentDigest",
            "EDGE_CASE",
            "Content-Digest with several algorithms, repeated, of the wrong length or of none supported (steps 16 and 18).",
            "A body not bound by the digest is accepted.",
        ),
        (
            "ShortIdTwin",
            "AUTH_BYPASS",
            "A key whose ID has the same first 6 characters (short ID) as a trusted peer's ID (carol's, see shard_id.json).",
            "An implementation that looks up peers by short ID or prefix accepts the impostor as the peer.",
        ),
        (
            "SignatureMissing",
            "BASIC",
            "Signature-Input or Signature absent (step 1).",
            "A request treated as signed without a signature.",
        ),
        (
            "Unsigned",
            "DEFINED",
            "No signature at all: the verifier says signature_missing; a gateway treats such a request as anonymous and does not call the verifier.",
            "An unsigned request given a peer's rights.",
        ),
        (
            "Syntax",
            "BASIC",
            "Signature-Input or Signature is not an RFC 8941 dictionary (step 2).",
            "Parser confusion between signer and verifier.",
        ),
        (
            "Label",
            "EDGE_CASE",
            "The label is absent from one of the fields, or appears twice (step 3).",
            "A verifier that picks one of two members can be shown a signature the signer did not choose.",
        ),
        (
            "Malformed",
            "BASIC",
            "The member is not an inner list, or the signature not one 64-byte byte sequence (step 4).",
            "Crashes, or truncated signatures passed to the backend.",
        ),
        (
            "Components",
            "BASIC",
            "Invalid or repeated component identifiers (step 5).",
            "Signer and verifier disagree on the base.",
        ),
        (
            "EmptyList",
            "AUTH_BYPASS",
            "No covered component (allowed by RFC 9421, refused by shardpeer in both policies).",
            "A signature over nothing authenticates any request.",
        ),
        (
            "ProfileComponents",
            "AUTH_BYPASS",
            "Not exactly the profile's components: one missing, content-type not covered though present (or covered though absent), or one not allowed (step 6).",
            "A signature that leaves the query, the digest or the content type open to change is accepted.",
        ),
        (
            "Params",
            "BASIC",
            "Parameters repeated, of the wrong type, unknown under the profile, or expires before created (step 7).",
            "Signer and verifier read different parameters.",
        ),
        (
            "Alg",
            "WRONG_PRIMITIVE",
            "alg present and not \"ed25519\" (step 7).",
            "A signature checked with another algorithm than the signer claims.",
        ),
        (
            "Nonce",
            "MISSING_STEP",
            "No nonce or one shorter than 22 characters (step 9).",
            "Requests that the replay cache cannot tell apart.",
        ),
        (
            "KeyId",
            "AUTH_BYPASS",
            "keyid absent, not a full shard ID, or not in canonical lowercase (step 10).",
            "A peer known under a prefix or a second spelling of its ID.",
        ),
        (
            "Tag",
            "MISSING_STEP",
            "tag absent or not \"shardpeer/1\" (step 11): a response signature or another protocol's signature offered as a request signature.",
            "Signatures made for another purpose accepted as requests.",
        ),
        (
            "Peers",
            "AUTH_BYPASS",
            "keyid not in the receiver's peers list (step 12): only shards the owner added may call.",
            "Anyone with a key may call peer-only apps.",
        ),
        (
            "PinnedKey",
            "AUTH_BYPASS",
            "The peers list gives a key that does not derive the keyid (step 13): a store that was filled by short ID, or corrupted.",
            "An impostor key accepted for a peer's ID.",
        ),
        (
            "LineBreak",
            "AUTH_BYPASS",
            "A covered field delivered with CR/LF (step 14).",
            "Forged lines in the signature base.",
        ),
        (
            "Tampered",
            "BASIC",
            "A covered component changed after signing (step 15).",
            "Changed requests accepted.",
        ),
        (
            "WrongKey",
            "AUTH_BYPASS",
            "Signed by a key other than the one pinned for the keyid (step 15).",
            "Anyone can sign as a peer.",
        ),
        (
            "Ed25519Rule",
            "MALLEABILITY",
            "A signature that fails the Ed25519 validity rule before the equation: S >= L, R non-canonical, of small order, not on the curve, or with a small-order component (step 15; see ed25519_rule.json).",
            "Backends disagree, or one valid signature has several encodings that pass the replay cache as different requests.",
        ),
        (
            "Replay",
            "MISSING_STEP",
            "(keyid, nonce) already seen (step 17); the cache is consulted only after the signature verified, and is keyed by keyid and nonce together.",
            "A recorded request replayed within the freshness window is accepted; or forged requests fill the cache.",
        ),
        (
            "BodyDigest",
            "MISSING_STEP",
            "The received body does not match Content-Digest (step 18).",
            "The signature binds only the digest field; a receiver that skips this accepts any body.",
        ),
        (
            "StepOrder",
            "DEFINED",
            "Several steps fail: the first in the table decides the code.",
            "Codes differ between implementations, so these vectors and logs cannot be compared; or expensive checks run before cheap ones.",
        ),
        (
            "BodyNotCovered",
            "DEFINED",
            "Plain RFC 9421 with a signature that does not cover content-digest: the body is not bound and is not checked.",
            "An implementation that rejects it is stricter than RFC 9421; one that believes the body authenticated is wrong.",
        ),
    ];
    for (flag, bug, d, e) in notes {
        f.note(flag, bug, d, e);
    }

    // ---- plain RFC 9421, the B.1.4 key ----
    let rfc = rfc_key();
    let b26 = b26_signed();
    let b4 = b4_signed();
    let rfc_cases = vec![
        case("RFC 9421 B.2.6", &["Rfc9421Example"], json!({"request": b26})).valid(),
        case("RFC 9421 B.4", &["Rfc9421Example"], json!({"request": b4})).valid(),
        case(
            "B.4: '&param=added' appended to the query and an Accept-Language field added",
            &["Rfc9421Example", "Transformation"],
            json!({"request": add_fields(&set_start_line(&b4, "GET /demo?name1=Value1&Name2=value2&param=added"), &[("Accept-Language", "en-US,en;q=0.5")])}),
        )
        .valid(),
        case(
            "B.4: Date removed, Referer added, the Accept lines collapsed into one",
            &["Rfc9421Example", "Transformation"],
            json!({"request": add_fields(
                &request("GET /demo?name1=Value1&Name2=value2", &[("Host", "example.org"), ("Referer", "https://developer.example.org/demo"), ("Accept", "application/json, */*")], ""),
                &[("Signature-Input", B4_INPUT), ("Signature", B4_SIGNATURE)],
            )}),
        )
        .valid(),
        case(
            "B.4: field lines reordered (the two Accept lines keep their order)",
            &["Rfc9421Example", "Transformation"],
            json!({"request": request("GET /demo?name1=Value1&Name2=value2", &[("Accept", "application/json"), ("Signature", B4_SIGNATURE), ("Date", "Fri, 15 Jul 2022 14:24:55 GMT"), ("Signature-Input", B4_INPUT), ("Host", "example.org"), ("Accept", "*/*")], "")}),
        )
        .valid(),
        case(
            "B.4: method POST and Host example.com",
            &["Rfc9421Example", "Transformation", "Tampered"],
            json!({"request": set_field(&set_start_line(&b4, "POST /demo?name1=Value1&Name2=value2"), "Host", "example.com")}),
        )
        .invalid("signature_invalid"),
        case(
            "B.4: the two Accept lines swapped",
            &["Rfc9421Example", "Transformation", "Tampered"],
            json!({"request": request("GET /demo?name1=Value1&Name2=value2", &[("Host", "example.org"), ("Date", "Fri, 15 Jul 2022 14:24:55 GMT"), ("Accept", "*/*"), ("Accept", "application/json"), ("Signature-Input", B4_INPUT), ("Signature", B4_SIGNATURE)], "")}),
        )
        .invalid("signature_invalid"),
        case(
            "B.2.6 with Content-Type changed",
            &["Rfc9421Example", "Tampered"],
            json!({"request": set_field(&b26, "Content-Type", "text/plain")}),
        )
        .invalid("signature_invalid"),
        case(
            "B.2.6 with another body of the same length: content-digest is not covered, and plain RFC 9421 does not check the body",
            &["Rfc9421Example", "BodyNotCovered"],
            json!({"request": set_body(&b26, r#"{"hello": "w0rld"}"#)}),
        )
        .valid(),
        case(
            "B.2.6 plus a second signature: plain RFC 9421 verifies exactly one",
            &["Rfc9421Example", "Label"],
            json!({"request": sign_inner(&b26, &rfc, "sig2", "(\"@method\");created=1618884473")}),
        )
        .invalid("signature_ambiguous"),
        case(
            "an empty component list (RFC 9421 B.2.1's form, signed with the Ed25519 key)",
            &["EmptyList"],
            json!({"request": sign_inner(&b2_request(), &rfc, "sig-b21", "();created=1618884473;keyid=\"test-key-ed25519\";nonce=\"b3k2pp5k7z-50gnwp.yemd\"")}),
        )
        .invalid("signature_no_components"),
        case(
            "parameters in another order with an unknown parameter (allowed without the profile)",
            &["ParameterOrder"],
            json!({"request": sign_inner(&b2_request(), &rfc, "sig1", "(\"@method\" \"@authority\" \"@path\");x-vendor=1;keyid=\"test-key-ed25519\";created=1618884473")}),
        )
        .valid(),
        case(
            "expires 61 s before now",
            &["Freshness"],
            json!({"request": sign_inner(&b2_request(), &rfc, "sig1", &format!("(\"@method\");created={};expires={}", RFC_CREATED - 1000, RFC_CREATED - 61))}),
        )
        .invalid("signature_expired"),
        case(
            "alg=\"hmac-sha256\"",
            &["Alg"],
            json!({"request": sign_inner(&b2_request(), &rfc, "sig1", "(\"@method\");created=1618884473;alg=\"hmac-sha256\"")}),
        )
        .invalid("signature_alg_unsupported"),
    ];
    f.group(rfc9421_group(&rfc, RFC_CREATED), rfc_cases);
    f.group(
        rfc9421_group(&rfc, RFC_CREATED - 61),
        vec![
            case(
                "B.2.6 checked 61 s before its created",
                &["Rfc9421Example", "Freshness"],
                json!({"request": b26}),
            )
            .invalid("signature_created_in_future"),
        ],
    );
    f.group(
        rfc9421_group(&rfc, 1_900_000_000),
        vec![
            case(
                "B.2.6 years later: plain RFC 9421 sets no maximum age",
                &["Rfc9421Example", "Freshness"],
                json!({"request": b26}),
            )
            .valid(),
        ],
    );
    let post = post_to_bob();
    let sp = sign_profile(&post, &ALICE, T0, NONCE_1);
    f.group(
        rfc9421_group(&ALICE, NOW),
        vec![
            case(
                "a shardpeer request verifies as plain RFC 9421 with the sender's key",
                &["Profile"],
                json!({"request": sp}),
            )
            .valid(),
        ],
    );

    // ---- the profile ----
    let get = get_from_bob();
    let sg = sign_profile(&get, &ALICE, T0, NONCE_2);
    let alice = ALICE.id();
    let bob_id = BOB.id();
    let comps = profile_components(true);
    let inner_post = |inner: &str| sign_inner(&post, &ALICE, "shardpeer", inner);
    let full_tail = tail(T0, NONCE_1, &alice);
    let host = bob_echo();
    let both_digests = format!(
        "{}, {}",
        digest256(POST_BODY.as_bytes()),
        digest512(POST_BODY.as_bytes())
    );
    let sig = signature_bytes(&sp, "shardpeer");
    let r_of = |r: [u8; 32]| {
        let mut s = sig;
        s[..32].copy_from_slice(&r);
        set_signature_bytes(&sp, "shardpeer", &s)
    };
    let r: [u8; 32] = sig[..32].try_into().unwrap();
    let seen_alice = json!([{"keyid": alice, "nonce": NONCE_1}]);

    let mut cases = vec![
        case("alice's POST to bob's echo app", &["Profile"], json!({"request": sp})).valid(),
        case("alice's GET: no body, no query, no Content-Type", &["Profile", "NoContentType"], json!({"request": sg})).valid(),
        case(
            "parameters received as tag, alg, keyid, nonce, expires, created",
            &["Profile", "ParameterOrder"],
            json!({"request": inner_post(&format!("({comps});tag=\"shardpeer/1\";alg=\"ed25519\";keyid=\"{alice}\";nonce=\"{NONCE_1}\";expires={};created={T0}", T0 + 300))}),
        )
        .valid(),
        case("without expires", &["Profile", "OptionalParameter"], json!({"request": signed_with(&post, &ALICE, &alice, |p| p.expires = None)})).valid(),
        case("without alg", &["Profile", "OptionalParameter"], json!({"request": signed_with(&post, &ALICE, &alice, |p| p.alg = false)})).valid(),
        case(
            "created = now + 60: the largest clock difference accepted",
            &["Freshness"],
            json!({"request": signed_with(&post, &ALICE, &alice, |p| { p.created = Some(NOW as i64 + 60); p.expires = Some(NOW as i64 + 360); })}),
        )
        .valid(),
        case(
            "created = now - 360 (and expires = now - 60): the oldest accepted",
            &["Freshness"],
            json!({"request": signed_with(&post, &ALICE, &alice, |p| { p.created = Some(NOW as i64 - 360); p.expires = Some(NOW as i64 - 60); })}),
        )
        .valid(),
        case(
            "expires = now - 60 with a recent created: still accepted",
            &["Freshness"],
            json!({"request": signed_with(&post, &ALICE, &alice, |p| { p.created = Some(NOW as i64 - 100); p.expires = Some(NOW as i64 - 60); })}),
        )
        .valid(),
        case("an uncovered field (X-Custom) changed", &["UncoveredField"], json!({"request": set_field(&sp, "X-Custom", "changed")})).valid(),
        case("Host with the default port ':443' under https", &["Authority"], json!({"request": set_field(&sp, "Host", &format!("{host}:443"))})).valid(),
        case("Host in uppercase", &["Authority"], json!({"request": set_field(&sp, "Host", &host.to_ascii_uppercase())})).valid(),
        case("target '/peer/status?' for a signature over '/peer/status'", &["EmptyQuery"], json!({"request": set_start_line(&sg, "GET /peer/status?")})).valid(),
        case(
            "a second signature with another label",
            &["OtherLabel"],
            json!({"request": sign_inner(&sp, &MALLORY, "other", &format!("(\"@method\");created={T0}"))}),
        )
        .valid(),
        case(
            "Content-Digest with sha-256 and sha-512: sha-512 is checked",
            &["ContentDigest"],
            json!({"request": sign_profile(&set_field(&post, "Content-Digest", &both_digests), &ALICE, T0, NONCE_1)}),
        )
        .valid(),
        case(
            "Content-Digest with sha-512 only",
            &["ContentDigest"],
            json!({"request": sign_profile(&set_field(&post, "Content-Digest", &digest512(POST_BODY.as_bytes())), &ALICE, T0, NONCE_1)}),
        )
        .valid(),
        case("carol (a peer) signs", &["Profile", "ShortIdTwin"], json!({"request": sign_profile(&post, &CAROL, T0, NONCE_1)})).valid(),
        case(
            "the nonce alice used is seen for another keyid: replay protection is per (keyid, nonce)",
            &["Replay"],
            json!({"request": sp, "previouslySeenNonces": [{"keyid": CAROL.id(), "nonce": NONCE_1}]}),
        )
        .valid(),
        // Step 1.
        case("no Signature field", &["SignatureMissing"], json!({"request": remove_field(&sp, "Signature")})).invalid("signature_missing"),
        case("no Signature-Input field", &["SignatureMissing"], json!({"request": remove_field(&sp, "Signature-Input")})).invalid("signature_missing"),
        case("an unsigned request", &["SignatureMissing", "Unsigned"], json!({"request": post})).invalid("signature_missing"),
        // Step 2.
        case("Signature is not base64 inside ':'", &["Syntax"], json!({"request": set_field(&sp, "Signature", "shardpeer=:not base64!:")})).invalid("signature_syntax"),
        case("Signature-Input has an unclosed inner list", &["Syntax"], json!({"request": set_field(&sp, "Signature-Input", "shardpeer=(\"@method\"")})).invalid("signature_syntax"),
        case("Signature-Input label in uppercase (not an RFC 8941 key)", &["Syntax"], json!({"request": set_field(&sp, "Signature-Input", &field(&sp, "Signature-Input").replacen("shardpeer", "Shardpeer", 1))})).invalid("signature_syntax"),
        // Step 3.
        case(
            "signed with the label 'other'",
            &["Label"],
            json!({"request": inner_post(&format!("({comps}){full_tail}")).replace("shardpeer=", "other=")}),
        )
        .invalid("signature_label_not_found"),
        case("Signature under another label than Signature-Input", &["Label"], json!({"request": set_field(&sp, "Signature", &field(&sp, "Signature").replacen("shardpeer=", "sig=", 1))})).invalid("signature_label_not_found"),
        case("Signature-Input repeated on a second line", &["Label"], json!({"request": add_fields(&sp, &[("Signature-Input", &field(&sp, "Signature-Input"))])})).invalid("signature_ambiguous"),
        case(
            "the label twice in one Signature-Input line",
            &["Label"],
            json!({"request": set_field(&sp, "Signature-Input", &format!("{0}, {0}", field(&sp, "Signature-Input")))}),
        )
        .invalid("signature_ambiguous"),
        // Step 4.
        case("Signature of 3 bytes", &["Malformed"], json!({"request": set_field(&sp, "Signature", "shardpeer=:AAAA:")})).invalid("signature_malformed"),
        case("Signature of 65 bytes", &["Malformed"], json!({"request": set_field(&sp, "Signature", &format!("shardpeer=:{}:", b64(&[7u8; 65])))})).invalid("signature_malformed"),
        case("Signature-Input member is an item, not an inner list", &["Malformed"], json!({"request": set_field(&sp, "Signature-Input", "shardpeer=\"@method\"")})).invalid("signature_malformed"),
        case("Signature member is an inner list", &["Malformed"], json!({"request": set_field(&sp, "Signature", &format!("shardpeer=({})", field(&sp, "Signature").trim_start_matches("shardpeer=")))})).invalid("signature_malformed"),
        // Step 5.
        case("an unknown derived component", &["Components"], json!({"request": inner_post(&format!("({comps} \"@unknown\"){full_tail}"))})).invalid("component_invalid"),
        case("@method covered twice", &["Components"], json!({"request": inner_post(&format!("({comps} \"@method\"){full_tail}"))})).invalid("component_duplicate"),
        case("an uppercase field name", &["Components"], json!({"request": inner_post(&format!("(\"@method\" \"@authority\" \"@path\" \"@query\" \"content-digest\" \"Content-Type\"){full_tail}"))})).invalid("component_invalid"),
        case("no component", &["EmptyList"], json!({"request": inner_post(&format!("(){full_tail}"))})).invalid("signature_no_components"),
        // Step 6.
        case("@query not covered", &["ProfileComponents"], json!({"request": inner_post(&format!("(\"@method\" \"@authority\" \"@path\" \"content-digest\" \"content-type\"){full_tail}"))})).invalid("signature_component_not_covered"),
        case("content-digest not covered", &["ProfileComponents"], json!({"request": inner_post(&format!("(\"@method\" \"@authority\" \"@path\" \"@query\" \"content-type\"){full_tail}"))})).invalid("signature_component_not_covered"),
        case("content-digest covered with ;sf instead of plain", &["ProfileComponents"], json!({"request": inner_post(&format!("(\"@method\" \"@authority\" \"@path\" \"@query\" \"content-digest\";sf \"content-type\"){full_tail}"))})).invalid("signature_component_not_covered"),
        case("Content-Type present but not covered", &["ProfileComponents"], json!({"request": inner_post(&format!("({}){full_tail}", profile_components(false)))})).invalid("signature_component_not_covered"),
        case("Content-Type added after signing a request without it", &["ProfileComponents"], json!({"request": add_fields(&sg, &[("Content-Type", "text/plain")])})).invalid("signature_component_not_covered"),
        case("an uncovered field's component added (x-custom)", &["ProfileComponents"], json!({"request": inner_post(&format!("({comps} \"x-custom\"){full_tail}"))})).invalid("signature_component_not_allowed"),
        case("@target-uri added", &["ProfileComponents"], json!({"request": inner_post(&format!("({comps} \"@target-uri\"){full_tail}"))})).invalid("signature_component_not_allowed"),
        case("content-type covered, Content-Type removed after signing", &["ProfileComponents"], json!({"request": remove_field(&sp, "Content-Type")})).invalid("component_missing"),
        // Step 7.
        case("created twice", &["Params"], json!({"request": inner_post(&format!("({comps}){full_tail};created={T0}"))})).invalid("signature_params_invalid"),
        case("an unknown parameter", &["Params"], json!({"request": inner_post(&format!("({comps}){full_tail};x-vendor=1"))})).invalid("signature_params_invalid"),
        case("expires is a string", &["Params"], json!({"request": inner_post(&format!("({comps});created={T0};expires=\"{}\";nonce=\"{NONCE_1}\";keyid=\"{alice}\";tag=\"shardpeer/1\"", T0 + 300))})).invalid("signature_params_invalid"),
        case("created is a decimal", &["Params"], json!({"request": inner_post(&format!("({comps});created={T0}.0;nonce=\"{NONCE_1}\";keyid=\"{alice}\";tag=\"shardpeer/1\""))})).invalid("signature_params_invalid"),
        case("alg is a token, not a string", &["Params", "Alg"], json!({"request": inner_post(&format!("({comps});created={T0};nonce=\"{NONCE_1}\";keyid=\"{alice}\";alg=ed25519;tag=\"shardpeer/1\""))})).invalid("signature_params_invalid"),
        case("expires before created", &["Params", "Freshness"], json!({"request": inner_post(&format!("({comps});created={T0};expires={};nonce=\"{NONCE_1}\";keyid=\"{alice}\";tag=\"shardpeer/1\"", T0 - 1))})).invalid("signature_params_invalid"),
        case("alg=\"rsa-pss-sha512\"", &["Alg"], json!({"request": inner_post(&format!("({comps});created={T0};nonce=\"{NONCE_1}\";keyid=\"{alice}\";alg=\"rsa-pss-sha512\";tag=\"shardpeer/1\""))})).invalid("signature_alg_unsupported"),
        case("alg=\"ED25519\" (case matters)", &["Alg"], json!({"request": inner_post(&format!("({comps});created={T0};nonce=\"{NONCE_1}\";keyid=\"{alice}\";alg=\"ED25519\";tag=\"shardpeer/1\""))})).invalid("signature_alg_unsupported"),
        // Step 8.
        case("no created", &["Freshness"], json!({"request": signed_with(&post, &ALICE, &alice, |p| { p.created = None; p.expires = None; })})).invalid("signature_created_missing"),
        case(
            "created = now + 61",
            &["Freshness"],
            json!({"request": signed_with(&post, &ALICE, &alice, |p| { p.created = Some(NOW as i64 + 61); p.expires = Some(NOW as i64 + 361); })}),
        )
        .invalid("signature_created_in_future"),
        case(
            "created = now - 361 (no expires)",
            &["Freshness"],
            json!({"request": signed_with(&post, &ALICE, &alice, |p| { p.created = Some(NOW as i64 - 361); p.expires = None; })}),
        )
        .invalid("signature_too_old"),
        case(
            "created = now - 361 and expires = created + 300: too old is checked first",
            &["Freshness", "StepOrder"],
            json!({"request": signed_with(&post, &ALICE, &alice, |p| { p.created = Some(NOW as i64 - 361); p.expires = Some(NOW as i64 - 61); })}),
        )
        .invalid("signature_too_old"),
        case(
            "expires = now - 61",
            &["Freshness"],
            json!({"request": signed_with(&post, &ALICE, &alice, |p| { p.created = Some(NOW as i64 - 100); p.expires = Some(NOW as i64 - 61); })}),
        )
        .invalid("signature_expired"),
        // Step 9.
        case("no nonce", &["Nonce"], json!({"request": signed_with(&post, &ALICE, &alice, |p| p.nonce = None)})).invalid("signature_nonce_missing"),
        case("a nonce of 21 characters", &["Nonce"], json!({"request": signed_with(&post, &ALICE, &alice, |p| p.nonce = Some("AAECAwQFBgcICQoLDA0OD"))})).invalid("signature_nonce_missing"),
        // Step 10.
        case("no keyid", &["KeyId"], json!({"request": signed_with(&post, &ALICE, &alice, |p| p.keyid = None)})).invalid("signature_keyid_mismatch"),
    ];
    let short = ALICE.short();
    let upper = alice.to_ascii_uppercase();
    let mut bad_checksum = alice.clone();
    bad_checksum.replace_range(47..48, if alice.ends_with('a') { "b" } else { "a" });
    for (what, keyid, code) in [
        (
            "keyid is alice's short ID",
            short.as_str(),
            "signature_keyid_invalid",
        ),
        (
            "keyid is not a shard ID (test-key-ed25519)",
            "test-key-ed25519",
            "signature_keyid_invalid",
        ),
        (
            "keyid is alice's ID with its last character changed (bad checksum)",
            bad_checksum.as_str(),
            "signature_keyid_invalid",
        ),
        (
            "keyid is alice's ID in uppercase",
            upper.as_str(),
            "signature_keyid_not_canonical",
        ),
    ] {
        cases.push(
            case(
                what,
                &["KeyId"],
                json!({"request": signed_with(&post, &ALICE, &alice, |p| p.keyid = Some(keyid))}),
            )
            .invalid(code),
        );
    }
    cases.extend([
        // Step 11.
        case("no tag", &["Tag"], json!({"request": signed_with(&post, &ALICE, &alice, |p| p.tag = None)})).invalid("signature_tag_mismatch"),
        case("tag of a response signature", &["Tag"], json!({"request": signed_with(&post, &ALICE, &alice, |p| p.tag = Some("shardpeer/1/response"))})).invalid("signature_tag_mismatch"),
        case("tag shardpeer/2", &["Tag"], json!({"request": signed_with(&post, &ALICE, &alice, |p| p.tag = Some("shardpeer/2"))})).invalid("signature_tag_mismatch"),
        // Step 12.
        case("bob is not in the peers list", &["Peers"], json!({"request": sign_profile(&post, &BOB, T0, NONCE_1)})).invalid("signature_key_unknown"),
        case(
            "a key whose ID shares carol's short ID signs as itself",
            &["Peers", "ShortIdTwin"],
            json!({"request": sign_profile(&post, &TWIN, T0, NONCE_1)}),
        )
        .invalid("signature_key_unknown"),
        // Step 14.
        case(
            "a second Content-Type line carrying CR LF",
            &["LineBreak"],
            json!({"request": sp, "extraFields": [{"name": "Content-Type", "valueHex": hex::encode("text/plain\r\nX-Evil: 1")}]}),
        )
        .invalid("component_value_invalid"),
        // Step 15.
        case("method changed", &["Tampered"], json!({"request": set_start_line(&sp, "PUT /peer/inbox?x=1&y=2")})).invalid("signature_invalid"),
        case("Host changed to another app of bob's", &["Tampered"], json!({"request": set_field(&sp, "Host", &format!("files.{}", BOB.domain()))})).invalid("signature_invalid"),
        case("path changed", &["Tampered"], json!({"request": set_start_line(&sp, "POST /peer/outbox?x=1&y=2")})).invalid("signature_invalid"),
        case("query changed", &["Tampered"], json!({"request": set_start_line(&sp, "POST /peer/inbox?x=1&y=3")})).invalid("signature_invalid"),
        case("query removed", &["Tampered"], json!({"request": set_start_line(&sp, "POST /peer/inbox")})).invalid("signature_invalid"),
        case("query added", &["Tampered"], json!({"request": set_start_line(&sg, "GET /peer/status?admin=1")})).invalid("signature_invalid"),
        case(
            "body and Content-Digest both replaced",
            &["Tampered"],
            json!({"request": set_field(&set_body(&sp, r#"{"hello": "eve"}"#), "Content-Digest", &digest256(br#"{"hello": "eve"}"#))}),
        )
        .invalid("signature_invalid"),
        case("Content-Type changed", &["Tampered"], json!({"request": set_field(&sp, "Content-Type", "text/plain")})).invalid("signature_invalid"),
        case(
            "bob signs with keyid = alice's ID",
            &["WrongKey"],
            json!({"request": sign_params(&post, &BOB, "shardpeer", &comps, &profile_params(&alice, T0, NONCE_1))}),
        )
        .invalid("signature_invalid"),
        case(
            "carol's short-ID twin signs with keyid = carol's ID",
            &["WrongKey", "ShortIdTwin"],
            json!({"request": sign_params(&post, &TWIN, "shardpeer", &comps, &profile_params(&CAROL.id(), T0, NONCE_1))}),
        )
        .invalid("signature_invalid"),
        case("S replaced by S + L", &["Ed25519Rule"], json!({"request": set_signature_bytes(&sp, "shardpeer", &with_s_plus_l(&sig))})).invalid("signature_noncanonical_s"),
        case("R replaced by the identity point (small order)", &["Ed25519Rule"], json!({"request": r_of(identity_point())})).invalid("signature_small_order"),
        case("R replaced by y = p + 1 (non-canonical)", &["Ed25519Rule"], json!({"request": r_of(non_canonical_identity())})).invalid("signature_noncanonical_point"),
        case("R replaced by an encoding that is no curve point", &["Ed25519Rule"], json!({"request": r_of(not_on_curve())})).invalid("signature_not_on_curve"),
        case("R replaced by R + a point of order 2 (small-order component)", &["Ed25519Rule"], json!({"request": r_of(plus_order_2(&r))})).invalid("signature_mixed_order"),
        // Step 16.
        case(
            "Content-Digest on two lines (both covered and signed)",
            &["ContentDigest"],
            json!({"request": sign_profile(&add_fields(&post, &[("Content-Digest", &digest512(POST_BODY.as_bytes()))]), &ALICE, T0, NONCE_1)}),
        )
        .invalid("content_digest_malformed"),
        case(
            "Content-Digest sha-256 of 3 bytes (signed)",
            &["ContentDigest"],
            json!({"request": sign_profile(&set_field(&post, "Content-Digest", "sha-256=:AAAA:"), &ALICE, T0, NONCE_1)}),
        )
        .invalid("content_digest_malformed"),
        case(
            "Content-Digest naming only md5 (signed)",
            &["ContentDigest"],
            json!({"request": sign_profile(&set_field(&post, "Content-Digest", "md5=:HtP9O4pL1ZMOvFwqEfXVRQ==:"), &ALICE, T0, NONCE_1)}),
        )
        .invalid("content_digest_unsupported"),
        // Step 17.
        case("the nonce was seen before for alice", &["Replay"], json!({"request": sp, "previouslySeenNonces": seen_alice})).invalid("signature_replayed"),
        // Step 18.
        case("body changed (same length)", &["BodyDigest"], json!({"request": set_body(&sp, r#"{"hello": "eve"}"#)})).invalid("content_digest_mismatch"),
        case("body truncated", &["BodyDigest"], json!({"request": set_body(&sp, r#"{"hello""#)})).invalid("content_digest_mismatch"),
        case("body received for a signature over the empty body", &["BodyDigest"], json!({"request": set_body(&sg, "x")})).invalid("content_digest_mismatch"),
        case(
            "sha-256 right but sha-512 wrong: sha-512 is the one checked",
            &["BodyDigest", "ContentDigest"],
            json!({"request": sign_profile(&set_field(&post, "Content-Digest", &format!("{}, {}", digest256(POST_BODY.as_bytes()), digest512(b"other"))), &ALICE, T0, NONCE_1)}),
        )
        .invalid("content_digest_mismatch"),
        // Order of steps.
        case("no Signature, and Signature-Input under another label: step 1 first", &["StepOrder", "SignatureMissing"], json!({"request": set_field(&remove_field(&sp, "Signature"), "Signature-Input", "other=(\"@method\")")})).invalid("signature_missing"),
        case("Signature does not parse and the label is missing: step 2 first", &["StepOrder", "Syntax"], json!({"request": set_field(&set_field(&sp, "Signature", "shardpeer=:::"), "Signature-Input", "other=(\"@method\")")})).invalid("signature_syntax"),
        case(
            "content-type not covered and expired: step 6 first",
            &["StepOrder", "ProfileComponents"],
            json!({"request": inner_post(&format!("({}){}", profile_components(false), tail(NOW - 1000, NONCE_1, &alice)))}),
        )
        .invalid("signature_component_not_covered"),
        case(
            "no nonce and no keyid: step 9 first",
            &["StepOrder", "Nonce"],
            json!({"request": signed_with(&post, &ALICE, &alice, |p| { p.nonce = None; p.keyid = None; })}),
        )
        .invalid("signature_nonce_missing"),
        case(
            "bob, not a peer, with a wrong tag: step 11 before step 12",
            &["StepOrder", "Tag"],
            json!({"request": signed_with(&post, &BOB, &bob_id, |p| p.tag = Some("other"))}),
        )
        .invalid("signature_tag_mismatch"),
        case(
            "expired and the method changed: step 8 before step 15",
            &["StepOrder", "Freshness"],
            json!({"request": set_start_line(&signed_with(&post, &ALICE, &alice, |p| { p.created = Some(NOW as i64 - 200); p.expires = Some(NOW as i64 - 100); }), "PUT /peer/inbox?x=1&y=2")}),
        )
        .invalid("signature_expired"),
        case(
            "nonce seen before and the method changed: the replay cache is only consulted after the signature verified",
            &["StepOrder", "Replay"],
            json!({"request": set_start_line(&sp, "PUT /peer/inbox?x=1&y=2"), "previouslySeenNonces": seen_alice}),
        )
        .invalid("signature_invalid"),
        case(
            "nonce seen before and the body changed: step 17 before step 18",
            &["StepOrder", "Replay"],
            json!({"request": set_body(&sp, r#"{"hello": "eve"}"#), "previouslySeenNonces": seen_alice}),
        )
        .invalid("signature_replayed"),
    ]);
    f.group(
        shardpeer_group("https", vec![peer(&ALICE), peer(&CAROL)]),
        cases,
    );

    f.group(
        shardpeer_group("http", vec![peer(&ALICE)]),
        vec![
            case("Host with ':80' under http", &["Authority"], json!({"request": set_field(&sp, "Host", &format!("{host}:80"))})).valid(),
            case(
                "Host with ':443' seen over plain http (a TLS terminator that adds the port): not the default port of http",
                &["Authority"],
                json!({"request": set_field(&sp, "Host", &format!("{host}:443"))}),
            )
            .invalid("signature_invalid"),
        ],
    );
    let broken = json!({
        "name": "alice's ID with mallory's key",
        "id": alice,
        "publicKey": MALLORY.public_hex(),
        "publicKeyPem": MALLORY.public_pem(),
    });
    f.group(
        shardpeer_group("https", vec![broken]),
        vec![
            case(
                "mallory signs as alice; the store holds mallory's key for alice's ID",
                &["PinnedKey"],
                json!({"request": sign_params(&post, &MALLORY, "shardpeer", &comps, &profile_params(&alice, T0, NONCE_1))}),
            )
            .invalid("signature_key_not_of_id"),
            case(
                "alice signs; the store holds another key for her ID: refused before the signature is checked",
                &["PinnedKey", "StepOrder"],
                json!({"request": sp}),
            )
            .invalid("signature_key_not_of_id"),
        ],
    );
    f.finish()
}

pub fn schema() -> Value {
    file_schema(
        "verification",
        ALGORITHM,
        "shardpeer conformance vectors: verifying signed requests",
        vec![GroupSchema {
            kind: "Verification",
            shared: json!({
                "policy": {"enum": ["shardpeer", "rfc9421"]},
                "scheme": {"$ref": "#/$defs/scheme"},
                "now": {"$ref": "#/$defs/unixTime"},
                "publicKey": {"$ref": "#/$defs/hex32"},
                "publicKeyPem": {"$ref": "#/$defs/publicKeyPem"},
                "peers": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": false,
                        "required": ["id", "publicKey"],
                        "properties": {
                            "name": {"type": "string"},
                            "id": {"$ref": "#/$defs/shardId"},
                            "publicKey": {"$ref": "#/$defs/hex32"},
                            "publicKeyPem": {"$ref": "#/$defs/publicKeyPem"},
                        },
                    },
                },
            }),
            shared_required: &["policy", "scheme", "now"],
            inputs: json!({
                "request": {"$ref": "#/$defs/httpRequest"},
                "extraFields": {"$ref": "#/$defs/extraFields"},
                "previouslySeenNonces": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": false,
                        "required": ["keyid", "nonce"],
                        "properties": {"keyid": {"type": "string"}, "nonce": {"type": "string"}},
                    },
                },
            }),
            inputs_required: &["request"],
            outputs: json!({
                "label": {"type": "string"},
                "keyid": {"type": ["string", "null"]},
            }),
            outputs_required: &["label", "keyid"],
            test_constraints: Value::Null,
            group_constraints: json!({
                "if": {"properties": {"policy": {"const": "shardpeer"}}},
                "then": {"required": ["peers"], "not": {"anyOf": [{"required": ["publicKey"]}, {"required": ["publicKeyPem"]}]}},
                "else": {"required": ["publicKey", "publicKeyPem"], "not": {"required": ["peers"]}},
            }),
        }],
        CODES,
    )
}
