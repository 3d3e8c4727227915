//! The black-box runner against our own host (in process here; `.ci/run` also runs it against
//! the `shardpeer serve` binary), and a negative control: a misconfigured run must fail.

use shardpeer_conformance::runner::{RunArgs, run_async};
use shardpeer_tokio::config::{App, Config, HostAppMeta};
use shardpeer_tokio::server::{self, Role};
use shardpeer_tokio::state::Shard;
use std::net::SocketAddr;
use std::sync::Arc;

struct TargetHost {
    shard: Arc<Shard>,
    public: SocketAddr,
    internal: SocketAddr,
    echo: SocketAddr,
    notes: SocketAddr,
    _stop: tokio::sync::watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

async fn target() -> TargetHost {
    let dir = tempfile::tempdir().unwrap();
    let (echo, notes) = (free_port(), free_port());
    let base = concat!(env!("CARGO_MANIFEST_DIR"), "/target/apps");
    let app = |name: &str, upstream: SocketAddr| {
        let path = std::path::PathBuf::from(format!("{base}/{name}/app_meta.json"));
        let meta = HostAppMeta::parse(&std::fs::read(&path).unwrap()).unwrap();
        App {
            name: name.into(),
            upstream: format!("http://{upstream}").parse().unwrap(),
            meta: Box::new(meta),
            meta_path: path,
        }
    };
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let config = Config {
        name: Some("Conformance Target".into()),
        zone: "target.test".into(),
        apps: vec![app("echo", echo), app("notes", notes)],
        ..Config::for_data_dir(dir.path().join("data"))
    };
    let shard = Arc::new(Shard::open(&config).unwrap());
    let p = tokio::net::TcpListener::bind(loopback).await.unwrap();
    let i = tokio::net::TcpListener::bind(loopback).await.unwrap();
    let (public, internal) = (p.local_addr().unwrap(), i.local_addr().unwrap());
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(server::serve(p, shard.clone(), Role::Public, rx.clone()));
    tokio::spawn(server::serve(i, shard.clone(), Role::Internal, rx));
    TargetHost {
        shard,
        public,
        internal,
        echo,
        notes,
        _stop: tx,
        _dir: dir,
    }
}

fn args(t: &TargetHost, owner: String) -> RunArgs {
    let apps = t.shard.apps();
    RunArgs {
        internal: format!("http://{}", t.internal),
        public: format!("http://{}", t.public),
        owner_token: owner,
        app_tokens: vec![
            ("echo".into(), apps["echo"].token.clone()),
            ("notes".into(), apps["notes"].token.clone()),
        ],
        echoes: vec![
            ("echo".into(), t.echo.to_string()),
            ("notes".into(), t.notes.to_string()),
        ],
        only: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_host_passes_every_scenario() {
    let t = target().await;
    let owner = t.shard.owner_token.read().unwrap().clone();
    let report = run_async(&args(&t, owner)).await.unwrap();
    assert_eq!(report.failed, 0, "{}", report.closing_line());
    assert_eq!(report.skipped, 0, "{}", report.closing_line());
    assert!(report.passed >= 19, "{}", report.closing_line());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_owner_token_makes_scenarios_fail() {
    let t = target().await;
    let report = run_async(&args(&t, "wrong".into())).await.unwrap();
    assert!(
        report.failed > 0,
        "the runner must be able to fail: {}",
        report.closing_line()
    );
}
