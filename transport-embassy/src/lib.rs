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

#[cfg(test)]
extern crate std;

pub mod client;
#[cfg(any(fuzzing, feature = "fuzz-harness"))]
pub mod fuzz_harness;
pub mod http;
pub mod server;
pub mod shard;

pub use client::{Call, CallError, ClientBuffers, PeerResponse, call_peer, fetch_whoareyou};
pub use server::{App, AppRequest, Gateway, Handler, Reply, ServerConfig, Slot, SlotMemory};
pub use shard::{Clock, Peer, PeerError, Rng, Shard};
