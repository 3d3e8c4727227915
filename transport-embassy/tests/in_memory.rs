//! Device ↔ device over two embassy-net stacks wired in memory: signed calls both ways,
//! access decisions, replay and tamper refusals, pool exhaustion, oversized input.

mod common;

use common::*;
use embassy_futures::join::join;
use embassy_net::IpEndpoint;
use embassy_net::tcp::{ConnectError, TcpSocket};
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embassy_time::{Duration, Timer};
use shardpeer_core::app_meta::AppMeta;
use shardpeer_core::digest::{Digest, DigestAlg};
use shardpeer_core::identity::{Identity, PublicKey};
use shardpeer_core::message::{self, Request};
use shardpeer_core::profile;
use shardpeer_core::replay::FixedReplayCache;
use shardpeer_embassy::client::{Call, CallError, ClientBuffers, call_peer, fetch_whoareyou};
use shardpeer_embassy::server::{App, Gateway, ServerConfig, SlotMemory};
use shardpeer_embassy::shard::Shard;

type DevShard = Shard<NoopRawMutex, 4, 32>;
type Mem = SlotMemory<2048, 2048, 2048, 1024, 1024, 1024>;

const ZONE: &str = "devices.test";

struct World {
    b_stack: embassy_net::Stack<'static>,
    a: &'static DevShard,
    b: &'static DevShard,
    a_ep: IpEndpoint,
}

fn shard(seed: u8, name: &str) -> &'static DevShard {
    leak(Shard::new(Identity::from_seed([seed; 32]).unwrap(), name, ZONE).unwrap())
}

fn gateway(
    shard: &'static DevShard,
    config: ServerConfig,
) -> &'static Gateway<'static, NoopRawMutex, Echo, 4, 32> {
    let meta: &'static AppMeta = leak(AppMeta::parse(SENSOR_META.as_bytes()).unwrap());
    leak(Gateway {
        shard,
        app: App {
            name: "sensor",
            rules: meta,
            handler: leak(Echo),
        },
        clock: &WallClock,
        config,
    })
}

fn config() -> ServerConfig {
    ServerConfig {
        port: 80,
        request_timeout: Duration::from_secs(3),
        idle_timeout: Duration::from_secs(2),
        write_timeout: Duration::from_secs(3),
        linger: Duration::from_millis(300),
    }
}

/// A serves its app on two slots; B is its peer (A pinned B's key from configuration; B learns
/// A's key from A's whoareyou in the tests that need it).
fn world(slots: usize) -> (World, impl core::future::Future<Output = ()>) {
    let (a_stack, b_stack, link) = linked_pair();
    let a = shard(1, "Device A");
    let b = shard(2, "Device B");
    let a_ep = IpEndpoint::new(embassy_net::IpAddress::v4(192, 0, 2, 1), 80);
    a.add_peer(*b.id(), "bob's sensor", None).unwrap();
    a.pin_peer(b.id(), b.identity().public_key(), None).unwrap();
    b.add_peer(*a.id(), "alice", Some(a_ep)).unwrap();
    let gw = gateway(a, config());
    let serve = async move {
        match slots {
            1 => gw.serve(a_stack, [leak(Mem::new()).slot()]).await,
            _ => {
                gw.serve(a_stack, [leak(Mem::new()).slot(), leak(Mem::new()).slot()])
                    .await
            }
        }
    };
    let bg = async move {
        join(link, serve).await;
    };
    (
        World {
            b_stack,
            a,
            b,
            a_ep,
        },
        bg,
    )
}

struct Bufs {
    rx: Vec<u8>,
    tx: Vec<u8>,
    out: Vec<u8>,
    head: Vec<u8>,
    body: Vec<u8>,
}

impl Bufs {
    fn new() -> Self {
        Bufs {
            rx: vec![0; 2048],
            tx: vec![0; 2048],
            out: vec![0; 1024],
            head: vec![0; 2048],
            body: vec![0; 1024],
        }
    }
    fn get(&mut self) -> ClientBuffers<'_> {
        ClientBuffers {
            tcp_rx: &mut self.rx,
            tcp_tx: &mut self.tx,
            out: &mut self.out,
            head: &mut self.head,
            body: &mut self.body,
        }
    }
}

fn now() -> u64 {
    use shardpeer_embassy::shard::Clock;
    WallClock.now()
}

/// A signed request as bytes, the way a peer would send it.
fn signed_request(
    from: &Identity,
    method: &str,
    host: &str,
    target: &str,
    body: &[u8],
    created: u64,
    nonce_byte: u8,
) -> Vec<u8> {
    let digest = Digest::of(DigestAlg::Sha256, body).header_value();
    let fields = [("Content-Digest", digest.as_str())];
    let (path, query) = message::split_target(target);
    let req = Request {
        method,
        scheme: "http",
        authority: host,
        path,
        query,
        fields: &fields,
    };
    let nonce = profile::nonce_from_random(&[nonce_byte; 16]);
    let mut buf = [0u8; 1024];
    let s = profile::sign_request(from, &req, created, &nonce, &mut buf).unwrap();
    format!(
        "{method} {target} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nContent-Digest: {digest}\r\nSignature-Input: {}\r\nSignature: {}\r\n\r\n",
        body.len(),
        s.signature_input,
        s.signature
    )
    .into_bytes()
    .into_iter()
    .chain(body.iter().copied())
    .collect()
}

fn app_host(shard: &DevShard) -> String {
    format!("sensor.{}", shard.domain())
}

/// Verifies a raw answer as A's signed response to `request` (bytes as sent).
fn verify_signed_answer(a: &DevShard, request: &[u8], raw: &Raw) -> Result<(), String> {
    let end = find(request, b"\r\n\r\n").unwrap() + 4;
    let mut h = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut h);
    req.parse(&request[..end]).unwrap();
    let req_fields: Vec<(&str, &[u8])> = req.headers.iter().map(|h| (h.name, h.value)).collect();
    let (path, query) = message::split_target(req.path.unwrap());
    let host = std::str::from_utf8(
        req_fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("host"))
            .unwrap()
            .1,
    )
    .unwrap();
    let req_view = Request {
        method: req.method.unwrap(),
        scheme: "http",
        authority: host,
        path,
        query,
        fields: req_fields.as_slice(),
    };
    let resp_fields: Vec<(String, String)> = raw
        .head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.to_string(), v.trim().to_string()))
        .collect();
    let resp_pairs: Vec<(&str, &str)> = resp_fields
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let view = message::Response {
        status: raw.status,
        fields: resp_pairs.as_slice(),
        request: Some(&req_view),
    };
    let mut buf = [0u8; 1024];
    let key: PublicKey = a.identity().public_key();
    let v = profile::response_verifier(a.id().as_str())
        .verify_response(
            &view,
            &key,
            &mut FixedReplayCache::<1>::new(),
            now(),
            &mut buf,
        )
        .map_err(|e| format!("{e:?}"))?;
    v.content_digest
        .ok_or("no digest")?
        .check_body(&raw.body)
        .map_err(|e| format!("{e:?}"))
}

#[test]
fn signed_calls_whoareyou_and_access_decisions() {
    let (w, bg) = world(2);
    run(bg, async {
        let mut bufs = Bufs::new();
        // Before B knows A's key, a call is refused locally: nothing unverifiable is sent.
        let call = Call {
            method: "POST",
            app: "sensor",
            path: "/peer/read",
            query: Some("unit=c"),
            content_type: Some("text/plain"),
            body: b"hello",
        };
        let e = call_peer(
            w.b,
            w.b_stack,
            bufs.get(),
            w.a.id(),
            &call,
            &WallClock,
            &mut OsRng,
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, CallError::Peer(_)), "{e:?}");

        // B learns A's key and domain from A's signed whoareyou (host unknown to A).
        let who = fetch_whoareyou(
            w.b,
            w.b_stack,
            bufs.get(),
            w.a.id(),
            &WallClock,
            Duration::from_secs(5),
        )
        .await
        .expect("whoareyou");
        assert_eq!(who.domain.as_str(), w.a.domain());
        assert_eq!(who.name.as_str(), "Device A");
        assert_eq!(
            w.b.peer(w.a.id()).unwrap().key,
            Some(w.a.identity().public_key())
        );

        // A signed call to a peer path: verified both ways; the app sees the full ID and the
        // name A's owner gave B, never a name B chose.
        let resp = call_peer(
            w.b,
            w.b_stack,
            bufs.get(),
            w.a.id(),
            &call,
            &WallClock,
            &mut OsRng,
            Duration::from_secs(5),
        )
        .await
        .expect("signed call");
        assert_eq!(resp.status, 200);
        let text = String::from_utf8_lossy(resp.body).into_owned();
        assert!(
            text.contains(&format!("client=peer id={}", w.b.id())),
            "{text}"
        );
        assert!(text.contains("name=bob's sensor"), "{text}");
        assert!(text.contains("path=/peer/read query=unit=c"), "{text}");
        assert!(
            text.contains(&format!("rule=X-Ptl-Client-Id={};", w.b.id())),
            "{text}"
        );
        assert!(text.ends_with("body=hello"), "{text}");

        // The path is normalised before the decision and for the app.
        let resp = call_peer(
            w.b,
            w.b_stack,
            bufs.get(),
            w.a.id(),
            &Call {
                path: "/pub/../peer/%78",
                query: None,
                ..call
            },
            &WallClock,
            &mut OsRng,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(resp.status, 200);
        assert!(String::from_utf8_lossy(resp.body).contains("path=/peer/x "));

        // A private path: the peer is refused, and the refusal is signed and verified.
        let resp = call_peer(
            w.b,
            w.b_stack,
            bufs.get(),
            w.a.id(),
            &Call {
                path: "/settings",
                ..call
            },
            &WallClock,
            &mut OsRng,
            Duration::from_secs(5),
        )
        .await
        .expect("signed refusal verifies");
        assert_eq!(resp.status, 401);
        assert!(String::from_utf8_lossy(resp.body).contains("\"error\":\"access_denied\""));

        // Anonymous: public allowed, peer and private denied.
        let host = app_host(w.a);
        let r = raw_exchange(
            w.b_stack,
            w.a_ep,
            format!("GET /pub/x HTTP/1.1\r\nHost: {host}\r\nX-Ptl-Client-Id: forged\r\n\r\n")
                .as_bytes(),
        )
        .await;
        assert_eq!(r.status, 200, "{r:?}");
        assert!(
            r.body_text().contains("client=anonymous id=- name= "),
            "{}",
            r.body_text()
        );
        assert!(
            r.body_text().contains("spoof=false"),
            "reserved header hidden from the app"
        );
        assert!(
            r.header("signature").is_none(),
            "anonymous answers are not signed"
        );
        let r = raw_exchange(
            w.b_stack,
            w.a_ep,
            format!("GET /peer/x HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes(),
        )
        .await;
        assert_eq!((r.status, r.error_code().as_str()), (401, "access_denied"));
        let r = raw_exchange(
            w.b_stack,
            w.a_ep,
            format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes(),
        )
        .await;
        assert_eq!((r.status, r.error_code().as_str()), (401, "access_denied"));

        // Other hosts: only whoareyou; bad paths refused.
        let r = raw_exchange(
            w.b_stack,
            w.a_ep,
            b"GET /pub HTTP/1.1\r\nHost: other.example\r\n\r\n",
        )
        .await;
        assert_eq!((r.status, r.error_code().as_str()), (404, "unknown_app"));
        let r = raw_exchange(
            w.b_stack,
            w.a_ep,
            format!("GET /pub/a%2fb HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes(),
        )
        .await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (400, "path_encoded_slash")
        );
        let long = "/pub/".to_string() + &"a".repeat(300);
        let r = raw_exchange(
            w.b_stack,
            w.a_ep,
            format!("GET {long} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes(),
        )
        .await;
        assert_eq!((r.status, r.error_code().as_str()), (414, "path_too_long"));
    });
}

#[test]
fn replay_tamper_and_strangers_are_refused_with_signed_answers() {
    let (w, bg) = world(2);
    run(bg, async {
        let host = app_host(w.a);
        let t = now();
        let req = signed_request(w.b.identity(), "POST", &host, "/peer/x", b"data", t, 7);
        let first = raw_exchange(w.b_stack, w.a_ep, &req).await;
        assert_eq!(first.status, 200, "{}", first.body_text());
        verify_signed_answer(w.a, &req, &first).expect("answer signed and bound");

        // The same bytes again: the nonce was used.
        let again = raw_exchange(w.b_stack, w.a_ep, &req).await;
        assert_eq!(
            (again.status, again.error_code().as_str()),
            (401, "signature_replayed")
        );
        verify_signed_answer(w.a, &req, &again).expect("refusal signed too");
        // A recorded answer does not answer another request.
        let other = signed_request(w.b.identity(), "POST", &host, "/peer/x", b"data", t, 8);
        assert!(verify_signed_answer(w.a, &other, &first).is_err());

        // Body changed after signing: the digest no longer matches.
        let mut tampered = signed_request(w.b.identity(), "POST", &host, "/peer/x", b"data", t, 9);
        let n = tampered.len();
        tampered[n - 1] = b'A';
        let r = raw_exchange(w.b_stack, w.a_ep, &tampered).await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (401, "content_digest_mismatch")
        );
        // Path changed: the signature fails.
        let req = signed_request(w.b.identity(), "POST", &host, "/peer/x", b"data", t, 10);
        let text = String::from_utf8(req)
            .unwrap()
            .replacen("/peer/x", "/peer/y", 1);
        let r = raw_exchange(w.b_stack, w.a_ep, text.as_bytes()).await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (401, "signature_invalid")
        );
        // Too old.
        let req = signed_request(w.b.identity(), "POST", &host, "/peer/x", b"", t - 1000, 11);
        let r = raw_exchange(w.b_stack, w.a_ep, &req).await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (401, "signature_too_old")
        );
        // A shard A never added: refused (never downgraded to anonymous), answer signed.
        let stranger = Identity::from_seed([3; 32]).unwrap();
        let req = signed_request(&stranger, "GET", &host, "/pub", b"", t, 12);
        let r = raw_exchange(w.b_stack, w.a_ep, &req).await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (401, "signature_key_unknown")
        );
        verify_signed_answer(w.a, &req, &r).expect("signed refusal");
        // A garbage signature on a public path is still refused.
        let r = raw_exchange(
            w.b_stack,
            w.a_ep,
            format!("GET /pub HTTP/1.1\r\nHost: {host}\r\nSignature: x\r\n\r\n").as_bytes(),
        )
        .await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (401, "signature_missing")
        );

        // The chunked body of a signed request is checked after de-chunking.
        let req = signed_request(
            w.b.identity(),
            "POST",
            &host,
            "/peer/c",
            b"hello world",
            t,
            13,
        );
        let end = find(&req, b"\r\n\r\n").unwrap();
        let head = String::from_utf8(req[..end].to_vec())
            .unwrap()
            .replace("Content-Length: 11", "Transfer-Encoding: chunked");
        let chunked =
            format!("{head}\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n");
        let r = raw_exchange(w.b_stack, w.a_ep, chunked.as_bytes()).await;
        assert_eq!(r.status, 200, "{}", r.body_text());
        assert!(r.body_text().ends_with("body=hello world"));
        // Nonces are recorded once the signature verified: 7, 9 (its body then failed) and 13.
        assert_eq!(w.a.live_nonces(now()), 3);
    });
}

#[test]
fn keep_alive_serves_several_requests_per_connection() {
    let (w, bg) = world(1);
    run(bg, async {
        let host = app_host(w.a);
        let mut rx = vec![0u8; 4096];
        let mut tx = vec![0u8; 4096];
        let mut s = TcpSocket::new(w.b_stack, &mut rx, &mut tx);
        s.connect(w.a_ep).await.unwrap();
        for i in 0..3 {
            let r = send_on(
                &mut s,
                format!("POST /pub/{i} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 2\r\n\r\nhi")
                    .as_bytes(),
            )
            .await;
            assert_eq!(r.status, 200);
            assert!(r.body_text().contains(&format!("path=/pub/{i} ")));
        }
        // Two pipelined requests in one write.
        let two = format!(
            "GET /pub/p1 HTTP/1.1\r\nHost: {host}\r\n\r\nGET /pub/p2 HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        );
        let r1 = send_on(&mut s, two.as_bytes()).await;
        let r2 = read_answer(&mut s).await;
        assert!(r1.body_text().contains("path=/pub/p1 "));
        assert!(r2.body_text().contains("path=/pub/p2 "));
        assert_eq!(r2.header("connection").as_deref(), Some("close"));
    });
}

#[test]
fn pool_exhaustion_resets_the_extra_connection_until_a_slot_frees() {
    let (w, bg) = world(2);
    run(bg, async {
        let host = app_host(w.a);
        let mut bufs: Vec<Vec<u8>> = (0..6).map(|_| vec![0u8; 2048]).collect();
        let (b01, rest) = bufs.split_at_mut(2);
        let (b23, b45) = rest.split_at_mut(2);
        let (r0, t0) = b01.split_at_mut(1);
        let (r1, t1) = b23.split_at_mut(1);
        let (r2, t2) = b45.split_at_mut(1);
        let mut c0 = TcpSocket::new(w.b_stack, &mut r0[0], &mut t0[0]);
        let mut c1 = TcpSocket::new(w.b_stack, &mut r1[0], &mut t1[0]);
        let mut c2 = TcpSocket::new(w.b_stack, &mut r2[0], &mut t2[0]);
        c0.connect(w.a_ep).await.unwrap();
        c1.connect(w.a_ep).await.unwrap();
        // Both slots are busy with open connections: no socket listens, smoltcp resets.
        assert_eq!(c2.connect(w.a_ep).await, Err(ConnectError::ConnectionReset));
        // The held connections are served normally.
        let r = send_on(
            &mut c0,
            format!("GET /pub/0 HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes(),
        )
        .await;
        assert_eq!(r.status, 200);
        // One closes; its slot listens again and the next connection is served.
        let r = send_on(
            &mut c1,
            format!("GET /pub/1 HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await;
        assert_eq!(r.status, 200);
        c1.close();
        Timer::after_millis(500).await;
        c2.abort();
        let _ = c2.flush().await;
        drop(c2);
        let mut c3 = TcpSocket::new(w.b_stack, &mut r2[0], &mut t2[0]);
        c3.connect(w.a_ep)
            .await
            .expect("a freed slot accepts again");
        let r = send_on(
            &mut c3,
            format!("GET /pub/3 HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes(),
        )
        .await;
        assert_eq!(r.status, 200);
        // An idle connection is dropped after the idle timeout, freeing its slot.
        Timer::after_millis(2600).await;
        let mut buf = [0u8; 16];
        assert_eq!(
            c0.read(&mut buf).await.unwrap_or(0),
            0,
            "idle connection closed by the server"
        );
    });
}

#[test]
fn oversized_and_malformed_input_is_refused_without_panic() {
    let (w, bg) = world(2);
    run(bg, async {
        let host = app_host(w.a);
        // Head larger than the head buffer (2048 - 256 staging).
        let big = format!(
            "GET /pub HTTP/1.1\r\nHost: {host}\r\nX-Big: {}\r\n\r\n",
            "a".repeat(3000)
        );
        let r = raw_exchange(w.b_stack, w.a_ep, big.as_bytes()).await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (431, "http_head_too_large")
        );
        // Too many fields.
        let many: String = (0..40).map(|i| format!("X-{i}: 1\r\n")).collect();
        let r = raw_exchange(
            w.b_stack,
            w.a_ep,
            format!("GET /pub HTTP/1.1\r\nHost: {host}\r\n{many}\r\n").as_bytes(),
        )
        .await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (431, "http_too_many_headers")
        );
        // Declared body larger than the body buffer: refused before reading it.
        let r = raw_exchange(
            w.b_stack,
            w.a_ep,
            format!("POST /pub HTTP/1.1\r\nHost: {host}\r\nContent-Length: 100000\r\n\r\n")
                .as_bytes(),
        )
        .await;
        assert_eq!((r.status, r.error_code().as_str()), (413, "body_too_large"));
        // Chunked body that grows past the buffer.
        let chunk = "a".repeat(600);
        let r = raw_exchange(w.b_stack, w.a_ep, format!("POST /pub HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n{chunk}\r\n258\r\n{chunk}\r\n0\r\n\r\n").as_bytes()).await;
        assert_eq!((r.status, r.error_code().as_str()), (413, "body_too_large"));
        // Smuggling-shaped framing.
        let r = raw_exchange(w.b_stack, w.a_ep, format!("POST /pub HTTP/1.1\r\nHost: {host}\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").as_bytes()).await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (400, "http_ambiguous_length")
        );
        let r = raw_exchange(w.b_stack, w.a_ep, format!("POST /pub HTTP/1.1\r\nHost: {host}\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd").as_bytes()).await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (400, "http_bad_content_length")
        );
        let r = raw_exchange(
            w.b_stack,
            w.a_ep,
            format!(
                "POST /pub HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
            )
            .as_bytes(),
        )
        .await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (501, "http_unsupported_transfer_encoding")
        );
        let r = raw_exchange(
            w.b_stack,
            w.a_ep,
            format!(
                "POST /pub HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
            )
            .as_bytes(),
        )
        .await;
        assert_eq!((r.status, r.error_code().as_str()), (400, "http_bad_chunk"));
        let r = raw_exchange(w.b_stack, w.a_ep, b"GET /pub HTTP/1.1\r\n\r\n").await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (400, "http_missing_host")
        );
        let r = raw_exchange(w.b_stack, w.a_ep, b"\x00\x01garbage\r\n\r\n").await;
        assert_eq!((r.status, r.error_code().as_str()), (400, "http_malformed"));
        // A head that never ends: timed out, the slot is freed.
        let mut rx = vec![0u8; 2048];
        let mut tx = vec![0u8; 2048];
        let mut s = TcpSocket::new(w.b_stack, &mut rx, &mut tx);
        s.connect(w.a_ep).await.unwrap();
        use embedded_io_async::Write as _;
        s.write_all(b"GET /pub HTTP/1.1\r\nHost: x").await.unwrap();
        let r = read_answer(&mut s).await;
        assert_eq!((r.status, r.error_code().as_str()), (408, "http_timeout"));
        // And the device still serves.
        let r = raw_exchange(
            w.b_stack,
            w.a_ep,
            format!("GET /pub HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes(),
        )
        .await;
        assert_eq!(r.status, 200);
    });
}

#[test]
fn device_to_device_both_ways() {
    // Each device serves and calls: B also runs a gateway, A calls it.
    let (a_stack, b_stack, link) = linked_pair();
    let a = shard(4, "A");
    let b = shard(5, "B");
    let a_ep = IpEndpoint::new(embassy_net::IpAddress::v4(192, 0, 2, 1), 80);
    let b_ep = IpEndpoint::new(embassy_net::IpAddress::v4(192, 0, 2, 2), 80);
    a.add_peer(*b.id(), "b", Some(b_ep)).unwrap();
    b.add_peer(*a.id(), "a", Some(a_ep)).unwrap();
    let ga = gateway(a, config());
    let gb = gateway(b, config());
    let bg = async move {
        let sa = ga.serve(a_stack, [leak(Mem::new()).slot()]);
        let sb = gb.serve(b_stack, [leak(Mem::new()).slot()]);
        join(link, join(sa, sb)).await;
    };
    run(bg, async {
        let mut bufs = Bufs::new();
        fetch_whoareyou(
            a,
            a_stack,
            bufs.get(),
            b.id(),
            &WallClock,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        fetch_whoareyou(
            b,
            b_stack,
            bufs.get(),
            a.id(),
            &WallClock,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        let call = Call {
            method: "GET",
            app: "sensor",
            path: "/peer/t",
            query: None,
            content_type: None,
            body: b"",
        };
        let r = call_peer(
            a,
            a_stack,
            bufs.get(),
            b.id(),
            &call,
            &WallClock,
            &mut OsRng,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(r.status, 200);
        assert!(String::from_utf8_lossy(r.body).contains(&format!("id={}", a.id())));
        let r = call_peer(
            b,
            b_stack,
            bufs.get(),
            a.id(),
            &call,
            &WallClock,
            &mut OsRng,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(r.status, 200);
        assert!(String::from_utf8_lossy(r.body).contains(&format!("id={}", b.id())));
        // A device whose clock is far off: its request is refused, and it cannot verify.
        let r = call_peer(
            b,
            b_stack,
            bufs.get(),
            a.id(),
            &call,
            &FixedClock(now() - 3600),
            &mut OsRng,
            Duration::from_secs(5),
        )
        .await;
        assert!(matches!(r, Err(CallError::Unverified(_))), "{r:?}");
    });
}
