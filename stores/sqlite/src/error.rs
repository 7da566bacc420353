//! The one mapping from sqlx/SQLite errors to statestore error kinds.

use statestore_core::Error;

/// SQLite's primary result code of a database error (the low byte of the
/// extended code), 0 for any other error.
pub fn primary_code(e: &sqlx::Error) -> i64 {
    match e {
        sqlx::Error::Database(db) => {
            db.code().and_then(|c| c.parse::<i64>().ok()).unwrap_or(0) & 0xff
        }
        _ => 0,
    }
}

/// Whether another connection held a lock (BUSY or LOCKED): worth retrying.
pub fn is_busy(e: &sqlx::Error) -> bool {
    matches!(primary_code(e), 5 | 6)
}

/// Maps a driver error; the driver's error is kept as the source.
///
/// SQLite's primary result codes (the low byte of the extended code):
/// BUSY (5) and LOCKED (6) mean another connection held the lock for longer
/// than `busyTimeout`, which is worth retrying; CANTOPEN (14) and IOERR (10)
/// mean the file is unreachable.
pub fn map(e: sqlx::Error) -> Error {
    use sqlx::Error as E;
    let mapped = match &e {
        E::Database(_) => match primary_code(&e) {
            5 | 6 => {
                Error::timeout("the database is locked by another connection (see busyTimeout)")
            }
            10 => Error::unavailable("disk I/O error"),
            14 => Error::unavailable("the database file cannot be opened"),
            13 => Error::backend("the disk is full"),
            8 => Error::backend("the database is read-only"),
            11 | 26 => Error::backend("the file is corrupt or not a SQLite database"),
            _ => Error::backend("SQLite refused the statement"),
        },
        E::PoolTimedOut => Error::timeout("no connection became free within the timeout"),
        E::PoolClosed => Error::invalid("the store is closed"),
        E::Io(_) | E::WorkerCrashed => Error::unavailable("the database connection failed"),
        E::Configuration(_) => Error::config("invalid connection options"),
        _ => Error::backend("unexpected driver error"),
    };
    mapped.with_source(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Connection;
    use sqlx::sqlite::SqliteConnectOptions;
    use statestore_core::ErrorKind;
    use std::time::Duration;

    #[test]
    fn driver_errors() {
        let io = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "pipe");
        let table: Vec<(sqlx::Error, ErrorKind, bool)> = vec![
            (sqlx::Error::PoolTimedOut, ErrorKind::Timeout, true),
            (sqlx::Error::Io(io), ErrorKind::Unavailable, true),
            (sqlx::Error::WorkerCrashed, ErrorKind::Unavailable, true),
            (sqlx::Error::PoolClosed, ErrorKind::InvalidRequest, false),
            (
                sqlx::Error::Configuration("x".into()),
                ErrorKind::Config,
                false,
            ),
            (sqlx::Error::RowNotFound, ErrorKind::Backend, false),
            (sqlx::Error::Protocol("p".into()), ErrorKind::Backend, false),
        ];
        for (e, kind, retry) in table {
            let text = e.to_string();
            let m = map(e);
            assert_eq!(m.kind(), kind, "{text}");
            assert_eq!(m.is_retryable(), retry, "{text}");
            assert!(std::error::Error::source(&m).is_some());
        }
    }

    #[tokio::test]
    async fn database_errors() {
        let dir = tempfile::tempdir().unwrap();
        let opts = SqliteConnectOptions::new()
            .filename(dir.path().join("e.db"))
            .create_if_missing(true)
            .busy_timeout(Duration::ZERO);
        let mut a = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
        let mut b = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();

        let syntax = sqlx::query("SELEKT 1").execute(&mut a).await.unwrap_err();
        assert_eq!(map(syntax).kind(), ErrorKind::Backend);

        sqlx::query("CREATE TABLE t (x)")
            .execute(&mut a)
            .await
            .unwrap();
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut a)
            .await
            .unwrap();
        let busy = sqlx::query("INSERT INTO t VALUES (1)")
            .execute(&mut b)
            .await
            .unwrap_err();
        let m = map(busy);
        assert_eq!(m.kind(), ErrorKind::Timeout, "{m}");
        assert!(m.is_retryable());
    }
}
