//! What PostgreSQL's error codes (SQLSTATE) mean; the rest of the mapping
//! is shared by every SQL store (`statestore_sql::driver::map`).

use statestore_core::Error;

/// The error for a SQLSTATE code.
pub fn kind_of(code: &str) -> Error {
    match code {
        "40001" | "40P01" => Error::backend(
            "the transaction was cancelled by a concurrent one (serialization failure or deadlock)",
        )
        .with_retryable(true),
        "57014" => Error::timeout("the statement was cancelled (statement_timeout)"),
        "55P03" => Error::timeout("a lock was not available in time"),
        "57P01" | "57P02" | "57P03" => {
            Error::unavailable("the server is shutting down or starting up")
        }
        "57P05" | "25P03" => Error::unavailable("the server closed an idle connection"),
        "25006" => Error::unavailable("the server is read-only (a standby)"),
        "22001" | "22021" | "54000" => {
            Error::invalid("the database refused the data (too long or invalid bytes)")
        }
        "28000" | "28P01" => Error::permission_denied("the server refused the credentials"),
        "3D000" => Error::config("the database does not exist"),
        "42501" => Error::permission_denied("the user lacks a privilege the store needs"),
        "42P01" => Error::backend("the state table is missing (dropped after init?)"),
        c if c.starts_with("08") => Error::unavailable("the database connection failed"),
        c if c.starts_with("53") => {
            Error::unavailable("the server lacks resources (too many connections, disk or memory)")
        }
        _ => Error::backend("PostgreSQL refused the statement"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use statestore_core::ErrorKind;

    #[test]
    fn sqlstates() {
        let table = [
            ("40001", ErrorKind::Backend, true),
            ("40P01", ErrorKind::Backend, true),
            ("57014", ErrorKind::Timeout, true),
            ("55P03", ErrorKind::Timeout, true),
            ("57P01", ErrorKind::Unavailable, true),
            ("57P03", ErrorKind::Unavailable, true),
            ("57P05", ErrorKind::Unavailable, true),
            ("08006", ErrorKind::Unavailable, true),
            ("53300", ErrorKind::Unavailable, true),
            ("25006", ErrorKind::Unavailable, true),
            ("22021", ErrorKind::InvalidRequest, false),
            ("54000", ErrorKind::InvalidRequest, false),
            ("28P01", ErrorKind::PermissionDenied, false),
            ("28000", ErrorKind::PermissionDenied, false),
            ("42501", ErrorKind::PermissionDenied, false),
            ("3D000", ErrorKind::Config, false),
            ("42P01", ErrorKind::Backend, false),
            ("42601", ErrorKind::Backend, false),
        ];
        for (code, kind, retry) in table {
            let e = kind_of(code);
            assert_eq!(e.kind(), kind, "{code}");
            assert_eq!(e.is_retryable(), retry, "{code}");
        }
    }
}
