#![doc = include_str!("../docs.md")]
#![deny(missing_docs)]

pub mod baseline;
pub mod config;
mod core;
mod error;
pub use error::DriverError;
pub mod layout;
mod query;
mod store;

pub use crate::baseline::MongoBaseline;
pub use store::{BASE_FEATURES, FEATURES, LIMITS, MongoStore, REGISTRATION};

/// The type name.
pub const NAME: &str = "state.mongodb";

/// Does nothing; calling it makes the linker keep this crate, and with it its
/// compile-time registration. The `statestore` facade calls it for every
/// enabled backend.
#[inline(never)]
pub fn link() {}
