//! What SQLite's result codes mean; the rest of the mapping is shared by
//! every SQL store (`statestore_sql::driver::map`, called as `core::map`).

use statestore_core::Error;

/// SQLite's extended result code of a database error, 0 when it has none.
pub fn code(e: &dyn sqlx::error::DatabaseError) -> i64 {
    e.code().and_then(|c| c.parse::<i64>().ok()).unwrap_or(0)
}

/// Whether another connection held a lock (BUSY or LOCKED): worth retrying.
pub fn is_busy(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if matches!(code(db.as_ref()) & 0xff, 5 | 6))
}

/// Whether SQLite could not open or create the database file (CANTOPEN).
pub fn is_cant_open(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if code(db.as_ref()) & 0xff == 14)
}

/// What an SQLite error means, by its extended result code (its low byte
/// is the primary code): BUSY (5) and LOCKED (6) mean another connection
/// held the lock for longer than `busyTimeout`, which is worth retrying;
/// CANTOPEN (14) and IOERR (10) mean the file is unreachable; a write
/// refused because the file or its directory is read-only to this process
/// (READONLY, READONLY_DIRECTORY), PERM and AUTH are permissions. The other
/// READONLY codes (a database moved while open, a hot journal it cannot
/// roll back) are not about permissions.
pub fn kind_of(code: i64) -> Error {
    match code {
        8 | 1544 => Error::permission_denied(
            "the database file or its directory is read-only to this process",
        ),
        _ => match code & 0xff {
            5 | 6 => {
                Error::timeout("the database is locked by another connection (see busyTimeout)")
            }
            10 => Error::unavailable("disk I/O error"),
            14 => Error::unavailable("the database file cannot be opened"),
            13 => Error::backend("the disk is full"),
            3 | 23 => Error::permission_denied("access to the database was refused"),
            8 => Error::backend(
                "the database cannot be written now (moved, or a journal it cannot roll back)",
            ),
            11 | 26 => Error::backend("the file is corrupt or not a SQLite database"),
            _ => Error::backend("SQLite refused the statement"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Connection;
    use sqlx::sqlite::SqliteConnectOptions;
    use statestore_core::ErrorKind;
    use std::time::Duration;

    #[test]
    fn result_codes() {
        let table = [
            (5, ErrorKind::Timeout, true),
            (6, ErrorKind::Timeout, true),
            (10, ErrorKind::Unavailable, true),
            (14, ErrorKind::Unavailable, true),
            (3, ErrorKind::PermissionDenied, false),
            (8, ErrorKind::PermissionDenied, false),
            (1544, ErrorKind::PermissionDenied, false),
            (1032, ErrorKind::Backend, false),
            (264, ErrorKind::Backend, false),
            (23, ErrorKind::PermissionDenied, false),
            (517, ErrorKind::Timeout, true),
            (1038, ErrorKind::Unavailable, true),
            (13, ErrorKind::Backend, false),
            (11, ErrorKind::Backend, false),
            (1, ErrorKind::Backend, false),
        ];
        for (code, kind, retry) in table {
            let e = kind_of(code);
            assert_eq!(e.kind(), kind, "{code}");
            assert_eq!(e.is_retryable(), retry, "{code}");
        }
    }

    /// What a real database error means.
    fn classify(e: &sqlx::Error) -> Error {
        match e {
            sqlx::Error::Database(db) => kind_of(code(db.as_ref())),
            other => panic!("not a database error: {other}"),
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
        assert_eq!(classify(&syntax).kind(), ErrorKind::Backend);

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
        let m = classify(&busy);
        assert!(is_busy(&busy));
        assert_eq!(m.kind(), ErrorKind::Timeout, "{m}");
        assert!(m.is_retryable());
    }
}
