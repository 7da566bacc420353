//! The raw-driver side of `statestore bench`: the same workload written
//! directly against a backend's driver, the way an application would
//! without this SDK, so the benchmark can print SDK / raw in one run.
//!
//! A baseline uses its own keys (and, where it has one, its own table), so
//! the two sides never read each other's data.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::RwLock;

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::{Error, Result};
use crate::properties::Properties;

/// What [`open`] returns: the baseline, once connected.
pub type BaselineFuture = Pin<Box<dyn Future<Output = Result<Box<dyn Baseline>>> + Send>>;

/// Opens a baseline of type `B`: the function a store's `Registration`
/// names (`.baseline(baseline::open::<MyBaseline>)`) for `statestore bench`.
pub fn open<B: Baseline + 'static>(properties: Properties) -> BaselineFuture {
    Box::pin(async move { Ok(Box::new(B::open(&properties).await?) as Box<dyn Baseline>) })
}

/// Whether a baseline keeps the store's own row or record (etag, expiry,
/// content type; on SQL also the expiry's index and the JSON copy) instead
/// of a bare key and value: `STATESTORE_BENCH_RAW_ROW=store`. That tells
/// what the store's data costs from what the SDK's plumbing costs
/// (docs/performance.md, "What the row costs").
pub fn store_row() -> bool {
    std::env::var("STATESTORE_BENCH_RAW_ROW").is_ok_and(|v| v == "store")
}

/// One backend's workload through its raw driver.
#[async_trait]
pub trait Baseline: Send + Sync {
    /// Connects with the properties the store itself takes, and sets up
    /// whatever the baseline writes to (its own keys or table).
    async fn open(properties: &Properties) -> Result<Self>
    where
        Self: Sized;
    /// The driver, for reports, e.g. `sqlx 0.9 (sqlite)`.
    fn driver(&self) -> String;
    /// Reads one key.
    async fn get(&self, key: &str) -> Result<Option<Bytes>>;
    /// Upserts one key.
    async fn set(&self, key: &str, value: Bytes) -> Result<()>;
    /// Reads many keys in the driver's native multi-key way; returns how
    /// many were found.
    async fn bulk_get(&self, keys: &[String]) -> Result<usize>;
    /// Upserts many keys in the driver's native multi-key way.
    async fn bulk_set(&self, items: &[(String, Bytes)]) -> Result<()>;
    /// Upserts many keys all-or-nothing.
    async fn transact(&self, items: &[(String, Bytes)]) -> Result<()>;
    /// Removes what the baseline wrote and closes its connections.
    async fn close(&self) -> Result<()>;
}

/// The in-memory store's baseline: a `HashMap` behind an `RwLock`, what a
/// program would use instead of `state.in-memory`.
#[derive(Default)]
pub struct MapBaseline {
    map: RwLock<HashMap<String, Bytes>>,
}

impl MapBaseline {
    fn poisoned() -> Error {
        Error::backend("the baseline map's lock is poisoned")
    }
}

#[async_trait]
impl Baseline for MapBaseline {
    async fn open(_properties: &Properties) -> Result<Self> {
        Ok(MapBaseline::default())
    }

    fn driver(&self) -> String {
        "std HashMap + RwLock".into()
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let map = self.map.read().map_err(|_| Self::poisoned())?;
        Ok(map.get(key).cloned())
    }

    async fn set(&self, key: &str, value: Bytes) -> Result<()> {
        let mut map = self.map.write().map_err(|_| Self::poisoned())?;
        map.insert(key.to_owned(), value);
        Ok(())
    }

    async fn bulk_get(&self, keys: &[String]) -> Result<usize> {
        let map = self.map.read().map_err(|_| Self::poisoned())?;
        Ok(keys.iter().filter_map(|k| map.get(k).cloned()).count())
    }

    async fn bulk_set(&self, items: &[(String, Bytes)]) -> Result<()> {
        let mut map = self.map.write().map_err(|_| Self::poisoned())?;
        for (k, v) in items {
            map.insert(k.clone(), v.clone());
        }
        Ok(())
    }

    async fn transact(&self, items: &[(String, Bytes)]) -> Result<()> {
        self.bulk_set(items).await
    }

    async fn close(&self) -> Result<()> {
        self.map.write().map_err(|_| Self::poisoned())?.clear();
        Ok(())
    }
}
