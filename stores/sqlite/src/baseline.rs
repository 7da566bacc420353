//! The raw-sqlx side of `statestore bench`: the statements a hand-written
//! key-value table would use, on pools configured exactly like the store's
//! (one writer, a few readers, the same pragmas), in a table of its own.

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::sqlite::SqlitePool;
use sqlx::{AssertSqlSafe, QueryBuilder, Sqlite};
use statestore_core::baseline::Baseline;
use statestore_core::{Bytes, Properties, Result};
use statestore_sql::driver::{raw_get, raw_set};

use crate::config::Config;
use crate::core::map;
use crate::core::{SqliteDriver, pools};

/// Rows per multi-row statement (two bound values each).
const CHUNK: usize = 500;

/// What makes an insert an upsert.
const ON_CONFLICT: &str = " ON CONFLICT (key) DO UPDATE SET value = excluded.value";

/// Raw sqlx against the database named by the store's properties.
pub struct SqliteBaseline {
    reader: SqlitePool,
    writer: SqlitePool,
    table: String,
    /// The single-key statements, built once like the store's own, so
    /// neither side formats SQL on its hot path.
    get_sql: Arc<str>,
    set_sql: Arc<str>,
}

impl SqliteBaseline {
    fn upsert(&self, rows: &[(String, Bytes)]) -> QueryBuilder<Sqlite> {
        let mut q = QueryBuilder::new(format!("INSERT INTO {} (key, value) ", self.table));
        q.push_values(rows, |mut b, (k, v)| {
            b.push_bind(k.clone()).push_bind(v.to_vec());
        });
        q.push(ON_CONFLICT);
        q
    }
}

#[async_trait]
impl Baseline for SqliteBaseline {
    /// Opens the pools and creates the baseline's own table.
    async fn open(properties: &Properties) -> Result<Self> {
        let config = Config::from_properties(properties)?;
        let (reader, writer) = pools(&config).await?;
        let table = format!("statestore_bench_raw_{:08x}", fastrand::u32(..));
        let create =
            format!("CREATE TABLE {table} (key TEXT NOT NULL PRIMARY KEY, value BLOB NOT NULL)");
        sqlx::query(AssertSqlSafe(create))
            .execute(&writer)
            .await
            .map_err(map)?;
        Ok(SqliteBaseline {
            reader,
            writer,
            get_sql: format!("SELECT value FROM {table} WHERE key = ?1").into(),
            set_sql: format!("INSERT INTO {table} (key, value) VALUES (?1, ?2){ON_CONFLICT}")
                .into(),
            table,
        })
    }

    fn driver(&self) -> String {
        "sqlx 0.9 (sqlite)".into()
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        raw_get::<SqliteDriver>(&self.reader, &self.get_sql, key).await
    }

    async fn set(&self, key: &str, value: Bytes) -> Result<()> {
        raw_set::<SqliteDriver>(&self.writer, &self.set_sql, key, value).await
    }

    async fn bulk_get(&self, keys: &[String]) -> Result<usize> {
        let mut found = 0;
        for chunk in keys.chunks(CHUNK) {
            let mut q = QueryBuilder::<Sqlite>::new(format!(
                "SELECT key, value FROM {} WHERE key IN (",
                self.table
            ));
            let mut list = q.separated(", ");
            for k in chunk {
                list.push_bind(k.clone());
            }
            q.push(")");
            // Each row read out, as a caller of the raw driver would.
            let rows: Vec<(String, Vec<u8>)> = q
                .build_query_as()
                .fetch_all(&self.reader)
                .await
                .map_err(map)?;
            found += rows.len();
        }
        Ok(found)
    }

    async fn bulk_set(&self, items: &[(String, Bytes)]) -> Result<()> {
        self.transact(items).await
    }

    async fn transact(&self, items: &[(String, Bytes)]) -> Result<()> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map)?;
        for chunk in items.chunks(CHUNK) {
            self.upsert(chunk)
                .build()
                .execute(&mut *tx)
                .await
                .map_err(map)?;
        }
        tx.commit().await.map_err(map)
    }

    async fn close(&self) -> Result<()> {
        let sql = format!("DROP TABLE IF EXISTS {}", self.table);
        let result = sqlx::query(AssertSqlSafe(sql)).execute(&self.writer).await;
        self.reader.close().await;
        self.writer.close().await;
        result.map(drop).map_err(map)
    }
}
