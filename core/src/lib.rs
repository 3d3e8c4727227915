#![no_std]
#![doc = include_str!("../README.md")]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

pub mod wire;
pub mod sink;
pub mod sf;
pub mod message;
pub mod component;
pub mod base;
pub mod digest;
pub mod replay;
pub mod sign;
pub mod verify;
pub mod profile;
pub mod ed25519;
pub mod id;
pub mod identity;
mod pem;
pub mod path;
pub mod template;
pub mod acl;
pub mod app_meta;
