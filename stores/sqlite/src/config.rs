//! Typed configuration of `state.sqlite`, read from Dapr's property names.

use std::path::PathBuf;
use std::time::Duration;

use statestore_core::{Properties, Property, Result};
use statestore_sql::Settings;
use statestore_sql::config::{self, Common};

use crate::NAME;

/// `connectionString` (required): a file path, `:memory:`, or a `file:` URI
/// with parameters such as `?_pragma=busy_timeout(5000)`.
pub const CONNECTION_STRING: Property = Property::new(
    "connectionString",
    "Database file path, \":memory:\", or a file: URI (params: mode, cache, _pragma=name(value), _txlock).",
)
.required();
pub use statestore_sql::config::{CLEANUP_INTERVAL, TABLE_NAME, TIMEOUT};
/// `metadataTableName`, default `metadata`.
pub const METADATA_TABLE_NAME: Property = config::METADATA_TABLE_NAME.with_default("metadata");
/// `busyTimeout`, default 2s.
pub const BUSY_TIMEOUT: Property = Property::new(
    "busyTimeout",
    "How long to wait for a lock held by another process before failing.",
)
.with_default("2s");
/// `disableWAL`, default false.
pub const DISABLE_WAL: Property = Property::new(
    "disableWAL",
    "Use a rollback journal instead of write-ahead logging (for network file systems).",
)
.with_default("false");

/// The properties read like every SQL store's.
const COMMON: Common = Common {
    metadata_table: METADATA_TABLE_NAME,
    ..config::COMMON
};

/// Every property of `state.sqlite`.
pub const PROPERTIES: &[Property] = &[
    CONNECTION_STRING,
    TABLE_NAME,
    METADATA_TABLE_NAME,
    TIMEOUT,
    BUSY_TIMEOUT,
    CLEANUP_INTERVAL,
    DISABLE_WAL,
];

/// Longest key, in bytes.
pub const MAX_KEY_LEN: usize = 8 * 1024;
pub use statestore_sql::config::MAX_TRANSACTION_OPS;
/// Largest value, in bytes: SQLite's default limit of 10^9 bytes per row,
/// less room for the key and the other columns.
pub const MAX_VALUE_LEN: usize = 1_000_000_000 - 64 * 1024;

/// Where the database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A private in-memory database, gone when the store closes.
    Memory,
    /// A file, created if missing.
    File(PathBuf),
}

/// The parsed configuration (it holds no secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The database.
    pub location: Location,
    /// `PRAGMA`s from `_pragma=name(value)` parameters.
    pub pragmas: Vec<(String, String)>,
    /// Lock wait.
    pub busy_timeout: Duration,
    /// Whether to skip write-ahead logging.
    pub disable_wal: bool,
    /// The settings shared with the other SQL stores.
    pub settings: Settings,
}

impl Config {
    /// Reads and validates the properties.
    pub fn from_properties(properties: &Properties) -> Result<Config> {
        let r = properties.reader(NAME);
        let conn = r.require(&CONNECTION_STRING)?;
        let (location, pragmas) =
            parse_connection_string(&conn).map_err(|why| r.error(&CONNECTION_STRING, why))?;
        let settings = COMMON.read(&r, MAX_KEY_LEN, MAX_VALUE_LEN)?;
        // SQLite takes the busy timeout in milliseconds as a C int.
        let busy_timeout = r.duration(&BUSY_TIMEOUT)?.unwrap_or(Duration::from_secs(2));
        if busy_timeout.as_millis() > i32::MAX as u128 {
            return Err(r.error(
                &BUSY_TIMEOUT,
                "must be at most 596h (2^31 - 1 milliseconds)",
            ));
        }
        Ok(Config {
            location,
            pragmas,
            busy_timeout,
            disable_wal: r.bool(&DISABLE_WAL)?,
            settings,
        })
    }
}

/// Parses a path, `:memory:` or a `file:` URI with parameters. Errors
/// quote parameter names, never values: a `_pragma=key(...)` is a key.
pub fn parse_connection_string(
    text: &str,
) -> std::result::Result<(Location, Vec<(String, String)>), String> {
    let text = text.trim();
    let rest = text.strip_prefix("file:").unwrap_or(text);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut memory = path == ":memory:";
    let mut pragmas = Vec::new();
    for param in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = param
            .split_once('=')
            // The text is not quoted: the connection string may hold a key.
            .ok_or_else(|| "a parameter without '=': expected name=value".to_owned())?;
        match name {
            "mode" => match value {
                "memory" => memory = true,
                "rw" | "rwc" => {}
                "ro" => return Err("mode=ro: read-only databases cannot hold state".into()),
                _ => return Err("the mode parameter: expected rw, rwc or memory".into()),
            },
            // Writes always take the write lock up front (BEGIN IMMEDIATE), and
            // every connection of one store shares its database: both
            // parameters are accepted for Dapr compatibility and change nothing.
            "_txlock" | "cache" => {}
            "_pragma" => {
                let (pragma, arg) = value
                    .strip_suffix(')')
                    .and_then(|v| v.split_once('('))
                    .filter(|(p, _)| {
                        !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    })
                    // Pragma values can be keys (`key(...)`): never quoted.
                    .ok_or_else(|| "a _pragma parameter: expected name(value)".to_owned())?;
                let off = matches!(
                    arg.trim().to_ascii_lowercase().as_str(),
                    "0" | "false" | "off" | "no"
                );
                if pragma.eq_ignore_ascii_case("query_only") && !off {
                    return Err(
                        "_pragma=query_only(...): read-only databases cannot hold state".into(),
                    );
                }
                if arg.contains([';', '\'', '"']) {
                    return Err(format!(
                        "_pragma={pragma}(...): the value may not hold quotes or ';'"
                    ));
                }
                pragmas.push((pragma.to_ascii_lowercase(), arg.to_owned()));
            }
            other => {
                return Err(format!(
                    "unknown parameter {other:?}: expected mode, cache, _pragma or _txlock"
                ));
            }
        }
    }
    if memory {
        return Ok((Location::Memory, pragmas));
    }
    if path.is_empty() {
        return Err("no database file given: use a path or \":memory:\"".into());
    }
    Ok((Location::File(PathBuf::from(path)), pragmas))
}

#[cfg(test)]
mod tests {
    use super::*;
    use statestore_core::ErrorKind;

    fn props(conn: &str) -> Properties {
        Properties::new().with("connectionString", conn)
    }

    #[test]
    fn defaults() {
        let c = Config::from_properties(&props("data.db")).unwrap();
        assert_eq!(c.location, Location::File("data.db".into()));
        assert_eq!(c.settings.table, "state");
        assert_eq!(c.settings.metadata_table, "metadata");
        assert_eq!(c.settings.timeout, Duration::from_secs(20));
        assert_eq!(c.settings.cleanup_interval, Some(Duration::from_secs(3600)));
        assert_eq!(c.busy_timeout, Duration::from_secs(2));
        assert!(!c.disable_wal);
    }

    #[test]
    fn connection_strings() {
        let p = |s: &str| parse_connection_string(s);
        assert_eq!(p(":memory:").unwrap().0, Location::Memory);
        assert_eq!(p("file::memory:?cache=shared").unwrap().0, Location::Memory);
        assert_eq!(p("file:x.db?mode=memory").unwrap().0, Location::Memory);
        let (loc, pragmas) =
            p("file:/tmp/a.db?_pragma=busy_timeout(5000)&_txlock=immediate").unwrap();
        assert_eq!(loc, Location::File("/tmp/a.db".into()));
        assert_eq!(
            pragmas,
            vec![("busy_timeout".to_owned(), "5000".to_owned())]
        );
        for bad in [
            "",
            "file:",
            "x.db?mode=ro",
            "x.db?_pragma=query_only(1)",
            "x.db?_pragma=QUERY_ONLY(true)",
            "x.db?foo=1",
            "x.db?_pragma=x",
            "x.db?_pragma=a(1;DROP)",
            "x.db?cache",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_name_the_property() {
        let e = Config::from_properties(&Properties::new()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.to_string().contains("connectionString"), "{e}");
        for (name, value) in [
            ("tableName", "state; DROP TABLE x"),
            ("metadataTableName", "state"),
            ("timeout", "0"),
            ("busyTimeout", "soon"),
            ("busyTimeout", "600h"),
            ("timeout", "18446744073709551615"),
            ("cleanupInterval", "x"),
            ("disableWAL", "perhaps"),
        ] {
            let e = Config::from_properties(&props("a.db").with(name, value)).unwrap_err();
            assert!(e.to_string().contains(name), "{name}: {e}");
            assert!(e.to_string().starts_with("state.sqlite: init:"), "{e}");
        }
    }

    #[test]
    fn cleanup_can_be_turned_off_and_legacy_timeout_works() {
        let c = Config::from_properties(
            &props("a.db")
                .with("cleanupInterval", "0")
                .with("timeoutInSeconds", "7"),
        )
        .unwrap();
        assert_eq!(c.settings.cleanup_interval, None);
        assert_eq!(c.settings.timeout, Duration::from_secs(7));
    }
}
