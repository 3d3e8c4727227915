//! Verification (RFC 9421 §3.2) under a policy the caller states.
//!
//! # Driving contract
//! A [`Verifier`] is a [`Policy`] plus an Ed25519 backend; it holds no state and may be
//! shared. For each message:
//! 1. describe it with [`Request`] (or [`Response`] with its request),
//! 2. call [`Verifier::verify_request`] / [`Verifier::verify_response`] with a [`KeySource`]
//!    that maps `keyid` to a public key, the [`ReplayCache`], `now` (seconds since the Unix
//!    epoch from the caller's clock) and a buffer for the signature base,
//! 3. on success, check the body against [`Verified::content_digest`] when it is `Some`
//!    (the signature covers the digest field, not the body — see [`crate::digest`]).
//!
//! Checks run cheapest first, and nothing that costs a signature verification happens
//! before the policy (components, parameters, freshness, keyid, tag) has accepted the
//! signature's metadata. The replay cache is consulted and filled only after the signature
//! verified, so forged requests can neither fill it nor probe it.
//!
//! An empty component list is never accepted, whatever the policy says: a valid signature
//! over nothing proves nothing about the message.

use crate::base::{self, BaseError, Components};
use crate::component::Component;
use crate::digest::{Digest, DigestError};
use crate::ed25519::{self, DefaultBackend, Ed25519Backend, SignatureRuleError};
use crate::id::{IdError, ShardId};
use crate::identity::PublicKey;
use crate::message::{Fields, FieldsExt, Request, Response};
use crate::replay::{ReplayCache, ReplayError};
use crate::sf::{self, BareItem, Dictionary, InnerList, Member, Params, SfError};
use crate::wire::wire_error;

/// What a signature must satisfy beyond being valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy<'p> {
    /// The label to verify. `None`: the message must carry exactly one signature.
    pub label: Option<&'p str>,
    /// Components that must be covered, as inner-list items text (`"@method" "@path"`).
    pub required: &'p str,
    /// Fields that must be covered exactly when present in the message (`"content-type"`).
    pub required_if_present: &'p str,
    /// Refuse components other than `required` and `required_if_present`.
    pub only_listed: bool,
    /// `created` must be present.
    pub require_created: bool,
    /// Largest accepted age of `created`, in seconds.
    pub max_age: Option<u64>,
    /// Tolerated clock difference, in seconds, for `created` and `expires`.
    pub max_skew: u64,
    /// `expires` must be present.
    pub require_expires: bool,
    /// A `nonce` of at least this many characters must be present (0: nonce optional).
    pub min_nonce_len: usize,
    /// `keyid` must equal this.
    pub expected_keyid: Option<&'p str>,
    /// `keyid` must be a full shard ID, and the key from the [`KeySource`] must be that
    /// ID's key. This is what pins a peer's key to its ID.
    pub keyid_is_shard_id: bool,
    /// `tag` must equal this.
    pub expected_tag: Option<&'p str>,
    /// Accept parameters RFC 9421 does not define (they are still covered by the base).
    pub allow_unknown_params: bool,
    /// When `content-digest` is covered, it must be one valid RFC 9530 field with a supported
    /// algorithm, returned in [`Verified::content_digest`] for the body check. Plain RFC 9421
    /// does not ask this (a signature over a digest field we cannot read is still valid).
    pub check_content_digest: bool,
}

impl Policy<'static> {
    /// Plain RFC 9421: a valid signature over at least one component; `created` and
    /// `expires`, when present, are checked against `now` with 60 s of skew.
    pub const RFC9421: Policy<'static> = Policy {
        label: None,
        required: "",
        required_if_present: "",
        only_listed: false,
        require_created: false,
        max_age: None,
        max_skew: 60,
        require_expires: false,
        min_nonce_len: 0,
        expected_keyid: None,
        keyid_is_shard_id: false,
        expected_tag: None,
        allow_unknown_params: true,
        check_content_digest: false,
    };
}

/// Maps a signature's `keyid` to the public key to verify with.
pub trait KeySource {
    /// The key for `keyid`, or `None` when unknown.
    fn key_for(&self, keyid: Option<&str>) -> Option<PublicKey>;
}

/// A single known key, whatever the `keyid`.
impl KeySource for PublicKey {
    fn key_for(&self, _keyid: Option<&str>) -> Option<PublicKey> {
        Some(*self)
    }
}

/// A verified signature's metadata, borrowed from the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified<'m> {
    /// The label verified.
    pub label: &'m str,
    /// `keyid`, when present (escaped string content; plain for shard IDs).
    pub keyid: Option<&'m str>,
    /// `nonce`, when present.
    pub nonce: Option<&'m str>,
    /// `tag`, when present.
    pub tag: Option<&'m str>,
    /// `created`, when present.
    pub created: Option<i64>,
    /// `expires`, when present.
    pub expires: Option<i64>,
    /// The key that verified it.
    pub public_key: PublicKey,
    /// How many components were covered.
    pub components: usize,
    /// When the policy checks digests and `content-digest` was covered: the digest the body
    /// must have. Check it.
    pub content_digest: Option<Digest>,
}

/// Why a signature was not accepted. All are answered 401 except a full replay cache (503)
/// and a base that exceeds local buffers (431); the codes stay fine-grained for logs and
/// conformance tests, and a transport may show the remote party only the status.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyError {
    /// No `Signature-Input` or no `Signature` field.
    Missing,
    /// The requested label is not in both fields.
    LabelNotFound,
    /// No label requested and several present, or the label is repeated.
    Ambiguous,
    /// `Signature-Input` or `Signature` is not valid for RFC 9421.
    Malformed,
    /// `Signature-Input` or `Signature` does not parse as a structured field.
    Syntax(SfError),
    /// The signature covers no component.
    NoComponents,
    /// A required component is not covered.
    ComponentNotCovered,
    /// A component outside the policy's list is covered.
    ComponentNotAllowed,
    /// A parameter is repeated, of the wrong type, or unknown under a strict policy.
    InvalidParams,
    /// `alg` names something other than `ed25519`.
    UnsupportedAlgorithm,
    /// `created` is required and absent.
    CreatedMissing,
    /// `created` is later than now (beyond the skew).
    CreatedInFuture,
    /// `created` is older than the maximum age.
    TooOld,
    /// `expires` is required and absent.
    ExpiresMissing,
    /// `expires` has passed.
    Expired,
    /// A nonce is required and absent or too short.
    NonceMissing,
    /// `keyid` is required and absent, or not the expected one.
    KeyIdMismatch,
    /// `keyid` must be a shard ID and is not a valid one.
    KeyIdNotShardId(IdError),
    /// `keyid` is a shard ID but not in its canonical lowercase form.
    KeyIdNotCanonical,
    /// `tag` is not the expected one.
    TagMismatch,
    /// No key is known for this `keyid`.
    UnknownKey,
    /// The key known for this `keyid` is not the key of that shard ID.
    KeyNotOfId,
    /// The signature base could not be built.
    Base(BaseError),
    /// The signature fails the Ed25519 rule or does not verify.
    Signature(SignatureRuleError),
    /// The covered `Content-Digest` field is unusable.
    Digest(DigestError),
    /// The nonce was already used, or there is no room to remember it.
    Replay(ReplayError),
}

wire_error!(VerifyError {
    VerifyError::Missing => (401, "signature_missing", "the message carries no Signature-Input/Signature"),
    VerifyError::LabelNotFound => (401, "signature_label_not_found", "no signature with the expected label"),
    VerifyError::Ambiguous => (401, "signature_ambiguous", "the signature to verify is ambiguous (several labels or a repeated label)"),
    VerifyError::Malformed => (401, "signature_malformed", "Signature-Input or Signature is not a valid RFC 9421 value"),
    VerifyError::Syntax(e) => (401, "signature_syntax", "Signature-Input or Signature does not parse: {}", e),
    VerifyError::NoComponents => (401, "signature_no_components", "the signature covers no component"),
    VerifyError::ComponentNotCovered => (401, "signature_component_not_covered", "a required component is not covered"),
    VerifyError::ComponentNotAllowed => (401, "signature_component_not_allowed", "a covered component is not allowed by the profile"),
    VerifyError::InvalidParams => (401, "signature_params_invalid", "signature parameters are repeated, mistyped or unknown"),
    VerifyError::UnsupportedAlgorithm => (401, "signature_alg_unsupported", "alg must be absent or ed25519"),
    VerifyError::CreatedMissing => (401, "signature_created_missing", "created is required"),
    VerifyError::CreatedInFuture => (401, "signature_created_in_future", "created is in the future"),
    VerifyError::TooOld => (401, "signature_too_old", "created is older than the maximum age"),
    VerifyError::ExpiresMissing => (401, "signature_expires_missing", "expires is required"),
    VerifyError::Expired => (401, "signature_expired", "the signature has expired"),
    VerifyError::NonceMissing => (401, "signature_nonce_missing", "a nonce is required"),
    VerifyError::KeyIdMismatch => (401, "signature_keyid_mismatch", "keyid is absent or not the expected one"),
    VerifyError::KeyIdNotShardId(e) => (401, "signature_keyid_invalid", "keyid is not a full shard ID: {}", e),
    VerifyError::KeyIdNotCanonical => (401, "signature_keyid_not_canonical", "keyid must be the shard ID in lowercase"),
    VerifyError::TagMismatch => (401, "signature_tag_mismatch", "tag is not the expected one"),
    VerifyError::UnknownKey => (401, "signature_key_unknown", "no key is known for this keyid"),
    VerifyError::KeyNotOfId => (401, "signature_key_not_of_id", "the known key is not the key of this shard ID"),
    VerifyError::Base(e) => (e.http_status_code(), e.wire_code(), "{}", e),
    VerifyError::Signature(e) => (401, e.wire_code(), "{}", e),
    VerifyError::Digest(e) => (401, e.wire_code(), "{}", e),
    VerifyError::Replay(e) => (e.http_status_code(), e.wire_code(), "{}", e),
});

/// Shorthands so the table above can delegate to the inner error's answer.
trait Delegate {
    fn wire_code(&self) -> &'static str;
    fn http_status_code(&self) -> u16;
}
impl<T: crate::wire::WireError> Delegate for T {
    fn wire_code(&self) -> &'static str {
        self.code()
    }
    fn http_status_code(&self) -> u16 {
        self.http_status()
    }
}

/// A policy and the Ed25519 backend to verify with.
#[derive(Debug, Clone, Copy)]
pub struct Verifier<'p, B = DefaultBackend> {
    /// What signatures must satisfy.
    pub policy: Policy<'p>,
    /// The Ed25519 implementation. The core's edge-case rule runs before it, so every
    /// backend gives the same answers.
    pub backend: B,
}

impl<'p> Verifier<'p, DefaultBackend> {
    /// A verifier using the build's [`DefaultBackend`] (ring on hosts, else ed25519-compact).
    pub const fn new(policy: Policy<'p>) -> Self {
        Verifier {
            policy,
            backend: DefaultBackend {},
        }
    }
}

/// The parts of a signature located in the message.
struct Located<'m> {
    label: &'m str,
    list: InnerList<'m>,
    sig: [u8; 64],
}

impl<'p, B: Ed25519Backend> Verifier<'p, B> {
    /// A verifier with another backend.
    pub const fn with_backend(policy: Policy<'p>, backend: B) -> Self {
        Verifier { policy, backend }
    }

    /// Verifies a request's signature.
    pub fn verify_request<'m, F: Fields + ?Sized>(
        &self,
        request: &Request<'m, F>,
        keys: &impl KeySource,
        replay: &mut impl ReplayCache,
        now: u64,
        base_buf: &mut [u8],
    ) -> Result<Verified<'m>, VerifyError> {
        let fields: &'m F = request.fields;
        let located = self.locate(fields)?;
        let checked = self.check(&located, fields, keys, now, base_buf, |c, buf| {
            base::request_base_checked(request, c, buf)
        })?;
        self.finish(located, checked, fields, replay, now)
    }

    /// Verifies a response's signature; `;req` components come from `response.request`.
    pub fn verify_response<'m, F: Fields + ?Sized, G: Fields + ?Sized>(
        &self,
        response: &Response<'m, F, G>,
        keys: &impl KeySource,
        replay: &mut impl ReplayCache,
        now: u64,
        base_buf: &mut [u8],
    ) -> Result<Verified<'m>, VerifyError> {
        let fields: &'m F = response.fields;
        let located = self.locate(fields)?;
        let checked = self.check(&located, fields, keys, now, base_buf, |c, buf| {
            base::response_base_checked(response, c, buf)
        })?;
        self.finish(located, checked, fields, replay, now)
    }

    /// Finds the signature to verify in `Signature-Input` and `Signature`, in the order of
    /// steps 1–4 of the verification procedure: both fields present, both parse, the label in
    /// both exactly once, then the shape of each member.
    fn locate<'m, F: Fields + ?Sized>(&self, fields: &'m F) -> Result<Located<'m>, VerifyError> {
        if !fields.contains("signature-input") || !fields.contains("signature") {
            return Err(VerifyError::Missing);
        }
        let inputs = DictField::validate(fields, "signature-input")?;
        let signatures = DictField::validate(fields, "signature")?;
        let label = match self.policy.label {
            Some(l) => l,
            None => only_label(&inputs)?,
        };
        let input = find_member(&inputs, label)?;
        let signature = find_member(&signatures, label)?;
        let Member::InnerList(list) = input.1 else {
            return Err(VerifyError::Malformed);
        };
        let Member::Item(item) = signature.1 else {
            return Err(VerifyError::Malformed);
        };
        let BareItem::ByteSeq(b64) = item.bare else {
            return Err(VerifyError::Malformed);
        };
        let mut sig = [0u8; 64];
        let decoded = sf::decode_byte_seq(b64, &mut sig).map_err(|_| VerifyError::Malformed)?;
        if decoded.len() != 64 {
            return Err(VerifyError::Malformed);
        }
        Ok(Located {
            label: input.0,
            list,
            sig,
        })
    }

    /// Steps 5–14: everything between locating the signature and the Ed25519 check. The
    /// components, parsed once here for the coverage rules and the base, live in this frame
    /// only: it has returned before the Ed25519 check, the deepest part of a verification,
    /// so they add nothing to a device's peak stack.
    #[inline(never)]
    fn check<'m, 'b, F: Fields + ?Sized>(
        &self,
        located: &Located<'m>,
        fields: &'m F,
        keys: &impl KeySource,
        now: u64,
        base_buf: &'b mut [u8],
        build: impl FnOnce(&Components<'m>, &'b mut [u8]) -> Result<&'b [u8], BaseError>,
    ) -> Result<Checked<'m, 'b>, VerifyError> {
        let components = Components::check(&located.list).map_err(VerifyError::Base)?;
        let meta = self.check_metadata(&components, fields, now)?;
        let key = self.resolve_key(keys, &meta)?;
        let base = build(&components, base_buf).map_err(VerifyError::Base)?;
        Ok(Checked {
            meta,
            key,
            base,
            digest_covered: digest_covered(&components),
        })
    }

    fn check_metadata<'m, F: Fields + ?Sized>(
        &self,
        components: &Components<'m>,
        fields: &'m F,
        now: u64,
    ) -> Result<Meta<'m>, VerifyError> {
        let p = &self.policy;
        let count = components.len();
        if count == 0 {
            return Err(VerifyError::NoComponents);
        }
        self.check_coverage(components, fields)?;
        let mut meta = Meta::read(&components.params, p.allow_unknown_params)?;
        if let Some(alg) = meta.alg
            && !alg.is_string_eq("ed25519")
        {
            return Err(VerifyError::UnsupportedAlgorithm);
        }
        check_freshness(p, &meta, now)?;
        if meta.nonce.map_or(0, unescaped_len) < p.min_nonce_len
            || (p.min_nonce_len > 0 && meta.nonce.is_none())
        {
            return Err(VerifyError::NonceMissing);
        }
        if let Some(expected) = p.expected_keyid
            && meta.keyid != Some(expected)
        {
            return Err(VerifyError::KeyIdMismatch);
        }
        if p.keyid_is_shard_id {
            let keyid = meta.keyid.ok_or(VerifyError::KeyIdMismatch)?;
            let id = ShardId::parse(keyid).map_err(VerifyError::KeyIdNotShardId)?;
            // Hosts key peers lists, replay caches and `X-Ptl-Client-Id` on the keyid text:
            // one ID must have one spelling, or a peer could dodge a lowercase blocklist.
            if id.as_str() != keyid {
                return Err(VerifyError::KeyIdNotCanonical);
            }
            meta.shard_id = Some(id);
        }
        if let Some(expected) = p.expected_tag
            && meta.tag != Some(expected)
        {
            return Err(VerifyError::TagMismatch);
        }
        Ok(Meta {
            components: count,
            ..meta
        })
    }

    fn check_coverage<F: Fields + ?Sized>(
        &self,
        components: &Components<'_>,
        fields: &F,
    ) -> Result<(), VerifyError> {
        let p = &self.policy;
        let required =
            sf::parse_inner_list_items(p.required).map_err(|_| VerifyError::Malformed)?;
        let conditional = sf::parse_inner_list_items(p.required_if_present)
            .map_err(|_| VerifyError::Malformed)?;
        // Where `want` is covered. Components are never covered twice (checked), and
        // `same_as` is an equivalence on valid identifiers, so there is at most one place.
        let position = |want: &Component<'_>| components.iter().position(|c| c.same_as(want));
        // The covered components a listed one names, one bit per position (there are at most
        // MAX_INNER_ITEMS <= 64). A component is listed exactly when a required one, or a
        // conditional one found covered, names it: `only_listed` is then one test per bit.
        let mut listed = 0u64;
        for item in required.items() {
            let want = Component::parse(item).map_err(VerifyError::Base)?;
            let at = position(&want).ok_or(VerifyError::ComponentNotCovered)?;
            listed |= bit(at);
        }
        for item in conditional.items() {
            let want = Component::parse(item).map_err(VerifyError::Base)?;
            let present = want.field_name().is_some_and(|f| fields.contains(f));
            let at = position(&want);
            if present && at.is_none() {
                return Err(VerifyError::ComponentNotCovered);
            }
            if !present && at.is_some() && p.only_listed {
                // Covering an absent field cannot verify anyway; say so precisely.
                return Err(VerifyError::Base(BaseError::MissingComponent));
            }
            listed |= at.map_or(0, bit);
        }
        if p.only_listed && (0..components.len()).any(|i| listed & bit(i) == 0) {
            return Err(VerifyError::ComponentNotAllowed);
        }
        Ok(())
    }

    fn resolve_key(
        &self,
        keys: &impl KeySource,
        meta: &Meta<'_>,
    ) -> Result<PublicKey, VerifyError> {
        let key = keys.key_for(meta.keyid).ok_or(VerifyError::UnknownKey)?;
        if self.policy.keyid_is_shard_id {
            // Parsed by `check_metadata` under this same policy; parsed here otherwise.
            let id = match meta.shard_id {
                Some(id) => id,
                None => meta
                    .keyid
                    .ok_or(VerifyError::KeyIdMismatch)
                    .and_then(|k| ShardId::parse(k).map_err(VerifyError::KeyIdNotShardId))?,
            };
            // The full ID, never a prefix: this is the check a 30-bit short ID cannot pass.
            if !id.is_id_of(&key) {
                return Err(VerifyError::KeyNotOfId);
            }
        }
        Ok(key)
    }

    fn finish<'m, F: Fields + ?Sized>(
        &self,
        located: Located<'m>,
        checked: Checked<'m, '_>,
        fields: &'m F,
        replay: &mut impl ReplayCache,
        now: u64,
    ) -> Result<Verified<'m>, VerifyError> {
        let Checked {
            meta,
            key,
            base,
            digest_covered,
        } = checked;
        ed25519::verify_with(&self.backend, &key, base, &located.sig)
            .map_err(VerifyError::Signature)?;
        let content_digest = if self.policy.check_content_digest && digest_covered {
            let value = fields
                .single("content-digest")
                .map_err(|_| VerifyError::Digest(DigestError::Malformed))?;
            Some(Digest::parse_header(value).map_err(VerifyError::Digest)?)
        } else {
            None
        };
        if let Some(nonce) = meta.nonce {
            let keep_until = keep_until(&self.policy, &meta);
            replay
                .check_and_insert(meta.keyid.unwrap_or(""), nonce, now, keep_until)
                .map_err(VerifyError::Replay)?;
        }
        Ok(Verified {
            label: located.label,
            keyid: meta.keyid,
            nonce: meta.nonce,
            tag: meta.tag,
            created: meta.created,
            expires: meta.expires,
            public_key: key,
            components: meta.components,
            content_digest,
        })
    }
}

/// Whether the plain `content-digest` field is covered (not `;bs`, `;key`…, which would
/// not bind the digest value as the receiver reads it).
fn digest_covered(components: &Components<'_>) -> bool {
    components
        .iter()
        .any(|c| c.item.bare == BareItem::String("content-digest") && c.item.params.is_empty())
}

/// The bit of position `at` in [`Verifier::check_coverage`]'s set.
fn bit(at: usize) -> u64 {
    u32::try_from(at)
        .ok()
        .and_then(|at| 1u64.checked_shl(at))
        .unwrap_or(0)
}

// `check_coverage` keeps one bit per covered component.
const _: () = assert!(sf::MAX_INNER_ITEMS <= 64);

/// What steps 5–14 establish, for the steps after the Ed25519 check.
struct Checked<'m, 'b> {
    meta: Meta<'m>,
    key: PublicKey,
    base: &'b [u8],
    digest_covered: bool,
}

/// The signature parameters, typed.
#[derive(Debug, Clone, Copy, Default)]
struct Meta<'m> {
    created: Option<i64>,
    expires: Option<i64>,
    nonce: Option<&'m str>,
    keyid: Option<&'m str>,
    tag: Option<&'m str>,
    alg: Option<BareItem<'m>>,
    /// `keyid` parsed, when the policy wants a shard ID.
    shard_id: Option<ShardId>,
    components: usize,
}

impl<'m> Meta<'m> {
    /// Reads the parameters in one pass. Every failure is the same error, so the checks may
    /// run in any order: a second `created`…`alg` finds its field already set and fails as a
    /// wrong type would; only a repeated parameter RFC 9421 does not define needs the
    /// general duplicate check, run only when there is one.
    fn read(params: &Params<'m>, allow_unknown: bool) -> Result<Meta<'m>, VerifyError> {
        let mut m = Meta::default();
        let mut unknown = false;
        for (key, value) in params.iter() {
            match (key, value) {
                ("created", BareItem::Integer(n)) if m.created.is_none() => m.created = Some(n),
                ("expires", BareItem::Integer(n)) if m.expires.is_none() => m.expires = Some(n),
                ("nonce", BareItem::String(s)) if m.nonce.is_none() => m.nonce = Some(s),
                ("keyid", BareItem::String(s)) if m.keyid.is_none() => m.keyid = Some(s),
                ("tag", BareItem::String(s)) if m.tag.is_none() => m.tag = Some(s),
                ("alg", v @ BareItem::String(_)) if m.alg.is_none() => m.alg = Some(v),
                ("created" | "expires" | "nonce" | "keyid" | "tag" | "alg", _) => {
                    return Err(VerifyError::InvalidParams);
                }
                _ if allow_unknown => unknown = true,
                _ => return Err(VerifyError::InvalidParams),
            }
        }
        if unknown && params.has_duplicates() {
            return Err(VerifyError::InvalidParams);
        }
        Ok(m)
    }
}

fn check_freshness(p: &Policy<'_>, m: &Meta<'_>, now: u64) -> Result<(), VerifyError> {
    let now = i128::from(now);
    let skew = i128::from(p.max_skew);
    match m.created {
        None if p.require_created || p.max_age.is_some() => {
            return Err(VerifyError::CreatedMissing);
        }
        None => {}
        Some(created) => {
            let created = i128::from(created);
            if created > now + skew {
                return Err(VerifyError::CreatedInFuture);
            }
            if let Some(max_age) = p.max_age
                && now > created + i128::from(max_age) + skew
            {
                return Err(VerifyError::TooOld);
            }
        }
    }
    match m.expires {
        None if p.require_expires => return Err(VerifyError::ExpiresMissing),
        None => {}
        Some(expires) => {
            if m.created.is_some_and(|c| expires < c) {
                return Err(VerifyError::InvalidParams);
            }
            if now > i128::from(expires) + skew {
                return Err(VerifyError::Expired);
            }
        }
    }
    Ok(())
}

/// Until when a nonce must be remembered: the moment the signature stops passing the
/// freshness checks. Without any time bound it is remembered for good.
fn keep_until(p: &Policy<'_>, m: &Meta<'_>) -> u64 {
    let skew = i128::from(p.max_skew);
    let by_age = m
        .created
        .zip(p.max_age)
        .map(|(c, a)| i128::from(c) + i128::from(a) + skew);
    let by_expiry = m.expires.map(|e| i128::from(e) + skew);
    let bound = match (by_age, by_expiry) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => i128::from(u64::MAX),
    };
    u64::try_from(bound.max(0)).unwrap_or(u64::MAX)
}

/// The number of characters a string's escaped content stands for (`\"` is one).
fn unescaped_len(escaped: &str) -> usize {
    let mut bytes = escaped.bytes();
    let mut n = 0;
    while let Some(b) = bytes.next() {
        if b == b'\\' {
            bytes.next();
        }
        n += 1;
    }
    n
}

/// A dictionary field (`Signature-Input`, `Signature`) whose lines all parsed. A field on
/// one line — what every sender writes — keeps its parsed dictionary, so finding the label
/// does not parse it again; the lines of a field on several are parsed again when read
/// (validated already, so with the same result).
struct DictField<'m, F: Fields + ?Sized> {
    fields: &'m F,
    name: &'static str,
    one: Option<Dictionary<'m>>,
}

impl<'m, F: Fields + ?Sized> DictField<'m, F> {
    /// Parses every line of the field named `name`: the first that does not parse is the
    /// error.
    fn validate(fields: &'m F, name: &'static str) -> Result<Self, VerifyError> {
        let mut one = None;
        for (i, line) in fields.values(name).enumerate() {
            let dict = parse_dict(line)?;
            one = (i == 0).then_some(dict);
        }
        Ok(DictField { fields, name, one })
    }

    /// The dictionary of each line, in order.
    fn dicts(&self) -> impl Iterator<Item = Result<Dictionary<'m>, VerifyError>> + '_ {
        let lines = self
            .one
            .is_none()
            .then(|| self.fields.values(self.name).map(parse_dict));
        self.one
            .map(Ok)
            .into_iter()
            .chain(lines.into_iter().flatten())
    }
}

/// The one label in `Signature-Input`, when there is exactly one.
fn only_label<'m, F: Fields + ?Sized>(inputs: &DictField<'m, F>) -> Result<&'m str, VerifyError> {
    let mut found: Option<&str> = None;
    let mut any_line = false;
    for dict in inputs.dicts() {
        any_line = true;
        for (label, _) in dict?.iter() {
            match found {
                Some(f) if f != label => return Err(VerifyError::Ambiguous),
                _ => found = Some(label),
            }
        }
    }
    if !any_line {
        return Err(VerifyError::Missing);
    }
    found.ok_or(VerifyError::Missing)
}

/// The member `label` of a dictionary field spread over any number of lines. A label that
/// appears twice is refused: RFC 8941 would take the last, but a sender never needs to
/// repeat one, and an intermediary that appends a second is not to be trusted with choosing.
fn find_member<'m, F: Fields + ?Sized>(
    field: &DictField<'m, F>,
    label: &str,
) -> Result<(&'m str, Member<'m>), VerifyError> {
    let mut found = None;
    let mut any_line = false;
    for dict in field.dicts() {
        any_line = true;
        for (k, m) in dict?.iter() {
            if k == label {
                if found.is_some() {
                    return Err(VerifyError::Ambiguous);
                }
                found = Some((k, m));
            }
        }
    }
    if !any_line {
        return Err(VerifyError::Missing);
    }
    found.ok_or(VerifyError::LabelNotFound)
}

fn parse_dict(line: &[u8]) -> Result<Dictionary<'_>, VerifyError> {
    // Bytes that are not UTF-8 are not ASCII either, so not RFC 8941 text: a syntax error.
    let text = core::str::from_utf8(line).map_err(|e| {
        VerifyError::Syntax(SfError::Syntax {
            at: e.valid_up_to(),
        })
    })?;
    Dictionary::parse(text).map_err(VerifyError::Syntax)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::format;
    use std::string::String;
    use std::vec::Vec;

    /// How `Meta::read` is defined: no repeated parameter, then each one typed.
    type Read<'a> = (Option<i64>, Option<i64>, Option<&'a str>, Option<&'a str>);

    fn read_after_duplicate_check<'a>(
        params: &Params<'a>,
        allow_unknown: bool,
    ) -> Result<Read<'a>, ()> {
        if params.has_duplicates() {
            return Err(());
        }
        let mut m = (None, None, None, None);
        for (key, value) in params.iter() {
            match (key, value) {
                ("created", BareItem::Integer(n)) => m.0 = Some(n),
                ("expires", BareItem::Integer(n)) => m.1 = Some(n),
                ("nonce", BareItem::String(s)) => m.2 = Some(s),
                ("keyid", BareItem::String(s)) => m.3 = Some(s),
                ("tag" | "alg", BareItem::String(_)) => {}
                ("created" | "expires" | "nonce" | "keyid" | "tag" | "alg", _) => return Err(()),
                _ if allow_unknown => {}
                _ => return Err(()),
            }
        }
        Ok(m)
    }

    /// Every sequence of up to `len` picks from `pool`, repeats allowed or not.
    fn sequences<'a>(pool: &[&'a str], len: usize, repeats: bool) -> Vec<Vec<&'a str>> {
        let mut out = std::vec![Vec::new()];
        let mut last = std::vec![Vec::new()];
        for _ in 0..len {
            let mut grown = Vec::new();
            for seq in &last {
                for p in pool {
                    if repeats || !seq.contains(p) {
                        let mut s: Vec<&str> = seq.clone();
                        s.push(p);
                        grown.push(s);
                    }
                }
            }
            out.extend(grown.iter().cloned());
            last = grown;
        }
        out
    }

    #[test]
    fn one_pass_parameters_read_as_after_a_duplicate_check() {
        let pool = [
            "created=1",
            "created=\"1\"",
            "expires=2",
            "nonce=\"n\"",
            "keyid=\"k\"",
            "keyid=3",
            "tag=\"t\"",
            "alg=\"ed25519\"",
            "alg=?1",
            "foo=1",
            "foo",
            "bar=\"x\"",
        ];
        for seq in sequences(&pool, 4, true) {
            let text: String = seq.iter().map(|p| format!(";{p}")).collect();
            let full = format!("a{text}");
            let item = sf::parse_item(&full).unwrap();
            for allow_unknown in [false, true] {
                let got = Meta::read(&item.params, allow_unknown)
                    .map(|m| (m.created, m.expires, m.nonce, m.keyid))
                    .map_err(|e| assert_eq!(e, VerifyError::InvalidParams));
                let want = read_after_duplicate_check(&item.params, allow_unknown);
                assert_eq!(got, want, "{text} {allow_unknown}");
            }
        }
    }

    /// How `check_coverage` is defined: every identifier parsed again for every question.
    fn coverage_by_reparsing<F: Fields + ?Sized>(
        p: &Policy<'_>,
        list: &InnerList<'_>,
        fields: &F,
    ) -> Result<(), VerifyError> {
        let required =
            sf::parse_inner_list_items(p.required).map_err(|_| VerifyError::Malformed)?;
        let conditional = sf::parse_inner_list_items(p.required_if_present)
            .map_err(|_| VerifyError::Malformed)?;
        let covered = |want: &Component<'_>| {
            list.items()
                .filter_map(|i| Component::parse(i).ok())
                .any(|c| c.same_as(want))
        };
        for item in required.items() {
            let want = Component::parse(item).map_err(VerifyError::Base)?;
            if !covered(&want) {
                return Err(VerifyError::ComponentNotCovered);
            }
        }
        for item in conditional.items() {
            let want = Component::parse(item).map_err(VerifyError::Base)?;
            let present = want.field_name().is_some_and(|f| fields.contains(f));
            if present && !covered(&want) {
                return Err(VerifyError::ComponentNotCovered);
            }
            if !present && covered(&want) && p.only_listed {
                return Err(VerifyError::Base(BaseError::MissingComponent));
            }
        }
        if p.only_listed {
            for item in list.items() {
                let c = Component::parse(item).map_err(VerifyError::Base)?;
                let listed = required
                    .items()
                    .chain(conditional.items())
                    .filter_map(|i| Component::parse(i).ok())
                    .any(|w| w.same_as(&c));
                if !listed {
                    return Err(VerifyError::ComponentNotAllowed);
                }
            }
        }
        Ok(())
    }

    #[test]
    fn coverage_by_position_answers_as_reparsing() {
        let pool = [
            "\"@method\"",
            "\"@path\"",
            "\"content-type\"",
            "\"content-digest\"",
            "\"content-digest\";bs",
            "\"x\"",
            "\"@query-param\";name=\"a\"",
            "\"content-type\";req",
        ];
        let required = [
            "",
            "\"@method\"",
            "\"@method\" \"@path\"",
            "\"@method\" \"@method\"",
            "\"content-digest\";bs \"@path\"",
            "\"@query-param\";name=\"a\"",
            "\"@bogus\"",
        ];
        let conditional = [
            "",
            "\"content-type\"",
            "\"content-type\" \"x\"",
            "\"@method\"",
            "\"x\" \"x\"",
            "\"content-type\" \"@path\"",
        ];
        let with_type = [("Content-Type", "a/b"), ("X", "1")];
        let without = [("X-Other", "1")];
        let mut compared = 0;
        for seq in sequences(&pool, 3, false) {
            let text = format!("({})", seq.join(" "));
            let list = sf::parse_inner_list(&text).unwrap();
            let Ok(components) = Components::check(&list) else {
                continue;
            };
            for (r, c, only_listed) in required
                .iter()
                .flat_map(|r| conditional.iter().map(move |c| (r, c)))
                .flat_map(|(r, c)| [(r, c, false), (r, c, true)])
            {
                let v = Verifier::new(Policy {
                    required: r,
                    required_if_present: c,
                    only_listed,
                    ..Policy::RFC9421
                });
                for fields in [&with_type[..], &without[..]] {
                    assert_eq!(
                        v.check_coverage(&components, fields),
                        coverage_by_reparsing(&v.policy, &list, fields),
                        "{text} required {r} if present {c} only {only_listed} {fields:?}"
                    );
                    compared += 1;
                }
            }
        }
        assert!(compared > 10_000, "{compared}");
    }
}
