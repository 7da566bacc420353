#![doc = include_str!("../docs.md")]
#![deny(missing_docs)]

pub mod baseline;
pub mod config;
mod core;
pub mod dialect;
mod error;
mod json;
mod store;

pub use crate::baseline::SqliteBaseline;
pub use crate::core::{SqliteBackend, SqliteConn, SqliteDriver};
pub use store::{REGISTRATION, SqliteStore};

/// The type name.
pub const NAME: &str = "state.sqlite";

/// Does nothing; calling it makes the linker keep this crate, and with it its
/// compile-time registration. The `statestore` facade calls it for every
/// enabled backend.
#[inline(never)]
pub fn link() {}
