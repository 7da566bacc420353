//! The SQLite text of every statement.
//!
//! Times are Unix milliseconds from SQLite's own clock (`julianday('now')`,
//! constant within one statement). Keys use the default BINARY collation, so
//! ordering and ranges follow byte order, like the in-memory store; LIKE
//! patterns become case-sensitive GLOBs (SQLite's LIKE ignores ASCII case).

use std::sync::Arc;

use statestore_core::like::LikePattern;
use statestore_sql::dialect::{
    json_text, key_etag_params, key_params, on_keys, push_row, range_params, repeat, where_in,
};
use statestore_sql::{Bookkeeping, Dialect, KeyEtag, Param, Stmt, WriteRow};

pub(crate) const NOW: &str = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";
const COLS: &str = r#""key", value, etag, content_type, expires_at"#;

/// Rows per multi-row statement: 1,000 rows of at most 6 parameters stay
/// far below SQLite's limit of 32,766 parameters.
pub const MAX_ROWS: usize = 1000;

/// Statements for one state table and one metadata table.
#[derive(Debug)]
pub struct SqliteDialect {
    table: String,
    meta: String,
    index: String,
    live: String,
    get1: Arc<str>,
    upsert1: Arc<str>,
    insert1: Arc<str>,
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

/// Quotes an identifier that [`statestore_sql::ident::validate`] accepted.
fn quote(name: &str) -> String {
    format!("\"{name}\"")
}

impl SqliteDialect {
    /// Statements for `table` and `metadata_table` (both validated).
    pub fn new(table: &str, metadata_table: &str) -> Self {
        let t = quote(table);
        let m = quote(metadata_table);
        let live = format!("({t}.expires_at IS NULL OR {t}.expires_at > {NOW})");
        let arc = |s: String| -> Arc<str> { s.into() };
        SqliteDialect {
            json_rows: format!(
                "SELECT {COLS} FROM {t} WHERE {live} AND {t}.value_json IS NOT NULL"
            ),
            get1: arc(format!(
                "SELECT {COLS} FROM {t} WHERE \"key\" = ? AND {live}"
            )),
            upsert1: arc(Self::upsert_sql(&t, 1, "")),
            insert1: arc(Self::upsert_sql(&t, 1, &Self::only_expired(&t))),
            update1: arc(format!(
                "UPDATE {t} SET value = ?, content_type = ?, etag = ?, expires_at = {NOW} + ? * 1000, \
                 value_json = ? WHERE \"key\" = ? AND etag = ? AND {live}"
            )),
            delete1: arc(format!("DELETE FROM {t} WHERE \"key\" = ?")),
            delete_match1: arc(format!(
                "DELETE FROM {t} WHERE \"key\" = ? AND etag = ? AND {live}"
            )),
            live1: arc(format!(
                "SELECT \"key\" FROM {t} WHERE \"key\" = ? AND {live}"
            )),
            keys_like: arc(format!(
                "SELECT \"key\" FROM {t} WHERE \"key\" GLOB ? AND \"key\" > ? AND {live} ORDER BY \"key\" LIMIT ?"
            )),
            delete_prefix: arc(format!(
                "DELETE FROM {t} WHERE \"key\" >= ? AND \"key\" < ? AND instr(substr(\"key\", ?), '||') = 0 AND {live}"
            )),
            book: Bookkeeping {
                ping: arc("SELECT 'pong'".into()),
                metadata_get: arc(format!("SELECT value FROM {m} WHERE \"key\" = ?")),
                metadata_set: arc(format!(
                    "INSERT INTO {m} (\"key\", value) VALUES (?, ?) ON CONFLICT (\"key\") DO UPDATE SET value = excluded.value"
                )),
                claim: arc(format!(
                    "INSERT INTO {m} (\"key\", value) VALUES (?, CAST({NOW} AS TEXT)) ON CONFLICT (\"key\") \
                     DO UPDATE SET value = excluded.value WHERE CAST({m}.value AS INTEGER) <= {NOW} - ?"
                )),
                delete_expired: arc(format!(
                    "DELETE FROM {t} WHERE expires_at IS NOT NULL AND expires_at <= {NOW}"
                )),
            },
            index: quote(&format!("{table}_expires_at")),
            live,
            table: t,
            meta: m,
        }
    }

    fn only_expired(t: &str) -> String {
        format!(" WHERE {t}.expires_at IS NOT NULL AND {t}.expires_at <= {NOW}")
    }

    fn upsert_sql(t: &str, rows: usize, condition: &str) -> String {
        format!(
            "INSERT INTO {t} (\"key\", value, content_type, etag, expires_at, value_json) VALUES {} \
             ON CONFLICT (\"key\") DO UPDATE SET value = excluded.value, content_type = excluded.content_type, \
             etag = excluded.etag, expires_at = excluded.expires_at, value_json = excluded.value_json{condition}",
            repeat(rows, &format!("(?, ?, ?, ?, {NOW} + ? * 1000, ?)"))
        )
    }

    /// The JSON copy of a value (docs/query.md): none for a value over half
    /// the largest, which with its copy would pass SQLite's row limit.
    fn json(r: &WriteRow<'_>) -> Option<String> {
        (r.value.len() <= crate::config::MAX_VALUE_LEN / 2)
            .then(|| json_text(r.value))
            .flatten()
    }

    /// Per row: key, value, content type, new etag, ttl, JSON copy, and
    /// with `expected` the etag that must be current.
    fn row_params(rows: &[WriteRow<'_>], expected: bool) -> Vec<Param> {
        let mut p = Vec::with_capacity(rows.len() * 7);
        for r in rows {
            push_row(&mut p, r);
            p.push(Param::OptText(Self::json(r)));
            if expected {
                p.push(Param::I64(r.expected));
            }
        }
        p
    }

    fn write_params(rows: &[WriteRow<'_>]) -> Vec<Param> {
        Self::row_params(rows, false)
    }

    /// Live rows of `keys` selected by `select`; one key uses `fixed`.
    fn in_list(&self, select: &str, keys: &[&str], fixed: &Arc<str>) -> Stmt {
        on_keys(keys, fixed, |n| {
            let head = format!("{select} FROM {}", self.table);
            format!("{} AND {}", where_in(&head, "\"key\"", n), self.live)
        })
    }
}

impl Dialect for SqliteDialect {
    fn max_rows(&self) -> usize {
        MAX_ROWS
    }

    fn get(&self, keys: &[&str]) -> Stmt {
        if keys.len() == 1 {
            return Stmt::fixed(&self.get1, key_params(keys));
        }
        self.in_list(&format!("SELECT {COLS}"), keys, &self.get1)
    }

    fn upsert(&self, rows: &[WriteRow<'_>]) -> Stmt {
        match rows.len() {
            1 => Stmt::fixed(&self.upsert1, Self::write_params(rows)),
            n => Stmt::built(
                Self::upsert_sql(&self.table, n, ""),
                Self::write_params(rows),
            ),
        }
    }

    fn update_if_match(&self, rows: &[WriteRow<'_>]) -> Stmt {
        if let [r] = rows {
            let params = vec![
                Param::Bytes(r.value.clone()),
                Param::OptText(r.content_type.map(str::to_owned)),
                Param::I64(r.etag),
                Param::OptI64(r.ttl.map(i64::from)),
                Param::OptText(Self::json(r)),
                Param::Text(r.key.to_owned()),
                Param::I64(r.expected),
            ];
            return Stmt::fixed(&self.update1, params);
        }
        let t = &self.table;
        let sql = format!(
            "WITH v(k, val, ct, et, ttl, j, old) AS (VALUES {}) \
             UPDATE {t} SET value = v.val, content_type = v.ct, etag = v.et, expires_at = {NOW} + v.ttl * 1000, \
             value_json = v.j FROM v WHERE {t}.\"key\" = v.k AND {t}.etag = v.old AND {} RETURNING \"key\"",
            repeat(rows.len(), "(?, ?, ?, ?, ?, ?, ?)"),
            self.live
        );
        let p = Self::row_params(rows, true);
        Stmt::built(sql, p).returning_keys()
    }

    fn insert_if_absent(&self, rows: &[WriteRow<'_>]) -> Stmt {
        match rows.len() {
            1 => Stmt::fixed(&self.insert1, Self::write_params(rows)),
            n => {
                let sql = Self::upsert_sql(&self.table, n, &Self::only_expired(&self.table));
                Stmt::built(format!("{sql} RETURNING \"key\""), Self::write_params(rows))
                    .returning_keys()
            }
        }
    }

    fn delete(&self, keys: &[&str]) -> Stmt {
        on_keys(keys, &self.delete1, |n| {
            where_in(&format!("DELETE FROM {}", self.table), "\"key\"", n)
        })
    }

    fn delete_if_match(&self, rows: &[KeyEtag<'_>]) -> Stmt {
        let p = key_etag_params(rows);
        if rows.len() == 1 {
            return Stmt::fixed(&self.delete_match1, p);
        }
        let sql = format!(
            "DELETE FROM {} WHERE (\"key\", etag) IN (VALUES {}) AND {} RETURNING \"key\"",
            self.table,
            repeat(rows.len(), "(?, ?)"),
            self.live
        );
        Stmt::built(sql, p).returning_keys()
    }

    fn live_keys(&self, keys: &[&str]) -> Stmt {
        self.in_list("SELECT \"key\"", keys, &self.live1)
    }

    fn delete_with_prefix(&self, from: &str, to: &str, prefix_chars: usize) -> Stmt {
        Stmt::fixed(
            &self.delete_prefix,
            range_params(from, to, prefix_chars + 1),
        )
    }

    fn keys_like(&self, pattern: &LikePattern, after: &str, limit: Option<u64>) -> Stmt {
        let limit = limit.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
        let params = vec![
            Param::Text(pattern.to_glob()),
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
                "CREATE TABLE IF NOT EXISTS {} (\"key\" TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL)",
                self.meta
            ),
            Vec::new(),
        )]
    }

    /// Plain `CREATE` statements: applying a migration twice fails loudly
    /// instead of passing silently, and an existing table this store did not
    /// create is never adopted by accident.
    fn migrations(&self) -> Vec<Vec<Stmt>> {
        let t = &self.table;
        let stmt = |sql: String| Stmt::built(sql, Vec::new());
        // 2: the JSON copy the query reads (docs/query.md). Rows already
        // there get SQLite's reading of their JSON until they are written
        // again.
        let json_copy = vec![
            stmt(format!("ALTER TABLE {t} ADD COLUMN value_json TEXT")),
            stmt(format!(
                "UPDATE {t} SET value_json = json(CAST(value AS TEXT)) \
                 WHERE json_valid(CAST(value AS TEXT))"
            )),
        ];
        let index = &self.index;
        let table = vec![
            stmt(format!(
                "CREATE TABLE {t} (\"key\" TEXT NOT NULL PRIMARY KEY, value BLOB NOT NULL, \
                 content_type TEXT, etag INTEGER NOT NULL, expires_at INTEGER)"
            )),
            stmt(format!(
                "CREATE INDEX {index} ON {t} (expires_at) WHERE expires_at IS NOT NULL"
            )),
        ];
        vec![table, json_copy]
    }
}

#[cfg(test)]
mod tests {
    use statestore_core::check::{self, Op};
    use statestore_core::{Limits, SetRequest};
    use statestore_sql::apply::single_upsert;

    use super::SqliteDialect;

    /// Every `?` of a statement on many keys has its parameter.
    #[test]
    fn key_lists_bind_every_placeholder() {
        let d = SqliteDialect::new("t", "m");
        statestore_sql::testing::key_lists_bind_every_placeholder(&d);
    }

    fn ops(reqs: Vec<SetRequest>) -> Vec<(usize, Op)> {
        reqs.into_iter()
            .map(|r| Op::Write(check::write(r, &Limits::default()).unwrap()))
            .enumerate()
            .collect()
    }

    /// Which calls go out as one upsert (docs/performance.md): only
    /// unconditional writes, one row per key (the last), in key order, and
    /// only while they fit one statement.
    #[test]
    fn single_upsert_takes_only_unconditional_calls_that_fit() {
        let d = SqliteDialect::new("state", "metadata");
        let call = ops(vec![
            SetRequest::new("b", "b1"),
            SetRequest::new("a", "a1"),
            SetRequest::new("b", "b2"),
        ]);
        let one = single_upsert(&d, &call).expect("one statement");
        assert_eq!(one.ops.len(), 3);
        let rows: Vec<(&str, &[u8])> = one.rows.iter().map(|r| (r.key, &r.value[..])).collect();
        assert_eq!(rows, [("a", &b"a1"[..]), ("b", &b"b2"[..])]);
        assert_eq!(one.rows[1].etag, one.ops[2].1.etag);

        let conditional = ops(vec![
            SetRequest::new("a", "1"),
            SetRequest::new("b", "2").etag("1"),
        ]);
        assert!(single_upsert(&d, &conditional).is_none());
        let first_write = ops(vec![SetRequest::new("a", "1").first_write()]);
        assert!(single_upsert(&d, &first_write).is_none());

        let max = statestore_sql::Dialect::max_rows(&d);
        let many = ops((0..=max)
            .map(|i| SetRequest::new(format!("k{i}"), "v"))
            .collect());
        assert!(single_upsert(&d, &many).is_none());
        let fits = ops((0..max)
            .map(|i| SetRequest::new(format!("k{i}"), "v"))
            .collect());
        assert!(single_upsert(&d, &fits).is_some());
    }
}
