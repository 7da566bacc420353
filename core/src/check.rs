//! The request rules every store applies the same way before it touches its
//! backend (docs/contract.md, *Keys and values* to *Bulk calls, transactions,
//! prefixes*). Stores call these instead of re-implementing
//! them, so the rules cannot drift between stores.
//!
//! * keys are non-empty and no longer than the store's `max_key_len`;
//! * an empty etag is no etag; etag + concurrency become one [`Condition`];
//! * `ttlInSeconds` and `contentType` request metadata are translated;
//! * transactions larger than `max_transaction_ops` are refused up front;
//! * prefixes and LIKE patterns are validated.

use std::fmt;

use bytes::Bytes;

use crate::capabilities::Limits;
use crate::error::{Error, Result};
use crate::like::LikePattern;
use crate::request::{
    DeleteRequest, GetRequest, KeysLikeRequest, SetRequest, TransactRequest, TransactionOp,
};
use crate::types::{Concurrency, ETag, Metadata, Ttl};

/// Request metadata key for a per-write ttl in seconds.
pub const TTL_IN_SECONDS: &str = "ttlInSeconds";
/// Request metadata key for the value's content type.
pub const CONTENT_TYPE: &str = "contentType";
/// Request metadata key naming the actor whose keys a call touches.
pub const PARTITION_KEY: &str = "partitionKey";
/// The separator of key parts (`appId||actorType||actorId||key`).
pub const SEPARATOR: &str = "||";

/// The condition a write or delete is applied under (object_store's
/// overwrite / create / update-with-etag as one enum).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Condition {
    /// Last-write without etag: unconditional.
    Always,
    /// First-write without etag: only when the key does not exist (an
    /// expired key counts as absent). For a delete: succeeds without
    /// deleting anything when the key is absent, fails when it exists.
    IfAbsent,
    /// With an etag (either concurrency): only when it is the current etag.
    IfMatch(ETag),
}

impl Condition {
    /// The table of docs/contract.md, *Etags and concurrency*: an empty
    /// etag is no etag.
    pub fn new(etag: Option<ETag>, concurrency: Concurrency) -> Condition {
        match (etag.filter(|e| !e.is_empty()), concurrency) {
            (Some(etag), _) => Condition::IfMatch(etag),
            (None, Concurrency::FirstWrite) => Condition::IfAbsent,
            (None, Concurrency::LastWrite) => Condition::Always,
        }
    }
}

/// A write that passed the rules.
#[derive(Clone, PartialEq, Eq)]
pub struct Write {
    /// The key.
    pub key: String,
    /// The value.
    pub value: Bytes,
    /// The content type (field or `contentType` metadata).
    pub content_type: Option<String>,
    /// When to apply it.
    pub condition: Condition,
    /// The ttl (field or `ttlInSeconds` metadata); `None` removes an expiry.
    pub ttl: Option<Ttl>,
}

impl fmt::Debug for Write {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Write")
            .field("key", &self.key)
            .field("value", &format_args!("<{} bytes>", self.value.len()))
            .field("content_type", &self.content_type)
            .field("condition", &self.condition)
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl Write {
    /// Seconds until expiry, or `None` when the write leaves no expiry.
    pub fn ttl_seconds(&self) -> Option<u32> {
        match self.ttl {
            Some(Ttl::Seconds(n)) => Some(n),
            _ => None,
        }
    }
}

/// A delete that passed the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delete {
    /// The key.
    pub key: String,
    /// When to apply it.
    pub condition: Condition,
}

/// A transaction operation that passed the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// An upsert.
    Write(Write),
    /// A delete.
    Delete(Delete),
}

impl Op {
    /// The key.
    pub fn key(&self) -> &str {
        match self {
            Op::Write(w) => &w.key,
            Op::Delete(d) => &d.key,
        }
    }

    /// The condition.
    pub fn condition(&self) -> &Condition {
        match self {
            Op::Write(w) => &w.condition,
            Op::Delete(d) => &d.condition,
        }
    }
}

/// The error of an operation whose condition did not hold on the server,
/// worded by its condition, with its key.
pub fn mismatch(op: &Op) -> Error {
    let error = match op.condition() {
        Condition::IfAbsent if matches!(op, Op::Delete(_)) => {
            Error::etag_mismatch("first-write delete without etag: the key exists")
        }
        Condition::IfAbsent => {
            Error::etag_mismatch("first-write without etag: the key already exists")
        }
        _ => Error::etag_mismatch("the etag is not the current one, or the key does not exist"),
    };
    error.with_key(op.key().to_owned())
}

/// Refuses text holding NUL (`\0`): SQL text columns cannot hold it
/// (PostgreSQL) or stop reading at it (SQLite's string functions), so no key
/// may contain it, and neither may a prefix or pattern meant to match keys.
pub fn no_nul(what: &str, text: &str) -> Result<()> {
    if text.contains('\0') {
        return Err(Error::invalid(format!(
            "the {what} holds a NUL character (\\0), which no key may hold"
        )));
    }
    Ok(())
}

/// A key must be non-empty and within the store's limit.
pub fn key(key: &str, limits: &Limits) -> Result<()> {
    if key.is_empty() {
        return Err(Error::invalid("the key is empty"));
    }
    no_nul("key", key).map_err(|e| e.with_key(key))?;
    if let Some(max) = limits.max_key_len
        && key.len() > max
    {
        return Err(Error::invalid(format!(
            "the key is {} bytes long; this store takes at most {max}",
            key.len()
        ))
        .with_key(key));
    }
    Ok(())
}

/// Checks a read.
pub fn get(req: &GetRequest, limits: &Limits) -> Result<()> {
    key(&req.key, limits)
}

fn meta<'a>(metadata: &'a Metadata, name: &str) -> Option<&'a str> {
    metadata
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The ttl of a write: the typed field, or Dapr's `ttlInSeconds` metadata.
pub fn ttl(field: Option<Ttl>, metadata: &Metadata) -> Result<Option<Ttl>> {
    let field = match field {
        Some(Ttl::Seconds(n)) => Ttl::from_seconds(i64::from(n))?,
        other => other,
    };
    // Like Dapr, an empty `ttlInSeconds` counts as not given.
    let Some(text) = meta(metadata, TTL_IN_SECONDS).filter(|t| !t.trim().is_empty()) else {
        return Ok(field);
    };
    let from_meta = Ttl::parse(text)?;
    match field {
        Some(f) if Some(f) != from_meta => Err(Error::invalid(format!(
            "ttl given twice with different values: {} and ttlInSeconds {text:?}",
            f.as_seconds()
        ))),
        _ => Ok(from_meta),
    }
}

/// Checks a write and resolves its condition, ttl and content type.
pub fn write(req: SetRequest, limits: &Limits) -> Result<Write> {
    key(&req.key, limits)?;
    let with_key = |e: Error| e.with_key(req.key.clone());
    if let Some(max) = limits.max_value_len
        && req.value.len() > max
    {
        return Err(with_key(Error::invalid(format!(
            "the value is {} bytes; this store takes at most {max}",
            req.value.len()
        ))));
    }
    let ttl = ttl(req.ttl, &req.metadata).map_err(with_key)?;
    let content_type = req
        .content_type
        .or_else(|| meta(&req.metadata, CONTENT_TYPE).map(str::to_owned))
        .filter(|c| !c.is_empty());
    Ok(Write {
        condition: Condition::new(req.etag, req.concurrency),
        key: req.key,
        value: req.value,
        content_type,
        ttl,
    })
}

/// Checks a delete and resolves its condition.
pub fn delete(req: DeleteRequest, limits: &Limits) -> Result<Delete> {
    key(&req.key, limits)?;
    Ok(Delete {
        condition: Condition::new(req.etag, req.concurrency),
        key: req.key,
    })
}

/// Checks a transaction: its size first (nothing is sent when it is too
/// large), then every operation. Errors name the operation's index and key.
pub fn transaction(req: TransactRequest, limits: &Limits) -> Result<Vec<Op>> {
    if let Some(max) = limits.max_transaction_ops
        && req.operations.len() > max
    {
        return Err(Error::invalid(format!(
            "the transaction has {} operations; this store takes at most {max}",
            req.operations.len()
        )));
    }
    req.operations
        .into_iter()
        .enumerate()
        .map(|(i, op)| {
            let key = op.key().to_owned();
            let checked = match op {
                TransactionOp::Set(r) => write(r, limits).map(Op::Write),
                TransactionOp::Delete(r) => delete(r, limits).map(Op::Delete),
            };
            checked.map_err(|e| {
                Error::invalid(format!("operation {i}: {}", e.message())).with_key(key)
            })
        })
        .collect()
}

/// Checks one part of a composite key (an app id, actor type, actor id or
/// state key): non-empty, without `||` (it would move the key elsewhere)
/// or NUL. `what` names the part in the error.
pub fn key_part(what: &str, text: &str) -> Result<()> {
    if text.is_empty() || text.contains(SEPARATOR) || text.contains('\0') {
        return Err(Error::invalid(format!(
            "the {what} {text:?} must be non-empty and hold neither {SEPARATOR:?} nor NUL"
        )));
    }
    Ok(())
}

/// Checks a delete-with-prefix prefix and returns it ending in `||`.
pub fn prefix(prefix: &str) -> Result<String> {
    no_nul("prefix", prefix)?;
    if prefix.is_empty() || prefix == SEPARATOR {
        return Err(Error::invalid(format!(
            "the prefix {prefix:?} would match every key; give a non-empty prefix"
        )));
    }
    if prefix.ends_with(SEPARATOR) {
        Ok(prefix.to_owned())
    } else {
        Ok(format!("{prefix}{SEPARATOR}"))
    }
}

/// The least text greater than every text starting with `prefix`, under
/// code point order: its last character that has a successor, raised by one
/// (what follows it dropped); `None` when every character is the last one.
pub fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(c) = chars.pop() {
        // The next scalar value; surrogates are not characters.
        let next = match c {
            '\u{d7ff}' => Some('\u{e000}'),
            c => char::from_u32(c as u32 + 1),
        };
        if let Some(n) = next {
            chars.push(n);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Whether `key` is a direct child of `prefix` (which ends in `||`).
pub fn is_direct_child(key: &str, prefix: &str) -> bool {
    key.strip_prefix(prefix)
        .is_some_and(|rest| !rest.contains(SEPARATOR))
}

/// Checks a keys-like request: a non-empty, well-formed pattern and a
/// positive page size.
pub fn keys_like(req: &KeysLikeRequest) -> Result<LikePattern> {
    if req.page_size == Some(0) {
        return Err(Error::invalid(
            "page size 0: give at least 1, or none for every key",
        ));
    }
    no_nul("pattern", &req.pattern)?;
    LikePattern::parse(&req.pattern)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends_bound_every_key_with_the_prefix() {
        assert_eq!(prefix_end("app||").as_deref(), Some("app|}"));
        assert_eq!(prefix_end("a\u{10ffff}").as_deref(), Some("b"));
        assert_eq!(prefix_end("a\u{d7ff}").as_deref(), Some("a\u{e000}"));
        assert_eq!(prefix_end("\u{10ffff}"), None);
        let end = prefix_end("é").unwrap();
        for key in ["é", "é\u{10ffff}", "éz||x"] {
            assert!(key >= "é" && key < end.as_str(), "{key:?}");
        }
        assert!("ê" >= end.as_str());
    }
    use crate::ErrorKind;

    fn limits() -> Limits {
        Limits {
            max_key_len: Some(8),
            max_transaction_ops: Some(2),
            max_value_len: Some(4),
            ..Limits::default()
        }
    }

    #[test]
    fn condition_table() {
        use Concurrency::*;
        let e = || Some(ETag::from("1"));
        assert_eq!(Condition::new(None, LastWrite), Condition::Always);
        assert_eq!(Condition::new(None, FirstWrite), Condition::IfAbsent);
        assert_eq!(
            Condition::new(e(), LastWrite),
            Condition::IfMatch("1".into())
        );
        assert_eq!(
            Condition::new(e(), FirstWrite),
            Condition::IfMatch("1".into())
        );
        assert_eq!(
            Condition::new(Some("".into()), LastWrite),
            Condition::Always
        );
        assert_eq!(
            Condition::new(Some("".into()), FirstWrite),
            Condition::IfAbsent
        );
    }

    #[test]
    fn keys() {
        assert_eq!(
            key("", &limits()).unwrap_err().kind(),
            ErrorKind::InvalidRequest
        );
        assert!(key("12345678", &limits()).is_ok());
        let e = key("123456789", &limits()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidRequest);
        assert!(e.message().contains("at most 8"));
        assert!(key(&"x".repeat(10_000), &Limits::default()).is_ok());
    }

    #[test]
    fn ttl_from_metadata_and_field() {
        let r = SetRequest::new("k", "v").metadata("ttlInSeconds", "10");
        assert_eq!(write(r, &limits()).unwrap().ttl, Some(Ttl::Seconds(10)));
        let r = SetRequest::new("k", "v").metadata("ttlInSeconds", "-1");
        assert_eq!(write(r, &limits()).unwrap().ttl, Some(Ttl::Never));
        let r = SetRequest::new("k", "v").metadata("ttlInSeconds", "0");
        assert_eq!(write(r, &limits()).unwrap().ttl, None);
        let r = SetRequest::new("k", "v").metadata("ttlInSeconds", "x");
        assert_eq!(
            write(r, &limits()).unwrap_err().kind(),
            ErrorKind::InvalidRequest
        );
        let r = SetRequest::new("k", "v")
            .ttl(Ttl::Seconds(5))
            .metadata("ttlInSeconds", "6");
        assert_eq!(
            write(r, &limits()).unwrap_err().kind(),
            ErrorKind::InvalidRequest
        );
        let r = SetRequest::new("k", "v").ttl(Ttl::Seconds(0));
        assert_eq!(write(r, &limits()).unwrap().ttl, None);
        let r = SetRequest::new("k", "v").ttl(Ttl::Seconds(u32::MAX));
        assert!(write(r, &limits()).is_err());
    }

    #[test]
    fn content_type_from_metadata() {
        let r = SetRequest::new("k", "v").metadata("contentType", "application/json");
        assert_eq!(
            write(r, &limits()).unwrap().content_type.as_deref(),
            Some("application/json")
        );
    }

    #[test]
    fn value_limit() {
        let r = SetRequest::new("k", "12345");
        let e = write(r, &limits()).unwrap_err();
        assert_eq!(e.key(), Some("k"));
    }

    #[test]
    fn transaction_size_and_op_errors() {
        let ops = vec![
            TransactionOp::Delete(DeleteRequest::new("a")),
            TransactionOp::Delete(DeleteRequest::new("b")),
            TransactionOp::Delete(DeleteRequest::new("c")),
        ];
        let e = transaction(TransactRequest::new(ops), &limits()).unwrap_err();
        assert!(e.message().contains("at most 2"), "{e}");
        let ops = vec![
            TransactionOp::Delete(DeleteRequest::new("a")),
            TransactionOp::Delete(DeleteRequest::new("")),
        ];
        let e = transaction(TransactRequest::new(ops), &limits()).unwrap_err();
        assert!(e.message().starts_with("operation 1"), "{e}");
        assert!(
            transaction(TransactRequest::default(), &limits())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn nul_is_refused() {
        assert_eq!(
            key("a\0b", &limits()).unwrap_err().kind(),
            ErrorKind::InvalidRequest
        );
        assert!(prefix("p\0").is_err());
        assert!(keys_like(&KeysLikeRequest::new("a\0%")).is_err());
    }

    #[test]
    fn prefixes() {
        assert!(prefix("").is_err());
        assert!(prefix("||").is_err());
        assert_eq!(prefix("a").unwrap(), "a||");
        assert_eq!(prefix("a||").unwrap(), "a||");
        assert!(is_direct_child("a||b", "a||"));
        assert!(!is_direct_child("a||b||c", "a||"));
        assert!(!is_direct_child("ab", "a||"));
        assert!(is_direct_child("a||", "a||"));
    }
}
