//! Peers without an address are found through DNS: `<short>.<zone>` for whoareyou and
//! `<app>.<short>.<zone>` for calls, over TLS pinned to the ID, with a resolver the test owns.

mod common;
use common::*;
use http::Method;
use std::sync::{Arc, Mutex};

/// A DNS server on loopback UDP: A 127.0.0.1 for names under `zone`, an empty answer for
/// AAAA, NXDOMAIN for anything else. Records every question.
async fn dns_server(zone: &'static str) -> (std::net::SocketAddr, Arc<Mutex<Vec<(String, u16)>>>) {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let a2 = asked.clone();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            let q = &buf[..n];
            if n < 12 {
                continue;
            }
            // Question: labels from byte 12, then type and class.
            let mut i = 12;
            let mut labels = Vec::new();
            while i < n && q[i] != 0 {
                let len = q[i] as usize;
                labels.push(String::from_utf8_lossy(&q[i + 1..i + 1 + len]).to_lowercase());
                i += 1 + len;
            }
            let qtype = u16::from_be_bytes([q[i + 1], q[i + 2]]);
            let question_end = i + 5;
            let name = labels.join(".");
            a2.lock().unwrap().push((name.clone(), qtype));
            let ours = name == zone || name.ends_with(&format!(".{zone}"));
            let answer_a = ours && qtype == 1;
            let mut r = Vec::new();
            r.extend_from_slice(&q[0..2]); // ID
            r.extend_from_slice(&[0x81, if ours { 0x80 } else { 0x83 }]); // response, RA, NOERROR/NXDOMAIN
            r.extend_from_slice(&[0, 1, 0, if answer_a { 1 } else { 0 }, 0, 0, 0, 0]);
            r.extend_from_slice(&q[12..question_end]);
            if answer_a {
                r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 127, 0, 0, 1]);
            }
            let _ = sock.send_to(&r, from).await;
        }
    });
    (addr, asked)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_without_an_address_is_found_by_its_names() {
    let (dns, asked) = dns_server(ZONE).await;
    let eb = Echo::start("echo-b").await;
    let b = Host::start(HostSpec {
        name: "Bob",
        apps: vec![("echo", eb.addr, ECHO_META)],
        extra_toml: "tls_listen = \"127.0.0.1:0\"",
    });
    // Every name resolves to loopback; Bob's TLS port stands in for 443.
    let extra = format!(
        "tls_listen = \"127.0.0.1:0\"\n[dns]\nservers = [\"{dns}\"]\npeer_port = {}\n",
        b.tls.unwrap().port()
    );
    let ea = Echo::start("echo-a").await;
    let a = Host::start(HostSpec {
        name: "Alice",
        apps: vec![("echo", ea.addr, ECHO_META)],
        extra_toml: &extra,
    });

    // Alice adds Bob by ID alone.
    let body = serde_json::json!({"id": b.id, "name": "Bob"})
        .to_string()
        .into_bytes();
    let r = a
        .internal_req(Method::PUT, "/protected/peers", &a.owner_token, body)
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        r.json()["is_reachable"],
        true,
        "found by DNS, verified over pinned TLS: {}",
        r.json()
    );
    assert_eq!(r.json()["domain"], b.domain.as_str());
    // Bob adds Alice by address.
    let body = serde_json::json!({"id": a.id, "name": "Alice", "address": format!("https://{}", a.tls.unwrap())}).to_string().into_bytes();
    assert_eq!(
        b.internal_req(Method::PUT, "/protected/peers", &b.owner_token, body)
            .await
            .status,
        201
    );

    let r = a
        .call_peer(
            &a.app_token("echo"),
            &b.id,
            Method::POST,
            "/peer/dns",
            &[],
            b"by name".to_vec(),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(&eb.last().body[..], b"by name");

    let asked = asked.lock().unwrap().clone();
    let names: Vec<&str> = asked.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.contains(&b.domain.as_str()),
        "whoareyou by the shard's domain: {asked:?}"
    );
    let app_name = format!("echo.{}", b.domain);
    assert!(
        names.contains(&app_name.as_str()),
        "calls by <app>.<domain>: {asked:?}"
    );
    assert!(
        asked.iter().any(|(_, t)| *t == 28),
        "AAAA asked too (Happy Eyeballs): {asked:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_name_leaves_the_peer_unreachable_but_added() {
    let (dns, _asked) = dns_server("other.test").await;
    let extra = format!("[dns]\nservers = [\"{dns}\"]\n");
    let a = Host::start(HostSpec {
        name: "Alice",
        apps: vec![],
        extra_toml: &extra,
    });
    let b = Host::start(HostSpec {
        name: "Bob",
        apps: vec![],
        extra_toml: "",
    });
    let body = serde_json::json!({"id": b.id, "name": "Bob"})
        .to_string()
        .into_bytes();
    let r = a
        .internal_req(Method::PUT, "/protected/peers", &a.owner_token, body)
        .await;
    assert_eq!(
        r.status, 201,
        "adding never fails because the peer is unreachable"
    );
    assert_eq!(r.json()["is_reachable"], false);
}
