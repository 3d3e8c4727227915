//! `shard_id.json`: seed → public key → shard ID → short ID, and parsing IDs.

use super::util::*;
use super::{FileBuilder, GroupSchema, case, file_schema};
use serde_json::{Value, json};
use shardpeer_core::id::ShardId;
use shardpeer_core::identity::Identity;

pub const ALGORITHM: &str = "SHARDPEER-ID";

const CODES: &[&str] = &[
    "id_wrong_length",
    "id_invalid_character",
    "id_bad_checksum",
    "key_zero_seed",
];

pub fn run(group: &Value, test: &Value) -> Result<Actual, String> {
    match s(group, "type")? {
        "ShardIdDerivation" => {
            let identity = match Identity::from_seed_hex(s(test, "seed")?) {
                Ok(i) => i,
                Err(e) => return Ok(code(&e)),
            };
            let pk = identity.public_key();
            let id = identity.id();
            Ok(Actual::valid()
                .with("privateKeyPem", identity.to_pkcs8_pem().as_str())
                .with("publicKey", hex::encode(pk.as_bytes()))
                .with("publicKeyPem", pk.to_pem().as_str())
                .with("id", id.as_str())
                .with("shortId", id.short_id()))
        }
        "ShardIdParse" => match ShardId::parse(s(test, "text")?) {
            Ok(id) => Ok(Actual::valid()
                .with("id", id.as_str())
                .with("shortId", id.short_id())),
            Err(e) => Ok(code(&e)),
        },
        other => Err(format!("unknown group type {other}")),
    }
}

/// `id` with the character at `i` replaced by `c`.
fn replace_at(id: &str, i: usize, c: char) -> String {
    let mut s: Vec<char> = id.chars().collect();
    s[i] = c;
    s.into_iter().collect()
}

/// `id` with the characters at `i` and `i + 1` swapped.
fn swap_at(id: &str, i: usize) -> String {
    let mut s: Vec<char> = id.chars().collect();
    assert_ne!(s[i], s[i + 1], "swap of equal characters changes nothing");
    s.swap(i, i + 1);
    s.into_iter().collect()
}

/// A different character of the alphabet than `c`.
fn other_char(c: char) -> char {
    if c == 'a' { 'b' } else { 'a' }
}

pub fn generate() -> Value {
    let mut f = FileBuilder::new("shard_id", ALGORITHM, run);
    f.header(&[
        "Shard IDs: derivation from an Ed25519 key, and parsing (docs/protocol.md, \"Shard IDs\").",
        "ShardIdDerivation: seed (hex, RFC 8032) -> privateKeyPem (PKCS#8 v1), publicKey (hex), publicKeyPem (SPKI, RFC 9421 B.1.4 layout), id (48 lowercase base32 characters), shortId (its first 6 characters).",
        "ShardIdParse: text -> the canonical lowercase id and its shortId, or the error code of the first failing check of the Parsing table (length in bytes, then characters, then checksum).",
        "The short ID is for display only: no test here or elsewhere authenticates, looks up or routes by it.",
    ]);
    f.note(
        "Rfc9421Key",
        "BASIC",
        "The RFC 9421 Appendix B.1.4 key test-key-ed25519; its ID is the worked example of docs/protocol.md.",
        "An implementation that hashes the wrong bytes (no domain string, a length prefix, a terminator, the PEM or DER instead of the raw 32-byte key) derives a different ID and can peer with nobody.",
    );
    f.note(
        "Derivation",
        "BASIC",
        "An ordinary key: seed -> key -> ID.",
        "A different ID for the same key: peers cannot find or verify each other.",
    );
    f.note(
        "ShortIdTwin",
        "AUTH_BYPASS",
        "Two keys whose IDs share the first 6 characters (the short ID) but differ after.",
        "An implementation that compares, looks up or authenticates by short ID (or any prefix) confuses the two shards; one of these keys is used as an impostor in verification.json.",
    );
    f.note(
        "ZeroSeed",
        "WEAK_PARAMS",
        "The all-zero seed is refused (docs/protocol.md, \"Key encodings\").",
        "A shard whose random source failed silently gets a key everyone can compute.",
    );
    f.note(
        "Canonical",
        "BASIC",
        "A lowercase ID parses to itself.",
        "Valid IDs refused.",
    );
    f.note(
        "Uppercase",
        "EDGE_CASE",
        "Uppercase (or mixed case) is accepted and folded to the canonical lowercase form.",
        "IDs read aloud or typed in capitals are refused, or stored in a second spelling, so one peer can appear under two IDs.",
    );
    f.note(
        "WrongLength",
        "BASIC",
        "Not exactly 48 bytes.",
        "Truncated or padded IDs accepted; a prefix may be taken for the ID.",
    );
    f.note(
        "ShortIdGiven",
        "AUTH_BYPASS",
        "A 6-character short ID where a full ID is required.",
        "Accepting it lets a key ground to match 30 bits stand in for the shard.",
    );
    f.note(
        "InvalidCharacter",
        "BASIC",
        "A byte outside a-z, A-Z, 2-7 (0, 1, 8, 9, padding, punctuation, space).",
        "Non-canonical spellings of the same ID, or IDs that break DNS labels and URLs.",
    );
    f.note(
        "LengthInBytes",
        "EDGE_CASE",
        "The length check counts bytes, not characters: a multi-byte UTF-8 character makes 47 characters 48 bytes, which then fail the character check.",
        "An implementation counting characters reports a different code, or reads past the input.",
    );
    f.note(
        "BadChecksum",
        "BASIC",
        "48 valid characters whose last 8 (the 40-bit checksum) do not match the first 40: a typo.",
        "A mistyped ID is accepted and names a shard that does not exist (or a different one).",
    );

    let keys = [
        (rfc_key(), vec!["Rfc9421Key"]),
        (ALICE, vec!["Derivation"]),
        (BOB, vec!["Derivation"]),
        (MALLORY, vec!["Derivation"]),
        (CAROL, vec!["Derivation", "ShortIdTwin"]),
        (TWIN, vec!["Derivation", "ShortIdTwin"]),
    ];
    assert_eq!(CAROL.short(), TWIN.short(), "the twin seeds collide");
    assert_ne!(CAROL.id(), TWIN.id());
    let mut cases = Vec::new();
    for (k, flags) in &keys {
        let mut c = case(
            format!("{} (seed {})", k.name, &k.seed_hex()[..8]),
            flags,
            json!({"seed": k.seed_hex()}),
        );
        if k.name == "test-key-ed25519" {
            c.comment = "RFC 9421 B.1.4 test-key-ed25519 (docs/protocol.md worked example)".into();
            cases.push(c.pinned(json!({
                "privateKeyPem": RFC_PRIVATE_PEM,
                "publicKey": RFC_PUBLIC,
                "publicKeyPem": RFC_PUBLIC_PEM,
                "id": RFC_ID,
                "shortId": "uzzfsz",
            })));
        } else {
            cases.push(c.valid());
        }
    }
    cases.push(
        case(
            "seed ff..ff",
            &["Derivation"],
            json!({"seed": "ff".repeat(32)}),
        )
        .valid(),
    );
    cases.push(
        case(
            "the all-zero seed is refused",
            &["ZeroSeed"],
            json!({"seed": "00".repeat(32)}),
        )
        .invalid("key_zero_seed"),
    );
    f.group(json!({"type": "ShardIdDerivation"}), cases);

    let alice = ALICE.id();
    let rfc = RFC_ID.to_string();
    let mut cases = vec![
        case("RFC 9421 B.1.4 key's ID", &["Canonical", "Rfc9421Key"], json!({"text": rfc})).valid(),
        case("alice's ID", &["Canonical"], json!({"text": alice})).valid(),
        case("carol's ID", &["Canonical", "ShortIdTwin"], json!({"text": CAROL.id()})).valid(),
        case("the twin's ID: same short ID as carol, another ID", &["Canonical", "ShortIdTwin"], json!({"text": TWIN.id()})).valid(),
        case("uppercase is folded to lowercase", &["Uppercase"], json!({"text": rfc.to_ascii_uppercase()})).valid(),
        case(
            "mixed case is folded to lowercase",
            &["Uppercase"],
            json!({"text": alice.char_indices().map(|(i, c)| if i % 2 == 0 { c.to_ascii_uppercase() } else { c }).collect::<String>()}),
        )
        .valid(),
        case("empty", &["WrongLength"], json!({"text": ""})).invalid("id_wrong_length"),
        case("the short ID alone", &["WrongLength", "ShortIdGiven"], json!({"text": &alice[..6]})).invalid("id_wrong_length"),
        case("47 characters (last one dropped)", &["WrongLength"], json!({"text": &alice[..47]})).invalid("id_wrong_length"),
        case("49 characters (one appended)", &["WrongLength"], json!({"text": format!("{alice}a")})).invalid("id_wrong_length"),
        case("surrounding space makes it 50 bytes", &["WrongLength"], json!({"text": format!(" {alice} ")})).invalid("id_wrong_length"),
        case(
            "base32 padding appended (RFC 4648 with '=')",
            &["WrongLength"],
            json!({"text": format!("{alice}==")}),
        )
        .invalid("id_wrong_length"),
    ];
    for (i, c, what) in [
        (0, '1', "digit 1 (not in the alphabet)"),
        (10, '0', "digit 0"),
        (20, '8', "digit 8"),
        (30, '9', "digit 9"),
        (47, '=', "padding character"),
        (5, '-', "hyphen"),
        (6, '.', "dot after the short ID"),
        (24, ' ', "space"),
    ] {
        cases.push(
            case(
                format!("{what} at position {i}"),
                &["InvalidCharacter"],
                json!({"text": replace_at(&alice, i, c)}),
            )
            .invalid("id_invalid_character"),
        );
    }
    let mut multibyte: String = alice[..46].to_string();
    multibyte.push('é');
    cases.push(
        case(
            "46 characters and an 'é' (2 bytes): 48 bytes, invalid character at 46",
            &["InvalidCharacter", "LengthInBytes"],
            json!({"text": multibyte}),
        )
        .invalid("id_invalid_character"),
    );
    let mut long_multibyte: String = alice[..47].to_string();
    long_multibyte.push('é');
    cases.push(
        case(
            "47 characters and an 'é': 48 characters but 49 bytes",
            &["WrongLength", "LengthInBytes"],
            json!({"text": long_multibyte}),
        )
        .invalid("id_wrong_length"),
    );
    for (what, text) in [
        (
            "last character changed",
            replace_at(&alice, 47, other_char(alice.chars().nth(47).unwrap())),
        ),
        (
            "a checksum character changed (position 41)",
            replace_at(&alice, 41, other_char(alice.chars().nth(41).unwrap())),
        ),
        (
            "first character changed",
            replace_at(&alice, 0, other_char(alice.chars().next().unwrap())),
        ),
        (
            "a data character changed (position 20)",
            replace_at(&alice, 20, other_char(alice.chars().nth(20).unwrap())),
        ),
        (
            "carol's data with the twin's checksum",
            format!("{}{}", &CAROL.id()[..40], &TWIN.id()[40..]),
        ),
        (
            "RFC key's ID, last character changed",
            replace_at(&rfc, 47, other_char(rfc.chars().nth(47).unwrap())),
        ),
    ] {
        cases.push(case(what, &["BadChecksum"], json!({"text": text})).invalid("id_bad_checksum"));
    }
    // An adjacent swap of two different characters in the data part.
    let pos = (1..39)
        .find(|&i| alice.as_bytes()[i] != alice.as_bytes()[i + 1])
        .expect("some adjacent pair differs");
    cases.push(
        case(
            format!(
                "two adjacent characters swapped (positions {pos}, {})",
                pos + 1
            ),
            &["BadChecksum"],
            json!({"text": swap_at(&alice, pos)}),
        )
        .invalid("id_bad_checksum"),
    );
    cases.push(
        case(
            "uppercase with a bad checksum: case folding happens before the checksum",
            &["BadChecksum", "Uppercase"],
            json!({"text": replace_at(&alice, 47, other_char(alice.chars().nth(47).unwrap())).to_ascii_uppercase()}),
        )
        .invalid("id_bad_checksum"),
    );
    f.group(json!({"type": "ShardIdParse"}), cases);
    f.finish()
}

pub fn schema() -> Value {
    file_schema(
        "shard_id",
        ALGORITHM,
        "shardpeer conformance vectors: shard IDs",
        vec![
            GroupSchema {
                kind: "ShardIdDerivation",
                shared: json!({}),
                shared_required: &[],
                inputs: json!({"seed": {"$ref": "#/$defs/hex32"}}),
                inputs_required: &["seed"],
                outputs: json!({
                    "privateKeyPem": {"$ref": "#/$defs/privateKeyPem"},
                    "publicKey": {"$ref": "#/$defs/hex32"},
                    "publicKeyPem": {"$ref": "#/$defs/publicKeyPem"},
                    "id": {"$ref": "#/$defs/shardId"},
                    "shortId": {"type": "string", "pattern": "^[a-z2-7]{6}$"},
                }),
                outputs_required: &[
                    "privateKeyPem",
                    "publicKey",
                    "publicKeyPem",
                    "id",
                    "shortId",
                ],
                test_constraints: Value::Null,
                group_constraints: Value::Null,
            },
            GroupSchema {
                kind: "ShardIdParse",
                shared: json!({}),
                shared_required: &[],
                inputs: json!({"text": {"type": "string"}}),
                inputs_required: &["text"],
                outputs: json!({
                    "id": {"$ref": "#/$defs/shardId"},
                    "shortId": {"type": "string", "pattern": "^[a-z2-7]{6}$"},
                }),
                outputs_required: &["id", "shortId"],
                test_constraints: Value::Null,
                group_constraints: Value::Null,
            },
        ],
        CODES,
    )
}
