//! Reference tools (stub: being written).
#![allow(missing_docs)]
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct BaseArgs {}
#[derive(clap::Args, Debug)]
pub struct SignArgs {}
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {}
#[derive(clap::Args, Debug)]
pub struct IdArgs {}

pub fn base(_: &BaseArgs) -> ExitCode {
    ExitCode::from(2)
}
pub fn sign(_: &SignArgs) -> ExitCode {
    ExitCode::from(2)
}
pub fn verify(_: &VerifyArgs) -> ExitCode {
    ExitCode::from(2)
}
pub fn id(_: &IdArgs) -> ExitCode {
    ExitCode::from(2)
}
