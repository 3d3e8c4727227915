//! The gateway's verification of a peer request allocates nothing: no copy of the keyid, the
//! peer's name, the nonce journal line or the signature base reaches the heap. A counting
//! allocator (allocation-counter, which counts on the calling thread) watches `verify_peer`
//! run on requests signed in advance, each with its own nonce, so the replay cache and its
//! on-disk journal are in the path.

use http::{HeaderMap, HeaderValue};
use shardpeer_core::digest::{Digest, DigestAlg};
use shardpeer_core::identity::Identity;
use shardpeer_core::message::Request;
use shardpeer_core::profile;
use shardpeer_tokio::config::Config;
use shardpeer_tokio::gateway::verify_peer;
use shardpeer_tokio::headers::Headers;
use shardpeer_tokio::peers::Peer;
use shardpeer_tokio::state::Shard;
const AUTHORITY: &str = "notes.abcdef.shard.test";
const BODY: &[u8] = br#"{"note":"allocation-free"}"#;

fn signed(peer: &Identity, n: usize) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("host", HeaderValue::from_static(AUTHORITY));
    h.insert("content-type", HeaderValue::from_static("application/json"));
    let digest = Digest::of(DigestAlg::Sha256, BODY).header_value();
    h.insert("content-digest", HeaderValue::from_str(&digest).unwrap());
    let fields = Headers(&h);
    let view = Request {
        method: "POST",
        scheme: "http",
        authority: AUTHORITY,
        path: "/api/notes",
        query: None,
        fields: &fields,
    };
    let nonce = format!("alloc-test-nonce-{n:012}");
    let mut buf = [0u8; 2048];
    let now = shardpeer_tokio::peers::unix_now();
    let s = profile::sign_request(peer, &view, now, &nonce, &mut buf).unwrap();
    h.insert(
        "signature-input",
        HeaderValue::from_str(&s.signature_input).unwrap(),
    );
    h.insert("signature", HeaderValue::from_str(&s.signature).unwrap());
    h
}

#[tokio::test(flavor = "current_thread")]
async fn verifying_a_peer_request_allocates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let shard = Shard::open(&Config::for_data_dir(dir.path().join("data"))).unwrap();
    let peer = Identity::from_seed([42; 32]).unwrap();
    let id = peer.id().as_str().to_string();
    let key_hex: String = peer
        .public_key()
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    shard
        .peers
        .modify(|m| {
            m.insert(
                id.clone(),
                Peer {
                    id: id.clone(),
                    name: "Alice".into(),
                    self_name: None,
                    address: None,
                    domain: None,
                    public_key: Some(key_hex),
                    is_reachable: true,
                    last_seen: None,
                    last_accepted_call: None,
                    added_at: 0,
                },
            );
            Ok(())
        })
        .await
        .unwrap();

    let requests: Vec<HeaderMap> = (0..210).map(|n| signed(&peer, n)).collect();
    let verify = |h: &HeaderMap| {
        let fields = Headers(h);
        let view = Request {
            method: "POST",
            scheme: "http",
            authority: AUTHORITY,
            path: "/api/notes",
            query: None,
            fields: &fields,
        };
        verify_peer(&shard, &view, BODY)
    };
    // Warm-up: lazily initialised statics (tracing's, the clock's) allocate once.
    for h in &requests[..10] {
        let client = verify(h).unwrap();
        assert_eq!(client.id(), id);
    }
    let mut clients = Vec::with_capacity(200);
    let info = allocation_counter::measure(|| {
        for h in &requests[10..] {
            clients.push(verify(h).map(|c| c.kind));
        }
    });
    assert!(
        clients.iter().all(|c| c.is_ok()),
        "a request did not verify: {:?}",
        clients.iter().find(|c| c.is_err())
    );
    assert_eq!(
        info.count_total, 0,
        "verify_peer allocated {} times ({} bytes) over 200 requests",
        info.count_total, info.bytes_total
    );

    // The counter sees this path when it does allocate: a replayed request is refused, and
    // the refusal's message is a String.
    let info = allocation_counter::measure(|| {
        let replayed = verify(&requests[10]).unwrap_err();
        assert_eq!(replayed.code, "signature_replayed");
    });
    assert!(info.count_total > 0);
}
