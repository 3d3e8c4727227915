//! RFC 9530 `Content-Digest`: the hash of the body that a signature covers.
//!
//! A signature covers the `content-digest` field, not the body; the body is bound only when
//! the receiver recomputes the digest over the bytes it actually got and compares. That check
//! is the receiver's to make — [`crate::verify::Verified::content_digest`] hands it the
//! expected value and [`BodyHasher`] takes the body in chunks as it arrives, so a device never
//! needs the whole body in memory.
//!
//! We send `sha-256`. We accept `sha-256` and `sha-512`; when a field carries both, the
//! stronger one is checked. Other algorithms are ignored (RFC 9530 §2); a field with none we
//! support is [`DigestError::Unsupported`].

use crate::sf::{self, BareItem, Dictionary, Member};
use crate::sink::Sink;
use crate::wire::wire_error;
use sha2::Digest as _;

/// A digest algorithm from RFC 9530's registry that we implement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlg {
    /// `sha-256`
    Sha256,
    /// `sha-512`
    Sha512,
}

impl DigestAlg {
    /// The registry key (`sha-256`).
    pub fn key(self) -> &'static str {
        match self {
            DigestAlg::Sha256 => "sha-256",
            DigestAlg::Sha512 => "sha-512",
        }
    }

    fn len(self) -> usize {
        match self {
            DigestAlg::Sha256 => 32,
            DigestAlg::Sha512 => 64,
        }
    }
}

/// A digest value with its algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digest {
    alg: DigestAlg,
    bytes: [u8; 64],
}

impl Digest {
    /// The algorithm.
    pub fn alg(&self) -> DigestAlg {
        self.alg
    }

    /// The digest bytes (32 or 64).
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.alg.len()).unwrap_or(&self.bytes)
    }

    /// The field value, e.g. `sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:`.
    pub fn header_value(&self) -> heapless::String<100> {
        let mut buf = [0u8; 100];
        let mut sink = Sink::new(&mut buf);
        sink.push_str(self.alg.key());
        sink.push_byte(b'=');
        sf::write_bytes(&mut sink, self.as_bytes());
        let mut out = heapless::String::new();
        // 8 + 2 + 88 bytes at most: always fits.
        let _ = out.push_str(sink.finish_str().unwrap_or(""));
        out
    }

    /// The digest of a whole body.
    pub fn of(alg: DigestAlg, body: &[u8]) -> Digest {
        let mut h = BodyHasher::new(alg);
        h.update(body);
        h.finish()
    }

    /// Parses a `Content-Digest` field value and picks the strongest supported digest.
    pub fn parse_header(value: &str) -> Result<Digest, DigestError> {
        let dict = Dictionary::parse(value).map_err(|_| DigestError::Malformed)?;
        let mut best: Option<Digest> = None;
        for alg in [DigestAlg::Sha512, DigestAlg::Sha256] {
            let Some(member) = dict.get(alg.key()) else {
                continue;
            };
            let Member::Item(item) = member else {
                return Err(DigestError::Malformed);
            };
            let BareItem::ByteSeq(b64) = item.bare else {
                return Err(DigestError::Malformed);
            };
            let mut bytes = [0u8; 64];
            let got = sf::decode_byte_seq(b64, &mut bytes).map_err(|_| DigestError::Malformed)?;
            if got.len() != alg.len() {
                return Err(DigestError::Malformed);
            }
            if best.is_none() {
                best = Some(Digest { alg, bytes });
            }
        }
        best.ok_or(DigestError::Unsupported)
    }

    /// Compares with the digest computed over the body received.
    pub fn check(&self, computed: &Digest) -> Result<(), DigestError> {
        if self.alg != computed.alg {
            return Err(DigestError::Mismatch);
        }
        // Not secret, but compare without an early exit anyway: it costs nothing.
        let diff = self
            .as_bytes()
            .iter()
            .zip(computed.as_bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff == 0 {
            Ok(())
        } else {
            Err(DigestError::Mismatch)
        }
    }

    /// Checks a whole body against this expected digest.
    pub fn check_body(&self, body: &[u8]) -> Result<(), DigestError> {
        self.check(&Digest::of(self.alg, body))
    }
}

/// Hashes a body given in chunks.
#[derive(Clone)]
pub struct BodyHasher {
    inner: Hasher,
}

#[derive(Clone)]
enum Hasher {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl core::fmt::Debug for BodyHasher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("BodyHasher")
    }
}

impl BodyHasher {
    /// Starts hashing with `alg`.
    pub fn new(alg: DigestAlg) -> Self {
        let inner = match alg {
            DigestAlg::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            DigestAlg::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        };
        BodyHasher { inner }
    }

    /// Feeds the next chunk of the body.
    pub fn update(&mut self, chunk: &[u8]) {
        match &mut self.inner {
            Hasher::Sha256(h) => h.update(chunk),
            Hasher::Sha512(h) => h.update(chunk),
        }
    }

    /// The digest of everything fed.
    pub fn finish(self) -> Digest {
        let mut bytes = [0u8; 64];
        let alg = match self.inner {
            Hasher::Sha256(h) => {
                bytes.iter_mut().zip(h.finalize()).for_each(|(d, s)| *d = s);
                DigestAlg::Sha256
            }
            Hasher::Sha512(h) => {
                bytes.iter_mut().zip(h.finalize()).for_each(|(d, s)| *d = s);
                DigestAlg::Sha512
            }
        };
        Digest { alg, bytes }
    }
}

/// Why a `Content-Digest` check failed.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestError {
    /// The field is not a dictionary of byte sequences of the right length.
    Malformed,
    /// The field names no algorithm we implement.
    Unsupported,
    /// The body does not have the digest the field states.
    Mismatch,
}

wire_error!(DigestError {
    DigestError::Malformed => (401, "content_digest_malformed", "Content-Digest is not a dictionary of digests of the right length"),
    DigestError::Unsupported => (401, "content_digest_unsupported", "Content-Digest names no supported algorithm (sha-256, sha-512)"),
    DigestError::Mismatch => (401, "content_digest_mismatch", "the body does not match Content-Digest"),
});

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO: &[u8] = br#"{"hello": "world"}"#;

    #[test]
    fn rfc9530_samples() {
        assert_eq!(
            Digest::of(DigestAlg::Sha256, HELLO).header_value().as_str(),
            "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
        );
        assert_eq!(
            Digest::of(DigestAlg::Sha512, HELLO).header_value().as_str(),
            "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:"
        );
    }

    #[test]
    fn chunks_equal_whole() {
        let mut h = BodyHasher::new(DigestAlg::Sha256);
        for c in HELLO.chunks(5) {
            h.update(c);
        }
        assert_eq!(h.finish(), Digest::of(DigestAlg::Sha256, HELLO));
    }

    #[test]
    fn parse_and_check() {
        let d =
            Digest::parse_header("sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:").unwrap();
        assert_eq!(d.check_body(HELLO), Ok(()));
        assert_eq!(
            d.check_body(b"{\"hello\": \"world\"}\n"),
            Err(DigestError::Mismatch)
        );
        // The stronger digest is the one checked.
        let both = "sha-256=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:, sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:";
        assert_eq!(Digest::parse_header(both).unwrap().alg(), DigestAlg::Sha512);
        // Unknown algorithms are ignored, but something must remain.
        assert_eq!(
            Digest::parse_header("md5=:AAAA:"),
            Err(DigestError::Unsupported)
        );
        assert_eq!(
            Digest::parse_header(
                "md5=:AAAA:, sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
            )
            .map(|d| d.alg()),
            Ok(DigestAlg::Sha256)
        );
        assert_eq!(
            Digest::parse_header("sha-256=:AAAA:"),
            Err(DigestError::Malformed)
        );
        assert_eq!(
            Digest::parse_header("sha-256=abc"),
            Err(DigestError::Malformed)
        );
        assert_eq!(
            Digest::parse_header("sha-256=(:AAAA:)"),
            Err(DigestError::Malformed)
        );
        assert_eq!(
            Digest::parse_header("not a dict"),
            Err(DigestError::Malformed)
        );
        assert_eq!(Digest::parse_header(""), Err(DigestError::Unsupported));
    }

    #[test]
    fn empty_body() {
        assert_eq!(
            Digest::of(DigestAlg::Sha256, b"").header_value().as_str(),
            "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"
        );
    }
}
