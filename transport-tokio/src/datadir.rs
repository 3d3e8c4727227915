//! The data directory: identity key, credentials, and the atomic file writes every store uses.
//!
//! Layout (created on first start, directory mode 0700):
//! - `identity.pem` — the Ed25519 key as PKCS#8 PEM, mode 0600. Losing it loses the shard ID.
//! - `owner.token` — the owner's bearer token, mode 0600.
//! - `apps/<name>.token` — one bearer token per configured app, mode 0600.
//! - `peers.json` — the peers store (see [`crate::peers`]).
//!
//! Files are written atomically: a temporary file in the same directory, `fsync`, `rename`
//! over the target, `fsync` of the directory. A crash leaves the old or the new content,
//! never a mix, and a write that returned is on disk.

use base64::Engine as _;
use shardpeer_core::identity::Identity;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why the data directory could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// File system error, with the path.
    #[error("{path}: {source}")]
    Io {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: io::Error,
    },
    /// The identity file exists but is not a valid key.
    #[error("{path}: not a valid Ed25519 PKCS#8 key: {reason}")]
    BadIdentity {
        /// Path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The system's random source failed.
    #[error("random source failed: {0}")]
    Random(String),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> DataError + '_ {
    move |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `n` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], DataError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| DataError::Random(e.to_string()))?;
    Ok(b)
}

/// A fresh bearer token: 256 random bits, base64url.
pub fn new_token() -> Result<String, DataError> {
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>()?))
}

/// Writes `bytes` to `path` atomically with file mode `mode`.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), DataError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let suffix = u64::from_le_bytes(random_bytes::<8>()?);
    let tmp = dir.join(format!(".{name}.tmp-{suffix:016x}"));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .map_err(io_err(&tmp))?;
        f.write_all(bytes).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
        drop(f);
        fs::rename(&tmp, path).map_err(io_err(path))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(dir))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// The data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Opens (creating, mode 0700) the directory.
    pub fn open(root: &Path) -> Result<DataDir, DataError> {
        fs::create_dir_all(root.join("apps")).map_err(io_err(root))?;
        fs::set_permissions(root, fs::Permissions::from_mode(0o700)).map_err(io_err(root))?;
        Ok(DataDir {
            root: root.to_path_buf(),
        })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The identity file's path.
    pub fn identity_path(&self) -> PathBuf {
        self.root.join("identity.pem")
    }

    /// Loads the identity, creating one from the OS random source on first start.
    pub fn identity(&self) -> Result<Identity, DataError> {
        let path = self.identity_path();
        match fs::read_to_string(&path) {
            Ok(text) => Identity::from_pkcs8_pem(&text).map_err(|e| DataError::BadIdentity {
                path,
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let seed = random_bytes::<32>()?;
                let id = Identity::from_seed(seed)
                    .map_err(|e| DataError::Random(format!("unusable seed: {e}")))?;
                write_atomic(&path, id.to_pkcs8_pem().as_bytes(), 0o600)?;
                Ok(id)
            }
            Err(source) => Err(DataError::Io { path, source }),
        }
    }

    /// Reads the identity if it exists, without creating one.
    pub fn existing_identity(&self) -> Result<Option<Identity>, DataError> {
        let path = self.identity_path();
        match fs::read_to_string(&path) {
            Ok(text) => {
                Identity::from_pkcs8_pem(&text)
                    .map(Some)
                    .map_err(|e| DataError::BadIdentity {
                        path,
                        reason: e.to_string(),
                    })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(DataError::Io { path, source }),
        }
    }

    /// The owner token file.
    pub fn owner_token_path(&self) -> PathBuf {
        self.root.join("owner.token")
    }

    /// An app's token file.
    pub fn app_token_path(&self, app: &str) -> PathBuf {
        self.root.join("apps").join(format!("{app}.token"))
    }

    /// Reads a token file, creating it with a fresh token when absent.
    pub fn token(&self, path: &Path) -> Result<String, DataError> {
        match fs::read_to_string(path) {
            Ok(t) if !t.trim().is_empty() => Ok(t.trim().to_string()),
            Ok(_) => self.rotate_token(path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.rotate_token(path),
            Err(source) => Err(DataError::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Writes a fresh token to `path` and returns it.
    pub fn rotate_token(&self, path: &Path) -> Result<String, DataError> {
        let t = new_token()?;
        write_atomic(path, format!("{t}\n").as_bytes(), 0o600)?;
        Ok(t)
    }

    /// The peers store file.
    pub fn peers_path(&self) -> PathBuf {
        self.root.join("peers.json")
    }
}

/// Compares secrets without an early exit.
pub fn token_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_created_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let d = DataDir::open(&dir.path().join("data")).unwrap();
        let a = d.identity().unwrap();
        let b = d.identity().unwrap();
        assert_eq!(a.id(), b.id());
        let mode = fs::metadata(d.identity_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let dmode = fs::metadata(d.root()).unwrap().permissions().mode();
        assert_eq!(dmode & 0o777, 0o700);
    }

    #[test]
    fn tokens_persist_and_rotate() {
        let dir = tempfile::tempdir().unwrap();
        let d = DataDir::open(dir.path()).unwrap();
        let p = d.owner_token_path();
        let t1 = d.token(&p).unwrap();
        assert_eq!(d.token(&p).unwrap(), t1);
        assert_eq!(t1.len(), 43);
        let t2 = d.rotate_token(&p).unwrap();
        assert_ne!(t1, t2);
        assert!(token_eq(&t2, &d.token(&p).unwrap()));
        assert!(!token_eq(&t1, &t2));
    }

    #[test]
    fn a_corrupt_identity_is_an_error_not_a_new_key() {
        let dir = tempfile::tempdir().unwrap();
        let d = DataDir::open(dir.path()).unwrap();
        fs::write(d.identity_path(), "garbage").unwrap();
        assert!(matches!(d.identity(), Err(DataError::BadIdentity { .. })));
    }
}
