//! The raw-sqlx side of `statestore bench`: the statements a hand-written
//! key-value table would use, on a pool configured exactly like the store's
//! (the same `pool` function and options, on the same
//! schema), in a table of its own.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::mysql::MySqlPool;
use sqlx::{AssertSqlSafe, MySql, MySqlConnection, QueryBuilder};
use statestore_core::baseline::{Baseline, store_row};
use statestore_core::{Bytes, Properties, Result};
use statestore_sql::driver::{map, raw_create, raw_get, raw_set};

use crate::config::Config;
use crate::core::{MySqlDriver, pool, prepare};
use crate::dialect::{BULK_ROWS, MySqlDialect, NOW};

/// Rows per multi-row statement of a transaction (two bound values each);
/// bulk_set's statements have the store's size, [`BULK_ROWS`].
const CHUNK: usize = 500;

/// What makes an insert an upsert.
const ON_DUPLICATE: &str = " ON DUPLICATE KEY UPDATE value = VALUES(value)";
/// The same for the store's row ([`store_row`]).
const ON_DUPLICATE_ROW: &str = " ON DUPLICATE KEY UPDATE value = VALUES(value), \
    content_type = VALUES(content_type), value_json = VALUES(value_json), etag = VALUES(etag), \
    expires_at = VALUES(expires_at)";

/// Raw sqlx against the database named by the store's properties.
pub struct MySqlBaseline {
    pool: MySqlPool,
    table: String,
    /// Whether rows are the store's ([`store_row`]).
    store_row: bool,
    /// The multi-key read up to its key list.
    bulk_get_head: String,
    /// The single-key statements, built once like the store's own, so
    /// neither side formats SQL on its hot path.
    get_sql: Arc<str>,
    set_sql: Arc<str>,
}

impl MySqlBaseline {
    /// Multi-row upserts of `items`, `rows_per_statement` rows each, on
    /// `conn`: the distinct keys in byte order, each with its last value, so
    /// that writers lock rows in one order and cannot deadlock one another.
    async fn upsert(
        &self,
        conn: &mut MySqlConnection,
        items: &[(String, Bytes)],
        rows_per_statement: usize,
    ) -> Result<()> {
        let last: BTreeMap<&str, &Bytes> = items.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let rows: Vec<(&str, &Bytes)> = last.into_iter().collect();
        for chunk in rows.chunks(rows_per_statement) {
            let t = &self.table;
            let mut q = QueryBuilder::<MySql>::new(if self.store_row {
                format!(
                    "INSERT INTO `{t}` (`key`, value, content_type, etag, expires_at, value_json) "
                )
            } else {
                format!("INSERT INTO `{t}` (`key`, value) ")
            });
            q.push_values(chunk, |mut b, (k, v)| {
                b.push_bind(k.to_string()).push_bind(v.to_vec());
                if self.store_row {
                    b.push("NULL")
                        .push_bind(fastrand::i64(..))
                        .push("NULL")
                        .push("NULL");
                }
            });
            q.push(if self.store_row {
                ON_DUPLICATE_ROW
            } else {
                ON_DUPLICATE
            });
            q.build()
                .execute(&mut *conn)
                .await
                .map_err(map::<MySqlDriver>)?;
        }
        Ok(())
    }
}

#[async_trait]
impl Baseline for MySqlBaseline {
    /// Creates the schema when missing (as the store does), opens the pool
    /// and creates the baseline's own table.
    async fn open(properties: &Properties) -> Result<Self> {
        let config = Config::from_properties(properties)?;
        prepare(&config).await?;
        let pool = pool(&config).await?;
        let table = format!("statestore_bench_raw_{:08x}", fastrand::u32(..));
        let store_row = store_row();
        let plain = format!(
            "CREATE TABLE `{table}` (`key` VARBINARY(2048) NOT NULL PRIMARY KEY, value LONGBLOB NOT NULL) ENGINE=InnoDB"
        );
        // With STATESTORE_BENCH_RAW_ROW=store, the store's own table instead.
        let store = MySqlDialect::new(&table, &table, false, usize::MAX);
        raw_create::<MySqlDriver>(&pool, plain, &store).await?;
        // The store's liveness test, on the server's clock.
        let live = format!("(expires_at IS NULL OR expires_at > {NOW})");
        Ok(MySqlBaseline {
            pool,
            get_sql: if store_row {
                format!("SELECT value, etag, content_type, expires_at FROM `{table}` WHERE `key` = ? AND {live}")
            } else {
                format!("SELECT value FROM `{table}` WHERE `key` = ?")
            }
            .into(),
            set_sql: if store_row {
                format!(
                    "INSERT INTO `{table}` (`key`, value, content_type, etag, expires_at, value_json) \
                     VALUES (?, ?, NULL, UUID_SHORT(), NULL, NULL){ON_DUPLICATE_ROW}"
                )
            } else {
                format!("INSERT INTO `{table}` (`key`, value) VALUES (?, ?){ON_DUPLICATE}")
            }
            .into(),
            bulk_get_head: if store_row {
                format!(
                    "SELECT CONVERT(`key` USING utf8mb4) AS k, value, etag, content_type, expires_at \
                     FROM `{table}` WHERE {live} AND `key` IN ("
                )
            } else {
                format!("SELECT `key`, value FROM `{table}` WHERE `key` IN (")
            },
            table,
            store_row,
        })
    }

    fn driver(&self) -> String {
        "sqlx 0.9 (mysql)".into()
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        raw_get::<MySqlDriver>(&self.pool, &self.get_sql, key).await
    }

    async fn set(&self, key: &str, value: Bytes) -> Result<()> {
        raw_set::<MySqlDriver>(&self.pool, &self.set_sql, key, value).await
    }

    async fn bulk_get(&self, keys: &[String]) -> Result<usize> {
        let mut found = 0;
        for chunk in keys.chunks(CHUNK) {
            let mut q = QueryBuilder::<MySql>::new(&self.bulk_get_head);
            let mut list = q.separated(", ");
            for k in chunk {
                list.push_bind(k.clone());
            }
            q.push(")");
            // Each row read out, as a caller of the raw driver would.
            let rows: Vec<(Vec<u8>, Vec<u8>)> = q
                .build_query_as()
                .fetch_all(&self.pool)
                .await
                .map_err(map::<MySqlDriver>)?;
            found += rows.len();
        }
        Ok(found)
    }

    async fn bulk_set(&self, items: &[(String, Bytes)]) -> Result<()> {
        // Statements of the store's size for bulk writes: autocommitted,
        // they hold their locks for less time, as the store's do.
        let mut conn = self.pool.acquire().await.map_err(map::<MySqlDriver>)?;
        self.upsert(&mut conn, items, BULK_ROWS).await
    }

    async fn transact(&self, items: &[(String, Bytes)]) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(map::<MySqlDriver>)?;
        self.upsert(&mut tx, items, CHUNK).await?;
        tx.commit().await.map_err(map::<MySqlDriver>)
    }

    async fn close(&self) -> Result<()> {
        let sql = format!("DROP TABLE IF EXISTS `{}`", self.table);
        let result = sqlx::query(AssertSqlSafe(sql)).execute(&self.pool).await;
        self.pool.close().await;
        result.map(drop).map_err(map::<MySqlDriver>)
    }
}
