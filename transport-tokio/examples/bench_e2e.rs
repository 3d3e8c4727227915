//! The load benchmark: two shard hosts, an upstream app and a load generator on loopback,
//! measured in one run. Start it with `scripts/bench-e2e` (which builds, pins CPUs and runs the
//! criterion bench `t_verify` comes from); BENCHMARKS.md records results and how to read them.
//!
//! What runs:
//! - `app`: this binary in app mode, a hyper server answering every request with a small JSON
//!   body, so the app is never the bottleneck;
//! - shards A and B: the `shardpeer` binary under test, each with the app as `notes`, peered
//!   with each other over loopback;
//! - the load generator: this process, a single-threaded tokio runtime with `--connections`
//!   keep-alive HTTP/1.1 connections in a closed loop (each sends its next request when the
//!   previous answer is in).
//!
//! Scenarios, same connection count:
//! - (a) the app directly;
//! - (b) B's gateway on a `public` path (routing, ACL, header rendering, forwarding);
//! - (c) B's gateway on a `peer` path with requests A's key signed in advance, each with its
//!   own nonce: (b) plus verification, replay journal and the signed answer;
//! - (d) `call_peer` on A: A signs, B verifies and forwards, B signs the answer, A verifies it;
//! - (d-tls) the same with B reached over pinned TLS.
//!
//! For each: requests/s, p50/p99 latency, CPU per request of the server processes (from
//! `/proc/<pid>/stat` over the measured window) and of the load generator, and the peak RSS of
//! each server process during the window. Then memory: B's idle RSS, and its RSS with 1,000
//! open keep-alive connections.

use bytes::Bytes;
use clap::Parser;
use hdrhistogram::Histogram;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use shardpeer_core::digest::{Digest, DigestAlg};
use shardpeer_core::identity::Identity;
use shardpeer_core::message;
use shardpeer_core::profile;
use shardpeer_tokio::headers::Headers;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(about = "shardpeer end-to-end load benchmark (see BENCHMARKS.md)")]
struct Args {
    /// Run as the upstream app on this address and print `listening <addr>`.
    #[arg(long)]
    app: Option<SocketAddr>,
    /// The shardpeer binary under test.
    #[arg(long, default_value = "target/release/shardpeer")]
    shardpeer: PathBuf,
    /// CPUs the servers (A, B, app) are pinned to, as taskset takes them.
    #[arg(long, default_value = "0")]
    server_cpus: String,
    /// Concurrent keep-alive connections per scenario.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Seconds per scenario before measuring starts.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Seconds measured per scenario.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Open keep-alive connections for the memory measurement.
    #[arg(long, default_value_t = 1000)]
    idle_connections: usize,
    /// Where criterion left `ed25519/verify_with/*` and `ed25519/sign/identity_ring`
    /// estimates, for the goal formula.
    #[arg(long, default_value = "target/criterion")]
    criterion_dir: PathBuf,
    /// Which verify_with backend's estimate is `t_verify` (ring on a default build).
    #[arg(long, default_value = "ring")]
    backend: String,
    /// Scenarios to run (comma-separated from a,b,c,d,d-tls).
    #[arg(long, default_value = "a,b,c,d,d-tls")]
    scenarios: String,
    /// Also write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

const ZONE: &str = "bench.test";
const APP_BODY: &[u8] = br#"{"ok":true,"items":[{"id":1,"title":"milk"},{"id":2,"title":"eggs"}]}"#;
const REQ_BODY: &[u8] =
    br#"{"title":"Groceries","items":["milk","eggs","bread"],"shared_with":"bench"}"#;
const META: &str = r#"{
  "name": "notes",
  "paths": {
    "": {"access": "private"},
    "/public": {"access": "public", "headers": {
        "X-Ptl-Client-Type": "{{ auth.client_type }}"}},
    "/api": {"access": "peer", "headers": {
        "X-Ptl-Client-Type": "{{ auth.client_type }}",
        "X-Ptl-Client-Id": "{{ auth.client_id }}",
        "X-Ptl-Client-Name": "{{ auth.client_name }}"}}
  },
  "entrypoints": [{"container_name": "notes", "container_port": 80, "entrypoint_port": "http"}]
}"#;

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), Error> {
    let args = Args::parse();
    if let Some(addr) = args.app {
        return run_app(addr);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(orchestrate(args))
}

// ---------------------------------------------------------------------------------------------
// The upstream app.

fn run_app(addr: SocketAddr) -> Result<(), Error> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        println!("listening {}", listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|req: Request<Incoming>| async move {
                    let _ = req.into_body().collect().await;
                    let mut resp = Response::new(Full::new(Bytes::from_static(APP_BODY)));
                    resp.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                    Ok::<_, hyper::Error>(resp)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Processes.

/// A child process pinned to the server CPUs, killed on drop.
struct Proc {
    child: Child,
    name: &'static str,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

fn pinned(cpus: &str, program: &Path) -> Command {
    let mut c = Command::new("taskset");
    c.args(["-c", cpus]).arg(program);
    c
}

struct Host {
    proc: Proc,
    id: String,
    domain: String,
    gateway: SocketAddr,
    tls: SocketAddr,
    internal: SocketAddr,
    data: PathBuf,
}

impl Host {
    fn owner_token(&self) -> Result<String, Error> {
        Ok(std::fs::read_to_string(self.data.join("owner.token"))?
            .trim()
            .to_string())
    }
}

fn start_host(args: &Args, dir: &Path, name: &'static str, app: SocketAddr) -> Result<Host, Error> {
    std::fs::create_dir_all(dir.join("apps/notes"))?;
    std::fs::write(dir.join("apps/notes/app_meta.json"), META)?;
    // call_peer's per-app rate limit (200/s by default) would cap scenario (d); the connection
    // cap must admit the memory measurement's connections.
    let toml = format!(
        "name = \"{name}\"\nzone = \"{ZONE}\"\npublic_listen = \"127.0.0.1:0\"\n\
         internal_listen = \"127.0.0.1:0\"\ntls_listen = \"127.0.0.1:0\"\n\
         [limits]\ncall_peer_per_second = 1000000\nmax_connections = {}\n\
         [[app]]\nname = \"notes\"\nupstream = \"http://{app}\"\nmeta = \"apps/notes/app_meta.json\"\n",
        args.idle_connections + 4 * args.connections + 64
    );
    let config = dir.join("shard.toml");
    std::fs::write(&config, toml)?;
    let data = dir.join("data");
    let log = std::fs::File::create(dir.join("stderr.log"))?;
    let mut child = pinned(&args.server_cpus, &args.shardpeer)
        .args(["serve", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(&data)
        .env("SHARDPEER_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", args.shardpeer.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let proc = Proc { child, name };
    let mut lines = BufReader::new(stdout).lines();
    let mut field = |prefix: &str| -> Result<String, Error> {
        for line in lines.by_ref() {
            if let Some(v) = line?.strip_prefix(prefix) {
                return Ok(v.trim().to_string());
            }
        }
        Err(format!(
            "{name} exited before printing {prefix:?}; see {}",
            dir.display()
        )
        .into())
    };
    let id = field("id:")?;
    let domain = field("domain:")?;
    let gateway = field("gateway:")?.trim_start_matches("http://").parse()?;
    let internal = field("internal:")?.trim_start_matches("http://").parse()?;
    let tls = field("gateway tls:")?
        .trim_start_matches("https://")
        .parse()?;
    // Serving once it says so; stdout is not read after that.
    field("ready")?;
    Ok(Host {
        proc,
        id,
        domain,
        gateway,
        tls,
        internal,
        data,
    })
}

fn start_app(args: &Args) -> Result<(Proc, SocketAddr), Error> {
    let me = std::env::current_exe()?;
    let mut child = pinned(&args.server_cpus, &me)
        .args(["--app", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let proc = Proc { child, name: "app" };
    let line = BufReader::new(stdout)
        .lines()
        .next()
        .ok_or("app printed nothing")??;
    let addr = line
        .strip_prefix("listening ")
        .ok_or("app: unexpected output")?
        .parse()?;
    Ok((proc, addr))
}

// ---------------------------------------------------------------------------------------------
// /proc readings.

/// User + system CPU seconds of a process, all threads.
fn cpu_seconds(pid: u32) -> Result<f64, Error> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').ok_or("bad stat")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).ok_or("bad stat")?.parse::<f64>()?
        + f.get(12).ok_or("bad stat")?.parse::<f64>()?;
    Ok(ticks / clock_ticks())
}

fn clock_ticks() -> f64 {
    // USER_HZ: 100 on every Linux ABI this runs on; getconf tells if it ever is not.
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// A `kB` line of `/proc/<pid>/status`, in KiB.
fn status_kib(pid: &str, key: &str) -> Result<u64, Error> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with(key))
        .ok_or_else(|| format!("no {key} in /proc/{pid}/status"))?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .ok_or("bad status line")?
        .parse()?)
}

fn rss_kib(pid: u32) -> Result<u64, Error> {
    status_kib(&pid.to_string(), "VmRSS:")
}

fn open_file_limit() -> Result<u64, Error> {
    let limits = std::fs::read_to_string("/proc/self/limits")?;
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .ok_or("no open-file limit")?;
    Ok(line
        .split_whitespace()
        .nth(3)
        .ok_or("bad limits line")?
        .parse()?)
}

// ---------------------------------------------------------------------------------------------
// The load generator.

/// Makes request number `i`, or `None` when there are no more (pre-signed requests ran out).
type MakeRequest = Arc<dyn Fn(usize) -> Option<Request<Full<Bytes>>> + Send + Sync>;

struct Scenario {
    name: &'static str,
    what: &'static str,
    target: SocketAddr,
    make: MakeRequest,
}

#[derive(Debug, Clone, serde::Serialize)]
struct Result1 {
    name: &'static str,
    what: &'static str,
    requests: u64,
    errors: u64,
    seconds: f64,
    rps: f64,
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
    server_cpu_us_per_req: f64,
    loadgen_cpu_us_per_req: f64,
    peak_rss_kib: Vec<(&'static str, u64)>,
    ran_out: bool,
}

struct Window {
    start: Instant,
    end: Instant,
}

async fn connection(
    target: SocketAddr,
    make: MakeRequest,
    next: Arc<AtomicUsize>,
    window: Arc<Window>,
) -> Result<(Histogram<u64>, u64, u64, bool), Error> {
    let stream = tokio::net::TcpStream::connect(target).await?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut ok, mut errors) = (0u64, 0u64);
    loop {
        let sent = Instant::now();
        if sent >= window.end {
            return Ok((hist, ok, errors, false));
        }
        let Some(req) = make(next.fetch_add(1, Ordering::Relaxed)) else {
            return Ok((hist, ok, errors, true));
        };
        let resp = sender.send_request(req).await?;
        let status = resp.status();
        let body = resp.into_body().collect().await?.to_bytes();
        let done = Instant::now();
        if sent >= window.start && done <= window.end {
            hist.record(u64::try_from((done - sent).as_micros()).unwrap_or(u64::MAX))?;
            if status == StatusCode::OK && body.as_ref() == APP_BODY {
                ok += 1;
            } else {
                if errors == 0 {
                    eprintln!(
                        "  unexpected answer: {status} {}",
                        String::from_utf8_lossy(&body)
                    );
                }
                errors += 1;
            }
        }
    }
}

async fn run_scenario(args: &Args, s: &Scenario, servers: &[&Proc]) -> Result<Result1, Error> {
    let now = Instant::now();
    let start = now + Duration::from_secs_f64(args.warmup);
    let window = Arc::new(Window {
        start,
        end: start + Duration::from_secs_f64(args.duration),
    });
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..args.connections)
        .map(|_| {
            tokio::spawn(connection(
                s.target,
                s.make.clone(),
                next.clone(),
                window.clone(),
            ))
        })
        .collect();

    // CPU at the window's edges; RSS sampled through it.
    tokio::time::sleep_until(window.start.into()).await;
    let cpu0: Vec<f64> = servers
        .iter()
        .map(|p| cpu_seconds(p.pid()))
        .collect::<Result<_, _>>()?;
    let me0 = cpu_seconds(std::process::id())?;
    let mut peak: Vec<u64> = vec![0; servers.len()];
    while Instant::now() < window.end {
        for (p, max) in servers.iter().zip(peak.iter_mut()) {
            *max = (*max).max(rss_kib(p.pid())?);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cpu1: Vec<f64> = servers
        .iter()
        .map(|p| cpu_seconds(p.pid()))
        .collect::<Result<_, _>>()?;
    let me1 = cpu_seconds(std::process::id())?;

    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut ok, mut errors, mut ran_out) = (0, 0, false);
    for t in tasks {
        let (h, o, e, out) = t.await??;
        hist.add(h)?;
        ok += o;
        errors += e;
        ran_out |= out;
    }
    let seconds = args.duration;
    let requests = ok + errors;
    let server_cpu: f64 = cpu1.iter().zip(&cpu0).map(|(b, a)| b - a).sum();
    let per = |cpu: f64| {
        if requests == 0 {
            0.0
        } else {
            cpu / requests as f64 * 1e6
        }
    };
    Ok(Result1 {
        name: s.name,
        what: s.what,
        requests,
        errors,
        seconds,
        rps: requests as f64 / seconds,
        p50_us: hist.value_at_quantile(0.50),
        p99_us: hist.value_at_quantile(0.99),
        max_us: hist.max(),
        server_cpu_us_per_req: per(server_cpu),
        loadgen_cpu_us_per_req: per(me1 - me0),
        peak_rss_kib: servers.iter().map(|p| p.name).zip(peak).collect(),
        ran_out,
    })
}

fn post(uri: String, host: &str, body: &'static [u8]) -> Request<Full<Bytes>> {
    let mut req = Request::new(Full::new(Bytes::from_static(body)));
    *req.method_mut() = Method::POST;
    *req.uri_mut() = uri.parse().unwrap_or_default();
    let h = req.headers_mut();
    if let Ok(v) = HeaderValue::from_str(host) {
        h.insert(http::header::HOST, v);
    }
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    req
}

/// `count` requests to B's `/api/items` signed with A's key, each with its own nonce; only
/// the two signature fields differ, so only they are kept per request.
fn presign(
    a: &Identity,
    authority: &str,
    count: usize,
) -> Result<Vec<(HeaderValue, HeaderValue)>, Error> {
    let mut base = HeaderMap::new();
    base.insert(http::header::HOST, HeaderValue::from_str(authority)?);
    base.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let digest = Digest::of(DigestAlg::Sha256, REQ_BODY).header_value();
    base.insert("content-digest", HeaderValue::from_str(&digest)?);
    let fields = Headers(&base);
    let view = message::Request {
        method: "POST",
        scheme: "http",
        authority,
        path: "/api/items",
        query: None,
        fields: &fields,
    };
    let now = shardpeer_tokio::peers::unix_now();
    let run = std::process::id();
    let mut buf = [0u8; 2048];
    (0..count)
        .map(|i| {
            let nonce = format!("bench-{run:08x}-{i:016x}");
            let s = profile::sign_request(a, &view, now, &nonce, &mut buf)
                .map_err(|e| format!("signing: {e}"))?;
            Ok((
                HeaderValue::from_str(&s.signature_input)?,
                HeaderValue::from_str(&s.signature)?,
            ))
        })
        .collect()
}

async fn internal(
    host: &Host,
    method: Method,
    path: &str,
    token: &str,
    body: String,
) -> Result<(StatusCode, String), Error> {
    let stream = tokio::net::TcpStream::connect(host.internal).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", host.internal.to_string())
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))?;
    let resp = sender.send_request(req).await?;
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

async fn add_peer(on: &Host, other: &Host, address: String) -> Result<(), Error> {
    let body = serde_json::json!({"id": other.id, "name": "bench peer", "address": address});
    let (status, text) = internal(
        on,
        Method::PUT,
        "/protected/peers",
        &on.owner_token()?,
        body.to_string(),
    )
    .await?;
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    if !status.is_success() || json["public_key_pem"].is_null() {
        return Err(
            format!("adding a peer failed or left its key unpinned: {status} {text}").into(),
        );
    }
    Ok(())
}

/// Opens `n` connections to B's gateway, each with one answered request and kept open;
/// returns B's RSS (KiB) with them open.
async fn hold_connections(
    b: &Host,
    n: usize,
) -> Result<
    (
        u64,
        Vec<hyper::client::conn::http1::SendRequest<Full<Bytes>>>,
    ),
    Error,
> {
    let host = format!("notes.{}", b.domain);
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        let stream = tokio::net::TcpStream::connect(b.gateway).await?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        let resp = sender
            .send_request(post("/public/items".into(), &host, REQ_BODY))
            .await?;
        if resp.status() != StatusCode::OK {
            return Err(format!("idle connection setup: {}", resp.status()).into());
        }
        resp.into_body().collect().await?;
        held.push(sender);
    }
    // Let the host settle (it answered every request already).
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok((rss_kib(b.proc.pid())?, held))
}

/// Criterion's mean estimate in nanoseconds for `group/function/parameter`.
fn criterion_mean_ns(dir: &Path, id: &str) -> Option<f64> {
    let path = dir.join(id).join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    // The slope when criterion fitted one (what it prints), else the mean.
    v["slope"]["point_estimate"]
        .as_f64()
        .or_else(|| v["mean"]["point_estimate"].as_f64())
}

async fn orchestrate(args: Args) -> Result<(), Error> {
    let limit = open_file_limit()?;
    if limit < (args.idle_connections + 256) as u64 {
        return Err(format!(
            "the open-file limit is {limit}; raise it (ulimit -n 16384) for {} connections",
            args.idle_connections
        )
        .into());
    }
    let tmp = tempfile::tempdir()?;
    let (app, app_addr) = start_app(&args)?;
    let a = start_host(&args, &tmp.path().join("a"), "A", app_addr)?;
    let b = start_host(&args, &tmp.path().join("b"), "B", app_addr)?;
    let wanted: Vec<&str> = args.scenarios.split(',').map(str::trim).collect();

    println!("# shardpeer load benchmark");
    println!(
        "binary: {} | servers on CPU {} | load generator on CPU {} | {} connections | {} s warm-up + {} s per scenario",
        args.shardpeer.display(),
        args.server_cpus,
        affinity_of_self().unwrap_or_else(|| "?".into()),
        args.connections,
        args.warmup,
        args.duration
    );

    // Memory first, on a host that has served nothing yet.
    add_peer(&b, &a, format!("http://{}", a.gateway)).await?;
    add_peer(&a, &b, format!("http://{}", b.gateway)).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = rss_kib(b.proc.pid())?;
    let (with_conns, held) = hold_connections(&b, args.idle_connections).await?;
    drop(held);
    let per_conn = (with_conns.saturating_sub(idle)) as f64 * 1024.0 / args.idle_connections as f64;
    println!(
        "memory: B idle RSS {:.1} MiB; with {} open keep-alive connections {:.1} MiB ({:.1} KiB per connection)",
        idle as f64 / 1024.0,
        args.idle_connections,
        with_conns as f64 / 1024.0,
        per_conn / 1024.0
    );
    // The held connections close; give B a moment before load.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let authority = format!("notes.{}", b.domain);
    let identity_a =
        Identity::from_pkcs8_pem(&std::fs::read_to_string(a.data.join("identity.pem"))?)
            .map_err(|e| format!("A's key: {e}"))?;
    let app_token = std::fs::read_to_string(a.data.join("apps/notes.token"))?
        .trim()
        .to_string();

    let servers_ab: Vec<&Proc> = vec![&a.proc, &b.proc, &app];
    let mut results: Vec<Result1> = Vec::new();
    let scenario = |name: &'static str, what: &'static str, target, make: MakeRequest| Scenario {
        name,
        what,
        target,
        make,
    };

    let mut ran = Vec::new();
    if wanted.contains(&"a") {
        ran.push(scenario(
            "a",
            "app directly",
            app_addr,
            Arc::new(move |_| Some(post("/api/items".into(), "app", REQ_BODY))),
        ));
    }
    if wanted.contains(&"b") {
        let host = authority.clone();
        ran.push(scenario(
            "b",
            "gateway, public path",
            b.gateway,
            Arc::new(move |_| Some(post("/public/items".into(), &host, REQ_BODY))),
        ));
    }
    for s in &ran {
        let r = run_scenario(&args, s, &servers_ab).await?;
        report(&r);
        results.push(r);
    }

    if wanted.contains(&"c") {
        // Enough signed requests for the rate (b) reached over warm-up and window, plus
        // margin; (c) cannot be faster than (b).
        let rps_b = results
            .iter()
            .find(|r| r.name == "b")
            .map_or(20_000.0, |r| r.rps);
        let count =
            ((rps_b * (args.warmup + args.duration) * 1.3) as usize).clamp(10_000, 2_000_000);
        let t = Instant::now();
        let signed = Arc::new(presign(&identity_a, &authority, count)?);
        println!(
            "(c) {count} requests signed in advance in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        let host = authority.clone();
        let digest =
            HeaderValue::from_str(&Digest::of(DigestAlg::Sha256, REQ_BODY).header_value())?;
        let s = scenario(
            "c",
            "gateway, peer path, pre-signed",
            b.gateway,
            Arc::new(move |i| {
                let (input, sig) = signed.get(i)?.clone();
                let mut req = post("/api/items".into(), &host, REQ_BODY);
                let h = req.headers_mut();
                h.insert("content-digest", digest.clone());
                h.insert("signature-input", input);
                h.insert("signature", sig);
                Some(req)
            }),
        );
        let r = run_scenario(&args, &s, &servers_ab).await?;
        report(&r);
        results.push(r);
    }
    for (name, what, address) in [
        (
            "d",
            "call_peer A -> B -> app",
            format!("http://{}", b.gateway),
        ),
        (
            "d-tls",
            "call_peer A -> B -> app, pinned TLS",
            format!("https://{}", b.tls),
        ),
    ] {
        if !wanted.contains(&name) {
            continue;
        }
        add_peer(&a, &b, address).await?;
        let uri = format!("/internal/call_peer/{}/api/items", b.id);
        let token = app_token.clone();
        let internal_host = a.internal.to_string();
        let s = scenario(
            name,
            what,
            a.internal,
            Arc::new(move |_| {
                let mut req = post(uri.clone(), &internal_host, REQ_BODY);
                req.headers_mut().insert(
                    http::header::AUTHORIZATION,
                    HeaderValue::from_str(&format!("Bearer {token}")).ok()?,
                );
                Some(req)
            }),
        );
        let r = run_scenario(&args, &s, &servers_ab).await?;
        report(&r);
        results.push(r);
    }

    summarise(&args, &results, idle, with_conns, per_conn)?;
    if let Some(path) = &args.json {
        let json = serde_json::json!({
            "connections": args.connections,
            "duration_s": args.duration,
            "server_cpus": args.server_cpus,
            "idle_rss_kib": idle,
            "rss_with_idle_connections_kib": with_conns,
            "idle_connections": args.idle_connections,
            "results": results,
        });
        std::fs::write(path, serde_json::to_string_pretty(&json)?)?;
    }
    let failed: Vec<_> = results
        .iter()
        .filter(|r| r.errors > 0 || r.requests == 0)
        .collect();
    if !failed.is_empty() {
        return Err(format!(
            "scenarios with errors: {:?}; host logs in {}",
            failed.iter().map(|r| r.name).collect::<Vec<_>>(),
            tmp.keep().display()
        )
        .into());
    }
    Ok(())
}

fn affinity_of_self() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(|s| s.trim().to_string())
}

fn report(r: &Result1) {
    let rss: Vec<String> = r
        .peak_rss_kib
        .iter()
        .map(|(n, k)| format!("{n} {:.1} MiB", *k as f64 / 1024.0))
        .collect();
    println!(
        "({:<5}) {:<38} {:>9.0} req/s  p50 {:>6} us  p99 {:>6} us  server CPU {:>6.1} us/req  loadgen {:>5.1} us/req  peak RSS {}{}{}",
        r.name,
        r.what,
        r.rps,
        r.p50_us,
        r.p99_us,
        r.server_cpu_us_per_req,
        r.loadgen_cpu_us_per_req,
        rss.join(", "),
        if r.errors > 0 {
            format!("  ERRORS {}", r.errors)
        } else {
            String::new()
        },
        if r.ran_out {
            "  (pre-signed requests ran out)"
        } else {
            ""
        }
    );
}

fn summarise(
    args: &Args,
    results: &[Result1],
    idle: u64,
    with_conns: u64,
    per_conn: f64,
) -> Result<(), Error> {
    let rps = |n: &str| results.iter().find(|r| r.name == n).map(|r| r.rps);
    println!();
    for (x, y) in [("b", "a"), ("c", "b"), ("d", "b"), ("d-tls", "d")] {
        if let (Some(num), Some(den)) = (rps(x), rps(y)) {
            println!("ratio {x}/{y}: {:.3}", num / den);
        }
    }
    // Criterion writes `group/function/param` as `group/function_param`.
    let t_verify = criterion_mean_ns(
        &args.criterion_dir,
        &format!("ed25519/verify_with_{}", args.backend),
    );
    if let (Some(b), Some(c)) = (rps("b"), rps("c")) {
        match t_verify {
            Some(t) => {
                let t = t / 1e9;
                let limit = 1.0 / b + t;
                println!(
                    "goal (c): 1/rps_c = {:.1} us <= 1.1 x (1/rps_b + t_verify) = 1.1 x ({:.1} + {:.1}) us = {:.1} us: {}",
                    1e6 / c,
                    1e6 / b,
                    t * 1e6,
                    1.1e6 * limit,
                    if 1.0 / c <= 1.1 * limit {
                        "met"
                    } else {
                        "NOT met"
                    }
                );
            }
            None => println!(
                "goal (c): no criterion estimate for ed25519/verify_with/{} under {}; run `cargo bench -p shardpeer-core` first",
                args.backend,
                args.criterion_dir.display()
            ),
        }
    }
    // freeshard's design on this kind of machine, 16 connections: call_peer ~3 req/s, gateway
    // verify ~270 req/s (the issue's figures).
    if let Some(d) = rps("d") {
        println!(
            "goal (d) >= 1000 x 3 req/s: {:.0} req/s = {:.0} x: {}",
            d,
            d / 3.0,
            if d >= 3000.0 { "met" } else { "NOT met" }
        );
    }
    if let Some(c) = rps("c") {
        println!(
            "goal (c) >= 30 x 270 req/s: {:.0} req/s = {:.0} x: {}",
            c,
            c / 270.0,
            if c >= 8100.0 { "met" } else { "NOT met" }
        );
    }
    println!(
        "goal idle RSS < 15 MiB: {:.1} MiB: {}",
        idle as f64 / 1024.0,
        if idle < 15 * 1024 { "met" } else { "NOT met" }
    );
    println!(
        "goal < 64 KiB per idle keep-alive connection: {:.1} KiB ({} connections, {:.1} MiB in all): {}",
        per_conn / 1024.0,
        args.idle_connections,
        with_conns as f64 / 1024.0,
        if per_conn < 64.0 * 1024.0 {
            "met"
        } else {
            "NOT met"
        }
    );
    Ok(())
}
