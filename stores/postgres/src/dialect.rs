//! The PostgreSQL text of every statement.
//!
//! Multi-row statements bind one array per column (`= ANY($1)`, `UNNEST`),
//! so their text does not depend on the number of rows and each stays one
//! prepared statement. Keys use the "C" collation: byte order, and
//! case-sensitive LIKE. Times are Unix milliseconds of
//! `statement_timestamp()`, the server's clock, constant within a statement.

use std::sync::Arc;

use statestore_core::like::LikePattern;
use statestore_sql::dialect::{json_text, push_row, range_params, without_nul};
use statestore_sql::{Bookkeeping, Dialect, KeyEtag, Param, Stmt, WriteRow};

pub(crate) const NOW: &str = "(EXTRACT(EPOCH FROM statement_timestamp()) * 1000)::int8";
const COLS: &str = r#""key", value, etag, content_type, expires_at"#;
const UNNEST_ROWS: &str =
    "UNNEST($1::text[], $2::bytea[], $3::text[], $4::int8[], $5::int8[], $6::text[]";

/// Rows per statement.
pub const MAX_ROWS: usize = 1000;

/// Rows per statement of a bulk write ([`Dialect::bulk_rows`]): with 8
/// writers of 1,000 random keys each, statements of 250 rows wrote more
/// keys per second than of 500 or 1,000, whose rows wait longer on one
/// another's locks (docs/performance.md, "Bulk writes in statements of 250
/// rows").
pub const BULK_ROWS: usize = 250;

/// Quotes a validated `table` or `schema.table`.
pub fn quote(name: &str) -> String {
    name.split('.')
        .map(|p| format!("\"{p}\""))
        .collect::<Vec<_>>()
        .join(".")
}

/// Statements for one state table and one metadata table.
#[derive(Debug)]
pub struct PgDialect {
    table: String,
    meta: String,
    index: String,
    schemas: Vec<String>,
    get1: Arc<str>,
    get_many: Arc<str>,
    lock_many: Arc<str>,
    upsert1: Arc<str>,
    upsert_many: Arc<str>,
    insert1: Arc<str>,
    insert_many: Arc<str>,
    update1: Arc<str>,
    update_many: Arc<str>,
    delete1: Arc<str>,
    delete_many: Arc<str>,
    delete_match1: Arc<str>,
    delete_match_many: Arc<str>,
    live1: Arc<str>,
    live_many: Arc<str>,
    keys_like: Arc<str>,
    delete_prefix: Arc<str>,
    /// `SELECT` of live rows holding JSON, for the query API (`json.rs`).
    pub(crate) json_rows: String,
    book: Bookkeeping,
}

impl PgDialect {
    /// Statements for `table` and `metadata_table` (both validated; either
    /// may be `schema.table`).
    pub fn new(table: &str, metadata_table: &str) -> Self {
        let t = quote(table);
        let m = quote(metadata_table);
        let live = format!("({t}.expires_at IS NULL OR {t}.expires_at > {NOW})");
        let expired = format!("{t}.expires_at IS NOT NULL AND {t}.expires_at <= {NOW}");
        let arc = |s: String| -> Arc<str> { s.into() };
        let upsert = |source: &str, condition: &str, returning: &str| {
            arc(format!(
                "INSERT INTO {t} (\"key\", value, content_type, etag, expires_at, value_json) {source} \
                 ON CONFLICT (\"key\") DO UPDATE SET value = excluded.value, content_type = excluded.content_type, \
                 etag = excluded.etag, expires_at = excluded.expires_at, value_json = excluded.value_json\
                 {condition}{returning}"
            ))
        };
        let one_row = format!("VALUES ($1, $2, $3, $4, {NOW} + $5 * 1000, $6::jsonb)");
        // Multi-row writes compute each row's expiry from the clock as a
        // subquery, computed once per statement, where `NOW` in a row's
        // expression is computed for every row, NULL ttl or not
        // (docs/performance.md, "The clock once per statement"). The live
        // checks still read `NOW`, only for rows that have an expiry.
        let now_once = format!("(SELECT {NOW})");
        let many_rows = format!(
            "SELECT k, v, ct, e, {now_once} + ttl * 1000, j::jsonb FROM {UNNEST_ROWS}) AS u(k, v, ct, e, ttl, j)"
        );
        let only_expired = format!(" WHERE {expired}");
        let schemas = [table, metadata_table]
            .iter()
            .filter_map(|n| n.split_once('.').map(|(s, _)| quote(s)))
            .collect();
        PgDialect {
            json_rows: format!(
                "SELECT {COLS} FROM {t} WHERE {live} AND {t}.value_json IS NOT NULL"
            ),
            get1: arc(format!(
                "SELECT {COLS} FROM {t} WHERE \"key\" = $1 AND {live}"
            )),
            get_many: arc(format!(
                "SELECT {COLS} FROM {t} WHERE \"key\" = ANY($1::text[]) AND {live}"
            )),
            // Rows are locked as the sort hands them out: in key order.
            lock_many: arc(format!(
                "SELECT \"key\" FROM {t} WHERE \"key\" = ANY($1::text[]) ORDER BY \"key\" FOR UPDATE"
            )),
            upsert1: upsert(&one_row, "", ""),
            upsert_many: upsert(&many_rows, "", ""),
            insert1: upsert(&one_row, &only_expired, ""),
            insert_many: upsert(&many_rows, &only_expired, " RETURNING \"key\""),
            update1: arc(format!(
                "UPDATE {t} SET value = $2, content_type = $3, etag = $4, expires_at = {NOW} + $5 * 1000, \
                 value_json = $6::jsonb WHERE \"key\" = $1 AND etag = $7 AND {live}"
            )),
            update_many: arc(format!(
                "UPDATE {t} SET value = u.v, content_type = u.ct, etag = u.e, expires_at = {now_once} + u.ttl * 1000, \
                 value_json = u.j::jsonb FROM {UNNEST_ROWS}, $7::int8[]) AS u(k, v, ct, e, ttl, j, old) \
                 WHERE {t}.\"key\" = u.k AND {t}.etag = u.old AND {live} RETURNING {t}.\"key\""
            )),
            delete1: arc(format!("DELETE FROM {t} WHERE \"key\" = $1")),
            delete_many: arc(format!("DELETE FROM {t} WHERE \"key\" = ANY($1::text[])")),
            delete_match1: arc(format!(
                "DELETE FROM {t} WHERE \"key\" = $1 AND etag = $2 AND {live}"
            )),
            delete_match_many: arc(format!(
                "DELETE FROM {t} USING UNNEST($1::text[], $2::int8[]) AS u(k, e) \
                 WHERE {t}.\"key\" = u.k AND {t}.etag = u.e AND {live} RETURNING {t}.\"key\""
            )),
            live1: arc(format!(
                "SELECT \"key\" FROM {t} WHERE \"key\" = $1 AND {live}"
            )),
            live_many: arc(format!(
                "SELECT \"key\" FROM {t} WHERE \"key\" = ANY($1::text[]) AND {live}"
            )),
            keys_like: arc(format!(
                "SELECT \"key\" FROM {t} WHERE \"key\" LIKE $1 AND \"key\" > $2 AND {live} ORDER BY \"key\" LIMIT $3"
            )),
            delete_prefix: arc(format!(
                "DELETE FROM {t} WHERE \"key\" >= $1 AND \"key\" < $2 \
                 AND strpos(substr(\"key\", $3::int4), '||') = 0 AND {live}"
            )),
            book: Bookkeeping {
                ping: arc("SELECT 'pong'".into()),
                metadata_get: arc(format!("SELECT value FROM {m} WHERE \"key\" = $1")),
                metadata_set: arc(format!(
                    "INSERT INTO {m} (\"key\", value) VALUES ($1, $2) ON CONFLICT (\"key\") DO UPDATE SET value = excluded.value"
                )),
                claim: arc(format!(
                    "INSERT INTO {m} (\"key\", value) VALUES ($1, {NOW}::text) ON CONFLICT (\"key\") \
                     DO UPDATE SET value = excluded.value WHERE {m}.value::int8 <= {NOW} - $2"
                )),
                delete_expired: arc(format!("DELETE FROM {t} WHERE {expired}")),
            },
            // At most 63 bytes, like every identifier: a longer name would
            // be cut to the table's own. 52 + 11 bytes, all ASCII.
            index: {
                let name = table.rsplit('.').next().unwrap_or(table);
                format!("\"{}_expires_at\"", &name[..name.len().min(52)])
            },
            schemas,
            table: t,
            meta: m,
        }
    }

    fn keys(keys: &[&str]) -> Vec<Param> {
        match keys {
            [k] => vec![Param::Text((*k).to_owned())],
            _ => vec![Param::TextArray(keys.iter().copied().collect())],
        }
    }

    fn pick(rows: usize, one: &Arc<str>, many: &Arc<str>) -> Arc<str> {
        if rows == 1 { one.clone() } else { many.clone() }
    }

    /// One row as scalars, or every row as column arrays: key, value,
    /// content type, new etag, ttl, JSON, and with `expected` the etag that
    /// must be current.
    fn write_params(rows: &[WriteRow<'_>], expected: bool) -> Vec<Param> {
        if let [r] = rows {
            let mut p = Vec::with_capacity(7);
            push_row(&mut p, r);
            p.push(Param::OptText(json_text(r.value).map(without_nul)));
            if expected {
                p.push(Param::I64(r.expected));
            }
            return p;
        }
        let mut p = vec![
            Param::TextArray(rows.iter().map(|r| r.key).collect()),
            Param::BytesArray(rows.iter().map(|r| r.value.clone()).collect()),
            Param::OptTextArray(
                rows.iter()
                    .map(|r| r.content_type.map(str::to_owned))
                    .collect(),
            ),
            Param::I64Array(rows.iter().map(|r| r.etag).collect()),
            Param::OptI64Array(rows.iter().map(|r| r.ttl.map(i64::from)).collect()),
            Param::OptTextArray(
                rows.iter()
                    .map(|r| json_text(r.value).map(without_nul))
                    .collect(),
            ),
        ];
        if expected {
            p.push(Param::I64Array(rows.iter().map(|r| r.expected).collect()));
        }
        p
    }

    fn returning(rows: usize, stmt: Stmt) -> Stmt {
        if rows == 1 {
            stmt
        } else {
            stmt.returning_keys()
        }
    }
}

impl Dialect for PgDialect {
    fn max_rows(&self) -> usize {
        MAX_ROWS
    }

    fn bulk_rows(&self) -> usize {
        BULK_ROWS
    }

    /// A statement is one protocol message of at most 1 GiB.
    fn max_statement_bytes(&self) -> usize {
        512 * 1024 * 1024
    }

    /// A JSON value travels twice: as `bytea` and as the text of its
    /// `jsonb` copy.
    fn row_bytes(&self, row: &WriteRow<'_>) -> usize {
        row.key.len() + 2 * row.value.len()
    }

    fn get(&self, keys: &[&str]) -> Stmt {
        Stmt::fixed(
            &Self::pick(keys.len(), &self.get1, &self.get_many),
            Self::keys(keys),
        )
    }

    fn lock(&self, keys: &[&str]) -> Option<Stmt> {
        Some(Stmt::fixed(
            &self.lock_many,
            vec![Param::TextArray(keys.iter().copied().collect())],
        ))
    }

    fn upsert(&self, rows: &[WriteRow<'_>]) -> Stmt {
        let sql = Self::pick(rows.len(), &self.upsert1, &self.upsert_many);
        Stmt::fixed(&sql, Self::write_params(rows, false))
    }

    fn update_if_match(&self, rows: &[WriteRow<'_>]) -> Stmt {
        let sql = Self::pick(rows.len(), &self.update1, &self.update_many);
        Self::returning(
            rows.len(),
            Stmt::fixed(&sql, Self::write_params(rows, true)),
        )
    }

    fn insert_if_absent(&self, rows: &[WriteRow<'_>]) -> Stmt {
        let sql = Self::pick(rows.len(), &self.insert1, &self.insert_many);
        Self::returning(
            rows.len(),
            Stmt::fixed(&sql, Self::write_params(rows, false)),
        )
    }

    fn delete(&self, keys: &[&str]) -> Stmt {
        Stmt::fixed(
            &Self::pick(keys.len(), &self.delete1, &self.delete_many),
            Self::keys(keys),
        )
    }

    fn delete_if_match(&self, rows: &[KeyEtag<'_>]) -> Stmt {
        let params = match rows {
            [r] => vec![Param::Text(r.key.to_owned()), Param::I64(r.etag)],
            _ => vec![
                Param::TextArray(rows.iter().map(|r| r.key).collect()),
                Param::I64Array(rows.iter().map(|r| r.etag).collect()),
            ],
        };
        let sql = Self::pick(rows.len(), &self.delete_match1, &self.delete_match_many);
        Self::returning(rows.len(), Stmt::fixed(&sql, params))
    }

    fn live_keys(&self, keys: &[&str]) -> Stmt {
        Stmt::fixed(
            &Self::pick(keys.len(), &self.live1, &self.live_many),
            Self::keys(keys),
        )
    }

    fn delete_with_prefix(&self, from: &str, to: &str, prefix_chars: usize) -> Stmt {
        Stmt::fixed(
            &self.delete_prefix,
            range_params(from, to, prefix_chars + 1),
        )
    }

    /// The contract's LIKE is PostgreSQL's (`%`, `_`, `\` escapes), and
    /// LIKE is case-sensitive here, so the pattern goes through unchanged.
    fn keys_like(&self, pattern: &LikePattern, after: &str, limit: Option<u64>) -> Stmt {
        let params = vec![
            Param::Text(pattern.as_str().to_owned()),
            Param::Text(after.to_owned()),
            Param::OptI64(limit.map(|n| i64::try_from(n).unwrap_or(i64::MAX))),
        ];
        Stmt::fixed(&self.keys_like, params)
    }

    fn bookkeeping(&self) -> &Bookkeeping {
        &self.book
    }

    /// Only what is missing is created: `CREATE ... IF NOT EXISTS` needs
    /// the CREATE privilege even when the object exists, which a
    /// least-privilege user of an already migrated database lacks.
    /// (Identifiers are validated: letters, digits and `_` only.)
    fn create_metadata_table(&self) -> Vec<Stmt> {
        let schemas = self.schemas.iter().map(|s| {
            let name = s.trim_matches('"');
            Stmt::built(
                format!(
                    "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = '{name}') \
                     THEN CREATE SCHEMA IF NOT EXISTS {s}; END IF; END $$"
                ),
                Vec::new(),
            )
        });
        let m = &self.meta;
        let meta = format!(
            "DO $$ BEGIN IF to_regclass('{m}') IS NULL THEN \
             CREATE TABLE IF NOT EXISTS {m} (\"key\" text NOT NULL PRIMARY KEY, value text NOT NULL); \
             END IF; END $$"
        );
        schemas.chain([Stmt::built(meta, Vec::new())]).collect()
    }

    /// Plain `CREATE` statements, run under the migration lock: a table of
    /// the same name that this store did not create is never adopted.
    fn migrations(&self) -> Vec<Vec<Stmt>> {
        let t = &self.table;
        vec![vec![
            Stmt::built(
                format!(
                    "CREATE TABLE {t} (\"key\" text COLLATE \"C\" NOT NULL PRIMARY KEY, value bytea NOT NULL, \
                     content_type text, etag int8 NOT NULL, expires_at int8, value_json jsonb)"
                ),
                Vec::new(),
            ),
            Stmt::built(
                format!(
                    "CREATE INDEX {} ON {t} (expires_at) WHERE expires_at IS NOT NULL",
                    self.index
                ),
                Vec::new(),
            ),
        ]]
    }
}
