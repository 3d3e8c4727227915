//! Operating a host: health, readiness, Prometheus metrics, SIGHUP reload, rate limits.

mod common;
use common::*;
use http::Method;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Parses the Prometheus text format into `series → value` (series = name + label text).
fn scrape(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// The sum of every series of `name` whose labels contain all of `labels`.
fn sum(m: &BTreeMap<String, f64>, name: &str, labels: &[&str]) -> f64 {
    m.iter()
        .filter(|(k, _)| {
            (k.starts_with(&format!("{name}{{")) || k.as_str() == name)
                && labels.iter().all(|l| k.contains(l))
        })
        .map(|(_, v)| v)
        .sum()
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A GET to `target`'s echo app signed by `signer` claiming `keyid`.
async fn signed_get(
    target: &Host,
    signer: &shardpeer_core::identity::Identity,
    keyid: &str,
    path: &str,
) -> Resp {
    let authority = target.app_host("echo");
    let d = Draft {
        method: "GET",
        authority: &authority,
        path,
        query: None,
        content_type: None,
        body: b"",
    };
    let h = d.sign_as(signer, keyid, unix_now(), None);
    to_gateway(target, Method::GET, &authority, path, &h, vec![]).await
}

async fn call(a: &Host, peer: &str, path: &str) -> Resp {
    a.call_peer(
        &a.app_token("echo"),
        peer,
        Method::POST,
        path,
        &[],
        b"x".to_vec(),
    )
    .await
}

async fn metrics(h: &Host) -> BTreeMap<String, f64> {
    let r = send(
        Method::GET,
        &format!("http://{}/metrics", h.internal),
        &[],
        vec![],
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().contains("openmetrics"));
    scrape(&String::from_utf8_lossy(&r.body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics_reflect_traffic() {
    let (a, _ea, b, _eb) = peered_pair().await;
    for h in [&a, &b] {
        let r = send(
            Method::GET,
            &format!("http://{}/healthz", h.internal),
            &[],
            vec![],
        )
        .await;
        assert_eq!(r.status, 200);
        let r = send(
            Method::GET,
            &format!("http://{}/readyz", h.internal),
            &[],
            vec![],
        )
        .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    // One good call, one forged request.
    assert_eq!(call(&a, &b.id, "/peer/m").await.status, 200);
    // B's own key claiming A's ID: never verifies.
    assert_eq!(
        signed_get(&b, &identity_of(&b), &a.id, "/peer/x")
            .await
            .status,
        401
    );

    let ma = metrics(&a).await;
    assert!(
        sum(&ma, "shardpeer_call_peer_total", &["outcome=\"ok\""]) >= 1.0,
        "{ma:?}"
    );
    assert!(sum(&ma, "shardpeer_call_peer_seconds_count", &[]) >= 1.0);
    assert!(
        sum(
            &ma,
            "shardpeer_requests_total",
            &["route=\"call_peer\"", "status=\"200\""]
        ) >= 1.0
    );
    assert_eq!(sum(&ma, "shardpeer_peers", &[]), 1.0);
    assert_eq!(sum(&ma, "shardpeer_peers_reachable", &[]), 1.0);
    let mb = metrics(&b).await;
    assert!(
        sum(
            &mb,
            "shardpeer_verify_failures_total",
            &["code=\"signature_invalid\""]
        ) >= 1.0,
        "{mb:?}"
    );
    assert!(
        sum(
            &mb,
            "shardpeer_requests_total",
            &["listener=\"public\"", "route=\"app\"", "status=\"401\""]
        ) >= 1.0
    );
    assert!(
        sum(&mb, "shardpeer_nonce_cache_entries", &[]) >= 1.0,
        "the accepted call's nonce is remembered"
    );
}

fn hup(h: &Host) {
    let ok = std::process::Command::new("kill")
        .arg("-HUP")
        .arg(h.child.id().to_string())
        .status()
        .unwrap();
    assert!(ok.success());
}

async fn eventually(mut probe: impl AsyncFnMut() -> bool, what: &str) {
    let start = Instant::now();
    while !probe().await {
        assert!(start.elapsed() < Duration::from_secs(10), "{what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_rules_and_a_broken_file_keeps_the_old_ones() {
    let echo = Echo::start("echo").await;
    let h = Host::start(HostSpec {
        name: "Alice",
        apps: vec![("echo", echo.addr, ECHO_META)],
        extra_toml: "",
    });
    let meta = h.dir.join("apps/echo/app_meta.json");
    assert_eq!(
        h.gateway_req(Method::GET, "echo", "/pub/x", &[], vec![])
            .await
            .status,
        200
    );

    // A broken file: the old rules stay in force, the host keeps serving.
    std::fs::write(
        &meta,
        "{\"name\": \"echo\", \"paths\": {\n  \"\": {\"access\": \"public\"},\n  oops\n}}",
    )
    .unwrap();
    hup(&h);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        h.gateway_req(Method::GET, "echo", "/pub/x", &[], vec![])
            .await
            .status,
        200
    );
    assert_eq!(
        h.gateway_req(Method::GET, "echo", "/private", &[], vec![])
            .await
            .status,
        401,
        "old rules"
    );

    // A good file with different rules takes effect without a restart.
    std::fs::write(
        &meta,
        r#"{"name": "echo", "paths": {"": {"access": "public"}, "/pub": {"access": "private"}}}"#,
    )
    .unwrap();
    hup(&h);
    eventually(
        async || {
            h.gateway_req(Method::GET, "echo", "/private", &[], vec![])
                .await
                .status
                == 200
        },
        "new rules",
    )
    .await;
    assert_eq!(
        h.gateway_req(Method::GET, "echo", "/pub/x", &[], vec![])
            .await
            .status,
        401
    );

    // A new app appears with its token.
    let notes = Echo::start("notes").await;
    std::fs::create_dir_all(h.dir.join("apps/notes")).unwrap();
    std::fs::write(
        h.dir.join("apps/notes/app_meta.json"),
        r#"{"name": "notes", "paths": {"": {"access": "public"}}}"#,
    )
    .unwrap();
    let mut cfg = std::fs::read_to_string(&h.config).unwrap();
    cfg.push_str(&format!("[[app]]\nname = \"notes\"\nupstream = \"http://{}\"\nmeta = \"apps/notes/app_meta.json\"\n", notes.addr));
    std::fs::write(&h.config, cfg).unwrap();
    hup(&h);
    eventually(
        async || {
            h.gateway_req(Method::GET, "notes", "/", &[], vec![])
                .await
                .status
                == 200
        },
        "new app",
    )
    .await;
    assert!(h.data_dir.join("apps/notes.token").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_verifications_are_rate_limited_per_address_and_recover() {
    let limits = "[limits]\nverify_failures_per_minute = 60\n";
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
        extra_toml: limits,
    });
    assert_eq!(a.add_peer(&b, "Bob").await.status, 201);
    assert_eq!(b.add_peer(&a, "Alice").await.status, 201);
    let (ia, ib) = (identity_of(&a), identity_of(&b));
    let mut limited = None;
    for i in 0..80 {
        // B's key, A's ID: never verifies.
        let r = signed_get(&b, &ib, &a.id, "/peer/x").await;
        if r.status == 429 {
            limited = Some((i, r));
            break;
        }
        assert_eq!(r.status, 401);
    }
    let (after, r) = limited.expect("failures are limited");
    assert!(
        (55..=61).contains(&after),
        "the budget is about 60 failures, limited after {after}"
    );
    assert_eq!(r.error_code(), "rate_limited");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    // Even a valid request from that address waits: nothing is verified while limited.
    assert_eq!(signed_get(&b, &ia, &a.id, "/peer/ok").await.status, 429);
    // Recovers as the bucket refills.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(signed_get(&b, &ia, &a.id, "/peer/ok").await.status, 200);
    // Unsigned requests are never limited by this.
    assert_eq!(
        b.gateway_req(Method::GET, "echo", "/pub/x", &[], vec![])
            .await
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_peer_is_rate_limited_per_app_and_recovers() {
    let limits = "[limits]\ncall_peer_per_second = 2\n";
    let ea = Echo::start("echo-a").await;
    let eb = Echo::start("echo-b").await;
    let a = Host::start(HostSpec {
        name: "Alice",
        apps: vec![("echo", ea.addr, ECHO_META)],
        extra_toml: limits,
    });
    let b = Host::start(HostSpec {
        name: "Bob",
        apps: vec![("echo", eb.addr, ECHO_META)],
        extra_toml: "",
    });
    assert_eq!(a.add_peer(&b, "Bob").await.status, 201);
    assert_eq!(b.add_peer(&a, "Alice").await.status, 201);
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(call(&a, &b.id, "/peer/r").await);
    }
    let codes: Vec<u16> = statuses.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(
        &codes[..4],
        &[200, 200, 200, 200],
        "burst of 2×rate: {codes:?}"
    );
    let limited = statuses
        .iter()
        .find(|r| r.status == 429)
        .expect("limited after the burst");
    assert!(limited.header("retry-after").is_some());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(call(&a, &b.id, "/peer/r").await.status, 200, "recovered");
}

/// Hosts reuse connections to each other: twenty call_peer calls from A reach B over the
/// connection A's keep-alive pool already holds (from pinning B's key), not twenty new ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_between_hosts_reuse_one_connection() {
    let (a, _ea, b, _eb) = peered_pair().await;
    let before = metrics(&b).await;
    for i in 0..20 {
        let r = call(&a, &b.id, &format!("/peer/reuse/{i}")).await;
        assert_eq!(r.status, 200, "{r:?}");
    }
    let after = metrics(&b).await;
    let public = |m: &BTreeMap<String, f64>, name: &str, labels: &[&str]| {
        sum(m, name, &[&["listener=\"public\""], labels].concat())
    };
    let requests = public(&after, "shardpeer_requests_total", &[])
        - public(&before, "shardpeer_requests_total", &[]);
    let connections = public(&after, "shardpeer_connections_total", &[])
        - public(&before, "shardpeer_connections_total", &[]);
    assert_eq!(requests, 20.0, "B's gateway saw the 20 calls");
    assert!(
        connections <= 1.0,
        "20 calls opened {connections} new connections to B"
    );
}

/// A burst of calls that finds a peer's contact record due writes the peers store once, not
/// once per call: the first call records the contact, the others see it in flight or done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_calls_records_the_contact_once() {
    let (a, _ea, b, _eb) = peered_pair().await;
    let revision = || {
        let text = std::fs::read_to_string(a.data_dir.join("peers.json")).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        json["revision"].as_u64().unwrap()
    };
    let stored = || {
        let text = std::fs::read_to_string(a.data_dir.join("peers.json")).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        json["peers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == b.id.as_str())
            .unwrap()["last_accepted_call"]
            .clone()
    };
    assert!(stored().is_null(), "no call was accepted yet");
    let before = revision();
    let calls = (0..16).map(|i| {
        let (a, b) = (&a, &b);
        async move { call(a, &b.id, &format!("/peer/burst/{i}")).await }
    });
    for r in futures::future::join_all(calls).await {
        assert_eq!(r.status, 200, "{r:?}");
    }
    assert!(!stored().is_null(), "the accepted call was recorded");
    assert_eq!(
        revision() - before,
        1,
        "16 concurrent calls rewrote the peers store more than once"
    );
}
