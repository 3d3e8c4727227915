//! Outbound HTTP: signed calls to peers, and fetching a peer's whoareyou to pin its key.
//!
//! One pooled hyper client serves all peers, so connections between two hosts are reused
//! (keep-alive). Every call has a connect deadline and an overall deadline.

use crate::config::Limits;
use crate::error::ApiError;
use crate::headers::Headers;
use crate::peers::{Peer, StoreError, unix_now};
use crate::state::Shard;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use shardpeer_core::digest::{Digest, DigestAlg};
use shardpeer_core::id::ShardId;
use shardpeer_core::identity::PublicKey;
use shardpeer_core::message;
use shardpeer_core::replay::FixedReplayCache;
use shardpeer_core::whoareyou;
use std::time::Duration;

/// The pooled client: plain HTTP, or TLS pinned to the peer's ID ([`crate::tls`]).
pub type HttpClient = Client<crate::tls::PeerConnector, Full<Bytes>>;

/// A client with the configured connect deadline and keep-alive pool.
pub fn new_client(limits: &Limits, dns: &crate::dns::DnsConfig) -> Result<HttpClient, String> {
    let mut connector = HttpConnector::new_with_resolver(crate::dns::DnsResolver::new(dns)?);
    connector.set_connect_timeout(Some(limits.connect_timeout));
    connector.set_nodelay(true);
    connector.enforce_http(true);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(64)
        .build(crate::tls::PeerConnector::new(connector)))
}

/// What went wrong reaching a peer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Could not connect or the connection failed.
    #[error("peer unreachable: {0}")]
    Unreachable(String),
    /// The deadline passed.
    #[error("peer did not answer within {0:?}")]
    Timeout(Duration),
    /// The answer was larger than allowed.
    #[error("peer response larger than {0} bytes")]
    TooLarge(usize),
    /// The peer's TLS certificate is not the key of the ID we meant to reach; nothing was sent.
    #[error("the peer's TLS certificate is not the key of its ID: refusing to send")]
    IdentityMismatch,
    /// The answer is not what the peer signed, or not signed by it.
    #[error("peer response not verified: {0}")]
    Unverified(String),
}

impl CallError {
    /// The answer given to the app.
    pub fn api(&self) -> ApiError {
        match self {
            CallError::Unreachable(_) => ApiError::new(502, "peer_unreachable", self.to_string()),
            CallError::IdentityMismatch => {
                ApiError::new(502, "peer_identity_mismatch", self.to_string())
            }
            CallError::Timeout(_) => ApiError::new(504, "peer_timeout", self.to_string()),
            CallError::TooLarge(_) => {
                ApiError::new(502, "peer_response_too_large", self.to_string())
            }
            CallError::Unverified(_) => {
                ApiError::new(502, "peer_response_unverified", self.to_string())
            }
        }
    }
}

/// Where a peer is reached: how to connect, and the `Host` to send.
#[derive(Debug, Clone)]
pub struct Target {
    /// `https` (TLS pinned to `id`) or `http` (an owner-given plain address, for development
    /// or a trusted network).
    scheme: &'static str,
    /// Host and port to connect to.
    host_port: String,
    /// The peer's full ID, which pins TLS.
    id: ShardId,
    /// The peer's domain (`<short_id>.<zone>` unless it reported another).
    pub domain: String,
    /// Reached by DNS name (no owner-given address).
    by_name: bool,
}

impl Target {
    /// The target of a peer: its `address` when set (`https://` or `http://`), else TLS to its
    /// domain on port 443.
    pub fn of(peer: &Peer, zone: &str, peer_port: u16) -> Result<Target, ApiError> {
        let id = ShardId::parse(&peer.id).map_err(|e| ApiError::from_wire(&e))?;
        let domain = peer
            .domain
            .clone()
            .unwrap_or_else(|| format!("{}.{zone}", id.short_id()));
        let (scheme, host_port) = match &peer.address {
            Some(a) => {
                let uri = crate::peers::check_address(a)
                    .map_err(|m| ApiError::new(502, "peer_address_invalid", m))?;
                let tls = uri.scheme_str() == Some("https");
                let auth = uri
                    .authority()
                    .map(|x| x.as_str().to_string())
                    .unwrap_or_default();
                let host_port = if auth
                    .rsplit_once(':')
                    .is_some_and(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
                    && !auth.ends_with(']')
                {
                    auth
                } else {
                    format!("{auth}:{}", if tls { 443 } else { 80 })
                };
                (if tls { "https" } else { "http" }, host_port)
            }
            None => ("https", format!("{domain}:{peer_port}")),
        };
        Ok(Target {
            scheme,
            host_port,
            id,
            domain,
            by_name: peer.address.is_none(),
        })
    }

    /// The URI for `path_and_query` on this target. For TLS the peer's full ID rides in the
    /// userinfo: the connector pins the handshake to it, and hyper's pool keys on it.
    pub fn uri(&self, path_and_query: &str) -> Result<http::Uri, ApiError> {
        let pin = if self.scheme == "https" {
            format!("{}@", self.id)
        } else {
            String::new()
        };
        format!("{}://{pin}{}{path_and_query}", self.scheme, self.host_port)
            .parse()
            .map_err(|_| ApiError::new(422, "invalid_path", "the path is not valid in a URL"))
    }

    /// The target for one of the peer's apps: without an owner-given address the connection
    /// goes to `<app>.<domain>` as DNS answers for it; with one, to that address.
    pub fn for_app(&self, app: &str) -> Target {
        let mut t = self.clone();
        if self.by_name {
            let port = self.host_port.rsplit_once(':').map_or("443", |(_, p)| p);
            t.host_port = format!("{app}.{}:{port}", self.domain);
        }
        t
    }

    /// The scheme used on the wire.
    pub fn scheme(&self) -> &str {
        self.scheme
    }
}

/// Sends a request and reads the whole answer, within `deadline` and `max_body`.
pub async fn send(
    client: &HttpClient,
    req: Request<Full<Bytes>>,
    deadline: Duration,
    max_body: usize,
) -> Result<(http::response::Parts, Bytes), CallError> {
    let fut = async {
        let resp: Response<hyper::body::Incoming> = client.request(req).await.map_err(|e| {
            if crate::tls::is_identity_mismatch(&e) {
                CallError::IdentityMismatch
            } else {
                CallError::Unreachable(error_chain(&e))
            }
        })?;
        let (parts, body) = resp.into_parts();
        let bytes = Limited::new(body, max_body)
            .collect()
            .await
            .map_err(|e| {
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    CallError::TooLarge(max_body)
                } else {
                    CallError::Unreachable(e.to_string())
                }
            })?
            .to_bytes();
        Ok((parts, bytes))
    };
    tokio::time::timeout(deadline, fut)
        .await
        .map_err(|_| CallError::Timeout(deadline))?
}

/// An error with its causes, for logs and messages.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// What a verified whoareyou says.
#[derive(Debug, Clone)]
pub struct WhoAreYou {
    /// The key, checked to derive the ID asked for.
    pub key: PublicKey,
    /// What the shard calls itself.
    pub name: String,
    /// Its domain.
    pub domain: String,
}

/// Fetches and verifies the whoareyou of `peer`: the key must derive the peer's full ID, and
/// the document must be signed by that key.
pub async fn fetch_whoareyou(
    shard: &Shard,
    peer: &Peer,
    deadline: Duration,
) -> Result<WhoAreYou, CallError> {
    let target = Target::of(peer, &shard.zone, shard.peer_port)
        .map_err(|e| CallError::Unreachable(e.message))?;
    let uri = target
        .uri("/core/public/meta/whoareyou")
        .map_err(|e| CallError::Unreachable(e.message))?;
    let req = Request::builder()
        .method(Method::GET)
        .uri(uri)
        .header(header::HOST, &target.domain)
        .body(Full::new(Bytes::new()))
        .map_err(|e| CallError::Unreachable(e.to_string()))?;
    let (parts, body) = send(&shard.client, req, deadline, 64 * 1024).await?;
    if parts.status != http::StatusCode::OK {
        return Err(CallError::Unverified(format!(
            "whoareyou answered {}",
            parts.status
        )));
    }
    let expected = ShardId::parse(&peer.id).map_err(|e| CallError::Unverified(e.to_string()))?;
    let doc: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| CallError::Unverified(format!("whoareyou is not JSON: {e}")))?;
    let text = |k: &str| {
        doc.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    if text("id") != expected.as_str() {
        return Err(CallError::Unverified("whoareyou names another ID".into()));
    }
    let key = PublicKey::from_pem(&text("public_key_pem"))
        .map_err(|e| CallError::Unverified(format!("whoareyou key: {e}")))?;
    if !expected.is_id_of(&key) {
        return Err(CallError::Unverified(
            "whoareyou key is not the key of this ID".into(),
        ));
    }
    let fields = Headers(&parts.headers);
    let resp: message::Response<'_, _, Headers<'_>> = message::Response {
        status: parts.status.as_u16(),
        fields: &fields,
        request: None,
    };
    let mut buf = [0u8; 1024];
    let mut no_nonces = FixedReplayCache::<1>::new();
    let verified = whoareyou::verifier(expected.as_str())
        .verify_response(&resp, &key, &mut no_nonces, unix_now(), &mut buf)
        .map_err(|e| CallError::Unverified(format!("whoareyou signature: {e}")))?;
    verified
        .content_digest
        .ok_or_else(|| CallError::Unverified("whoareyou digest missing".into()))?
        .check_body(&body)
        .map_err(|e| CallError::Unverified(format!("whoareyou body: {e}")))?;
    let domain = text("domain").to_ascii_lowercase();
    if domain.is_empty() || !domain.split('.').all(crate::config::is_dns_label) {
        return Err(CallError::Unverified(
            "whoareyou domain is not a host name".into(),
        ));
    }
    Ok(WhoAreYou {
        key,
        name: text("name"),
        domain,
    })
}

/// Fetches a peer's whoareyou and records the result: pins the key (never replacing a pinned
/// one), its self-declared name and domain, reachability. Returns the updated peer.
pub async fn refresh_peer(shard: &Shard, id: &str) -> Result<Peer, StoreError> {
    let Some(peer) = shard.peers.snapshot().get(id).cloned() else {
        return Err(StoreError::NotFound);
    };
    let result = fetch_whoareyou(
        shard,
        &peer,
        Duration::from_secs(3).min(shard.limits.peer_timeout),
    )
    .await;
    if let Err(e) = &result {
        tracing::info!(peer = %id, error = %e, "peer whoareyou failed");
    }
    let id = id.to_string();
    shard
        .peers
        .modify(move |m| {
            let p = m.get_mut(&id).ok_or(StoreError::NotFound)?;
            match result {
                Ok(w) => {
                    let hex: String = w
                        .key
                        .as_bytes()
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect();
                    match &p.public_key {
                        Some(pinned) if *pinned != hex => return Err(StoreError::KeyConflict),
                        _ => p.public_key = Some(hex),
                    }
                    p.self_name = Some(w.name);
                    p.domain = Some(w.domain);
                    p.is_reachable = true;
                    p.last_seen = Some(unix_now());
                }
                Err(_) => p.is_reachable = false,
            }
            Ok(p.clone())
        })
        .await
}

/// Builds the whoareyou response fields: signed document.
pub fn signed_json(shard: &Shard, status: u16, body: &[u8]) -> Result<HeaderMap, ApiError> {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let digest = Digest::of(DigestAlg::Sha256, body).header_value();
    headers.insert("content-digest", hv(&digest)?);
    let mut buf = [0u8; 1024];
    let signed = whoareyou::sign(
        &shard.identity,
        status,
        &Headers(&headers),
        unix_now(),
        &mut buf,
    )
    .map_err(|e| ApiError::from_wire(&e))?;
    headers.insert("signature-input", hv(&signed.signature_input)?);
    headers.insert("signature", hv(&signed.signature)?);
    Ok(headers)
}

/// A header value from text the core produced (always visible ASCII).
pub fn hv(s: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(s)
        .map_err(|_| ApiError::new(500, "internal_error", "invalid header value produced"))
}
