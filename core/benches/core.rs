//! Where a peer request's time goes in the core. `cargo bench -p shardpeer-core`; results and
//! how to read them in BENCHMARKS.md.
//!
//! The request is the one a host sends through `call_peer`: a JSON POST with
//! `Content-Type`, `Content-Digest` and the profile's signature. `verify/request` is what the
//! gateway runs per request (structured-field parsing, policy, key lookup, base, Ed25519, body
//! digest); `ed25519/*` splits out the curve work so the rest can be read as the difference.
//! The replay cache in the benches accepts everything: a real one would refuse the second
//! iteration, and its cost is the transport's (measured by the load benchmark).

// criterion_group! makes an undocumented `pub fn`.
#![allow(missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

use shardpeer_core::acl::ClientKind;
use shardpeer_core::app_meta::AppMeta;
use shardpeer_core::base;
use shardpeer_core::digest::{Digest, DigestAlg};
use shardpeer_core::ed25519::{self, CompactBackend, Ed25519Backend, RingBackend};
use shardpeer_core::id::ShardId;
use shardpeer_core::identity::{Identity, PublicKey};
use shardpeer_core::message::Request;
use shardpeer_core::path::normalize_path;
use shardpeer_core::profile;
use shardpeer_core::replay::{ReplayCache, ReplayError};
use shardpeer_core::sf;
use shardpeer_core::template::TemplateContext;
use shardpeer_core::verify::Verifier;

/// Accepts every nonce, so one signed request can be verified many times.
struct NoReplay;
impl ReplayCache for NoReplay {
    fn check_and_insert(&mut self, _: &str, _: &str, _: u64, _: u64) -> Result<(), ReplayError> {
        Ok(())
    }
}

/// ed25519-dalek's strict verifier, as a comparison point (dev-dependency only).
struct DalekCompare;
impl Ed25519Backend for DalekCompare {
    fn verify(&self, public_key: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
        ed25519_dalek::VerifyingKey::from_bytes(public_key).is_ok_and(|vk| {
            vk.verify_strict(msg, &ed25519_dalek::Signature::from_bytes(sig))
                .is_ok()
        })
    }
}

const NOW: u64 = 1_790_000_000;
const AUTHORITY: &str = "notes.uzzfsz.shard.example";
const PATH: &str = "/api/items";
const BODY: &[u8] = br#"{"title":"Groceries","items":["milk","eggs","bread"],"shared_with":"uzzfsz","created":1790000000}"#;

fn identity() -> Identity {
    Identity::from_seed([7; 32]).unwrap()
}

/// The unsigned fields of the benchmark request.
fn plain_fields() -> Vec<(String, String)> {
    vec![
        ("Host".into(), AUTHORITY.into()),
        ("Content-Type".into(), "application/json".into()),
        ("Content-Length".into(), BODY.len().to_string()),
        (
            "Content-Digest".into(),
            Digest::of(DigestAlg::Sha256, BODY)
                .header_value()
                .to_string(),
        ),
    ]
}

fn borrow(fields: &[(String, String)]) -> Vec<(&str, &str)> {
    fields
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

fn request<'a>(fields: &'a [(&'a str, &'a str)]) -> Request<'a, [(&'a str, &'a str)]> {
    Request {
        method: "POST",
        scheme: "https",
        authority: AUTHORITY,
        path: PATH,
        query: None,
        fields,
    }
}

/// The benchmark request with its signature fields.
fn signed_fields(id: &Identity) -> Vec<(String, String)> {
    let mut fields = plain_fields();
    let borrowed = borrow(&fields);
    let mut buf = [0u8; 2048];
    let signed = profile::sign_request(
        id,
        &request(&borrowed),
        NOW,
        "bench-nonce-0123456789abcdef",
        &mut buf,
    )
    .unwrap();
    fields.push(("Signature-Input".into(), signed.signature_input.to_string()));
    fields.push(("Signature".into(), signed.signature.to_string()));
    fields
}

fn ids(c: &mut Criterion) {
    let pk = identity().public_key();
    let id = pk.id();
    let mut g = c.benchmark_group("id");
    g.bench_function("derive", |b| {
        b.iter(|| ShardId::from_public_key(black_box(&pk)))
    });
    g.bench_function("parse", |b| {
        b.iter(|| ShardId::parse(black_box(id.as_str())))
    });
    g.finish();
}

fn ed25519(c: &mut Criterion) {
    let id = identity();
    let pk = id.public_key();
    let msg = [0x41u8; 300];
    let sig = id.sign(&msg);
    let mut g = c.benchmark_group("ed25519");
    g.bench_function("backend_verify/compact", |b| {
        b.iter(|| CompactBackend.verify(pk.as_bytes(), black_box(&msg), &sig))
    });
    g.bench_function("backend_verify/ring", |b| {
        b.iter(|| RingBackend.verify(pk.as_bytes(), black_box(&msg), &sig))
    });
    g.bench_function("backend_verify/dalek", |b| {
        b.iter(|| DalekCompare.verify(pk.as_bytes(), black_box(&msg), &sig))
    });
    // The rule the core checks before any backend, on a pinned key (S and R only) and on a
    // raw key (the key's point checks too).
    g.bench_function("verify_with/compact", |b| {
        b.iter(|| ed25519::verify_with(&CompactBackend, &pk, black_box(&msg), &sig))
    });
    g.bench_function("verify_with/dalek", |b| {
        b.iter(|| ed25519::verify_with(&DalekCompare, &pk, black_box(&msg), &sig))
    });
    g.bench_function("verify_with/ring", |b| {
        b.iter(|| ed25519::verify_with(&RingBackend, &pk, black_box(&msg), &sig))
    });
    g.bench_function("rule/check_signature", |b| {
        b.iter(|| ed25519::check_signature(pk.as_bytes(), black_box(&sig)))
    });
    g.bench_function("rule/check_public_key", |b| {
        b.iter(|| PublicKey::from_bytes(black_box(*pk.as_bytes())))
    });
    g.bench_function("sign/identity_ring", |b| {
        b.iter(|| id.sign(black_box(&msg)))
    });
    g.bench_function("sign/identity_compact", |b| {
        b.iter(|| id.sign_portable(black_box(&msg)))
    });
    let kp = ring::signature::Ed25519KeyPair::from_seed_unchecked(&[7; 32]).unwrap();
    g.bench_function("sign/ring", |b| b.iter(|| kp.sign(black_box(&msg))));
    // Batch verification, per batch of 16 (one per connection of the load benchmark). Its
    // equation is cofactored, so under the protocol's rule every `R` would also need the
    // subgroup test (`rule/check_r_subgroup`): BENCHMARKS.md weighs the two.
    let keys: Vec<ed25519_dalek::SigningKey> = (1u8..=16)
        .map(|i| ed25519_dalek::SigningKey::from_bytes(&[i; 32]))
        .collect();
    let msgs: Vec<Vec<u8>> = (0u8..16).map(|i| vec![i; 300]).collect();
    let sigs: Vec<ed25519_dalek::Signature> = keys
        .iter()
        .zip(&msgs)
        .map(|(k, m)| ed25519_dalek::Signer::sign(k, m))
        .collect();
    let vks: Vec<ed25519_dalek::VerifyingKey> = keys.iter().map(|k| k.verifying_key()).collect();
    let msg_refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
    g.bench_function("dalek_verify_batch_16", |b| {
        b.iter(|| ed25519_dalek::verify_batch(black_box(&msg_refs), &sigs, &vks))
    });
    let r_of_sig = {
        let mut r = [0u8; 32];
        r.copy_from_slice(&sig[..32]);
        r
    };
    g.bench_function("rule/check_r_subgroup", |b| {
        b.iter(|| PublicKey::from_bytes(black_box(r_of_sig)))
    });
    let sk = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    g.bench_function("sign/dalek", |b| {
        b.iter(|| ed25519_dalek::Signer::sign(&sk, black_box(&msg)))
    });
    g.finish();
}

fn signatures(c: &mut Criterion) {
    let id = identity();
    let pk = id.public_key();
    let plain = plain_fields();
    let plain = borrow(&plain);
    let signed = signed_fields(&id);
    let signed = borrow(&signed);
    let input = signed
        .iter()
        .find(|(n, _)| *n == "Signature-Input")
        .unwrap()
        .1;
    let dict = sf::Dictionary::parse(input).unwrap();
    let Some(sf::Member::InnerList(list)) = dict.get(profile::LABEL) else {
        panic!("no shardpeer signature")
    };

    let mut g = c.benchmark_group("signature");
    g.bench_function("parse_signature_input", |b| {
        b.iter(|| sf::Dictionary::parse(black_box(input)).map(|d| d.get(profile::LABEL).is_some()))
    });
    g.bench_function("base/request", |b| {
        let mut buf = [0u8; 2048];
        b.iter(|| {
            base::request_base(black_box(&request(&signed)), &list, &mut buf).map(|s| s.len())
        })
    });
    g.bench_function("sign/request", |b| {
        let mut buf = [0u8; 2048];
        b.iter(|| {
            profile::sign_request(
                &id,
                black_box(&request(&plain)),
                NOW,
                "bench-nonce-0123456789abcdef",
                &mut buf,
            )
        })
    });
    // What the gateway does per request: verify, then the body against the covered digest.
    verify_request(
        &mut g,
        "compact",
        Verifier::with_backend(profile::REQUEST_POLICY, CompactBackend),
        &signed,
        &pk,
    );
    verify_request(
        &mut g,
        "ring",
        Verifier::with_backend(profile::REQUEST_POLICY, RingBackend),
        &signed,
        &pk,
    );
    g.finish();
}

fn verify_request<B: Ed25519Backend>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    verifier: Verifier<'_, B>,
    signed: &[(&str, &str)],
    key: &PublicKey,
) {
    g.bench_function(BenchmarkId::new("verify/request", name), |b| {
        let mut buf = [0u8; 2048];
        b.iter(|| {
            let v = verifier
                .verify_request(
                    black_box(&request(signed)),
                    key,
                    &mut NoReplay,
                    NOW,
                    &mut buf,
                )
                .unwrap();
            v.content_digest
                .unwrap()
                .check_body(black_box(BODY))
                .unwrap();
        })
    });
}

fn digests(c: &mut Criterion) {
    let mut g = c.benchmark_group("content_digest");
    for kib in [1usize, 16, 64] {
        let body = vec![0x5au8; kib * 1024];
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_with_input(
            BenchmarkId::new("sha-256", format!("{kib}KiB")),
            &body,
            |b, body| b.iter(|| Digest::of(DigestAlg::Sha256, black_box(body))),
        );
        g.bench_with_input(
            BenchmarkId::new("sha-512", format!("{kib}KiB")),
            &body,
            |b, body| b.iter(|| Digest::of(DigestAlg::Sha512, black_box(body))),
        );
    }
    g.finish();
}

const APP_META: &str = r#"{
    "v": "1.2",
    "name": "notes",
    "paths": {
        "": {"access": "private", "headers": {
            "X-Ptl-Client-Id": "{{ auth.client_id }}",
            "X-Ptl-Client-Name": "{{ auth.client_name }}",
            "X-Ptl-Client-Type": "{{ auth.client_type }}",
            "X-Ptl-ID": "{{ portal.id }}"
        }},
        "/public": {"access": "public", "headers": {"X-Ptl-Client-Type": "{{ auth.client_type }}"}},
        "/api/shared": {"access": "peer", "headers": {"X-Ptl-Client-Id": "{{ auth.client_id }}"}},
        "/api": {"access": "peer", "headers": {
            "X-Ptl-Client-Id": "{{ auth.client_id }}",
            "X-Ptl-Client-Name": "{{ auth.client_name }}",
            "X-Ptl-Client-Type": "{{ auth.client_type }}"
        }}
    }
}"#;

fn access(c: &mut Criterion) {
    let meta: AppMeta = AppMeta::parse(APP_META.as_bytes()).unwrap();
    let peer = identity().id();
    let own = Identity::from_seed([9; 32]).unwrap().id();
    let ctx = TemplateContext {
        client_type: ClientKind::Peer.as_str(),
        client_id: peer.as_str(),
        client_name: "Alice",
        portal_id: own.as_str(),
        portal_short_id: own.short_id(),
        portal_domain: "shard.example",
        portal_public_key_pem: "",
    };
    let mut g = c.benchmark_group("access");
    g.bench_function("app_meta/parse", |b| {
        b.iter(|| AppMeta::<16, 32, 2048>::parse(black_box(APP_META.as_bytes())).is_ok())
    });
    // Per request: normalise the path, pick the longest rule, render its headers.
    g.bench_function("normalize+decide+render", |b| {
        let mut path_buf = [0u8; 256];
        let mut out = [0u8; 512];
        b.iter(|| {
            let path = normalize_path(black_box("/api/./items//42/../7"), &mut path_buf).unwrap();
            let rule = meta.decide(path, ClientKind::Peer).unwrap();
            let mut total = 0;
            for h in rule.headers() {
                total += h.render(&ctx, &mut out).unwrap().len();
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, ids, ed25519, signatures, digests, access);
criterion_main!(benches);
