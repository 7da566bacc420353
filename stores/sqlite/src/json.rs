//! The query API's reading of JSON in SQLite: the JSON copy of the value
//! (`value_json`, the document as the reference reads it), through
//! `json_type` and `json_extract` with a path of quoted labels, which read
//! object members only (`$."0"` of an array is NULL).

use statestore_sql::{JsonSql, Kind, Path, Sql};

use crate::dialect::SqliteDialect;

/// The JSON copy.
const JSON: &str = "value_json";

impl JsonSql for SqliteDialect {
    fn numbered(&self) -> bool {
        false
    }

    fn select_json_rows(&self) -> &str {
        &self.json_rows
    }

    /// `TEXT` with the `BINARY` collation: code point order.
    fn key_column(&self) -> &str {
        "\"key\""
    }

    fn kind(&self, sql: &mut Sql, path: &Path) {
        sql.push(&format!("json_type({JSON}, "));
        sql.json_path(path);
        sql.push(")");
    }

    fn kind_names(&self, kind: Kind) -> &'static [&'static str] {
        match kind {
            Kind::Null => &["null"],
            Kind::Bool => &["true", "false"],
            Kind::Number => &["integer", "real"],
            Kind::String => &["text"],
            Kind::Array => &["array"],
            Kind::Object => &["object"],
        }
    }

    fn number(&self, sql: &mut Sql, path: &Path) {
        sql.push(&format!("CAST(json_extract({JSON}, "));
        sql.json_path(path);
        sql.push(") AS REAL)");
    }

    fn string(&self, sql: &mut Sql, path: &Path) {
        sql.push(&format!("json_extract({JSON}, "));
        sql.json_path(path);
        sql.push(")");
    }

    fn boolean(&self, sql: &mut Sql, path: &Path) {
        sql.push(&format!("(json_type({JSON}, "));
        sql.json_path(path);
        sql.push(") = 'true')");
    }
}

#[cfg(test)]
mod tests {
    /// docs/query.md shows the expressions this dialect writes, for a user
    /// to index: they must be the ones it writes.
    #[test]
    fn the_documented_index_expressions_are_the_written_ones() {
        let d = crate::dialect::SqliteDialect::new("state", "state_metadata");
        let docs = include_str!("../../../docs/query.md");
        statestore_sql::testing::index_expressions_are_documented(&d, docs);
    }
}
