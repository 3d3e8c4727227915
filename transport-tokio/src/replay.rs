//! The host's replay cache: the core's [`ReplayCache`] over sharded hash maps, so concurrent
//! requests rarely wait on each other.
//!
//! Entries are keyed by a 128-bit keyed hash of `(keyid, nonce)` (two SipHash instances with
//! per-process random keys: no allocation per request, and no way for a remote party to aim
//! collisions). Expired entries are purged when a shard grows; when the cache holds
//! `capacity` live entries it refuses new nonces (503) instead of forgetting a live one,
//! which would re-open a replay window. At 10,000 requests/s over the 6-minute window the
//! default capacity of 8 million entries is enough; an entry costs about 40 bytes.

use shardpeer_core::replay::{ReplayCache, ReplayError};
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::Mutex;

const SHARDS: usize = 64;

/// A concurrent replay cache.
#[derive(Debug)]
pub struct SharedReplay {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
    hash_a: RandomState,
    hash_b: RandomState,
}

#[derive(Debug, Default)]
struct Shard {
    entries: HashMap<u128, u64>,
    /// The smallest `keep_until` that may be in `entries`: purging before then is pointless.
    next_purge: u64,
}

impl SharedReplay {
    /// A cache for at most `capacity` live entries.
    pub fn new(capacity: usize) -> Self {
        SharedReplay {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
            hash_a: RandomState::new(),
            hash_b: RandomState::new(),
        }
    }

    fn key(&self, keyid: &str, nonce: &str) -> u128 {
        let h = |s: &RandomState| {
            let mut h = s.build_hasher();
            h.write_usize(keyid.len());
            h.write(keyid.as_bytes());
            h.write(nonce.as_bytes());
            h.finish()
        };
        (u128::from(h(&self.hash_a)) << 64) | u128::from(h(&self.hash_b))
    }

    /// Records `(keyid, nonce)`; see [`ReplayCache::check_and_insert`].
    pub fn check_and_insert(
        &self,
        keyid: &str,
        nonce: &str,
        now: u64,
        keep_until: u64,
    ) -> Result<(), ReplayError> {
        let key = self.key(keyid, nonce);
        let idx = (key as usize) % SHARDS;
        let Some(shard) = self.shards.get(idx) else {
            return Err(ReplayError::Full);
        };
        let mut s = match shard.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if let Some(until) = s.entries.get(&key)
            && *until >= now
        {
            return Err(ReplayError::Replayed);
        }
        if s.entries.len() >= self.per_shard && now >= s.next_purge {
            s.entries.retain(|_, until| *until >= now);
            s.next_purge = s
                .entries
                .values()
                .copied()
                .min()
                .unwrap_or(now)
                .saturating_add(1);
        }
        if s.entries.len() >= self.per_shard && !s.entries.contains_key(&key) {
            return Err(ReplayError::Full);
        }
        s.entries.insert(key, keep_until);
        s.next_purge = s.next_purge.min(keep_until.saturating_add(1));
        Ok(())
    }

    /// Live entries (for metrics).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map(|g| g.entries.len()).unwrap_or(0))
            .sum()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The core's trait over a shared cache.
#[derive(Debug, Clone, Copy)]
pub struct ReplayHandle<'a>(pub &'a SharedReplay);

impl ReplayCache for ReplayHandle<'_> {
    fn check_and_insert(
        &mut self,
        keyid: &str,
        nonce: &str,
        now: u64,
        keep_until: u64,
    ) -> Result<(), ReplayError> {
        self.0.check_and_insert(keyid, nonce, now, keep_until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_refused_and_expired_entries_make_room() {
        let c = SharedReplay::new(SHARDS); // one entry per shard
        assert_eq!(c.check_and_insert("k", "n", 10, 100), Ok(()));
        assert_eq!(
            c.check_and_insert("k", "n", 50, 100),
            Err(ReplayError::Replayed)
        );
        assert_eq!(
            c.check_and_insert("k", "n", 101, 200),
            Ok(()),
            "expired entry is no replay"
        );
        let mut full = 0;
        for i in 0..10_000 {
            if c.check_and_insert("k", &format!("x{i}"), 101, 200) == Err(ReplayError::Full) {
                full += 1;
            }
        }
        assert!(full > 0, "bounded");
        assert!(c.len() <= SHARDS);
        // Once everything expired, there is room again.
        assert_eq!(c.check_and_insert("k", "later", 500, 600), Ok(()));
    }
}
