//! Driver calls: the sqlx pool, parameter binding and the migration lock.

use async_trait::async_trait;
use sqlx::error::DatabaseError;
use sqlx::postgres::{PgPool, PgPoolOptions, PgQueryResult};
use sqlx::{Executor as _, Postgres};
use statestore_core::{Properties, Result};
use statestore_sql::driver::{DriverQuery, acquire, begin, connect_within, map};
use statestore_sql::{Backend, Driver, Param, Settings, SqlxConn, lock_id};

use crate::NAME;
use crate::config::Config;
use crate::dialect::PgDialect;
use crate::error::kind_of;

/// The sqlx side of PostgreSQL: binding and error codes.
pub struct PgDriver;

impl Driver for PgDriver {
    type Db = Postgres;

    fn bind(q: DriverQuery<Self>, p: Param) -> DriverQuery<Self> {
        match p {
            Param::Text(s) => q.bind(s),
            Param::OptText(s) => q.bind(s),
            Param::Bytes(b) => q.bind(Vec::from(b)),
            Param::I64(v) => q.bind(v),
            Param::OptI64(v) => q.bind(v),
            Param::TextArray(v) => q.bind(v),
            Param::OptTextArray(v) => q.bind(v),
            Param::BytesArray(v) => q.bind(v),
            Param::I64Array(v) => q.bind(v),
            Param::OptI64Array(v) => q.bind(v),
        }
    }

    fn classify(e: &dyn DatabaseError) -> statestore_core::Error {
        kind_of(e.code().as_deref().unwrap_or(""))
    }

    fn rows_affected(done: &PgQueryResult) -> u64 {
        done.rows_affected()
    }
}

/// A connection of the PostgreSQL store.
pub type PgConn = SqlxConn<PgDriver>;

/// The PostgreSQL database of one store.
pub struct PgBackend {
    pool: PgPool,
    dialect: PgDialect,
    lock_id: i64,
}

/// The pool of a configuration. Connections are not pinged before use
/// (that would cost a round trip per call); a connection broken by a server
/// restart fails its call with `Unavailable` and is replaced.
pub async fn pool(c: &Config) -> Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(c.max_conns)
        .min_connections(0)
        .acquire_timeout(c.settings.timeout)
        .idle_timeout(c.max_idle)
        .test_before_acquire(false)
        .connect_with(c.connect.clone())
        .await
        .map_err(map::<PgDriver>)
}

#[async_trait]
impl Backend for PgBackend {
    const NAME: &'static str = NAME;
    type Dialect = PgDialect;
    type Conn = PgConn;

    async fn connect(properties: &Properties) -> Result<(Self, Settings)> {
        let config = Config::from_properties(properties)?;
        let pool = connect_within(config.settings.timeout, "timeout", pool(&config)).await?;
        let dialect = PgDialect::new(&config.settings.table, &config.settings.metadata_table);
        let backend = PgBackend {
            pool,
            dialect,
            lock_id: lock_id(&config.settings.table),
        };
        Ok((backend, config.settings))
    }

    fn dialect(&self) -> &PgDialect {
        &self.dialect
    }

    async fn read(&self) -> Result<PgConn> {
        acquire(&self.pool).await
    }

    async fn write(&self) -> Result<PgConn> {
        self.read().await
    }

    async fn begin(&self) -> Result<PgConn> {
        begin(&self.pool).await
    }

    /// A transaction holding an advisory lock on the table's name until it
    /// ends; PostgreSQL's DDL is transactional, so a failed migration
    /// leaves nothing behind.
    async fn begin_migration(&self) -> Result<PgConn> {
        let mut tx = self.pool.begin().await.map_err(map::<PgDriver>)?;
        tx.execute(sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(self.lock_id))
            .await
            .map_err(map::<PgDriver>)?;
        Ok(SqlxConn::Tx(tx))
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
