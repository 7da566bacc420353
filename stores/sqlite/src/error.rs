//! The one mapping from sqlx/SQLite errors to statestore error kinds.

use statestore_core::Error;

/// SQLite's primary result code of a database error (the low byte of the
/// extended code), 0 when it has none.
pub fn primary_code(e: &dyn sqlx::error::DatabaseError) -> i64 {
    e.code().and_then(|c| c.parse::<i64>().ok()).unwrap_or(0) & 0xff
}

/// Whether another connection held a lock (BUSY or LOCKED): worth retrying.
pub fn is_busy(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if matches!(primary_code(db.as_ref()), 5 | 6))
}

/// What an SQLite error means, by its primary result code (the low byte of
/// the extended code): BUSY (5) and LOCKED (6) mean another connection held
/// the lock for longer than `busyTimeout`, which is worth retrying; CANTOPEN
/// (14) and IOERR (10) mean the file is unreachable.
pub fn kind_of(primary_code: i64) -> Error {
    match primary_code {
        5 | 6 => Error::timeout("the database is locked by another connection (see busyTimeout)"),
        10 => Error::unavailable("disk I/O error"),
        14 => Error::unavailable("the database file cannot be opened"),
        13 => Error::backend("the disk is full"),
        8 => Error::backend("the database is read-only"),
        11 | 26 => Error::backend("the file is corrupt or not a SQLite database"),
        _ => Error::backend("SQLite refused the statement"),
    }
}

/// Maps a driver error (the shared mapping with SQLite's codes); the
/// driver's error is kept as the source.
pub fn map(e: sqlx::Error) -> Error {
    statestore_sql::driver::map::<crate::core::SqliteDriver>(e)
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
