//! The one mapping from MongoDB errors to statestore error kinds: the
//! driver's error kinds, and the server's error codes.

use mongodb::error::{
    Error as MongoError, ErrorKind as K, TRANSIENT_TRANSACTION_ERROR, WriteFailure,
};
use statestore_core::{Error, ErrorKind};

/// The server's code for a duplicate `_id`: a first-write found the key.
pub const DUPLICATE_KEY: i32 = 11000;
/// The server's code for a failed conversion: the guard of a conditional
/// write (`core::MISMATCH`) that matched nothing.
pub const CONVERSION_FAILURE: i32 = 241;

/// What a server error code means; `None` for codes without a meaning of
/// their own (they are `Backend`).
pub fn kind_of(code: i32) -> Option<Error> {
    Some(match code {
        18 | 13 | 31 | 33 => Error::permission_denied(
            "the server refused the credentials or the user lacks a privilege",
        ),
        50 | 262 => Error::timeout("the server did not finish in time (operationTimeout)"),
        // Write conflicts and aborted transactions: another transaction won.
        112 | 251 | 256 | 24 => {
            Error::backend("a concurrent transaction conflicted").with_retryable(true)
        }
        // Elections, shutdowns, unreachable members.
        6 | 7 | 89 | 91 | 189 | 9001 | 10107 | 11600 | 11602 | 13435 | 13436 => {
            Error::unavailable("the server is not available (election, shutdown or network)")
        }
        10334 | 17419 | 17420 => {
            Error::invalid("the document is too large for MongoDB (16 MiB with its metadata)")
        }
        // UnsatisfiableWriteConcern: more members than the set has.
        100 => {
            Error::config("the deployment cannot satisfy the write concern (property writeConcern)")
        }
        20 => Error::new(
            ErrorKind::NotSupported,
            "the deployment does not support this operation",
        ),
        _ => return None,
    })
}

/// The code of a write error, command error or write concern error.
pub fn code(e: &MongoError) -> Option<i32> {
    match e.kind.as_ref() {
        K::Command(c) => Some(c.code),
        K::Write(WriteFailure::WriteError(w)) => Some(w.code),
        K::Write(WriteFailure::WriteConcernError(w)) => Some(w.code),
        _ => None,
    }
}

/// The driver's error, shown by its kind alone: the driver's own text adds
/// the server's whole reply as hex. [`DriverError::inner`] is the error.
#[derive(Debug)]
pub struct DriverError(MongoError);

impl DriverError {
    /// The driver's error.
    pub fn inner(&self) -> &MongoError {
        &self.0
    }
}

impl std::fmt::Display for DriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.kind)
    }
}

impl std::error::Error for DriverError {}

/// Maps a driver error; the driver's error is kept as the source.
pub fn map(e: MongoError) -> Error {
    let mapped = match e.kind.as_ref() {
        K::Authentication { .. } => Error::permission_denied("the server refused the credentials"),
        K::ServerSelection { .. } | K::ConnectionPoolCleared { .. } | K::DnsResolve { .. } => {
            Error::unavailable("no server could be reached within operationTimeout")
        }
        K::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
            Error::timeout("the server did not answer in time")
        }
        K::Io(_) => Error::unavailable("the connection to the server failed"),
        K::InvalidArgument { .. } | K::InvalidTlsConfig { .. } => {
            Error::config("invalid connection settings")
        }
        K::Shutdown => Error::invalid("the store is closed"),
        K::SessionsNotSupported | K::IncompatibleServer { .. } => Error::new(
            ErrorKind::NotSupported,
            "the server lacks a feature this call needs",
        ),
        _ => code(&e)
            .and_then(kind_of)
            .unwrap_or_else(|| Error::backend("MongoDB refused the call")),
    };
    let mapped = if e.contains_label(TRANSIENT_TRANSACTION_ERROR) {
        mapped.with_retryable(true)
    } else {
        mapped
    };
    mapped.with_source(DriverError(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_codes() {
        let table = [
            (18, ErrorKind::PermissionDenied, false),
            (13, ErrorKind::PermissionDenied, false),
            (50, ErrorKind::Timeout, true),
            (112, ErrorKind::Backend, true),
            (251, ErrorKind::Backend, true),
            (91, ErrorKind::Unavailable, true),
            (10107, ErrorKind::Unavailable, true),
            (11602, ErrorKind::Unavailable, true),
            (10334, ErrorKind::InvalidRequest, false),
            (20, ErrorKind::NotSupported, false),
            (100, ErrorKind::Config, false),
        ];
        for (code, kind, retry) in table {
            let e = kind_of(code).expect("a meaning");
            assert_eq!(e.kind(), kind, "{code}");
            assert_eq!(e.is_retryable(), retry, "{code}");
        }
        assert!(kind_of(DUPLICATE_KEY).is_none());
        assert!(kind_of(2).is_none());
    }

    #[test]
    fn driver_errors() {
        let io = |k| MongoError::from(std::io::Error::new(k, "x"));
        let table: Vec<(MongoError, ErrorKind, bool)> = vec![
            (
                io(std::io::ErrorKind::ConnectionRefused),
                ErrorKind::Unavailable,
                true,
            ),
            (io(std::io::ErrorKind::TimedOut), ErrorKind::Timeout, true),
            (MongoError::custom("x"), ErrorKind::Backend, false),
        ];
        for (e, kind, retry) in table {
            let text = e.to_string();
            let m = map(e);
            assert_eq!(m.kind(), kind, "{text}");
            assert_eq!(m.is_retryable(), retry, "{text}");
            assert!(std::error::Error::source(&m).is_some());
        }
    }
}
