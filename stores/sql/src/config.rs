//! The properties every SQL store reads the same way: table names, timeout
//! and cleanup interval. Each store declares its own [`Property`]s (names
//! and defaults follow Dapr's component of that database).

use std::time::Duration;

use statestore_core::properties::Reader;
use statestore_core::{Property, Result};

use crate::backend::Settings;
use crate::ident;

/// `tableName`, default `state`.
pub const TABLE_NAME: Property =
    Property::new("tableName", "Table holding the state.").with_default("state");
/// `metadataTableName`, default `dapr_metadata` (Dapr's name).
pub const METADATA_TABLE_NAME: Property = Property::new(
    "metadataTableName",
    "Table holding schema version and cleanup bookkeeping.",
)
.with_default("dapr_metadata");
/// `timeout` (alias `timeoutInSeconds`), default 20s.
pub const TIMEOUT: Property = Property::new(
    "timeout",
    "Upper bound of every operation, as a Go duration or seconds.",
)
.with_default("20s")
.with_aliases(&["timeoutInSeconds"]);
/// `cleanupInterval` (alias `cleanupIntervalInSeconds`), default 1h.
pub const CLEANUP_INTERVAL: Property = Property::new(
    "cleanupInterval",
    "How often expired rows are purged (one instance per interval); 0 or negative turns it off.",
)
.with_default("1h")
.with_aliases(&["cleanupIntervalInSeconds"]);

/// The common properties under Dapr's usual names.
pub const COMMON: Common = Common {
    table: TABLE_NAME,
    metadata_table: METADATA_TABLE_NAME,
    timeout: TIMEOUT,
    cleanup_interval: CLEANUP_INTERVAL,
    allow_schema: false,
};

/// The connection pool of a networked SQL store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool {
    /// Most connections, 1 to 10,000 (default 10).
    pub max_conns: u32,
    /// Idle connections are closed after this long.
    pub max_idle: Option<Duration>,
    /// Connections are replaced after this long.
    pub max_lifetime: Option<Duration>,
}

impl Pool {
    /// Reads the pool size, the idle time and (where the store has it) the
    /// lifetime; zero or negative durations mean "keep".
    pub fn read(
        r: &Reader<'_>,
        size: &Property,
        idle: &Property,
        lifetime: Option<&Property>,
    ) -> Result<Pool> {
        let max_conns = r
            .parse::<u32>(size, "a whole number from 1 to 10000")?
            .unwrap_or(10);
        if !(1..=10_000).contains(&max_conns) {
            return Err(r.error(size, format!("{max_conns} is not from 1 to 10000")));
        }
        Ok(Pool {
            max_conns,
            max_idle: r.interval(idle)?,
            max_lifetime: lifetime.map(|p| r.interval(p)).transpose()?.flatten(),
        })
    }

    /// sqlx pool options: these sizes, `timeout` to get a connection, and
    /// no ping before each use (a round trip per call); a connection broken
    /// by a server restart fails its call with `Unavailable` and is replaced.
    pub fn options<DB: sqlx::Database>(&self, timeout: Duration) -> sqlx::pool::PoolOptions<DB> {
        sqlx::pool::PoolOptions::new()
            .max_connections(self.max_conns)
            .min_connections(0)
            .acquire_timeout(timeout)
            .idle_timeout(self.max_idle)
            .max_lifetime(self.max_lifetime)
            .test_before_acquire(false)
            // A busy pool is the caller's concurrency, not news: sqlx would
            // warn on every acquisition that waited over 2 s.
            .acquire_slow_threshold(timeout)
    }
}

/// The common properties of one store.
#[derive(Debug, Clone, Copy)]
pub struct Common {
    /// The state table.
    pub table: Property,
    /// The metadata table.
    pub metadata_table: Property,
    /// The operation timeout.
    pub timeout: Property,
    /// The cleanup interval.
    pub cleanup_interval: Property,
    /// Whether table names may be `schema.table`.
    pub allow_schema: bool,
}

/// Most operations in one transaction, in every SQL store.
pub const MAX_TRANSACTION_OPS: usize = 1000;

impl Common {
    /// Reads and validates the common properties.
    /// `max_key_len` and `max_value_len` are the store's limits in bytes.
    pub fn read(
        &self,
        r: &Reader<'_>,
        max_key_len: usize,
        max_value_len: usize,
    ) -> Result<Settings> {
        let table = self.table_name(r, &self.table)?;
        let metadata_table = self.table_name(r, &self.metadata_table)?;
        if table.eq_ignore_ascii_case(&metadata_table) {
            return Err(r.error(
                &self.metadata_table,
                format!("must differ from {} ({table:?})", self.table.name),
            ));
        }
        let timeout = r
            .duration(&self.timeout)?
            .unwrap_or(Duration::from_secs(20));
        if timeout.is_zero() {
            return Err(r.error(&self.timeout, "must be greater than zero"));
        }
        Ok(Settings {
            table,
            metadata_table,
            timeout,
            timeout_property: self.timeout.name,
            cleanup_interval: r.interval(&self.cleanup_interval)?,
            max_transaction_ops: MAX_TRANSACTION_OPS,
            max_key_len,
            max_value_len,
        })
    }

    fn table_name(&self, r: &Reader<'_>, p: &Property) -> Result<String> {
        let name = r.require(p)?;
        ident::validate(&name, self.allow_schema).map_err(|e| r.error(p, e.message()))?;
        Ok(name)
    }
}
