//! shardpeer conformance: vectors any implementation can load, reference tools that read
//! HTTP messages in wire form, and a black-box runner that acts as a second shard against a
//! live implementation. See `conformance/README.md`.

pub mod runner;
pub mod runner_support;
pub mod tools;
pub mod vectors;
pub mod wire;
