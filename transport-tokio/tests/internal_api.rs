//! The internal API's credentials and inputs: the app is taken from the token, only the
//! owner changes peers, and anything that is not a full shard ID never becomes a host name,
//! a lookup key or a deletion.

mod common;
use common::*;
use http::Method;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_isolated_per_app() {
    let notes_meta = meta_named("notes");
    let (ea, na) = (Echo::start("echo-a").await, Echo::start("notes-a").await);
    let (eb, nb) = (Echo::start("echo-b").await, Echo::start("notes-b").await);
    let a = Host::start(HostSpec {
        name: "Alice",
        apps: vec![
            ("echo", ea.addr, ECHO_META),
            ("notes", na.addr, &notes_meta),
        ],
        extra_toml: "",
    });
    let b = Host::start(HostSpec {
        name: "Bob",
        apps: vec![
            ("echo", eb.addr, ECHO_META),
            ("notes", nb.addr, &notes_meta),
        ],
        extra_toml: "",
    });
    assert_eq!(a.add_peer(&b, "Bob").await.status, 201);
    assert_eq!(b.add_peer(&a, "Alice").await.status, 201);
    let (echo_tok, notes_tok) = (a.app_token("echo"), a.app_token("notes"));
    assert_ne!(echo_tok, notes_tok);

    // The notes token reaches B's notes app and nothing else, whatever Host A's app sends.
    let forged_host = b.app_host("echo");
    let r = a
        .call_peer(
            &notes_tok,
            &b.id,
            Method::GET,
            "/peer/n",
            &[("host", &forged_host)],
            vec![],
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("x-echo").as_deref(), Some("notes-b"));
    assert_eq!(nb.seen().len(), 1);
    assert!(eb.seen().is_empty(), "B's echo app saw nothing");
    assert_eq!(
        nb.last().headers.get("host").unwrap(),
        b.app_host("notes").as_str()
    );
    assert_eq!(
        nb.last().headers.get("x-ptl-client-id").unwrap(),
        a.id.as_str()
    );
    // And the echo token reaches echo.
    let r = a
        .call_peer(&echo_tok, &b.id, Method::GET, "/peer/e", &[], vec![])
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("x-echo").as_deref(), Some("echo-b"));
    assert_eq!((eb.seen().len(), nb.seen().len()), (1, 1));

    // Credentials.
    let r = a
        .call_peer("not-a-token", &b.id, Method::GET, "/peer/n", &[], vec![])
        .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (401, "invalid_credential")
    );
    let r = send(
        Method::GET,
        &format!("http://{}/internal/call_peer/{}/peer/n", a.internal, b.id),
        &[],
        vec![],
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (401, "missing_credential")
    );
    let r = send(
        Method::GET,
        &format!("http://{}/protected/peers", a.internal),
        &[],
        vec![],
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (401, "missing_credential")
    );
    // One app's token is not another host's owner token either.
    let r = b
        .internal_req(Method::GET, "/protected/peers", &notes_tok, vec![])
        .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (401, "invalid_credential")
    );

    // An app reads peers but cannot change them.
    let r = a
        .internal_req(Method::GET, "/protected/peers", &notes_tok, vec![])
        .await;
    assert_eq!(r.status, 200);
    let stranger = seed_identity(1).id().as_str().to_string();
    let body = serde_json::json!({"id": stranger}).to_string().into_bytes();
    let r = a
        .internal_req(Method::PUT, "/protected/peers", &notes_tok, body)
        .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (403, "owner_only")
    );
    let body = serde_json::json!({"id": b.id, "address": "http://127.0.0.1:1"})
        .to_string()
        .into_bytes();
    let r = a
        .internal_req(Method::PUT, "/protected/peers", &echo_tok, body)
        .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (403, "owner_only")
    );
    let r = a
        .internal_req(
            Method::DELETE,
            &format!("/protected/peers/{}", b.id),
            &echo_tok,
            vec![],
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (403, "owner_only")
    );
    assert_eq!(a.peer_ids().await, vec![b.id.clone()], "nothing changed");
    let r = a
        .call_peer(&echo_tok, &b.id, Method::GET, "/peer/e", &[], vec![])
        .await;
    assert_eq!(r.status, 200, "B's address was not changed: {r:?}");

    // The owner is not an app: it cannot call peers.
    let r = a
        .call_peer(&a.owner_token, &b.id, Method::GET, "/peer/e", &[], vec![])
        .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (403, "app_only")
    );
    assert_eq!((eb.seen().len(), nb.seen().len()), (2, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anything_but_a_full_id_is_refused() {
    let (a, _ea, b, eb) = peered_pair().await;
    let token = a.app_token("echo");
    let at_48 = format!("x@evil.example{}", "a".repeat(34));
    assert_eq!(at_48.len(), 48);
    let cases = [
        ("x@evil.example".to_string(), "id_wrong_length"),
        ("%".to_string(), "id_wrong_length"),
        (b.id[..6].to_string(), "id_wrong_length"),
        (at_48, "id_invalid_character"),
        (id_with_bad_checksum(&b.id), "id_bad_checksum"),
    ];
    for (id, code) in &cases {
        let r = a
            .call_peer(&token, id, Method::POST, "/peer/x", &[], b"leak".to_vec())
            .await;
        assert_eq!(r.status, 422, "{id}: {r:?}");
        assert_eq!(r.error_code(), *code, "{id}");
        let core_code = shardpeer_core::id::ShardId::parse(id)
            .map(|_| "")
            .unwrap_or_else(|e| shardpeer_core::wire::WireError::code(&e));
        assert_eq!(r.error_code(), core_code, "the core's code for {id}");
    }
    assert!(eb.seen().is_empty(), "nothing was sent anywhere");
    // Uppercase is the same ID (folded), not a different one.
    let r = a
        .call_peer(
            &token,
            &b.id.to_uppercase(),
            Method::GET,
            "/peer/x",
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(eb.seen().len(), 1);

    // Deleting: only the full ID, exactly.
    for (id, code) in [
        ("%".to_string(), "id_wrong_length"),
        (b.id[..6].to_string(), "id_wrong_length"),
        (b.id[..47].to_string(), "id_wrong_length"),
        (id_with_bad_checksum(&b.id), "id_bad_checksum"),
    ] {
        let r = a
            .internal_req(
                Method::DELETE,
                &format!("/protected/peers/{id}"),
                &a.owner_token,
                vec![],
            )
            .await;
        assert_eq!(r.status, 422, "{id}: {r:?}");
        assert_eq!(r.error_code(), code, "{id}");
    }
    let twin = id_with_same_prefix(&b.id);
    let r = a
        .internal_req(
            Method::DELETE,
            &format!("/protected/peers/{twin}"),
            &a.owner_token,
            vec![],
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (404, "unknown_peer")
    );
    assert_eq!(a.peer_ids().await, vec![b.id.clone()], "nothing deleted");

    // Reading by an unambiguous prefix of at least 6 characters works; shorter does not.
    let r = a
        .internal_req(
            Method::GET,
            &format!("/protected/peers/{}", &b.id[..6]),
            &token,
            vec![],
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["id"], b.id.as_str());
    let r = a
        .internal_req(
            Method::GET,
            &format!("/protected/peers/{}", &b.id[..5]),
            &token,
            vec![],
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (422, "id_too_short")
    );
    // A prefix shared by two peers is ambiguous, never "the first one".
    let r = a
        .internal_req(
            Method::PUT,
            "/protected/peers",
            &a.owner_token,
            serde_json::json!({"id": twin, "address": format!("http://{}", closed_port())})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let r = a
        .internal_req(
            Method::GET,
            &format!("/protected/peers/{}", &b.id[..6]),
            &token,
            vec![],
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (422, "id_ambiguous")
    );
    // Calls and writes never resolve a prefix, even an unambiguous one.
    let r = a
        .internal_req(
            Method::DELETE,
            &format!("/protected/peers/{}", &b.id[..8]),
            &a.owner_token,
            vec![],
        )
        .await;
    assert_eq!(r.status, 422);
    let r = a
        .call_peer(&token, &b.id[..8], Method::GET, "/peer/x", &[], vec![])
        .await;
    assert_eq!(r.status, 422);

    // The full ID deletes.
    let r = a
        .internal_req(
            Method::DELETE,
            &format!("/protected/peers/{}", b.id),
            &a.owner_token,
            vec![],
        )
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(a.peer_ids().await, vec![twin]);
    let r = a
        .call_peer(&token, &b.id, Method::GET, "/peer/x", &[], vec![])
        .await;
    assert_eq!(
        (r.status.as_u16(), r.error_code().as_str()),
        (404, "unknown_peer")
    );
    assert_eq!(eb.seen().len(), 1);
}
