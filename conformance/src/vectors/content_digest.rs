//! `content_digest.json`: RFC 9530 `Content-Digest`, computed and checked.

use super::util::*;
use super::{FileBuilder, GroupSchema, case, file_schema};
use serde_json::{Value, json};
use shardpeer_core::digest::{Digest, DigestAlg};

pub const ALGORITHM: &str = "RFC9530-CONTENT-DIGEST";

const CODES: &[&str] = &[
    "content_digest_malformed",
    "content_digest_unsupported",
    "content_digest_mismatch",
];

fn body(test: &Value) -> Result<Vec<u8>, String> {
    let b = hex_field(test, "body")?;
    if let Some(text) = opt_s(test, "bodyText")?
        && text.as_bytes() != b.as_slice()
    {
        return Err("bodyText and body disagree".into());
    }
    Ok(b)
}

pub fn run(group: &Value, test: &Value) -> Result<Actual, String> {
    let body = body(test)?;
    match s(group, "type")? {
        "ContentDigestCompute" => {
            let alg = match s(test, "algorithm")? {
                "sha-256" => DigestAlg::Sha256,
                "sha-512" => DigestAlg::Sha512,
                other => return Err(format!("algorithm {other}")),
            };
            Ok(Actual::valid().with("header", Digest::of(alg, &body).header_value().as_str()))
        }
        "ContentDigestCheck" => {
            let d = match Digest::parse_header(s(test, "header")?) {
                Ok(d) => d,
                Err(e) => return Ok(code(&e)),
            };
            match d.check_body(&body) {
                Ok(()) => Ok(Actual::valid().with("checkedAlgorithm", d.alg().key())),
                Err(e) => Ok(code(&e)),
            }
        }
        other => Err(format!("unknown group type {other}")),
    }
}

fn text(t: &str) -> Value {
    json!({"body": hex::encode(t), "bodyText": t})
}

fn with(mut v: Value, key: &str, x: impl Into<Value>) -> Value {
    v[key] = x.into();
    v
}

pub fn generate() -> Value {
    let mut f = FileBuilder::new("content_digest", ALGORITHM, run);
    f.header(&[
        "RFC 9530 Content-Digest: docs/protocol.md, \"Content-Digest\" (and steps 16 and 18 of the verification procedure).",
        "body is hex (bodyText, when present, is the same bytes as text). The digest is over the content as transferred, after removing any transfer coding.",
        "ContentDigestCompute: body + algorithm -> header, the field value a sender writes (shardpeer senders use sha-256).",
        "ContentDigestCheck: header (the received field value) + body -> valid with checkedAlgorithm, or the error: the field is an RFC 8941 dictionary; sha-256 and sha-512 are supported, other keys ignored; when both are present sha-512 is checked; each supported member must be a byte sequence of the algorithm's length.",
    ]);
    let notes: &[(&str, &str, &str, &str)] = &[
        (
            "Rfc9530Example",
            "BASIC",
            "RFC 9530's sample: the 18-byte body {\"hello\": \"world\"} (no trailing newline); see third-party/rfc9421-appendix-b.txt.",
            "Digests that differ from every other implementation.",
        ),
        (
            "TrailingNewline",
            "EDGE_CASE",
            "The same JSON followed by LF (19 bytes), which many RFC 9530 examples hash: a different digest.",
            "An implementation tested against the wrong sample.",
        ),
        (
            "EmptyBody",
            "EDGE_CASE",
            "The empty body has a digest too; shardpeer signs it for requests without a body.",
            "GET requests without Content-Digest, refused by receivers.",
        ),
        (
            "Binary",
            "BASIC",
            "Bytes that are not text.",
            "Bodies transcoded before hashing.",
        ),
        (
            "BothAlgorithms",
            "EDGE_CASE",
            "sha-256 and sha-512 both present: sha-512 is checked, whatever the sha-256 member says.",
            "A receiver checking only sha-256 lets an attacker who controls it pick the body.",
        ),
        (
            "UnknownAlgorithm",
            "EDGE_CASE",
            "Algorithms other than sha-256/sha-512 are ignored (RFC 9530 §2); a field naming none supported is refused.",
            "Refusing senders that add algorithms, or accepting a body checked by nothing.",
        ),
        (
            "Malformed",
            "BASIC",
            "Not a dictionary, a supported member that is not a byte sequence, or of the wrong length.",
            "A digest compared over a prefix, or a parser crash.",
        ),
        (
            "Mismatch",
            "BASIC",
            "The body does not match.",
            "Bodies not bound by the signature.",
        ),
        (
            "Unpadded",
            "EDGE_CASE",
            "A byte sequence without its '=' padding: accepted, as RFC 8941 §4.2.7 recommends.",
            "Fields from senders whose base64 omits padding refused.",
        ),
        (
            "Parameters",
            "EDGE_CASE",
            "A member with RFC 8941 parameters: the byte sequence is what counts.",
            "Valid fields refused.",
        ),
    ];
    for (flag, bug, d, e) in notes {
        f.note(flag, bug, d, e);
    }
    let hello = r#"{"hello": "world"}"#;
    let hello_lf = "{\"hello\": \"world\"}\n";
    let binary: Vec<u8> = (0u8..=255).collect();
    f.group(
        json!({"type": "ContentDigestCompute"}),
        vec![
            case(
                "RFC 9530 sample, sha-256",
                &["Rfc9530Example"],
                with(text(hello), "algorithm", "sha-256"),
            )
            .pinned(json!({"header": "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"})),
            case(
                "RFC 9530 sample, sha-512",
                &["Rfc9530Example"],
                with(text(hello), "algorithm", "sha-512"),
            )
            .pinned(json!({"header": B2_DIGEST})),
            case(
                "the sample with a trailing LF, sha-256",
                &["TrailingNewline"],
                with(text(hello_lf), "algorithm", "sha-256"),
            )
            .valid(),
            case(
                "empty body, sha-256",
                &["EmptyBody"],
                with(text(""), "algorithm", "sha-256"),
            )
            .pinned(json!({"header": "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"})),
            case(
                "empty body, sha-512",
                &["EmptyBody"],
                with(text(""), "algorithm", "sha-512"),
            )
            .valid(),
            case(
                "bytes 00..ff, sha-256",
                &["Binary"],
                json!({"body": hex::encode(&binary), "algorithm": "sha-256"}),
            )
            .valid(),
        ],
    );
    let d256 = digest256(hello.as_bytes());
    let d512 = digest512(hello.as_bytes());
    let zero256 = format!("sha-256=:{}:", b64(&[0u8; 32]));
    let zero512 = format!("sha-512=:{}:", b64(&[0u8; 64]));
    let check = |header: &str, body: &str| with(text(body), "header", header);
    let cases = vec![
        case("sha-256 matches", &["Rfc9530Example"], check(&d256, hello)).valid(),
        case("sha-512 matches", &["Rfc9530Example"], check(&d512, hello)).valid(),
        case(
            "both, both right: sha-512 checked",
            &["BothAlgorithms"],
            check(&format!("{d256}, {d512}"), hello),
        )
        .valid(),
        case(
            "both, sha-256 wrong and sha-512 right: valid",
            &["BothAlgorithms"],
            check(&format!("{zero256}, {d512}"), hello),
        )
        .valid(),
        case(
            "both, sha-512 first in the field: order does not matter",
            &["BothAlgorithms"],
            check(&format!("{d512}, {zero256}"), hello),
        )
        .valid(),
        case(
            "both, sha-256 right and sha-512 wrong: mismatch",
            &["BothAlgorithms", "Mismatch"],
            check(&format!("{d256}, {zero512}"), hello),
        )
        .invalid("content_digest_mismatch"),
        case(
            "unknown algorithm next to sha-256: ignored",
            &["UnknownAlgorithm"],
            check(&format!("md5=:HtP9O4pL1ZMOvFwqEfXVRQ==:, {d256}"), hello),
        )
        .valid(),
        case(
            "unknown algorithm with a value that is not a byte sequence: ignored",
            &["UnknownAlgorithm"],
            check(&format!("{d256}, crc32c=abc"), hello),
        )
        .valid(),
        case(
            "only an unknown algorithm",
            &["UnknownAlgorithm"],
            check("md5=:HtP9O4pL1ZMOvFwqEfXVRQ==:", hello),
        )
        .invalid("content_digest_unsupported"),
        case(
            "sha-384 (registered, not supported here)",
            &["UnknownAlgorithm"],
            check(&format!("sha-384=:{}:", b64(&[0u8; 48])), hello),
        )
        .invalid("content_digest_unsupported"),
        case("empty field value", &["UnknownAlgorithm"], check("", hello))
            .invalid("content_digest_unsupported"),
        case(
            "algorithm name in uppercase (not an RFC 8941 key)",
            &["Malformed"],
            check(&d256.replace("sha-256", "SHA-256"), hello),
        )
        .invalid("content_digest_malformed"),
        case(
            "sha-256 of 3 bytes",
            &["Malformed"],
            check("sha-256=:AAAA:", hello),
        )
        .invalid("content_digest_malformed"),
        case(
            "sha-256 with the 64 bytes of a sha-512",
            &["Malformed"],
            check(&d512.replace("sha-512", "sha-256"), hello),
        )
        .invalid("content_digest_malformed"),
        case(
            "sha-512 of the wrong length next to a right sha-256",
            &["Malformed", "BothAlgorithms"],
            check(&format!("{d256}, sha-512=:AAAA:"), hello),
        )
        .invalid("content_digest_malformed"),
        case(
            "sha-256 as a token, not a byte sequence",
            &["Malformed"],
            check("sha-256=abc", hello),
        )
        .invalid("content_digest_malformed"),
        case(
            "sha-256 as an inner list",
            &["Malformed"],
            check(
                &format!("sha-256=({})", d256.trim_start_matches("sha-256=")),
                hello,
            ),
        )
        .invalid("content_digest_malformed"),
        case(
            "not a dictionary",
            &["Malformed"],
            check("not a dictionary", hello),
        )
        .invalid("content_digest_malformed"),
        case(
            "base64 without '=' padding inside ':' (RFC 8941 §4.2.7: parsers SHOULD NOT fail)",
            &["Unpadded"],
            check(
                &format!("{}:", d256.trim_end_matches(':').trim_end_matches('=')),
                hello,
            ),
        )
        .valid(),
        case(
            "a member with a parameter",
            &["Parameters"],
            check(&format!("{d256};p=1"), hello),
        )
        .valid(),
        case("wrong body", &["Mismatch"], check(&d256, hello_lf))
            .invalid("content_digest_mismatch"),
        case(
            "empty body against the sample's digest",
            &["Mismatch", "EmptyBody"],
            check(&d256, ""),
        )
        .invalid("content_digest_mismatch"),
        case(
            "empty body, right digest",
            &["EmptyBody"],
            check(&digest256(b""), ""),
        )
        .valid(),
    ];
    f.group(json!({"type": "ContentDigestCheck"}), cases);
    f.finish()
}

pub fn schema() -> Value {
    file_schema(
        "content_digest",
        ALGORITHM,
        "shardpeer conformance vectors: RFC 9530 Content-Digest",
        vec![
            GroupSchema {
                kind: "ContentDigestCompute",
                shared: json!({}),
                shared_required: &[],
                inputs: json!({
                    "body": {"$ref": "#/$defs/hex"},
                    "bodyText": {"type": "string"},
                    "algorithm": {"enum": ["sha-256", "sha-512"]},
                }),
                inputs_required: &["body", "algorithm"],
                outputs: json!({"header": {"type": "string"}}),
                outputs_required: &["header"],
                test_constraints: Value::Null,
                group_constraints: Value::Null,
            },
            GroupSchema {
                kind: "ContentDigestCheck",
                shared: json!({}),
                shared_required: &[],
                inputs: json!({
                    "body": {"$ref": "#/$defs/hex"},
                    "bodyText": {"type": "string"},
                    "header": {"type": "string"},
                }),
                inputs_required: &["body", "header"],
                outputs: json!({"checkedAlgorithm": {"enum": ["sha-256", "sha-512"]}}),
                outputs_required: &["checkedAlgorithm"],
                test_constraints: Value::Null,
                group_constraints: Value::Null,
            },
        ],
        CODES,
    )
}
