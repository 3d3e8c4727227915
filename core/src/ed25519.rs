//! The Ed25519 validity rule, and the seam to a signature backend.
//!
//! # Design
//! Ed25519 implementations disagree on edge cases that RFC 8032 leaves open: small-order keys,
//! points with a small-order component, and whether verification uses the cofactored or the
//! cofactorless equation. If the answer depended on the backend, two shards could disagree on
//! whether a request is authentic. So the protocol fixes one rule and the core checks it
//! *before* any backend runs ([`check_signature`]); a backend ([`Ed25519Backend`]) is then only
//! asked about inputs on which every correct implementation agrees.
//!
//! The rule: `S` is canonical (`S < L`), and each of `A` (the public key) and `R` is the
//! canonical encoding of a curve point of order exactly `L` — not small order, and without a
//! small-order component. For such points the cofactored and the cofactorless verification
//! equations give the same answer, which is what makes the backend interchangeable. Honest
//! signers never produce anything else (`A = [a]B` and `R = [r]B` lie in the prime-order
//! subgroup), so the rule rejects no honestly made signature.
//!
//! The encoding checks are byte comparisons. Membership in the prime-order subgroup needs
//! curve arithmetic that ed25519-compact does not expose, so this module carries a small
//! variable-time field implementation (only public data goes through it) and checks
//! `[L+1]P = ±P` with an x-only Montgomery ladder; `docs/protocol.md` states the rule and
//! `tests/ed25519_vectors.rs` asserts it against the C2SP edge-case vectors.
//!
//! # Resource limits
//! A point check costs one Montgomery ladder over 256 bits plus one field exponentiation,
//! about as much as one signature verification; [`verify_raw`] checks two points and costs about
//! three verifications, [`verify_with`] takes an already checked [`PublicKey`] (checked once,
//! when a peer's key is pinned) and costs about two. With a backend that compares `R`
//! encodings ([`Ed25519Backend::REJECTS_TORSION_IN_R`], e.g. `RingBackend` (feature `ring`) on hosts) an
//! accepted signature skips the check on `R` and costs one backend call; a refused one still
//! pays for the check, so the error does not depend on the backend. No input changes those
//! costs beyond that; the figures measured are in `BENCHMARKS.md`.

use crate::identity::PublicKey;
use crate::wire::wire_error;

/// Which point of a signature check a [`SignatureRuleError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointRole {
    /// The signer's public key `A`.
    PublicKey,
    /// The commitment `R`, the first 32 bytes of the signature.
    R,
}

impl core::fmt::Display for PointRole {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            PointRole::PublicKey => "public key",
            PointRole::R => "signature R",
        })
    }
}

/// Why a signature (or a public key) fails the Ed25519 validity rule.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureRuleError {
    /// `S` is not below the group order `L`.
    NonCanonicalS,
    /// `y ≥ p`, or the sign bit is set on a point whose `x` is 0.
    NonCanonicalPoint {
        /// The offending point.
        point: PointRole,
    },
    /// One of the eight points of small order.
    SmallOrderPoint {
        /// The offending point.
        point: PointRole,
    },
    /// The encoding is canonical but names no point on the curve.
    NotOnCurve {
        /// The offending point.
        point: PointRole,
    },
    /// A point of order `8L`, `4L` or `2L`: it has a small-order component.
    MixedOrderPoint {
        /// The offending point.
        point: PointRole,
    },
    /// The inputs pass the rule but the signature does not verify.
    Invalid,
}

wire_error!(SignatureRuleError {
    SignatureRuleError::NonCanonicalS => (401, "signature_noncanonical_s", "signature S is not below the group order"),
    SignatureRuleError::NonCanonicalPoint { point } => (401, "signature_noncanonical_point", "non-canonical encoding of the {}", point),
    SignatureRuleError::SmallOrderPoint { point } => (401, "signature_small_order", "the {} is a point of small order", point),
    SignatureRuleError::NotOnCurve { point } => (401, "signature_not_on_curve", "the {} is not a curve point", point),
    SignatureRuleError::MixedOrderPoint { point } => (401, "signature_mixed_order", "the {} has a small-order component", point),
    SignatureRuleError::Invalid => (401, "signature_invalid", "signature does not verify"),
});

/// The group order `L = 2^252 + 27742317777372353535851937790883648493`, little-endian.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// `L + 1`, little-endian: the scalar of the subgroup test.
const L_PLUS_1: [u8; 32] = [
    0xee, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// `p = 2^255 - 19`, little-endian.
const P: [u8; 32] = [
    0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
];

/// The canonical encodings of the eight points of small order (the identity, the point of
/// order 2, the two of order 4 and the four of order 8). Their non-canonical aliases never get
/// this far: the canonical-encoding check rejects them first.
const SMALL_ORDER: [[u8; 32]; 8] = [
    // (0, 1): the identity, order 1.
    hex32(b"0100000000000000000000000000000000000000000000000000000000000000"),
    // (0, -1): order 2.
    hex32(b"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    // (±sqrt(-1), 0): order 4.
    hex32(b"0000000000000000000000000000000000000000000000000000000000000000"),
    hex32(b"0000000000000000000000000000000000000000000000000000000000000080"),
    // Order 8.
    hex32(b"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
    hex32(b"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85"),
    hex32(b"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
    hex32(b"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa"),
];

/// Decodes 64 hex digits at compile time, so the tables above read like the literature.
// Only ever evaluated in `const` items, where a bad index or digit fails the build instead of
// panicking at run time.
#[allow(clippy::indexing_slicing)]
const fn hex32(s: &[u8; 64]) -> [u8; 32] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            // Only reachable from a typo in a constant above, where it fails the build.
            _ => 0xff,
        }
    }
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        let (hi, lo) = (nibble(s[2 * i]), nibble(s[2 * i + 1]));
        assert!(hi < 16 && lo < 16, "bad hex digit in a constant");
        out[i] = (hi << 4) | lo;
        i += 1;
    }
    out
}

/// `a < b` for 256-bit little-endian numbers.
fn less_than(a: &[u8; 32], b: &[u8; 32]) -> bool {
    // The most significant differing byte decides.
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

/// Checks one point against the whole rule.
fn check_point(bytes: &[u8; 32], point: PointRole) -> Result<(), SignatureRuleError> {
    let y = check_encoding(bytes, point)?;
    check_subgroup(y, point)
}

/// The byte-level half of the point rule: a canonical encoding, and not one of the eight
/// small-order points. Returns `y` for [`check_subgroup`].
fn check_encoding(bytes: &[u8; 32], point: PointRole) -> Result<Fe, SignatureRuleError> {
    let mut y = *bytes;
    let sign = y[31] & 0x80 != 0;
    y[31] &= 0x7f;
    // x = 0 exactly when y = ±1; those points have one encoding, with the sign bit clear.
    let x_is_zero = y == SMALL_ORDER[0] || y == SMALL_ORDER[1];
    if !less_than(&y, &P) || (sign && x_is_zero) {
        return Err(SignatureRuleError::NonCanonicalPoint { point });
    }
    if SMALL_ORDER.contains(bytes) {
        return Err(SignatureRuleError::SmallOrderPoint { point });
    }
    Ok(Fe::from_bytes(&y))
}

/// The arithmetic half: a curve point with no small-order component. This is the costly
/// part (a field exponentiation and a Montgomery ladder).
fn check_subgroup(y: Fe, point: PointRole) -> Result<(), SignatureRuleError> {
    if !is_on_curve(y) {
        return Err(SignatureRuleError::NotOnCurve { point });
    }
    if !is_torsion_free(y) {
        return Err(SignatureRuleError::MixedOrderPoint { point });
    }
    Ok(())
}

/// Checks that `public_key` is acceptable as an Ed25519 key under the protocol's rule.
///
/// [`PublicKey::from_bytes`](crate::identity::PublicKey::from_bytes) runs this, so a key that
/// passes here can only fail later on a bad signature, never on its own encoding.
pub fn check_public_key(public_key: &[u8; 32]) -> Result<(), SignatureRuleError> {
    check_point(public_key, PointRole::PublicKey)
}

/// Checks every part of the rule that does not depend on the message: `S < L`, then the
/// public key, then `R`. The first failure is the one reported.
pub fn check_signature(public_key: &[u8; 32], sig: &[u8; 64]) -> Result<(), SignatureRuleError> {
    let (r, s) = split_signature(sig);
    check_s(&s)?;
    check_point(public_key, PointRole::PublicKey)?;
    check_point(&r, PointRole::R)
}

fn check_s(s: &[u8; 32]) -> Result<(), SignatureRuleError> {
    if less_than(s, &L) {
        Ok(())
    } else {
        Err(SignatureRuleError::NonCanonicalS)
    }
}

fn split_signature(sig: &[u8; 64]) -> ([u8; 32], [u8; 32]) {
    let mut r = [0u8; 32];
    let mut s = [0u8; 32];
    for (dst, src) in r.iter_mut().chain(s.iter_mut()).zip(sig) {
        *dst = *src;
    }
    (r, s)
}

/// An Ed25519 implementation that answers the verification equation.
///
/// The core calls it only on inputs that passed the rule's checks, so it may be any RFC 8032
/// verifier — cofactored or not, strict or lax on encodings: on those inputs they all agree.
pub trait Ed25519Backend {
    /// `true` only for a backend that accepts exactly when the encoding of
    /// `[S]B - [k]A` equals the received `R` bytes (RFC 8032 §5.1.7's cofactorless equation,
    /// checked by comparing encodings, as ring and ed25519-dalek do).
    ///
    /// Such a backend cannot accept an `R` that is off the curve or has a small-order
    /// component when `A` has none: `[S]B - [k]A` then lies in the prime-order subgroup, and
    /// only that point's own canonical encoding matches it. The core relies on this to skip
    /// the costly half of the check on `R` (the subgroup test, about as much work as a
    /// verification) when the backend accepts; when it refuses, the core runs the test
    /// anyway, so the error reported is the same with every backend. A backend that uses the
    /// cofactored equation, or compares points rather than encodings, must leave this
    /// `false` (ed25519-compact accepts `R + T` for small-order `T`).
    const REJECTS_TORSION_IN_R: bool = false;

    /// Whether `sig` is a valid signature of `msg` under `public_key`.
    fn verify(&self, public_key: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool;
}

/// The portable backend, [ed25519-compact](https://docs.rs/ed25519-compact): small code, no
/// heap, runs everywhere the core does.
#[derive(Debug, Clone, Copy, Default)]
pub struct CompactBackend;

impl Ed25519Backend for CompactBackend {
    fn verify(&self, public_key: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
        let pk = ed25519_compact::PublicKey::new(*public_key);
        let sig = ed25519_compact::Signature::new(*sig);
        pk.verify(msg, &sig).is_ok()
    }
}

/// The host backend (feature `ring`): [ring](https://docs.rs/ring)'s Ed25519, BoringSSL's
/// curve25519 code. It compares encodings of `R` (cofactorless), so with it a verification
/// costs one backend call instead of about two.
#[cfg(feature = "ring")]
#[derive(Debug, Clone, Copy, Default)]
pub struct RingBackend;

#[cfg(feature = "ring")]
impl Ed25519Backend for RingBackend {
    // ring 0.17, src/ec/curve25519/ed25519/verification.rs: `r_check` is the encoding of
    // `[S]B - [k]A`, compared with the signature's `R` bytes. `tests/ed25519_vectors.rs`
    // holds it to that on every C2SP edge-case vector.
    const REJECTS_TORSION_IN_R: bool = true;

    fn verify(&self, public_key: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
        ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public_key)
            .verify(msg, sig)
            .is_ok()
    }
}

/// The fastest backend this build has: [`RingBackend`] with the `ring` feature (hosts),
/// otherwise [`CompactBackend`]. Every backend gives the same answers (see the module docs).
#[cfg(feature = "ring")]
pub type DefaultBackend = RingBackend;
/// The fastest backend this build has: `RingBackend` with the `ring` feature (hosts),
/// otherwise [`CompactBackend`]. Every backend gives the same answers (see the module docs).
#[cfg(not(feature = "ring"))]
pub type DefaultBackend = CompactBackend;

/// Verifies `sig` over `msg` under a raw `public_key`: the whole rule, then `backend`. For
/// keys that arrive as bytes with the signature (tools, vectors).
pub fn verify_raw<B: Ed25519Backend>(
    backend: &B,
    public_key: &[u8; 32],
    msg: &[u8],
    sig: &[u8; 64],
) -> Result<(), SignatureRuleError> {
    let (_, s) = split_signature(sig);
    check_s(&s)?;
    check_point(public_key, PointRole::PublicKey)?;
    verify_checked_key(backend, public_key, msg, sig)
}

/// Verifies `sig` over `msg` under a [`PublicKey`], which passed [`check_public_key`] when it
/// was made: only `S` and `R` are checked here. Peers' keys are pinned once and verified
/// against many times, so this saves one point check per request.
pub fn verify_with<B: Ed25519Backend>(
    backend: &B,
    public_key: &PublicKey,
    msg: &[u8],
    sig: &[u8; 64],
) -> Result<(), SignatureRuleError> {
    let (_, s) = split_signature(sig);
    check_s(&s)?;
    verify_checked_key(backend, public_key.as_bytes(), msg, sig)
}

/// The `R` half of the rule and the backend, for a key known to satisfy the rule. Errors come
/// in the order of [`check_signature`] whatever the backend: a backend that rejects torsion
/// in `R` by itself only moves the subgroup test after it, onto the refusal path.
fn verify_checked_key<B: Ed25519Backend>(
    backend: &B,
    public_key: &[u8; 32],
    msg: &[u8],
    sig: &[u8; 64],
) -> Result<(), SignatureRuleError> {
    let (r, _) = split_signature(sig);
    let y = check_encoding(&r, PointRole::R)?;
    if !B::REJECTS_TORSION_IN_R {
        check_subgroup(y, PointRole::R)?;
    }
    if backend.verify(public_key, msg, sig) {
        return Ok(());
    }
    if B::REJECTS_TORSION_IN_R {
        check_subgroup(y, PointRole::R)?;
    }
    Err(SignatureRuleError::Invalid)
}

// ---------------------------------------------------------------------------------------------
// Field arithmetic modulo p = 2^255 - 19, variable time (only public points go through it).

const MASK51: u64 = (1 << 51) - 1;

/// A field element in five 51-bit limbs, little-endian. Every operation returns limbs below
/// 2^52, which keeps the products in `mul` below 2^128.
#[derive(Clone, Copy)]
struct Fe([u64; 5]);

impl Fe {
    const ONE: Fe = Fe([1, 0, 0, 0, 0]);
    /// Edwards `d = -121665/121666`
    /// (`a3785913ca4deb75abd841414d0a700098e879777940c78c73fe6f2bee6c0352`, little-endian).
    const D: Fe = Fe([
        0x34dca135978a3,
        0x1a8283b156ebd,
        0x5e7a26001c029,
        0x739c663a03cbb,
        0x52036cee2b6ff,
    ]);
    /// The Montgomery ladder constant `(A - 2)/4 = 121665` of RFC 7748.
    const A24: Fe = Fe([121_665, 0, 0, 0, 0]);

    /// Loads 255 bits; the top bit of `b` is ignored. The value may be ≥ p.
    fn from_bytes(b: &[u8; 32]) -> Fe {
        let mut w = [0u64; 4];
        for (word, chunk) in w.iter_mut().zip(b.chunks_exact(8)) {
            *word = chunk
                .iter()
                .rev()
                .fold(0, |acc, &x| (acc << 8) | u64::from(x));
        }
        Fe([
            w[0] & MASK51,
            ((w[0] >> 51) | (w[1] << 13)) & MASK51,
            ((w[1] >> 38) | (w[2] << 26)) & MASK51,
            ((w[2] >> 25) | (w[3] << 39)) & MASK51,
            (w[3] >> 12) & MASK51,
        ])
    }

    /// The canonical (fully reduced) little-endian encoding.
    fn to_bytes(self) -> [u8; 32] {
        let mut l = Fe::carry(self.0).0;
        // q = 1 exactly when the value is ≥ p (limbs are below 2^51 + 2^18 here).
        let mut q = (l[0] + 19) >> 51;
        q = (l[1] + q) >> 51;
        q = (l[2] + q) >> 51;
        q = (l[3] + q) >> 51;
        q = (l[4] + q) >> 51;
        l[0] += 19 * q;
        l[1] += l[0] >> 51;
        l[0] &= MASK51;
        l[2] += l[1] >> 51;
        l[1] &= MASK51;
        l[3] += l[2] >> 51;
        l[2] &= MASK51;
        l[4] += l[3] >> 51;
        l[3] &= MASK51;
        l[4] &= MASK51;
        let words = [
            l[0] | (l[1] << 51),
            (l[1] >> 13) | (l[2] << 38),
            (l[2] >> 26) | (l[3] << 25),
            (l[3] >> 39) | (l[4] << 12),
        ];
        let mut out = [0u8; 32];
        for (chunk, word) in out.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        out
    }

    fn equals(self, other: Fe) -> bool {
        self.to_bytes() == other.to_bytes()
    }

    /// Propagates carries so every limb is below 2^51 + 2^18 (inputs below 2^64).
    fn carry(l: [u64; 5]) -> Fe {
        let c = [l[0] >> 51, l[1] >> 51, l[2] >> 51, l[3] >> 51, l[4] >> 51];
        Fe([
            (l[0] & MASK51) + c[4] * 19,
            (l[1] & MASK51) + c[0],
            (l[2] & MASK51) + c[1],
            (l[3] & MASK51) + c[2],
            (l[4] & MASK51) + c[3],
        ])
    }

    fn add(self, b: Fe) -> Fe {
        let a = self.0;
        let b = b.0;
        Fe::carry([
            a[0] + b[0],
            a[1] + b[1],
            a[2] + b[2],
            a[3] + b[3],
            a[4] + b[4],
        ])
    }

    fn sub(self, b: Fe) -> Fe {
        // Adding 16p first keeps every limb positive for inputs below 2^52.
        const P16_0: u64 = 16 * ((1 << 51) - 19);
        const P16_N: u64 = 16 * ((1 << 51) - 1);
        let a = self.0;
        let b = b.0;
        Fe::carry([
            a[0] + P16_0 - b[0],
            a[1] + P16_N - b[1],
            a[2] + P16_N - b[2],
            a[3] + P16_N - b[3],
            a[4] + P16_N - b[4],
        ])
    }

    fn mul(self, b: Fe) -> Fe {
        fn m(x: u64, y: u64) -> u128 {
            u128::from(x) * u128::from(y)
        }
        let [a0, a1, a2, a3, a4] = self.0;
        let [b0, b1, b2, b3, b4] = b.0;
        let (b1_19, b2_19, b3_19, b4_19) = (b1 * 19, b2 * 19, b3 * 19, b4 * 19);
        let c0 = m(a0, b0) + m(a4, b1_19) + m(a3, b2_19) + m(a2, b3_19) + m(a1, b4_19);
        let mut c1 = m(a1, b0) + m(a0, b1) + m(a4, b2_19) + m(a3, b3_19) + m(a2, b4_19);
        let mut c2 = m(a2, b0) + m(a1, b1) + m(a0, b2) + m(a4, b3_19) + m(a3, b4_19);
        let mut c3 = m(a3, b0) + m(a2, b1) + m(a1, b2) + m(a0, b3) + m(a4, b4_19);
        let mut c4 = m(a4, b0) + m(a3, b1) + m(a2, b2) + m(a1, b3) + m(a0, b4);
        // Limbs below 2^52 bound c4 by 2^107, so the final carry times 19 fits in a u64.
        c1 += c0 >> 51;
        c2 += c1 >> 51;
        c3 += c2 >> 51;
        c4 += c3 >> 51;
        let mask = u128::from(MASK51);
        let mut l = [
            (c0 & mask) as u64,
            (c1 & mask) as u64,
            (c2 & mask) as u64,
            (c3 & mask) as u64,
            (c4 & mask) as u64,
        ];
        l[0] += ((c4 >> 51) as u64) * 19;
        l[1] += l[0] >> 51;
        l[0] &= MASK51;
        Fe(l)
    }

    fn square(self) -> Fe {
        self.mul(self)
    }

    /// `self^e` for a little-endian exponent, square-and-multiply.
    fn pow(self, e: &[u8; 32]) -> Fe {
        let mut r = Fe::ONE;
        for byte in e.iter().rev() {
            for bit in (0..8).rev() {
                r = r.square();
                if (byte >> bit) & 1 == 1 {
                    r = r.mul(self);
                }
            }
        }
        r
    }
}

/// `(p - 1) / 2 = 2^254 - 10`, little-endian: the Legendre-symbol exponent.
const P_MINUS_1_HALF: [u8; 32] = [
    0xf6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f,
];

/// Whether some `x` satisfies `-x² + y² = 1 + d·x²·y²`, i.e. `(y² - 1)/(d·y² + 1)` is a square.
/// Called only with `y ≠ ±1`, so that ratio is not 0 (and `d·y² + 1` is never 0).
fn is_on_curve(y: Fe) -> bool {
    let yy = y.square();
    let u = yy.sub(Fe::ONE);
    let v = Fe::D.mul(yy).add(Fe::ONE);
    // u/v is a square exactly when u·v is (they differ by the square v²).
    u.mul(v).pow(&P_MINUS_1_HALF).equals(Fe::ONE)
}

/// Whether the point with this `y` (on the curve, not of small order) lies in the prime-order
/// subgroup.
///
/// Write the point as `P = Q + T` with `Q` of order `L` and `T` of small order. Then
/// `[L+1]P = P + [L]T`, and `[L]T = [5]T` (as `L ≡ 5 mod 8`) is the identity only when `T` is;
/// and `P + [5]T = -P` would make `P` itself of small order. So `[L+1]P = ±P` exactly when
/// `T` is the identity. `±P` is what the Montgomery `u = (1 + y)/(1 - y)` sees, so an x-only
/// ladder (RFC 7748 §5, here with a projective base point and without clamping) suffices.
fn is_torsion_free(y: Fe) -> bool {
    // u = U/W; W ≠ 0 because y ≠ 1.
    let base_u = Fe::ONE.add(y);
    let base_w = Fe::ONE.sub(y);
    let (mut x2, mut z2) = (Fe::ONE, Fe([0; 5]));
    let (mut x3, mut z3) = (base_u, base_w);
    let mut swapped = false;
    for byte in L_PLUS_1.iter().rev() {
        for bit in (0..8).rev() {
            let k = (byte >> bit) & 1 == 1;
            if swapped != k {
                core::mem::swap(&mut x2, &mut x3);
                core::mem::swap(&mut z2, &mut z3);
            }
            swapped = k;
            let a = x2.add(z2);
            let aa = a.square();
            let b = x2.sub(z2);
            let bb = b.square();
            let e = aa.sub(bb);
            let c = x3.add(z3);
            let d = x3.sub(z3);
            let da = d.mul(a);
            let cb = c.mul(b);
            x3 = base_w.mul(da.add(cb).square());
            z3 = base_u.mul(da.sub(cb).square());
            x2 = aa.mul(bb);
            z2 = e.mul(aa.add(Fe::A24.mul(e)));
        }
    }
    if swapped {
        core::mem::swap(&mut x2, &mut x3);
        core::mem::swap(&mut z2, &mut z3);
    }
    // [L+1]P = (x2 : z2); compare with (U : W) without dividing.
    x2.mul(base_w).equals(base_u.mul(z2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).unwrap();
        out
    }

    #[test]
    fn constants() {
        // d·121666 = -121665, and the limbs are the documented bytes.
        assert_eq!(
            Fe::D.to_bytes(),
            hex32(b"a3785913ca4deb75abd841414d0a700098e879777940c78c73fe6f2bee6c0352")
        );
        let d = Fe::D.mul(Fe([121_666, 0, 0, 0, 0]));
        assert!(d.add(Fe([121_665, 0, 0, 0, 0])).equals(Fe([0; 5])));
        // p encodes to zero; L + 1 is L plus one.
        assert_eq!(Fe::from_bytes(&P).to_bytes(), [0u8; 32]);
        let mut l1 = L;
        l1[0] += 1;
        assert_eq!(l1, L_PLUS_1);
    }

    #[test]
    fn field_inverse_round_trip() {
        // a · a^(p-2) = 1 for a few values.
        let mut p_minus_2 = P;
        p_minus_2[0] -= 2;
        for seed in 2u64..40 {
            let a = Fe([seed * 0x1234_5678_9abc, seed, 7, seed << 40, 3]);
            assert!(a.mul(a.pow(&p_minus_2)).equals(Fe::ONE));
        }
    }

    #[test]
    fn base_point_and_rfc_key_pass() {
        let base = unhex("5866666666666666666666666666666666666666666666666666666666666666");
        assert_eq!(check_public_key(&base), Ok(()));
        let rfc = unhex("26b40b8f93fff3d897112f7ebc582b232dbd72517d082fe83cfb30ddce43d1bb");
        assert_eq!(check_public_key(&rfc), Ok(()));
    }

    #[test]
    fn small_order_table_is_small_order() {
        // ed25519-compact's decoder independently calls each entry a small-order point.
        for (i, point) in SMALL_ORDER.iter().enumerate() {
            assert_eq!(
                ed25519_compact::PublicKey::new(*point).validate(),
                Err(ed25519_compact::Error::WeakPublicKey)
            );
            assert!(!SMALL_ORDER[..i].contains(point), "duplicate entry");
            assert_eq!(
                check_public_key(point),
                Err(SignatureRuleError::SmallOrderPoint {
                    point: PointRole::PublicKey
                })
            );
        }
    }

    #[test]
    fn non_canonical_encodings() {
        let mut p = P;
        assert_eq!(
            check_public_key(&p),
            Err(SignatureRuleError::NonCanonicalPoint {
                point: PointRole::PublicKey
            })
        );
        // y = p + 1 is the identity's alias.
        p[0] += 1;
        assert!(matches!(
            check_public_key(&p),
            Err(SignatureRuleError::NonCanonicalPoint { .. })
        ));
        // x = 0 with the sign bit: y = 1 and y = -1.
        let mut one = SMALL_ORDER[0];
        one[31] |= 0x80;
        let mut minus_one = SMALL_ORDER[1];
        minus_one[31] |= 0x80;
        for bad in [one, minus_one] {
            assert!(matches!(
                check_public_key(&bad),
                Err(SignatureRuleError::NonCanonicalPoint { .. })
            ));
        }
    }

    #[test]
    fn not_on_curve() {
        // y = 2 has no x on the curve.
        let mut y = [0u8; 32];
        y[0] = 2;
        assert_eq!(
            check_public_key(&y),
            Err(SignatureRuleError::NotOnCurve {
                point: PointRole::PublicKey
            })
        );
    }

    #[test]
    fn mixed_order_point_rejected() {
        // The base point plus the point of order 2 (0, -1) is (-x, -y): negate y of B.
        let b = Fe::from_bytes(&unhex(
            "5866666666666666666666666666666666666666666666666666666666666666",
        ));
        let minus_y = Fe([0; 5]).sub(b).to_bytes();
        assert_eq!(
            check_public_key(&minus_y),
            Err(SignatureRuleError::MixedOrderPoint {
                point: PointRole::PublicKey
            })
        );
    }

    #[test]
    fn s_bound() {
        let pk = unhex("26b40b8f93fff3d897112f7ebc582b232dbd72517d082fe83cfb30ddce43d1bb");
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&unhex(
            "5866666666666666666666666666666666666666666666666666666666666666",
        ));
        sig[32..].copy_from_slice(&L);
        assert_eq!(
            check_signature(&pk, &sig),
            Err(SignatureRuleError::NonCanonicalS)
        );
        sig[32] -= 1;
        assert_eq!(check_signature(&pk, &sig), Ok(()));
        assert_eq!(
            verify_raw(&CompactBackend, &pk, b"x", &sig),
            Err(SignatureRuleError::Invalid)
        );
    }

    /// Random encodings (debug build: overflow checks on) agree with ed25519-compact's own
    /// decoder on what is a point and what is small order; honest keys always pass.
    #[test]
    fn random_inputs_agree_with_backend_decoding() {
        use ed25519_compact::Error;
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (mut ok, mut mixed) = (0, 0);
        for _ in 0..1000 {
            let mut bytes = [0u8; 32];
            for chunk in bytes.chunks_exact_mut(8) {
                chunk.copy_from_slice(&next().to_le_bytes());
            }
            let ours = check_public_key(&bytes);
            match ed25519_compact::PublicKey::new(bytes).validate() {
                Ok(()) => {
                    assert!(
                        matches!(
                            ours,
                            Ok(()) | Err(SignatureRuleError::MixedOrderPoint { .. })
                        ),
                        "{ours:?}"
                    );
                    if ours.is_ok() {
                        ok += 1;
                    } else {
                        mixed += 1;
                    }
                }
                Err(Error::WeakPublicKey) => {
                    assert!(matches!(
                        ours,
                        Err(SignatureRuleError::SmallOrderPoint { .. })
                    ))
                }
                Err(_) => assert!(matches!(
                    ours,
                    Err(SignatureRuleError::NotOnCurve { .. }
                        | SignatureRuleError::NonCanonicalPoint { .. })
                )),
            }
            let honest = crate::identity::Identity::from_seed(bytes).unwrap();
            assert_eq!(check_public_key(honest.public_key().as_bytes()), Ok(()));
        }
        // A random point is in the prime-order subgroup with probability 1/8.
        assert!(ok > 0 && mixed > 5 * ok, "ok {ok}, mixed {mixed}");
    }

    #[test]
    fn wire_codes() {
        use crate::wire::WireError;
        let e = SignatureRuleError::SmallOrderPoint {
            point: PointRole::R,
        };
        assert_eq!(e.code(), "signature_small_order");
        assert_eq!(e.http_status(), 401);
    }
}
