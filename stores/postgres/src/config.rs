//! Typed configuration of `state.postgresql`, read from Dapr's property names.

use std::fmt;

use sqlx::postgres::{PgConnectOptions, PgSslMode};
use statestore_core::{Properties, Property, Result};
use statestore_sql::Settings;
use statestore_sql::config::{self, Common, Pool};

use crate::NAME;

/// `connectionString` (required, secret): a `postgres://` URL or libpq's
/// `key=value` form, as Dapr takes it.
pub const CONNECTION_STRING: Property = Property::new(
    "connectionString",
    "postgres:// URL or key=value pairs (host, port, user, password, dbname/database, sslmode, sslrootcert, sslcert, sslkey, application_name, connect_timeout).",
)
.required()
.secret();
pub use statestore_sql::config::{CLEANUP_INTERVAL, TIMEOUT};
/// `tableName`, default `state`; may be `schema.table`.
pub const TABLE_NAME: Property = Property {
    doc: "Table holding the state; may be schema.table.",
    ..config::TABLE_NAME
};
/// `metadataTableName`, default `dapr_metadata`; may be `schema.table`.
pub const METADATA_TABLE_NAME: Property = Property {
    doc: "Table holding schema version and cleanup bookkeeping; may be schema.table.",
    ..config::METADATA_TABLE_NAME
};
/// `maxConns`, default 10.
pub const MAX_CONNS: Property =
    Property::new("maxConns", "Most connections in the pool.").with_default("10");
/// `connectionMaxIdleTime`, default 0 (idle connections are kept).
pub const CONNECTION_MAX_IDLE_TIME: Property = Property::new(
    "connectionMaxIdleTime",
    "Close a connection idle for this long; 0 keeps them.",
)
.with_default("0");

/// Every property of `state.postgresql`.
pub const PROPERTIES: &[Property] = &[
    CONNECTION_STRING,
    TABLE_NAME,
    METADATA_TABLE_NAME,
    TIMEOUT,
    CLEANUP_INTERVAL,
    MAX_CONNS,
    CONNECTION_MAX_IDLE_TIME,
];

const COMMON: Common = Common {
    table: TABLE_NAME,
    metadata_table: METADATA_TABLE_NAME,
    allow_schema: true,
    ..config::COMMON
};

/// Longest key in bytes: a btree index entry holds at most about 2,700
/// bytes.
pub const MAX_KEY_LEN: usize = 2048;
pub use statestore_sql::config::MAX_TRANSACTION_OPS;
/// Largest value in bytes (a `bytea` holds up to 1 GiB; a request carrying
/// it must stay below the protocol's 1 GiB message size).
pub const MAX_VALUE_LEN: usize = 256 * 1024 * 1024;

/// The parsed configuration.
#[derive(Clone)]
pub struct Config {
    /// How to connect (holds the password).
    pub connect: PgConnectOptions,
    /// The connection pool.
    pub pool: Pool,
    /// The settings shared with the other SQL stores.
    pub settings: Settings,
}

impl fmt::Debug for Config {
    /// The connection is shown without its password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("host", &self.connect.get_host())
            .field("port", &self.connect.get_port())
            .field("user", &self.connect.get_username())
            .field("database", &self.connect.get_database())
            .field("pool", &self.pool)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Reads and validates the properties.
    pub fn from_properties(properties: &Properties) -> Result<Config> {
        let r = properties.reader(NAME);
        let text = r.require(&CONNECTION_STRING)?;
        let connect =
            parse_connection_string(&text).map_err(|why| r.error(&CONNECTION_STRING, why))?;
        let settings = COMMON.read(&r, MAX_KEY_LEN, MAX_VALUE_LEN)?;
        let pool = Pool::read(&r, &MAX_CONNS, &CONNECTION_MAX_IDLE_TIME, None)?;
        Ok(Config {
            connect,
            pool,
            settings,
        })
    }
}

/// The URL parameters sqlx understands.
const URL_PARAMETERS: &[&str] = &[
    "sslmode",
    "ssl-mode",
    "sslrootcert",
    "ssl-root-cert",
    "ssl-ca",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
    "statement-cache-capacity",
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "application_name",
    "options",
];

/// Parses a `postgres://` / `postgresql://` URL or libpq `key=value` pairs
/// (values may be single-quoted, with `\'` and `\\` inside). Errors never
/// quote the text, which holds the password.
pub fn parse_connection_string(text: &str) -> std::result::Result<PgConnectOptions, String> {
    let text = text.trim();
    if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        // sqlx logs an unknown URL parameter with its value, which may be a
        // secret (`sslpassword=...`): refuse it here, by name only.
        let query = text.split_once('?').map_or("", |(_, q)| q);
        for param in query.split('&').filter(|p| !p.is_empty()) {
            let name = param.split_once('=').map_or(param, |(n, _)| n);
            if !URL_PARAMETERS.contains(&name) {
                return Err(format!(
                    "unknown URL parameter {:?} (known: {})",
                    name.chars().take(40).collect::<String>(),
                    URL_PARAMETERS.join(", ")
                ));
            }
        }
        return text
            .parse::<PgConnectOptions>()
            .map_err(|e| format!("not a valid postgres:// URL ({})", redact_url_error(&e)));
    }
    let mut o = PgConnectOptions::new_without_pgpass();
    for (name, value) in key_values(text)? {
        o = match name.as_str() {
            "host" | "hostaddr" => o.host(&value),
            "port" => o.port(
                value
                    .parse()
                    .map_err(|_| format!("port {value:?} is not a port number"))?,
            ),
            "user" | "username" => o.username(&value),
            "password" => o.password(&value),
            "dbname" | "database" => o.database(&value),
            "sslmode" => o.ssl_mode(
                value
                    .parse::<PgSslMode>()
                    .map_err(|_| format!("sslmode {value:?}: expected disable, allow, prefer, require, verify-ca or verify-full"))?,
            ),
            "sslrootcert" => o.ssl_root_cert(&value),
            "sslcert" => o.ssl_client_cert(&value),
            "sslkey" => o.ssl_client_key(&value),
            "application_name" => o.application_name(&value),
            // Accepted for compatibility with Dapr's (pgx) manifests; the
            // pool is configured by maxConns and timeout instead.
            "connect_timeout" | "pool_max_conns" | "pool_min_conns" | "pool_max_conn_lifetime"
            | "pool_max_conn_idle_time" | "pool_health_check_period" | "target_session_attrs" => {
                tracing::debug!(store = NAME, parameter = %name, "connection parameter accepted and not used");
                o
            }
            other => return Err(format!("unknown connection parameter {other:?}")),
        };
    }
    Ok(o)
}

/// Splits `key=value key='quoted value'`.
fn key_values(text: &str) -> std::result::Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            name.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(format!(
                "expected a postgres:// URL or key=value pairs; {name:?} has no '='"
            ));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(format!("the value of {name:?} has no closing quote")),
                    Some('\'') => break,
                    Some('\\') => value.push(chars.next().unwrap_or('\\')),
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                if c == '\\' {
                    chars.next();
                    value.push(chars.next().unwrap_or('\\'));
                    continue;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((name.to_ascii_lowercase(), value));
    }
}

/// sqlx's URL errors may quote the URL: keep only their kind.
fn redact_url_error(e: &sqlx::Error) -> &'static str {
    match e {
        sqlx::Error::Configuration(_) => "check the host, port and parameters",
        _ => "unreadable",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn key_value_and_url_forms() {
        let o = parse_connection_string(
            "host=db.local port=6432 user=app password='p w\\'x' dbname=state sslmode=disable connect_timeout=10",
        )
        .unwrap();
        assert_eq!(o.get_host(), "db.local");
        assert_eq!(o.get_port(), 6432);
        assert_eq!(o.get_username(), "app");
        assert_eq!(o.get_database(), Some("state"));
        let o = parse_connection_string("host=localhost database=dapr").unwrap();
        assert_eq!(o.get_database(), Some("dapr"));
        let o = parse_connection_string("postgres://u:secret@127.0.0.1:5433/test").unwrap();
        assert_eq!(o.get_port(), 5433);
        assert_eq!(o.get_username(), "u");
    }

    #[test]
    fn errors_name_the_problem_and_never_the_password() {
        for (text, wanted) in [
            ("host=x port=abc", "port"),
            ("host=x nonsense", "no '='"),
            ("password='open", "closing quote"),
            ("host=x bogus=1", "bogus"),
            ("host=x sslmode=always", "sslmode"),
            ("postgres://u@h/db?sslpassword=hunter2", "sslpassword"),
        ] {
            let e = parse_connection_string(text).unwrap_err();
            assert!(e.contains(wanted), "{text}: {e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
        let e = parse_connection_string("password=hunter2 port=x").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
        let p = Properties::new()
            .with("connectionString", "postgres://u:hunter2@[::1:5432/db")
            .with("tableName", "x");
        let e = Config::from_properties(&p).unwrap_err().to_string();
        assert!(
            e.contains("connectionString") && !e.contains("hunter2"),
            "{e}"
        );
        let ok = Properties::new().with("connectionString", "host=h password=hunter2");
        let c = Config::from_properties(&ok).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn properties_are_checked() {
        let base = || Properties::new().with("connectionString", "host=h");
        let c = Config::from_properties(&base()).unwrap();
        assert_eq!(c.settings.table, "state");
        assert_eq!(c.settings.metadata_table, "dapr_metadata");
        assert_eq!(c.settings.timeout, Duration::from_secs(20));
        assert_eq!(c.settings.cleanup_interval, Some(Duration::from_secs(3600)));
        assert_eq!(c.pool.max_conns, 10);
        let c = Config::from_properties(
            &base()
                .with("tableName", "app.state")
                .with("cleanupInterval", "0"),
        )
        .unwrap();
        assert_eq!(c.settings.table, "app.state");
        assert_eq!(c.settings.cleanup_interval, None);
        for (name, value) in [
            ("tableName", "x; DROP TABLE y"),
            ("metadataTableName", "state"),
            ("timeout", "soon"),
            ("maxConns", "0"),
            ("connectionMaxIdleTime", "-"),
        ] {
            let e = Config::from_properties(&base().with(name, value)).unwrap_err();
            assert!(e.to_string().contains(name), "{name}: {e}");
        }
    }
}
