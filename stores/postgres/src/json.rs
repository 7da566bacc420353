//! The query API's reading of JSON in PostgreSQL: the `jsonb` copy of the
//! value (`value_json`), walked with `->` and text keys, which reads object
//! members only (`#>` would also index arrays by number).

use statestore_sql::{JsonSql, Kind, Param, Path, Sql};

use crate::dialect::PgDialect;

/// The `jsonb` value at `path`: `value_json -> 'a' -> 'b'`, each key a
/// literal when the path is plain, else a bound text parameter.
fn at(sql: &mut Sql, path: &Path) {
    sql.push("(value_json");
    for part in &path.parts {
        sql.push(" -> ");
        if path.plain {
            sql.push("'");
            sql.push(part);
            sql.push("'");
        } else {
            sql.bind(Param::Text((*part).to_owned()));
            sql.push("::text");
        }
    }
    sql.push(")");
}

impl JsonSql for PgDialect {
    fn numbered(&self) -> bool {
        true
    }

    fn select_json_rows(&self) -> &str {
        &self.json_rows
    }

    fn key_column(&self) -> &str {
        "\"key\""
    }

    fn kind(&self, sql: &mut Sql, path: &Path) {
        sql.push("jsonb_typeof");
        at(sql, path);
    }

    fn kind_names(&self, kind: Kind) -> &'static [&'static str] {
        match kind {
            Kind::Null => &["null"],
            Kind::Bool => &["boolean"],
            Kind::Number => &["number"],
            Kind::String => &["string"],
            Kind::Array => &["array"],
            Kind::Object => &["object"],
        }
    }

    fn number(&self, sql: &mut Sql, path: &Path) {
        at(sql, path);
        sql.push("::float8");
    }

    /// The "C" collation compares by byte, which in UTF-8 is code point order.
    fn string(&self, sql: &mut Sql, path: &Path) {
        sql.push("(");
        at(sql, path);
        sql.push(" #>> '{}') COLLATE \"C\"");
    }

    /// A NUL as U+FFFD, as the JSON copy holds it (`text` cannot hold NUL).
    fn string_operand(&self, sql: &mut Sql, s: &str) {
        sql.bind(Param::Text(s.replace('\0', "\u{fffd}")));
        sql.push("::text COLLATE \"C\"");
    }

    fn boolean(&self, sql: &mut Sql, path: &Path) {
        sql.push("(");
        at(sql, path);
        sql.push(" = 'true'::jsonb)::int");
    }
}

#[cfg(test)]
mod tests {
    /// docs/query.md shows the expressions this dialect writes, for a user
    /// to index: they must be the ones it writes.
    #[test]
    fn the_documented_index_expressions_are_the_written_ones() {
        let d = crate::dialect::PgDialect::new("state", "state_metadata");
        let docs = include_str!("../../../docs/query.md");
        statestore_sql::testing::index_expressions_are_documented(&d, docs);
    }
}
