//! The MySQL / MariaDB text of every statement.
//!
//! Keys are `VARBINARY`: byte order, and every byte counts (the `_bin`
//! collations of MariaDB ignore trailing spaces, which would make `a` and
//! `a ` one key). They are read back through `CONVERT(... USING utf8mb4)`.
//! Times are Unix milliseconds of `CURRENT_TIMESTAMP(3)`, the server's
//! clock, constant within a statement. Multi-row statements carry one
//! placeholder group per row; MariaDB's `DELETE ... RETURNING` reports
//! which conditional deletes applied, and MySQL, which lacks it, deletes one
//! by one.

use std::sync::Arc;

use statestore_core::like::LikePattern;
use statestore_sql::dialect::{
    json_text, key_etag_params, on_keys, padded, push_row, range_params, repeat, where_in,
};
use statestore_sql::{Bookkeeping, Dialect, KeyEtag, Param, Stmt, WriteRow};

pub(crate) const NOW: &str = "CAST(UNIX_TIMESTAMP(CURRENT_TIMESTAMP(3)) * 1000 AS SIGNED)";
const KEY: &str = "CONVERT(`key` USING utf8mb4)";

/// Rows per statement: 1,000 rows of at most 7 parameters stay far below
/// the 65,535 placeholders of a prepared statement.
pub const MAX_ROWS: usize = 1000;

/// Rows per statement of a bulk write ([`Dialect::bulk_rows`]): with 8
/// writers of 1,000 random keys each, statements of 250 rows wrote more
/// keys per second than of 500 or 1,000, whose rows wait longer on one
/// another's locks (docs/performance.md, "Bulk writes in statements of 250
/// rows").
pub const BULK_ROWS: usize = 250;

/// Quotes a validated identifier.
fn quote(name: &str) -> String {
    format!("`{name}`")
}

/// Statements for one state table and one metadata table.
#[derive(Debug)]
pub struct MySqlDialect {
    table: String,
    meta: String,
    live: String,
    returning: bool,
    max_bytes: usize,
    get1: Arc<str>,
    /// The multi-key read up to `WHERE`, liveness as its sixth column.
    get_head: String,
    upsert1: Arc<str>,
    insert1: Arc<str>,
    /// The same two for a row without a ttl: its expiry is `NULL`, not an
    /// expression of the clock MariaDB evaluates at every execution.
    upsert1_plain: Arc<str>,
    insert1_plain: Arc<str>,
    update1: Arc<str>,
    delete1: Arc<str>,
    delete_match1: Arc<str>,
    live1: Arc<str>,
    keys_like: Arc<str>,
    delete_prefix: Arc<str>,
    /// `SELECT` of live rows holding JSON, for the query API (`json.rs`).
    pub(crate) json_rows: String,
    book: Bookkeeping,
}

impl MySqlDialect {
    /// Statements for `table` and `metadata_table` (both validated).
    /// `returning` says the server has `DELETE ... RETURNING` (MariaDB);
    /// `max_bytes` bounds the bytes of one statement (half the server's
    /// `max_allowed_packet`, counting each value twice).
    pub fn new(table: &str, metadata_table: &str, returning: bool, max_bytes: usize) -> Self {
        let t = quote(table);
        let m = quote(metadata_table);
        let live = format!("({t}.expires_at IS NULL OR {t}.expires_at > {NOW})");
        let arc = |s: String| -> Arc<str> { s.into() };
        // Liveness as a column rather than in `WHERE`: MariaDB runs the
        // primary-key lookups cheaper so, by a third for 100 keys (see
        // `Stmt::live_column`).
        // Expressions get short names: MySQL's protocol sends every
        // column's name with every execution, and an expression's name is
        // its text (docs/performance.md, "Where the short cells' time
        // goes").
        let get_head = format!(
            "SELECT {KEY} AS k, value, etag, content_type, expires_at, {live} AS live FROM {t}"
        );
        MySqlDialect {
            json_rows: format!(
                "SELECT {KEY}, value, etag, content_type, expires_at FROM {t} \
                 WHERE {live} AND {t}.value_json IS NOT NULL"
            ),
            get1: arc(format!("{get_head} WHERE `key` = ?")),
            get_head,
            upsert1: arc(Self::upsert_sql(&t, 1, false, true)),
            insert1: arc(Self::upsert_sql(&t, 1, true, true)),
            upsert1_plain: arc(Self::upsert_sql(&t, 1, false, false)),
            insert1_plain: arc(Self::upsert_sql(&t, 1, true, false)),
            update1: arc(format!(
                "UPDATE {t} SET value = ?, content_type = ?, etag = ?, expires_at = {NOW} + ? * 1000, value_json = ? \
                 WHERE `key` = ? AND etag = ? AND {live}"
            )),
            delete1: arc(format!("DELETE FROM {t} WHERE `key` = ?")),
            delete_match1: arc(format!(
                "DELETE FROM {t} WHERE `key` = ? AND etag = ? AND {live}"
            )),
            live1: arc(format!("SELECT {KEY} FROM {t} WHERE `key` = ? AND {live}")),
            keys_like: arc(format!(
                "SELECT {KEY} FROM {t} WHERE {KEY} COLLATE utf8mb4_bin LIKE ? AND `key` > ? AND {live} \
                 ORDER BY `key` LIMIT ?"
            )),
            delete_prefix: arc(format!(
                "DELETE FROM {t} WHERE `key` >= ? AND `key` < ? AND LOCATE('||', SUBSTRING(`key`, ?)) = 0 AND {live}"
            )),
            book: Bookkeeping {
                ping: arc("SELECT 'pong'".into()),
                metadata_get: arc(format!("SELECT value FROM {m} WHERE `key` = ?")),
                metadata_set: arc(format!(
                    "INSERT INTO {m} (`key`, value) VALUES (?, ?) ON DUPLICATE KEY UPDATE value = VALUES(value)"
                )),
                // An UPDATE whose WHERE holds only when the last claim is old
                // enough, so that its row count (rows found, with sqlx's
                // FOUND_ROWS) is 1 exactly for the claimant. An upsert could not
                // tell an insert from a row left alone (both count 1); the row
                // is created at migration instead.
                claim: arc(format!(
                    "UPDATE {m} SET value = CAST({NOW} AS CHAR) WHERE `key` = ? AND CAST(value AS SIGNED) <= {NOW} - ?"
                )),
                delete_expired: arc(format!(
                    "DELETE FROM {t} WHERE expires_at IS NOT NULL AND expires_at <= {NOW}"
                )),
            },
            live,
            returning,
            max_bytes,
            table: t,
            meta: m,
        }
    }

    /// A multi-row upsert; with `if_expired`, a live row is left alone.
    /// MySQL assigns left to right and later assignments see earlier ones,
    /// so `expires_at`, which the condition reads, is assigned last.
    /// Without `ttl`, no row expires and `expires_at` is a plain `NULL`: the
    /// server resolves the expiry expression once per row at every
    /// execution, which cost a third of a 1,000-row upsert's time
    /// (docs/performance.md, "What the row costs (SQL)").
    fn upsert_sql(t: &str, rows: usize, if_expired: bool, ttl: bool) -> String {
        let expired = format!("(expires_at IS NOT NULL AND expires_at <= {NOW})");
        let set = |col: &str| {
            if if_expired {
                format!("{col} = IF({expired}, VALUES({col}), {col})")
            } else {
                format!("{col} = VALUES({col})")
            }
        };
        let cols = ["value", "content_type", "value_json", "etag", "expires_at"];
        format!(
            "INSERT INTO {t} (`key`, value, content_type, etag, expires_at, value_json) VALUES {} \
             ON DUPLICATE KEY UPDATE {}",
            repeat(
                rows,
                &if ttl {
                    format!("(?, ?, ?, ?, {NOW} + ? * 1000, ?)")
                } else {
                    "(?, ?, ?, ?, NULL, ?)".to_owned()
                }
            ),
            cols.map(set).join(", ")
        )
    }

    /// Per row: key, value, content type, new etag, ttl, JSON; without
    /// `ttl`, the ttl is left out (see [`Self::upsert_sql`]).
    fn write_params(&self, rows: &[WriteRow<'_>], ttl: bool) -> Vec<Param> {
        let mut p = Vec::with_capacity(rows.len() * 6);
        for r in rows {
            push_row(&mut p, r);
            if !ttl {
                p.pop();
            }
            p.push(Param::OptText(self.json(r)));
        }
        p
    }

    /// A multi-row upsert of `rows` (see [`Self::upsert_sql`]).
    fn upsert_many(&self, rows: &[WriteRow<'_>], if_expired: bool) -> Stmt {
        let ttl = rows.iter().any(|r| r.ttl.is_some());
        Stmt::built(
            Self::upsert_sql(&self.table, rows.len(), if_expired, ttl),
            self.write_params(rows, ttl),
        )
    }

    /// A one-row upsert: `with_ttl` when its row has a ttl, `plain`
    /// otherwise (docs/performance.md, "What the row costs": MariaDB
    /// evaluates the expiry's clock expression at every execution, even
    /// for a `NULL` ttl).
    fn one_row(&self, rows: &[WriteRow<'_>], with_ttl: &Arc<str>, plain: &Arc<str>) -> Stmt {
        let ttl = rows.iter().any(|r| r.ttl.is_some());
        Stmt::fixed(
            if ttl { with_ttl } else { plain },
            self.write_params(rows, ttl),
        )
    }

    /// The JSON copy of a value, unless the two copies together would not
    /// fit one packet (such a value is stored, not queryable).
    fn json(&self, r: &WriteRow<'_>) -> Option<String> {
        (r.value.len() <= self.max_bytes.saturating_sub(64 * 1024))
            .then(|| json_text(r.value))
            .flatten()
    }

    /// Live rows of `keys` selected by `select`; one key uses `fixed`.
    fn in_list(&self, select: &str, keys: &[&str], fixed: &Arc<str>) -> Stmt {
        on_keys(keys, fixed, |n| {
            let head = format!("{select} FROM {}", self.table);
            format!("{} AND {}", where_in(&head, "`key`", n), self.live)
        })
    }
}

impl Dialect for MySqlDialect {
    fn max_rows(&self) -> usize {
        MAX_ROWS
    }

    fn bulk_rows(&self) -> usize {
        BULK_ROWS
    }

    fn max_statement_bytes(&self) -> usize {
        self.max_bytes
    }

    /// A JSON value travels twice (`value` and `value_json`).
    fn row_bytes(&self, row: &WriteRow<'_>) -> usize {
        row.key.len() + 2 * row.value.len()
    }

    /// Liveness as a column for any number of keys (see `get_head`).
    fn get(&self, keys: &[&str]) -> Stmt {
        on_keys(keys, &self.get1, |n| where_in(&self.get_head, "`key`", n)).live_in_column()
    }

    /// InnoDB locks index records as the scan meets them: in key order.
    fn lock(&self, keys: &[&str]) -> Option<Stmt> {
        let head = format!("SELECT {KEY} FROM {}", self.table);
        Some(padded(keys, |n| {
            format!("{} ORDER BY `key` FOR UPDATE", where_in(&head, "`key`", n))
        }))
    }

    fn upsert(&self, rows: &[WriteRow<'_>]) -> Stmt {
        match rows.len() {
            1 => self.one_row(rows, &self.upsert1, &self.upsert1_plain),
            _ => self.upsert_many(rows, false),
        }
    }

    fn update_if_match(&self, rows: &[WriteRow<'_>]) -> Stmt {
        if let [r] = rows {
            let params = vec![
                Param::Bytes(r.value.clone()),
                Param::OptText(r.content_type.map(str::to_owned)),
                Param::I64(r.etag),
                Param::OptI64(r.ttl.map(i64::from)),
                Param::OptText(self.json(r)),
                Param::Text(r.key.to_owned()),
                Param::I64(r.expected),
            ];
            return Stmt::fixed(&self.update1, params);
        }
        // The new values as a derived table joined on the key; the caller
        // reads the new etags back to learn which rows matched.
        let t = &self.table;
        let first = "SELECT ? AS k, ? AS v, ? AS ct, ? AS e, ? AS ttl, ? AS j, ? AS old";
        let rest = " UNION ALL SELECT ?, ?, ?, ?, ?, ?, ?".repeat(rows.len() - 1);
        let sql = format!(
            "UPDATE {t} JOIN ({first}{rest}) AS u ON {t}.`key` = u.k \
             SET {t}.value = u.v, {t}.content_type = u.ct, {t}.etag = u.e, \
             {t}.expires_at = {NOW} + u.ttl * 1000, {t}.value_json = u.j \
             WHERE {t}.etag = u.old AND {}",
            self.live
        );
        let mut p = Vec::with_capacity(rows.len() * 7);
        for r in rows {
            p.extend(self.write_params(std::slice::from_ref(r), true));
            p.push(Param::I64(r.expected));
        }
        Stmt::built(sql, p)
    }

    fn insert_if_absent(&self, rows: &[WriteRow<'_>]) -> Stmt {
        let stmt = match rows.len() {
            1 => self.one_row(rows, &self.insert1, &self.insert1_plain),
            _ => self.upsert_many(rows, true),
        };
        // A live row left alone counts as found (1), like an insert.
        stmt.count_unreliable()
    }

    fn delete(&self, keys: &[&str]) -> Stmt {
        on_keys(keys, &self.delete1, |n| {
            where_in(&format!("DELETE FROM {}", self.table), "`key`", n)
        })
    }

    fn delete_if_match(&self, rows: &[KeyEtag<'_>]) -> Stmt {
        let p = key_etag_params(rows);
        if rows.len() == 1 || !self.returning {
            // Without RETURNING the caller runs single-row deletes.
            return Stmt::fixed(&self.delete_match1, p);
        }
        let sql = format!(
            "DELETE FROM {} WHERE (`key`, etag) IN ({}) AND {} RETURNING {KEY}",
            self.table,
            repeat(rows.len(), "(?, ?)"),
            self.live
        );
        Stmt::built(sql, p).returning_keys()
    }

    fn live_keys(&self, keys: &[&str]) -> Stmt {
        self.in_list(&format!("SELECT {KEY}"), keys, &self.live1)
    }

    /// `SUBSTRING` counts bytes on `VARBINARY`, so the rest after the
    /// prefix starts at the prefix's byte length.
    fn delete_with_prefix(&self, from: &str, to: &str, _prefix_chars: usize) -> Stmt {
        Stmt::fixed(&self.delete_prefix, range_params(from, to, from.len() + 1))
    }

    /// The contract's LIKE is MySQL's (`%`, `_`, `\` escapes); the keys
    /// are compared as utf8mb4 text with a binary collation, so `_` is one
    /// character and case counts.
    fn keys_like(&self, pattern: &LikePattern, after: &str, limit: Option<u64>) -> Stmt {
        let limit = limit.map_or(i64::MAX, |n| i64::try_from(n).unwrap_or(i64::MAX));
        let params = vec![
            Param::Text(pattern.as_str().to_owned()),
            Param::Text(after.to_owned()),
            Param::I64(limit),
        ];
        Stmt::fixed(&self.keys_like, params)
    }

    fn bookkeeping(&self) -> &Bookkeeping {
        &self.book
    }

    fn create_metadata_table(&self) -> Vec<Stmt> {
        vec![Stmt::built(
            format!(
                "CREATE TABLE IF NOT EXISTS {} (`key` VARBINARY(255) NOT NULL PRIMARY KEY, \
                 value TEXT CHARACTER SET utf8mb4 NOT NULL)",
                self.meta
            ),
            Vec::new(),
        )]
    }

    fn migrations(&self) -> Vec<Vec<Stmt>> {
        let t = &self.table;
        vec![vec![Stmt::built(
            format!(
                "CREATE TABLE {t} (`key` VARBINARY(2048) NOT NULL PRIMARY KEY, value LONGBLOB NOT NULL, \
                     content_type VARCHAR(255) CHARACTER SET utf8mb4, etag BIGINT NOT NULL, expires_at BIGINT, \
                     value_json JSON, INDEX (expires_at)) ENGINE=InnoDB"
            ),
            Vec::new(),
        )]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `?` of a statement on many keys has its parameter.
    #[test]
    fn key_lists_bind_every_placeholder() {
        let d = MySqlDialect::new("t", "m", true, 1 << 24);
        statestore_sql::testing::key_lists_bind_every_placeholder(&d);
    }

    /// A one-row write reads the clock only when its row has a ttl, and
    /// binds a parameter for every `?` either way.
    #[test]
    fn one_row_writes_read_the_clock_only_with_a_ttl() {
        let d = MySqlDialect::new("t", "m", true, 1 << 24);
        let value = statestore_core::Bytes::from_static(b"v");
        for ttl in [None, Some(60)] {
            let row = WriteRow {
                key: "k",
                value: &value,
                content_type: None,
                etag: 1,
                ttl,
                expected: 0,
            };
            for stmt in [d.upsert(&[row]), d.insert_if_absent(&[row])] {
                let values = stmt.sql.split(" ON DUPLICATE").next().unwrap();
                assert_eq!(
                    values.contains("UNIX_TIMESTAMP"),
                    ttl.is_some(),
                    "{}",
                    stmt.sql
                );
                assert_eq!(
                    stmt.sql.matches('?').count(),
                    stmt.params.len(),
                    "{}",
                    stmt.sql
                );
            }
        }
    }
}
