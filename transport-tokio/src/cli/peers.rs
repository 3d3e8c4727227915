//! `shardpeer peers list | add ID [--name N] [--address URL] | remove ID`.
//!
//! Through the running host's internal API when it runs (so it fetches and pins the new
//! peer's key at once), or in `peers.json` under the data directory's lock when it does not
//! (the host pins the key when it first reaches the peer). Writes name the full ID only and
//! are validated exactly as `PUT /protected/peers` validates them.

use super::output::Output;
use super::{CliError, Common, Context, EXIT_OK, Host, Remote};
use crate::internal::peer_json;
use crate::peers::{PeerStore, StoreError};
use http::Method;
use shardpeer_core::id::ShardId;
use std::process::ExitCode;

/// `shardpeer peers …`.
#[derive(Debug, clap::Subcommand)]
pub enum PeersCommand {
    /// List this shard's peers.
    List {
        #[command(flatten)]
        #[allow(missing_docs)]
        common: Common,
        #[command(flatten)]
        #[allow(missing_docs)]
        remote: Remote,
    },
    /// Add a peer by its full ID, or change the name or address of one.
    Add {
        /// The peer's full ID (48 characters; a short ID or prefix is refused).
        id: String,
        /// Your name for the peer (what your apps see) [default: its short ID].
        #[arg(long)]
        name: Option<String>,
        /// The peer's base URL, e.g. https://203.0.113.7:8444 [default: DNS, SHORTID.ZONE].
        #[arg(long, value_name = "URL")]
        address: Option<String>,
        #[command(flatten)]
        #[allow(missing_docs)]
        common: Common,
        #[command(flatten)]
        #[allow(missing_docs)]
        remote: Remote,
    },
    /// Remove a peer (full ID only).
    Remove {
        /// The peer's full ID.
        id: String,
        #[command(flatten)]
        #[allow(missing_docs)]
        common: Common,
        #[command(flatten)]
        #[allow(missing_docs)]
        remote: Remote,
    },
}

/// Runs a `peers` command.
pub fn run(cmd: PeersCommand) -> ExitCode {
    let (PeersCommand::List { common, .. }
    | PeersCommand::Add { common, .. }
    | PeersCommand::Remove { common, .. }) = &cmd;
    let out = Output { json: common.json };
    out.finish(super::block_on(execute(cmd, out)).and_then(|r| r))
}

async fn execute(cmd: PeersCommand, out: Output) -> Result<u8, CliError> {
    match cmd {
        PeersCommand::List { common, remote } => {
            let ctx = Context::load(&common)?;
            list(&ctx, &remote, out).await
        }
        PeersCommand::Add {
            id,
            name,
            address,
            common,
            remote,
        } => {
            let ctx = Context::load(&common)?;
            add(&ctx, &remote, out, &id, name, address).await
        }
        PeersCommand::Remove { id, common, remote } => {
            let ctx = Context::load(&common)?;
            remove(&ctx, &remote, out, &id).await
        }
    }
}

fn store_error(e: StoreError) -> CliError {
    match e {
        StoreError::NotFound => CliError::failed("unknown_peer", "not one of this shard's peers"),
        other => CliError::failed("store_error", other.to_string()),
    }
}

fn load_store(data: &crate::datadir::DataDir) -> Result<PeerStore, CliError> {
    PeerStore::load(data.peers_path()).map_err(store_error)
}

async fn list(ctx: &Context, remote: &Remote, out: Output) -> Result<u8, CliError> {
    let host = Host::open(ctx, remote)?;
    let (peers, via) = match &host {
        Host::Running(api) => {
            let (_, v) = api.call(Method::GET, "/protected/peers", None).await?;
            (v.as_array().cloned().unwrap_or_default(), "host")
        }
        Host::Stopped { data, .. } => {
            let store = load_store(data)?;
            let snap = store.snapshot();
            (snap.iter().map(peer_json).collect(), "store")
        }
    };
    out.result(
        &serde_json::json!({"ok": true, "via": via, "peers": peers}),
        || human_list(&peers),
    );
    Ok(EXIT_OK)
}

fn human_list(peers: &[serde_json::Value]) -> String {
    if peers.is_empty() {
        return "no peers".to_string();
    }
    let mut s = String::new();
    for p in peers {
        let text = |k: &str| p[k].as_str().unwrap_or("").to_string();
        let mut state = vec![if p["is_reachable"] == true {
            "reachable"
        } else {
            "not reached"
        }];
        if p["has_added_us"] == true {
            state.push("has added you");
        }
        if p["public_key_pem"].is_null() {
            state.push("key not pinned yet");
        }
        let self_name = match p["self_name"].as_str() {
            Some(n) if n != text("name") => format!(" (calls itself {n:?})"),
            _ => String::new(),
        };
        let address = p["address"]
            .as_str()
            .map(|a| format!("  {a}"))
            .unwrap_or_default();
        s.push_str(&format!(
            "{}  {}{self_name}  [{}]{address}\n        {}\n",
            text("short_id"),
            text("name"),
            state.join(", "),
            text("id"),
        ));
    }
    s
}

/// Checks an ID, name and address as `PUT /protected/peers` does; `own` is this shard's ID
/// when known.
pub fn validate(
    id: &str,
    name: Option<&str>,
    address: Option<&str>,
    own: Option<&ShardId>,
) -> Result<ShardId, CliError> {
    let id = parse_full_id(id)?;
    crate::peers::check_write(&id, own, name, address)
        .map_err(|(code, message)| CliError::usage(code, message))?;
    Ok(id)
}

/// A full shard ID, or a usage error that says why not (a prefix is never enough to write).
pub fn parse_full_id(id: &str) -> Result<ShardId, CliError> {
    ShardId::parse(id).map_err(|e| {
        CliError::usage(
            "invalid_id",
            format!("{id:?} is not a full shard ID ({e}); writes need all 48 characters"),
        )
    })
}

async fn add(
    ctx: &Context,
    remote: &Remote,
    out: Output,
    id: &str,
    name: Option<String>,
    address: Option<String>,
) -> Result<u8, CliError> {
    let host = Host::open(ctx, remote)?;
    let own = match &host {
        Host::Stopped { data, .. } => data
            .existing_identity()
            .map_err(|e| CliError::failed("identity", e.to_string()))?
            .map(|i| i.id()),
        Host::Running(_) => None,
    };
    let id = validate(id, name.as_deref(), address.as_deref(), own.as_ref())?;
    let (created, peer, via) = match &host {
        Host::Running(api) => {
            let mut body = serde_json::json!({"id": id.as_str()});
            if let Some(n) = &name {
                body["name"] = n.clone().into();
            }
            if let Some(a) = &address {
                body["address"] = a.clone().into();
            }
            let (status, v) = api
                .call(Method::PUT, "/protected/peers", Some(&body))
                .await?;
            (status == http::StatusCode::CREATED, v, "host")
        }
        Host::Stopped { data, .. } => {
            let store = load_store(data)?;
            let (created, peer) = store
                .upsert(&id, name, address)
                .await
                .map_err(store_error)?;
            (created, peer_json(&peer), "store")
        }
    };
    let verb = if created { "added" } else { "updated" };
    out.result(
        &serde_json::json!({"ok": true, "via": via, "created": created, "peer": peer}),
        || {
            let name = peer["name"].as_str().unwrap_or("");
            let what = match (via, peer["is_reachable"] == true) {
                ("host", true) => "reachable; its key is pinned".to_string(),
                ("host", false) => {
                    "not reachable yet; the host pins its key when it first reaches it".to_string()
                }
                _ => "written to the stopped host's peers.json; the host pins its key when it first reaches it".to_string(),
            };
            format!("{verb} {name} ({}): {what}\n{}", id.short_id(), id.as_str())
        },
    );
    Ok(EXIT_OK)
}

async fn remove(ctx: &Context, remote: &Remote, out: Output, id: &str) -> Result<u8, CliError> {
    let id = parse_full_id(id)?;
    let host = Host::open(ctx, remote)?;
    let via = match &host {
        Host::Running(api) => {
            api.call(Method::DELETE, &format!("/protected/peers/{id}"), None)
                .await?;
            "host"
        }
        Host::Stopped { data, .. } => {
            let store = load_store(data)?;
            let key = id.as_str().to_string();
            store
                .modify(|m| m.remove(&key).map(|_| ()).ok_or(StoreError::NotFound))
                .await
                .map_err(store_error)?;
            "store"
        }
    };
    out.result(
        &serde_json::json!({"ok": true, "via": via, "removed": id.as_str()}),
        || format!("removed {} ({})", id.short_id(), id.as_str()),
    );
    Ok(EXIT_OK)
}
