//! # statestore-core
//!
//! The contract every statestore backend implements, and the pieces around
//! it that do not depend on any database driver:
//!
//! * [`Store`], the trait (every operation, optional ones included, is a
//!   required method), and [`StoreExt`], conveniences for every store;
//! * typed requests ([`SetRequest`], ...) and responses ([`Item`], ...);
//! * one [`Error`] type whose [`ErrorKind`]s follow contract §8;
//! * [`Capabilities`], printed with Dapr's feature names;
//! * [`check`], the request rules every store applies the same way;
//! * [`Registry`] and [`register_store!`], to create stores by type name;
//! * [`Properties`], component metadata with typed, named errors, and
//!   [`manifest`], Dapr component manifests;
//! * [`MemoryStore`] (`state.in-memory`), the reference implementation;
//! * [`runtime`], which loads manifests into stores by component name
//!   (with [`secrets`] for `secretKeyRef` and [`prefix`] for `keyPrefix`),
//!   and [`actor`], the actor state API on top of the actor state store.
//!
//! Most users depend on the `statestore` crate, which re-exports all of this
//! and adds the backends.
#![deny(missing_docs)]

pub mod actor;
pub mod baseline;
pub mod capabilities;
pub mod check;
pub mod error;
pub mod ext;
pub mod like;
pub mod manifest;
pub mod memory;
pub mod prefix;
pub mod properties;
pub mod query;
pub mod registry;
pub mod request;
pub mod response;
pub mod runtime;
pub mod secrets;
pub mod store;
pub mod types;

#[doc(hidden)]
pub use inventory;

pub use actor::{ActorState, ActorStateStore};
pub use capabilities::{Capabilities, Feature, Features, Limits};
pub use error::{Error, ErrorKind, Operation, Result};
pub use ext::{StoreExt, Versioned};
pub use memory::MemoryStore;
pub use prefix::{KeyPrefix, PrefixedStore};
pub use properties::{Properties, Property};
pub use query::{Filter, Query, QueryItem, QueryResponse};
pub use registry::{Factory, Registration, Registry};
pub use request::{
    DeleteRequest, DeleteWithPrefixRequest, GetRequest, KeysLikeRequest, QueryRequest, SetRequest,
    TransactRequest, TransactionOp,
};
pub use response::{Item, KeyResult, KeysPage};
pub use runtime::{Runtime, RuntimeBuilder};
pub use secrets::SecretStore;
pub use store::Store;
pub use types::{Concurrency, Consistency, ETag, Metadata, Ttl};

/// `async_trait`, re-exported so store crates use the same version.
pub use async_trait::async_trait;
/// `bytes::Bytes`, the value type.
pub use bytes::Bytes;
