//! Conveniences on top of [`Store`], for every store (wrappers included)
//! through a blanket implementation, so no store has to forward them.

use async_trait::async_trait;
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{ErrorKind, Result};
use crate::request::{DeleteRequest, GetRequest, SetRequest, TransactRequest, TransactionOp};
use crate::response::Item;
use crate::store::Store;
use crate::types::ETag;

/// A typed value with the etag it was read at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    /// The value.
    pub value: T,
    /// The etag to write back with.
    pub etag: Option<ETag>,
}

/// Shorthand calls and serde JSON helpers for any [`Store`].
#[async_trait]
pub trait StoreExt: Store {
    /// `get` with default options.
    async fn get_item(&self, key: &str) -> Result<Option<Item>> {
        self.get(GetRequest::new(key)).await
    }

    /// An unconditional write; returns the new etag.
    async fn put<V: Into<Bytes> + Send>(&self, key: &str, value: V) -> Result<Option<ETag>> {
        self.set(SetRequest::new(key, value)).await
    }

    /// An unconditional delete.
    async fn remove(&self, key: &str) -> Result<()> {
        self.delete(DeleteRequest::new(key)).await
    }

    /// Reads a JSON value and its etag.
    async fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<Versioned<T>>> {
        match self.get(GetRequest::new(key)).await? {
            None => Ok(None),
            Some(item) => Ok(Some(Versioned {
                value: item.json().map_err(|e| e.with_key(key))?,
                etag: item.etag,
            })),
        }
    }

    /// Writes a value as JSON (content type `application/json`).
    async fn set_json<T: Serialize + Sync + ?Sized>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<Option<ETag>> {
        self.set(SetRequest::json(key, value)?).await
    }

    /// Optimistic read-modify-write of a JSON value: reads it, applies `f`,
    /// writes the result conditional on the etag read (first-write when the
    /// key was missing), and starts over when another writer got there first,
    /// at most `attempts` times. Returns the value written.
    async fn update_json<T, F>(&self, key: &str, attempts: u32, mut f: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned + Send + Sync,
        F: FnMut(Option<T>) -> T + Send,
    {
        let mut tries = 0;
        loop {
            tries += 1;
            let (old, etag) = match self.get_json::<T>(key).await? {
                Some(v) => (Some(v.value), v.etag),
                None => (None, None),
            };
            let new = f(old);
            let req = SetRequest::json(key, &new)?.etag_opt(etag).first_write();
            match self.set(req).await {
                Ok(_) => return Ok(new),
                Err(e) if e.kind() == ErrorKind::ETagMismatch && tries < attempts.max(1) => {
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A transaction of `operations` without request metadata.
    async fn transact_ops(&self, operations: Vec<TransactionOp>) -> Result<Vec<Option<ETag>>> {
        self.transact(TransactRequest::new(operations)).await
    }
}

impl<S: Store + ?Sized> StoreExt for S {}
