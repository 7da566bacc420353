//! # statestore-core
//!
//! The contract every statestore backend implements, and nothing else: no
//! database driver, no YAML, no command line.
//!
//! * [`Store`], the trait (every operation, optional ones included, is a
//!   required method), and [`StoreExt`], conveniences for every store;
//! * typed requests ([`SetRequest`], ...) and responses ([`Item`], ...);
//! * one [`Error`] type whose [`ErrorKind`]s follow the *Errors* section of
//!   docs/contract.md;
//! * [`Capabilities`], printed with Dapr's feature names;
//! * [`bulk`], the bookkeeping of bulk reads by distinct keys;
//! * [`check`], the request rules every store applies the same way, with
//!   [`like`] patterns and [`token`]s for keys-like paging;
//! * [`query`], Dapr's query language and its evaluator;
//! * [`Registry`] and [`register_store!`], to create stores by type name;
//! * [`Properties`], component metadata with typed, named errors;
//! * [`MemoryStore`] (`state.in-memory`), the reference implementation;
//! * [`baseline`], the raw-driver side of `statestore bench`.
//!
//! Dapr components (manifests, secrets, key prefixes, actor state) live in
//! `statestore-runtime`. Most users depend on the `statestore` crate, which
//! re-exports both and adds the backends.
#![deny(missing_docs)]

pub mod baseline;
pub mod bulk;
pub mod capabilities;
pub mod check;
pub mod error;
mod etag;
pub mod ext;
pub mod handle;
pub mod like;
pub mod memory;
pub mod properties;
pub mod query;
pub mod registry;
pub mod request;
pub mod response;
pub mod store;
pub mod token;
pub mod types;

#[doc(hidden)]
pub use inventory;

pub use capabilities::{Capabilities, Feature, Features, Limits};
pub use error::{Error, ErrorKind, Operation, Result};
pub use ext::{StoreExt, Versioned};
pub use memory::MemoryStore;
pub use properties::{Properties, Property};
pub use query::{Filter, Query, QueryItem, QueryResponse};
pub use registry::{BaselineFactory, Factory, Registration, Registry};
pub use request::{
    DeleteRequest, DeleteWithPrefixRequest, GetRequest, KeysLikeRequest, QueryRequest, SetRequest,
    TransactRequest, TransactionOp,
};
pub use response::{Item, KeyResult, KeysPage};
pub use store::Store;
pub use types::{Concurrency, Consistency, ETag, Metadata, Ttl};

/// `async_trait`, re-exported so store crates use the same version.
pub use async_trait::async_trait;
/// `bytes::Bytes`, the value type.
pub use bytes::Bytes;
