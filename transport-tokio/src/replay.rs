//! The host's replay cache: the core's [`ReplayCache`] over sharded hash maps, so concurrent
//! requests rarely wait on each other.
//!
//! Entries are keyed by a 128-bit keyed hash of `(keyid, nonce)` (two SipHash instances with
//! per-process random keys: no allocation per request, and no way for a remote party to aim
//! collisions). Expired entries are purged when a shard grows; when the cache holds
//! `capacity` live entries it refuses new nonces (503) instead of forgetting a live one,
//! which would re-open a replay window. At 10,000 requests/s over the 6-minute window the
//! default capacity of 8 million entries is enough; an entry costs about 40 bytes.
//!
//! **Across restarts** the cache would forget, and a request captured before a restart could
//! be replayed after it. So a host keeps a journal ([`Journal`]): every accepted nonce is
//! appended to `<data-dir>/replay/<segment>` with one `write` before the request is acted on,
//! and the live entries are loaded back at start. A write that returned survives the process
//! being killed (it is in the page cache); it is not fsynced, so a power cut can lose the last
//! seconds of nonces — the window a replay after a power cut could use. Segments rotate every
//! [`SEGMENT_SECS`]; a segment is deleted only when every entry in it has expired. If the
//! journal cannot be written the nonce is refused (fail closed, 503).

use shardpeer_core::replay::{ReplayCache, ReplayError};
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hasher, RandomState};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

/// How long one journal segment is appended to.
pub const SEGMENT_SECS: u64 = 600;

const SHARDS: usize = 64;

/// Entries each shard's map has room for from the start.
const PRESIZED_PER_SHARD: usize = 1024;

/// A concurrent replay cache.
#[derive(Debug)]
pub struct SharedReplay {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
    hash_a: RandomState,
    hash_b: RandomState,
    /// Read-locked to append (appends run in parallel), write-locked to rotate segments.
    journal: Option<RwLock<Journal>>,
}

/// A journaled nonce: `(keyid, nonce, keep_until)`.
pub type JournalEntry = (String, String, u64);

/// The append-only record of accepted nonces in a directory of segments.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    current: File,
    current_name: u64,
    /// Segments no longer appended to, with the latest `keep_until` each holds.
    sealed: Vec<(u64, u64)>,
    current_max: AtomicU64,
}

/// A journal line built on the stack: `keep_until`, a 48-character shard ID and a nonce of up
/// to 128 characters, hex-encoded.
const LINE_STACK: usize = 20 + 1 + 2 * 48 + 1 + 2 * 128 + 1;

/// Writes `keep_until \t hex(keyid) \t hex(nonce) \n` into `out`; `None` if it does not fit.
fn journal_line(out: &mut [u8], keep_until: u64, keyid: &str, nonce: &str) -> Option<usize> {
    use std::io::Write as _;
    let mut cur = std::io::Cursor::new(out);
    write!(cur, "{keep_until}\t").ok()?;
    for (i, part) in [keyid, nonce].into_iter().enumerate() {
        for b in part.bytes() {
            cur.write_all(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]])
                .ok()?;
        }
        cur.write_all(if i == 0 { b"\t" } else { b"\n" }).ok()?;
    }
    usize::try_from(cur.position()).ok()
}

const HEX: [u8; 16] = *b"0123456789abcdef";

fn unhex(s: &str) -> Option<String> {
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect();
    String::from_utf8(bytes?).ok()
}

impl Journal {
    /// Opens the journal in `dir`, returning it with the live entries `(keyid, nonce,
    /// keep_until)` of earlier runs. Unreadable lines are skipped (a torn last line after a
    /// crash is expected).
    pub fn open(dir: &Path, now: u64) -> std::io::Result<(Journal, Vec<JournalEntry>)> {
        fs::create_dir_all(dir)?;
        let mut live = Vec::new();
        let mut sealed = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let Some(name) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            let mut max = 0u64;
            for line in BufReader::new(File::open(entry.path())?).lines() {
                let Ok(line) = line else { break };
                let mut parts = line.split('\t');
                let (Some(until), Some(k), Some(n)) = (parts.next(), parts.next(), parts.next())
                else {
                    continue;
                };
                let (Ok(until), Some(k), Some(n)) = (until.parse::<u64>(), unhex(k), unhex(n))
                else {
                    continue;
                };
                max = max.max(until);
                if until >= now {
                    live.push((k, n, until));
                }
            }
            sealed.push((name, max));
        }
        let current_name = now.max(sealed.iter().map(|(n, _)| n + 1).max().unwrap_or(0));
        let current = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(current_name.to_string()))?;
        let mut j = Journal {
            dir: dir.to_path_buf(),
            current,
            current_name,
            sealed,
            current_max: AtomicU64::new(0),
        };
        j.drop_expired(now);
        Ok((j, live))
    }

    fn due_for_rotation(&self, now: u64) -> bool {
        now >= self.current_name.saturating_add(SEGMENT_SECS)
    }

    fn rotate(&mut self, now: u64) -> std::io::Result<()> {
        let next = now.max(self.current_name + 1);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(next.to_string()))?;
        self.sealed
            .push((self.current_name, *self.current_max.get_mut()));
        self.current = file;
        self.current_name = next;
        *self.current_max.get_mut() = 0;
        self.drop_expired(now);
        Ok(())
    }

    /// Appends one line. Takes `&self`: the segment is opened with `O_APPEND`, so concurrent
    /// `write`s of a line each land whole, one after another, and requests on different
    /// threads do not queue behind each other's system call.
    fn write_line(&self, keyid: &str, nonce: &str, keep_until: u64) -> std::io::Result<()> {
        // Built on the stack: the request path allocates nothing here. Only a nonce far longer
        // than any signer makes (ours are 22 characters) takes the heap.
        let mut line = [0u8; LINE_STACK];
        let mut current = &self.current;
        match journal_line(&mut line, keep_until, keyid, nonce) {
            Some(n) => current.write_all(line.get(..n).unwrap_or_default())?,
            None => {
                // 20 digits of `keep_until`, two tabs, a newline, and the hex.
                let mut long = vec![0u8; 23 + 2 * (keyid.len() + nonce.len())];
                let n = journal_line(&mut long, keep_until, keyid, nonce)
                    .ok_or_else(|| std::io::Error::other("journal line does not fit"))?;
                current.write_all(long.get(..n).unwrap_or_default())?;
            }
        }
        self.current_max.fetch_max(keep_until, Ordering::Relaxed);
        Ok(())
    }

    fn drop_expired(&mut self, now: u64) {
        let dir = self.dir.clone();
        self.sealed.retain(|(name, max)| {
            if *max < now {
                let _ = fs::remove_file(dir.join(name.to_string()));
                false
            } else {
                true
            }
        });
    }
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
        let per_shard = capacity.div_ceil(SHARDS).max(1);
        SharedReplay {
            // Sized so the first 64 Ki nonces never grow a map on the request path; the
            // memory a map reserves stays untouched until used (BENCHMARKS.md, idle RSS).
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        entries: HashMap::with_capacity(per_shard.min(PRESIZED_PER_SHARD)),
                        next_purge: 0,
                    })
                })
                .collect(),
            per_shard,
            hash_a: RandomState::new(),
            hash_b: RandomState::new(),
            journal: None,
        }
    }

    /// A cache backed by a journal in `dir`, with the live nonces of earlier runs loaded.
    pub fn with_journal(capacity: usize, dir: &Path, now: u64) -> std::io::Result<Self> {
        let (journal, live) = Journal::open(dir, now)?;
        let cache = SharedReplay::new(capacity);
        for (k, n, until) in &live {
            let _ = cache.insert_memory(k, n, now, *until);
        }
        Ok(SharedReplay {
            journal: Some(RwLock::new(journal)),
            ..cache
        })
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

    /// Records `(keyid, nonce)`, journaled first when there is a journal; see
    /// [`ReplayCache::check_and_insert`].
    pub fn check_and_insert(
        &self,
        keyid: &str,
        nonce: &str,
        now: u64,
        keep_until: u64,
    ) -> Result<(), ReplayError> {
        self.insert_memory(keyid, nonce, now, keep_until)?;
        if let Some(j) = &self.journal
            && let Err(e) = append(j, keyid, nonce, keep_until, now)
        {
            tracing::error!(error = %e, "replay journal write failed: refusing the request");
            return Err(ReplayError::Full);
        }
        Ok(())
    }

    fn insert_memory(
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

/// Appends to the journal under its read lock; only a segment rotation (every
/// [`SEGMENT_SECS`]) takes the write lock.
fn append(
    journal: &RwLock<Journal>,
    keyid: &str,
    nonce: &str,
    keep_until: u64,
    now: u64,
) -> std::io::Result<()> {
    {
        let j = journal.read().unwrap_or_else(|p| p.into_inner());
        if !j.due_for_rotation(now) {
            return j.write_line(keyid, nonce, keep_until);
        }
    }
    let mut j = journal.write().unwrap_or_else(|p| p.into_inner());
    if j.due_for_rotation(now) {
        j.rotate(now)?;
    }
    j.write_line(keyid, nonce, keep_until)
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

#[cfg(test)]
mod journal_tests {
    use super::*;

    #[test]
    fn nonces_survive_a_restart_and_expired_segments_go() {
        let dir = tempfile::tempdir().unwrap();
        let c = SharedReplay::with_journal(1000, dir.path(), 1000).unwrap();
        assert_eq!(c.check_and_insert("k", "n1", 1000, 1400), Ok(()));
        assert_eq!(c.check_and_insert("k", "tab\there", 1000, 1400), Ok(()));
        drop(c);
        // A torn last line from a crash is skipped, not fatal.
        let seg = fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        fs::OpenOptions::new()
            .append(true)
            .open(&seg)
            .unwrap()
            .write_all(b"12\tab")
            .unwrap();
        let c = SharedReplay::with_journal(1000, dir.path(), 1100).unwrap();
        assert_eq!(
            c.check_and_insert("k", "n1", 1100, 1500),
            Err(ReplayError::Replayed)
        );
        assert_eq!(
            c.check_and_insert("k", "tab\there", 1100, 1500),
            Err(ReplayError::Replayed)
        );
        assert_eq!(c.check_and_insert("k", "n2", 1100, 1500), Ok(()));
        drop(c);
        // Long after: everything expired, old segments are deleted on rotation/open.
        let c = SharedReplay::with_journal(1000, dir.path(), 10_000).unwrap();
        assert_eq!(c.check_and_insert("k", "n1", 10_000, 10_400), Ok(()));
        let files = fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(files, 1, "only the current segment remains");
    }
}
