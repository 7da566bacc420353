//! What stores answer. `Debug` never prints value bytes.

use std::fmt;
use std::time::SystemTime;

use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::error::{Error, Operation, Result};
use crate::types::{ETag, Metadata};

/// Response metadata key carrying the expiry time at the Dapr edges.
pub const TTL_EXPIRE_TIME: &str = "ttlExpireTime";

/// A stored value with its etag, content type and expiry.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Item {
    /// The value, byte for byte as written.
    pub value: Bytes,
    /// The current etag, on stores with `ETAG`.
    pub etag: Option<ETag>,
    /// The content type written with the value.
    pub content_type: Option<String>,
    /// When the key expires, for keys written with a ttl.
    pub expires_at: Option<SystemTime>,
    /// Store-specific response metadata.
    pub metadata: Metadata,
}

impl Item {
    /// An item holding `value` and nothing else.
    pub fn new(value: impl Into<Bytes>) -> Self {
        Item {
            value: value.into(),
            ..Default::default()
        }
    }

    /// The expiry time as RFC 3339 in UTC (Dapr's `ttlExpireTime`).
    pub fn expire_time_rfc3339(&self) -> Option<String> {
        self.expires_at.map(rfc3339)
    }

    /// The value parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.value).map_err(|e| {
            Error::invalid(format!(
                "stored value is not JSON of type {}",
                std::any::type_name::<T>()
            ))
            .with_source(e)
        })
    }

    /// Response metadata as Dapr returns it: the store's own plus
    /// `ttlExpireTime` when the key has an expiry.
    pub fn dapr_metadata(&self) -> Metadata {
        let mut m = self.metadata.clone();
        if let Some(t) = self.expire_time_rfc3339() {
            m.insert(TTL_EXPIRE_TIME.to_owned(), t);
        }
        m
    }
}

impl fmt::Debug for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Item")
            .field("value", &format_args!("<{} bytes>", self.value.len()))
            .field("etag", &self.etag)
            .field("content_type", &self.content_type)
            .field("expires_at", &self.expire_time_rfc3339())
            .field("metadata", &self.metadata)
            .finish()
    }
}

/// Formats a time as RFC 3339 in UTC with millisecond precision.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// One key's outcome in a bulk call; bulk results follow the request order.
#[derive(Debug)]
pub struct KeyResult<T> {
    /// The key, as requested.
    pub key: String,
    /// Its outcome.
    pub result: Result<T>,
}

impl<T> KeyResult<T> {
    /// A successful outcome.
    pub fn ok(key: impl Into<String>, value: T) -> Self {
        KeyResult {
            key: key.into(),
            result: Ok(value),
        }
    }

    /// A failed outcome; the key is attached to the error.
    pub fn err(key: impl Into<String>, error: Error) -> Self {
        let key = key.into();
        let error = if error.key().is_none() {
            error.with_key(key.clone())
        } else {
            error
        };
        KeyResult {
            key,
            result: Err(error),
        }
    }
}

/// Applies `f` to each request of a bulk call in order: one outcome per
/// request, carrying its key, a failure never stopping the others, and every
/// error naming `store` and `op`. For stores whose backend answers each key at
/// once; a networked store sends batches instead.
pub fn per_key<R, T>(
    store: &'static str,
    op: Operation,
    reqs: Vec<R>,
    key: impl Fn(&R) -> &str,
    mut f: impl FnMut(R) -> Result<T>,
) -> Vec<KeyResult<T>> {
    reqs.into_iter()
        .map(|req| {
            let k = key(&req).to_owned();
            match f(req) {
                Ok(v) => KeyResult::ok(k, v),
                Err(e) => KeyResult::err(k, e.context(store, op)),
            }
        })
        .collect()
}

/// Turns bulk outcomes into one result: the values in request order, or an
/// [`crate::ErrorKind::Bulk`] error listing every failed key.
pub fn all_ok<T>(results: Vec<KeyResult<T>>) -> Result<Vec<T>> {
    let mut values = Vec::with_capacity(results.len());
    let mut failures = Vec::new();
    let mut context = None;
    for r in results {
        match r.result {
            Ok(v) => values.push(v),
            Err(e) => {
                if context.is_none() {
                    context = e.store().map(|s| (s.to_owned(), e.operation()));
                }
                failures.push((r.key, e));
            }
        }
    }
    if failures.is_empty() {
        return Ok(values);
    }
    let err = Error::bulk(failures);
    Err(match context {
        Some((store, Some(op))) => err.context(store, op),
        _ => err,
    })
}

/// One page of [`crate::Store::keys_like`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeysPage {
    /// Matching keys, in the store's order.
    pub keys: Vec<String>,
    /// Present exactly when more keys remain; pass it to get the next page.
    pub token: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn expiry_is_rfc3339_utc() {
        let mut item = Item::new("v");
        item.expires_at = Some(UNIX_EPOCH + Duration::from_millis(1_700_000_000_123));
        assert_eq!(
            item.expire_time_rfc3339().unwrap(),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(
            item.dapr_metadata().get(TTL_EXPIRE_TIME).unwrap(),
            "2023-11-14T22:13:20.123Z"
        );
    }

    #[test]
    fn debug_hides_value() {
        assert!(!format!("{:?}", Item::new("hush")).contains("hush"));
    }

    #[test]
    fn all_ok_collects_failures() {
        let ok = all_ok(vec![KeyResult::ok("a", 1), KeyResult::ok("b", 2)]).unwrap();
        assert_eq!(ok, vec![1, 2]);
        let err = all_ok(vec![
            KeyResult::ok("a", 1),
            KeyResult::err("b", Error::etag_mismatch("stale")),
        ])
        .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Bulk);
        assert_eq!(err.failures()[0].0, "b");
        assert_eq!(err.failures()[0].1.key(), Some("b"));
    }
}
