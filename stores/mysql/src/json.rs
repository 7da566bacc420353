//! The query API's reading of JSON in MySQL and MariaDB: the JSON copy of
//! the value (`value_json`), read with `JSON_EXTRACT` and a path of quoted
//! labels, which reads object members only (`$."0"` of an array is NULL).

use statestore_sql::{JsonSql, Kind, Param, Path, Sql};

use crate::dialect::MySqlDialect;

/// The JSON value at `path`, SQL NULL when missing.
fn at(sql: &mut Sql, path: &Path) {
    sql.push("JSON_EXTRACT(value_json, ");
    sql.json_path(path);
    sql.push(")");
}

impl JsonSql for MySqlDialect {
    fn numbered(&self) -> bool {
        false
    }

    fn select_json_rows(&self) -> &str {
        &self.json_rows
    }

    /// `VARBINARY`: byte order, which in UTF-8 is code point order.
    fn key_column(&self) -> &str {
        "`key`"
    }

    fn kind(&self, sql: &mut Sql, path: &Path) {
        sql.push("JSON_TYPE(");
        at(sql, path);
        sql.push(")");
    }

    /// MariaDB names numbers `INTEGER` and `DOUBLE`; MySQL also `DECIMAL`
    /// and `UNSIGNED INTEGER`.
    fn kind_names(&self, kind: Kind) -> &'static [&'static str] {
        match kind {
            Kind::Null => &["NULL"],
            Kind::Bool => &["BOOLEAN"],
            Kind::Number => &["INTEGER", "UNSIGNED INTEGER", "DOUBLE", "DECIMAL"],
            Kind::String => &["STRING"],
            Kind::Array => &["ARRAY"],
            Kind::Object => &["OBJECT"],
        }
    }

    fn number(&self, sql: &mut Sql, path: &Path) {
        sql.push("CAST(");
        at(sql, path);
        sql.push(" AS DOUBLE)");
    }

    /// As bytes: a text comparison would ignore trailing spaces (`PAD
    /// SPACE` collations) or case.
    fn string(&self, sql: &mut Sql, path: &Path) {
        sql.push("CAST(JSON_UNQUOTE(");
        at(sql, path);
        sql.push(") AS BINARY)");
    }

    fn string_operand(&self, sql: &mut Sql, s: &str) {
        sql.push("CAST(");
        sql.bind(Param::Text(s.to_owned()));
        sql.push(" AS BINARY)");
    }

    /// Unquoted, so that MySQL compares text rather than a JSON `true`
    /// with the JSON string `"true"`.
    fn boolean(&self, sql: &mut Sql, path: &Path) {
        sql.push("(JSON_UNQUOTE(");
        at(sql, path);
        sql.push(") = 'true')");
    }
}

#[cfg(test)]
mod tests {
    /// docs/query.md shows the expressions this dialect writes, for a user
    /// to index: they must be the ones it writes.
    #[test]
    fn the_documented_index_expressions_are_the_written_ones() {
        let d = crate::dialect::MySqlDialect::new("state", "state_metadata", true, 1 << 20);
        let docs = include_str!("../../../docs/query.md");
        statestore_sql::testing::index_expressions_are_documented(&d, docs);
    }
}
