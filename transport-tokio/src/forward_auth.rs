//! Forward-auth for a reverse proxy in front (Traefik `forwardAuth`, nginx `auth_request`).
//!
//! The proxy asks `GET /internal/auth` with `X-Forwarded-Method`, `-Proto`, `-Host`, `-Uri`
//! and the original request's fields; we answer 200 with the headers the proxy must add, 401
//! with a JSON error, or 404 for an unknown app. In this mode `@authority` comes from
//! `X-Forwarded-Host`, which is trusted only because the internal listener is reachable by
//! the proxy and this shard's apps alone — never expose it publicly.
//!
//! Two things this mode cannot do, and refuses rather than fakes:
//! - it never sees the body, so a signed peer request is accepted only if its
//!   `Content-Digest` is that of the empty body and the proxy reports no body
//!   (`Content-Length`, `Transfer-Encoding`, or nginx's `X-Original-Content-Length` /
//!   `X-Original-Transfer-Encoding`); otherwise 401 `body_not_verifiable`;
//! - it cannot change the path the proxy forwards, so a path that normalisation would change
//!   (`/pub/../private`, `%70ub`) is refused (400 `path_not_normalized`) instead of being
//!   checked under one name and served under another.
//!
//! Responses cannot be signed in this mode (the proxy relays the app's answer directly); a
//! calling shard that requires signed answers needs the built-in gateway.

use crate::error::{ApiError, Body, full};
use crate::gateway::{self, Client};
use crate::headers;
use crate::state::{Route, Shard};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use shardpeer_core::digest::Digest;
use shardpeer_core::message::split_target;
use shardpeer_core::path::normalize_path;

/// Handles `GET /internal/auth`.
pub async fn handle(shard: &Shard, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let h = req.headers();
    let need = |name: &str| {
        headers::single_str(h, name)
            .map(str::to_string)
            .ok_or_else(|| {
                ApiError::new(
                    400,
                    "forwarded_header_missing",
                    format!("{name} is required"),
                )
            })
    };
    let method = need("x-forwarded-method")?;
    let proto = need("x-forwarded-proto")?;
    let host = need("x-forwarded-host")?;
    let uri = need("x-forwarded-uri")?;
    let app = match shard.route_host(&host) {
        Route::Unknown => {
            return Err(ApiError::new(
                404,
                "unknown_app",
                format!("no app at {host:?}"),
            ));
        }
        Route::Core => {
            // The shard's own domain: only its public whoareyou goes through a proxy.
            return if uri == "/core/public/meta/whoareyou" {
                Ok(ok(Vec::new()))
            } else {
                Err(ApiError::new(404, "not_found", "no such resource"))
            };
        }
        Route::App(app) => app,
    };
    let (raw_path, query) = split_target(&uri);
    let client = if gateway::has_peer_signature(h) {
        let digest =
            headers::single_str(h, "content-digest").and_then(|v| Digest::parse_header(v).ok());
        // nginx's auth_request must drop Content-Length from the subrequest, so the proxy
        // passes the original length as X-Original-Content-Length (see deploy/nginx).
        let nonzero =
            |name: &str| headers::single_str(h, name).is_some_and(|v| !v.is_empty() && v != "0");
        let declares_body = nonzero("content-length")
            || nonzero("x-original-content-length")
            || h.contains_key(http::header::TRANSFER_ENCODING)
            || nonzero("x-original-transfer-encoding");
        let empty_ok = digest.is_some_and(|d| d.check(&Digest::of(d.alg(), b"")).is_ok());
        if declares_body || (digest.is_some() && !empty_ok) {
            return Err(ApiError::new(
                401,
                "body_not_verifiable",
                "forward-auth cannot see the body: a signed peer request with a body must go through the gateway",
            ));
        }
        let fields = headers::Headers(h);
        let view = shardpeer_core::message::Request {
            method: &method,
            scheme: &proto,
            authority: &host,
            path: raw_path,
            query,
            fields: &fields,
        };
        gateway::verify_peer(shard, &view, b"")?
    } else if gateway::is_owner(shard, h) {
        Client::terminal()
    } else {
        Client::anonymous()
    };
    let mut buf = vec![0u8; raw_path.len().max(1)];
    let normalized = normalize_path(raw_path, &mut buf).map_err(|e| ApiError::from_wire(&e))?;
    if normalized != raw_path {
        return Err(ApiError::new(
            400,
            "path_not_normalized",
            format!("the proxy would forward {raw_path:?}, which normalises to {normalized:?}"),
        ));
    }
    let added = gateway::rendered_headers(shard, &app, normalized, &client)?;
    Ok(ok(added))
}

fn ok(headers: Vec<(http::HeaderName, http::HeaderValue)>) -> Response<Body> {
    let mut r = Response::new(full(Bytes::new()));
    *r.status_mut() = StatusCode::OK;
    for (n, v) in headers {
        r.headers_mut().append(n, v);
    }
    r
}
