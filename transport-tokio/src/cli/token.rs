//! `shardpeer token rotate [--app NAME | --owner] [--show]`.
//!
//! On a running host through `POST /protected/tokens/rotate` ([`crate::tokens`]): the file is
//! rewritten and the token swapped in memory, so the old one stops working at once. On a
//! stopped host the file is rewritten under the data directory's lock. Either way the new
//! token is only printed with `--show`; otherwise the command says which file holds it.

use super::output::Output;
use super::{CliError, Common, Context, EXIT_OK, Host, Remote};
use http::Method;
use std::process::ExitCode;

/// `shardpeer token …`.
#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Replace a bearer token with a fresh one; the old one stops working at once.
    #[command(group(clap::ArgGroup::new("whose").required(true).args(["app", "owner"])))]
    Rotate {
        /// Rotate this app's token (apps/NAME.token).
        #[arg(long, value_name = "NAME")]
        app: Option<String>,
        /// Rotate the owner's token (owner.token).
        #[arg(long)]
        owner: bool,
        /// Also print the new token.
        #[arg(long)]
        show: bool,
        #[command(flatten)]
        #[allow(missing_docs)]
        common: Common,
        #[command(flatten)]
        #[allow(missing_docs)]
        remote: Remote,
    },
}

/// Runs a `token` command.
pub fn run(cmd: TokenCommand) -> ExitCode {
    let TokenCommand::Rotate {
        app,
        owner: _,
        show,
        common,
        remote,
    } = cmd;
    let out = Output { json: common.json };
    out.finish(super::block_on(rotate(common, remote, app, show, out)).and_then(|r| r))
}

async fn rotate(
    common: Common,
    remote: Remote,
    app: Option<String>,
    show: bool,
    out: Output,
) -> Result<u8, CliError> {
    let ctx = Context::load(&common)?;
    if let Some(a) = app.as_ref().filter(|a| !crate::config::is_dns_label(a)) {
        return Err(CliError::usage(
            "invalid_app",
            format!("{a:?} is not an app name (a DNS label: a-z, 0-9, -)"),
        ));
    }
    let host = Host::open(&ctx, &remote)?;
    let (path, token, via) = match &host {
        Host::Running(api) => {
            let body = match &app {
                Some(a) => serde_json::json!({"app": a}),
                None => serde_json::json!({"owner": true}),
            };
            let (_, v) = api
                .call(Method::POST, crate::tokens::ROTATE_PATH, Some(&body))
                .await?;
            let data = ctx.existing_data_dir()?;
            let path = match &app {
                Some(a) => data.app_token_path(a),
                None => data.owner_token_path(),
            };
            (path, v["token"].as_str().unwrap_or("").to_string(), "host")
        }
        Host::Stopped { data, .. } => {
            let path = match &app {
                Some(a) => {
                    let path = data.app_token_path(a);
                    if !ctx.app_names().contains(a) && !path.exists() {
                        return Err(CliError::failed(
                            "unknown_app",
                            format!(
                                "no app named {a:?}: it is not in the config and has no token file ({})",
                                path.display()
                            ),
                        ));
                    }
                    path
                }
                None => data.owner_token_path(),
            };
            let token = data
                .rotate_token(&path)
                .map_err(|e| CliError::failed("store_error", e.to_string()))?;
            (path, token, "store")
        }
    };
    let whose = match &app {
        Some(a) => format!("app {a:?}"),
        None => "owner".to_string(),
    };
    let mut v = serde_json::json!({
        "ok": true,
        "via": via,
        "rotated": if app.is_some() { "app" } else { "owner" },
        "path": path.display().to_string(),
    });
    if let Some(a) = &app {
        v["app"] = a.clone().into();
    }
    if show {
        v["token"] = token.clone().into();
    }
    out.result(&v, || {
        let when = if via == "host" {
            "the running host no longer accepts the old one"
        } else {
            "the host is stopped; it reads the new one when it starts"
        };
        let mut s = format!(
            "rotated the {whose} token ({when}); the new one is in {}",
            path.display()
        );
        if show {
            s.push('\n');
            s.push_str(&token);
        }
        s
    });
    Ok(EXIT_OK)
}
