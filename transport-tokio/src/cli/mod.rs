//! The operator's commands beside `serve`: `peers`, `token`, `identity`, `doctor`.
//!
//! **Running or stopped.** A command that changes the shard's state first tries to take the
//! data directory's lock ([`lock`]). If it gets it, no host is running on that directory and
//! the command edits the files itself, holding the lock, with the same atomic writes the host
//! uses. If a `shardpeer serve` holds it, the command goes through that host's internal API
//! with the owner token from the data directory, at the address the host recorded in the lock
//! file (`--internal URL` overrides both). So two writers never race on a file.
//!
//! **Output.** Sentences for people; `--json` prints one JSON document for scripts
//! ([`output`]).
//!
//! **Exit codes** ([`EXIT_CODES_HELP`]): 0 done, 1 failed or refused (or a doctor check
//! failed), 2 usage or configuration error, 3 the host runs but its internal API cannot be
//! reached.

pub mod doctor;
pub mod identity;
pub mod lock;
pub mod output;
pub mod peers;
pub mod token;

use crate::config::{DEFAULT_INTERNAL, FileConfig};
use crate::datadir::DataDir;
use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use lock::{Acquired, DataLock};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Success.
pub const EXIT_OK: u8 = 0;
/// The operation failed or was refused; or a `doctor` check failed.
pub const EXIT_FAILED: u8 = 1;
/// Usage or configuration error.
pub const EXIT_USAGE: u8 = 2;
/// The host is running but its internal API cannot be reached.
pub const EXIT_UNREACHABLE: u8 = 3;

/// The exit codes, as `shardpeer --help` shows them.
pub const EXIT_CODES_HELP: &str = "\
Exit codes (peers, token, identity, doctor):
  0  done; doctor: no check failed (warnings allowed)
  1  the operation failed or was refused; doctor: a check failed
  2  usage or configuration error (bad flag or ID, unreadable config, no data directory)
  3  the host is running (it holds the data directory's lock) but its internal API
     does not answer

Commands that change the shard edit its data directory directly when no host runs on it,
and go through the running host's internal API (with the owner token) when one does.";

/// A failed command: what to print and the exit code.
#[derive(Debug, Clone)]
pub struct CliError {
    /// Exit code ([`EXIT_FAILED`], [`EXIT_USAGE`], [`EXIT_UNREACHABLE`]).
    pub exit: u8,
    /// Stable machine-readable code (the API's error code when the host answered one).
    pub code: String,
    /// A sentence for people.
    pub message: String,
}

impl CliError {
    /// A failed or refused operation (exit 1).
    pub fn failed(code: &str, message: impl Into<String>) -> Self {
        CliError {
            exit: EXIT_FAILED,
            code: code.to_string(),
            message: message.into(),
        }
    }

    /// A usage or configuration error (exit 2).
    pub fn usage(code: &str, message: impl Into<String>) -> Self {
        CliError {
            exit: EXIT_USAGE,
            code: code.to_string(),
            message: message.into(),
        }
    }

    /// The host runs but cannot be reached (exit 3).
    pub fn unreachable(message: impl Into<String>) -> Self {
        CliError {
            exit: EXIT_UNREACHABLE,
            code: "host_unreachable".to_string(),
            message: message.into(),
        }
    }
}

/// Options every command takes: where the shard's files are, and how to print.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// TOML config file, as for `serve` (its data_dir, internal_listen and apps are used).
    #[arg(long, env = "SHARDPEER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory [default: the config's data_dir, else ./shardpeer-data].
    #[arg(long, env = "SHARDPEER_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Print one JSON document (for scripts) instead of sentences.
    #[arg(long)]
    pub json: bool,
}

/// Options of commands that may talk to a running host.
#[derive(Debug, Clone, clap::Args)]
pub struct Remote {
    /// The running host's internal API, e.g. http://127.0.0.1:8480 [default: the address the
    /// host recorded in DATA_DIR/lock].
    #[arg(long, value_name = "URL")]
    pub internal: Option<String>,
}

/// What a command knows from its flags and the config file.
#[derive(Debug)]
pub struct Context {
    /// The data directory.
    pub data_dir: PathBuf,
    /// The config file, if any.
    pub config_path: Option<PathBuf>,
    /// The config file as written (app_meta files are not loaded: a broken one must not stop
    /// an operator from managing peers; `doctor` checks them).
    pub file: FileConfig,
    /// The directory the config's relative paths start from.
    pub base: PathBuf,
}

impl Context {
    /// Reads the config file (if any) and resolves the data directory as `serve` does.
    pub fn load(common: &Common) -> Result<Context, CliError> {
        let (file, base) = match &common.config {
            Some(p) => (
                read_config(p)?,
                p.parent().map(Path::to_path_buf).unwrap_or_default(),
            ),
            None => (FileConfig::default(), PathBuf::from(".")),
        };
        let data_dir = common
            .data_dir
            .clone()
            .or_else(|| file.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from("shardpeer-data"));
        Ok(Context {
            data_dir,
            config_path: common.config.clone(),
            file,
            base,
        })
    }

    /// The names of the apps in the config.
    pub fn app_names(&self) -> Vec<String> {
        self.file.apps.iter().map(|a| a.name.clone()).collect()
    }

    /// The data directory, which must exist (commands other than `identity import` never
    /// create one: a mistyped `--data-dir` should not become an empty shard).
    pub fn existing_data_dir(&self) -> Result<DataDir, CliError> {
        if !self.data_dir.is_dir() {
            return Err(CliError::usage(
                "no_data_dir",
                format!(
                    "no data directory at {} (give --data-dir or --config; `shardpeer serve` creates it)",
                    self.data_dir.display()
                ),
            ));
        }
        DataDir::open(&self.data_dir).map_err(|e| CliError::failed("data_dir", e.to_string()))
    }
}

/// Reads and parses a config file (unknown keys are errors, as for `serve`).
pub fn read_config(path: &Path) -> Result<FileConfig, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::usage(
            "config_unreadable",
            format!("cannot read config {}: {e}", path.display()),
        )
    })?;
    toml::from_str(&text).map_err(|e| {
        CliError::usage(
            "config_invalid",
            format!("invalid config {}: {e}", path.display()),
        )
    })
}

/// The shard as a command finds it.
#[derive(Debug)]
pub enum Host {
    /// A host runs on the data directory: go through its internal API.
    Running(Api),
    /// No host runs: the command holds the lock and may edit the files.
    Stopped {
        /// Held until the command ends.
        lock: DataLock,
        /// The data directory.
        data: DataDir,
    },
}

impl Host {
    /// Finds out whether a host runs on the context's data directory: takes the lock if it
    /// can, else prepares an API client for the running host. `--internal` forces the API.
    pub fn open(ctx: &Context, remote: &Remote) -> Result<Host, CliError> {
        let data = ctx.existing_data_dir()?;
        if let Some(url) = &remote.internal {
            return Ok(Host::Running(Api::new(url, &data, None)?));
        }
        match DataLock::try_acquire(data.root(), "cli")
            .map_err(|e| CliError::failed("lock", e.to_string()))?
        {
            Acquired::Locked(lock) => Ok(Host::Stopped { lock, data }),
            Acquired::Held(record) => {
                let record = record.unwrap_or_default();
                if record.holder == "cli" {
                    return Err(CliError::failed(
                        "busy",
                        format!(
                            "{} is editing {}: try again in a moment",
                            record.describe(),
                            data.root().display()
                        ),
                    ));
                }
                let url = match record.internal.clone() {
                    Some(u) => u,
                    None => {
                        // Recorded once the listeners are bound; before that, the config's
                        // address if it names a port.
                        let addr = ctx.file.internal_listen.unwrap_or_else(|| {
                            DEFAULT_INTERNAL
                                .parse()
                                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8480)))
                        });
                        if addr.port() == 0 {
                            return Err(CliError::unreachable(format!(
                                "{} holds {} but has not recorded its internal address yet (starting?): try again, or give --internal URL",
                                record.describe(),
                                data.root().display()
                            )));
                        }
                        format!("http://{addr}")
                    }
                };
                Ok(Host::Running(Api::new(&url, &data, Some(record))?))
            }
        }
    }
}

/// A client for the running host's internal API, authenticated as the owner.
#[derive(Debug)]
pub struct Api {
    /// Base URL, e.g. `http://127.0.0.1:8480`.
    pub base: String,
    token: String,
    token_path: PathBuf,
    /// What the lock file says about the host, when it was found through it.
    pub record: Option<lock::LockRecord>,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Api {
    /// A client for `base` with the owner token read from `data`.
    pub fn new(
        base: &str,
        data: &DataDir,
        record: Option<lock::LockRecord>,
    ) -> Result<Api, CliError> {
        let base = base.trim_end_matches('/').to_string();
        let uri: http::Uri = base
            .parse()
            .map_err(|e| CliError::usage("invalid_url", format!("--internal {base:?}: {e}")))?;
        if uri.scheme_str() != Some("http") || uri.authority().is_none() {
            return Err(CliError::usage(
                "invalid_url",
                format!("--internal {base:?}: expected http://host:port"),
            ));
        }
        let token_path = data.owner_token_path();
        let token = std::fs::read_to_string(&token_path)
            .map_err(|e| {
                CliError::failed(
                    "owner_token_unreadable",
                    format!("cannot read the owner token {}: {e}", token_path.display()),
                )
            })?
            .trim()
            .to_string();
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        Ok(Api {
            base,
            token,
            token_path,
            record,
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    /// Where the running host was found, for messages.
    pub fn describe(&self) -> String {
        match &self.record {
            Some(r) => format!("{} at {}", r.describe(), self.base),
            None => format!("the host at {}", self.base),
        }
    }

    /// Calls `method path` with an optional JSON body. Returns the status and the JSON answer
    /// (`null` when empty) for 2xx; an API error (exit 1) or "unreachable" (exit 3) otherwise.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(StatusCode, serde_json::Value), CliError> {
        let bytes = body.map(|b| b.to_string()).unwrap_or_default();
        let req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(bytes)))
            .map_err(|e| CliError::usage("invalid_request", e.to_string()))?;
        let send = async {
            let resp = self.client.request(req).await.map_err(|e| {
                CliError::unreachable(format!(
                    "{} does not answer: {}",
                    self.describe(),
                    crate::client::error_chain(&e)
                ))
            })?;
            let (parts, body) = resp.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| CliError::unreachable(format!("{}: {e}", self.describe())))?
                .to_bytes();
            Ok::<_, CliError>((parts.status, body))
        };
        let (status, body) = tokio::time::timeout(Duration::from_secs(60), send)
            .await
            .map_err(|_| {
                CliError::unreachable(format!("{} did not answer within 60 s", self.describe()))
            })??;
        let json: serde_json::Value = if body.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&body).unwrap_or_else(|_| {
                serde_json::Value::String(String::from_utf8_lossy(&body).into_owned())
            })
        };
        if status.is_success() {
            return Ok((status, json));
        }
        let code = json["error"].as_str().unwrap_or("http_error").to_string();
        let message = json["message"].as_str().unwrap_or("").to_string();
        if status == StatusCode::UNAUTHORIZED {
            return Err(CliError::failed(
                &code,
                format!(
                    "{} refused the owner token in {} ({code}: {message}); was it rotated, or is this another host?",
                    self.describe(),
                    self.token_path.display()
                ),
            ));
        }
        let exit = if status == StatusCode::UNPROCESSABLE_ENTITY {
            EXIT_USAGE
        } else {
            EXIT_FAILED
        };
        Err(CliError {
            exit,
            code,
            message: format!("the host answered {}: {message}", status.as_u16()),
        })
    }
}

/// Runs `f` on a small runtime (the CLI's work is a few requests or file writes).
pub fn block_on<F: std::future::Future>(f: F) -> Result<F::Output, CliError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failed("runtime", format!("cannot start the runtime: {e}")))?;
    Ok(rt.block_on(f))
}
