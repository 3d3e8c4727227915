//! What survives a restart: the identity, the peers and their pinned keys, and every peer
//! change the API acknowledged, even when the process is killed mid-write.

mod common;
use common::*;
use http::Method;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_identity_and_peers() {
    let (mut a, _ea, mut b, eb) = peered_pair().await;
    let token = a.app_token("echo");
    let r = a
        .call_peer(&token, &b.id, Method::GET, "/peer/1", &[], vec![])
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let (a_id, b_id, b_token) = (a.id.clone(), b.id.clone(), b.owner_token.clone());
    let b_peer_before = b
        .internal_req(
            Method::GET,
            &format!("/protected/peers/{a_id}"),
            &b.owner_token,
            vec![],
        )
        .await
        .json();

    b.stop();
    b.restart_same_ports();
    assert_eq!(b.id, b_id, "same identity");
    assert_eq!(b.owner_token, b_token, "same owner token");
    assert_eq!(b.peer_ids().await, vec![a_id.clone()]);
    let b_peer_after = b
        .internal_req(
            Method::GET,
            &format!("/protected/peers/{a_id}"),
            &b.owner_token,
            vec![],
        )
        .await
        .json();
    assert_eq!(
        b_peer_after["public_key_pem"],
        b_peer_before["public_key_pem"]
    );
    assert!(
        b_peer_after["public_key_pem"].is_string(),
        "A's key is still pinned"
    );
    assert_eq!(b_peer_after["name"], "Alice");
    // A's call still works (A's pooled connection to the old process is gone).
    let r = a
        .call_peer(&token, &b.id, Method::GET, "/peer/2", &[], vec![])
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        eb.last().headers.get("x-ptl-client-id").unwrap(),
        a_id.as_str()
    );

    // The caller restarting is fine too, app tokens included.
    a.stop();
    a.restart();
    assert_eq!(a.id, a_id);
    assert_eq!(a.app_token("echo"), token);
    assert_eq!(a.peer_ids().await, vec![b_id.clone()]);
    let r = a
        .call_peer(&token, &b.id, Method::GET, "/peer/3", &[], vec![])
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(eb.seen().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_writes_loses_no_acknowledged_change() {
    let e = Echo::start("echo").await;
    let mut h = Host::start(HostSpec {
        name: "Carol",
        apps: vec![("echo", e.addr, ECHO_META)],
        extra_toml: "",
    });
    // Peers that cannot be reached: adding them is quick and still writes the store.
    let nowhere = format!("http://{}", closed_port());
    let ids: Vec<String> = (1..=40)
        .map(|n| seed_identity(1000 + n).id().as_str().to_string())
        .collect();
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    let (internal, token) = (h.internal, h.owner_token.clone());
    for id in ids.clone() {
        let (done, nowhere, token) = (done.clone(), nowhere.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let body = serde_json::json!({"id": id, "name": format!("p-{}", &id[..6]), "address": nowhere});
            let req = http::Request::builder()
                .method(Method::PUT)
                .uri(format!("http://{internal}/protected/peers"))
                .header("authorization", format!("Bearer {token}"))
                .body(http_body_util::Full::new(bytes::Bytes::from(body.to_string())))
                .unwrap();
            // The kill cuts some requests off: those are not acknowledged.
            let acked = match client().request(req).await {
                Ok(r) => r.status().is_success(),
                Err(_) => false,
            };
            if acked {
                done.fetch_add(1, Ordering::SeqCst);
            }
            (id, acked)
        }));
    }
    // Kill as soon as a few writes have been acknowledged, with the rest in flight.
    let t0 = std::time::Instant::now();
    while done.load(Ordering::SeqCst) < 5 {
        assert!(t0.elapsed().as_secs() < 20, "no write acknowledged");
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    h.kill();
    let mut acked = Vec::new();
    for t in tasks {
        let (id, ok) = t.await.unwrap();
        if ok {
            acked.push(id);
        }
    }
    eprintln!(
        "{} of {} writes acknowledged before SIGKILL",
        acked.len(),
        ids.len()
    );

    // The store file is whole JSON, with every acknowledged peer.
    let text = std::fs::read(h.data_dir.join("peers.json")).unwrap();
    let file: serde_json::Value = serde_json::from_slice(&text).expect("peers.json parses");
    assert_eq!(file["schema"], 1);
    let stored: Vec<String> = file["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    for id in &acked {
        assert!(stored.contains(id), "acknowledged {id} lost");
    }
    // The host starts on it and serves the same list.
    h.restart();
    let listed = h.peer_ids().await;
    for id in &acked {
        assert!(
            listed.contains(id),
            "acknowledged {id} not listed after restart"
        );
    }
    for id in &listed {
        assert!(ids.contains(id), "unexpected peer {id}");
    }
    // No temporary files left behind are mistaken for the store, and writes still work.
    let r = h
        .put_peer_address(seed_identity(2000).id().as_str(), &nowhere)
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(h.peer_ids().await.len(), listed.len() + 1);
}

/// A request captured before B restarts is still refused after it while fresh (protocol step
/// 17): accepted nonces are journaled in the data directory and loaded back at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_captured_request_is_not_accepted_again_after_a_restart() {
    let (a, _ea, mut b, eb) = pair().await;
    assert_eq!(b.add_peer(&a, "Alice").await.status, 201);
    let host = b.app_host("echo");
    let signed = Draft {
        method: "POST",
        authority: &host,
        path: "/peer/inbox",
        query: None,
        content_type: None,
        body: b"pay 10",
    }
    .sign(&identity_of(&a), unix_now());
    let r = to_gateway(
        &b,
        Method::POST,
        &host,
        "/peer/inbox",
        &signed,
        b"pay 10".to_vec(),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    b.stop();
    b.restart_same_ports();
    let r = to_gateway(
        &b,
        Method::POST,
        &host,
        "/peer/inbox",
        &signed,
        b"pay 10".to_vec(),
    )
    .await;
    assert_eq!(r.status, 401, "replayed after restart: {r:?}");
    assert_eq!(eb.seen().len(), 1, "the app acted twice on one request");
}
