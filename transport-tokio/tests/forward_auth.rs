//! Forward-auth (`GET /internal/auth` on the internal listener): a reverse proxy asks, and
//! the answer must be the same verdict the built-in gateway would give.

mod common;
use common::*;

/// The `X-Forwarded-*` fields for a request to `app` on `b`.
fn forwarded(b: &Host, app: &str, method: &str, uri: &str) -> Vec<(String, String)> {
    vec![
        ("x-forwarded-method".into(), method.into()),
        ("x-forwarded-proto".into(), "https".into()),
        ("x-forwarded-host".into(), b.app_host(app)),
        ("x-forwarded-uri".into(), uri.into()),
    ]
}

/// The forwarded fields plus `a`'s signature over a GET of `path` without a body.
fn as_peer(a: &shardpeer_core::identity::Identity, b: &Host, path: &str) -> Vec<(String, String)> {
    let host = b.app_host("echo");
    let draft = Draft {
        method: "GET",
        authority: &host,
        path,
        query: None,
        content_type: None,
        body: b"",
    };
    let mut h = forwarded(b, "echo", "GET", path);
    h.extend(draft.sign(a, unix_now()));
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_matrix() {
    let (a, _ea, b, eb) = pair().await;
    assert_eq!(b.add_peer(&a, "Alice").await.status, 201);
    let alice = identity_of(&a);
    let owner = format!("Bearer {}", b.owner_token);
    // (path, anonymous, owner, peer): Some(client type) = 200 with that X-Ptl-Client-Type,
    // None = 401 access_denied.
    type Verdict = Option<&'static str>;
    let matrix: [(&str, Verdict, Verdict, Verdict); 3] = [
        ("/pub/x", Some("anonymous"), Some("terminal"), Some("peer")),
        ("/private", None, Some("terminal"), None),
        ("/peer/x", None, None, Some("peer")),
    ];
    for (path, anon, own, peer) in matrix {
        let anon_h = forwarded(&b, "echo", "GET", path);
        let mut owner_h = forwarded(&b, "echo", "GET", path);
        owner_h.push(("authorization".into(), owner.clone()));
        let peer_h = as_peer(&alice, &b, path);
        for (who, headers, expect) in [
            ("anonymous", anon_h, anon),
            ("owner", owner_h, own),
            ("peer", peer_h, peer),
        ] {
            let r = b.forward_auth(&refs(&headers), vec![]).await;
            match expect {
                Some(kind) => {
                    assert_eq!(r.status, 200, "{who} on {path}: {r:?}");
                    assert_eq!(
                        r.header("x-ptl-client-type").as_deref(),
                        Some(kind),
                        "{who} on {path}"
                    );
                    let id = if who == "peer" { a.id.as_str() } else { "" };
                    assert_eq!(
                        r.header("x-ptl-client-id").as_deref(),
                        Some(id),
                        "{who} on {path}"
                    );
                    assert_eq!(r.headers.get_all("x-ptl-client-type").iter().count(), 1);
                }
                None => {
                    assert_eq!(r.status, 401, "{who} on {path}: {r:?}");
                    assert_eq!(r.error_code(), "access_denied", "{who} on {path}");
                    assert!(r.header("x-ptl-client-type").is_none());
                }
            }
        }
    }
    // The owner's session cookie counts as the owner, too.
    let mut h = forwarded(&b, "echo", "GET", "/private");
    h.push((
        "cookie".into(),
        format!("a=b; shardpeer_owner={}", b.owner_token),
    ));
    let r = b.forward_auth(&refs(&h), vec![]).await;
    assert_eq!(r.status, 200, "{r:?}");
    // A wrong owner token is anonymous, not the owner.
    let mut h = forwarded(&b, "echo", "GET", "/private");
    h.push(("authorization".into(), "Bearer wrong".into()));
    assert_eq!(b.forward_auth(&refs(&h), vec![]).await.status, 401);
    assert!(eb.seen().is_empty(), "forward-auth never calls the app");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals() {
    let (a, _ea, b, _eb) = pair().await;
    assert_eq!(b.add_peer(&a, "Alice").await.status, 201);
    let alice = identity_of(&a);

    // Unknown app.
    let r = b
        .forward_auth(&refs(&forwarded(&b, "nope", "GET", "/pub/x")), vec![])
        .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (404, "unknown_app")
    );
    // Missing forwarded fields.
    let mut h = forwarded(&b, "echo", "GET", "/pub/x");
    h.retain(|(n, _)| n != "x-forwarded-host");
    let r = b.forward_auth(&refs(&h), vec![]).await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (400, "forwarded_header_missing")
    );

    // A signed request with a body cannot be checked here.
    let host = b.app_host("echo");
    let with_body = Draft {
        method: "POST",
        authority: &host,
        path: "/peer/x",
        query: None,
        content_type: None,
        body: b"hello",
    };
    let mut h = forwarded(&b, "echo", "POST", "/peer/x");
    h.extend(with_body.sign(&alice, unix_now()));
    let r = b.forward_auth(&refs(&h), vec![]).await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (401, "body_not_verifiable")
    );
    // Nor can one that signs the empty body but declares a body (Content-Length > 0).
    let empty = Draft {
        body: b"",
        ..with_body
    };
    let mut h = forwarded(&b, "echo", "POST", "/peer/x");
    h.extend(empty.sign(&alice, unix_now()));
    let r = b.forward_auth(&refs(&h), b"hello".to_vec()).await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (401, "body_not_verifiable")
    );
    // The same request without a body passes.
    let r = b.forward_auth(&refs(&h), vec![]).await;
    assert_eq!(r.status, 200, "{r:?}");
    // ... once: forward-auth shares the gateway's replay cache.
    let r = b.forward_auth(&refs(&h), vec![]).await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (401, "signature_replayed")
    );
    // A signature that does not verify is refused, never treated as anonymous.
    let mut h = as_peer(&alice, &b, "/pub/x");
    for (n, v) in &mut h {
        if n == "x-forwarded-uri" {
            *v = "/pub/y".into();
        }
    }
    let r = b.forward_auth(&refs(&h), vec![]).await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (401, "signature_invalid")
    );
    let mallory = seed_identity(7);
    let mut h = forwarded(&b, "echo", "GET", "/pub/x");
    h.extend(
        Draft {
            method: "GET",
            authority: &host,
            path: "/pub/x",
            query: None,
            content_type: None,
            body: b"",
        }
        .sign_as(&mallory, &a.id, unix_now() as i64, None),
    );
    let r = b.forward_auth(&refs(&h), vec![]).await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (401, "signature_invalid")
    );

    // The proxy forwards the path as it is, so a path that normalisation would change is
    // refused, not checked under one name and served under another.
    for raw in [
        "/pub/../private",
        "/pub/%2e%2e/private",
        "/pub/./x",
        "//private",
        "/%70ub/x",
        "/pub/a/..",
    ] {
        let r = b
            .forward_auth(&refs(&forwarded(&b, "echo", "GET", raw)), vec![])
            .await;
        assert_eq!(r.status, 400, "{raw}: {r:?}");
        assert_eq!(r.error_code(), "path_not_normalized", "{raw}");
        let mut owner = forwarded(&b, "echo", "GET", raw);
        owner.push(("authorization".into(), format!("Bearer {}", b.owner_token)));
        let r = b.forward_auth(&refs(&owner), vec![]).await;
        assert_eq!(r.status, 400, "owner, {raw}: {r:?}");
    }
    let r = b
        .forward_auth(&refs(&as_peer(&alice, &b, "/peer/../pub/x")), vec![])
        .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (400, "path_not_normalized")
    );
    for (raw, code) in [
        ("/pub%2F..%2Fprivate", "path_encoded_slash"),
        ("/pub/..%5Cprivate", "path_encoded_backslash"),
        ("/pub/..;/private", "path_dot_segment_parameter"),
    ] {
        let r = b
            .forward_auth(&refs(&forwarded(&b, "echo", "GET", raw)), vec![])
            .await;
        assert_eq!(
            (r.status.as_u16(), r.error_code().as_str()),
            (400, code),
            "{raw}"
        );
    }
    // A query does not count as part of the path.
    let r = b
        .forward_auth(
            &refs(&forwarded(&b, "echo", "GET", "/pub/x?next=/../private")),
            vec![],
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
}
