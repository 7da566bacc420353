//! # statestore-runtime
//!
//! Dapr components on top of the `statestore-core` contract: what turns a
//! folder of Dapr component manifests into named, initialised stores.
//!
//! * [`manifest`]: Dapr component manifests (a file or a folder of YAML);
//! * [`secrets`]: secret stores for `secretKeyRef` (environment variables,
//!   JSON or YAML files, or your own [`SecretStore`]);
//! * [`prefix`]: `keyPrefix` views ([`PrefixedStore`]) that keep apps apart
//!   in one table;
//! * [`runtime`]: the [`Runtime`] that loads manifests into stores by
//!   component name, resolving secrets and `{appID}`-style placeholders;
//! * [`actor`]: the actor state API ([`ActorStateStore`]), where one
//!   actor's turn is one transaction on its keys.
//!
//! Most users depend on the `statestore` crate, which re-exports this crate
//! with the contract and the backends, and offers `statestore::runtime(app)`.
#![deny(missing_docs)]

pub mod actor;
pub mod manifest;
pub mod prefix;
pub mod runtime;
pub mod secrets;

pub use actor::{ActorState, ActorStateStore};
pub use manifest::{Component, Manifest};
pub use prefix::{KeyPrefix, PrefixedStore};
pub use runtime::{Runtime, RuntimeBuilder};
pub use secrets::SecretStore;
