//! `shardpeer identity export FILE` / `import FILE`: a backup of the shard's key.
//!
//! Losing `identity.pem` loses the shard ID for good: peers pinned its key. The backup is
//! encrypted under a passphrase (`--passphrase-file F`, or the environment variable
//! `SHARDPEER_PASSPHRASE`); `--plaintext` writes the PKCS#8 PEM instead, mode 0600, with a
//! warning. Without either, export refuses.
//!
//! # Encrypted backup format, version 1
//!
//! A binary file of exactly [`FILE_LEN`] = 163 bytes; integers are big-endian.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 12 | magic: ASCII `shardpeer-id` |
//! | 12 | 1 | format version: 1 |
//! | 13 | 1 | KDF: 1 = Argon2id, version 0x13 (RFC 9106) |
//! | 14 | 4 | Argon2 memory, KiB (`m`) |
//! | 18 | 4 | Argon2 passes (`t`) |
//! | 22 | 4 | Argon2 lanes (`p`) |
//! | 26 | 16 | salt, random |
//! | 42 | 1 | AEAD: 1 = XChaCha20-Poly1305 |
//! | 43 | 24 | nonce, random |
//! | 67 | 48 | the shard's full ID, ASCII |
//! | 115 | 48 | ciphertext: the 32-byte Ed25519 seed, then the 16-byte Poly1305 tag |
//!
//! key = Argon2id(passphrase as UTF-8, salt, m, t, p) → 32 bytes; the ciphertext is
//! XChaCha20-Poly1305(key, nonce, seed) with the 115 header bytes (offsets 0–114) as
//! associated data, so no parameter or the ID can be changed without failing decryption.
//! Export uses m = 65536 KiB (64 MiB), t = 3, p = 4, RFC 9106's second recommended option.
//! Import also checks that the decrypted seed's key derives the ID in the header.
//!
//! **Resource limits.** The KDF parameters come from the file, so import refuses `m` above
//! [`MAX_M_KIB`] (1 GiB), `t` above [`MAX_T`] and `p` above [`MAX_P`]: a crafted file cannot
//! make import allocate or compute without bound. Files longer than 64 KiB are not read.

use super::lock::{Acquired, DataLock};
use super::output::Output;
use super::{CliError, Common, Context, EXIT_OK};
use crate::datadir::{DataDir, DataError, random_bytes, write_atomic};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce, aead::Aead, aead::Payload};
use shardpeer_core::id::ShardId;
use shardpeer_core::identity::Identity;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use zeroize::Zeroizing;

/// The file's first bytes.
pub const MAGIC: &[u8; 12] = b"shardpeer-id";
/// The format version this code writes and reads.
pub const VERSION: u8 = 1;
/// KDF identifier: Argon2id v0x13.
pub const KDF_ARGON2ID: u8 = 1;
/// AEAD identifier: XChaCha20-Poly1305.
pub const AEAD_XCHACHA20POLY1305: u8 = 1;
/// Bytes before the ciphertext (the associated data).
pub const HEADER_LEN: usize = 115;
/// The whole file.
pub const FILE_LEN: usize = HEADER_LEN + 32 + 16;
/// Largest Argon2 memory import accepts, KiB.
pub const MAX_M_KIB: u32 = 1 << 20;
/// Most Argon2 passes import accepts.
pub const MAX_T: u32 = 16;
/// Most Argon2 lanes import accepts.
pub const MAX_P: u32 = 16;
/// The environment variable holding the passphrase.
pub const PASSPHRASE_ENV: &str = "SHARDPEER_PASSPHRASE";

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory, KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

/// What export uses: RFC 9106's second recommended option (64 MiB, 3 passes, 4 lanes).
pub const DEFAULT_KDF: KdfParams = KdfParams {
    m_kib: 64 * 1024,
    t: 3,
    p: 4,
};

/// Why a backup could not be written or read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackupError {
    /// Not this format.
    #[error("not a shardpeer identity backup")]
    NotABackup,
    /// A later version, or an unknown algorithm.
    #[error("unsupported backup: {0}")]
    Unsupported(String),
    /// Wrong length.
    #[error("the backup is {0} bytes, not {FILE_LEN}: truncated or damaged")]
    Length(usize),
    /// KDF parameters out of range.
    #[error("KDF parameters out of range: {0}")]
    KdfParams(String),
    /// The passphrase is wrong, or the file was changed.
    #[error("wrong passphrase, or the backup is damaged")]
    Decrypt,
    /// The decrypted key is not the key of the ID in the header.
    #[error("the decrypted key is not the key of {0}: the backup is damaged")]
    IdMismatch(String),
    /// The ID in the header is not a shard ID.
    #[error("the backup's ID is invalid: {0}")]
    BadId(String),
}

/// The parts of a backup's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// KDF parameters.
    pub kdf: KdfParams,
    /// Salt.
    pub salt: [u8; 16],
    /// Nonce.
    pub nonce: [u8; 24],
    /// The shard's full ID as written (authenticated only once decrypted).
    pub id: ShardId,
}

fn derive_key(
    passphrase: &[u8],
    salt: &[u8; 16],
    kdf: KdfParams,
) -> Result<Zeroizing<[u8; 32]>, BackupError> {
    let params = argon2::Params::new(kdf.m_kib, kdf.t, kdf.p, Some(32))
        .map_err(|e| BackupError::KdfParams(e.to_string()))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(passphrase, salt, key.as_mut())
        .map_err(|e| BackupError::KdfParams(e.to_string()))?;
    Ok(key)
}

/// Encrypts `identity`'s seed under `passphrase` (a pure function: salt and nonce are
/// arguments, random when `shardpeer identity export` runs).
pub fn encrypt(
    identity: &Identity,
    passphrase: &[u8],
    kdf: KdfParams,
    salt: [u8; 16],
    nonce: [u8; 24],
) -> Result<Vec<u8>, BackupError> {
    let mut out = Vec::with_capacity(FILE_LEN);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(KDF_ARGON2ID);
    out.extend_from_slice(&kdf.m_kib.to_be_bytes());
    out.extend_from_slice(&kdf.t.to_be_bytes());
    out.extend_from_slice(&kdf.p.to_be_bytes());
    out.extend_from_slice(&salt);
    out.push(AEAD_XCHACHA20POLY1305);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(identity.id().as_str().as_bytes());
    debug_assert_eq!(out.len(), HEADER_LEN);
    let key = derive_key(passphrase, &salt, kdf)?;
    let cipher =
        XChaCha20Poly1305::new_from_slice(key.as_ref()).map_err(|_| BackupError::Decrypt)?;
    let ct = cipher
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: identity.seed(),
                aad: &out,
            },
        )
        .map_err(|_| BackupError::Decrypt)?;
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Parses and range-checks a backup's header without decrypting anything.
pub fn parse_header(bytes: &[u8]) -> Result<Header, BackupError> {
    if !bytes.starts_with(MAGIC) {
        return Err(BackupError::NotABackup);
    }
    let version = bytes
        .get(12)
        .copied()
        .ok_or(BackupError::Length(bytes.len()))?;
    if version != VERSION {
        return Err(BackupError::Unsupported(format!(
            "format version {version} (this shardpeer reads {VERSION})"
        )));
    }
    if bytes.len() != FILE_LEN {
        return Err(BackupError::Length(bytes.len()));
    }
    let u32_at =
        |o: usize| u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]);
    if bytes[13] != KDF_ARGON2ID {
        return Err(BackupError::Unsupported(format!("KDF {}", bytes[13])));
    }
    if bytes[42] != AEAD_XCHACHA20POLY1305 {
        return Err(BackupError::Unsupported(format!("AEAD {}", bytes[42])));
    }
    let kdf = KdfParams {
        m_kib: u32_at(14),
        t: u32_at(18),
        p: u32_at(22),
    };
    if kdf.m_kib > MAX_M_KIB || kdf.t == 0 || kdf.t > MAX_T || kdf.p == 0 || kdf.p > MAX_P {
        return Err(BackupError::KdfParams(format!(
            "m={} KiB t={} p={} (at most m={MAX_M_KIB} t={MAX_T} p={MAX_P})",
            kdf.m_kib, kdf.t, kdf.p
        )));
    }
    let mut salt = [0u8; 16];
    salt.copy_from_slice(&bytes[26..42]);
    let mut nonce = [0u8; 24];
    nonce.copy_from_slice(&bytes[43..67]);
    let id_text =
        std::str::from_utf8(&bytes[67..115]).map_err(|e| BackupError::BadId(e.to_string()))?;
    let id = ShardId::parse(id_text).map_err(|e| BackupError::BadId(e.to_string()))?;
    Ok(Header {
        kdf,
        salt,
        nonce,
        id,
    })
}

/// Decrypts a backup and checks that the key derives the ID it names.
pub fn decrypt(bytes: &[u8], passphrase: &[u8]) -> Result<Identity, BackupError> {
    let h = parse_header(bytes)?;
    let key = derive_key(passphrase, &h.salt, h.kdf)?;
    let cipher =
        XChaCha20Poly1305::new_from_slice(key.as_ref()).map_err(|_| BackupError::Decrypt)?;
    let seed = Zeroizing::new(
        cipher
            .decrypt(
                &XNonce::from(h.nonce),
                Payload {
                    msg: &bytes[HEADER_LEN..],
                    aad: &bytes[..HEADER_LEN],
                },
            )
            .map_err(|_| BackupError::Decrypt)?,
    );
    let mut arr = Zeroizing::new([0u8; 32]);
    if seed.len() != 32 {
        return Err(BackupError::Decrypt);
    }
    arr.copy_from_slice(&seed);
    let identity =
        Identity::from_seed(*arr).map_err(|_| BackupError::IdMismatch(h.id.to_string()))?;
    if identity.id() != h.id {
        return Err(BackupError::IdMismatch(h.id.to_string()));
    }
    Ok(identity)
}

/// `shardpeer identity …`.
#[derive(Debug, clap::Subcommand)]
pub enum IdentityCommand {
    /// Write a backup of the shard's key to FILE: encrypted under a passphrase, or with
    /// --plaintext as the PKCS#8 PEM (mode 0600).
    Export {
        /// Where to write the backup.
        file: PathBuf,
        /// Read the passphrase from this file (its first line) [else: the SHARDPEER_PASSPHRASE
        /// environment variable].
        #[arg(long, value_name = "F")]
        passphrase_file: Option<PathBuf>,
        /// Write the key unencrypted (PKCS#8 PEM). Anyone who reads the file can be this shard.
        #[arg(long)]
        plaintext: bool,
        /// Overwrite FILE if it exists.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        #[allow(missing_docs)]
        common: Common,
    },
    /// Restore the shard's key from a backup (encrypted or PEM) into the data directory; the
    /// host must be stopped. Prints the ID.
    Import {
        /// The backup.
        file: PathBuf,
        /// Read the passphrase from this file (its first line) [else: the SHARDPEER_PASSPHRASE
        /// environment variable].
        #[arg(long, value_name = "F")]
        passphrase_file: Option<PathBuf>,
        /// Replace an existing, different identity (the old key is kept beside it as
        /// identity.pem.replaced-UNIXTIME).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        #[allow(missing_docs)]
        common: Common,
    },
}

/// Runs an `identity` command.
pub fn run(cmd: IdentityCommand) -> ExitCode {
    match cmd {
        IdentityCommand::Export {
            file,
            passphrase_file,
            plaintext,
            force,
            common,
        } => {
            let out = Output { json: common.json };
            out.finish(export(
                &common,
                &file,
                passphrase_file.as_deref(),
                plaintext,
                force,
                out,
            ))
        }
        IdentityCommand::Import {
            file,
            passphrase_file,
            force,
            common,
        } => {
            let out = Output { json: common.json };
            out.finish(import(
                &common,
                &file,
                passphrase_file.as_deref(),
                force,
                out,
            ))
        }
    }
}

/// The passphrase from `--passphrase-file` (first line) or the environment, if given.
fn passphrase(file: Option<&Path>) -> Result<Option<Zeroizing<String>>, CliError> {
    let text = match file {
        Some(f) => Zeroizing::new(std::fs::read_to_string(f).map_err(|e| {
            CliError::usage(
                "passphrase_unreadable",
                format!("cannot read the passphrase file {}: {e}", f.display()),
            )
        })?),
        None => match std::env::var(PASSPHRASE_ENV) {
            Ok(v) => Zeroizing::new(v),
            Err(_) => return Ok(None),
        },
    };
    let line = Zeroizing::new(text.lines().next().unwrap_or("").to_string());
    if line.is_empty() {
        return Err(CliError::usage(
            "empty_passphrase",
            "the passphrase is empty",
        ));
    }
    Ok(Some(line))
}

/// `a.bin` → `./a.bin`, so the atomic write has a directory to sync.
fn with_dir(file: &Path) -> PathBuf {
    match file.parent() {
        Some(p) if p.as_os_str().is_empty() => Path::new(".").join(file),
        _ => file.to_path_buf(),
    }
}

fn data_err(e: DataError) -> CliError {
    CliError::failed("data_dir", e.to_string())
}

fn export(
    common: &Common,
    file: &Path,
    passphrase_file: Option<&Path>,
    plaintext: bool,
    force: bool,
    out: Output,
) -> Result<u8, CliError> {
    let ctx = Context::load(common)?;
    let pass = passphrase(passphrase_file)?;
    if pass.is_some() && plaintext {
        return Err(CliError::usage(
            "plaintext_and_passphrase",
            "--plaintext writes no encryption: drop it, or drop the passphrase",
        ));
    }
    if pass.is_none() && !plaintext {
        return Err(CliError::usage(
            "no_passphrase",
            format!(
                "refusing to write the key unencrypted: give --passphrase-file F or {PASSPHRASE_ENV}, or --plaintext"
            ),
        ));
    }
    let data = ctx.existing_data_dir()?;
    let identity = data.existing_identity().map_err(data_err)?.ok_or_else(|| {
        CliError::failed(
            "no_identity",
            format!("no identity in {} yet", data.root().display()),
        )
    })?;
    let file = with_dir(file);
    if file.exists() && !force {
        return Err(CliError::failed(
            "file_exists",
            format!("{} exists; --force overwrites it", file.display()),
        ));
    }
    let id = identity.id();
    let (bytes, format) = match &pass {
        Some(p) => {
            let salt = random_bytes::<16>().map_err(data_err)?;
            let nonce = random_bytes::<24>().map_err(data_err)?;
            let b = encrypt(&identity, p.as_bytes(), DEFAULT_KDF, salt, nonce)
                .map_err(|e| CliError::failed("encrypt", e.to_string()))?;
            (Zeroizing::new(b), "encrypted-v1")
        }
        None => (
            Zeroizing::new(identity.to_pkcs8_pem().as_bytes().to_vec()),
            "pkcs8-pem",
        ),
    };
    write_atomic(&file, &bytes, 0o600).map_err(data_err)?;
    let warning = "the backup is NOT encrypted: anyone who can read it can act as this shard; keep it offline and delete copies you do not need";
    if plaintext {
        // Loud whatever the output format: stderr never mixes with --json on stdout.
        eprintln!("shardpeer: WARNING: {warning}");
    }
    let mut v = serde_json::json!({
        "ok": true,
        "id": id.as_str(),
        "path": file.display().to_string(),
        "format": format,
    });
    if plaintext {
        v["warning"] = warning.into();
    }
    out.result(&v, || match format {
        "encrypted-v1" => format!(
            "wrote an encrypted backup of {id} to {} (Argon2id, XChaCha20-Poly1305).\nKeep the passphrase somewhere else: without it the backup is useless.",
            file.display()
        ),
        _ => format!("wrote the unencrypted key of {id} to {} (mode 0600)", file.display()),
    });
    Ok(EXIT_OK)
}

/// What a backup file holds, before the passphrase is applied.
enum Backup {
    Encrypted(Vec<u8>, Header),
    Pem(Identity),
}

fn read_backup(file: &Path) -> Result<Backup, CliError> {
    let meta = std::fs::metadata(file).map_err(|e| {
        CliError::usage(
            "backup_unreadable",
            format!("cannot read {}: {e}", file.display()),
        )
    })?;
    if meta.len() > 64 * 1024 {
        return Err(CliError::failed(
            "not_a_backup",
            format!("{}: too large for an identity backup", file.display()),
        ));
    }
    let bytes = std::fs::read(file).map_err(|e| {
        CliError::usage(
            "backup_unreadable",
            format!("cannot read {}: {e}", file.display()),
        )
    })?;
    if bytes.starts_with(MAGIC) {
        let h = parse_header(&bytes)
            .map_err(|e| CliError::failed("bad_backup", format!("{}: {e}", file.display())))?;
        return Ok(Backup::Encrypted(bytes, h));
    }
    let text = Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned());
    if text.contains("-----BEGIN PRIVATE KEY-----") {
        let id = Identity::from_pkcs8_pem(&text).map_err(|e| {
            CliError::failed(
                "bad_backup",
                format!("{}: not a valid Ed25519 PKCS#8 key: {e}", file.display()),
            )
        })?;
        return Ok(Backup::Pem(id));
    }
    Err(CliError::failed(
        "not_a_backup",
        format!(
            "{}: neither an encrypted shardpeer backup nor a PKCS#8 PEM key",
            file.display()
        ),
    ))
}

fn import(
    common: &Common,
    file: &Path,
    passphrase_file: Option<&Path>,
    force: bool,
    out: Output,
) -> Result<u8, CliError> {
    let ctx = Context::load(common)?;
    let backup = read_backup(file)?;
    let backup_id = match &backup {
        Backup::Encrypted(_, h) => h.id,
        Backup::Pem(i) => i.id(),
    };
    let pass = match &backup {
        Backup::Encrypted(..) => Some(passphrase(passphrase_file)?.ok_or_else(|| {
            CliError::usage(
                "no_passphrase",
                format!("this backup is encrypted: give --passphrase-file F or {PASSPHRASE_ENV}"),
            )
        })?),
        Backup::Pem(_) => None,
    };
    // A fresh data directory is created: restoring onto a new machine is the point.
    let data = DataDir::open(&ctx.data_dir).map_err(data_err)?;
    let _lock = match DataLock::try_acquire(data.root(), "cli")
        .map_err(|e| CliError::failed("lock", e.to_string()))?
    {
        Acquired::Locked(l) => l,
        Acquired::Held(record) => {
            return Err(CliError::failed(
                "host_running",
                format!(
                    "{} uses {}: stop it before importing an identity",
                    record.map_or_else(|| "another process".to_string(), |r| r.describe()),
                    data.root().display()
                ),
            ));
        }
    };
    let existing = match data.existing_identity() {
        Ok(Some(i)) => Some(Ok(i.id())),
        Ok(None) => None,
        Err(e @ DataError::BadIdentity { .. }) => Some(Err(e.to_string())),
        Err(e) => return Err(data_err(e)),
    };
    let same = matches!(&existing, Some(Ok(id)) if *id == backup_id);
    if existing.is_some() && !same && !force {
        let what = match &existing {
            Some(Ok(id)) => format!("its identity {id}"),
            Some(Err(e)) => format!("its unreadable identity ({e})"),
            None => String::new(),
        };
        return Err(CliError::failed(
            "identity_exists",
            format!(
                "{} already has {what}; refusing to replace it with {backup_id} without --force (peers know this shard by its ID)",
                data.root().display()
            ),
        ));
    }
    let identity = match backup {
        Backup::Encrypted(bytes, _) => {
            let p = pass.as_ref().map(|p| p.as_bytes()).unwrap_or_default();
            decrypt(&bytes, p)
                .map_err(|e| CliError::failed("decrypt", format!("{}: {e}", file.display())))?
        }
        Backup::Pem(i) => i,
    };
    let id = identity.id();
    if same {
        out.result(
            &serde_json::json!({"ok": true, "id": id.as_str(), "changed": false}),
            || {
                format!(
                    "{} already has this identity (the backup decrypts and matches); \
                     nothing changed\n{id}",
                    data.root().display()
                )
            },
        );
        return Ok(EXIT_OK);
    }
    let mut saved = None;
    if existing.is_some() {
        let old = std::fs::read(data.identity_path())
            .map_err(|e| CliError::failed("data_dir", e.to_string()))?;
        let to = data.root().join(format!(
            "identity.pem.replaced-{}",
            crate::peers::unix_now()
        ));
        write_atomic(&to, &old, 0o600).map_err(data_err)?;
        saved = Some(to);
    }
    write_atomic(
        &data.identity_path(),
        identity.to_pkcs8_pem().as_bytes(),
        0o600,
    )
    .map_err(data_err)?;
    let mut v = serde_json::json!({
        "ok": true,
        "id": id.as_str(),
        "short_id": id.short_id(),
        "changed": true,
    });
    if let Some(s) = &saved {
        v["previous_saved_to"] = s.display().to_string().into();
    }
    out.result(&v, || {
        let mut s = format!(
            "imported the identity into {}\n{id}",
            data.identity_path().display()
        );
        if let Some(p) = &saved {
            s.push_str(&format!(
                "\nthe previous key is kept in {}; peers that added the old ID must add this one",
                p.display()
            ));
        }
        s
    });
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: KdfParams = KdfParams {
        m_kib: 64,
        t: 1,
        p: 1,
    };

    #[test]
    fn round_trip_and_tamper() {
        let id = Identity::from_seed([7; 32]).unwrap();
        let b = encrypt(&id, b"correct horse", CHEAP, [1; 16], [2; 24]).unwrap();
        assert_eq!(b.len(), FILE_LEN);
        assert_eq!(&b[..12], MAGIC);
        assert_eq!(decrypt(&b, b"correct horse").unwrap().id(), id.id());
        assert_eq!(decrypt(&b, b"wrong").unwrap_err(), BackupError::Decrypt);
        // Every header byte is authenticated (or refused before decrypting).
        for i in 12..HEADER_LEN {
            let mut t = b.clone();
            t[i] ^= 1;
            assert!(decrypt(&t, b"correct horse").is_err(), "byte {i}");
        }
        let mut t = b.clone();
        t[FILE_LEN - 1] ^= 1;
        assert_eq!(
            decrypt(&t, b"correct horse").unwrap_err(),
            BackupError::Decrypt
        );
        assert!(matches!(
            decrypt(&b[..100], b"x"),
            Err(BackupError::Length(100))
        ));
        assert_eq!(
            decrypt(b"hello", b"x").unwrap_err(),
            BackupError::NotABackup
        );
    }

    #[test]
    fn hostile_kdf_parameters_are_refused_before_any_work() {
        let id = Identity::from_seed([7; 32]).unwrap();
        let mut b = encrypt(&id, b"p", CHEAP, [1; 16], [2; 24]).unwrap();
        b[14..18].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(parse_header(&b), Err(BackupError::KdfParams(_))));
        let mut b = encrypt(&id, b"p", CHEAP, [1; 16], [2; 24]).unwrap();
        b[12] = 2;
        assert!(matches!(parse_header(&b), Err(BackupError::Unsupported(_))));
    }

    #[test]
    fn a_known_answer_pins_the_format() {
        // Fixed inputs give fixed bytes: a change to the format, the KDF or the AEAD shows here.
        let id = Identity::from_seed([7; 32]).unwrap();
        let a = encrypt(&id, b"pw", CHEAP, [1; 16], [2; 24]).unwrap();
        let b = encrypt(&id, b"pw", CHEAP, [1; 16], [2; 24]).unwrap();
        assert_eq!(a, b);
        assert_eq!(&a[14..26], &[0, 0, 0, 64, 0, 0, 0, 1, 0, 0, 0, 1]);
        assert_eq!(&a[67..115], id.id().as_str().as_bytes());
        // Cross-checked with libsodium (PyNaCl: `pwhash.argon2id.kdf(32, b"pw", salt,
        // opslimit=1, memlimit=65536)` then `crypto_aead_xchacha20poly1305_ietf_encrypt(seed,
        // header, nonce, key)`), an implementation independent of RustCrypto's.
        let hex: String = a[HEADER_LEN..].iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "f170ec8c02816c4122a3ca553fe2338a1238fd9c8754b989148b99178f19fdf2\
             de530cb71b084e9b8f103dd8615c6984"
        );
    }
}
