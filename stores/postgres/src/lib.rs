#![doc = include_str!("../docs.md")]
#![deny(missing_docs)]

pub mod baseline;
pub mod config;
mod core;
pub mod dialect;
mod error;
mod json;
mod store;

pub use crate::baseline::PgBaseline;
pub use crate::core::{PgBackend, PgConn, PgDriver};
pub use store::{PostgresStore, REGISTRATION};

/// The type name.
pub const NAME: &str = "state.postgresql";

/// Does nothing; calling it makes the linker keep this crate, and with it its
/// compile-time registration. The `statestore` facade calls it for every
/// enabled backend.
#[inline(never)]
pub fn link() {}
