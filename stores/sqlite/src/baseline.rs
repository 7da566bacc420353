//! The raw-sqlx side of `statestore bench`: the statements a hand-written
//! key-value table would use, on pools configured exactly like the store's
//! (one writer, a few readers, the same pragmas), in a table of its own.
//! With `STATESTORE_BENCH_RAW_ROW=store` ([`store_row`]) the table is the
//! store's, each write draws a new etag and reads test the expiry.

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::sqlite::SqlitePool;
use sqlx::{AssertSqlSafe, QueryBuilder, Sqlite};
use statestore_core::baseline::{Baseline, store_row};
use statestore_core::{Bytes, Properties, Result};
use statestore_sql::driver::{raw_create, raw_get, raw_set};

use crate::config::Config;
use crate::core::map;
use crate::core::{SqliteDriver, pools};
use crate::dialect::{NOW, SqliteDialect};

/// Rows per multi-row statement (two bound values each).
const CHUNK: usize = 500;

/// What makes an insert an upsert.
const ON_CONFLICT: &str = " ON CONFLICT (key) DO UPDATE SET value = excluded.value";

/// The same, of the store's row.
const ON_CONFLICT_ROW: &str = " ON CONFLICT (key) DO UPDATE SET value = excluded.value, \
     content_type = excluded.content_type, etag = excluded.etag, \
     expires_at = excluded.expires_at, value_json = excluded.value_json";

/// A row of the store's columns, read out.
type StoreRow = (String, Vec<u8>, i64, Option<String>, Option<i64>);

/// Raw sqlx against the database named by the store's properties.
pub struct SqliteBaseline {
    reader: SqlitePool,
    writer: SqlitePool,
    table: String,
    /// The single-key statements, built once like the store's own, so
    /// neither side formats SQL on its hot path.
    get_sql: Arc<str>,
    set_sql: Arc<str>,
    /// The multi-key read up to its `IN (`, built once like the others.
    bulk_get_head: String,
    /// Whether rows are the store's ([`store_row`]).
    store_row: bool,
}

impl SqliteBaseline {
    fn upsert(&self, rows: &[(String, Bytes)]) -> QueryBuilder<Sqlite> {
        let etag = if self.store_row { ", etag" } else { "" };
        let mut q = QueryBuilder::new(format!("INSERT INTO {} (key, value{etag}) ", self.table));
        q.push_values(rows, |mut b, (k, v)| {
            b.push_bind(k.clone()).push_bind(v.to_vec());
            if self.store_row {
                b.push("random()");
            }
        });
        q.push(if self.store_row {
            ON_CONFLICT_ROW
        } else {
            ON_CONFLICT
        });
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
        let plain =
            format!("CREATE TABLE {table} (key TEXT NOT NULL PRIMARY KEY, value BLOB NOT NULL)");
        // With STATESTORE_BENCH_RAW_ROW=store, the store's own table instead.
        let store = SqliteDialect::new(&table, &table);
        raw_create::<SqliteDriver>(&writer, plain, &store).await?;
        let store_row = store_row();
        let live = format!("(expires_at IS NULL OR expires_at > {NOW})");
        Ok(SqliteBaseline {
            reader,
            writer,
            get_sql: if store_row {
                format!("SELECT value, etag, content_type, expires_at FROM {table} WHERE key = ?1 AND {live}")
            } else {
                format!("SELECT value FROM {table} WHERE key = ?1")
            }
            .into(),
            set_sql: if store_row {
                format!("INSERT INTO {table} (key, value, etag) VALUES (?1, ?2, random()){ON_CONFLICT_ROW}")
            } else {
                format!("INSERT INTO {table} (key, value) VALUES (?1, ?2){ON_CONFLICT}")
            }
            .into(),
            bulk_get_head: if store_row {
                format!(
                    "SELECT key, value, etag, content_type, expires_at FROM {table} \
                     WHERE {live} AND key IN ("
                )
            } else {
                format!("SELECT key, value FROM {table} WHERE key IN (")
            },
            table,
            store_row,
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
            let mut q = QueryBuilder::<Sqlite>::new(&self.bulk_get_head);
            let mut list = q.separated(", ");
            for k in chunk {
                list.push_bind(k.clone());
            }
            q.push(")");
            // Each row read out, as a caller of the raw driver would.
            found += if self.store_row {
                let rows = q.build_query_as::<StoreRow>().fetch_all(&self.reader);
                rows.await.map_err(map)?.len()
            } else {
                let rows = q
                    .build_query_as::<(String, Vec<u8>)>()
                    .fetch_all(&self.reader);
                rows.await.map_err(map)?.len()
            };
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
