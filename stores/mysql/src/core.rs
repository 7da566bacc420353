//! Driver calls: schema creation, the sqlx pool, parameter binding and the
//! migration lock.

use std::sync::Arc;

use sqlx::error::DatabaseError;
use sqlx::mysql::{MySqlDatabaseError, MySqlPool, MySqlQueryResult};
use sqlx::{Connection as _, Executor as _, MySql, MySqlConnection};
use statestore_core::{Error, Properties, Result};
use statestore_sql::driver::{DriverQuery, bind_scalar, map};
use statestore_sql::kept::Conns;
use statestore_sql::{Backend, Conn as _, Driver, Param, Settings, SqlxConn, lock_id};

use crate::NAME;
use crate::config::Config;
use crate::dialect::MySqlDialect;
use crate::error::kind_of;

/// The sqlx side of MySQL: binding and error numbers.
pub struct MySqlDriver;

impl Driver for MySqlDriver {
    type Db = MySql;

    fn bind(q: DriverQuery<Self>, p: Param) -> DriverQuery<Self> {
        // This dialect never makes arrays; one would be bound as NULL.
        bind_scalar::<Self>(q, p).unwrap_or_else(|(q, _)| q.bind(None::<i64>))
    }

    fn classify(e: &dyn DatabaseError) -> Error {
        kind_of(
            e.try_downcast_ref::<MySqlDatabaseError>()
                .map_or(0, MySqlDatabaseError::number),
        )
    }

    fn rows_affected(done: &MySqlQueryResult) -> u64 {
        done.rows_affected()
    }
}

/// A connection of the MySQL store.
pub type MySqlConn = SqlxConn<MySqlDriver>;

/// The MySQL or MariaDB database of one store.
pub struct MySqlBackend {
    conns: Arc<Conns<MySqlDriver>>,
    dialect: MySqlDialect,
    lock: String,
    lock_wait_secs: u64,
}

/// What the server told at connect.
pub struct Server {
    /// `@@max_allowed_packet`, in bytes.
    pub max_packet: usize,
    /// Whether it is MariaDB (which has `DELETE ... RETURNING`).
    pub mariadb: bool,
}

/// Creates the schema when missing and reads the server's limits, on a
/// connection of its own.
pub async fn prepare(c: &Config) -> Result<Server> {
    let mut conn = MySqlConnection::connect_with(&c.connect)
        .await
        .map_err(map::<MySqlDriver>)?;
    let create = format!("CREATE DATABASE IF NOT EXISTS `{}`", c.schema);
    sqlx::query(sqlx::AssertSqlSafe(create))
        .execute(&mut conn)
        .await
        .map_err(map::<MySqlDriver>)?;
    let (packet, version): (i64, String) =
        sqlx::query_as("SELECT CAST(@@max_allowed_packet AS SIGNED), VERSION()")
            .fetch_one(&mut conn)
            .await
            .map_err(map::<MySqlDriver>)?;
    let _ = conn.close().await;
    Ok(Server {
        max_packet: usize::try_from(packet).unwrap_or(16 << 20),
        mariadb: version.to_ascii_lowercase().contains("mariadb"),
    })
}

/// The pool of a configuration, on its schema (see
/// `statestore_sql::config::Pool`).
pub async fn pool(c: &Config) -> Result<MySqlPool> {
    c.pool
        .options::<MySql>(c.settings.timeout)
        // Conditional statements need no snapshot, and REPEATABLE READ's
        // gap locks make transactions on unrelated keys deadlock.
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                    .await
                    .map(drop)
            })
        })
        .connect_with(c.connect.clone().database(&c.schema))
        .await
        .map_err(map::<MySqlDriver>)
}

impl Backend for MySqlBackend {
    const NAME: &'static str = NAME;
    type Dialect = MySqlDialect;
    type Conn = MySqlConn;

    async fn connect(properties: &Properties) -> Result<(Self, Settings)> {
        let mut config = Config::from_properties(properties)?;
        let timeout = config.settings.timeout;
        let (server, pool) = config
            .settings
            .bounded("no connection", async {
                let server = prepare(&config).await?;
                Ok((server, pool(&config).await?))
            })
            .await?;
        // One value must fit a single-row statement; a statement carries
        // at most half a packet, each value counted twice (its JSON copy).
        // A value over half a packet has no JSON copy (see the dialect).
        config.settings.max_value_len = server.max_packet.saturating_sub(64 * 1024).max(1024);
        let dialect = MySqlDialect::new(
            &config.settings.table,
            &config.settings.metadata_table,
            server.mariadb,
            server.max_packet / 2,
        );
        let backend = MySqlBackend {
            conns: Conns::new(pool, timeout),
            dialect,
            lock: format!(
                "statestore:{:016x}",
                // One lock per schema: the metadata table is shared.
                lock_id(&config.schema)
            ),
            lock_wait_secs: timeout.as_secs().max(1),
        };
        Ok((backend, config.settings))
    }

    fn dialect(&self) -> &MySqlDialect {
        &self.dialect
    }

    async fn read(&self) -> Result<MySqlConn> {
        Ok(SqlxConn::Kept(self.conns.plain().await?))
    }

    async fn begin(&self) -> Result<MySqlConn> {
        let (tx, permit) = self.conns.begin(None).await?;
        Ok(SqlxConn::Tx(tx, permit))
    }

    /// A connection detached from the pool holding a named lock
    /// (`GET_LOCK`). MySQL commits DDL at once, so a transaction cannot be
    /// the lock; a named lock lasts until released or until the
    /// connection closes, which `commit` and drop both do.
    async fn begin_migration(&self) -> Result<MySqlConn> {
        let conn = self
            .conns
            .pool()
            .acquire()
            .await
            .map_err(map::<MySqlDriver>)?
            .detach();
        let mut conn = SqlxConn::Detached {
            conn,
            finish: vec![format!("DO RELEASE_LOCK('{}')", self.lock)],
        };
        let got = conn
            .texts(statestore_sql::Stmt::built(
                "SELECT CAST(GET_LOCK(?, ?) AS CHAR)".into(),
                vec![
                    Param::Text(self.lock.clone()),
                    Param::I64(self.lock_wait_secs as i64),
                ],
            ))
            .await?;
        if got.first().map(String::as_str) != Some("1") {
            return Err(Error::timeout(
                "another instance held the migration lock for longer than the timeout",
            ));
        }
        Ok(conn)
    }

    async fn close(&self) {
        self.conns.close().await;
    }
}
