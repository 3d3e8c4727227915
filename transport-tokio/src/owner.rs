//! The owner's page: the shard's ID (large, copyable, as a QR code) and its peers, in a
//! browser.
//!
//! Served at `/` on the shard's own domain (gateway) and on the internal listener, from one
//! HTML file embedded in the binary (no CDN, no build step). The page talks to `/owner/api/*`
//! on the same origin.
//!
//! **Who gets in.** Only the owner: `POST /owner/login` takes the owner token and sets it as
//! an `HttpOnly`, `SameSite=Strict` cookie (`Secure` over TLS); the API accepts that cookie
//! (or the bearer token).
//!
//! **Cross-site requests** are refused (403 `csrf_refused`): every `/owner/api/*` call and the
//! login must carry `X-Shardpeer-Request: 1` — a header no cross-site form or image can send,
//! and that a cross-site script cannot add without a CORS preflight we never answer — and an
//! `Origin`, when present, must name the host the request was sent to. `SameSite=Strict`
//! already keeps the cookie off cross-site requests; this holds even where it does not.

use crate::error::{ApiError, Body, full, json_response};
use crate::gateway::{OWNER_COOKIE, read_body};
use crate::headers;
use crate::internal;
use crate::server::Scheme;
use crate::state::Shard;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use serde::Deserialize;
use shardpeer_core::id::ShardId;
use shardpeer_core::wire::WireError;

/// The page.
const PAGE: &str = include_str!("owner/page.html");

/// The header every page request carries (see the module docs).
pub const CSRF_HEADER: &str = "x-shardpeer-request";

/// Whether this request is for the owner page (`/`, `/owner/…`).
pub fn is_owner_path(path: &str) -> bool {
    path == "/" || path == "/index.html" || path.starts_with("/owner/")
}

/// Handles the owner page and its API.
pub async fn handle(shard: &Shard, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let path = req.uri().path().to_string();
    match (req.method().clone(), path.as_str()) {
        (Method::GET, "/" | "/index.html") => Ok(page()),
        (Method::POST, "/owner/login") => {
            same_site(&req)?;
            let tls = req
                .extensions()
                .get::<Scheme>()
                .is_some_and(|s| s.0 == "https");
            let body = read_body(req.into_body(), 4096).await?;
            login(shard, &body, tls)
        }
        (Method::POST, "/owner/logout") => {
            same_site(&req)?;
            Ok(logout())
        }
        (_, p) if p.starts_with("/owner/api/") => {
            same_site(&req)?;
            owner_only(shard, req.headers())?;
            api(shard, req, &path).await
        }
        _ => Err(ApiError::new(404, "not_found", "no such resource")),
    }
}

fn page() -> Response<Body> {
    let mut r = Response::new(full(PAGE));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // Everything the page needs is inline; nothing may be loaded from elsewhere, and no other
    // site may frame it.
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Refuses requests that may come from another site.
fn same_site(req: &Request<Incoming>) -> Result<(), ApiError> {
    let refuse = |why: &str| ApiError::new(403, "csrf_refused", why.to_string());
    if headers::single_str(req.headers(), CSRF_HEADER) != Some("1") {
        return Err(refuse("missing X-Shardpeer-Request: 1"));
    }
    if let Some(origin) = headers::single_str(req.headers(), "origin") {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()))
            .unwrap_or("");
        let origin_host = origin.split_once("://").map_or("", |(_, h)| h);
        if !origin_host.eq_ignore_ascii_case(host) {
            return Err(refuse("Origin does not match the host"));
        }
    }
    Ok(())
}

fn owner_only(shard: &Shard, h: &http::HeaderMap) -> Result<(), ApiError> {
    let cookie = headers::cookie(h, OWNER_COOKIE).is_some_and(|t| shard.is_owner_token(t));
    let bearer = headers::bearer(h).is_some_and(|t| shard.is_owner_token(t));
    if cookie || bearer {
        Ok(())
    } else {
        Err(ApiError::new(
            401,
            "login_required",
            "log in with the owner token",
        ))
    }
}

#[derive(Deserialize)]
struct Login {
    token: String,
}

fn login(shard: &Shard, body: &[u8], tls: bool) -> Result<Response<Body>, ApiError> {
    let l: Login = serde_json::from_slice(body)
        .map_err(|_| ApiError::new(422, "invalid_json", "expected {\"token\"}"))?;
    let token = l.token.trim();
    if !shard.is_owner_token(token) {
        return Err(ApiError::new(
            401,
            "invalid_credential",
            "that is not this shard's owner token",
        ));
    }
    let secure = if tls { "; Secure" } else { "" };
    let cookie = format!(
        "{OWNER_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age=2592000{secure}"
    );
    let mut r = Response::new(full(Bytes::new()));
    *r.status_mut() = StatusCode::NO_CONTENT;
    r.headers_mut()
        .insert(header::SET_COOKIE, crate::client::hv(&cookie)?);
    Ok(r)
}

fn logout() -> Response<Body> {
    let mut r = Response::new(full(Bytes::new()));
    *r.status_mut() = StatusCode::NO_CONTENT;
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("shardpeer_owner=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    r
}

async fn api(
    shard: &Shard,
    req: Request<Incoming>,
    path: &str,
) -> Result<Response<Body>, ApiError> {
    let rest = path.trim_start_matches("/owner/api/");
    match (req.method().clone(), rest) {
        (Method::GET, "me") => Ok(json_response(StatusCode::OK, &me(shard))),
        (Method::GET, "validate-id") => {
            Ok(json_response(StatusCode::OK, &validate(req.uri().query())))
        }
        (Method::GET, "peers") => internal::list_peers(shard, req.uri().query()),
        (Method::PUT, "peers") => {
            let body = read_body(req.into_body(), 64 * 1024).await?;
            internal::put_peer(shard, &body).await
        }
        (Method::DELETE, id) if id.starts_with("peers/") => {
            internal::delete_peer(shard, id.trim_start_matches("peers/")).await
        }
        _ => Err(ApiError::new(404, "not_found", "no such resource")),
    }
}

fn me(shard: &Shard) -> serde_json::Value {
    serde_json::json!({
        "id": shard.id.as_str(),
        "short_id": shard.id.short_id(),
        "name": shard.name,
        "domain": shard.domain,
        "qr_svg": qr_svg(shard.id.as_str()),
    })
}

/// The full ID as a QR code, SVG.
pub fn qr_svg(text: &str) -> String {
    match qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .dark_color(qrcode::render::svg::Color("#000000"))
            .light_color(qrcode::render::svg::Color("#ffffff"))
            .build(),
        Err(_) => String::new(),
    }
}

/// Checks an ID as the owner types it: the same parse the API applies, with a sentence a
/// person can act on.
fn validate(query: Option<&str>) -> serde_json::Value {
    let raw = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|kv| kv.strip_prefix("id="))
        .unwrap_or("");
    let id = internal::percent_decode(raw);
    let id = id.trim();
    match ShardId::parse(id) {
        Ok(parsed) => {
            serde_json::json!({"valid": true, "id": parsed.as_str(), "short_id": parsed.short_id()})
        }
        Err(e) => {
            let message = match e {
                shardpeer_core::id::IdError::WrongLength { len } => {
                    format!("A shard ID has {} characters; this has {len}.", shardpeer_core::id::ID_LEN)
                }
                shardpeer_core::id::IdError::InvalidCharacter { position } => format!(
                    "Character {} is not allowed: IDs use only letters a–z and digits 2–7.",
                    position + 1
                ),
                shardpeer_core::id::IdError::BadChecksum => {
                    "This ID has a typo somewhere: its checksum does not match. Check each character.".to_string()
                }
                _ => e.to_string(),
            };
            serde_json::json!({"valid": false, "error": e.code(), "message": message})
        }
    }
}
