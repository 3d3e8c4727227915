//! Links `shardpeer-core` into a binary without std and runs one signed round trip: the
//! RFC 9421 B.2.6 request signed and verified, then a shardpeer profile request with the
//! fixed-capacity replay cache. Exit code 0 means both verified; the C runtime's `main` is
//! the only thing borrowed from the platform.
#![no_std]
#![no_main]

use shardpeer_core::identity::Identity;
use shardpeer_core::message::Request;
use shardpeer_core::profile;
use shardpeer_core::replay::FixedReplayCache;
use shardpeer_core::sign::{self, SignatureParams};
use shardpeer_core::verify::{Policy, Verifier};

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}

const B14_SEED: [u8; 32] = [
    0x9f, 0x83, 0x62, 0xf8, 0x7a, 0x48, 0x4a, 0x95, 0x4e, 0x6e, 0x74, 0x0c, 0x5b, 0x4c, 0x0e, 0x84,
    0x22, 0x91, 0x39, 0xa2, 0x0a, 0xa8, 0xab, 0x56, 0xff, 0x66, 0x58, 0x6f, 0x6a, 0x7d, 0x29, 0xc5,
];
const B26_SIGNATURE: &str = "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:";

fn rfc_round_trip() -> bool {
    let Ok(id) = Identity::from_seed(B14_SEED) else { return false };
    let fields = [
        ("Host", "example.com"),
        ("Date", "Tue, 20 Apr 2021 02:07:55 GMT"),
        ("Content-Type", "application/json"),
        ("Content-Length", "18"),
    ];
    let req = Request {
        method: "POST",
        scheme: "https",
        authority: "example.com",
        path: "/foo",
        query: Some("param=Value&Pet=dog"),
        fields: &fields,
    };
    let params =
        SignatureParams { created: Some(1618884473), keyid: Some("test-key-ed25519"), ..Default::default() };
    let mut buf = [0u8; 512];
    let components = r#""date" "@method" "@path" "@authority" "content-type" "content-length""#;
    let Ok(signed) = sign::sign_request(&id, "sig-b26", components, &params, &req, &mut buf) else {
        return false;
    };
    if signed.signature.as_str() != B26_SIGNATURE {
        return false;
    }
    let all = [
        ("Host", "example.com"),
        ("Date", "Tue, 20 Apr 2021 02:07:55 GMT"),
        ("Content-Type", "application/json"),
        ("Content-Length", "18"),
        ("Signature-Input", signed.signature_input.as_str()),
        ("Signature", signed.signature.as_str()),
    ];
    let req = Request { fields: &all, ..Request { method: "POST", scheme: "https", authority: "example.com", path: "/foo", query: None, fields: &all } };
    let mut cache = FixedReplayCache::<4>::new();
    Verifier::new(Policy::RFC9421)
        .verify_request(&req, &id.public_key(), &mut cache, 1618884473, &mut buf)
        .is_ok()
}

fn profile_round_trip() -> bool {
    let Ok(alice) = Identity::from_seed([1; 32]) else { return false };
    let digest = shardpeer_core::digest::Digest::of(shardpeer_core::digest::DigestAlg::Sha256, b"hi");
    let dv = digest.header_value();
    let fields = [("Content-Digest", dv.as_str())];
    let req = Request { method: "GET", scheme: "https", authority: "app.abcdef.zone", path: "/x", query: None, fields: &fields };
    let nonce = profile::nonce_from_random(&[9; 16]);
    let mut buf = [0u8; 1024];
    let Ok(s) = profile::sign_request(&alice, &req, 1_700_000_000, &nonce, &mut buf) else { return false };
    let signed = [
        ("Content-Digest", dv.as_str()),
        ("Signature-Input", s.signature_input.as_str()),
        ("Signature", s.signature.as_str()),
    ];
    let req = Request { fields: &signed, ..Request { method: "GET", scheme: "http", authority: "app.abcdef.zone", path: "/x", query: None, fields: &signed } };
    let mut cache = FixedReplayCache::<8>::new();
    let verifier = profile::request_verifier();
    let first = verifier.verify_request(&req, &alice.public_key(), &mut cache, 1_700_000_001, &mut buf);
    let replay = verifier.verify_request(&req, &alice.public_key(), &mut cache, 1_700_000_002, &mut buf);
    matches!(first, Ok(v) if v.content_digest.is_some_and(|d| d.check_body(b"hi").is_ok())) && replay.is_err()
}

#[unsafe(no_mangle)]
pub extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {
    if !rfc_round_trip() {
        return 1;
    }
    if !profile_round_trip() {
        return 2;
    }
    0
}

/// The precompiled `core` for this host target refers to the unwinding personality routine
/// even with `panic = "abort"`; nothing ever unwinds here, so an empty one satisfies the link.
#[unsafe(no_mangle)]
pub extern "C" fn rust_eh_personality() {}

// The C library supplies the process entry (`__libc_start_main` calling `main`) and the
// `memcpy`/`memset`/`bcmp` that compiled Rust expects; std would normally link it.
#[link(name = "c")]
unsafe extern "C" {}
