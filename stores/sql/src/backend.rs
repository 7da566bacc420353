//! What a SQL database crate provides: connections that run [`Stmt`]s, and
//! the settings the shared logic needs. Errors are mapped to
//! [`statestore_core::Error`] by the backend (its `error.rs`).

use std::time::Duration;

use async_trait::async_trait;
use statestore_core::{Properties, Result};

use crate::dialect::{Dialect, Row, Stmt};

/// Settings every SQL store has, read by the backend from its own properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The state table (validated).
    pub table: String,
    /// The metadata table (validated).
    pub metadata_table: String,
    /// Upper bound of every operation.
    pub timeout: Duration,
    /// The property that set it, for messages (`timeout`, `timeoutInSeconds`).
    pub timeout_property: &'static str,
    /// How often expired rows are purged; `None` turns the cleanup off.
    pub cleanup_interval: Option<Duration>,
    /// Most operations in one transaction.
    pub max_transaction_ops: usize,
    /// Longest key in bytes.
    pub max_key_len: usize,
    /// Largest value in bytes.
    pub max_value_len: usize,
}

impl Settings {
    /// Bounds `f` by the timeout; on expiry fails with `Timeout`, `what`
    /// (e.g. "no answer") naming what did not happen in time.
    pub async fn bounded<T>(
        &self,
        what: &str,
        f: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        tokio::time::timeout(self.timeout, f)
            .await
            .unwrap_or_else(|_| {
                Err(statestore_core::Error::timeout(format!(
                    "{what} within {:?} (property {})",
                    self.timeout, self.timeout_property
                )))
            })
    }
}

/// A connection, plain or inside a transaction.
#[async_trait]
pub trait Conn: Send {
    /// Runs a statement; returns the number of rows it changed.
    async fn execute(&mut self, stmt: Stmt) -> Result<u64>;

    /// Runs a statement returning state rows.
    async fn rows(&mut self, stmt: Stmt) -> Result<Vec<Row>>;

    /// Runs a statement returning state rows and hands each to `each` with
    /// its key's bytes borrowed from the answer: a bulk read places its
    /// items without a copy of each key.
    async fn each_row(
        &mut self,
        stmt: Stmt,
        each: &mut (dyn for<'r> FnMut(Row<&'r [u8]>) + Send),
    ) -> Result<()>;

    /// Runs a statement returning at most one state row (the live row of
    /// one key), without its key: the caller named it.
    async fn row(&mut self, stmt: Stmt) -> Result<Option<Row<()>>>;

    /// Runs a statement returning one text column.
    async fn texts(&mut self, stmt: Stmt) -> Result<Vec<String>>;

    /// Commits the transaction this connection is in (no-op outside one).
    /// Dropping a connection without commit rolls its transaction back.
    async fn commit(self) -> Result<()>;
}

/// A SQL database: its name, dialect and connections.
#[async_trait]
pub trait Backend: Send + Sync + Sized + 'static {
    /// The store type, e.g. `state.sqlite`.
    const NAME: &'static str;

    /// Its dialect.
    type Dialect: Dialect;

    /// Its connection.
    type Conn: Conn;

    /// Reads the properties and connects.
    async fn connect(properties: &Properties) -> Result<(Self, Settings)>;

    /// The dialect for the configured tables.
    fn dialect(&self) -> &Self::Dialect;

    /// A connection for reads.
    async fn read(&self) -> Result<Self::Conn>;

    /// A connection for single-statement writes (autocommit); by default
    /// the same as for reads.
    async fn write(&self) -> Result<Self::Conn> {
        self.read().await
    }

    /// A connection inside a write transaction.
    async fn begin(&self) -> Result<Self::Conn>;

    /// A connection inside a transaction that holds the schema migration
    /// lock, so that instances starting together migrate one after another.
    async fn begin_migration(&self) -> Result<Self::Conn>;

    /// Closes every connection.
    async fn close(&self);
}
