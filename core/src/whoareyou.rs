//! The signed `whoareyou` document: how a shard learns a peer's key, name and domain.
//!
//! `GET /core/public/meta/whoareyou` returns JSON with the shard's `id`, `short_id`, `name`,
//! `domain` and `public_key_pem`. The key alone needs no signature — the receiver checks that
//! it derives the full ID it asked for — but the name and domain do: a man in the middle could
//! otherwise rename a peer or redirect its traffic. So the answer is signed like a profile
//! response, by the key it carries, over `@status`, `content-digest` and `content-type`, with
//! `tag="shardpeer/1/whoareyou"`. Nothing binds it to a request (anyone may ask), so freshness
//! comes from `created`/`expires` alone; a replayed document is at most five minutes old and
//! says what the shard said then.
//!
//! # Driving contract
//! Server: serialise the document, add `Content-Type: application/json` and its
//! `Content-Digest`, then [`sign()`] and add the two fields. Client: parse the JSON, build the
//! [`PublicKey`] from `public_key_pem`, check `expected_id.is_id_of(&key)`, then verify with
//! [`verifier`] and check the body against the returned digest.

use crate::identity::{Identity, PublicKey};
use crate::message::{Fields, Response};
use crate::profile::{self, LABEL};
use crate::sign::{self, SignError, SignedFields};
use crate::verify::{Policy, Verifier};

/// `tag` of a whoareyou signature.
pub const TAG: &str = "shardpeer/1/whoareyou";
/// Components a whoareyou signature covers.
pub const COMPONENTS: &str = r#""@status" "content-digest" "content-type""#;

/// Signs a whoareyou response (status, `Content-Digest` and `Content-Type` already set).
pub fn sign<F: Fields + ?Sized>(
    identity: &Identity,
    status: u16,
    fields: &F,
    now: u64,
    base_buf: &mut [u8],
) -> Result<SignedFields, SignError> {
    let id = identity.id();
    let params = profile::params(&id, now, None, TAG)?;
    let response: Response<'_, F, F> = Response {
        status,
        fields,
        request: None,
    };
    sign::sign_response(identity, LABEL, COMPONENTS, &params, &response, base_buf)
}

/// The policy for a whoareyou answer from the shard `expected_id` (full ID).
pub fn policy(expected_id: &str) -> Policy<'_> {
    profile::policy(COMPONENTS, "", 0, Some(expected_id), TAG)
}

/// A verifier for a whoareyou answer from `expected_id`; use it with the key from the
/// document as the [`crate::verify::KeySource`] (it is refused unless it derives that ID).
pub fn verifier(expected_id: &str) -> Verifier<'_> {
    Verifier::new(policy(expected_id))
}

/// The key a whoareyou document must carry to be the one of `expected_id`.
pub fn key_matches(expected_id: &crate::id::ShardId, key: &PublicKey) -> bool {
    expected_id.is_id_of(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::{Digest, DigestAlg};
    use crate::replay::FixedReplayCache;

    #[test]
    fn signed_document_verifies_only_for_its_id() {
        let me = Identity::from_seed([5; 32]).unwrap();
        let other = Identity::from_seed([6; 32]).unwrap();
        let body = br#"{"id":"x"}"#;
        let digest = Digest::of(DigestAlg::Sha256, body).header_value();
        let fields = [
            ("Content-Type", "application/json"),
            ("Content-Digest", digest.as_str()),
        ];
        let mut buf = [0u8; 512];
        let s = sign(&me, 200, &fields, 1000, &mut buf).unwrap();
        let signed = [
            ("Content-Type", "application/json"),
            ("Content-Digest", digest.as_str()),
            ("Signature-Input", s.signature_input.as_str()),
            ("Signature", s.signature.as_str()),
        ];
        let resp: Response<'_, _, [(&str, &str); 0]> = Response {
            status: 200,
            fields: &signed,
            request: None,
        };
        let id = me.id();
        let mut cache = FixedReplayCache::<2>::new();
        let v = verifier(id.as_str())
            .verify_response(&resp, &me.public_key(), &mut cache, 1001, &mut buf)
            .unwrap();
        assert!(v.content_digest.unwrap().check_body(body).is_ok());
        let other_id = other.id();
        assert!(
            verifier(other_id.as_str())
                .verify_response(&resp, &me.public_key(), &mut cache, 1001, &mut buf)
                .is_err()
        );
        assert!(
            verifier(id.as_str())
                .verify_response(&resp, &me.public_key(), &mut cache, 1000 + 400, &mut buf)
                .is_err(),
            "stale"
        );
        assert!(key_matches(&id, &me.public_key()));
        assert!(!key_matches(&id, &other.public_key()));
    }
}
