//! The query API as one SQL statement (docs/contract.md, *Query*), with the
//! reference store's rules kept in SQL:
//!
//! * a path names object members only: each dialect's lookup yields SQL
//!   NULL when a step is not an object member;
//! * a comparison matches only a value of the operand's kind: every
//!   comparison is on a typed expression, `CASE WHEN <kind> IN (..) THEN
//!   <value> END`, which is NULL for other kinds, and SQL's NULL never
//!   matches; numbers compare as doubles, strings by code point;
//! * sorting is by the kind's rank, then by the value of each kind, then by
//!   key; a page continues strictly after the token's sort values and key.
//!
//! Paths whose parts are plain (ASCII letters, digits, `_`) are written
//! into the statement as literals, so that an index on the same expression
//! serves the query (docs/query.md, *Indexes*); any other path and every
//! operand is a bound parameter.

use bytes::Bytes;
use serde_json::Value;
use statestore_core::query::{self, Filter, Order};
use statestore_core::{Query, QueryItem, QueryRequest, QueryResponse, Result};

use crate::dialect::{Param, Row, Stmt};
use crate::etag;

/// A JSON kind, as the query ranks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// null
    Null,
    /// true, false
    Bool,
    /// numbers
    Number,
    /// strings
    String,
    /// arrays
    Array,
    /// objects
    Object,
}

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::Null,
        Kind::Bool,
        Kind::Number,
        Kind::String,
        Kind::Array,
        Kind::Object,
    ];

    /// The reference's rank (missing is 0).
    fn rank(self) -> u8 {
        self as u8 + 1
    }
}

/// A checked path.
#[derive(Debug, Clone)]
pub struct Path<'a> {
    /// The member names, in order.
    pub parts: Vec<&'a str>,
    /// Whether every part is ASCII letters, digits and `_`: safe to write
    /// as a literal.
    pub plain: bool,
}

impl<'a> Path<'a> {
    fn new(path: &'a str) -> Result<Path<'a>> {
        query::check_path(path)?;
        let parts: Vec<&str> = path.split('.').collect();
        let plain = parts
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        Ok(Path { parts, plain })
    }

    /// The path in the JSON path language of MySQL and SQLite: `$` and a
    /// double-quoted label per part, `"` and `\` escaped.
    pub fn json_path(&self) -> String {
        let mut out = String::from("$");
        for p in &self.parts {
            out.push_str(".\"");
            for c in p.chars() {
                if matches!(c, '"' | '\\') {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        }
        out
    }
}

/// A statement being written: its text and its parameters, in order.
pub struct Sql {
    text: String,
    params: Vec<Param>,
    numbered: bool,
}

impl Sql {
    fn new(numbered: bool) -> Sql {
        Sql {
            text: String::with_capacity(512),
            params: Vec::new(),
            numbered,
        }
    }

    /// Appends SQL text.
    pub fn push(&mut self, text: &str) {
        self.text.push_str(text);
    }

    /// Appends a placeholder bound to `p`.
    pub fn bind(&mut self, p: Param) {
        self.params.push(p);
        if self.numbered {
            self.text.push('$');
            self.text.push_str(&self.params.len().to_string());
        } else {
            self.text.push('?');
        }
    }

    /// Appends the path in the JSON path language (see
    /// [`Path::json_path`]): a literal when plain, else bound.
    pub fn json_path(&mut self, path: &Path) {
        let text = path.json_path();
        if path.plain {
            self.push("'");
            self.push(&text);
            self.push("'");
        } else {
            self.bind(Param::Text(text));
        }
    }
}

/// What a dialect supplies for the query API: how to read JSON values out
/// of a state row. Each `write` method appends one SQL expression.
pub trait JsonSql {
    /// Whether placeholders are numbered (`$1`) rather than `?`.
    fn numbered(&self) -> bool;

    /// `SELECT` of the state columns (`key, value, etag, content_type,
    /// expires_at`) `FROM` the table, `WHERE` the row is live and holds
    /// JSON; the statement goes on with ` AND ...`.
    fn select_json_rows(&self) -> &str;

    /// The key column, quoted.
    fn key_column(&self) -> &str;

    /// The name of the kind of the value at `path`, SQL NULL when missing.
    fn kind(&self, sql: &mut Sql, path: &Path);

    /// The names [`JsonSql::kind`] gives values of `kind`.
    fn kind_names(&self, kind: Kind) -> &'static [&'static str];

    /// The value at `path`, known to be a number, as a double.
    fn number(&self, sql: &mut Sql, path: &Path);

    /// The value at `path`, known to be a string, as text that compares by
    /// code point.
    fn string(&self, sql: &mut Sql, path: &Path);

    /// A string operand, compared as [`JsonSql::string`] compares.
    fn string_operand(&self, sql: &mut Sql, s: &str) {
        sql.bind(Param::Text(s.to_owned()));
    }

    /// The value at `path`, known to be a boolean: 1 for true, 0 for false.
    fn boolean(&self, sql: &mut Sql, path: &Path);
}

/// `CASE WHEN <kind> IN (<names>) THEN <value> END`: the value when it is
/// of `kind`, else NULL.
fn typed<D: JsonSql + ?Sized>(d: &D, sql: &mut Sql, kind: Kind, path: &Path) {
    sql.push("(CASE WHEN ");
    d.kind(sql, path);
    sql.push(" IN (");
    sql.push(&quoted(d.kind_names(kind)));
    sql.push(") THEN ");
    match kind {
        Kind::Number => d.number(sql, path),
        Kind::String => d.string(sql, path),
        Kind::Bool => d.boolean(sql, path),
        Kind::Null | Kind::Array | Kind::Object => sql.push("1"),
    }
    sql.push(" END)");
}

/// The rank of the kind at `path`: 0 missing, 1 null ... 6 object.
fn rank<D: JsonSql + ?Sized>(d: &D, sql: &mut Sql, path: &Path) {
    sql.push("(CASE ");
    d.kind(sql, path);
    for k in Kind::ALL {
        for name in d.kind_names(k) {
            sql.push(&format!(" WHEN '{name}' THEN {}", k.rank()));
        }
    }
    sql.push(" ELSE 0 END)");
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `<typed value at path> <op> <operand>` for a scalar operand; null only
/// with `=`. Writes a false condition where nothing can match.
fn compare<D: JsonSql + ?Sized>(d: &D, sql: &mut Sql, path: &Path, op: &str, v: &Value) {
    match v {
        Value::Null if op == "=" => {
            sql.push("(");
            d.kind(sql, path);
            sql.push(&format!(" IN ({}))", quoted(d.kind_names(Kind::Null))));
        }
        Value::Bool(_) if !matches!(op, "=" | "<>") => sql.push("1 = 0"),
        Value::Bool(_) | Value::Number(_) | Value::String(_) => {
            typed(d, sql, kind_of(v), path);
            sql.push(&format!(" {op} "));
            bind_scalar(d, sql, v);
        }
        // Null with <> (never), containers (refused before).
        _ => sql.push("1 = 0"),
    }
}

fn filter<D: JsonSql + ?Sized>(d: &D, sql: &mut Sql, f: &Filter) -> Result<()> {
    let each = |fs: &[Filter], join: &str, sql: &mut Sql| -> Result<()> {
        sql.push("(");
        for (i, f) in fs.iter().enumerate() {
            if i > 0 {
                sql.push(join);
            }
            filter(d, sql, f)?;
        }
        sql.push(")");
        Ok(())
    };
    match f {
        Filter::Eq(p, v) => compare(d, sql, &Path::new(p)?, "=", v),
        Filter::Neq(p, v) => compare(d, sql, &Path::new(p)?, "<>", v),
        Filter::Gt(p, v) => compare(d, sql, &Path::new(p)?, ">", v),
        Filter::Gte(p, v) => compare(d, sql, &Path::new(p)?, ">=", v),
        Filter::Lt(p, v) => compare(d, sql, &Path::new(p)?, "<", v),
        Filter::Lte(p, v) => compare(d, sql, &Path::new(p)?, "<=", v),
        Filter::In(p, vs) => one_of(d, sql, &Path::new(p)?, vs),
        Filter::And(fs) => each(fs, " AND ", sql)?,
        Filter::Or(fs) => each(fs, " OR ", sql)?,
    }
    Ok(())
}

/// `IN`: one `<typed value> IN (...)` per kind among the operands, so that
/// a long list is one list, not a chain of `OR`s (SQLite refuses
/// expressions deeper than 1,000).
fn one_of<D: JsonSql + ?Sized>(d: &D, sql: &mut Sql, path: &Path, vs: &[Value]) {
    let mut parts = 0;
    sql.push("(");
    if vs.iter().any(Value::is_null) {
        compare(d, sql, path, "=", &Value::Null);
        parts += 1;
    }
    for kind in [Kind::Bool, Kind::Number, Kind::String] {
        let of_kind: Vec<&Value> = vs.iter().filter(|v| kind_of(v) == kind).collect();
        if of_kind.is_empty() {
            continue;
        }
        if parts > 0 {
            sql.push(" OR ");
        }
        typed(d, sql, kind, path);
        sql.push(" IN (");
        for (i, v) in of_kind.into_iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            bind_scalar(d, sql, v);
        }
        sql.push(")");
        parts += 1;
    }
    if parts == 0 {
        // No operands, or only arrays and objects (refused before).
        sql.push("1 = 0");
    }
    sql.push(")");
}

/// The kind of a JSON value.
fn kind_of(v: &Value) -> Kind {
    match v {
        Value::Null => Kind::Null,
        Value::Bool(_) => Kind::Bool,
        Value::Number(_) => Kind::Number,
        Value::String(_) => Kind::String,
        Value::Array(_) => Kind::Array,
        Value::Object(_) => Kind::Object,
    }
}

/// The sort keys' expressions in order: rank, then each scalar kind's value.
fn order_by<D: JsonSql + ?Sized>(d: &D, sql: &mut Sql, paths: &[(Path, Order)]) {
    for (path, order) in paths {
        let dir = if *order == Order::Desc {
            " DESC"
        } else {
            " ASC"
        };
        rank(d, sql, path);
        sql.push(dir);
        for kind in [Kind::Bool, Kind::Number, Kind::String] {
            sql.push(", ");
            typed(d, sql, kind, path);
            sql.push(dir);
        }
        sql.push(", ");
    }
    sql.push(d.key_column());
    sql.push(" ASC");
}

/// Rows strictly after `(values, key)` in the order of the sort keys.
fn after<D: JsonSql + ?Sized>(
    d: &D,
    sql: &mut Sql,
    paths: &[(Path, Order)],
    values: &[Option<Value>],
    key: &str,
) {
    // (v0 ahead) OR (v0 same AND v1 ahead) OR ... OR (all same AND key ahead)
    sql.push("(");
    for i in 0..=paths.len() {
        if i > 0 {
            sql.push(" OR ");
        }
        sql.push("(");
        for (j, (path, _)) in paths.iter().enumerate().take(i) {
            same(d, sql, path, values[j].as_ref());
            sql.push(" AND ");
        }
        match paths.get(i) {
            Some((path, order)) => ahead(d, sql, path, *order, values[i].as_ref()),
            None => {
                sql.push(d.key_column());
                sql.push(" > ");
                sql.bind(Param::Text(key.to_owned()));
            }
        }
        sql.push(")");
    }
    sql.push(")");
}

/// The scalar kind whose value orders values of `v`'s rank, if any.
fn valued(v: Option<&Value>) -> Option<(Kind, &Value)> {
    let v = v?;
    let kind = kind_of(v);
    matches!(kind, Kind::Bool | Kind::Number | Kind::String).then_some((kind, v))
}

fn bind_scalar(d: &(impl JsonSql + ?Sized), sql: &mut Sql, v: &Value) {
    match v {
        Value::Bool(b) => sql.bind(Param::I64(i64::from(*b))),
        Value::Number(n) => sql.bind(Param::F64(n.as_f64().unwrap_or(f64::NAN))),
        Value::String(s) => d.string_operand(sql, s),
        _ => sql.push("NULL"),
    }
}

/// The value at `path` sorts level with `v`.
fn same<D: JsonSql + ?Sized>(d: &D, sql: &mut Sql, path: &Path, v: Option<&Value>) {
    let r = query::rank(v);
    sql.push("(");
    rank(d, sql, path);
    sql.push(&format!(" = {r}"));
    if let Some((kind, v)) = valued(v) {
        sql.push(" AND ");
        typed(d, sql, kind, path);
        sql.push(" = ");
        bind_scalar(d, sql, v);
    }
    sql.push(")");
}

/// The value at `path` sorts after `v` in `order`.
fn ahead<D: JsonSql + ?Sized>(d: &D, sql: &mut Sql, path: &Path, order: Order, v: Option<&Value>) {
    let r = query::rank(v);
    let op = if order == Order::Desc { "<" } else { ">" };
    sql.push("(");
    rank(d, sql, path);
    sql.push(&format!(" {op} {r}"));
    if let Some((kind, v)) = valued(v) {
        sql.push(" OR (");
        rank(d, sql, path);
        sql.push(&format!(" = {r} AND "));
        typed(d, sql, kind, path);
        sql.push(&format!(" {op} "));
        bind_scalar(d, sql, v);
        sql.push(")");
    }
    sql.push(")");
}

/// The expression a query writes for the values of `kind` at `path`: what
/// an index must be on to serve comparisons and sorting on that path
/// (docs/query.md, *Indexes*). Only a plain path (ASCII letters, digits and
/// `_` in each part) is written as a literal, which an index can match;
/// any other is refused, naming it.
pub fn index_expression<D: JsonSql + ?Sized>(d: &D, path: &str, kind: Kind) -> Result<String> {
    let p = Path::new(path)?;
    if !p.plain {
        return Err(statestore_core::Error::invalid(format!(
            "path {path:?}: only paths of ASCII letters, digits, '_' and '.' can be indexed"
        )));
    }
    let mut sql = Sql::new(d.numbered());
    typed(d, &mut sql, kind, &p);
    Ok(sql.text)
}

/// The statement of a query, and the page limit it was written for.
pub fn statement<D: JsonSql + ?Sized>(d: &D, req: &QueryRequest) -> Result<(Stmt, Option<u32>)> {
    let q: &Query = &req.query;
    q.check()?;
    let mut sql = Sql::new(d.numbered());
    sql.push(d.select_json_rows());
    if let Some((from, to)) = req.key_range() {
        sql.push(" AND ");
        sql.push(d.key_column());
        sql.push(" >= ");
        sql.bind(Param::Text(from.to_owned()));
        if let Some(to) = to {
            sql.push(" AND ");
            sql.push(d.key_column());
            sql.push(" < ");
            sql.bind(Param::Text(to));
        }
    }
    if let Some(f) = &q.filter {
        sql.push(" AND ");
        filter(d, &mut sql, f)?;
    }
    let paths: Vec<(Path, Order)> = q
        .sort
        .iter()
        .map(|s| Ok((Path::new(&s.key)?, s.order)))
        .collect::<Result<_>>()?;
    if let Some(t) = &q.page.token {
        let (values, key) = query::parse_page_token(t, &q.sort)?;
        sql.push(" AND ");
        after(d, &mut sql, &paths, &values, &key);
    }
    sql.push(" ORDER BY ");
    order_by(d, &mut sql, &paths);
    let limit = q.page.limit;
    if let Some(n) = limit {
        // One more than the page: whether a token is due.
        sql.push(" LIMIT ");
        sql.bind(Param::I64(i64::from(n) + 1));
    }
    // A query's text is seldom seen twice: it is not kept prepared.
    Ok((Stmt::built(sql.text, sql.params).once(), limit))
}

/// The answer to a query from the rows its statement returned.
pub fn response(q: &Query, rows: Vec<Row>, limit: Option<u32>) -> QueryResponse {
    let more = limit.is_some_and(|n| rows.len() > n as usize);
    let results: Vec<QueryItem> = rows
        .into_iter()
        .take(limit.map_or(usize::MAX, |n| n as usize))
        .map(|r| QueryItem {
            key: r.key,
            value: Bytes::from(r.value),
            etag: Some(etag::format(r.etag)),
            error: None,
        })
        .collect();
    query::page(q, results, more)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_rank_as_the_reference_ranks_them() {
        use serde_json::json;
        let samples = [
            json!(null),
            json!(true),
            json!(1),
            json!("s"),
            json!([]),
            json!({}),
        ];
        for (kind, v) in Kind::ALL.into_iter().zip(samples) {
            assert_eq!(kind, kind_of(&v));
            assert_eq!(kind.rank(), query::rank(Some(&v)), "{v}");
        }
    }

    #[test]
    fn json_paths_quote_every_label() {
        let p = Path::new("a.q\"t.b\\s.sp ace").unwrap();
        assert!(!p.plain);
        assert_eq!(p.json_path(), r#"$."a"."q\"t"."b\\s"."sp ace""#);
        let p = Path::new("person.age_2").unwrap();
        assert!(p.plain);
        assert_eq!(p.json_path(), r#"$."person"."age_2""#);
        assert!(Path::new("a..b").is_err());
        assert!(!Path::new("x') OR 1=1 --").unwrap().plain);
    }
}
