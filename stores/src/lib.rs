//! # statestore
//!
//! Pluggable state stores for Rust with one contract over every backend, in
//! the spirit of Dapr's state building block: etags and first-write checked
//! on the server, TTL with expiry read-back, all-or-nothing transactions,
//! native bulk calls, delete-with-prefix and keys-like paging, and one error
//! type.
//!
//! This crate is the face users depend on: it re-exports
//! [`statestore_core`] and enables backends by cargo feature (`sqlite`, on by
//! default; `full` for all). The in-memory store is always there.
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

use baseline::Baseline;

/// `state.sqlite`: the embedded, persistent default (feature `sqlite`).
#[cfg(feature = "sqlite")]
pub use statestore_sqlite as sqlite;

/// `state.redis`: Redis and Redis Cluster (feature `redis`).
#[cfg(feature = "redis")]
pub use statestore_redis as redis;

/// `state.postgresql` (alias `state.postgres`): PostgreSQL (feature `postgres`).
#[cfg(feature = "postgres")]
pub use statestore_postgres as postgres;

/// `state.mysql`: MySQL and MariaDB (feature `mysql`).
#[cfg(feature = "mysql")]
pub use statestore_mysql as mysql;

/// The type names of every backend compiled into this build.
pub fn enabled_types() -> Vec<&'static str> {
    let mut types = vec![memory::NAME];
    #[cfg(feature = "sqlite")]
    types.push(statestore_sqlite::NAME);
    #[cfg(feature = "redis")]
    types.push(statestore_redis::NAME);
    #[cfg(feature = "postgres")]
    types.push(statestore_postgres::NAME);
    #[cfg(feature = "mysql")]
    types.push(statestore_mysql::NAME);
    types
}

/// Keeps every enabled backend crate linked: a crate whose items nobody
/// uses is left out by the linker, and its compile-time registration with it.
fn link_backends() {
    #[cfg(feature = "sqlite")]
    statestore_sqlite::link();
    #[cfg(feature = "redis")]
    statestore_redis::link();
    #[cfg(feature = "postgres")]
    statestore_postgres::link();
    #[cfg(feature = "mysql")]
    statestore_mysql::link();
}

/// The raw-driver baseline of a store type, for `statestore bench`: the
/// same workload written directly against the backend's driver. `None` when
/// the type has none in this build.
pub async fn baseline(name: &str, properties: &Properties) -> Option<Result<Box<dyn Baseline>>> {
    let _ = properties;
    match name {
        memory::NAME => Some(Ok(Box::new(baseline::MapBaseline::default()))),
        #[cfg(feature = "sqlite")]
        statestore_sqlite::NAME => Some(
            statestore_sqlite::SqliteBaseline::open(properties)
                .await
                .map(|b| Box::new(b) as Box<dyn Baseline>),
        ),
        #[cfg(feature = "redis")]
        statestore_redis::NAME => Some(
            statestore_redis::RedisBaseline::open(properties)
                .await
                .map(|b| Box::new(b) as Box<dyn Baseline>),
        ),
        #[cfg(feature = "postgres")]
        statestore_postgres::NAME => Some(
            statestore_postgres::PgBaseline::open(properties)
                .await
                .map(|b| Box::new(b) as Box<dyn Baseline>),
        ),
        #[cfg(feature = "mysql")]
        statestore_mysql::NAME => Some(
            statestore_mysql::MySqlBaseline::open(properties)
                .await
                .map(|b| Box::new(b) as Box<dyn Baseline>),
        ),
        _ => None,
    }
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
