//! Keeps the peers list current: a background task re-fetches each peer's signed whoareyou
//! and records `is_reachable`, `last_seen`, `self_name` and `domain` — never a different key
//! for an ID: a whoareyou whose key differs from the pinned one is refused and logged (see
//! [`crate::client::refresh_peer`]).
//!
//! Each peer is visited every `refresh_secs`. A peer that cannot be reached is retried with
//! exponential backoff, from `refresh_secs` doubling up to [`MAX_BACKOFF`], so a gone peer
//! costs one attempt an hour, not one per interval. A successful contact (here or through a
//! call) resets it.

use crate::peers::{StoreError, unix_now};
use crate::state::Shard;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The longest wait between two attempts at an unreachable peer.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// When each peer is due, and how many attempts in a row failed.
#[derive(Debug, Default)]
pub struct Schedule {
    due: HashMap<String, (u64, u32)>,
}

impl Schedule {
    /// The peers due at `now`.
    pub fn due(&self, ids: impl Iterator<Item = String>, now: u64) -> Vec<String> {
        ids.filter(|id| self.due.get(id).is_none_or(|(at, _)| *at <= now))
            .collect()
    }

    /// Records an attempt's outcome.
    pub fn record(&mut self, id: &str, ok: bool, now: u64, interval: Duration) {
        let failures = if ok {
            0
        } else {
            self.due.get(id).map_or(1, |(_, f)| f.saturating_add(1))
        };
        let wait = if failures == 0 {
            interval
        } else {
            let factor = 1u64 << (failures - 1).min(20);
            interval
                .saturating_mul(factor as u32)
                .min(MAX_BACKOFF.max(interval))
        };
        self.due.insert(
            id.to_string(),
            (now.saturating_add(wait.as_secs().max(1)), failures),
        );
    }

    /// Forgets peers no longer listed.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.due.retain(|id, _| keep(id));
    }
}

/// Runs forever, visiting due peers every `interval`.
pub async fn run(shard: Arc<Shard>, interval: Duration) {
    let mut schedule = Schedule::default();
    let tick = interval
        .min(Duration::from_secs(30))
        .max(Duration::from_millis(200));
    loop {
        tokio::time::sleep(tick).await;
        let snap = shard.peers.snapshot();
        schedule.retain(|id| snap.get(id).is_some());
        let now = unix_now();
        for id in schedule.due(snap.iter().map(|p| p.id.clone()), now) {
            let ok = match crate::client::refresh_peer(&shard, &id).await {
                Ok(p) => p.is_reachable,
                Err(StoreError::KeyConflict) => {
                    tracing::warn!(peer = %id, "peer now presents a different key: kept the pinned one, marked unreachable");
                    false
                }
                Err(e) => {
                    tracing::debug!(peer = %id, error = %e, "refresh failed");
                    false
                }
            };
            schedule.record(&id, ok, unix_now(), interval);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap_and_success_resets_it() {
        let mut s = Schedule::default();
        let i = Duration::from_secs(300);
        assert_eq!(s.due(["a".to_string()].into_iter(), 0), vec!["a"]);
        let mut waits = Vec::new();
        let mut now = 0;
        for _ in 0..8 {
            s.record("a", false, now, i);
            let at = s.due["a"].0;
            waits.push(at - now);
            now = at;
        }
        assert_eq!(waits, vec![300, 600, 1200, 2400, 3600, 3600, 3600, 3600]);
        assert!(s.due(["a".to_string()].into_iter(), now - 1).is_empty());
        s.record("a", true, now, i);
        assert_eq!(s.due["a"], (now + 300, 0));
    }
}
