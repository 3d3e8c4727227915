//! Replay protection: a signature's `(keyid, nonce)` is accepted once.
//!
//! The verifier consults the cache only after the signature has verified (so forged
//! requests cannot fill it) and only for signatures that carry a nonce. An entry is kept
//! until the signature it came from can no longer pass the freshness check; after that a
//! replay fails on freshness alone, so the entry may go.
//!
//! [`FixedReplayCache`] is the no-heap cache for devices. When it is full of entries that
//! are all still needed it **refuses the new request** ([`ReplayError::Full`]) rather than
//! evict a live entry — evicting would re-open the window for the evicted nonce. Size it for
//! the expected rate: `N ≥ requests per second × freshness window`. Hosts plug in a larger,
//! concurrent implementation of [`ReplayCache`].

use crate::wire::wire_error;
use sha2::Digest as _;

/// Remembers accepted `(keyid, nonce)` pairs.
pub trait ReplayCache {
    /// Records `(keyid, nonce)`, needed until `keep_until` (seconds, same clock as `now`).
    /// Fails with [`ReplayError::Replayed`] when the pair is already recorded and still
    /// needed, and [`ReplayError::Full`] when there is no room; records nothing then.
    fn check_and_insert(
        &mut self,
        keyid: &str,
        nonce: &str,
        now: u64,
        keep_until: u64,
    ) -> Result<(), ReplayError>;
}

/// Why a nonce was refused.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayError {
    /// This `(keyid, nonce)` was accepted before.
    Replayed,
    /// The cache has no room for another live entry.
    Full,
}

wire_error!(ReplayError {
    ReplayError::Replayed => (401, "signature_replayed", "this signature's nonce was already used"),
    ReplayError::Full => (503, "replay_cache_full", "too many recent signed requests; try again shortly"),
});

/// A fixed-capacity replay cache with no heap: `N` entries of 24 bytes.
///
/// Entries store a 128-bit hash of `(keyid, nonce)`, so memory does not depend on nonce
/// length. Lookup is a linear scan: fine for the few hundred entries a device keeps.
#[derive(Debug, Clone)]
pub struct FixedReplayCache<const N: usize> {
    entries: [Entry; N],
}

#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    key: [u8; 16],
    keep_until: u64,
    used: bool,
}

impl<const N: usize> Default for FixedReplayCache<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> FixedReplayCache<N> {
    /// An empty cache.
    pub const fn new() -> Self {
        FixedReplayCache {
            entries: [Entry {
                key: [0; 16],
                keep_until: 0,
                used: false,
            }; N],
        }
    }

    /// Entries still needed at `now`.
    pub fn live(&self, now: u64) -> usize {
        self.entries
            .iter()
            .filter(|e| e.used && e.keep_until >= now)
            .count()
    }

    /// The capacity `N`.
    pub const fn capacity(&self) -> usize {
        N
    }
}

/// The cache key: length-prefixed so that `("ab", "c")` and `("a", "bc")` differ.
fn entry_key(keyid: &str, nonce: &str) -> [u8; 16] {
    let mut h = sha2::Sha256::new();
    h.update((keyid.len() as u64).to_be_bytes());
    h.update(keyid.as_bytes());
    h.update(nonce.as_bytes());
    let full = h.finalize();
    let mut key = [0u8; 16];
    key.iter_mut().zip(full.iter()).for_each(|(d, s)| *d = *s);
    key
}

impl<const N: usize> ReplayCache for FixedReplayCache<N> {
    fn check_and_insert(
        &mut self,
        keyid: &str,
        nonce: &str,
        now: u64,
        keep_until: u64,
    ) -> Result<(), ReplayError> {
        let key = entry_key(keyid, nonce);
        let mut free = None;
        for (i, e) in self.entries.iter().enumerate() {
            let live = e.used && e.keep_until >= now;
            if live && e.key == key {
                return Err(ReplayError::Replayed);
            }
            if !live && free.is_none() {
                free = Some(i);
            }
        }
        let slot = free
            .and_then(|i| self.entries.get_mut(i))
            .ok_or(ReplayError::Full)?;
        *slot = Entry {
            key,
            keep_until,
            used: true,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_use_is_refused() {
        let mut c = FixedReplayCache::<4>::new();
        assert_eq!(c.check_and_insert("k", "n1", 100, 400), Ok(()));
        assert_eq!(
            c.check_and_insert("k", "n1", 101, 400),
            Err(ReplayError::Replayed)
        );
        // Same nonce from another key is another pair.
        assert_eq!(c.check_and_insert("k2", "n1", 101, 400), Ok(()));
        assert_eq!(c.check_and_insert("k", "n2", 101, 400), Ok(()));
    }

    #[test]
    fn length_prefix_separates_pairs() {
        let mut c = FixedReplayCache::<4>::new();
        assert_eq!(c.check_and_insert("ab", "c", 0, 10), Ok(()));
        assert_eq!(c.check_and_insert("a", "bc", 0, 10), Ok(()));
    }

    #[test]
    fn full_refuses_and_never_evicts_live_entries() {
        let mut c = FixedReplayCache::<2>::new();
        c.check_and_insert("k", "a", 0, 100).unwrap();
        c.check_and_insert("k", "b", 0, 100).unwrap();
        assert_eq!(
            c.check_and_insert("k", "c", 50, 150),
            Err(ReplayError::Full)
        );
        // The refused nonce was not recorded, and the live ones still are.
        assert_eq!(
            c.check_and_insert("k", "a", 50, 150),
            Err(ReplayError::Replayed)
        );
        assert_eq!(c.live(50), 2);
    }

    #[test]
    fn expired_entries_make_room() {
        let mut c = FixedReplayCache::<2>::new();
        c.check_and_insert("k", "a", 0, 100).unwrap();
        c.check_and_insert("k", "b", 0, 200).unwrap();
        assert_eq!(c.check_and_insert("k", "c", 101, 400), Ok(()));
        assert_eq!(c.live(101), 2);
        assert_eq!(
            c.check_and_insert("k", "b", 150, 400),
            Err(ReplayError::Replayed)
        );
    }

    #[test]
    fn entry_size_is_small() {
        assert!(core::mem::size_of::<FixedReplayCache<64>>() <= 64 * 32);
    }
}
