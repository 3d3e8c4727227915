//! Listeners: accept loops with a connection cap, per-request deadlines, bounded request
//! heads, and graceful shutdown.
//!
//! Each listener holds at most `max_connections` connections: the accept loop takes a permit
//! before accepting, so excess clients wait in the kernel backlog instead of costing memory.
//! A request head larger than `max_header_bytes` is answered 431 (by hyper when it overflows
//! the read buffer, by `dispatch` when the limit is below hyper's 8 KiB minimum); a head that does
//! not arrive within 10 s, or a request not finished within `request_timeout`, ends the
//! connection (408). On shutdown the loops stop accepting and in-flight requests get
//! `DRAIN` to finish.

use crate::config::Limits;
use crate::error::{ApiError, Body};
use crate::state::Shard;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// How long in-flight requests get on shutdown.
pub const DRAIN: Duration = Duration::from_secs(10);
/// How long a client has to send a request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Which handler a listener runs.
#[derive(Debug, Clone, Copy)]
pub enum Role {
    /// The gateway.
    Public,
    /// The internal API.
    Internal,
}

/// Serves `listener` until `shutdown` turns true, then drains.
pub async fn serve(
    listener: TcpListener,
    shard: Arc<Shard>,
    role: Role,
    shutdown: watch::Receiver<bool>,
) {
    serve_with(listener, shard, role, None, shutdown).await
}

/// The scheme a request arrived with (an extension on every request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scheme(pub &'static str);

/// The TCP peer a request came from (an extension on every request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub std::net::SocketAddr);

impl Role {
    /// The listener's name in metrics and readiness.
    pub fn name(self, tls: bool) -> &'static str {
        match (self, tls) {
            (Role::Public, false) => "public",
            (Role::Public, true) => "tls",
            (Role::Internal, _) => "internal",
        }
    }
}

/// Serves `listener`, over TLS when `tls` is given, until `shutdown` turns true.
pub async fn serve_with(
    listener: TcpListener,
    shard: Arc<Shard>,
    role: Role,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut shutdown: watch::Receiver<bool>,
) {
    let limits: Limits = shard.limits;
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let listener_name = role.name(tls.is_some());
    if let Ok(mut l) = shard.listeners.lock() {
        l.1.push(listener_name);
    }
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = shutdown.changed() => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        shard.metrics.connection(listener_name);
        let shard = shard.clone();
        let scheme = Scheme(if tls.is_some() { "https" } else { "http" });
        let svc = service_fn(move |mut req: Request<Incoming>| {
            let shard = shard.clone();
            req.extensions_mut().insert(scheme);
            req.extensions_mut().insert(ClientAddr(peer));
            async move { Ok::<_, Infallible>(dispatch(shard, role, req, limits.request_timeout).await) }
        });
        let builder = {
            let mut b = hyper::server::conn::http1::Builder::new();
            b.timer(TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT)
                .max_buf_size(limits.max_header_bytes.max(8192))
                .keep_alive(true);
            b
        };
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            let result = match tls {
                None => {
                    watcher
                        .watch(builder.serve_connection(TokioIo::new(stream), svc))
                        .await
                }
                Some(acceptor) => {
                    match tokio::time::timeout(HEAD_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls_stream)) => {
                            watcher
                                .watch(builder.serve_connection(TokioIo::new(tls_stream), svc))
                                .await
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            Ok(())
                        }
                        Err(_) => Ok(()),
                    }
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown: some connections did not finish in time");
    }
}

async fn dispatch(
    shard: Arc<Shard>,
    role: Role,
    req: Request<Incoming>,
    deadline: Duration,
) -> Response<Body> {
    // hyper bounds the head only through its read buffer, which cannot be smaller than
    // 8 KiB (`max_buf_size` panics below that), so a configured `max_header_bytes` under
    // 8 KiB was silently not enforced. Check the parsed head against it here, before any
    // handler sees the request; hyper's buffer stays the backstop for larger heads.
    if head_len(&req) > shard.limits.max_header_bytes {
        return ApiError::new(
            431,
            "headers_too_large",
            format!(
                "request head larger than {} bytes",
                shard.limits.max_header_bytes
            ),
        )
        .response();
    }
    let tls = req
        .extensions()
        .get::<Scheme>()
        .is_some_and(|s| s.0 == "https");
    let listener = role.name(tls);
    let route = crate::metrics::route_of(
        if matches!(role, Role::Internal) {
            "internal"
        } else {
            "public"
        },
        req.uri().path(),
    );
    let metrics_shard = shard.clone();
    let work = async {
        match role {
            Role::Public => crate::gateway::handle(shard, req).await,
            Role::Internal => crate::internal::handle(shard, req).await,
        }
    };
    let response = match tokio::time::timeout(deadline, work).await {
        Ok(r) => r,
        Err(_) => ApiError::new(408, "request_timeout", "the request took too long").response(),
    };
    metrics_shard
        .metrics
        .request(listener, route, response.status().as_u16());
    response
}

/// The size of a request head as it was on the wire (HTTP/1.1): request line, field lines
/// (`name: value` CRLF) and the empty line.
fn head_len<B>(req: &Request<B>) -> usize {
    let uri = req.uri();
    let target = uri.scheme_str().map_or(0, |s| s.len() + 3)
        + uri.authority().map_or(0, |a| a.as_str().len())
        + uri.path_and_query().map_or(0, |p| p.as_str().len());
    let line = req.method().as_str().len() + 1 + target + " HTTP/1.1\r\n".len();
    let fields: usize = req
        .headers()
        .iter()
        .map(|(n, v)| n.as_str().len() + 2 + v.len() + 2)
        .sum();
    line + fields + 2
}

/// Resolves when SIGINT or SIGTERM arrives.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[cfg(test)]
mod tests {
    use super::head_len;
    use http::Request;

    #[test]
    fn head_length_is_the_wire_length() {
        let req = Request::builder()
            .method("GET")
            .uri("/a?b")
            .header("host", "x")
            .body(())
            .unwrap();
        assert_eq!(head_len(&req), "GET /a?b HTTP/1.1\r\nhost: x\r\n\r\n".len());
    }
}
