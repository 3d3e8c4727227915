//! Calling a peer: a profile-signed request to `<app>.<peer domain>`, and the peer's signed
//! answer verified as bound to it; fetching a peer's signed whoareyou to pin its key.
//!
//! # Driving contract
//! The peer must be in the shard's peers table with an address ([`Shard::add_peer`]); its key
//! must be pinned ([`Shard::pin_peer`] or [`fetch_whoareyou`]) before [`call_peer`]. Each
//! call opens one connection (`Connection: close`), sends the request, reads the answer into
//! the caller's [`ClientBuffers`], and verifies it against the pinned key: the response
//! signature must cover the request's `Signature` (so no other answer can stand in), and the
//! body must match the signed `Content-Digest`. Only then is the answer returned.
//!
//! The request head is built in [`ClientBuffers::out`] and parsed back from there to verify
//! the answer: what is checked is what was sent.

use embassy_net::tcp::TcpSocket;
use embassy_net::{IpEndpoint, Stack};
use embassy_sync::blocking_mutex::raw::RawMutex;
use embassy_time::{Duration, Instant};
use shardpeer_core::digest::{Digest, DigestAlg};
use shardpeer_core::id::ShardId;
use shardpeer_core::identity::PublicKey;
use shardpeer_core::message;
use shardpeer_core::profile;
use shardpeer_core::replay::FixedReplayCache;
use shardpeer_core::whoareyou;
use shardpeer_core::wire::WireError;

use crate::http::{self, BufWriter, HttpError, Inbox, Kind, MAX_HEADERS};
use crate::server::WHOAREYOU_PATH;
use crate::shard::{Clock, MAX_DOMAIN, MAX_NAME, PeerError, Rng, Shard, dotted};

/// The buffers of one outgoing call, all the caller's.
#[derive(Debug)]
pub struct ClientBuffers<'a> {
    /// smoltcp receive buffer.
    pub tcp_rx: &'a mut [u8],
    /// smoltcp send buffer.
    pub tcp_tx: &'a mut [u8],
    /// The request head as sent (with its signature): 1 KiB is ample.
    pub out: &'a mut [u8],
    /// The response head plus [`crate::http::STAGING`].
    pub head: &'a mut [u8],
    /// The response body: the largest answer accepted.
    pub body: &'a mut [u8],
}

/// A request to a peer's app.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// Method.
    pub method: &'a str,
    /// The app on the peer (the first label of the host).
    pub app: &'a str,
    /// Path, starting with `/`.
    pub path: &'a str,
    /// Query without `?`.
    pub query: Option<&'a str>,
    /// `Content-Type`, if any.
    pub content_type: Option<&'a str>,
    /// Body.
    pub body: &'a [u8],
}

/// A verified answer.
#[derive(Debug)]
pub struct PeerResponse<'b> {
    /// Status code (a refusal by the peer is a verified answer too).
    pub status: u16,
    /// Body, checked against the signed digest.
    pub body: &'b [u8],
}

/// Why a call gave no verified answer.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallError {
    /// The peer is not in the table, has no key pinned or no address.
    Peer(PeerError),
    /// The peer has no address to connect to.
    NoAddress,
    /// Could not connect.
    Unreachable,
    /// The deadline passed.
    Timeout,
    /// The answer is not valid HTTP or too large for the buffers.
    Http(HttpError),
    /// Our own request could not be built or signed (buffers, invalid path or host).
    Request,
    /// The answer is not signed by the peer for this request, or its body does not match.
    Unverified(&'static str),
}

impl core::fmt::Display for CallError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CallError::Peer(e) => write!(f, "peer: {e}"),
            CallError::NoAddress => f.write_str("the peer has no address"),
            CallError::Unreachable => f.write_str("peer unreachable"),
            CallError::Timeout => f.write_str("peer did not answer in time"),
            CallError::Http(e) => write!(f, "peer answer: {e}"),
            CallError::Request => f.write_str("the request could not be built or signed"),
            CallError::Unverified(code) => write!(f, "peer response not verified: {code}"),
        }
    }
}

impl core::error::Error for CallError {}

impl WireError for CallError {
    fn code(&self) -> &'static str {
        match self {
            CallError::Peer(e) => e.code(),
            CallError::NoAddress | CallError::Unreachable => "peer_unreachable",
            CallError::Timeout => "peer_timeout",
            CallError::Http(HttpError::BodyTooLarge { .. } | HttpError::HeadTooLarge { .. }) => {
                "peer_response_too_large"
            }
            CallError::Http(_) => "peer_unreachable",
            CallError::Request => "cannot_sign",
            CallError::Unverified(_) => "peer_response_unverified",
        }
    }
    fn http_status(&self) -> u16 {
        match self {
            CallError::Peer(e) => e.http_status(),
            CallError::Timeout => 504,
            CallError::Request => 422,
            _ => 502,
        }
    }
}

fn from_http(e: HttpError) -> CallError {
    match e {
        HttpError::Timeout => CallError::Timeout,
        HttpError::Io | HttpError::Closed => CallError::Unreachable,
        other => CallError::Http(other),
    }
}

/// Where and who a peer is, copied out of the table for one call.
struct Target {
    key: Option<PublicKey>,
    domain: heapless::String<MAX_DOMAIN>,
    address: IpEndpoint,
}

fn target<M: RawMutex, const P: usize, const R: usize>(
    shard: &Shard<M, P, R>,
    peer: &ShardId,
) -> Result<Target, CallError> {
    let p = shard
        .peer(peer)
        .ok_or(CallError::Peer(PeerError::NotFound))?;
    let address = p.address.ok_or(CallError::NoAddress)?;
    // Until the peer's whoareyou said otherwise, its domain is guessed in our zone.
    let domain = match p.domain {
        Some(d) => d,
        None => dotted(peer.short_id(), shard.zone()).ok_or(CallError::Request)?,
    };
    Ok(Target {
        key: p.key,
        domain,
        address,
    })
}

/// Sends `request_head` and `body`, reads the answer into `bufs`; returns the head info.
async fn exchange(
    stack: Stack<'_>,
    bufs: &mut ClientBuffers<'_>,
    address: IpEndpoint,
    head_len: usize,
    body: &[u8],
    deadline: Instant,
    head_request: bool,
) -> Result<(http::HeadInfo, usize), CallError> {
    let mut socket = TcpSocket::new(stack, bufs.tcp_rx, bufs.tcp_tx);
    socket.set_timeout(Some(Duration::from_secs(30)));
    match embassy_time::with_deadline(deadline, socket.connect(address)).await {
        Err(_) => return Err(CallError::Timeout),
        Ok(Err(_)) => return Err(CallError::Unreachable),
        Ok(Ok(())) => {}
    }
    let result = async {
        let head = bufs.out.get(..head_len).ok_or(CallError::Request)?;
        http::write_all(&mut socket, head, deadline)
            .await
            .map_err(from_http)?;
        http::write_all(&mut socket, body, deadline)
            .await
            .map_err(from_http)?;
        let mut inbox = Inbox::new(bufs.head);
        let info = inbox
            .read_head(&mut socket, Kind::Response { head_request }, deadline)
            .await
            .map_err(from_http)?;
        let n = inbox
            .read_body(&mut socket, info.framing, bufs.body, deadline)
            .await
            .map_err(from_http)?;
        Ok((info, n))
    }
    .await;
    socket.close();
    let _ = embassy_time::with_timeout(Duration::from_millis(500), socket.flush()).await;
    socket.abort();
    let _ = embassy_time::with_timeout(Duration::from_millis(100), socket.flush()).await;
    result
}

/// Calls `call.app` on the peer `peer` and returns its verified answer.
#[allow(clippy::too_many_arguments)]
pub async fn call_peer<'b, M: RawMutex, const P: usize, const R: usize>(
    shard: &Shard<M, P, R>,
    stack: Stack<'_>,
    bufs: ClientBuffers<'b>,
    peer: &ShardId,
    call: &Call<'_>,
    clock: &dyn Clock,
    rng: &mut dyn Rng,
    timeout: Duration,
) -> Result<PeerResponse<'b>, CallError> {
    let deadline = Instant::now() + timeout;
    let t = target(shard, peer)?;
    let key = t.key.ok_or(CallError::Peer(PeerError::NotFound))?;
    let mut random = [0u8; 16];
    rng.fill_bytes(&mut random);
    let nonce = profile::nonce_from_random(&random);
    let mut bufs = bufs;
    let head_len = build_request(shard, bufs.out, &t.domain, call, clock.now(), &nonce)?;
    let (info, n) = exchange(
        stack,
        &mut bufs,
        t.address,
        head_len,
        call.body,
        deadline,
        call.method.eq_ignore_ascii_case("HEAD"),
    )
    .await?;
    let ClientBuffers {
        out, head, body, ..
    } = bufs;
    let (out, head): (&[u8], &[u8]) = (out, head);
    let body: &'b [u8] = body;
    let body = body.get(..n).unwrap_or_default();
    verify_answer(
        peer,
        &key,
        out.get(..head_len).unwrap_or_default(),
        head.get(..info.len).unwrap_or_default(),
        body,
        clock.now(),
    )?;
    Ok(PeerResponse {
        status: info.status,
        body,
    })
}

/// Writes the signed request head into `out`; returns its length.
fn build_request<M: RawMutex, const P: usize, const R: usize>(
    shard: &Shard<M, P, R>,
    out: &mut [u8],
    domain: &str,
    call: &Call<'_>,
    now: u64,
    nonce: &str,
) -> Result<usize, CallError> {
    let host: heapless::String<{ MAX_DOMAIN + 64 }> =
        dotted(call.app, domain).ok_or(CallError::Request)?;
    let digest = Digest::of(DigestAlg::Sha256, call.body).header_value();
    let mut fields: heapless::Vec<(&str, &str), 2> = heapless::Vec::new();
    let _ = fields.push(("Content-Digest", digest.as_str()));
    if let Some(ct) = call.content_type {
        let _ = fields.push(("Content-Type", ct));
    }
    let view = message::Request {
        method: call.method,
        scheme: "http",
        authority: &host,
        path: call.path,
        query: call.query,
        fields: fields.as_slice(),
    };
    let mut base = [0u8; 1024];
    let signed = profile::sign_request(shard.identity(), &view, now, nonce, &mut base)
        .map_err(|_| CallError::Request)?;
    let mut w = BufWriter::new(out);
    w.push_str(call.method);
    w.push_str(" ");
    w.push_str(call.path);
    if let Some(q) = call.query {
        w.push_str("?");
        w.push_str(q);
    }
    w.push_str(" HTTP/1.1\r\nhost: ");
    w.push_str(&host);
    w.push_str("\r\ncontent-length: ");
    w.push_u64(call.body.len() as u64);
    if let Some(ct) = call.content_type {
        w.push_str("\r\ncontent-type: ");
        w.push_str(ct);
    }
    w.push_str("\r\ncontent-digest: ");
    w.push_str(&digest);
    w.push_str("\r\nsignature-input: ");
    w.push_str(&signed.signature_input);
    w.push_str("\r\nsignature: ");
    w.push_str(&signed.signature);
    w.push_str("\r\nconnection: close\r\n\r\n");
    w.finish().map(<[u8]>::len).map_err(|_| CallError::Request)
}

/// Checks the answer: signed by `peer`'s pinned key, bound to the request we sent, body as
/// signed.
fn verify_answer(
    peer: &ShardId,
    key: &PublicKey,
    request_head: &[u8],
    response_head: &[u8],
    body: &[u8],
    now: u64,
) -> Result<(), CallError> {
    let mut req_storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let req =
        http::parse_request(request_head, &mut req_storage).map_err(|_| CallError::Request)?;
    let (path, query) = message::split_target(req.target);
    let req_view = message::Request {
        method: req.method,
        scheme: "http",
        authority: req.headers.single("host").unwrap_or(""),
        path,
        query,
        fields: &req.headers,
    };
    let mut resp_storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let resp = http::parse_response(response_head, &mut resp_storage).map_err(CallError::Http)?;
    let view = message::Response {
        status: resp.status,
        fields: &resp.headers,
        request: Some(&req_view),
    };
    let mut base = [0u8; 1024];
    let verified = profile::response_verifier(peer.as_str())
        .verify_response(
            &view,
            key,
            &mut FixedReplayCache::<1>::new(),
            now,
            &mut base,
        )
        .map_err(|e| CallError::Unverified(e.code()))?;
    verified
        .content_digest
        .ok_or(CallError::Unverified("content_digest_malformed"))?
        .check_body(body)
        .map_err(|e| CallError::Unverified(e.code()))
}

/// What a verified whoareyou said.
#[derive(Debug, Clone)]
pub struct WhoAreYou {
    /// The key, which derives the ID asked for.
    pub key: PublicKey,
    /// The name the peer gives itself (never shown to apps as the peer's name).
    pub name: heapless::String<MAX_NAME>,
    /// Its domain.
    pub domain: heapless::String<MAX_DOMAIN>,
}

#[derive(serde::Deserialize)]
struct Document {
    id: heapless::String<64>,
    name: heapless::String<MAX_NAME>,
    domain: heapless::String<MAX_DOMAIN>,
    public_key_pem: heapless::String<160>,
}

/// Fetches the peer's signed whoareyou from its address, checks that its key derives the
/// peer's full ID and that the document is signed by that key, then pins the key and the
/// domain in the peers table.
pub async fn fetch_whoareyou<M: RawMutex, const P: usize, const R: usize>(
    shard: &Shard<M, P, R>,
    stack: Stack<'_>,
    bufs: ClientBuffers<'_>,
    peer: &ShardId,
    clock: &dyn Clock,
    timeout: Duration,
) -> Result<WhoAreYou, CallError> {
    let deadline = Instant::now() + timeout;
    let t = target(shard, peer)?;
    let mut bufs = bufs;
    let head_len = {
        let mut w = BufWriter::new(&mut *bufs.out);
        w.push_str("GET ");
        w.push_str(WHOAREYOU_PATH);
        w.push_str(" HTTP/1.1\r\nhost: ");
        w.push_str(&t.domain);
        w.push_str("\r\naccept: application/json\r\nconnection: close\r\n\r\n");
        w.finish()
            .map(<[u8]>::len)
            .map_err(|_| CallError::Request)?
    };
    let (info, n) = exchange(stack, &mut bufs, t.address, head_len, &[], deadline, false).await?;
    if info.status != 200 {
        return Err(CallError::Unverified("whoareyou_status"));
    }
    let body = bufs.body.get(..n).unwrap_or_default();
    let mut scratch = [0u8; 192];
    let (doc, _): (Document, usize) = serde_json_core::from_slice_escaped(body, &mut scratch)
        .map_err(|_| CallError::Unverified("whoareyou_not_json"))?;
    if doc.id.as_str() != peer.as_str() {
        return Err(CallError::Unverified("whoareyou_other_id"));
    }
    let key = PublicKey::from_pem(&doc.public_key_pem)
        .map_err(|_| CallError::Unverified("whoareyou_key"))?;
    if !whoareyou::key_matches(peer, &key) {
        return Err(CallError::Unverified("signature_key_not_of_id"));
    }
    let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let head: &[u8] = bufs.head;
    let resp = http::parse_response(head.get(..info.len).unwrap_or_default(), &mut storage)
        .map_err(CallError::Http)?;
    let view: message::Response<'_, _, http::HeaderList<'_, '_>> = message::Response {
        status: resp.status,
        fields: &resp.headers,
        request: None,
    };
    let mut base = [0u8; 1024];
    let verified = whoareyou::verifier(peer.as_str())
        .verify_response(
            &view,
            &key,
            &mut FixedReplayCache::<1>::new(),
            clock.now(),
            &mut base,
        )
        .map_err(|e| CallError::Unverified(e.code()))?;
    verified
        .content_digest
        .ok_or(CallError::Unverified("content_digest_malformed"))?
        .check_body(body)
        .map_err(|e| CallError::Unverified(e.code()))?;
    let domain_ok = !doc.domain.is_empty()
        && doc.domain.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if !domain_ok {
        return Err(CallError::Unverified("whoareyou_domain"));
    }
    let mut domain = doc.domain.clone();
    domain.make_ascii_lowercase();
    shard
        .pin_peer(peer, key, Some(&domain))
        .map_err(CallError::Peer)?;
    Ok(WhoAreYou {
        key,
        name: doc.name,
        domain,
    })
}
