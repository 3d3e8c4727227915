//! Peer links over TLS 1.3 pinned to the peer's key: no CA, no DNS trust.

mod common;
use common::*;
use http::Method;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TLS: &str = "tls_listen = \"127.0.0.1:0\"";

async fn tls_pair() -> (Host, Echo, Host, Echo) {
    let ea = Echo::start("echo-a").await;
    let eb = Echo::start("echo-b").await;
    let a = Host::start(HostSpec {
        name: "Alice",
        apps: vec![("echo", ea.addr, ECHO_META)],
        extra_toml: TLS,
    });
    let b = Host::start(HostSpec {
        name: "Bob",
        apps: vec![("echo", eb.addr, ECHO_META)],
        extra_toml: TLS,
    });
    (a, ea, b, eb)
}

async fn put_peer(host: &Host, other: &Host, name: &str, address: &str) -> Resp {
    let body = serde_json::json!({"id": other.id, "name": name, "address": address});
    host.internal_req(
        Method::PUT,
        "/protected/peers",
        &host.owner_token,
        body.to_string().into_bytes(),
    )
    .await
}

async fn call(a: &Host, peer: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    let bearer = format!("Bearer {}", a.app_token("echo"));
    let mut h: Vec<(&str, &str)> = vec![("authorization", &bearer)];
    h.extend_from_slice(headers);
    send(
        Method::POST,
        &format!("http://{}/internal/call_peer/{peer}{path}", a.internal),
        &h,
        body.to_vec(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_talk_over_tls_pinned_to_their_ids() {
    let (a, _ea, b, eb) = tls_pair().await;
    let r = put_peer(&a, &b, "Bob", &format!("https://{}", b.tls.unwrap())).await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        r.json()["is_reachable"],
        true,
        "whoareyou fetched over pinned TLS"
    );
    assert_eq!(
        put_peer(&b, &a, "Alice", &format!("https://{}", a.tls.unwrap()))
            .await
            .status,
        201
    );
    let r = call(&a, &b.id, "/peer/tls", &[], b"over tls").await;
    assert_eq!(r.status, 200, "{r:?}");
    let seen = eb.last();
    assert_eq!(&seen.body[..], b"over tls");
    assert_eq!(seen.headers.get("x-ptl-client-id").unwrap(), a.id.as_str());
    assert_eq!(seen.headers.get("x-forwarded-proto").unwrap(), "https");
}

/// A TLS server with a certificate for the right names but another key, recording how many
/// bytes of application data arrive.
async fn impostor(domain: &str) -> (std::net::SocketAddr, Arc<Mutex<usize>>) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let params =
        rcgen::CertificateParams::new(vec![domain.to_string(), format!("*.{domain}")]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let pkcs8 = PrivatePkcs8KeyDer::from(key.serialize_der());
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.der().clone()], PrivateKeyDer::Pkcs8(pkcs8))
    .unwrap();
    config.alpn_protocols = vec![b"shardpeer/1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Arc::new(Mutex::new(0usize));
    let r2 = received.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let received = r2.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = tls.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        *received.lock().unwrap() += n;
                    }
                }
            });
        }
    });
    (addr, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_man_in_the_middle_with_another_key_gets_nothing() {
    let (a, _ea, b, eb) = tls_pair().await;
    assert_eq!(
        put_peer(&a, &b, "Bob", &format!("https://{}", b.tls.unwrap()))
            .await
            .status,
        201
    );
    assert_eq!(
        put_peer(&b, &a, "Alice", &format!("https://{}", a.tls.unwrap()))
            .await
            .status,
        201
    );
    assert_eq!(call(&a, &b.id, "/peer/ok", &[], b"x").await.status, 200);
    // Traffic for Bob now goes to a server presenting a certificate for Bob's names.
    let (mitm, received) = impostor(&b.domain).await;
    let r = put_peer(&a, &b, "Bob", &format!("https://{mitm}")).await;
    assert_eq!(r.status, 200);
    let before = eb.seen().len();
    let r = call(
        &a,
        &b.id,
        "/peer/secret",
        &[("x-secret", "s")],
        b"secret body",
    )
    .await;
    assert_eq!(r.status, 502, "{r:?}");
    assert_eq!(
        r.error_code(),
        "peer_identity_mismatch",
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(
        *received.lock().unwrap(),
        0,
        "not one byte of the request reached the impostor"
    );
    assert_eq!(eb.seen().len(), before);
    // The key pinned for Bob is unchanged; pointing back at Bob works again.
    assert_eq!(
        put_peer(&a, &b, "Bob", &format!("https://{}", b.tls.unwrap()))
            .await
            .status,
        200
    );
    assert_eq!(call(&a, &b.id, "/peer/ok", &[], b"x").await.status, 200);
}

/// Copies `from` into `into`, recording every byte.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut into: tokio::net::tcp::OwnedWriteHalf,
    wire: Arc<Mutex<Vec<u8>>>,
) {
    let mut buf = [0u8; 8192];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            break;
        }
        wire.lock().unwrap().extend_from_slice(&buf[..n]);
        if into.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = into.shutdown().await;
}

/// A TCP relay that records every byte both ways.
async fn recording_relay(to: std::net::SocketAddr) -> (std::net::SocketAddr, Arc<Mutex<Vec<u8>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let wire = Arc::new(Mutex::new(Vec::new()));
    let w2 = wire.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(to).await else {
                continue;
            };
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            tokio::spawn(pump(cr, sw, w2.clone()));
            tokio::spawn(pump(sr, cw, w2.clone()));
        }
    });
    (addr, wire)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_of_a_peer_call_is_readable_on_the_wire() {
    let (a, _ea, b, eb) = tls_pair().await;
    let (relay, wire) = recording_relay(b.tls.unwrap()).await;
    assert_eq!(
        put_peer(&a, &b, "Bob", &format!("https://{relay}"))
            .await
            .status,
        201
    );
    assert_eq!(
        put_peer(&b, &a, "Alice", &format!("https://{}", a.tls.unwrap()))
            .await
            .status,
        201
    );
    let r = call(
        &a,
        &b.id,
        "/peer/wire?q=query-marker-789",
        &[("x-secret-marker", "header-marker-456")],
        b"body-marker-123",
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        &r.body[..],
        b"body-marker-123",
        "the echoed body came back through the relay"
    );
    assert_eq!(
        eb.last().headers.get("x-secret-marker").unwrap(),
        "header-marker-456"
    );
    let wire = wire.lock().unwrap().clone();
    assert!(
        wire.len() > 1000,
        "the relay saw the handshake and the call ({} bytes)",
        wire.len()
    );
    for marker in [
        &b"body-marker-123"[..],
        b"header-marker-456",
        b"query-marker-789",
        b"HTTP/1.1",
        b"x-ptl",
        b"signature-input",
        a.id.as_bytes(),
    ] {
        assert!(
            !wire.windows(marker.len()).any(|w| w == marker),
            "{:?} readable on the wire",
            String::from_utf8_lossy(marker)
        );
    }
}

/// Records the certificate a server presents, accepting anything.
#[derive(Debug, Default)]
struct Capture(Mutex<Option<CertificateDer<'static>>>);

impl rustls::client::danger::ServerCertVerifier for Capture {
    fn verify_server_cert(
        &self,
        ee: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        *self.0.lock().unwrap() = Some(ee.clone().into_owned());
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

async fn presented_certificate(
    addr: std::net::SocketAddr,
    alpn: &[&[u8]],
) -> CertificateDer<'static> {
    let capture = Arc::new(Capture::default());
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .dangerous()
    .with_custom_certificate_verifier(capture.clone())
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("browser.example").unwrap(), tcp)
        .await
        .unwrap();
    capture.0.lock().unwrap().clone().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_owner_certificate_serves_browsers_and_leaves_peering_alone() {
    // The owner's certificate (ECDSA, expired) is for browsers; peers still pin the key.
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["owner.example".to_string()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2001, 1, 1);
    params.not_after = rcgen::date_time_ymd(2002, 1, 1);
    let owner_cert = params.self_signed(&key).unwrap();
    std::fs::write(dir.path().join("owner.pem"), owner_cert.pem()).unwrap();
    std::fs::write(dir.path().join("owner.key"), key.serialize_pem()).unwrap();
    let extra = format!(
        "{TLS}\n[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
        dir.path().join("owner.pem").display(),
        dir.path().join("owner.key").display()
    );
    let ea = Echo::start("echo-a").await;
    let eb = Echo::start("echo-b").await;
    let a = Host::start(HostSpec {
        name: "Alice",
        apps: vec![("echo", ea.addr, ECHO_META)],
        extra_toml: TLS,
    });
    let b = Host::start(HostSpec {
        name: "Bob",
        apps: vec![("echo", eb.addr, ECHO_META)],
        extra_toml: &extra,
    });

    let browser = presented_certificate(b.tls.unwrap(), &[b"h2", b"http/1.1"]).await;
    assert_eq!(
        browser.as_ref(),
        owner_cert.der().as_ref(),
        "a browser gets the owner's certificate"
    );
    let peer = presented_certificate(b.tls.unwrap(), &[b"shardpeer/1"]).await;
    let key =
        shardpeer_tokio::tls::certificate_key(&peer).expect("an Ed25519 identity certificate");
    assert!(
        shardpeer_core::id::ShardId::parse(&b.id)
            .unwrap()
            .is_id_of(&key),
        "a peer gets the identity certificate"
    );

    assert_eq!(
        put_peer(&a, &b, "Bob", &format!("https://{}", b.tls.unwrap()))
            .await
            .status,
        201
    );
    assert_eq!(
        put_peer(&b, &a, "Alice", &format!("https://{}", a.tls.unwrap()))
            .await
            .status,
        201
    );
    assert_eq!(call(&a, &b.id, "/peer/x", &[], b"y").await.status, 200);
}
