//! The internal listener: what this shard's apps and owner call.
//!
//! Every route but `whoareyou` and the forward-auth endpoint needs `Authorization: Bearer`.
//! An app token reads peers and calls peers *as that app* (the app is taken from the token,
//! never from the request); only the owner token changes peers. Peer writes and deletes name
//! the full ID exactly; reads may use an unambiguous prefix of at least 6 characters.

use crate::client::{self, CallError, Target};
use crate::error::{ApiError, Body, full, json_response};
use crate::gateway::{self, read_body};
use crate::headers;
use crate::peers::{Peer, StoreError, unix_now};
use crate::state::{Caller, Shard};
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use serde::Deserialize;
use shardpeer_core::digest::{Digest, DigestAlg};
use shardpeer_core::id::ShardId;
use shardpeer_core::message;
use shardpeer_core::profile;
use shardpeer_core::replay::FixedReplayCache;
use std::sync::Arc;

/// Handles one internal request.
pub async fn handle(shard: Arc<Shard>, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let result = route(&shard, req, &path).await;
    result.unwrap_or_else(|e| {
        if e.status.is_server_error() {
            tracing::warn!(%path, error = %e, "internal API error");
        }
        e.response()
    })
}

async fn route(
    shard: &Arc<Shard>,
    req: Request<Incoming>,
    path: &str,
) -> Result<Response<Body>, ApiError> {
    if path == "/public/meta/whoareyou" && req.method() == Method::GET {
        return gateway::whoareyou_response(shard);
    }
    if crate::owner::is_owner_path(path) {
        return crate::owner::handle(shard, req).await;
    }
    if path == "/internal/auth" {
        return crate::forward_auth::handle(shard, req).await;
    }
    // Probes and scrapes come from the operator's own network: no token, no secrets in them.
    match path {
        "/healthz" => {
            return Ok(json_response(
                StatusCode::OK,
                &serde_json::json!({"status": "ok"}),
            ));
        }
        "/readyz" => return Ok(readiness(shard)),
        "/metrics" => {
            let mut r = Response::new(full(shard.metrics.render(shard)));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            return Ok(r);
        }
        _ => {}
    }
    let caller = authenticate(shard, req.headers())?;
    if path == crate::tokens::ROTATE_PATH {
        return crate::tokens::handle(shard, &caller, req).await;
    }
    if let Some(rest) = path.strip_prefix("/internal/call_peer/") {
        let Caller::App(app) = caller else {
            return Err(ApiError::new(
                403,
                "app_only",
                "call_peer acts for an app: use the app's token",
            ));
        };
        if let Err(wait) = shard.call_peer_rate.take(&app, std::time::Instant::now()) {
            shard.metrics.rate_limited("call_peer");
            return Err(gateway::rate_limited(
                wait,
                "this app is calling peers too fast",
            ));
        }
        let rest = rest.to_string();
        let started = std::time::Instant::now();
        let result = call_peer(shard, &app, &rest, req).await;
        let outcome = match &result {
            Ok(r) if r.status().is_success() => "ok",
            Ok(_) => "peer_refused",
            Err(e) => e.code,
        };
        shard
            .metrics
            .call_peer(outcome, started.elapsed().as_secs_f64());
        return result;
    }
    if path == "/protected/peers" || path == "/protected/peers/" {
        return match *req.method() {
            Method::GET => list_peers(shard, req.uri().query()),
            Method::PUT => {
                owner_only(&caller)?;
                let body = read_body(req.into_body(), 64 * 1024).await?;
                put_peer(shard, &body).await
            }
            _ => Err(method_not_allowed()),
        };
    }
    if let Some(id) = path.strip_prefix("/protected/peers/") {
        let id = id.to_string();
        return match *req.method() {
            Method::GET => get_peer(shard, &id),
            Method::DELETE => {
                owner_only(&caller)?;
                delete_peer(shard, &id).await
            }
            _ => Err(method_not_allowed()),
        };
    }
    Err(ApiError::new(404, "not_found", "no such resource"))
}

/// Ready when every listener the host started is accepting and the peers store is readable.
fn readiness(shard: &Shard) -> Response<Body> {
    let mut problems = Vec::new();
    if let Ok(l) = shard.listeners.lock() {
        for want in &l.0 {
            if !l.1.contains(want) {
                problems.push(format!("listener {want} is not up"));
            }
        }
    }
    match std::fs::metadata(shard.data.peers_path()) {
        Ok(m) if m.is_file() => {
            if let Err(e) = std::fs::File::open(shard.data.peers_path()) {
                problems.push(format!("peers store unreadable: {e}"));
            }
        }
        Ok(_) => problems.push("peers store is not a file".into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => problems.push(format!("peers store: {e}")),
    }
    if problems.is_empty() {
        json_response(StatusCode::OK, &serde_json::json!({"status": "ready"}))
    } else {
        json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({"status": "not_ready", "problems": problems}),
        )
    }
}

fn method_not_allowed() -> ApiError {
    ApiError::new(405, "method_not_allowed", "method not allowed here")
}

fn authenticate(shard: &Shard, headers: &http::HeaderMap) -> Result<Caller, ApiError> {
    let token = headers::bearer(headers).ok_or_else(|| {
        ApiError::new(
            401,
            "missing_credential",
            "Authorization: Bearer <token> required",
        )
    })?;
    shard
        .caller(token)
        .ok_or_else(|| ApiError::new(401, "invalid_credential", "unknown token"))
}

fn owner_only(caller: &Caller) -> Result<(), ApiError> {
    match caller {
        Caller::Owner => Ok(()),
        Caller::App(_) => Err(ApiError::new(
            403,
            "owner_only",
            "only the owner may change peers",
        )),
    }
}

/// The JSON an API client sees for a peer.
pub fn peer_json(p: &Peer) -> serde_json::Value {
    let short = p.id.get(..shardpeer_core::id::SHORT_ID_LEN).unwrap_or("");
    let pem = p
        .public_key
        .as_deref()
        .and_then(|h| shardpeer_core::identity::PublicKey::from_hex(h).ok())
        .map(|k| k.to_pem().to_string());
    serde_json::json!({
        "id": p.id,
        "short_id": short,
        "name": p.name,
        "self_name": p.self_name,
        "address": p.address,
        "domain": p.domain,
        "is_reachable": p.is_reachable,
        "last_seen": p.last_seen,
        "has_added_us": p.last_accepted_call.is_some(),
        "last_accepted_call": p.last_accepted_call,
        "public_key_pem": pem,
        "added_at": p.added_at,
    })
}

pub(crate) fn list_peers(shard: &Shard, query: Option<&str>) -> Result<Response<Body>, ApiError> {
    let filter = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "name")
        .map(|(_, v)| percent_decode(v).to_lowercase());
    let snap = shard.peers.snapshot();
    let list: Vec<serde_json::Value> = snap
        .iter()
        .filter(|p| {
            filter.as_deref().is_none_or(|f| {
                p.name.to_lowercase().contains(f)
                    || p.self_name
                        .as_deref()
                        .is_some_and(|s| s.to_lowercase().contains(f))
            })
        })
        .map(peer_json)
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &serde_json::Value::Array(list),
    ))
}

/// `%XX` and `+` decoding for a query value; invalid escapes are kept as they are.
pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn get_peer(shard: &Shard, id: &str) -> Result<Response<Body>, ApiError> {
    let snap = shard.peers.snapshot();
    let peer = match ShardId::parse(id) {
        Ok(full) => snap.get(full.as_str()).ok_or_else(unknown_peer)?,
        Err(_) => snap.by_unambiguous_prefix(id).map_err(|e| match e {
            crate::peers::LookupError::TooShort => ApiError::new(
                422,
                "id_too_short",
                "give the full ID or at least its first 6 characters",
            ),
            crate::peers::LookupError::NotFound => unknown_peer(),
            crate::peers::LookupError::Ambiguous => ApiError::new(
                422,
                "id_ambiguous",
                "several peers start with this prefix: give the full ID",
            ),
        })?,
    };
    Ok(json_response(StatusCode::OK, &peer_json(peer)))
}

fn unknown_peer() -> ApiError {
    ApiError::new(404, "unknown_peer", "not one of this shard's peers")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutPeer {
    id: String,
    name: Option<String>,
    address: Option<String>,
}

pub(crate) async fn put_peer(shard: &Shard, body: &[u8]) -> Result<Response<Body>, ApiError> {
    let put: PutPeer = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            422,
            "invalid_json",
            format!("expected {{\"id\", \"name\"?, \"address\"?}}: {e}"),
        )
    })?;
    let id = ShardId::parse(&put.id).map_err(|e| ApiError::from_wire(&e))?;
    crate::peers::check_write(
        &id,
        Some(&shard.id),
        put.name.as_deref(),
        put.address.as_deref(),
    )
    .map_err(|(code, message)| ApiError::new(422, code, message))?;
    let key = id.as_str().to_string();
    let (created, _) = shard
        .peers
        .upsert(&id, put.name, put.address)
        .await
        .map_err(store_error)?;
    // Adding never fails because the peer is unreachable: the result is recorded.
    let peer = match client::refresh_peer(shard, &key).await {
        Ok(p) => p,
        Err(StoreError::KeyConflict) => {
            tracing::warn!(peer = %key, "peer presented a key different from the pinned one; kept the pinned key");
            shard
                .peers
                .snapshot()
                .get(&key)
                .cloned()
                .ok_or_else(unknown_peer)?
        }
        Err(e) => return Err(store_error(e)),
    };
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json_response(status, &peer_json(&peer)))
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => unknown_peer(),
        other => ApiError::new(500, "store_error", other.to_string()),
    }
}

pub(crate) async fn delete_peer(shard: &Shard, id: &str) -> Result<Response<Body>, ApiError> {
    // Deletion names the full ID exactly: a prefix (or `%`) never deletes anything.
    let id = ShardId::parse(id).map_err(|e| ApiError::from_wire(&e))?;
    let key = id.as_str().to_string();
    shard
        .peers
        .modify(|m| m.remove(&key).map(|_| ()).ok_or(StoreError::NotFound))
        .await
        .map_err(store_error)?;
    let mut r = Response::new(full(Bytes::new()));
    *r.status_mut() = StatusCode::NO_CONTENT;
    Ok(r)
}

/// `ANY /internal/call_peer/{peer-id}/{path…}`.
async fn call_peer(
    shard: &Shard,
    app: &str,
    rest: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let (id_text, path) = match rest.split_once('/') {
        Some((i, p)) => (i, format!("/{p}")),
        None => (rest, "/".to_string()),
    };
    // The ID is checked before anything else: a value like `x@evil.example` never becomes
    // part of a host name.
    let id = ShardId::parse(id_text).map_err(|e| ApiError::from_wire(&e))?;
    // The key as the snapshot holds it: checked against the protocol's rule once, when the
    // store was loaded or changed. Parsing the stored hex here would repeat that check (a
    // curve operation) on every call.
    let snapshot = shard.peers.snapshot();
    let mut peer = snapshot
        .get(id.as_str())
        .cloned()
        .ok_or_else(unknown_peer)?;
    let mut key = snapshot.key(id.as_str());
    if key.is_none()
        && let Ok(refreshed) = client::refresh_peer(shard, id.as_str()).await
    {
        key = shard.peers.snapshot().key(id.as_str());
        peer = refreshed;
    }
    let key = key.ok_or_else(|| {
        ApiError::new(
            502,
            "peer_unreachable",
            "the peer's key is not known yet: its whoareyou could not be fetched",
        )
    })?;
    let target = Target::of(&peer, &shard.zone, shard.peer_port)?.for_app(app);
    let (parts, body) = req.into_parts();
    let query = parts.uri.query().map(str::to_string);
    let body = read_body(body, shard.limits.max_body_bytes).await?;

    let host = format!("{app}.{}", target.domain);
    let mut out = parts.headers.clone();
    headers::strip_hop_by_hop(&mut out);
    headers::strip_signature_fields(&mut out);
    headers::strip_client_verdicts(&mut out, |_| false);
    out.remove(header::AUTHORIZATION);
    out.remove(header::COOKIE);
    out.insert(header::HOST, client::hv(&host)?);
    let digest = Digest::of(DigestAlg::Sha256, &body).header_value();
    out.insert("content-digest", client::hv(&digest)?);
    let nonce = profile::nonce_from_random(
        &crate::datadir::random_bytes::<16>()
            .map_err(|e| ApiError::new(500, "internal_error", e.to_string()))?,
    );
    let signed = {
        let fields = headers::Headers(&out);
        let view = message::Request {
            method: parts.method.as_str(),
            scheme: target.scheme(),
            authority: &host,
            path: &path,
            query: query.as_deref(),
            fields: &fields,
        };
        let mut buf = [0u8; 2048];
        profile::sign_request(&shard.identity, &view, unix_now(), &nonce, &mut buf)
            .map_err(|e| ApiError::new(422, "cannot_sign", e.to_string()))?
    };
    out.insert("signature-input", client::hv(&signed.signature_input)?);
    out.insert("signature", client::hv(&signed.signature)?);
    let path_and_query = match &query {
        Some(q) => format!("{path}?{q}"),
        None => path.clone(),
    };
    let uri = target.uri(&path_and_query)?;
    let mut builder = Request::builder().method(parts.method.clone()).uri(uri);
    if let Some(h) = builder.headers_mut() {
        *h = out.clone();
    }
    let outgoing = builder
        .body(Full::new(body))
        .map_err(|e| ApiError::new(422, "invalid_request", e.to_string()))?;
    let (rparts, rbody) = client::send(
        &shard.client,
        outgoing,
        shard.limits.peer_timeout,
        shard.limits.max_body_bytes,
    )
    .await
    .map_err(|e| {
        tracing::info!(peer = %id, error = %e, "call_peer failed");
        e.api()
    })?;

    // The answer must be the peer's, bound to this request, with the body it signed.
    let req_fields = headers::Headers(&out);
    let req_view = message::Request {
        method: parts.method.as_str(),
        scheme: target.scheme(),
        authority: &host,
        path: &path,
        query: query.as_deref(),
        fields: &req_fields,
    };
    let resp_fields = headers::Headers(&rparts.headers);
    let resp_view = message::Response {
        status: rparts.status.as_u16(),
        fields: &resp_fields,
        request: Some(&req_view),
    };
    let mut buf = [0u8; 2048];
    let verified = profile::response_verifier(id.as_str())
        .verify_response(
            &resp_view,
            &key,
            &mut FixedReplayCache::<1>::new(),
            unix_now(),
            &mut buf,
        )
        .map_err(|e| {
            CallError::Unverified(format!(
                "{}: {e}",
                shardpeer_core::wire::WireError::code(&e)
            ))
            .api()
        })?;
    verified
        .content_digest
        .ok_or_else(|| CallError::Unverified("no content digest".into()).api())?
        .check_body(&rbody)
        .map_err(|e| CallError::Unverified(e.to_string()).api())?;
    note_contact(shard, id.as_str(), rparts.status).await;

    let mut back = rparts.headers.clone();
    headers::strip_hop_by_hop(&mut back);
    headers::strip_signature_fields(&mut back);
    back.insert(
        "x-shardpeer-verified",
        HeaderValue::from_static("peer-signature"),
    );
    let mut resp = Response::new(full(rbody));
    *resp.status_mut() = rparts.status;
    *resp.headers_mut() = back;
    Ok(resp)
}

/// Records that the peer answered (and, for a non-refusal, that it accepted our call), at
/// most once a minute per peer so busy peers do not turn every call into a disk write.
async fn note_contact(shard: &Shard, id: &str, status: StatusCode) {
    let now = unix_now();
    let accepted = !matches!(status.as_u16(), 401 | 403);
    let stale = |t: Option<u64>| t.is_none_or(|t| now.saturating_sub(t) >= 60);
    let due = || {
        shard.peers.snapshot().get(id).is_some_and(|p| {
            !p.is_reachable || stale(p.last_seen) || (accepted && stale(p.last_accepted_call))
        })
    };
    if !due() {
        return;
    }
    // Calls that find the record due while another is writing it leave it to that one; a
    // call that claims it just after a write looks again.
    let Some(_writing) = InFlight::claim(&shard.contact_writes, id) else {
        return;
    };
    if !due() {
        return;
    }
    let id = id.to_string();
    let r = shard
        .peers
        .modify(|m| {
            if let Some(p) = m.get_mut(&id) {
                p.is_reachable = true;
                p.last_seen = Some(now);
                if accepted {
                    p.last_accepted_call = Some(now);
                }
            }
            Ok(())
        })
        .await;
    if let Err(e) = r {
        tracing::warn!(error = %e, "could not record peer contact");
    }
}

/// A peer's entry in [`Shard::contact_writes`], removed when dropped, also when the call that
/// holds it is cancelled mid-write.
struct InFlight<'a> {
    set: &'a std::sync::Mutex<std::collections::HashSet<String>>,
    id: String,
}

impl<'a> InFlight<'a> {
    fn claim(
        set: &'a std::sync::Mutex<std::collections::HashSet<String>>,
        id: &str,
    ) -> Option<Self> {
        let mut busy = set.lock().unwrap_or_else(|p| p.into_inner());
        busy.insert(id.to_string()).then(|| InFlight {
            set,
            id: id.to_string(),
        })
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("a%20b+c"), "a b c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
