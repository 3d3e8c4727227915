//! What an attacker on the network can do to a peer request or answer, and what B's gateway
//! and A's core make of it: replays, tampering, stale or future signatures, keys that only
//! share a short ID, forged verdict headers, and a man in the middle altering answers.

mod common;
use common::*;
use http::Method;

/// Checks B refused `r` with `status`/`code`, signed the refusal, and its app saw nothing new.
#[track_caller]
fn refused(r: &Resp, status: u16, code: &str, eb: &Echo, seen_before: usize) {
    assert_eq!(r.status, status, "{r:?}");
    assert_eq!(r.error_code(), code, "{r:?}");
    assert!(
        is_signed(r),
        "refusals to a signed request are signed: {r:?}"
    );
    assert_eq!(eb.seen().len(), seen_before, "B's app must see nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captured_or_tampered_requests_are_refused() {
    let (a, _ea, b, eb) = pair().await;
    // Only B needs A's key pinned for requests crafted with A's identity.
    assert_eq!(b.add_peer(&a, "Alice").await.status, 201);
    let alice = identity_of(&a);
    let host = b.app_host("echo");
    let draft = Draft {
        method: "POST",
        authority: &host,
        path: "/peer/inbox",
        query: Some("x=1"),
        content_type: Some("text/plain"),
        body: b"hello",
    };

    // Replay: a captured request is accepted once.
    let signed = draft.sign(&alice, unix_now());
    let r = to_gateway(
        &b,
        Method::POST,
        &host,
        "/peer/inbox?x=1",
        &signed,
        b"hello".to_vec(),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(is_signed(&r));
    assert_eq!(eb.seen().len(), 1);
    assert_eq!(
        eb.last().headers.get("x-ptl-client-id").unwrap(),
        a.id.as_str()
    );
    let r = to_gateway(
        &b,
        Method::POST,
        &host,
        "/peer/inbox?x=1",
        &signed,
        b"hello".to_vec(),
    )
    .await;
    refused(&r, 401, "signature_replayed", &eb, 1);

    // Tampering with any covered part of a fresh, valid request.
    let cases: [(&str, Method, &str, &str, &[u8]); 5] = [
        (
            "method",
            Method::PUT,
            "/peer/inbox?x=1",
            "text/plain",
            b"hello",
        ),
        (
            "path",
            Method::POST,
            "/peer/other?x=1",
            "text/plain",
            b"hello",
        ),
        (
            "query",
            Method::POST,
            "/peer/inbox?x=2",
            "text/plain",
            b"hello",
        ),
        (
            "query removed",
            Method::POST,
            "/peer/inbox",
            "text/plain",
            b"hello",
        ),
        (
            "content-type",
            Method::POST,
            "/peer/inbox?x=1",
            "application/json",
            b"hello",
        ),
    ];
    for (what, method, pq, ct, body) in cases {
        let mut h = draft.sign(&alice, unix_now());
        for (n, v) in &mut h {
            if n == "content-type" {
                *v = ct.to_string();
            }
        }
        let r = to_gateway(&b, method, &host, pq, &h, body.to_vec()).await;
        assert_eq!(r.status, 401, "{what}: {r:?}");
        assert_eq!(r.error_code(), "signature_invalid", "{what}: {r:?}");
        assert_eq!(eb.seen().len(), 1, "{what}: B's app must see nothing");
    }
    // Another app of the same shard: @authority is covered.
    let h = draft.sign(&alice, unix_now());
    let other = format!("notes.{}", b.domain);
    let r = to_gateway(
        &b,
        Method::POST,
        &other,
        "/peer/inbox?x=1",
        &h,
        b"hello".to_vec(),
    )
    .await;
    assert_eq!(r.status, 404, "no notes app on B: {r:?}");
    assert!(is_signed(&r));
    // Adding or removing Content-Type changes the covered list itself.
    let h = draft.sign(&alice, unix_now());
    let without_ct: Vec<(String, String)> = h
        .iter()
        .filter(|(n, _)| n != "content-type")
        .cloned()
        .collect();
    let r = to_gateway(
        &b,
        Method::POST,
        &host,
        "/peer/inbox?x=1",
        &without_ct,
        b"hello".to_vec(),
    )
    .await;
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(r.error_code(), "component_missing");
    let untyped = Draft {
        content_type: None,
        ..draft
    };
    let mut h = untyped.sign(&alice, unix_now());
    h.push(("content-type".into(), "text/html".into()));
    let r = to_gateway(
        &b,
        Method::POST,
        &host,
        "/peer/inbox?x=1",
        &h,
        b"hello".to_vec(),
    )
    .await;
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(r.error_code(), "signature_component_not_covered");
    assert_eq!(eb.seen().len(), 1);

    // Body: the signature only binds the digest; the body is checked against it.
    let h = draft.sign(&alice, unix_now());
    let r = to_gateway(
        &b,
        Method::POST,
        &host,
        "/peer/inbox?x=1",
        &h,
        b"HELLO".to_vec(),
    )
    .await;
    refused(&r, 401, "content_digest_mismatch", &eb, 1);

    // Freshness.
    let now = unix_now() as i64;
    let old = draft.sign(&alice, (now - 300 - 60 - 5) as u64);
    let r = to_gateway(
        &b,
        Method::POST,
        &host,
        "/peer/inbox?x=1",
        &old,
        b"hello".to_vec(),
    )
    .await;
    refused(&r, 401, "signature_too_old", &eb, 1);
    let future = draft.sign(&alice, (now + 60 + 30) as u64);
    let r = to_gateway(
        &b,
        Method::POST,
        &host,
        "/peer/inbox?x=1",
        &future,
        b"hello".to_vec(),
    )
    .await;
    refused(&r, 401, "signature_created_in_future", &eb, 1);
    let expired = draft.sign_as(&alice, &a.id, now - 200, Some(now - 100));
    let r = to_gateway(
        &b,
        Method::POST,
        &host,
        "/peer/inbox?x=1",
        &expired,
        b"hello".to_vec(),
    )
    .await;
    refused(&r, 401, "signature_expired", &eb, 1);
    // Within the tolerances it is accepted (so the refusals above are about time).
    let skewed = draft.sign(&alice, (now + 30) as u64);
    let r = to_gateway(
        &b,
        Method::POST,
        &host,
        "/peer/inbox?x=1",
        &skewed,
        b"hello".to_vec(),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(eb.seen().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_that_are_not_the_peers_are_refused() {
    let (a, _ea, b, eb) = pair().await;
    assert_eq!(b.add_peer(&a, "Alice").await.status, 201);
    let mallory = seed_identity(666);
    let host = b.app_host("echo");
    let draft = Draft {
        method: "GET",
        authority: &host,
        path: "/peer/x",
        query: None,
        content_type: None,
        body: b"",
    };
    let now = unix_now() as i64;

    // A full, well-formed ID sharing A's short ID (what grinding 30 bits buys): not a peer.
    let twin = id_with_same_prefix(&a.id);
    assert!(
        shardpeer_core::id::ShardId::parse(&twin).is_ok(),
        "the twin is a valid ID, so B refuses it for not being a peer"
    );
    let h = draft.sign_as(&mallory, &twin, now, Some(now + 300));
    let r = to_gateway(&b, Method::GET, &host, "/peer/x", &h, vec![]).await;
    refused(&r, 401, "signature_key_unknown", &eb, 0);
    // Mallory's real ID: not a peer either.
    let r = to_gateway(
        &b,
        Method::GET,
        &host,
        "/peer/x",
        &draft.sign(&mallory, unix_now()),
        vec![],
    )
    .await;
    refused(&r, 401, "signature_key_unknown", &eb, 0);
    // The short ID alone as keyid.
    let h = draft.sign_as(&mallory, &a.id[..6], now, Some(now + 300));
    let r = to_gateway(&b, Method::GET, &host, "/peer/x", &h, vec![]).await;
    refused(&r, 401, "signature_keyid_invalid", &eb, 0);
    // Mallory claiming to be A: B checks with A's pinned key.
    let h = draft.sign_as(&mallory, &a.id, now, Some(now + 300));
    let r = to_gateway(&b, Method::GET, &host, "/peer/x", &h, vec![]).await;
    refused(&r, 401, "signature_invalid", &eb, 0);
    // A failed signature is never downgraded to anonymous, even on a public path.
    let pub_draft = Draft {
        path: "/pub/x",
        ..draft
    };
    let h = pub_draft.sign_as(&mallory, &a.id, now, Some(now + 300));
    let r = to_gateway(&b, Method::GET, &host, "/pub/x", &h, vec![]).await;
    refused(&r, 401, "signature_invalid", &eb, 0);
    // Signature fields that do not even parse: refused, not anonymous.
    for (n, v) in [
        ("signature-input", "garbage"),
        ("signature", "shardpeer=:AAAA:"),
    ] {
        let r = to_gateway(
            &b,
            Method::GET,
            &host,
            "/pub/x",
            &[(n.into(), v.into())],
            vec![],
        )
        .await;
        // (Not signed: there is no request signature to bind an answer to.)
        assert_eq!(
            (r.status.as_u16(), r.error_code().as_str()),
            (401, "signature_missing")
        );
        assert!(eb.seen().is_empty());
    }
    // Control: A's own signature on the same request passes.
    let r = to_gateway(
        &b,
        Method::GET,
        &host,
        "/peer/x",
        &draft.sign(&identity_of(&a), unix_now()),
        vec![],
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(eb.seen().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_verdict_headers_never_reach_the_app() {
    let (a, _ea, b, eb) = peered_pair().await;
    let token = a.app_token("echo");
    // Through A's call_peer: A's app sends forged verdicts; B's app sees A's real ID, once.
    let r = a
        .call_peer(
            &token,
            &b.id,
            Method::POST,
            "/peer/x",
            &[
                ("x-ptl-client-id", "forged"),
                ("X-PTL-CLIENT-TYPE", "terminal"),
                ("x-ptl-client-name", "Mallory"),
                ("x-ptl-anything", "forged"),
            ],
            b"hi".to_vec(),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let seen = eb.last();
    let all = |n: &str| -> Vec<String> {
        seen.headers
            .get_all(n)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(all("x-ptl-client-id"), vec![a.id.clone()]);
    assert_eq!(all("x-ptl-client-type"), vec!["peer".to_string()]);
    assert_eq!(all("x-ptl-client-name"), vec!["Alice".to_string()]);
    assert!(all("x-ptl-anything").is_empty());

    // Straight to B's gateway, signed by A, forged headers beside the signature (they are
    // not covered, so the signature verifies): still replaced.
    let host = b.app_host("echo");
    let draft = Draft {
        method: "GET",
        authority: &host,
        path: "/peer/y",
        query: None,
        content_type: None,
        body: b"",
    };
    let mut h = draft.sign(&identity_of(&a), unix_now());
    h.push(("x-ptl-client-id".into(), "forged".into()));
    h.push(("x-ptl-client-id".into(), "forged-again".into()));
    h.push(("x-ptl-id".into(), "forged".into()));
    let r = to_gateway(&b, Method::GET, &host, "/peer/y", &h, vec![]).await;
    assert_eq!(r.status, 200, "{r:?}");
    let seen = eb.last();
    assert_eq!(seen.path_and_query, "/peer/y");
    let ids: Vec<_> = seen.headers.get_all("x-ptl-client-id").iter().collect();
    assert_eq!(ids, vec![a.id.as_str()]);
    let ids: Vec<_> = seen.headers.get_all("x-ptl-id").iter().collect();
    assert_eq!(ids, vec![b.id.as_str()]);

    // Anonymous on a path whose rule sets only some X-Ptl-* headers: the others are
    // removed, not passed on.
    let r = b
        .gateway_req(
            Method::GET,
            "echo",
            "/pub/z",
            &[
                ("x-ptl-client-name", "Alice"),
                ("x-ptl-id", "forged"),
                ("x-ptl-client-id", &a.id),
            ],
            vec![],
        )
        .await;
    assert_eq!(r.status, 200);
    let seen = eb.last();
    assert!(seen.headers.get("x-ptl-client-name").is_none());
    assert!(seen.headers.get("x-ptl-id").is_none());
    let ids: Vec<_> = seen.headers.get_all("x-ptl-client-id").iter().collect();
    assert_eq!(ids, vec![""]);
    assert_eq!(seen.headers.get("x-ptl-client-type").unwrap(), "anonymous");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encoded_slashes_and_dot_segments() {
    let (a, _ea, b, eb) = peered_pair().await;
    // Anonymous, at the gateway.
    for (raw, code) in [
        ("/pub%2F..%2Fprivate", "path_encoded_slash"),
        ("/pub%2f..%2fprivate", "path_encoded_slash"),
        ("/pub/..%5Cprivate", "path_encoded_backslash"),
        ("/pub/%00", "path_encoded_nul"),
        ("/pub/..;/private", "path_dot_segment_parameter"),
    ] {
        let r = b.gateway_req(Method::GET, "echo", raw, &[], vec![]).await;
        assert_eq!(r.status, 400, "{raw}: {r:?}");
        assert_eq!(r.error_code(), code, "{raw}");
    }
    for raw in [
        "/pub/../private",
        "/pub/%2e%2e/private",
        "/pub/.%2E/private",
        "//private",
    ] {
        let r = b.gateway_req(Method::GET, "echo", raw, &[], vec![]).await;
        assert_eq!(r.status, 401, "{raw} is /private: {r:?}");
    }
    assert!(eb.seen().is_empty());
    // A peer's signed request: verified on the raw path, then refused (signed) for it.
    let token = a.app_token("echo");
    let r = a
        .call_peer(
            &token,
            &b.id,
            Method::GET,
            "/peer%2F..%2Fprivate",
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.error_code(), "path_encoded_slash");
    assert_eq!(
        r.header("x-shardpeer-verified").as_deref(),
        Some("peer-signature"),
        "B's refusal, verified by A"
    );
    let r = a
        .call_peer(&token, &b.id, Method::GET, "/peer/../private", &[], vec![])
        .await;
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(r.error_code(), "access_denied");
    assert!(eb.seen().is_empty());
    // The app receives the path the decision was made on.
    let r = a
        .call_peer(
            &token,
            &b.id,
            Method::GET,
            "/pub/../peer/%70ath?q=%2F",
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(eb.last().path_and_query, "/peer/path?q=%2F");
}

/// A's call to B through a proxy that tampers with B's answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn altered_peer_answers_never_reach_the_app() {
    let (a, _ea, b, eb) = pair().await;
    let proxy = Proxy::start(b.gateway).await;
    let put = a
        .put_peer_address(&b.id, &format!("http://{}", proxy.addr))
        .await;
    assert_eq!(put.status, 201, "{put:?}");
    assert_eq!(
        put.json()["is_reachable"],
        true,
        "whoareyou passes the proxy unchanged"
    );
    assert_eq!(b.add_peer(&a, "Alice").await.status, 201);
    let token = a.app_token("echo");
    let call = |body: &'static [u8]| {
        a.call_peer(
            &token,
            &b.id,
            Method::POST,
            "/peer/x",
            &[("content-type", "text/plain")],
            body.to_vec(),
        )
    };

    // Control: an honest proxy changes nothing.
    let r = call(b"first").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(&r.body[..], b"first");

    for mode in [
        Mitm::AlterBody,
        Mitm::AlterBodyAndDigest,
        Mitm::AlterStatus,
        Mitm::DropSignature,
        Mitm::ReplayLast,
    ] {
        proxy.set(mode);
        let before = proxy.app_requests();
        let r = call(b"second").await;
        assert_eq!(
            proxy.app_requests(),
            before + 1,
            "{mode:?}: the call went through the proxy"
        );
        assert_eq!(r.status, 502, "{mode:?}: {r:?}");
        assert_eq!(r.error_code(), "peer_response_unverified", "{mode:?}");
        assert!(
            r.header("x-echo").is_none(),
            "{mode:?}: nothing of the answer is passed on"
        );
        assert!(
            !String::from_utf8_lossy(&r.body).contains("first"),
            "{mode:?}"
        );
    }
    // The replayed answer was for an identical call: binding is to the request signature.
    assert_eq!(eb.seen().len(), 5, "B answered every forwarded call");

    proxy.set(Mitm::Pass);
    let r = call(b"third").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(&r.body[..], b"third");
}
