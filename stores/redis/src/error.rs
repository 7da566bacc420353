//! The one mapping from `redis` errors to statestore error kinds.

use redis::{ErrorKind as K, RedisError, ServerErrorKind as S};
use statestore_core::Error;

/// Maps a driver error; the driver's error is kept as the source.
///
/// Lost or refused connections, and the answers a cluster gives while it
/// moves slots or elects a new primary (MOVED and ASK after the driver's
/// retries, TRYAGAIN, CLUSTERDOWN, MASTERDOWN, READONLY, LOADING), are
/// `Unavailable` and worth retrying; I/O that timed out is `Timeout`.
pub fn map(e: RedisError) -> Error {
    // A MULTI/EXEC refused as a whole carries each command's error: the
    // first one says why (LOADING after a restart, MOVED after a failover).
    let inner = match e.kind() {
        K::Server(S::ExecAbort) => e
            .clone()
            .into_server_errors()
            .and_then(|errs| errs.first().and_then(|(_, se)| se.kind())),
        _ => None,
    };
    let kind = inner.map_or(e.kind(), K::Server);
    let mapped = if refused_login(&e) {
        Error::permission_denied("the server refused the credentials")
    } else if e.is_timeout() {
        Error::timeout(
            "the server did not answer in time (readTimeout; dialTimeout + readTimeout \
             while the connection is dialled again)",
        )
    } else {
        match kind {
            K::Io | K::ClusterConnectionNotFound => {
                Error::unavailable("the connection to the server failed")
            }
            K::AuthenticationFailed | K::Server(S::NoPerm) => {
                Error::permission_denied("the server refused the credentials or the command (ACL)")
            }
            K::InvalidClientConfig => Error::config("invalid connection settings"),
            K::Server(
                S::BusyLoading
                | S::TryAgain
                | S::ClusterDown
                | S::MasterDown
                | S::ReadOnly
                | S::Moved
                | S::Ask,
            ) => Error::unavailable("the server cannot serve the key now (failover or loading)"),
            _ => match e.code() {
                Some("NOAUTH" | "WRONGPASS") => {
                    Error::permission_denied("the server refused the credentials")
                }
                Some("WRONGTYPE") => {
                    Error::backend("the key holds another type of value, not written by this store")
                }
                Some("OOM") => Error::backend("the server is out of memory (maxmemory)"),
                _ => Error::backend("the server refused the command"),
            },
        }
    };
    mapped.with_source(e)
}

/// A cluster that refuses every initial connection reports one I/O error
/// whose detail is the text of a node's error: a refused login shows only
/// there.
fn refused_login(e: &RedisError) -> bool {
    e.kind() == K::Io
        && e.detail().is_some_and(|d| {
            ["AuthenticationFailed", "WRONGPASS", "NOAUTH", "NOPERM"]
                .iter()
                .any(|code| d.contains(code))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use statestore_core::ErrorKind;
    use std::io;

    #[test]
    fn driver_errors() {
        let io = |k| RedisError::from(io::Error::new(k, "x"));
        let kind = |k: K| RedisError::from((k, "x"));
        // A server's error reply as the driver parses it off the wire.
        let server = |reply: &str| -> RedisError {
            let wire = format!("-{reply}\r\n");
            match redis::parse_redis_value(wire.as_bytes()).unwrap() {
                redis::Value::ServerError(e) => e.into(),
                other => panic!("not an error reply: {other:?}"),
            }
        };
        let table: Vec<(RedisError, ErrorKind, bool)> = vec![
            (
                io(io::ErrorKind::ConnectionRefused),
                ErrorKind::Unavailable,
                true,
            ),
            (io(io::ErrorKind::BrokenPipe), ErrorKind::Unavailable, true),
            (io(io::ErrorKind::TimedOut), ErrorKind::Timeout, true),
            (kind(K::Io), ErrorKind::Unavailable, true),
            (
                kind(K::ClusterConnectionNotFound),
                ErrorKind::Unavailable,
                true,
            ),
            (
                kind(K::AuthenticationFailed),
                ErrorKind::PermissionDenied,
                false,
            ),
            (kind(K::InvalidClientConfig), ErrorKind::Config, false),
            (kind(K::Server(S::TryAgain)), ErrorKind::Unavailable, true),
            (
                kind(K::Server(S::ClusterDown)),
                ErrorKind::Unavailable,
                true,
            ),
            (kind(K::Server(S::MasterDown)), ErrorKind::Unavailable, true),
            (kind(K::Server(S::ReadOnly)), ErrorKind::Unavailable, true),
            (
                kind(K::Server(S::BusyLoading)),
                ErrorKind::Unavailable,
                true,
            ),
            (kind(K::Server(S::Moved)), ErrorKind::Unavailable, true),
            (
                kind(K::Server(S::NoPerm)),
                ErrorKind::PermissionDenied,
                false,
            ),
            (
                server("NOAUTH Authentication required."),
                ErrorKind::PermissionDenied,
                false,
            ),
            (
                server("WRONGPASS invalid username-password pair"),
                ErrorKind::PermissionDenied,
                false,
            ),
            (
                RedisError::from((
                    K::Io,
                    "Failed to create initial connections",
                    "Password authentication failed - AuthenticationFailed".to_owned(),
                )),
                ErrorKind::PermissionDenied,
                false,
            ),
            (
                RedisError::from((
                    K::Io,
                    "Failed to create initial connections",
                    "Connection refused (os error 111)".to_owned(),
                )),
                ErrorKind::Unavailable,
                true,
            ),
            (
                server("WRONGTYPE Operation against a key"),
                ErrorKind::Backend,
                false,
            ),
            (kind(K::Server(S::ResponseError)), ErrorKind::Backend, false),
            (kind(K::Server(S::NoScript)), ErrorKind::Backend, false),
            (kind(K::Parse), ErrorKind::Backend, false),
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
