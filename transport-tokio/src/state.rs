//! Everything a request handler needs, built once at start.

use crate::client::HttpClient;
use crate::config::{Config, HostAppMeta, Limits};
use crate::datadir::{DataDir, token_eq};
use crate::peers::PeerStore;
use crate::replay::SharedReplay;
use shardpeer_core::id::ShardId;
use shardpeer_core::identity::Identity;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

/// One app on this shard.
#[derive(Debug)]
pub struct AppState {
    /// Name.
    pub name: String,
    /// Upstream base.
    pub upstream: http::Uri,
    /// Access rules.
    pub meta: Box<HostAppMeta>,
    /// Its bearer token on the internal API.
    pub token: String,
}

/// Where a gateway request goes.
#[derive(Debug, Clone)]
pub enum Route {
    /// An app of this shard.
    App(Arc<AppState>),
    /// The shard's own domain (`/core/…`).
    Core,
    /// Not a host of this shard.
    Unknown,
}

/// Who is calling the internal API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The owner.
    Owner,
    /// An app, by name.
    App(String),
}

/// The shard.
#[derive(Debug)]
pub struct Shard {
    /// Signing identity.
    pub identity: Identity,
    /// Full ID.
    pub id: ShardId,
    /// Owner's display name.
    pub name: String,
    /// Zone.
    pub zone: String,
    /// This shard's domain, `<short_id>.<zone>`.
    pub domain: String,
    /// Public key PEM (for whoareyou and templates).
    pub public_key_pem: String,
    /// Apps by name.
    pub apps: RwLock<Arc<BTreeMap<String, Arc<AppState>>>>,
    /// The owner's token.
    pub owner_token: RwLock<String>,
    /// Peers.
    pub peers: PeerStore,
    /// Nonces seen.
    pub replay: SharedReplay,
    /// Limits.
    pub limits: Limits,
    /// Outbound HTTP.
    pub client: HttpClient,
    /// Data directory.
    pub data: DataDir,
    /// Port peers without an address are reached on.
    pub peer_port: u16,
    /// Prometheus metrics.
    pub metrics: crate::metrics::Metrics,
    /// Failed signature verifications per source address.
    pub verify_failures: crate::ratelimit::Limiter<std::net::IpAddr>,
    /// call_peer per app.
    pub call_peer_rate: crate::ratelimit::Limiter<String>,
    /// Listeners expected to be up (set by `serve`), and those up.
    pub listeners: std::sync::Mutex<(Vec<&'static str>, Vec<&'static str>)>,
    /// Peers whose contact record `call_peer` is writing now: one write per peer at a time,
    /// so a burst of calls when the record falls due does not queue a store write each.
    pub contact_writes: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// Replay cache capacity on hosts.
pub const REPLAY_CAPACITY: usize = 8_000_000;

impl Shard {
    /// Builds the shard from its configuration: identity, credentials (written before any
    /// listener accepts), peers.
    pub fn open(config: &Config) -> Result<Shard, Box<dyn std::error::Error + Send + Sync>> {
        let data = DataDir::open(&config.data_dir)?;
        let identity = data.identity()?;
        let id = identity.id();
        let owner_token = data.token(&data.owner_token_path())?;
        let mut apps = BTreeMap::new();
        for a in &config.apps {
            let token = data.token(&data.app_token_path(&a.name))?;
            let meta = Box::new((*a.meta).clone());
            apps.insert(
                a.name.clone(),
                Arc::new(AppState {
                    name: a.name.clone(),
                    upstream: a.upstream.clone(),
                    meta,
                    token,
                }),
            );
        }
        let peers = PeerStore::load(data.peers_path())?;
        let domain = format!("{}.{}", id.short_id(), config.zone);
        let name = config
            .name
            .clone()
            .unwrap_or_else(|| format!("Shard {}", id.short_id()));
        Ok(Shard {
            public_key_pem: identity.public_key().to_pem().to_string(),
            identity,
            id,
            name,
            zone: config.zone.clone(),
            domain,
            apps: RwLock::new(Arc::new(apps)),
            owner_token: RwLock::new(owner_token),
            peers,
            replay: SharedReplay::with_journal(
                REPLAY_CAPACITY,
                &data.root().join("replay"),
                crate::peers::unix_now(),
            )?,
            limits: config.limits,
            metrics: crate::metrics::Metrics::new(),
            verify_failures: crate::ratelimit::Limiter::new(
                f64::from(config.limits.verify_failures_per_minute) / 60.0,
                f64::from(config.limits.verify_failures_per_minute),
            ),
            call_peer_rate: crate::ratelimit::Limiter::new(
                f64::from(config.limits.call_peer_per_second),
                f64::from(config.limits.call_peer_per_second) * 2.0,
            ),
            listeners: std::sync::Mutex::new((Vec::new(), Vec::new())),
            contact_writes: std::sync::Mutex::new(std::collections::HashSet::new()),
            client: crate::client::new_client(&config.limits, &config.dns)?,
            peer_port: config.dns.peer_port,
            data,
        })
    }

    /// The apps now.
    pub fn apps(&self) -> Arc<BTreeMap<String, Arc<AppState>>> {
        match self.apps.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Replaces the owner's token (rotation, [`crate::tokens`]): the old one stops working now.
    pub fn set_owner_token(&self, token: String) {
        match self.owner_token.write() {
            Ok(mut g) => *g = token,
            Err(p) => *p.into_inner() = token,
        }
    }

    /// Replaces an app's token (rotation, [`crate::tokens`]); `false` if there is no such app.
    pub fn set_app_token(&self, app: &str, token: String) -> bool {
        let mut guard = match self.apps.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let Some(old) = guard.get(app) else {
            return false;
        };
        let new = AppState {
            name: old.name.clone(),
            upstream: old.upstream.clone(),
            meta: old.meta.clone(),
            token,
        };
        let mut map = (**guard).clone();
        map.insert(app.to_string(), Arc::new(new));
        *guard = Arc::new(map);
        true
    }

    /// Whether `token` is the owner's.
    pub fn is_owner_token(&self, token: &str) -> bool {
        match self.owner_token.read() {
            Ok(g) => token_eq(&g, token),
            Err(p) => token_eq(&p.into_inner(), token),
        }
    }

    /// Who holds `token`.
    pub fn caller(&self, token: &str) -> Option<Caller> {
        if self.is_owner_token(token) {
            return Some(Caller::Owner);
        }
        self.apps()
            .values()
            .find(|a| token_eq(&a.token, token))
            .map(|a| Caller::App(a.name.clone()))
    }

    /// What a gateway host name addresses: `<app>.<domain>`, the shard's own domain, or
    /// nothing of ours.
    pub fn route_host(&self, host: &str) -> Route {
        let host = strip_port(host).trim_end_matches('.').to_ascii_lowercase();
        if host == self.domain {
            return Route::Core;
        }
        let app = host
            .strip_suffix(&self.domain)
            .and_then(|p| p.strip_suffix('.'));
        match app.and_then(|a| self.apps().get(a).cloned()) {
            Some(a) => Route::App(a),
            None => Route::Unknown,
        }
    }

    /// The signed whoareyou JSON document.
    pub fn whoareyou_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id.as_str(),
            "short_id": self.id.short_id(),
            "name": self.name,
            "domain": self.domain,
            "public_key_pem": self.public_key_pem,
        })
    }
}

/// The host part of an authority (`[::1]:80` → `[::1]`).
pub fn strip_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority
            .split_once(']')
            .map_or(authority, |(h, _)| &authority[..=h.len()]);
    }
    authority.rsplit_once(':').map_or(authority, |(h, p)| {
        if p.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            authority
        }
    })
}

#[cfg(test)]
mod tests {
    use super::strip_port;

    #[test]
    fn ports() {
        assert_eq!(strip_port("a.b:8443"), "a.b");
        assert_eq!(strip_port("a.b"), "a.b");
        assert_eq!(strip_port("[::1]:80"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
    }
}
