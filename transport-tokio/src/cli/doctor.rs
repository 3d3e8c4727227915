//! `shardpeer doctor`: checks a shard's setup and says, for each check, ok / warn / fail with
//! a sentence. Exit 0 when nothing failed (warnings allowed), 1 when a check failed.
//!
//! Checks, in order: the config parses; every app's app_meta file loads (the file, line and
//! reason when not); every upstream accepts a TCP connection; the identity, the peers store
//! and the file permissions in the data directory (0700 directory, 0600 key and tokens);
//! whether a host runs and its internal API answers; the clock (not before this binary was
//! built, not absurdly far ahead, and within the signature skew of a peer's `Date`); DNS for
//! the shard's own domain and each `<app>.<domain>` (a warning, never a failure: a shard
//! reached by address works without it).
//!
//! Doctor changes nothing: it creates no data directory, key, token or lock file.

use super::output::Output;
use super::{CliError, Common, Context, EXIT_FAILED, EXIT_OK, Remote};
use crate::config::{self, DEFAULT_ZONE, Overrides};
use crate::peers::PeerStore;
use serde::Serialize;
use shardpeer_core::identity::Identity;
use std::fs::File;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `shardpeer doctor`.
#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: Common,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub remote: Remote,
}

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fine.
    Ok,
    /// Works, but worth a look.
    Warn,
    /// Broken.
    Fail,
}

/// One check's result.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked, e.g. `app_meta echo`.
    pub check: String,
    /// The verdict.
    pub status: Status,
    /// A sentence.
    pub message: String,
}

/// Earliest believable time: a clock before this is certainly wrong (2025-01-01).
const CLOCK_FLOOR: u64 = 1_735_689_600;
/// Latest believable time (2200-01-01): a clock past this is certainly wrong.
const CLOCK_CEILING: u64 = 7_258_118_400;
/// How long a connection attempt may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Default)]
struct Report(Vec<Check>);

impl Report {
    fn add(&mut self, check: impl Into<String>, status: Status, message: impl Into<String>) {
        self.0.push(Check {
            check: check.into(),
            status,
            message: message.into(),
        });
    }
}

/// Runs `doctor`.
pub fn run(args: DoctorArgs) -> ExitCode {
    let out = Output {
        json: args.common.json,
    };
    out.finish(super::block_on(doctor(args, out)).and_then(|r| r))
}

async fn doctor(args: DoctorArgs, out: Output) -> Result<u8, CliError> {
    let mut r = Report::default();
    // The config: parsed leniently first, so app_meta problems are reported one by one.
    let ctx = match Context::load(&args.common) {
        Ok(ctx) => {
            config_checks(&mut r, &ctx, &args.common);
            ctx
        }
        Err(e) => {
            r.add("config", Status::Fail, e.message);
            Context::load(&Common {
                config: None,
                ..args.common.clone()
            })?
        }
    };
    upstream_checks(&mut r, &ctx).await;
    let identity = data_dir_checks(&mut r, &ctx.data_dir);
    host_check(&mut r, &ctx, &args.remote, identity.as_ref()).await;
    clock_checks(&mut r, &ctx).await;
    dns_checks(&mut r, &ctx, identity.as_ref()).await;

    let failed = r.0.iter().filter(|c| c.status == Status::Fail).count();
    let warned = r.0.iter().filter(|c| c.status == Status::Warn).count();
    out.result(
        &serde_json::json!({"ok": failed == 0, "failed": failed, "warnings": warned, "checks": r.0}),
        || {
            let width = r.0.iter().map(|c| c.check.len()).max().unwrap_or(0);
            let mut s = String::new();
            for c in &r.0 {
                let tag = match c.status {
                    Status::Ok => "ok  ",
                    Status::Warn => "warn",
                    Status::Fail => "FAIL",
                };
                s.push_str(&format!("{tag}  {:width$}  {}\n", c.check, c.message));
            }
            s.push_str(&match (failed, warned) {
                (0, 0) => "all checks passed".to_string(),
                (0, w) => format!("no check failed; {w} warning(s)"),
                (f, w) => format!("{f} check(s) failed; {w} warning(s)"),
            });
            s
        },
    );
    Ok(if failed == 0 { EXIT_OK } else { EXIT_FAILED })
}

fn config_checks(r: &mut Report, ctx: &Context, common: &Common) {
    let Some(path) = &ctx.config_path else {
        r.add(
            "config",
            Status::Ok,
            "no config file: embedded defaults (give --config FILE to check one)",
        );
        return;
    };
    let mut meta_failed = Vec::new();
    for app in &ctx.file.apps {
        let meta = ctx.base.join(&app.meta);
        match config::load_meta(&meta) {
            Ok(m) => r.add(
                format!("app_meta {}", app.name),
                Status::Ok,
                format!(
                    "{} loads ({} path rule(s))",
                    meta.display(),
                    m.rules().count()
                ),
            ),
            Err(e) => {
                meta_failed.push(app.name.clone());
                r.add(format!("app_meta {}", app.name), Status::Fail, e);
            }
        }
    }
    let overrides = Overrides {
        data_dir: common.data_dir.clone(),
        ..Overrides::default()
    };
    match config::load(Some(path), &overrides) {
        Ok(c) => r.add(
            "config",
            Status::Ok,
            format!(
                "{} parses: zone {}, {} app(s), internal API on {}",
                path.display(),
                c.zone,
                c.apps.len(),
                c.internal_listen
            ),
        ),
        Err(config::ConfigError::App { app, .. }) if meta_failed.contains(&app) => r.add(
            "config",
            Status::Ok,
            format!(
                "{} parses (its app_meta problems are listed on their own)",
                path.display()
            ),
        ),
        Err(e) => r.add("config", Status::Fail, e.to_string()),
    }
    // "config" first in the report (these are its first checks).
    if let Some(i) = r.0.iter().rposition(|c| c.check == "config") {
        let c = r.0.remove(i);
        r.0.insert(0, c);
    }
}

async fn upstream_checks(r: &mut Report, ctx: &Context) {
    for app in &ctx.file.apps {
        let name = format!("upstream {}", app.name);
        let uri: http::Uri = match app.upstream.parse() {
            Ok(u) => u,
            Err(e) => {
                r.add(
                    name,
                    Status::Fail,
                    format!("{:?} is not a URL: {e}", app.upstream),
                );
                continue;
            }
        };
        let Some(host) = uri.host() else {
            r.add(
                name,
                Status::Fail,
                format!("{:?} has no host", app.upstream),
            );
            continue;
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(80);
        let target = format!("{host}:{port}");
        match tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect((host, port)))
            .await
        {
            Ok(Ok(_)) => r.add(
                name,
                Status::Ok,
                format!("accepts TCP connections at {target}"),
            ),
            Ok(Err(e)) => r.add(
                name,
                Status::Fail,
                format!("{target}: {e} (is the app running?)"),
            ),
            Err(_) => r.add(
                name,
                Status::Fail,
                format!("{target}: no answer within {} s", PROBE_TIMEOUT.as_secs()),
            ),
        }
    }
}

/// Permission, identity and store checks; returns the identity when it loads.
fn data_dir_checks(r: &mut Report, dir: &Path) -> Option<Identity> {
    let meta = match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => m,
        Ok(_) => {
            r.add(
                "data dir",
                Status::Fail,
                format!("{} is not a directory", dir.display()),
            );
            return None;
        }
        Err(e) => {
            r.add(
                "data dir",
                Status::Warn,
                format!(
                    "{}: {e} (`shardpeer serve` creates it on first start)",
                    dir.display()
                ),
            );
            return None;
        }
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        r.add(
            "data dir",
            Status::Warn,
            format!(
                "{} is mode {mode:04o}; 0700 keeps other users out (serve sets it at start; chmod 700 {})",
                dir.display(),
                dir.display()
            ),
        );
    } else {
        r.add(
            "data dir",
            Status::Ok,
            format!("{} is mode {mode:04o}", dir.display()),
        );
    }

    // Secrets: the key (and replaced keys kept by `identity import --force`) and tokens.
    let mut secrets: Vec<PathBuf> = vec![dir.join("identity.pem"), dir.join("owner.token")];
    for sub in [dir.to_path_buf(), dir.join("apps")] {
        if let Ok(rd) = std::fs::read_dir(&sub) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.starts_with("identity.pem.replaced-") || (sub != dir && n.ends_with(".token"))
                {
                    secrets.push(e.path());
                }
            }
        }
    }
    let mut open = Vec::new();
    let mut foreign = Vec::new();
    let mut seen = 0;
    for p in &secrets {
        let Ok(m) = std::fs::metadata(p) else {
            continue;
        };
        seen += 1;
        let mode = m.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            open.push(format!("{} ({mode:04o})", p.display()));
        }
        if m.uid() != meta.uid() {
            foreign.push(p.display().to_string());
        }
    }
    if !open.is_empty() {
        r.add(
            "secrets",
            Status::Fail,
            format!(
                "readable by other users: {}; chmod 600 them, and rotate the tokens",
                open.join(", ")
            ),
        );
    } else if !foreign.is_empty() {
        r.add(
            "secrets",
            Status::Warn,
            format!(
                "owned by another user than the data directory: {} (run the CLI as the service's user)",
                foreign.join(", ")
            ),
        );
    } else {
        r.add(
            "secrets",
            Status::Ok,
            format!("{seen} key and token file(s), all mode 0600"),
        );
    }

    let identity = match std::fs::read_to_string(dir.join("identity.pem")) {
        Ok(text) => match Identity::from_pkcs8_pem(&text) {
            Ok(i) => {
                r.add(
                    "identity",
                    Status::Ok,
                    format!("identity.pem holds {}", i.id()),
                );
                Some(i)
            }
            Err(e) => {
                r.add(
                    "identity",
                    Status::Fail,
                    format!(
                        "{}: not a valid Ed25519 PKCS#8 key: {e} \
                         (restore it with `shardpeer identity import`)",
                        dir.join("identity.pem").display()
                    ),
                );
                None
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            r.add(
                "identity",
                Status::Warn,
                "no identity yet (`shardpeer serve` creates one on first start)",
            );
            None
        }
        Err(e) => {
            r.add(
                "identity",
                Status::Fail,
                format!("{}: {e}", dir.join("identity.pem").display()),
            );
            None
        }
    };
    match PeerStore::load(dir.join("peers.json")) {
        Ok(s) => r.add(
            "peers store",
            Status::Ok,
            format!("{} peer(s)", s.snapshot().len()),
        ),
        Err(e) => r.add("peers store", Status::Fail, e.to_string()),
    }
    identity
}

/// Whether a host holds the data directory's lock, without taking it (a shared lock on a
/// read-only handle, released at once; nothing is created).
fn host_running(dir: &Path) -> Option<bool> {
    let f = File::open(dir.join(super::lock::LOCK_FILE)).ok()?;
    match f.try_lock_shared() {
        Ok(()) => Some(false),
        Err(std::fs::TryLockError::WouldBlock) => Some(true),
        Err(_) => None,
    }
}

async fn host_check(r: &mut Report, ctx: &Context, remote: &Remote, identity: Option<&Identity>) {
    let running = host_running(&ctx.data_dir);
    let record = super::lock::read_record(&ctx.data_dir.join(super::lock::LOCK_FILE));
    let url = remote
        .internal
        .clone()
        .or_else(|| record.as_ref().and_then(|r| r.internal.clone()));
    if running != Some(true) && remote.internal.is_none() {
        r.add("host", Status::Ok, "not running on this data directory");
        return;
    }
    let who = match (&record, running) {
        (Some(rec), Some(true)) => rec.describe(),
        _ => "the host".to_string(),
    };
    let Some(url) = url else {
        r.add(
            "host",
            Status::Warn,
            format!("{who} runs but has not recorded its internal address yet (starting?)"),
        );
        return;
    };
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let get = |path: &str| {
        let uri = format!("{}{path}", url.trim_end_matches('/'));
        let client = client.clone();
        async move {
            let uri: http::Uri = uri.parse().map_err(|e| format!("{e}"))?;
            let resp = tokio::time::timeout(PROBE_TIMEOUT, client.get(uri))
                .await
                .map_err(|_| "no answer within 3 s".to_string())?
                .map_err(|e| crate::client::error_chain(&e))?;
            let status = resp.status();
            let body = http_body_util::BodyExt::collect(resp.into_body())
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            Ok::<_, String>((status, body))
        }
    };
    match get("/public/meta/whoareyou").await {
        Ok((s, body)) if s.is_success() => {
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let id = v["id"].as_str().unwrap_or("");
            match identity {
                Some(i) if i.id().as_str() != id => r.add(
                    "host",
                    Status::Fail,
                    format!(
                        "{who}: the internal API at {url} answers as {id}, but identity.pem \
                         holds {} (restart it after an import?)",
                        i.id()
                    ),
                ),
                _ => {
                    let ready = match get("/readyz").await {
                        Ok((s, _)) if s.is_success() => ", ready",
                        Ok((s, _)) if s == http::StatusCode::NOT_FOUND => "",
                        Ok(_) => ", but /readyz says not ready",
                        Err(_) => "",
                    };
                    r.add(
                        "host",
                        if ready.contains("not") {
                            Status::Warn
                        } else {
                            Status::Ok
                        },
                        format!("{who} answers at {url}{ready}"),
                    );
                }
            }
        }
        Ok((s, _)) => r.add(
            "host",
            Status::Fail,
            format!("{who}: {url} answered {s} to whoareyou"),
        ),
        Err(e) => r.add(
            "host",
            Status::Fail,
            format!("{who}: the internal API at {url} does not answer: {e}"),
        ),
    }
}

async fn clock_checks(r: &mut Report, ctx: &Context) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let built = std::env::current_exe()
        .and_then(|p| p.metadata())
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs());
    let stamp = |t: u64| httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(t));
    if now < CLOCK_FLOOR {
        let msg = format!(
            "the system time {} is before 2025: set the clock (NTP); peers refuse \
             signatures off by more than {} s",
            stamp(now),
            shardpeer_core::profile::MAX_SKEW
        );
        r.add("clock", Status::Fail, msg);
        return;
    }
    if let Some(b) = built.filter(|b| now + 3600 < *b) {
        let msg = format!(
            "the system time {} is before this binary was written ({}): the clock is behind",
            stamp(now),
            stamp(b)
        );
        r.add("clock", Status::Fail, msg);
        return;
    }
    if now > CLOCK_CEILING {
        r.add(
            "clock",
            Status::Fail,
            format!("the system time {} is absurdly far ahead", stamp(now)),
        );
        return;
    }
    // A peer's Date: the best outside reference a shard has.
    let zone = ctx
        .file
        .zone
        .clone()
        .unwrap_or_else(|| DEFAULT_ZONE.to_string());
    let peers = PeerStore::load(ctx.data_dir.join("peers.json"))
        .map(|s| {
            s.snapshot()
                .iter()
                .filter(|p| p.address.is_some())
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    // Only peers with an address are probed, so the DNS settings do not matter here.
    let client = match crate::client::new_client(
        &crate::config::Limits {
            connect_timeout: PROBE_TIMEOUT,
            ..crate::config::Limits::default()
        },
        &crate::dns::DnsConfig::default(),
    ) {
        Ok(c) => c,
        Err(e) => {
            r.add(
                "clock",
                Status::Warn,
                format!("cannot build an HTTP client to compare clocks: {e}"),
            );
            return;
        }
    };
    let mut tried = Vec::new();
    for p in &peers {
        match peer_date(&client, p, &zone).await {
            Ok(date) => {
                let skew = now as i64 - date as i64;
                let max = shardpeer_core::profile::MAX_SKEW as i64;
                let (status, verdict) = if skew.abs() <= 5 {
                    (Status::Ok, "in step")
                } else if skew.abs() < max - 5 {
                    (Status::Warn, "drifting; signatures tolerate ±60 s")
                } else {
                    (
                        Status::Fail,
                        "peers will refuse this shard's signatures (or it theirs)",
                    )
                };
                r.add(
                    "clock",
                    status,
                    format!(
                        "{}; {skew:+} s against {} ({}): {verdict}",
                        stamp(now),
                        p.name,
                        p.id.get(..6).unwrap_or("")
                    ),
                );
                return;
            }
            Err(e) => tried.push(format!("{}: {e}", p.name)),
        }
    }
    let why = if peers.is_empty() {
        "no peer with an address to compare with".to_string()
    } else {
        format!("no peer answered ({})", tried.join("; "))
    };
    r.add(
        "clock",
        Status::Ok,
        format!(
            "{}: after this binary's build and plausible; {why}",
            stamp(now)
        ),
    );
}

/// A peer's HTTP `Date` on its whoareyou, as Unix seconds.
async fn peer_date(
    client: &crate::client::HttpClient,
    peer: &crate::peers::Peer,
    zone: &str,
) -> Result<u64, String> {
    let target = crate::client::Target::of(peer, zone, 443).map_err(|e| e.message)?;
    let uri = target
        .uri("/core/public/meta/whoareyou")
        .map_err(|e| e.message)?;
    let req = http::Request::builder()
        .uri(uri)
        .header(http::header::HOST, &target.domain)
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .map_err(|e| e.to_string())?;
    let (parts, _) = crate::client::send(client, req, PROBE_TIMEOUT, 64 * 1024)
        .await
        .map_err(|e| e.to_string())?;
    let date = parts
        .headers
        .get(http::header::DATE)
        .and_then(|v| v.to_str().ok())
        .ok_or("no Date header")?;
    httpdate::parse_http_date(date)
        .map_err(|e| format!("Date {date:?}: {e}"))?
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|e| e.to_string())
}

async fn dns_checks(r: &mut Report, ctx: &Context, identity: Option<&Identity>) {
    let Some(identity) = identity else {
        r.add(
            "dns",
            Status::Warn,
            "no identity yet, so no domain to resolve",
        );
        return;
    };
    let zone = ctx
        .file
        .zone
        .clone()
        .unwrap_or_else(|| DEFAULT_ZONE.to_string());
    let zone = zone.trim_end_matches('.').to_ascii_lowercase();
    let domain = format!("{}.{zone}", identity.id().short_id());
    let mut names = vec![domain.clone()];
    names.extend(ctx.file.apps.iter().map(|a| format!("{}.{domain}", a.name)));
    for name in names {
        let check = format!("dns {name}");
        match tokio::time::timeout(PROBE_TIMEOUT, tokio::net::lookup_host((name.as_str(), 443)))
            .await
        {
            Ok(Ok(addrs)) => {
                let mut ips: Vec<String> = addrs.map(|a| a.ip().to_string()).collect();
                ips.sort();
                ips.dedup();
                let only_loopback = ips.iter().all(|ip| {
                    ip.parse::<std::net::IpAddr>()
                        .is_ok_and(|i| i.is_loopback())
                });
                if only_loopback && zone != "localhost" {
                    let msg = format!(
                        "resolves to loopback only ({}): other shards cannot reach it by name",
                        ips.join(", ")
                    );
                    r.add(check, Status::Warn, msg);
                } else {
                    r.add(check, Status::Ok, format!("resolves to {}", ips.join(", ")));
                }
            }
            Ok(Err(e)) => {
                let msg = format!(
                    "does not resolve ({e}): peers that have no address for this shard \
                     cannot reach it"
                );
                r.add(check, Status::Warn, msg)
            }
            Err(_) => r.add(
                check,
                Status::Warn,
                format!("no DNS answer within {} s", PROBE_TIMEOUT.as_secs()),
            ),
        }
    }
}
