//! Two shard hosts on loopback: peering, call_peer, and the gateway's verdicts.

mod common;
use common::*;
use http::Method;

async fn pair() -> (Host, Echo, Host, Echo) {
    let ea = Echo::start("echo-a").await;
    let eb = Echo::start("echo-b").await;
    let a = Host::start(HostSpec {
        name: "Alice",
        apps: vec![("echo", ea.addr, ECHO_META)],
        extra_toml: "",
    });
    let b = Host::start(HostSpec {
        name: "Bob",
        apps: vec![("echo", eb.addr, ECHO_META)],
        extra_toml: "",
    });
    (a, ea, b, eb)
}

async fn call(a: &Host, peer_id: &str, path_and_query: &str, body: &[u8]) -> Resp {
    send(
        Method::POST,
        &format!(
            "http://{}/internal/call_peer/{peer_id}{path_and_query}",
            a.internal
        ),
        &[
            ("authorization", &format!("Bearer {}", a.app_token("echo"))),
            ("x-custom", "kept"),
            ("content-type", "text/plain"),
            ("cookie", "session=app-secret"),
        ],
        body.to_vec(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peering_end_to_end() {
    let (a, _ea, b, eb) = pair().await;

    // Neither has added the other: A refuses to call a stranger, nothing is sent.
    let r = call(&a, &b.id, "/peer/inbox?x=1&y=two", b"hello").await;
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(r.error_code(), "unknown_peer");
    assert!(eb.seen().is_empty());

    // Only A added B: B refuses, signs the refusal, and A passes it on.
    let added = a.add_peer(&b, "Bob's shard").await;
    assert_eq!(added.status, 201, "{added:?}");
    let peer = added.json();
    assert_eq!(peer["id"], b.id.as_str());
    assert_eq!(
        peer["is_reachable"], true,
        "B's whoareyou was fetched and verified"
    );
    assert_eq!(peer["self_name"], "Bob");
    assert_eq!(peer["name"], "Bob's shard");
    let r = call(&a, &b.id, "/peer/inbox?x=1&y=two", b"hello").await;
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(r.error_code(), "signature_key_unknown");
    assert!(eb.seen().is_empty(), "B's app saw nothing");

    // Both added: the call goes through.
    assert_eq!(b.add_peer(&a, "Alice (friend)").await.status, 201);
    let r = call(&a, &b.id, "/peer/inbox?x=1&y=two", b"hello").await;
    assert_eq!(r.status, 200, "{r:?} {}", String::from_utf8_lossy(&r.body));
    assert_eq!(&r.body[..], b"hello");
    assert_eq!(
        r.header("x-echo").as_deref(),
        Some("echo-b"),
        "response headers come back"
    );
    let seen = eb.last();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.path_and_query, "/peer/inbox?x=1&y=two");
    assert_eq!(&seen.body[..], b"hello");
    let h = |n: &str| seen.headers.get(n).map(|v| v.to_str().unwrap().to_string());
    assert_eq!(h("x-ptl-client-type").as_deref(), Some("peer"));
    assert_eq!(h("x-ptl-client-id").as_deref(), Some(a.id.as_str()));
    assert_eq!(
        h("x-ptl-client-name").as_deref(),
        Some("Alice (friend)"),
        "B's owner's name for A, not A's own"
    );
    assert_eq!(h("x-ptl-id").as_deref(), Some(b.id.as_str()));
    assert_eq!(h("x-custom").as_deref(), Some("kept"));
    assert_eq!(h("content-type").as_deref(), Some("text/plain"));
    assert_eq!(
        h("authorization"),
        None,
        "the app's token never leaves its shard"
    );
    assert_eq!(h("cookie"), None);
    assert_eq!(h("signature"), None);

    // A now knows B accepted a call.
    let p = a
        .internal_req(
            Method::GET,
            &format!("/protected/peers/{}", &b.id[..6]),
            &a.app_token("echo"),
            vec![],
        )
        .await;
    assert_eq!(p.status, 200);
    assert_eq!(p.json()["has_added_us"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_paths_and_acl() {
    let (a, _ea, b, eb) = pair().await;
    assert_eq!(a.add_peer(&b, "Bob").await.status, 201);
    assert_eq!(b.add_peer(&a, "Alice").await.status, 201);
    // A peer may reach public paths (as a peer) but not private ones.
    assert_eq!(call(&a, &b.id, "/pub/x", b"").await.status, 200);
    assert_eq!(eb.last().headers.get("x-ptl-client-type").unwrap(), "peer");
    let r = call(&a, &b.id, "/private", b"").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error_code(), "access_denied");
    // Anonymous clients are refused on peer paths, accepted on public ones, and cannot
    // pretend to be a peer with X-Ptl-* headers.
    let r = b
        .gateway_req(
            Method::GET,
            "echo",
            "/peer/x",
            &[("x-ptl-client-type", "peer")],
            vec![],
        )
        .await;
    assert_eq!(r.status, 401);
    let r = b
        .gateway_req(
            Method::GET,
            "echo",
            "/pub/x",
            &[("x-ptl-client-type", "peer"), ("x-ptl-client-id", &a.id)],
            vec![],
        )
        .await;
    assert_eq!(r.status, 200);
    let seen = eb.last();
    assert_eq!(seen.headers.get("x-ptl-client-type").unwrap(), "anonymous");
    assert_eq!(seen.headers.get("x-ptl-client-id").unwrap(), "");
    assert_eq!(seen.headers.get_all("x-ptl-client-type").iter().count(), 1);
    // Dot segments are resolved before the decision, and the app gets the resolved path.
    let r = b
        .gateway_req(Method::GET, "echo", "/pub/../private", &[], vec![])
        .await;
    assert_eq!(r.status, 401, "/pub/../private is /private");
    let r = b
        .gateway_req(Method::GET, "echo", "/pub/%2e%2e/private", &[], vec![])
        .await;
    assert_eq!(r.status, 401);
    let r = b
        .gateway_req(Method::GET, "echo", "/pub%2F..%2Fprivate", &[], vec![])
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), "path_encoded_slash");
    let r = b
        .gateway_req(Method::GET, "echo", "/pub/a/../b", &[], vec![])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(eb.last().path_and_query, "/pub/b");
    // The owner reaches private paths; its token is not passed on.
    let bearer = format!("Bearer {}", b.owner_token);
    let r = b
        .gateway_req(
            Method::GET,
            "echo",
            "/private",
            &[("authorization", &bearer)],
            vec![],
        )
        .await;
    assert_eq!(r.status, 200);
    let seen = eb.last();
    assert_eq!(seen.headers.get("x-ptl-client-type").unwrap(), "terminal");
    assert!(seen.headers.get("authorization").is_none());
    let cookie = format!("theme=dark; shardpeer_owner={}", b.owner_token);
    let r = b
        .gateway_req(
            Method::GET,
            "echo",
            "/private",
            &[("cookie", &cookie)],
            vec![],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(eb.last().headers.get("cookie").unwrap(), "theme=dark");
    // Unknown app.
    let r = b.gateway_req(Method::GET, "nope", "/", &[], vec![]).await;
    assert_eq!(r.status, 404);
}
