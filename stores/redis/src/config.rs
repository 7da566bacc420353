//! Typed configuration of `state.redis`, read from Dapr's property names.

use std::fmt;
use std::time::Duration;

use statestore_core::{Properties, Property, Result, Ttl};

use crate::NAME;

/// `redisHost` (required).
pub const REDIS_HOST: Property = Property::new(
    "redisHost",
    "host:port (port 6379 when left out); for a cluster, comma-separated seed nodes. redis:// and rediss:// URLs without credentials are accepted too.",
)
.required();
/// `redisUsername`.
pub const REDIS_USERNAME: Property =
    Property::new("redisUsername", "ACL user name (Redis 6 or later).");
/// `redisPassword` (secret).
pub const REDIS_PASSWORD: Property =
    Property::new("redisPassword", "Password of the user, or of the server.").secret();
/// `redisType`, default `node`.
pub const REDIS_TYPE: Property = Property::new(
    "redisType",
    "node for one server (or a primary with replicas), cluster for Redis Cluster.",
)
.with_default("node");
/// `redisDB`, default 0.
pub const REDIS_DB: Property = Property::new(
    "redisDB",
    "Database number selected after connecting; must be 0 in a cluster.",
)
.with_default("0");
/// `enableTLS`, default false.
pub const ENABLE_TLS: Property = Property::new(
    "enableTLS",
    "Connect over TLS, verifying the server against the system's roots (or caCert).",
)
.with_default("false");
/// `clientCert`: PEM.
pub const CLIENT_CERT: Property = Property::new(
    "clientCert",
    "Client certificate (PEM text) for mutual TLS; needs clientKey and enableTLS.",
);
/// `clientKey`: PEM (secret).
pub const CLIENT_KEY: Property =
    Property::new("clientKey", "Private key (PEM text) of clientCert.").secret();
/// `caCert`: PEM (not in Dapr).
pub const CA_CERT: Property = Property::new(
    "caCert",
    "CA certificate (PEM text) to verify the server with instead of the system's roots.",
);
/// `failover`, default false.
pub const FAILOVER: Property = Property::new(
    "failover",
    "Redis Sentinel; not supported: it must stay false.",
)
.with_default("false");
/// `sentinelMasterName`.
pub const SENTINEL_MASTER_NAME: Property = Property::new(
    "sentinelMasterName",
    "Sentinel master name; accepted for Dapr manifests, used only with failover.",
);
/// `redisMaxRetries`, default 3.
pub const REDIS_MAX_RETRIES: Property = Property::new(
    "redisMaxRetries",
    "How many times a lost connection is re-dialled after the first attempt (-1: never).",
)
.with_default("3")
.with_aliases(&["maxRetries"]);
/// `redisMinRetryInterval`, default 8ms.
pub const REDIS_MIN_RETRY_INTERVAL: Property = Property::new(
    "redisMinRetryInterval",
    "First wait between re-dials, doubled each time (-1: no wait).",
)
.with_default("8ms");
/// `redisMaxRetryInterval` (alias `maxRetryBackoff`), default 512ms.
pub const REDIS_MAX_RETRY_INTERVAL: Property =
    Property::new("redisMaxRetryInterval", "Longest wait between re-dials.")
        .with_default("512ms")
        .with_aliases(&["maxRetryBackoff"]);
/// `dialTimeout`, default 5s.
pub const DIAL_TIMEOUT: Property =
    Property::new("dialTimeout", "Bound of one connection attempt.").with_default("5s");
/// `readTimeout`, default 3s.
pub const READ_TIMEOUT: Property = Property::new(
    "readTimeout",
    "Bound of waiting for an answer; -1 for none.",
)
.with_default("3s");
/// `writeTimeout`, default `readTimeout`.
pub const WRITE_TIMEOUT: Property = Property::new(
    "writeTimeout",
    "Bound of sending a command; the default is readTimeout. The larger of the two bounds each answer.",
);
/// `ttlInSeconds`: the component-wide default ttl.
pub const TTL_IN_SECONDS: Property = Property::new(
    "ttlInSeconds",
    "Default ttl of writes that give none (-1 or 0: none).",
);
/// `poolSize`, default 1.
pub const POOL_SIZE: Property = Property::new(
    "poolSize",
    "How many multiplexed connections calls are spread over (node mode; a cluster keeps one per node).",
)
.with_default("1");
/// `queryIndexes`: RediSearch indexes; not supported.
pub const QUERY_INDEXES: Property = Property::new(
    "queryIndexes",
    "RediSearch indexes for the query API; not supported: leave it out.",
);

/// go-redis pool settings: accepted so Dapr manifests work, validated, and
/// without effect, because calls share multiplexed connections.
pub const POOL_SETTINGS: &[Property] = &[
    Property::new(
        "poolTimeout",
        "Accepted for Dapr manifests; no effect (multiplexed connections).",
    ),
    Property::new(
        "maxConnAge",
        "Accepted for Dapr manifests; no effect (multiplexed connections).",
    ),
    Property::new(
        "idleCheckFrequency",
        "Accepted for Dapr manifests; no effect (multiplexed connections).",
    ),
    Property::new(
        "idleTimeout",
        "Accepted for Dapr manifests; no effect (multiplexed connections).",
    ),
    Property::new(
        "redeliverInterval",
        "Pub/sub only; accepted for Dapr manifests, no effect.",
    ),
    Property::new(
        "processingTimeout",
        "Pub/sub only; accepted for Dapr manifests, no effect.",
    ),
];
/// `layout`, default `compact`.
pub const LAYOUT: Property = Property::new(
    "layout",
    "How values are stored: compact (one string per key: one GET or SET) or dapr (Dapr's hash, for sharing the database with daprd). Both read both.",
)
.with_default("compact");
/// `minIdleConns`: accepted, no effect.
pub const MIN_IDLE_CONNS: Property = Property::new(
    "minIdleConns",
    "Accepted for Dapr manifests; no effect (multiplexed connections).",
);

/// Every property of `state.redis`.
pub const PROPERTIES: &[Property] = &[
    REDIS_HOST,
    REDIS_USERNAME,
    REDIS_PASSWORD,
    REDIS_TYPE,
    REDIS_DB,
    ENABLE_TLS,
    CLIENT_CERT,
    CLIENT_KEY,
    CA_CERT,
    FAILOVER,
    SENTINEL_MASTER_NAME,
    REDIS_MAX_RETRIES,
    REDIS_MIN_RETRY_INTERVAL,
    REDIS_MAX_RETRY_INTERVAL,
    DIAL_TIMEOUT,
    READ_TIMEOUT,
    WRITE_TIMEOUT,
    TTL_IN_SECONDS,
    POOL_SIZE,
    LAYOUT,
    MIN_IDLE_CONNS,
    QUERY_INDEXES,
    POOL_SETTINGS[0],
    POOL_SETTINGS[1],
    POOL_SETTINGS[2],
    POOL_SETTINGS[3],
    POOL_SETTINGS[4],
    POOL_SETTINGS[5],
];

/// Longest key, in bytes.
pub const MAX_KEY_LEN: usize = 8 * 1024;
/// Most operations in one transaction (one script call).
pub const MAX_TRANSACTION_OPS: usize = 1000;
/// Most keys per pipeline of a bulk call.
pub const MAX_BULK_BATCH: usize = 1000;
/// Largest value: Redis's default `proto-max-bulk-len` (512 MiB).
pub const MAX_VALUE_LEN: usize = 512 * 1024 * 1024;
/// Most connections in `poolSize`.
const MAX_POOL_SIZE: usize = 64;

/// One server or a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `redisType: node`.
    Node,
    /// `redisType: cluster`.
    Cluster,
}

/// How a value is stored (property `layout`). Reads understand both, so
/// either can open data written with the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueLayout {
    /// One string per key: a small header (etag, expiry, content type)
    /// then the value (see `record.rs`).
    Compact,
    /// Dapr's hash: `data`, `version`, `ctype`, `exp`.
    Dapr,
}

/// The parsed configuration.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// Node or cluster.
    pub mode: Mode,
    /// `(host, port)` of the server, or of the cluster's seed nodes.
    pub hosts: Vec<(String, u16)>,
    /// Whether to use TLS.
    pub tls: bool,
    /// ACL user.
    pub username: Option<String>,
    /// Password (never printed).
    pub password: Option<String>,
    /// Database number (node mode).
    pub db: i64,
    /// Client certificate and key (PEM), for mutual TLS.
    pub client_tls: Option<(String, String)>,
    /// CA certificate (PEM).
    pub ca_cert: Option<String>,
    /// Re-dials per call.
    pub max_retries: usize,
    /// First and longest wait between re-dials.
    pub retry_interval: (Duration, Duration),
    /// Bound of one connection attempt.
    pub dial_timeout: Duration,
    /// Bound of one answer (`None`: unbounded).
    pub response_timeout: Option<Duration>,
    /// Default ttl of writes without one.
    pub default_ttl: Option<Ttl>,
    /// Multiplexed connections in node mode.
    pub pool_size: usize,
    /// How values are stored.
    pub layout: ValueLayout,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |set: bool| if set { Some("<hidden>") } else { None };
        f.debug_struct("Config")
            .field("mode", &self.mode)
            .field("hosts", &self.hosts)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &hidden(self.password.is_some()))
            .field("db", &self.db)
            .field("client_tls", &hidden(self.client_tls.is_some()))
            .field("ca_cert", &self.ca_cert.is_some())
            .field("max_retries", &self.max_retries)
            .field("retry_interval", &self.retry_interval)
            .field("dial_timeout", &self.dial_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("default_ttl", &self.default_ttl)
            .field("pool_size", &self.pool_size)
            .field("layout", &self.layout)
            .finish()
    }
}

impl Config {
    /// Reads and validates the properties.
    pub fn from_properties(properties: &Properties) -> Result<Config> {
        let r = properties.reader(NAME);
        let mode = r.choice(
            &REDIS_TYPE,
            &[("node", Mode::Node), ("cluster", Mode::Cluster)],
        )?;
        let (hosts, url_tls) =
            parse_hosts(&r.require(&REDIS_HOST)?).map_err(|why| r.error(&REDIS_HOST, why))?;
        if mode == Mode::Node && hosts.len() > 1 {
            return Err(r.error(
                &REDIS_HOST,
                "several hosts need redisType cluster; node mode takes one",
            ));
        }
        let db = r.parse::<i64>(&REDIS_DB, "a database number")?.unwrap_or(0);
        if db < 0 || (mode == Mode::Cluster && db != 0) {
            return Err(r.error(
                &REDIS_DB,
                format!("{db} is not possible here: use 0 or more (and 0 in a cluster)"),
            ));
        }
        if r.bool(&FAILOVER)? {
            return Err(r.error(
                &FAILOVER,
                "Redis Sentinel is not supported: point redisHost at the primary, or use redisType cluster",
            ));
        }
        if r.raw(&QUERY_INDEXES).is_some() {
            return Err(r.error(
                &QUERY_INDEXES,
                "the query API (RediSearch) is not offered by this store: leave it out",
            ));
        }
        let tls = r.bool(&ENABLE_TLS)? || url_tls;
        let cert = r.string(&CLIENT_CERT)?;
        let key = r.string(&CLIENT_KEY)?;
        let client_tls = match (cert, key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            (Some(_), None) => return Err(r.error(&CLIENT_KEY, "is required with clientCert")),
            (None, Some(_)) => return Err(r.error(&CLIENT_CERT, "is required with clientKey")),
        };
        let ca_cert = r.string(&CA_CERT)?;
        for (p, pem) in [
            (&CLIENT_CERT, client_tls.as_ref().map(|c| &c.0)),
            (&CLIENT_KEY, client_tls.as_ref().map(|c| &c.1)),
            (&CA_CERT, ca_cert.as_ref()),
        ] {
            if let Some(pem) = pem {
                if !tls {
                    return Err(r.error(p, "needs enableTLS true"));
                }
                if !pem.contains("-----BEGIN ") {
                    return Err(r.error(p, "is not PEM text (no -----BEGIN line)"));
                }
            }
        }
        let retries = r
            .parse::<i64>(&REDIS_MAX_RETRIES, "an integer, -1 for none")?
            .unwrap_or(3);
        if !(-1..=100).contains(&retries) {
            return Err(r.error(
                &REDIS_MAX_RETRIES,
                format!("{retries} is outside -1 to 100"),
            ));
        }
        let min_wait = r.interval(&REDIS_MIN_RETRY_INTERVAL)?.unwrap_or_default();
        let max_wait = r.interval(&REDIS_MAX_RETRY_INTERVAL)?.unwrap_or_default();
        let dial_timeout = r.duration(&DIAL_TIMEOUT)?.unwrap_or(Duration::from_secs(5));
        if dial_timeout.is_zero() {
            return Err(r.error(&DIAL_TIMEOUT, "must be greater than zero"));
        }
        let read = r.interval(&READ_TIMEOUT)?;
        let write = match r.raw(&WRITE_TIMEOUT) {
            Some(_) => r.interval(&WRITE_TIMEOUT)?,
            None => read,
        };
        let default_ttl = match r.string(&TTL_IN_SECONDS)? {
            Some(text) => Ttl::parse(&text).map_err(|e| r.error(&TTL_IN_SECONDS, e.message()))?,
            None => None,
        };
        let pool_size = r
            .parse::<usize>(&POOL_SIZE, "a positive integer")?
            .unwrap_or(1);
        if !(1..=MAX_POOL_SIZE).contains(&pool_size) {
            return Err(r.error(
                &POOL_SIZE,
                format!("{pool_size} is outside 1 to {MAX_POOL_SIZE}"),
            ));
        }
        let layout = r.choice(
            &LAYOUT,
            &[
                ("compact", ValueLayout::Compact),
                ("dapr", ValueLayout::Dapr),
            ],
        )?;
        r.parse::<u64>(&MIN_IDLE_CONNS, "a non-negative integer")?;
        for p in POOL_SETTINGS {
            r.interval(p)?;
        }
        Ok(Config {
            mode,
            hosts,
            tls,
            username: r.string(&REDIS_USERNAME)?,
            password: r.string(&REDIS_PASSWORD)?,
            db,
            client_tls,
            ca_cert,
            max_retries: retries.max(0) as usize,
            retry_interval: (min_wait, max_wait.max(min_wait)),
            dial_timeout,
            response_timeout: read.zip(write).map(|(a, b)| a.max(b)),
            default_ttl,
            pool_size,
            layout,
        })
    }

    /// The bound of one whole call: a connection attempt and an answer.
    pub fn call_timeout(&self) -> Option<Duration> {
        self.response_timeout.map(|r| r + self.dial_timeout)
    }
}

/// Parses `redisHost`: `host[:port]` entries separated by commas, each
/// possibly a `redis://` or `rediss://` URL. Returns the hosts and whether a
/// `rediss://` URL asked for TLS.
pub fn parse_hosts(text: &str) -> std::result::Result<(Vec<(String, u16)>, bool), String> {
    let mut hosts = Vec::new();
    let mut tls = false;
    for entry in text.split(',').map(str::trim) {
        if entry.is_empty() {
            return Err("has an empty entry: give host:port, separated by commas".into());
        }
        if entry.contains('@') {
            // Never echo the entry: it holds credentials.
            return Err("holds credentials: give them as redisUsername and redisPassword".into());
        }
        let mut rest = entry;
        if let Some((scheme, after)) = entry.split_once("://") {
            match scheme.to_ascii_lowercase().as_str() {
                "redis" => {}
                "rediss" => tls = true,
                _ => return Err(format!("scheme {scheme:?}: expected redis:// or rediss://")),
            }
            rest = after.split(['/', '?']).next().unwrap_or("");
        }
        let (host, port) = match rest.strip_prefix('[') {
            Some(v6) => {
                let (h, after) = v6
                    .split_once(']')
                    .ok_or_else(|| format!("{entry:?}: unclosed [ of an IPv6 address"))?;
                (h, after.strip_prefix(':'))
            }
            None => match rest.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') => (h, Some(p)),
                Some(_) => return Err(format!("{entry:?}: write IPv6 addresses as [addr]:port")),
                None => (rest, None),
            },
        };
        if host.is_empty() {
            return Err(format!("{entry:?} has no host"));
        }
        let port = match port {
            None => 6379,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("{entry:?}: port {p:?} is not 1 to 65535"))?,
        };
        hosts.push((host.to_owned(), port));
    }
    Ok((hosts, tls))
}

#[cfg(test)]
mod tests {
    use super::*;
    use statestore_core::ErrorKind;

    fn props(host: &str) -> Properties {
        Properties::new().with("redisHost", host)
    }

    #[test]
    fn defaults() {
        let c = Config::from_properties(&props("localhost")).unwrap();
        assert_eq!(c.mode, Mode::Node);
        assert_eq!(c.hosts, vec![("localhost".to_owned(), 6379)]);
        assert_eq!(c.db, 0);
        assert!(!c.tls);
        assert_eq!(c.max_retries, 3);
        assert_eq!(c.dial_timeout, Duration::from_secs(5));
        assert_eq!(c.response_timeout, Some(Duration::from_secs(3)));
        assert_eq!(c.call_timeout(), Some(Duration::from_secs(8)));
        assert_eq!(c.default_ttl, None);
        assert_eq!(c.pool_size, 1);
        assert_eq!(c.layout, ValueLayout::Compact);
    }

    #[test]
    fn hosts() {
        let p = |s: &str| parse_hosts(s);
        assert_eq!(p("h:7000").unwrap().0, vec![("h".to_owned(), 7000)]);
        assert_eq!(p("[::1]:7000").unwrap().0, vec![("::1".to_owned(), 7000)]);
        assert_eq!(
            p("rediss://h:1/0").unwrap(),
            (vec![("h".to_owned(), 1)], true)
        );
        assert_eq!(p("a:1, b:2").unwrap().0.len(), 2);
        for bad in ["", "a,,b", "h:0", "h:x", "::1", "[::1", "http://h", ":80"] {
            assert!(p(bad).is_err(), "{bad}");
        }
        for secret in [
            "redis://u:hunter2@h:1",
            "redis://u:hun/ter2@h:x",
            "redis://admin:6379/x@h",
        ] {
            let e = p(secret).unwrap_err();
            assert!(!e.contains("ter2") && !e.contains("admin"), "{e}");
        }
    }

    #[test]
    fn errors_name_the_property_and_hide_secrets() {
        let e = Config::from_properties(&Properties::new()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.to_string().contains("redisHost"), "{e}");
        for (name, value) in [
            ("redisType", "sentinel"),
            ("redisDB", "-1"),
            ("redisDB", "x"),
            ("failover", "true"),
            ("queryIndexes", "[]"),
            ("enableTLS", "maybe"),
            ("clientCert", "-----BEGIN CERTIFICATE-----"),
            ("caCert", "not pem"),
            ("redisMaxRetries", "1000"),
            ("dialTimeout", "0"),
            ("readTimeout", "soon"),
            ("ttlInSeconds", "-2"),
            ("poolSize", "0"),
            ("minIdleConns", "-1"),
            ("idleTimeout", "x"),
            ("layout", "json"),
        ] {
            let e = Config::from_properties(&props("h").with(name, value)).unwrap_err();
            assert!(e.to_string().contains(name), "{name}: {e}");
            assert!(e.to_string().starts_with("state.redis: init:"), "{e}");
        }
        let e =
            Config::from_properties(&props("h").with("redisType", "cluster").with("redisDB", "2"))
                .unwrap_err();
        assert!(e.to_string().contains("redisDB"), "{e}");
        let c = Config::from_properties(&props("h").with("redisPassword", "hunter2")).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn dapr_forms() {
        let c = Config::from_properties(
            &props("a:7000,b:7001")
                .with("redisType", "Cluster")
                .with("maxRetryBackoff", "2s")
                .with("readTimeout", "-1")
                .with("ttlInSeconds", "60")
                .with("redisMaxRetries", "-1"),
        )
        .unwrap();
        assert_eq!(c.mode, Mode::Cluster);
        assert_eq!(c.retry_interval.1, Duration::from_secs(2));
        assert_eq!(c.response_timeout, None);
        assert_eq!(c.default_ttl, Some(Ttl::Seconds(60)));
        assert_eq!(c.max_retries, 0);
    }
}
