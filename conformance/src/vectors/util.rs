//! Shared pieces of the generators and checkers: the fixed keys and clock, editing messages in
//! wire form, signing them with the core, and reading vector fields.

use crate::wire::{self, WireRequest, WireResponse};
use base64::Engine as _;
use serde_json::Value;
use shardpeer_core::base;
use shardpeer_core::digest::{Digest, DigestAlg};
use shardpeer_core::identity::{Identity, PublicKey};
use shardpeer_core::profile;
use shardpeer_core::replay::{ReplayCache, ReplayError};
use shardpeer_core::sf;
use shardpeer_core::sign::{self, SignatureParams, SignedFields};
use shardpeer_core::wire::WireError;

// ---------------------------------------------------------------------------------------
// Keys and clock.

/// RFC 9421 B.1.4 `test-key-ed25519`: the seed.
pub const RFC_SEED: &str = "9f8362f87a484a954e6e740c5b4c0e84229139a20aa8ab56ff66586f6a7d29c5";
/// RFC 9421 B.1.4: the public key.
pub const RFC_PUBLIC: &str = "26b40b8f93fff3d897112f7ebc582b232dbd72517d082fe83cfb30ddce43d1bb";
/// RFC 9421 B.1.4: the public key as PEM.
pub const RFC_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=\n-----END PUBLIC KEY-----\n";
/// RFC 9421 B.1.4: the private key as PEM.
pub const RFC_PRIVATE_PEM: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n-----END PRIVATE KEY-----\n";
/// The ID of the B.1.4 key, from the worked example in `docs/protocol.md`.
pub const RFC_ID: &str = "uzzfszqnijtc4eswmobxlvqillyuoyvvpsggaxtzq442s73k";

/// A named test key.
#[derive(Clone, Copy)]
pub struct Key {
    /// Who it is in the vectors.
    pub name: &'static str,
    /// Its seed.
    pub seed: [u8; 32],
}

impl Key {
    /// The key pair.
    pub fn identity(&self) -> Identity {
        Identity::from_seed(self.seed).expect("test seeds are not zero")
    }

    /// The seed in hex.
    pub fn seed_hex(&self) -> String {
        hex::encode(self.seed)
    }

    /// The public key in hex.
    pub fn public_hex(&self) -> String {
        hex::encode(self.identity().public_key().as_bytes())
    }

    /// The public key as PEM.
    pub fn public_pem(&self) -> String {
        self.identity().public_key().to_pem().to_string()
    }

    /// The private key as PKCS#8 v1 PEM.
    pub fn private_pem(&self) -> String {
        self.identity().to_pkcs8_pem().to_string()
    }

    /// The full shard ID.
    pub fn id(&self) -> String {
        self.identity().id().as_str().to_string()
    }

    /// The short ID.
    pub fn short(&self) -> String {
        self.identity().id().short_id().to_string()
    }

    /// `<short ID>.shard.test`, the shard's domain in the vectors.
    pub fn domain(&self) -> String {
        format!("{}.{ZONE}", self.short())
    }
}

/// The zone every shard of the vectors lives in.
pub const ZONE: &str = "shard.test";

/// A seed made of one repeated byte.
const fn repeated(b: u8) -> [u8; 32] {
    [b; 32]
}

/// A seed `counter (8 bytes, little-endian) || 0x5a × 24`; the two below were found by
/// searching counters for two IDs with the same first 6 characters (a birthday search, about
/// 2^15 keys: a collision with one *given* ID would take about 2^30).
const fn twin_seed(counter: u64) -> [u8; 32] {
    let mut s = [0x5a; 32];
    let c = counter.to_le_bytes();
    let mut i = 0;
    while i < 8 {
        s[i] = c[i];
        i += 1;
    }
    s
}

/// The RFC 9421 B.1.4 key.
pub fn rfc_key() -> Key {
    let mut seed = [0u8; 32];
    hex::decode_to_slice(RFC_SEED, &mut seed).expect("constant");
    Key {
        name: "test-key-ed25519",
        seed,
    }
}

/// The sending shard in most vectors.
pub const ALICE: Key = Key {
    name: "alice",
    seed: repeated(0x01),
};
/// The receiving shard.
pub const BOB: Key = Key {
    name: "bob",
    seed: repeated(0x02),
};
/// An attacker with a key of its own.
pub const MALLORY: Key = Key {
    name: "mallory",
    seed: repeated(0x03),
};
/// A peer whose ID shares its first 6 characters with [`TWIN`]'s.
pub const CAROL: Key = Key {
    name: "carol",
    seed: twin_seed(4696),
};
/// An attacker whose short ID equals [`CAROL`]'s.
pub const TWIN: Key = Key {
    name: "carol's short-ID twin",
    seed: twin_seed(45222),
};

/// `created` of most signatures in the vectors.
pub const T0: u64 = 1_763_800_000;
/// The receiver's clock in most vectors: 30 s after [`T0`].
pub const NOW: u64 = T0 + 30;
/// `created` of the RFC 9421 Appendix B signatures.
pub const RFC_CREATED: u64 = 1_618_884_473;

/// The spec's example nonce (bytes 0..15, base64url).
pub const NONCE_1: &str = "AAECAwQFBgcICQoLDA0ODw";
/// Another nonce (bytes 16..31, base64url).
pub const NONCE_2: &str = "EBESExQVFhcYGRobHB0eHw";

// ---------------------------------------------------------------------------------------
// Messages in wire form.

/// A request in wire form. `body` is text; fields in order.
pub fn request(start: &str, fields: &[(&str, &str)], body: &str) -> String {
    let mut s = format!("{start} HTTP/1.1\r\n");
    for (n, v) in fields {
        s.push_str(&format!("{n}: {v}\r\n"));
    }
    s.push_str("\r\n");
    s.push_str(body);
    s
}

/// A response in wire form.
pub fn response(status_line: &str, fields: &[(&str, &str)], body: &str) -> String {
    let mut s = format!("HTTP/1.1 {status_line}\r\n");
    for (n, v) in fields {
        s.push_str(&format!("{n}: {v}\r\n"));
    }
    s.push_str("\r\n");
    s.push_str(body);
    s
}

fn split(wire: &str) -> (&str, &str) {
    wire.split_once("\r\n\r\n")
        .expect("a wire message has a blank line")
}

/// Adds field lines at the end of the head.
pub fn add_fields(wire: &str, fields: &[(&str, &str)]) -> String {
    let (head, body) = split(wire);
    let mut s = head.to_string();
    for (n, v) in fields {
        s.push_str(&format!("\r\n{n}: {v}"));
    }
    format!("{s}\r\n\r\n{body}")
}

/// Replaces the value of every line of field `name` (case-insensitive).
pub fn set_field(wire: &str, name: &str, value: &str) -> String {
    edit_fields(wire, |n, v| {
        Some(if n.eq_ignore_ascii_case(name) {
            format!("{n}: {value}")
        } else {
            format!("{n}: {v}")
        })
    })
}

/// Removes every line of field `name`.
pub fn remove_field(wire: &str, name: &str) -> String {
    edit_fields(wire, |n, v| {
        (!n.eq_ignore_ascii_case(name)).then(|| format!("{n}: {v}"))
    })
}

fn edit_fields(wire: &str, mut f: impl FnMut(&str, &str) -> Option<String>) -> String {
    let (head, body) = split(wire);
    let mut lines = head.split("\r\n");
    let mut out = vec![lines.next().expect("start line").to_string()];
    for line in lines {
        let (n, v) = line.split_once(": ").expect("field line");
        out.extend(f(n, v));
    }
    format!("{}\r\n\r\n{body}", out.join("\r\n"))
}

/// Replaces the start line.
pub fn set_start_line(wire: &str, start: &str) -> String {
    let (first, rest) = wire.split_once("\r\n").expect("start line");
    let version = if first.starts_with("HTTP/") {
        ""
    } else {
        " HTTP/1.1"
    };
    format!("{start}{version}\r\n{rest}")
}

/// Replaces the body (and `Content-Length`, when present).
pub fn set_body(wire: &str, body: &str) -> String {
    let (head, _) = split(wire);
    let w = format!("{head}\r\n\r\n{body}");
    if head.to_ascii_lowercase().contains("\r\ncontent-length: ") {
        set_field(&w, "Content-Length", &body.len().to_string())
    } else {
        w
    }
}

/// The value of the first line of `name`.
pub fn field(wire: &str, name: &str) -> String {
    let (head, _) = split(wire);
    head.split("\r\n")
        .skip(1)
        .filter_map(|l| l.split_once(": "))
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.to_string())
        .expect("field present")
}

/// `sha-256=:…:` over `body`.
pub fn digest256(body: &[u8]) -> String {
    Digest::of(DigestAlg::Sha256, body)
        .header_value()
        .to_string()
}

/// `sha-512=:…:` over `body`.
pub fn digest512(body: &[u8]) -> String {
    Digest::of(DigestAlg::Sha512, body)
        .header_value()
        .to_string()
}

/// Standard base64 with padding.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

// ---------------------------------------------------------------------------------------
// Signing with the core.

fn parse_req(wire: &str, scheme: &str) -> WireRequest {
    wire::parse_request(wire.as_bytes(), scheme).expect("generated request parses")
}

fn parse_resp(wire: &str) -> WireResponse {
    wire::parse_response(wire.as_bytes()).expect("generated response parses")
}

fn with_signature(wire: &str, s: &SignedFields) -> String {
    add_fields(
        wire,
        &[
            ("Signature-Input", s.signature_input.as_str()),
            ("Signature", s.signature.as_str()),
        ],
    )
}

/// Signs a request as a shard does (`profile::sign_request`): the request must carry its
/// `Content-Digest`.
pub fn sign_profile(wire: &str, who: &Key, created: u64, nonce: &str) -> String {
    let parsed = parse_req(wire, "https");
    let refs = wire::field_refs(&parsed.fields);
    let view = parsed.view(&refs);
    let mut buf = [0u8; 4096];
    let s = profile::sign_request(&who.identity(), &view, created, nonce, &mut buf)
        .expect("profile signing");
    with_signature(wire, &s)
}

/// Signs a request with explicit components and parameters (`sign::sign_request`).
pub fn sign_params(
    wire: &str,
    who: &Key,
    label: &str,
    components: &str,
    params: &SignatureParams<'_>,
) -> String {
    let parsed = parse_req(wire, "https");
    let refs = wire::field_refs(&parsed.fields);
    let view = parsed.view(&refs);
    let mut buf = [0u8; 4096];
    let s = sign::sign_request(&who.identity(), label, components, params, &view, &mut buf)
        .expect("signing");
    with_signature(wire, &s)
}

/// Signs a request over a hand-written inner list (any parameter order, any components).
/// When the core cannot build the base for it, the signature is over the inner list text:
/// such vectors fail before the signature is looked at.
pub fn sign_inner(wire: &str, who: &Key, label: &str, inner: &str) -> String {
    let parsed = parse_req(wire, "https");
    let refs = wire::field_refs(&parsed.fields);
    let view = parsed.view(&refs);
    let list = sf::parse_inner_list(inner).expect("inner list parses");
    let mut buf = [0u8; 4096];
    let sig = match base::request_base(&view, &list, &mut buf) {
        Ok(b) => who.identity().sign(b),
        Err(_) => who.identity().sign(inner.as_bytes()),
    };
    add_fields(
        wire,
        &[
            ("Signature-Input", &format!("{label}={inner}")),
            ("Signature", &format!("{label}=:{}:", b64(&sig))),
        ],
    )
}

/// The profile's request components for a message with or without `Content-Type`.
pub fn profile_components(with_content_type: bool) -> String {
    if with_content_type {
        format!("{} {}", profile::REQUEST_COMPONENTS, profile::IF_PRESENT)
    } else {
        profile::REQUEST_COMPONENTS.to_string()
    }
}

/// The profile's request parameters, as the signer writes them.
pub fn profile_params<'a>(id: &'a str, created: u64, nonce: &'a str) -> SignatureParams<'a> {
    SignatureParams {
        created: Some(created as i64),
        expires: Some(created as i64 + profile::MAX_AGE as i64),
        nonce: Some(nonce),
        keyid: Some(id),
        alg: true,
        tag: Some(profile::REQUEST_TAG),
    }
}

/// Signs a response to `request_wire` as a shard does (`profile::sign_response`).
pub fn sign_profile_response(
    resp_wire: &str,
    request_wire: &str,
    who: &Key,
    created: u64,
) -> String {
    let req = parse_req(request_wire, "https");
    let req_refs = wire::field_refs(&req.fields);
    let req_view = req.view(&req_refs);
    let resp = parse_resp(resp_wire);
    let refs = wire::field_refs(&resp.fields);
    let view = resp.view(&refs, Some(&req_view));
    let mut buf = [0u8; 4096];
    let s = profile::sign_response(&who.identity(), &view, created, &mut buf)
        .expect("response signing");
    with_signature(resp_wire, &s)
}

/// Signs a response with explicit components and parameters.
pub fn sign_response_params(
    resp_wire: &str,
    request_wire: Option<&str>,
    who: &Key,
    components: &str,
    params: &SignatureParams<'_>,
) -> String {
    let req = request_wire.map(|w| parse_req(w, "https"));
    let req_refs = req.as_ref().map(|r| wire::field_refs(&r.fields));
    let req_view = req.as_ref().zip(req_refs.as_ref()).map(|(r, f)| r.view(f));
    let resp = parse_resp(resp_wire);
    let refs = wire::field_refs(&resp.fields);
    let view = resp.view(&refs, req_view.as_ref());
    let mut buf = [0u8; 4096];
    let s = sign::sign_response(
        &who.identity(),
        profile::LABEL,
        components,
        params,
        &view,
        &mut buf,
    )
    .expect("response signing");
    with_signature(resp_wire, &s)
}

/// Replaces the bytes of the `Signature` value of label `label` with `sig`.
pub fn set_signature_bytes(wire: &str, label: &str, sig: &[u8; 64]) -> String {
    set_field(wire, "Signature", &format!("{label}=:{}:", b64(sig)))
}

/// The 64 signature bytes of a message signed with label `label`.
pub fn signature_bytes(wire: &str, label: &str) -> [u8; 64] {
    let v = field(wire, "Signature");
    let b = v
        .strip_prefix(&format!("{label}=:"))
        .and_then(|r| r.strip_suffix(':'))
        .expect("one signature");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b)
        .expect("base64");
    bytes.try_into().expect("64 bytes")
}

// ---------------------------------------------------------------------------------------
// Reading vectors.

/// A string field.
pub fn s<'v>(v: &'v Value, key: &str) -> Result<&'v str, String> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{key} is not a string"))
}

/// An optional string field.
pub fn opt_s<'v>(v: &'v Value, key: &str) -> Result<Option<&'v str>, String> {
    match v.get(key) {
        None => Ok(None),
        Some(x) => x
            .as_str()
            .map(Some)
            .ok_or_else(|| format!("{key} is not a string")),
    }
}

/// An unsigned integer field.
pub fn u(v: &Value, key: &str) -> Result<u64, String> {
    v.get(key)
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("{key} is not an unsigned integer"))
}

/// A hex field.
pub fn hex_field(v: &Value, key: &str) -> Result<Vec<u8>, String> {
    hex::decode(s(v, key)?).map_err(|e| format!("{key}: {e}"))
}

/// A 32-byte hex field.
pub fn hex32_field(v: &Value, key: &str) -> Result<[u8; 32], String> {
    hex_field(v, key)?
        .try_into()
        .map_err(|_| format!("{key} is not 32 bytes"))
}

/// Reads a request, then appends the test's `extraFields`.
pub fn read_request(
    wire_text: &str,
    scheme: &str,
    extra: Option<&Value>,
) -> Result<WireRequest, String> {
    let mut r = wire::parse_request(wire_text.as_bytes(), scheme).map_err(|e| e.to_string())?;
    append_extra(&mut r.fields, extra)?;
    Ok(r)
}

/// Reads a response, then appends the test's `extraFields`.
pub fn read_response(wire_text: &str, extra: Option<&Value>) -> Result<WireResponse, String> {
    let mut r = wire::parse_response(wire_text.as_bytes()).map_err(|e| e.to_string())?;
    append_extra(&mut r.fields, extra)?;
    Ok(r)
}

fn append_extra(fields: &mut Vec<(String, Vec<u8>)>, extra: Option<&Value>) -> Result<(), String> {
    for f in extra.and_then(Value::as_array).into_iter().flatten() {
        fields.push((s(f, "name")?.to_string(), hex_field(f, "valueHex")?));
    }
    Ok(())
}

/// The group's `scheme`, `https` when absent.
pub fn scheme(group: &Value) -> Result<&str, String> {
    Ok(opt_s(group, "scheme")?.unwrap_or("https"))
}

/// The code of a core error.
pub fn code(e: &impl WireError) -> Actual {
    Actual::invalid(e.code())
}

pub use super::Actual;

/// A public key from hex, as a stored peer key.
pub fn public_key(hex_text: &str) -> Result<PublicKey, String> {
    PublicKey::from_hex(hex_text).map_err(|e| format!("public key {hex_text}: {e}"))
}

/// A peers list: full ID → pinned key, looked up by the exact `keyid` text.
pub struct Peers(pub Vec<(String, PublicKey)>);

impl shardpeer_core::verify::KeySource for Peers {
    fn key_for(&self, keyid: Option<&str>) -> Option<PublicKey> {
        self.0
            .iter()
            .find(|(id, _)| Some(id.as_str()) == keyid)
            .map(|(_, k)| *k)
    }
}

/// A replay cache without a size limit, for the vectors.
#[derive(Default)]
pub struct SeenNonces(Vec<(String, String, u64)>);

impl ReplayCache for SeenNonces {
    fn check_and_insert(
        &mut self,
        keyid: &str,
        nonce: &str,
        now: u64,
        keep_until: u64,
    ) -> Result<(), ReplayError> {
        if self
            .0
            .iter()
            .any(|(k, n, until)| k == keyid && n == nonce && *until >= now)
        {
            return Err(ReplayError::Replayed);
        }
        self.0.push((keyid.into(), nonce.into(), keep_until));
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// RFC 9421 Appendix B messages (third-party/rfc9421-appendix-b.txt) and the shardpeer
// messages most vectors start from.

/// The `Content-Digest` of the B.2 test-request.
pub const B2_DIGEST: &str = "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:";

/// RFC 9421 B.2 test-request.
pub fn b2_request() -> String {
    request(
        "POST /foo?param=Value&Pet=dog",
        &[
            ("Host", "example.com"),
            ("Date", "Tue, 20 Apr 2021 02:07:55 GMT"),
            ("Content-Type", "application/json"),
            ("Content-Digest", B2_DIGEST),
            ("Content-Length", "18"),
        ],
        r#"{"hello": "world"}"#,
    )
}

/// RFC 9421 B.2 test-response.
pub fn b2_response() -> String {
    response(
        "200 OK",
        &[
            ("Date", "Tue, 20 Apr 2021 02:07:56 GMT"),
            ("Content-Type", "application/json"),
            (
                "Content-Digest",
                "sha-512=:JlEy2bfUz7WrWIjc1qV6KVLpdr/7L5/L4h7Sxvh6sNHpDQWDCL+GauFQWcZBvVDhiyOnAQsxzZFYwi0wDH+1pw==:",
            ),
            ("Content-Length", "23"),
        ],
        r#"{"message": "good dog"}"#,
    )
}

/// RFC 9421 B.4 request, before signing.
pub fn b4_request() -> String {
    request(
        "GET /demo?name1=Value1&Name2=value2",
        &[
            ("Host", "example.org"),
            ("Date", "Fri, 15 Jul 2022 14:24:55 GMT"),
            ("Accept", "application/json"),
            ("Accept", "*/*"),
        ],
        "",
    )
}

/// RFC 9421 B.2.6 `Signature-Input` value.
pub const B26_INPUT: &str = r#"sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519""#;
/// RFC 9421 B.2.6 `Signature` value.
pub const B26_SIGNATURE: &str = "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:";
/// RFC 9421 B.2.6 signature base.
pub const B26_BASE: &str = "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n\"@method\": POST\n\"@path\": /foo\n\"@authority\": example.com\n\"content-type\": application/json\n\"content-length\": 18\n\"@signature-params\": (\"date\" \"@method\" \"@path\" \"@authority\" \"content-type\" \"content-length\");created=1618884473;keyid=\"test-key-ed25519\"";
/// RFC 9421 B.4 `Signature-Input` value.
pub const B4_INPUT: &str = r#"transform=("@method" "@path" "@authority" "accept");created=1618884473;keyid="test-key-ed25519""#;
/// RFC 9421 B.4 `Signature` value.
pub const B4_SIGNATURE: &str = "transform=:ZT1kooQsEHpZ0I1IjCqtQppOmIqlJPeo7DHR3SoMn0s5JZ1eRGS0A+vyYP9t/LXlh5QMFFQ6cpLt2m0pmj3NDA==:";
/// RFC 9421 B.4 signature base.
pub const B4_BASE: &str = "\"@method\": GET\n\"@path\": /demo\n\"@authority\": example.org\n\"accept\": application/json, */*\n\"@signature-params\": (\"@method\" \"@path\" \"@authority\" \"accept\");created=1618884473;keyid=\"test-key-ed25519\"";

/// RFC 9421 B.2.6: the B.2 request signed.
pub fn b26_signed() -> String {
    add_fields(
        &b2_request(),
        &[("Signature-Input", B26_INPUT), ("Signature", B26_SIGNATURE)],
    )
}

/// RFC 9421 B.4: the request signed.
pub fn b4_signed() -> String {
    add_fields(
        &b4_request(),
        &[("Signature-Input", B4_INPUT), ("Signature", B4_SIGNATURE)],
    )
}

/// The body of [`post_to_bob`].
pub const POST_BODY: &str = r#"{"hello": "bob"}"#;

/// `echo.<bob's short ID>.shard.test`: bob's echo app.
pub fn bob_echo() -> String {
    format!("echo.{}", BOB.domain())
}

/// Alice's request to bob's echo app, before signing: a body, `Content-Type`, a query and a
/// field the signature does not cover.
pub fn post_to_bob() -> String {
    request(
        "POST /peer/inbox?x=1&y=2",
        &[
            ("Host", &bob_echo()),
            ("Content-Type", "application/json"),
            ("Content-Length", &POST_BODY.len().to_string()),
            ("Content-Digest", &digest256(POST_BODY.as_bytes())),
            ("X-Custom", "kept"),
        ],
        POST_BODY,
    )
}

/// A GET without body, query or `Content-Type`, before signing.
pub fn get_from_bob() -> String {
    request(
        "GET /peer/status",
        &[("Host", &bob_echo()), ("Content-Digest", &digest256(b""))],
        "",
    )
}

/// Bob's answer to [`post_to_bob`], before signing.
pub fn bob_answer() -> String {
    let body = r#"{"received": true}"#;
    response(
        "200 OK",
        &[
            ("Content-Type", "application/json"),
            ("Content-Length", &body.len().to_string()),
            ("Content-Digest", &digest256(body.as_bytes())),
        ],
        body,
    )
}

// ---------------------------------------------------------------------------------------
// Ed25519 encodings for the edge cases (little-endian 256-bit arithmetic on public data).

/// The group order `L`, little-endian.
pub const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// `p = 2^255 - 19`, little-endian.
pub const P: [u8; 32] = [
    0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
];

/// `a + b` (no overflow for the values used).
pub fn add_le(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let v = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = v as u8;
        carry = v >> 8;
    }
    assert_eq!(carry, 0, "overflow");
    out
}

/// `a - b` for `a ≥ b`.
pub fn sub_le(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in 0..32 {
        let mut v = i16::from(a[i]) - i16::from(b[i]) - borrow;
        borrow = 0;
        if v < 0 {
            v += 256;
            borrow = 1;
        }
        out[i] = v as u8;
    }
    assert_eq!(borrow, 0, "underflow");
    out
}

/// `S + L` in place of `S`: the same signature for a verifier that reduces `S`, refused by
/// check 1.
pub fn with_s_plus_l(sig: &[u8; 64]) -> [u8; 64] {
    let mut out = *sig;
    let s: [u8; 32] = sig[32..].try_into().expect("32 bytes");
    out[32..].copy_from_slice(&add_le(&s, &L));
    out
}

/// `P + T` where `T = (0, -1)` is the point of order 2: `(x, y) → (-x, -y)`. For a point of
/// order `L` the result has order `2L`: a point with a small-order component.
pub fn plus_order_2(point: &[u8; 32]) -> [u8; 32] {
    let mut y = *point;
    let sign = y[31] & 0x80;
    y[31] &= 0x7f;
    let mut out = sub_le(&P, &y);
    out[31] |= sign ^ 0x80;
    out
}

/// The smallest `y ≥ 2` whose encoding (sign bit clear) is no curve point.
pub fn not_on_curve() -> [u8; 32] {
    use shardpeer_core::ed25519::{SignatureRuleError, check_public_key};
    (2u8..=255)
        .map(|y| {
            let mut b = [0u8; 32];
            b[0] = y;
            b
        })
        .find(|b| {
            matches!(
                check_public_key(b),
                Err(SignatureRuleError::NotOnCurve { .. })
            )
        })
        .expect("some small y is not on the curve")
}

/// `y = p + 1`: a non-canonical encoding of the identity.
pub fn non_canonical_identity() -> [u8; 32] {
    let mut one = [0u8; 32];
    one[0] = 1;
    add_le(&P, &one)
}

/// The canonical encoding of the identity `(0, 1)`, a point of order 1.
pub fn identity_point() -> [u8; 32] {
    let mut one = [0u8; 32];
    one[0] = 1;
    one
}
