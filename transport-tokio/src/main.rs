//! `shardpeer`: run a shard host, print its ID, and operate it (peers, tokens, identity
//! backups, doctor: [`shardpeer_tokio::cli`]).
// The doc comments below are clap help texts, printed as written: `<short id>` is meant
// literally, not as HTML.
#![allow(rustdoc::invalid_html_tags)]

use clap::{Parser, Subcommand};
use shardpeer_tokio::cli;
use shardpeer_tokio::config::{self, Overrides};
use shardpeer_tokio::datadir::DataDir;
use shardpeer_tokio::server::{self, Role};
use shardpeer_tokio::state::Shard;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Shard peering host: lets apps on this shard talk, signed and verified, to the same app on
/// a friend's shard.
#[derive(Parser, Debug)]
#[command(
    name = "shardpeer",
    version,
    about,
    after_help = shardpeer_tokio::cli::EXIT_CODES_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the shard host (gateway and internal API).
    Serve {
        /// TOML config file (see README); flags override it.
        #[arg(long, env = "SHARDPEER_CONFIG")]
        config: Option<PathBuf>,
        /// Data directory: identity, peers, credentials [default: ./shardpeer-data].
        #[arg(long, env = "SHARDPEER_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// The owner's display name [default: "Shard <short id>"].
        #[arg(long)]
        name: Option<String>,
        /// Zone: the shard's domain is <short id>.<zone> [default: localhost].
        #[arg(long)]
        zone: Option<String>,
        /// Gateway address (plain HTTP) [default: 127.0.0.1:8443].
        #[arg(long)]
        public_listen: Option<SocketAddr>,
        /// Internal API address, for this shard's apps and owner only [default: 127.0.0.1:8480].
        #[arg(long)]
        internal_listen: Option<SocketAddr>,
        /// Gateway over TLS 1.3: peers are pinned to their keys [default: none].
        #[arg(long)]
        tls_listen: Option<SocketAddr>,
        /// Log JSON lines instead of human-readable text.
        #[arg(long)]
        log_json: bool,
    },
    /// Print this shard's full ID (creating the identity if there is none yet).
    Id {
        /// Data directory [default: ./shardpeer-data].
        #[arg(long, env = "SHARDPEER_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
    /// List, add or remove peers (through the running host, or in the store when stopped).
    #[command(subcommand)]
    Peers(cli::peers::PeersCommand),
    /// Rotate the owner's or an app's bearer token.
    #[command(subcommand)]
    Token(cli::token::TokenCommand),
    /// Back up or restore the shard's key (encrypted under a passphrase).
    #[command(subcommand)]
    Identity(cli::identity::IdentityCommand),
    /// Check the config, app_meta files, upstreams, data directory, clock and DNS.
    Doctor(cli::doctor::DoctorArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Peers(c) => cli::peers::run(c),
        Command::Token(c) => cli::token::run(c),
        Command::Identity(c) => cli::identity::run(c),
        Command::Doctor(a) => cli::doctor::run(a),
        Command::Id { data_dir } => {
            let dir = data_dir.unwrap_or_else(|| PathBuf::from("shardpeer-data"));
            match DataDir::open(&dir).and_then(|d| d.identity()) {
                Ok(id) => {
                    println!("{}", id.id());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("shardpeer: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Serve {
            config,
            data_dir,
            name,
            zone,
            public_listen,
            internal_listen,
            tls_listen,
            log_json,
        } => {
            let overrides = Overrides {
                data_dir,
                name,
                zone,
                public_listen,
                internal_listen,
                tls_listen,
                log_json,
            };
            let cfg = match config::load(config.as_deref(), &overrides) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("shardpeer: {e}");
                    return ExitCode::from(2);
                }
            };
            init_logs(cfg.log_json);
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("shardpeer: cannot start the runtime: {e}");
                    return ExitCode::from(1);
                }
            };
            match rt.block_on(serve(cfg, config, overrides)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("shardpeer: {e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

fn init_logs(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SHARDPEER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn serve(
    cfg: config::Config,
    config_path: Option<PathBuf>,
    overrides: Overrides,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // One process per data directory, for the whole run: a second `serve` is refused, and
    // the CLI goes through this host's API instead of editing files under it.
    let mut lock = cli::lock::DataLock::acquire_for_serve(&cfg.data_dir)?;
    // Identity and credentials are on disk before any listener accepts a connection.
    let shard = Arc::new(Shard::open(&cfg)?);
    let public = tokio::net::TcpListener::bind(cfg.public_listen)
        .await
        .map_err(|e| {
            format!(
                "cannot listen on {} (public_listen): {e}",
                cfg.public_listen
            )
        })?;
    let internal = tokio::net::TcpListener::bind(cfg.internal_listen)
        .await
        .map_err(|e| {
            format!(
                "cannot listen on {} (internal_listen): {e}",
                cfg.internal_listen
            )
        })?;
    let tls = match cfg.tls_listen {
        None => None,
        Some(addr) => {
            let identity =
                shardpeer_tokio::tls::identity_certificate(&shard.identity, &shard.domain)?;
            let owner = match &cfg.owner_tls {
                Some((cert, key)) => Some(shardpeer_tokio::tls::owner_certificate(
                    &cert.display().to_string(),
                    &key.display().to_string(),
                )?),
                None => None,
            };
            let config = shardpeer_tokio::tls::server_config(identity, owner)?;
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("cannot listen on {addr} (tls_listen): {e}"))?;
            Some((
                listener,
                tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)),
            ))
        }
    };
    let public_addr = public.local_addr()?;
    let internal_addr = internal.local_addr()?;
    lock.record_internal(internal_addr)?;
    println!("shardpeer {}", env!("CARGO_PKG_VERSION"));
    println!("id:          {}", shard.id);
    println!("short id:    {}", shard.id.short_id());
    println!("name:        {}", shard.name);
    println!("domain:      {}", shard.domain);
    println!("gateway:     http://{public_addr}");
    println!("internal:    http://{internal_addr}");
    if let Some((l, _)) = &tls {
        println!("gateway tls: https://{}", l.local_addr()?);
    }
    println!("data dir:    {}", shard.data.root().display());
    println!("owner token: {}", shard.data.owner_token_path().display());
    for app in shard.apps().values() {
        println!(
            "app:         {} -> {} (token {})",
            app.name,
            app.upstream,
            shard.data.app_token_path(&app.name).display()
        );
    }
    println!("ready");
    tracing::info!(id = %shard.id, %public_addr, %internal_addr, "serving");
    if let Ok(mut l) = shard.listeners.lock() {
        l.0 = if tls.is_some() {
            vec!["public", "internal", "tls"]
        } else {
            vec!["public", "internal"]
        };
    }
    tokio::spawn(shardpeer_tokio::refresh::run(
        shard.clone(),
        cfg.peer_refresh,
    ));
    tokio::spawn(shardpeer_tokio::reload::on_sighup(
        shard.clone(),
        config_path,
        overrides,
    ));
    let (tx, rx) = tokio::sync::watch::channel(false);
    let a = tokio::spawn(server::serve(
        public,
        shard.clone(),
        Role::Public,
        rx.clone(),
    ));
    let b = tokio::spawn(server::serve(
        internal,
        shard.clone(),
        Role::Internal,
        rx.clone(),
    ));
    let c = tls.map(|(listener, acceptor)| {
        tokio::spawn(server::serve_with(
            listener,
            shard.clone(),
            Role::Public,
            Some(acceptor),
            rx,
        ))
    });
    server::shutdown_signal().await;
    tracing::info!("shutting down");
    let _ = tx.send(true);
    let _ = a.await;
    let _ = b.await;
    if let Some(c) = c {
        let _ = c.await;
    }
    Ok(())
}
