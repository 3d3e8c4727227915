//! The shipped nginx forward-auth config (deploy/nginx), run for real in front of a shard.
//!
//! Needs Debian's `nginx` and `libnginx-mod-http-headers-more-filter` (`.ci/run` installs
//! them). Without nginx the test is skipped locally, and fails under `CI=true`.

mod common;
use common::*;
use http::Method;
use shardpeer_core::digest::{Digest, DigestAlg};
use shardpeer_core::message::Request;
use shardpeer_core::profile;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const MODULE: &str = "/usr/lib/nginx/modules/ngx_http_headers_more_filter_module.so";

struct Nginx {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nginx_available() -> bool {
    let found = Command::new("nginx")
        .arg("-v")
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
        && std::path::Path::new(MODULE).exists();
    if !found && std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "CI=true but nginx or its headers-more module is missing: .ci/run must install them"
        );
    }
    found
}

fn start_nginx(host: &Host, echo: &Echo) -> Nginx {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/nginx/shardpeer-forward-auth.conf"
    ))
    .unwrap();
    // Only addresses change; every directive of the shipped file is exercised as written.
    let site = shipped
        .replace("listen 443 ssl;", &format!("listen 127.0.0.1:{port};"))
        .replace("SHORTID\\.ZONE", &host.domain.replace('.', "\\."))
        .replace("SHORTID.ZONE", &host.domain)
        .replace("127.0.0.1:8480", &host.internal.to_string())
        .replace(
            "echo     127.0.0.1:9001;",
            &format!("echo     {};", echo.addr),
        );
    let root = dir.path().display().to_string();
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    let conf = format!(
        "load_module {MODULE};\n{user}daemon off;\nmaster_process off;\npid {root}/nginx.pid;\nerror_log {root}/error.log warn;\nevents {{ worker_connections 64; }}\nhttp {{\n access_log off;\n client_body_temp_path {root}/body;\n proxy_temp_path {root}/proxy;\n fastcgi_temp_path {root}/fcgi;\n uwsgi_temp_path {root}/uwsgi;\n scgi_temp_path {root}/scgi;\n{site}\n}}\n",
        user = if is_root { "user root;\n" } else { "" },
    );
    std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
    let mut child = Command::new("nginx")
        .args(["-p", &root, "-c", &format!("{root}/nginx.conf")])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start nginx");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Nginx {
                child,
                port,
                _dir: dir,
            };
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Do not leave an nginx that never started listening running (or a zombie) behind.
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "nginx did not start: {}",
        std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
    );
}

async fn via_nginx(
    n: &Nginx,
    host: &str,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Resp {
    let mut hs: Vec<(&str, &str)> = vec![("host", host)];
    hs.extend_from_slice(headers);
    send(
        method,
        &format!("http://127.0.0.1:{}{path}", n.port),
        &hs,
        body,
    )
    .await
}

/// A request signed by `signer` for `host`, as a peer shard's core would send it.
fn signed(
    signer: &shardpeer_core::identity::Identity,
    method: &str,
    host: &str,
    path: &str,
    body: &[u8],
    nonce: &str,
) -> Vec<(String, String)> {
    let digest = Digest::of(DigestAlg::Sha256, body)
        .header_value()
        .to_string();
    let mut fields = vec![("content-digest".to_string(), digest)];
    let refs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let req = Request {
        method,
        scheme: "http",
        authority: host,
        path,
        query: None,
        fields: refs.as_slice(),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut buf = [0u8; 2048];
    let s = profile::sign_request(signer, &req, now, nonce, &mut buf).unwrap();
    fields.push(("signature-input".into(), s.signature_input.to_string()));
    fields.push(("signature".into(), s.signature.to_string()));
    fields
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_nginx_config_enforces_the_shards_decisions() {
    if !nginx_available() {
        eprintln!("skipped: nginx with headers-more is not installed");
        return;
    }
    let echo = Echo::start("echo").await;
    let shard = Host::start(HostSpec {
        name: "Alice",
        apps: vec![("echo", echo.addr, ECHO_META)],
        extra_toml: "",
    });
    let friend = Host::start(HostSpec {
        name: "Bob",
        apps: vec![],
        extra_toml: "",
    });
    assert_eq!(shard.add_peer(&friend, "Bob").await.status, 201);
    let n = start_nginx(&shard, &echo);
    let app = shard.app_host("echo");

    // Anonymous on a public path: allowed, verdict headers set, client's X-Ptl-* gone.
    let r = via_nginx(
        &n,
        &app,
        Method::GET,
        "/pub/x",
        &[("x-ptl-client-type", "peer"), ("x-ptl-anything", "forged")],
        vec![],
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let seen = echo.last();
    assert_eq!(seen.headers.get("x-ptl-client-type").unwrap(), "anonymous");
    assert!(
        seen.headers.get("x-ptl-anything").is_none(),
        "wildcard strip"
    );
    assert_eq!(seen.headers.get_all("x-ptl-client-type").iter().count(), 1);

    // Private: refused anonymously, allowed for the owner.
    let before = echo.seen().len();
    assert_eq!(
        via_nginx(&n, &app, Method::GET, "/private", &[], vec![])
            .await
            .status,
        401
    );
    assert_eq!(
        echo.seen().len(),
        before,
        "refused requests never reach the app"
    );
    let bearer = format!("Bearer {}", shard.owner_token);
    let r = via_nginx(
        &n,
        &app,
        Method::GET,
        "/private",
        &[("authorization", &bearer)],
        vec![],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        echo.last().headers.get("x-ptl-client-type").unwrap(),
        "terminal"
    );

    // A peer's signed GET on a peer path: allowed, with its full ID.
    let bob = identity_of(&friend);
    let f = signed(
        &bob,
        "GET",
        &app,
        "/peer/inbox",
        b"",
        "nginx-nonce-000000000001",
    );
    let hs: Vec<(&str, &str)> = f.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let r = via_nginx(&n, &app, Method::GET, "/peer/inbox", &hs, vec![]).await;
    assert_eq!(r.status, 200, "{r:?}");
    let seen = echo.last();
    assert_eq!(seen.headers.get("x-ptl-client-type").unwrap(), "peer");
    assert_eq!(
        seen.headers.get("x-ptl-client-id").unwrap(),
        friend.id.as_str()
    );
    assert!(seen.headers.get("signature").is_none());
    // The same request again is a replay.
    assert_eq!(
        via_nginx(&n, &app, Method::GET, "/peer/inbox", &hs, vec![])
            .await
            .status,
        401
    );
    // A signed GET (digest of the empty body) with a body smuggled in: refused, since nginx
    // passes the original length.
    let f = signed(
        &bob,
        "POST",
        &app,
        "/peer/inbox",
        b"",
        "nginx-nonce-000000000002",
    );
    let hs: Vec<(&str, &str)> = f.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let before = echo.seen().len();
    let r = via_nginx(
        &n,
        &app,
        Method::POST,
        "/peer/inbox",
        &hs,
        b"smuggled".to_vec(),
    )
    .await;
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(echo.seen().len(), before);
    // Anonymous on a peer path.
    assert_eq!(
        via_nginx(&n, &app, Method::GET, "/peer/inbox", &[], vec![])
            .await
            .status,
        401
    );
    // The shard's own whoareyou passes through, signed.
    let r = via_nginx(
        &n,
        &shard.domain,
        Method::GET,
        "/core/public/meta/whoareyou",
        &[],
        vec![],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["id"], shard.id.as_str());
    assert_eq!(r.json()["name"], "Alice");
    assert!(r.header("signature").is_some());
}
