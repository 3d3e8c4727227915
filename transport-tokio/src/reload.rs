//! `SIGHUP` reloads the configuration file and every app's `app_meta.json` without dropping
//! a connection: the apps table is swapped atomically, requests in flight finish with the
//! table they started with.
//!
//! What reloads: the apps (added, removed, upstream, access rules). A new app gets its
//! token file at once. Everything else (listen addresses, name, zone, data dir, limits) needs
//! a restart; a reload that changes it says so in the log and applies the apps anyway.
//! A file that does not load keeps the old configuration in force, and the log names the
//! file, the line and column where there is one, and the field.

use crate::config::{self, Overrides};
use crate::state::{AppState, Shard};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a reload changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Apps now served that were not.
    pub added: Vec<String>,
    /// Apps no longer served.
    pub removed: Vec<String>,
    /// Apps kept, with their upstream and rules read again.
    pub reloaded: Vec<String>,
    /// Settings that changed but need a restart.
    pub need_restart: Vec<&'static str>,
}

/// Reloads `config_path` into `shard`. On error nothing changes.
pub fn reload(
    shard: &Shard,
    config_path: Option<&Path>,
    overrides: &Overrides,
) -> Result<Report, String> {
    let cfg = config::load(config_path, overrides).map_err(|e| e.to_string())?;
    let mut report = Report::default();
    if cfg.zone != shard.zone {
        report.need_restart.push("zone");
    }
    if cfg.name.as_ref().is_some_and(|n| *n != shard.name) {
        report.need_restart.push("name");
    }
    // A token rotation between reading the token files and swapping the table would be
    // undone by the old token: rotations wait for the swap.
    let _tokens = crate::tokens::lock_tokens();
    let old = shard.apps();
    let mut next = BTreeMap::new();
    for a in cfg.apps {
        let token = shard
            .data
            .token(&shard.data.app_token_path(&a.name))
            .map_err(|e| e.to_string())?;
        match old.get(&a.name) {
            None => report.added.push(a.name.clone()),
            Some(_) => report.reloaded.push(a.name.clone()),
        }
        next.insert(
            a.name.clone(),
            Arc::new(AppState {
                name: a.name,
                upstream: a.upstream,
                meta: a.meta,
                token,
            }),
        );
    }
    report.removed = old
        .keys()
        .filter(|k| !next.contains_key(*k))
        .cloned()
        .collect();
    match shard.apps.write() {
        Ok(mut g) => *g = Arc::new(next),
        Err(p) => *p.into_inner() = Arc::new(next),
    }
    Ok(report)
}

/// Waits for `SIGHUP` and reloads, forever.
pub async fn on_sighup(shard: Arc<Shard>, config_path: Option<PathBuf>, overrides: Overrides) {
    #[cfg(unix)]
    {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::warn!("cannot listen for SIGHUP: reload disabled");
            return;
        };
        while hup.recv().await.is_some() {
            match reload(&shard, config_path.as_deref(), &overrides) {
                Ok(r) => {
                    tracing::info!(added = ?r.added, removed = ?r.removed, reloaded = ?r.reloaded, "configuration reloaded");
                    if !r.need_restart.is_empty() {
                        tracing::warn!(settings = ?r.need_restart, "these settings changed and take effect only after a restart");
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "reload failed: the previous configuration stays in force")
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (shard, config_path, overrides);
    }
}
