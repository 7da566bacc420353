//! The server's handlers: the four services of one socket, over the
//! component instances daprd initialised on it (docs/pluggable.md).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use statestore_core::{Error, ErrorKind, Properties, QueryRequest, Store, TransactRequest};
use tonic::{Request, Response, Status};

use crate::convert;
use crate::error::{Outcome, cut, outcomes, status, status_with};
use crate::proto as pb;
use crate::serve::Component;
use crate::{CLOSE_HEADER, INSTANCE_HEADER, KEY_PREFIX_METADATA, OUTCOMES_HEADER};

type Answer<T> = Result<Response<T>, Status>;

/// The component instances of one socket, by the name daprd sends in
/// `x-component-instance` (none is the name "").
pub(crate) struct Instances {
    component: Component,
    live: RwLock<HashMap<String, Arc<dyn Store>>>,
    /// Set by `close_all`: an Init that ends later closes its store.
    closed: AtomicBool,
}

/// The call's instance name; none is the name "".
fn instance_name<T>(req: &Request<T>) -> Result<&str, Status> {
    match req.metadata().get(INSTANCE_HEADER) {
        None => Ok(""),
        Some(v) => v.to_str().map_err(|_| {
            Status::invalid_argument(format!("{INSTANCE_HEADER} is not visible ASCII"))
        }),
    }
}

/// Whether the caller asked for each item's outcome (statestore's client
/// does; daprd does not, and its answers stay Dapr's size).
fn wants_outcomes<T>(req: &Request<T>) -> bool {
    req.metadata().contains_key(OUTCOMES_HEADER)
}

impl Instances {
    pub(crate) fn new(component: Component) -> Self {
        Instances {
            component,
            live: RwLock::new(HashMap::new()),
            closed: AtomicBool::new(false),
        }
    }

    /// The store of the call's instance.
    fn store<T>(&self, req: &Request<T>) -> Result<Arc<dyn Store>, Status> {
        if let Some(ready) = self.component.ready_store() {
            return Ok(ready);
        }
        let name = instance_name(req)?;
        let live = self.live.read().unwrap_or_else(|p| p.into_inner());
        live.get(name).cloned().ok_or_else(|| {
            Status::failed_precondition(format!(
                "component instance {name:?} is not initialised on this socket: call Init first"
            ))
        })
    }

    /// Makes and initialises the instance's store; a second Init of one
    /// name (daprd restarted) replaces the first, which is then closed.
    async fn init(&self, name: String, properties: Properties) -> Result<(), Error> {
        let Some(mut store) = self.component.make() else {
            if !properties.is_empty() {
                let names: Vec<&str> = properties.iter().map(|(k, _)| k).collect();
                tracing::warn!(
                    instance = %name,
                    "Init: this socket serves a store configured already; its properties are not used: {}",
                    names.join(", ")
                );
            }
            return Ok(());
        };
        store.init(&properties).await?;
        let store: Arc<dyn Store> = Arc::from(store);
        // Checked under the lock close_all drains with: no store is left
        // behind by an Init that ends during shutdown.
        let old = {
            let mut live = self.live.write().unwrap_or_else(|p| p.into_inner());
            if self.closed.load(Ordering::Acquire) {
                Err(store)
            } else {
                Ok(live.insert(name, store))
            }
        };
        let old = match old {
            Ok(old) => old,
            Err(store) => {
                let _ = store.close().await;
                return Err(Error::unavailable("the socket is shutting down"));
            }
        };
        if let Some(old) = old {
            let _ = old.close().await;
        }
        Ok(())
    }

    /// Closes the instance and forgets it; calls to it then need an Init.
    async fn close(&self, name: &str) {
        let gone = self
            .live
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        if let Some(store) = gone {
            let _ = store.close().await;
        }
    }

    /// Closes every instance this socket made.
    pub(crate) async fn close_all(&self) {
        self.closed.store(true, Ordering::Release);
        let all: Vec<_> = self
            .live
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .collect();
        for (_, store) in all {
            let _ = store.close().await;
        }
    }
}

/// The handlers; one value serves every service of the socket.
#[derive(Clone)]
pub(crate) struct Handlers(pub(crate) Arc<Instances>);

/// Checks each item of a bulk call, naming the first bad one.
fn each<T, U>(
    items: Vec<T>,
    f: impl Fn(T) -> statestore_core::Result<U>,
) -> Result<Vec<U>, Status> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            f(item).map_err(|e| status(&e.map_message(|m| format!("items[{i}]: {m}"))))
        })
        .collect()
}

/// A bulk write's answer: every outcome in the answer; when some failed,
/// the error daprd expects (etag kinds when every failure is one, as Dapr's
/// HTTP API answers 409 or 400 then) with the outcomes as trailers.
fn bulk_answer<T>(
    results: Vec<(String, Outcome)>,
    wanted: bool,
    body: impl FnOnce(Vec<u8>) -> T,
) -> Answer<T> {
    let list = if wanted {
        outcomes(results.iter().map(|(_, o)| o))
    } else {
        Vec::new()
    };
    let failed: Vec<(&String, &Error)> = results
        .iter()
        .filter_map(|(k, o)| o.as_ref().err().map(|e| (k, e)))
        .collect();
    if failed.is_empty() {
        return Ok(Response::new(body(list)));
    }
    let etag_only = failed
        .iter()
        .all(|(_, e)| matches!(e.kind(), ErrorKind::ETagMismatch | ErrorKind::ETagInvalid));
    let kind = if !etag_only {
        ErrorKind::Bulk
    } else if failed
        .iter()
        .any(|(_, e)| e.kind() == ErrorKind::ETagInvalid)
    {
        ErrorKind::ETagInvalid
    } else {
        ErrorKind::ETagMismatch
    };
    // The first failures name their keys; the outcomes hold the rest.
    let shown = 3;
    let mut lines: Vec<String> = failed
        .iter()
        .take(shown)
        .map(|(k, e)| format!("{}: {}", cut(format!("{k:?}"), 128), e.message()))
        .collect();
    if failed.len() > shown {
        lines.push(format!("and {} more", failed.len() - shown));
    }
    let e = Error::new(
        kind,
        format!(
            "{} of {} keys failed: {}",
            failed.len(),
            results.len(),
            lines.join("; ")
        ),
    );
    Err(status_with(&e, wanted.then_some(list)))
}

#[tonic::async_trait]
impl pb::state_store_server::StateStore for Handlers {
    async fn init(&self, req: Request<pb::InitRequest>) -> Answer<pb::InitResponse> {
        let name = instance_name(&req)?.to_owned();
        let mut properties = Properties::new();
        for (k, v) in req.into_inner().metadata.unwrap_or_default().properties {
            properties.insert(k, v);
        }
        self.0
            .init(name, properties)
            .await
            .map_err(|e| status(&e))?;
        Ok(Response::new(pb::InitResponse {}))
    }

    async fn features(&self, req: Request<pb::FeaturesRequest>) -> Answer<pb::FeaturesResponse> {
        let store = self.0.store(&req)?;
        Ok(Response::new(pb::FeaturesResponse {
            features: crate::features::names(&store.capabilities()),
        }))
    }

    async fn delete(&self, req: Request<pb::DeleteRequest>) -> Answer<pb::DeleteResponse> {
        let store = self.0.store(&req)?;
        let r = convert::delete_in(req.into_inner()).map_err(|e| status(&e))?;
        store.delete(r).await.map_err(|e| status(&e))?;
        Ok(Response::new(pb::DeleteResponse {}))
    }

    async fn get(&self, req: Request<pb::GetRequest>) -> Answer<pb::GetResponse> {
        let store = self.0.store(&req)?;
        let r = convert::get_in(req.into_inner()).map_err(|e| status(&e))?;
        let item = store.get(r).await.map_err(|e| status(&e))?;
        Ok(Response::new(convert::item_out(item)))
    }

    async fn set(&self, req: Request<pb::SetRequest>) -> Answer<pb::SetResponse> {
        let store = self.0.store(&req)?;
        let wanted = wants_outcomes(&req);
        let r = convert::set_in(req.into_inner()).map_err(|e| status(&e))?;
        let etag = store.set(r).await.map_err(|e| status(&e))?;
        let statestore_outcomes = if wanted {
            outcomes(&[Ok(etag)])
        } else {
            Vec::new()
        };
        Ok(Response::new(pb::SetResponse {
            statestore_outcomes,
        }))
    }

    async fn ping(&self, req: Request<pb::PingRequest>) -> Answer<pb::PingResponse> {
        if req.metadata().contains_key(CLOSE_HEADER) {
            self.0.close(instance_name(&req)?).await;
            return Ok(Response::new(pb::PingResponse {}));
        }
        let store = self.0.store(&req)?;
        store.ping().await.map_err(|e| status(&e))?;
        Ok(Response::new(pb::PingResponse {}))
    }

    async fn bulk_delete(
        &self,
        req: Request<pb::BulkDeleteRequest>,
    ) -> Answer<pb::BulkDeleteResponse> {
        let store = self.0.store(&req)?;
        let wanted = wants_outcomes(&req);
        let reqs = each(req.into_inner().items, convert::delete_in)?;
        let results = store.bulk_delete(reqs).await.map_err(|e| status(&e))?;
        bulk_answer(
            results
                .into_iter()
                .map(|r| (r.key, r.result.map(|()| None)))
                .collect(),
            wanted,
            |statestore_outcomes| pb::BulkDeleteResponse {
                statestore_outcomes,
            },
        )
    }

    async fn bulk_get(&self, req: Request<pb::BulkGetRequest>) -> Answer<pb::BulkGetResponse> {
        let store = self.0.store(&req)?;
        let reqs = each(req.into_inner().items, convert::get_in)?;
        let results = store.bulk_get(reqs).await.map_err(|e| status(&e))?;
        Ok(Response::new(pb::BulkGetResponse {
            items: results
                .into_iter()
                .map(|r| convert::bulk_item_out(r.key, r.result))
                .collect(),
        }))
    }

    async fn bulk_set(&self, req: Request<pb::BulkSetRequest>) -> Answer<pb::BulkSetResponse> {
        let store = self.0.store(&req)?;
        let wanted = wants_outcomes(&req);
        let reqs = each(req.into_inner().items, convert::set_in)?;
        let results = store.bulk_set(reqs).await.map_err(|e| status(&e))?;
        bulk_answer(
            results.into_iter().map(|r| (r.key, r.result)).collect(),
            wanted,
            |statestore_outcomes| pb::BulkSetResponse {
                statestore_outcomes,
            },
        )
    }
}

#[tonic::async_trait]
impl pb::transactional_state_store_server::TransactionalStateStore for Handlers {
    async fn transact(
        &self,
        req: Request<pb::TransactionalStateRequest>,
    ) -> Answer<pb::TransactionalStateResponse> {
        let store = self.0.store(&req)?;
        let wanted = wants_outcomes(&req);
        let msg = req.into_inner();
        let operations = msg
            .operations
            .into_iter()
            .enumerate()
            .map(|(i, op)| convert::op_in(i, op))
            .collect::<statestore_core::Result<_>>()
            .map_err(|e| status(&e))?;
        let req = TransactRequest {
            operations,
            metadata: msg.metadata.into_iter().collect(),
        };
        let etags = store.transact(req).await.map_err(|e| status(&e))?;
        let statestore_outcomes = if wanted {
            let items: Vec<Outcome> = etags.into_iter().map(Ok).collect();
            outcomes(&items)
        } else {
            Vec::new()
        };
        Ok(Response::new(pb::TransactionalStateResponse {
            statestore_outcomes,
        }))
    }
}

#[tonic::async_trait]
impl pb::queriable_state_store_server::QueriableStateStore for Handlers {
    async fn query(&self, req: Request<pb::QueryRequest>) -> Answer<pb::QueryResponse> {
        let store = self.0.store(&req)?;
        let msg = req.into_inner();
        let query = convert::query_in(msg.query).map_err(|e| status(&e))?;
        let mut metadata: statestore_core::Metadata = msg.metadata.into_iter().collect();
        let key_prefix = metadata.remove(KEY_PREFIX_METADATA);
        let req = QueryRequest {
            query,
            key_prefix,
            metadata,
        };
        let answer = store.query(req).await.map_err(|e| status(&e))?;
        Ok(Response::new(convert::query_response_out(answer)))
    }
}

#[tonic::async_trait]
impl pb::transactional_store_multi_max_size_server::TransactionalStoreMultiMaxSize for Handlers {
    async fn multi_max_size(
        &self,
        req: Request<pb::MultiMaxSizeRequest>,
    ) -> Answer<pb::MultiMaxSizeResponse> {
        let store = self.0.store(&req)?;
        let limits = store.capabilities().limits;
        let wire = |n: Option<usize>| n.and_then(|n| i64::try_from(n).ok());
        Ok(Response::new(pb::MultiMaxSizeResponse {
            max_size: wire(limits.max_transaction_ops).unwrap_or(-1),
            statestore_max_key_len: wire(limits.max_key_len).unwrap_or(0),
            statestore_max_value_len: wire(limits.max_value_len).unwrap_or(0),
            statestore_max_bulk_batch: wire(limits.max_bulk_batch).unwrap_or(0),
        }))
    }
}

#[tonic::async_trait]
impl pb::statestore::v1::state_store_extensions_server::StateStoreExtensions for Handlers {
    async fn delete_with_prefix(
        &self,
        req: Request<pb::statestore::v1::DeleteWithPrefixRequest>,
    ) -> Answer<pb::statestore::v1::DeleteWithPrefixResponse> {
        let store = self.0.store(&req)?;
        let msg = req.into_inner();
        let req = statestore_core::DeleteWithPrefixRequest {
            prefix: msg.prefix,
            metadata: msg.metadata.into_iter().collect(),
        };
        let deleted = store
            .delete_with_prefix(req)
            .await
            .map_err(|e| status(&e))?;
        Ok(Response::new(
            pb::statestore::v1::DeleteWithPrefixResponse { deleted },
        ))
    }

    async fn keys_like(
        &self,
        req: Request<pb::statestore::v1::KeysLikeRequest>,
    ) -> Answer<pb::statestore::v1::KeysLikeResponse> {
        let store = self.0.store(&req)?;
        let msg = req.into_inner();
        let req = statestore_core::KeysLikeRequest {
            pattern: msg.pattern,
            page_size: msg.page_size,
            token: Some(msg.token).filter(|t| !t.is_empty()),
            metadata: msg.metadata.into_iter().collect(),
        };
        let page = store.keys_like(req).await.map_err(|e| status(&e))?;
        Ok(Response::new(pb::statestore::v1::KeysLikeResponse {
            keys: page.keys,
            token: page.token.unwrap_or_default(),
        }))
    }
}
