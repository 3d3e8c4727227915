//! The device's gateway: an HTTP/1.1 server on a fixed pool of embassy-net TCP sockets.
//!
//! # Driving contract
//! Build a [`Gateway`] (shard, app, clock, [`ServerConfig`]) and give it one [`Slot`] of
//! buffers per connection it may hold at once. Run [`Gateway::serve`] with all slots (it never
//! returns), or [`Gateway::serve_slot`] once per slot from tasks of your own. smoltcp has no
//! accept backlog: each slot is one socket listening on the port, so `N` slots serve `N`
//! connections at once and a connection attempt beyond that is refused with a TCP reset until a
//! slot is free again.
//!
//! Per request, in order (as the tokio host's gateway does, `docs/protocol.md`):
//! route by `Host` — `<app>.<domain>` is the app, anything else answers only
//! `GET /core/public/meta/whoareyou` (signed, so a host can add the device as a peer) and 404
//! otherwise; read the body (bounded: 413); a request carrying a signature is a peer request
//! *only if it verifies* under the shardpeer profile against the key pinned in the peers
//! table, with the replay cache and the body checked against `Content-Digest` — a bad signature
//! is refused (401), never downgraded to anonymous; anything else is anonymous; normalise the
//! path (400/414); decide access with the app's `app_meta.json` rules (401); hand the request to
//! the [`Handler`]; sign the answer to a peer, bound to its request. Refusals of a signed
//! request are signed too. The device has no owner terminals: `private` paths are refused.
//!
//! # Resource limits
//! Everything lives in the caller's [`Slot`]s: the TCP buffers, the request head (less
//! [`crate::http::STAGING`]), the request body, the response body and the response head. Paths
//! longer than [`MAX_PATH`] are refused with 414. Each connection has a deadline for the whole
//! request ([`ServerConfig::request_timeout`]) and for the idle time between keep-alive
//! requests ([`ServerConfig::idle_timeout`]).

use embassy_net::Stack;
use embassy_net::tcp::TcpSocket;
use embassy_sync::blocking_mutex::raw::RawMutex;
use embassy_time::{Duration, Instant, with_timeout};
use heapless::String;
use shardpeer_core::acl::{AccessDenied, ClientKind, Rule};
use shardpeer_core::app_meta::AppMeta;
use shardpeer_core::digest::{Digest, DigestAlg};
use shardpeer_core::id::ShardId;
use shardpeer_core::message::{self, Fields, FieldsExt};
use shardpeer_core::path::normalize_path;
use shardpeer_core::profile;
use shardpeer_core::template::TemplateContext;
use shardpeer_core::whoareyou;
use shardpeer_core::wire::WireError;

use crate::http::{self, BufWriter, HeaderList, HttpError, Inbox, Kind, MAX_HEADERS};
use crate::shard::{Clock, MAX_NAME, Shard};

/// Where a shard serves its signed whoareyou document.
pub const WHOAREYOU_PATH: &str = "/core/public/meta/whoareyou";
/// Longest request path accepted (414 beyond).
pub const MAX_PATH: usize = 256;
/// Size of the scratch buffer for a signature base.
const BASE_BUF: usize = 1024;

/// An app's access rules, whatever the capacities of its [`AppMeta`].
pub trait AccessRules {
    /// The governing rule for a normalised path, if `client` may pass it.
    fn decide(&self, normalized_path: &str, client: ClientKind) -> Result<Rule<'_>, AccessDenied>;
    /// Whether a client-sent header of this name must be hidden from the app.
    fn is_reserved_header(&self, name: &str) -> bool;
}

impl<const P: usize, const H: usize, const A: usize> AccessRules for AppMeta<P, H, A> {
    fn decide(&self, normalized_path: &str, client: ClientKind) -> Result<Rule<'_>, AccessDenied> {
        AppMeta::decide(self, normalized_path, client)
    }
    fn is_reserved_header(&self, name: &str) -> bool {
        AppMeta::is_reserved_header(self, name)
    }
}

/// A request the gateway let through, as the app sees it.
pub struct AppRequest<'r> {
    /// Method.
    pub method: &'r str,
    /// The normalised path the access decision was made on.
    pub path: &'r str,
    /// The query, without `?`.
    pub query: Option<&'r str>,
    /// Who is calling.
    pub client: ClientKind,
    /// A peer's full ID.
    pub client_id: Option<&'r ShardId>,
    /// The owner's name for the peer (empty for anonymous callers).
    pub client_name: &'r str,
    /// The rule that governs the path; its headers are rendered with
    /// [`AppRequest::template_context`].
    pub rule: Rule<'r>,
    /// The body, already checked against the signed `Content-Digest` for a peer.
    pub body: &'r [u8],
    headers: HeaderList<'r, 'r>,
    rules: &'r dyn AccessRules,
    ctx: TemplateContext<'r>,
}

impl core::fmt::Debug for AppRequest<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AppRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("client", &self.client)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl<'r> AppRequest<'r> {
    /// A header the client sent, unless it is reserved (`X-Ptl-*`, a header the app's rules
    /// set) or belongs to the signature layer: the app never sees a client pose as the
    /// gateway.
    pub fn header(&self, name: &str) -> Option<&'r [u8]> {
        if self.rules.is_reserved_header(name)
            || ["signature", "signature-input", "content-digest"]
                .iter()
                .any(|s| s.eq_ignore_ascii_case(name))
        {
            return None;
        }
        let lower_ok = name.bytes().all(|b| !b.is_ascii_uppercase());
        let headers: HeaderList<'r, 'r> = self.headers;
        if lower_ok {
            headers
                .0
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| h.value)
        } else {
            headers
                .0
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| h.value)
        }
    }

    /// The values the rule's header templates are rendered with.
    pub fn template_context(&self) -> &TemplateContext<'r> {
        &self.ctx
    }
}

/// What a handler answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// `Content-Type`, if any (covered by the response signature when present).
    pub content_type: Option<&'static str>,
    /// Bytes of the body written at the start of the handler's output buffer.
    pub len: usize,
}

/// The application behind the gateway.
///
/// Handlers run on the device's executor; the future need not be `Send`.
#[allow(async_fn_in_trait)]
pub trait Handler {
    /// Answers `request`, writing the body into `body_out` (the slot's response buffer).
    async fn handle(&self, request: &AppRequest<'_>, body_out: &mut [u8]) -> Reply;
}

/// The app a gateway serves.
pub struct App<'a, H> {
    /// The app's name: its host is `<name>.<shard domain>`.
    pub name: &'a str,
    /// Its access rules (an [`AppMeta`] parsed at start).
    pub rules: &'a dyn AccessRules,
    /// Its handler.
    pub handler: &'a H,
}

/// Listening port and deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerConfig {
    /// TCP port of the gateway.
    pub port: u16,
    /// Deadline for a whole request (head and body) from its first expected byte.
    pub request_timeout: Duration,
    /// How long an idle keep-alive connection is kept.
    pub idle_timeout: Duration,
    /// Deadline for writing a response.
    pub write_timeout: Duration,
    /// How long a closing connection waits for the client's FIN.
    pub linger: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            port: 80,
            request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            linger: Duration::from_secs(2),
        }
    }
}

/// The buffers of one connection, all the caller's.
#[derive(Debug)]
pub struct Slot<'a> {
    /// smoltcp receive buffer.
    pub tcp_rx: &'a mut [u8],
    /// smoltcp send buffer.
    pub tcp_tx: &'a mut [u8],
    /// Request head plus [`crate::http::STAGING`].
    pub head: &'a mut [u8],
    /// Request body: the largest body accepted.
    pub body: &'a mut [u8],
    /// Response body, written by the handler.
    pub response: &'a mut [u8],
    /// Response head (status line and fields, signature included: 1 KiB is ample).
    pub out: &'a mut [u8],
}

/// Storage for one [`Slot`], with its sizes as const generics.
#[derive(Debug)]
pub struct SlotMemory<
    const TCP_RX: usize,
    const TCP_TX: usize,
    const HEAD: usize,
    const BODY: usize,
    const RESPONSE: usize,
    const OUT: usize,
> {
    tcp_rx: [u8; TCP_RX],
    tcp_tx: [u8; TCP_TX],
    head: [u8; HEAD],
    body: [u8; BODY],
    response: [u8; RESPONSE],
    out: [u8; OUT],
}

impl<
    const TCP_RX: usize,
    const TCP_TX: usize,
    const HEAD: usize,
    const BODY: usize,
    const RESPONSE: usize,
    const OUT: usize,
> Default for SlotMemory<TCP_RX, TCP_TX, HEAD, BODY, RESPONSE, OUT>
{
    fn default() -> Self {
        Self::new()
    }
}

impl<
    const TCP_RX: usize,
    const TCP_TX: usize,
    const HEAD: usize,
    const BODY: usize,
    const RESPONSE: usize,
    const OUT: usize,
> SlotMemory<TCP_RX, TCP_TX, HEAD, BODY, RESPONSE, OUT>
{
    /// Zeroed storage (`const`, so it can be a `static`).
    pub const fn new() -> Self {
        SlotMemory {
            tcp_rx: [0; TCP_RX],
            tcp_tx: [0; TCP_TX],
            head: [0; HEAD],
            body: [0; BODY],
            response: [0; RESPONSE],
            out: [0; OUT],
        }
    }

    /// The slot over this storage.
    pub fn slot(&mut self) -> Slot<'_> {
        Slot {
            tcp_rx: &mut self.tcp_rx,
            tcp_tx: &mut self.tcp_tx,
            head: &mut self.head,
            body: &mut self.body,
            response: &mut self.response,
            out: &mut self.out,
        }
    }
}

/// A verified caller.
#[derive(Debug, Clone)]
struct Caller {
    kind: ClientKind,
    id: Option<ShardId>,
    name: String<MAX_NAME>,
}

/// A refusal: status, code and message.
#[derive(Debug, Clone)]
struct Refusal {
    status: u16,
    code: &'static str,
    message: String<160>,
}

impl Refusal {
    fn new(status: u16, code: &'static str, message: &str) -> Self {
        let mut m = String::new();
        for c in message.chars() {
            if m.push(c).is_err() {
                break;
            }
        }
        Refusal {
            status,
            code,
            message: m,
        }
    }

    fn of(e: &impl WireError) -> Self {
        let mut m: String<160> = String::new();
        // A message longer than the buffer is cut: it is for people, not for matching.
        let _ = core::fmt::write(&mut Truncating(&mut m), format_args!("{e}"));
        Refusal {
            status: e.http_status(),
            code: e.code(),
            message: m,
        }
    }
}

struct Truncating<'a, const N: usize>(&'a mut String<N>);

impl<const N: usize> core::fmt::Write for Truncating<'_, N> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for c in s.chars() {
            if self.0.push(c).is_err() {
                break;
            }
        }
        Ok(())
    }
}

/// What to do with a request once head and body are in.
enum Outcome {
    Refuse(Refusal),
    WhoAreYou,
    App(Caller),
}

/// Where a `Host` points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    App,
    Core,
    Unknown,
}

/// The host part of an authority, without port or trailing dot.
fn host_of(authority: &str) -> &str {
    let host = if authority.starts_with('[') {
        authority
            .split_once(']')
            .and_then(|(h, _)| authority.get(..=h.len()))
            .unwrap_or(authority)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => authority,
        }
    };
    host.trim_end_matches('.')
}

/// Whether the message carries a signature (then it is a peer request, verified or refused).
fn has_signature<F: Fields + ?Sized>(fields: &F) -> bool {
    fields.contains("signature-input") || fields.contains("signature")
}

/// The gateway of one app on the device.
pub struct Gateway<'a, M: RawMutex, H, const PEERS: usize, const NONCES: usize> {
    /// The device's shard.
    pub shard: &'a Shard<M, PEERS, NONCES>,
    /// The app.
    pub app: App<'a, H>,
    /// The caller's clock.
    pub clock: &'a dyn Clock,
    /// Port and deadlines.
    pub config: ServerConfig,
}

impl<M: RawMutex, H: Handler, const PEERS: usize, const NONCES: usize>
    Gateway<'_, M, H, PEERS, NONCES>
{
    /// Serves on all `slots` at once: `N` connections, never returns.
    pub async fn serve<const N: usize>(&self, stack: Stack<'_>, slots: [Slot<'_>; N]) -> ! {
        let futures = slots.map(|slot| self.serve_slot(stack, slot));
        embassy_futures::join::join_array(futures).await;
        // `serve_slot` never returns, so neither does the join.
        loop {
            embassy_time::Timer::after_secs(3600).await;
        }
    }

    /// Serves connections one after another on one socket, forever.
    pub async fn serve_slot(&self, stack: Stack<'_>, slot: Slot<'_>) -> ! {
        let Slot {
            tcp_rx,
            tcp_tx,
            head,
            body,
            response,
            out,
        } = slot;
        loop {
            let mut socket = TcpSocket::new(stack, tcp_rx, tcp_tx);
            // smoltcp drops a connection whose peer goes silent this long.
            socket.set_timeout(Some(self.config.request_timeout + self.config.idle_timeout));
            if socket.accept(self.config.port).await.is_err() {
                embassy_time::Timer::after_millis(100).await;
                continue;
            }
            self.connection(&mut socket, head, body, response, out)
                .await;
            close(&mut socket, self.config.linger).await;
        }
    }

    /// Answers requests on one connection until it closes or must close.
    async fn connection(
        &self,
        socket: &mut TcpSocket<'_>,
        head: &mut [u8],
        body: &mut [u8],
        response: &mut [u8],
        out: &mut [u8],
    ) {
        let mut inbox = Inbox::new(head);
        let mut first = true;
        loop {
            let wait = if first || inbox.has_pending() {
                self.config.request_timeout
            } else {
                self.config.idle_timeout
            };
            first = false;
            let info = match inbox
                .read_head(socket, Kind::Request, Instant::now() + wait)
                .await
            {
                Ok(info) => info,
                Err(HttpError::Closed | HttpError::Io) => return,
                Err(HttpError::Timeout) if !inbox.has_pending() => return,
                Err(e) => {
                    // The head is unusable: answer unsigned and close.
                    let _ = self
                        .refuse_unsigned(socket, &Refusal::of(&e), response, out)
                        .await;
                    return;
                }
            };
            let deadline = Instant::now() + self.config.request_timeout;
            let body_len = match inbox.read_body(socket, info.framing, body, deadline).await {
                Ok(n) => n,
                Err(HttpError::Closed | HttpError::Io) => return,
                Err(e) => {
                    let r = Refusal::of(&e);
                    let _ = self
                        .answer_refusal(socket, inbox.head(), &r, false, response, out)
                        .await;
                    return;
                }
            };
            let body = body.get(..body_len).unwrap_or_default();
            let keep = info.keep_alive;
            if self
                .respond(socket, inbox.head(), body, keep, response, out)
                .await
                .is_err()
            {
                return;
            }
            if !keep {
                return;
            }
            inbox.next_message();
        }
    }

    /// Decides, runs the handler when allowed, and writes the answer.
    async fn respond(
        &self,
        socket: &mut TcpSocket<'_>,
        head: &[u8],
        body: &[u8],
        keep: bool,
        response: &mut [u8],
        out: &mut [u8],
    ) -> Result<(), HttpError> {
        let now = self.clock.now();
        let mut path_buf = [0u8; MAX_PATH];
        match self.outcome(head, body, now) {
            Outcome::Refuse(r) => {
                self.answer_refusal(socket, head, &r, keep, response, out)
                    .await
            }
            Outcome::WhoAreYou => {
                let len = self
                    .shard
                    .write_whoareyou(response)
                    .map_err(|_| HttpError::OutputTooSmall)?
                    .len();
                let reply = Reply {
                    status: 200,
                    content_type: Some("application/json"),
                    len,
                };
                let body = response.get(..len).unwrap_or_default();
                let head_out =
                    self.compose(head, &reply, body, Signing::WhoAreYou, keep, out, now)?;
                http::write_all(socket, head_out, self.write_deadline()).await?;
                http::write_all(socket, body, self.write_deadline()).await
            }
            Outcome::App(caller) => {
                let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let req = http::parse_request(head, &mut storage)?;
                let (raw_path, query) = message::split_target(req.target);
                let normalized = match normalize_path(raw_path, &mut path_buf) {
                    Ok(p) => p,
                    Err(e) => {
                        let r = Refusal::of(&e);
                        return self
                            .answer_refusal(socket, head, &r, keep, response, out)
                            .await;
                    }
                };
                let rule = match self.app.rules.decide(normalized, caller.kind) {
                    Ok(rule) => rule,
                    Err(e) => {
                        let r = Refusal::of(&e);
                        return self
                            .answer_refusal(socket, head, &r, keep, response, out)
                            .await;
                    }
                };
                let ctx = TemplateContext {
                    client_type: caller.kind.as_str(),
                    client_id: caller.id.as_ref().map_or("", |i| i.as_str()),
                    client_name: &caller.name,
                    portal_id: self.shard.id().as_str(),
                    portal_short_id: self.shard.id().short_id(),
                    portal_domain: self.shard.domain(),
                    portal_public_key_pem: self.shard.public_key_pem(),
                };
                let app_req = AppRequest {
                    method: req.method,
                    path: normalized,
                    query,
                    client: caller.kind,
                    client_id: caller.id.as_ref(),
                    client_name: &caller.name,
                    rule,
                    body,
                    headers: req.headers,
                    rules: self.app.rules,
                    ctx,
                };
                let mut reply = self.app.handler.handle(&app_req, response).await;
                reply.len = reply.len.min(response.len());
                let body = response.get(..reply.len).unwrap_or_default();
                let signing = if caller.kind == ClientKind::Peer {
                    Signing::Peer
                } else {
                    Signing::None
                };
                let head_out = self.compose(head, &reply, body, signing, keep, out, now)?;
                http::write_all(socket, head_out, self.write_deadline()).await?;
                http::write_all(socket, body, self.write_deadline()).await
            }
        }
    }

    fn write_deadline(&self) -> Instant {
        Instant::now() + self.config.write_timeout
    }

    /// Route, body, caller, in the gateway's order (everything before the path).
    fn outcome(&self, head: &[u8], body: &[u8], now: u64) -> Outcome {
        let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let req = match http::parse_request(head, &mut storage) {
            Ok(r) => r,
            Err(e) => return Outcome::Refuse(Refusal::of(&e)),
        };
        let authority = req.headers.single("host").unwrap_or("");
        let (raw_path, query) = message::split_target(req.target);
        match self.route(authority) {
            Route::Core | Route::Unknown if raw_path == WHOAREYOU_PATH => {
                if req.method == "GET" {
                    Outcome::WhoAreYou
                } else {
                    Outcome::Refuse(Refusal::new(
                        405,
                        "method_not_allowed",
                        "method not allowed here",
                    ))
                }
            }
            Route::Core => Outcome::Refuse(Refusal::new(404, "not_found", "no such resource")),
            Route::Unknown => {
                Outcome::Refuse(Refusal::new(404, "unknown_app", "no app at this host"))
            }
            Route::App => {
                if !has_signature(&req.headers) {
                    return Outcome::App(Caller {
                        kind: ClientKind::Anonymous,
                        id: None,
                        name: String::new(),
                    });
                }
                let view = message::Request {
                    method: req.method,
                    scheme: "http",
                    authority,
                    path: raw_path,
                    query,
                    fields: &req.headers,
                };
                let mut base = [0u8; BASE_BUF];
                let verified = match profile::request_verifier().verify_request(
                    &view,
                    &self.shard.keys(),
                    &mut self.shard.replay(),
                    now,
                    &mut base,
                ) {
                    Ok(v) => v,
                    Err(e) => return Outcome::Refuse(Refusal::of(&e)),
                };
                let Some(digest) = verified.content_digest else {
                    return Outcome::Refuse(Refusal::new(
                        401,
                        "content_digest_malformed",
                        "no content digest",
                    ));
                };
                if let Err(e) = digest.check_body(body) {
                    return Outcome::Refuse(Refusal::of(&e));
                }
                let Some(id) = verified.keyid.and_then(|k| ShardId::parse(k).ok()) else {
                    return Outcome::Refuse(Refusal::new(
                        401,
                        "signature_keyid_mismatch",
                        "no keyid",
                    ));
                };
                let name = self.shard.peer(&id).map(|p| p.name).unwrap_or_default();
                Outcome::App(Caller {
                    kind: ClientKind::Peer,
                    id: Some(id),
                    name,
                })
            }
        }
    }

    fn route(&self, authority: &str) -> Route {
        let host = host_of(authority);
        let domain = self.shard.domain();
        if host.eq_ignore_ascii_case(domain) {
            return Route::Core;
        }
        let app = host.len().checked_sub(domain.len()).and_then(|cut| {
            let (prefix, suffix) = (host.get(..cut)?, host.get(cut..)?);
            suffix
                .eq_ignore_ascii_case(domain)
                .then_some(prefix)?
                .strip_suffix('.')
        });
        match app {
            Some(a) if a.eq_ignore_ascii_case(self.app.name) => Route::App,
            _ => Route::Unknown,
        }
    }

    /// Answers a refusal as JSON, signed when the request carried a signature.
    async fn answer_refusal(
        &self,
        socket: &mut TcpSocket<'_>,
        head: &[u8],
        refusal: &Refusal,
        keep: bool,
        response: &mut [u8],
        out: &mut [u8],
    ) -> Result<(), HttpError> {
        let signed = {
            let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
            http::parse_request(head, &mut storage).is_ok_and(|r| has_signature(&r.headers))
        };
        let len = error_json(refusal, response)?;
        let reply = Reply {
            status: refusal.status,
            content_type: Some("application/json"),
            len,
        };
        let body = response.get(..len).unwrap_or_default();
        let signing = if signed { Signing::Peer } else { Signing::None };
        // A refused request may leave unread bytes behind: do not keep the connection.
        let keep = keep && refusal.status < 500 && refusal.status != 413 && refusal.status != 431;
        let head_out = self.compose(head, &reply, body, signing, keep, out, self.clock.now())?;
        http::write_all(socket, head_out, self.write_deadline()).await?;
        http::write_all(socket, body, self.write_deadline()).await?;
        if keep { Ok(()) } else { Err(HttpError::Closed) }
    }

    /// Answers a request whose head could not be read: unsigned, connection closed.
    async fn refuse_unsigned(
        &self,
        socket: &mut TcpSocket<'_>,
        refusal: &Refusal,
        response: &mut [u8],
        out: &mut [u8],
    ) -> Result<(), HttpError> {
        let len = error_json(refusal, response)?;
        let body = response.get(..len).unwrap_or_default();
        let mut w = BufWriter::new(out);
        status_line(&mut w, refusal.status);
        w.push_str("content-type: application/json\r\ncontent-length: ");
        w.push_u64(len as u64);
        w.push_str("\r\nconnection: close\r\n\r\n");
        let head_out = w.finish()?;
        http::write_all(socket, head_out, self.write_deadline()).await?;
        http::write_all(socket, body, self.write_deadline()).await
    }

    /// Writes the response head into `out`, signing as asked.
    #[allow(clippy::too_many_arguments)]
    fn compose<'o>(
        &self,
        request_head: &[u8],
        reply: &Reply,
        body: &[u8],
        signing: Signing,
        keep: bool,
        out: &'o mut [u8],
        now: u64,
    ) -> Result<&'o [u8], HttpError> {
        let digest = Digest::of(DigestAlg::Sha256, body).header_value();
        let mut fields: heapless::Vec<(&str, &str), 2> = heapless::Vec::new();
        if let Some(ct) = reply.content_type {
            let _ = fields.push(("Content-Type", ct));
        }
        let _ = fields.push(("Content-Digest", digest.as_str()));
        let mut base = [0u8; BASE_BUF];
        let signed = match signing {
            Signing::None => None,
            Signing::WhoAreYou => whoareyou::sign(
                self.shard.identity(),
                reply.status,
                fields.as_slice(),
                now,
                &mut base,
            )
            .ok(),
            Signing::Peer => {
                let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let req = http::parse_request(request_head, &mut storage)?;
                let (path, query) = message::split_target(req.target);
                let req_view = message::Request {
                    method: req.method,
                    scheme: "http",
                    authority: req.headers.single("host").unwrap_or(""),
                    path,
                    query,
                    fields: &req.headers,
                };
                let view = message::Response {
                    status: reply.status,
                    fields: fields.as_slice(),
                    request: Some(&req_view),
                };
                // If signing fails (the request's Signature is unusable), the answer goes
                // unsigned and the caller refuses it: the safe outcome.
                profile::sign_response(self.shard.identity(), &view, now, &mut base).ok()
            }
        };
        let mut w = BufWriter::new(out);
        status_line(&mut w, reply.status);
        if let Some(ct) = reply.content_type {
            w.push_str("content-type: ");
            w.push_str(ct);
            w.push_str("\r\n");
        }
        w.push_str("content-length: ");
        w.push_u64(body.len() as u64);
        w.push_str("\r\n");
        if let Some(s) = &signed {
            w.push_str("content-digest: ");
            w.push_str(&digest);
            w.push_str("\r\nsignature-input: ");
            w.push_str(&s.signature_input);
            w.push_str("\r\nsignature: ");
            w.push_str(&s.signature);
            w.push_str("\r\n");
        }
        if !keep {
            w.push_str("connection: close\r\n");
        }
        w.push_str("\r\n");
        w.finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signing {
    None,
    Peer,
    WhoAreYou,
}

fn status_line(w: &mut BufWriter<'_>, status: u16) {
    w.push_str("HTTP/1.1 ");
    w.push_u64(u64::from(status));
    w.push_str(" ");
    w.push_str(http::reason(status));
    w.push_str("\r\n");
}

/// `{"error": code, "message": text}` into `out`.
fn error_json(refusal: &Refusal, out: &mut [u8]) -> Result<usize, HttpError> {
    let mut w = BufWriter::new(out);
    w.push_str("{\"error\":\"");
    w.push_json_str(refusal.code);
    w.push_str("\",\"message\":\"");
    w.push_json_str(&refusal.message);
    w.push_str("\"}");
    w.finish().map(<[u8]>::len)
}

/// Closes a connection: FIN after the pending data, wait (bounded) for the client's FIN, then
/// release the socket. Waiting keeps the client from getting a reset before it read the answer.
async fn close(socket: &mut TcpSocket<'_>, linger: Duration) {
    socket.close();
    let _ = with_timeout(linger, async {
        let mut sink = [0u8; 64];
        loop {
            match socket.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let _ = socket.flush().await;
    })
    .await;
    socket.abort();
    let _ = with_timeout(Duration::from_millis(100), socket.flush()).await;
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn hosts() {
        assert_eq!(host_of("a.b:8080"), "a.b");
        assert_eq!(host_of("a.b."), "a.b");
        assert_eq!(host_of("[::1]:80"), "[::1]");
        assert_eq!(host_of("a.b"), "a.b");
    }
}
