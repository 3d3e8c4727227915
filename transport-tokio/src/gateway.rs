//! The public listener: routes `<app>.<short_id>.<zone>` to the app, after the core has
//! verified the caller and the app's access rules allow it.
//!
//! Per request, in order: route by `Host`; read the body (bounded: 413); classify the caller
//! — a `shardpeer` signature makes it a peer *only if it verifies* (a bad signature is a 401,
//! never a downgrade to anonymous), the owner token (bearer or cookie) makes it the owner's
//! terminal, anything else is anonymous; normalise the path (400); decide access (401);
//! strip every client-sent `X-Ptl-*` and rule-set header, the signature fields and the owner's
//! credential; add the rule's rendered headers; forward with the *normalised* path; and, for a
//! peer, sign the answer bound to its request. Refusals to a signed request are signed too.

use crate::client::{hv, signed_json};
use crate::error::{ApiError, Body, full};
use crate::headers::{self, Headers};
use crate::peers::{Snapshot, unix_now};
use crate::state::{AppState, Route, Shard};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use shardpeer_core::acl::ClientKind;
use shardpeer_core::digest::{Digest, DigestAlg};
use shardpeer_core::id::ShardId;
use shardpeer_core::message::{self, FieldsExt};
use shardpeer_core::path::normalize_path;
use shardpeer_core::profile;
use shardpeer_core::template::TemplateContext;
use std::sync::Arc;

/// 429 with `Retry-After`.
pub fn rate_limited(wait: std::time::Duration, why: &str) -> ApiError {
    let mut e = ApiError::new(429, "rate_limited", why.to_string());
    e.retry_after = Some(crate::ratelimit::retry_after_secs(wait));
    e
}

/// Where a shard's signed whoareyou is served on its gateway.
pub const WHOAREYOU_PATH: &str = "/core/public/meta/whoareyou";

/// The owner's session cookie.
pub const OWNER_COOKIE: &str = "shardpeer_owner";

/// Reads a whole body, refusing more than `max` bytes (413).
pub async fn read_body(body: Incoming, max: usize) -> Result<Bytes, ApiError> {
    match Limited::new(body, max).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(ApiError::new(
                413,
                "body_too_large",
                format!("body larger than {max} bytes"),
            ))
        }
        Err(e) => Err(ApiError::new(400, "body_unreadable", e.to_string())),
    }
}

/// A verified caller.
///
/// A peer is held as its ID and the peers snapshot it was verified against, not as copied
/// strings: verifying a request allocates nothing, and the name rendered for the app is the
/// one that was current when the signature was checked.
#[derive(Debug, Clone)]
pub struct Client {
    /// Kind.
    pub kind: ClientKind,
    peer: Option<(ShardId, Arc<Snapshot>)>,
}

impl Client {
    /// Someone without credentials.
    pub fn anonymous() -> Self {
        Client {
            kind: ClientKind::Anonymous,
            peer: None,
        }
    }

    /// The owner.
    pub fn terminal() -> Self {
        Client {
            kind: ClientKind::Terminal,
            peer: None,
        }
    }

    /// The peer's full ID (empty for other kinds).
    pub fn id(&self) -> &str {
        self.peer.as_ref().map_or("", |(id, _)| id.as_str())
    }

    /// The owner's name for the peer (empty for other kinds).
    pub fn name(&self) -> &str {
        self.peer
            .as_ref()
            .and_then(|(id, peers)| peers.get(id.as_str()))
            .map_or("", |p| p.name.as_str())
    }
}

/// Verifies a peer's signed request (`fields` are the received fields): signature under the
/// profile with the key pinned in the peers list, then the body against `Content-Digest`.
pub fn verify_peer(
    shard: &Shard,
    view: &message::Request<'_, Headers<'_>>,
    body: &[u8],
) -> Result<Client, ApiError> {
    let peers = shard.peers.snapshot();
    let mut buf = [0u8; 2048];
    let verified = profile::request_verifier()
        .verify_request(
            view,
            &*peers,
            &mut crate::replay::ReplayHandle(&shard.replay),
            unix_now(),
            &mut buf,
        )
        .map_err(|e| {
            let code = shardpeer_core::wire::WireError::code(&e);
            tracing::info!(code, error = %e, "peer signature refused");
            shard.metrics.verify_failure(code);
            ApiError::from_wire(&e)
        })?;
    let digest = verified
        .content_digest
        .ok_or_else(|| ApiError::new(401, "content_digest_malformed", "no content digest"))?;
    digest.check_body(body).map_err(|e| {
        shard
            .metrics
            .verify_failure(shardpeer_core::wire::WireError::code(&e));
        ApiError::from_wire(&e)
    })?;
    // The profile's policy accepted `keyid` only as a full shard ID, so this parse succeeds.
    let id =
        ShardId::parse(verified.keyid.unwrap_or_default()).map_err(|e| ApiError::from_wire(&e))?;
    Ok(Client {
        kind: ClientKind::Peer,
        peer: Some((id, peers)),
    })
}

/// Whether the request carries our signature label (then it is a peer request, verified or
/// refused).
pub fn has_peer_signature(fields: &HeaderMap) -> bool {
    Headers(fields).contains("signature-input") || Headers(fields).contains("signature")
}

/// When a request comes from a peer in our list whose key is not pinned yet (it added us at
/// about the same time we added it, and was unreachable then), fetch its whoareyou once now.
/// Only keyids already in the peers list trigger a fetch, so strangers cannot make us call out.
async fn pin_on_demand(shard: &Shard, fields: &HeaderMap) -> bool {
    let Some(keyid) = signature_keyid(fields) else {
        return false;
    };
    let known_without_key = shard
        .peers
        .snapshot()
        .get(&keyid)
        .is_some_and(|p| p.public_key.is_none());
    known_without_key
        && crate::client::refresh_peer(shard, &keyid)
            .await
            .is_ok_and(|p| p.public_key.is_some())
}

/// The `keyid` of the `shardpeer` signature, if it parses.
fn signature_keyid(fields: &HeaderMap) -> Option<String> {
    let input = headers::single_str(fields, "signature-input")?;
    let dict = shardpeer_core::sf::Dictionary::parse(input).ok()?;
    let shardpeer_core::sf::Member::InnerList(list) = dict.get(profile::LABEL)? else {
        return None;
    };
    list.params.get("keyid")?.as_plain_str().map(str::to_string)
}

/// The owner's credential, if presented.
pub fn is_owner(shard: &Shard, fields: &HeaderMap) -> bool {
    headers::bearer(fields).is_some_and(|t| shard.is_owner_token(t))
        || headers::cookie(fields, OWNER_COOKIE).is_some_and(|t| shard.is_owner_token(t))
}

/// Renders the matched rule's headers for `client`.
pub fn rendered_headers(
    shard: &Shard,
    app: &AppState,
    normalized: &str,
    client: &Client,
) -> Result<Vec<(HeaderName, HeaderValue)>, ApiError> {
    let rule = app
        .meta
        .decide(normalized, client.kind)
        .map_err(|e| ApiError::from_wire(&e))?;
    let ctx = TemplateContext {
        client_type: client.kind.as_str(),
        client_id: client.id(),
        client_name: client.name(),
        portal_id: shard.id.as_str(),
        portal_short_id: shard.id.short_id(),
        portal_domain: &shard.domain,
        portal_public_key_pem: &shard.public_key_pem,
    };
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    for h in rule.headers() {
        let value = h
            .render(&ctx, &mut buf)
            .map_err(|e| ApiError::from_wire(&e))?;
        let name = HeaderName::from_bytes(h.name().as_bytes())
            .map_err(|_| ApiError::new(500, "internal_error", "invalid header name in rules"))?;
        let value = HeaderValue::from_bytes(value.as_bytes()).map_err(|_| {
            ApiError::new(
                500,
                "internal_error",
                "rendered header value is not a valid value",
            )
        })?;
        out.push((name, value));
    }
    Ok(out)
}

/// Handles one gateway request.
pub async fn handle(shard: Arc<Shard>, req: Request<Incoming>) -> Response<Body> {
    // The owner's page lives on the shard's own domain.
    if crate::owner::is_owner_path(req.uri().path()) {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if matches!(shard.route_host(host), Route::Core) {
            return crate::owner::handle(&shard, req)
                .await
                .unwrap_or_else(|e| e.response());
        }
    }
    let (parts, body) = req.into_parts();
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
        .unwrap_or("")
        .to_string();
    let signed = has_peer_signature(&parts.headers);
    let result = match shard.route_host(&host) {
        // A shard adding us does not know our domain before it has read our whoareyou (we
        // may live in another zone), so whoareyou answers on any host that is not an app's.
        Route::Unknown if parts.uri.path() == WHOAREYOU_PATH => core_route(&shard, &parts).await,
        Route::Unknown => Err(ApiError::new(
            404,
            "unknown_app",
            format!("no app at {host:?}"),
        )),
        Route::Core => core_route(&shard, &parts).await,
        Route::App(app) => match read_body(body, shard.limits.max_body_bytes).await {
            Err(e) => Err(e),
            Ok(bytes) => to_app(&shard, &app, &parts, &host, bytes).await,
        },
    };
    match result {
        Ok(r) => r,
        Err(e) => {
            if e.status.is_server_error() {
                tracing::warn!(%host, error = %e, "gateway error");
            }
            let mut r = e.response();
            if signed {
                // The body is small JSON we made: sign it like any answer to a peer.
                let (rp, rb) = r.into_parts();
                let bytes = rb.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
                r = sign_for_peer(&shard, &parts, &host, rp, bytes);
            }
            r
        }
    }
}

/// The shard's own domain: `/core/public/meta/whoareyou`.
async fn core_route(
    shard: &Shard,
    parts: &http::request::Parts,
) -> Result<Response<Body>, ApiError> {
    match (parts.method.as_str(), parts.uri.path()) {
        ("GET", WHOAREYOU_PATH) => whoareyou_response(shard),
        _ => Err(ApiError::new(404, "not_found", "no such resource")),
    }
}

/// The signed whoareyou answer.
pub fn whoareyou_response(shard: &Shard) -> Result<Response<Body>, ApiError> {
    let body = serde_json::to_vec(&shard.whoareyou_json()).unwrap_or_default();
    let headers = signed_json(shard, 200, &body)?;
    let mut resp = Response::new(full(body));
    *resp.headers_mut() = headers;
    Ok(resp)
}

async fn to_app(
    shard: &Shard,
    app: &AppState,
    parts: &http::request::Parts,
    host: &str,
    body: Bytes,
) -> Result<Response<Body>, ApiError> {
    let raw_path = parts.uri.path();
    let query = parts.uri.query();
    let client = if has_peer_signature(&parts.headers) {
        let fields = Headers(&parts.headers);
        let view = message::Request {
            method: parts.method.as_str(),
            scheme: "http",
            authority: host,
            path: raw_path,
            query,
            fields: &fields,
        };
        // Each address may fail verification only so often: past that its signed requests
        // are refused before any Ed25519 work is done.
        let ip = parts
            .extensions
            .get::<crate::server::ClientAddr>()
            .map(|a| a.0.ip());
        if let Some(ip) = ip
            && let Err(wait) = shard.verify_failures.check(&ip, std::time::Instant::now())
        {
            shard.metrics.rate_limited("verify_failures");
            return Err(rate_limited(
                wait,
                "too many failed signature verifications from this address",
            ));
        }
        let verify = || verify_peer(shard, &view, &body);
        let result = match verify() {
            Err(e)
                if e.code == "signature_key_unknown"
                    && pin_on_demand(shard, &parts.headers).await =>
            {
                verify()
            }
            other => other,
        };
        if result.is_err()
            && let Some(ip) = ip
        {
            let _ = shard.verify_failures.take(&ip, std::time::Instant::now());
        }
        result?
    } else if is_owner(shard, &parts.headers) {
        Client::terminal()
    } else {
        Client::anonymous()
    };
    let mut buf = vec![0u8; raw_path.len().max(1)];
    let normalized = normalize_path(raw_path, &mut buf).map_err(|e| ApiError::from_wire(&e))?;
    let added = rendered_headers(shard, app, normalized, &client)?;

    let mut fwd = parts.headers.clone();
    headers::strip_hop_by_hop(&mut fwd);
    headers::strip_client_verdicts(&mut fwd, |n| app.meta.is_reserved_header(n));
    headers::strip_signature_fields(&mut fwd);
    if client.kind == ClientKind::Terminal {
        // The owner's credential is the gateway's business, never the app's.
        if headers::bearer(&fwd).is_some_and(|t| shard.is_owner_token(t)) {
            fwd.remove(header::AUTHORIZATION);
        }
        headers::remove_cookie(&mut fwd, OWNER_COOKIE);
    }
    for (n, v) in added {
        fwd.append(n, v);
    }
    fwd.insert(header::HOST, hv(host)?);
    fwd.insert("x-forwarded-host", hv(host)?);
    let proto = parts
        .extensions
        .get::<crate::server::Scheme>()
        .map_or("http", |s| s.0);
    fwd.insert("x-forwarded-proto", HeaderValue::from_static(proto));
    let path_and_query = match query {
        Some(q) => format!("{normalized}?{q}"),
        None => normalized.to_string(),
    };
    let scheme = app.upstream.scheme_str().unwrap_or("http");
    let auth = app.upstream.authority().map(|a| a.as_str()).unwrap_or("");
    let uri: http::Uri = format!("{scheme}://{auth}{path_and_query}")
        .parse()
        .map_err(|_| ApiError::new(400, "invalid_path", "path not valid in a URL"))?;
    let mut up = Request::builder().method(parts.method.clone()).uri(uri);
    if let Some(h) = up.headers_mut() {
        *h = fwd;
    }
    let up = up
        .body(Full::new(body))
        .map_err(|e| ApiError::new(500, "internal_error", e.to_string()))?;
    let deadline = shard.limits.peer_timeout;
    let resp = tokio::time::timeout(deadline, shard.client.request(up))
        .await
        .map_err(|_| {
            ApiError::new(
                504,
                "upstream_timeout",
                format!("app {} did not answer in time", app.name),
            )
        })?
        .map_err(|e| {
            ApiError::new(
                502,
                "upstream_unreachable",
                format!("app {}: {}", app.name, crate::client::error_chain(&e)),
            )
        })?;
    let (mut rp, rb) = resp.into_parts();
    headers::strip_hop_by_hop(&mut rp.headers);
    if client.kind == ClientKind::Peer {
        let bytes = match tokio::time::timeout(
            deadline,
            Limited::new(rb, shard.limits.max_body_bytes).collect(),
        )
        .await
        {
            Ok(Ok(c)) => c.to_bytes(),
            Ok(Err(_)) => {
                return Err(ApiError::new(
                    502,
                    "upstream_response_too_large",
                    "app response too large for a peer",
                ));
            }
            Err(_) => {
                return Err(ApiError::new(
                    504,
                    "upstream_timeout",
                    "app response too slow",
                ));
            }
        };
        headers::strip_signature_fields(&mut rp.headers);
        return Ok(sign_for_peer(shard, parts, host, rp, bytes));
    }
    Ok(Response::from_parts(
        rp,
        rb.map_err(|e| Box::new(e) as crate::error::BoxError)
            .boxed(),
    ))
}

/// Signs an answer to a peer's request, bound to that request. If signing fails the answer
/// goes out unsigned and the caller's host will refuse it (502), which is the safe outcome.
fn sign_for_peer(
    shard: &Shard,
    req: &http::request::Parts,
    host: &str,
    mut parts: http::response::Parts,
    body: Bytes,
) -> Response<Body> {
    let digest = Digest::of(DigestAlg::Sha256, &body).header_value();
    if let Ok(v) = HeaderValue::from_str(&digest) {
        parts.headers.insert("content-digest", v);
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    let req_fields = Headers(&req.headers);
    let req_view = message::Request {
        method: req.method.as_str(),
        scheme: "http",
        authority: host,
        path: req.uri.path(),
        query: req.uri.query(),
        fields: &req_fields,
    };
    let resp_fields = Headers(&parts.headers);
    let view = message::Response {
        status: parts.status.as_u16(),
        fields: &resp_fields,
        request: Some(&req_view),
    };
    let mut buf = [0u8; 2048];
    match profile::sign_response(&shard.identity, &view, unix_now(), &mut buf) {
        Ok(s) => {
            if let (Ok(i), Ok(v)) = (
                HeaderValue::from_str(&s.signature_input),
                HeaderValue::from_str(&s.signature),
            ) {
                parts.headers.insert("signature-input", i);
                parts.headers.insert("signature", v);
            }
        }
        Err(e) => tracing::info!(error = %e, "response to a peer request left unsigned"),
    }
    Response::from_parts(parts, full(body))
}
