//! What MySQL's and MariaDB's error numbers mean; the rest of the mapping
//! is shared by every SQL store (`statestore_sql::driver::map`).

use statestore_core::Error;

/// The error for a server error number.
pub fn kind_of(number: u16) -> Error {
    match number {
        1213 => {
            Error::backend("the transaction was chosen as a deadlock victim").with_retryable(true)
        }
        1205 => Error::timeout("a row lock was not available in time (innodb_lock_wait_timeout)"),
        1969 | 3024 => Error::timeout("the statement ran past the server's time limit"),
        1040 | 1053 | 1927 | 1317 | 4031 | 2002 | 2003 | 2006 | 2013 => {
            Error::unavailable("the server is unreachable, shutting down or closed the connection")
        }
        1290 | 1836 => Error::unavailable("the server is read-only"),
        // Refused logins and privileges, locked accounts (3118, 4151) and
        // expired passwords (1820, 1862).
        1044 | 1045 | 1142 | 1143 | 1227 | 1698 | 3118 | 4151 | 1820 | 1862 => {
            Error::permission_denied("the server refused the user or a privilege the store needs")
        }
        1049 => Error::config("the database does not exist"),
        1406 | 1366 | 1153 | 1118 | 3140 | 4038 => {
            Error::invalid("the database refused the data (too long, too large or invalid)")
        }
        1146 => Error::backend("the state table is missing (dropped after init?)"),
        _ => Error::backend("MySQL refused the statement"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use statestore_core::ErrorKind;

    #[test]
    fn error_numbers() {
        let table = [
            (1213, ErrorKind::Backend, true),
            (1205, ErrorKind::Timeout, true),
            (1969, ErrorKind::Timeout, true),
            (2013, ErrorKind::Unavailable, true),
            (1927, ErrorKind::Unavailable, true),
            (4031, ErrorKind::Unavailable, true),
            (1053, ErrorKind::Unavailable, true),
            (1290, ErrorKind::Unavailable, true),
            (1045, ErrorKind::PermissionDenied, false),
            (1044, ErrorKind::PermissionDenied, false),
            (1142, ErrorKind::PermissionDenied, false),
            (1698, ErrorKind::PermissionDenied, false),
            (4151, ErrorKind::PermissionDenied, false),
            (3118, ErrorKind::PermissionDenied, false),
            (1820, ErrorKind::PermissionDenied, false),
            (1862, ErrorKind::PermissionDenied, false),
            (1049, ErrorKind::Config, false),
            (1406, ErrorKind::InvalidRequest, false),
            (1153, ErrorKind::InvalidRequest, false),
            (1146, ErrorKind::Backend, false),
            (1064, ErrorKind::Backend, false),
        ];
        for (n, kind, retry) in table {
            let e = kind_of(n);
            assert_eq!(e.kind(), kind, "{n}");
            assert_eq!(e.is_retryable(), retry, "{n}");
        }
    }
}
