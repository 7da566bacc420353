#![doc = include_str!("../docs.md")]
#![deny(missing_docs)]

pub mod baseline;
pub mod config;
mod core;
mod error;
pub mod layout;
mod node;
mod record;
mod store;

pub use crate::baseline::RedisBaseline;
pub use store::{FEATURES, LIMITS, REGISTRATION, RedisStore};

/// The type name.
pub const NAME: &str = "state.redis";

/// Does nothing; calling it makes the linker keep this crate, and with it its
/// compile-time registration. The `statestore` facade calls it for every
/// enabled backend.
#[inline(never)]
pub fn link() {}
