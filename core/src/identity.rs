//! Ed25519 keys: a shard's [`Identity`] (its private key) and the [`PublicKey`]s of peers.
//!
//! # Design
//! A [`PublicKey`] can only be built from bytes that pass the protocol's Ed25519 validity rule
//! ([`check_public_key`]), so a stored peer key is always one that can verify signatures; a
//! bad key is refused when a user gives it ([`KeyError::KeyRejected`], 422), not later on every
//! request.
//!
//! An [`Identity`] is made from a 32-byte seed the caller supplies: the core never reads
//! randomness. Keys travel as PEM (SubjectPublicKeyInfo, PKCS#8) in the exact forms of
//! RFC 8410 (`docs/protocol.md`, "Key encodings") or as raw hex for tools. Signing is
//! deterministic Ed25519 (RFC 8032, no added noise), so the RFC 9421 examples reproduce byte
//! for byte.
//!
//! The seed is wiped when an [`Identity`] is dropped (through ed25519-compact's volatile wipe)
//! and never printed by `Debug`. Copies the caller made, or that the compiler left on the
//! stack, are out of reach: this is best effort.

use crate::ed25519::{SignatureRuleError, check_public_key};
use crate::id::ShardId;
use crate::pem;
use crate::wire::wire_error;

/// Why a key could not be read or was refused.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// The text is over 4 KiB.
    InputTooLarge,
    /// No well-formed `-----BEGIN …-----` / `-----END …-----` frame.
    PemMalformed,
    /// A PEM block with another label (e.g. a private key where a public key was expected).
    PemWrongLabel,
    /// Something other than whitespace after the `-----END …-----` line.
    PemTrailingData,
    /// The PEM body is not valid base64.
    Base64,
    /// The DER is not an Ed25519 key in one of the RFC 8410 forms accepted.
    DerUnsupported,
    /// A PKCS#8 v2 key whose embedded public key is not the seed's.
    KeyMismatch,
    /// Not 64 hex digits.
    Hex,
    /// The all-zero seed: almost certainly an uninitialised buffer or a failed random source,
    /// and a key everyone can compute.
    ZeroSeed,
    /// The public key fails the Ed25519 validity rule.
    KeyRejected {
        /// Which part of the rule it fails.
        reason: SignatureRuleError,
    },
}

wire_error!(KeyError {
    KeyError::InputTooLarge => (422, "key_input_too_large", "key text is over {} bytes", pem::MAX_PEM_LEN),
    KeyError::PemMalformed => (422, "key_pem_malformed", "not a single well-formed PEM block"),
    KeyError::PemWrongLabel => (422, "key_pem_wrong_label", "PEM block has the wrong label"),
    KeyError::PemTrailingData => (422, "key_pem_trailing_data", "unexpected data after the PEM block"),
    KeyError::Base64 => (422, "key_base64", "PEM body is not valid base64"),
    KeyError::DerUnsupported => (422, "key_der_unsupported", "only Ed25519 keys in RFC 8410 form are supported"),
    KeyError::KeyMismatch => (422, "key_mismatch", "the private key's embedded public key does not match its seed"),
    KeyError::Hex => (422, "key_hex", "expected 64 hex digits"),
    KeyError::ZeroSeed => (422, "key_zero_seed", "the all-zero seed is refused"),
    KeyError::KeyRejected { reason } => (422, "key_rejected", "public key rejected: {}", reason),
});

/// A peer's Ed25519 public key, checked against the protocol's validity rule.
#[derive(Copy, Clone, PartialEq, Eq, Hash)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// Accepts a key that passes [`check_public_key`]: canonical, and of prime order.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<PublicKey, KeyError> {
        check_public_key(&bytes).map_err(|reason| KeyError::KeyRejected { reason })?;
        Ok(PublicKey(bytes))
    }

    /// The 32-byte encoding (RFC 8032).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Reads a `-----BEGIN PUBLIC KEY-----` block (Ed25519 SubjectPublicKeyInfo).
    pub fn from_pem(text: &str) -> Result<PublicKey, KeyError> {
        let der = pem::decode(text, pem::PUBLIC_LABEL)?;
        PublicKey::from_bytes(pem::parse_spki(der.as_slice())?)
    }

    /// The key as PEM, in RFC 9421 B.1.4's form: header line, one base64 line, footer line,
    /// each ending in `\n`.
    pub fn to_pem(&self) -> heapless::String<128> {
        pem::spki_pem(&self.0)
    }

    /// Reads 64 hex digits (either case; surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<PublicKey, KeyError> {
        PublicKey::from_bytes(hex32(text)?)
    }

    /// This key's shard ID.
    pub fn id(&self) -> ShardId {
        ShardId::from_public_key(self)
    }
}

impl core::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("PublicKey(")?;
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

/// Parses exactly 64 hex digits.
fn hex32(text: &str) -> Result<[u8; 32], KeyError> {
    fn nibble(c: u8) -> Result<u8, KeyError> {
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(KeyError::Hex),
        }
    }
    let text = text.trim_ascii().as_bytes();
    if text.len() != 64 {
        return Err(KeyError::Hex);
    }
    let mut out = [0u8; 32];
    for (dst, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let [hi, lo] = pair else {
            return Err(KeyError::Hex);
        };
        *dst = (nibble(*hi)? << 4) | nibble(*lo)?;
    }
    Ok(out)
}

/// A shard's own Ed25519 key pair.
///
/// `Debug` shows the shard ID, never the seed.
pub struct Identity {
    seed: ed25519_compact::Seed,
    keypair: ed25519_compact::KeyPair,
    /// Derived once: every signature's `keyid` is the ID.
    id: ShardId,
    /// ring's expanded key (feature `ring`): the same signatures in half the time. `None`
    /// only if ring refused a seed ed25519-compact took, which it does not; then
    /// ed25519-compact signs.
    #[cfg(feature = "ring")]
    ring: Option<ring::signature::Ed25519KeyPair>,
}

impl Clone for Identity {
    fn clone(&self) -> Self {
        Identity {
            seed: self.seed,
            keypair: self.keypair.clone(),
            id: self.id,
            #[cfg(feature = "ring")]
            ring: ring_key(&self.seed),
        }
    }
}

#[cfg(feature = "ring")]
fn ring_key(seed: &[u8; 32]) -> Option<ring::signature::Ed25519KeyPair> {
    ring::signature::Ed25519KeyPair::from_seed_unchecked(seed).ok()
}

impl Identity {
    /// Derives the key pair from a 32-byte seed (RFC 8032 §5.1.5). The caller supplies the
    /// seed — from a random source when creating a shard, from storage afterwards.
    ///
    /// The all-zero seed is [`KeyError::ZeroSeed`]: its key is public knowledge, and a zero
    /// buffer is what a failed random source or a missing key file tends to leave.
    pub fn from_seed(seed: [u8; 32]) -> Result<Identity, KeyError> {
        let seed = ed25519_compact::Seed::new(seed);
        let keypair =
            ed25519_compact::KeyPair::try_from_seed(seed).map_err(|_| KeyError::ZeroSeed)?;
        // Derived from a seed, so of prime order: no rule check needed.
        let id = PublicKey(*keypair.pk).id();
        Ok(Identity {
            seed,
            keypair,
            id,
            #[cfg(feature = "ring")]
            ring: ring_key(&seed),
        })
    }

    /// Reads a seed as 64 hex digits (either case; surrounding whitespace ignored).
    pub fn from_seed_hex(text: &str) -> Result<Identity, KeyError> {
        let mut seed = hex32(text)?;
        let identity = Identity::from_seed(seed);
        seed.fill(0);
        core::hint::black_box(&mut seed);
        identity
    }

    /// The 32-byte seed, to store the key.
    pub fn seed(&self) -> &[u8; 32] {
        &self.seed
    }

    /// The public key.
    pub fn public_key(&self) -> PublicKey {
        // Derived from a seed, so of prime order: no rule check needed.
        PublicKey(*self.keypair.pk)
    }

    /// This shard's ID.
    pub fn id(&self) -> ShardId {
        self.id
    }

    /// Signs `msg` with deterministic Ed25519 (RFC 8032: the same bytes whichever backend
    /// signs).
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        #[cfg(feature = "ring")]
        if let Some(Ok(sig)) = self.ring.as_ref().map(|k| k.sign(msg).as_ref().try_into()) {
            return sig;
        }
        self.sign_portable(msg)
    }

    /// Signs with ed25519-compact whatever the features: the reference the `ring` path is
    /// tested against.
    pub fn sign_portable(&self, msg: &[u8]) -> [u8; 64] {
        *self.keypair.sk.sign(msg, None)
    }

    /// Reads a `-----BEGIN PRIVATE KEY-----` block (Ed25519 PKCS#8, v1 or v2).
    pub fn from_pkcs8_pem(text: &str) -> Result<Identity, KeyError> {
        let der = pem::decode(text, pem::PRIVATE_LABEL)?;
        Identity::from_pkcs8_der(der.as_slice())
    }

    /// The key as PKCS#8 v1 PEM, in RFC 9421 B.1.4's form.
    pub fn to_pkcs8_pem(&self) -> heapless::String<128> {
        pem::pkcs8_pem(&self.seed)
    }

    /// Reads an Ed25519 PKCS#8 v1 key, or a v2 key whose public key matches its seed.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Identity, KeyError> {
        let key = pem::parse_pkcs8(der)?;
        let identity = Identity::from_seed(key.seed)?;
        match key.public_key {
            Some(claimed) if claimed != *identity.keypair.pk => Err(KeyError::KeyMismatch),
            _ => Ok(identity),
        }
    }

    /// The key as PKCS#8 v1 DER (48 bytes).
    pub fn to_pkcs8_der(&self) -> [u8; 48] {
        pem::pkcs8_der(&self.seed)
    }
}

impl Drop for Identity {
    fn drop(&mut self) {
        // The key pair's secret half wipes itself.
        self.seed.wipe_mut();
    }
}

impl core::fmt::Debug for Identity {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Identity")
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    extern crate alloc;
    use super::*;
    use crate::ed25519::{CompactBackend, PointRole, verify_with};

    /// With the `ring` feature, signing goes through ring: the bytes must be
    /// ed25519-compact's (RFC 8032 signatures are deterministic).
    #[test]
    fn ring_and_compact_sign_alike() {
        for seed in 1u8..=8 {
            let id = Identity::from_seed([seed; 32]).unwrap();
            let clone = id.clone();
            for len in [0usize, 1, 31, 64, 300, 1000] {
                let msg: [u8; 1000] = core::array::from_fn(|i| (i as u8).wrapping_mul(seed));
                let msg = &msg[..len];
                assert_eq!(
                    id.sign(msg),
                    id.sign_portable(msg),
                    "seed {seed}, {len} bytes"
                );
                assert_eq!(clone.sign(msg), id.sign_portable(msg));
            }
            assert_eq!(clone.id(), id.public_key().id());
        }
    }
    use alloc::format;
    use alloc::string::String;

    const RFC_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----\n\
        MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=\n\
        -----END PUBLIC KEY-----\n";
    const RFC_PRIVATE_PEM: &str = "-----BEGIN PRIVATE KEY-----\n\
        MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n\
        -----END PRIVATE KEY-----\n";
    const RFC_SEED: &str = "9f8362f87a484a954e6e740c5b4c0e84229139a20aa8ab56ff66586f6a7d29c5";
    const RFC_PUBLIC: &str = "26b40b8f93fff3d897112f7ebc582b232dbd72517d082fe83cfb30ddce43d1bb";

    fn bytes32(s: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).unwrap();
        out
    }

    #[test]
    fn rfc9421_b14_private_key() {
        let id = Identity::from_pkcs8_pem(RFC_PRIVATE_PEM).unwrap();
        assert_eq!(id.seed(), &bytes32(RFC_SEED));
        assert_eq!(id.public_key().as_bytes(), &bytes32(RFC_PUBLIC));
        assert_eq!(id.to_pkcs8_pem().as_str(), RFC_PRIVATE_PEM);
        let from_seed = Identity::from_seed(bytes32(RFC_SEED)).unwrap();
        assert_eq!(from_seed.to_pkcs8_pem().as_str(), RFC_PRIVATE_PEM);
        assert_eq!(from_seed.public_key().to_pem().as_str(), RFC_PUBLIC_PEM);
        let der = from_seed.to_pkcs8_der();
        assert_eq!(
            Identity::from_pkcs8_der(&der).unwrap().seed(),
            from_seed.seed()
        );
    }

    #[test]
    fn rfc9421_b14_public_key() {
        let pk = PublicKey::from_pem(RFC_PUBLIC_PEM).unwrap();
        assert_eq!(pk.as_bytes(), &bytes32(RFC_PUBLIC));
        assert_eq!(pk.to_pem().as_str(), RFC_PUBLIC_PEM);
        assert_eq!(PublicKey::from_hex(RFC_PUBLIC), Ok(pk));
        assert_eq!(
            PublicKey::from_hex(&RFC_PUBLIC.to_ascii_uppercase()),
            Ok(pk)
        );
        let id = Identity::from_seed_hex(&format!(" {}\n", RFC_SEED.to_ascii_uppercase())).unwrap();
        assert_eq!(id.public_key(), pk);
        assert_eq!(id.id(), pk.id());
    }

    #[test]
    fn signs_deterministically_and_verifies() {
        let id = Identity::from_seed(bytes32(RFC_SEED)).unwrap();
        let sig = id.sign(b"hello");
        assert_eq!(sig, id.sign(b"hello"));
        let pk = id.public_key();
        assert_eq!(verify_with(&CompactBackend, &pk, b"hello", &sig), Ok(()));
        assert!(verify_with(&CompactBackend, &pk, b"hellp", &sig).is_err());
    }

    #[test]
    fn debug_hides_the_seed() {
        let id = Identity::from_seed([0x42; 32]).unwrap();
        let text = format!("{id:?}");
        assert!(text.contains(id.id().as_str()), "{text}");
        assert!(!text.contains("42, 42") && !text.contains("4242"), "{text}");
    }

    #[test]
    fn zero_seed_refused() {
        assert_eq!(
            Identity::from_seed([0; 32]).unwrap_err(),
            KeyError::ZeroSeed
        );
    }

    #[test]
    fn pem_framing() {
        let crlf = RFC_PUBLIC_PEM.replace('\n', "\r\n");
        assert!(PublicKey::from_pem(&crlf).is_ok());
        let spaced = format!("\n\n  {RFC_PUBLIC_PEM}  \n");
        assert!(PublicKey::from_pem(&spaced).is_ok());
        // Body split over short lines.
        let split = RFC_PUBLIC_PEM.replace("AyEA", "AyEA\n");
        assert!(PublicKey::from_pem(&split).is_ok());

        assert_eq!(
            PublicKey::from_pem(RFC_PRIVATE_PEM),
            Err(KeyError::PemWrongLabel)
        );
        assert_eq!(
            Identity::from_pkcs8_pem(RFC_PUBLIC_PEM).unwrap_err(),
            KeyError::PemWrongLabel
        );
        let junk = format!("{RFC_PUBLIC_PEM}x");
        assert_eq!(PublicKey::from_pem(&junk), Err(KeyError::PemTrailingData));
        let two = format!("{RFC_PUBLIC_PEM}{RFC_PUBLIC_PEM}");
        assert_eq!(PublicKey::from_pem(&two), Err(KeyError::PemTrailingData));
        let preamble = format!("key:\n{RFC_PUBLIC_PEM}");
        assert_eq!(PublicKey::from_pem(&preamble), Err(KeyError::PemMalformed));
        let no_end = RFC_PUBLIC_PEM.replace("-----END PUBLIC KEY-----", "");
        assert_eq!(PublicKey::from_pem(&no_end), Err(KeyError::PemMalformed));
        let other_end = RFC_PUBLIC_PEM.replace("END PUBLIC", "END PRIVATE");
        assert_eq!(PublicKey::from_pem(&other_end), Err(KeyError::PemMalformed));
        let bad_b64 = RFC_PUBLIC_PEM.replace("AyEA", "Ay!A");
        assert_eq!(PublicKey::from_pem(&bad_b64), Err(KeyError::Base64));
        let bad_pad = RFC_PUBLIC_PEM.replace("0bs=", "0bs");
        assert_eq!(PublicKey::from_pem(&bad_pad), Err(KeyError::Base64));
        let big = format!("{RFC_PUBLIC_PEM}{}", " ".repeat(4096));
        assert_eq!(PublicKey::from_pem(&big), Err(KeyError::InputTooLarge));
        let long_body = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            "A".repeat(200)
        );
        assert_eq!(
            PublicKey::from_pem(&long_body),
            Err(KeyError::DerUnsupported)
        );
        assert_eq!(PublicKey::from_pem(""), Err(KeyError::PemMalformed));
    }

    fn pem_of(label: &str, der: &[u8]) -> String {
        use base64::Engine as _;
        let mut buf = [0u8; 128];
        let n = base64::engine::general_purpose::STANDARD
            .encode_slice(der, &mut buf)
            .unwrap();
        let b64 = core::str::from_utf8(&buf[..n]).unwrap();
        format!("-----BEGIN {label}-----\n{b64}\n-----END {label}-----\n")
    }

    #[test]
    fn der_forms() {
        let id = Identity::from_seed(bytes32(RFC_SEED)).unwrap();
        let pk = *id.public_key().as_bytes();
        // PKCS#8 v2 with the matching public key.
        let mut v2 = hex::decode("3051020101300506032b657004220420").unwrap();
        v2.extend_from_slice(id.seed());
        v2.extend_from_slice(&[0x81, 0x21, 0x00]);
        v2.extend_from_slice(&pk);
        assert_eq!(Identity::from_pkcs8_der(&v2).unwrap().seed(), id.seed());
        assert!(Identity::from_pkcs8_pem(&pem_of("PRIVATE KEY", &v2)).is_ok());
        // ... and with another key.
        let last = v2.len() - 1;
        v2[last] ^= 1;
        assert_eq!(
            Identity::from_pkcs8_der(&v2).unwrap_err(),
            KeyError::KeyMismatch
        );
        // Truncated, extended, other algorithm (X25519, OID 1.3.101.110).
        let v1 = id.to_pkcs8_der();
        assert_eq!(
            Identity::from_pkcs8_der(&v1[..47]).unwrap_err(),
            KeyError::DerUnsupported
        );
        let mut longer = v1.to_vec();
        longer.push(0);
        assert_eq!(
            Identity::from_pkcs8_der(&longer).unwrap_err(),
            KeyError::DerUnsupported
        );
        let mut x25519 = v1;
        x25519[11] = 0x6e;
        assert_eq!(
            Identity::from_pkcs8_der(&x25519).unwrap_err(),
            KeyError::DerUnsupported
        );
        let mut spki = crate::pem::spki_der(&pk).to_vec();
        spki[9] = 0x6e;
        assert_eq!(
            PublicKey::from_pem(&pem_of("PUBLIC KEY", &spki)),
            Err(KeyError::DerUnsupported)
        );
        spki.truncate(43);
        assert_eq!(
            PublicKey::from_pem(&pem_of("PUBLIC KEY", &spki)),
            Err(KeyError::DerUnsupported)
        );
    }

    #[test]
    fn rejected_keys_and_hex() {
        // The identity point: small order.
        let mut identity_point = [0u8; 32];
        identity_point[0] = 1;
        assert_eq!(
            PublicKey::from_bytes(identity_point),
            Err(KeyError::KeyRejected {
                reason: SignatureRuleError::SmallOrderPoint {
                    point: PointRole::PublicKey
                }
            })
        );
        let pem = pem_of("PUBLIC KEY", &crate::pem::spki_der(&identity_point));
        assert!(matches!(
            PublicKey::from_pem(&pem),
            Err(KeyError::KeyRejected { .. })
        ));
        assert_eq!(PublicKey::from_hex(&RFC_PUBLIC[..62]), Err(KeyError::Hex));
        assert_eq!(
            PublicKey::from_hex(&RFC_PUBLIC.replace('b', "g")),
            Err(KeyError::Hex)
        );
        assert_eq!(Identity::from_seed_hex("zz").unwrap_err(), KeyError::Hex);
        assert_eq!(
            Identity::from_seed_hex(&"0".repeat(64)).unwrap_err(),
            KeyError::ZeroSeed
        );
    }

    #[test]
    fn wire_codes() {
        use crate::wire::WireError;
        assert_eq!(KeyError::PemMalformed.code(), "key_pem_malformed");
        assert_eq!(KeyError::DerUnsupported.http_status(), 422);
        let e = KeyError::KeyRejected {
            reason: SignatureRuleError::NonCanonicalS,
        };
        assert_eq!(e.code(), "key_rejected");
    }
}
