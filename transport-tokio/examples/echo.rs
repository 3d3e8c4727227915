//! A tiny app for trying shardpeer: answers every request with what it received — method,
//! path, the `X-Ptl-*` headers the gateway added, and the body.
//!
//! `cargo run --release --example echo -- 127.0.0.1:9001`

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("echo app on http://{addr}");
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let svc = service_fn(|req: hyper::Request<Incoming>| async move {
                let (parts, body) = req.into_parts();
                let body = body
                    .collect()
                    .await
                    .map(|c| c.to_bytes())
                    .unwrap_or_default();
                let ptl: serde_json::Map<String, serde_json::Value> = parts
                    .headers
                    .iter()
                    .filter(|(n, _)| n.as_str().starts_with("x-ptl-"))
                    .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").into()))
                    .collect();
                let out = serde_json::json!({
                    "method": parts.method.as_str(),
                    "path": parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"),
                    "headers": ptl,
                    "body": String::from_utf8_lossy(&body),
                });
                let resp = hyper::Response::builder()
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(out.to_string() + "\n")))
                    .unwrap_or_default();
                Ok::<_, std::convert::Infallible>(resp)
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
