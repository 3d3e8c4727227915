//! Finding peers that have no `address`: `<app>.<domain>` through DNS.
//!
//! A and AAAA are both asked for; hyper-util's connector then races IPv6 and IPv4 (Happy
//! Eyeballs: the second family is tried 300 ms after the first if that has not connected).
//! Answers are cached for their TTL, at most [`DnsConfig::cache`] — short, because a peer that
//! moves should be found again soon, and nothing security-relevant rests on the answer: the
//! TLS handshake is pinned to the peer's ID, so a wrong address costs a failed call, not a
//! compromise.
//!
//! Name servers are the system's (`/etc/resolv.conf`) unless `[dns] servers` lists others,
//! with their ports, which is also how tests own the DNS.

use hickory_resolver::config::{LookupIpStrategy, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::{Resolver, TokioResolver};
use hyper_util::client::legacy::connect::dns::Name;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// `[dns]` settings, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsConfig {
    /// Name servers to ask, instead of the system's.
    pub servers: Vec<SocketAddr>,
    /// The longest an answer is reused.
    pub cache: Duration,
    /// The port peers without an address are reached on (TLS).
    pub peer_port: u16,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            servers: Vec::new(),
            cache: Duration::from_secs(60),
            peer_port: 443,
        }
    }
}

/// A resolver service for hyper-util's connector.
#[derive(Clone)]
pub struct DnsResolver {
    inner: Arc<TokioResolver>,
}

impl std::fmt::Debug for DnsResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DnsResolver")
    }
}

impl DnsResolver {
    /// Builds the resolver for `config`.
    pub fn new(config: &DnsConfig) -> Result<DnsResolver, String> {
        let mut builder = if config.servers.is_empty() {
            Resolver::builder_tokio().map_err(|e| format!("system DNS configuration: {e}"))?
        } else {
            let servers = config
                .servers
                .iter()
                .map(|s| {
                    let mut ns = NameServerConfig::udp_and_tcp(s.ip());
                    for c in &mut ns.connections {
                        c.port = s.port();
                    }
                    ns
                })
                .collect();
            Resolver::builder_with_config(
                ResolverConfig::from_parts(None, vec![], servers),
                TokioRuntimeProvider::default(),
            )
        };
        let opts: &mut ResolverOpts = builder.options_mut();
        opts.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        opts.positive_max_ttl = Some(config.cache);
        opts.negative_max_ttl = Some(config.cache.min(Duration::from_secs(10)));
        let resolver = builder.build().map_err(|e| format!("DNS resolver: {e}"))?;
        Ok(DnsResolver {
            inner: Arc::new(resolver),
        })
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower_service::Service<Name> for DnsResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let resolver = self.inner.clone();
        Box::pin(async move {
            // A trailing dot: a full name, never completed with search domains.
            let fqdn = format!("{}.", name.as_str().trim_end_matches('.'));
            let answer = resolver.lookup_ip(fqdn.as_str()).await?;
            let addrs: Vec<SocketAddr> = answer.iter().map(|ip| SocketAddr::new(ip, 0)).collect();
            Ok(addrs.into_iter())
        })
    }
}
