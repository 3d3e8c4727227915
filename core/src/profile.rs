//! The shardpeer profile of RFC 9421: what a shard signs, and what it accepts from a peer.
//!
//! A profile signature is an ordinary RFC 9421 `ed25519` signature — any correct RFC 9421
//! implementation verifies it given the public key — with these rules on top (normative text
//! in `docs/protocol.md`):
//!
//! * one signature, label [`LABEL`];
//! * a request covers exactly `@method`, `@authority`, `@path`, `@query`, `content-digest`,
//!   plus `content-type` when the request has one. Not `@scheme` or `@target-uri`: a
//!   gateway behind a TLS terminator cannot know the scheme;
//! * parameters `created`, `expires` (= `created` + [`MAX_AGE`]), `nonce` (at least
//!   [`MIN_NONCE_LEN`] characters, 128 random bits), `keyid` = the sender's full shard ID,
//!   `alg="ed25519"`, `tag` = [`REQUEST_TAG`]; no others;
//! * the receiver accepts `created` no older than [`MAX_AGE`] and no further in the future
//!   than [`MAX_SKEW`], refuses a `(keyid, nonce)` it has seen, knows the sender's key from
//!   its own peers list (pinned when the peer was added), and checks that the key hashes to
//!   the full ID in `keyid`;
//! * a response covers `@status`, `content-digest`, `content-type` when present, and the
//!   request's signature (`"signature";req;key="shardpeer"`), which binds it to the one
//!   request it answers; `tag` = [`RESPONSE_TAG`], `keyid` = the responder's full ID, no nonce.

use crate::identity::Identity;
use crate::message::{Fields, FieldsExt, Request, Response};
use crate::sign::{self, SignError, SignatureParams, SignedFields};
use crate::verify::{Policy, Verifier};

/// The signature label, for requests and responses.
pub const LABEL: &str = "shardpeer";
/// `tag` of a request signature: protocol and version.
pub const REQUEST_TAG: &str = "shardpeer/1";
/// `tag` of a response signature. Distinct from the request's, so neither can stand in for
/// the other.
pub const RESPONSE_TAG: &str = "shardpeer/1/response";
/// Largest accepted age of `created`, in seconds (5 minutes).
pub const MAX_AGE: u64 = 300;
/// Tolerated clock difference between shards, in seconds.
pub const MAX_SKEW: u64 = 60;
/// Shortest accepted nonce: 22 base64url characters carry 128 bits.
pub const MIN_NONCE_LEN: usize = 22;
/// Components every request signature covers.
pub const REQUEST_COMPONENTS: &str = r#""@method" "@authority" "@path" "@query" "content-digest""#;
/// Components every response signature covers.
pub const RESPONSE_COMPONENTS: &str =
    r#""@status" "content-digest" "signature";req;key="shardpeer""#;
/// Covered exactly when the message has the field.
pub const IF_PRESENT: &str = r#""content-type""#;

/// The parameters every shardpeer signature carries, in the profile's order: `created`,
/// `expires` (= `created` + [`MAX_AGE`]), `nonce` when given, `keyid` = the signer's full ID,
/// `alg="ed25519"`, `tag`.
pub(crate) fn params<'a>(
    id: &'a crate::id::ShardId,
    now: u64,
    nonce: Option<&'a str>,
    tag: &'a str,
) -> Result<SignatureParams<'a>, SignError> {
    let created = i64::try_from(now).map_err(|_| SignError::InvalidParam)?;
    Ok(SignatureParams {
        created: Some(created),
        expires: Some(created.saturating_add(MAX_AGE as i64)),
        nonce,
        keyid: Some(id.as_str()),
        alg: true,
        tag: Some(tag),
    })
}

/// A profile policy: exactly `required` (plus `if_present` fields when present), `created`
/// within [`MAX_AGE`] and [`MAX_SKEW`], `keyid` a canonical full shard ID whose key is the
/// one known for it, the given `tag`, no parameters outside RFC 9421.
pub(crate) const fn policy<'p>(
    required: &'p str,
    if_present: &'p str,
    min_nonce_len: usize,
    expected_keyid: Option<&'p str>,
    tag: &'p str,
) -> Policy<'p> {
    Policy {
        label: Some(LABEL),
        required,
        required_if_present: if_present,
        only_listed: true,
        require_created: true,
        max_age: Some(MAX_AGE),
        max_skew: MAX_SKEW,
        require_expires: false,
        min_nonce_len,
        expected_keyid,
        keyid_is_shard_id: true,
        expected_tag: Some(tag),
        allow_unknown_params: false,
        check_content_digest: true,
    }
}

/// Turns 16 random bytes (from the caller's RNG: the core has none) into a nonce.
pub fn nonce_from_random(random: &[u8; 16]) -> heapless::String<24> {
    use base64::Engine as _;
    let mut buf = [0u8; 24];
    let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode_slice(random, &mut buf)
        .unwrap_or(0);
    let mut out = heapless::String::new();
    for b in buf.iter().take(n) {
        let _ = out.push(char::from(*b));
    }
    out
}

fn components_for<F: Fields + ?Sized>(
    base: &str,
    fields: &F,
) -> heapless::String<{ sign::MAX_SIGNATURE_INPUT }> {
    let mut s = heapless::String::new();
    // Both constants are far below the capacity.
    let _ = s.push_str(base);
    if fields.contains("content-type") {
        let _ = s.push(' ');
        let _ = s.push_str(IF_PRESENT);
    }
    s
}

/// Signs a request a shard sends to a peer. The request must already carry its
/// `Content-Digest` (see [`crate::digest::Digest::header_value`]); `nonce` comes from
/// [`nonce_from_random`].
pub fn sign_request<F: Fields + ?Sized>(
    identity: &Identity,
    request: &Request<'_, F>,
    now: u64,
    nonce: &str,
    base_buf: &mut [u8],
) -> Result<SignedFields, SignError> {
    if nonce.len() < MIN_NONCE_LEN {
        return Err(SignError::InvalidParam);
    }
    let id = identity.id();
    let params = params(&id, now, Some(nonce), REQUEST_TAG)?;
    let components = components_for(REQUEST_COMPONENTS, request.fields);
    sign::sign_request(identity, LABEL, &components, &params, request, base_buf)
}

/// Signs a response to a peer's request; `response.request` must be that request, with its
/// `Signature` field.
pub fn sign_response<F: Fields + ?Sized, G: Fields + ?Sized>(
    identity: &Identity,
    response: &Response<'_, F, G>,
    now: u64,
    base_buf: &mut [u8],
) -> Result<SignedFields, SignError> {
    let id = identity.id();
    let params = params(&id, now, None, RESPONSE_TAG)?;
    let components = components_for(RESPONSE_COMPONENTS, response.fields);
    sign::sign_response(identity, LABEL, &components, &params, response, base_buf)
}

/// The policy a gateway applies to a peer's request. The [`crate::verify::KeySource`] it is
/// used with answers from the peers list only: that is the "both have added each other" rule.
pub const REQUEST_POLICY: Policy<'static> = policy(
    REQUEST_COMPONENTS,
    IF_PRESENT,
    MIN_NONCE_LEN,
    None,
    REQUEST_TAG,
);

/// The policy a caller applies to the response of the peer `peer_id` (its full ID).
pub fn response_policy(peer_id: &str) -> Policy<'_> {
    policy(
        RESPONSE_COMPONENTS,
        IF_PRESENT,
        0,
        Some(peer_id),
        RESPONSE_TAG,
    )
}

/// A verifier for peers' requests with the default backend.
pub const fn request_verifier() -> Verifier<'static> {
    Verifier::new(REQUEST_POLICY)
}

/// A verifier for the response of the peer `peer_id`, with the default backend.
pub fn response_verifier(peer_id: &str) -> Verifier<'_> {
    Verifier::new(response_policy(peer_id))
}
