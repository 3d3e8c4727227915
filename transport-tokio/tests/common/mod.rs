//! Test harness: real `shardpeer` processes on loopback, echo upstreams that record what
//! reaches them, and a small HTTP client.
#![allow(dead_code)]

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const ZONE: &str = "shard.test";

pub const ECHO_META: &str = r#"{
  "name": "echo",
  "paths": {
    "": {"access": "private", "headers": {
        "X-Ptl-Client-Type": "{{ auth.client_type }}",
        "X-Ptl-Client-Id": "{{ auth.client_id }}",
        "X-Ptl-Client-Name": "{{ auth.client_name }}",
        "X-Ptl-ID": "{{ portal.id }}"}},
    "/pub": {"access": "public", "headers": {
        "X-Ptl-Client-Type": "{{ auth.client_type }}",
        "X-Ptl-Client-Id": "{{ auth.client_id }}"}},
    "/peer": {"access": "peer", "headers": {
        "X-Ptl-Client-Type": "{{ auth.client_type }}",
        "X-Ptl-Client-Id": "{{ auth.client_id }}",
        "X-Ptl-Client-Name": "{{ auth.client_name }}",
        "X-Ptl-ID": "{{ portal.id }}"}}
  },
  "entrypoints": [{"container_name": "echo", "container_port": 80, "entrypoint_port": "http"}],
  "store_info": {"description_short": "records requests"}
}"#;

/// One request as an upstream app saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// An app upstream that records every request and answers 200 with `X-Echo: <app>` and the
/// request body echoed back.
#[derive(Clone)]
pub struct Echo {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Echo {
    pub async fn start(name: &'static str) -> Echo {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    break;
                };
                let seen = s2.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let seen = seen.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|c| c.to_bytes())
                                .unwrap_or_default();
                            seen.lock().unwrap().push(Seen {
                                method: parts.method.to_string(),
                                path_and_query: parts
                                    .uri
                                    .path_and_query()
                                    .map(|p| p.to_string())
                                    .unwrap_or_default(),
                                headers: parts.headers.clone(),
                                body: body.clone(),
                            });
                            let resp = http::Response::builder()
                                .status(200)
                                .header("x-echo", name)
                                .header("content-type", "application/octet-stream")
                                .body(Full::new(body))
                                .unwrap();
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Echo { addr, seen }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn last(&self) -> Seen {
        self.seen().last().cloned().expect("the app saw no request")
    }
}

/// A running `shardpeer serve`.
pub struct Host {
    pub child: Child,
    pub dir: PathBuf,
    pub data_dir: PathBuf,
    pub config: PathBuf,
    pub id: String,
    pub short_id: String,
    pub domain: String,
    pub gateway: SocketAddr,
    pub internal: SocketAddr,
    /// The TLS gateway, when `tls_listen` was configured.
    pub tls: Option<SocketAddr>,
    pub owner_token: String,
    _tmp: Option<tempfile::TempDir>,
}

pub struct HostSpec<'a> {
    pub name: &'a str,
    pub apps: Vec<(&'a str, SocketAddr, &'a str)>,
    pub extra_toml: &'a str,
}

pub fn shardpeer_bin() -> &'static str {
    env!("CARGO_BIN_EXE_shardpeer")
}

impl Host {
    /// Starts a host in a fresh temporary directory.
    pub fn start(spec: HostSpec<'_>) -> Host {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let mut h = Host::start_in(&dir, spec);
        h._tmp = Some(tmp);
        h
    }

    /// Writes the config for `spec` into `dir` and starts a host there (reusing any data).
    pub fn start_in(dir: &Path, spec: HostSpec<'_>) -> Host {
        let mut toml = format!(
            "name = \"{}\"\nzone = \"{ZONE}\"\npublic_listen = \"127.0.0.1:0\"\ninternal_listen = \"127.0.0.1:0\"\n{}\n",
            spec.name, spec.extra_toml
        );
        for (app, upstream, meta) in &spec.apps {
            let meta_rel = format!("apps/{app}/app_meta.json");
            std::fs::create_dir_all(dir.join(format!("apps/{app}"))).unwrap();
            std::fs::write(dir.join(&meta_rel), meta).unwrap();
            toml.push_str(&format!("[[app]]\nname = \"{app}\"\nupstream = \"http://{upstream}\"\nmeta = \"{meta_rel}\"\n"));
        }
        let config = dir.join("shard.toml");
        std::fs::write(&config, toml).unwrap();
        Host::spawn(dir, &config)
    }

    fn spawn(dir: &Path, config: &Path) -> Host {
        let data_dir = dir.join("data");
        let mut child = Command::new(shardpeer_bin())
            .args(["serve", "--config"])
            .arg(config)
            .arg("--data-dir")
            .arg(&data_dir)
            .env("SHARDPEER_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start shardpeer");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut get = |prefix: &str| -> String {
            for line in lines.by_ref() {
                let line = line.unwrap();
                if let Some(v) = line.strip_prefix(prefix) {
                    return v.trim().to_string();
                }
            }
            panic!("shardpeer exited before printing {prefix:?}");
        };
        let id = get("id:");
        let short_id = get("short id:");
        let _name = get("name:");
        let domain = get("domain:");
        let gateway: SocketAddr = get("gateway:")
            .trim_start_matches("http://")
            .parse()
            .unwrap();
        let internal: SocketAddr = get("internal:")
            .trim_start_matches("http://")
            .parse()
            .unwrap();
        let mut tls = None;
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(v) = line.strip_prefix("gateway tls:") {
                tls = Some(
                    v.trim()
                        .trim_start_matches("https://")
                        .parse::<SocketAddr>()
                        .unwrap(),
                );
            }
            if line.starts_with("ready") {
                break;
            }
        }
        let owner_token = std::fs::read_to_string(data_dir.join("owner.token"))
            .unwrap()
            .trim()
            .to_string();
        Host {
            child,
            dir: dir.to_path_buf(),
            data_dir,
            config: config.to_path_buf(),
            id,
            short_id,
            domain,
            gateway,
            internal,
            tls,
            owner_token,
            _tmp: None,
        }
    }

    /// Stops with SIGTERM and waits.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }

    /// Kills with SIGKILL (an unclean stop).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts again on the same directory and config (new ports).
    pub fn restart(&mut self) {
        let tmp = self._tmp.take();
        let fresh = Host::spawn(&self.dir.clone(), &self.config.clone());
        *self = fresh;
        self._tmp = tmp;
    }

    pub fn app_token(&self, app: &str) -> String {
        std::fs::read_to_string(self.data_dir.join(format!("apps/{app}.token")))
            .unwrap()
            .trim()
            .to_string()
    }

    pub fn app_host(&self, app: &str) -> String {
        format!("{app}.{}", self.domain)
    }

    /// PUT /protected/peers as the owner.
    pub async fn add_peer(&self, other: &Host, name: &str) -> Resp {
        let body = serde_json::json!({"id": other.id, "name": name, "address": format!("http://{}", other.gateway)});
        self.internal_req(
            Method::PUT,
            "/protected/peers",
            &self.owner_token,
            body.to_string().into_bytes(),
        )
        .await
    }

    pub async fn internal_req(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Vec<u8>,
    ) -> Resp {
        send(
            method,
            &format!("http://{}{path}", self.internal),
            &[
                ("authorization", &format!("Bearer {token}")),
                ("content-type", "application/json"),
            ],
            body,
        )
        .await
    }

    /// A request to this host's gateway for `app`.
    pub async fn gateway_req(
        &self,
        method: Method,
        app: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Resp {
        let host = self.app_host(app);
        let mut hs: Vec<(&str, &str)> = vec![("host", &host)];
        hs.extend_from_slice(headers);
        send(method, &format!("http://{}{path}", self.gateway), &hs, body).await
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response, read whole.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub fn error_code(&self) -> String {
        self.json()["error"].as_str().unwrap_or("").to_string()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    }
}

pub fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

/// Sends one request (fresh client) and reads the whole response.
pub async fn send(method: Method, url: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Resp {
    let mut b = Request::builder().method(method).uri(url);
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    let req = b.body(Full::new(Bytes::from(body))).unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(30), client().request(req))
        .await
        .expect("request timed out")
        .expect("request failed");
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Resp {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// Reads a host's identity from its data directory.
pub fn identity_of(host: &Host) -> shardpeer_core::identity::Identity {
    let pem = std::fs::read_to_string(host.data_dir.join("identity.pem")).unwrap();
    shardpeer_core::identity::Identity::from_pkcs8_pem(&pem).unwrap()
}

// ---------------------------------------------------------------------------------------
// Peers, two apps, restarts.
// ---------------------------------------------------------------------------------------

/// `ECHO_META` for an app called `name` (same rules).
pub fn meta_named(name: &str) -> String {
    ECHO_META.replacen("\"name\": \"echo\"", &format!("\"name\": \"{name}\""), 1)
}

/// Two hosts with an `echo` app each, not peered yet.
pub async fn pair() -> (Host, Echo, Host, Echo) {
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

/// Two hosts that have added each other.
pub async fn peered_pair() -> (Host, Echo, Host, Echo) {
    let (a, ea, b, eb) = pair().await;
    assert_eq!(a.add_peer(&b, "Bob").await.status, 201);
    assert_eq!(b.add_peer(&a, "Alice").await.status, 201);
    (a, ea, b, eb)
}

impl Host {
    /// `ANY /internal/call_peer/{peer}{path_and_query}` with `token`, plus `headers`.
    pub async fn call_peer(
        &self,
        token: &str,
        peer: &str,
        method: Method,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Resp {
        let bearer = format!("Bearer {token}");
        let mut hs: Vec<(&str, &str)> = vec![("authorization", &bearer)];
        hs.extend_from_slice(headers);
        send(
            method,
            &format!(
                "http://{}/internal/call_peer/{peer}{path_and_query}",
                self.internal
            ),
            &hs,
            body,
        )
        .await
    }

    /// PUT /protected/peers as the owner with `{"id", "address"}`.
    pub async fn put_peer_address(&self, id: &str, address: &str) -> Resp {
        let body = serde_json::json!({"id": id, "address": address});
        self.internal_req(
            Method::PUT,
            "/protected/peers",
            &self.owner_token,
            body.to_string().into_bytes(),
        )
        .await
    }

    /// IDs in GET /protected/peers (as the owner).
    pub async fn peer_ids(&self) -> Vec<String> {
        let r = self
            .internal_req(Method::GET, "/protected/peers", &self.owner_token, vec![])
            .await;
        assert_eq!(r.status, 200, "{r:?}");
        r.json()
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_string())
            .collect()
    }

    /// `GET /internal/auth` (forward-auth) with `headers`.
    pub async fn forward_auth(&self, headers: &[(&str, &str)], body: Vec<u8>) -> Resp {
        send(
            Method::GET,
            &format!("http://{}/internal/auth", self.internal),
            headers,
            body,
        )
        .await
    }

    /// Restarts on the same directory *and the same ports*, as a service manager would: the
    /// addresses peers stored for this host stay valid.
    pub fn restart_same_ports(&mut self) {
        let text = std::fs::read_to_string(&self.config).unwrap();
        let text = text
            .replace(
                "public_listen = \"127.0.0.1:0\"",
                &format!("public_listen = \"{}\"", self.gateway),
            )
            .replace(
                "internal_listen = \"127.0.0.1:0\"",
                &format!("internal_listen = \"{}\"", self.internal),
            );
        std::fs::write(&self.config, text).unwrap();
        self.restart();
    }
}

/// Headers as the `&[(&str, &str)]` that `send` takes.
pub fn refs(h: &[(String, String)]) -> Vec<(&str, &str)> {
    h.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
}

// ---------------------------------------------------------------------------------------
// Crafting signed requests with the core, as a peer (or an attacker) would.
// ---------------------------------------------------------------------------------------

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A fresh 128-bit nonce.
pub fn fresh_nonce() -> String {
    let r = shardpeer_tokio::datadir::random_bytes::<16>().unwrap();
    shardpeer_core::profile::nonce_from_random(&r).to_string()
}

/// What a crafted request will be signed over.
pub struct Draft<'a> {
    pub method: &'a str,
    /// `Host`, e.g. `echo.<B's domain>`.
    pub authority: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

impl Draft<'_> {
    pub fn path_and_query(&self) -> String {
        match self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.to_string(),
        }
    }

    fn base_fields(&self) -> Vec<(String, String)> {
        let digest = shardpeer_core::digest::Digest::of(
            shardpeer_core::digest::DigestAlg::Sha256,
            self.body,
        )
        .header_value()
        .to_string();
        let mut h = vec![("content-digest".to_string(), digest)];
        if let Some(ct) = self.content_type {
            h.push(("content-type".to_string(), ct.to_string()));
        }
        h
    }

    /// Signed exactly as a shard's core signs (`profile::sign_request`) at time `now`.
    /// Returns `Content-Digest`, `Content-Type` (if any), `Signature-Input`, `Signature`.
    pub fn sign(
        &self,
        identity: &shardpeer_core::identity::Identity,
        now: u64,
    ) -> Vec<(String, String)> {
        let mut h = self.base_fields();
        let signed = {
            let f = refs(&h);
            let view = shardpeer_core::message::Request {
                method: self.method,
                scheme: "http",
                authority: self.authority,
                path: self.path,
                query: self.query,
                fields: f.as_slice(),
            };
            let mut buf = [0u8; 2048];
            shardpeer_core::profile::sign_request(identity, &view, now, &fresh_nonce(), &mut buf)
                .unwrap()
        };
        h.push(("signature-input".into(), signed.signature_input.to_string()));
        h.push(("signature".into(), signed.signature.to_string()));
        h
    }

    /// Signed with the profile's components and parameters, but with any `keyid`, `created`
    /// and `expires`: what an attacker holding `signer` can produce.
    pub fn sign_as(
        &self,
        signer: &shardpeer_core::identity::Identity,
        keyid: &str,
        created: i64,
        expires: Option<i64>,
    ) -> Vec<(String, String)> {
        use shardpeer_core::profile;
        let mut h = self.base_fields();
        let nonce = fresh_nonce();
        let signed = {
            let f = refs(&h);
            let view = shardpeer_core::message::Request {
                method: self.method,
                scheme: "http",
                authority: self.authority,
                path: self.path,
                query: self.query,
                fields: f.as_slice(),
            };
            let mut components = profile::REQUEST_COMPONENTS.to_string();
            if self.content_type.is_some() {
                components.push(' ');
                components.push_str(profile::IF_PRESENT);
            }
            let params = shardpeer_core::sign::SignatureParams {
                created: Some(created),
                expires,
                nonce: Some(&nonce),
                keyid: Some(keyid),
                alg: true,
                tag: Some(profile::REQUEST_TAG),
            };
            let mut buf = [0u8; 2048];
            shardpeer_core::sign::sign_request(
                signer,
                profile::LABEL,
                &components,
                &params,
                &view,
                &mut buf,
            )
            .unwrap()
        };
        h.push(("signature-input".into(), signed.signature_input.to_string()));
        h.push(("signature".into(), signed.signature.to_string()));
        h
    }
}

/// Sends `headers` (plus `Host: authority`) to `host`'s gateway.
pub async fn to_gateway(
    host: &Host,
    method: Method,
    authority: &str,
    path_and_query: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> Resp {
    let mut hs = vec![("host", authority)];
    hs.extend(refs(headers));
    send(
        method,
        &format!("http://{}{path_and_query}", host.gateway),
        &hs,
        body,
    )
    .await
}

/// Whether a response carries a `shardpeer` response signature.
pub fn is_signed(r: &Resp) -> bool {
    r.header("signature-input")
        .is_some_and(|v| v.contains("tag=\"shardpeer/1/response\""))
        && r.header("signature").is_some()
}

// ---------------------------------------------------------------------------------------
// Identities and IDs.
// ---------------------------------------------------------------------------------------

/// A deterministic identity (seed never all-zero).
pub fn seed_identity(n: u32) -> shardpeer_core::identity::Identity {
    let mut seed = [0x5au8; 32];
    seed[..4].copy_from_slice(&n.to_be_bytes());
    shardpeer_core::identity::Identity::from_seed(seed).unwrap()
}

const B32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// RFC 4648 base32, lowercase, no padding (whole 5-byte groups only).
pub fn b32_encode(bytes: &[u8]) -> String {
    assert_eq!(bytes.len() % 5, 0);
    let mut out = String::new();
    for g in bytes.chunks(5) {
        let mut v: u64 = 0;
        for b in g {
            v = (v << 8) | u64::from(*b);
        }
        for i in (0..8).rev() {
            out.push(B32[((v >> (i * 5)) & 31) as usize] as char);
        }
    }
    out
}

pub fn b32_decode(text: &str) -> Vec<u8> {
    assert_eq!(text.len() % 8, 0);
    let mut out = Vec::new();
    for g in text.as_bytes().chunks(8) {
        let mut v: u64 = 0;
        for c in g {
            let d = B32.iter().position(|x| x == c).expect("base32 character") as u64;
            v = (v << 5) | d;
        }
        for i in (0..5).rev() {
            out.push((v >> (i * 8)) as u8);
        }
    }
    out
}

/// `SHA-256("shardpeer-id-checksum-v1" || d)[0..5]` (docs/protocol.md, Shard IDs).
pub fn id_checksum(d: &[u8]) -> [u8; 5] {
    let mut input = b"shardpeer-id-checksum-v1".to_vec();
    input.extend_from_slice(d);
    let h = shardpeer_core::digest::Digest::of(shardpeer_core::digest::DigestAlg::Sha256, &input);
    h.as_bytes()[..5].try_into().unwrap()
}

/// A syntactically valid full ID (right checksum) that shares `id`'s short ID but is not
/// `id`: what grinding a 30-bit prefix gives an attacker, without the grinding.
pub fn id_with_same_prefix(id: &str) -> String {
    let raw = b32_decode(id);
    let mut d = raw[..25].to_vec();
    // The short ID is the first 30 bits (3.75 bytes); change bytes well after it.
    for b in &mut d[8..] {
        *b ^= 0xa5;
    }
    let mut all = d.clone();
    all.extend_from_slice(&id_checksum(&d));
    let forged = b32_encode(&all);
    assert_eq!(&forged[..6], &id[..6]);
    assert_ne!(forged, id);
    forged
}

/// `id` with its checksum broken (last character changed).
pub fn id_with_bad_checksum(id: &str) -> String {
    let mut s = id.to_string();
    let last = s.pop().unwrap();
    s.push(if last == 'a' { 'b' } else { 'a' });
    s
}

// ---------------------------------------------------------------------------------------
// Hostile or broken network neighbours.
// ---------------------------------------------------------------------------------------

/// A loopback port nothing listens on (bound, then released).
pub fn closed_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// A listener that accepts connections and never reads or answers.
pub async fn silent_listener() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    addr
}

/// What the man in the middle does to answers for app paths (`/core/…` always passes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mitm {
    /// Forwards both ways unchanged.
    Pass,
    /// Changes the response body, keeping the peer's `Content-Digest`.
    AlterBody,
    /// Changes the response body and puts the matching `Content-Digest` on it.
    AlterBodyAndDigest,
    /// Changes the status code.
    AlterStatus,
    /// Removes the `Signature` field.
    DropSignature,
    /// Does not forward: answers with the last app response it relayed (a valid, signed
    /// answer to an earlier request).
    ReplayLast,
}

/// A man-in-the-middle HTTP proxy on loopback in front of `target`.
#[derive(Clone)]
pub struct Proxy {
    pub addr: SocketAddr,
    pub mode: Arc<Mutex<Mitm>>,
    /// Requests that reached the proxy for app paths.
    pub app_requests: Arc<Mutex<usize>>,
}

type Recorded = (StatusCode, HeaderMap, Bytes);

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(Mutex::new(Mitm::Pass));
        let app_requests = Arc::new(Mutex::new(0usize));
        let last: Arc<Mutex<Option<Recorded>>> = Arc::new(Mutex::new(None));
        let (m2, c2) = (mode.clone(), app_requests.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (mode, count, last) = (m2.clone(), c2.clone(), last.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let (mode, count, last) = (mode.clone(), count.clone(), last.clone());
                        async move {
                            Ok::<_, std::convert::Infallible>(
                                mitm(target, req, mode, count, last).await,
                            )
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Proxy {
            addr,
            mode,
            app_requests,
        }
    }

    pub fn set(&self, m: Mitm) {
        *self.mode.lock().unwrap() = m;
    }

    pub fn app_requests(&self) -> usize {
        *self.app_requests.lock().unwrap()
    }
}

async fn mitm(
    target: SocketAddr,
    req: Request<Incoming>,
    mode: Arc<Mutex<Mitm>>,
    count: Arc<Mutex<usize>>,
    last: Arc<Mutex<Option<Recorded>>>,
) -> http::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let core = parts.uri.path().starts_with("/core/");
    let m = if core {
        Mitm::Pass
    } else {
        *mode.lock().unwrap()
    };
    if !core {
        *count.lock().unwrap() += 1;
    }
    let reply = |(status, headers, body): Recorded| {
        let mut r = http::Response::new(Full::new(body));
        *r.status_mut() = status;
        *r.headers_mut() = headers;
        r
    };
    if m == Mitm::ReplayLast {
        let rec = last
            .lock()
            .unwrap()
            .clone()
            .expect("nothing recorded to replay");
        return reply(rec);
    }
    let pq = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut up = Request::builder()
        .method(parts.method.clone())
        .uri(format!("http://{target}{pq}"));
    for (n, v) in &parts.headers {
        if n != http::header::CONTENT_LENGTH && n != http::header::TRANSFER_ENCODING {
            up = up.header(n, v);
        }
    }
    let resp = client()
        .request(up.body(Full::new(body)).unwrap())
        .await
        .unwrap();
    let (rp, rb) = resp.into_parts();
    let rb = rb.collect().await.unwrap().to_bytes();
    let mut headers = rp.headers.clone();
    headers.remove(http::header::CONTENT_LENGTH);
    headers.remove(http::header::TRANSFER_ENCODING);
    let mut status = rp.status;
    let mut out = rb.clone();
    if !core {
        *last.lock().unwrap() = Some((status, headers.clone(), rb.clone()));
    }
    match m {
        Mitm::Pass | Mitm::ReplayLast => {}
        Mitm::AlterBody => out = Bytes::from(format!("{}-altered", String::from_utf8_lossy(&rb))),
        Mitm::AlterBodyAndDigest => {
            out = Bytes::from_static(b"forged by the man in the middle");
            let d =
                shardpeer_core::digest::Digest::of(shardpeer_core::digest::DigestAlg::Sha256, &out)
                    .header_value();
            headers.insert("content-digest", d.parse().unwrap());
        }
        Mitm::AlterStatus => {
            status = if status == StatusCode::OK {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            }
        }
        Mitm::DropSignature => {
            headers.remove("signature");
        }
    }
    reply((status, headers, out))
}
