//! Driver calls: the sqlx pool, parameter binding and the migration lock.

use std::sync::Arc;

use sqlx::error::DatabaseError;
use sqlx::postgres::{PgPool, PgQueryResult};
use sqlx::{Executor as _, Postgres};
use statestore_core::{Properties, Result};
use statestore_sql::driver::{DriverQuery, bind_scalar, map};
use statestore_sql::kept::Conns;
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
        match bind_scalar::<Self>(q, p) {
            Ok(q) => q,
            // Borrowed from the packed texts and values; sqlx encodes on bind.
            Err((q, Param::TextArray(v))) => q.bind(v.iter().collect::<Vec<&str>>()),
            Err((q, Param::OptTextArray(v))) => q.bind(v),
            Err((q, Param::BytesArray(v))) => {
                q.bind(v.iter().map(|b| &b[..]).collect::<Vec<&[u8]>>())
            }
            Err((q, Param::I64Array(v))) => q.bind(v),
            Err((q, Param::OptI64Array(v))) => q.bind(v),
            Err((q, _)) => q,
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
    conns: Arc<Conns<PgDriver>>,
    dialect: PgDialect,
    lock_id: i64,
}

/// The pool of a configuration (see `statestore_sql::config::Pool`).
pub async fn pool(c: &Config) -> Result<PgPool> {
    c.pool
        .options::<Postgres>(c.settings.timeout)
        .connect_with(c.connect.clone())
        .await
        .map_err(map::<PgDriver>)
}

impl Backend for PgBackend {
    const NAME: &'static str = NAME;
    type Dialect = PgDialect;
    type Conn = PgConn;

    async fn connect(properties: &Properties) -> Result<(Self, Settings)> {
        let config = Config::from_properties(properties)?;
        let pool = config
            .settings
            .bounded("no connection", pool(&config))
            .await?;
        let dialect = PgDialect::new(&config.settings.table, &config.settings.metadata_table);
        let backend = PgBackend {
            conns: Conns::new(pool, config.settings.timeout),
            dialect,
            // One lock for every migration in the database, not one per
            // table: `CREATE SCHEMA/TABLE IF NOT EXISTS` of a shared schema
            // or metadata table is not safe when run concurrently.
            lock_id: lock_id("database"),
        };
        Ok((backend, config.settings))
    }

    fn dialect(&self) -> &PgDialect {
        &self.dialect
    }

    async fn read(&self) -> Result<PgConn> {
        Ok(SqlxConn::Kept(self.conns.plain().await?))
    }

    async fn begin(&self) -> Result<PgConn> {
        let (tx, permit) = self.conns.begin(None).await?;
        Ok(SqlxConn::Tx(tx, permit))
    }

    /// A transaction holding an advisory lock on the table's name until it
    /// ends; PostgreSQL's DDL is transactional, so a failed migration
    /// leaves nothing behind.
    async fn begin_migration(&self) -> Result<PgConn> {
        let (mut tx, permit) = self.conns.begin(None).await?;
        tx.execute(sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(self.lock_id))
            .await
            .map_err(map::<PgDriver>)?;
        Ok(SqlxConn::Tx(tx, permit))
    }

    async fn close(&self) {
        self.conns.close().await;
    }
}
