//! Prometheus metrics, served at `GET /metrics` on the internal listener.
//!
//! - `shardpeer_requests_total{listener, route, status}` — every answered request;
//! - `shardpeer_verify_failures_total{code}` — refused peer signatures by error code;
//! - `shardpeer_call_peer_seconds` — call_peer latency (histogram), and
//!   `shardpeer_call_peer_total{outcome}`;
//! - `shardpeer_rate_limited_total{limit}` — requests answered 429;
//! - `shardpeer_peers`, `shardpeer_peers_reachable` — the peers list at scrape time;
//! - `shardpeer_nonce_cache_entries` — live entries in the replay cache at scrape time.
//!
//! Labels never carry IDs, paths or addresses, so the number of series stays bounded.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

/// The label of `shardpeer_connections_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct ListenerLabel {
    listener: &'static str,
}

/// The labels of `shardpeer_requests_total`, counted on every request: borrowed names and a
/// number, so counting allocates nothing.
#[derive(Debug, Clone, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct RequestLabels {
    listener: &'static str,
    route: &'static str,
    status: u16,
}

/// The host's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    connections: Family<ListenerLabel, Counter>,
    verify_failures: Family<Labels, Counter>,
    call_peer: Family<Labels, Counter>,
    call_peer_seconds: Histogram,
    rate_limited: Family<Labels, Counter>,
    peers: Gauge,
    peers_reachable: Gauge,
    nonce_entries: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("shardpeer");
        let requests = Family::<RequestLabels, Counter>::default();
        let connections = Family::<ListenerLabel, Counter>::default();
        let verify_failures = Family::<Labels, Counter>::default();
        let call_peer = Family::<Labels, Counter>::default();
        // 1 ms .. ~33 s.
        let call_peer_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        let rate_limited = Family::<Labels, Counter>::default();
        let (peers, peers_reachable, nonce_entries) =
            (Gauge::default(), Gauge::default(), Gauge::default());
        registry.register(
            "requests",
            "Requests answered, by listener, route and status",
            requests.clone(),
        );
        registry.register(
            "connections",
            "Connections accepted, by listener (with requests_total: how well peers' keep-alive pools reuse them)",
            connections.clone(),
        );
        registry.register(
            "verify_failures",
            "Peer signatures refused, by error code",
            verify_failures.clone(),
        );
        registry.register("call_peer", "call_peer outcomes", call_peer.clone());
        registry.register(
            "call_peer_seconds",
            "call_peer latency in seconds",
            call_peer_seconds.clone(),
        );
        registry.register(
            "rate_limited",
            "Requests answered 429, by limit",
            rate_limited.clone(),
        );
        registry.register("peers", "Peers in the peers list", peers.clone());
        registry.register(
            "peers_reachable",
            "Peers whose last contact succeeded",
            peers_reachable.clone(),
        );
        registry.register(
            "nonce_cache_entries",
            "Entries in the replay cache",
            nonce_entries.clone(),
        );
        Metrics {
            registry,
            requests,
            connections,
            verify_failures,
            call_peer,
            call_peer_seconds,
            rate_limited,
            peers,
            peers_reachable,
            nonce_entries,
        }
    }

    /// One answered request.
    pub fn request(&self, listener: &'static str, route: &'static str, status: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                listener,
                route,
                status,
            })
            .inc();
    }

    /// One accepted connection.
    pub fn connection(&self, listener: &'static str) {
        self.connections
            .get_or_create(&ListenerLabel { listener })
            .inc();
    }

    /// One refused peer signature.
    pub fn verify_failure(&self, code: &'static str) {
        self.verify_failures
            .get_or_create(&vec![("code", code.to_string())])
            .inc();
    }

    /// One call_peer, with its outcome (`ok` or an error code) and duration.
    pub fn call_peer(&self, outcome: &str, seconds: f64) {
        self.call_peer
            .get_or_create(&vec![("outcome", outcome.to_string())])
            .inc();
        self.call_peer_seconds.observe(seconds);
    }

    /// One request answered 429.
    pub fn rate_limited(&self, limit: &'static str) {
        self.rate_limited
            .get_or_create(&vec![("limit", limit.to_string())])
            .inc();
    }

    /// The text exposition, with the gauges set from `shard` now.
    pub fn render(&self, shard: &crate::state::Shard) -> String {
        let snap = shard.peers.snapshot();
        self.peers.set(snap.len() as i64);
        self.peers_reachable
            .set(snap.iter().filter(|p| p.is_reachable).count() as i64);
        self.nonce_entries.set(shard.replay.len() as i64);
        let mut out = String::new();
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// A coarse route name for the request counter (never the raw path: bounded labels).
pub fn route_of(listener: &str, path: &str) -> &'static str {
    if path == "/" || path.starts_with("/owner/") || path == "/index.html" {
        return "owner";
    }
    match listener {
        "internal" => match path {
            "/healthz" | "/readyz" => "health",
            "/metrics" => "metrics",
            "/public/meta/whoareyou" => "whoareyou",
            "/internal/auth" => "forward_auth",
            p if p.starts_with("/protected/peers") => "peers",
            p if p.starts_with("/protected/") => "protected",
            p if p.starts_with("/internal/call_peer/") => "call_peer",
            _ => "other",
        },
        _ => match path {
            "/core/public/meta/whoareyou" => "whoareyou",
            _ => "app",
        },
    }
}
