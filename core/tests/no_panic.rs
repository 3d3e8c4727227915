//! Deterministic mutation smoke test: a few thousand mutated inputs through every public parser
//! and through the whole request/response verification path.
//!
//! It asserts that nothing panics (in a debug build, so arithmetic overflow counts), a few
//! round-trip properties, and the real oracle of verification: a message whose covered
//! components or signature were mutated never verifies unless what was signed — the signature
//! base — and the signature bytes are exactly the original ones (a mutation may be invisible to
//! the base: `@authority` is lowercased, field values are trimmed, structured fields are
//! re-serialised). A mutated body may verify (the signature covers `Content-Digest`, not the
//! body) but then never matches the covered digest.
//!
//! The generator is a xorshift PRNG with a fixed seed, so a failure reproduces exactly; the
//! assertion messages carry the input. Each test takes well under a second or two in debug.

use shardpeer_core::acl::ClientKind;
use shardpeer_core::app_meta::AppMeta;
use shardpeer_core::base;
use shardpeer_core::digest::{Digest, DigestAlg};
use shardpeer_core::ed25519::{self, CompactBackend};
use shardpeer_core::id::ShardId;
use shardpeer_core::identity::{Identity, PublicKey};
use shardpeer_core::message::{Request, Response, split_target};
use shardpeer_core::path::{is_normalized, normalize_path};
use shardpeer_core::profile;
use shardpeer_core::replay::FixedReplayCache;
use shardpeer_core::sf::{self, BareItem, Dictionary, List, Member};
use shardpeer_core::sign::{self, SignatureParams};
use shardpeer_core::template::{self, TemplateContext};
use shardpeer_core::verify::{Policy, Verifier};

// ---------------------------------------------------------------------------------------------
// Generator.

/// xorshift64*: tiny, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'t, T>(&mut self, items: &'t [T]) -> &'t T {
        &items[self.below(items.len())]
    }
}

/// Interesting fragments: syntax of every parser under test, and values at their limits.
const TOKENS: &[&str] = &[
    "\"",
    "\\",
    "\\\"",
    ";",
    "=",
    "(",
    ")",
    ":",
    ",",
    " ",
    "\t",
    "?1",
    "?0",
    "?",
    "%",
    "%2F",
    "%2f",
    "%5C",
    "%00",
    "%2e%2e",
    "%7E",
    "%C3%A9",
    "%FF",
    "+",
    "&",
    "..",
    ".",
    "/",
    "//",
    ".;",
    "{{",
    "}}",
    "{{ auth.client_id }}",
    "{{portal.public_key_pem}}",
    "1234567890123456",
    "999999999999999",
    "-999999999999999",
    "999999999999.999",
    "1.0001",
    "0.5",
    "-",
    "*",
    "@",
    "%\"",
    "é",
    "\u{FFFD}",
    "\r",
    "\n",
    "\r\n",
    "\0",
    "\x7f",
    "sha-256=",
    "sha-512=:AAAA:",
    "shardpeer",
    "shardpeer=",
    ";created=",
    ";expires=",
    ";nonce=\"",
    ";keyid=\"",
    ";alg=\"ed25519\"",
    ";tag=\"shardpeer/1\"",
    ";req",
    ";key=\"shardpeer\"",
    ";bs",
    ";sf",
    ";tr",
    ";name=\"x\"",
    "\"@method\"",
    "\"@query-param\"",
    "\"@status\"",
    "\"content-digest\"",
    "\"signature\"",
    "\"@signature-params\"",
    ":AAAA:",
    "::",
    "==",
    "\\u0000",
    "\\ud800",
    "\\udc00",
    "{",
    "}",
    "[",
    "]",
    "\"paths\"",
    "\"access\"",
    "\"headers\"",
    "\"name\"",
    "-----BEGIN ",
    "-----END ",
    "-----",
    "PUBLIC KEY",
    "PRIVATE KEY",
];

/// A fragment to splice in: a token, a long run, or a random byte.
fn fragment(rng: &mut Rng) -> Vec<u8> {
    match rng.below(10) {
        0 => {
            let unit = *rng.pick(&["a", " ", "9", "(", ";a", "\\\\", "%41", "/..", "{{"]);
            unit.repeat(1 + rng.below(400)).into_bytes()
        }
        1 => vec![rng.next() as u8],
        _ => rng.pick(TOKENS).as_bytes().to_vec(),
    }
}

/// One to four of: bit flip, byte replacement, insertion, deletion, truncation, duplication
/// of a range, replacement of a range by a fragment, and splicing from another seed.
fn mutate(rng: &mut Rng, seed: &[u8], others: &[&[u8]]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = v.len();
        let at = rng.below(len + 1);
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = rng.next() as u8;
            }
            2 | 3 => {
                let f = fragment(rng);
                v.splice(at..at, f);
            }
            4 if len > 0 => {
                let end = (at + 1 + rng.below(8)).min(len);
                v.drain(at.min(end)..end);
            }
            5 => v.truncate(at),
            6 if len > 0 => {
                let end = (at + 1 + rng.below(16)).min(len);
                let copy = v[at.min(end)..end].to_vec();
                v.splice(end..end, copy);
            }
            7 => {
                let end = (at + rng.below(8)).min(len);
                let f = fragment(rng);
                v.splice(at..end, f);
            }
            _ => {
                let other = rng.pick(others);
                let from = rng.below(other.len() + 1);
                let to = (from + rng.below(32)).min(other.len());
                v.splice(at..at, other[from..to].iter().copied());
            }
        }
    }
    v
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Parsers.

const SF_SEEDS: &[&str] = &[
    r#"sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519""#,
    "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:",
    "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:, sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:",
    " a=1,    b=2;x=1;y=2,   c=(a   b   c), d",
    "sugar, tea;x=1, (a b);y, ?0;z=-1.5",
    r#"("@method" "@query-param";name="a%20b" "signature";req;key="shardpeer" "x";bs);alg="ed25519""#,
    r#"a="x\"y\\z", t=foo/bar:baz, u=*x, n=-999999999999.999, b=:YQ:"#,
];

/// Canonical serialisation is a fixed point: parsing it gives the same serialisation.
fn check_sf_round_trip(input: &str) {
    let mut out = vec![0u8; 2 * input.len() + 64];
    let mut again = vec![0u8; 2 * input.len() + 64];
    if let Ok(d) = Dictionary::parse(input) {
        let canon = sf::serialize_dictionary(&d, &mut out)
            .unwrap_or_else(|e| panic!("{input:?}: {e:?}"))
            .to_string();
        let d2 = Dictionary::parse(&canon).unwrap_or_else(|e| panic!("{canon:?}: {e:?}"));
        assert_eq!(sf::serialize_dictionary(&d2, &mut again).unwrap(), canon);
        assert!(!d2.has_duplicates(), "{canon:?}");
        for (_, member) in d.iter() {
            check_member(&member);
        }
    }
    if let Ok(l) = List::parse(input) {
        let canon = sf::serialize_list(&l, &mut out)
            .unwrap_or_else(|e| panic!("{input:?}: {e:?}"))
            .to_string();
        let l2 = List::parse(&canon).unwrap_or_else(|e| panic!("{canon:?}: {e:?}"));
        assert_eq!(sf::serialize_list(&l2, &mut again).unwrap(), canon);
        for member in l.iter() {
            check_member(&member);
        }
    }
    if let Ok(item) = sf::parse_item(input) {
        let canon = sf::serialize_item(&item, &mut out)
            .unwrap_or_else(|e| panic!("{input:?}: {e:?}"))
            .to_string();
        let item2 = sf::parse_item(&canon).unwrap_or_else(|e| panic!("{canon:?}: {e:?}"));
        assert_eq!(sf::serialize_item(&item2, &mut again).unwrap(), canon);
        check_member(&Member::Item(item));
    }
    if let Ok(list) = sf::parse_inner_list(input) {
        check_member(&Member::InnerList(list));
        // Components of any inner list: checking them and building a base must not panic.
        let _ = base::check_components(&list);
    }
    if let Ok(list) = sf::parse_inner_list_items(input) {
        check_member(&Member::InnerList(list));
    }
}

fn check_member(member: &Member<'_>) {
    let items: Vec<sf::Item<'_>> = match member {
        Member::Item(item) => vec![*item],
        Member::InnerList(list) => {
            for _ in list.params.iter() {}
            let _ = list.params.has_duplicates();
            list.items().collect()
        }
    };
    for item in items {
        for (key, value) in item.params.iter() {
            assert!(item.params.get(key).is_some());
            check_bare(&value);
        }
        check_bare(&item.bare);
    }
}

fn check_bare(bare: &BareItem<'_>) {
    match bare {
        BareItem::ByteSeq(b64) => {
            let mut out = vec![0u8; b64.len()];
            assert!(sf::decode_byte_seq(b64, &mut out).is_ok(), "{b64:?}");
            let _ = sf::decode_byte_seq(b64, &mut [0u8; 2]);
        }
        BareItem::String(s) => {
            let _ = bare.as_plain_str();
            let _ = sf::unescaped_eq(s, "x");
        }
        _ => {}
    }
}

#[test]
fn structured_fields() {
    let mut rng = Rng::new(0x5f5f);
    let others: Vec<&[u8]> = SF_SEEDS.iter().map(|s| s.as_bytes()).collect();
    for seed in SF_SEEDS {
        check_sf_round_trip(seed);
    }
    for _ in 0..4000 {
        let seed = rng.pick(SF_SEEDS).as_bytes();
        let input = text(&mutate(&mut rng, seed, &others));
        check_sf_round_trip(&input);
        let _ = Digest::parse_header(&input);
    }
}

const PATH_SEEDS: &[&str] = &[
    "/pub/../private",
    "/a/./b//c/",
    "/%70ub/%2e%2e/x",
    "/caf%c3%a9/%7e",
    "/peer/inbox?x=1",
    "/.well-known/x/..;/y",
];

#[test]
fn paths() {
    let mut rng = Rng::new(0x7a7a);
    let others: Vec<&[u8]> = PATH_SEEDS.iter().map(|s| s.as_bytes()).collect();
    let mut buf = vec![0u8; 4096];
    let mut again = vec![0u8; 4096];
    for _ in 0..4000 {
        let seed = rng.pick(PATH_SEEDS).as_bytes();
        let raw = text(&mutate(&mut rng, seed, &others));
        let (path, _query) = split_target(&raw);
        let _ = normalize_path(path, &mut buf[..path.len().saturating_sub(1)]);
        let _ = is_normalized(path);
        if let Ok(out) = normalize_path(path, &mut buf) {
            let out = out.to_string();
            assert!(out.len() <= path.len(), "{path:?} -> {out:?}");
            assert!(is_normalized(&out), "{path:?} -> {out:?}");
            assert_eq!(
                normalize_path(&out, &mut again).as_deref(),
                Ok(out.as_str()),
                "{path:?}"
            );
        }
    }
}

#[test]
fn ids_keys_and_points() {
    let mut rng = Rng::new(0x1d1d);
    let alice = Identity::from_seed([1u8; 32]).unwrap();
    let id = alice.id().as_str().to_string();
    let public_pem = alice.public_key().to_pem().to_string();
    let private_pem = alice.to_pkcs8_pem().to_string();
    let hex_key = hex::encode(alice.public_key().as_bytes());
    let seeds = [
        id.as_bytes(),
        public_pem.as_bytes(),
        private_pem.as_bytes(),
        hex_key.as_bytes(),
    ];
    for _ in 0..3000 {
        let seed = *rng.pick(&seeds);
        let input = text(&mutate(&mut rng, seed, &seeds));
        if let Ok(parsed) = ShardId::parse(&input) {
            assert_eq!(parsed.as_str(), input.to_ascii_lowercase());
            assert_eq!(ShardId::parse(parsed.as_str()), Ok(parsed));
            let _ = parsed.short_id();
        }
        let _ = PublicKey::from_pem(&input);
        let _ = PublicKey::from_hex(&input);
        let _ = Identity::from_pkcs8_pem(&input);
        let _ = Identity::from_seed_hex(&input);
        let _ = Identity::from_pkcs8_der(input.as_bytes());
    }
    // Points and signatures: mutated encodings of an honest key and signature.
    let msg = b"shardpeer";
    let sig = alice.sign(msg);
    let key = *alice.public_key().as_bytes();
    let both: Vec<u8> = key.iter().chain(sig.iter()).copied().collect();
    for _ in 0..200 {
        let m = mutate(&mut rng, &both, &[&both]);
        let mut k = [0u8; 32];
        let mut s = [0u8; 64];
        for (d, b) in k.iter_mut().chain(s.iter_mut()).zip(m.iter()) {
            *d = *b;
        }
        let _ = ed25519::check_public_key(&k);
        let _ = ed25519::check_signature(&k, &s);
        if ed25519::verify_raw(&CompactBackend, &k, msg, &s).is_ok() {
            assert_eq!((k, s), (key, sig), "a mutated key or signature verified");
        }
    }
}

const APP_META_SEED: &str = r#"{"name": "echo", "v": [1, 2.5e3, true, null, {"x": "\u00e9\ud83d\ude00"}],
 "paths": {"": {"access": "private", "headers": {"X-Ptl-Client-Id": "{{ auth.client_id }}"}},
  "/pub": {"access": "public", "headers": {"X-Key": "{{portal.public_key_pem}}", "X-N": "n={{auth.client_name}}"}},
  "/peer/": {"access": "peer"}, "\/a\/.": {"access": "public"}}}"#;

#[test]
fn app_meta_and_templates() {
    let mut rng = Rng::new(0xa99);
    let seeds = [APP_META_SEED.as_bytes()];
    let pem = Identity::from_seed([3u8; 32])
        .unwrap()
        .public_key()
        .to_pem()
        .to_string();
    let ctx = TemplateContext {
        client_type: "peer",
        client_id: "id",
        client_name: "Alice\tthe \u{e9}",
        portal_id: "p",
        portal_short_id: "s",
        portal_domain: "d",
        portal_public_key_pem: &pem,
    };
    let bad_ctx = TemplateContext {
        client_name: "evil\r\nX-Ptl-Client-Id: bob",
        ..ctx
    };
    let mut path_buf = [0u8; 512];
    let mut out = [0u8; 512];
    for _ in 0..3000 {
        let json = mutate(&mut rng, APP_META_SEED.as_bytes(), &seeds);
        if let Ok(meta) = AppMeta::<16, 32, 2048>::parse(&json) {
            let _ = meta.name();
            for raw in ["/pub/x", "/peer/../private", "/a/.well-known", "/"] {
                let path = normalize_path(raw, &mut path_buf).unwrap();
                for client in [
                    ClientKind::Anonymous,
                    ClientKind::Terminal,
                    ClientKind::Peer,
                ] {
                    if let Ok(rule) = meta.decide(path, client) {
                        for header in rule.headers() {
                            let _ = meta.is_reserved_header(header.name());
                            for c in [&ctx, &bad_ctx] {
                                if let Ok(v) = header.render(c, &mut out) {
                                    assert!(
                                        v.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f)),
                                        "{v:?}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
        let tpl = text(&mutate(
            &mut rng,
            b"a {{ auth.client_id }} b {{portal.public_key_pem}}",
            &seeds,
        ));
        if template::validate(&tpl).is_ok() {
            let needed = template::rendered_len(&tpl, &ctx).unwrap();
            let mut buf = vec![0u8; needed];
            let v = template::render(&tpl, &ctx, &mut buf).unwrap();
            assert_eq!(v.len(), needed);
            assert!(!v.contains(['\r', '\n', '\0']), "{tpl:?}");
            assert!(
                template::render(&tpl, &bad_ctx, &mut out).is_err()
                    || !tpl.contains("auth.client_name")
            );
        } else {
            let _ = template::render(&tpl, &ctx, &mut out);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Signature bases and signing.

#[test]
fn signature_bases_never_carry_line_breaks() {
    let mut rng = Rng::new(0xba5e);
    // Component identifiers to combine, and field values of every shape they read.
    let components: [&[u8]; 19] = [
        br#""@method""#,
        br#""@target-uri""#,
        br#""@authority""#,
        br#""@scheme""#,
        br#""@request-target""#,
        br#""@path""#,
        br#""@query""#,
        br#""@query-param";name="a""#,
        br#""@query-param";name="a%20b""#,
        br#""@status""#,
        br#""x""#,
        br#""x";bs"#,
        br#""example-dict";sf"#,
        br#""example-dict";key="k""#,
        br#""example-list";sf"#,
        br#""example-item";sf"#,
        br#""signature";req;key="shardpeer""#,
        br#""@method";req"#,
        br#""x";req"#,
    ];
    let values: [&[u8]; 9] = [
        b" a=1, b=(x y);z, k=:AAAA: ",
        b"sig1=:AAAA:, shardpeer=:BBBB:",
        b"value, with, lots",
        b"a=1&a%20b=2&b=3",
        b"a=1&a=2&a+b=3&a%20b=4",
        b"example.com:443",
        b"https\n\"@method\": GET",
        b"x\r\ny",
        b"",
    ];
    let all: Vec<&[u8]> = components.iter().chain(values.iter()).copied().collect();
    let names = [
        "x",
        "example-dict",
        "example-list",
        "signature",
        "example-item",
    ];
    let mut buf = vec![0u8; 16384];
    let mut built = 0;
    for _ in 0..3000 {
        let mut inner = b"(".to_vec();
        for i in 0..1 + rng.below(4) {
            if i > 0 {
                inner.push(b' ');
            }
            let c = *rng.pick(&components);
            inner.extend_from_slice(c);
        }
        inner.extend_from_slice(b");created=1");
        if rng.chance(50) {
            inner = mutate(&mut rng, &inner, &all);
        }
        let inner = text(&inner);
        let Ok(list) = sf::parse_inner_list(&inner) else {
            continue;
        };
        let mut value = |percent: u64| {
            let seed = *rng.pick(&values);
            if rng.chance(percent) {
                text(&mutate(&mut rng, seed, &all))
            } else {
                text(seed)
            }
        };
        let strs: Vec<String> = (0..9).map(|_| value(30)).collect();
        let fields: Vec<(&str, &[u8])> = names
            .iter()
            .zip(&strs[4..])
            .map(|(n, v)| (*n, v.as_bytes()))
            .collect();
        let scheme = match rng.below(3) {
            0 => "https",
            1 => "http",
            _ => strs[0].as_str(),
        };
        let req = Request {
            method: if rng.chance(70) { "GET" } else { &strs[1] },
            scheme,
            authority: &strs[2],
            path: "/p",
            query: rng.chance(80).then_some(strs[3].as_str()),
            fields: fields.as_slice(),
        };
        let items = list.items().count();
        if let Ok(b) = base::request_base(&req, &list, &mut buf) {
            assert!(!b.contains(&b'\r') && !b.contains(&0), "{inner:?} {req:?}");
            let lines = b.iter().filter(|&&c| c == b'\n').count();
            assert_eq!(lines, items, "one line per component: {inner:?} {req:?}");
            built += 1;
        }
        let resp = Response {
            status: rng.below(1100) as u16,
            fields: fields.as_slice(),
            request: rng.chance(80).then_some(&req),
        };
        if let Ok(b) = base::response_base(&resp, &list, &mut buf) {
            assert!(!b.contains(&b'\r') && !b.contains(&0), "{inner:?} {resp:?}");
            let lines = b.iter().filter(|&&c| c == b'\n').count();
            assert_eq!(lines, items, "one line per component: {inner:?} {resp:?}");
            built += 1;
        }
        let _ = base::request_base(&req, &list, &mut buf[..rng.below(200)]);
    }
    assert!(built > 300, "only {built} bases built");
}

#[test]
fn whatever_the_signer_signs_verifies() {
    let mut rng = Rng::new(0x5167);
    let alice = Identity::from_seed([1u8; 32]).unwrap();
    let key = alice.public_key();
    let seeds: [&[u8]; 4] = [
        br#""@method" "@authority" "@path" "@query" "content-digest" "x";bs "example-dict";sf "example-dict";key="k" "@query-param";name="a""#,
        b"shardpeer",
        br#"n\"once"#,
        b"a=1, k=(1 2)",
    ];
    let mut buf = vec![0u8; 8192];
    let mut ok = 0;
    for i in 0..400 {
        // Each input is mutated only sometimes, so that most signatures get made.
        let mut maybe = |seed: &[u8], percent: u64| {
            if rng.chance(percent) {
                text(&mutate(&mut rng, seed, &seeds))
            } else {
                text(seed)
            }
        };
        let components = maybe(seeds[0], 40);
        let label = maybe(seeds[1], 20);
        let nonce = maybe(seeds[2], 30);
        let dict = maybe(seeds[3], 30);
        let fields: Vec<(&str, &str)> = vec![
            (
                "Content-Digest",
                "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:",
            ),
            ("X", " x "),
            ("Example-Dict", &dict),
        ];
        // Within RFC 8941's 15 digits; a negative `created` only without `expires`, which
        // would otherwise have passed long before any `now`.
        let mut created = (rng.next() % 1_000_000_000_000_000) as i64;
        let expires = rng.chance(30).then_some(created + rng.below(1000) as i64);
        if expires.is_none() && rng.chance(20) {
            created = -created;
        }
        let params = SignatureParams {
            created: rng.chance(80).then_some(created),
            expires,
            nonce: rng.chance(70).then_some(nonce.as_str()),
            keyid: rng.chance(50).then_some("k"),
            alg: rng.chance(50),
            tag: None,
        };
        let req = Request {
            method: "POST",
            scheme: "https",
            authority: "Example.COM:443",
            path: "/p",
            query: (i % 3 != 0).then_some("a=1"),
            fields: fields.as_slice(),
        };
        let Ok(signed) = sign::sign_request(&alice, &label, &components, &params, &req, &mut buf)
        else {
            continue;
        };
        let mut all = fields.clone();
        all.push(("Signature-Input", &signed.signature_input));
        all.push(("Signature", &signed.signature));
        let req = Request {
            fields: all.as_slice(),
            ..req
        };
        let now = u64::try_from(params.created.unwrap_or(1)).unwrap_or(0);
        let verified = Verifier::new(Policy::RFC9421).verify_request(
            &req,
            &key,
            &mut FixedReplayCache::<2>::new(),
            now,
            &mut buf,
        );
        assert!(verified.is_ok(), "{signed:?}: {verified:?}");
        ok += 1;
    }
    assert!(ok > 50, "only {ok} signatures made");
}

// ---------------------------------------------------------------------------------------------
// Verification: the real oracle.

const NOW: u64 = 1_763_800_000;
const NONCE: &str = "AAECAwQFBgcICQoLDA0ODw";

/// A message under mutation: everything a transport would hand the core, owned.
#[derive(Clone, Debug)]
struct Message {
    method: Vec<u8>,
    authority: Vec<u8>,
    path: Vec<u8>,
    query: Option<Vec<u8>>,
    status: u16,
    body: Vec<u8>,
    fields: Vec<(String, Vec<u8>)>,
}

impl Message {
    fn field_refs(&self) -> Vec<(&str, &[u8])> {
        self.fields
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_slice()))
            .collect()
    }

    fn add(&mut self, name: &str, value: &str) {
        self.fields
            .push((name.to_string(), value.as_bytes().to_vec()));
    }

    /// Mutates one part: of a request (`response` false) the method, authority, path, query,
    /// body or a field line; of a response the status, body or a field line.
    fn mutate(&mut self, rng: &mut Rng, others: &[&[u8]], response: bool) {
        let first = if response { 4 } else { 0 };
        let with_status = response;
        match first + rng.below(6 + self.fields.len() - first) {
            0 => self.method = mutate(rng, &self.method, others),
            1 => self.authority = mutate(rng, &self.authority, others),
            2 => self.path = mutate(rng, &self.path, others),
            3 => {
                self.query = match self.query.take() {
                    Some(q) if rng.chance(10) => {
                        let _ = q;
                        None
                    }
                    Some(q) => Some(mutate(rng, &q, others)),
                    None => Some(mutate(rng, b"x=1", others)),
                }
            }
            4 => {
                if with_status && rng.chance(70) {
                    self.status = match rng.below(4) {
                        0 => rng.next() as u16,
                        1 => self.status ^ (1 << rng.below(16)),
                        _ => self.status.wrapping_add(1 + rng.below(3) as u16),
                    };
                } else {
                    self.body = mutate(rng, &self.body, others);
                }
            }
            5 => match rng.below(4) {
                // A duplicate line, a removed line, or a renamed one.
                0 => {
                    let i = rng.below(self.fields.len());
                    let dup = self.fields[i].clone();
                    self.fields.insert(rng.below(self.fields.len() + 1), dup);
                }
                1 => {
                    let i = rng.below(self.fields.len());
                    self.fields.remove(i);
                }
                2 => {
                    let i = rng.below(self.fields.len());
                    let name = self.fields[i].0.clone();
                    self.fields[i].0 = text(&mutate(rng, name.as_bytes(), others));
                }
                _ => {
                    let i = rng.below(self.fields.len());
                    self.fields[i].0 = self.fields[i].0.to_ascii_uppercase();
                }
            },
            n => {
                let i = (n - 6).min(self.fields.len() - 1);
                self.fields[i].1 = mutate(rng, &self.fields[i].1, others);
            }
        }
    }
}

/// The request Alice's host sends to Bob's app, signed with the profile.
fn alice_request(alice: &Identity) -> Message {
    let body = br#"{"hello": "bob"}"#.to_vec();
    let mut m = Message {
        method: b"POST".to_vec(),
        authority: b"echo.bobbob.shard.test".to_vec(),
        path: b"/peer/inbox".to_vec(),
        query: Some(b"x=1&y=2".to_vec()),
        status: 0,
        fields: Vec::new(),
        body: Vec::new(),
    };
    m.add("Content-Type", "application/json");
    m.add(
        "Content-Digest",
        Digest::of(DigestAlg::Sha256, &body).header_value().as_str(),
    );
    m.add("X-Custom", "not covered");
    m.body = body;
    let strs = strings(&m);
    let refs = m.field_refs();
    let view = request_view(&strs, &refs);
    let mut buf = [0u8; 2048];
    let signed = profile::sign_request(alice, &view, NOW, NONCE, &mut buf).unwrap();
    m.add("Signature-Input", &signed.signature_input);
    m.add("Signature", &signed.signature);
    m
}

/// Method, authority, path and query as text (lossily, like a transport that refuses
/// non-UTF-8 would not even get this far).
fn strings(m: &Message) -> [Option<String>; 4] {
    [
        Some(text(&m.method)),
        Some(text(&m.authority)),
        Some(text(&m.path)),
        m.query.as_deref().map(text),
    ]
}

fn request_view<'a>(
    strs: &'a [Option<String>; 4],
    fields: &'a [(&'a str, &'a [u8])],
) -> Request<'a, [(&'a str, &'a [u8])]> {
    Request {
        method: strs[0].as_deref().unwrap_or(""),
        scheme: "https",
        authority: strs[1].as_deref().unwrap_or(""),
        path: strs[2].as_deref().unwrap_or(""),
        query: strs[3].as_deref(),
        fields,
    }
}

/// The `shardpeer` members of a dictionary field spread over several lines, in order.
fn label_members(fields: &[(String, Vec<u8>)], name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (n, v) in fields {
        if !n.eq_ignore_ascii_case(name) {
            continue;
        }
        let Ok(dict) = Dictionary::parse(std::str::from_utf8(v).unwrap_or("\u{0}")) else {
            continue;
        };
        for (k, m) in dict.iter() {
            if k != profile::LABEL {
                continue;
            }
            out.push(match m {
                Member::Item(item) => {
                    let mut buf = vec![0u8; 4 * v.len() + 16];
                    let canon = sf::serialize_item(&item, &mut buf).unwrap().to_string();
                    match item.bare {
                        // The signature's bytes, whatever its base64 spelling.
                        BareItem::ByteSeq(b64) if item.params.is_empty() => {
                            let mut raw = vec![0u8; b64.len()];
                            hex::encode(sf::decode_byte_seq(b64, &mut raw).unwrap())
                        }
                        _ => canon,
                    }
                }
                Member::InnerList(_) => "(inner list)".into(),
            });
        }
    }
    out
}

/// A field's value as RFC 9421 §2.1 defines it, computed here independently of the core:
/// each line trimmed of SP/HTAB, lines joined with `, `; `None` when absent.
fn field_value(fields: &[(String, Vec<u8>)], name: &str) -> Option<Vec<u8>> {
    let trim = |v: &[u8]| -> Vec<u8> {
        let is_ws = |b: &u8| *b == b' ' || *b == b'\t';
        let start = v.iter().position(|b| !is_ws(b)).unwrap_or(v.len());
        let end = v.iter().rposition(|b| !is_ws(b)).map_or(start, |e| e + 1);
        v[start..end].to_vec()
    };
    let lines: Vec<Vec<u8>> = fields
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| trim(v))
        .collect();
    (!lines.is_empty()).then(|| lines.join(&b", "[..]))
}

/// The covered values of a message, in a fixed order (`None`: absent).
type Model = Vec<Option<Vec<u8>>>;

/// `@authority` for `https` by RFC 9110 §4.2.3: lowercase, without `:443` or an empty port.
fn normal_authority(authority: &str) -> String {
    let a = authority.to_ascii_lowercase();
    for suffix in [":443", ":"] {
        if let Some(host) = a.strip_suffix(suffix)
            && !host.is_empty()
            && (!host.contains(':') || host.ends_with(']'))
        {
            return host.to_string();
        }
    }
    a
}

/// What the profile says a request signature binds, modelled without the core: the values of
/// `@method`, `@authority`, `@path`, `@query`, `content-digest`, `content-type` (absent or
/// not), and the signature itself.
fn request_model(m: &Message) -> Model {
    let [method, authority, path, query] = strings(m);
    let path = path.unwrap_or_default();
    vec![
        method.map(String::into_bytes),
        authority.map(|a| normal_authority(&a).into_bytes()),
        Some(if path.is_empty() {
            "/".into()
        } else {
            path.into_bytes()
        }),
        Some(query.unwrap_or_default().into_bytes()),
        field_value(&m.fields, "content-digest"),
        field_value(&m.fields, "content-type"),
        Some(label_members(&m.fields, "signature").join("|").into_bytes()),
    ]
}

/// What a response signature binds: `@status`, `content-digest`, `content-type`, the
/// request's `shardpeer` signature member, and the response's own signature.
fn response_model(req: &Message, resp: &Message) -> Model {
    vec![
        Some(resp.status.to_string().into_bytes()),
        field_value(&resp.fields, "content-digest"),
        field_value(&resp.fields, "content-type"),
        label_members(&req.fields, "signature")
            .last()
            .map(|s| s.clone().into_bytes()),
        Some(
            label_members(&resp.fields, "signature")
                .join("|")
                .into_bytes(),
        ),
    ]
}

/// The base the verifier built: it never contains NUL, so it ends at the first zero of a
/// zeroed buffer.
fn written_base(buf: &[u8]) -> &[u8] {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    &buf[..end]
}

/// Checks one verification outcome against the oracle; true when it verified.
fn check_outcome(
    what: &dyn Fn() -> String,
    verified: Option<Option<Digest>>,
    buf: &[u8],
    base: &[u8],
    model: (Model, &[Option<Vec<u8>>]),
    body: (&[u8], &[u8]),
) -> bool {
    let Some(digest) = verified else { return false };
    assert_eq!(
        model.0,
        model.1,
        "verified although a covered component changed: {}",
        what()
    );
    assert_eq!(
        written_base(buf),
        base,
        "verified although the signature base changed: {}",
        what()
    );
    let digest = digest.expect("the profile always covers content-digest");
    if digest.check_body(body.0).is_ok() {
        assert_eq!(
            body.0,
            body.1,
            "a changed body matches the digest: {}",
            what()
        );
    }
    true
}

#[test]
fn mutated_requests_never_verify_unless_what_was_signed_is_unchanged() {
    let mut rng = Rng::new(0x0c0ffee);
    let alice = Identity::from_seed([1u8; 32]).unwrap();
    let key = alice.public_key();
    let original = alice_request(&alice);
    let others: Vec<Vec<u8>> = original.fields.iter().map(|(_, v)| v.clone()).collect();
    let others: Vec<&[u8]> = others.iter().map(Vec::as_slice).collect();
    let verifier = profile::request_verifier();

    let verify = |m: &Message, buf: &mut [u8], now: u64| {
        buf.fill(0);
        let strs = strings(m);
        let refs = m.field_refs();
        let view = request_view(&strs, &refs);
        verifier
            .verify_request(&view, &key, &mut FixedReplayCache::<2>::new(), now, buf)
            .map(|v| v.content_digest)
    };

    let mut buf = vec![0u8; 4096];
    verify(&original, &mut buf, NOW).expect("the original verifies");
    let base = written_base(&buf).to_vec();
    let model = request_model(&original);

    let (mut accepted, mut tried) = (0, 0);
    for _ in 0..1500 {
        let mut m = original.clone();
        for _ in 0..1 + rng.below(2) {
            m.mutate(&mut rng, &others, false);
        }
        let now = NOW + rng.below(400) as u64 - rng.below(100) as u64;
        let verified = verify(&m, &mut buf, now).ok();
        tried += 1;
        if check_outcome(
            &|| format!("{m:?}"),
            verified,
            &buf,
            &base,
            (request_model(&m), &model),
            (&m.body, &original.body),
        ) {
            accepted += 1;
        }
    }
    // Mutations the base cannot see (an uncovered field, case, whitespace) still verify, so
    // the oracle above was exercised; most mutations were refused.
    assert!(
        accepted > 20 && accepted < tried / 2,
        "{accepted} of {tried}"
    );
}

#[test]
fn mutated_responses_never_verify_unless_what_was_signed_is_unchanged() {
    let mut rng = Rng::new(0xbeef);
    let alice = Identity::from_seed([1u8; 32]).unwrap();
    let bob = Identity::from_seed([2u8; 32]).unwrap();
    let bob_key = bob.public_key();
    let bob_id = bob.id();
    let request = alice_request(&alice);

    let body = b"pong".to_vec();
    let mut response = Message {
        method: Vec::new(),
        authority: Vec::new(),
        path: Vec::new(),
        query: None,
        status: 200,
        fields: Vec::new(),
        body: Vec::new(),
    };
    response.add(
        "Content-Digest",
        Digest::of(DigestAlg::Sha256, &body).header_value().as_str(),
    );
    response.add("Content-Type", "text/plain");
    response.body = body;
    {
        let strs = strings(&request);
        let req_refs = request.field_refs();
        let req_view = request_view(&strs, &req_refs);
        let refs = response.field_refs();
        let view = Response {
            status: response.status,
            fields: refs.as_slice(),
            request: Some(&req_view),
        };
        let mut buf = [0u8; 2048];
        let signed = profile::sign_response(&bob, &view, NOW, &mut buf).unwrap();
        response.add("Signature-Input", &signed.signature_input);
        response.add("Signature", &signed.signature);
    }

    let verifier = profile::response_verifier(bob_id.as_str());
    let verify = |req: &Message, resp: &Message, buf: &mut [u8], now: u64| {
        buf.fill(0);
        let strs = strings(req);
        let req_refs = req.field_refs();
        let req_view = request_view(&strs, &req_refs);
        let refs = resp.field_refs();
        let view = Response {
            status: resp.status,
            fields: refs.as_slice(),
            request: Some(&req_view),
        };
        verifier
            .verify_response(&view, &bob_key, &mut FixedReplayCache::<2>::new(), now, buf)
            .map(|v| v.content_digest)
    };

    let mut buf = vec![0u8; 4096];
    verify(&request, &response, &mut buf, NOW).expect("the original verifies");
    let base = written_base(&buf).to_vec();
    let model = response_model(&request, &response);
    let others: Vec<Vec<u8>> = response
        .fields
        .iter()
        .chain(&request.fields)
        .map(|(_, v)| v.clone())
        .collect();
    let others: Vec<&[u8]> = others.iter().map(Vec::as_slice).collect();

    let (mut accepted, mut tried) = (0, 0);
    for _ in 0..1000 {
        let (mut req, mut resp) = (request.clone(), response.clone());
        if rng.chance(30) {
            // The request's Signature is covered (`;req`); its other parts are not.
            req.mutate(&mut rng, &others, false);
        } else {
            resp.mutate(&mut rng, &others, true);
        }
        let now = NOW + rng.below(400) as u64 - rng.below(100) as u64;
        let verified = verify(&req, &resp, &mut buf, now).ok();
        tried += 1;
        if check_outcome(
            &|| format!("{req:?} {resp:?}"),
            verified,
            &buf,
            &base,
            (response_model(&req, &resp), &model),
            (&resp.body, &response.body),
        ) {
            accepted += 1;
        }
    }
    assert!(
        accepted > 20 && accepted < tried / 2,
        "{accepted} of {tried}"
    );
}
