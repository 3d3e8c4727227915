//! What the CLI prints: sentences for people by default, one JSON document for scripts with
//! `--json`.
//!
//! With `--json`, stdout carries exactly one JSON value per command, success or failure;
//! failures are `{"ok": false, "error": "<stable code>", "message": "…"}`. Without it, results
//! go to stdout and errors to stderr as `shardpeer: …`. The exit code is the same either way
//! (see [`super`]).

use super::CliError;
use std::process::ExitCode;

/// How to print.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// JSON for scripts instead of text for people.
    pub json: bool,
}

impl Output {
    /// Prints a result: `value` with `--json`, else `human`'s text.
    pub fn result(&self, value: &serde_json::Value, human: impl FnOnce() -> String) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(value).unwrap_or_default()
            );
        } else {
            let text = human();
            if !text.is_empty() {
                println!("{}", text.trim_end());
            }
        }
    }

    /// A warning for people (stderr); JSON carries warnings in the result instead.
    pub fn warn(&self, text: &str) {
        if !self.json {
            eprintln!("shardpeer: warning: {text}");
        }
    }

    /// Prints an error and returns its exit code.
    pub fn error(&self, e: &CliError) -> ExitCode {
        if self.json {
            let v = serde_json::json!({"ok": false, "error": e.code, "message": e.message});
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        } else {
            eprintln!("shardpeer: {}", e.message);
        }
        ExitCode::from(e.exit)
    }

    /// Prints the outcome of a command and turns it into an exit code.
    pub fn finish(&self, r: Result<u8, CliError>) -> ExitCode {
        match r {
            Ok(code) => ExitCode::from(code),
            Err(e) => self.error(&e),
        }
    }
}
