//! The peers store: full ID → the owner's name for the peer, its address, and the key pinned
//! for it.
//!
//! Reads take an `Arc` snapshot (no lock held while a request is verified); writes are
//! serialised by one async mutex, written to `peers.json` atomically (temp file, fsync,
//! rename, fsync dir) and only then published and acknowledged. So concurrent writers never
//! lose each other's changes, and a crash after an acknowledged write cannot lose it.
//!
//! The file carries `schema` (the format, 1) and `revision` (incremented by every write).
//! A key, once pinned for an ID, is never replaced: it was checked to derive that ID, and a
//! different key cannot.

use crate::datadir::{DataError, write_atomic};
use serde::{Deserialize, Serialize};
use shardpeer_core::id::ShardId;
use shardpeer_core::identity::PublicKey;
use shardpeer_core::verify::KeySource;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

/// The file format version.
pub const SCHEMA: u32 = 1;
/// Longest name accepted, in bytes.
pub const MAX_NAME: usize = 100;

/// One peer as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Peer {
    /// Full shard ID.
    pub id: String,
    /// The owner's name for this peer (what apps see as `client_name`).
    #[serde(default)]
    pub name: String,
    /// What the peer calls itself (from its whoareyou); never shown to apps as the name.
    #[serde(default)]
    pub self_name: Option<String>,
    /// Base URL overriding DNS, e.g. `http://127.0.0.1:9443`.
    #[serde(default)]
    pub address: Option<String>,
    /// The domain the peer reported; default `<short_id>.<zone>`.
    #[serde(default)]
    pub domain: Option<String>,
    /// The pinned public key, hex; set once from a verified whoareyou.
    #[serde(default)]
    pub public_key: Option<String>,
    /// Whether the last contact succeeded.
    #[serde(default)]
    pub is_reachable: bool,
    /// Unix seconds of the last successful contact.
    #[serde(default)]
    pub last_seen: Option<u64>,
    /// Unix seconds of the last call this peer accepted (proof it added us back).
    #[serde(default)]
    pub last_accepted_call: Option<u64>,
    /// Unix seconds when added.
    #[serde(default)]
    pub added_at: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoreFile {
    schema: u32,
    revision: u64,
    peers: Vec<Peer>,
}

/// An immutable view of the store.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Incremented by every write.
    pub revision: u64,
    peers: BTreeMap<String, (Peer, Option<PublicKey>)>,
}

impl Snapshot {
    /// A peer by full ID.
    pub fn get(&self, id: &str) -> Option<&Peer> {
        self.peers.get(id).map(|(p, _)| p)
    }

    /// The pinned key of a peer.
    pub fn key(&self, id: &str) -> Option<PublicKey> {
        self.peers.get(id).and_then(|(_, k)| *k)
    }

    /// All peers, ordered by ID.
    pub fn iter(&self) -> impl Iterator<Item = &Peer> {
        self.peers.values().map(|(p, _)| p)
    }

    /// The one peer whose ID starts with `prefix` (at least 6 characters), if exactly one
    /// does. For reads only: writes and authentication always use the full ID.
    pub fn by_unambiguous_prefix(&self, prefix: &str) -> Result<&Peer, LookupError> {
        if prefix.len() < shardpeer_core::id::SHORT_ID_LEN {
            return Err(LookupError::TooShort);
        }
        let prefix = prefix.to_ascii_lowercase();
        let mut it = self
            .peers
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix));
        match (it.next(), it.next()) {
            (Some((_, (p, _))), None) => Ok(p),
            (None, _) => Err(LookupError::NotFound),
            (Some(_), Some(_)) => Err(LookupError::Ambiguous),
        }
    }

    /// Number of peers.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }
}

/// Keys come from the peers list only: that is the "both have added each other" rule.
impl KeySource for Snapshot {
    fn key_for(&self, keyid: Option<&str>) -> Option<PublicKey> {
        self.key(keyid?)
    }
}

/// Why a prefix lookup failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupError {
    /// Shorter than a short ID.
    TooShort,
    /// No peer.
    NotFound,
    /// More than one peer.
    Ambiguous,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Disk.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The file is not a valid store.
    #[error("{path}: {message}")]
    Corrupt {
        /// File.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// No such peer.
    #[error("no such peer")]
    NotFound,
    /// A different key is already pinned for this ID.
    #[error("a different key is pinned for this peer")]
    KeyConflict,
}

/// The store.
#[derive(Debug)]
pub struct PeerStore {
    path: PathBuf,
    current: RwLock<Arc<Snapshot>>,
    writer: tokio::sync::Mutex<()>,
}

/// Checks a display name: not empty, at most [`MAX_NAME`] bytes, no control characters
/// (names end up in header values).
pub fn check_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() > MAX_NAME {
        return Err(format!("longer than {MAX_NAME} bytes"));
    }
    if name.chars().any(char::is_control) {
        return Err("contains a control character".into());
    }
    Ok(())
}

/// Checks a peer address: `http://` or `https://`, host and optional port, nothing else.
pub fn check_address(address: &str) -> Result<http::Uri, String> {
    let uri: http::Uri = address.parse().map_err(|e| format!("not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err("scheme must be http or https".into()),
    }
    let auth = uri.authority().ok_or("missing host")?;
    if auth.as_str().contains('@') {
        return Err("must not contain user information".into());
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err("must be a base URL without path or query".into());
    }
    Ok(uri)
}

fn parse_key(p: &Peer) -> Result<Option<PublicKey>, String> {
    let Some(hex) = &p.public_key else {
        return Ok(None);
    };
    let key = PublicKey::from_hex(hex).map_err(|e| format!("peer {}: key: {e}", p.id))?;
    let id = ShardId::parse(&p.id).map_err(|e| format!("peer {:?}: {e}", p.id))?;
    if !id.is_id_of(&key) {
        return Err(format!(
            "peer {}: the stored key is not the key of this ID",
            p.id
        ));
    }
    Ok(Some(key))
}

impl PeerStore {
    /// Loads the store (an absent file is an empty store). A corrupt file is an error: the
    /// host refuses to start rather than run with lost peers.
    pub fn load(path: PathBuf) -> Result<PeerStore, StoreError> {
        let snapshot = match std::fs::read(&path) {
            Ok(bytes) => {
                let corrupt = |message: String| StoreError::Corrupt {
                    path: path.clone(),
                    message,
                };
                let file: StoreFile =
                    serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
                if file.schema != SCHEMA {
                    return Err(corrupt(format!("schema {} is not {SCHEMA}", file.schema)));
                }
                let mut peers = BTreeMap::new();
                for p in file.peers {
                    let id = ShardId::parse(&p.id)
                        .map_err(|e| corrupt(format!("peer {:?}: {e}", p.id)))?;
                    let key = parse_key(&p).map_err(corrupt)?;
                    peers.insert(id.as_str().to_string(), (p, key));
                }
                Snapshot {
                    revision: file.revision,
                    peers,
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Snapshot::default(),
            Err(source) => return Err(DataError::Io { path, source }.into()),
        };
        Ok(PeerStore {
            path,
            current: RwLock::new(Arc::new(snapshot)),
            writer: tokio::sync::Mutex::new(()),
        })
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Applies `change` to a copy of the peers, writes it durably, then publishes it.
    /// `change` returns `Err` to abort with nothing written.
    pub async fn modify<T>(
        &self,
        change: impl FnOnce(&mut BTreeMap<String, Peer>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let _guard = self.writer.lock().await;
        let old = self.snapshot();
        let mut peers: BTreeMap<String, Peer> = old
            .peers
            .iter()
            .map(|(k, (p, _))| (k.clone(), p.clone()))
            .collect();
        let out = change(&mut peers)?;
        let revision = old.revision + 1;
        let file = StoreFile {
            schema: SCHEMA,
            revision,
            peers: peers.values().cloned().collect(),
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| StoreError::Corrupt {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        let mut next = BTreeMap::new();
        for (k, p) in peers {
            let key = parse_key(&p).map_err(|message| StoreError::Corrupt {
                path: self.path.clone(),
                message,
            })?;
            next.insert(k, (p, key));
        }
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || write_atomic(&path, &bytes, 0o600))
            .await
            .map_err(|e| StoreError::Corrupt {
                path: self.path.clone(),
                message: e.to_string(),
            })??;
        let snapshot = Arc::new(Snapshot {
            revision,
            peers: next,
        });
        match self.current.write() {
            Ok(mut g) => *g = snapshot,
            Err(poisoned) => *poisoned.into_inner() = snapshot,
        }
        Ok(out)
    }
}

/// Checks what a peer write names, as every writer (API, CLI) must: not this shard itself,
/// a usable name, a base-URL address. The error is `(code, message)` for the caller's own
/// error type.
pub fn check_write(
    id: &ShardId,
    own: Option<&ShardId>,
    name: Option<&str>,
    address: Option<&str>,
) -> Result<(), (&'static str, String)> {
    if own == Some(id) {
        return Err(("peer_is_self", "a shard cannot be its own peer".into()));
    }
    if let Some(n) = name {
        check_name(n).map_err(|m| ("invalid_name", format!("name {m}")))?;
    }
    if let Some(a) = address {
        check_address(a).map_err(|m| ("invalid_address", format!("address {m}")))?;
    }
    Ok(())
}

impl PeerStore {
    /// Adds `id` (named by its short ID until the owner names it) or updates its name and
    /// address. Returns whether it was created, and the stored peer.
    pub async fn upsert(
        &self,
        id: &ShardId,
        name: Option<String>,
        address: Option<String>,
    ) -> Result<(bool, Peer), StoreError> {
        let key = id.as_str().to_string();
        self.modify(|m| {
            let created = !m.contains_key(&key);
            let entry = m.entry(key.clone()).or_insert_with(|| Peer {
                id: key.clone(),
                name: id.short_id().to_string(),
                self_name: None,
                address: None,
                domain: None,
                public_key: None,
                is_reachable: false,
                last_seen: None,
                last_accepted_call: None,
                added_at: unix_now(),
            });
            if let Some(n) = name {
                entry.name = n;
            }
            if let Some(a) = address {
                entry.address = Some(a);
            }
            Ok((created, entry.clone()))
        })
        .await
    }
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shardpeer_core::identity::Identity;

    fn id(n: u8) -> Identity {
        Identity::from_seed([n; 32]).unwrap()
    }

    fn peer(i: &Identity, name: &str) -> Peer {
        Peer {
            id: i.id().as_str().to_string(),
            name: name.into(),
            self_name: None,
            address: None,
            domain: None,
            public_key: None,
            is_reachable: false,
            last_seen: None,
            last_accepted_call: None,
            added_at: 1,
        }
    }

    #[tokio::test]
    async fn writes_survive_reload_and_bump_revision() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peers.json");
        let s = PeerStore::load(path.clone()).unwrap();
        let a = id(1);
        s.modify(|m| {
            m.insert(a.id().as_str().into(), peer(&a, "Alice"));
            Ok(())
        })
        .await
        .unwrap();
        let r = PeerStore::load(path).unwrap();
        assert_eq!(r.snapshot().revision, 1);
        assert_eq!(r.snapshot().get(a.id().as_str()).unwrap().name, "Alice");
    }

    #[tokio::test]
    async fn concurrent_writers_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peers.json");
        let s = Arc::new(PeerStore::load(path.clone()).unwrap());
        let mut tasks = Vec::new();
        for n in 1..=20u8 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let i = id(n);
                s.modify(|m| {
                    m.insert(i.id().as_str().into(), peer(&i, &format!("p{n}")));
                    Ok(())
                })
                .await
                .unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(PeerStore::load(path).unwrap().snapshot().len(), 20);
    }

    #[test]
    fn a_wrong_pinned_key_or_bad_file_refuses_to_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peers.json");
        let mut p = peer(&id(1), "A");
        p.public_key = Some(hex_of(id(2).public_key().as_bytes()));
        let f = StoreFile {
            schema: SCHEMA,
            revision: 3,
            peers: vec![p],
        };
        std::fs::write(&path, serde_json::to_vec(&f).unwrap()).unwrap();
        assert!(matches!(
            PeerStore::load(path.clone()),
            Err(StoreError::Corrupt { .. })
        ));
        std::fs::write(&path, b"{not json").unwrap();
        assert!(matches!(
            PeerStore::load(path.clone()),
            Err(StoreError::Corrupt { .. })
        ));
        std::fs::write(&path, br#"{"schema":2,"revision":0,"peers":[]}"#).unwrap();
        assert!(matches!(
            PeerStore::load(path),
            Err(StoreError::Corrupt { .. })
        ));
    }

    fn hex_of(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn prefix_lookup_is_unambiguous_or_nothing() {
        let mut snap = Snapshot::default();
        let a = id(1);
        let p = peer(&a, "A");
        snap.peers.insert(p.id.clone(), (p.clone(), None));
        assert_eq!(snap.by_unambiguous_prefix(&p.id[..6]).unwrap().id, p.id);
        assert_eq!(
            snap.by_unambiguous_prefix(&p.id[..5]),
            Err(LookupError::TooShort)
        );
        let mut twin = p.clone();
        twin.id = format!("{}{}", &p.id[..6], "a".repeat(42));
        snap.peers.insert(twin.id.clone(), (twin, None));
        assert_eq!(
            snap.by_unambiguous_prefix(&p.id[..6]),
            Err(LookupError::Ambiguous)
        );
        assert_eq!(snap.by_unambiguous_prefix(&p.id).unwrap().id, p.id);
    }

    #[test]
    fn names_and_addresses() {
        assert!(check_name("Bob").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a\nb").is_err());
        assert!(check_name(&"x".repeat(101)).is_err());
        assert!(check_address("http://127.0.0.1:9443").is_ok());
        assert!(check_address("https://bob.example").is_ok());
        assert!(check_address("ftp://x").is_err());
        assert!(check_address("http://u@x").is_err());
        assert!(check_address("http://x/path").is_err());
    }
}
