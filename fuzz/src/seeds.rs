//! The seed corpora in `fuzz/corpus/<target>/`: how they are made, and the replay of the
//! differential targets' corpora (the other targets' corpora are replayed by
//! `core/tests/fuzz_corpus.rs` and, for `http_request`, `transport-embassy/tests/fuzz_corpus.rs`
//! in the main workspace's `cargo test`).
//!
//! Seeds come from four places: the RFC 9421 / RFC 9530 examples, read from
//! `conformance/vectors/third-party/rfc9421-appendix-b.txt`; messages signed here with the
//! harnesses' fixed keys and clock (so that the fuzzer starts from inputs that verify); the
//! conformance vectors `conformance/vectors/*.json`, when present; and hand-written tricky cases.
//!
//! `SHARDPEER_WRITE_SEEDS=1 cargo test --lib` (in `fuzz/`) writes them. Without the
//! variable, `seeds_are_checked_in` fails when a seed that does not come from the vectors is
//! missing from the corpus, so the generator and the corpus cannot drift apart unnoticed.

use shardpeer_core::digest::{Digest, DigestAlg};
use shardpeer_core::fuzz_harness::{self as h, NEXT_MESSAGE, NONCE, NOW};
use shardpeer_core::identity::Identity;
use shardpeer_core::message::{Request, Response};
use shardpeer_core::{profile, sign, whoareyou};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Field lines as text, the form the seeds are written in.
type Pairs<'a> = [(&'a str, &'a str)];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// One seed: target, file name, bytes, and whether it comes from the conformance vectors.
struct Seed {
    target: &'static str,
    name: String,
    bytes: Vec<u8>,
    from_vectors: bool,
}

#[derive(Default)]
struct Seeds(Vec<Seed>);

impl Seeds {
    fn add(&mut self, target: &'static str, name: &str, bytes: impl AsRef<[u8]>) {
        self.0.push(Seed {
            target,
            name: name.to_string(),
            bytes: bytes.as_ref().to_vec(),
            from_vectors: false,
        });
    }
}

/// An HTTP/1.1 message in wire form (CRLF).
fn wire(start: &str, fields: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{start}\r\n");
    for (n, v) in fields {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

fn join(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

// ---------------------------------------------------------------------------------------------
// RFC 9421 Appendix B and RFC 9530 Appendix D, from the third-party copy.

struct Rfc {
    public_pem: String,
    private_pem: String,
    request: Vec<u8>,
    signed_request: Vec<u8>,
    b26_params: String,
    transform_request: Vec<u8>,
    transform_params: String,
    response: Vec<u8>,
    digests: Vec<String>,
}

/// The lines of the section whose header starts with `== {title}`.
fn section<'t>(text: &'t str, title: &str) -> Vec<&'t str> {
    let start = text
        .lines()
        .position(|l| l.starts_with(&format!("== {title}")))
        .unwrap_or_else(|| panic!("no section {title}"));
    text.lines()
        .skip(start + 1)
        .take_while(|l| !l.starts_with("== "))
        .collect()
}

/// Header lines up to the first empty line, and the first line after it as the body.
fn message(lines: &[&str]) -> (Vec<String>, Vec<u8>) {
    let blank = lines.iter().position(|l| l.is_empty()).unwrap();
    let head = lines[..blank].iter().map(|l| l.to_string()).collect();
    (head, lines[blank + 1].as_bytes().to_vec())
}

fn to_wire(head: &[String], body: &[u8]) -> Vec<u8> {
    let mut out = head.join("\r\n").into_bytes();
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body);
    out
}

fn pem_block(lines: &[&str], label: &str) -> String {
    let begin = lines
        .iter()
        .position(|l| *l == format!("-----BEGIN {label}-----"))
        .unwrap();
    let end = lines
        .iter()
        .position(|l| *l == format!("-----END {label}-----"))
        .unwrap();
    lines[begin..=end].join("\n") + "\n"
}

fn after<'l>(lines: &[&'l str], prefix: &str) -> &'l str {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line {prefix}"))
}

fn rfc() -> Rfc {
    let path = repo().join("conformance/vectors/third-party/rfc9421-appendix-b.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let keys = section(&text, "B.1.4");
    let (req_head, req_body) = message(&section(&text, "B.2 test-request"));
    let (resp_head, resp_body) = message(&section(&text, "B.2 test-response"));
    let b26 = section(&text, "B.2.6");
    let b26_input = after(&b26, "Signature-Input: ");
    let b26_sig = after(&b26, "Signature: ");
    let mut signed_head = req_head.clone();
    signed_head.push(format!("Signature-Input: {b26_input}"));
    signed_head.push(format!("Signature: {b26_sig}"));
    let b4 = section(&text, "B.4");
    let end = b4
        .iter()
        .position(|l| l.starts_with("signature base:"))
        .unwrap();
    let transform_head: Vec<String> = b4[..end].iter().map(|l| l.to_string()).collect();
    let transform_params = after(&b4[..end], "Signature-Input: transform=").to_string();
    let digests = section(&text, "RFC 9530")
        .iter()
        .filter_map(|l| l.strip_prefix("Content-Digest: "))
        .map(str::to_string)
        .collect();
    Rfc {
        public_pem: pem_block(&keys, "PUBLIC KEY"),
        private_pem: pem_block(&keys, "PRIVATE KEY"),
        request: to_wire(&req_head, &req_body),
        signed_request: to_wire(&signed_head, &req_body),
        b26_params: b26_input.strip_prefix("sig-b26=").unwrap().to_string(),
        transform_request: to_wire(&transform_head, b""),
        transform_params,
        response: to_wire(&resp_head, &resp_body),
        digests,
    }
}

// ---------------------------------------------------------------------------------------------
// Messages signed with the harnesses' keys.

const HOST: &str = "echo.bob.shard.test";

/// Alice's request to bob, signed with the profile, in wire form.
fn alice_request(method: &str, target: &str, content_type: Option<&str>, body: &[u8]) -> Vec<u8> {
    let alice = Identity::from_seed(h::ALICE_SEED).unwrap();
    let digest = Digest::of(DigestAlg::Sha256, body).header_value();
    let mut fields = vec![("Host", HOST), ("Content-Digest", digest.as_str())];
    if let Some(ct) = content_type {
        fields.push(("Content-Type", ct));
    }
    let (path, query) = shardpeer_core::message::split_target(target);
    let req = Request {
        method,
        scheme: "https",
        authority: HOST,
        path,
        query,
        fields: fields.as_slice(),
    };
    let mut buf = [0u8; 4096];
    let s = profile::sign_request(&alice, &req, NOW, NONCE, &mut buf).unwrap();
    fields.push(("Signature-Input", s.signature_input.as_str()));
    fields.push(("Signature", s.signature.as_str()));
    wire(&format!("{method} {target} HTTP/1.1"), &fields, body)
}

/// A request signed by alice with plain RFC 9421 over `components`.
fn plain_signed_request(components: &str, extra: &[(&str, &str)], target: &str) -> Vec<u8> {
    let alice = Identity::from_seed(h::ALICE_SEED).unwrap();
    let mut fields = vec![("Host", HOST)];
    fields.extend_from_slice(extra);
    let (path, query) = shardpeer_core::message::split_target(target);
    let req = Request {
        method: "GET",
        scheme: "https",
        authority: HOST,
        path,
        query,
        fields: fields.as_slice(),
    };
    let params = sign::SignatureParams {
        created: Some(NOW as i64),
        keyid: Some("fuzz"),
        ..Default::default()
    };
    let mut buf = [0u8; 4096];
    let s = sign::sign_request(&alice, "sig", components, &params, &req, &mut buf)
        .unwrap_or_else(|e| panic!("{components}: {e:?}"));
    fields.push(("Signature-Input", s.signature_input.as_str()));
    fields.push(("Signature", s.signature.as_str()));
    wire(&format!("GET {target} HTTP/1.1"), &fields, b"")
}

/// Bob's profile response to alice's signed request: response, separator, request.
fn bob_response(request_wire: &[u8], status: u16, body: &[u8]) -> Vec<u8> {
    let bob = Identity::from_seed(h::BOB_SEED).unwrap();
    // The request's fields as the harness reads them.
    let text = std::str::from_utf8(request_wire).unwrap();
    let (head, _) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let start = lines.next().unwrap();
    let req_fields: Vec<(&str, &[u8])> = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n, v.as_bytes())
        })
        .collect();
    let mut parts = start.split(' ');
    let method = parts.next().unwrap();
    let (path, query) = shardpeer_core::message::split_target(parts.next().unwrap());
    let req = Request {
        method,
        scheme: "https",
        authority: HOST,
        path,
        query,
        fields: req_fields.as_slice(),
    };
    let digest = Digest::of(DigestAlg::Sha256, body).header_value();
    let mut fields = vec![
        ("Content-Type", "text/plain"),
        ("Content-Digest", digest.as_str()),
    ];
    let resp = Response {
        status,
        fields: fields.as_slice(),
        request: Some(&req),
    };
    let mut buf = [0u8; 4096];
    let s = profile::sign_response(&bob, &resp, NOW, &mut buf).unwrap();
    fields.push(("Signature-Input", s.signature_input.as_str()));
    fields.push(("Signature", s.signature.as_str()));
    join(&[
        &wire(&format!("HTTP/1.1 {status} OK"), &fields, body),
        NEXT_MESSAGE,
        request_wire,
    ])
}

/// Bob's signed whoareyou answer.
fn whoareyou_response() -> Vec<u8> {
    let bob = Identity::from_seed(h::BOB_SEED).unwrap();
    let id = bob.id();
    let body = format!(
        r#"{{"id":"{id}","short_id":"{}","name":"bob","domain":"bob.shard.test"}}"#,
        id.short_id()
    );
    let digest = Digest::of(DigestAlg::Sha256, body.as_bytes()).header_value();
    let mut fields = vec![
        ("Content-Type", "application/json"),
        ("Content-Digest", digest.as_str()),
    ];
    let mut buf = [0u8; 4096];
    let s = whoareyou::sign(&bob, 200, fields.as_slice(), NOW, &mut buf).unwrap();
    fields.push(("Signature-Input", s.signature_input.as_str()));
    fields.push(("Signature", s.signature.as_str()));
    wire("HTTP/1.1 200 OK", &fields, body.as_bytes())
}

/// The RFC's response signed with the RFC key over plain RFC 9421 components.
fn rfc_signed_response(rfc: &Rfc) -> Vec<u8> {
    let key = Identity::from_seed_hex(h::RFC_SEED_HEX).unwrap();
    let text = std::str::from_utf8(&rfc.response).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let start = lines.next().unwrap().to_string();
    let fields: Vec<(&str, &str)> = lines
        .map(|l| {
            let (n, v) = l.split_once(": ").unwrap();
            (n, v)
        })
        .collect();
    let resp: Response<'_, Pairs<'_>, Pairs<'_>> = Response {
        status: 200,
        fields: fields.as_slice(),
        request: None,
    };
    let params = sign::SignatureParams {
        created: Some(1618884479),
        keyid: Some(h::RFC_KEYID),
        ..Default::default()
    };
    let mut buf = [0u8; 4096];
    let s = sign::sign_response(
        &key,
        "sig-b24",
        r#""@status" "content-type" "content-digest" "content-length""#,
        &params,
        &resp,
        &mut buf,
    )
    .unwrap();
    let mut all = fields.clone();
    all.push(("Signature-Input", s.signature_input.as_str()));
    all.push(("Signature", s.signature.as_str()));
    wire(&start, &all, body.as_bytes())
}

// ---------------------------------------------------------------------------------------------
// The seeds, target by target.

fn seeds() -> Seeds {
    let rfc = rfc();
    let mut s = Seeds::default();
    let alice = Identity::from_seed(h::ALICE_SEED).unwrap();
    let bob = Identity::from_seed(h::BOB_SEED).unwrap();
    let rfc_key = Identity::from_seed_hex(h::RFC_SEED_HEX).unwrap();

    // shard_id
    let rfc_id = rfc_key.id().to_string();
    s.add("shard_id", "rfc9421-key", &rfc_id);
    s.add("shard_id", "rfc9421-key-upper", rfc_id.to_uppercase());
    s.add("shard_id", "alice", alice.id().as_str());
    s.add("shard_id", "too-short", &rfc_id[..47]);
    s.add(
        "shard_id",
        "invalid-character",
        rfc_id.replacen('u', "1", 1),
    );
    let mut typo = rfc_id.clone().into_bytes();
    typo[10] = if typo[10] == b'a' { b'b' } else { b'a' };
    s.add("shard_id", "typo", typo);
    s.add("shard_id", "seed", join(&[b"seed:", &[7u8; 32]]));

    // keys
    s.add("keys", "rfc9421-public-pem", &rfc.public_pem);
    s.add("keys", "rfc9421-private-pem", &rfc.private_pem);
    s.add(
        "keys",
        "alice-public-pem",
        alice.public_key().to_pem().as_str(),
    );
    s.add("keys", "alice-private-pem", alice.to_pkcs8_pem().as_str());
    let wrapped = rfc
        .public_pem
        .replace("AyEA", "AyEA\r\n  ")
        .replace('\n', "\r\n");
    s.add("keys", "rfc9421-public-pem-wrapped-crlf", wrapped);
    s.add(
        "keys",
        "wrong-label",
        rfc.public_pem.replace("PUBLIC KEY", "PRIVATE KEY"),
    );
    s.add("keys", "trailing-data", format!("{}x", rfc.public_pem));
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    s.add("keys", "public-hex", hex(bob.public_key().as_bytes()));
    s.add(
        "keys",
        "seed-hex",
        format!("  {}\n", h::RFC_SEED_HEX.to_uppercase()),
    );
    let spki = [
        &[
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ][..],
        bob.public_key().as_bytes(),
    ]
    .concat();
    s.add("keys", "spki-der", &spki);
    s.add("keys", "pkcs8-v1-der", alice.to_pkcs8_der());
    let mut v2 = alice.to_pkcs8_der().to_vec();
    v2[1] = 0x51;
    v2[4] = 0x01;
    v2.extend_from_slice(&[0x81, 0x21, 0x00]);
    v2.extend_from_slice(alice.public_key().as_bytes());
    s.add("keys", "pkcs8-v2-der", &v2);
    s.add(
        "keys",
        "honest-seed",
        join(&[b"seed:", &[9u8; 32], b"message"]),
    );
    // Edge-case keys from C2SP's Ed25519 vectors: small order, mixed order, non-canonical.
    let cctv = repo().join("conformance/vectors/third-party/ed25519vectors.json");
    if let Ok(text) = std::fs::read_to_string(cctv) {
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for t in v.as_array().unwrap() {
            let key = t["key"].as_str().unwrap();
            if seen.insert(key.to_string()) && seen.len() <= 6 {
                s.add("keys", &format!("cctv-key-{}", seen.len()), key);
            }
        }
    }

    // sf and sf_differential
    let sf_seeds: &[(&str, &str)] = &[
        (
            "rfc9421-b26-signature-input",
            &format!("sig-b26={}", rfc.b26_params),
        ),
        (
            "rfc9421-b26-signature",
            "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:",
        ),
        (
            "rfc9530-both-digests",
            "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:, sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:",
        ),
        (
            "rfc9421-example-dict",
            " a=1,    b=2;x=1;y=2,   c=(a   b   c), d",
        ),
        ("rfc8941-list", "sugar, tea;x=1, (a b);y, ?0;z=-1.5"),
        (
            "rfc8941-params",
            "abc;a=1;b=2; cde_456, (ghi;jk=4 l);q=\"9\";r=w",
        ),
        (
            "components",
            r#"("@method" "@query-param";name="a%20b" "signature";req;key="shardpeer" "x";bs);alg="ed25519""#,
        ),
        (
            "escapes-and-types",
            r#"a="x\"y\\z", t=foo/bar:baz, u=*x, n=-999999999999.999, b=:YQ:"#,
        ),
        ("numbers", "1.0, -0.5, 0.000, 999999999999999, -0, 12.345"),
        ("repeated-keys", "a=1;p=1;q;p=2, b, a=(1 2);z"),
        ("tabs-and-spaces", "a=1 \t,\t b=2  "),
        ("byte-sequences", "a=::, b=:YQ:, c=:YWI=:, d=:YWJj:, e=:YR:"),
        ("inner-list-params", "(\"a\" \"b\");x=?0;y=:AA==:, ()"),
        ("rfc9651-date", "a=@1659578233, b=%\"f%c3%bc\""),
        (
            "shardpeer-input",
            "shardpeer=(\"@method\" \"@authority\" \"@path\" \"@query\" \"content-digest\");created=1700000000;expires=1700000300;nonce=\"ZnV6emZ1enpmdXp6ZnV6eg\";keyid=\"x\";alg=\"ed25519\";tag=\"shardpeer/1\"",
        ),
    ];
    for (name, value) in sf_seeds {
        s.add("sf", name, value);
        s.add("sf_differential", name, value);
    }

    // signature_base
    let base_seed = |list: &str, msg: &[u8]| join(&[list.as_bytes(), b"\n", msg]);
    s.add(
        "signature_base",
        "rfc9421-b26",
        base_seed(&rfc.b26_params, &rfc.request),
    );
    s.add(
        "signature_base",
        "rfc9421-b4-transform",
        base_seed(&rfc.transform_params, &rfc.transform_request),
    );
    s.add(
        "signature_base",
        "derived-components",
        base_seed(
            r#"("@target-uri" "@request-target" "@scheme" "@query" "@query-param";name="Pet" "@method")"#,
            &rfc.request,
        ),
    );
    s.add(
        "signature_base",
        "rfc9421-query-params",
        base_seed(
            r#"("@query-param";name="var" "@query-param";name="bar" "@query-param";name="fa%C3%A7ade%22%3A%20")"#,
            &wire(
                "GET /path?var=this%20is%20a%20big%0Avalue&bar=with+plus+whitespace&fa%C3%A7ade%22%3A%20=something HTTP/1.1",
                &[("Host", "www.example.com")],
                b"",
            ),
        ),
    );
    s.add(
        "signature_base",
        "structured-forms",
        base_seed(
            r#"("example-dict";sf "example-dict";key="a" "example-dict";key="c" "example-header";bs "example-header" "example-list";sf)"#,
            &wire(
                "GET /a HTTP/1.1",
                &[
                    ("Host", "example.com"),
                    ("Example-Dict", " a=1,    b=2;x=1;y=2,   c=(a   b   c)"),
                    ("Example-Header", "value, with, lots"),
                    ("Example-Header", "of, commas"),
                    ("Example-List", ""),
                    ("Example-List", "x, (y z);p"),
                ],
                b"",
            ),
        ),
    );
    s.add(
        "signature_base",
        "rfc9421-response",
        base_seed(
            r#"("@status" "content-type" "content-digest" "content-length");created=1618884479;keyid="test-key-ed25519""#,
            &rfc.response,
        ),
    );
    let alice_post = alice_request(
        "POST",
        "/peer/inbox?x=1&y=2",
        Some("application/json"),
        br#"{"hello": "bob"}"#,
    );
    s.add(
        "signature_base",
        "response-with-req",
        base_seed(
            r#"("@status" "content-digest" "signature";req;key="shardpeer" "@authority";req "@method";req "content-type";req)"#,
            &bob_response(&alice_post, 200, b"pong"),
        ),
    );
    s.add(
        "signature_base",
        "obs-fold-and-cr",
        base_seed(
            r#"("x-folded" "@method" "@authority")"#,
            b"GET https://h\rx:443/ HTTP/1.1\r\nX-Folded: a\r\n b\r\n\r\n",
        ),
    );
    s.add(
        "signature_base",
        "authority-ports",
        base_seed(
            r#"("@authority" "@target-uri" "@path")"#,
            b"GET http://Example.COM:80?q HTTP/1.1\r\n\r\n",
        ),
    );

    // verify_request
    s.add("verify_request", "rfc9421-b26-signed", &rfc.signed_request);
    s.add(
        "verify_request",
        "rfc9421-b4-transform",
        &rfc.transform_request,
    );
    s.add("verify_request", "profile-post", &alice_post);
    s.add(
        "verify_request",
        "profile-get",
        alice_request("GET", "/peer/feed", None, b""),
    );
    s.add(
        "verify_request",
        "plain-all-derived",
        plain_signed_request(
            r#""@method" "@target-uri" "@authority" "@scheme" "@request-target" "@path" "@query" "@query-param";name="a""#,
            &[],
            "/p/q?a=1&b=%20",
        ),
    );
    s.add(
        "verify_request",
        "plain-fields",
        plain_signed_request(
            r#""accept" "example-dict";sf "example-dict";key="b" "x-bytes";bs"#,
            &[
                ("Accept", "text/plain"),
                ("Accept", " */* "),
                ("Example-Dict", "a=1, b=(x y);z"),
                ("X-Bytes", "\u{7f}raw"),
            ],
            "/",
        ),
    );
    s.add("verify_request", "unsigned", &rfc.request);

    // verify_response
    s.add(
        "verify_response",
        "profile-response",
        bob_response(&alice_post, 200, b"pong"),
    );
    s.add("verify_response", "whoareyou", whoareyou_response());
    s.add(
        "verify_response",
        "rfc9421-response-signed",
        join(&[&rfc_signed_response(&rfc), NEXT_MESSAGE, &rfc.request]),
    );
    s.add(
        "verify_response",
        "unsigned",
        join(&[&rfc.response, NEXT_MESSAGE, &rfc.request]),
    );

    // content_digest
    let hello = br#"{"hello": "world"}"#;
    for (i, d) in rfc.digests.iter().enumerate() {
        s.add(
            "content_digest",
            &format!("rfc9530-{i}"),
            join(&[d.as_bytes(), b"\n", hello]),
        );
    }
    for (name, header) in [
        (
            "both",
            "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:, sha-512=:AAAA:",
        ),
        (
            "unknown-and-sha256",
            "md5=:AAAA:, sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE:",
        ),
        ("inner-list", "sha-256=(:AAAA:)"),
        ("empty", ""),
    ] {
        s.add(
            "content_digest",
            name,
            join(&[header.as_bytes(), b"\r\n", hello]),
        );
    }

    // path
    for (i, p) in [
        "/",
        "/pub/../private",
        "/%2e%2e/%2e%2e/x",
        "//a//b//",
        "/a/./b/../c/.",
        "/a/b/..",
        "/.../x",
        "/a/%2e%2e%2f",
        "/%2e./%2E/x/",
        "/x%25%32%65%25%32%65/y",
        "/caf%c3%a9/%7euser/%20",
        "/.well-known/./x",
        "/pub/..;/private",
        "/%4\\",
        "/a b#c?d",
        "*",
    ]
    .iter()
    .enumerate()
    {
        s.add("path", &format!("tricky-{i:02}"), p);
    }

    // app_meta_acl
    let pem = bob.public_key().to_pem();
    let ctx = format!(
        "\0Alice's shard\0{}\0bob.shard.test\0{}\0/pub/x\n/peer/../private\n//peer/x\n/a/%2e%2e/.well-known",
        alice.id(),
        pem.as_str()
    );
    for (name, meta) in [
        (
            "freeshard-style",
            r#"{"v": "1.2", "name": "echo", "entrypoints": [{"container_name": "echo", "container_port": 8080}],
 "paths": {"": {"access": "private", "headers": {"X-Ptl-Client-Id": "{{ auth.client_id }}", "X-Ptl-Client-Type": "{{auth.client_type}}"}},
  "/pub": {"access": "public", "headers": {"X-Key": "{{portal.public_key_pem}}", "X-N": "n={{auth.client_name}}"}},
  "/peer/": {"access": "peer", "headers": {"X-Peer": "{{ auth.client_name }} ({{auth.client_id}})"}}, "/peer/x": {"access": "public"}}}"#,
        ),
        (
            "escapes-and-nesting",
            r#"{"name": "caf\u00e9 \ud83d\ude00", "lifecycle": {"always_on": true, "idle": [1, 2.5e3, null, {"x": []}]},
 "paths": {"": {"access": "public"}, "\/a\/.": {"access": "peer", "headers": {"X-D": "{{portal.domain}}\t{{portal.id}}"}}}}"#,
        ),
    ] {
        s.add("app_meta_acl", name, format!("{meta}{ctx}"));
    }
    s.add(
        "app_meta_acl",
        "bare",
        r#"{"name":"x","paths":{"":{"access":"private"}}}"#,
    );

    s.add(
        "app_meta_acl",
        "json-edge-cases",
        r#"{"name":"\ud83d\ude00\u0041\"\\\/","x":["\b\f\n\r\t",-0,1e999,-1.5E-3,true,false,null,{},[]],
"paths":{"":{"access":"public","headers":{}},"/\u0070":{"access":"peer"}}}"#,
    );

    http_seeds(&mut s);
    add_vector_seeds(&mut s);
    // app_meta_differential reads the same format: every app_meta_acl seed is one of its seeds.
    let shared: Vec<Seed> =
        s.0.iter()
            .filter(|seed| seed.target == "app_meta_acl")
            .map(|seed| Seed {
                target: "app_meta_differential",
                name: seed.name.clone(),
                bytes: seed.bytes.clone(),
                from_vectors: seed.from_vectors,
            })
            .collect();
    s.0.extend(shared);
    s
}

// ---------------------------------------------------------------------------------------------
// http_request: the bytes of one connection to the device's gateway (or, from `HTTP/`, the
// answers its client reads).

fn http_seeds(s: &mut Seeds) {
    let t = "http_request";
    let post = |fields: &str, body: &str| {
        format!("POST /peer/inbox HTTP/1.1\r\nHost: echo.dev.test\r\n{fields}\r\n{body}")
    };
    let chunked = "Transfer-Encoding: chunked\r\n";
    let cases: Vec<(&str, String)> = vec![
        ("get", "GET / HTTP/1.1\r\nHost: echo.dev.test\r\n\r\n".into()),
        ("get-http10-lf", "GET /x?y=1 HTTP/1.0\n\n".into()),
        ("get-connection-close", "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Close\r\n\r\n".into()),
        ("leading-blank-lines", "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n".into()),
        ("post-content-length", post("Content-Length: 5\r\n", "hello")),
        ("post-content-length-list", post("Content-Length: 5, 5\r\ncontent-length:5\r\n", "hello")),
        ("post-body-at-limit", post("Content-Length: 64\r\n", &"b".repeat(64))),
        ("post-body-over-limit", post("Content-Length: 65\r\n", &"b".repeat(65))),
        ("post-truncated", post("Content-Length: 10\r\n", "short")),
        ("chunked-extensions-trailers", post(chunked, "3;x=y\r\nabc\r\n10 ; name=\"v\"\r\n0123456789abcdef\r\n0;last\r\nDigest: x\r\nT: 1\r\n\r\n")),
        ("chunked-bare-lf", post(chunked, "2\nab\n0\n\n")),
        ("chunked-uppercase", post("transfer-encoding: Chunked \r\n", "A\r\n0123456789\r\n0\r\n\r\n")),
        ("pipelined-two", format!("GET /a HTTP/1.1\r\nHost: h\r\n\r\n{}", post("Content-Length: 2\r\n", "hi"))),
        ("pipelined-three", format!("{}{}GET /c HTTP/1.1\r\nHost: h\r\n\r\n", post("Content-Length: 5\r\n", "hello"), post(chunked, "3\r\nabc\r\n0\r\n\r\n"))),
        ("smuggle-cl-te", post("Content-Length: 6\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\nG")),
        ("smuggle-te-cl", post("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", "0\r\n\r\n")),
        ("smuggle-te-te", post("Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n", "0\r\n\r\n")),
        ("smuggle-te-list", post("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n")),
        ("smuggle-te-obfuscated", post("Transfer-Encoding: xchunked\r\n", "0\r\n\r\n")),
        ("smuggle-cl-differing", post("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!")),
        ("smuggle-cl-list-differing", post("Content-Length: 5, 6\r\n", "hello!")),
        ("cl-signed", post("Content-Length: +5\r\n", "hello")),
        ("cl-hex", post("Content-Length: 0x5\r\n", "hello")),
        ("cl-twenty-digits", post("Content-Length: 00000000000000000005\r\n", "hello")),
        ("obs-fold", "GET / HTTP/1.1\r\nHost: h\r\nX-Folded: a\r\n b\r\n\r\n".into()),
        ("obs-fold-content-length", post("Content-Length:\r\n 5\r\n", "hello")),
        ("missing-host", "GET / HTTP/1.1\r\n\r\n".into()),
        ("two-hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".into()),
        ("http2-preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".into()),
        ("nul-in-value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n".into()),
        ("oversize-head", format!("GET / HTTP/1.1\r\nHost: h\r\nX-Long: {}\r\n\r\n", "a".repeat(300))),
        ("too-many-headers", format!("GET / HTTP/1.1\r\nHost: h\r\n{}\r\n", "X: 1\r\n".repeat(33))),
        ("chunk-size-overflow", post(chunked, "ffffffffffffffffff\r\n")),
        ("chunk-size-empty", post(chunked, "\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n")),
        ("chunk-size-space-first", post(chunked, " 3\r\nabc\r\n0\r\n\r\n")),
        ("chunk-size-signed", post(chunked, "-3\r\nabc\r\n0\r\n\r\n")),
        ("chunk-data-overrun", post(chunked, "2\r\nabX\r\n0\r\n\r\n")),
        ("chunk-line-too-long", post(chunked, &format!("1;{}\r\na\r\n0\r\n\r\n", "x".repeat(300)))),
        ("chunk-trailer-too-long", post(chunked, &format!("1\r\na\r\n0\r\nT: {}\r\n\r\n", "y".repeat(300)))),
        ("response-content-length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".into()),
        ("response-until-close", "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the connection closes".into()),
        ("response-until-close-long", format!("HTTP/1.1 200 OK\r\n\r\n{}", "z".repeat(200))),
        ("response-chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\npong\r\n0\r\n\r\n".into()),
        ("response-continue-then-204", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 7\r\nTransfer-Encoding: chunked\r\n\r\nHTTP/1.1 304 Not Modified\r\n\r\n".into()),
        ("response-smuggle-cl-te", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".into()),
    ];
    for (name, bytes) in cases {
        s.add(t, name, bytes);
    }
}

// ---------------------------------------------------------------------------------------------
// Seeds from the conformance vectors (Wycheproof shape: testGroups[].tests[]).

/// Each test of a vector file, with its group's fields underneath (the test's win).
fn vector_tests(path: &Path) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for group in v["testGroups"].as_array().into_iter().flatten() {
        for test in group["tests"].as_array().into_iter().flatten() {
            let mut merged = group.as_object().cloned().unwrap_or_default();
            merged.remove("tests");
            merged.extend(test.as_object().cloned().unwrap_or_default());
            out.push(merged);
        }
    }
    out
}

fn add_vector_seeds(s: &mut Seeds) {
    let dir = repo().join("conformance/vectors");
    let str_of = |t: &serde_json::Map<String, serde_json::Value>, k: &str| {
        t.get(k).and_then(|v| v.as_str()).map(str::to_string)
    };
    let hex = |t: &str| -> Option<Vec<u8>> {
        (0..t.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(t.get(i..i + 2)?, 16).ok())
            .collect()
    };
    let mut found: BTreeMap<&'static str, Vec<Vec<u8>>> = BTreeMap::new();
    let mut take = |target: &'static str, bytes: Vec<u8>| {
        found.entry(target).or_default().push(bytes);
    };
    for t in vector_tests(&dir.join("shard_id.json")) {
        if let Some(x) = str_of(&t, "text") {
            take("shard_id", x.into_bytes());
        }
    }
    for t in vector_tests(&dir.join("path_normalization.json")) {
        if let Some(x) = str_of(&t, "path") {
            take("path", x.into_bytes());
        }
    }
    for t in vector_tests(&dir.join("content_digest.json")) {
        if let (Some(header), Some(body)) = (str_of(&t, "header"), str_of(&t, "body"))
            && let Some(body) = hex(&body)
        {
            take("content_digest", join(&[header.as_bytes(), b"\n", &body]));
        }
    }
    for t in vector_tests(&dir.join("acl.json")) {
        if let Some(meta) = str_of(&t, "appMeta") {
            let path = str_of(&t, "path").unwrap_or_default();
            take(
                "app_meta_acl",
                format!("{meta}\0\0\0\0\0{path}").into_bytes(),
            );
        }
    }
    for t in vector_tests(&dir.join("signature_base.json")) {
        let (Some(params), Some(request)) = (str_of(&t, "signatureParams"), str_of(&t, "request"))
        else {
            continue;
        };
        let msg = match str_of(&t, "response") {
            Some(resp) => join(&[resp.as_bytes(), NEXT_MESSAGE, request.as_bytes()]),
            None => request.into_bytes(),
        };
        take("signature_base", join(&[params.as_bytes(), b"\n", &msg]));
    }
    for family in ["signing", "verification", "response", "whoareyou"] {
        for t in vector_tests(&dir.join(format!("{family}.json"))) {
            match (str_of(&t, "response"), str_of(&t, "request")) {
                (Some(resp), req) => take(
                    "verify_response",
                    match req {
                        Some(req) => join(&[resp.as_bytes(), NEXT_MESSAGE, req.as_bytes()]),
                        None => resp.into_bytes(),
                    },
                ),
                (None, Some(req)) => take("verify_request", req.into_bytes()),
                (None, None) => {}
            }
        }
    }
    // A few per target, spread over each file, so the corpus stays a few KB.
    for (target, all) in found {
        let step = all.len().div_ceil(8).max(1);
        for (i, bytes) in all.into_iter().step_by(step).enumerate() {
            if bytes.len() > 2048 {
                continue;
            }
            s.0.push(Seed {
                target,
                name: format!("vector-{i:02}"),
                bytes,
                from_vectors: true,
            });
        }
    }
}

// ---------------------------------------------------------------------------------------------

fn harness(target: &str) -> fn(&[u8]) {
    match target {
        "shard_id" => h::shard_id,
        "keys" => h::keys,
        "sf" => h::sf,
        "sf_differential" => crate::sf_differential,
        "signature_base" => h::signature_base,
        "verify_request" => h::verify_request,
        "verify_response" => h::verify_response,
        "content_digest" => h::content_digest,
        "path" => h::path,
        "app_meta_acl" => h::app_meta_acl,
        "app_meta_differential" => crate::app_meta_differential,
        "http_request" => shardpeer_embassy::fuzz_harness::http_request,
        other => panic!("unknown target {other}"),
    }
}

/// Every seed passes its harness; with `SHARDPEER_WRITE_SEEDS=1` they are written, otherwise the
/// ones not from the vectors must already be in the corpus.
#[test]
fn seeds_are_checked_in() {
    let write = std::env::var("SHARDPEER_WRITE_SEEDS").as_deref() == Ok("1");
    let corpus = repo().join("fuzz/corpus");
    let mut missing = Vec::new();
    for seed in seeds().0 {
        assert!(
            seed.bytes.len() <= h::MAX_INPUT,
            "{}/{}",
            seed.target,
            seed.name
        );
        harness(seed.target)(&seed.bytes);
        let path = corpus.join(seed.target).join(&seed.name);
        if write {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &seed.bytes).unwrap();
        } else if !seed.from_vectors
            && std::fs::read(&path).ok().as_deref() != Some(&seed.bytes[..])
        {
            missing.push(path.display().to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "seeds missing or stale (rerun with SHARDPEER_WRITE_SEEDS=1): {missing:#?}"
    );
}

/// The corpora of the differential targets through their oracles (they need `sfv` and
/// `serde_json`, so they are replayed here rather than in core/tests/fuzz_corpus.rs).
#[test]
fn differential_corpora_replay() {
    for target in ["sf_differential", "app_meta_differential"] {
        let dir = repo().join("fuzz/corpus").join(target);
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let result = std::panic::catch_unwind(|| harness(target)(&bytes));
            assert!(result.is_ok(), "{} fails its oracle", path.display());
            n += 1;
        }
        assert!(n > 0, "{} is empty", dir.display());
    }
}
