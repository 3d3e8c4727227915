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
        get("ready");
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
