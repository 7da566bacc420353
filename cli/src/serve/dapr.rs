//! What the HTTP and gRPC sides share: Dapr's errors (error code, HTTP
//! status, gRPC code, details), the store lookup and key rule, the writes
//! of one or several items, and the request bodies as Dapr's HTTP handlers
//! read them (field names in any case, metadata values as strings only).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::fmt;
use tonic::Code;

use serde::de::{Deserializer as _, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use statestore::runtime::Runtime;
use statestore::{
    Concurrency, Consistency, DeleteRequest, Error, ErrorKind, KeyResult, SetRequest, Store,
    TransactRequest, TransactionOp,
};

/// One of Dapr's error answers, for HTTP and gRPC alike.
#[derive(Debug)]
pub struct DaprError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The gRPC code Dapr answers the same error with.
    pub grpc: Code,
    /// Dapr's `errorCode`, e.g. `ERR_STATE_SAVE`.
    pub code: &'static str,
    /// What went wrong.
    pub message: String,
    /// Dapr's details (google.rpc types), in Dapr's order.
    pub details: Vec<Detail>,
}

/// One google.rpc error detail Dapr attaches.
#[derive(Debug, Clone, PartialEq)]
pub enum Detail {
    /// ErrorInfo: Dapr's reason, domain `dapr.io`.
    ErrorInfo {
        /// e.g. `DAPR_STATE_ETAG_MISMATCH`.
        reason: &'static str,
        /// Extra facts.
        metadata: BTreeMap<String, String>,
    },
    /// ResourceInfo naming a state store.
    ResourceInfo {
        /// The store's name.
        name: String,
    },
    /// BadRequest with one field violation.
    BadRequest {
        /// The offending field.
        field: String,
        /// What is wrong with it.
        description: String,
    },
    /// Help with one link.
    Help {
        /// The link.
        url: &'static str,
        /// What it says.
        description: &'static str,
    },
}

impl Detail {
    /// The detail as Dapr renders it in an HTTP error body.
    fn json(&self) -> Value {
        let rpc_type = |name: &str| format!("type.googleapis.com/google.rpc.{name}");
        match self {
            Detail::ErrorInfo { reason, metadata } => json!({
                "@type": rpc_type("ErrorInfo"),
                "reason": reason,
                "domain": "dapr.io",
                "metadata": metadata,
            }),
            Detail::ResourceInfo { name } => json!({
                "@type": rpc_type("ResourceInfo"),
                "resource_type": "state",
                "resource_name": name,
                "owner": "",
                "description": "",
            }),
            Detail::BadRequest { field, description } => json!({
                "@type": rpc_type("BadRequest"),
                "field_violations": [{ "field": field, "description": description }],
            }),
            Detail::Help { url, description } => json!({
                "@type": rpc_type("Help"),
                "links": [{ "description": description, "url": url }],
            }),
        }
    }
}

impl DaprError {
    /// An error with this status and code; its gRPC code follows the
    /// status (400 InvalidArgument, 409 Aborted, else Internal) unless
    /// [`DaprError::grpc`] sets another.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        let grpc = match status {
            StatusCode::BAD_REQUEST => Code::InvalidArgument,
            StatusCode::CONFLICT => Code::Aborted,
            _ => Code::Internal,
        };
        DaprError {
            status,
            grpc,
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// The gRPC code, where Dapr's differs from what the status gives.
    pub fn grpc(mut self, code: Code) -> Self {
        self.grpc = code;
        self
    }

    /// Adds a BadRequest detail with one field violation.
    pub fn violation(mut self, field: &str, description: &str) -> Self {
        self.details.push(Detail::BadRequest {
            field: field.to_owned(),
            description: description.to_owned(),
        });
        self
    }

    /// Adds a Help detail with one link.
    pub fn help(mut self, url: &'static str, description: &'static str) -> Self {
        self.details.push(Detail::Help { url, description });
        self
    }

    /// Adds a ResourceInfo detail naming state store `name`.
    pub fn resource(mut self, name: &str) -> Self {
        self.details.push(Detail::ResourceInfo {
            name: name.to_owned(),
        });
        self
    }

    /// Adds an ErrorInfo detail: Dapr's reason, domain `dapr.io`.
    pub fn reason(mut self, reason: &'static str, metadata: &[(&str, String)]) -> Self {
        let metadata = metadata
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        self.details.push(Detail::ErrorInfo { reason, metadata });
        self
    }

    /// The ErrorInfo reason, if any.
    pub fn error_reason(&self) -> Option<&'static str> {
        self.details.iter().find_map(|d| match d {
            Detail::ErrorInfo { reason, .. } => Some(*reason),
            _ => None,
        })
    }

    /// `400 ERR_MALFORMED_REQUEST`.
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "ERR_MALFORMED_REQUEST", message)
    }

    /// A failed save or delete: 409 for a stale etag, 400 for a malformed
    /// one, 500 otherwise (a refused request included, as Dapr answers).
    pub fn write(code: &'static str, e: &Error) -> Self {
        let status = match e.kind() {
            ErrorKind::ETagMismatch => StatusCode::CONFLICT,
            ErrorKind::ETagInvalid => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, code, crate::scrub(&format!("{e:#}")))
    }

    /// A 500 with this code.
    pub fn internal(code: &'static str, e: &Error) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            code,
            crate::scrub(&format!("{e:#}")),
        )
    }

    /// The answer to a save or bulk delete of several items whose results
    /// hold failures: 400 if an etag was malformed, 409 if every failure is
    /// a stale etag, 500 otherwise; `None` when every item succeeded.
    pub fn bulk<'a>(
        code: &'static str,
        failed: impl IntoIterator<Item = &'a Error>,
    ) -> Option<Self> {
        let failed: Vec<&Error> = failed.into_iter().collect();
        let first = failed.first()?;
        let status = if failed.iter().any(|e| e.kind() == ErrorKind::ETagInvalid) {
            StatusCode::BAD_REQUEST
        } else if failed.iter().all(|e| e.kind() == ErrorKind::ETagMismatch) {
            StatusCode::CONFLICT
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        Some(Self::new(status, code, crate::scrub(&format!("{first:#}"))))
    }

    /// `ERR_STATE_STORE_NOT_SUPPORTED` for a store without transactions.
    pub fn not_transactional(name: &str) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ERR_STATE_STORE_NOT_SUPPORTED",
            format!("state store {name} doesn't support transactions"),
        )
        .help(
            "https://docs.dapr.io/reference/components-reference/supported-state-stores/",
            "Check the list of state stores and the features they support",
        )
        .resource(name)
        .reason("DAPR_STATE_TRANSACTIONS_NOT_SUPPORTED", &[])
        .grpc(Code::Unimplemented)
    }

    /// `ERR_STATE_STORE_TOO_MANY_TRANSACTIONS`.
    pub fn too_many(name: &str, ops: usize, max: usize) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "ERR_STATE_STORE_TOO_MANY_TRANSACTIONS",
            format!(
                "the transaction contains {ops} operations, which is more than what the state store supports: {max}"
            ),
        )
        .resource(name)
        .reason(
            "DAPR_STATE_TOO_MANY_TRANSACTIONS",
            &[
                ("currentOpsTransaction", ops.to_string()),
                ("maxOpsPerTransaction", max.to_string()),
            ],
        )
    }

    /// `ERR_NOT_SUPPORTED_STATE_OPERATION` for an unknown operation type.
    pub fn unknown_operation(kind: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "ERR_NOT_SUPPORTED_STATE_OPERATION",
            format!("operation type {kind} not supported"),
        )
        .grpc(Code::Unimplemented)
    }

    /// `ERR_STATE_STORE_NOT_SUPPORTED` for a store without the query API.
    pub fn query_unsupported(name: &str) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ERR_STATE_STORE_NOT_SUPPORTED",
            "state store does not support querying",
        )
        .resource(name)
        .reason("DAPR_STATE_QUERYING_NOT_SUPPORTED", &[])
    }

    /// `ERR_STATE_QUERY`: a query that could not be parsed or run.
    pub fn query_failed(name: &str, why: &str) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ERR_STATE_QUERY",
            format!("state store {name} query failed: {}", crate::scrub(why)),
        )
        .resource(name)
        .reason("DAPR_STATE_QUERY_FAILED", &[])
    }
}

impl IntoResponse for DaprError {
    fn into_response(self) -> Response {
        let mut body = json!({ "errorCode": self.code, "message": self.message });
        if !self.details.is_empty() {
            body["details"] = self.details.iter().map(Detail::json).collect();
        }
        json_response(self.status, &body)
    }
}

/// A JSON answer.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// The store of component `name` in `runtime`, or Dapr's error: not
/// configured when there is no store at all, else not found.
pub fn store(runtime: &Runtime, name: &str) -> Result<Arc<dyn Store>, DaprError> {
    if let Ok(store) = runtime.store(name) {
        return Ok(store);
    }
    let app_id = [("appID", runtime.app_id().to_owned())];
    if runtime.names().next().is_none() {
        return Err(DaprError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ERR_STATE_STORE_NOT_CONFIGURED",
            format!("state store {name} is not configured"),
        )
        .grpc(Code::FailedPrecondition)
        .reason("DAPR_STATE_NOT_CONFIGURED", &app_id));
    }
    Err(DaprError::new(
        StatusCode::BAD_REQUEST,
        "ERR_STATE_STORE_NOT_FOUND",
        format!("state store {name} is not found"),
    )
    .reason("DAPR_STATE_NOT_FOUND", &app_id))
}

/// Writes requests as Dapr does: one through the single call (its error
/// as [`DaprError::write`] reports it), several through the bulk call (the
/// failures as [`DaprError::bulk`] reports them).
pub async fn write_all<R, T>(
    mut reqs: Vec<R>,
    code: &'static str,
    one: impl AsyncFnOnce(R) -> statestore::Result<T>,
    many: impl AsyncFnOnce(Vec<R>) -> statestore::Result<Vec<KeyResult<T>>>,
) -> Result<(), DaprError> {
    if reqs.len() <= 1 {
        return match reqs.pop() {
            Some(req) => one(req)
                .await
                .map(drop)
                .map_err(|e| DaprError::write(code, &e)),
            None => Ok(()),
        };
    }
    let results = many(reqs)
        .await
        .map_err(|e| DaprError::internal(code, &e))?;
    let failed = results.iter().filter_map(|r| r.result.as_ref().err());
    DaprError::bulk(code, failed).map_or(Ok(()), Err)
}

/// The set request of a state item: its fields but the value (read as a
/// delete request, the key checked) and `value`.
pub fn set_from(del: DeleteRequest, value: impl Into<statestore::Bytes>) -> SetRequest {
    let mut req = SetRequest::new(del.key, value);
    req.etag = del.etag;
    req.metadata = del.metadata;
    req.concurrency = del.concurrency;
    req.consistency = del.consistency;
    req
}

/// Refuses a transaction on a store without `TRANSACTIONAL`, before its
/// body is read, as Dapr does.
pub fn transactional(store: &dyn Store, name: &str) -> Result<(), DaprError> {
    if store
        .capabilities()
        .features
        .contains(statestore::Feature::Transactional)
    {
        Ok(())
    } else {
        Err(DaprError::not_transactional(name))
    }
}

/// Runs a transaction's parsed operations as Dapr does: more than the
/// store takes is refused, none is done at once.
pub async fn transact(
    store: &dyn Store,
    name: &str,
    ops: Vec<TransactionOp>,
    metadata: BTreeMap<String, String>,
) -> Result<(), DaprError> {
    if let Some(max) = store.capabilities().limits.max_transaction_ops
        && ops.len() > max
    {
        return Err(DaprError::too_many(name, ops.len(), max));
    }
    if ops.is_empty() {
        return Ok(());
    }
    let mut req = TransactRequest::new(ops);
    req.metadata = metadata;
    store
        .transact(req)
        .await
        .map(drop)
        .map_err(|e| DaprError::internal("ERR_STATE_TRANSACTION", &e))
}

/// Concurrency and consistency as Dapr's words (empty: the default); an
/// unknown word is Dapr's 500 with `code`.
pub fn options(
    concurrency: &str,
    consistency: &str,
    code: &'static str,
) -> Result<(Concurrency, Consistency), DaprError> {
    let bad = |e: Error| DaprError::internal(code, &e);
    Ok((
        concurrency.parse().map_err(bad)?,
        consistency.parse().map_err(bad)?,
    ))
}

/// Merges the `metadata.*` query parameters into a request's metadata:
/// the query's value wins, as Dapr copies it over the body's.
pub fn merge_query(metadata: &mut BTreeMap<String, String>, query: &BTreeMap<String, String>) {
    metadata.extend(query.iter().map(|(k, v)| (k.clone(), v.clone())));
}

/// An etag as Dapr's answers carry it: empty when there is none.
pub fn etag_text(etag: Option<&statestore::ETag>) -> String {
    etag.map(|e| e.as_str().to_owned()).unwrap_or_default()
}

/// A component as metadata lists it: type, version and the features of
/// the store as served (a keyPrefix view has no query API).
pub fn component(
    runtime: &Runtime,
    name: &str,
) -> Option<(&'static str, &'static str, Vec<&'static str>)> {
    let (typ, version) = runtime.store_type(name).ok()?;
    let caps = runtime.store(name).ok()?.capabilities();
    Some((
        typ,
        version,
        caps.features.iter().map(|f| f.name()).collect(),
    ))
}

/// Dapr's key rule: not empty, no `||` (Dapr's key separator).
pub fn check_key(store: &str, key: &str) -> Result<(), DaprError> {
    if key.is_empty() {
        return Err(DaprError::malformed("the key is empty"));
    }
    if key.contains("||") {
        let message = format!("input key/keyPrefix '{key}' can't contain '||'");
        return Err(DaprError::malformed(message.clone())
            .violation(key, &message)
            .resource(store)
            .reason("DAPR_STATE_ILLEGAL_KEY", &[]));
    }
    Ok(())
}

/// A JSON object of a request body, its members in order with their raw
/// text, so that a `value` is stored exactly as it was sent.
#[derive(Default)]
pub struct Object(Vec<(String, Box<RawValue>)>);

struct Members;

impl<'de> Visitor<'de> for Members {
    type Value = Vec<(String, Box<RawValue>)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Box<RawValue>>()? {
            out.push((k, v));
        }
        Ok(out)
    }
}

impl Object {
    /// Parses a JSON object; `what` names it in the error. `null` is an
    /// empty object, as Go decodes it.
    pub fn parse(text: &str, what: &str) -> Result<Object, DaprError> {
        if text.trim_matches(JSON_SPACE) == "null" {
            return Ok(Object::default());
        }
        let mut de = serde_json::Deserializer::from_str(text);
        let members = de
            .deserialize_map(Members)
            .and_then(|m| de.end().map(|()| m))
            .map_err(|e| DaprError::malformed(format!("{what} must be a JSON object: {e}")))?;
        Ok(Object(members))
    }

    /// The raw text of member `name`, matched in any case; the last one
    /// wins, as with Go's JSON decoding.
    pub fn raw(&self, name: &str) -> Option<&RawValue> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }

    /// Member `name` as a JSON value; `null` is absent.
    pub fn value(&self, name: &str) -> Option<Value> {
        self.raw(name)
            .and_then(|r| serde_json::from_str::<Value>(r.get()).ok())
            .filter(|v| !v.is_null())
    }

    /// Member `name` as an object; `null` is absent.
    pub fn object(&self, name: &str, what: &str) -> Result<Option<Object>, DaprError> {
        match self.raw(name) {
            None => Ok(None),
            Some(r) if r.get() == "null" => Ok(None),
            Some(r) => Object::parse(r.get(), what).map(Some),
        }
    }

    /// An optional string member; `null` is absent.
    pub fn string(&self, name: &str, what: &str) -> Result<Option<String>, DaprError> {
        match self.value(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(DaprError::malformed(format!(
                "{what}: {name} must be a string"
            ))),
        }
    }

    /// The `metadata` member: string values only (Dapr refuses others).
    pub fn metadata(&self, what: &str) -> Result<BTreeMap<String, String>, DaprError> {
        match self.value("metadata") {
            None => Ok(BTreeMap::new()),
            Some(Value::Object(m)) => m
                .into_iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k, s)),
                    _ => Err(DaprError::malformed(format!(
                        "{what}: metadata {k:?} must be a string"
                    ))),
                })
                .collect(),
            Some(_) => Err(DaprError::malformed(format!(
                "{what}: metadata must be an object of strings"
            ))),
        }
    }

    /// The `options` member: concurrency and consistency, each empty or one
    /// of Dapr's words (anything else is Dapr's 500 with `code`).
    pub fn options(&self, code: &'static str) -> Result<(Concurrency, Consistency), DaprError> {
        let Some(opts) = self.object("options", "options")? else {
            return Ok(Default::default());
        };
        let concurrency = opts.string("concurrency", "options")?.unwrap_or_default();
        let consistency = opts.string("consistency", "options")?.unwrap_or_default();
        options(&concurrency, &consistency, code)
    }

    /// The stored bytes of the `value` member: its JSON text without the
    /// white space between tokens, byte for byte otherwise (numbers and the
    /// order of members as sent); empty when there is none.
    pub fn value_bytes(&self) -> Vec<u8> {
        self.raw("value")
            .map(|r| compact(r.get()))
            .unwrap_or_default()
    }
}

/// JSON's white space.
const JSON_SPACE: &[char] = &[' ', '\t', '\n', '\r'];

/// The elements of a JSON array, raw; `null` is an empty array, as Go
/// decodes it.
pub fn array(text: &str, what: &str) -> Result<Vec<Box<RawValue>>, DaprError> {
    serde_json::from_str::<Option<Vec<Box<RawValue>>>>(text)
        .map(Option::unwrap_or_default)
        .map_err(|e| DaprError::malformed(format!("{what} must be a JSON array: {e}")))
}

/// JSON text without white space outside strings.
pub fn compact(json: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for &b in json.as_bytes() {
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            if b == b'"' {
                in_string = true;
            }
            out.push(b);
        }
    }
    out
}

/// Stored bytes as they come back inside a JSON answer: embedded as JSON
/// when they are JSON, else as a JSON string; no bytes are `null`, as in
/// Dapr's answers.
pub fn embedded(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// Go's `url.QueryUnescape`: `%XX` escapes and `+` as a space; `None` for
/// a bad escape. Bytes that are not UTF-8 become U+FFFD.
pub fn query_unescape(text: &str) -> Option<String> {
    if !text.contains(['%', '+']) {
        return Some(text.to_owned());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                // Two hex digits exactly: from_str_radix would also take
                // a sign ("%+1"), which Go refuses.
                let hex = bytes.get(i + 1..i + 3)?;
                let digit = |b: u8| char::from(b).to_digit(16);
                out.push((digit(hex[0])? * 16 + digit(hex[1])?) as u8);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_unescape_as_go_does() {
        assert_eq!(query_unescape("a%2Fb+c").as_deref(), Some("a/b c"));
        assert_eq!(query_unescape("%zz"), None);
        assert_eq!(query_unescape("%4"), None);
        assert_eq!(query_unescape("caf%C3%A9").as_deref(), Some("café"));
        assert_eq!(query_unescape("%FF").as_deref(), Some("\u{fffd}"));
        assert_eq!(query_unescape("%+1"), None);
        assert_eq!(query_unescape("%-1"), None);
    }

    #[test]
    fn fields_match_in_any_case_and_the_last_wins() {
        let o = Object::parse(r#"{"Key": "k", "ETAG": "1", "key": "k2"}"#, "x").unwrap();
        assert_eq!(o.string("key", "x").unwrap().as_deref(), Some("k2"));
        assert_eq!(o.string("etag", "x").unwrap().as_deref(), Some("1"));
        assert!(Object::parse("[1]", "x").is_err());
        assert!(Object::parse("{} x", "x").is_err());
    }

    #[test]
    fn values_keep_their_text_without_white_space() {
        let o = Object::parse(
            r#"{"value": { "b" : 1, "a" : [ 1E2, -0, 123456789012345678901234567890 ], "s": " x \" y " }}"#,
            "x",
        )
        .unwrap();
        assert_eq!(
            o.value_bytes(),
            br#"{"b":1,"a":[1E2,-0,123456789012345678901234567890],"s":" x \" y "}"#
        );
        assert_eq!(embedded(br#"{"n":1}"#), serde_json::json!({"n": 1}));
        assert_eq!(embedded(b"plain"), Value::String("plain".into()));
    }
}
