//! Dapr's state API over gRPC: service `dapr.proto.runtime.v1.Dapr` with
//! the state RPCs and GetMetadata, Dapr's status codes with its error
//! details, the API token as metadata `dapr-api-token`, and reflection
//! (docs/serve.md).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use statestore::{
    Concurrency, Consistency, DeleteRequest, ETag, Feature, GetRequest, Query, QueryRequest,
    SetRequest, Store, TransactionOp,
};
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetail, StatusExt};

use super::dapr::{self, DaprError, Detail};
use super::proto::dapr::proto::common::v1::{StateItem, StateOptions};
use super::proto::dapr::proto::runtime::v1 as pb;
use super::{App, MAX_MESSAGE};
use pb::dapr_server::{Dapr, DaprServer};

/// The gRPC routes: Dapr's service (token-checked) and reflection v1 and
/// v1alpha (token-checked too, as daprd checks every call).
pub fn routes(app: Arc<App>) -> Result<tonic::service::Routes, String> {
    let guard = app.clone();
    let check = move |req: Request<()>| -> Result<Request<()>, Status> {
        let given = req
            .metadata()
            .get("dapr-api-token")
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if guard.admits(given) {
            Ok(req)
        } else {
            Err(Status::unauthenticated("invalid api token"))
        }
    };
    let api = DaprServer::new(Api { app })
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(usize::MAX);
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(super::proto::DESCRIPTOR_SET)
    };
    let v1 = reflection().build_v1().map_err(|e| e.to_string())?;
    let v1alpha = reflection().build_v1alpha().map_err(|e| e.to_string())?;
    let mut routes = tonic::service::Routes::new(
        tonic::service::interceptor::InterceptedService::new(api, check.clone()),
    );
    routes = routes.add_service(tonic::service::interceptor::InterceptedService::new(
        v1,
        check.clone(),
    ));
    Ok(
        routes.add_service(tonic::service::interceptor::InterceptedService::new(
            v1alpha, check,
        )),
    )
}

/// The service's handlers.
pub(super) struct Api {
    pub(super) app: Arc<App>,
}

type Answer<T> = Result<Response<T>, Status>;

/// The error as a gRPC status with its code and details, in Dapr's order;
/// the `errorCode` travels as an ErrorInfo when Dapr gives none, so that
/// SDKs reading `error_code()` see it.
fn status(e: DaprError) -> Status {
    let mut details: Vec<ErrorDetail> = e
        .details
        .iter()
        .map(|d| match d {
            Detail::ErrorInfo { reason, metadata } => tonic_types::ErrorInfo::new(
                *reason,
                "dapr.io",
                metadata
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<HashMap<_, _>>(),
            )
            .into(),
            Detail::ResourceInfo { name } => {
                tonic_types::ResourceInfo::new("state", name, "", "").into()
            }
            Detail::BadRequest { field, description } => {
                tonic_types::BadRequest::with_violation(field, description).into()
            }
            Detail::Help { url, description } => {
                tonic_types::Help::with_link(*description, *url).into()
            }
        })
        .collect();
    if e.error_reason().is_none() {
        details.push(tonic_types::ErrorInfo::new(e.code, "dapr.io", HashMap::new()).into());
    }
    Status::with_error_details_vec(e.grpc, e.message, details)
}

/// The store of `name`, or its status.
fn store(app: &App, name: &str) -> Result<Arc<dyn Store>, Status> {
    dapr::store(&app.runtime, name).map_err(status)
}

fn check_key(store: &str, key: &str) -> Result<(), Status> {
    dapr::check_key(store, key).map_err(status)
}

fn consistency(c: i32) -> Consistency {
    if c == 2 {
        Consistency::Strong
    } else {
        Consistency::Eventual
    }
}

fn options(o: Option<&StateOptions>) -> (Concurrency, Consistency) {
    let Some(o) = o else {
        return Default::default();
    };
    let concurrency = if o.concurrency == 1 {
        Concurrency::FirstWrite
    } else {
        Concurrency::LastWrite
    };
    (concurrency, consistency(o.consistency))
}

fn etag(e: Option<&super::proto::dapr::proto::common::v1::Etag>) -> Option<ETag> {
    e.map(|e| e.value.as_str())
        .filter(|v| !v.is_empty())
        .map(ETag::new)
}

/// The set request of a state item (the key checked first).
fn set_request(store: &str, mut item: StateItem) -> Result<SetRequest, Status> {
    let value = std::mem::take(&mut item.value);
    Ok(dapr::set_from(delete_request(store, item)?, value))
}

/// The set request of a state item of `SaveState`, checked as Dapr checks
/// a save: a key (`ERR_STATE_SAVE` without one), and a value saved with
/// `contentType=application/json` must be JSON (Dapr: Unknown otherwise).
fn save_request(store: &str, item: StateItem) -> Result<SetRequest, Status> {
    if item.key.is_empty() {
        return Err(status(DaprError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "ERR_STATE_SAVE",
            "state key cannot be empty",
        )));
    }
    let json = item
        .metadata
        .get("contentType")
        .is_some_and(|c| c == "application/json");
    if json && let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&item.value) {
        return Err(Status::unknown(format!(
            "the value of key {:?} is not JSON: {e}",
            item.key
        )));
    }
    set_request(store, item)
}

fn delete_request(store: &str, item: StateItem) -> Result<DeleteRequest, Status> {
    check_key(store, &item.key)?;
    let (concurrency, consistency) = options(item.options.as_ref());
    let mut req = DeleteRequest::new(item.key);
    req.etag = etag(item.etag.as_ref());
    req.metadata = item.metadata.into_iter().collect();
    req.concurrency = concurrency;
    req.consistency = consistency;
    Ok(req)
}

/// Logs one call at debug level: the RPC, its code and its time.
fn logged<T>(rpc: &str, started: Instant, answer: Answer<T>) -> Answer<T> {
    let code = match &answer {
        Ok(_) => Code::Ok,
        Err(s) => s.code(),
    };
    tracing::debug!("grpc {rpc} -> {code:?} in {:?}", started.elapsed());
    answer
}

#[tonic::async_trait]
impl Dapr for Api {
    async fn get_state(&self, req: Request<pb::GetStateRequest>) -> Answer<pb::GetStateResponse> {
        let started = Instant::now();
        logged("GetState", started, self.get(req.into_inner()).await)
    }

    async fn get_bulk_state(
        &self,
        req: Request<pb::GetBulkStateRequest>,
    ) -> Answer<pb::GetBulkStateResponse> {
        let started = Instant::now();
        logged(
            "GetBulkState",
            started,
            self.bulk_get(req.into_inner()).await,
        )
    }

    async fn save_state(&self, req: Request<pb::SaveStateRequest>) -> Answer<()> {
        let started = Instant::now();
        logged("SaveState", started, self.save(req.into_inner()).await)
    }

    async fn query_state_alpha1(
        &self,
        req: Request<pb::QueryStateRequest>,
    ) -> Answer<pb::QueryStateResponse> {
        let started = Instant::now();
        logged(
            "QueryStateAlpha1",
            started,
            self.query(req.into_inner()).await,
        )
    }

    async fn delete_state(&self, req: Request<pb::DeleteStateRequest>) -> Answer<()> {
        let started = Instant::now();
        logged("DeleteState", started, self.delete(req.into_inner()).await)
    }

    async fn delete_bulk_state(&self, req: Request<pb::DeleteBulkStateRequest>) -> Answer<()> {
        let started = Instant::now();
        logged(
            "DeleteBulkState",
            started,
            self.bulk_delete(req.into_inner()).await,
        )
    }

    async fn execute_state_transaction(
        &self,
        req: Request<pb::ExecuteStateTransactionRequest>,
    ) -> Answer<()> {
        let started = Instant::now();
        logged(
            "ExecuteStateTransaction",
            started,
            self.transact(req.into_inner()).await,
        )
    }

    async fn get_metadata(
        &self,
        _req: Request<pb::GetMetadataRequest>,
    ) -> Answer<pb::GetMetadataResponse> {
        let started = Instant::now();
        let runtime = &self.app.runtime;
        let registered_components = runtime
            .names()
            .filter_map(|name| {
                let (typ, version, features) = dapr::component(runtime, name)?;
                Some(pb::RegisteredComponents {
                    name: name.to_owned(),
                    r#type: typ.to_owned(),
                    version: version.to_owned(),
                    capabilities: features.into_iter().map(str::to_owned).collect(),
                })
            })
            .collect();
        let answer = pb::GetMetadataResponse {
            id: runtime.app_id().to_owned(),
            registered_components,
            extended_metadata: HashMap::new(),
            runtime_version: super::RUNTIME_VERSION.to_owned(),
            enabled_features: Vec::new(),
        };
        logged("GetMetadata", started, Ok(Response::new(answer)))
    }
}

impl Api {
    async fn get(&self, req: pb::GetStateRequest) -> Answer<pb::GetStateResponse> {
        let store = store(&self.app, &req.store_name)?;
        check_key(&req.store_name, &req.key)?;
        let mut get = GetRequest::new(req.key);
        get.metadata = req.metadata.into_iter().collect();
        get.consistency = consistency(req.consistency);
        let item = store
            .get(get)
            .await
            .map_err(|e| status(DaprError::internal("ERR_STATE_GET", &e)))?;
        let Some(item) = item else {
            return Ok(Response::new(pb::GetStateResponse::default()));
        };
        Ok(Response::new(pb::GetStateResponse {
            etag: dapr::etag_text(item.etag.as_ref()),
            metadata: item.dapr_metadata().into_iter().collect(),
            data: item.value.to_vec(),
        }))
    }

    async fn bulk_get(&self, req: pb::GetBulkStateRequest) -> Answer<pb::GetBulkStateResponse> {
        let store = store(&self.app, &req.store_name)?;
        if req.keys.is_empty() {
            return Ok(Response::new(pb::GetBulkStateResponse::default()));
        }
        for k in &req.keys {
            check_key(&req.store_name, k)?;
        }
        let gets = req
            .keys
            .into_iter()
            .map(|k| {
                let mut g = GetRequest::new(k);
                g.metadata = req.metadata.clone().into_iter().collect();
                g
            })
            .collect();
        // Dapr answers a failed bulk get with Unknown.
        let results = store.bulk_get(gets).await.map_err(|e| {
            status(DaprError::internal("ERR_STATE_BULK_GET", &e).grpc(Code::Unknown))
        })?;
        let items = results
            .into_iter()
            .map(|r| {
                let mut out = pb::BulkStateItem {
                    key: r.key,
                    ..Default::default()
                };
                match r.result {
                    Ok(Some(item)) => {
                        out.etag = dapr::etag_text(item.etag.as_ref());
                        out.metadata = item.dapr_metadata().into_iter().collect();
                        out.data = item.value.to_vec();
                    }
                    Ok(None) => {}
                    Err(e) => out.error = crate::scrub(&format!("{e:#}")),
                }
                out
            })
            .collect();
        Ok(Response::new(pb::GetBulkStateResponse { items }))
    }

    async fn save(&self, req: pb::SaveStateRequest) -> Answer<()> {
        let store = store(&self.app, &req.store_name)?;
        let code = "ERR_STATE_SAVE";
        let sets = req
            .states
            .into_iter()
            .map(|item| save_request(&req.store_name, item))
            .collect::<Result<Vec<_>, _>>()?;
        dapr::write_all(
            sets,
            code,
            async |r| store.set(r).await,
            async |rs| store.bulk_set(rs).await,
        )
        .await
        .map_err(status)?;
        Ok(Response::new(()))
    }

    async fn delete(&self, req: pb::DeleteStateRequest) -> Answer<()> {
        let store = store(&self.app, &req.store_name)?;
        let item = StateItem {
            key: req.key,
            etag: req.etag,
            options: req.options,
            metadata: req.metadata,
            value: Vec::new(),
        };
        let del = delete_request(&req.store_name, item)?;
        store
            .delete(del)
            .await
            .map_err(|e| status(DaprError::write("ERR_STATE_DELETE", &e)))?;
        Ok(Response::new(()))
    }

    async fn bulk_delete(&self, req: pb::DeleteBulkStateRequest) -> Answer<()> {
        let store = store(&self.app, &req.store_name)?;
        let code = "ERR_STATE_BULK_DELETE";
        let dels = req
            .states
            .into_iter()
            .map(|item| delete_request(&req.store_name, item))
            .collect::<Result<Vec<_>, _>>()?;
        dapr::write_all(
            dels,
            code,
            async |r| store.delete(r).await,
            async |rs| store.bulk_delete(rs).await,
        )
        .await
        .map_err(status)?;
        Ok(Response::new(()))
    }

    pub(super) async fn transact(&self, req: pb::ExecuteStateTransactionRequest) -> Answer<()> {
        let name = &req.store_name;
        let store = store(&self.app, name)?;
        dapr::transactional(store.as_ref(), name).map_err(status)?;
        let mut ops = Vec::with_capacity(req.operations.len());
        for op in req.operations {
            // The key first (read as a delete's), then the operation, in
            // Dapr's order.
            let mut item = op.request.unwrap_or_default();
            let value = std::mem::take(&mut item.value);
            let del = delete_request(name, item)?;
            ops.push(match op.operation_type.as_str() {
                "upsert" => TransactionOp::Set(dapr::set_from(del, value)),
                "delete" => TransactionOp::Delete(del),
                other => return Err(status(DaprError::unknown_operation(other))),
            });
        }
        let metadata = req.metadata.into_iter().collect();
        dapr::transact(store.as_ref(), name, ops, metadata)
            .await
            .map_err(status)?;
        Ok(Response::new(()))
    }

    async fn query(&self, req: pb::QueryStateRequest) -> Answer<pb::QueryStateResponse> {
        let name = &req.store_name;
        let store = store(&self.app, name)?;
        if !store.capabilities().features.contains(Feature::QueryApi) {
            return Err(status(DaprError::query_unsupported(name)));
        }
        let failed =
            |e: statestore::Error| status(DaprError::query_failed(name, &format!("{e:#}")));
        let mut q = QueryRequest::new(Query::from_json(&req.query).map_err(failed)?);
        q.metadata = req.metadata.into_iter().collect();
        let res = store.query(q).await.map_err(failed)?;
        if res.results.is_empty() {
            return Ok(Response::new(pb::QueryStateResponse::default()));
        }
        let results = res
            .results
            .into_iter()
            .map(|r| pb::QueryStateItem {
                key: r.key,
                data: r.value.to_vec(),
                etag: dapr::etag_text(r.etag.as_ref()),
                error: r.error.unwrap_or_default(),
            })
            .collect();
        Ok(Response::new(pb::QueryStateResponse {
            results,
            token: res.token.unwrap_or_default(),
            metadata: res.metadata.into_iter().collect(),
        }))
    }
}
