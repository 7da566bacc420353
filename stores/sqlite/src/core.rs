//! Driver calls: the sqlx pools and the connection that runs statements.
//!
//! Writes go through a pool of exactly one connection and take the write
//! lock up front (`BEGIN IMMEDIATE`), so writers of one process queue in the
//! pool instead of failing with "database is locked"; reads use their own
//! small pool and, in WAL mode, never wait for writers. An in-memory
//! database lives in a single connection shared by both roles.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::error::DatabaseError;
use sqlx::sqlite::{
    SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteQueryResult, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, ConnectOptions, Sqlite};
use statestore_core::{Properties, Result};
use statestore_sql::driver::{DriverQuery, bind_scalar};
use statestore_sql::kept::Conns;
use statestore_sql::{Backend, Driver, Param, Settings, SqlxConn};

use crate::NAME;
use crate::config::{Config, Location};
use crate::dialect::SqliteDialect;
use crate::error::{code, is_busy, is_cant_open, kind_of};

/// Connections in the read pool of a file database.
const READERS: u32 = 4;

/// The SQLite database of one store.
pub struct SqliteBackend {
    reader: Arc<Conns<SqliteDriver>>,
    writer: Arc<Conns<SqliteDriver>>,
    dialect: SqliteDialect,
}

/// The sqlx side of SQLite: binding and error codes.
pub struct SqliteDriver;

impl Driver for SqliteDriver {
    type Db = Sqlite;

    fn bind(q: DriverQuery<Self>, p: Param) -> DriverQuery<Self> {
        match p {
            // SQLite's arguments own their bytes: a value moved in whole is
            // not copied again.
            Param::Bytes(b) => q.bind(Vec::from(b)),
            // This dialect never makes arrays; one would be bound as NULL.
            p => bind_scalar::<Self>(q, p).unwrap_or_else(|(q, _)| q.bind(None::<i64>)),
        }
    }

    fn classify(e: &dyn DatabaseError) -> statestore_core::Error {
        kind_of(code(e))
    }

    fn rows_affected(done: &SqliteQueryResult) -> u64 {
        done.rows_affected()
    }
}

/// The error of opening the database file. SQLite says only that it
/// cannot open it; when the file system refuses this process, that is a
/// permission, not an unreachable file.
fn open_error(e: sqlx::Error, location: &Location) -> statestore_core::Error {
    let Location::File(path) = location else {
        return map(e);
    };
    if !is_cant_open(&e) {
        return map(e);
    }
    use std::io::ErrorKind::{NotFound, PermissionDenied};
    let refused = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
    {
        // A new file: whether this process may create one there.
        Err(io) if io.kind() == NotFound => {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
            {
                Ok(_) => {
                    let _ = std::fs::remove_file(path);
                    false
                }
                Err(io) => io.kind() == PermissionDenied,
            }
        }
        Err(io) => io.kind() == PermissionDenied,
        Ok(_) => false,
    };
    if refused {
        statestore_core::Error::permission_denied(
            "this process may not open or create the database file (file or directory permissions)",
        )
        .with_source(e)
    } else {
        map(e)
    }
}

/// Maps a driver error: the mapping every SQL store shares, with SQLite's
/// result codes; the driver's error is kept as the source.
pub(crate) fn map(e: sqlx::Error) -> statestore_core::Error {
    statestore_sql::driver::map::<SqliteDriver>(e)
}

/// A connection of the SQLite store.
pub type SqliteConn = SqlxConn<SqliteDriver>;

/// Sets the journal mode, which is stored in the database file. Changing it
/// needs an exclusive lock that SQLite does not wait for, so instances
/// opening a new file together would fail at random: retry instead, for up
/// to the busy timeout.
async fn set_journal_mode(pool: &SqlitePool, mode: &str, patience: Duration) -> Result<()> {
    let deadline = Instant::now() + patience.max(Duration::from_secs(1));
    let sql = format!("PRAGMA journal_mode = {mode}");
    loop {
        match sqlx::query_scalar::<_, String>(AssertSqlSafe(sql.clone()))
            .fetch_one(pool)
            .await
        {
            Ok(now) if now.eq_ignore_ascii_case(mode) => return Ok(()),
            Ok(now) => {
                tracing::warn!(store = NAME, wanted = mode, got = %now, "the journal mode could not be changed");
                return Ok(());
            }
            Err(e) if is_busy(&e) && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(10 + fastrand::u64(..40))).await;
            }
            Err(e) => return Err(map(e)),
        }
    }
}

/// The reader and writer pools of the configured database (one shared
/// connection for `:memory:`).
pub(crate) async fn pools(c: &Config) -> Result<(SqlitePool, SqlitePool)> {
    let mut journal_mode = if c.disable_wal { "DELETE" } else { "WAL" }.to_owned();
    let mut opts = match &c.location {
        Location::Memory => SqliteConnectOptions::from_str("sqlite::memory:").map_err(map)?,
        Location::File(path) => SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            // In WAL mode NORMAL keeps the database consistent and loses no
            // commit on a process crash; only an OS crash can lose the last
            // ones. `_pragma=synchronous(full)` trades speed for that too.
            .synchronous(if c.disable_wal {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            }),
    };
    opts = opts.busy_timeout(c.busy_timeout);
    // sqlx logs each statement at debug level, its pragmas included: a key
    // pragma would put the key into the log.
    if c.pragmas.iter().any(|(name, _)| name.contains("key")) {
        opts = opts.disable_statement_logging();
    }
    for (name, value) in &c.pragmas {
        if name == "journal_mode" {
            journal_mode = value.clone();
        } else {
            opts = opts.pragma(name.clone(), value.clone());
        }
    }
    let base = SqlitePoolOptions::new()
        .acquire_timeout(c.settings.timeout)
        // Waiting for the one writer is the design, not news.
        .acquire_slow_threshold(c.settings.timeout)
        .test_before_acquire(false);
    if c.location == Location::Memory {
        // One connection holds the database; it must never be recycled.
        let pool = base
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(opts)
            .await
            .map_err(map)?;
        return Ok((pool.clone(), pool));
    }
    let writer = base
        .clone()
        .max_connections(1)
        .connect_with(opts.clone())
        .await
        .map_err(|e| open_error(e, &c.location))?;
    set_journal_mode(&writer, &journal_mode, c.busy_timeout).await?;
    let reader = base
        .max_connections(READERS)
        .connect_with(opts)
        .await
        .map_err(map)?;
    Ok((reader, writer))
}

impl Backend for SqliteBackend {
    const NAME: &'static str = NAME;
    type Dialect = SqliteDialect;
    type Conn = SqliteConn;

    async fn connect(properties: &Properties) -> Result<(Self, Settings)> {
        let config = Config::from_properties(properties)?;
        let (reader, writer) = pools(&config).await?;
        let dialect = SqliteDialect::new(&config.settings.table, &config.settings.metadata_table);
        let wait = config.settings.timeout;
        let writer = Conns::new(writer, wait);
        // In memory both are the one connection: one queue for it.
        let reader = match config.location {
            Location::Memory => writer.clone(),
            Location::File(_) => Conns::new(reader, wait),
        };
        Ok((
            SqliteBackend {
                reader,
                writer,
                dialect,
            },
            config.settings,
        ))
    }

    fn dialect(&self) -> &SqliteDialect {
        &self.dialect
    }

    async fn read(&self) -> Result<SqliteConn> {
        Ok(SqliteConn::Kept(self.reader.plain().await?))
    }

    async fn write(&self) -> Result<SqliteConn> {
        Ok(SqliteConn::Kept(self.writer.plain().await?))
    }

    async fn begin(&self) -> Result<SqliteConn> {
        let (tx, permit) = self.writer.begin(Some("BEGIN IMMEDIATE")).await?;
        Ok(SqliteConn::Tx(tx, permit))
    }

    async fn begin_migration(&self) -> Result<SqliteConn> {
        // BEGIN IMMEDIATE takes the database's write lock, which is the
        // migration lock across processes too.
        self.begin().await
    }

    async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use statestore_core::ErrorKind;

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
}
