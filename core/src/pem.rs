//! Bounded PEM (RFC 7468) and DER for Ed25519 keys (RFC 8410), and nothing else.
//!
//! # Design
//! A general ASN.1 parser is a large attack surface for a job that has three fixed shapes, so
//! DER here is a byte comparison against the exact prefixes RFC 8410 produces:
//!
//! - SubjectPublicKeyInfo: `30 2a 30 05 06 03 2b 65 70 03 21 00` + 32 key bytes;
//! - PKCS#8 v1: `30 2e 02 01 00 30 05 06 03 2b 65 70 04 22 04 20` + 32 seed bytes;
//! - PKCS#8 v2 (OneAsymmetricKey): `30 51 02 01 01 30 05 06 03 2b 65 70 04 22 04 20` + seed +
//!   `81 21 00` + 32 public-key bytes. Read, never written.
//!
//! Anything else (other algorithms, attributes, parameters) is
//! [`KeyError::DerUnsupported`]. PEM is strict about its frame — one block, the expected
//! label, nothing but whitespace around it — and lenient inside it: the base64 body may be
//! split into lines of any length with LF or CRLF, as tools write it.
//!
//! # Resource limits
//! Input over [`MAX_PEM_LEN`] bytes is refused before it is read; the base64 body is copied
//! into a fixed 128-byte buffer and decoded into a fixed 96-byte one. One pass, no heap.
//! Buffers that held secret bytes are zeroed on drop, best effort: without `unsafe` and
//! volatile writes the compiler may elide it.

use crate::identity::KeyError;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Most bytes of PEM text accepted.
pub(crate) const MAX_PEM_LEN: usize = 4096;
/// Most base64 characters in a body: room for the largest accepted DER (83 bytes).
const MAX_BODY_B64: usize = 128;
/// Room for the decoded body.
const MAX_DER: usize = MAX_BODY_B64 / 4 * 3;

/// The label of a SubjectPublicKeyInfo block.
pub(crate) const PUBLIC_LABEL: &str = "PUBLIC KEY";
/// The label of a PKCS#8 block.
pub(crate) const PRIVATE_LABEL: &str = "PRIVATE KEY";

const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
const PKCS8_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
const PKCS8_V2_PREFIX: [u8; 16] = [
    0x30, 0x51, 0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
/// `[1] IMPLICIT BIT STRING`, 33 bytes, no unused bits: the v2 public key.
const PKCS8_V2_PUBLIC_TAG: [u8; 3] = [0x81, 0x21, 0x00];

/// Bytes of an Ed25519 SubjectPublicKeyInfo.
pub(crate) const SPKI_LEN: usize = 44;
/// Bytes of an Ed25519 PKCS#8 v1 key, the form written.
pub(crate) const PKCS8_LEN: usize = 48;
/// Capacity of the PEM text written; checked against both forms below.
pub(crate) const PEM_CAPACITY: usize = 128;

/// Length of the PEM text for `der_len` bytes under a label of `label_len` bytes.
const fn pem_len(label_len: usize, der_len: usize) -> usize {
    "-----BEGIN ".len()
        + label_len
        + "-----\n".len()
        + der_len.div_ceil(3) * 4
        + "\n".len()
        + "-----END ".len()
        + label_len
        + "-----\n".len()
}
const _: () = assert!(pem_len(PUBLIC_LABEL.len(), SPKI_LEN) <= PEM_CAPACITY);
const _: () = assert!(pem_len(PRIVATE_LABEL.len(), PKCS8_LEN) <= PEM_CAPACITY);
const _: () = assert!(PKCS8_LEN.div_ceil(3) * 4 <= 64);

/// A decoded DER body in a fixed buffer.
pub(crate) struct Der {
    buf: [u8; MAX_DER],
    len: usize,
}

impl Der {
    pub(crate) fn as_slice(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
}

impl Drop for Der {
    fn drop(&mut self) {
        // Best effort (see the module docs): it may hold a private key.
        self.buf.fill(0);
        core::hint::black_box(&mut self.buf);
    }
}

/// Decodes one PEM block whose label must be `label`.
pub(crate) fn decode(input: &str, label: &str) -> Result<Der, KeyError> {
    if input.len() > MAX_PEM_LEN {
        return Err(KeyError::InputTooLarge);
    }
    let text = input.trim_ascii();
    let rest = text
        .strip_prefix("-----BEGIN ")
        .ok_or(KeyError::PemMalformed)?;
    let (found, rest) = rest.split_once("-----").ok_or(KeyError::PemMalformed)?;
    if found.contains(['\r', '\n']) {
        return Err(KeyError::PemMalformed);
    }
    if found != label {
        return Err(KeyError::PemWrongLabel);
    }
    let (body, rest) = rest.split_once("-----END ").ok_or(KeyError::PemMalformed)?;
    let (end_label, trailing) = rest.split_once("-----").ok_or(KeyError::PemMalformed)?;
    if end_label != label {
        return Err(KeyError::PemMalformed);
    }
    // `text` was trimmed, so anything left is not whitespace.
    if !trailing.is_empty() {
        return Err(KeyError::PemTrailingData);
    }

    let mut b64 = [0u8; MAX_BODY_B64];
    let mut n = 0;
    for c in body.bytes() {
        if matches!(c, b' ' | b'\t' | b'\r' | b'\n') {
            continue;
        }
        // Longer than any Ed25519 key: some other algorithm.
        let Some(slot) = b64.get_mut(n) else {
            b64.fill(0);
            return Err(KeyError::DerUnsupported);
        };
        *slot = c;
        n += 1;
    }
    let mut der = Der {
        buf: [0; MAX_DER],
        len: 0,
    };
    let decoded = STANDARD.decode_slice(b64.get(..n).unwrap_or(&[]), &mut der.buf);
    b64.fill(0);
    core::hint::black_box(&mut b64);
    der.len = decoded.map_err(|_| KeyError::Base64)?;
    Ok(der)
}

/// Writes `der` as a PEM block: header line, one base64 line, footer line.
fn encode(label: &str, der: &[u8]) -> heapless::String<PEM_CAPACITY> {
    let mut b64 = [0u8; 64];
    // Both callers pass at most 48 bytes (64 characters, asserted above).
    let n = STANDARD.encode_slice(der, &mut b64).unwrap_or(0);
    let body = core::str::from_utf8(b64.get(..n).unwrap_or(&[])).unwrap_or("");
    let mut out = heapless::String::new();
    for part in [
        "-----BEGIN ",
        label,
        "-----\n",
        body,
        "\n-----END ",
        label,
        "-----\n",
    ] {
        // Cannot fail: the capacity is asserted above for both forms.
        let _ = out.push_str(part);
    }
    b64.fill(0);
    core::hint::black_box(&mut b64);
    out
}

/// The SubjectPublicKeyInfo of an Ed25519 key.
pub(crate) fn spki_der(public_key: &[u8; 32]) -> [u8; SPKI_LEN] {
    let mut out = [0u8; SPKI_LEN];
    for (dst, src) in out.iter_mut().zip(SPKI_PREFIX.iter().chain(public_key)) {
        *dst = *src;
    }
    out
}

/// The SubjectPublicKeyInfo of an Ed25519 key, as PEM.
pub(crate) fn spki_pem(public_key: &[u8; 32]) -> heapless::String<PEM_CAPACITY> {
    encode(PUBLIC_LABEL, &spki_der(public_key))
}

/// The key bytes of an Ed25519 SubjectPublicKeyInfo (not yet checked against the rule).
pub(crate) fn parse_spki(der: &[u8]) -> Result<[u8; 32], KeyError> {
    let (prefix, key) = der
        .split_at_checked(SPKI_PREFIX.len())
        .ok_or(KeyError::DerUnsupported)?;
    if prefix != SPKI_PREFIX {
        return Err(KeyError::DerUnsupported);
    }
    key.try_into().map_err(|_| KeyError::DerUnsupported)
}

/// The PKCS#8 v1 encoding of an Ed25519 seed.
pub(crate) fn pkcs8_der(seed: &[u8; 32]) -> [u8; PKCS8_LEN] {
    let mut out = [0u8; PKCS8_LEN];
    for (dst, src) in out.iter_mut().zip(PKCS8_V1_PREFIX.iter().chain(seed)) {
        *dst = *src;
    }
    out
}

/// The PKCS#8 v1 encoding of an Ed25519 seed, as PEM.
pub(crate) fn pkcs8_pem(seed: &[u8; 32]) -> heapless::String<PEM_CAPACITY> {
    let mut der = pkcs8_der(seed);
    let pem = encode(PRIVATE_LABEL, &der);
    der.fill(0);
    core::hint::black_box(&mut der);
    pem
}

/// What a PKCS#8 Ed25519 key holds: the seed, and for v2 the public key it claims.
pub(crate) struct Pkcs8 {
    pub(crate) seed: [u8; 32],
    pub(crate) public_key: Option<[u8; 32]>,
}

impl Drop for Pkcs8 {
    fn drop(&mut self) {
        self.seed.fill(0);
        core::hint::black_box(&mut self.seed);
    }
}

/// Reads a PKCS#8 v1 or v2 Ed25519 key.
pub(crate) fn parse_pkcs8(der: &[u8]) -> Result<Pkcs8, KeyError> {
    let (prefix, rest) = der
        .split_at_checked(PKCS8_V1_PREFIX.len())
        .ok_or(KeyError::DerUnsupported)?;
    let (seed, rest) = rest.split_at_checked(32).ok_or(KeyError::DerUnsupported)?;
    let seed: [u8; 32] = seed.try_into().map_err(|_| KeyError::DerUnsupported)?;
    let mut key = Pkcs8 {
        seed,
        public_key: None,
    };
    if prefix == PKCS8_V1_PREFIX && rest.is_empty() {
        return Ok(key);
    }
    if prefix != PKCS8_V2_PREFIX {
        return Err(KeyError::DerUnsupported);
    }
    let (tag, public_key) = rest
        .split_at_checked(PKCS8_V2_PUBLIC_TAG.len())
        .ok_or(KeyError::DerUnsupported)?;
    if tag != PKCS8_V2_PUBLIC_TAG {
        return Err(KeyError::DerUnsupported);
    }
    key.public_key = Some(
        public_key
            .try_into()
            .map_err(|_| KeyError::DerUnsupported)?,
    );
    Ok(key)
}
