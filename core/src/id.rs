//! Shard IDs: the name a shard is known by, derived from its Ed25519 public key.
//!
//! # Design
//! An ID is a hash of the public key, so whoever holds the key can prove the ID is theirs and
//! nobody can pick someone else's. It is 200 bits of `SHA-256("shardpeer-id-v1" || key)`
//! followed by a 40-bit checksum, written in lowercase base32 (RFC 4648, no padding): 48
//! characters from `a-z2-7`, which fit in a DNS label and survive being read aloud or retyped.
//! The checksum is there for people: a mistyped ID fails to parse ([`IdError::BadChecksum`])
//! instead of naming a shard that does not exist. `docs/protocol.md` specifies the derivation byte
//! by byte.
//!
//! The 6-character short ID ([`ShardId::short_id`]) is for display only. 30 bits can be
//! ground by anyone with a laptop, so no API here accepts a prefix: comparing IDs compares all
//! 48 characters, and [`ShardId::is_id_of`] is the one check that a key belongs to an ID.

use crate::identity::PublicKey;
use crate::wire::wire_error;
use sha2::{Digest, Sha256};

/// Characters in a shard ID.
pub const ID_LEN: usize = 48;
/// Characters in a short ID (display only).
pub const SHORT_ID_LEN: usize = 6;

/// Domain separator of the ID hash (15 ASCII bytes, no terminator).
const ID_DOMAIN: &[u8] = b"shardpeer-id-v1";
/// Domain separator of the checksum hash.
const CHECKSUM_DOMAIN: &[u8] = b"shardpeer-id-checksum-v1";
/// Bytes of key hash kept in the ID (200 bits).
const HASH_BYTES: usize = 25;
/// Bytes of checksum (40 bits).
const CHECKSUM_BYTES: usize = 5;
/// Bytes encoded by the 48 characters.
const RAW_BYTES: usize = HASH_BYTES + CHECKSUM_BYTES;

const ALPHABET: base32::Encoding = base32::RFC4648_LOWER_NOPAD;

/// Why text is not a shard ID.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdError {
    /// Not [`ID_LEN`] bytes long.
    WrongLength {
        /// The length found, in bytes.
        len: usize,
    },
    /// A byte outside `a-z`, `A-Z`, `2-7`.
    InvalidCharacter {
        /// Byte offset of the first offending byte.
        position: usize,
    },
    /// Well formed, but the checksum does not match: most likely a typo.
    BadChecksum,
}

wire_error!(IdError {
    IdError::WrongLength { len } => (422, "id_wrong_length", "a shard ID has {} characters, not {}", ID_LEN, len),
    IdError::InvalidCharacter { position } => (422, "id_invalid_character", "invalid character at position {} of the shard ID", position),
    IdError::BadChecksum => (422, "id_bad_checksum", "shard ID checksum does not match (typo?)"),
});

/// A shard ID: 48 lowercase base32 characters.
///
/// Equality and ordering are over all 48 characters.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardId([u8; ID_LEN]);

impl ShardId {
    /// Derives the ID of a public key.
    pub fn from_public_key(public_key: &PublicKey) -> ShardId {
        let h = Sha256::new()
            .chain_update(ID_DOMAIN)
            .chain_update(public_key.as_bytes())
            .finalize();
        let mut data = [0u8; HASH_BYTES];
        for (d, s) in data.iter_mut().zip(h.iter()) {
            *d = *s;
        }
        ShardId::encode(&data, &checksum(&data))
    }

    /// Parses an ID, accepting either case; the stored form is lowercase.
    pub fn parse(text: &str) -> Result<ShardId, IdError> {
        let bytes = text.as_bytes();
        if bytes.len() != ID_LEN {
            return Err(IdError::WrongLength { len: bytes.len() });
        }
        let mut lower = [0u8; ID_LEN];
        for (position, (dst, &c)) in lower.iter_mut().zip(bytes).enumerate() {
            let c = c.to_ascii_lowercase();
            if !matches!(c, b'a'..=b'z' | b'2'..=b'7') {
                return Err(IdError::InvalidCharacter { position });
            }
            *dst = c;
        }
        let mut raw = [0u8; RAW_BYTES];
        // All 48 characters were checked above and 48 characters are exactly 30 bytes, so
        // decoding cannot fail; the mapping only keeps the code panic-free.
        let text =
            core::str::from_utf8(&lower).map_err(|_| IdError::InvalidCharacter { position: 0 })?;
        ALPHABET.decode_buf(text, &mut raw).map_err(|e| match e {
            base32::Error::InvalidSymbol { offset, .. } => {
                IdError::InvalidCharacter { position: offset }
            }
            _ => IdError::WrongLength { len: bytes.len() },
        })?;
        let mut data = [0u8; HASH_BYTES];
        let mut check = [0u8; CHECKSUM_BYTES];
        for (dst, src) in data.iter_mut().chain(check.iter_mut()).zip(raw) {
            *dst = src;
        }
        if checksum(&data) != check {
            return Err(IdError::BadChecksum);
        }
        Ok(ShardId(lower))
    }

    fn encode(data: &[u8; HASH_BYTES], check: &[u8; CHECKSUM_BYTES]) -> ShardId {
        let mut raw = [0u8; RAW_BYTES];
        for (dst, src) in raw.iter_mut().zip(data.iter().chain(check)) {
            *dst = *src;
        }
        let mut out = [0u8; ID_LEN];
        // 30 bytes encode to exactly 48 characters, so the buffer always fits.
        let _ = ALPHABET.encode_buf(&raw, &mut out);
        ShardId(out)
    }

    /// The 48-character ID.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored, so this never falls back.
        core::str::from_utf8(&self.0).unwrap_or("")
    }

    /// The first [`SHORT_ID_LEN`] characters, for display to people.
    ///
    /// Display only: nothing authenticates with it and no API accepts it, because a matching
    /// prefix is cheap to grind.
    pub fn short_id(&self) -> &str {
        self.as_str().get(..SHORT_ID_LEN).unwrap_or("")
    }

    /// Whether `public_key` is the key this ID was derived from: recomputes the full ID and
    /// compares all 48 characters. This is the one check that binds a key to an ID.
    pub fn is_id_of(&self, public_key: &PublicKey) -> bool {
        ShardId::from_public_key(public_key) == *self
    }
}

/// `SHA-256("shardpeer-id-checksum-v1" || data)[0..5]`.
fn checksum(data: &[u8; HASH_BYTES]) -> [u8; CHECKSUM_BYTES] {
    let c = Sha256::new()
        .chain_update(CHECKSUM_DOMAIN)
        .chain_update(data)
        .finalize();
    let mut out = [0u8; CHECKSUM_BYTES];
    for (d, s) in out.iter_mut().zip(c.iter()) {
        *d = *s;
    }
    out
}

impl core::fmt::Display for ShardId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::fmt::Debug for ShardId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("ShardId").field(&self.as_str()).finish()
    }
}

impl core::str::FromStr for ShardId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<ShardId, IdError> {
        ShardId::parse(s)
    }
}

#[cfg(test)]
mod tests {
    extern crate alloc;
    use super::*;
    use alloc::string::ToString;

    /// RFC 9421 B.1.4 test-key-ed25519.
    const RFC_PUBLIC_KEY: &str = "26b40b8f93fff3d897112f7ebc582b232dbd72517d082fe83cfb30ddce43d1bb";
    const RFC_ID: &str = "uzzfszqnijtc4eswmobxlvqillyuoyvvpsggaxtzq442s73k";

    fn rfc_key() -> PublicKey {
        PublicKey::from_hex(RFC_PUBLIC_KEY).unwrap()
    }

    #[test]
    fn derivation_is_stable() {
        let id = rfc_key().id();
        assert_eq!(id.as_str(), RFC_ID);
        assert_eq!(id.short_id(), &RFC_ID[..SHORT_ID_LEN]);
    }

    #[test]
    fn derivation_cross_check() {
        // The same derivation written straight from the spec, with the libraries directly.
        let pk = hex::decode(RFC_PUBLIC_KEY).unwrap();
        let mut hasher = Sha256::new();
        hasher.update(b"shardpeer-id-v1");
        hasher.update(&pk);
        let h = hasher.finalize();
        let mut hasher = Sha256::new();
        hasher.update(b"shardpeer-id-checksum-v1");
        hasher.update(&h[..25]);
        let c = hasher.finalize();
        let mut raw = alloc::vec::Vec::from(&h[..25]);
        raw.extend_from_slice(&c[..5]);
        let mut text = [0u8; 48];
        base32::RFC4648_LOWER_NOPAD
            .encode_buf(&raw, &mut text)
            .unwrap();
        assert_eq!(
            core::str::from_utf8(&text).unwrap(),
            rfc_key().id().as_str()
        );
    }

    #[test]
    fn round_trip_and_case() {
        let id = rfc_key().id();
        assert_eq!(ShardId::parse(id.as_str()), Ok(id));
        assert_eq!(id.to_string().parse::<ShardId>(), Ok(id));
        let upper = id.as_str().to_ascii_uppercase();
        let parsed = ShardId::parse(&upper).unwrap();
        assert_eq!(parsed, id);
        assert_eq!(parsed.as_str(), id.as_str());
        assert!(id.is_id_of(&rfc_key()));
    }

    #[test]
    fn errors() {
        let id = rfc_key().id();
        let s = id.as_str();
        assert_eq!(ShardId::parse(""), Err(IdError::WrongLength { len: 0 }));
        assert_eq!(
            ShardId::parse(&s[..47]),
            Err(IdError::WrongLength { len: 47 })
        );
        let mut long = s.to_string();
        long.push('a');
        assert_eq!(ShardId::parse(&long), Err(IdError::WrongLength { len: 49 }));
        for (position, bad) in [(0, '1'), (10, '8'), (47, '='), (20, '-')] {
            let mut t = s.to_string();
            t.replace_range(position..position + 1, &bad.to_string());
            assert_eq!(
                ShardId::parse(&t),
                Err(IdError::InvalidCharacter { position })
            );
        }
        // A multi-byte character keeps the byte length at 48 but is not in the alphabet.
        let mut t = s[..46].to_string();
        t.push('é');
        assert_eq!(
            ShardId::parse(&t),
            Err(IdError::InvalidCharacter { position: 46 })
        );
        let mut t = s.to_string();
        let last = if s.ends_with('a') { "b" } else { "a" };
        t.replace_range(47..48, last);
        assert_eq!(ShardId::parse(&t), Err(IdError::BadChecksum));
    }

    #[test]
    fn every_single_substitution_is_caught() {
        let id = rfc_key().id();
        let alphabet = b"abcdefghijklmnopqrstuvwxyz234567";
        let mut caught = 0;
        for position in 0..ID_LEN {
            for &c in alphabet {
                let mut t = *id.as_str().as_bytes().first_chunk::<48>().unwrap();
                if t[position] == c {
                    continue;
                }
                t[position] = c;
                let text = core::str::from_utf8(&t).unwrap();
                assert_eq!(ShardId::parse(text), Err(IdError::BadChecksum), "{text}");
                caught += 1;
            }
        }
        assert_eq!(caught, ID_LEN * 31);
    }

    #[test]
    fn adjacent_transpositions_are_caught() {
        let id = rfc_key().id();
        for position in 0..ID_LEN - 1 {
            let mut t = *id.as_str().as_bytes().first_chunk::<48>().unwrap();
            if t[position] == t[position + 1] {
                continue;
            }
            t.swap(position, position + 1);
            let text = core::str::from_utf8(&t).unwrap();
            assert_eq!(ShardId::parse(text), Err(IdError::BadChecksum), "{text}");
        }
    }

    #[test]
    fn other_key_is_not_the_id() {
        let other = crate::identity::Identity::from_seed([7; 32])
            .unwrap()
            .public_key();
        assert_ne!(other.id(), rfc_key().id());
        assert!(!rfc_key().id().is_id_of(&other));
        assert!(!other.id().is_id_of(&rfc_key()));
    }

    #[test]
    fn shared_short_id_grants_nothing() {
        // Two real keys with the same 6-character prefix take ~2^30 key derivations to find,
        // too slow for a unit test. What matters is that nothing looks at the prefix alone, so
        // build the situation directly: a well-formed ID (valid checksum) with the same short
        // ID as the key's real ID but different after it, and show every comparison fails.
        let key = rfc_key();
        let real = key.id();
        let mut data = [0u8; HASH_BYTES];
        let raw = {
            let mut raw = [0u8; RAW_BYTES];
            ALPHABET.decode_buf(real.as_str(), &mut raw).unwrap();
            raw
        };
        data.copy_from_slice(&raw[..HASH_BYTES]);
        // Flip the last bit of the hash: it sits well past the first 30 bits.
        data[HASH_BYTES - 1] ^= 1;
        let impostor = ShardId::encode(&data, &checksum(&data));
        let impostor = ShardId::parse(impostor.as_str()).unwrap();
        assert_eq!(impostor.short_id(), real.short_id());
        assert_ne!(impostor, real);
        assert!(!impostor.is_id_of(&key));
        assert!(real.is_id_of(&key));
    }

    #[test]
    fn wire_codes() {
        use crate::wire::WireError;
        assert_eq!(IdError::BadChecksum.code(), "id_bad_checksum");
        assert_eq!(IdError::WrongLength { len: 3 }.http_status(), 422);
        assert_eq!(
            IdError::InvalidCharacter { position: 3 }.code(),
            "id_invalid_character"
        );
    }
}
