//! The sqlx half shared by the SQL stores: one connection type that runs
//! [`Stmt`]s on any sqlx database, and the one mapping of driver errors.
//! A database crate supplies a [`Driver`]: how to bind a parameter and what
//! its database error codes mean.

use sqlx::error::DatabaseError;
use sqlx::query::Query;
use sqlx::{ColumnIndex, Database, Decode, Executor, IntoArguments, Transaction, Type};
use statestore_core::baseline::store_row;
use statestore_core::{Error, Result};
use tokio::sync::OwnedSemaphorePermit;

use crate::backend::Conn;
use crate::dialect::{Param, Row, Stmt};
use crate::kept::Kept;

/// A query of driver `D`.
pub type DriverQuery<D> =
    Query<'static, <D as Driver>::Db, <<D as Driver>::Db as Database>::Arguments>;

/// What one sqlx database needs beyond sqlx's own traits.
pub trait Driver: Send + Sync + 'static {
    /// The sqlx database.
    type Db: Database + sqlx::database::HasStatementCache;

    /// Binds one parameter. Dialects only produce parameters their driver
    /// binds (arrays are PostgreSQL's); any other is bound as SQL NULL, which
    /// the statement then refuses.
    fn bind(q: DriverQuery<Self>, p: Param) -> DriverQuery<Self>;

    /// What a database error means, by its code.
    fn classify(e: &dyn DatabaseError) -> Error;

    /// Rows a statement changed (sqlx has no common trait for it).
    fn rows_affected(done: &<Self::Db as Database>::QueryResult) -> u64;
}

/// Binds a scalar parameter, the kinds every driver takes; an array comes
/// back unbound with its query.
///
/// Bytes are bound borrowed: MySQL's and PostgreSQL's drivers copy them
/// into the statement's buffer at once, and a value shared with the
/// caller's request would otherwise be copied twice, once into a vector
/// of its own. (SQLite's driver keeps the vector; it binds bytes itself.)
#[allow(clippy::result_large_err)]
pub fn bind_scalar<D: Driver>(
    q: DriverQuery<D>,
    p: Param,
) -> std::result::Result<DriverQuery<D>, (DriverQuery<D>, Param)>
where
    for<'q> String: sqlx::Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q [u8]: sqlx::Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: sqlx::Encode<'q, D::Db> + Type<D::Db>,
    for<'q> f64: sqlx::Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<String>: sqlx::Encode<'q, D::Db>,
    for<'q> Option<i64>: sqlx::Encode<'q, D::Db>,
{
    Ok(match p {
        Param::Text(s) => q.bind(s),
        Param::OptText(s) => q.bind(s),
        Param::Bytes(b) => q.bind(&b[..]),
        Param::I64(v) => q.bind(v),
        Param::OptI64(v) => q.bind(v),
        Param::F64(v) => q.bind(v),
        array => return Err((q, array)),
    })
}

/// Maps a driver error; the driver's error is kept as the source.
pub fn map<D: Driver>(e: sqlx::Error) -> Error {
    use sqlx::Error as E;
    let mapped = match &e {
        E::Database(db) => D::classify(db.as_ref()),
        E::PoolTimedOut => Error::timeout("no connection became free within the timeout"),
        E::PoolClosed => Error::invalid("the store is closed"),
        E::Io(_) | E::Tls(_) | E::WorkerCrashed => {
            Error::unavailable("the database connection failed")
        }
        E::Configuration(_) => Error::config("invalid connection options"),
        _ => Error::backend("unexpected driver error"),
    };
    mapped.with_source(e)
}

/// sqlx keeps dialing a server that refuses connections until the acquire
/// timeout: a timeout with no connection open at all means the server is
/// unreachable, not that the pool is busy.
pub(crate) fn pool_error<D: Driver>(pool: &sqlx::Pool<D::Db>, e: sqlx::Error) -> Error {
    match e {
        sqlx::Error::PoolTimedOut if pool.size() == 0 => {
            Error::unavailable("the database cannot be reached (no connection could be opened)")
                .with_source(e)
        }
        e => map::<D>(e),
    }
}

/// Creates a benchmark baseline's table: `plain`, a key and a value, or
/// with [`store_row`] the store's own table and indexes from the
/// migrations of `store`, a dialect on the baseline's table name. Closes the
/// pool on failure.
pub async fn raw_create<D: Driver>(
    pool: &sqlx::Pool<D::Db>,
    plain: String,
    store: &impl crate::Dialect,
) -> Result<()>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    <D::Db as Database>::Arguments: IntoArguments<D::Db>,
{
    let create: Vec<String> = if store_row() {
        let stmts = store.migrations().into_iter().flatten();
        stmts.map(|s| s.sql.to_string()).collect()
    } else {
        vec![plain]
    };
    for sql in create {
        if let Err(e) = sqlx::query::<D::Db>(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await
        {
            pool.close().await;
            return Err(map::<D>(e));
        }
    }
    Ok(())
}

/// The raw single-key read of a benchmark baseline: `sql` takes the key
/// and selects the value, on a pool like the store's.
pub async fn raw_get<D: Driver>(
    pool: &sqlx::Pool<D::Db>,
    sql: &std::sync::Arc<str>,
    key: &str,
) -> Result<Option<bytes::Bytes>>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    <D::Db as Database>::Arguments: IntoArguments<D::Db>,
    for<'r> Vec<u8>: Decode<'r, D::Db> + Type<D::Db>,
    usize: ColumnIndex<<D::Db as Database>::Row>,
{
    use sqlx::Row as _;
    let q = D::bind(
        sqlx::query::<D::Db>(sqlx::AssertSqlSafe(sql.clone())),
        Param::Text(key.to_owned()),
    );
    let mut conn = pool.acquire().await.map_err(map::<D>)?;
    let row = q.fetch_optional(&mut *conn).await.map_err(map::<D>)?;
    row.map(|r| r.try_get::<Vec<u8>, _>(0).map(bytes::Bytes::from))
        .transpose()
        .map_err(map::<D>)
}

/// The raw single-key upsert of a benchmark baseline: `sql` takes the key
/// and the value.
pub async fn raw_set<D: Driver>(
    pool: &sqlx::Pool<D::Db>,
    sql: &std::sync::Arc<str>,
    key: &str,
    value: bytes::Bytes,
) -> Result<()>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    <D::Db as Database>::Arguments: IntoArguments<D::Db>,
{
    let q = sqlx::query::<D::Db>(sqlx::AssertSqlSafe(sql.clone()));
    let q = D::bind(D::bind(q, Param::Text(key.to_owned())), Param::Bytes(value));
    let mut conn = pool.acquire().await.map_err(map::<D>)?;
    q.execute(&mut *conn).await.map_err(map::<D>).map(drop)
}

/// A connection of driver `D`: lent for one call ([`crate::kept`]), in
/// a transaction, or detached from the pool (closed when dropped, so that
/// session state such as a MySQL named lock never returns to the pool).
pub enum SqlxConn<D: Driver> {
    /// Lent for one call, in autocommit mode.
    Kept(Kept<D>),
    /// Inside a transaction; rolled back when dropped. With the permit of
    /// [`crate::kept::Conns`] it was begun under, given back after it.
    Tx(Transaction<'static, D::Db>, OwnedSemaphorePermit),
    /// Detached; `commit` runs `finish` and closes it.
    Detached {
        /// The connection.
        conn: <D::Db as Database>::Connection,
        /// Statements run by `commit`, in order (e.g. `COMMIT`, then a
        /// lock release).
        finish: Vec<String>,
    },
}

impl<D: Driver> SqlxConn<D> {
    /// The connection for one statement; [`Self::done`] says how it ended.
    fn start(&mut self) -> &mut <D::Db as Database>::Connection {
        match self {
            SqlxConn::Kept(k) => k.start(),
            SqlxConn::Tx(t, _) => t,
            SqlxConn::Detached { conn, .. } => conn,
        }
    }

    /// Whether the statement ran to its end with no error: a kept
    /// connection is kept for the next call only then.
    fn done<T>(&mut self, result: &std::result::Result<T, sqlx::Error>) {
        if let SqlxConn::Kept(k) = self {
            k.done(result.is_ok());
        }
    }
}

fn query<D: Driver>(stmt: Stmt) -> DriverQuery<D> {
    let mut q = sqlx::query::<D::Db>(sqlx::AssertSqlSafe(stmt.sql)).persistent(stmt.persistent);
    for p in stmt.params {
        q = D::bind(q, p);
    }
    q
}

/// A state row from its five columns (see [`crate::dialect`]), its key
/// read by `key`; `None` when the statement selects liveness as a sixth
/// column and it is not true.
fn state_row<'r, D: Driver, K>(
    r: &'r <D::Db as Database>::Row,
    live_column: bool,
    key: impl FnOnce(&'r <D::Db as Database>::Row) -> std::result::Result<K, sqlx::Error>,
) -> std::result::Result<Option<Row<K>>, sqlx::Error>
where
    for<'a> String: Decode<'a, D::Db> + Type<D::Db>,
    for<'a> Vec<u8>: Decode<'a, D::Db> + Type<D::Db>,
    for<'a> i64: Decode<'a, D::Db> + Type<D::Db>,
    usize: ColumnIndex<<D::Db as Database>::Row>,
{
    use sqlx::Row as _;
    // Unchecked: the columns are the store's own, made by its migrations
    // (their version is checked at init), and sqlx's type check costs more
    // than the decoding (docs/performance.md, "bulk_get under callgrind");
    // each decoder still checks sizes and UTF-8, so a column of another
    // type is an error, never a panic.
    // As in `WHERE`, only true counts: NULL and 0 are not live.
    if live_column && !matches!(r.try_get_unchecked::<Option<i64>, _>(5)?, Some(v) if v != 0) {
        return Ok(None);
    }
    Ok(Some(Row {
        key: key(r)?,
        value: r.try_get_unchecked(1)?,
        etag: r.try_get_unchecked(2)?,
        content_type: r.try_get_unchecked(3)?,
        expires_at: r.try_get_unchecked(4)?,
    }))
}

/// The key column's bytes as they come, without a check of its type or of
/// UTF-8: a bulk read only compares them with the keys it asked for, and
/// every dialect stores a key as text or bytes.
fn key_bytes<D: Driver>(r: &<D::Db as Database>::Row) -> std::result::Result<&[u8], sqlx::Error>
where
    for<'a> &'a [u8]: Decode<'a, D::Db>,
    usize: ColumnIndex<<D::Db as Database>::Row>,
{
    use sqlx::Row as _;
    r.try_get_unchecked(0)
}

/// The key column as text (unchecked as the other columns, see
/// [`state_row`]; UTF-8 is still checked).
fn owned_key<D: Driver>(r: &<D::Db as Database>::Row) -> std::result::Result<String, sqlx::Error>
where
    for<'a> String: Decode<'a, D::Db> + Type<D::Db>,
    usize: ColumnIndex<<D::Db as Database>::Row>,
{
    use sqlx::Row as _;
    r.try_get_unchecked(0)
}

impl<D: Driver> Conn for SqlxConn<D>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    <D::Db as Database>::Arguments: IntoArguments<D::Db>,
    for<'r> String: Decode<'r, D::Db> + Type<D::Db>,
    for<'r> &'r [u8]: Decode<'r, D::Db>,
    for<'r> Vec<u8>: Decode<'r, D::Db> + Type<D::Db>,
    for<'r> i64: Decode<'r, D::Db> + Type<D::Db>,
    usize: ColumnIndex<<D::Db as Database>::Row>,
{
    async fn execute(&mut self, stmt: Stmt) -> Result<u64> {
        let done = query::<D>(stmt).execute(self.start()).await;
        self.done(&done);
        Ok(D::rows_affected(&done.map_err(map::<D>)?))
    }

    async fn rows(&mut self, stmt: Stmt) -> Result<Vec<Row>> {
        let live_column = stmt.live_column;
        let rows = query::<D>(stmt).fetch_all(self.start()).await;
        self.done(&rows);
        let rows = rows.map_err(map::<D>)?;
        rows.iter()
            .filter_map(|r| state_row::<D, String>(r, live_column, owned_key::<D>).transpose())
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(map::<D>)
    }

    async fn each_row(
        &mut self,
        stmt: Stmt,
        each: &mut (dyn for<'r> FnMut(Row<&'r [u8]>) + Send),
    ) -> Result<()> {
        let live_column = stmt.live_column;
        let rows = query::<D>(stmt).fetch_all(self.start()).await;
        self.done(&rows);
        let rows = rows.map_err(map::<D>)?;
        for r in &rows {
            if let Some(row) =
                state_row::<D, &[u8]>(r, live_column, key_bytes::<D>).map_err(map::<D>)?
            {
                each(row);
            }
        }
        Ok(())
    }

    /// One row without collecting a stream: the single-key read. Its key
    /// column is not decoded (a `String` and a UTF-8 check per read).
    async fn row(&mut self, stmt: Stmt) -> Result<Option<Row<()>>> {
        let live_column = stmt.live_column;
        let row = query::<D>(stmt).fetch_optional(self.start()).await;
        self.done(&row);
        let row = row.map_err(map::<D>)?;
        match row {
            Some(r) => state_row::<D, ()>(&r, live_column, |_| Ok(())).map_err(map::<D>),
            None => Ok(None),
        }
    }

    async fn texts(&mut self, stmt: Stmt) -> Result<Vec<String>> {
        use sqlx::Row as _;
        let rows = query::<D>(stmt).fetch_all(self.start()).await;
        self.done(&rows);
        let rows = rows.map_err(map::<D>)?;
        rows.iter()
            .map(|r| r.try_get(0).map_err(map::<D>))
            .collect()
    }

    async fn commit(self) -> Result<()> {
        match self {
            SqlxConn::Kept(_) => Ok(()),
            SqlxConn::Tx(t, _) => t.commit().await.map_err(map::<D>),
            SqlxConn::Detached { mut conn, finish } => {
                for sql in finish {
                    sqlx::query::<D::Db>(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await
                        .map_err(map::<D>)?;
                }
                use sqlx::Connection as _;
                conn.close().await.map_err(map::<D>)
            }
        }
    }
}
