//! Limits and failures of the network: what a caller gets when a body or a head is too
//! large, an app does not exist, or a peer is unreachable or silent.

mod common;
use common::*;
use http::Method;
use std::time::{Duration, Instant};

const LIMITS: &str =
    "[limits]\nmax_body_bytes = 1024\nmax_header_bytes = 2048\npeer_timeout_secs = 2\n";

async fn limited_pair() -> (Host, Echo, Host, Echo) {
    let ea = Echo::start("echo-a").await;
    let eb = Echo::start("echo-b").await;
    let a = Host::start(HostSpec {
        name: "Alice",
        apps: vec![("echo", ea.addr, ECHO_META)],
        extra_toml: LIMITS,
    });
    let b = Host::start(HostSpec {
        name: "Bob",
        apps: vec![("echo", eb.addr, ECHO_META)],
        extra_toml: LIMITS,
    });
    assert_eq!(a.add_peer(&b, "Bob").await.status, 201);
    assert_eq!(b.add_peer(&a, "Alice").await.status, 201);
    (a, ea, b, eb)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_heads_and_unknown_apps() {
    let (a, _ea, b, eb) = limited_pair().await;
    let token = a.app_token("echo");
    let big = vec![b'x'; 1025];
    let fits = vec![b'x'; 1024];

    // Gateway: anonymous and peer-signed.
    let r = b
        .gateway_req(Method::POST, "echo", "/pub/x", &[], big.clone())
        .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (413, "body_too_large")
    );
    let r = b
        .gateway_req(Method::POST, "echo", "/pub/x", &[], fits.clone())
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(eb.last().body.len(), 1024);
    let host = b.app_host("echo");
    let signed = Draft {
        method: "POST",
        authority: &host,
        path: "/peer/x",
        query: None,
        content_type: None,
        body: &big,
    }
    .sign(&identity_of(&a), unix_now());
    let r = to_gateway(&b, Method::POST, &host, "/peer/x", &signed, big.clone()).await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (413, "body_too_large")
    );
    assert!(is_signed(&r), "{r:?}");
    assert_eq!(eb.seen().len(), 1);

    // call_peer: refused before anything is sent.
    let r = a
        .call_peer(&token, &b.id, Method::POST, "/peer/x", &[], big.clone())
        .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (413, "body_too_large")
    );
    assert_eq!(eb.seen().len(), 1);
    let r = a
        .call_peer(&token, &b.id, Method::POST, "/peer/x", &[], fits.clone())
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body.len(), 1024);

    // Request heads over max_header_bytes, on both listeners.
    let padding = "p".repeat(3000);
    let r = b
        .gateway_req(
            Method::GET,
            "echo",
            "/pub/x",
            &[("x-padding", &padding)],
            vec![],
        )
        .await;
    assert_eq!(r.status, 431, "{r:?}");
    let r = a
        .call_peer(
            &token,
            &b.id,
            Method::GET,
            "/peer/x",
            &[("x-padding", &padding)],
            vec![],
        )
        .await;
    assert_eq!(r.status, 431, "{r:?}");
    assert_eq!(eb.seen().len(), 2);
    // Over hyper's own 8 KiB read buffer as well.
    let huge = "p".repeat(10_000);
    let r = b
        .gateway_req(
            Method::GET,
            "echo",
            "/pub/x",
            &[("x-padding", &huge)],
            vec![],
        )
        .await;
    assert_eq!(r.status, 431, "{r:?}");
    assert_eq!(eb.seen().len(), 2);
    // Just under the limit is fine.
    let padding = "p".repeat(1024);
    let r = b
        .gateway_req(
            Method::GET,
            "echo",
            "/pub/x",
            &[("x-padding", &padding)],
            vec![],
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");

    // Unknown app.
    let r = b
        .gateway_req(Method::GET, "nope", "/pub/x", &[], vec![])
        .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (404, "unknown_app")
    );
    let r = send(
        Method::GET,
        &format!("http://{}/pub/x", b.gateway),
        &[("host", "echo.someone-else.example")],
        vec![],
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (404, "unknown_app")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_and_silent_peers() {
    let (a, _ea, b, eb) = limited_pair().await;
    let token = a.app_token("echo");
    assert_eq!(
        a.call_peer(&token, &b.id, Method::GET, "/peer/x", &[], vec![])
            .await
            .status,
        200
    );

    // B's key stays pinned; only its address changes, to a closed port.
    let put = a
        .put_peer_address(&b.id, &format!("http://{}", closed_port()))
        .await;
    assert_eq!(put.status, 200, "{put:?}");
    assert_eq!(put.json()["is_reachable"], false);
    assert!(put.json()["public_key_pem"].is_string());
    let r = a
        .call_peer(&token, &b.id, Method::GET, "/peer/x", &[], vec![])
        .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (502, "peer_unreachable")
    );

    // A peer that accepts the connection and never answers.
    let silent = silent_listener().await;
    let put = a.put_peer_address(&b.id, &format!("http://{silent}")).await;
    assert_eq!(put.status, 200, "{put:?}");
    let t0 = Instant::now();
    let r = a
        .call_peer(&token, &b.id, Method::GET, "/peer/x", &[], vec![])
        .await;
    let took = t0.elapsed();
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (504, "peer_timeout")
    );
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(10),
        "{took:?}"
    );
    assert_eq!(eb.seen().len(), 1);

    // Back to the real address: calls work again.
    let put = a
        .put_peer_address(&b.id, &format!("http://{}", b.gateway))
        .await;
    assert_eq!(put.json()["is_reachable"], true);
    assert_eq!(
        a.call_peer(&token, &b.id, Method::GET, "/peer/x", &[], vec![])
            .await
            .status,
        200
    );
}
