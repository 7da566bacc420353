//! # statestore
//!
//! Pluggable state stores for Rust with one contract over every backend, in
//! the spirit of Dapr's state building block: etags and first-write checked
//! on the server, TTL with expiry read-back, all-or-nothing transactions,
//! native bulk calls, delete-with-prefix and keys-like paging, and one error
//! type.
//!
//! This crate is the face users depend on: it re-exports the contract
//! ([`statestore_core`]) and the Dapr components runtime
//! ([`statestore_runtime`]), and enables backends by cargo feature
//! (`sqlite`, on by default; `redis`, `postgres`, `mysql`; `full` for all).
//! The in-memory store is always there. The `statestore` command line is the
//! `statestore-cli` crate.
//!
//! ```
//! use statestore::{Properties, SetRequest, StoreExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> statestore::Result<()> {
//! let registry = statestore::registry()?;
//! let store = registry
//!     .open("state.sqlite", None, &Properties::new().with("connectionString", ":memory:"))
//!     .await?;
//! let etag = store.put("greeting", "hello").await?;
//! store.set(SetRequest::new("greeting", "hi").etag_opt(etag)).await?;
//! assert_eq!(&store.get_item("greeting").await?.unwrap().value[..], b"hi");
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

pub use statestore_core::*;
pub use statestore_runtime::*;

/// Re-exports each backend crate as a module named after its feature, and
/// keeps it linked: a crate whose items nobody names is left out by the
/// linker, and its compile-time registration with it. One line per backend;
/// in Cargo.toml each backend is an optional dependency named as its
/// feature, so the feature and the crate share the name.
macro_rules! backends {
    ($($feature:literal => $krate:ident, $doc:literal;)*) => {
        $(
            #[doc = $doc]
            #[cfg(feature = $feature)]
            pub use ::$krate;
        )*

        fn link_backends() {
            $(
                #[cfg(feature = $feature)]
                $krate::link();
            )*
        }

        /// Each backend feature of this crate, with the store type its
        /// crate registers when the feature is on (`None` when off). For the
        /// test that every enabled backend reaches the registry.
        #[doc(hidden)]
        pub fn backend_features() -> Vec<(&'static str, Option<&'static str>)> {
            vec![$(
                ($feature, {
                    #[cfg(feature = $feature)]
                    let name = Some($krate::NAME);
                    #[cfg(not(feature = $feature))]
                    let name = None;
                    name
                }),
            )*]
        }
    };
}

backends! {
    "sqlite" => sqlite, "`state.sqlite`: the embedded, persistent default (feature `sqlite`).";
    "redis" => redis, "`state.redis`: Redis and Redis Cluster (feature `redis`).";
    "postgres" => postgres, "`state.postgresql` (alias `state.postgres`): PostgreSQL (feature `postgres`).";
    "mysql" => mysql, "`state.mysql`: MySQL and MariaDB (feature `mysql`).";
    "mongodb" => mongodb, "`state.mongodb`: MongoDB (feature `mongodb`).";
    "dynamodb" => dynamodb, "`state.aws.dynamodb`: Amazon DynamoDB (feature `dynamodb`).";
    "pluggable" => pluggable, "`state.pluggable`: any Dapr pluggable state component, and serving stores to daprd (feature `pluggable`).";
}

/// The type names of every store type registered in this build: the
/// in-memory store, the enabled backends, and any linked crate that
/// registers itself.
pub fn enabled_types() -> Result<Vec<&'static str>> {
    Ok(registry()?.iter().map(|r| r.name).collect())
}

/// A [`RuntimeBuilder`] for app `app_id` over [`registry()`]: load a
/// manifest file or folder with it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> statestore::Result<()> {
/// # let path = std::env::temp_dir().join(format!("facade-doc-{}.yaml", std::process::id()));
/// # std::fs::write(&path, "kind: Component\napiVersion: dapr.io/v1alpha1\nmetadata: {name: cache}\nspec: {type: state.in-memory, version: v1}\n").unwrap();
/// use statestore::StoreExt;
/// let runtime = statestore::runtime("bank")?.load(&path).await?;
/// runtime.store("cache")?.put("k", "v").await?; // stored as bank||k
/// runtime.close().await?;
/// # std::fs::remove_file(&path).unwrap();
/// # Ok(())
/// # }
/// ```
pub fn runtime(app_id: impl Into<String>) -> Result<RuntimeBuilder> {
    Ok(Runtime::builder(registry()?, app_id))
}

/// A registry holding every store type compiled into this build (and any
/// linked crate that registers itself); add your own with
/// [`Registry::register`].
pub fn registry() -> Result<Registry> {
    link_backends();
    Registry::from_inventory()
}
