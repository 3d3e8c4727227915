//! `shardpeer-conformance`: reference tools for implementers, and a black-box runner.
//!
//! Exit codes: 0 success; 1 the check failed (a verification error code is printed, or a
//! runner scenario failed); 2 bad usage or unreadable input.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Reference tools and a conformance runner for the shardpeer protocol.
#[derive(Parser, Debug)]
#[command(name = "shardpeer-conformance", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the RFC 9421 signature base of a message (stdin, wire form).
    Base(shardpeer_conformance::tools::BaseArgs),
    /// Sign a message (stdin, wire form); prints the Signature-Input and Signature lines.
    Sign(shardpeer_conformance::tools::SignArgs),
    /// Verify every signature of a message (stdin, wire form).
    Verify(shardpeer_conformance::tools::VerifyArgs),
    /// Print the shard ID of a key (public key, or private key/seed).
    Id(shardpeer_conformance::tools::IdArgs),
    /// Act as a second shard and drive a live implementation through its HTTP API.
    Run(shardpeer_conformance::runner::RunArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Base(a) => shardpeer_conformance::tools::base(&a),
        Command::Sign(a) => shardpeer_conformance::tools::sign(&a),
        Command::Verify(a) => shardpeer_conformance::tools::verify(&a),
        Command::Id(a) => shardpeer_conformance::tools::id(&a),
        Command::Run(a) => shardpeer_conformance::runner::run(&a),
    }
}
