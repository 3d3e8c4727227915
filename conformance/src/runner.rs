//! The black-box runner: acts as a second shard and drives an implementation under test
//! through its documented HTTP API only (whoareyou, peers, call_peer, gateway, forward-auth).
//!
//! # Contract with the target
//! The target runs with two apps, `echo` and `notes`, whose upstreams are the addresses given
//! with `--echo` (the runner serves them, so it sees exactly what reaches an app) and whose
//! `app_meta.json` are the files in `conformance/target/`. Flags name the target's internal
//! and public base URLs and its owner and app tokens. The runner's own shard (this crate's
//! reference host, in process, on loopback) adds and is added by the target.
//!
//! An endpoint answering **501** marks the scenario *unimplemented* (reported with the
//! reason, not a failure). Everything else is pass or fail. The closing line is
//! `N passed, N failed, N skipped`; any failure exits 1.

use crate::runner_support::*;
use bytes::Bytes;
use http::Method;
use shardpeer_core::id::ShardId;
use shardpeer_core::identity::PublicKey;
use std::process::ExitCode;
use std::time::Duration;

/// `shardpeer-conformance run` flags.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// The target's internal API base URL, e.g. `http://127.0.0.1:8480`.
    #[arg(long)]
    pub internal: String,
    /// The target's gateway base URL, e.g. `http://127.0.0.1:8443`.
    #[arg(long)]
    pub public: String,
    /// The target's owner token, or `@FILE` to read it from a file.
    #[arg(long)]
    pub owner_token: String,
    /// An app token as `NAME=TOKEN` or `NAME=@FILE` (needed: echo, notes).
    #[arg(long = "app-token", value_parser = parse_pair)]
    pub app_tokens: Vec<(String, String)>,
    /// Where to serve an app's upstream for the target, as `NAME=ADDR` (echo, notes).
    #[arg(long = "echo", value_parser = parse_pair)]
    pub echoes: Vec<(String, String)>,
    /// Run only scenarios whose name contains this.
    #[arg(long)]
    pub only: Option<String>,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').ok_or("expected NAME=VALUE")?;
    Ok((k.to_string(), v.to_string()))
}

fn read_secret(v: &str) -> Result<String, String> {
    match v.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .map(|t| t.trim().to_string())
            .map_err(|e| format!("{path}: {e}")),
        None => Ok(v.to_string()),
    }
}

/// Runs every scenario; prints one line each and the closing line.
pub fn run(args: &RunArgs) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run_async(args)) {
        Ok(report) => {
            println!("{}", report.closing_line());
            if report.failed > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("runner setup failed: {e}");
            ExitCode::from(2)
        }
    }
}

/// Counts of outcomes.
#[derive(Debug, Default, Clone, Copy)]
pub struct Report {
    /// Passed.
    pub passed: usize,
    /// Failed.
    pub failed: usize,
    /// Unimplemented by the target (with a reason).
    pub skipped: usize,
}

impl Report {
    /// `N passed, N failed, N skipped`.
    pub fn closing_line(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

/// Runs all scenarios and returns the counts.
pub async fn run_async(args: &RunArgs) -> Result<Report, String> {
    let owner = read_secret(&args.owner_token)?;
    let token = |app: &str| -> Result<String, String> {
        let v = args
            .app_tokens
            .iter()
            .find(|(k, _)| k == app)
            .map(|(_, v)| v.clone());
        read_secret(&v.ok_or(format!("--app-token {app}=… is required"))?)
    };
    let echo_token = token("echo")?;
    let notes_token = token("notes")?;
    let addr = |app: &str| -> Result<String, String> {
        args.echoes
            .iter()
            .find(|(k, _)| k == app)
            .map(|(_, v)| v.clone())
            .ok_or(format!("--echo {app}=ADDR is required"))
    };
    let target_echo = Recorder::serve(&addr("echo")?, "target-echo").await?;
    let target_notes = Recorder::serve(&addr("notes")?, "target-notes").await?;
    let me = RunnerShard::start().await?;
    let t = Target::discover(&args.internal, &args.public, owner, echo_token, notes_token).await?;
    let ctx = Ctx {
        t,
        me,
        target_echo,
        target_notes,
    };

    let mut report = Report::default();
    for (name, scenario) in scenarios() {
        if args.only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        let outcome = match tokio::time::timeout(Duration::from_secs(60), scenario(&ctx)).await {
            Ok(o) => o,
            Err(_) => Outcome::Fail("scenario timed out after 60 s".into()),
        };
        match outcome {
            Outcome::Pass => {
                report.passed += 1;
                println!("PASS {name}");
            }
            Outcome::Fail(why) => {
                report.failed += 1;
                println!("FAIL {name}: {why}");
            }
            Outcome::Unimplemented(why) => {
                report.skipped += 1;
                println!("SKIP {name}: unimplemented: {why}");
            }
        }
    }
    Ok(report)
}

type ScenarioFn =
    for<'a> fn(
        &'a Ctx,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Outcome> + Send + 'a>>;

macro_rules! scenario_list {
    ($($name:ident),* $(,)?) => {
        fn scenarios() -> Vec<(&'static str, ScenarioFn)> {
            vec![$((stringify!($name), |c| Box::pin($name(c)))),*]
        }
    };
}

// Order matters: later scenarios rely on the peering established by earlier ones.
scenario_list!(
    whoareyou_is_signed_and_matches_the_id,
    whoareyou_on_the_gateway,
    internal_api_requires_tokens,
    peer_writes_take_only_full_ids,
    adding_a_peer_pins_its_key,
    a_call_is_refused_until_both_have_added,
    call_peer_reaches_the_peers_app,
    the_gateway_accepts_a_signed_peer_request,
    replayed_requests_are_refused,
    tampered_requests_are_refused,
    stale_and_future_signatures_are_refused,
    keys_other_than_the_pinned_one_are_refused,
    spoofed_verdict_headers_never_reach_the_app,
    paths_are_normalised_before_the_decision,
    the_app_is_taken_from_the_token,
    peer_ids_in_call_peer_are_validated,
    altered_peer_answers_are_refused,
    forward_auth_access_matrix,
    deleting_a_peer,
);

macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Outcome::Fail(format!($($msg)+));
        }
    };
}

macro_rules! unimplemented_if_501 {
    ($resp:expr, $what:expr) => {
        if $resp.status == 501 {
            return Outcome::Unimplemented(format!("{} answered 501", $what));
        }
    };
}

async fn whoareyou_is_signed_and_matches_the_id(c: &Ctx) -> Outcome {
    let r = get(&format!("{}/public/meta/whoareyou", c.t.internal), &[]).await;
    unimplemented_if_501!(r, "whoareyou");
    check!(r.status == 200, "status {}", r.status);
    check_whoareyou(&r, &c.t.id)
}

async fn whoareyou_on_the_gateway(c: &Ctx) -> Outcome {
    let r = send(
        Method::GET,
        &format!("{}/core/public/meta/whoareyou", c.t.public),
        &[("host", &c.t.domain)],
        vec![],
    )
    .await;
    unimplemented_if_501!(r, "gateway whoareyou");
    check!(
        r.status == 200,
        "status {} for Host {}",
        r.status,
        c.t.domain
    );
    check_whoareyou(&r, &c.t.id)
}

fn check_whoareyou(r: &Resp, id: &ShardId) -> Outcome {
    let j = match r.json() {
        Ok(j) => j,
        Err(e) => return Outcome::Fail(e),
    };
    check!(j["id"] == id.as_str(), "id {} is not {}", j["id"], id);
    check!(j["short_id"] == id.short_id(), "short_id {}", j["short_id"]);
    let key = match PublicKey::from_pem(j["public_key_pem"].as_str().unwrap_or("")) {
        Ok(k) => k,
        Err(e) => return Outcome::Fail(format!("public_key_pem: {e}")),
    };
    check!(id.is_id_of(&key), "the key does not derive the ID");
    match verify_whoareyou(r, id, &key) {
        Ok(()) => Outcome::Pass,
        Err(e) => Outcome::Fail(format!("whoareyou signature: {e}")),
    }
}

async fn internal_api_requires_tokens(c: &Ctx) -> Outcome {
    let url = format!("{}/protected/peers", c.t.internal);
    let r = get(&url, &[]).await;
    check!(r.status == 401, "no token: {}", r.status);
    check!(
        r.code() == "missing_credential",
        "no token: code {:?}",
        r.code()
    );
    let r = get(&url, &[("authorization", "Bearer not-a-token")]).await;
    check!(
        r.status == 401 && r.code() == "invalid_credential",
        "bad token: {} {:?}",
        r.status,
        r.code()
    );
    let r = get(&url, &[("authorization", &c.t.bearer_app())]).await;
    check!(r.status == 200, "app token may read peers: {}", r.status);
    let body = serde_json::json!({"id": c.me.id.as_str(), "name": "x"}).to_string();
    let r =
        c.t.internal_req(
            Method::PUT,
            "/protected/peers",
            &c.t.bearer_app(),
            body.into_bytes(),
        )
        .await;
    check!(
        r.status == 403 && r.code() == "owner_only",
        "app token must not add peers: {} {:?}",
        r.status,
        r.code()
    );
    Outcome::Pass
}

async fn peer_writes_take_only_full_ids(c: &Ctx) -> Outcome {
    for bad in [
        "x@evil.example",
        "%",
        c.me.id.short_id(),
        &bad_checksum(&c.me.id),
    ] {
        let body = serde_json::json!({"id": bad, "name": "x"}).to_string();
        let r =
            c.t.internal_req(
                Method::PUT,
                "/protected/peers",
                &c.t.bearer_owner(),
                body.into_bytes(),
            )
            .await;
        check!(r.status == 422, "PUT id {bad:?}: {}", r.status);
        let r =
            c.t.internal_req(
                Method::DELETE,
                &format!("/protected/peers/{}", urlencode(bad)),
                &c.t.bearer_owner(),
                vec![],
            )
            .await;
        check!(
            r.status == 422,
            "DELETE id {bad:?}: {} (a prefix or pattern must never delete)",
            r.status
        );
    }
    Outcome::Pass
}

async fn adding_a_peer_pins_its_key(c: &Ctx) -> Outcome {
    let body = serde_json::json!({"id": c.me.id.as_str(), "name": "Runner (owner's name)", "address": c.me.gateway_url()}).to_string();
    let r =
        c.t.internal_req(
            Method::PUT,
            "/protected/peers",
            &c.t.bearer_owner(),
            body.into_bytes(),
        )
        .await;
    check!(
        r.status == 201 || r.status == 200,
        "PUT: {} {}",
        r.status,
        r.text()
    );
    let list = get(
        &format!("{}/protected/peers?name=owner", c.t.internal),
        &[("authorization", &c.t.bearer_app())],
    )
    .await;
    let Ok(j) = list.json() else {
        return Outcome::Fail("list is not JSON".into());
    };
    let found = j
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["id"] == c.me.id.as_str());
    let Some(p) = found else {
        return Outcome::Fail(format!("the runner is not listed with ?name=owner: {j}"));
    };
    check!(p["name"] == "Runner (owner's name)", "name {}", p["name"]);
    check!(
        p["short_id"] == c.me.id.short_id(),
        "short_id {}",
        p["short_id"]
    );
    check!(
        p["is_reachable"] == true,
        "is_reachable {} (the runner's whoareyou is reachable)",
        p["is_reachable"]
    );
    check!(
        p["self_name"] == RUNNER_NAME,
        "self_name {} should be what the runner calls itself",
        p["self_name"]
    );
    let one = get(
        &format!("{}/protected/peers/{}", c.t.internal, c.me.id.short_id()),
        &[("authorization", &c.t.bearer_app())],
    )
    .await;
    check!(
        one.status == 200,
        "GET by unambiguous short ID: {}",
        one.status
    );
    Outcome::Pass
}

async fn a_call_is_refused_until_both_have_added(c: &Ctx) -> Outcome {
    let before = c.me.echo.count();
    let r =
        c.t.call_peer("echo", &c.me.id, "/peer/hello", &[], b"x".to_vec())
            .await;
    unimplemented_if_501!(r, "call_peer");
    check!(
        r.status == 401,
        "the runner has not added the target yet, expected its 401, got {} {}",
        r.status,
        r.text()
    );
    check!(r.code() == "signature_key_unknown", "code {:?}", r.code());
    check!(
        c.me.echo.count() == before,
        "the runner's app must see nothing"
    );
    match c.me.add_peer(&c.t).await {
        Ok(()) => Outcome::Pass,
        Err(e) => Outcome::Fail(format!("the runner could not add the target: {e}")),
    }
}

async fn call_peer_reaches_the_peers_app(c: &Ctx) -> Outcome {
    let r =
        c.t.call_peer(
            "echo",
            &c.me.id,
            "/peer/inbox?x=1&y=two",
            &[
                ("x-custom", "kept"),
                ("content-type", "text/plain"),
                ("cookie", "s=secret"),
            ],
            b"hello runner".to_vec(),
        )
        .await;
    check!(r.status == 200, "status {} {}", r.status, r.text());
    check!(
        &r.body[..] == b"hello runner",
        "body came back as {:?}",
        r.text()
    );
    check!(
        r.header("x-echo").as_deref() == Some("runner-echo"),
        "response headers must come back"
    );
    let Some(seen) = c.me.echo.last() else {
        return Outcome::Fail("the runner's app saw nothing".into());
    };
    check!(seen.method == "POST", "method {}", seen.method);
    check!(
        seen.path_and_query == "/peer/inbox?x=1&y=two",
        "path {}",
        seen.path_and_query
    );
    check!(&seen.body[..] == b"hello runner", "body {:?}", seen.body);
    check!(
        seen.header("x-ptl-client-type").as_deref() == Some("peer"),
        "client type {:?}",
        seen.header("x-ptl-client-type")
    );
    check!(
        seen.header("x-ptl-client-id").as_deref() == Some(c.t.id.as_str()),
        "client id {:?}",
        seen.header("x-ptl-client-id")
    );
    check!(
        seen.header("x-custom").as_deref() == Some("kept"),
        "end-to-end header lost"
    );
    check!(
        seen.header("authorization").is_none(),
        "the app's token left the target"
    );
    check!(seen.header("cookie").is_none(), "cookies left the target");
    Outcome::Pass
}

async fn the_gateway_accepts_a_signed_peer_request(c: &Ctx) -> Outcome {
    let r =
        c.me.call_peer(
            "echo",
            &c.t.id,
            "/peer/from-runner?q=1",
            b"hi target".to_vec(),
        )
        .await;
    check!(
        r.status == 200,
        "the runner's call through the target's gateway: {} {}",
        r.status,
        r.text()
    );
    let Some(seen) = c.target_echo.last() else {
        return Outcome::Fail("the target's app saw nothing".into());
    };
    check!(
        seen.path_and_query == "/peer/from-runner?q=1",
        "path {}",
        seen.path_and_query
    );
    check!(
        seen.header("x-ptl-client-type").as_deref() == Some("peer"),
        "client type {:?}",
        seen.header("x-ptl-client-type")
    );
    check!(
        seen.header("x-ptl-client-id").as_deref() == Some(c.me.id.as_str()),
        "client id {:?}",
        seen.header("x-ptl-client-id")
    );
    check!(
        seen.header("x-ptl-client-name").as_deref() == Some("Runner (owner's name)"),
        "client name must be the owner's name for the peer, got {:?}",
        seen.header("x-ptl-client-name")
    );
    Outcome::Pass
}

async fn replayed_requests_are_refused(c: &Ctx) -> Outcome {
    let d = c.me.draft(&c.t, "POST", "/peer/replay", b"once".to_vec());
    let first = d.send(&c.t).await;
    check!(
        first.status == 200,
        "first: {} {}",
        first.status,
        first.text()
    );
    let again = d.send(&c.t).await;
    check!(again.status == 401, "replay: {}", again.status);
    check!(
        again.code() == "signature_replayed",
        "replay code {:?}",
        again.code()
    );
    Outcome::Pass
}

async fn tampered_requests_are_refused(c: &Ctx) -> Outcome {
    type Tamper = fn(&mut Draft);
    let cases: [(&str, Tamper); 5] = [
        ("method", |d| d.method = "PUT".into()),
        ("path", |d| d.path = "/peer/other".into()),
        ("query", |d| d.query = Some("x=2".into())),
        ("body", |d| d.body = Bytes::from_static(b"changed")),
        ("content-type", |d| d.set("content-type", "text/html")),
    ];
    for (what, tamper) in cases {
        let mut d = c.me.draft(&c.t, "POST", "/peer/t", b"orig".to_vec());
        d.query = Some("x=1".into());
        d.resign(&c.me);
        tamper(&mut d);
        let before = c.target_echo.count();
        let r = d.send(&c.t).await;
        check!(r.status == 401, "tampered {what}: {}", r.status);
        check!(
            c.target_echo.count() == before,
            "tampered {what} reached the app"
        );
    }
    Outcome::Pass
}

async fn stale_and_future_signatures_are_refused(c: &Ctx) -> Outcome {
    let now = unix_now();
    for (what, created, code) in [
        ("stale", now - 400, "signature_too_old"),
        ("future", now + 120, "signature_created_in_future"),
    ] {
        let mut d = c.me.draft(&c.t, "GET", "/peer/time", vec![]);
        d.sign_at(&c.me, created);
        let r = d.send(&c.t).await;
        check!(
            r.status == 401 && r.code() == code,
            "{what}: {} {:?}",
            r.status,
            r.code()
        );
    }
    Outcome::Pass
}

async fn keys_other_than_the_pinned_one_are_refused(c: &Ctx) -> Outcome {
    // Mallory signs claiming to be the runner; and a valid ID sharing the runner's short ID.
    let mallory = shardpeer_core::identity::Identity::from_seed([0x4d; 32])
        .unwrap_or_else(|_| c.me.identity.clone());
    let mut d = c.me.draft(&c.t, "GET", "/peer/k", vec![]);
    d.sign_with(&mallory, c.me.id.as_str());
    let r = d.send(&c.t).await;
    check!(
        r.status == 401 && r.code() == "signature_invalid",
        "wrong key: {} {:?}",
        r.status,
        r.code()
    );
    let twin = same_prefix_id(&c.me.id);
    let mut d = c.me.draft(&c.t, "GET", "/peer/k", vec![]);
    d.sign_with(&mallory, &twin);
    let r = d.send(&c.t).await;
    check!(
        r.status == 401,
        "an ID sharing the runner's 6-char prefix must not be the runner: {}",
        r.status
    );
    Outcome::Pass
}

async fn spoofed_verdict_headers_never_reach_the_app(c: &Ctx) -> Outcome {
    let r =
        c.t.gateway(
            Method::GET,
            "echo",
            "/pub/x",
            &[
                ("x-ptl-client-type", "peer"),
                ("x-ptl-client-id", c.me.id.as_str()),
            ],
            vec![],
        )
        .await;
    check!(r.status == 200, "public path: {}", r.status);
    let Some(seen) = c.target_echo.last() else {
        return Outcome::Fail("nothing reached the app".into());
    };
    check!(
        seen.all("x-ptl-client-type") == vec!["anonymous".to_string()],
        "client type {:?}",
        seen.all("x-ptl-client-type")
    );
    check!(
        seen.all("x-ptl-client-id").iter().all(|v| v.is_empty()),
        "client id {:?}",
        seen.all("x-ptl-client-id")
    );
    let mut d = c.me.draft(&c.t, "GET", "/peer/spoof", vec![]);
    d.set("x-ptl-client-id", "forged");
    d.resign(&c.me);
    let r = d.send(&c.t).await;
    check!(r.status == 200, "signed: {}", r.status);
    let Some(seen) = c.target_echo.last() else {
        return Outcome::Fail("nothing reached the app".into());
    };
    check!(
        seen.all("x-ptl-client-id") == vec![c.me.id.as_str().to_string()],
        "client id {:?}",
        seen.all("x-ptl-client-id")
    );
    Outcome::Pass
}

async fn paths_are_normalised_before_the_decision(c: &Ctx) -> Outcome {
    let r =
        c.t.gateway(Method::GET, "echo", "/pub/../private", &[], vec![])
            .await;
    check!(r.status == 401, "/pub/../private is /private: {}", r.status);
    let r =
        c.t.gateway(Method::GET, "echo", "/pub/%2e%2e/private", &[], vec![])
            .await;
    check!(
        r.status == 401,
        "/pub/%2e%2e/private is /private: {}",
        r.status
    );
    let r =
        c.t.gateway(Method::GET, "echo", "/pub%2F..%2Fprivate", &[], vec![])
            .await;
    check!(r.status == 400, "encoded slash: {}", r.status);
    let r =
        c.t.gateway(Method::GET, "echo", "//private", &[], vec![])
            .await;
    check!(r.status == 401, "//private is /private: {}", r.status);
    Outcome::Pass
}

async fn the_app_is_taken_from_the_token(c: &Ctx) -> Outcome {
    let (e, n) = (c.me.echo.count(), c.me.notes.count());
    let r =
        c.t.call_peer(
            "notes",
            &c.me.id,
            "/peer/n",
            &[("host", "echo.forged.example")],
            b"n".to_vec(),
        )
        .await;
    check!(r.status == 200, "notes call: {} {}", r.status, r.text());
    check!(
        c.me.notes.count() == n + 1 && c.me.echo.count() == e,
        "the call must reach the runner's notes app only"
    );
    Outcome::Pass
}

async fn peer_ids_in_call_peer_are_validated(c: &Ctx) -> Outcome {
    let before = c.me.echo.count() + c.me.notes.count();
    for bad in ["x@evil.example", "%25", c.me.id.short_id()] {
        let r = send(
            Method::GET,
            &format!("{}/internal/call_peer/{bad}/peer/x", c.t.internal),
            &[("authorization", &c.t.bearer_app())],
            vec![],
        )
        .await;
        check!(r.status == 422, "call_peer/{bad}: {}", r.status);
    }
    check!(
        c.me.echo.count() + c.me.notes.count() == before,
        "nothing may be sent"
    );
    Outcome::Pass
}

async fn altered_peer_answers_are_refused(c: &Ctx) -> Outcome {
    let proxy = match TamperProxy::start(c.me.gateway).await {
        Ok(p) => p,
        Err(e) => return Outcome::Fail(e),
    };
    let body =
        serde_json::json!({"id": c.me.id.as_str(), "address": format!("http://{}", proxy.addr)})
            .to_string();
    let r =
        c.t.internal_req(
            Method::PUT,
            "/protected/peers",
            &c.t.bearer_owner(),
            body.into_bytes(),
        )
        .await;
    check!(
        r.status == 200,
        "re-pointing the runner's address: {}",
        r.status
    );
    let r =
        c.t.call_peer("echo", &c.me.id, "/peer/mitm", &[], b"m".to_vec())
            .await;
    let restore =
        serde_json::json!({"id": c.me.id.as_str(), "address": c.me.gateway_url()}).to_string();
    let _ =
        c.t.internal_req(
            Method::PUT,
            "/protected/peers",
            &c.t.bearer_owner(),
            restore.into_bytes(),
        )
        .await;
    check!(
        r.status == 502,
        "an altered answer must not reach the app: {} {}",
        r.status,
        r.text()
    );
    check!(
        r.code() == "peer_response_unverified",
        "code {:?}",
        r.code()
    );
    Outcome::Pass
}

async fn forward_auth_access_matrix(c: &Ctx) -> Outcome {
    let probe = c.t.forward_auth("GET", "echo", "/pub/x", &[]).await;
    unimplemented_if_501!(probe, "/internal/auth");
    for (path, who, expect) in [
        ("/pub/x", "anonymous", 200),
        ("/pub/x", "owner", 200),
        ("/pub/x", "peer", 200),
        ("/private", "anonymous", 401),
        ("/private", "owner", 200),
        ("/private", "peer", 401),
        ("/peer/x", "anonymous", 401),
        ("/peer/x", "owner", 401),
        ("/peer/x", "peer", 200),
    ] {
        let owner = c.t.bearer_owner();
        let signed;
        let headers: Vec<(&str, &str)> = match who {
            "owner" => vec![("authorization", owner.as_str())],
            "peer" => {
                signed = c.me.draft(&c.t, "GET", path, vec![]).fields();
                signed
                    .iter()
                    .map(|(a, b)| (a.as_str(), b.as_str()))
                    .collect()
            }
            _ => vec![],
        };
        let r = c.t.forward_auth("GET", "echo", path, &headers).await;
        check!(
            r.status == expect,
            "{who} on {path}: {} (expected {expect})",
            r.status
        );
        if expect == 200 {
            let kind = if who == "owner" { "terminal" } else { who };
            check!(
                r.header("x-ptl-client-type").as_deref() == Some(kind),
                "{who} on {path}: X-Ptl-Client-Type {:?}",
                r.header("x-ptl-client-type")
            );
        }
    }
    let r = c.t.forward_auth("GET", "nope", "/", &[]).await;
    check!(r.status == 404, "unknown app: {}", r.status);
    Outcome::Pass
}

async fn deleting_a_peer(c: &Ctx) -> Outcome {
    let path = format!("/protected/peers/{}", c.me.id.as_str());
    let r =
        c.t.internal_req(Method::DELETE, &path, &c.t.bearer_owner(), vec![])
            .await;
    check!(r.status == 204, "DELETE: {}", r.status);
    let r =
        c.t.internal_req(Method::GET, &path, &c.t.bearer_owner(), vec![])
            .await;
    check!(r.status == 404, "after DELETE: {}", r.status);
    let r =
        c.t.internal_req(Method::DELETE, &path, &c.t.bearer_owner(), vec![])
            .await;
    check!(r.status == 404, "DELETE of an unknown peer: {}", r.status);
    Outcome::Pass
}
