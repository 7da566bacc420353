//! Errors across the socket, both ways. daprd reads only the gRPC code and,
//! for etags, one BadRequest violation on the field `etag`; the exact kind
//! travels beside them in an ErrorInfo of domain [`DOMAIN`] (none on etag
//! errors: daprd wants one detail), the key in the trailer [`KEY`], and the
//! outcome of each item of a failed bulk write in the trailer [`OUTCOMES`]
//! (docs/pluggable.md, *How the contract travels*).

use serde_json::{Value, json};
use statestore_core::{ETag, Error, ErrorKind};
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Status};
use tonic_types::{BadRequest, ErrorDetail, ErrorInfo, StatusExt};

/// The ErrorInfo domain of this crate's servers.
pub const DOMAIN: &str = "statestore";

/// Trailer of a failed bulk write: one outcome per item, as JSON; a call
/// that succeeds carries them in its answer's field `statestore_outcomes`.
pub const OUTCOMES: &str = "statestore-outcomes-bin";

/// Trailer naming the key an error is about.
pub const KEY: &str = "statestore-key-bin";

/// The field daprd expects the one violation of an etag error on.
const ETAG_FIELD: &str = "etag";

fn kind_named(name: &str) -> Option<ErrorKind> {
    ErrorKind::ALL.into_iter().find(|k| k.as_str() == name)
}

fn code_of(kind: ErrorKind) -> Code {
    match kind {
        ErrorKind::ETagMismatch => Code::FailedPrecondition,
        ErrorKind::ETagInvalid | ErrorKind::InvalidRequest | ErrorKind::Config => {
            Code::InvalidArgument
        }
        ErrorKind::NotSupported => Code::Unimplemented,
        ErrorKind::PermissionDenied => Code::PermissionDenied,
        ErrorKind::Unavailable => Code::Unavailable,
        ErrorKind::Timeout => Code::DeadlineExceeded,
        ErrorKind::Backend | ErrorKind::Bulk => Code::Internal,
        _ => Code::Unknown,
    }
}

/// Longest error message sent: gRPC clients take 8 KiB (grpcio) to 16 MiB
/// (Go) of headers and trailers, where the message and details travel.
const MAX_TEXT: usize = 2048;

/// Longest key sent in the [`KEY`] trailer.
const MAX_KEY: usize = 1024;

/// Longest [`OUTCOMES`] trailer; a longer one is left out, and the client
/// then fails the whole call.
const MAX_OUTCOMES: usize = 4 << 20;

/// `text` cut to at most `max` bytes at a character boundary, marked.
pub(crate) fn cut(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut end = max.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// The error as daprd expects it, with a failed bulk write's outcomes.
pub fn status_with(e: &Error, outcomes: Option<Vec<u8>>) -> Status {
    let message = cut(format!("{e:#}"), MAX_TEXT);
    let details = match e.kind() {
        // Exactly one detail, or daprd does not see an etag error.
        ErrorKind::ETagMismatch | ErrorKind::ETagInvalid => {
            vec![ErrorDetail::from(BadRequest::with_violation(
                ETAG_FIELD,
                message.clone(),
            ))]
        }
        kind => {
            let meta = std::collections::HashMap::from([
                ("kind".to_owned(), kind.as_str().to_owned()),
                ("retryable".to_owned(), e.is_retryable().to_string()),
            ]);
            let reason = format!("STATESTORE_{}", kind.as_str().replace(' ', "_")).to_uppercase();
            vec![ErrorDetail::from(ErrorInfo::new(reason, DOMAIN, meta))]
        }
    };
    let mut trailers = MetadataMap::new();
    if let Some(key) = e.key().filter(|k| k.len() <= MAX_KEY) {
        trailers.insert_bin(KEY, MetadataValue::from_bytes(key.as_bytes()));
    }
    if let Some(list) = outcomes.filter(|l| l.len() <= MAX_OUTCOMES) {
        trailers.insert_bin(OUTCOMES, MetadataValue::from_bytes(&list));
    }
    Status::with_error_details_vec_and_metadata(code_of(e.kind()), message, details, trailers)
}

/// The error as daprd expects it.
pub fn status(e: &Error) -> Status {
    status_with(e, None)
}

/// Whether the status is daprd's etag error: one detail, a BadRequest with
/// one violation, on `etag`.
fn is_etag_error(s: &Status) -> bool {
    match s.check_error_details_vec().as_deref() {
        Ok([ErrorDetail::BadRequest(b)]) => {
            matches!(b.field_violations.as_slice(), [v] if v.field == ETAG_FIELD)
        }
        _ => false,
    }
}

/// The contract's error for a status from any component: the exact kind
/// when a statestore server sent it, else the kind daprd would read.
pub fn error(s: &Status) -> Error {
    let info = s.get_details_error_info().filter(|i| i.domain == DOMAIN);
    let exact = info
        .as_ref()
        .and_then(|i| i.metadata.get("kind"))
        .and_then(|k| kind_named(k));
    let kind = exact.unwrap_or_else(|| match s.code() {
        Code::FailedPrecondition if is_etag_error(s) => ErrorKind::ETagMismatch,
        Code::InvalidArgument if is_etag_error(s) => ErrorKind::ETagInvalid,
        Code::InvalidArgument | Code::OutOfRange => ErrorKind::InvalidRequest,
        Code::Unimplemented => ErrorKind::NotSupported,
        Code::PermissionDenied | Code::Unauthenticated => ErrorKind::PermissionDenied,
        Code::Unavailable => ErrorKind::Unavailable,
        Code::DeadlineExceeded => ErrorKind::Timeout,
        _ => ErrorKind::Backend,
    });
    let mut message = s.message().to_owned();
    if exact.is_none() {
        message = format!("{message} (gRPC {:?})", s.code());
    }
    let mut e = Error::new(kind, message);
    if let Some(key) = s
        .metadata()
        .get_bin(KEY)
        .and_then(|v| v.to_bytes().ok())
        .and_then(|b| String::from_utf8(b.to_vec()).ok())
    {
        e = e.with_key(key);
    }
    match info.as_ref().and_then(|i| i.metadata.get("retryable")) {
        Some(r) => e.with_retryable(r == "true"),
        None => e,
    }
}

/// One item's outcome: its new etag (if any), or its error.
pub type Outcome = Result<Option<ETag>, Error>;

/// The outcomes as JSON: `[{"etag": ..}, {"kind": .., "message": ..}]`.
pub fn outcomes<'a>(items: impl IntoIterator<Item = &'a Outcome>) -> Vec<u8> {
    let list: Vec<Value> = items
        .into_iter()
        .map(|o| match o {
            Ok(etag) => json!({ "etag": etag.as_ref().map(ETag::as_str) }),
            Err(e) => json!({ "kind": e.kind().as_str(), "message": cut(format!("{e:#}"), 256) }),
        })
        .collect();
    Value::Array(list).to_string().into_bytes()
}

/// The outcomes of [`outcomes`], when there is one per item.
pub fn read_outcomes(bytes: &[u8], items: usize) -> Option<Vec<Outcome>> {
    let list: Vec<Value> = serde_json::from_slice(bytes).ok()?;
    if list.len() != items {
        return None;
    }
    list.into_iter()
        .map(|v| match v.get("kind").and_then(Value::as_str) {
            Some(kind) => {
                let message = v.get("message").and_then(Value::as_str).unwrap_or("");
                Some(Err(Error::new(kind_named(kind)?, message.to_owned())))
            }
            None => match v.get("etag")? {
                Value::Null => Some(Ok(None)),
                Value::String(s) => Some(Ok(Some(ETag::from(s.as_str())))),
                _ => None,
            },
        })
        .collect()
}

/// The outcomes a failed bulk write's trailers hold.
pub fn trailer_outcomes(s: &Status, items: usize) -> Option<Vec<Outcome>> {
    let bytes = s.metadata().get_bin(OUTCOMES)?.to_bytes().ok()?;
    read_outcomes(&bytes, items)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each kind goes out with daprd's code and comes back as itself.
    #[test]
    fn every_kind_travels() {
        let table = [
            (ErrorKind::ETagMismatch, Code::FailedPrecondition),
            (ErrorKind::ETagInvalid, Code::InvalidArgument),
            (ErrorKind::NotSupported, Code::Unimplemented),
            (ErrorKind::InvalidRequest, Code::InvalidArgument),
            (ErrorKind::Config, Code::InvalidArgument),
            (ErrorKind::PermissionDenied, Code::PermissionDenied),
            (ErrorKind::Unavailable, Code::Unavailable),
            (ErrorKind::Timeout, Code::DeadlineExceeded),
            (ErrorKind::Backend, Code::Internal),
            (ErrorKind::Bulk, Code::Internal),
        ];
        assert_eq!(table.len(), ErrorKind::ALL.len());
        for (kind, code) in table {
            let s = status(&Error::new(kind, "why").with_key("k"));
            assert_eq!(s.code(), code, "{kind}");
            let back = error(&s);
            assert_eq!(back.kind(), kind);
            assert!(back.message().contains("why"), "{back}");
        }
    }

    /// daprd's rule: an etag error has exactly one detail, a BadRequest
    /// with one violation on `etag`.
    #[test]
    fn etag_errors_carry_one_violation_on_etag() {
        for kind in [ErrorKind::ETagMismatch, ErrorKind::ETagInvalid] {
            let s = status(&Error::new(kind, "stale"));
            let details = s.check_error_details_vec().unwrap();
            assert_eq!(details.len(), 1);
            let ErrorDetail::BadRequest(b) = &details[0] else {
                panic!("{details:?}")
            };
            assert_eq!(b.field_violations.len(), 1);
            assert_eq!(b.field_violations[0].field, "etag");
            assert!(b.field_violations[0].description.contains("stale"));
        }
    }

    /// A foreign component's status is read by its code, as daprd reads it.
    #[test]
    fn foreign_statuses_map_by_code() {
        let etag = |code| {
            Status::with_error_details_vec(
                code,
                "x",
                [ErrorDetail::from(BadRequest::with_violation("etag", "x"))],
            )
        };
        let table = [
            (etag(Code::FailedPrecondition), ErrorKind::ETagMismatch),
            (etag(Code::InvalidArgument), ErrorKind::ETagInvalid),
            (Status::failed_precondition("x"), ErrorKind::Backend),
            (Status::invalid_argument("x"), ErrorKind::InvalidRequest),
            (Status::unimplemented("x"), ErrorKind::NotSupported),
            (Status::unauthenticated("x"), ErrorKind::PermissionDenied),
            (Status::unavailable("x"), ErrorKind::Unavailable),
            (Status::deadline_exceeded("x"), ErrorKind::Timeout),
            (Status::internal("x"), ErrorKind::Backend),
            (Status::unknown("x"), ErrorKind::Backend),
        ];
        for (s, kind) in table {
            let e = error(&s);
            assert_eq!(e.kind(), kind, "{s:?}");
            assert!(e.message().contains(&format!("{:?}", s.code())), "{e}");
        }
        // Two violations, or one on another field, are no etag error.
        let two = Status::with_error_details_vec(
            Code::FailedPrecondition,
            "x",
            [ErrorDetail::from(BadRequest::new(vec![
                tonic_types::FieldViolation::new("etag", "a"),
                tonic_types::FieldViolation::new("etag", "b"),
            ]))],
        );
        assert_eq!(error(&two).kind(), ErrorKind::Backend);
    }

    #[test]
    fn outcomes_travel() {
        let items: Vec<Outcome> = vec![
            Ok(Some(ETag::from("e1"))),
            Ok(None),
            Err(Error::etag_mismatch("stale")),
        ];
        let back = read_outcomes(&outcomes(&items), 3).unwrap();
        assert_eq!(back[0].as_ref().unwrap().as_ref().unwrap().as_str(), "e1");
        assert!(back[1].as_ref().unwrap().is_none());
        assert_eq!(
            back[2].as_ref().unwrap_err().kind(),
            ErrorKind::ETagMismatch
        );
        assert!(read_outcomes(&outcomes(&items), 2).is_none());
        assert!(read_outcomes(b"", 0).is_none());
        // Long texts are cut, keys over 1 KiB are not sent.
        let long = status(&Error::backend("x".repeat(100_000)).with_key("k".repeat(2000)));
        assert!(long.message().len() <= 2048, "{}", long.message().len());
        assert_eq!(error(&long).key(), None);
        assert_eq!(cut("\u{e9}\u{e9}\u{e9}".to_owned(), 5), "\u{e9}...");
        let s = status_with(
            &Error::etag_mismatch("x").with_key("k\u{e9}"),
            Some(outcomes(&items)),
        );
        assert_eq!(trailer_outcomes(&s, 3).unwrap().len(), 3);
        assert_eq!(error(&s).key(), Some("k\u{e9}"));
    }
}
