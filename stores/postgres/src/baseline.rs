//! The raw-sqlx side of `statestore bench`: the statements a hand-written
//! key-value table would use, on a pool configured exactly like the store's
//! (the same `pool` function and options), in a table
//! of its own.
//!
//! Multi-key statements bind one array per column (`= ANY($1)`, `UNNEST`),
//! so every statement is built once and stays one prepared statement.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::postgres::{PgArguments, PgPool};
use sqlx::query::Query;
use sqlx::{AssertSqlSafe, Postgres};
use statestore_core::baseline::{Baseline, store_row};
use statestore_core::{Bytes, Properties, Result};
use statestore_sql::driver::{map, raw_create, raw_get, raw_set};

use crate::config::Config;
use crate::core::{PgDriver, pool};
use crate::dialect::{BULK_ROWS, NOW, PgDialect};

/// Raw sqlx against the database named by the store's properties.
pub struct PgBaseline {
    pool: PgPool,
    table: String,
    get_sql: Arc<str>,
    set_sql: Arc<str>,
    bulk_get_sql: Arc<str>,
    bulk_set_sql: Arc<str>,
}

/// The distinct keys of `items` in byte order, each with its last value,
/// as key and value columns of at most `rows` rows each. A PostgreSQL
/// upsert may not touch one row twice, and rows locked in one order by
/// every writer cannot deadlock.
fn columns(items: &[(String, Bytes)], rows: usize) -> Vec<(Vec<String>, Vec<Vec<u8>>)> {
    let last: BTreeMap<&str, &Bytes> = items.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let last: Vec<(&str, &Bytes)> = last.into_iter().collect();
    last.chunks(rows.max(1))
        .map(|chunk| {
            chunk
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_vec()))
                .unzip()
        })
        .collect()
}

impl PgBaseline {
    /// The multi-row upsert of `keys` and `values`, one statement.
    fn upsert(
        &self,
        keys: Vec<String>,
        values: Vec<Vec<u8>>,
    ) -> Query<'static, Postgres, PgArguments> {
        sqlx::query(AssertSqlSafe(self.bulk_set_sql.clone()))
            .bind(keys)
            .bind(values)
    }
}

#[async_trait]
impl Baseline for PgBaseline {
    /// Opens the pool and creates the baseline's own table.
    async fn open(properties: &Properties) -> Result<Self> {
        let config = Config::from_properties(properties)?;
        let pool = pool(&config).await?;
        let table = format!("statestore_bench_raw_{:08x}", fastrand::u32(..));
        let store_row = store_row();
        let plain = format!(
            "CREATE TABLE {table} (key text COLLATE \"C\" NOT NULL PRIMARY KEY, value bytea NOT NULL)"
        );
        // With STATESTORE_BENCH_RAW_ROW=store, the store's own table instead.
        let store = PgDialect::new(&table, &table);
        raw_create::<PgDriver>(&pool, plain, &store).await?;
        let upsert = " ON CONFLICT (key) DO UPDATE SET value = excluded.value";
        // The store's row: its other columns, its liveness test, and a new
        // etag per write drawn by the server.
        let (more, live, etag, etags) = if store_row {
            (
                ", content_type = excluded.content_type, etag = excluded.etag, \
                 expires_at = excluded.expires_at, value_json = excluded.value_json",
                format!(" AND (expires_at IS NULL OR expires_at > {NOW})"),
                ", etag",
                ", (random() * 9e18)::int8",
            )
        } else {
            ("", String::new(), "", "")
        };
        let read = if store_row {
            "value, etag, content_type, expires_at"
        } else {
            "value"
        };
        Ok(PgBaseline {
            pool,
            get_sql: format!("SELECT {read} FROM {table} WHERE key = $1{live}").into(),
            set_sql: format!(
                "INSERT INTO {table} (key, value{etag}) VALUES ($1, $2{etags}){upsert}{more}"
            )
            .into(),
            bulk_get_sql: format!(
                "SELECT key, {read} FROM {table} WHERE key = ANY($1::text[]){live}"
            )
            .into(),
            bulk_set_sql: format!(
                "INSERT INTO {table} (key, value{etag}) SELECT k, v{etags} \
                 FROM UNNEST($1::text[], $2::bytea[]) AS u(k, v){upsert}{more}"
            )
            .into(),
            table,
        })
    }

    fn driver(&self) -> String {
        "sqlx 0.9 (postgres)".into()
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        raw_get::<PgDriver>(&self.pool, &self.get_sql, key).await
    }

    async fn set(&self, key: &str, value: Bytes) -> Result<()> {
        raw_set::<PgDriver>(&self.pool, &self.set_sql, key, value).await
    }

    async fn bulk_get(&self, keys: &[String]) -> Result<usize> {
        // Each row read out, as a caller of the raw driver would.
        let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(AssertSqlSafe(self.bulk_get_sql.clone()))
            .bind(keys)
            .fetch_all(&self.pool)
            .await
            .map_err(map::<PgDriver>)?;
        Ok(rows.len())
    }

    /// Statements of the store's size for bulk writes, on one connection:
    /// autocommitted, they hold their locks for less time, as the store's do.
    async fn bulk_set(&self, items: &[(String, Bytes)]) -> Result<()> {
        let mut conn = self.pool.acquire().await.map_err(map::<PgDriver>)?;
        for (keys, values) in columns(items, BULK_ROWS) {
            self.upsert(keys, values)
                .execute(&mut *conn)
                .await
                .map_err(map::<PgDriver>)?;
        }
        Ok(())
    }

    async fn transact(&self, items: &[(String, Bytes)]) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(map::<PgDriver>)?;
        for (keys, values) in columns(items, usize::MAX) {
            self.upsert(keys, values)
                .execute(&mut *tx)
                .await
                .map_err(map::<PgDriver>)?;
        }
        tx.commit().await.map_err(map::<PgDriver>)
    }

    async fn close(&self) -> Result<()> {
        let sql = format!("DROP TABLE IF EXISTS {}", self.table);
        let result = sqlx::query(AssertSqlSafe(sql)).execute(&self.pool).await;
        self.pool.close().await;
        result.map(drop).map_err(map::<PgDriver>)
    }
}
