//! Dapr's state API over HTTP (`/v1.0/state`, `/v1.0-alpha1/state/.../query`,
//! `/v1.0/metadata`, `/v1.0/healthz`), with Dapr's status codes and error
//! codes (docs/serve.md).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use statestore::{
    DeleteRequest, ETag, Feature, GetRequest, Query, QueryRequest, SetRequest, Store, TransactionOp,
};

use super::dapr::{self, DaprError, Object};
use super::{App, MAX_MESSAGE};

type Shared = Arc<App>;
type Answer = Result<Response, DaprError>;

/// The router of Dapr's HTTP state API.
pub fn router(app: Shared) -> Router {
    let mut router = Router::new()
        .route("/v1.0/healthz", get(healthz))
        .route("/v1.0/healthz/outbound", get(healthz))
        .route("/v1.0/metadata", get(metadata))
        .route("/v1.0/state/{store}", post(save).put(save))
        .route(
            "/v1.0/state/{store}/bulk",
            post(bulk).put(bulk).get(get_key).delete(delete_key),
        )
        .route(
            "/v1.0/state/{store}/transaction",
            post(transaction)
                .put(transaction)
                .get(get_key)
                .delete(delete_key),
        )
        .route("/v1.0/state/{store}/{key}", get(get_key).delete(delete_key))
        .route("/v1.0-alpha1/state/{store}/query", post(query).put(query));
    // A layer costs every request an allocation or two: only those in use.
    if app.token.is_some() {
        router = router.layer(middleware::from_fn_with_state(app.clone(), check_token));
    }
    if tracing::enabled!(tracing::Level::DEBUG) {
        router = router.layer(middleware::from_fn(log_request));
    }
    router.with_state(app)
}

/// Logs each request at debug level: method, path, status and time.
async fn log_request(req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let r = next.run(req).await;
    tracing::debug!(
        "http {method} {path} -> {} in {:?}",
        r.status().as_u16(),
        started.elapsed()
    );
    r
}

/// Refuses calls without the API token (healthz excepted), comparing in
/// constant time.
async fn check_token(State(app): State<Shared>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let open = (req.method() == Method::GET || req.method() == Method::HEAD)
        && (path == "/v1.0/healthz" || path == "/v1.0/healthz/outbound");
    let given = req
        .headers()
        .get("dapr-api-token")
        .map(HeaderValue::as_bytes)
        .unwrap_or_default();
    if !open && !app.admits(given) {
        return (StatusCode::UNAUTHORIZED, "invalid api token").into_response();
    }
    next.run(req).await
}

async fn healthz() -> StatusCode {
    StatusCode::NO_CONTENT
}

async fn metadata(State(app): State<Shared>) -> Response {
    let components: Vec<Value> = app
        .runtime
        .names()
        .filter_map(|name| {
            let (typ, version, features) = dapr::component(&app.runtime, name)?;
            Some(json!({ "name": name, "type": typ, "version": version, "capabilities": features }))
        })
        .collect();
    let body = json!({
        "id": app.runtime.app_id(),
        "runtimeVersion": super::RUNTIME_VERSION,
        "enabledFeatures": [],
        "actors": [],
        "components": components,
        "extended": {},
    });
    dapr::json_response(StatusCode::OK, &body)
}

/// The store of a component, or Dapr's error for an unknown one.
fn store(app: &App, name: &str) -> Result<Arc<dyn Store>, DaprError> {
    dapr::store(&app.runtime, name)
}

/// The query parameters of a request, unescaped; a repeated name keeps its
/// first value, and a pair with a bad escape is dropped, as Go's
/// `URL.Query` drops it.
fn params(uri: &Uri) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for pair in uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if let (Some(k), Some(v)) = (dapr::query_unescape(k), dapr::query_unescape(v)) {
            out.entry(k).or_insert(v);
        }
    }
    out
}

/// The `metadata.*` query parameters.
fn query_metadata(params: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    params
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("metadata.")
                .map(|k| (k.to_owned(), v.clone()))
        })
        .collect()
}

/// The key of `/v1.0/state/{store}/{key}`, unescaped as Dapr does.
fn key_of(uri: &Uri) -> Result<String, Response> {
    let raw = uri.path().rsplit('/').next().unwrap_or_default();
    dapr::query_unescape(raw).ok_or_else(|| {
        (
            StatusCode::BAD_REQUEST,
            format!("invalid URL escape {raw:?}"),
        )
            .into_response()
    })
}

fn store_name(uri: &Uri) -> String {
    uri.path()
        .split('/')
        .nth(3)
        .and_then(dapr::query_unescape)
        .unwrap_or_default()
}

async fn get_key(State(app): State<Shared>, uri: Uri) -> Response {
    let key = match key_of(&uri) {
        Ok(k) => k,
        Err(r) => return r,
    };
    answer(get_one(&app, &store_name(&uri), key, &uri).await)
}

async fn get_one(app: &App, name: &str, key: String, uri: &Uri) -> Answer {
    let store = store(app, name)?;
    dapr::check_key(name, &key)?;
    let params = params(uri);
    let mut req = GetRequest::new(key);
    req.metadata = query_metadata(&params);
    // Dapr hands a read's consistency to the store, whose read ignores
    // what it does not know.
    if let Some(Ok(c)) = params.get("consistency").map(|c| c.parse()) {
        req.consistency = c;
    }
    let item = store
        .get(req)
        .await
        .map_err(|e| DaprError::internal("ERR_STATE_GET", &e))?;
    let Some(item) = item else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let mut r = (StatusCode::OK, item.value.clone()).into_response();
    let h = r.headers_mut();
    if let Some(e) = &item.etag
        && let Ok(v) = HeaderValue::from_str(e.as_str())
    {
        h.insert(header::ETAG, v);
    }
    for (k, v) in item.dapr_metadata() {
        if let (Ok(name), Ok(value)) = (
            header::HeaderName::try_from(format!("metadata.{k}")),
            HeaderValue::from_str(&v),
        ) {
            h.insert(name, value);
        }
    }
    Ok(r)
}

async fn delete_key(State(app): State<Shared>, uri: Uri, headers: HeaderMap) -> Response {
    let key = match key_of(&uri) {
        Ok(k) => k,
        Err(r) => return r,
    };
    answer(delete_one(&app, &store_name(&uri), key, &uri, &headers).await)
}

async fn delete_one(app: &App, name: &str, key: String, uri: &Uri, headers: &HeaderMap) -> Answer {
    let store = store(app, name)?;
    dapr::check_key(name, &key)?;
    let params = params(uri);
    let code = "ERR_STATE_DELETE";
    let mut req = DeleteRequest::new(key);
    req.metadata = query_metadata(&params);
    if let Some(e) = headers.get(header::IF_MATCH) {
        let e = String::from_utf8_lossy(e.as_bytes());
        if !e.is_empty() {
            req.etag = Some(ETag::new(e));
        }
    }
    let word = |name: &str| params.get(name).map_or("", String::as_str);
    (req.concurrency, req.consistency) =
        dapr::options(word("concurrency"), word("consistency"), code)?;
    store
        .delete(req)
        .await
        .map_err(|e| DaprError::write(code, &e))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn answer(a: Answer) -> Response {
    a.unwrap_or_else(IntoResponse::into_response)
}

/// The body, up to 4 MiB: a larger one cannot be read, and Dapr then
/// answers 400 as for any body it cannot decode.
async fn read(body: Body) -> Result<Bytes, DaprError> {
    axum::body::to_bytes(body, MAX_MESSAGE).await.map_err(|e| {
        DaprError::malformed(format!(
            "the body cannot be read (at most {MAX_MESSAGE} bytes): {e}"
        ))
    })
}

/// The body as text (JSON is UTF-8).
fn text(body: &Bytes) -> Result<&str, DaprError> {
    std::str::from_utf8(body).map_err(|_| DaprError::malformed("the body is not UTF-8 JSON"))
}

async fn save(State(app): State<Shared>, uri: Uri, body: Body) -> Response {
    answer(save_all(&app, &store_name(&uri), &uri, body).await)
}

/// A set request of one item of a save or transaction body.
fn set_request(store: &str, o: &Object, code: &'static str) -> Result<SetRequest, DaprError> {
    Ok(dapr::set_from(
        delete_request(store, o, code)?,
        o.value_bytes(),
    ))
}

/// The fields of a state item but its value, as a delete request.
fn delete_request(store: &str, o: &Object, code: &'static str) -> Result<DeleteRequest, DaprError> {
    let what = "a state item";
    let key = o.string("key", what)?.unwrap_or_default();
    dapr::check_key(store, &key)?;
    let mut req = DeleteRequest::new(key);
    req.etag = o
        .string("etag", what)?
        .filter(|e| !e.is_empty())
        .map(ETag::new);
    req.metadata = o.metadata(what)?;
    (req.concurrency, req.consistency) = o.options(code)?;
    Ok(req)
}

async fn save_all(app: &App, name: &str, uri: &Uri, body: Body) -> Answer {
    let store = store(app, name)?;
    let code = "ERR_STATE_SAVE";
    let body = read(body).await?;
    let items = dapr::array(text(&body)?, "the body")?;
    let extra = query_metadata(&params(uri));
    let mut reqs = Vec::with_capacity(items.len());
    for item in &items {
        let mut req = set_request(name, &Object::parse(item.get(), "a state item")?, code)?;
        dapr::merge_query(&mut req.metadata, &extra);
        reqs.push(req);
    }
    dapr::write_all(
        reqs,
        code,
        async |r| store.set(r).await,
        async |rs| store.bulk_set(rs).await,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn bulk(State(app): State<Shared>, uri: Uri, body: Body) -> Response {
    answer(bulk_get(&app, &store_name(&uri), &uri, body).await)
}

async fn bulk_get(app: &App, name: &str, uri: &Uri, body: Body) -> Answer {
    let store = store(app, name)?;
    let body = read(body).await?;
    let o = Object::parse(text(&body)?, "the body")?;
    // Only a hint, but Dapr's decoder wants a number.
    if o.value("parallelism").is_some_and(|p| !p.is_i64()) {
        return Err(DaprError::malformed("parallelism must be an integer"));
    }
    let keys: Vec<String> = match o.value("keys") {
        None => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|k| {
                k.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| DaprError::malformed("keys must be strings"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(DaprError::malformed("keys must be an array of strings")),
    };
    let mut meta = o.metadata("the body")?;
    dapr::merge_query(&mut meta, &query_metadata(&params(uri)));
    for k in &keys {
        dapr::check_key(name, k)?;
    }
    let reqs: Vec<GetRequest> = keys
        .iter()
        .map(|k| {
            let mut r = GetRequest::new(k.clone());
            r.metadata = meta.clone();
            r
        })
        .collect();
    let results = if reqs.is_empty() {
        Vec::new()
    } else {
        store
            .bulk_get(reqs)
            .await
            .map_err(|e| DaprError::internal("ERR_STATE_BULK_GET", &e))?
    };
    let items: Vec<Value> = results
        .into_iter()
        .map(|r| {
            let mut out = serde_json::Map::new();
            out.insert("key".into(), Value::String(r.key));
            match r.result {
                Ok(Some(item)) => {
                    out.insert("data".into(), dapr::embedded(&item.value));
                    if let Some(e) = &item.etag {
                        out.insert("etag".into(), Value::String(e.as_str().to_owned()));
                    }
                    let m = item.dapr_metadata();
                    if !m.is_empty() {
                        out.insert("metadata".into(), json!(m));
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    out.insert(
                        "error".into(),
                        Value::String(crate::scrub(&format!("{e:#}"))),
                    );
                }
            }
            Value::Object(out)
        })
        .collect();
    Ok(dapr::json_response(StatusCode::OK, &Value::Array(items)))
}

async fn transaction(State(app): State<Shared>, uri: Uri, body: Body) -> Response {
    answer(transact(&app, &store_name(&uri), &uri, body).await)
}

async fn transact(app: &App, name: &str, uri: &Uri, body: Body) -> Answer {
    let store = store(app, name)?;
    let code = "ERR_STATE_TRANSACTION";
    dapr::transactional(store.as_ref(), name)?;
    let body = read(body).await?;
    let o = Object::parse(text(&body)?, "the body")?;
    let query = query_metadata(&params(uri));
    let list = match o.raw("operations") {
        None => Vec::new(),
        Some(r) if r.get() == "null" => Vec::new(),
        Some(r) => dapr::array(r.get(), "operations")?,
    };
    let mut ops = Vec::with_capacity(list.len());
    for op in &list {
        let op = Object::parse(op.get(), "an operation")?;
        let kind = op.string("operation", "an operation")?.unwrap_or_default();
        if kind != "upsert" && kind != "delete" {
            return Err(DaprError::unknown_operation(&kind));
        }
        let request = op
            .object("request", "an operation's request")?
            .unwrap_or_default();
        ops.push(if kind == "upsert" {
            let mut set = set_request(name, &request, code)?;
            dapr::merge_query(&mut set.metadata, &query);
            TransactionOp::Set(set)
        } else {
            let mut del = delete_request(name, &request, code)?;
            dapr::merge_query(&mut del.metadata, &query);
            TransactionOp::Delete(del)
        });
    }
    let mut metadata = o.metadata("the body")?;
    dapr::merge_query(&mut metadata, &query);
    dapr::transact(store.as_ref(), name, ops, metadata).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn query(State(app): State<Shared>, uri: Uri, body: Body) -> Response {
    answer(run_query(&app, &store_name(&uri), &uri, body).await)
}

async fn run_query(app: &App, name: &str, uri: &Uri, body: Body) -> Answer {
    let store = store(app, name)?;
    if !store.capabilities().features.contains(Feature::QueryApi) {
        return Err(DaprError::query_unsupported(name));
    }
    let body = read(body).await.map_err(|e| {
        let message = format!("failed to read request body: {}", e.message);
        DaprError::new(StatusCode::BAD_REQUEST, "ERR_BODY_READ", message)
    })?;
    let text = std::str::from_utf8(&body).map_err(|_| {
        DaprError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ERR_STATE_QUERY",
            "the query is not UTF-8",
        )
    })?;
    let failed = |e: statestore::Error| DaprError::query_failed(name, &format!("{e:#}"));
    // Go decodes a `null` query as the empty one.
    let text = if text.trim() == "null" { "{}" } else { text };
    let q = Query::from_json(text).map_err(failed)?;
    let mut req = QueryRequest::new(q);
    req.metadata = query_metadata(&params(uri));
    let res = store.query(req).await.map_err(failed)?;
    if res.results.is_empty() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let results: Vec<Value> = res
        .results
        .iter()
        .map(|r| {
            let mut o = serde_json::Map::new();
            o.insert("key".into(), Value::String(r.key.clone()));
            o.insert("data".into(), dapr::embedded(&r.value));
            if let Some(e) = &r.etag {
                o.insert("etag".into(), Value::String(e.as_str().to_owned()));
            }
            if let Some(e) = r.error.as_ref().filter(|e| !e.is_empty()) {
                o.insert("error".into(), Value::String(e.clone()));
            }
            Value::Object(o)
        })
        .collect();
    let mut body = json!({ "results": results });
    if let Some(t) = &res.token {
        body["token"] = Value::String(t.clone());
    }
    if !res.metadata.is_empty() {
        body["metadata"] = json!(res.metadata);
    }
    Ok(dapr::json_response(StatusCode::OK, &body))
}
