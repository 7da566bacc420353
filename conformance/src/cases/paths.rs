//! The paths a rule must hold on: one key written through `set`,
//! `bulk_set` or a transaction, removed through `delete`, `bulk_delete` or
//! a transaction, read through `get` or `bulk_get`. A case loops over them,
//! so a store that applies a rule on one path and forgets it on another
//! fails, and the message names the path.

use std::fmt;

use statestore_core::{
    DeleteRequest, ETag, Feature, GetRequest, Item, KeyResult, Result, SetRequest, Store,
    TransactRequest, TransactionOp,
};

use crate::context::{Ctx, Failure, fail};

/// A way to write one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// `set`.
    Set,
    /// `bulk_set` of one request.
    BulkSet,
    /// `transact` of one upsert.
    Transact,
}

/// A way to remove one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remove {
    /// `delete`.
    Delete,
    /// `bulk_delete` of one request.
    BulkDelete,
    /// `transact` of one delete.
    Transact,
}

/// A way to read one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// `get`.
    Get,
    /// `bulk_get` of the key between two others.
    BulkGet,
}

impl fmt::Display for Write {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Write::Set => "set",
            Write::BulkSet => "bulk_set",
            Write::Transact => "transact (upsert)",
        })
    }
}

impl fmt::Display for Remove {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Remove::Delete => "delete",
            Remove::BulkDelete => "bulk_delete",
            Remove::Transact => "transact (delete)",
        })
    }
}

impl fmt::Display for Read {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Read::Get => "get",
            Read::BulkGet => "bulk_get",
        })
    }
}

/// The write paths of this store (transactions when it declares them).
pub fn writes(cx: &Ctx) -> Vec<Write> {
    let mut all = vec![Write::Set, Write::BulkSet];
    if cx.has(Feature::Transactional) {
        all.push(Write::Transact);
    }
    all
}

/// The remove paths of this store (transactions when it declares them).
pub fn removes(cx: &Ctx) -> Vec<Remove> {
    let mut all = vec![Remove::Delete, Remove::BulkDelete];
    if cx.has(Feature::Transactional) {
        all.push(Remove::Transact);
    }
    all
}

/// Every read path.
pub const READS: [Read; 2] = [Read::Get, Read::BulkGet];

/// The single result of a bulk call of one request.
pub fn only<T>(path: &str, entries: Result<Vec<KeyResult<T>>>) -> Result<T> {
    let mut entries = entries?;
    match (entries.pop(), entries.is_empty()) {
        (Some(entry), true) => entry.result,
        _ => Err(statestore_core::Error::backend(format!(
            "{path} of one request did not answer with exactly one entry"
        ))),
    }
}

/// Writes `req` through `path`; the store's answer as the path gives it.
pub async fn write(store: &dyn Store, path: Write, req: SetRequest) -> Result<Option<ETag>> {
    match path {
        Write::Set => store.set(req).await,
        Write::BulkSet => only("bulk_set", store.bulk_set(vec![req]).await),
        Write::Transact => {
            let mut etags = store.transact(TransactRequest::new([req])).await?;
            Ok(etags.pop().flatten())
        }
    }
}

/// Removes `req`'s key through `path`.
pub async fn remove(store: &dyn Store, path: Remove, req: DeleteRequest) -> Result<()> {
    match path {
        Remove::Delete => store.delete(req).await,
        Remove::BulkDelete => only("bulk_delete", store.bulk_delete(vec![req]).await),
        Remove::Transact => {
            let op: TransactionOp = req.into();
            store.transact(TransactRequest::new([op])).await.map(drop)
        }
    }
}

/// Reads `key` through `path`. A bulk_get asks for two other keys around
/// it, so an answer out of order shows.
pub async fn read(cx: &Ctx, path: Read, key: &str) -> std::result::Result<Option<Item>, Failure> {
    let what = format!("{path} {key:?}");
    match path {
        Read::Get => cx
            .store
            .get(GetRequest::new(key))
            .await
            .map_err(|e| fail(format!("{what}: expected success, got error: {e:#}"))),
        Read::BulkGet => {
            let around = cx.key("path-read-neighbour");
            let reqs = vec![
                GetRequest::new(&around),
                GetRequest::new(key),
                GetRequest::new(&around),
            ];
            let entries = cx
                .store
                .bulk_get(reqs)
                .await
                .map_err(|e| fail(format!("{what}: expected success, got error: {e:#}")))?;
            let Some(entry) = entries.into_iter().nth(1).filter(|e| e.key == key) else {
                return Err(fail(format!(
                    "{what}: the second entry of three is not {key:?}"
                )));
            };
            entry
                .result
                .map_err(|e| fail(format!("{what}: unexpected error {e:#}")))
        }
    }
}
