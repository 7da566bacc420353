//! What a SQL database crate provides: connections that run [`Stmt`]s, and
//! the settings the shared logic needs. Errors are mapped to
//! [`statestore_core::Error`] by the backend (its `error.rs`).

use std::future::Future;
use std::time::Duration;

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
///
/// Its methods return futures of their own type, not boxed ones (as
/// `async_trait` makes): every store call runs two or three of them, and
/// each box was an allocation and a copy of the future per call.
pub trait Conn: Send + Sized {
    /// Runs a statement; returns the number of rows it changed.
    fn execute(&mut self, stmt: Stmt) -> impl Future<Output = Result<u64>> + Send;

    /// Runs a statement returning state rows.
    fn rows(&mut self, stmt: Stmt) -> impl Future<Output = Result<Vec<Row>>> + Send;

    /// Runs a statement returning state rows and hands each to `each` with
    /// its key's bytes borrowed from the answer: a bulk read places its
    /// items without a copy of each key.
    fn each_row(
        &mut self,
        stmt: Stmt,
        each: &mut (dyn for<'r> FnMut(Row<&'r [u8]>) + Send),
    ) -> impl Future<Output = Result<()>> + Send;

    /// Runs a statement returning at most one state row (the live row of
    /// one key), without its key: the caller named it.
    fn row(&mut self, stmt: Stmt) -> impl Future<Output = Result<Option<Row<()>>>> + Send;

    /// Runs a statement returning one text column.
    fn texts(&mut self, stmt: Stmt) -> impl Future<Output = Result<Vec<String>>> + Send;

    /// Commits the transaction this connection is in (no-op outside one).
    /// Dropping a connection without commit rolls its transaction back.
    fn commit(self) -> impl Future<Output = Result<()>> + Send;
}

/// A SQL database: its name, dialect and connections. Its futures are
/// unboxed, as [`Conn`]'s.
pub trait Backend: Send + Sync + Sized + 'static {
    /// The store type, e.g. `state.sqlite`.
    const NAME: &'static str;

    /// Its dialect.
    type Dialect: Dialect;

    /// Its connection.
    type Conn: Conn;

    /// Reads the properties and connects.
    fn connect(properties: &Properties) -> impl Future<Output = Result<(Self, Settings)>> + Send;

    /// The dialect for the configured tables.
    fn dialect(&self) -> &Self::Dialect;

    /// A connection for reads.
    fn read(&self) -> impl Future<Output = Result<Self::Conn>> + Send;

    /// A connection for single-statement writes (autocommit); by default
    /// the same as for reads.
    fn write(&self) -> impl Future<Output = Result<Self::Conn>> + Send {
        self.read()
    }

    /// A connection inside a write transaction.
    fn begin(&self) -> impl Future<Output = Result<Self::Conn>> + Send;

    /// A connection inside a transaction that holds the schema migration
    /// lock, so that instances starting together migrate one after another.
    fn begin_migration(&self) -> impl Future<Output = Result<Self::Conn>> + Send;

    /// Closes every connection.
    fn close(&self) -> impl Future<Output = ()> + Send;
}
