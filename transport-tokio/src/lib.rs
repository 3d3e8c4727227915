//! The shardpeer shard host: a thin adapter from hyper 1 and tokio to `shardpeer-core`.
//!
//! Two listeners:
//! - the **gateway** (`public_listen`) serves `<app>.<short_id>.<zone>` for the world: it
//!   verifies peers' signatures, applies each app's `app_meta.json`, adds the `X-Ptl-*`
//!   headers and forwards to the app, signing its answer for peers ([`gateway`]);
//! - the **internal API** (`internal_listen`) serves this shard's apps and owner: the peers
//!   list, `call_peer`, `whoareyou` and forward-auth for a reverse proxy ([`internal`],
//!   [`forward_auth`]).
//!
//! Protocol decisions live in the core; this crate does I/O: sockets, timeouts, the peers
//! file, credentials. State is built once at start ([`state::Shard`]); the peers store is the
//! only thing written at run time ([`peers`]).

pub mod cli;
pub mod client;
pub mod config;
pub mod datadir;
pub mod dns;
pub mod error;
pub mod forward_auth;
pub mod gateway;
pub mod headers;
pub mod internal;
pub mod metrics;
pub mod owner;
pub mod peers;
pub mod ratelimit;
pub mod refresh;
pub mod reload;
pub mod replay;
pub mod server;
pub mod state;
pub mod tls;
pub mod tokens;
