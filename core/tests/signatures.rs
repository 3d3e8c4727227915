//! RFC 9421 signing and verification: the RFC's own vectors and the shardpeer profile,
//! including every way a profile signature must fail.

use shardpeer_core::base::{self, BaseError};
use shardpeer_core::digest::{Digest, DigestAlg, DigestError};
use shardpeer_core::ed25519::SignatureRuleError;
use shardpeer_core::identity::{Identity, PublicKey};
use shardpeer_core::message::{Request, Response};
use shardpeer_core::profile;
use shardpeer_core::replay::{FixedReplayCache, ReplayError};
use shardpeer_core::sf;
use shardpeer_core::sign::{self, SignError, SignatureParams};
use shardpeer_core::verify::{KeySource, Policy, Verifier, VerifyError};
use shardpeer_core::wire::WireError;

const B14_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n-----END PRIVATE KEY-----\n";
const B14_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=\n-----END PUBLIC KEY-----\n";
const B26_INPUT: &str = r#"sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519""#;
const B26_SIGNATURE: &str = "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:";

fn rfc_identity() -> Identity {
    Identity::from_pkcs8_pem(B14_PRIVATE).unwrap()
}

fn rfc_public() -> PublicKey {
    PublicKey::from_pem(B14_PUBLIC).unwrap()
}

type Fields<'a> = Vec<(&'a str, &'a str)>;

fn b2_fields() -> Fields<'static> {
    vec![
        ("Host", "example.com"),
        ("Date", "Tue, 20 Apr 2021 02:07:55 GMT"),
        ("Content-Type", "application/json"),
        (
            "Content-Digest",
            "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:",
        ),
        ("Content-Length", "18"),
    ]
}

fn request<'a>(
    fields: &'a [(&'a str, &'a str)],
    method: &'a str,
    authority: &'a str,
    path: &'a str,
    query: Option<&'a str>,
) -> Request<'a, [(&'a str, &'a str)]> {
    Request {
        method,
        scheme: "https",
        authority,
        path,
        query,
        fields,
    }
}

fn no_replay() -> FixedReplayCache<16> {
    FixedReplayCache::new()
}

#[test]
fn rfc9421_b26_signs_byte_for_byte() {
    let fields = b2_fields();
    let req = request(
        &fields,
        "POST",
        "example.com",
        "/foo",
        Some("param=Value&Pet=dog"),
    );
    let params = SignatureParams {
        created: Some(1618884473),
        keyid: Some("test-key-ed25519"),
        ..Default::default()
    };
    let mut buf = [0u8; 1024];
    let out = sign::sign_request(
        &rfc_identity(),
        "sig-b26",
        r#""date" "@method" "@path" "@authority" "content-type" "content-length""#,
        &params,
        &req,
        &mut buf,
    )
    .unwrap();
    assert_eq!(out.signature_input.as_str(), B26_INPUT);
    assert_eq!(out.signature.as_str(), B26_SIGNATURE);
}

#[test]
fn rfc9421_b26_verifies() {
    let mut fields = b2_fields();
    fields.push(("Signature-Input", B26_INPUT));
    fields.push(("Signature", B26_SIGNATURE));
    let req = request(
        &fields,
        "POST",
        "example.com",
        "/foo",
        Some("param=Value&Pet=dog"),
    );
    let mut buf = [0u8; 1024];
    let v = Verifier::new(Policy::RFC9421)
        .verify_request(&req, &rfc_public(), &mut no_replay(), 1618884473, &mut buf)
        .unwrap();
    assert_eq!(v.label, "sig-b26");
    assert_eq!(v.keyid, Some("test-key-ed25519"));
    assert_eq!(v.components, 6);
    assert_eq!(
        v.content_digest, None,
        "content-digest is not covered by B.2.6"
    );
    // Without `now` close to `created` it still verifies: plain RFC 9421 sets no max age.
    assert!(
        Verifier::new(Policy::RFC9421)
            .verify_request(
                &req,
                &rfc_public(),
                &mut no_replay(),
                1_900_000_000,
                &mut buf
            )
            .is_ok()
    );
}

const B4_INPUT: &str = r#"transform=("@method" "@path" "@authority" "accept");created=1618884473;keyid="test-key-ed25519""#;
const B4_SIGNATURE: &str = "transform=:ZT1kooQsEHpZ0I1IjCqtQppOmIqlJPeo7DHR3SoMn0s5JZ1eRGS0A+vyYP9t/LXlh5QMFFQ6cpLt2m0pmj3NDA==:";

fn verify_b4(
    method: &str,
    authority: &str,
    query: &str,
    fields: &[(&str, &str)],
) -> Result<(), VerifyError> {
    let mut all: Fields = fields.to_vec();
    all.push(("Signature-Input", B4_INPUT));
    all.push(("Signature", B4_SIGNATURE));
    let req = request(&all, method, authority, "/demo", Some(query));
    let mut buf = [0u8; 1024];
    Verifier::new(Policy::RFC9421)
        .verify_request(&req, &rfc_public(), &mut no_replay(), 1618884473, &mut buf)
        .map(|_| ())
}

#[test]
fn rfc9421_b4_transformations() {
    let original = [
        ("Host", "example.org"),
        ("Date", "Fri, 15 Jul 2022 14:24:55 GMT"),
        ("Accept", "application/json"),
        ("Accept", "*/*"),
    ];
    assert_eq!(
        verify_b4("GET", "example.org", "name1=Value1&Name2=value2", &original),
        Ok(())
    );
    // Still valid: an added query parameter and field.
    assert_eq!(
        verify_b4(
            "GET",
            "example.org",
            "name1=Value1&Name2=value2&param=added",
            &[
                ("Host", "example.org"),
                ("Date", "Fri, 15 Jul 2022 14:24:55 GMT"),
                ("Accept", "application/json"),
                ("Accept", "*/*"),
                ("Accept-Language", "en-US,en;q=0.5")
            ]
        ),
        Ok(())
    );
    // Still valid: Date removed, Referer added, Accept lines collapsed.
    assert_eq!(
        verify_b4(
            "GET",
            "example.org",
            "name1=Value1&Name2=value2",
            &[
                ("Host", "example.org"),
                ("Referer", "https://developer.example.org/demo"),
                ("Accept", "application/json, */*")
            ]
        ),
        Ok(())
    );
    // Still valid: field lines reordered (relative order of Accept kept).
    assert_eq!(
        verify_b4(
            "GET",
            "example.org",
            "name1=Value1&Name2=value2",
            &[
                ("Accept", "application/json"),
                ("Accept", "*/*"),
                ("Date", "Fri, 15 Jul 2022 14:24:55 GMT"),
                ("Host", "example.org")
            ]
        ),
        Ok(())
    );
    // Must fail: method and host changed.
    assert_eq!(
        verify_b4(
            "POST",
            "example.com",
            "name1=Value1&Name2=value2",
            &original
        ),
        Err(VerifyError::Signature(SignatureRuleError::Invalid))
    );
    // Must fail: the two Accept lines swapped.
    assert_eq!(
        verify_b4(
            "GET",
            "example.org",
            "name1=Value1&Name2=value2",
            &[
                ("Host", "example.org"),
                ("Accept", "*/*"),
                ("Accept", "application/json")
            ]
        ),
        Err(VerifyError::Signature(SignatureRuleError::Invalid))
    );
}

#[test]
fn received_parameter_order_is_preserved() {
    // A verifier must rebuild `@signature-params` with the parameters in the order received.
    // Sign by hand with an order our signer never emits, then verify.
    let id = rfc_identity();
    for params in [
        r#"("@method" "@path");keyid="k";created=1700000000"#,
        r#"("@method" "@path");created=1700000000;keyid="k";alg="ed25519""#,
        r#"("@method" "@path");alg="ed25519";nonce="abc";created=1700000000;x-vendor=1"#,
    ] {
        let fields = vec![("Host", "h.example")];
        let req = request(&fields, "GET", "h.example", "/p", None);
        let list = sf::parse_inner_list(params).unwrap();
        let mut buf = [0u8; 512];
        let base = base::request_base(&req, &list, &mut buf).unwrap();
        assert!(std::str::from_utf8(base).unwrap().ends_with(params));
        let sig = id.sign(base);
        let sig_value = format!("sig1=:{}:", b64(&sig));
        let input_value = format!("sig1={params}");
        let signed = vec![
            ("Host", "h.example"),
            ("Signature-Input", input_value.as_str()),
            ("Signature", sig_value.as_str()),
        ];
        let req = request(&signed, "GET", "h.example", "/p", None);
        let r = Verifier::new(Policy::RFC9421).verify_request(
            &req,
            &rfc_public(),
            &mut no_replay(),
            1700000000,
            &mut buf,
        );
        assert!(r.is_ok(), "{params}: {r:?}");
    }
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

// ---------------------------------------------------------------------------------------
// The shardpeer profile.

const NOW: u64 = 1_763_800_000;
const NONCE: &str = "AAECAwQFBgcICQoLDA0ODw";

fn alice() -> Identity {
    Identity::from_seed([1u8; 32]).unwrap()
}

fn bob() -> Identity {
    Identity::from_seed([2u8; 32]).unwrap()
}

/// A peers list: keyid → pinned key.
struct Peers(Vec<(String, PublicKey)>);

impl KeySource for Peers {
    fn key_for(&self, keyid: Option<&str>) -> Option<PublicKey> {
        self.0
            .iter()
            .find(|(id, _)| Some(id.as_str()) == keyid)
            .map(|(_, k)| *k)
    }
}

fn peers_of(ids: &[&Identity]) -> Peers {
    Peers(
        ids.iter()
            .map(|i| (i.id().as_str().to_string(), i.public_key()))
            .collect(),
    )
}

/// A request Alice's host sends to Bob's echo app, before signing.
struct Outgoing {
    method: String,
    authority: String,
    path: String,
    query: Option<String>,
    body: Vec<u8>,
    fields: Vec<(String, String)>,
}

impl Outgoing {
    fn new() -> Self {
        let body = br#"{"hello": "bob"}"#.to_vec();
        Outgoing {
            method: "POST".into(),
            authority: "echo.bobbob.shard.test".into(),
            path: "/peer/inbox".into(),
            query: Some("x=1&y=2".into()),
            fields: vec![
                ("Content-Type".into(), "application/json".into()),
                (
                    "Content-Digest".into(),
                    Digest::of(DigestAlg::Sha256, &body)
                        .header_value()
                        .to_string(),
                ),
                ("X-Custom".into(), "kept".into()),
            ],
            body,
        }
    }

    fn field_refs(&self) -> Vec<(&str, &str)> {
        self.fields
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect()
    }

    fn sign(mut self, who: &Identity, now: u64, nonce: &str) -> Self {
        let refs = self.field_refs();
        let req = Request {
            method: &self.method,
            scheme: "https",
            authority: &self.authority,
            path: &self.path,
            query: self.query.as_deref(),
            fields: refs.as_slice(),
        };
        let mut buf = [0u8; 1024];
        let signed = profile::sign_request(who, &req, now, nonce, &mut buf).unwrap();
        drop(refs);
        self.fields
            .push(("Signature-Input".into(), signed.signature_input.to_string()));
        self.fields
            .push(("Signature".into(), signed.signature.to_string()));
        self
    }

    fn set(&mut self, name: &str, value: &str) {
        for (n, v) in &mut self.fields {
            if n.eq_ignore_ascii_case(name) {
                *v = value.to_string();
            }
        }
    }

    fn remove(&mut self, name: &str) {
        self.fields.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// Verifies as Bob's gateway would, including the body against Content-Digest.
    fn verify_at(
        &self,
        peers: &Peers,
        cache: &mut FixedReplayCache<16>,
        now: u64,
    ) -> Result<String, String> {
        let refs = self.field_refs();
        let req = Request {
            method: &self.method,
            scheme: "http",
            authority: &self.authority,
            path: &self.path,
            query: self.query.as_deref(),
            fields: refs.as_slice(),
        };
        let mut buf = [0u8; 1024];
        let v = profile::request_verifier()
            .verify_request(&req, peers, cache, now, &mut buf)
            .map_err(|e| e.code().to_string())?;
        let digest = v.content_digest.ok_or("no digest")?;
        digest
            .check_body(&self.body)
            .map_err(|e| e.code().to_string())?;
        Ok(v.keyid.unwrap().to_string())
    }
}

fn ok_for_bob(req: &Outgoing) -> Result<String, String> {
    req.verify_at(&peers_of(&[&alice()]), &mut no_replay(), NOW + 1)
}

#[test]
fn profile_round_trip() {
    let req = Outgoing::new().sign(&alice(), NOW, NONCE);
    let input = &req
        .fields
        .iter()
        .find(|(n, _)| n == "Signature-Input")
        .unwrap()
        .1;
    assert_eq!(
        input,
        &format!(
            r#"shardpeer=("@method" "@authority" "@path" "@query" "content-digest" "content-type");created={NOW};expires={};nonce="{NONCE}";keyid="{}";alg="ed25519";tag="shardpeer/1""#,
            NOW + 300,
            alice().id().as_str()
        )
    );
    assert_eq!(ok_for_bob(&req), Ok(alice().id().as_str().to_string()));
}

#[test]
fn profile_signature_verifies_as_plain_rfc9421() {
    // Any RFC 9421 implementation given the key must accept a profile signature.
    let req = Outgoing::new().sign(&alice(), NOW, NONCE);
    let refs = req.field_refs();
    let view = Request {
        method: &req.method,
        scheme: "https",
        authority: &req.authority,
        path: &req.path,
        query: req.query.as_deref(),
        fields: refs.as_slice(),
    };
    let mut buf = [0u8; 1024];
    assert!(
        Verifier::new(Policy::RFC9421)
            .verify_request(
                &view,
                &alice().public_key(),
                &mut no_replay(),
                NOW,
                &mut buf
            )
            .is_ok()
    );
}

#[test]
fn tampering_any_covered_component_fails() {
    let base = Outgoing::new().sign(&alice(), NOW, NONCE);
    let bad_sig = Err("signature_invalid".to_string());
    let mut r = Outgoing {
        method: "PUT".into(),
        ..clone(&base)
    };
    assert_eq!(ok_for_bob(&r), bad_sig, "method");
    r = Outgoing {
        authority: "echo.evilxx.shard.test".into(),
        ..clone(&base)
    };
    assert_eq!(ok_for_bob(&r), bad_sig, "authority");
    r = Outgoing {
        path: "/peer/inbox2".into(),
        ..clone(&base)
    };
    assert_eq!(ok_for_bob(&r), bad_sig, "path");
    r = Outgoing {
        query: Some("x=1&y=3".into()),
        ..clone(&base)
    };
    assert_eq!(ok_for_bob(&r), bad_sig, "query");
    r = Outgoing {
        query: None,
        ..clone(&base)
    };
    assert_eq!(ok_for_bob(&r), bad_sig, "query removed");
    r = clone(&base);
    r.set("Content-Type", "text/plain");
    assert_eq!(ok_for_bob(&r), bad_sig, "content-type");
    r = clone(&base);
    r.remove("Content-Type");
    assert_eq!(
        ok_for_bob(&r),
        Err("component_missing".into()),
        "content-type removed"
    );
    // A new body with a matching new digest: the digest field is signed.
    r = clone(&base);
    r.body = b"{}".to_vec();
    r.set(
        "Content-Digest",
        Digest::of(DigestAlg::Sha256, b"{}").header_value().as_str(),
    );
    assert_eq!(ok_for_bob(&r), bad_sig, "digest field");
    // A new body, digest untouched: the signature holds, the body check does not.
    r = clone(&base);
    r.body = b"{}".to_vec();
    assert_eq!(
        ok_for_bob(&r),
        Err(DigestError::Mismatch.code().into()),
        "body"
    );
    // Uncovered fields may change.
    r = clone(&base);
    r.set("X-Custom", "changed");
    assert!(ok_for_bob(&r).is_ok(), "uncovered field");
}

fn clone(o: &Outgoing) -> Outgoing {
    Outgoing {
        method: o.method.clone(),
        authority: o.authority.clone(),
        path: o.path.clone(),
        query: o.query.clone(),
        body: o.body.clone(),
        fields: o.fields.clone(),
    }
}

#[test]
fn freshness() {
    let req = Outgoing::new().sign(&alice(), NOW, NONCE);
    let peers = peers_of(&[&alice()]);
    assert!(req.verify_at(&peers, &mut no_replay(), NOW + 300).is_ok());
    assert_eq!(
        req.verify_at(&peers, &mut no_replay(), NOW + 361),
        Err("signature_too_old".into())
    );
    assert!(
        req.verify_at(&peers, &mut no_replay(), NOW - 60).is_ok(),
        "within skew"
    );
    assert_eq!(
        req.verify_at(&peers, &mut no_replay(), NOW - 61),
        Err("signature_created_in_future".into())
    );
}

#[test]
fn replay_is_refused() {
    let req = Outgoing::new().sign(&alice(), NOW, NONCE);
    let peers = peers_of(&[&alice()]);
    let mut cache = no_replay();
    assert!(req.verify_at(&peers, &mut cache, NOW).is_ok());
    assert_eq!(
        req.verify_at(&peers, &mut cache, NOW + 5),
        Err(ReplayError::Replayed.code().into())
    );
    // A fresh nonce is a fresh request.
    let again = Outgoing::new().sign(&alice(), NOW, "BBECAwQFBgcICQoLDA0ODw");
    assert!(again.verify_at(&peers, &mut cache, NOW + 5).is_ok());
}

#[test]
fn forged_requests_do_not_fill_the_replay_cache() {
    let mut forged = Outgoing::new().sign(&alice(), NOW, NONCE);
    forged.method = "DELETE".into();
    let peers = peers_of(&[&alice()]);
    let mut cache = no_replay();
    assert!(forged.verify_at(&peers, &mut cache, NOW).is_err());
    assert_eq!(cache.live(NOW), 0);
    // The genuine request with that nonce still goes through.
    assert!(
        Outgoing::new()
            .sign(&alice(), NOW, NONCE)
            .verify_at(&peers, &mut cache, NOW)
            .is_ok()
    );
}

#[test]
fn only_peers_are_accepted() {
    let req = Outgoing::new().sign(&alice(), NOW, NONCE);
    assert_eq!(
        req.verify_at(&peers_of(&[&bob()]), &mut no_replay(), NOW),
        Err("signature_key_unknown".into())
    );
    assert_eq!(
        req.verify_at(&Peers(vec![]), &mut no_replay(), NOW),
        Err("signature_key_unknown".into())
    );
}

#[test]
fn wrong_key_fails() {
    // Bob signs but claims to be Alice (keyid = Alice's ID): the pinned key is Alice's.
    let mut req = Outgoing::new();
    let refs = req.field_refs();
    let view = Request {
        method: &req.method,
        scheme: "https",
        authority: &req.authority,
        path: &req.path,
        query: req.query.as_deref(),
        fields: refs.as_slice(),
    };
    let alice_id = alice().id();
    let params = SignatureParams {
        created: Some(NOW as i64),
        expires: Some(NOW as i64 + 300),
        nonce: Some(NONCE),
        keyid: Some(alice_id.as_str()),
        alg: true,
        tag: Some(profile::REQUEST_TAG),
    };
    let mut buf = [0u8; 1024];
    let comps = format!("{} {}", profile::REQUEST_COMPONENTS, profile::IF_PRESENT);
    let signed =
        sign::sign_request(&bob(), profile::LABEL, &comps, &params, &view, &mut buf).unwrap();
    drop(refs);
    req.fields
        .push(("Signature-Input".into(), signed.signature_input.to_string()));
    req.fields
        .push(("Signature".into(), signed.signature.to_string()));
    assert_eq!(ok_for_bob(&req), Err("signature_invalid".into()));
}

#[test]
fn a_key_that_is_not_the_ids_key_is_refused() {
    // A peers entry (or a key fetched by short ID) whose key does not hash to the full ID
    // in keyid is refused, even though the signature itself verifies with that key. This is
    // the check a key ground to share the 6-character prefix of a trusted ID cannot pass.
    let mallory = Identity::from_seed([3u8; 32]).unwrap();
    // Mallory signs with keyid = Alice's full ID; the key store hands out Mallory's key
    // for that ID (as a prefix-matching store would).
    let mut forged = Outgoing::new();
    let refs = forged.field_refs();
    let view = Request {
        method: &forged.method,
        scheme: "https",
        authority: &forged.authority,
        path: &forged.path,
        query: forged.query.as_deref(),
        fields: refs.as_slice(),
    };
    let alice_id = alice().id();
    let params = SignatureParams {
        created: Some(NOW as i64),
        expires: Some(NOW as i64 + 300),
        nonce: Some(NONCE),
        keyid: Some(alice_id.as_str()),
        alg: true,
        tag: Some(profile::REQUEST_TAG),
    };
    let mut buf = [0u8; 1024];
    let comps = format!("{} {}", profile::REQUEST_COMPONENTS, profile::IF_PRESENT);
    let signed =
        sign::sign_request(&mallory, profile::LABEL, &comps, &params, &view, &mut buf).unwrap();
    drop(refs);
    forged
        .fields
        .push(("Signature-Input".into(), signed.signature_input.to_string()));
    forged
        .fields
        .push(("Signature".into(), signed.signature.to_string()));
    let confused = Peers(vec![(alice_id.as_str().to_string(), mallory.public_key())]);
    assert_eq!(
        forged.verify_at(&confused, &mut no_replay(), NOW),
        Err("signature_key_not_of_id".into())
    );
}

#[test]
fn keyid_must_be_the_canonical_lowercase_id() {
    // Uppercase parses as the same ID, but hosts key peers, replay entries and the client ID
    // given to apps on the keyid text: one ID must have one spelling.
    let upper = alice().id().as_str().to_ascii_uppercase();
    let params = SignatureParams {
        created: Some(NOW as i64),
        nonce: Some(NONCE),
        keyid: Some(&upper),
        alg: true,
        tag: Some(profile::REQUEST_TAG),
        ..Default::default()
    };
    let comps = format!("{} {}", profile::REQUEST_COMPONENTS, profile::IF_PRESENT);
    let req = signed_with(&comps, params).unwrap();
    let store = Peers(vec![(upper.clone(), alice().public_key())]);
    assert_eq!(
        req.verify_at(&store, &mut no_replay(), NOW),
        Err("signature_keyid_not_canonical".into())
    );
}

#[test]
fn keyid_must_be_a_full_shard_id() {
    let a = alice();
    let short = a.id().short_id().to_string();
    for keyid in [short.as_str(), "test-key-ed25519", ""] {
        let mut req = Outgoing::new();
        let refs = req.field_refs();
        let view = Request {
            method: &req.method,
            scheme: "https",
            authority: &req.authority,
            path: &req.path,
            query: req.query.as_deref(),
            fields: refs.as_slice(),
        };
        let params = SignatureParams {
            created: Some(NOW as i64),
            nonce: Some(NONCE),
            keyid: Some(keyid),
            alg: true,
            tag: Some(profile::REQUEST_TAG),
            ..Default::default()
        };
        let mut buf = [0u8; 1024];
        let comps = format!("{} {}", profile::REQUEST_COMPONENTS, profile::IF_PRESENT);
        let signed =
            sign::sign_request(&a, profile::LABEL, &comps, &params, &view, &mut buf).unwrap();
        drop(refs);
        req.fields
            .push(("Signature-Input".into(), signed.signature_input.to_string()));
        req.fields
            .push(("Signature".into(), signed.signature.to_string()));
        // A prefix-keyed store would find Alice under her short ID; ours must not matter.
        let prefix_store = Peers(vec![(keyid.to_string(), a.public_key())]);
        let got = req.verify_at(&prefix_store, &mut no_replay(), NOW);
        assert_eq!(
            got,
            Err("signature_keyid_invalid".into()),
            "keyid {keyid:?}"
        );
    }
}

/// Signs Alice's request with hand-picked components and parameters.
fn signed_with(components: &str, params: SignatureParams<'_>) -> Result<Outgoing, SignError> {
    let mut req = Outgoing::new();
    let refs = req.field_refs();
    let view = Request {
        method: &req.method,
        scheme: "https",
        authority: &req.authority,
        path: &req.path,
        query: req.query.as_deref(),
        fields: refs.as_slice(),
    };
    let mut buf = [0u8; 1024];
    let signed = sign::sign_request(
        &alice(),
        profile::LABEL,
        components,
        &params,
        &view,
        &mut buf,
    )?;
    drop(refs);
    req.fields
        .push(("Signature-Input".into(), signed.signature_input.to_string()));
    req.fields
        .push(("Signature".into(), signed.signature.to_string()));
    Ok(req)
}

#[test]
fn profile_policy_rules() {
    let id = alice().id();
    let full = SignatureParams {
        created: Some(NOW as i64),
        expires: None,
        nonce: Some(NONCE),
        keyid: Some(id.as_str()),
        alg: true,
        tag: Some(profile::REQUEST_TAG),
    };
    let all = format!("{} {}", profile::REQUEST_COMPONENTS, profile::IF_PRESENT);
    assert!(
        ok_for_bob(&signed_with(&all, full).unwrap()).is_ok(),
        "expires is optional"
    );
    let cases: Vec<(&str, String, SignatureParams, &str)> = vec![
        (
            "missing @query",
            r#""@method" "@authority" "@path" "content-digest" "content-type""#.into(),
            full,
            "signature_component_not_covered",
        ),
        (
            "missing content-type",
            profile::REQUEST_COMPONENTS.into(),
            full,
            "signature_component_not_covered",
        ),
        (
            "extra @scheme",
            format!("{all} \"@scheme\""),
            full,
            "signature_component_not_allowed",
        ),
        (
            "no nonce",
            all.clone(),
            SignatureParams {
                nonce: None,
                ..full
            },
            "signature_nonce_missing",
        ),
        (
            "short nonce",
            all.clone(),
            SignatureParams {
                nonce: Some("abc"),
                ..full
            },
            "signature_nonce_missing",
        ),
        (
            "no created",
            all.clone(),
            SignatureParams {
                created: None,
                ..full
            },
            "signature_created_missing",
        ),
        (
            "no keyid",
            all.clone(),
            SignatureParams {
                keyid: None,
                ..full
            },
            "signature_keyid_mismatch",
        ),
        (
            "no tag",
            all.clone(),
            SignatureParams { tag: None, ..full },
            "signature_tag_mismatch",
        ),
        (
            "response tag",
            all.clone(),
            SignatureParams {
                tag: Some(profile::RESPONSE_TAG),
                ..full
            },
            "signature_tag_mismatch",
        ),
        (
            "expired",
            all.clone(),
            SignatureParams {
                expires: Some(NOW as i64),
                ..full
            },
            "signature_expired",
        ),
    ];
    for (what, comps, params, code) in cases {
        let req = signed_with(&comps, params).unwrap();
        let got = req.verify_at(&peers_of(&[&alice()]), &mut no_replay(), NOW + 100);
        assert_eq!(got, Err(code.to_string()), "{what}");
    }
}

/// Replaces the signature headers with hand-written ones (signed correctly over them).
fn with_raw_input(inner: &str, label: &str) -> Outgoing {
    let mut req = Outgoing::new();
    let refs = req.field_refs();
    let view = Request {
        method: &req.method,
        scheme: "https",
        authority: &req.authority,
        path: &req.path,
        query: req.query.as_deref(),
        fields: refs.as_slice(),
    };
    let list = sf::parse_inner_list(inner).unwrap();
    let mut buf = [0u8; 1024];
    let sig = match base::request_base(&view, &list, &mut buf) {
        Ok(b) => alice().sign(b),
        Err(_) => [7u8; 64],
    };
    drop(refs);
    req.fields
        .push(("Signature-Input".into(), format!("{label}={inner}")));
    req.fields
        .push(("Signature".into(), format!("{label}=:{}:", b64(&sig))));
    req
}

#[test]
fn malformed_signatures_are_refused() {
    let id = alice().id();
    let tail = format!(
        r#";created={NOW};nonce="{NONCE}";keyid="{}";tag="shardpeer/1""#,
        id.as_str()
    );
    let all = format!("({} {})", profile::REQUEST_COMPONENTS, profile::IF_PRESENT);
    let peers = peers_of(&[&alice()]);
    let check = |r: Outgoing| r.verify_at(&peers, &mut no_replay(), NOW);
    assert!(check(with_raw_input(&format!("{all}{tail}"), "shardpeer")).is_ok());
    assert_eq!(
        check(with_raw_input(&format!("(){tail}"), "shardpeer")),
        Err("signature_no_components".into())
    );
    assert_eq!(
        check(with_raw_input(
            &format!(r#"("@method" "@method"){tail}"#),
            "shardpeer"
        )),
        Err("component_duplicate".into())
    );
    assert_eq!(
        check(with_raw_input(&format!("{all}{tail}"), "other")),
        Err("signature_label_not_found".into())
    );
    assert_eq!(
        check(with_raw_input(
            &format!(r#"{all}{tail};alg="rsa-pss-sha512""#),
            "shardpeer"
        )),
        Err("signature_alg_unsupported".into())
    );
    assert_eq!(
        check(with_raw_input(
            &format!("{all}{tail};created=1"),
            "shardpeer"
        )),
        Err("signature_params_invalid".into())
    );
    assert_eq!(
        check(with_raw_input(
            &format!("{all}{tail};vendor=1"),
            "shardpeer"
        )),
        Err("signature_params_invalid".into())
    );
    assert_eq!(
        check(with_raw_input(
            &format!("{all}{tail};expires=\"x\""),
            "shardpeer"
        )),
        Err("signature_params_invalid".into())
    );
    // Structured-field garbage and absent fields.
    let mut r = Outgoing::new().sign(&alice(), NOW, NONCE);
    r.set("Signature", "shardpeer=:not base64!:");
    assert_eq!(check(r), Err("signature_syntax".into()));
    let mut r = Outgoing::new().sign(&alice(), NOW, NONCE);
    r.set("Signature", "shardpeer=:AAAA:");
    assert_eq!(check(r), Err("signature_malformed".into()));
    let mut r = Outgoing::new().sign(&alice(), NOW, NONCE);
    r.remove("Signature");
    assert_eq!(check(r), Err("signature_missing".into()));
    let mut r = Outgoing::new().sign(&alice(), NOW, NONCE);
    let dup = r
        .fields
        .iter()
        .find(|(n, _)| n == "Signature-Input")
        .unwrap()
        .clone();
    r.fields.push(dup);
    assert_eq!(check(r), Err("signature_ambiguous".into()));
}

#[test]
fn steps_one_to_four_run_in_the_documented_order() {
    // docs/protocol.md: 1 both fields present, 2 both parse, 3 label in both, 4 shapes. A
    // message failing several steps is refused with the first failing step's code.
    let peers = peers_of(&[&alice()]);
    let check = |r: Outgoing| r.verify_at(&peers, &mut no_replay(), NOW);
    let signed = || Outgoing::new().sign(&alice(), NOW, NONCE);

    // Step 1 before step 3: no Signature at all, and Signature-Input lacks the label.
    let mut r = signed();
    r.remove("Signature");
    r.set("Signature-Input", r#"other=("@method")"#);
    assert_eq!(check(r), Err("signature_missing".into()));

    // Step 2 before step 3: Signature does not parse, and Signature-Input lacks the label.
    let mut r = signed();
    r.set("Signature-Input", r#"other=("@method")"#);
    r.set("Signature", "shardpeer=:::");
    assert_eq!(check(r), Err("signature_syntax".into()));

    // Step 3 before step 4: Signature-Input's member is not an inner list, and Signature
    // lacks the label.
    let mut r = signed();
    r.set("Signature-Input", "shardpeer=1");
    r.set("Signature", "other=:AAAA:");
    assert_eq!(check(r), Err("signature_label_not_found".into()));

    // Bytes that are not text cannot parse as a structured field (step 2).
    let refs: Vec<(&str, &[u8])> = vec![
        ("Signature-Input", b"shardpeer=(\"@method\")"),
        ("Signature", b"shardpeer=:\xff:"),
    ];
    let view = Request {
        method: "GET",
        scheme: "https",
        authority: "a",
        path: "/",
        query: None,
        fields: refs.as_slice(),
    };
    let mut buf = [0u8; 1024];
    assert_eq!(
        profile::request_verifier()
            .verify_request(&view, &peers, &mut no_replay(), NOW, &mut buf)
            .map_err(|e| e.code()),
        Err("signature_syntax")
    );
}

#[test]
fn nonce_length_counts_characters_not_escapes() {
    // Eleven `"` are eleven characters, though their escaped form `\"…` is 22 bytes long.
    let id = alice().id();
    let nonce = "\"".repeat(11);
    let all = format!("{} {}", profile::REQUEST_COMPONENTS, profile::IF_PRESENT);
    let params = SignatureParams {
        created: Some(NOW as i64),
        expires: None,
        nonce: Some(&nonce),
        keyid: Some(id.as_str()),
        alg: true,
        tag: Some(profile::REQUEST_TAG),
    };
    let req = signed_with(&all, params).unwrap();
    assert_eq!(
        req.verify_at(&peers_of(&[&alice()]), &mut no_replay(), NOW),
        Err("signature_nonce_missing".into())
    );
    // Twenty-two characters with escapes among them are enough.
    let nonce = format!("{}\\\"", "a".repeat(20));
    let req = signed_with(
        &all,
        SignatureParams {
            nonce: Some(&nonce),
            ..params
        },
    )
    .unwrap();
    assert!(
        req.verify_at(&peers_of(&[&alice()]), &mut no_replay(), NOW)
            .is_ok()
    );
}

#[test]
fn non_canonical_s_is_refused_before_the_backend() {
    let mut r = Outgoing::new().sign(&alice(), NOW, NONCE);
    let sig_field = r
        .fields
        .iter()
        .find(|(n, _)| n == "Signature")
        .unwrap()
        .1
        .clone();
    let b64sig = sig_field
        .trim_start_matches("shardpeer=:")
        .trim_end_matches(':');
    use base64::Engine as _;
    let mut sig = base64::engine::general_purpose::STANDARD
        .decode(b64sig)
        .unwrap();
    // S + L: same signature under a malleable verifier.
    let l: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for i in 0..32 {
        let s = u16::from(sig[32 + i]) + u16::from(l[i]) + carry;
        sig[32 + i] = s as u8;
        carry = s >> 8;
    }
    r.set("Signature", &format!("shardpeer=:{}:", b64(&sig)));
    assert_eq!(
        r.verify_at(&peers_of(&[&alice()]), &mut no_replay(), NOW),
        Err("signature_noncanonical_s".into())
    );
}

// ---------------------------------------------------------------------------------------
// Responses bound to requests.

fn sign_bobs_response(
    req: &Outgoing,
    status: u16,
    body: &[u8],
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let digest = Digest::of(DigestAlg::Sha256, body).header_value();
    let mut fields: Vec<(String, String)> = vec![("Content-Digest".into(), digest.to_string())];
    fields.extend(extra.iter().map(|(a, b)| (a.to_string(), b.to_string())));
    let refs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let req_refs = req.field_refs();
    let req_view = Request {
        method: &req.method,
        scheme: "http",
        authority: &req.authority,
        path: &req.path,
        query: req.query.as_deref(),
        fields: req_refs.as_slice(),
    };
    let resp = Response {
        status,
        fields: refs.as_slice(),
        request: Some(&req_view),
    };
    let mut buf = [0u8; 1024];
    let signed = profile::sign_response(&bob(), &resp, NOW, &mut buf).unwrap();
    drop(refs);
    fields.push(("Signature-Input".into(), signed.signature_input.to_string()));
    fields.push(("Signature".into(), signed.signature.to_string()));
    fields
}

fn verify_response_at_alice(
    req: &Outgoing,
    status: u16,
    fields: &[(String, String)],
    body: &[u8],
) -> Result<(), String> {
    let refs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let req_refs = req.field_refs();
    let req_view = Request {
        method: &req.method,
        scheme: "https",
        authority: &req.authority,
        path: &req.path,
        query: req.query.as_deref(),
        fields: req_refs.as_slice(),
    };
    let resp = Response {
        status,
        fields: refs.as_slice(),
        request: Some(&req_view),
    };
    let bob_id = bob().id();
    let mut buf = [0u8; 1024];
    let v = profile::response_verifier(bob_id.as_str())
        .verify_response(&resp, &peers_of(&[&bob()]), &mut no_replay(), NOW, &mut buf)
        .map_err(|e| e.code().to_string())?;
    v.content_digest
        .ok_or("no digest")?
        .check_body(body)
        .map_err(|e| e.code().to_string())
}

#[test]
fn responses_are_bound_to_their_request() {
    let req = Outgoing::new().sign(&alice(), NOW, NONCE);
    let fields = sign_bobs_response(&req, 200, b"pong", &[("Content-Type", "text/plain")]);
    assert_eq!(
        verify_response_at_alice(&req, 200, &fields, b"pong"),
        Ok(())
    );
    assert_eq!(
        verify_response_at_alice(&req, 201, &fields, b"pong"),
        Err("signature_invalid".into()),
        "status"
    );
    assert_eq!(
        verify_response_at_alice(&req, 200, &fields, b"pwnd"),
        Err("content_digest_mismatch".into()),
        "body"
    );
    // The same response does not answer another request.
    let other = Outgoing::new().sign(&alice(), NOW, "ZZECAwQFBgcICQoLDA0ODw");
    assert_eq!(
        verify_response_at_alice(&other, 200, &fields, b"pong"),
        Err("signature_invalid".into()),
        "other request"
    );
    // Content-Type changed.
    let mut changed = fields.clone();
    changed[1].1 = "text/html".into();
    assert_eq!(
        verify_response_at_alice(&req, 200, &changed, b"pong"),
        Err("signature_invalid".into())
    );
    // Signed by someone other than the peer called.
    let mut by_alice = fields.clone();
    by_alice.retain(|(n, _)| !n.starts_with("Signature"));
    let refs: Vec<(&str, &str)> = by_alice
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let req_refs = req.field_refs();
    let req_view = Request {
        method: &req.method,
        scheme: "http",
        authority: &req.authority,
        path: &req.path,
        query: req.query.as_deref(),
        fields: req_refs.as_slice(),
    };
    let resp = Response {
        status: 200,
        fields: refs.as_slice(),
        request: Some(&req_view),
    };
    let mut buf = [0u8; 1024];
    let s = profile::sign_response(&alice(), &resp, NOW, &mut buf).unwrap();
    drop(refs);
    by_alice.push(("Signature-Input".into(), s.signature_input.to_string()));
    by_alice.push(("Signature".into(), s.signature.to_string()));
    assert_eq!(
        verify_response_at_alice(&req, 200, &by_alice, b"pong"),
        Err("signature_keyid_mismatch".into())
    );
    // A request signature presented as a response signature.
    let mut swapped: Vec<(String, String)> = fields
        .iter()
        .filter(|(n, _)| !n.starts_with("Signature"))
        .cloned()
        .collect();
    swapped.extend(
        req.fields
            .iter()
            .filter(|(n, _)| n.starts_with("Signature"))
            .cloned(),
    );
    assert!(verify_response_at_alice(&req, 200, &swapped, b"pong").is_err());
}

#[test]
fn signer_refuses_bad_input() {
    let fields = b2_fields();
    let req = request(&fields, "POST", "example.com", "/foo", None);
    let mut buf = [0u8; 1024];
    let p = SignatureParams::default();
    assert_eq!(
        sign::sign_request(&alice(), "sig", "", &p, &req, &mut buf).unwrap_err(),
        SignError::NoComponents
    );
    assert_eq!(
        sign::sign_request(&alice(), "Sig", r#""@method""#, &p, &req, &mut buf).unwrap_err(),
        SignError::InvalidLabel
    );
    assert!(matches!(
        sign::sign_request(&alice(), "sig", "@method", &p, &req, &mut buf).unwrap_err(),
        SignError::InvalidComponents(_)
    ));
    assert_eq!(
        sign::sign_request(&alice(), "sig", "date", &p, &req, &mut buf).unwrap_err(),
        SignError::Base(BaseError::InvalidComponent)
    );
    let bad_nonce = SignatureParams {
        nonce: Some("line\nbreak"),
        ..p
    };
    assert_eq!(
        sign::sign_request(&alice(), "sig", r#""@method""#, &bad_nonce, &req, &mut buf)
            .unwrap_err(),
        SignError::InvalidParam
    );
    let backwards = SignatureParams {
        created: Some(10),
        expires: Some(5),
        ..p
    };
    assert_eq!(
        sign::sign_request(&alice(), "sig", r#""@method""#, &backwards, &req, &mut buf)
            .unwrap_err(),
        SignError::InvalidParam
    );
    assert_eq!(
        sign::sign_request(&alice(), "sig", r#""x-absent""#, &p, &req, &mut buf).unwrap_err(),
        SignError::Base(BaseError::MissingComponent)
    );
    // Escaping in string parameters round-trips.
    let quoted = SignatureParams {
        keyid: Some(r#"a"b\c"#),
        ..p
    };
    let out = sign::sign_request(&alice(), "sig", r#""@method""#, &quoted, &req, &mut buf).unwrap();
    assert!(out.signature_input.ends_with(r#";keyid="a\"b\\c""#));
    let mut small = [0u8; 8];
    assert!(matches!(
        sign::sign_request(&alice(), "sig", r#""@method""#, &p, &req, &mut small).unwrap_err(),
        SignError::Base(BaseError::BufferTooSmall { .. })
    ));
}

#[test]
fn nonce_helper_gives_22_chars() {
    let n = profile::nonce_from_random(&[0xff; 16]);
    assert_eq!(n.len(), 22);
    assert!(
        n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
}

#[test]
fn plain_rfc9421_does_not_judge_the_digest_field() {
    // A valid signature over a Content-Digest naming only an algorithm we do not implement is
    // still a valid RFC 9421 signature; only the profile requires a usable digest.
    let fields = vec![
        ("Host", "h.example"),
        ("Content-Digest", "md5=:AAAAAAAAAAAAAAAAAAAAAA==:"),
    ];
    let req = request(&fields, "POST", "h.example", "/p", None);
    let mut buf = [0u8; 1024];
    let params = SignatureParams {
        created: Some(NOW as i64),
        ..Default::default()
    };
    let s = sign::sign_request(
        &alice(),
        "sig",
        r#""@method" "content-digest""#,
        &params,
        &req,
        &mut buf,
    )
    .unwrap();
    let signed = vec![
        ("Host", "h.example"),
        ("Content-Digest", "md5=:AAAAAAAAAAAAAAAAAAAAAA==:"),
        ("Signature-Input", s.signature_input.as_str()),
        ("Signature", s.signature.as_str()),
    ];
    let req = request(&signed, "POST", "h.example", "/p", None);
    let v = Verifier::new(Policy::RFC9421)
        .verify_request(&req, &alice().public_key(), &mut no_replay(), NOW, &mut buf)
        .unwrap();
    assert_eq!(v.content_digest, None);
    let strict = Policy {
        check_content_digest: true,
        ..Policy::RFC9421
    };
    assert_eq!(
        Verifier::new(strict)
            .verify_request(&req, &alice().public_key(), &mut no_replay(), NOW, &mut buf)
            .unwrap_err(),
        VerifyError::Digest(DigestError::Unsupported)
    );
}
