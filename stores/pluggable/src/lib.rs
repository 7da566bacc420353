#![doc = include_str!("../docs.md")]
#![deny(missing_docs)]

pub mod config;
mod convert;
mod core;
pub mod error;
mod features;
pub mod proto;
mod serve;
mod service;
mod store;

pub use crate::core::connect;
pub use serve::{
    Bound, Component, DEFAULT_SOCKETS_FOLDER, GRACE, MAX_MESSAGE, SOCKETS_FOLDER_ENV, bind,
    check_name, serve, services_for, socket_path, sockets_folder,
};
pub use store::{PluggableStore, REGISTRATION};

/// The type name of the client store.
pub const NAME: &str = "state.pluggable";

/// The gRPC metadata that names the component instance of a call.
pub const INSTANCE_HEADER: &str = "x-component-instance";

/// Request metadata asking a statestore server for each item's outcome in
/// a write's answer (daprd never sends it, so its answers stay Dapr's).
pub const OUTCOMES_HEADER: &str = "statestore-outcomes";

/// Ping metadata asking a statestore server to close the call's instance:
/// the protocol has no Close, and `state.pluggable` sends this on close.
pub const CLOSE_HEADER: &str = "statestore-close";

/// The feature a statestore server lists when its query honours
/// [`KEY_PREFIX_METADATA`] (not one of Dapr's; daprd ignores it).
pub const KEY_PREFIX_FEATURE: &str = "STATESTORE_QUERY_KEY_PREFIX";

/// The feature a statestore server lists when its socket serves
/// `delete_with_prefix` (not Dapr's DELETE_WITH_PREFIX: daprd would look
/// for a call its protocol does not have).
pub const DELETE_WITH_PREFIX_FEATURE: &str = "STATESTORE_DELETE_WITH_PREFIX";

/// The feature a statestore server lists when its socket serves
/// `keys_like`.
pub const KEYS_LIKE_FEATURE: &str = "STATESTORE_KEYS_LIKE";

/// Query metadata carrying the contract's `key_prefix`.
pub const KEY_PREFIX_METADATA: &str = "statestore.keyPrefix";

/// Does nothing; calling it makes the linker keep this crate, and with it its
/// compile-time registration. The `statestore` facade calls it when its
/// `pluggable` feature is on.
#[inline(never)]
pub fn link() {}
