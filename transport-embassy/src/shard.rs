//! The device's own shard: identity, domain, the peers table and the replay cache, shared by
//! the server's connections and the client.
//!
//! # Driving contract
//! Build one [`Shard`] at start ([`Shard::new`]) and keep it for the program's life (a
//! `static` with `StaticCell`, or a local in `main` that outlives every task). Add peers with
//! [`Shard::add_peer`]; a peer's key is pinned either from the owner's configuration
//! ([`Shard::pin_peer`]) or from its signed whoareyou ([`crate::client::fetch_whoareyou`]).
//! The pinned key of an ID is never replaced by another key.
//!
//! Both tables sit behind `embassy_sync` blocking mutexes of the caller's `RawMutex` kind
//! (`NoopRawMutex` when every task runs on one executor, `CriticalSectionRawMutex` across
//! interrupt priorities). Locks are held only to copy a key out or to record a nonce, never
//! while a signature is verified.
//!
//! # Resource limits
//! `PEERS` entries of about 260 bytes (ID, key, names, domain, address); `NONCES` replay
//! entries of 32 bytes: size it for `signed requests per second × 360`.

use core::cell::RefCell;
use embassy_net::IpEndpoint;
use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::RawMutex;
use heapless::String;
use shardpeer_core::id::ShardId;
use shardpeer_core::identity::{Identity, PublicKey};
use shardpeer_core::replay::{FixedReplayCache, ReplayCache, ReplayError};
use shardpeer_core::verify::KeySource;
use shardpeer_core::wire::WireError;

use crate::http::BufWriter;

/// Longest owner-given peer name, and the shard's own name.
pub const MAX_NAME: usize = 64;
/// Longest domain.
pub const MAX_DOMAIN: usize = 128;

/// The caller's clock: seconds since the Unix epoch (from an RTC, SNTP, or the host that
/// provisioned the device). Signatures are accepted within 60 s of skew and 300 s of age, so
/// the clock must be within a minute of the peers'.
pub trait Clock {
    /// Seconds since the Unix epoch.
    fn now(&self) -> u64;
}

/// The caller's random source, for request nonces (128 bits each). Use the chip's TRNG, or a
/// CSPRNG seeded from it; a repeated nonce makes the peer refuse the request as a replay.
pub trait Rng {
    /// Fills `out` with random bytes.
    fn fill_bytes(&mut self, out: &mut [u8]);
}

/// One entry of the peers table.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The peer's full ID.
    pub id: ShardId,
    /// The key pinned for it, once known.
    pub key: Option<PublicKey>,
    /// The owner's name for the peer (what apps see as `auth.client_name`).
    pub name: String<MAX_NAME>,
    /// The peer's domain, from its verified whoareyou (else `<short_id>.<our zone>`).
    pub domain: Option<String<MAX_DOMAIN>>,
    /// Where its gateway listens (plain HTTP), when configured.
    pub address: Option<IpEndpoint>,
}

/// Why the peers table refused a change.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerError {
    /// No room for another peer.
    TableFull,
    /// A name or domain is longer than the table stores, or has control characters.
    InvalidText,
    /// The ID is this shard's own.
    IsSelf,
    /// No peer with this ID.
    NotFound,
    /// The key is not the key of the peer's ID.
    KeyNotOfId,
    /// Another key is already pinned for this ID.
    KeyConflict,
}

impl core::fmt::Display for PeerError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            PeerError::TableFull => "the peers table is full",
            PeerError::InvalidText => "name or domain too long or not printable",
            PeerError::IsSelf => "a shard cannot be its own peer",
            PeerError::NotFound => "not one of this shard's peers",
            PeerError::KeyNotOfId => "the key is not the key of this ID",
            PeerError::KeyConflict => "another key is already pinned for this ID",
        })
    }
}

impl core::error::Error for PeerError {}

impl WireError for PeerError {
    fn code(&self) -> &'static str {
        match self {
            PeerError::TableFull => "peers_table_full",
            PeerError::InvalidText => "invalid_name",
            PeerError::IsSelf => "peer_is_self",
            PeerError::NotFound => "unknown_peer",
            PeerError::KeyNotOfId => "signature_key_not_of_id",
            PeerError::KeyConflict => "peer_key_conflict",
        }
    }
    fn http_status(&self) -> u16 {
        match self {
            PeerError::TableFull => 507,
            PeerError::NotFound => 404,
            PeerError::KeyConflict => 409,
            _ => 422,
        }
    }
}

fn text<const N: usize>(s: &str) -> Result<String<N>, PeerError> {
    if s.chars().any(char::is_control) {
        return Err(PeerError::InvalidText);
    }
    let mut out = String::new();
    out.push_str(s).map_err(|_| PeerError::InvalidText)?;
    Ok(out)
}

/// `a.b`, if it fits.
pub(crate) fn dotted<const N: usize>(a: &str, b: &str) -> Option<String<N>> {
    let mut s = String::new();
    s.push_str(a).ok()?;
    s.push('.').ok()?;
    s.push_str(b).ok()?;
    Some(s)
}

/// A fixed-capacity peers table: full ID → pinned key.
#[derive(Debug, Clone)]
pub struct PeerTable<const N: usize> {
    peers: heapless::Vec<Peer, N>,
}

impl<const N: usize> Default for PeerTable<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> PeerTable<N> {
    /// An empty table.
    pub const fn new() -> Self {
        PeerTable {
            peers: heapless::Vec::new(),
        }
    }

    /// The peer with exactly this full ID.
    pub fn get(&self, id: &ShardId) -> Option<&Peer> {
        self.peers.iter().find(|p| p.id == *id)
    }

    fn get_mut(&mut self, id: &ShardId) -> Option<&mut Peer> {
        self.peers.iter_mut().find(|p| p.id == *id)
    }

    /// Adds a peer, or updates the name and address of one already there.
    pub fn add(
        &mut self,
        id: ShardId,
        name: &str,
        address: Option<IpEndpoint>,
    ) -> Result<(), PeerError> {
        let name = text(name)?;
        if let Some(p) = self.get_mut(&id) {
            p.name = name;
            if address.is_some() {
                p.address = address;
            }
            return Ok(());
        }
        self.peers
            .push(Peer {
                id,
                key: None,
                name,
                domain: None,
                address,
            })
            .map_err(|_| PeerError::TableFull)
    }

    /// Pins `key` for the peer `id` (it must derive `id`), and records its domain.
    pub fn pin(
        &mut self,
        id: &ShardId,
        key: PublicKey,
        domain: Option<&str>,
    ) -> Result<(), PeerError> {
        if !id.is_id_of(&key) {
            return Err(PeerError::KeyNotOfId);
        }
        let domain = domain.map(text::<MAX_DOMAIN>).transpose()?;
        let p = self.get_mut(id).ok_or(PeerError::NotFound)?;
        match p.key {
            Some(pinned) if pinned != key => return Err(PeerError::KeyConflict),
            _ => p.key = Some(key),
        }
        if domain.is_some() {
            p.domain = domain;
        }
        Ok(())
    }

    /// Removes a peer.
    pub fn remove(&mut self, id: &ShardId) -> Result<(), PeerError> {
        let i = self
            .peers
            .iter()
            .position(|p| p.id == *id)
            .ok_or(PeerError::NotFound)?;
        self.peers.swap_remove(i);
        Ok(())
    }

    /// Number of peers.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }
}

/// Keys come from the peers table only, by exact full ID: the "both have added each other"
/// rule.
impl<const N: usize> KeySource for PeerTable<N> {
    fn key_for(&self, keyid: Option<&str>) -> Option<PublicKey> {
        let id = ShardId::parse(keyid?).ok()?;
        self.get(&id)?.key
    }
}

/// The device's shard.
pub struct Shard<M: RawMutex, const PEERS: usize, const NONCES: usize> {
    identity: Identity,
    id: ShardId,
    name: String<MAX_NAME>,
    domain: String<MAX_DOMAIN>,
    zone: String<MAX_DOMAIN>,
    public_key_pem: String<128>,
    peers: Mutex<M, RefCell<PeerTable<PEERS>>>,
    replay: Mutex<M, RefCell<FixedReplayCache<NONCES>>>,
}

impl<M: RawMutex, const PEERS: usize, const NONCES: usize> core::fmt::Debug
    for Shard<M, PEERS, NONCES>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Shard")
            .field("id", &self.id)
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

impl<M: RawMutex, const PEERS: usize, const NONCES: usize> Shard<M, PEERS, NONCES> {
    /// The shard of `identity`, named `name` (what whoareyou reports), in `zone`: its domain
    /// is `<short_id>.<zone>`.
    pub fn new(identity: Identity, name: &str, zone: &str) -> Result<Self, PeerError> {
        let id = identity.id();
        let zone: String<MAX_DOMAIN> = text(zone)?;
        let mut domain: String<MAX_DOMAIN> =
            dotted(id.short_id(), &zone).ok_or(PeerError::InvalidText)?;
        domain.make_ascii_lowercase();
        Ok(Shard {
            public_key_pem: identity.public_key().to_pem(),
            identity,
            id,
            name: text(name)?,
            domain,
            zone,
            peers: Mutex::new(RefCell::new(PeerTable::new())),
            replay: Mutex::new(RefCell::new(FixedReplayCache::new())),
        })
    }

    /// The signing identity.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// This shard's full ID.
    pub fn id(&self) -> &ShardId {
        &self.id
    }

    /// `<short_id>.<zone>`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The zone.
    pub fn zone(&self) -> &str {
        &self.zone
    }

    /// What whoareyou calls this shard.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The public key as PEM.
    pub fn public_key_pem(&self) -> &str {
        &self.public_key_pem
    }

    /// Adds (or renames) a peer; `address` is where its gateway listens.
    pub fn add_peer(
        &self,
        id: ShardId,
        name: &str,
        address: Option<IpEndpoint>,
    ) -> Result<(), PeerError> {
        if id == self.id {
            return Err(PeerError::IsSelf);
        }
        self.peers.lock(|t| t.borrow_mut().add(id, name, address))
    }

    /// Pins a peer's key (from configuration or a verified whoareyou).
    pub fn pin_peer(
        &self,
        id: &ShardId,
        key: PublicKey,
        domain: Option<&str>,
    ) -> Result<(), PeerError> {
        self.peers.lock(|t| t.borrow_mut().pin(id, key, domain))
    }

    /// Removes a peer.
    pub fn remove_peer(&self, id: &ShardId) -> Result<(), PeerError> {
        self.peers.lock(|t| t.borrow_mut().remove(id))
    }

    /// A copy of a peer's entry.
    pub fn peer(&self, id: &ShardId) -> Option<Peer> {
        self.peers.lock(|t| t.borrow().get(id).cloned())
    }

    /// Replay entries still live at `now`.
    pub fn live_nonces(&self, now: u64) -> usize {
        self.replay.lock(|c| c.borrow().live(now))
    }

    /// The key source a verifier uses: the peers table, locked only to copy a key out.
    pub(crate) fn keys(&self) -> LockedKeys<'_, M, PEERS> {
        LockedKeys(&self.peers)
    }

    /// The replay cache, locked only to record a nonce.
    pub(crate) fn replay(&self) -> LockedReplay<'_, M, NONCES> {
        LockedReplay(&self.replay)
    }

    /// Writes the whoareyou JSON document into `out`.
    pub fn write_whoareyou<'o>(
        &self,
        out: &'o mut [u8],
    ) -> Result<&'o [u8], crate::http::HttpError> {
        let mut w = BufWriter::new(out);
        w.push_str("{\"id\":\"");
        w.push_str(self.id.as_str());
        w.push_str("\",\"short_id\":\"");
        w.push_str(self.id.short_id());
        w.push_str("\",\"name\":\"");
        w.push_json_str(&self.name);
        w.push_str("\",\"domain\":\"");
        w.push_json_str(&self.domain);
        w.push_str("\",\"public_key_pem\":\"");
        w.push_json_str(&self.public_key_pem);
        w.push_str("\"}");
        w.finish()
    }
}

/// [`KeySource`] over the locked peers table.
pub(crate) struct LockedKeys<'a, M: RawMutex, const N: usize>(&'a Mutex<M, RefCell<PeerTable<N>>>);

impl<M: RawMutex, const N: usize> KeySource for LockedKeys<'_, M, N> {
    fn key_for(&self, keyid: Option<&str>) -> Option<PublicKey> {
        self.0.lock(|t| t.borrow().key_for(keyid))
    }
}

/// [`ReplayCache`] over the locked fixed cache.
pub(crate) struct LockedReplay<'a, M: RawMutex, const N: usize>(
    &'a Mutex<M, RefCell<FixedReplayCache<N>>>,
);

impl<M: RawMutex, const N: usize> ReplayCache for LockedReplay<'_, M, N> {
    fn check_and_insert(
        &mut self,
        keyid: &str,
        nonce: &str,
        now: u64,
        keep_until: u64,
    ) -> Result<(), ReplayError> {
        self.0.lock(|c| {
            c.borrow_mut()
                .check_and_insert(keyid, nonce, now, keep_until)
        })
    }
}
