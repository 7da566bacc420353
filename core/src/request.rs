//! Typed requests. Fields are public so wrappers (key prefixing, tracing) can
//! rewrite them; the builder methods are shorthand for the common cases.
//!
//! `Debug` never prints value bytes, only their length.

use std::fmt;

use bytes::Bytes;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::query::Query;
use crate::types::{Concurrency, Consistency, ETag, Metadata, Ttl};

/// Read one key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GetRequest {
    /// The key.
    pub key: String,
    /// Requested consistency.
    pub consistency: Consistency,
    /// Request metadata (e.g. `partitionKey`).
    pub metadata: Metadata,
}

impl GetRequest {
    /// A read of `key` with default options.
    pub fn new(key: impl Into<String>) -> Self {
        GetRequest {
            key: key.into(),
            ..Default::default()
        }
    }

    /// Sets the consistency.
    pub fn consistency(mut self, consistency: Consistency) -> Self {
        self.consistency = consistency;
        self
    }

    /// Adds one metadata entry.
    pub fn metadata(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(name.into(), value.into());
        self
    }
}

/// Write one key.
///
/// Dapr metadata `ttlInSeconds` and `contentType` are accepted as well as the
/// typed fields; the `check` module reconciles the two.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SetRequest {
    /// The key.
    pub key: String,
    /// The value, stored and returned byte for byte.
    pub value: Bytes,
    /// Content type travelling with the value (e.g. `application/json`).
    pub content_type: Option<String>,
    /// The etag the write is conditional on; empty is the same as none.
    pub etag: Option<ETag>,
    /// First-write or last-write.
    pub concurrency: Concurrency,
    /// Requested consistency.
    pub consistency: Consistency,
    /// Time to live; `None` removes an earlier expiry.
    pub ttl: Option<Ttl>,
    /// Request metadata (`ttlInSeconds`, `contentType`, `partitionKey`, ...).
    pub metadata: Metadata,
}

impl SetRequest {
    /// An unconditional write of `value` to `key`.
    pub fn new(key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        SetRequest {
            key: key.into(),
            value: value.into(),
            ..Default::default()
        }
    }

    /// A write of `value` serialized as JSON, with content type `application/json`.
    pub fn json<T: Serialize + ?Sized>(key: impl Into<String>, value: &T) -> Result<Self> {
        let key = key.into();
        let bytes = serde_json::to_vec(value).map_err(|e| {
            Error::invalid("value cannot be serialized as JSON")
                .with_key(key.clone())
                .with_source(e)
        })?;
        Ok(SetRequest::new(key, bytes).content_type("application/json"))
    }

    /// Sets the time to live.
    pub fn ttl(mut self, ttl: Ttl) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Sets the content type.
    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }
}

impl fmt::Debug for SetRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetRequest")
            .field("key", &self.key)
            .field("value", &format_args!("<{} bytes>", self.value.len()))
            .field("content_type", &self.content_type)
            .field("etag", &self.etag)
            .field("concurrency", &self.concurrency)
            .field("consistency", &self.consistency)
            .field("ttl", &self.ttl)
            .field("metadata", &self.metadata)
            .finish()
    }
}

/// Delete one key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteRequest {
    /// The key.
    pub key: String,
    /// The etag the delete is conditional on; empty is the same as none.
    pub etag: Option<ETag>,
    /// First-write or last-write (same table as for writes).
    pub concurrency: Concurrency,
    /// Requested consistency.
    pub consistency: Consistency,
    /// Request metadata.
    pub metadata: Metadata,
}

impl DeleteRequest {
    /// An unconditional delete of `key`.
    pub fn new(key: impl Into<String>) -> Self {
        DeleteRequest {
            key: key.into(),
            ..Default::default()
        }
    }
}

/// The etag, concurrency, consistency and metadata builders that writes
/// and deletes share.
macro_rules! conditional_builders {
    ($($t:ty),*) => {$(
        impl $t {
            /// Makes the call conditional on `etag` (an empty etag means none).
            pub fn etag(mut self, etag: impl Into<ETag>) -> Self {
                self.etag = Some(etag.into());
                self
            }

            /// Makes the call conditional on `etag` when there is one.
            pub fn etag_opt(mut self, etag: Option<ETag>) -> Self {
                self.etag = etag;
                self
            }

            /// First-write concurrency: without an etag, the key must not
            /// exist (a delete then succeeds only when it is absent).
            pub fn first_write(mut self) -> Self {
                self.concurrency = Concurrency::FirstWrite;
                self
            }

            /// Sets the concurrency.
            pub fn concurrency(mut self, concurrency: Concurrency) -> Self {
                self.concurrency = concurrency;
                self
            }

            /// Sets the consistency.
            pub fn consistency(mut self, consistency: Consistency) -> Self {
                self.consistency = consistency;
                self
            }

            /// Adds one metadata entry.
            pub fn metadata(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
                self.metadata.insert(name.into(), value.into());
                self
            }
        }
    )*};
}

conditional_builders!(SetRequest, DeleteRequest);

/// One operation of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransactionOp {
    /// An upsert.
    Set(SetRequest),
    /// A delete.
    Delete(DeleteRequest),
}

impl TransactionOp {
    /// The key the operation touches.
    pub fn key(&self) -> &str {
        match self {
            TransactionOp::Set(r) => &r.key,
            TransactionOp::Delete(r) => &r.key,
        }
    }
}

impl From<SetRequest> for TransactionOp {
    fn from(r: SetRequest) -> Self {
        TransactionOp::Set(r)
    }
}

impl From<DeleteRequest> for TransactionOp {
    fn from(r: DeleteRequest) -> Self {
        TransactionOp::Delete(r)
    }
}

/// Ordered upserts and deletes applied all or nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransactRequest {
    /// The operations, applied in order.
    pub operations: Vec<TransactionOp>,
    /// Request metadata (e.g. `partitionKey` for an actor's turn).
    pub metadata: Metadata,
}

impl TransactRequest {
    /// A transaction of `operations`.
    pub fn new(operations: impl IntoIterator<Item = impl Into<TransactionOp>>) -> Self {
        TransactRequest {
            operations: operations.into_iter().map(Into::into).collect(),
            metadata: Metadata::new(),
        }
    }

    /// Adds one metadata entry.
    pub fn metadata(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(name.into(), value.into());
        self
    }
}

/// Delete the direct children of a prefix (docs/contract.md, *Bulk calls, transactions,
/// prefixes*).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteWithPrefixRequest {
    /// The prefix; `||` is appended when missing.
    pub prefix: String,
    /// Request metadata.
    pub metadata: Metadata,
}

impl DeleteWithPrefixRequest {
    /// Deletes the keys `prefix||x` where `x` holds no further `||`.
    pub fn new(prefix: impl Into<String>) -> Self {
        DeleteWithPrefixRequest {
            prefix: prefix.into(),
            metadata: Metadata::new(),
        }
    }
}

/// List keys matching an SQL LIKE pattern, optionally a page at a time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeysLikeRequest {
    /// `%` any run, `_` one character, `\` escapes the next character.
    pub pattern: String,
    /// At most this many keys per page; `None` returns every match.
    pub page_size: Option<u32>,
    /// The token of the previous page.
    pub token: Option<String>,
    /// Request metadata.
    pub metadata: Metadata,
}

impl KeysLikeRequest {
    /// Every key matching `pattern`.
    pub fn new(pattern: impl Into<String>) -> Self {
        KeysLikeRequest {
            pattern: pattern.into(),
            ..Default::default()
        }
    }

    /// Pages of at most `size` keys.
    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = Some(size);
        self
    }

    /// Continues after the page that returned `token`.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }
}

/// Query JSON values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryRequest {
    /// Filter, sort and page.
    pub query: Query,
    /// Only keys that start with this text; results keep their whole key.
    /// A key-prefixed view (`keyPrefix`) queries through it.
    pub key_prefix: Option<String>,
    /// Request metadata.
    pub metadata: Metadata,
}

impl QueryRequest {
    /// A request for `query`.
    pub fn new(query: Query) -> Self {
        QueryRequest {
            query,
            key_prefix: None,
            metadata: Metadata::new(),
        }
    }

    /// Only keys that start with `prefix`.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = Some(prefix.into());
        self
    }

    /// The key range `[from, to)` that holds exactly the keys starting with
    /// [`QueryRequest::key_prefix`], under code point (UTF-8 byte) order;
    /// `to` is `None` when no key is past them. `None` without a prefix.
    pub fn key_range(&self) -> Option<(&str, Option<String>)> {
        let p = self.key_prefix.as_deref().filter(|p| !p.is_empty())?;
        Some((p, crate::check::prefix_end(p)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_values() {
        let r = SetRequest::new("k", "secret-value-bytes");
        let text = format!("{r:?}");
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("<18 bytes>"), "{text}");
    }

    #[test]
    fn json_sets_content_type() {
        let r = SetRequest::json("k", &serde_json::json!({"a": 1})).unwrap();
        assert_eq!(r.content_type.as_deref(), Some("application/json"));
        assert_eq!(&r.value[..], br#"{"a":1}"#);
    }
}
