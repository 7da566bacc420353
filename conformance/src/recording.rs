//! A store wrapper that records what it is asked, for the cases that check
//! what an API on top of a store (the actor state API) sends it, not only
//! what comes back. Calls are described by their keys and partition keys,
//! never their values, in the words the cases write their expectations in
//! ([`get_call`], [`bulk_get_call`], [`transact_call`]).

use std::sync::{Arc, Mutex};

use statestore_core::check::PARTITION_KEY;
use statestore_core::{
    Capabilities, DeleteRequest, DeleteWithPrefixRequest, ETag, Error, GetRequest, Item, KeyResult,
    KeysLikeRequest, KeysPage, Metadata, Operation, Properties, QueryRequest, QueryResponse,
    Result, SetRequest, Store, TransactRequest, TransactionOp, async_trait,
};

/// One key of a call and its partition key, as [`describe`] writes it.
pub fn entry(key: &str, partition: Option<&str>) -> String {
    match partition {
        Some(p) => format!("{key:?} partitionKey={p:?}"),
        None => format!("{key:?} without partitionKey"),
    }
}

/// A `get` of `key` with `partitionKey`.
pub fn get_call(partition: &str, key: &str) -> String {
    format!("get {}", entry(key, Some(partition)))
}

/// A `bulk_get` of `keys`, each with `partitionKey`.
pub fn bulk_get_call(partition: &str, keys: &[String]) -> String {
    let keys: Vec<String> = keys.iter().map(|k| entry(k, Some(partition))).collect();
    format!("bulk_get [{}]", keys.join(", "))
}

/// A `transact` with `partitionKey` of `(operation, key)` pairs, each with
/// `partitionKey`.
pub fn transact_call(partition: &str, ops: &[(&str, String)]) -> String {
    let ops: Vec<String> = ops
        .iter()
        .map(|(op, k)| format!("{op} {}", entry(k, Some(partition))))
        .collect();
    format!("transact partitionKey={partition:?} [{}]", ops.join(", "))
}

fn pk(metadata: &Metadata) -> Option<&str> {
    metadata.get(PARTITION_KEY).map(String::as_str)
}

/// A call as the expectations write it (keys and partition keys, never
/// values).
fn describe(call: &Call) -> String {
    match call {
        Call::Get(r) => format!("get {}", entry(&r.key, pk(&r.metadata))),
        Call::BulkGet(rs) => {
            let keys: Vec<String> = rs.iter().map(|r| entry(&r.key, pk(&r.metadata))).collect();
            format!("bulk_get [{}]", keys.join(", "))
        }
        Call::Transact(t) => {
            let ops: Vec<String> = t
                .operations
                .iter()
                .map(|op| match op {
                    TransactionOp::Set(r) => format!("set {}", entry(&r.key, pk(&r.metadata))),
                    TransactionOp::Delete(r) => {
                        format!("delete {}", entry(&r.key, pk(&r.metadata)))
                    }
                })
                .collect();
            let head = match pk(&t.metadata) {
                Some(p) => format!("partitionKey={p:?}"),
                None => "without partitionKey".to_owned(),
            };
            format!("transact {head} [{}]", ops.join(", "))
        }
        Call::DeleteWithPrefix(r) => {
            format!("delete_with_prefix {}", entry(&r.prefix, pk(&r.metadata)))
        }
        Call::Other(op) => op.to_string(),
    }
}

/// What the actor API asked of the store.
enum Call {
    Get(GetRequest),
    BulkGet(Vec<GetRequest>),
    Transact(TransactRequest),
    DeleteWithPrefix(DeleteWithPrefixRequest),
    Other(Operation),
}

/// The store under test, recording every call made through it.
pub struct Recorder {
    inner: Arc<dyn Store>,
    calls: Mutex<Vec<Call>>,
}

impl Recorder {
    /// Records the calls made to `inner`, an initialised store.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Recorder {
            inner,
            calls: Mutex::default(),
        }
    }

    /// The calls since the last look, described, oldest first.
    pub fn take(&self) -> Vec<String> {
        let calls = std::mem::take(&mut *self.calls.lock().unwrap_or_else(|p| p.into_inner()));
        calls.iter().map(describe).collect()
    }

    fn record(&self, call: Call) {
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(call);
    }
}

#[async_trait]
impl Store for Recorder {
    async fn init(&mut self, _properties: &Properties) -> Result<()> {
        Err(Error::invalid(
            "the suite's recording wrapper wraps a store that is already initialised",
        ))
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn get(&self, req: GetRequest) -> Result<Option<Item>> {
        self.record(Call::Get(req.clone()));
        self.inner.get(req).await
    }
    async fn set(&self, req: SetRequest) -> Result<Option<ETag>> {
        self.record(Call::Other(Operation::Set));
        self.inner.set(req).await
    }
    async fn delete(&self, req: DeleteRequest) -> Result<()> {
        self.record(Call::Other(Operation::Delete));
        self.inner.delete(req).await
    }
    async fn bulk_get(&self, reqs: Vec<GetRequest>) -> Result<Vec<KeyResult<Option<Item>>>> {
        self.record(Call::BulkGet(reqs.clone()));
        self.inner.bulk_get(reqs).await
    }
    async fn bulk_set(&self, reqs: Vec<SetRequest>) -> Result<Vec<KeyResult<Option<ETag>>>> {
        self.record(Call::Other(Operation::BulkSet));
        self.inner.bulk_set(reqs).await
    }
    async fn bulk_delete(&self, reqs: Vec<DeleteRequest>) -> Result<Vec<KeyResult<()>>> {
        self.record(Call::Other(Operation::BulkDelete));
        self.inner.bulk_delete(reqs).await
    }
    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }
    async fn close(&self) -> Result<()> {
        // The store is the suite's, shared by every case: never closed here.
        Ok(())
    }
    async fn transact(&self, req: TransactRequest) -> Result<Vec<Option<ETag>>> {
        self.record(Call::Transact(req.clone()));
        self.inner.transact(req).await
    }
    async fn delete_with_prefix(&self, req: DeleteWithPrefixRequest) -> Result<u64> {
        self.record(Call::DeleteWithPrefix(req.clone()));
        self.inner.delete_with_prefix(req).await
    }
    async fn keys_like(&self, req: KeysLikeRequest) -> Result<KeysPage> {
        self.record(Call::Other(Operation::KeysLike));
        self.inner.keys_like(req).await
    }
    async fn query(&self, req: QueryRequest) -> Result<QueryResponse> {
        self.record(Call::Other(Operation::Query));
        self.inner.query(req).await
    }
}
