//! `state.pluggable`: any Dapr pluggable state component, driven over its
//! socket as daprd drives it.

use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use statestore_core::{
    Capabilities, DeleteRequest, DeleteWithPrefixRequest, ETag, Error, Feature, Features,
    GetRequest, Item, KeyResult, KeysLikeRequest, KeysPage, Operation, Properties, QueryRequest,
    QueryResponse, Registration, Result, SetRequest, Store, TransactRequest, register_store,
};
use tonic::Status;

use crate::config::{Config, PROPERTIES};
use crate::core::Core;
use crate::error::{Outcome, error, read_outcomes, trailer_outcomes};
use crate::proto as pb;
use crate::{KEY_PREFIX_FEATURE, KEY_PREFIX_METADATA, NAME, convert};

/// What the protocol can carry: the most a component can offer here.
const CARRIED: Features = Features::ALL;

/// How `state.pluggable` is registered.
pub const REGISTRATION: Registration = Registration::new(NAME, |_| Box::new(PluggableStore::new()))
    .features(CARRIED)
    .properties(PROPERTIES)
    .summary("Any Dapr pluggable state component, over its Unix socket.");

register_store!(REGISTRATION);

/// A client of one pluggable state component instance.
#[derive(Default)]
pub struct PluggableStore {
    core: Option<Core>,
    closed: AtomicBool,
}

impl std::fmt::Debug for PluggableStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluggableStore")
            .field("capabilities", &self.core.as_ref().map(|c| c.caps))
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl PluggableStore {
    /// An uninitialised store.
    pub fn new() -> Self {
        Self::default()
    }

    fn core(&self, op: Operation) -> Result<&Core> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::invalid("the store is closed").context(NAME, op));
        }
        self.core
            .as_ref()
            .ok_or_else(|| Error::invalid("the store is not initialised").context(NAME, op))
    }

    /// The core of a call of `op` that needs `feature`.
    fn offering(&self, op: Operation, feature: Feature) -> Result<&Core> {
        let core = self.core(op)?;
        if core.caps.has(feature) {
            Ok(core)
        } else {
            Err(Error::not_supported(NAME, op))
        }
    }
}

/// A status as the contract's error of `op`.
fn failed(op: Operation) -> impl Fn(Status) -> Error {
    move |s| error(&s).context(NAME, op)
}

/// Per-key results of a bulk write: the outcomes a statestore server sent,
/// each error with its key and operation, or, from another component,
/// success for all (the call succeeded).
fn bulk_results(
    keys: Vec<String>,
    outcomes: Option<Vec<Outcome>>,
    op: Operation,
) -> Vec<KeyResult<Option<ETag>>> {
    match outcomes {
        Some(list) => keys
            .into_iter()
            .zip(list)
            .map(|(key, result)| KeyResult {
                result: result.map_err(|e| e.context(NAME, op).with_key(key.clone())),
                key,
            })
            .collect(),
        None => keys.into_iter().map(|k| KeyResult::ok(k, None)).collect(),
    }
}

/// A failed bulk write: per key when the server said which failed; else
/// the whole call fails, since which keys were written is unknown.
fn bulk_failure(
    keys: Vec<String>,
    s: &Status,
    op: Operation,
) -> Result<Vec<KeyResult<Option<ETag>>>> {
    match trailer_outcomes(s, keys.len()) {
        Some(list) => Ok(bulk_results(keys, Some(list), op)),
        None => Err(error(s).context(NAME, op)),
    }
}

#[async_trait]
impl Store for PluggableStore {
    async fn init(&mut self, properties: &Properties) -> Result<()> {
        let config = Config::from_properties(properties)?;
        let core = Core::open(&config.socket, config.instance, &config.init)
            .await
            .map_err(|e| e.context(NAME, Operation::Init))?;
        self.core = Some(core);
        Ok(())
    }

    fn capabilities(&self) -> Capabilities {
        self.core
            .as_ref()
            .map_or(Capabilities::new(CARRIED), |c| c.caps)
    }

    async fn get(&self, req: GetRequest) -> Result<Option<Item>> {
        let core = self.core(Operation::Get)?;
        let key = req.key.clone();
        let r = core
            .state()
            .get(core.request(convert::get_out(req)))
            .await
            .map_err(|s| failed(Operation::Get)(s).with_key(key))?
            .into_inner();
        Ok(convert::item_in(r.data, r.etag, r.metadata, r.content_type))
    }

    async fn set(&self, req: SetRequest) -> Result<Option<ETag>> {
        let core = self.core(Operation::Set)?;
        let key = req.key.clone();
        let msg = convert::set_out(req).map_err(|e| e.context(NAME, Operation::Set))?;
        let r = core
            .state()
            .set(core.write(msg))
            .await
            .map_err(|s| failed(Operation::Set)(s).with_key(key))?
            .into_inner();
        match read_outcomes(&r.statestore_outcomes, 1) {
            Some(mut list) => list.remove(0),
            None => Ok(None),
        }
    }

    async fn delete(&self, req: DeleteRequest) -> Result<()> {
        let core = self.core(Operation::Delete)?;
        let key = req.key.clone();
        core.state()
            .delete(core.request(convert::delete_out(req)))
            .await
            .map_err(|s| failed(Operation::Delete)(s).with_key(key))?;
        Ok(())
    }

    async fn bulk_get(&self, reqs: Vec<GetRequest>) -> Result<Vec<KeyResult<Option<Item>>>> {
        let core = self.core(Operation::BulkGet)?;
        let keys: Vec<String> = reqs.iter().map(|r| r.key.clone()).collect();
        let msg = pb::BulkGetRequest {
            items: reqs.into_iter().map(convert::get_out).collect(),
            options: None,
        };
        let items = core
            .state()
            .bulk_get(core.request(msg))
            .await
            .map_err(failed(Operation::BulkGet))?
            .into_inner()
            .items;
        if items.len() != keys.len() {
            return Err(Error::backend(format!(
                "the component answered {} items for {} keys",
                items.len(),
                keys.len()
            ))
            .context(NAME, Operation::BulkGet));
        }
        Ok(keys
            .into_iter()
            .zip(items)
            .map(|(key, i)| {
                let result = if i.key != key {
                    Err(Error::backend(format!(
                        "the component answered key {:?} in this key's place",
                        i.key
                    )))
                } else if !i.error.is_empty() {
                    Err(Error::backend(i.error))
                } else {
                    Ok(convert::item_in(i.data, i.etag, i.metadata, i.content_type))
                };
                KeyResult { key, result }
            })
            .collect())
    }

    async fn bulk_set(&self, reqs: Vec<SetRequest>) -> Result<Vec<KeyResult<Option<ETag>>>> {
        let op = Operation::BulkSet;
        let core = self.core(op)?;
        // A request the client cannot send fails alone, as in any bulk call.
        let mut refused = Vec::new();
        let mut keys = Vec::with_capacity(reqs.len());
        let mut items = Vec::with_capacity(reqs.len());
        for (i, r) in reqs.into_iter().enumerate() {
            let key = r.key.clone();
            match convert::set_out(r) {
                Ok(item) => {
                    keys.push(key);
                    items.push(item);
                }
                Err(e) => refused.push((
                    i,
                    KeyResult::err(key.clone(), e.context(NAME, op).with_key(key)),
                )),
            }
        }
        let msg = pb::BulkSetRequest {
            items,
            options: None,
        };
        let mut results = match core.state().bulk_set(core.write(msg)).await {
            Ok(r) => {
                let outcomes = read_outcomes(&r.into_inner().statestore_outcomes, keys.len());
                bulk_results(keys, outcomes, op)
            }
            Err(s) => bulk_failure(keys, &s, op)?,
        };
        for (i, r) in refused {
            results.insert(i, r);
        }
        Ok(results)
    }

    async fn bulk_delete(&self, reqs: Vec<DeleteRequest>) -> Result<Vec<KeyResult<()>>> {
        let core = self.core(Operation::BulkDelete)?;
        let keys: Vec<String> = reqs.iter().map(|r| r.key.clone()).collect();
        let msg = pb::BulkDeleteRequest {
            items: reqs.into_iter().map(convert::delete_out).collect(),
            options: None,
        };
        let op = Operation::BulkDelete;
        let results = match core.state().bulk_delete(core.write(msg)).await {
            Ok(r) => {
                let outcomes = read_outcomes(&r.into_inner().statestore_outcomes, keys.len());
                bulk_results(keys, outcomes, op)
            }
            Err(s) => bulk_failure(keys, &s, op)?,
        };
        Ok(results
            .into_iter()
            .map(|r| KeyResult {
                key: r.key,
                result: r.result.map(|_| ()),
            })
            .collect())
    }

    async fn ping(&self) -> Result<()> {
        let core = self.core(Operation::Ping)?;
        core.state()
            .ping(core.request(pb::PingRequest {}))
            .await
            .map_err(failed(Operation::Ping))?;
        Ok(())
    }

    async fn close(&self) -> Result<()> {
        if !self.closed.swap(true, Ordering::AcqRel)
            && let Some(core) = &self.core
        {
            core.close().await;
        }
        Ok(())
    }

    async fn transact(&self, req: TransactRequest) -> Result<Vec<Option<ETag>>> {
        let core = self.offering(Operation::Transact, Feature::Transactional)?;
        let n = req.operations.len();
        let operations = req
            .operations
            .into_iter()
            .map(convert::op_out)
            .collect::<Result<_>>()
            .map_err(|e| e.context(NAME, Operation::Transact))?;
        let msg = pb::TransactionalStateRequest {
            operations,
            metadata: req.metadata.into_iter().collect(),
        };
        let r = core
            .transactional()
            .transact(core.write(msg))
            .await
            .map_err(failed(Operation::Transact))?
            .into_inner();
        match read_outcomes(&r.statestore_outcomes, n) {
            Some(list) => list.into_iter().collect(),
            None => Ok(vec![None; n]),
        }
    }

    async fn delete_with_prefix(&self, req: DeleteWithPrefixRequest) -> Result<u64> {
        let op = Operation::DeleteWithPrefix;
        // Dapr's protocol has no such call: statestore's extension has.
        let core = self.offering(op, Feature::DeleteWithPrefix)?;
        let msg = pb::statestore::v1::DeleteWithPrefixRequest {
            prefix: req.prefix,
            metadata: req.metadata.into_iter().collect(),
        };
        let r = core
            .extensions()
            .delete_with_prefix(core.request(msg))
            .await
            .map_err(failed(op))?;
        Ok(r.into_inner().deleted)
    }

    async fn keys_like(&self, req: KeysLikeRequest) -> Result<KeysPage> {
        let op = Operation::KeysLike;
        let core = self.offering(op, Feature::KeysLike)?;
        let msg = pb::statestore::v1::KeysLikeRequest {
            pattern: req.pattern,
            page_size: req.page_size,
            token: req.token.unwrap_or_default(),
            metadata: req.metadata.into_iter().collect(),
        };
        let r = core
            .extensions()
            .keys_like(core.request(msg))
            .await
            .map_err(failed(op))?
            .into_inner();
        Ok(KeysPage {
            keys: r.keys,
            token: Some(r.token).filter(|t| !t.is_empty()),
        })
    }

    async fn query(&self, req: QueryRequest) -> Result<QueryResponse> {
        let core = self.offering(Operation::Query, Feature::QueryApi)?;
        let mut metadata = req.metadata;
        if let Some(prefix) = req.key_prefix {
            if !core.key_prefix {
                return Err(Error::new(
                    statestore_core::ErrorKind::NotSupported,
                    format!(
                        "a key prefix needs a component that lists the feature {KEY_PREFIX_FEATURE}"
                    ),
                )
                .context(NAME, Operation::Query));
            }
            metadata.insert(KEY_PREFIX_METADATA.to_owned(), prefix);
        }
        let msg = pb::QueryRequest {
            query: Some(convert::query_out(req.query)),
            metadata: metadata.into_iter().collect(),
        };
        let r = core
            .queriable()
            .query(core.request(msg))
            .await
            .map_err(failed(Operation::Query))?;
        Ok(convert::query_response_in(r.into_inner()))
    }
}
