//! Typed configuration of `state.mysql`, read from Dapr's property names.

use std::fmt;

use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};
use statestore_core::{Properties, Property, Result};
use statestore_sql::config::{self, Common, Pool};
use statestore_sql::{Settings, ident};

use crate::NAME;

/// `connectionString` (required, secret): Go's MySQL DSN as Dapr takes it,
/// `user:password@tcp(host:port)/?params`, or a `mysql://` URL.
pub const CONNECTION_STRING: Property = Property::new(
    "connectionString",
    "Go MySQL DSN user:password@tcp(host:port)/dbname?params (params: tls, allowNativePasswords, parseTime, charset, ...) or a mysql:// URL.",
)
.required()
.secret();
/// `schemaName`, default `dapr_state_store`; created if missing.
pub const SCHEMA_NAME: Property = Property::new(
    "schemaName",
    "Database (schema) holding the tables; created if missing.",
)
.with_default("dapr_state_store");
pub use statestore_sql::config::{CLEANUP_INTERVAL, METADATA_TABLE_NAME, TABLE_NAME};
/// `timeoutInSeconds` (alias `timeout`), default 20.
pub const TIMEOUT: Property = Property::new(
    "timeoutInSeconds",
    "Upper bound of every operation, in seconds or as a Go duration.",
)
.with_default("20")
.with_aliases(&["timeout"]);
/// `pemPath`: CA certificate file for TLS (with `tls=custom` in the DSN).
pub const PEM_PATH: Property = Property::new(
    "pemPath",
    "CA certificate (PEM file) that the server's certificate must chain to; turns TLS on.",
);
/// `pemContents`: the same certificate inline.
pub const PEM_CONTENTS: Property = Property::new(
    "pemContents",
    "CA certificate (PEM text), instead of pemPath.",
);
/// `maxOpenConns`, default 10.
pub const MAX_OPEN_CONNS: Property =
    Property::new("maxOpenConns", "Most connections in the pool.").with_default("10");
/// `connMaxIdleTime`, default 0 (idle connections are kept).
pub const CONN_MAX_IDLE_TIME: Property = Property::new(
    "connMaxIdleTime",
    "Close a connection idle for this long; 0 keeps them.",
)
.with_default("0");
/// `connMaxLifetime`, default 0 (no limit).
pub const CONN_MAX_LIFETIME: Property = Property::new(
    "connMaxLifetime",
    "Replace a connection this old; 0 keeps them.",
)
.with_default("0");
/// `maxIdleConns`: accepted for Dapr manifests; sqlx pools keep idle
/// connections up to `maxOpenConns`.
pub const MAX_IDLE_CONNS: Property = Property::new(
    "maxIdleConns",
    "Accepted for compatibility; idle connections are bounded by maxOpenConns and connMaxIdleTime.",
);

/// Every property of `state.mysql`.
pub const PROPERTIES: &[Property] = &[
    CONNECTION_STRING,
    SCHEMA_NAME,
    TABLE_NAME,
    METADATA_TABLE_NAME,
    TIMEOUT,
    CLEANUP_INTERVAL,
    PEM_PATH,
    PEM_CONTENTS,
    MAX_OPEN_CONNS,
    CONN_MAX_IDLE_TIME,
    CONN_MAX_LIFETIME,
    MAX_IDLE_CONNS,
];

const COMMON: Common = Common {
    timeout: TIMEOUT,
    ..config::COMMON
};

/// Longest key in bytes (InnoDB index entries hold up to 3,072 bytes).
pub const MAX_KEY_LEN: usize = 2048;
pub use statestore_sql::config::MAX_TRANSACTION_OPS;

/// The parsed configuration.
#[derive(Clone)]
pub struct Config {
    /// How to connect (holds the password), without the schema.
    pub connect: MySqlConnectOptions,
    /// The database holding the tables.
    pub schema: String,
    /// The connection pool.
    pub pool: Pool,
    /// The settings shared with the other SQL stores (`max_value_len` is
    /// set from the server's `max_allowed_packet` at connect).
    pub settings: Settings,
}

impl fmt::Debug for Config {
    /// The connection is shown without its password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("host", &self.connect.get_host())
            .field("port", &self.connect.get_port())
            .field("user", &self.connect.get_username())
            .field("schema", &self.schema)
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
        let mut connect =
            parse_connection_string(&text).map_err(|why| r.error(&CONNECTION_STRING, why))?;
        if let Some(path) = r.string(&PEM_PATH)? {
            if !std::path::Path::new(&path).is_file() {
                return Err(r.error(&PEM_PATH, format!("{path:?} is not a readable file")));
            }
            connect = connect.ssl_mode(MySqlSslMode::VerifyCa).ssl_ca(path);
        } else if let Some(pem) = r.string(&PEM_CONTENTS)? {
            connect = connect
                .ssl_mode(MySqlSslMode::VerifyCa)
                .ssl_ca_from_pem(pem.into_bytes());
        }
        let schema = r.require(&SCHEMA_NAME)?;
        ident::validate(&schema, false).map_err(|e| r.error(&SCHEMA_NAME, e.message()))?;
        let settings = COMMON.read(&r, MAX_KEY_LEN, 0)?;
        let pool = Pool::read(
            &r,
            &MAX_OPEN_CONNS,
            &CONN_MAX_IDLE_TIME,
            Some(&CONN_MAX_LIFETIME),
        )?;
        if let Some(v) = r.string(&MAX_IDLE_CONNS)? {
            r.parse::<i64>(&MAX_IDLE_CONNS, "a whole number")?;
            tracing::debug!(store = NAME, value = %v, "maxIdleConns accepted and not used");
        }
        Ok(Config {
            connect,
            schema,
            pool,
            settings,
        })
    }
}

/// Parses Go's DSN `[user[:password]@][net[(addr)]]/dbname[?params]` or a
/// `mysql://` URL. The DSN's database name is not used: the tables live in
/// `schemaName`, as in Dapr. Errors never quote the text, which holds the
/// password.
pub fn parse_connection_string(text: &str) -> std::result::Result<MySqlConnectOptions, String> {
    let text = text.trim();
    if text.starts_with("mysql://") || text.starts_with("mariadb://") {
        let url = text.replacen("mariadb://", "mysql://", 1);
        return url
            .parse::<MySqlConnectOptions>()
            .map_err(|_| "not a valid mysql:// URL: check the host, port and parameters".into());
    }
    let slash = text
        .rfind('/')
        .ok_or("expected Go's DSN user:password@tcp(host:port)/dbname or a mysql:// URL: no '/'")?;
    let (left, right) = (&text[..slash], &text[slash + 1..]);
    let mut o = MySqlConnectOptions::new().host("127.0.0.1").port(3306);
    let (credentials, address) = match left.rfind('@') {
        Some(at) => (Some(&left[..at]), &left[at + 1..]),
        None => (None, left),
    };
    if let Some(c) = credentials {
        let (user, password) = c.split_once(':').unwrap_or((c, ""));
        o = o.username(user);
        if !password.is_empty() {
            o = o.password(password);
        }
    }
    if !address.is_empty() {
        let (net, addr) = match address.split_once('(') {
            Some((net, rest)) => (
                net,
                Some(
                    rest.strip_suffix(')')
                        .ok_or("the address after the network has no closing ')'")?,
                ),
            ),
            None => (address, None),
        };
        match (net, addr) {
            ("tcp" | "tcp6", Some(addr)) if !addr.is_empty() => {
                let (host, port) = split_host_port(addr)?;
                o = o.host(host);
                if let Some(port) = port {
                    o = o.port(port);
                }
            }
            ("tcp" | "tcp6", _) => {}
            ("unix", Some(path)) => o = o.socket(path),
            (other, _) => {
                return Err(format!("network {other:?}: expected tcp or unix"));
            }
        }
    }
    let query = right.split_once('?').map_or("", |(_, q)| q);
    for param in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = param.split_once('=').unwrap_or((param, ""));
        o = match name {
            "tls" => o.ssl_mode(match value.to_ascii_lowercase().as_str() {
                "true" | "1" | "t" => MySqlSslMode::VerifyIdentity,
                "false" | "0" | "f" => MySqlSslMode::Disabled,
                "skip-verify" => MySqlSslMode::Required,
                "preferred" => MySqlSslMode::Preferred,
                // `custom` names a CA registered by Dapr from pemPath.
                "custom" => MySqlSslMode::VerifyCa,
                v => {
                    return Err(format!(
                        "tls={v:?}: expected true, false, skip-verify, preferred or custom"
                    ));
                }
            }),
            // Keys, JSON and metadata are utf8mb4 text: another connection
            // character set would mangle them, so it is not taken.
            "charset" | "collation" => {
                if !value.to_ascii_lowercase().starts_with("utf8mb4") {
                    tracing::warn!(store = NAME, parameter = %name, "DSN parameter ignored: the store always uses utf8mb4");
                }
                o
            }
            // Go-driver settings with no sqlx counterpart or no effect here
            // (values are bound as bytes and times are not decoded).
            "allowNativePasswords"
            | "parseTime"
            | "loc"
            | "timeout"
            | "readTimeout"
            | "writeTimeout"
            | "allowCleartextPasswords"
            | "interpolateParams"
            | "multiStatements"
            | "clientFoundRows"
            | "columnsWithAlias"
            | "rejectReadOnly"
            | "maxAllowedPacket"
            | "checkConnLiveness"
            | "allowOldPasswords" => {
                tracing::debug!(store = NAME, parameter = %name, "DSN parameter accepted and not used");
                o
            }
            other => {
                tracing::warn!(store = NAME, parameter = %other, "unknown DSN parameter ignored");
                o
            }
        };
    }
    Ok(o)
}

fn split_host_port(addr: &str) -> std::result::Result<(&str, Option<u16>), String> {
    let (host, port) = if let Some(rest) = addr.strip_prefix('[') {
        let (host, tail) = rest
            .split_once(']')
            .ok_or("an IPv6 address has no closing ']'")?;
        (host, tail.strip_prefix(':'))
    } else if addr.matches(':').count() > 1 {
        // A bare IPv6 address, as Go reads `tcp(::1)`.
        (addr, None)
    } else {
        match addr.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (addr, None),
        }
    };
    let port = port
        .map(|p| {
            p.parse::<u16>()
                .map_err(|_| format!("port {p:?} is not a port number"))
        })
        .transpose()?;
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn go_dsn_and_url_forms() {
        let o = parse_connection_string(
            "root:p@ss@tcp(db.local:3307)/?allowNativePasswords=true&parseTime=true",
        )
        .unwrap();
        assert_eq!(o.get_host(), "db.local");
        assert_eq!(o.get_port(), 3307);
        assert_eq!(o.get_username(), "root");
        let o = parse_connection_string("app@tcp([::1]:3306)/dapr").unwrap();
        assert_eq!(o.get_host(), "::1");
        let o = parse_connection_string("root@/").unwrap();
        assert_eq!((o.get_host(), o.get_port()), ("127.0.0.1", 3306));
        let o = parse_connection_string("u:pw@unix(/run/mysqld/mysqld.sock)/db").unwrap();
        assert!(o.get_socket().is_some());
        let o = parse_connection_string("mysql://u:pw@10.0.0.1:3310/db").unwrap();
        assert_eq!(o.get_port(), 3310);
        let o =
            parse_connection_string("u@tcp(::1)/?charset=utf8&collation=utf8_general_ci&tls=TRUE")
                .unwrap();
        assert_eq!((o.get_host(), o.get_port()), ("::1", 3306));
        assert_eq!(o.get_charset(), "utf8mb4");
        assert_eq!(o.get_collation(), None);
        assert!(matches!(o.get_ssl_mode(), MySqlSslMode::VerifyIdentity));
        let o = parse_connection_string("u@tcp(h:1)/?tls=skip-verify").unwrap();
        assert!(matches!(o.get_ssl_mode(), MySqlSslMode::Required));
    }

    #[test]
    fn errors_name_the_problem_and_never_the_password() {
        for (text, wanted) in [
            ("no slash at all", "no '/'"),
            ("u:hunter2@tcp(h:x)/", "port"),
            ("u:hunter2@tcp(h:1/", "closing"),
            ("u:hunter2@udp(h:1)/", "network"),
            ("u:hunter2@tcp(h:1)/?tls=maybe", "tls"),
        ] {
            let e = parse_connection_string(text).unwrap_err();
            assert!(e.contains(wanted), "{text}: {e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
        let p = Properties::new().with("connectionString", "u:hunter2@tcp(h:x)/");
        let e = Config::from_properties(&p).unwrap_err().to_string();
        assert!(
            e.contains("connectionString") && !e.contains("hunter2"),
            "{e}"
        );
        let ok = Properties::new().with("connectionString", "u:hunter2@tcp(h:1)/");
        let c = Config::from_properties(&ok).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn properties_are_checked() {
        let base = || Properties::new().with("connectionString", "root@tcp(127.0.0.1:3306)/");
        let c = Config::from_properties(&base()).unwrap();
        assert_eq!(c.schema, "dapr_state_store");
        assert_eq!(c.settings.table, "state");
        assert_eq!(c.settings.metadata_table, "dapr_metadata");
        assert_eq!(c.settings.timeout, Duration::from_secs(20));
        assert_eq!(c.settings.cleanup_interval, Some(Duration::from_secs(3600)));
        let c = Config::from_properties(&base().with("timeoutInSeconds", "5")).unwrap();
        assert_eq!(c.settings.timeout, Duration::from_secs(5));
        for (name, value) in [
            ("schemaName", "a`b"),
            ("tableName", "x; DROP TABLE y"),
            ("metadataTableName", "state"),
            ("timeoutInSeconds", "soon"),
            ("maxOpenConns", "0"),
            ("pemPath", "/nonexistent/ca.pem"),
            ("maxIdleConns", "many"),
        ] {
            let e = Config::from_properties(&base().with(name, value)).unwrap_err();
            assert!(e.to_string().contains(name), "{name}: {e}");
        }
    }
}
