//! Token buckets: failed signature verifications per source address, and call_peer per app.
//!
//! An Ed25519 verification costs tens of microseconds here (tens of milliseconds on a
//! device), so a client sending garbage signatures could burn a core. Each source address
//! gets a bucket of failures; when it is empty, its signed requests are answered 429 with
//! `Retry-After` *before* any verification. Successful verifications cost nothing. Behind a
//! reverse proxy every client shares the proxy's address: raise the limit there or rely on
//! the proxy's own limits.
//!
//! Buckets that have refilled completely carry no information and are dropped when the map
//! grows past [`MAX_KEYS`], so memory stays bounded under address spraying.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most keys kept before full buckets are dropped.
pub const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Buckets keyed by `K`.
#[derive(Debug)]
pub struct Limiter<K> {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    /// `burst` tokens, refilled at `per_second`.
    pub fn new(per_second: f64, burst: f64) -> Self {
        Limiter {
            per_second: per_second.max(1e-6),
            burst: burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn refill(&self, b: &mut Bucket, now: Instant) {
        let dt = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + dt * self.per_second).min(self.burst);
        b.at = now;
    }

    fn wait_for_one(&self, b: &Bucket) -> Duration {
        Duration::from_secs_f64(((1.0 - b.tokens) / self.per_second).max(0.0))
    }

    /// Whether `key` has a token left, without taking it; `Err(wait)` when empty.
    pub fn check(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let mut map = match self.buckets.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        match map.get_mut(key) {
            None => Ok(()),
            Some(b) => {
                self.refill(b, now);
                if b.tokens >= 1.0 {
                    Ok(())
                } else {
                    Err(self.wait_for_one(b))
                }
            }
        }
    }

    /// Takes one token from `key`; `Err(wait)` when none is left (nothing taken).
    pub fn take(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let mut map = match self.buckets.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if map.len() >= MAX_KEYS && !map.contains_key(key) {
            let burst = self.burst;
            let rate = self.per_second;
            map.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < burst
            });
        }
        let b = map.entry(key.clone()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        self.refill(b, now);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(self.wait_for_one(b))
        }
    }
}

/// Seconds for a `Retry-After` field: at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill() {
        let l = Limiter::new(2.0, 3.0);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.take(&"a", t0).is_ok());
        }
        let wait = l.take(&"a", t0).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(500));
        assert!(l.check(&"a", t0).is_err());
        assert!(l.check(&"b", t0).is_ok(), "keys are independent");
        assert!(
            l.take(&"a", t0 + Duration::from_millis(600)).is_ok(),
            "refilled"
        );
        assert_eq!(retry_after_secs(Duration::from_millis(10)), 1);
    }
}
