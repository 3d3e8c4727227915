//! The operator CLI (`peers`, `token`, `identity`, `doctor`) against real hosts: through a
//! running host's internal API, and on the files of a stopped one.

mod common;
use common::*;
use http::Method;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a CLI run left.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// stdout as JSON (the command ran with `--json`).
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("--json output does not parse ({e}): {self:?}"))
    }
}

/// Runs `shardpeer <args>` to completion (off the async workers), with no passphrase in its
/// environment unless `env` gives one.
async fn shardpeer(args: Vec<String>, env: Vec<(&'static str, String)>) -> Run {
    tokio::task::spawn_blocking(move || {
        let mut c = Command::new(shardpeer_bin());
        c.args(&args)
            .env_remove("SHARDPEER_PASSPHRASE")
            .env_remove("SHARDPEER_CONFIG")
            .env_remove("SHARDPEER_DATA_DIR")
            .stdin(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().expect("run shardpeer");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

/// `shardpeer <args> --config <host's> --data-dir <host's>`.
async fn on(h: &Host, args: &[&str]) -> Run {
    let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    v.extend([
        "--config".to_string(),
        h.config.display().to_string(),
        "--data-dir".to_string(),
        h.data_dir.display().to_string(),
    ]);
    shardpeer(v, vec![]).await
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn read_token(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap().trim().to_string()
}

async fn status_with(h: &Host, token: &str) -> u16 {
    h.internal_req(Method::GET, "/protected/peers", token, vec![])
        .await
        .status
        .as_u16()
}

async fn one_host() -> (Host, Echo) {
    let e = Echo::start("echo").await;
    let h = Host::start(HostSpec {
        name: "Alice",
        apps: vec![("echo", e.addr, ECHO_META)],
        extra_toml: "",
    });
    (h, e)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_through_a_running_host() {
    let (a, _ea, b, _eb) = pair().await;
    // The lock file tells the CLI where the running host's API is.
    let lock: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.data_dir.join("lock")).unwrap()).unwrap();
    assert_eq!(lock["holder"], "serve");
    assert_eq!(lock["internal"], format!("http://{}", a.internal));

    let address = format!("http://{}", b.gateway);
    let r = on(
        &a,
        &[
            "peers",
            "add",
            &b.id,
            "--name",
            "Bob",
            "--address",
            &address,
            "--json",
        ],
    )
    .await;
    assert_eq!(r.code, 0, "{r:?}");
    let v = r.json();
    assert_eq!(v["ok"], true);
    assert_eq!(v["via"], "host");
    assert_eq!(v["created"], true);
    assert_eq!(
        v["peer"]["is_reachable"], true,
        "the host fetched B's whoareyou"
    );
    assert_eq!(v["peer"]["self_name"], "Bob");
    // The API sees it.
    assert_eq!(a.peer_ids().await, vec![b.id.clone()]);
    let r = a
        .internal_req(
            Method::GET,
            &format!("/protected/peers/{}", b.id),
            &a.owner_token,
            vec![],
        )
        .await;
    assert_eq!(r.json()["name"], "Bob");

    // Rename; list in both formats.
    let r = on(&a, &["peers", "add", &b.id, "--name", "Robert"]).await;
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.starts_with("updated Robert"), "{r:?}");
    let r = on(&a, &["peers", "list", "--json"]).await;
    assert_eq!(r.code, 0, "{r:?}");
    let v = r.json();
    assert_eq!(v["via"], "host");
    assert_eq!(v["peers"][0]["id"], b.id.as_str());
    assert_eq!(v["peers"][0]["name"], "Robert");
    let r = on(&a, &["peers", "list"]).await;
    assert!(
        r.stdout.contains(&b.id) && r.stdout.contains("Robert"),
        "{r:?}"
    );

    // Writes take the full ID only: a prefix is a usage error, checked before anything.
    let r = on(&a, &["peers", "remove", &b.id[..6], "--json"]).await;
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(r.json()["error"], "invalid_id");
    assert_eq!(a.peer_ids().await.len(), 1);
    let r = on(&a, &["peers", "add", &a.id]).await;
    assert_eq!(r.code, 2, "a shard cannot add itself: {r:?}");
    let r = on(&a, &["peers", "add", &b.id, "--address", "ftp://x"]).await;
    assert_eq!(r.code, 2, "{r:?}");

    let r = on(&a, &["peers", "remove", &b.id, "--json"]).await;
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["removed"], b.id.as_str());
    assert!(a.peer_ids().await.is_empty(), "the API sees the removal");
    let r = on(&a, &["peers", "remove", &b.id, "--json"]).await;
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(r.json()["error"], "unknown_peer");

    // A host that cannot be reached is exit 3.
    let closed = format!("http://{}", closed_port());
    let r = on(&a, &["peers", "list", "--internal", &closed, "--json"]).await;
    assert_eq!(r.code, 3, "{r:?}");
    assert_eq!(r.json()["error"], "host_unreachable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_on_a_stopped_host() {
    let (mut a, _ea, b, eb) = pair().await;
    a.stop();
    let address = format!("http://{}", b.gateway);
    let r = on(
        &a,
        &[
            "peers",
            "add",
            &b.id,
            "--name",
            "Bob",
            "--address",
            &address,
            "--json",
        ],
    )
    .await;
    assert_eq!(r.code, 0, "{r:?}");
    let v = r.json();
    assert_eq!(v["via"], "store");
    assert_eq!(v["created"], true);
    assert_eq!(v["peer"]["name"], "Bob");
    let r = on(&a, &["peers", "list", "--json"]).await;
    assert_eq!(r.json()["peers"][0]["id"], b.id.as_str());
    // The host started again sees the peer, and calls it once B has added A back (the key
    // is pinned on first contact).
    a.restart();
    assert_eq!(a.peer_ids().await, vec![b.id.clone()]);
    assert_eq!(b.add_peer(&a, "Alice").await.status, 201);
    let r = a
        .call_peer(
            &a.app_token("echo"),
            &b.id,
            Method::POST,
            "/peer/hi",
            &[],
            b"hi".to_vec(),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        eb.last().headers.get("x-ptl-client-id").unwrap(),
        a.id.as_str()
    );
    // Removed while stopped: gone after the next start.
    a.stop();
    let r = on(&a, &["peers", "remove", &b.id]).await;
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("removed"), "{r:?}");
    a.restart();
    assert!(a.peer_ids().await.is_empty());

    // No data directory is never silently created.
    let r = shardpeer(
        vec![
            "peers".into(),
            "list".into(),
            "--data-dir".into(),
            s(&a.dir.join("typo")),
            "--json".into(),
        ],
        vec![],
    )
    .await;
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(r.json()["error"], "no_data_dir");
    assert!(!a.dir.join("typo").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_invalidates_the_old_token_at_once() {
    let (mut h, _e) = one_host().await;
    let owner_path = h.data_dir.join("owner.token");
    let app_path = h.data_dir.join("apps/echo.token");
    let old_owner = h.owner_token.clone();
    let old_app = h.app_token("echo");
    assert_eq!(status_with(&h, &old_owner).await, 200);
    assert_eq!(status_with(&h, &old_app).await, 200);

    // Owner, on the running host.
    let r = on(&h, &["token", "rotate", "--owner", "--json"]).await;
    assert_eq!(r.code, 0, "{r:?}");
    let v = r.json();
    assert_eq!(v["via"], "host");
    assert_eq!(v["rotated"], "owner");
    assert!(v.get("token").is_none(), "not printed without --show");
    assert_eq!(v["path"], s(&owner_path));
    let new_owner = read_token(&owner_path);
    assert_ne!(new_owner, old_owner);
    assert_eq!(
        status_with(&h, &old_owner).await,
        401,
        "old owner token refused"
    );
    assert_eq!(status_with(&h, &new_owner).await, 200);
    let mode = std::fs::metadata(&owner_path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // App, on the running host (the CLI now uses the new owner token from the file).
    let r = on(&h, &["token", "rotate", "--app", "echo", "--show"]).await;
    assert_eq!(r.code, 0, "{r:?}");
    let new_app = read_token(&app_path);
    assert_ne!(new_app, old_app);
    assert!(r.stdout.contains(&new_app), "--show prints it: {r:?}");
    assert!(r.stdout.contains(&s(&app_path)), "{r:?}");
    assert_eq!(
        status_with(&h, &old_app).await,
        401,
        "old app token refused"
    );
    assert_eq!(status_with(&h, &new_app).await, 200);
    let r = on(&h, &["token", "rotate", "--app", "nope", "--json"]).await;
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(r.json()["error"], "unknown_app");
    let r = on(&h, &["token", "rotate", "--app", "echo", "--owner"]).await;
    assert_eq!(r.code, 2, "one of --app or --owner: {r:?}");
    // An app token may not rotate anything.
    let r = h
        .internal_req(
            Method::POST,
            "/protected/tokens/rotate",
            &new_app,
            br#"{"owner": true}"#.to_vec(),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(read_token(&owner_path), new_owner);

    // On a stopped host: the file is rewritten; the host started again takes the new one.
    h.stop();
    let r = on(&h, &["token", "rotate", "--owner", "--json"]).await;
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["via"], "store");
    let r = on(&h, &["token", "rotate", "--app", "echo"]).await;
    assert_eq!(r.code, 0, "{r:?}");
    h.restart();
    let (owner3, app3) = (read_token(&owner_path), h.app_token("echo"));
    assert_ne!(owner3, new_owner);
    assert_ne!(app3, new_app);
    assert_eq!(status_with(&h, &new_owner).await, 401);
    assert_eq!(status_with(&h, &new_app).await, 401);
    assert_eq!(status_with(&h, &owner3).await, 200);
    assert_eq!(status_with(&h, &app3).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_export_then_import_on_a_fresh_data_dir() {
    let (mut h, _e) = one_host().await;
    let tmp = tempfile::tempdir().unwrap();
    let pass = tmp.path().join("pass");
    std::fs::write(&pass, "correct horse battery staple\n").unwrap();
    let backup = tmp.path().join("alice.shardpeer-id");

    // No passphrase and no --plaintext: refused, nothing written.
    let r = on(&h, &["identity", "export", &s(&backup), "--json"]).await;
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(r.json()["error"], "no_passphrase");
    assert!(!backup.exists());

    // Export while the host runs (reading the key is safe).
    let r = on(
        &h,
        &[
            "identity",
            "export",
            &s(&backup),
            "--passphrase-file",
            &s(&pass),
            "--json",
        ],
    )
    .await;
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["id"], h.id.as_str());
    assert_eq!(r.json()["format"], "encrypted-v1");
    let bytes = std::fs::read(&backup).unwrap();
    assert_eq!(bytes.len(), 163);
    assert_eq!(&bytes[..12], b"shardpeer-id");
    assert_eq!(&bytes[67..115], h.id.as_bytes(), "the ID is in the header");
    let seed_pem = std::fs::read_to_string(h.data_dir.join("identity.pem")).unwrap();
    assert!(!String::from_utf8_lossy(&bytes).contains(seed_pem.lines().nth(1).unwrap()));
    let mode = std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // Import on a fresh data directory, passphrase from the environment: same ID.
    let fresh = tmp.path().join("fresh");
    let r = shardpeer(
        vec![
            "identity".into(),
            "import".into(),
            s(&backup),
            "--data-dir".into(),
            s(&fresh),
        ],
        vec![(
            "SHARDPEER_PASSPHRASE",
            "correct horse battery staple".into(),
        )],
    )
    .await;
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains(&h.id), "prints the ID: {r:?}");
    let id = shardpeer(vec!["id".into(), "--data-dir".into(), s(&fresh)], vec![]).await;
    assert_eq!(id.stdout.trim(), h.id);

    // A wrong passphrase fails and writes nothing.
    let other = tmp.path().join("other");
    let r = shardpeer(
        vec![
            "identity".into(),
            "import".into(),
            s(&backup),
            "--data-dir".into(),
            s(&other),
            "--json".into(),
        ],
        vec![("SHARDPEER_PASSPHRASE", "wrong".into())],
    )
    .await;
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(r.json()["error"], "decrypt");
    assert!(!other.join("identity.pem").exists());

    // A second identity, exported in plain PEM (loudly).
    let second = tmp.path().join("second");
    let id2 = shardpeer(vec!["id".into(), "--data-dir".into(), s(&second)], vec![])
        .await
        .stdout
        .trim()
        .to_string();
    let pem = tmp.path().join("second.pem");
    let r = shardpeer(
        vec![
            "identity".into(),
            "export".into(),
            s(&pem),
            "--plaintext".into(),
            "--data-dir".into(),
            s(&second),
        ],
        vec![],
    )
    .await;
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains("WARNING") && r.stderr.contains("NOT encrypted"),
        "{r:?}"
    );
    let mode = std::fs::metadata(&pem).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // Import refuses while the host runs, even with --force.
    let r = on(&h, &["identity", "import", &s(&pem), "--force", "--json"]).await;
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(r.json()["error"], "host_running");
    // Stopped: refuses to replace a different identity without --force…
    h.stop();
    let r = on(&h, &["identity", "import", &s(&pem), "--json"]).await;
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(r.json()["error"], "identity_exists");
    let still = shardpeer(
        vec!["id".into(), "--data-dir".into(), s(&h.data_dir)],
        vec![],
    )
    .await;
    assert_eq!(still.stdout.trim(), h.id);
    // …and does with it, keeping the old key beside the new one.
    let r = on(&h, &["identity", "import", &s(&pem), "--force", "--json"]).await;
    assert_eq!(r.code, 0, "{r:?}");
    let v = r.json();
    assert_eq!(v["id"], id2.as_str());
    let kept = PathBuf::from(v["previous_saved_to"].as_str().unwrap());
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), seed_pem);
    h.restart();
    assert_eq!(h.id, id2, "the host runs as the imported identity");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_serve_on_the_same_data_dir_refuses() {
    let (h, _e) = one_host().await;
    let mut child = Command::new(shardpeer_bin())
        .args(["serve", "--config"])
        .arg(&h.config)
        .arg("--data-dir")
        .arg(&h.data_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the second serve kept running");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success());
    assert!(
        err.contains("in use by a running `shardpeer serve` (pid")
            && err.contains(&h.child.id().to_string()),
        "{err}"
    );
    // The first one is undisturbed.
    assert_eq!(status_with(&h, &h.owner_token).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_a_healthy_setup_and_names_what_is_broken() {
    let (h, e) = one_host().await;
    let r = on(&h, &["doctor", "--json"]).await;
    assert_eq!(r.code, 0, "{r:?}");
    let v = r.json();
    assert_eq!(v["ok"], true, "{v:#}");
    let check = |v: &serde_json::Value, name: &str| -> (String, String) {
        let c = v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == name)
            .unwrap_or_else(|| panic!("no check {name:?} in {v:#}"))
            .clone();
        (
            c["status"].as_str().unwrap().to_string(),
            c["message"].as_str().unwrap().to_string(),
        )
    };
    for name in [
        "config",
        "app_meta echo",
        "upstream echo",
        "data dir",
        "secrets",
        "identity",
        "peers store",
        "host",
        "clock",
    ] {
        assert_eq!(check(&v, name).0, "ok", "{name}: {v:#}");
    }
    assert!(check(&v, "host").1.contains(&h.internal.to_string()));
    // DNS for <short_id>.shard.test does not resolve here: a warning, not a failure.
    let dns = format!("dns {}", h.domain);
    assert_eq!(check(&v, &dns).0, "warn", "{v:#}");
    let r = on(&h, &["doctor"]).await;
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("no check failed"), "{r:?}");

    // A broken setup: an app_meta with a syntax error, an upstream nobody listens on, and a
    // token readable by everyone.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("apps/echo")).unwrap();
    std::fs::write(
        dir.join("apps/echo/app_meta.json"),
        "{\"name\": \"echo\",\n \"paths\": {\"\": {\"access\": \"public\"},}\n}",
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("apps/down")).unwrap();
    std::fs::write(dir.join("apps/down/app_meta.json"), meta_named("down")).unwrap();
    let closed = closed_port();
    std::fs::write(
        dir.join("shard.toml"),
        format!(
            "zone = \"shard.test\"\n[[app]]\nname = \"echo\"\nupstream = \"http://{}\"\nmeta = \"apps/echo/app_meta.json\"\n[[app]]\nname = \"down\"\nupstream = \"http://{closed}\"\nmeta = \"apps/down/app_meta.json\"\n",
            e.addr
        ),
    )
    .unwrap();
    let data = dir.join("data");
    let r = shardpeer(vec!["id".into(), "--data-dir".into(), s(&data)], vec![]).await;
    assert_eq!(r.code, 0);
    std::fs::write(data.join("owner.token"), "x\n").unwrap();
    std::fs::set_permissions(
        data.join("owner.token"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let args = |json: bool| {
        let mut a = vec![
            "doctor".to_string(),
            "--config".into(),
            s(&dir.join("shard.toml")),
            "--data-dir".into(),
            s(&data),
        ];
        if json {
            a.push("--json".into());
        }
        a
    };
    let r = shardpeer(args(true), vec![]).await;
    assert_eq!(r.code, 1, "{r:?}");
    let v = r.json();
    assert_eq!(v["ok"], false);
    let (st, msg) = check(&v, "app_meta echo");
    assert_eq!(st, "fail");
    assert!(
        msg.contains("apps/echo/app_meta.json"),
        "names the file: {msg}"
    );
    assert_eq!(check(&v, "app_meta down").0, "ok");
    assert_eq!(check(&v, "upstream echo").0, "ok");
    let (st, msg) = check(&v, "upstream down");
    assert_eq!(st, "fail");
    assert!(msg.contains(&closed.to_string()), "{msg}");
    let (st, msg) = check(&v, "secrets");
    assert_eq!(st, "fail");
    assert!(msg.contains("owner.token"), "{msg}");
    assert_eq!(check(&v, "host").0, "ok", "not running is fine");
    let r = shardpeer(args(false), vec![]).await;
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("FAIL") && r.stdout.contains("check(s) failed"),
        "{r:?}"
    );
    // Doctor created nothing.
    assert!(!data.join("lock").exists());
}
