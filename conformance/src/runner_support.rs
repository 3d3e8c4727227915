//! The runner's machinery: the target seen through its HTTP API, the runner's own shard (the
//! reference host, in process), signed request drafts, recording app upstreams and a proxy
//! that tampers with answers.

use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sha2::Digest as _;
use shardpeer_core::digest::{Digest, DigestAlg};
use shardpeer_core::id::ShardId;
use shardpeer_core::identity::{Identity, PublicKey};
use shardpeer_core::message;
use shardpeer_core::profile;
use shardpeer_core::replay::FixedReplayCache;
use shardpeer_core::sign::{self, SignatureParams};
use shardpeer_core::whoareyou;
use shardpeer_tokio::config::{App, Config, HostAppMeta};
use shardpeer_tokio::server::{self, Role};
use shardpeer_tokio::state::Shard;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the runner's shard calls itself.
pub const RUNNER_NAME: &str = "Conformance Runner";

/// A scenario's verdict.
#[derive(Debug)]
pub enum Outcome {
    /// Behaved as the protocol says.
    Pass,
    /// Did not; the reason.
    Fail(String),
    /// The target answered 501 for what the scenario needs.
    Unimplemented(String),
}

/// Everything a scenario can use.
pub struct Ctx {
    /// The implementation under test.
    pub t: Target,
    /// The runner's own shard.
    pub me: RunnerShard,
    /// The target's `echo` upstream (served by the runner).
    pub target_echo: Recorder,
    /// The target's `notes` upstream.
    pub target_notes: Recorder,
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A response, read whole.
#[derive(Debug, Clone)]
pub struct Resp {
    /// Status (0 when the request failed).
    pub status: u16,
    /// Fields.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Resp {
    /// Body as JSON.
    pub fn json(&self) -> Result<serde_json::Value, String> {
        serde_json::from_slice(&self.body).map_err(|_| format!("not JSON: {:?}", self.text()))
    }
    /// `error` of a JSON error body.
    pub fn code(&self) -> String {
        self.json()
            .ok()
            .and_then(|j| j["error"].as_str().map(str::to_string))
            .unwrap_or_default()
    }
    /// Body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// A field's value.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

/// Sends a request; a transport failure is status 0 with the error as body.
pub async fn send(method: Method, url: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Resp {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let mut b = Request::builder().method(method).uri(url);
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    let failed = |e: String| Resp {
        status: 0,
        headers: HeaderMap::new(),
        body: Bytes::from(e),
    };
    let req = match b.body(Full::new(Bytes::from(body))) {
        Ok(r) => r,
        Err(e) => return failed(e.to_string()),
    };
    let resp = match tokio::time::timeout(Duration::from_secs(30), client.request(req)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return failed(e.to_string()),
        Err(_) => return failed("timed out".into()),
    };
    let (parts, body) = resp.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    Resp {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    }
}

/// GET.
pub async fn get(url: &str, headers: &[(&str, &str)]) -> Resp {
    send(Method::GET, url, headers, vec![]).await
}

/// Percent-encodes everything but unreserved characters (for IDs placed in a path).
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Verifies a whoareyou answer's signature and body.
pub fn verify_whoareyou(r: &Resp, id: &ShardId, key: &PublicKey) -> Result<(), String> {
    let fields: Vec<(&str, &[u8])> = r
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_bytes()))
        .collect();
    type Pairs<'a> = [(&'a str, &'a [u8])];
    let view: message::Response<'_, Pairs<'_>, Pairs<'_>> = message::Response {
        status: r.status,
        fields: fields.as_slice(),
        request: None,
    };
    let mut buf = [0u8; 2048];
    let v = whoareyou::verifier(id.as_str())
        .verify_response(
            &view,
            key,
            &mut FixedReplayCache::<1>::new(),
            unix_now(),
            &mut buf,
        )
        .map_err(|e| e.to_string())?;
    v.content_digest
        .ok_or("no digest")?
        .check_body(&r.body)
        .map_err(|e| e.to_string())
}

/// A valid full ID (correct checksum) that shares `id`'s short ID but belongs to no known key.
pub fn same_prefix_id(id: &ShardId) -> String {
    let alphabet = base32::RFC4648_LOWER_NOPAD;
    let mut raw = alphabet.decode(id.as_str()).unwrap_or_default();
    raw.truncate(25);
    if raw.len() == 25 {
        raw[20] ^= 0xff;
    }
    let mut h = sha2::Sha256::new();
    h.update(b"shardpeer-id-checksum-v1");
    h.update(&raw);
    raw.extend_from_slice(&h.finalize()[..5]);
    alphabet.encode(&raw)
}

/// `id` with its last character changed: right length and alphabet, wrong checksum.
pub fn bad_checksum(id: &ShardId) -> String {
    let mut s = id.as_str().to_string();
    let last = s.pop().unwrap_or('a');
    s.push(if last == 'a' { 'b' } else { 'a' });
    s
}

/// The implementation under test, through its HTTP API.
pub struct Target {
    /// Internal API base URL.
    pub internal: String,
    /// Gateway base URL.
    pub public: String,
    owner: String,
    echo_token: String,
    notes_token: String,
    /// Its full ID (from whoareyou).
    pub id: ShardId,
    /// Its domain (from whoareyou).
    pub domain: String,
}

impl Target {
    /// Learns the target's ID and domain from its whoareyou.
    pub async fn discover(
        internal: &str,
        public: &str,
        owner: String,
        echo_token: String,
        notes_token: String,
    ) -> Result<Target, String> {
        let internal = internal.trim_end_matches('/').to_string();
        let r = get(&format!("{internal}/public/meta/whoareyou"), &[]).await;
        if r.status != 200 {
            return Err(format!(
                "GET {internal}/public/meta/whoareyou: {} {}",
                r.status,
                r.text()
            ));
        }
        let j = r.json()?;
        let id = ShardId::parse(j["id"].as_str().unwrap_or(""))
            .map_err(|e| format!("whoareyou id: {e}"))?;
        let domain = j["domain"].as_str().unwrap_or("").to_string();
        Ok(Target {
            internal,
            public: public.trim_end_matches('/').to_string(),
            owner,
            echo_token,
            notes_token,
            id,
            domain,
        })
    }

    /// `Bearer <owner token>`.
    pub fn bearer_owner(&self) -> String {
        format!("Bearer {}", self.owner)
    }

    /// `Bearer <echo app token>`.
    pub fn bearer_app(&self) -> String {
        format!("Bearer {}", self.echo_token)
    }

    fn app_token(&self, app: &str) -> &str {
        if app == "notes" {
            &self.notes_token
        } else {
            &self.echo_token
        }
    }

    /// A request to the internal API with a bearer.
    pub async fn internal_req(
        &self,
        method: Method,
        path: &str,
        bearer: &str,
        body: Vec<u8>,
    ) -> Resp {
        send(
            method,
            &format!("{}{path}", self.internal),
            &[
                ("authorization", bearer),
                ("content-type", "application/json"),
            ],
            body,
        )
        .await
    }

    /// `call_peer` as `app`.
    pub async fn call_peer(
        &self,
        app: &str,
        peer: &ShardId,
        path_and_query: &str,
        extra: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Resp {
        let bearer = format!("Bearer {}", self.app_token(app));
        let mut h: Vec<(&str, &str)> = vec![("authorization", &bearer)];
        h.extend_from_slice(extra);
        send(
            Method::POST,
            &format!(
                "{}/internal/call_peer/{}{path_and_query}",
                self.internal,
                peer.as_str()
            ),
            &h,
            body,
        )
        .await
    }

    /// A request to the gateway for `app`.
    pub async fn gateway(
        &self,
        method: Method,
        app: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Resp {
        let host = format!("{app}.{}", self.domain);
        let mut h: Vec<(&str, &str)> = vec![("host", &host)];
        h.extend_from_slice(headers);
        send(method, &format!("{}{path}", self.public), &h, body).await
    }

    /// Forward-auth as a reverse proxy would ask it.
    pub async fn forward_auth(
        &self,
        method: &str,
        app: &str,
        uri: &str,
        headers: &[(&str, &str)],
    ) -> Resp {
        let host = format!("{app}.{}", self.domain);
        let mut h: Vec<(&str, &str)> = vec![
            ("x-forwarded-method", method),
            ("x-forwarded-proto", "http"),
            ("x-forwarded-host", &host),
            ("x-forwarded-uri", uri),
        ];
        h.extend_from_slice(headers);
        send(
            Method::GET,
            &format!("{}/internal/auth", self.internal),
            &h,
            vec![],
        )
        .await
    }
}

/// One request an upstream saw.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Method.
    pub method: String,
    /// Path and query.
    pub path_and_query: String,
    /// Fields.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Seen {
    /// A field's single value.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
    /// Every value of a field.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_string)
            .collect()
    }
}

/// An app upstream that records what reaches it and echoes the body with `X-Echo: <label>`.
#[derive(Clone)]
pub struct Recorder {
    /// Where it listens.
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Recorder {
    /// Serves on `addr` (`127.0.0.1:0` for any port).
    pub async fn serve(addr: &str, label: &'static str) -> Result<Recorder, String> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let s2 = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
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
                            if let Ok(mut g) = seen.lock() {
                                g.push(Seen {
                                    method: parts.method.to_string(),
                                    path_and_query: parts
                                        .uri
                                        .path_and_query()
                                        .map(|p| p.to_string())
                                        .unwrap_or_default(),
                                    headers: parts.headers,
                                    body: body.clone(),
                                });
                            }
                            let mut resp = http::Response::new(Full::new(body));
                            resp.headers_mut()
                                .insert("x-echo", http::HeaderValue::from_static(label));
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(Recorder { addr, seen })
    }

    /// Requests seen so far.
    pub fn count(&self) -> usize {
        self.seen.lock().map(|g| g.len()).unwrap_or(0)
    }

    /// The latest request.
    pub fn last(&self) -> Option<Seen> {
        self.seen.lock().ok().and_then(|g| g.last().cloned())
    }
}

/// The runner's own shard: the reference host, in process, with recording apps.
pub struct RunnerShard {
    /// Signing identity.
    pub identity: Identity,
    /// Full ID.
    pub id: ShardId,
    /// Gateway address.
    pub gateway: SocketAddr,
    /// Internal API address.
    pub internal: SocketAddr,
    /// Its echo app.
    pub echo: Recorder,
    /// Its notes app.
    pub notes: Recorder,
    shard: Arc<Shard>,
    _stop: tokio::sync::watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

const APP_META: &str = include_str!("../target/apps/echo/app_meta.json");

impl RunnerShard {
    /// Starts on loopback with fresh identity and data.
    pub async fn start() -> Result<RunnerShard, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let echo = Recorder::serve("127.0.0.1:0", "runner-echo").await?;
        let notes = Recorder::serve("127.0.0.1:0", "runner-notes").await?;
        let mut apps = Vec::new();
        for (name, rec) in [("echo", &echo), ("notes", &notes)] {
            let meta = APP_META.replace("\"name\": \"echo\"", &format!("\"name\": \"{name}\""));
            let meta = HostAppMeta::parse(meta.as_bytes()).map_err(|e| e.to_string())?;
            apps.push(App {
                name: name.to_string(),
                upstream: format!("http://{}", rec.addr)
                    .parse()
                    .map_err(|e| format!("{e}"))?,
                meta: Box::new(meta),
                meta_path: dir.path().join(format!("{name}.json")),
            });
        }
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let config = Config {
            name: Some(RUNNER_NAME.to_string()),
            zone: "runner.test".to_string(),
            apps,
            ..Config::for_data_dir(dir.path().join("data"))
        };
        let shard = Arc::new(Shard::open(&config).map_err(|e| e.to_string())?);
        let public = tokio::net::TcpListener::bind(loopback)
            .await
            .map_err(|e| e.to_string())?;
        let internal = tokio::net::TcpListener::bind(loopback)
            .await
            .map_err(|e| e.to_string())?;
        let gateway = public.local_addr().map_err(|e| e.to_string())?;
        let internal_addr = internal.local_addr().map_err(|e| e.to_string())?;
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(server::serve(
            public,
            shard.clone(),
            Role::Public,
            rx.clone(),
        ));
        tokio::spawn(server::serve(internal, shard.clone(), Role::Internal, rx));
        Ok(RunnerShard {
            identity: shard.identity.clone(),
            id: shard.id,
            gateway,
            internal: internal_addr,
            echo,
            notes,
            shard,
            _stop: tx,
            _dir: dir,
        })
    }

    /// Its gateway as a peer address.
    pub fn gateway_url(&self) -> String {
        format!("http://{}", self.gateway)
    }

    fn owner(&self) -> String {
        self.shard
            .owner_token
            .read()
            .map(|t| t.clone())
            .unwrap_or_default()
    }

    fn app_token(&self, app: &str) -> String {
        self.shard
            .apps()
            .get(app)
            .map(|a| a.token.clone())
            .unwrap_or_default()
    }

    /// Adds the target as a peer of the runner.
    pub async fn add_peer(&self, t: &Target) -> Result<(), String> {
        let body = serde_json::json!({"id": t.id.as_str(), "name": "Target", "address": t.public})
            .to_string();
        let bearer = format!("Bearer {}", self.owner());
        let r = send(
            Method::PUT,
            &format!("http://{}/protected/peers", self.internal),
            &[("authorization", &bearer)],
            body.into_bytes(),
        )
        .await;
        match r.status {
            200 | 201 => Ok(()),
            s => Err(format!("{s} {}", r.text())),
        }
    }

    /// The runner's app calls the target through the runner's own core.
    pub async fn call_peer(
        &self,
        app: &str,
        peer: &ShardId,
        path_and_query: &str,
        body: Vec<u8>,
    ) -> Resp {
        let bearer = format!("Bearer {}", self.app_token(app));
        send(
            Method::POST,
            &format!(
                "http://{}/internal/call_peer/{}{path_and_query}",
                self.internal,
                peer.as_str()
            ),
            &[("authorization", &bearer)],
            body,
        )
        .await
    }

    /// A request to the target's echo app, signed by the runner under the profile.
    pub fn draft(&self, t: &Target, method: &str, path: &str, body: Vec<u8>) -> Draft {
        let mut d = Draft {
            method: method.to_string(),
            host: format!("echo.{}", t.domain),
            path: path.to_string(),
            query: None,
            body: Bytes::from(body),
            fields: vec![("content-type".into(), "application/octet-stream".into())],
            signature: Vec::new(),
        };
        d.resign(self);
        d
    }
}

/// A request being crafted: its fields, and the signature fields made over them.
#[derive(Debug, Clone)]
pub struct Draft {
    /// Method.
    pub method: String,
    /// `Host`.
    pub host: String,
    /// Path.
    pub path: String,
    /// Query.
    pub query: Option<String>,
    /// Body.
    pub body: Bytes,
    fields: Vec<(String, String)>,
    signature: Vec<(String, String)>,
}

impl Draft {
    /// Sets (or adds) a field, leaving the signature as it is.
    pub fn set(&mut self, name: &str, value: &str) {
        match self
            .fields
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(f) => f.1 = value.to_string(),
            None => self.fields.push((name.to_string(), value.to_string())),
        }
    }

    /// Signs as `me`, now, under the profile.
    pub fn resign(&mut self, me: &RunnerShard) {
        self.sign_at(me, unix_now());
    }

    /// Signs as `me` with `created` = `at`.
    pub fn sign_at(&mut self, me: &RunnerShard, at: u64) {
        let id = me.id;
        self.sign_full(&me.identity, id.as_str(), at);
    }

    /// Signs with `identity` but claims `keyid`.
    pub fn sign_with(&mut self, identity: &Identity, keyid: &str) {
        self.sign_full(identity, keyid, unix_now());
    }

    fn sign_full(&mut self, identity: &Identity, keyid: &str, at: u64) {
        let digest = Digest::of(DigestAlg::Sha256, &self.body)
            .header_value()
            .to_string();
        self.set("content-digest", &digest);
        let refs: Vec<(&str, &str)> = self
            .fields
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let view = message::Request {
            method: &self.method,
            scheme: "http",
            authority: &self.host,
            path: &self.path,
            query: self.query.as_deref(),
            fields: refs.as_slice(),
        };
        let random: [u8; 16] = {
            let mut b = [0u8; 16];
            let _ = getrandom::fill(&mut b);
            b
        };
        let nonce = profile::nonce_from_random(&random);
        let created = at as i64;
        let params = SignatureParams {
            created: Some(created),
            expires: Some(created + profile::MAX_AGE as i64),
            nonce: Some(&nonce),
            keyid: Some(keyid),
            alg: true,
            tag: Some(profile::REQUEST_TAG),
        };
        let comps = format!("{} {}", profile::REQUEST_COMPONENTS, profile::IF_PRESENT);
        let mut buf = [0u8; 2048];
        self.signature =
            match sign::sign_request(identity, profile::LABEL, &comps, &params, &view, &mut buf) {
                Ok(s) => vec![
                    ("signature-input".into(), s.signature_input.to_string()),
                    ("signature".into(), s.signature.to_string()),
                ],
                Err(_) => Vec::new(),
            };
    }

    /// Every field, signature fields included.
    pub fn fields(&self) -> Vec<(String, String)> {
        self.fields
            .iter()
            .chain(self.signature.iter())
            .cloned()
            .collect()
    }

    /// Sends it to the target's gateway.
    pub async fn send(&self, t: &Target) -> Resp {
        let all = self.fields();
        let mut h: Vec<(&str, &str)> = vec![("host", &self.host)];
        h.extend(all.iter().map(|(a, b)| (a.as_str(), b.as_str())));
        let pq = match &self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        };
        let method = Method::from_bytes(self.method.as_bytes()).unwrap_or(Method::GET);
        send(method, &format!("{}{pq}", t.public), &h, self.body.to_vec()).await
    }
}

/// A man in the middle: forwards to `upstream` and changes the answer's body.
pub struct TamperProxy {
    /// Where it listens.
    pub addr: SocketAddr,
}

impl TamperProxy {
    /// Starts on an ephemeral loopback port.
    pub async fn start(upstream: SocketAddr) -> Result<TamperProxy, String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| async move {
                        let (mut parts, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|c| c.to_bytes())
                            .unwrap_or_default();
                        let pq = parts
                            .uri
                            .path_and_query()
                            .map(|p| p.to_string())
                            .unwrap_or_default();
                        parts.uri = format!("http://{upstream}{pq}").parse().unwrap_or_default();
                        let client: Client<HttpConnector, Full<Bytes>> =
                            Client::builder(TokioExecutor::new()).build(HttpConnector::new());
                        let resp = client
                            .request(Request::from_parts(parts, Full::new(body)))
                            .await;
                        let out = match resp {
                            Ok(r) => {
                                let (mut rp, rb) = r.into_parts();
                                let mut bytes = rb
                                    .collect()
                                    .await
                                    .map(|c| c.to_bytes().to_vec())
                                    .unwrap_or_default();
                                bytes.extend_from_slice(b" (altered)");
                                rp.headers.remove(http::header::CONTENT_LENGTH);
                                http::Response::from_parts(rp, Full::new(Bytes::from(bytes)))
                            }
                            Err(_) => http::Response::new(Full::new(Bytes::new())),
                        };
                        Ok::<_, std::convert::Infallible>(out)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(TamperProxy { addr })
    }
}
