//! Typed configuration of `state.mongodb`, read from Dapr's property names.

use std::fmt;
use std::time::Duration;

use statestore_core::properties::Reader;
use statestore_core::{Properties, Property, Result};

use crate::NAME;

/// `connectionString` (secret: it may hold credentials).
pub const CONNECTION_STRING: Property = Property::new(
    "connectionString",
    "A mongodb:// or mongodb+srv:// URI; instead of host or server.",
)
.secret();
/// `host`.
pub const HOST: Property = Property::new(
    "host",
    "host:port of the server (comma-separated for several); instead of server or connectionString.",
);
/// `server`.
pub const SERVER: Property = Property::new(
    "server",
    "Host name of a DNS SRV record (mongodb+srv://); instead of host or connectionString.",
);
/// `username`.
pub const USERNAME: Property = Property::new("username", "User to authenticate as, with password.");
/// `password` (secret).
pub const PASSWORD: Property = Property::new("password", "Password of username.").secret();
/// `databaseName`, default `daprStore`.
pub const DATABASE_NAME: Property =
    Property::new("databaseName", "Database holding the collection.").with_default("daprStore");
/// `collectionName`, default `daprCollection`.
pub const COLLECTION_NAME: Property =
    Property::new("collectionName", "Collection holding the state.").with_default("daprCollection");
/// `params`.
pub const PARAMS: Property = Property::new(
    "params",
    "URI options appended to the URI built from host or server, e.g. ?authSource=admin&tls=true.",
);
/// `writeConcern` (alias `writeconcern`).
pub const WRITE_CONCERN: Property = Property::new(
    "writeConcern",
    "majority, or a number of members that must acknowledge a write (journaled); the server's default when left out.",
)
.with_aliases(&["writeconcern"]);
/// `readConcern` (alias `readconcern`).
pub const READ_CONCERN: Property = Property::new(
    "readConcern",
    "local, majority, available, linearizable or snapshot; the server's default when left out.",
)
.with_aliases(&["readconcern"]);
/// `operationTimeout`, default 5s.
pub const OPERATION_TIMEOUT: Property = Property::new(
    "operationTimeout",
    "Upper bound of every operation, connecting and server selection included.",
)
.with_default("5s");

/// Every property of `state.mongodb`.
pub const PROPERTIES: &[Property] = &[
    CONNECTION_STRING,
    HOST,
    SERVER,
    USERNAME,
    PASSWORD,
    DATABASE_NAME,
    COLLECTION_NAME,
    PARAMS,
    WRITE_CONCERN,
    READ_CONCERN,
    OPERATION_TIMEOUT,
];

/// How acknowledged a write must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteConcern {
    /// A majority of the replica set, journaled.
    Majority,
    /// This many members, journaled.
    Nodes(u32),
}

/// The settings of one store.
#[derive(Clone)]
pub struct Config {
    /// The URI to connect with (may hold a password: never printed).
    pub uri: String,
    /// The database.
    pub database: String,
    /// The collection.
    pub collection: String,
    /// The write concern, if one was set.
    pub write_concern: Option<WriteConcern>,
    /// The read concern level, if one was set.
    pub read_concern: Option<String>,
    /// The bound of every operation.
    pub timeout: Duration,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("uri", &redacted_uri(&self.uri))
            .field("database", &self.database)
            .field("collection", &self.collection)
            .field("write_concern", &self.write_concern)
            .field("read_concern", &self.read_concern)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// `uri` as it may be shown: its user information and its options (which
/// may name a key file password) replaced by `***`. A URI whose user
/// information cannot be told apart (an `@` that is not the one separator)
/// shows its scheme only.
pub fn redacted_uri(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return "***".to_owned();
    };
    let rest = match rest.matches('@').count() {
        0 => rest,
        1 => match rest.split_once('@') {
            Some((user, hosts)) if !user.contains(['/', '?', '#']) => {
                return format!("{scheme}://***@{}", hide_options(hosts));
            }
            _ => return format!("{scheme}://***"),
        },
        _ => return format!("{scheme}://***"),
    };
    format!("{scheme}://{}", hide_options(rest))
}

/// `rest` with the options after `?` replaced by `***`.
fn hide_options(rest: &str) -> String {
    match rest.split_once('?') {
        Some((path, _)) => format!("{path}?***"),
        None => rest.to_owned(),
    }
}

/// Percent-encodes user information for a URI.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Config {
    /// Reads and checks the properties; every error names the property and
    /// never echoes a secret.
    pub fn from_properties(properties: &Properties) -> Result<Config> {
        let r = properties.reader(NAME);
        let given = |p: &Property| r.raw(p).is_some();
        let (conn, host, server) = (given(&CONNECTION_STRING), given(&HOST), given(&SERVER));
        let chosen: Vec<&str> = [
            (conn, "connectionString"),
            (host, "host"),
            (server, "server"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| *n)
        .collect();
        if chosen.len() > 1 {
            return Err(r.error(
                &CONNECTION_STRING,
                format!(
                    "set only one of connectionString, host and server, not {}",
                    chosen.join(" and ")
                ),
            ));
        }
        let database = r.require(&DATABASE_NAME)?;
        check_database(&r, &database)?;
        let collection = r.require(&COLLECTION_NAME)?;
        check_collection(&r, &collection)?;
        let uri = if conn {
            let uri = r.require(&CONNECTION_STRING)?;
            if !(uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://")) {
                return Err(r.error(
                    &CONNECTION_STRING,
                    "expected a URI starting with mongodb:// or mongodb+srv://",
                ));
            }
            for p in [USERNAME, PASSWORD, PARAMS] {
                if given(&p) {
                    return Err(r.error(
                        &p,
                        "goes into connectionString: it is used only with host or server",
                    ));
                }
            }
            uri
        } else {
            build_uri(&r, server, &database)?
        };
        let write_concern = match r.string(&WRITE_CONCERN)? {
            None => None,
            Some(w) if w.trim().eq_ignore_ascii_case("majority") => Some(WriteConcern::Majority),
            Some(w) => match w.trim().parse::<u32>() {
                Ok(0) => {
                    return Err(r.error(
                        &WRITE_CONCERN,
                        "0 acknowledges nothing, so no write could report its etag or its failure: give majority or 1 and up",
                    ));
                }
                Ok(n) => Some(WriteConcern::Nodes(n)),
                Err(_) => {
                    return Err(r.error(
                        &WRITE_CONCERN,
                        format!("invalid value {w:?}: expected majority or a number of members"),
                    ));
                }
            },
        };
        let read_concern = match r.string(&READ_CONCERN)? {
            None => None,
            Some(level) => {
                let level = level.trim().to_ascii_lowercase();
                let known = ["local", "majority", "available", "linearizable", "snapshot"];
                if !known.contains(&level.as_str()) {
                    return Err(r.error(
                        &READ_CONCERN,
                        format!(
                            "invalid value {level:?}: expected one of {}",
                            known.join(", ")
                        ),
                    ));
                }
                Some(level)
            }
        };
        let timeout = r
            .duration(&OPERATION_TIMEOUT)?
            .unwrap_or(Duration::from_secs(5));
        if timeout.is_zero() {
            return Err(r.error(&OPERATION_TIMEOUT, "must be positive"));
        }
        Ok(Config {
            uri,
            database,
            collection,
            write_concern,
            read_concern,
            timeout,
        })
    }
}

/// The URI for `host` or `server` (SRV), with credentials and params.
fn build_uri(r: &Reader<'_>, srv: bool, database: &str) -> Result<String> {
    let (p, scheme) = if srv {
        (&SERVER, "mongodb+srv")
    } else {
        (&HOST, "mongodb")
    };
    let Some(address) = r.string(p)? else {
        return Err(r.error(
            &HOST,
            "set host (host:port), server (SRV) or connectionString",
        ));
    };
    let address = address.trim().to_owned();
    if address.contains(['/', '@', '?', ' ']) {
        return Err(r.error(
            p,
            format!("invalid value {address:?}: expected host:port without scheme, user or path"),
        ));
    }
    let user = r.string(&USERNAME)?;
    let password = r.string(&PASSWORD)?;
    let credentials = match (user, password) {
        (Some(u), Some(pw)) => format!("{}:{}@", encode(&u), encode(&pw)),
        (Some(u), None) => format!("{}@", encode(&u)),
        (None, Some(_)) => return Err(r.error(&PASSWORD, "is set without username")),
        (None, None) => String::new(),
    };
    let params = r.string(&PARAMS)?.unwrap_or_default();
    let params = params.trim();
    let params = match params.strip_prefix('?') {
        Some(rest) => rest,
        None => params,
    };
    if params.contains(['/', '#', ' ']) {
        return Err(r.error(
            &PARAMS,
            format!("invalid value {params:?}: expected URI options such as ?authSource=admin"),
        ));
    }
    let query = if params.is_empty() {
        String::new()
    } else {
        format!("?{params}")
    };
    Ok(format!(
        "{scheme}://{credentials}{address}/{database}{query}"
    ))
}

fn check_database(r: &Reader<'_>, name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 63 || name.contains(['/', '\\', '.', ' ', '"', '$', '\0']) {
        return Err(r.error(
            &DATABASE_NAME,
            format!("invalid value {name:?}: 1 to 63 characters, none of / \\ . space \" $"),
        ));
    }
    Ok(())
}

fn check_collection(r: &Reader<'_>, name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 200
        || name.contains(['$', '\0'])
        || name.starts_with("system.")
    {
        return Err(r.error(
            &COLLECTION_NAME,
            format!("invalid value {name:?}: 1 to 200 characters, no $, not starting with system."),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config> {
        Config::from_properties(&pairs.iter().copied().collect())
    }

    #[test]
    fn uris_from_host_or_server() {
        let c = config(&[
            ("host", "db:27017"),
            ("username", "a b"),
            ("password", "p@ss:w/rd"),
        ])
        .unwrap();
        assert_eq!(c.uri, "mongodb://a%20b:p%40ss%3Aw%2Frd@db:27017/daprStore");
        let c = config(&[("server", "cluster.example.com"), ("params", "?tls=true")]).unwrap();
        assert_eq!(
            c.uri,
            "mongodb+srv://cluster.example.com/daprStore?tls=true"
        );
        let c = config(&[
            ("connectionString", "mongodb://x:y@h/?replicaSet=rs0"),
            ("databaseName", "d"),
        ])
        .unwrap();
        assert_eq!(
            (c.uri.as_str(), c.database.as_str()),
            ("mongodb://x:y@h/?replicaSet=rs0", "d")
        );
        assert_eq!(c.collection, "daprCollection");
        assert_eq!(c.timeout, Duration::from_secs(5));
    }

    #[test]
    fn bad_or_conflicting_properties_name_themselves() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], "host"),
            (&[("host", "a:1"), ("server", "b")], "host and server"),
            (
                &[("connectionString", "mongodb://h"), ("host", "a:1")],
                "connectionString and host",
            ),
            (&[("connectionString", "http://h")], "connectionString"),
            (
                &[("connectionString", "mongodb://h"), ("password", "hunter2")],
                "password",
            ),
            (
                &[("host", "a:1"), ("password", "hunter2")],
                "without username",
            ),
            (&[("host", "mongodb://a:1")], "host"),
            (&[("host", "a:1"), ("writeConcern", "most")], "writeConcern"),
            (&[("host", "a:1"), ("writeConcern", "0")], "writeConcern"),
            (&[("host", "a:1"), ("readconcern", "strong")], "readConcern"),
            (
                &[("host", "a:1"), ("operationTimeout", "soon")],
                "operationTimeout",
            ),
            (
                &[("host", "a:1"), ("operationTimeout", "0s")],
                "operationTimeout",
            ),
            (&[("host", "a:1"), ("databaseName", "a.b")], "databaseName"),
            (
                &[("host", "a:1"), ("collectionName", "system.x")],
                "collectionName",
            ),
        ];
        for (pairs, named) in cases {
            let e = config(pairs).unwrap_err();
            let text = format!("{e:#} {e:?}");
            assert!(text.contains(named), "{pairs:?}: {text}");
            assert!(!text.contains("hunter2"), "{pairs:?}: {text}");
            assert_eq!(e.store(), Some(NAME), "{text}");
        }
    }

    #[test]
    fn debug_hides_credentials() {
        let c = config(&[("host", "db:1"), ("username", "u"), ("password", "hunter2")]).unwrap();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("***@db:1"),
            "{shown}"
        );
        assert_eq!(redacted_uri("mongodb://h:1/?x=y"), "mongodb://h:1/?***");
        assert_eq!(
            redacted_uri("mongodb+srv://u:p@c/d"),
            "mongodb+srv://***@c/d"
        );
        assert_eq!(redacted_uri("garbage"), "***");
        // Passwords the URI syntax cannot tell apart, and options holding one.
        for uri in [
            "mongodb://127.0.0.1:27017/?tlsCertificateKeyFilePassword=hunter2",
            "mongodb://user:hunter2/x@127.0.0.1:27017/",
            "mongodb://user:hunter2?x@127.0.0.1:27017/",
            "mongodb://user:hun@ter2@127.0.0.1:27017/",
            "mongodb://h/?tlsCertificateKeyFilePassword=hun@ter2",
        ] {
            let shown = redacted_uri(uri);
            assert!(
                !shown.contains("hunter2") && !shown.contains("ter2"),
                "{uri}: {shown}"
            );
        }
    }

    #[test]
    fn concerns() {
        let c = config(&[
            ("host", "a:1"),
            ("writeconcern", "Majority"),
            ("readConcern", "snapshot"),
        ])
        .unwrap();
        assert_eq!(c.write_concern, Some(WriteConcern::Majority));
        assert_eq!(c.read_concern.as_deref(), Some("snapshot"));
        let c = config(&[("host", "a:1"), ("writeConcern", "2")]).unwrap();
        assert_eq!(c.write_concern, Some(WriteConcern::Nodes(2)));
    }
}
