//! One error type for every store and every operation (docs/contract.md,
//! *Errors*).
//!
//! An [`Error`] carries a coarse [`ErrorKind`] to act on, the store and the
//! [`Operation`] it comes from, the key when there is one, a message, and the
//! backend's own error as its `source`. It never carries value bytes or
//! secrets: stores put neither into messages.
//!
//! `Display` follows the Rust convention: it shows this error, not its
//! source, so a reporter that walks [`std::error::Error::source`] (anyhow,
//! eyre, tracing) prints the cause once. The alternate form (`{:#}`) appends
//! the whole chain of sources, for programs that print errors themselves.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, coarse enough to decide what to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The etag given does not match the current one, the key is missing, or
    /// a first-write found the key already there.
    ETagMismatch,
    /// The etag given cannot be one of this store's etags.
    ETagInvalid,
    /// The store does not offer this operation.
    NotSupported,
    /// The request itself is wrong (empty key, bad ttl, bad pattern, ...).
    InvalidRequest,
    /// Bad or missing component metadata.
    Config,
    /// The backend refused the credentials (wrong password, unknown user)
    /// or the user lacks a permission the operation needs: fix the secret or
    /// the grants, not the request or the rest of the configuration.
    PermissionDenied,
    /// The backend cannot be reached or the connection was lost. Retryable.
    Unavailable,
    /// The backend did not answer in time. Retryable.
    Timeout,
    /// Anything else the backend reported; the backend's error is the source.
    Backend,
    /// Some keys of a bulk call failed; [`Error::failures`] lists them.
    Bulk,
}

impl ErrorKind {
    /// Every kind, e.g. to read one back from [`as_str`](Self::as_str).
    pub const ALL: [ErrorKind; 10] = [
        ErrorKind::ETagMismatch,
        ErrorKind::ETagInvalid,
        ErrorKind::NotSupported,
        ErrorKind::InvalidRequest,
        ErrorKind::Config,
        ErrorKind::PermissionDenied,
        ErrorKind::Unavailable,
        ErrorKind::Timeout,
        ErrorKind::Backend,
        ErrorKind::Bulk,
    ];

    /// A short lower-case description, as used in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::ETagMismatch => "etag mismatch",
            ErrorKind::ETagInvalid => "invalid etag",
            ErrorKind::NotSupported => "not supported",
            ErrorKind::InvalidRequest => "invalid request",
            ErrorKind::Config => "configuration error",
            ErrorKind::PermissionDenied => "permission denied",
            ErrorKind::Unavailable => "backend unavailable",
            ErrorKind::Timeout => "timed out",
            ErrorKind::Backend => "backend error",
            ErrorKind::Bulk => "some keys failed",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The store operation an error comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// `init`
    Init,
    /// `get`
    Get,
    /// `set`
    Set,
    /// `delete`
    Delete,
    /// `bulk_get`
    BulkGet,
    /// `bulk_set`
    BulkSet,
    /// `bulk_delete`
    BulkDelete,
    /// `ping`
    Ping,
    /// `close`
    Close,
    /// `transact`
    Transact,
    /// `delete_with_prefix`
    DeleteWithPrefix,
    /// `keys_like`
    KeysLike,
    /// `query`
    Query,
    /// Purging expired entries (a store's own maintenance).
    Cleanup,
}

impl Operation {
    /// The operation's name as in the `Store` trait.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Init => "init",
            Operation::Get => "get",
            Operation::Set => "set",
            Operation::Delete => "delete",
            Operation::BulkGet => "bulk_get",
            Operation::BulkSet => "bulk_set",
            Operation::BulkDelete => "bulk_delete",
            Operation::Ping => "ping",
            Operation::Close => "close",
            Operation::Transact => "transact",
            Operation::DeleteWithPrefix => "delete_with_prefix",
            Operation::KeysLike => "keys_like",
            Operation::Query => "query",
            Operation::Cleanup => "cleanup",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type Source = Box<dyn StdError + Send + Sync + 'static>;

/// The error of every store operation.
///
/// Build one with a kind constructor ([`Error::etag_mismatch`],
/// [`Error::invalid`], ...) and add context with the `with_*` methods. Stores
/// call [`Error::context`] once per operation, so every error that reaches a
/// user names the store and the operation.
pub struct Error(Box<Inner>);

struct Inner {
    kind: ErrorKind,
    store: Option<Cow<'static, str>>,
    operation: Option<Operation>,
    key: Option<String>,
    message: Cow<'static, str>,
    source: Option<Source>,
    retryable: Option<bool>,
    failures: Vec<(String, Error)>,
}

impl Error {
    /// A new error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Error(Box::new(Inner {
            kind,
            store: None,
            operation: None,
            key: None,
            message: message.into(),
            source: None,
            retryable: None,
            failures: Vec::new(),
        }))
    }

    /// [`ErrorKind::ETagMismatch`].
    pub fn etag_mismatch(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::ETagMismatch, message)
    }

    /// [`ErrorKind::ETagInvalid`].
    pub fn etag_invalid(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::ETagInvalid, message)
    }

    /// [`ErrorKind::NotSupported`] for `operation`.
    pub fn not_supported(store: impl Into<Cow<'static, str>>, operation: Operation) -> Self {
        Self::new(
            ErrorKind::NotSupported,
            "this store does not offer this operation",
        )
        .context(store, operation)
    }

    /// [`ErrorKind::InvalidRequest`].
    pub fn invalid(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::InvalidRequest, message)
    }

    /// [`ErrorKind::Config`].
    pub fn config(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    /// [`ErrorKind::PermissionDenied`].
    pub fn permission_denied(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::PermissionDenied, message)
    }

    /// [`ErrorKind::Unavailable`].
    pub fn unavailable(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }

    /// [`ErrorKind::Timeout`].
    pub fn timeout(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Timeout, message)
    }

    /// [`ErrorKind::Backend`].
    pub fn backend(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Backend, message)
    }

    /// [`ErrorKind::Bulk`]: the listed keys failed, the others were applied.
    pub fn bulk(failures: Vec<(String, Error)>) -> Self {
        let mut e = Self::new(ErrorKind::Bulk, format!("{} key(s) failed", failures.len()));
        e.0.failures = failures;
        e
    }

    /// Keeps the backend's own error as the source.
    pub fn with_source(mut self, source: impl Into<Source>) -> Self {
        self.0.source = Some(source.into());
        self
    }

    /// A copy for each key of a call that failed as a whole (an error is
    /// not `Clone`): kind, message, retryability, and the source as text.
    pub fn copied(&self) -> Error {
        let copy =
            Error::new(self.kind(), self.message().to_owned()).with_retryable(self.is_retryable());
        match StdError::source(self) {
            Some(source) => copy.with_source(source.to_string()),
            None => copy,
        }
    }

    /// Names the key the error is about.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.0.key = Some(key.into());
        self
    }

    /// The error of a transaction whose operation `index` (0-based, in
    /// request order) failed, so nothing was applied: the same kind, key
    /// and source, the message saying which operation.
    pub fn in_transaction(mut self, index: usize) -> Self {
        self.0.message =
            format!("operation {index}: {}; nothing was applied", self.0.message).into();
        self
    }

    /// Overrides whether retrying may help (e.g. a deadlock reported as a
    /// [`ErrorKind::Backend`] error).
    pub fn with_retryable(mut self, retryable: bool) -> Self {
        self.0.retryable = Some(retryable);
        self
    }

    /// The same error with another message, made by `f` from the current
    /// one; kind, store, operation, key, retryability, source and bulk
    /// failures stay. For wrappers that add words (`actor turn of ...:
    /// {message}`) without repeating the store and kind.
    pub fn map_message(mut self, f: impl FnOnce(String) -> String) -> Self {
        let message = std::mem::take(&mut self.0.message).into_owned();
        self.0.message = f(message).into();
        self
    }

    /// The same error with the text of its source (and the source's
    /// sources) folded into the message, and the source dropped: for
    /// masking words in a cause that can only be read as text.
    pub fn fold_source(mut self) -> Self {
        if let Some(source) = self.0.source.take() {
            let causes = chain(source.as_ref());
            self.0.message = if self.0.message.is_empty() {
                causes.into()
            } else {
                format!("{}: {causes}", self.0.message).into()
            };
        }
        self
    }

    /// Fills in the store and operation where they are not set yet.
    pub fn context(mut self, store: impl Into<Cow<'static, str>>, operation: Operation) -> Self {
        if self.0.store.is_none() {
            self.0.store = Some(store.into());
        }
        if self.0.operation.is_none() {
            self.0.operation = Some(operation);
        }
        self
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The store type (e.g. `state.sqlite`), when known.
    pub fn store(&self) -> Option<&str> {
        self.0.store.as_deref()
    }

    /// The operation, when known.
    pub fn operation(&self) -> Option<Operation> {
        self.0.operation
    }

    /// The key the error is about, when there is one.
    pub fn key(&self) -> Option<&str> {
        self.0.key.as_deref()
    }

    /// The message, without store, operation, key or source.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// For [`ErrorKind::Bulk`]: each failed key with its own error.
    pub fn failures(&self) -> &[(String, Error)] {
        &self.0.failures
    }

    /// Whether the same call may succeed when tried again: true for
    /// `Unavailable` and `Timeout`, and for backend errors the store marked so.
    pub fn is_retryable(&self) -> bool {
        self.0.retryable.unwrap_or(matches!(
            self.0.kind,
            ErrorKind::Unavailable | ErrorKind::Timeout
        ))
    }
}

/// Keys are user data but not secret; long ones are cut so messages stay readable.
fn write_key(f: &mut fmt::Formatter<'_>, key: &str) -> fmt::Result {
    const MAX: usize = 120;
    if key.chars().count() <= MAX {
        write!(f, "{key:?}")
    } else {
        let cut: String = key.chars().take(MAX).collect();
        write!(f, "{cut:?}...")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.0;
        if let Some(store) = &e.store {
            write!(f, "{store}: ")?;
        }
        if let Some(op) = e.operation {
            write!(f, "{op}: ")?;
        }
        if let Some(key) = &e.key {
            f.write_str("key ")?;
            write_key(f, key)?;
            f.write_str(": ")?;
        }
        write!(f, "{}", e.kind)?;
        if !e.message.is_empty() {
            write!(f, ": {}", e.message)?;
        }
        if f.alternate()
            && let Some(source) = &e.source
        {
            write!(f, ": {}", chain(source.as_ref()))?;
        }
        for (key, err) in e.failures.iter().take(5) {
            f.write_str("; ")?;
            write_key(f, key)?;
            write!(f, ": {} ({})", err.kind(), err.message())?;
        }
        if e.failures.len() > 5 {
            write!(f, "; and {} more", e.failures.len() - 5)?;
        }
        Ok(())
    }
}

/// `error: its source: its source's source...`, each once. Some drivers
/// print their source in their own text as well (sqlx's database errors,
/// redis's I/O errors): a source whose text is already there is skipped.
fn chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(e) = next {
        let more = e.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        next = e.source();
    }
    text
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.0;
        let mut d = f.debug_struct("Error");
        d.field("kind", &e.kind)
            .field("store", &e.store)
            .field("operation", &e.operation)
            .field("key", &e.key)
            .field("message", &e.message);
        if let Some(source) = &e.source {
            d.field("source", &chain(source.as_ref()));
        }
        if !e.failures.is_empty() {
            d.field("failures", &e.failures);
        }
        d.finish()
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0
            .source
            .as_deref()
            .map(|s| s as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_store_operation_key_kind_and_source() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e = Error::unavailable("cannot connect")
            .with_key("a||b")
            .with_source(io)
            .context("state.sqlite", Operation::Get);
        assert_eq!(
            format!("{e:#}"),
            "state.sqlite: get: key \"a||b\": backend unavailable: cannot connect: refused"
        );
        assert!(e.is_retryable());
        assert!(e.source().is_some());
    }

    /// An error that prints its source in its own text, as sqlx does.
    #[derive(Debug)]
    struct Echo(std::io::Error);

    impl fmt::Display for Echo {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "failed: {}", self.0)
        }
    }

    impl StdError for Echo {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn display_leaves_the_source_to_source() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e = Error::unavailable("cannot connect")
            .with_source(io)
            .context("state.redis", Operation::Ping);
        assert_eq!(
            e.to_string(),
            "state.redis: ping: backend unavailable: cannot connect"
        );
        assert_eq!(e.source().unwrap().to_string(), "refused");
        // A driver that prints its source itself: the source is not repeated.
        let io = std::io::Error::other("refused");
        let echo = Error::unavailable("cannot connect").with_source(Echo(io));
        assert_eq!(
            format!("{echo:#}"),
            "backend unavailable: cannot connect: failed: refused"
        );
        // Nested statestore errors: every cause once, in order.
        let outer = Error::backend("outer").with_source(e);
        assert_eq!(
            format!("{outer:#}"),
            "backend error: outer: state.redis: ping: backend unavailable: cannot connect: refused"
        );
    }

    #[test]
    fn map_message_keeps_everything_else() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "refused");
        let e = Error::permission_denied("login failed")
            .with_key("k")
            .with_source(io)
            .with_retryable(true)
            .context("state.postgresql", Operation::Init)
            .map_message(|m| format!("component x: {m}"));
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        assert_eq!(e.store(), Some("state.postgresql"));
        assert_eq!(e.operation(), Some(Operation::Init));
        assert_eq!(e.key(), Some("k"));
        assert!(e.is_retryable());
        assert_eq!(
            e.source().map(|s| s.to_string()).as_deref(),
            Some("refused")
        );
        assert_eq!(e.message(), "component x: login failed");
    }

    #[test]
    fn fold_source_turns_the_cause_into_text() {
        let io = std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "password s3cret refused",
        );
        let e = Error::permission_denied("login failed")
            .with_source(io)
            .with_retryable(true)
            .context("state.postgresql", Operation::Init)
            .fold_source()
            .map_message(|m| m.replace("s3cret", "***"));
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        assert_eq!(e.store(), Some("state.postgresql"));
        assert!(e.is_retryable());
        assert!(e.source().is_none());
        assert_eq!(e.message(), "login failed: password *** refused");
    }

    #[test]
    fn context_does_not_overwrite() {
        let e = Error::invalid("x")
            .context("inner", Operation::Set)
            .context("outer", Operation::Transact);
        assert_eq!(e.store(), Some("inner"));
        assert_eq!(e.operation(), Some(Operation::Set));
    }

    #[test]
    fn retryable_defaults_and_override() {
        assert!(Error::timeout("t").is_retryable());
        assert!(!Error::backend("b").is_retryable());
        assert!(
            Error::backend("deadlock")
                .with_retryable(true)
                .is_retryable()
        );
        assert!(!Error::etag_mismatch("m").is_retryable());
    }

    #[test]
    fn long_keys_are_cut_in_messages() {
        let key = "k".repeat(1000);
        let text = Error::invalid("too long").with_key(key).to_string();
        assert!(text.len() < 300, "{text}");
    }

    #[test]
    fn bulk_lists_failures() {
        let e = Error::bulk(vec![
            ("a".into(), Error::etag_mismatch("stale")),
            ("b".into(), Error::invalid("empty")),
        ]);
        assert_eq!(e.failures().len(), 2);
        assert!(e.to_string().contains("\"a\": etag mismatch (stale)"));
    }
}
