//! The black-box runner (stub: being written).
#![allow(missing_docs)]
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct RunArgs {}

pub fn run(_: &RunArgs) -> ExitCode {
    ExitCode::from(2)
}
