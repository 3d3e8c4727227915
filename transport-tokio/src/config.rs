//! Configuration: a TOML file, command-line flags over it, embedded defaults under both.
//!
//! Every option has a default, so `shardpeer serve` with nothing else runs a shard on
//! loopback. App `meta` paths are relative to the config file. The app_meta files are parsed
//! here, at load time, so a bad file is an error on start (with file name and reason), never
//! a surprise on a request.

use serde::Deserialize;
use shardpeer_core::app_meta::AppMeta;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Host capacity for one app's access rules: more than a device needs.
pub type HostAppMeta = AppMeta<64, 128, 16384>;

/// The file format. Unknown keys are an error (a typo should not be silently ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The owner's display name, served by whoareyou.
    pub name: Option<String>,
    /// This shard's zone: its domain is `<short_id>.<zone>`.
    pub zone: Option<String>,
    /// The gateway's address (plain HTTP).
    pub public_listen: Option<SocketAddr>,
    /// The address apps and the owner reach the core on.
    pub internal_listen: Option<SocketAddr>,
    /// The gateway over TLS 1.3 (peers pinned to keys; browsers get `[tls]`'s certificate).
    pub tls_listen: Option<SocketAddr>,
    /// The owner's certificate for browsers on `tls_listen`.
    pub tls: Option<FileTls>,
    /// The data directory (identity, peers, credentials).
    pub data_dir: Option<PathBuf>,
    /// Apps on this shard.
    #[serde(default, rename = "app")]
    pub apps: Vec<FileApp>,
    /// Limits.
    #[serde(default)]
    pub limits: FileLimits,
    /// Log as JSON lines.
    pub log_json: Option<bool>,
    /// Seconds between whoareyou refreshes of each peer (backoff for unreachable ones).
    pub peer_refresh_secs: Option<u64>,
    /// How peers without an address are found.
    #[serde(default)]
    pub dns: FileDns,
}

/// `[dns]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDns {
    /// Name servers (`ip:port`) instead of the system's.
    #[serde(default)]
    pub servers: Vec<SocketAddr>,
    /// Longest reuse of an answer, seconds.
    pub cache_secs: Option<u64>,
    /// Port peers without an address are reached on (TLS).
    pub peer_port: Option<u16>,
}

/// One `[[app]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileApp {
    /// The app's name: the first label of its domain.
    pub name: String,
    /// Where the app listens, e.g. `http://127.0.0.1:9001`.
    pub upstream: String,
    /// Its app_meta.json, relative to the config file.
    pub meta: PathBuf,
}

/// `[tls]`: the owner's certificate for non-peer clients (PEM files, relative to the config).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTls {
    /// Certificate chain.
    pub cert_file: PathBuf,
    /// Private key.
    pub key_file: PathBuf,
}

/// `[limits]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileLimits {
    /// Largest request or response body buffered, bytes.
    pub max_body_bytes: Option<usize>,
    /// Largest request head (request line and fields), bytes.
    pub max_header_bytes: Option<usize>,
    /// Most concurrent connections per listener.
    pub max_connections: Option<usize>,
    /// Seconds a whole request may take, inbound.
    pub request_timeout_secs: Option<u64>,
    /// Seconds to connect to a peer or upstream.
    pub connect_timeout_secs: Option<u64>,
    /// Seconds a call to a peer may take in all.
    pub peer_timeout_secs: Option<u64>,
    /// Failed signature verifications allowed per source address per minute (burst equal).
    pub verify_failures_per_minute: Option<u32>,
    /// call_peer requests allowed per app per second (burst twice that).
    pub call_peer_per_second: Option<u32>,
}

/// Flags that override the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--name`.
    pub name: Option<String>,
    /// `--zone`.
    pub zone: Option<String>,
    /// `--public-listen`.
    pub public_listen: Option<SocketAddr>,
    /// `--internal-listen`.
    pub internal_listen: Option<SocketAddr>,
    /// `--tls-listen`.
    pub tls_listen: Option<SocketAddr>,
    /// `--log-json`.
    pub log_json: bool,
}

/// One app, ready to serve.
#[derive(Debug)]
pub struct App {
    /// Name (a DNS label).
    pub name: String,
    /// Upstream base URI (scheme and authority).
    pub upstream: http::Uri,
    /// Parsed access rules.
    pub meta: Box<HostAppMeta>,
    /// Where the rules came from.
    pub meta_path: PathBuf,
}

/// The resolved configuration.
#[derive(Debug)]
pub struct Config {
    /// Owner's display name; `None` means "Shard `<short ID>`".
    pub name: Option<String>,
    /// Zone.
    pub zone: String,
    /// Gateway address.
    pub public_listen: SocketAddr,
    /// Internal address.
    pub internal_listen: SocketAddr,
    /// TLS gateway address, if any.
    pub tls_listen: Option<SocketAddr>,
    /// The owner's certificate and key for browsers on the TLS listener.
    pub owner_tls: Option<(PathBuf, PathBuf)>,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Apps.
    pub apps: Vec<App>,
    /// Limits and timeouts.
    pub limits: Limits,
    /// JSON logs.
    pub log_json: bool,
    /// Seconds between whoareyou refreshes of each peer.
    pub peer_refresh: Duration,
    /// How peers without an address are found.
    pub dns: crate::dns::DnsConfig,
}

/// Limits and timeouts with defaults applied.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest body buffered.
    pub max_body_bytes: usize,
    /// Largest request head.
    pub max_header_bytes: usize,
    /// Most concurrent connections per listener.
    pub max_connections: usize,
    /// Inbound request deadline.
    pub request_timeout: Duration,
    /// Outbound connect deadline.
    pub connect_timeout: Duration,
    /// Outbound peer call deadline.
    pub peer_timeout: Duration,
    /// Failed verifications per source address per minute.
    pub verify_failures_per_minute: u32,
    /// call_peer per app per second.
    pub call_peer_per_second: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 8 * 1024 * 1024,
            max_header_bytes: 16 * 1024,
            max_connections: 1024,
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
            peer_timeout: Duration::from_secs(30),
            verify_failures_per_minute: 60,
            call_peer_per_second: 200,
        }
    }
}

/// Default gateway address.
pub const DEFAULT_PUBLIC: &str = "127.0.0.1:8443";
/// Default internal address.
pub const DEFAULT_INTERNAL: &str = "127.0.0.1:8480";
/// Default zone: `*.localhost` resolves to loopback on most systems.
pub const DEFAULT_ZONE: &str = "localhost";

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The config file is not valid TOML for us.
    #[error("invalid config {path}: {message}")]
    Parse {
        /// File.
        path: PathBuf,
        /// What and where.
        message: String,
    },
    /// An app entry is invalid.
    #[error("app {app:?}: {message}")]
    App {
        /// App name.
        app: String,
        /// What is wrong.
        message: String,
    },
    /// Another value is invalid.
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// The embedded defaults, with no apps, on loopback ports chosen by the OS. Build other
    /// configurations from it with struct update syntax (`Config { apps, ..Config::for_data_dir(d) }`)
    /// so that new settings keep their defaults.
    pub fn for_data_dir(data_dir: PathBuf) -> Config {
        let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        Config {
            name: None,
            zone: DEFAULT_ZONE.to_string(),
            public_listen: loopback,
            internal_listen: loopback,
            tls_listen: None,
            owner_tls: None,
            data_dir,
            apps: Vec::new(),
            limits: Limits::default(),
            log_json: false,
            peer_refresh: Duration::from_secs(300),
            dns: crate::dns::DnsConfig::default(),
        }
    }
}

/// Whether `s` is a DNS label we accept for app names: lowercase letters, digits, inner `-`.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Loads the config file (if any) and applies the overrides.
pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
    let (file, base) = match path {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                path: p.to_path_buf(),
                source,
            })?;
            let file: FileConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
                path: p.to_path_buf(),
                message: e.to_string(),
            })?;
            (file, p.parent().map(Path::to_path_buf).unwrap_or_default())
        }
        None => (FileConfig::default(), PathBuf::from(".")),
    };
    resolve(file, &base, overrides)
}

fn resolve(file: FileConfig, base: &Path, o: &Overrides) -> Result<Config, ConfigError> {
    let zone = o
        .zone
        .clone()
        .or(file.zone)
        .unwrap_or_else(|| DEFAULT_ZONE.to_string());
    let zone = zone.trim_end_matches('.').to_ascii_lowercase();
    if zone.is_empty() || !zone.split('.').all(is_dns_label) {
        return Err(ConfigError::Invalid(format!(
            "zone {zone:?} is not a domain name"
        )));
    }
    let name = o.name.clone().or(file.name);
    if let Some(n) = &name {
        crate::peers::check_name(n).map_err(|m| ConfigError::Invalid(format!("name: {m}")))?;
    }
    let defaults = Limits::default();
    let l = &file.limits;
    let limits = Limits {
        max_body_bytes: l.max_body_bytes.unwrap_or(defaults.max_body_bytes),
        max_header_bytes: l
            .max_header_bytes
            .unwrap_or(defaults.max_header_bytes)
            .max(1024),
        max_connections: l.max_connections.unwrap_or(defaults.max_connections).max(1),
        request_timeout: l
            .request_timeout_secs
            .map_or(defaults.request_timeout, Duration::from_secs),
        connect_timeout: l
            .connect_timeout_secs
            .map_or(defaults.connect_timeout, Duration::from_secs),
        peer_timeout: l
            .peer_timeout_secs
            .map_or(defaults.peer_timeout, Duration::from_secs),
        verify_failures_per_minute: l
            .verify_failures_per_minute
            .unwrap_or(defaults.verify_failures_per_minute)
            .max(1),
        call_peer_per_second: l
            .call_peer_per_second
            .unwrap_or(defaults.call_peer_per_second)
            .max(1),
    };
    let mut apps: Vec<App> = Vec::new();
    for a in file.apps {
        if !is_dns_label(&a.name) {
            return Err(ConfigError::App {
                app: a.name,
                message: "name must be a DNS label (a-z, 0-9, -)".into(),
            });
        }
        if apps.iter().any(|x| x.name == a.name) {
            return Err(ConfigError::App {
                app: a.name,
                message: "defined twice".into(),
            });
        }
        let upstream: http::Uri = a.upstream.parse().map_err(|e| ConfigError::App {
            app: a.name.clone(),
            message: format!("upstream {:?}: {e}", a.upstream),
        })?;
        if upstream.scheme_str() != Some("http") || upstream.authority().is_none() {
            return Err(ConfigError::App {
                app: a.name,
                message: "upstream must be http://host:port".into(),
            });
        }
        let meta_path = base.join(&a.meta);
        let meta = load_meta(&meta_path).map_err(|message| ConfigError::App {
            app: a.name.clone(),
            message,
        })?;
        apps.push(App {
            name: a.name,
            upstream,
            meta,
            meta_path,
        });
    }
    Ok(Config {
        name,
        zone,
        public_listen: o
            .public_listen
            .or(file.public_listen)
            .unwrap_or_else(|| parse_addr(DEFAULT_PUBLIC)),
        tls_listen: o.tls_listen.or(file.tls_listen),
        owner_tls: file
            .tls
            .map(|t| (base.join(t.cert_file), base.join(t.key_file))),
        internal_listen: o
            .internal_listen
            .or(file.internal_listen)
            .unwrap_or_else(|| parse_addr(DEFAULT_INTERNAL)),
        data_dir: o
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("shardpeer-data")),
        apps,
        limits,
        log_json: o.log_json || file.log_json.unwrap_or(false),
        peer_refresh: Duration::from_secs(file.peer_refresh_secs.unwrap_or(300).max(1)),
        dns: crate::dns::DnsConfig {
            servers: file.dns.servers,
            cache: Duration::from_secs(file.dns.cache_secs.unwrap_or(60)),
            peer_port: file.dns.peer_port.unwrap_or(443),
        },
    })
}

fn parse_addr(s: &str) -> SocketAddr {
    s.parse().unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)))
}

/// Reads and parses an app_meta.json; the error names the file and the reason.
pub fn load_meta(path: &Path) -> Result<Box<HostAppMeta>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    HostAppMeta::parse(&bytes).map(Box::new).map_err(|e| {
        use shardpeer_core::app_meta::AppMetaError;
        // Say where, as an editor shows it.
        let at = match e {
            AppMetaError::InvalidJson { offset, .. } | AppMetaError::TooDeep { offset } => {
                let before = bytes.get(..offset.min(bytes.len())).unwrap_or(&[]);
                let line = before.iter().filter(|b| **b == b'\n').count() + 1;
                let col = before.iter().rev().take_while(|b| **b != b'\n').count() + 1;
                format!(":{line}:{col}")
            }
            _ => String::new(),
        };
        format!("{}{at}: {e}", path.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_without_a_file() {
        let c = load(None, &Overrides::default()).unwrap();
        assert_eq!(c.zone, "localhost");
        assert!(c.public_listen.ip().is_loopback());
        assert!(c.internal_listen.ip().is_loopback());
        assert!(c.apps.is_empty());
    }

    #[test]
    fn file_and_overrides() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("apps/echo")).unwrap();
        std::fs::write(
            dir.path().join("apps/echo/app_meta.json"),
            r#"{"name":"echo","paths":{"":{"access":"public"}}}"#,
        )
        .unwrap();
        let cfg = dir.path().join("shard.toml");
        std::fs::write(
            &cfg,
            "name = \"Alice\"\nzone = \"shard.test\"\npublic_listen = \"127.0.0.1:9443\"\n[[app]]\nname = \"echo\"\nupstream = \"http://127.0.0.1:9001\"\nmeta = \"apps/echo/app_meta.json\"\n",
        )
        .unwrap();
        let o = Overrides {
            zone: Some("other.test".into()),
            ..Default::default()
        };
        let c = load(Some(&cfg), &o).unwrap();
        assert_eq!(c.name.as_deref(), Some("Alice"));
        assert_eq!(c.zone, "other.test");
        assert_eq!(c.public_listen.port(), 9443);
        assert_eq!(c.apps[0].name, "echo");
    }

    #[test]
    fn a_broken_app_meta_is_reported_with_file_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app_meta.json");
        std::fs::write(
            &path,
            "{\"name\": \"echo\", \"paths\": {\n  \"\": {\"access\": \"public\"},\n  oops\n}}",
        )
        .unwrap();
        let e = load_meta(&path).unwrap_err();
        assert!(e.starts_with(&format!("{}:3:3:", path.display())), "{e}");
        std::fs::write(
            &path,
            r#"{"name": "echo", "paths": {"/x": {"access": "public"}}}"#,
        )
        .unwrap();
        let e = load_meta(&path).unwrap_err();
        assert!(
            e.contains("app_meta.json") && e.contains("\"\""),
            "names the missing default rule: {e}"
        );
    }

    #[test]
    fn errors_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("shard.toml");
        std::fs::write(&cfg, "nmae = \"typo\"\n").unwrap();
        let e = load(Some(&cfg), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("nmae"), "{e}");
        std::fs::write(&cfg, "[[app]]\nname = \"echo\"\nupstream = \"http://127.0.0.1:1\"\nmeta = \"missing.json\"\n").unwrap();
        let e = load(Some(&cfg), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.json"), "{e}");
        std::fs::write(
            dir.path().join("bad.json"),
            r#"{"name":"echo","paths":{"/x":{"access":"public"}}}"#,
        )
        .unwrap();
        std::fs::write(
            &cfg,
            "[[app]]\nname = \"echo\"\nupstream = \"http://127.0.0.1:1\"\nmeta = \"bad.json\"\n",
        )
        .unwrap();
        let e = load(Some(&cfg), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad.json"), "{e}");
        std::fs::write(
            &cfg,
            "[[app]]\nname = \"Echo!\"\nupstream = \"http://127.0.0.1:1\"\nmeta = \"bad.json\"\n",
        )
        .unwrap();
        assert!(load(Some(&cfg), &Overrides::default()).is_err());
    }
}
