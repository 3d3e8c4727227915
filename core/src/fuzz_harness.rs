//! Fuzz harnesses: one function per parser or decision that takes bytes from outside, each
//! with the oracle that judges it.
//!
//! Every harness is `pub fn <name>(data: &[u8])`. It feeds `data` to one part of the core and
//! panics only when an oracle fails: a round trip that does not close, a property a module's
//! documentation promises (a signature base never holds CR or NUL, a normalised path has no dot
//! segment), a signature that verifies although what was signed changed. An error returned by
//! the code under test is an answer, never a failure. `fuzz/fuzz_targets/<name>.rs` are
//! three-line libFuzzer shims over these; `tests/fuzz_corpus.rs` replays the checked-in corpora
//! (`fuzz/corpus/<name>/`) through them on the stable toolchain. `fuzz/README.md` lists the
//! oracles target by target.
//!
//! Compiled only with the `fuzz-harness` feature or under `cfg(fuzzing)` (which `cargo fuzz`
//! sets): no dependency, no allocation, nothing else changes. Oracles panic — that is their job
//! — so the crate's no-panic lints are allowed in this module only.
//!
//! # Input formats
//! The single-value parsers take the bytes as they are. The message harnesses read HTTP/1.1 wire
//! form, so that seeds are readable and the RFC 9421 examples are seeds as printed:
//!
//! - a start line: `METHOD target [version]` for a request (an absolute-form target
//!   `https://host/p?q` gives scheme and authority, otherwise the scheme is `https` and the
//!   authority is the `Host` field), or `HTTP/1.1 status [reason]` for a response;
//! - field lines `Name: value` (a line starting with SP or HTAB continues the previous value,
//!   line break included, as an obsolete line folding that a lax transport passed on; lines
//!   without a colon are skipped; at most [`MAX_FIELDS`] are kept);
//! - an empty line, then the body.
//!
//! Lines end in LF or CRLF. Where a harness needs two messages (a response and the request it
//! answers), [`NEXT_MESSAGE`] separates them. [`signature_base`] takes one more line first: the
//! `Signature-Input`-style inner list to build the base for.
//!
//! Why not `arbitrary`: the harnesses live in this `no_std` crate, which takes no new
//! dependency for them, and a readable wire format lets the seed generator
//! (`fuzz/src/seeds.rs`) write the RFC's examples and signed messages directly; libFuzzer's
//! mutators work as well on it as on any byte format.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use crate::acl::{Access, ClientKind};
use crate::app_meta::{AppMeta, AppMetaError};
use crate::base::{self, BaseError};
use crate::component::{self, Component, Derived, FieldForm, Name};
use crate::digest::{BodyHasher, Digest, DigestAlg, DigestError};
use crate::ed25519::{self, CompactBackend};
use crate::id::{ID_LEN, IdError, SHORT_ID_LEN, ShardId};
use crate::identity::{Identity, PublicKey};
use crate::message::{FieldsExt, Request, Response, split_target};
use crate::path::{self, PathError};
use crate::pem;
use crate::profile;
use crate::replay::{FixedReplayCache, ReplayError};
use crate::sf::{self, BareItem, Dictionary, InnerList, Item, List, Member, SfError};
use crate::sign::{self, SignatureParams};
use crate::sink::{BufferTooSmall, Sink};
use crate::template::{self, TemplateContext, TemplateError, Variable};
use crate::verify::{KeySource, Policy, Verified, Verifier, VerifyError};
use crate::whoareyou;
use base64::Engine as _;
use heapless::{String, Vec};

/// The clock every verifying harness runs at (2023-11-14T22:13:20Z), and the `created` of the
/// signed seeds.
pub const NOW: u64 = 1_700_000_000;
/// Seed of the requesting shard ("alice"): the harnesses sign requests with it.
pub const ALICE_SEED: [u8; 32] = [1; 32];
/// Seed of the answering shard ("bob"): the harnesses sign responses with it.
pub const BOB_SEED: [u8; 32] = [2; 32];
/// RFC 9421 B.1.4 `test-key-ed25519`, as its seed in hex.
pub const RFC_SEED_HEX: &str = "9f8362f87a484a954e6e740c5b4c0e84229139a20aa8ab56ff66586f6a7d29c5";
/// The `keyid` of the RFC 9421 test key.
pub const RFC_KEYID: &str = "test-key-ed25519";
/// The nonce of the request signatures the harnesses make (22 characters, as the profile asks).
pub const NONCE: &str = "ZnV6emZ1enpmdXp6ZnV6eg";
/// Separates the messages of one input: a response, then the request it answers.
pub const NEXT_MESSAGE: &[u8] = b"\n--next--\n";
/// Most field lines kept from one message.
pub const MAX_FIELDS: usize = 32;
/// Longest input a harness reads; longer inputs are ignored (libFuzzer's default `-max_len`).
pub const MAX_INPUT: usize = 4096;

/// Room for a signature base.
const BASE_BUF: usize = 8192;
/// Field lines of a message plus the ones a harness adds.
const FIELDS_CAP: usize = MAX_FIELDS + 4;

type FieldList<'a> = Vec<(&'a str, &'a [u8]), FIELDS_CAP>;
type View<'a> = Request<'a, [(&'a str, &'a [u8])]>;
type RespView<'a> = Response<'a, [(&'a str, &'a [u8])], [(&'a str, &'a [u8])]>;

// ---------------------------------------------------------------------------------------------
// Shard IDs.

/// `ShardId::parse`: a parsed ID prints as the lowercase input and parses to itself; any mix of
/// cases parses to the same result, error included; errors point at what is wrong. With the
/// prefix `seed:` and 32 bytes, the ID derived from that key parses, binds that key, and every
/// one-character typo in it is refused.
pub fn shard_id(data: &[u8]) {
    if data.len() > MAX_INPUT {
        return;
    }
    if let Some(rest) = data.strip_prefix(b"seed:") {
        derived_id(rest);
    }
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let parsed = ShardId::parse(text);
    let mut upper = [0u8; MAX_INPUT];
    let mut lower = [0u8; MAX_INPUT];
    for (i, b) in data.iter().enumerate() {
        upper[i] = b.to_ascii_uppercase();
        lower[i] = b.to_ascii_lowercase();
    }
    // ASCII case mapping keeps UTF-8 valid.
    let upper = core::str::from_utf8(&upper[..data.len()]).unwrap();
    let lower = core::str::from_utf8(&lower[..data.len()]).unwrap();
    assert_eq!(ShardId::parse(upper), parsed, "case changed the verdict");
    assert_eq!(ShardId::parse(lower), parsed, "case changed the verdict");
    match parsed {
        Ok(id) => {
            assert_eq!(id.as_str(), lower, "an ID is stored lowercase");
            assert_eq!(ShardId::parse(id.as_str()), Ok(id));
            assert_eq!(text.parse::<ShardId>(), Ok(id));
            assert_eq!(id.short_id(), &lower[..SHORT_ID_LEN]);
        }
        Err(IdError::WrongLength { len }) => {
            assert_eq!(len, text.len());
            assert_ne!(len, ID_LEN);
        }
        Err(IdError::InvalidCharacter { position }) => {
            assert_eq!(text.len(), ID_LEN);
            let valid = |b: &u8| matches!(b.to_ascii_lowercase(), b'a'..=b'z' | b'2'..=b'7');
            assert!(!valid(&data[position]), "{position} is a valid character");
            assert!(
                data[..position].iter().all(valid),
                "an earlier byte is invalid"
            );
        }
        Err(IdError::BadChecksum) => {
            let valid = |b: &u8| matches!(b.to_ascii_lowercase(), b'a'..=b'z' | b'2'..=b'7');
            assert!(text.len() == ID_LEN && data.iter().all(valid));
        }
    }
}

fn derived_id(rest: &[u8]) {
    let Some(seed) = rest.get(..32) else { return };
    let Ok(identity) = Identity::from_seed(seed.try_into().unwrap()) else {
        assert!(
            seed.iter().all(|&b| b == 0),
            "only the zero seed is refused"
        );
        return;
    };
    let key = identity.public_key();
    let id = key.id();
    assert_eq!(ShardId::parse(id.as_str()), Ok(id));
    assert!(id.is_id_of(&key));
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut sel = Selector::new(rest);
    for _ in 0..4 {
        let mut typo = [0u8; ID_LEN];
        typo.copy_from_slice(id.as_str().as_bytes());
        let at = sel.below(ID_LEN);
        let old = typo[at];
        let new = ALPHABET[(ALPHABET.iter().position(|&c| c == old).unwrap() + 1 + sel.below(31))
            % ALPHABET.len()];
        typo[at] = if sel.below(2) == 0 {
            new
        } else {
            new.to_ascii_uppercase()
        };
        let typo = core::str::from_utf8(&typo).unwrap();
        // A 40-bit checksum: a miss here is a 2^-40 event, not luck.
        assert_eq!(ShardId::parse(typo), Err(IdError::BadChecksum), "{typo}");
    }
}

// ---------------------------------------------------------------------------------------------
// Keys.

/// Key encodings: SubjectPublicKeyInfo and PKCS#8 (DER and PEM), hex. What parses is emitted in
/// canonical form and parses back to the same key; the DER readers accept exactly the RFC 8410
/// byte strings; a PEM that parses still parses with CRLF line ends. With the prefix `seed:` and
/// 32 bytes, the honest key and signature of that seed pass the Ed25519 validity rule.
pub fn keys(data: &[u8]) {
    if data.len() > MAX_INPUT {
        return;
    }
    if let Some(rest) = data.strip_prefix(b"seed:") {
        honest_key(rest);
    }
    // Raw DER.
    if let Ok(key) = pem::parse_spki(data) {
        assert_eq!(
            &pem::spki_der(&key)[..],
            data,
            "SPKI is one exact byte string"
        );
        if let Ok(public) = PublicKey::from_bytes(key) {
            public_round_trip(&public);
        }
    }
    if let Ok(p) = pem::parse_pkcs8(data) {
        match p.public_key {
            None => assert_eq!(&pem::pkcs8_der(&p.seed)[..], data),
            Some(pk) => {
                assert_eq!(data.len(), 83);
                assert_eq!(&data[..2], [0x30, 0x51]);
                assert_eq!(&data[16..48], p.seed);
                assert_eq!(&data[48..51], [0x81, 0x21, 0x00]);
                assert_eq!(&data[51..], pk);
            }
        }
    }
    if let Ok(identity) = Identity::from_pkcs8_der(data) {
        identity_round_trip(&identity);
    }

    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    if let Ok(public) = PublicKey::from_pem(text) {
        public_round_trip(&public);
        let mut crlf = [0u8; 2 * MAX_INPUT];
        let crlf = with_crlf(text, &mut crlf);
        // Within the 4 KiB input limit, line ends do not matter.
        if crlf.len() <= MAX_INPUT {
            assert_eq!(
                PublicKey::from_pem(crlf),
                Ok(public),
                "CRLF changed the key"
            );
        }
    }
    if let Ok(public) = PublicKey::from_hex(text) {
        public_round_trip(&public);
        assert_eq!(&hex_decode(text.trim_ascii()), public.as_bytes());
    }
    if let Ok(identity) = Identity::from_pkcs8_pem(text) {
        identity_round_trip(&identity);
        let mut crlf = [0u8; 2 * MAX_INPUT];
        let crlf = with_crlf(text, &mut crlf);
        if crlf.len() <= MAX_INPUT {
            let again = Identity::from_pkcs8_pem(crlf).expect("CRLF changed the verdict");
            assert_eq!(again.seed(), identity.seed());
        }
    }
    if let Ok(identity) = Identity::from_seed_hex(text) {
        identity_round_trip(&identity);
        assert_eq!(&hex_decode(text.trim_ascii()), identity.seed());
    }
    for label in [pem::PUBLIC_LABEL, pem::PRIVATE_LABEL] {
        if let Ok(der) = pem::decode(text, label) {
            let der = der.as_slice();
            if label == pem::PUBLIC_LABEL
                && let Ok(key) = pem::parse_spki(der)
            {
                let canonical = pem::spki_pem(&key);
                let again = pem::decode(&canonical, label).unwrap();
                assert_eq!(again.as_slice(), der);
            }
        }
    }
}

fn public_round_trip(public: &PublicKey) {
    let pem_text = public.to_pem();
    assert_eq!(PublicKey::from_pem(&pem_text), Ok(*public));
    assert_eq!(public.to_pem(), pem_text, "emitting is deterministic");
    let mut hex = [0u8; 64];
    hex_encode(public.as_bytes(), &mut hex);
    assert_eq!(
        PublicKey::from_hex(core::str::from_utf8(&hex).unwrap()),
        Ok(*public)
    );
    assert_eq!(
        pem::parse_spki(&pem::spki_der(public.as_bytes())),
        Ok(*public.as_bytes())
    );
    assert!(public.id().is_id_of(public));
}

fn identity_round_trip(identity: &Identity) {
    let der = identity.to_pkcs8_der();
    assert_eq!(
        Identity::from_pkcs8_der(&der).unwrap().seed(),
        identity.seed()
    );
    let pem_text = identity.to_pkcs8_pem();
    let again = Identity::from_pkcs8_pem(&pem_text).unwrap();
    assert_eq!(again.seed(), identity.seed());
    assert_eq!(again.public_key(), identity.public_key());
    let mut hex = [0u8; 64];
    hex_encode(identity.seed(), &mut hex);
    let again = Identity::from_seed_hex(core::str::from_utf8(&hex).unwrap()).unwrap();
    assert_eq!(again.public_key(), identity.public_key());
}

fn honest_key(rest: &[u8]) {
    let Some(seed) = rest.get(..32) else { return };
    let Ok(identity) = Identity::from_seed(seed.try_into().unwrap()) else {
        return;
    };
    let key = identity.public_key();
    // "The rule rejects no honestly made key or signature" (src/ed25519.rs).
    assert_eq!(PublicKey::from_bytes(*key.as_bytes()), Ok(key));
    let msg = &rest[32..];
    let sig = identity.sign(msg);
    assert_eq!(ed25519::check_signature(key.as_bytes(), &sig), Ok(()));
    assert_eq!(
        ed25519::verify_raw(&CompactBackend, key.as_bytes(), msg, &sig),
        Ok(())
    );
    assert_eq!(
        ed25519::verify_with(&CompactBackend, &key, msg, &sig),
        Ok(())
    );
    identity_round_trip(&identity);
    public_round_trip(&key);
}

/// `text` with every LF that is not preceded by CR turned into CRLF, in `out`.
fn with_crlf<'o>(text: &str, out: &'o mut [u8]) -> &'o str {
    let mut n = 0;
    let mut prev = 0u8;
    for b in text.bytes() {
        if b == b'\n' && prev != b'\r' {
            out[n] = b'\r';
            n += 1;
        }
        out[n] = b;
        n += 1;
        prev = b;
    }
    core::str::from_utf8(&out[..n]).unwrap()
}

fn hex_encode(bytes: &[u8], out: &mut [u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = HEX[usize::from(b >> 4)];
        out[2 * i + 1] = HEX[usize::from(b & 15)];
    }
}

fn hex_decode(text: &str) -> [u8; 32] {
    let digit = |c: u8| (c as char).to_digit(16).unwrap() as u8;
    let mut out = [0u8; 32];
    for (i, pair) in text.as_bytes().chunks(2).enumerate() {
        out[i] = (digit(pair[0]) << 4) | digit(pair[1]);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Structured fields.

/// Output room for a canonical serialisation: `, ` separators, padding and `=` restored, at most
/// about twice the input.
const SF_OUT: usize = 4 * MAX_INPUT + 64;

/// RFC 8941 parsing and serialisation, for every top-level type and for inner lists: the
/// canonical serialisation is printable ASCII, parses again, and serialises to itself; its length
/// is what a too-small buffer reports; a dictionary's canonical form has no repeated key; every
/// byte sequence decodes and every string compares equal to its unescaped content; errors point
/// inside the input.
pub fn sf(data: &[u8]) {
    if data.len() > MAX_INPUT {
        return;
    }
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let mut out = [0u8; SF_OUT];
    let mut again = [0u8; SF_OUT];

    match Dictionary::parse(text) {
        Ok(dict) => {
            let canon = sf::serialize_dictionary(&dict, &mut out).expect("fits");
            check_canonical_text(canon);
            let reparsed = Dictionary::parse(canon)
                .unwrap_or_else(|e| panic!("canonical {canon:?} does not parse: {e:?}"));
            assert_eq!(sf::serialize_dictionary(&reparsed, &mut again), Ok(canon));
            assert!(!reparsed.has_duplicates(), "{canon:?}");
            let distinct = dict
                .iter()
                .enumerate()
                .filter(|(i, (k, _))| !dict.iter().take(*i).any(|(k2, _)| k2 == *k))
                .count();
            assert_eq!(reparsed.iter().count(), distinct);
            check_too_small(canon.len(), |b| {
                sf::serialize_dictionary(&dict, b).map(str::len)
            });
            for (key, member) in dict.iter() {
                assert!(dict.get(key).is_some());
                check_member(&member);
                if let Member::InnerList(list) = member {
                    // What a verifier does first with a Signature-Input member.
                    let _ = base::check_components(&list);
                }
            }
        }
        Err(e) => check_error(e, text),
    }
    match List::parse(text) {
        Ok(list) => {
            let canon = sf::serialize_list(&list, &mut out).expect("fits");
            check_canonical_text(canon);
            let reparsed = List::parse(canon)
                .unwrap_or_else(|e| panic!("canonical {canon:?} does not parse: {e:?}"));
            assert_eq!(sf::serialize_list(&reparsed, &mut again), Ok(canon));
            assert_eq!(reparsed.iter().count(), list.iter().count());
            check_too_small(canon.len(), |b| sf::serialize_list(&list, b).map(str::len));
            for member in list.iter() {
                check_member(&member);
            }
        }
        Err(e) => check_error(e, text),
    }
    match sf::parse_item(text) {
        Ok(item) => {
            let canon = sf::serialize_item(&item, &mut out).expect("fits");
            check_canonical_text(canon);
            let reparsed = sf::parse_item(canon)
                .unwrap_or_else(|e| panic!("canonical {canon:?} does not parse: {e:?}"));
            assert_eq!(sf::serialize_item(&reparsed, &mut again), Ok(canon));
            check_too_small(canon.len(), |b| sf::serialize_item(&item, b).map(str::len));
            check_member(&Member::Item(item));
        }
        Err(e) => check_error(e, text),
    }
    match sf::parse_inner_list(text) {
        Ok(list) => {
            let canon = write_inner_list(&list, &mut out);
            check_canonical_text(canon);
            let reparsed = sf::parse_inner_list(canon)
                .unwrap_or_else(|e| panic!("canonical {canon:?} does not parse: {e:?}"));
            assert_eq!(write_inner_list(&reparsed, &mut again), canon);
            check_member(&Member::InnerList(list));
            let _ = base::check_components(&list);
        }
        Err(e) => check_error(e, text),
    }
    if let Ok(list) = sf::parse_inner_list_items(text) {
        check_member(&Member::InnerList(list));
        let _ = base::check_components(&list);
    }
}

fn write_inner_list<'o>(list: &InnerList<'_>, out: &'o mut [u8]) -> &'o str {
    let mut sink = Sink::new(out);
    sf::write_inner_list(&mut sink, list);
    sink.finish_str().expect("fits")
}

fn check_canonical_text(canon: &str) {
    assert!(
        canon.bytes().all(|b| (0x20..0x7f).contains(&b)),
        "canonical form is not printable ASCII: {canon:?}"
    );
    assert!(
        !canon.starts_with(' ') && !canon.ends_with(' '),
        "{canon:?}"
    );
}

/// The `Sink` contract: one byte short fails and says exactly how much was needed.
fn check_too_small(len: usize, write: impl Fn(&mut [u8]) -> Result<usize, BufferTooSmall>) {
    let mut buf = [0u8; SF_OUT];
    assert_eq!(write(&mut buf[..len]), Ok(len));
    if len > 0 {
        assert_eq!(
            write(&mut buf[..len - 1]),
            Err(BufferTooSmall { needed: len })
        );
    }
}

fn check_error(e: SfError, text: &str) {
    match e {
        SfError::Syntax { at } | SfError::NumberOutOfRange { at } | SfError::BadBase64 { at } => {
            assert!(at <= text.len(), "{e:?} beyond {} bytes", text.len());
        }
        _ => {}
    }
}

fn check_member(member: &Member<'_>) {
    let mut items: Vec<Item<'_>, { sf::MAX_INNER_ITEMS }> = Vec::new();
    match member {
        Member::Item(item) => items.push(*item).unwrap(),
        Member::InnerList(list) => {
            check_params(&list.params);
            for item in list.items() {
                items.push(item).expect("at most MAX_INNER_ITEMS");
            }
        }
    }
    for item in &items {
        check_params(&item.params);
        check_bare(&item.bare);
    }
}

fn check_params(params: &sf::Params<'_>) {
    assert!(params.len() <= sf::MAX_PARAMS);
    for (key, value) in params.iter() {
        let last = params.iter().filter(|(k, _)| *k == key).last().map(|p| p.1);
        assert_eq!(params.get(key), last, "the last value wins");
        check_bare(&value);
    }
}

fn check_bare(bare: &BareItem<'_>) {
    match *bare {
        BareItem::ByteSeq(b64) => {
            let mut out = [0u8; MAX_INPUT];
            let decoded = sf::decode_byte_seq(b64, &mut out).expect("validated at parse");
            assert!(decoded.len() <= b64.len() / 4 * 3 + 2);
        }
        BareItem::String(escaped) => {
            let mut plain = [0u8; MAX_INPUT];
            let mut n = 0;
            let mut bytes = escaped.bytes();
            while let Some(b) = bytes.next() {
                plain[n] = if b == b'\\' {
                    let next = bytes.next().expect("an escape has a second byte");
                    assert!(next == b'"' || next == b'\\');
                    next
                } else {
                    assert!(b != b'"', "a raw quote inside a string");
                    b
                };
                n += 1;
            }
            let plain = core::str::from_utf8(&plain[..n]).unwrap();
            assert!(bare.is_string_eq(plain));
            assert!(sf::unescaped_eq(escaped, plain));
            assert_eq!(bare.as_plain_str().is_some(), !escaped.contains('\\'));
        }
        BareItem::Decimal(sf::Decimal(d)) => {
            assert!(d.unsigned_abs() < 1_000_000_000_000_000);
        }
        BareItem::Integer(n) => assert!(n.unsigned_abs() < 1_000_000_000_000_000),
        BareItem::Token(t) => assert!(!t.is_empty()),
        BareItem::Boolean(_) => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Messages in wire form.

/// One HTTP message of a harness input (see the module documentation).
struct Msg<'a> {
    start: &'a str,
    fields: FieldList<'a>,
    body: &'a [u8],
}

/// `(start, end, next)` of the line at `from`: `end` excludes the LF and one CR before it.
fn line_at(bytes: &[u8], from: usize) -> (usize, usize, usize) {
    let (end, next) = match bytes[from..].iter().position(|&b| b == b'\n') {
        Some(i) => (from + i, from + i + 1),
        None => (bytes.len(), bytes.len()),
    };
    let end = if end > from && bytes[end - 1] == b'\r' {
        end - 1
    } else {
        end
    };
    (from, end, next)
}

impl<'a> Msg<'a> {
    fn parse(bytes: &'a [u8]) -> Option<Msg<'a>> {
        let (s, e, mut pos) = line_at(bytes, 0);
        let start = core::str::from_utf8(&bytes[s..e]).ok()?;
        let mut spans: Vec<(&'a str, usize, usize), MAX_FIELDS> = Vec::new();
        let mut body: &'a [u8] = &[];
        while pos < bytes.len() {
            let (s, e, next) = line_at(bytes, pos);
            pos = next;
            let line = &bytes[s..e];
            if line.is_empty() {
                body = &bytes[next..];
                break;
            }
            if matches!(line[0], b' ' | b'\t') {
                // Obsolete line folding, kept raw: the value now holds a line break.
                if let Some(last) = spans.last_mut() {
                    last.2 = e;
                }
                continue;
            }
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let Ok(name) = core::str::from_utf8(&line[..colon]) else {
                continue;
            };
            let _ = spans.push((name, s + colon + 1, e));
        }
        let mut fields = Vec::new();
        for (name, from, to) in spans {
            let _ = fields.push((name, &bytes[from..to]));
        }
        Some(Msg {
            start,
            fields,
            body,
        })
    }

    /// The status of a response's start line.
    fn status(&self) -> Option<u16> {
        let rest = self.start.strip_prefix("HTTP/")?;
        rest.split(' ').nth(1)?.parse().ok()
    }

    /// The request this message is, when its start line is a request line.
    fn request(&self) -> Option<View<'_>> {
        if self.start.starts_with("HTTP/") {
            return None;
        }
        let fields: &[(&str, &[u8])] = &self.fields;
        let mut parts = self.start.splitn(3, ' ');
        let method = parts.next()?;
        let target = parts.next()?;
        let (scheme, authority, origin) = match target.split_once("://") {
            Some((scheme @ ("http" | "https"), rest)) => {
                let end = rest.find(['/', '?']).unwrap_or(rest.len());
                (scheme, &rest[..end], &rest[end..])
            }
            _ => ("https", fields.single("host").unwrap_or(""), target),
        };
        let (path, query) = split_target(origin);
        Some(Request {
            method,
            scheme,
            authority,
            path,
            query,
            fields,
        })
    }
}

/// Splits `data` at the first [`NEXT_MESSAGE`].
fn split_messages(data: &[u8]) -> (&[u8], Option<&[u8]>) {
    match data
        .windows(NEXT_MESSAGE.len())
        .position(|w| w == NEXT_MESSAGE)
    {
        Some(i) => (&data[..i], Some(&data[i + NEXT_MESSAGE.len()..])),
        None => (data, None),
    }
}

fn is_signature_field(name: &str) -> bool {
    name.eq_ignore_ascii_case("signature") || name.eq_ignore_ascii_case("signature-input")
}

/// The message's field lines without `Signature` and `Signature-Input`.
fn unsigned_fields<'a>(fields: &[(&'a str, &'a [u8])]) -> FieldList<'a> {
    fields
        .iter()
        .filter(|(n, _)| !is_signature_field(n))
        .copied()
        .collect()
}

fn with_fields<'a>(req: &View<'a>, fields: &'a [(&'a str, &'a [u8])]) -> View<'a> {
    Request {
        method: req.method,
        scheme: req.scheme,
        authority: req.authority,
        path: req.path,
        query: req.query,
        fields,
    }
}

/// Deterministic choices derived from the input: FNV-1a, then xorshift64*.
struct Selector(u64);

impl Selector {
    fn new(data: &[u8]) -> Self {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in data {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        Selector(h | 1)
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
}

// ---------------------------------------------------------------------------------------------
// Signature bases.

/// The message a base is built for.
enum BaseTarget<'r, 'a> {
    Request(&'r View<'a>),
    Response(&'r RespView<'a>),
}

fn build_base<'o>(
    target: &BaseTarget<'_, '_>,
    list: &InnerList<'_>,
    out: &'o mut [u8],
) -> Result<&'o [u8], BaseError> {
    match target {
        BaseTarget::Request(req) => base::request_base(*req, list, out),
        BaseTarget::Response(resp) => base::response_base(*resp, list, out),
    }
}

/// The signature base of an arbitrary message for an arbitrary component list: it never holds CR
/// or NUL; it has one line per component, each starting with the component's canonical
/// identifier and `: `, and the `@signature-params` line last; every plain field, `;bs` field and
/// request-derived value is what RFC 9421 §2 says, computed here independently; `;sf`/`;key`
/// values are canonical structured fields; building is deterministic and a buffer one byte short
/// reports the exact size.
///
/// Input: the inner list on the first line, then a request or a response, then optionally
/// [`NEXT_MESSAGE`] and the request the response answers.
pub fn signature_base(data: &[u8]) {
    if data.len() > MAX_INPUT {
        return;
    }
    let (s, e, next) = line_at(data, 0);
    let Ok(list_text) = core::str::from_utf8(&data[s..e]) else {
        return;
    };
    let Ok(list) = sf::parse_inner_list(list_text) else {
        return;
    };
    let (first, second) = split_messages(&data[next..]);
    let Some(msg) = Msg::parse(first) else { return };
    let other = second.and_then(Msg::parse);
    let other_req = other.as_ref().and_then(Msg::request);
    if let Some(status) = msg.status() {
        let resp = Response {
            status,
            fields: &msg.fields[..],
            request: other_req.as_ref(),
        };
        check_base(&BaseTarget::Response(&resp), &list);
    } else if let Some(req) = msg.request() {
        check_base(&BaseTarget::Request(&req), &list);
    }
}

fn check_base(target: &BaseTarget<'_, '_>, list: &InnerList<'_>) {
    let mut buf = [0u8; BASE_BUF];
    let mut again = [0u8; BASE_BUF];
    let first = build_base(target, list, &mut buf).map(<[u8]>::len);
    let second = build_base(target, list, &mut again).map(<[u8]>::len);
    assert_eq!(first, second, "building a base is not deterministic");
    let len = match first {
        Ok(len) => len,
        Err(BaseError::BufferTooSmall { needed }) => {
            assert!(needed > BASE_BUF);
            return;
        }
        Err(_) => return,
    };
    let b = &buf[..len];
    assert_eq!(b, &again[..len], "building a base is not deterministic");
    assert!(
        !b.contains(&b'\r') && !b.contains(&0),
        "CR or NUL in a base: {b:?}"
    );
    let items = list.items().count();
    assert_eq!(
        b.iter().filter(|&&c| c == b'\n').count(),
        items,
        "one line per component"
    );
    assert_eq!(base::check_components(list), Ok(items));
    if len > 0 {
        assert_eq!(
            build_base(target, list, &mut again[..len - 1]).map(<[u8]>::len),
            Err(BaseError::BufferTooSmall { needed: len })
        );
    }

    let mut lines = b.split(|&c| c == b'\n');
    for item in list.items() {
        let line = lines.next().unwrap();
        let mut id_buf = [0u8; MAX_INPUT];
        let id = sf::serialize_item(&item, &mut id_buf).unwrap();
        assert!(
            line.starts_with(id.as_bytes()) && line[id.len()..].starts_with(b": "),
            "line does not start with {id:?}: {line:?}"
        );
        let value = &line[id.len() + 2..];
        let c = Component::parse(item).unwrap();
        check_component_value(target, &c, value);
    }
    let last = lines.next().unwrap();
    let mut params_buf = [0u8; BASE_BUF];
    let params = write_inner_list(list, &mut params_buf);
    let head = b"\"@signature-params\": ";
    assert!(last.starts_with(head) && &last[head.len()..] == params.as_bytes());
    assert!(lines.next().is_none());
}

/// Checks one base line's value against RFC 9421 §2, without the core's component code.
fn check_component_value(target: &BaseTarget<'_, '_>, c: &Component<'_>, value: &[u8]) {
    let (fields, request): (&[(&str, &[u8])], Option<&View<'_>>) = match (target, c.req) {
        (BaseTarget::Request(req), _) => (req.fields, Some(*req)),
        (BaseTarget::Response(resp), false) => (resp.fields, None),
        (BaseTarget::Response(resp), true) => {
            let req = resp.request.unwrap();
            (req.fields, Some(req))
        }
    };
    let mut want: Vec<u8, BASE_BUF> = Vec::new();
    match c.name {
        Name::Field(name) => match c.form {
            FieldForm::Plain | FieldForm::ByteSequence => {
                for (i, (_, v)) in fields
                    .iter()
                    .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                    .enumerate()
                {
                    if i > 0 {
                        want.extend_from_slice(b", ").unwrap();
                    }
                    let v = trim_ows(v);
                    if c.form == FieldForm::Plain {
                        want.extend_from_slice(v).unwrap();
                    } else {
                        let mut enc = [0u8; BASE_BUF];
                        let n = base64::engine::general_purpose::STANDARD
                            .encode_slice(v, &mut enc)
                            .unwrap();
                        want.push(b':').unwrap();
                        want.extend_from_slice(&enc[..n]).unwrap();
                        want.push(b':').unwrap();
                    }
                }
                assert_eq!(value, &want[..], "field {name:?}");
            }
            FieldForm::Structured => {
                // Canonical: parses as one of the structured types and serialises to itself.
                let text = core::str::from_utf8(value).unwrap();
                let mut out = [0u8; BASE_BUF];
                let as_dict = Dictionary::parse(text)
                    .is_ok_and(|d| sf::serialize_dictionary(&d, &mut out) == Ok(text));
                let as_list =
                    List::parse(text).is_ok_and(|l| sf::serialize_list(&l, &mut out) == Ok(text));
                assert!(as_dict || as_list, "`;sf` value {text:?} is not canonical");
            }
            FieldForm::Key(_) => {
                let text = core::str::from_utf8(value).unwrap();
                let list = List::parse(text).expect("a dictionary member is a list member");
                assert_eq!(list.iter().count(), 1);
                let mut out = [0u8; BASE_BUF];
                assert_eq!(sf::serialize_list(&list, &mut out), Ok(text));
            }
        },
        Name::Derived(Derived::Status) => {
            let BaseTarget::Response(resp) = target else {
                panic!("@status built for a request");
            };
            let mut digits = [0u8; 3];
            let s = resp.status;
            digits[0] = b'0' + (s / 100 % 10) as u8;
            digits[1] = b'0' + (s / 10 % 10) as u8;
            digits[2] = b'0' + (s % 10) as u8;
            assert!((100..=999).contains(&s));
            assert_eq!(value, digits);
        }
        Name::Derived(d) => {
            let req = request.expect("a derived component of a request");
            let path = if req.path.is_empty() { "/" } else { req.path };
            match d {
                Derived::Method => want.extend_from_slice(req.method.as_bytes()).unwrap(),
                Derived::Path => want.extend_from_slice(path.as_bytes()).unwrap(),
                Derived::Query => {
                    want.push(b'?').unwrap();
                    want.extend_from_slice(req.query.unwrap_or("").as_bytes())
                        .unwrap();
                }
                Derived::RequestTarget => {
                    want.extend_from_slice(path.as_bytes()).unwrap();
                    if let Some(q) = req.query {
                        want.push(b'?').unwrap();
                        want.extend_from_slice(q.as_bytes()).unwrap();
                    }
                }
                Derived::Scheme => {
                    for b in req.scheme.bytes() {
                        want.push(b.to_ascii_lowercase()).unwrap();
                    }
                }
                Derived::Authority => push_authority(&mut want, req.scheme, req.authority),
                Derived::TargetUri => {
                    for b in req.scheme.bytes() {
                        want.push(b.to_ascii_lowercase()).unwrap();
                    }
                    want.extend_from_slice(b"://").unwrap();
                    push_authority(&mut want, req.scheme, req.authority);
                    want.extend_from_slice(path.as_bytes()).unwrap();
                    if let Some(q) = req.query {
                        want.push(b'?').unwrap();
                        want.extend_from_slice(q.as_bytes()).unwrap();
                    }
                }
                Derived::QueryParam => {
                    // Re-encoded: only unreserved bytes and uppercase %XX.
                    assert!(
                        value
                            .iter()
                            .all(|&b| b.is_ascii_alphanumeric() || b"*-._%".contains(&b))
                    );
                    return;
                }
                Derived::Status => unreachable!(),
            }
            assert_eq!(value, &want[..], "{d:?}");
        }
    }
}

/// `@authority` (RFC 9421 §2.2.3): lowercase, without the scheme's default port or an empty
/// port; only a `:` followed by digits after the host (or after `]`) starts a port.
fn push_authority(want: &mut Vec<u8, BASE_BUF>, scheme: &str, authority: &str) {
    let default = if scheme.eq_ignore_ascii_case("https") {
        "443"
    } else {
        "80"
    };
    let host = match authority.rsplit_once(':') {
        Some((h, p))
            if !h.is_empty()
                && (!h.contains(':') || h.ends_with(']'))
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p.is_empty() || p == default) =>
        {
            h
        }
        _ => authority,
    };
    for b in host.bytes() {
        want.push(b.to_ascii_lowercase()).unwrap();
    }
}

fn trim_ows(v: &[u8]) -> &[u8] {
    let ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = v.iter().position(|b| !ows(b)).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !ows(b)).map_or(start, |e| e + 1);
    &v[start..end]
}

// ---------------------------------------------------------------------------------------------
// Verification.

/// The three keys the verifying harnesses know.
struct Keys {
    alice: Identity,
    bob: Identity,
    rfc: Identity,
    bob_id: ShardId,
}

impl Keys {
    fn new() -> Keys {
        let bob = Identity::from_seed(BOB_SEED).unwrap();
        Keys {
            alice: Identity::from_seed(ALICE_SEED).unwrap(),
            bob_id: bob.id(),
            bob,
            rfc: Identity::from_seed_hex(RFC_SEED_HEX).unwrap(),
        }
    }

    fn signer_of(&self, key: &PublicKey) -> &Identity {
        [&self.alice, &self.bob, &self.rfc]
            .into_iter()
            .find(|i| i.public_key() == *key)
            .expect("only the three known keys are handed out")
    }
}

/// `test-key-ed25519` for the RFC's examples, bob for his ID, alice for anything else (so that
/// any `keyid` reaches the signature check).
impl KeySource for Keys {
    fn key_for(&self, keyid: Option<&str>) -> Option<PublicKey> {
        Some(match keyid {
            Some(RFC_KEYID) => self.rfc.public_key(),
            Some(k) if k == self.bob_id.as_str() => self.bob.public_key(),
            _ => self.alice.public_key(),
        })
    }
}

/// The base a verifier wrote: it holds no NUL, so it ends at the first zero of a zeroed buffer.
fn written_base(buf: &[u8]) -> &[u8] {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    &buf[..end]
}

/// The signature bytes of `label` in the `Signature` field lines.
fn signature_of(fields: &[(&str, &[u8])], label: &str) -> Option<[u8; 64]> {
    for (name, value) in fields {
        if !name.eq_ignore_ascii_case("signature") {
            continue;
        }
        let Ok(dict) = Dictionary::parse(core::str::from_utf8(value).ok()?) else {
            continue;
        };
        for (key, member) in dict.iter() {
            if let (true, Member::Item(item)) = (key == label, member)
                && let BareItem::ByteSeq(b64) = item.bare
            {
                let mut sig = [0u8; 64];
                if sf::decode_byte_seq(b64, &mut sig).ok()?.len() == 64 {
                    return Some(sig);
                }
            }
        }
    }
    None
}

/// Mode A, a message as received: verification is deterministic; whatever verifies was signed,
/// over exactly the base the verifier built, by the holder of the key it verified with (Ed25519
/// is deterministic, so that holder's signature must be the very bytes in the message — nothing
/// verifies that the seeds did not sign); a verified nonce cannot be used twice.
fn check_received<'m>(
    keys: &Keys,
    policy: &Policy<'_>,
    fields: &[(&str, &[u8])],
    verify: impl Fn(&mut FixedReplayCache<4>, &mut [u8]) -> Result<Verified<'m>, VerifyError>,
) {
    let mut buf = [0u8; BASE_BUF];
    let mut again = [0u8; BASE_BUF];
    let mut cache = FixedReplayCache::<4>::new();
    let first = verify(&mut cache, &mut buf);
    let second = verify(&mut FixedReplayCache::new(), &mut again);
    assert_eq!(first, second, "verification is not deterministic");
    let Ok(v) = first else { return };
    let base = written_base(&buf);
    assert_eq!(base, written_base(&again));
    assert!(v.components > 0);
    let signer = keys.signer_of(&v.public_key);
    let sig = signature_of(fields, v.label).expect("the verified signature is in the message");
    assert!(
        signer.sign(base) == sig,
        "verified a signature its key's holder did not make over this base: {:?}",
        core::str::from_utf8(base)
    );
    check_policy(policy, fields, &v);
    let replayed = verify(&mut cache, &mut again);
    if v.nonce.is_some() {
        assert_eq!(replayed, Err(VerifyError::Replay(ReplayError::Replayed)));
    } else {
        assert_eq!(replayed, Ok(v));
    }
}

/// What verified satisfies the policy, and `Verified` reports the parameters of the
/// `Signature-Input` member as they are (read here independently).
fn check_policy(p: &Policy<'_>, fields: &[(&str, &[u8])], v: &Verified<'_>) {
    let mut member = None;
    for (name, value) in fields {
        if !name.eq_ignore_ascii_case("signature-input") {
            continue;
        }
        let dict = Dictionary::parse(core::str::from_utf8(value).unwrap()).unwrap();
        for (key, m) in dict.iter() {
            if key == v.label {
                assert!(member.is_none(), "verified a label that appears twice");
                member = Some(m);
            }
        }
    }
    let Some(Member::InnerList(list)) = member else {
        panic!("verified without an inner list for {:?}", v.label);
    };
    let int = |k: &str| match list.params.get(k) {
        Some(BareItem::Integer(n)) => Some(n),
        _ => None,
    };
    let string = |k: &str| match list.params.get(k) {
        Some(BareItem::String(s)) => Some(s),
        _ => None,
    };
    assert_eq!(v.components, list.items().count());
    assert_eq!((v.created, v.expires), (int("created"), int("expires")));
    assert_eq!(
        (v.nonce, v.keyid, v.tag),
        (string("nonce"), string("keyid"), string("tag"))
    );
    if let Some(label) = p.label {
        assert_eq!(v.label, label);
    }
    let now = i128::from(NOW);
    let skew = i128::from(p.max_skew);
    assert!(!p.require_created || v.created.is_some());
    assert!(!p.require_expires || v.expires.is_some());
    if let Some(created) = v.created {
        assert!(i128::from(created) <= now + skew, "created in the future");
        if let Some(age) = p.max_age {
            assert!(
                now <= i128::from(created) + i128::from(age) + skew,
                "too old"
            );
        }
    } else {
        assert!(p.max_age.is_none(), "max_age without created");
    }
    if let Some(expires) = v.expires {
        assert!(now <= i128::from(expires) + skew, "expired");
    }
    if p.min_nonce_len > 0 {
        let nonce = v.nonce.expect("a nonce is required");
        assert!(nonce.len() >= p.min_nonce_len, "nonce too short");
    }
    if let Some(keyid) = p.expected_keyid {
        assert_eq!(v.keyid, Some(keyid));
    }
    if p.keyid_is_shard_id {
        let keyid = v.keyid.expect("keyid required");
        let id = ShardId::parse(keyid).expect("keyid is a shard ID");
        assert_eq!(id.as_str(), keyid, "keyid in canonical form");
        assert!(id.is_id_of(&v.public_key), "key not of the keyid");
    }
    if let Some(tag) = p.expected_tag {
        assert_eq!(v.tag, Some(tag));
    }
    if let Some(alg) = list.params.get("alg") {
        assert!(alg.is_string_eq("ed25519"));
    }
    let digest_covered = list
        .items()
        .any(|i| i.bare == BareItem::String("content-digest") && i.params.is_empty());
    assert_eq!(
        v.content_digest.is_some(),
        p.check_content_digest && digest_covered
    );
    if !p.allow_unknown_params {
        for (k, _) in list.params.iter() {
            assert!(
                ["created", "expires", "nonce", "keyid", "alg", "tag"].contains(&k),
                "unknown parameter {k:?} accepted"
            );
        }
    }
    if p.only_listed || !p.required.is_empty() {
        let required = sf::parse_inner_list_items(p.required).unwrap();
        for want in required.items() {
            assert!(
                list.items().any(|i| Component::parse(i)
                    .unwrap()
                    .same_as(&Component::parse(want).unwrap())),
                "a required component is not covered"
            );
        }
    }
}

/// A request: as received (mode A, see `check_received`) under the shardpeer profile and under
/// plain RFC 9421, with fixed keys and clock ([`NOW`]). Mode B: alice signs the request with the
/// profile, and with plain RFC 9421 over components chosen from the message; both must verify;
/// after a single-byte change to a covered component (method, authority, path, query,
/// `Content-Digest`, `Content-Type`, `Signature-Input`) the profile signature must not; after a
/// change to the body, the covered digest must not match. Mode C: alice signs with parameters,
/// label and components chosen by the input, and the profile accepts only what complies.
pub fn verify_request(data: &[u8]) {
    if data.len() > MAX_INPUT {
        return;
    }
    let Some(msg) = Msg::parse(data) else { return };
    let Some(req) = msg.request() else { return };
    let keys = Keys::new();
    for policy in [profile::REQUEST_POLICY, Policy::RFC9421] {
        let verifier = Verifier::new(policy);
        check_received(&keys, &policy, req.fields, |cache, buf| {
            buf.fill(0);
            verifier.verify_request(&req, &keys, cache, NOW, buf)
        });
    }
    let mut sel = Selector::new(data);
    let unsigned = unsigned_fields(req.fields);
    sign_and_tamper_request(
        &with_fields(&req, &unsigned),
        msg.body,
        &keys.alice,
        &mut sel,
    );
    sign_components_and_verify(&with_fields(&req, &unsigned), &keys.alice, &mut sel);
    sign_chosen_params_and_verify(&with_fields(&req, &unsigned), &keys, &mut sel);
}

/// The non-empty text of a field that appears once.
fn single_text<'a>(fields: &'a [(&'a str, &'a [u8])], name: &'static str) -> Option<&'a str> {
    fields.single(name).ok().filter(|v| !v.is_empty())
}

/// Mode C: alice signs with parameters, label and components chosen by the input — right and
/// wrong ones: stale or future `created`, `expires` before it, missing or short nonce, bob's or a
/// non-canonical keyid, another tag, a missing or extra component. The profile verifier accepts
/// only what `check_policy` says it may, so every policy check meets signatures that are valid.
/// The fields `x-keyid`, `x-nonce`, `x-tag` and `x-components` of the request, when present, are
/// candidates too, so the fuzzer can write its own.
fn sign_chosen_params_and_verify(req: &View<'_>, keys: &Keys, sel: &mut Selector) {
    let field = |name: &'static str| single_text(req.fields, name);
    let alice_id = keys.alice.id();
    let mut upper_id: String<{ ID_LEN }> = String::new();
    let _ = upper_id.push_str(alice_id.as_str());
    upper_id.as_mut_str().make_ascii_uppercase();
    let now = NOW as i64;
    let pick = |sel: &mut Selector, options: &[Option<i64>]| options[sel.below(options.len())];
    let created = pick(
        sel,
        &[
            Some(now),
            Some(now - 10),
            Some(now - 361),
            Some(now + 61),
            None,
        ],
    );
    let expires = pick(
        sel,
        &[
            None,
            created.map(|c| c + 300),
            Some(now - 61),
            created.map(|c| c - 1),
            Some(now + 100_000),
        ],
    );
    let nonces = [Some(NONCE), None, Some("short"), field("x-nonce")];
    let keyids = [
        Some(alice_id.as_str()),
        Some(keys.bob_id.as_str()),
        Some(upper_id.as_str()),
        None,
        field("x-keyid"),
    ];
    let tags = [
        Some(profile::REQUEST_TAG),
        Some(profile::RESPONSE_TAG),
        None,
        field("x-tag"),
    ];
    let with_type = FieldsExt::contains(req.fields, "content-type");
    let component_sets = [
        profile::REQUEST_COMPONENTS,
        r#""@method" "@authority" "@path" "@query" "content-digest" "content-type""#,
        r#""@method" "@authority" "@path" "content-digest""#,
        r#""@method" "@authority" "@path" "@query" "content-digest" "@scheme""#,
        r#""@method" "@authority" "@path" "@query" "content-digest";bs"#,
        field("x-components").unwrap_or(r#""@method""#),
    ];
    let params = SignatureParams {
        created,
        expires,
        nonce: nonces[sel.below(nonces.len())],
        keyid: keyids[sel.below(keyids.len())],
        alg: sel.below(4) != 0,
        tag: tags[sel.below(tags.len())],
    };
    let label = if sel.below(8) == 0 {
        "other"
    } else {
        profile::LABEL
    };
    let mut components = component_sets[sel.below(component_sets.len())];
    if components == profile::REQUEST_COMPONENTS && with_type && sel.below(2) == 0 {
        components = component_sets[1];
    }

    let digest = Digest::of(DigestAlg::Sha256, b"").header_value();
    let mut fields: FieldList<'_> = req.fields.iter().copied().collect();
    if !FieldsExt::contains(req.fields, "content-digest")
        && fields.push(("Content-Digest", digest.as_bytes())).is_err()
    {
        return;
    }
    let mut buf = [0u8; BASE_BUF];
    let Ok(signed) = sign::sign_request(
        &keys.alice,
        label,
        components,
        &params,
        &with_fields(req, &fields),
        &mut buf,
    ) else {
        return;
    };
    let mut all = fields.clone();
    if all
        .push(("Signature-Input", signed.signature_input.as_bytes()))
        .is_err()
        || all
            .push(("Signature", signed.signature.as_bytes()))
            .is_err()
    {
        return;
    }
    let signed_req = with_fields(req, &all);
    let policy = profile::REQUEST_POLICY;
    buf.fill(0);
    let outcome = Verifier::new(policy).verify_request(
        &signed_req,
        keys,
        &mut FixedReplayCache::<4>::new(),
        NOW,
        &mut buf,
    );
    if let Ok(v) = outcome {
        check_policy(&policy, &all, &v);
        assert!(v.public_key == keys.alice.public_key());
        // Exactly the profile's components: the fixed ones, and content-type when present.
        let list = sf::parse_inner_list_items(profile::REQUEST_COMPONENTS).unwrap();
        assert_eq!(v.components, list.items().count() + usize::from(with_type));
    }
}

/// Signs `req` (no signature fields) with the profile, adding a `Content-Digest` of `body` when it
/// has none. Returns the signed fields, and whether the digest was ours.
fn profile_sign_request<'a>(
    req: &View<'a>,
    alice: &Identity,
    digest: &'a str,
    signed: &'a mut Option<sign::SignedFields>,
) -> Option<(FieldList<'a>, bool)> {
    let mut fields: FieldList<'a> = req.fields.iter().copied().collect();
    let ours = !FieldsExt::contains(req.fields, "content-digest");
    if ours {
        fields.push(("Content-Digest", digest.as_bytes())).ok()?;
    }
    let mut buf = [0u8; BASE_BUF];
    let s = profile::sign_request(alice, &with_fields(req, &fields), NOW, NONCE, &mut buf).ok()?;
    let s: &'a sign::SignedFields = signed.insert(s);
    fields
        .push(("Signature-Input", s.signature_input.as_bytes()))
        .ok()?;
    fields.push(("Signature", s.signature.as_bytes())).ok()?;
    Some((fields, ours))
}

/// The digest a profile verifier will accept for these fields, if any.
fn usable_digest(fields: &[(&str, &[u8])]) -> Option<Digest> {
    Digest::parse_header(fields.single("content-digest").ok()?).ok()
}

fn sign_and_tamper_request(req: &View<'_>, body: &[u8], alice: &Identity, sel: &mut Selector) {
    let digest = Digest::of(DigestAlg::Sha256, body).header_value();
    let mut signed = None;
    let Some((fields, ours)) = profile_sign_request(req, alice, &digest, &mut signed) else {
        return;
    };
    let signed_req = with_fields(req, &fields);
    let key = alice.public_key();
    let verifier = profile::request_verifier();
    let mut buf = [0u8; BASE_BUF];
    let outcome = verifier.verify_request(
        &signed_req,
        &key,
        &mut FixedReplayCache::<4>::new(),
        NOW,
        &mut buf,
    );
    let Some(expected) = usable_digest(&fields) else {
        assert!(
            matches!(outcome, Err(VerifyError::Digest(_))),
            "signed without a usable digest: {outcome:?}"
        );
        return;
    };
    let v =
        outcome.unwrap_or_else(|e| panic!("a request the profile signed does not verify: {e:?}"));
    assert_eq!(v.content_digest, Some(expected));
    if ours {
        assert_eq!(expected.check_body(body), Ok(()));
    }

    // Single-byte changes to what the signature covers.
    let mut parts: Vec<Part, 8> = Vec::new();
    let _ = parts.push(Part::Method);
    let _ = parts.push(Part::Authority);
    let _ = parts.push(Part::Path);
    let _ = parts.push(Part::Query);
    for name in ["content-digest", "content-type", "signature-input"] {
        if let Some(i) = fields
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            let _ = parts.push(Part::Field(i));
        }
    }
    if ours {
        let _ = parts.push(Part::Body);
    }
    for _ in 0..3 {
        let part = parts[sel.below(parts.len())];
        let original: &[u8] = match part {
            Part::Method => req.method.as_bytes(),
            Part::Authority => req.authority.as_bytes(),
            Part::Path => req.path.as_bytes(),
            Part::Query => req.query.unwrap_or("").as_bytes(),
            Part::Field(i) => fields[i].1,
            Part::Body => body,
        };
        if original.is_empty() {
            continue;
        }
        let mut changed = [0u8; MAX_INPUT];
        let Some(changed) = change_one_byte(original, &mut changed, sel, part.kind()) else {
            continue;
        };
        let text = core::str::from_utf8(changed);
        let mut tampered = fields.clone();
        let mut view = with_fields(req, &fields);
        match (part, text) {
            (Part::Method, Ok(t)) => view.method = t,
            (Part::Authority, Ok(t)) => view.authority = t,
            (Part::Path, Ok(t)) => view.path = t,
            (Part::Query, Ok(t)) => view.query = Some(t),
            (Part::Field(i), _) => tampered[i].1 = changed,
            (Part::Body, _) => {
                // The body is bound through the digest: the signature still verifies, the digest
                // no longer matches.
                assert!(
                    expected.check_body(changed).is_err(),
                    "a changed body matches"
                );
                continue;
            }
            _ => continue,
        }
        if let Part::Field(_) = part {
            view = with_fields(req, &tampered);
        }
        let outcome = verifier.verify_request(
            &view,
            &key,
            &mut FixedReplayCache::<4>::new(),
            NOW,
            &mut buf,
        );
        assert!(
            outcome.is_err(),
            "verified after changing {part:?} from {:?} to {:?}",
            core::str::from_utf8(original),
            core::str::from_utf8(changed)
        );
    }
}

/// How a value is read into the base, for the changes the base legitimately cannot see.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Exact bytes.
    Exact,
    /// ASCII case-insensitive (`@authority`).
    Caseless,
    /// A field value: leading and trailing SP/HTAB are trimmed.
    Field,
}

/// A part of a signed request a tamper test changes.
#[derive(Clone, Copy, Debug)]
enum Part {
    Method,
    Authority,
    Path,
    Query,
    /// A field line, by index.
    Field(usize),
    Body,
}

impl Part {
    fn kind(self) -> Kind {
        match self {
            Part::Authority => Kind::Caseless,
            Part::Field(_) => Kind::Field,
            _ => Kind::Exact,
        }
    }
}

/// `original` with one byte changed (chosen by `sel`) so that the change is visible to a value of
/// `kind`, in `out`; `None` when the chosen change is one the base cannot see.
fn change_one_byte<'o>(
    original: &[u8],
    out: &'o mut [u8],
    sel: &mut Selector,
    kind: Kind,
) -> Option<&'o [u8]> {
    let at = sel.below(original.len());
    let old = original[at];
    let new = old ^ (1 + sel.below(255) as u8);
    let ows = |b: u8| b == b' ' || b == b'\t';
    match kind {
        Kind::Exact => {}
        Kind::Caseless if old.eq_ignore_ascii_case(&new) => return None,
        Kind::Caseless => {}
        Kind::Field => {
            let start = original
                .iter()
                .position(|&b| !ows(b))
                .unwrap_or(original.len());
            let end = original
                .iter()
                .rposition(|&b| !ows(b))
                .map_or(start, |e| e + 1);
            if (at < start || at >= end) && ows(old) && ows(new) {
                return None;
            }
        }
    }
    let out = &mut out[..original.len()];
    out.copy_from_slice(original);
    out[at] = new;
    Some(out)
}

/// Structured-field types the core re-serialises for `;sf` (RFC 9421 §2.1.1 needs the type).
const SF_FIELDS: [&str; 9] = [
    "signature",
    "signature-input",
    "content-digest",
    "repr-digest",
    "accept-signature",
    "priority",
    "example-dict",
    "cache-status",
    "example-list",
];

/// Plain RFC 9421: signs with a set of components chosen from the message (derived components,
/// its fields plain, `;bs`, `;sf` or `;key`, its query parameters), then verifies. Whatever
/// the signer signs verifies.
fn sign_components_and_verify(req: &View<'_>, alice: &Identity, sel: &mut Selector) {
    let mut comps: String<{ sign::MAX_SIGNATURE_INPUT }> = String::new();
    let mut names: Vec<&str, MAX_FIELDS> = Vec::new();
    let add = |comps: &mut String<{ sign::MAX_SIGNATURE_INPUT }>, parts: &[&str]| {
        if !comps.is_empty() {
            let _ = comps.push(' ');
        }
        for p in parts {
            let _ = comps.push_str(p);
        }
    };
    let mode = sel.below(6);
    match mode {
        0 => {
            for d in [
                "@method",
                "@target-uri",
                "@authority",
                "@scheme",
                "@request-target",
                "@path",
                "@query",
            ] {
                add(&mut comps, &["\"", d, "\""]);
            }
        }
        5 => {
            // `@query-param` for each name, re-encoded the way RFC 9421 §2.2.8 asks.
            for pair in req.query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
                let name = pair.split_once('=').map_or(pair, |(n, _)| n);
                let mut enc = [0u8; 3 * MAX_INPUT];
                let mut sink = Sink::new(&mut enc);
                component::write_reencoded(&mut sink, name);
                let Ok(enc) = sink.finish_str() else { continue };
                add(&mut comps, &["\"@query-param\";name=\"", enc, "\""]);
            }
        }
        _ => {
            for (name, value) in req.fields {
                let mut lower: String<64> = String::new();
                if name.is_empty()
                    || lower.push_str(name).is_err()
                    || !name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
                    || names.iter().any(|n| n.eq_ignore_ascii_case(name))
                {
                    continue;
                }
                let _ = names.push(name);
                lower.as_mut_str().make_ascii_lowercase();
                match mode {
                    1 => add(&mut comps, &["\"", &lower, "\""]),
                    2 => add(&mut comps, &["\"", &lower, "\";bs"]),
                    3 if SF_FIELDS.contains(&lower.as_str()) => {
                        add(&mut comps, &["\"", &lower, "\";sf"])
                    }
                    4 => {
                        // The first key of the first line, if it is a dictionary.
                        let Some(key) = core::str::from_utf8(value)
                            .ok()
                            .and_then(|t| Dictionary::parse(t).ok())
                            .and_then(|d| d.iter().next().map(|(k, _)| k))
                        else {
                            continue;
                        };
                        add(&mut comps, &["\"", &lower, "\";key=\"", key, "\""]);
                    }
                    _ => {}
                }
            }
        }
    }
    let Ok(list) = sf::parse_inner_list_items(&comps) else {
        return;
    };
    let count = list.items().count();
    let params = SignatureParams {
        created: Some(NOW as i64),
        keyid: Some("fuzz"),
        ..SignatureParams::default()
    };
    let mut buf = [0u8; BASE_BUF];
    let Ok(signed) = sign::sign_request(alice, "sig", &comps, &params, req, &mut buf) else {
        return;
    };
    let mut fields: FieldList<'_> = req.fields.iter().copied().collect();
    if fields
        .push(("Signature-Input", signed.signature_input.as_bytes()))
        .is_err()
        || fields
            .push(("Signature", signed.signature.as_bytes()))
            .is_err()
    {
        return;
    }
    let signed_req = with_fields(req, &fields);
    let v = Verifier::new(Policy::RFC9421)
        .verify_request(
            &signed_req,
            &alice.public_key(),
            &mut FixedReplayCache::<4>::new(),
            NOW,
            &mut buf,
        )
        .unwrap_or_else(|e| panic!("signed over {comps:?}, does not verify: {e:?}"));
    assert_eq!(v.components, count);
}

/// A response, with the request it answers after [`NEXT_MESSAGE`] when given. Mode A (see
/// `check_received`) under the profile's response policy for bob, the whoareyou policy and plain
/// RFC 9421. Mode B: the request is signed by alice (a fixed one when none is given), the response
/// by bob with the profile, and it must verify; a single-byte change to `@status`,
/// `Content-Digest`, `Content-Type`, `Signature-Input` or the request's `shardpeer` signature
/// must not. A whoareyou answer bob signs verifies too.
pub fn verify_response(data: &[u8]) {
    if data.len() > MAX_INPUT {
        return;
    }
    let (first, second) = split_messages(data);
    let Some(msg) = Msg::parse(first) else { return };
    let Some(status) = msg.status() else { return };
    let other = second.and_then(Msg::parse);
    let req = other.as_ref().and_then(Msg::request);
    let keys = Keys::new();
    let resp = Response {
        status,
        fields: &msg.fields[..],
        request: req.as_ref(),
    };
    for verifier in [
        profile::response_verifier(keys.bob_id.as_str()),
        whoareyou::verifier(keys.bob_id.as_str()),
        Verifier::new(Policy::RFC9421),
    ] {
        check_received(&keys, &verifier.policy, resp.fields, |cache, buf| {
            buf.fill(0);
            verifier.verify_response(&resp, &keys, cache, NOW, buf)
        });
    }

    let mut sel = Selector::new(data);
    // The request, signed by alice.
    let default_fields: [(&str, &[u8]); 1] = [("Content-Type", b"application/json")];
    let default_req = Request {
        method: "POST",
        scheme: "https",
        authority: "echo.bob.shard.test",
        path: "/peer/inbox",
        query: None,
        fields: &default_fields[..],
    };
    let req_unsigned_fields = req.as_ref().map(|r| unsigned_fields(r.fields));
    let empty: &[u8] = &[];
    let (req_view, req_body) = match (&req, &req_unsigned_fields, &other) {
        (Some(r), Some(f), Some(o)) => (with_fields(r, f), o.body),
        _ => (with_fields(&default_req, &default_fields), empty),
    };
    let req_digest = Digest::of(DigestAlg::Sha256, req_body).header_value();
    let mut req_signed = None;
    let mut fallback_signed = None;
    let fallback_digest = Digest::of(DigestAlg::Sha256, b"").header_value();
    let (req_fields, req_view) =
        match profile_sign_request(&req_view, &keys.alice, &req_digest, &mut req_signed) {
            Some((f, _)) => (f, req_view),
            None => {
                let view = with_fields(&default_req, &default_fields);
                let (f, _) = profile_sign_request(
                    &view,
                    &keys.alice,
                    &fallback_digest,
                    &mut fallback_signed,
                )
                .expect("the fixed request signs");
                (f, view)
            }
        };
    let signed_req = with_fields(&req_view, &req_fields);

    // The response, signed by bob.
    let resp_unsigned = unsigned_fields(resp.fields);
    let digest = Digest::of(DigestAlg::Sha256, msg.body).header_value();
    let mut fields: FieldList<'_> = resp_unsigned.clone();
    let ours = !FieldsExt::contains(&fields[..], "content-digest");
    if ours && fields.push(("Content-Digest", digest.as_bytes())).is_err() {
        return;
    }
    let mut buf = [0u8; BASE_BUF];
    let unsigned_resp = Response {
        status,
        fields: &fields[..],
        request: Some(&signed_req),
    };
    whoareyou_round_trip(&keys, status, &fields);
    let Ok(s) = profile::sign_response(&keys.bob, &unsigned_resp, NOW, &mut buf) else {
        return;
    };
    let mut signed_fields = fields.clone();
    if signed_fields
        .push(("Signature-Input", s.signature_input.as_bytes()))
        .is_err()
        || signed_fields
            .push(("Signature", s.signature.as_bytes()))
            .is_err()
    {
        return;
    }
    let verifier = profile::response_verifier(keys.bob_id.as_str());
    let bob = keys.bob.public_key();
    let verify = |resp: &RespView<'_>, buf: &mut [u8]| {
        verifier
            .verify_response(resp, &bob, &mut FixedReplayCache::<4>::new(), NOW, buf)
            .map(|v| v.content_digest)
    };
    let signed_resp = Response {
        status,
        fields: &signed_fields[..],
        request: Some(&signed_req),
    };
    let outcome = verify(&signed_resp, &mut buf);
    let Some(expected) = usable_digest(&signed_fields) else {
        assert!(
            matches!(outcome, Err(VerifyError::Digest(_))),
            "signed without a usable digest: {outcome:?}"
        );
        return;
    };
    let digest_seen =
        outcome.unwrap_or_else(|e| panic!("a response bob signed does not verify: {e:?}"));
    assert_eq!(digest_seen, Some(expected));
    if ours {
        assert_eq!(expected.check_body(msg.body), Ok(()));
    }

    for _ in 0..3 {
        match sel.below(3) {
            0 => {
                let changed = status ^ (1 + sel.below(0xffff) as u16);
                let tampered = Response {
                    status: changed,
                    ..signed_resp
                };
                assert!(
                    verify(&tampered, &mut buf).is_err(),
                    "verified with status {changed} instead of {status}"
                );
            }
            1 => {
                let names = ["content-digest", "content-type", "signature-input"];
                let name = names[sel.below(names.len())];
                let Some(i) = signed_fields
                    .iter()
                    .position(|(n, _)| n.eq_ignore_ascii_case(name))
                else {
                    continue;
                };
                let original = signed_fields[i].1;
                if original.is_empty() {
                    continue;
                }
                let mut out = [0u8; MAX_INPUT];
                let Some(changed) = change_one_byte(original, &mut out, &mut sel, Kind::Field)
                else {
                    continue;
                };
                let mut tampered_fields = signed_fields.clone();
                tampered_fields[i].1 = changed;
                let tampered = Response {
                    fields: &tampered_fields[..],
                    ..signed_resp
                };
                assert!(
                    verify(&tampered, &mut buf).is_err(),
                    "verified after changing {name} from {:?} to {:?}",
                    core::str::from_utf8(original),
                    core::str::from_utf8(changed)
                );
            }
            _ => {
                // The request's signature, which the response covers with `;req;key="shardpeer"`.
                let Some(i) = req_fields.iter().position(|(n, _)| *n == "Signature") else {
                    continue;
                };
                let original = req_fields[i].1;
                let mut out = [0u8; MAX_INPUT];
                let Some(changed) = change_one_byte(original, &mut out, &mut sel, Kind::Exact)
                else {
                    continue;
                };
                if same_member(original, changed, profile::LABEL) {
                    // Base64 padding bits: the decoded signature did not change.
                    continue;
                }
                let mut tampered_req_fields = req_fields.clone();
                tampered_req_fields[i].1 = changed;
                let tampered_req = with_fields(&req_view, &tampered_req_fields);
                let tampered = Response {
                    request: Some(&tampered_req),
                    ..signed_resp
                };
                assert!(
                    verify(&tampered, &mut buf).is_err(),
                    "verified after changing the request's Signature from {:?} to {:?}",
                    core::str::from_utf8(original),
                    core::str::from_utf8(changed)
                );
            }
        }
    }
}

/// Whether the dictionary member `label` of two field values is the same value (both absent or
/// unparsable counts as the same).
fn same_member(a: &[u8], b: &[u8], label: &str) -> bool {
    let member = |v: &[u8], out: &mut [u8; 512]| -> Option<usize> {
        let d = Dictionary::parse(core::str::from_utf8(v).ok()?).ok()?;
        let (_, m) = d.iter().filter(|(k, _)| *k == label).last()?;
        let mut sink = Sink::new(out);
        sf::write_member(&mut sink, &m);
        sink.finish().ok().map(<[u8]>::len)
    };
    let (mut x, mut y) = ([0u8; 512], [0u8; 512]);
    match (member(a, &mut x), member(b, &mut y)) {
        (Some(n), Some(m)) => x[..n] == y[..m],
        (None, None) => true,
        _ => false,
    }
}

/// A whoareyou answer bob signs verifies under the whoareyou policy for his ID.
fn whoareyou_round_trip(keys: &Keys, status: u16, fields: &[(&str, &[u8])]) {
    let mut buf = [0u8; BASE_BUF];
    let Ok(s) = whoareyou::sign(&keys.bob, status, fields, NOW, &mut buf) else {
        return;
    };
    let mut signed: FieldList<'_> = fields.iter().copied().collect();
    if signed
        .push(("Signature-Input", s.signature_input.as_bytes()))
        .is_err()
        || signed.push(("Signature", s.signature.as_bytes())).is_err()
    {
        return;
    }
    let resp: RespView<'_> = Response {
        status,
        fields: &signed[..],
        request: None,
    };
    let outcome = whoareyou::verifier(keys.bob_id.as_str()).verify_response(
        &resp,
        &keys.bob.public_key(),
        &mut FixedReplayCache::<4>::new(),
        NOW,
        &mut buf,
    );
    match usable_digest(&signed) {
        Some(d) => assert_eq!(
            outcome.map(|v| v.content_digest),
            Ok(Some(d)),
            "a whoareyou answer bob signed does not verify"
        ),
        None => assert!(matches!(outcome, Err(VerifyError::Digest(_)))),
    }
}

// ---------------------------------------------------------------------------------------------
// Content-Digest.

/// RFC 9530 `Content-Digest`. Input: the field value on the first line, the body after it. A
/// digest computed here is emitted, parses back to itself and matches its body, also when hashed
/// in chunks; a parsed field prints canonically and parses back to the same digest, picks
/// `sha-512` over `sha-256`, and matches a body exactly when the recomputed digest is equal.
pub fn content_digest(data: &[u8]) {
    if data.len() > MAX_INPUT {
        return;
    }
    let (s, e, next) = line_at(data, 0);
    let header = &data[s..e];
    let body = &data[next..];
    let mut sel = Selector::new(data);
    for alg in [DigestAlg::Sha256, DigestAlg::Sha512] {
        let d = Digest::of(alg, body);
        assert_eq!(Digest::parse_header(&d.header_value()), Ok(d));
        assert_eq!(d.check_body(body), Ok(()));
        let mut h = BodyHasher::new(alg);
        let mut rest = body;
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(1 + sel.below(rest.len()));
            h.update(chunk);
            rest = tail;
        }
        assert_eq!(h.finish(), d, "chunked hashing differs");
    }
    let Ok(text) = core::str::from_utf8(header) else {
        return;
    };
    let dict = Dictionary::parse(text);
    match Digest::parse_header(text) {
        Ok(d) => {
            let dict = dict.expect("a digest field is a dictionary");
            let has = |key: &str| match dict.get(key) {
                Some(Member::Item(i)) => matches!(i.bare, BareItem::ByteSeq(_)),
                _ => false,
            };
            let expected_alg = if has("sha-512") {
                DigestAlg::Sha512
            } else {
                DigestAlg::Sha256
            };
            assert_eq!(d.alg(), expected_alg);
            assert_eq!(
                d.as_bytes().len(),
                if expected_alg == DigestAlg::Sha512 {
                    64
                } else {
                    32
                }
            );
            assert_eq!(Digest::parse_header(&d.header_value()), Ok(d));
            let matches = Digest::of(d.alg(), body) == d;
            assert_eq!(d.check_body(body).is_ok(), matches);
            if !matches {
                assert_eq!(d.check_body(body), Err(DigestError::Mismatch));
            }
        }
        Err(DigestError::Unsupported) => {
            let dict = dict.expect("unsupported means a dictionary without our algorithms");
            assert!(dict.get("sha-256").is_none() && dict.get("sha-512").is_none());
        }
        Err(_) => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Paths.

/// `normalize_path` against an independent implementation of the same steps (`docs/protocol.md`,
/// "Path normalisation": raw bytes, percent-encodings, dot segments over a segment stack): same
/// result, same error. The output is never longer than the input, is in normalised form
/// (`is_normalized`), normalises to itself, has no `.`/`..` segment, `//` or encoded separator; a
/// buffer shorter than the input is refused with its exact size; `is_normalized` agrees with
/// `normalize_path`.
pub fn path(data: &[u8]) {
    if data.len() > MAX_INPUT {
        return;
    }
    let Ok(raw) = core::str::from_utf8(data) else {
        return;
    };
    let mut buf = [0u8; MAX_INPUT];
    let mut reference = [0u8; MAX_INPUT];
    let ours = path::normalize_path(raw, &mut buf).map(str::len);
    let theirs = reference_normalize(data, &mut reference).map(<[u8]>::len);
    match (ours, theirs) {
        (Ok(n), Ok(m)) => assert_eq!(
            &buf[..n],
            &reference[..m],
            "normalize_path disagrees with the reference"
        ),
        (a, b) => assert_eq!(a, b, "normalize_path disagrees with the reference"),
    }
    assert_eq!(
        path::is_normalized(raw),
        ours.is_ok_and(|n| &buf[..n] == data),
        "is_normalized disagrees with normalize_path"
    );
    if raw.starts_with('/') {
        let mut small = [0u8; MAX_INPUT];
        assert_eq!(
            path::normalize_path(raw, &mut small[..raw.len() - 1]),
            Err(PathError::BufferTooSmall { needed: raw.len() })
        );
    }
    let Ok(n) = ours else { return };
    let out = core::str::from_utf8(&buf[..n]).unwrap();
    assert!(out.len() <= raw.len());
    assert!(out.starts_with('/'));
    assert!(path::is_normalized(out), "{out:?}");
    let mut again = [0u8; MAX_INPUT];
    assert_eq!(path::normalize_path(out, &mut again), Ok(out));
    assert!(!out.contains("//"), "{out:?}");
    for segment in out[1..].split('/') {
        assert!(segment != "." && segment != "..", "{out:?}");
    }
    let upper = |i: usize| out.as_bytes().get(i).copied().unwrap_or(0);
    for (i, b) in out.bytes().enumerate() {
        assert!(b.is_ascii_graphic(), "{out:?}");
        if b == b'%' {
            let (h, l) = (upper(i + 1), upper(i + 2));
            assert!(h.is_ascii_hexdigit() && l.is_ascii_hexdigit());
            assert!(
                !h.is_ascii_lowercase() && !l.is_ascii_lowercase(),
                "{out:?}"
            );
            let decoded = (hex_digit(h) << 4) | hex_digit(l);
            assert!(!is_unreserved(decoded) && !matches!(decoded, b'/' | b'\\' | 0));
        }
    }
}

fn hex_digit(b: u8) -> u8 {
    (b as char).to_digit(16).map_or(0xff, |d| d as u8)
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~".contains(&b)
}

/// The steps of `docs/protocol.md` written as directly as possible: refuse, then decode each
/// segment, then resolve dot segments on a stack.
fn reference_normalize<'o>(raw: &[u8], out: &'o mut [u8]) -> Result<&'o [u8], PathError> {
    if raw.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    let encoded_at = |i: usize| -> Option<u8> {
        let h = *raw.get(i + 1)?;
        let l = *raw.get(i + 2)?;
        (h.is_ascii_hexdigit() && l.is_ascii_hexdigit()).then(|| (hex_digit(h) << 4) | hex_digit(l))
    };
    let mut i = 1;
    while i < raw.len() {
        if raw[i] == b'%' && encoded_at(i).is_some() {
            i += 3;
            continue;
        }
        match raw[i] {
            b'\\' => return Err(PathError::Backslash),
            0..=0x1f | 0x7f => return Err(PathError::ControlCharacter),
            0x80..=0xff => return Err(PathError::NonAscii),
            b' ' | b'#' | b'?' => return Err(PathError::InvalidCharacter),
            _ => {}
        }
        i += 1;
    }
    for (i, &b) in raw.iter().enumerate() {
        if b == b'%' {
            match encoded_at(i) {
                None => return Err(PathError::InvalidPercentEncoding),
                Some(b'/') => return Err(PathError::EncodedSlash),
                Some(b'\\') => return Err(PathError::EncodedBackslash),
                Some(0) => return Err(PathError::EncodedNul),
                Some(_) => {}
            }
        }
    }
    // Decoded segments, one after the other in `seg`; the stack holds their ranges.
    let mut seg = [0u8; MAX_INPUT];
    let mut seg_len = 0;
    let mut stack: Vec<(usize, usize), { MAX_INPUT / 2 + 1 }> = Vec::new();
    let mut last_is_dir = false;
    for segment in raw[1..].split(|&b| b == b'/') {
        let start = seg_len;
        let mut j = 0;
        while j < segment.len() {
            if segment[j] == b'%' {
                let d = (hex_digit(segment[j + 1]) << 4) | hex_digit(segment[j + 2]);
                if is_unreserved(d) {
                    seg[seg_len] = d;
                    seg_len += 1;
                } else {
                    seg[seg_len] = b'%';
                    seg[seg_len + 1] = segment[j + 1].to_ascii_uppercase();
                    seg[seg_len + 2] = segment[j + 2].to_ascii_uppercase();
                    seg_len += 3;
                }
                j += 3;
            } else {
                seg[seg_len] = segment[j];
                seg_len += 1;
                j += 1;
            }
        }
        let decoded = &seg[start..seg_len];
        last_is_dir = matches!(decoded, b"" | b"." | b"..");
        match decoded {
            b"" | b"." => {}
            b".." => {
                stack.pop();
            }
            d if d.starts_with(b".;") || d.starts_with(b"..;") => {
                return Err(PathError::DotSegmentParameter);
            }
            _ => stack.push((start, seg_len)).unwrap(),
        }
    }
    let mut n = 0;
    out[n] = b'/';
    n += 1;
    for (k, &(from, to)) in stack.iter().enumerate() {
        if k > 0 {
            out[n] = b'/';
            n += 1;
        }
        out[n..n + (to - from)].copy_from_slice(&seg[from..to]);
        n += to - from;
    }
    if last_is_dir && !stack.is_empty() {
        out[n] = b'/';
        n += 1;
    }
    Ok(&out[..n])
}

// ---------------------------------------------------------------------------------------------
// app_meta.json, access decisions, header templates.

/// `app_meta.json` parsing, `decide` and header rendering. Input: the JSON, then optionally a NUL
/// and the template context (`client_name`, `client_id`, `portal_domain`, `portal_public_key_pem`,
/// separated by NUL), then a NUL and request paths, one per line.
///
/// Oracles: a smaller build refuses only for capacity and otherwise agrees; every kept rule is
/// valid (`""` present, unique normalised prefixes, token header names that are not hop-by-hop,
/// unique per rule, valid templates); `decide` picks the longest matching prefix and applies the
/// access table; a rendered header value never contains CR, LF, NUL or another control character
/// except HTAB, equals an independent renderer's, has the length `rendered_len` says, and an
/// unsafe context value is refused naming its variable; every header a rule sets is reserved.
pub fn app_meta_acl(data: &[u8]) {
    if data.len() > MAX_INPUT {
        return;
    }
    let mut parts = data.split(|&b| b == 0);
    let json = parts.next().unwrap_or_default();
    let mut text = || {
        parts
            .next()
            .and_then(|p| core::str::from_utf8(p).ok())
            .unwrap_or("")
    };
    let client_name = text();
    let client_id = text();
    let portal_domain = text();
    let portal_public_key_pem = text();
    let paths = text();

    let big = AppMeta::<16, 32, 2048>::parse(json);
    let small = AppMeta::<2, 2, 64>::parse(json);
    match (&big, &small) {
        (Ok(b), Ok(s)) => {
            assert_eq!(b.name(), s.name());
            assert!(
                b.rules()
                    .map(|r| (r.prefix(), r.access()))
                    .eq(s.rules().map(|r| (r.prefix(), r.access())))
            );
        }
        (Ok(_), Err(e)) => assert!(
            matches!(
                e,
                AppMetaError::TooManyPaths | AppMetaError::TooManyHeaders | AppMetaError::TooLong
            ),
            "a smaller build refused for {e:?}"
        ),
        (Err(e), Ok(_)) => panic!("only the larger build refused: {e:?}"),
        (Err(_), Err(_)) => {}
    }
    let Ok(meta) = big else { return };
    check_rules(&meta);

    let contexts = [
        TemplateContext {
            client_type: ClientKind::Peer.as_str(),
            client_id,
            client_name,
            portal_id: "uzzfszqnijtc4eswmobxlvqillyuoyvvpsggaxtzq442s73k",
            portal_short_id: "uzzfsz",
            portal_domain,
            portal_public_key_pem,
        },
        TemplateContext {
            client_type: ClientKind::Anonymous.as_str(),
            ..TemplateContext::default()
        },
    ];
    let decide = |p: &str| {
        for client in [
            ClientKind::Anonymous,
            ClientKind::Terminal,
            ClientKind::Peer,
        ] {
            check_decision(&meta, p, client, &contexts);
        }
    };
    decide("/");
    let mut buf = [0u8; MAX_INPUT + 2];
    for rule in meta.rules() {
        let prefix = rule.prefix();
        for suffix in ["", "x", "/", "/x"] {
            let n = prefix.len() + suffix.len();
            buf[..prefix.len()].copy_from_slice(prefix.as_bytes());
            buf[prefix.len()..n].copy_from_slice(suffix.as_bytes());
            let p = core::str::from_utf8(&buf[..n]).unwrap();
            let mut norm = [0u8; MAX_INPUT + 2];
            if let Ok(p) = path::normalize_path(p, &mut norm) {
                decide(p);
            }
        }
    }
    for raw in paths.split('\n') {
        let mut norm = [0u8; MAX_INPUT];
        if let Ok(p) = path::normalize_path(raw, &mut norm) {
            decide(p);
        }
    }
}

const FORBIDDEN_HEADERS: [&str; 9] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];

fn check_rules(meta: &AppMeta) {
    let name = meta.name();
    assert!(!name.is_empty() && !name.bytes().any(|b| b.is_ascii_control()));
    assert_eq!(meta.rules().filter(|r| r.prefix().is_empty()).count(), 1);
    for (i, rule) in meta.rules().enumerate() {
        let prefix = rule.prefix();
        assert!(path::is_valid_prefix(prefix), "{prefix:?}");
        assert!(
            !meta.rules().take(i).any(|r| r.prefix() == prefix),
            "{prefix:?} twice"
        );
        for (j, h) in rule.headers().enumerate() {
            let n = h.name();
            assert!(
                !n.is_empty()
                    && n.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)),
                "{n:?}"
            );
            assert!(
                !FORBIDDEN_HEADERS.iter().any(|f| f.eq_ignore_ascii_case(n)),
                "{n:?}"
            );
            assert!(
                !rule
                    .headers()
                    .take(j)
                    .any(|o| o.name().eq_ignore_ascii_case(n))
            );
            assert_eq!(template::validate(h.template()), Ok(()));
            let mut upper: String<256> = String::new();
            if upper.push_str(n).is_ok() {
                upper.make_ascii_uppercase();
                assert!(meta.is_reserved_header(&upper) && meta.is_reserved_header(n));
            }
        }
    }
}

fn allowed(access: Access, client: ClientKind) -> bool {
    matches!(
        (access, client),
        (Access::Public, _)
            | (Access::Private, ClientKind::Terminal)
            | (Access::Peer, ClientKind::Peer)
    )
}

fn check_decision(
    meta: &AppMeta,
    path: &str,
    client: ClientKind,
    contexts: &[TemplateContext<'_>],
) {
    let governing = meta
        .rules()
        .filter(|r| path.starts_with(r.prefix()))
        .fold(None, |best: Option<crate::acl::Rule<'_>>, r| match best {
            Some(b) if b.prefix().len() >= r.prefix().len() => Some(b),
            _ => Some(r),
        })
        .expect("the default rule matches everything");
    match meta.decide(path, client) {
        Ok(rule) => {
            assert_eq!(rule.prefix(), governing.prefix(), "{path:?}");
            assert!(allowed(rule.access(), client));
            for header in rule.headers() {
                for ctx in contexts {
                    check_render(header.template(), ctx);
                }
            }
        }
        Err(denied) => {
            assert_eq!(denied.required, governing.access(), "{path:?}");
            assert_eq!(denied.client, client);
            assert!(!allowed(governing.access(), client));
        }
    }
}

const RENDER_BUF: usize = 4 * MAX_INPUT;

fn check_render(tpl: &str, ctx: &TemplateContext<'_>) {
    let mut reference: Vec<u8, RENDER_BUF> = Vec::new();
    let expected = reference_render(tpl, ctx, &mut reference);
    let mut out = [0u8; RENDER_BUF];
    match (template::rendered_len(tpl, ctx), expected) {
        (Ok(len), Ok(true)) => {
            let v = template::render(tpl, ctx, &mut out).expect("fits");
            assert_eq!(v.len(), len);
            assert_eq!(
                v.as_bytes(),
                &reference[..],
                "render disagrees with the reference"
            );
            assert!(
                v.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f)),
                "a control character in a header value: {v:?}"
            );
            if len > 0 {
                let mut small = [0u8; RENDER_BUF];
                assert_eq!(
                    template::render(tpl, ctx, &mut small[..len - 1]),
                    Err(TemplateError::BufferTooSmall { needed: len })
                );
            }
        }
        // Longer than the reference's buffer: only the refusal of a short buffer is checked.
        (Ok(len), Ok(false)) => assert_eq!(
            template::render(tpl, ctx, &mut out[..0]).err(),
            (len > 0).then_some(TemplateError::BufferTooSmall { needed: len })
        ),
        (Err(TemplateError::UnsafeValue { variable }), Err(v)) => assert_eq!(variable, v),
        (got, want) => panic!("render gave {got:?}, the reference {want:?} for {tpl:?}"),
    }
}

/// Renders a validated template: `Ok(false)` when it did not fit `out`, `Err(variable)` for the
/// first variable whose value has a control character other than HTAB (line breaks of the PEM
/// excepted, written as `\n`).
fn reference_render(
    tpl: &str,
    ctx: &TemplateContext<'_>,
    out: &mut Vec<u8, RENDER_BUF>,
) -> Result<bool, Variable> {
    let mut fits = true;
    let mut push = |bytes: &[u8]| {
        if out.extend_from_slice(bytes).is_err() {
            fits = false;
        }
    };
    let safe = |b: u8| b == b'\t' || (b >= 0x20 && b != 0x7f);
    let mut rest = tpl;
    while let Some(open) = rest.find("{{") {
        push(&rest.as_bytes()[..open]);
        let after = &rest[open + 2..];
        let close = after.find("}}").expect("validated");
        let name = after[..close].trim_matches([' ', '\t']);
        rest = &after[close + 2..];
        let (variable, value) = match name {
            "auth.client_type" => (Variable::ClientType, ctx.client_type),
            "auth.client_id" => (Variable::ClientId, ctx.client_id),
            "auth.client_name" => (Variable::ClientName, ctx.client_name),
            "portal.id" => (Variable::PortalId, ctx.portal_id),
            "portal.short_id" => (Variable::PortalShortId, ctx.portal_short_id),
            "portal.domain" => (Variable::PortalDomain, ctx.portal_domain),
            "portal.public_key_pem" => (Variable::PortalPublicKeyPem, ctx.portal_public_key_pem),
            other => panic!("validated template names {other:?}"),
        };
        if variable == Variable::PortalPublicKeyPem {
            let mut lines = value.split('\n').peekable();
            while let Some(line) = lines.next() {
                let more = lines.peek().is_some();
                let line = if more {
                    line.strip_suffix('\r').unwrap_or(line)
                } else {
                    line
                };
                if !line.bytes().all(safe) {
                    return Err(variable);
                }
                push(line.as_bytes());
                if more {
                    push(b"\\n");
                }
            }
        } else {
            if !value.bytes().all(safe) {
                return Err(variable);
            }
            push(value.as_bytes());
        }
    }
    push(rest.as_bytes());
    Ok(fits)
}
