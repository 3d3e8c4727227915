//! Token rotation: `POST /protected/tokens/rotate` on the internal API, owner only.
//!
//! Body `{"owner": true}` or `{"app": "<name>"}`. The new token (256 random bits, base64url)
//! is written to its file atomically (`owner.token` or `apps/<name>.token`, mode 0600) and only
//! then swapped in memory, so the old token stops working when the answer is sent and a crash
//! in between leaves the file holding the token that works after a restart. Rotations are
//! serialised with each other and with whoever holds [`lock_tokens`] (a config reload), so
//! the file and memory never disagree. The answer is
//! `{"rotated": "owner"|"app", "app"?: name, "path": file, "token": new token}`; the token is
//! in the answer because an owner on another machine has no other way to learn it.
//!
//! A stopped host's tokens are rotated by `shardpeer token rotate` rewriting the file under
//! the data directory's lock ([`crate::cli::token`]).

use crate::error::{ApiError, Body, json_response};
use crate::gateway::read_body;
use crate::state::{Caller, Shard};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;
use std::sync::Arc;

/// The route.
pub const ROTATE_PATH: &str = "/protected/tokens/rotate";

/// Whose token to rotate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The owner's.
    Owner,
    /// An app's, by name.
    App(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    #[serde(default)]
    owner: bool,
    app: Option<String>,
}

/// Held while a token file is written and its token swapped in memory.
static TOKENS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Excludes token rotation: hold it while reading token files and publishing what was read
/// (a config reload rebuilding the apps table does), so a rotation in between cannot be
/// overwritten by the token it replaced. Never hold it across an `.await`.
pub fn lock_tokens() -> std::sync::MutexGuard<'static, ()> {
    TOKENS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Handles `ROTATE_PATH` for an authenticated `caller`.
pub async fn handle(
    shard: &Arc<Shard>,
    caller: &Caller,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    if req.method() != Method::POST {
        return Err(ApiError::new(405, "method_not_allowed", "use POST"));
    }
    if *caller != Caller::Owner {
        return Err(ApiError::new(
            403,
            "owner_only",
            "only the owner may rotate tokens",
        ));
    }
    let body = read_body(req.into_body(), 4096).await?;
    let b: RotateBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            422,
            "invalid_json",
            format!("expected {{\"owner\": true}} or {{\"app\": \"<name>\"}}: {e}"),
        )
    })?;
    let target = match (b.owner, b.app) {
        (true, None) => Target::Owner,
        (false, Some(app)) => Target::App(app),
        _ => {
            return Err(ApiError::new(
                422,
                "invalid_target",
                "give exactly one of \"owner\": true or \"app\": \"<name>\"",
            ));
        }
    };
    let (path, token) = rotate(shard, &target).await?;
    let mut v = serde_json::json!({
        "rotated": match target { Target::Owner => "owner", Target::App(_) => "app" },
        "path": path.display().to_string(),
        "token": token,
    });
    if let Target::App(app) = &target {
        v["app"] = app.clone().into();
    }
    match &target {
        Target::Owner => tracing::info!("owner token rotated"),
        Target::App(app) => tracing::info!(%app, "app token rotated"),
    }
    Ok(json_response(StatusCode::OK, &v))
}

/// Rotates `target`'s token on a running shard: new file first, then memory. Returns the file
/// and the new token.
pub async fn rotate(
    shard: &Arc<Shard>,
    target: &Target,
) -> Result<(std::path::PathBuf, String), ApiError> {
    let (shard, target) = (shard.clone(), target.clone());
    // The write syncs to disk: off the async workers, with the token lock held throughout.
    tokio::task::spawn_blocking(move || rotate_now(&shard, &target))
        .await
        .map_err(|e| ApiError::new(500, "internal_error", e.to_string()))?
}

fn rotate_now(shard: &Shard, target: &Target) -> Result<(std::path::PathBuf, String), ApiError> {
    let _one_at_a_time = lock_tokens();
    let path = match target {
        Target::Owner => shard.data.owner_token_path(),
        Target::App(app) => {
            if !shard.apps().contains_key(app) {
                return Err(ApiError::new(
                    404,
                    "unknown_app",
                    format!("no app named {app:?} on this shard"),
                ));
            }
            shard.data.app_token_path(app)
        }
    };
    let token = shard
        .data
        .rotate_token(&path)
        .map_err(|e| ApiError::new(500, "store_error", e.to_string()))?;
    match target {
        Target::Owner => shard.set_owner_token(token.clone()),
        Target::App(app) => {
            if !shard.set_app_token(app, token.clone()) {
                // Removed by a reload between the check and now: its file holds the new token.
                return Err(ApiError::new(
                    404,
                    "unknown_app",
                    format!("no app named {app:?} on this shard"),
                ));
            }
        }
    }
    Ok((path, token))
}
