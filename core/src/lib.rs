#![no_std]
#![doc = include_str!("../README.md")]
#![cfg_attr(
    not(test),
    warn(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::std_instead_of_core,
        clippy::alloc_instead_of_core
    )
)]

pub mod acl;
pub mod app_meta;
pub mod base;
pub mod component;
pub mod digest;
pub mod ed25519;
#[cfg(any(fuzzing, feature = "fuzz-harness"))]
pub mod fuzz_harness;
pub mod id;
pub mod identity;
pub mod message;
pub mod path;
mod pem;
pub mod profile;
pub mod replay;
pub mod sf;
pub mod sign;
pub mod sink;
pub mod template;
pub mod verify;
pub mod whoareyou;
pub mod wire;
