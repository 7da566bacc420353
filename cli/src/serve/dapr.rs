//! Dapr's HTTP answers: error codes with their statuses, and the request
//! bodies as Dapr's handlers read them (field names in any case, metadata
//! values as strings only).

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use statestore::{Concurrency, Consistency, Error, ErrorKind};

/// One of Dapr's error answers.
#[derive(Debug)]
pub struct DaprError {
    /// The HTTP status.
    pub status: StatusCode,
    /// Dapr's `errorCode`, e.g. `ERR_STATE_SAVE`.
    pub code: &'static str,
    /// What went wrong.
    pub message: String,
}

impl DaprError {
    /// An error with this status and code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        DaprError {
            status,
            code,
            message: message.into(),
        }
    }

    /// `400 ERR_MALFORMED_REQUEST`.
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "ERR_MALFORMED_REQUEST", message)
    }

    /// A failed save or delete: 409 for a stale etag, 400 for a malformed
    /// one or a refused request, 500 otherwise.
    pub fn write(code: &'static str, e: &Error) -> Self {
        let status = match e.kind() {
            ErrorKind::ETagMismatch => StatusCode::CONFLICT,
            ErrorKind::ETagInvalid | ErrorKind::InvalidRequest => StatusCode::BAD_REQUEST,
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
}

impl IntoResponse for DaprError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "errorCode": self.code, "message": self.message });
        let mut r = (self.status, body.to_string()).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r
    }
}

/// The value of field `name` of a JSON object, the name matched in any
/// case (Go's JSON decoding).
pub fn field<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object.get(name).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// A JSON object, or the error naming `what`.
pub fn object<'a>(value: &'a Value, what: &str) -> Result<&'a Map<String, Value>, DaprError> {
    value
        .as_object()
        .ok_or_else(|| DaprError::malformed(format!("{what} must be a JSON object")))
}

/// An optional string field; `null` is absent.
pub fn string(
    object: &Map<String, Value>,
    name: &str,
    what: &str,
) -> Result<Option<String>, DaprError> {
    match field(object, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(DaprError::malformed(format!(
            "{what}: {name} must be a string"
        ))),
    }
}

/// A metadata object: string values only (Dapr refuses others).
pub fn metadata(
    object: &Map<String, Value>,
    what: &str,
) -> Result<BTreeMap<String, String>, DaprError> {
    match field(object, "metadata") {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
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

/// The `options` of an item: concurrency and consistency, each empty or
/// one of Dapr's words (anything else is Dapr's 500).
pub fn options(
    object: &Map<String, Value>,
    code: &'static str,
) -> Result<(Concurrency, Consistency), DaprError> {
    let Some(opts) = field(object, "options").filter(|v| !v.is_null()) else {
        return Ok(Default::default());
    };
    let opts = object_of(opts)?;
    let word = |name: &str| -> Result<String, DaprError> {
        Ok(string(opts, name, "options")?.unwrap_or_default())
    };
    let bad = |e: Error| DaprError::internal(code, &e);
    Ok((
        word("concurrency")?.parse().map_err(bad)?,
        word("consistency")?.parse().map_err(bad)?,
    ))
}

fn object_of(v: &Value) -> Result<&Map<String, Value>, DaprError> {
    object(v, "options")
}

/// The stored bytes of a JSON `value`: its compact JSON text (a JSON
/// string is stored with its quotes, as Dapr does).
pub fn value_bytes(value: Option<&Value>) -> Vec<u8> {
    match value {
        None => Vec::new(),
        Some(v) => v.to_string().into_bytes(),
    }
}

/// Stored bytes as they come back inside a JSON answer: embedded as JSON
/// when they are JSON, else as a JSON string.
pub fn embedded(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// Go's `url.QueryUnescape`: `%XX` escapes and `+` as a space; `None` for
/// a bad escape or bytes that are not UTF-8.
pub fn query_unescape(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
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
    String::from_utf8(out).ok()
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
    }

    #[test]
    fn fields_match_in_any_case() {
        let v: Value = serde_json::json!({"Key": "k", "ETAG": "1"});
        let o = v.as_object().unwrap();
        assert_eq!(string(o, "key", "x").unwrap().as_deref(), Some("k"));
        assert_eq!(string(o, "etag", "x").unwrap().as_deref(), Some("1"));
    }

    #[test]
    fn values_are_compact_json() {
        let v: Value = serde_json::from_str(r#"{ "n" : 1 }"#).unwrap();
        assert_eq!(value_bytes(Some(&v)), br#"{"n":1}"#);
        assert_eq!(embedded(br#"{"n":1}"#), serde_json::json!({"n": 1}));
        assert_eq!(embedded(b"plain"), Value::String("plain".into()));
    }
}
