//! Interop with the tokio host over a real link: the embassy stack on a TAP device, a
//! `shardpeer serve` host on the kernel side of it, both inside a network namespace this test
//! creates (192.0.2.0/24, RFC 5737 documentation addresses, exist only in that namespace).
//!
//! The host adds the device through its internal API with the owner token; the device adds
//! the host from its configuration and pins its key from the host's signed whoareyou. Then the
//! host's `echo` app calls the device's `echo` app and the device calls the host's, each answer
//! verified by the caller.
//!
//! Needs root, `/dev/net/tun` and `ip`. Without them it is skipped with a message, except under
//! `CI=true`, where it fails. The namespace part runs in a second process: this test binary,
//! re-executed inside the namespace (`ip netns exec`) to run the ignored test `tap_inner`.

mod common;

use common::{Echo, OsRng, SENSOR_META, WallClock, leak};
use embassy_net::{Config, IpEndpoint, Ipv4Address, Ipv4Cidr, StackResources, StaticConfigV4};
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embassy_time::{Duration, Timer};
use shardpeer_core::app_meta::AppMeta;
use shardpeer_core::id::ShardId;
use shardpeer_core::identity::Identity;
use shardpeer_embassy::client::{Call, ClientBuffers, call_peer, fetch_whoareyou};
use shardpeer_embassy::server::{App, Gateway, ServerConfig, SlotMemory};
use shardpeer_embassy::shard::Shard;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

const TAP: &str = "spe0";
const HOST_IP: &str = "192.0.2.1";
const DEVICE_IP: [u8; 4] = [192, 0, 2, 2];
const HOST_ZONE: &str = "host.test";
const DEVICE_ZONE: &str = "device.test";
const INNER_ENV: &str = "SHARDPEER_TAP_INNER";

const HOST_ECHO_META: &str = r#"{
  "name": "echo",
  "paths": {
    "": {"access": "private"},
    "/peer": {"access": "peer", "headers": {
        "X-Ptl-Client-Type": "{{ auth.client_type }}",
        "X-Ptl-Client-Id": "{{ auth.client_id }}",
        "X-Ptl-Client-Name": "{{ auth.client_name }}"}}
  }
}"#;

fn sh(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Deletes the namespace (and the TAP inside it) however the test ends.
struct Namespace(String);

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = sh(&["ip", "netns", "del", &self.0]);
    }
}

fn missing_prerequisite() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("not root".into());
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun is missing".into());
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return Some("the `ip` tool (iproute2) is missing".into());
    }
    None
}

/// The `shardpeer` binary: `SHARDPEER_BIN`, else `target/debug/shardpeer` beside this test
/// binary, built with cargo if it is not there.
fn shardpeer_bin() -> PathBuf {
    if let Ok(p) = std::env::var("SHARDPEER_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    let debug = exe.parent().unwrap().parent().unwrap();
    let bin = debug.join("shardpeer");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "shardpeer-tokio", "--bin", "shardpeer"])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building shardpeer failed");
    }
    assert!(bin.exists(), "no shardpeer binary at {}", bin.display());
    bin
}

#[test]
fn tap_interop_with_the_tokio_host() {
    if let Some(why) = missing_prerequisite() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("TAP interop test cannot run under CI=true: {why}");
        }
        eprintln!("SKIPPED tap_interop_with_the_tokio_host: {why} (needs root, /dev/net/tun, ip)");
        return;
    }
    let bin = shardpeer_bin();
    let ns = Namespace(format!("shardpeer-emb-{}", std::process::id()));
    let n = ns.0.as_str();
    sh(&["ip", "netns", "add", n]).unwrap();
    sh(&["ip", "-n", n, "link", "set", "lo", "up"]).unwrap();
    sh(&["ip", "-n", n, "tuntap", "add", "dev", TAP, "mode", "tap"]).unwrap();
    sh(&[
        "ip",
        "-n",
        n,
        "addr",
        "add",
        &format!("{HOST_IP}/24"),
        "dev",
        TAP,
    ])
    .unwrap();
    sh(&["ip", "-n", n, "link", "set", TAP, "up"]).unwrap();
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("ip")
        .args(["netns", "exec", n])
        .arg(&exe)
        .args([
            "--exact",
            "tap_inner",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(INNER_ENV, "1")
        .env("SHARDPEER_BIN", &bin)
        .output()
        .expect("run the inner test in the namespace");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(out.status.success(), "inner test failed");
    assert!(
        stdout.contains("tap interop: both directions verified"),
        "the inner test did not run to its end"
    );
}

/// A request an upstream app saw.
#[derive(Debug, Clone)]
struct Seen {
    head: String,
    body: Vec<u8>,
}

/// The host's `echo` app: records requests, answers `echo:<body>`.
fn start_upstream() -> (u16, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let seen = s2.clone();
            std::thread::spawn(move || {
                let (head, body) = read_message(&mut stream);
                seen.lock().unwrap().push(Seen {
                    head,
                    body: body.clone(),
                });
                let mut answer = b"echo:".to_vec();
                answer.extend_from_slice(&body);
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    answer.len()
                );
                let _ = stream.write_all(&answer);
            });
        }
    });
    (port, seen)
}

/// Reads one Content-Length framed message.
fn read_message(stream: &mut TcpStream) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = common::find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = stream.read(&mut chunk).unwrap();
                assert!(n > 0);
                buf.extend_from_slice(&chunk[..n]);
            }
            return (head, buf[end + 4..end + 4 + len].to_vec());
        }
        let n = stream.read(&mut chunk).unwrap();
        if n == 0 {
            return (String::from_utf8_lossy(&buf).into_owned(), Vec::new());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// One request to the host's internal API (loopback inside the namespace).
fn internal(
    addr: &str,
    method: &str,
    path: &str,
    token: &str,
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let (head, body) = read_message(&mut s);
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head, body)
}

struct Host {
    child: Child,
    id: String,
    domain: String,
    internal: String,
    owner_token: String,
    app_token: String,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_host(dir: &Path, upstream: u16) -> Host {
    std::fs::create_dir_all(dir.join("apps/echo")).unwrap();
    std::fs::write(dir.join("apps/echo/app_meta.json"), HOST_ECHO_META).unwrap();
    let config = format!(
        "name = \"Tokio host\"\nzone = \"{HOST_ZONE}\"\npublic_listen = \"{HOST_IP}:8443\"\ninternal_listen = \"127.0.0.1:8480\"\n\n[[app]]\nname = \"echo\"\nupstream = \"http://127.0.0.1:{upstream}\"\nmeta = \"apps/echo/app_meta.json\"\n"
    );
    std::fs::write(dir.join("shard.toml"), config).unwrap();
    let data = dir.join("data");
    let mut child = Command::new(shardpeer_bin())
        .args(["serve", "--config"])
        .arg(dir.join("shard.toml"))
        .arg("--data-dir")
        .arg(&data)
        .env("SHARDPEER_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start shardpeer serve");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
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
    let domain = get("domain:");
    let internal = get("internal:").trim_start_matches("http://").to_string();
    let owner_path = get("owner token:");
    get("ready");
    std::thread::spawn(move || for _ in lines {});
    let owner_token = std::fs::read_to_string(owner_path)
        .unwrap()
        .trim()
        .to_string();
    let app_token = std::fs::read_to_string(data.join("apps/echo.token"))
        .unwrap()
        .trim()
        .to_string();
    Host {
        child,
        id,
        domain,
        internal,
        owner_token,
        app_token,
    }
}

/// What the device thread reports.
#[derive(Debug)]
enum Report {
    Started { id: String, domain: String },
    Called { status: u16, body: String },
    Failed(String),
}

type DevShard = Shard<NoopRawMutex, 4, 64>;

/// The device: embassy-net on the TAP, gateway with the `echo` app, and a client that calls
/// the host when told to.
fn device(host_id: String, go: mpsc::Receiver<()>, report: mpsc::Sender<Report>) {
    let mut tap = embassy_net_tuntap::TunTapDevice::new(TAP).expect("open the TAP device");
    tap.set_hardware_address([0x02, 0, 0x5e, 0, 0x53, 0x02]);
    let config = Config::ipv4_static(StaticConfigV4 {
        address: Ipv4Cidr::new(Ipv4Address::from(DEVICE_IP), 24),
        gateway: None,
        dns_servers: Default::default(),
    });
    let resources = leak(StackResources::<8>::new());
    let (stack, mut runner) = embassy_net::new(tap, config, resources, 7);
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).unwrap();
    let shard: &'static DevShard = leak(
        Shard::new(
            Identity::from_seed(seed).unwrap(),
            "embassy device",
            DEVICE_ZONE,
        )
        .unwrap(),
    );
    let host_id = ShardId::parse(&host_id).unwrap();
    let host_ep = IpEndpoint::new(embassy_net::IpAddress::v4(192, 0, 2, 1), 8443);
    shard
        .add_peer(host_id, "the tokio host", Some(host_ep))
        .unwrap();
    let meta: &'static AppMeta =
        leak(AppMeta::parse(SENSOR_META.replace("sensor", "echo").as_bytes()).unwrap());
    let gateway = leak(Gateway {
        shard,
        app: App {
            name: "echo",
            rules: meta,
            handler: leak(Echo),
        },
        clock: &WallClock,
        config: ServerConfig::default(),
    });
    report
        .send(Report::Started {
            id: shard.id().to_string(),
            domain: shard.domain().to_string(),
        })
        .unwrap();
    type Mem = SlotMemory<2048, 2048, 2048, 1024, 1024, 1024>;
    let slots = [leak(Mem::new()).slot(), leak(Mem::new()).slot()];
    let script = async {
        while go.try_recv().is_err() {
            Timer::after_millis(20).await;
        }
        let who = fetch_whoareyou(
            shard,
            stack,
            bufs(),
            &host_id,
            &WallClock,
            Duration::from_secs(10),
        )
        .await;
        if let Err(e) = who {
            report
                .send(Report::Failed(format!("whoareyou: {e}")))
                .unwrap();
            return;
        }
        let call = Call {
            method: "POST",
            app: "echo",
            path: "/peer/from-device",
            query: Some("n=1"),
            content_type: Some("text/plain"),
            body: b"ping",
        };
        match call_peer(
            shard,
            stack,
            bufs(),
            &host_id,
            &call,
            &WallClock,
            &mut OsRng,
            Duration::from_secs(10),
        )
        .await
        {
            Ok(r) => report
                .send(Report::Called {
                    status: r.status,
                    body: String::from_utf8_lossy(r.body).into_owned(),
                })
                .unwrap(),
            Err(e) => report.send(Report::Failed(format!("call: {e}"))).unwrap(),
        }
        // Keep serving the host's calls until the test process ends.
        loop {
            Timer::after_secs(3600).await;
        }
    };
    futures_executor::block_on(async {
        embassy_futures::join::join3(runner.run(), gateway.serve(stack, slots), script).await;
    });
}

/// Buffers for one client call (leaked: a few KiB per call in a test process).
fn bufs() -> ClientBuffers<'static> {
    ClientBuffers {
        tcp_rx: leak(vec![0u8; 2048]).as_mut_slice(),
        tcp_tx: leak(vec![0u8; 2048]).as_mut_slice(),
        out: leak(vec![0u8; 1024]).as_mut_slice(),
        head: leak(vec![0u8; 2048]).as_mut_slice(),
        body: leak(vec![0u8; 1024]).as_mut_slice(),
    }
}

#[test]
#[ignore = "the inner half of tap_interop_with_the_tokio_host, run by it inside its namespace"]
fn tap_inner() {
    assert_eq!(
        std::env::var(INNER_ENV).as_deref(),
        Ok("1"),
        "run by tap_interop_with_the_tokio_host only"
    );
    let dir = tempdir();
    let (upstream, seen) = start_upstream();
    let host = start_host(&dir, upstream);
    println!("host {} at {HOST_IP}:8443 ({})", host.id, host.domain);

    let (go_tx, go_rx) = mpsc::channel();
    let (rep_tx, rep_rx) = mpsc::channel();
    let host_id = host.id.clone();
    std::thread::spawn(move || device(host_id, go_rx, rep_tx));
    let wait = std::time::Duration::from_secs(30);
    let Report::Started {
        id: device_id,
        domain: device_domain,
    } = rep_rx.recv_timeout(wait).unwrap()
    else {
        panic!("device did not start");
    };
    println!("device {device_id} at 192.0.2.2:80 ({device_domain})");

    // The host's owner adds the device: the host fetches its signed whoareyou over the TAP
    // link and pins its key.
    let put = format!(
        r#"{{"id":"{device_id}","name":"my sensor board","address":"http://192.0.2.2:80"}}"#
    );
    let (status, _, body) = internal(
        &host.internal,
        "PUT",
        "/protected/peers",
        &host.owner_token,
        put.as_bytes(),
    );
    let peer: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 201, "{peer}");
    assert_eq!(peer["domain"], device_domain.as_str(), "{peer}");
    assert!(
        peer["public_key_pem"]
            .as_str()
            .is_some_and(|k| k.contains("PUBLIC KEY")),
        "{peer}"
    );

    // The device adds the host (configured) and calls the host's echo app.
    go_tx.send(()).unwrap();
    match rep_rx.recv_timeout(wait).unwrap() {
        Report::Called { status, body } => {
            assert_eq!(status, 200, "{body}");
            assert_eq!(body, "echo:ping");
        }
        Report::Failed(why) => panic!("device call failed: {why}"),
        other => panic!("device call: {other:?}"),
    }
    let last = seen
        .lock()
        .unwrap()
        .last()
        .cloned()
        .expect("the host's app saw the call");
    let head = last.head.to_ascii_lowercase();
    assert!(
        head.starts_with("post /peer/from-device?n=1 "),
        "{}",
        last.head
    );
    assert!(head.contains("x-ptl-client-type: peer"), "{}", last.head);
    assert!(
        head.contains(&format!("x-ptl-client-id: {device_id}")),
        "{}",
        last.head
    );
    assert!(
        head.contains("x-ptl-client-name: my sensor board"),
        "{}",
        last.head
    );
    assert_eq!(last.body, b"ping");
    println!("device -> host: signed, verified by the host, answer verified by the device");

    // The host's echo app calls the device's echo app through call_peer.
    let (status, head, body) = internal(
        &host.internal,
        "POST",
        &format!("/internal/call_peer/{device_id}/peer/from-host?x=1"),
        &host.app_token,
        b"pong",
    );
    let text = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(status, 200, "{head}\n{text}");
    assert!(
        head.to_ascii_lowercase()
            .contains("x-shardpeer-verified: peer-signature"),
        "{head}"
    );
    assert!(
        text.contains(&format!("client=peer id={} name=the tokio host", host.id)),
        "{text}"
    );
    assert!(text.contains("path=/peer/from-host query=x=1"), "{text}");
    assert!(text.ends_with("body=pong"), "{text}");
    // A path the device keeps private: refused by the device, refusal verified by the host.
    let (status, head, body) = internal(
        &host.internal,
        "GET",
        &format!("/internal/call_peer/{device_id}/settings"),
        &host.app_token,
        b"",
    );
    assert_eq!(status, 401, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("x-shardpeer-verified: peer-signature"),
        "{head}"
    );
    assert!(String::from_utf8_lossy(&body).contains("access_denied"));
    println!("host -> device: signed, verified by the device, answer verified by the host");
    println!("tap interop: both directions verified");
    drop(host);
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shardpeer-tap-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
