//! The data directory's lock: one process at a time may write a data directory.
//!
//! `shardpeer serve` holds an exclusive lock on `<data-dir>/lock` for its whole life; the CLI
//! takes the same lock to edit the stores of a stopped host, and uses the running host's
//! internal API when it cannot. The lock is the operating system's (`flock(2)` on Linux, via
//! `File::try_lock`): it goes away with the process, however the process ends, so a crash
//! never leaves a stale lock behind.
//!
//! The file's content is informational only, never trusted for exclusion: a JSON
//! [`LockRecord`] naming the holder, its PID and, for `serve`, the internal API's address
//! (so the CLI finds a host started with `internal_listen = "127.0.0.1:0"`). The file is
//! rewritten in place and never replaced by `rename`: a new inode would carry no lock.

use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The lock file's name in the data directory.
pub const LOCK_FILE: &str = "lock";

/// What the lock file says about its holder.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct LockRecord {
    /// `"serve"` or `"cli"`.
    pub holder: String,
    /// The holder's process ID.
    pub pid: u32,
    /// Unix seconds when the lock was taken.
    pub since: u64,
    /// `serve` only, once its listeners are bound: the internal API's base URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal: Option<String>,
}

impl LockRecord {
    /// A short description for messages: "shardpeer serve (pid 123)".
    pub fn describe(&self) -> String {
        match self.holder.as_str() {
            "serve" => format!("a running `shardpeer serve` (pid {})", self.pid),
            "cli" => format!("another shardpeer command (pid {})", self.pid),
            _ => "another process".to_string(),
        }
    }
}

/// The held lock. Dropping it (or the process ending) releases it.
#[derive(Debug)]
pub struct DataLock {
    file: File,
    path: PathBuf,
    record: LockRecord,
}

/// Why `serve` could not take the lock.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it.
    #[error(
        "the data directory {dir} is in use by {holder}: only one process may use a data directory at a time (lock: {lock})"
    )]
    Held {
        /// The data directory.
        dir: PathBuf,
        /// Who holds it, as far as the file says.
        holder: String,
        /// The lock file.
        lock: PathBuf,
    },
    /// The lock file could not be opened or locked.
    #[error("{path}: {source}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// Cause.
        source: io::Error,
    },
}

/// The outcome of [`DataLock::try_acquire`].
#[derive(Debug)]
pub enum Acquired {
    /// The lock is ours until dropped.
    Locked(DataLock),
    /// Another process holds it; what its file says, if readable.
    Held(Option<LockRecord>),
}

impl DataLock {
    /// Tries to take the lock of the data directory `dir` (which must exist) for `holder`
    /// (`"serve"` or `"cli"`), without waiting.
    pub fn try_acquire(dir: &Path, holder: &str) -> Result<Acquired, LockError> {
        let path = dir.join(LOCK_FILE);
        let io_err = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        // Not truncated on open: the file of a running host must stay readable.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io_err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(Acquired::Held(read_record(&path))),
            Err(TryLockError::Error(e)) => return Err(io_err(e)),
        }
        let mut lock = DataLock {
            file,
            path: path.clone(),
            record: LockRecord {
                holder: holder.to_string(),
                pid: std::process::id(),
                since: crate::peers::unix_now(),
                internal: None,
            },
        };
        lock.write_record().map_err(io_err)?;
        Ok(Acquired::Locked(lock))
    }

    /// Takes the lock for `shardpeer serve`, creating the data directory (mode 0700) if
    /// needed; a clear error when another process holds it.
    pub fn acquire_for_serve(
        dir: &Path,
    ) -> Result<DataLock, Box<dyn std::error::Error + Send + Sync>> {
        crate::datadir::DataDir::open(dir)?;
        match DataLock::try_acquire(dir, "serve")? {
            Acquired::Locked(l) => Ok(l),
            Acquired::Held(record) => Err(Box::new(LockError::Held {
                dir: dir.to_path_buf(),
                holder: record.map_or_else(|| "another process".to_string(), |r| r.describe()),
                lock: dir.join(LOCK_FILE),
            })),
        }
    }

    /// Records the address the internal API listens on (`serve`, once bound). An unspecified
    /// address (`0.0.0.0`, `::`) is recorded as loopback, which is where the CLI can reach it.
    pub fn record_internal(&mut self, addr: SocketAddr) -> io::Result<()> {
        let mut addr = addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        self.record.internal = Some(format!("http://{addr}"));
        self.write_record()
    }

    /// What this lock's file says.
    pub fn record(&self) -> &LockRecord {
        &self.record
    }

    fn write_record(&mut self) -> io::Result<()> {
        let mut text = serde_json::to_string(&self.record).map_err(io::Error::other)?;
        text.push('\n');
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(text.as_bytes())?;
        self.file.flush()
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads the lock file's record (best effort: `None` when absent, empty or mid-write).
pub fn read_record(path: &Path) -> Option<LockRecord> {
    let mut text = String::new();
    File::open(path).ok()?.read_to_string(&mut text).ok()?;
    serde_json::from_str(text.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let Acquired::Locked(mut a) = DataLock::try_acquire(dir.path(), "serve").unwrap() else {
            panic!("first lock refused");
        };
        a.record_internal("0.0.0.0:8480".parse().unwrap()).unwrap();
        match DataLock::try_acquire(dir.path(), "cli").unwrap() {
            Acquired::Held(Some(r)) => {
                assert_eq!(r.holder, "serve");
                assert_eq!(r.pid, std::process::id());
                assert_eq!(r.internal.as_deref(), Some("http://127.0.0.1:8480"));
            }
            other => panic!("expected held, got {other:?}"),
        }
        assert!(DataLock::acquire_for_serve(dir.path()).is_err());
        drop(a);
        assert!(matches!(
            DataLock::try_acquire(dir.path(), "cli").unwrap(),
            Acquired::Locked(_)
        ));
    }
}
