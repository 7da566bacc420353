//! The query API (`QUERY_API`): Dapr's query language over JSON values.
//!
//! ```json
//! {"filter": {"AND": [{"EQ": {"state": "CA"}}, {"GT": {"person.age": 30}}]},
//!  "sort": [{"key": "person.age", "order": "DESC"}],
//!  "page": {"limit": 10, "token": "..."}}
//! ```
//!
//! Comparisons follow SQL: a path that is missing, or holds a value of another
//! kind than the operand, never matches, `NEQ` included (`NEQ` matches values
//! of the operand's kind that differ). Numbers compare as numbers (64-bit
//! floating point), strings by code point; `GT`/`GTE`/`LT`/`LTE` apply to
//! numbers and strings. Operands are strings, numbers, booleans or null: an
//! array or object operand is refused, so a path that holds an array or an
//! object never matches a comparison. (Equality of JSON containers differs
//! between databases, in member order and in how `1` and `1.0` compare; a
//! rule each store could keep exactly is none at all.)
//!
//! Sorting ranks kinds: missing < null < bool < number < string < array <
//! object; arrays tie with arrays and objects with objects, for the same
//! reason. Results are ordered by the sort keys and then by key, a total order; page
//! tokens hold the last result's sort values and key, and the next page
//! continues strictly after them, so paging never repeats or skips a result
//! that stayed in place.

use std::cmp::Ordering;
use std::fmt;

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::types::{ETag, Metadata};

/// A comparison or a combination of filters.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// The value at the path equals the operand.
    Eq(String, Value),
    /// The value at the path exists and differs from the operand.
    Neq(String, Value),
    /// Greater than.
    Gt(String, Value),
    /// Greater than or equal.
    Gte(String, Value),
    /// Less than.
    Lt(String, Value),
    /// Less than or equal.
    Lte(String, Value),
    /// Equals one of the operands.
    In(String, Vec<Value>),
    /// Every child matches (at least two children).
    And(Vec<Filter>),
    /// Some child matches (at least two children).
    Or(Vec<Filter>),
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Ascending.
    #[default]
    Asc,
    /// Descending.
    Desc,
}

/// One sort key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sort {
    /// Dotted path into the JSON value.
    pub key: String,
    /// Direction.
    pub order: Order,
}

/// Paging of query results.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Page {
    /// At most this many results.
    pub limit: Option<u32>,
    /// Resume after the page that returned this token.
    pub token: Option<String>,
}

/// A whole query.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Query {
    /// Which values; `None` matches every JSON value.
    pub filter: Option<Filter>,
    /// Order of results; keys break ties.
    pub sort: Vec<Sort>,
    /// Paging.
    pub page: Page,
}

/// One query result.
#[derive(Clone, PartialEq, Eq)]
pub struct QueryItem {
    /// The key.
    pub key: String,
    /// The stored value.
    pub value: Bytes,
    /// Its etag.
    pub etag: Option<ETag>,
    /// A per-item error, as Dapr reports it.
    pub error: Option<String>,
}

impl fmt::Debug for QueryItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueryItem")
            .field("key", &self.key)
            .field("value", &format_args!("<{} bytes>", self.value.len()))
            .field("etag", &self.etag)
            .field("error", &self.error)
            .finish()
    }
}

/// The answer to a query.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueryResponse {
    /// Matching items, in order.
    pub results: Vec<QueryItem>,
    /// Present when more results remain.
    pub token: Option<String>,
    /// Store-specific metadata.
    pub metadata: Metadata,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::invalid(format!("query: {}", message.into()))
}

impl Query {
    /// Parses Dapr's query JSON text.
    pub fn from_json(text: &str) -> Result<Query> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| invalid("not valid JSON").with_source(e))?;
        Query::from_value(&value)
    }

    /// Parses Dapr's query JSON.
    pub fn from_value(value: &Value) -> Result<Query> {
        let obj = value
            .as_object()
            .ok_or_else(|| invalid("expected a JSON object"))?;
        if let Some(k) = obj
            .keys()
            .find(|k| !matches!(k.as_str(), "filter" | "sort" | "page"))
        {
            return Err(invalid(format!("unknown field {k:?}")));
        }
        let filter = match obj.get("filter") {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) if m.is_empty() => None,
            Some(f) => Some(Filter::from_value(f)?),
        };
        let sort = match obj.get("sort") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items.iter().map(parse_sort).collect::<Result<_>>()?,
            Some(_) => return Err(invalid("sort must be an array")),
        };
        let page = match obj.get("page") {
            None | Some(Value::Null) => Page::default(),
            Some(Value::Object(p)) => parse_page(p)?,
            Some(_) => return Err(invalid("page must be an object")),
        };
        Ok(Query { filter, sort, page })
    }
}

fn parse_sort(v: &Value) -> Result<Sort> {
    let key = v
        .get("key")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| invalid("each sort entry needs a non-empty \"key\""))?;
    check_path(key)?;
    let order = match v.get("order").and_then(Value::as_str) {
        None => Order::Asc,
        Some(o) if o.eq_ignore_ascii_case("ASC") => Order::Asc,
        Some(o) if o.eq_ignore_ascii_case("DESC") => Order::Desc,
        Some(o) => return Err(invalid(format!("sort order {o:?}: expected ASC or DESC"))),
    };
    Ok(Sort {
        key: key.to_owned(),
        order,
    })
}

fn parse_page(p: &Map<String, Value>) -> Result<Page> {
    let limit = match p.get("limit") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(0) => None,
            Some(n) if n <= u64::from(u32::MAX) => Some(n as u32),
            _ => return Err(invalid("page.limit must be a non-negative integer")),
        },
    };
    let token = match p.get("token") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(invalid("page.token must be a string")),
    };
    Ok(Page { limit, token })
}

impl Filter {
    /// Parses one filter object such as `{"EQ": {"path": 1}}`.
    pub fn from_value(v: &Value) -> Result<Filter> {
        let obj = v
            .as_object()
            .filter(|o| o.len() == 1)
            .ok_or_else(|| invalid("a filter is an object with exactly one operator"))?;
        let (op, arg) = obj.iter().next().expect("one entry");
        match op.as_str() {
            "AND" | "OR" => {
                let children = arg
                    .as_array()
                    .ok_or_else(|| invalid(format!("{op} takes an array of filters")))?;
                if children.len() < 2 {
                    return Err(invalid(format!("{op} needs at least two filters")));
                }
                let parsed = children
                    .iter()
                    .map(Filter::from_value)
                    .collect::<Result<_>>()?;
                Ok(if op == "AND" {
                    Filter::And(parsed)
                } else {
                    Filter::Or(parsed)
                })
            }
            "EQ" | "NEQ" | "GT" | "GTE" | "LT" | "LTE" | "IN" => {
                let (path, operand) = arg
                    .as_object()
                    .filter(|o| o.len() == 1)
                    .and_then(|o| o.iter().next())
                    .ok_or_else(|| invalid(format!("{op} takes an object with one path")))?;
                if path.is_empty() {
                    return Err(invalid(format!("{op} has an empty path")));
                }
                let p = path.clone();
                let o = operand.clone();
                let leaf = match op.as_str() {
                    "EQ" => Filter::Eq(p, o),
                    "NEQ" => Filter::Neq(p, o),
                    "GT" => Filter::Gt(p, o),
                    "GTE" => Filter::Gte(p, o),
                    "LT" => Filter::Lt(p, o),
                    "LTE" => Filter::Lte(p, o),
                    _ => match o {
                        Value::Array(values) => Filter::In(p, values),
                        _ => return Err(invalid("IN takes an array of values")),
                    },
                };
                leaf.check()?;
                Ok(leaf)
            }
            other => Err(invalid(format!("unknown operator {other:?}"))),
        }
    }

    /// Whether the JSON document matches.
    pub fn matches(&self, doc: &Value) -> bool {
        let cmp = |path: &str, operand: &Value| lookup(doc, path).and_then(|v| compare(v, operand));
        match self {
            Filter::Eq(p, o) => cmp(p, o) == Some(Ordering::Equal),
            Filter::Neq(p, o) => lookup(doc, p).is_some_and(|v| {
                std::mem::discriminant(v) == std::mem::discriminant(o)
                    && cmp(p, o) != Some(Ordering::Equal)
            }),
            Filter::Gt(p, o) => ordered(o) && cmp(p, o) == Some(Ordering::Greater),
            Filter::Gte(p, o) => {
                ordered(o) && matches!(cmp(p, o), Some(Ordering::Greater | Ordering::Equal))
            }
            Filter::Lt(p, o) => ordered(o) && cmp(p, o) == Some(Ordering::Less),
            Filter::Lte(p, o) => {
                ordered(o) && matches!(cmp(p, o), Some(Ordering::Less | Ordering::Equal))
            }
            Filter::In(p, values) => values.iter().any(|o| cmp(p, o) == Some(Ordering::Equal)),
            Filter::And(fs) => fs.iter().all(|f| f.matches(doc)),
            Filter::Or(fs) => fs.iter().any(|f| f.matches(doc)),
        }
    }
}

/// Most characters of a path; longer ones are refused.
pub const MAX_PATH_LEN: usize = 1024;

/// Refuses a path no store can address: empty, with an empty part (`a..b`,
/// `.a`), with a NUL or other control character, or longer than
/// [`MAX_PATH_LEN`] bytes. Any other text is a path, quotes and brackets
/// included, and names object members, never array elements.
pub fn check_path(path: &str) -> Result<()> {
    let why = if path.len() > MAX_PATH_LEN {
        Some("is longer than 1024 bytes")
    } else if path.split('.').any(str::is_empty) {
        Some("has an empty part")
    } else if path.chars().any(char::is_control) {
        Some("holds a control character")
    } else {
        None
    };
    match why {
        Some(why) => Err(invalid(format!(
            "path {:?} {why}",
            path.chars().take(MAX_PATH_LEN).collect::<String>()
        ))),
        None => Ok(()),
    }
}

/// Refuses an array or object operand of `op` on `path`.
fn check_operand(op: &str, path: &str, v: &Value) -> Result<()> {
    let kind = match v {
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
        _ => return Ok(()),
    };
    Err(invalid(format!(
        "{op} on path {:?}: the operand {} is {kind}; filters compare strings, numbers, booleans and null",
        path,
        crate::token::cut(&v.to_string()),
    )))
}

impl Query {
    /// Checks a query built in code as [`Query::from_value`] checks one
    /// parsed: the filter (see [`Filter::check`]) and the sort paths.
    pub fn check(&self) -> Result<()> {
        if let Some(f) = &self.filter {
            f.check()?;
        }
        self.sort.iter().try_for_each(|s| check_path(&s.key))
    }
}

impl Filter {
    /// Checks a filter built in code as [`Filter::from_value`] checks one
    /// parsed: no array or object operands, `AND`/`OR` of at least two.
    pub fn check(&self) -> Result<()> {
        let (op, p, operands) = match self {
            Filter::Eq(p, v) => ("EQ", p, std::slice::from_ref(v)),
            Filter::Neq(p, v) => ("NEQ", p, std::slice::from_ref(v)),
            Filter::Gt(p, v) => ("GT", p, std::slice::from_ref(v)),
            Filter::Gte(p, v) => ("GTE", p, std::slice::from_ref(v)),
            Filter::Lt(p, v) => ("LT", p, std::slice::from_ref(v)),
            Filter::Lte(p, v) => ("LTE", p, std::slice::from_ref(v)),
            Filter::In(p, vs) => ("IN", p, vs.as_slice()),
            Filter::And(fs) | Filter::Or(fs) if fs.len() < 2 => {
                return Err(invalid("AND and OR need at least two filters"));
            }
            Filter::And(fs) | Filter::Or(fs) => return fs.iter().try_for_each(Filter::check),
        };
        check_path(p)?;
        operands.iter().try_for_each(|v| check_operand(op, p, v))
    }
}

fn ordered(v: &Value) -> bool {
    matches!(v, Value::Number(_) | Value::String(_))
}

/// The value at a dotted path (`a.b.c`).
pub fn lookup<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(doc, |v, part| v.get(part))
}

/// Compares two scalar JSON values of the same kind; `None` when not
/// comparable (other kinds, arrays, objects).
pub fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        _ => None,
    }
}

/// The rank of a value's kind in sorting: missing 0, null 1, bool 2,
/// number 3, string 4, array 5, object 6.
pub fn rank(v: Option<&Value>) -> u8 {
    match v {
        None => 0,
        Some(Value::Null) => 1,
        Some(Value::Bool(_)) => 2,
        Some(Value::Number(_)) => 3,
        Some(Value::String(_)) => 4,
        Some(Value::Array(_)) => 5,
        Some(Value::Object(_)) => 6,
    }
}

/// A total order for sorting: missing < null < bool < number < string <
/// array < object, scalars of one kind by [`compare`]; arrays tie with
/// arrays, objects with objects.
pub fn sort_order(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(x), Some(y)) if rank(a) == rank(b) => compare(x, y).unwrap_or(Ordering::Equal),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Orders two results by the sort keys, then by key (a total order).
pub fn result_order(
    sort: &[Sort],
    a: (&[Option<&Value>], &str),
    b: (&[Option<&Value>], &str),
) -> Ordering {
    for (i, s) in sort.iter().enumerate() {
        let ord = sort_order(a.0.get(i).copied().flatten(), b.0.get(i).copied().flatten());
        let ord = if s.order == Order::Desc {
            ord.reverse()
        } else {
            ord
        };
        if ord.is_ne() {
            return ord;
        }
    }
    a.1.cmp(b.1)
}

/// The values a document has at each sort key.
pub fn sort_values<'a>(sort: &[Sort], doc: &'a Value) -> Vec<Option<&'a Value>> {
    sort.iter().map(|s| lookup(doc, &s.key)).collect()
}

/// The token that resumes after a result with these sort values and key.
pub fn page_token(values: &[Option<&Value>], key: &str) -> String {
    let values: Vec<Value> = values
        .iter()
        .map(|v| match v {
            Some(v) => serde_json::json!([true, v]),
            None => serde_json::json!([false]),
        })
        .collect();
    let body = serde_json::json!({"v": values, "k": key}).to_string();
    format!("q1{}", crate::token::hex(body.as_bytes()))
}

/// A page of results in order; with `more` (results remain after it), a
/// token that resumes after the last one, its sort values read from its
/// value.
pub fn page(q: &Query, results: Vec<QueryItem>, more: bool) -> QueryResponse {
    let token = match (more, results.last()) {
        (true, Some(last)) => {
            let doc: Value = serde_json::from_slice(&last.value).unwrap_or(Value::Null);
            Some(page_token(&sort_values(&q.sort, &doc), &last.key))
        }
        _ => None,
    };
    QueryResponse {
        results,
        token,
        metadata: Metadata::new(),
    }
}

/// The sort values and key a [`page_token`] resumes after.
pub fn parse_page_token(token: &str, sort: &[Sort]) -> Result<(Vec<Option<Value>>, String)> {
    let bad = || {
        invalid(format!(
            "malformed page token {:?}",
            crate::token::cut(token)
        ))
    };
    let body = token
        .strip_prefix("q1")
        .and_then(crate::token::unhex)
        .ok_or_else(bad)?;
    let body: Value = serde_json::from_slice(&body).map_err(|_| bad())?;
    let key = body
        .get("k")
        .and_then(Value::as_str)
        .ok_or_else(bad)?
        .to_owned();
    let values = body.get("v").and_then(Value::as_array).ok_or_else(bad)?;
    if values.len() != sort.len() {
        return Err(invalid(
            "the page token belongs to a query with other sort keys",
        ));
    }
    let values = values
        .iter()
        .map(|v| match v.as_array().map(Vec::as_slice) {
            Some([Value::Bool(true), v]) => Ok(Some(v.clone())),
            Some([Value::Bool(false)]) => Ok(None),
            _ => Err(bad()),
        })
        .collect::<Result<_>>()?;
    Ok((values, key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn q(v: Value) -> Result<Query> {
        Query::from_value(&v)
    }

    #[test]
    fn parses_dapr_queries() {
        let query = q(json!({
            "filter": {"OR": [{"EQ": {"state": "CA"}}, {"IN": {"person.org": ["A", "B"]}}]},
            "sort": [{"key": "person.age", "order": "DESC"}, {"key": "state"}],
            "page": {"limit": 2, "token": "t"}
        }))
        .unwrap();
        assert_eq!(query.sort[0].order, Order::Desc);
        assert_eq!(query.sort[1].order, Order::Asc);
        assert_eq!(query.page.limit, Some(2));
        assert!(matches!(query.filter, Some(Filter::Or(ref v)) if v.len() == 2));
        assert_eq!(q(json!({})).unwrap(), Query::default());
    }

    #[test]
    fn refuses_malformed_filters() {
        for bad in [
            json!({"filter": {"AND": [{"EQ": {"a": 1}}]}}),
            json!({"filter": {"LIKE": {"a": 1}}}),
            json!({"filter": {"EQ": {"a": 1, "b": 2}}}),
            json!({"filter": {"IN": {"a": 1}}}),
            json!({"filter": {"EQ": {"a": 1}, "NEQ": {"b": 1}}}),
            json!({"sort": [{"order": "ASC"}]}),
            json!({"sort": [{"key": "a", "order": "UP"}]}),
            json!({"page": {"limit": -1}}),
            json!({"filters": {}}),
            json!([1]),
            json!({"filter": {"EQ": {"tags": [1]}}}),
            json!({"filter": {"NEQ": {"a": {"b": 1}}}}),
            json!({"filter": {"IN": {"a": [1, [2]]}}}),
        ] {
            let e = q(bad.clone()).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidRequest, "{bad}");
        }
    }

    #[test]
    fn container_operands_are_refused_by_name() {
        let e = q(json!({"filter": {"IN": {"person.tags": ["a", ["b"]]}}})).unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("IN") && m.contains("person.tags") && m.contains("array"),
            "{m}"
        );
        let built = Filter::And(vec![
            Filter::Eq("a".into(), json!(1)),
            Filter::Eq("b".into(), json!({"c": 1})),
        ]);
        assert!(built.check().unwrap_err().to_string().contains("object"));
        assert!(
            Filter::Or(vec![Filter::Eq("a".into(), json!(1))])
                .check()
                .is_err()
        );
        for bad in ["a..b", ".a", "a.", "a\u{0}b", "a\nb"] {
            let e = q(json!({"filter": {"EQ": {bad: 1}}})).unwrap_err();
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
            assert!(q(json!({"sort": [{"key": bad}]})).is_err(), "{bad:?}");
        }
        for fine in ["q\"t", "o'k", "br[0]", "sp ace", "x') OR ('1'='1", "é.ü"] {
            assert!(q(json!({"filter": {"EQ": {fine: 1}}, "sort": [{"key": fine}]})).is_ok());
        }
    }

    #[test]
    fn evaluates_comparisons_on_dotted_paths() {
        let doc = json!({"person": {"age": 42, "name": "Ada"}, "state": "CA", "tags": [1]});
        let t = |f: Value| Filter::from_value(&f).unwrap().matches(&doc);
        assert!(t(json!({"EQ": {"person.age": 42.0}})));
        assert!(t(json!({"GT": {"person.age": 41}})));
        assert!(!t(json!({"GT": {"person.age": 42}})));
        assert!(t(json!({"GTE": {"person.age": 42}})));
        assert!(t(json!({"LT": {"person.name": "Bob"}})));
        assert!(t(json!({"LTE": {"state": "CA"}})));
        assert!(t(json!({"NEQ": {"state": "WA"}})));
        assert!(!t(json!({"NEQ": {"missing": "WA"}})));
        assert!(
            !t(json!({"NEQ": {"state": 1}})),
            "another kind never matches"
        );
        assert!(
            !t(json!({"NEQ": {"tags": 2}})),
            "an array is of no scalar's kind"
        );
        assert!(!t(json!({"EQ": {"missing": null}})));
        assert!(t(json!({"IN": {"state": ["WA", "CA"]}})));
        assert!(
            !t(json!({"GT": {"state": 1}})),
            "string vs number never matches"
        );
        assert!(!t(json!({"EQ": {"tags": 1}})));
        assert!(t(
            json!({"AND": [{"EQ": {"state": "CA"}}, {"OR": [{"EQ": {"state": "x"}}, {"LT": {"person.age": 50}}]}]})
        ));
    }

    #[test]
    fn page_tokens_round_trip() {
        let sort = vec![
            Sort {
                key: "a".into(),
                order: Order::Asc,
            },
            Sort {
                key: "b".into(),
                order: Order::Desc,
            },
        ];
        let v = json!(1.5);
        let t = page_token(&[Some(&v), None], "k||1");
        let (values, key) = parse_page_token(&t, &sort).unwrap();
        assert_eq!(values, vec![Some(json!(1.5)), None]);
        assert_eq!(key, "k||1");
        assert!(parse_page_token(&t, &sort[..1]).is_err());
        assert!(parse_page_token("q1zz", &sort).is_err());
    }

    #[test]
    fn sort_order_is_total() {
        let values = [
            json!([-0.0]),
            json!([0.0]),
            json!([-1]),
            json!([1]),
            json!({"a": 1}),
            json!({"a": [0.0]}),
            json!("x"),
            json!(""),
            json!(1),
            json!(-0.0),
            json!(2.5),
            json!(null),
            json!(true),
            json!(false),
        ];
        let order = |a: &Value, b: &Value| sort_order(Some(a), Some(b));
        for a in &values {
            assert_eq!(sort_order(None, Some(a)), Ordering::Less);
            for b in &values {
                assert_eq!(order(a, b), order(b, a).reverse(), "{a} vs {b}");
                for c in &values {
                    if order(a, b).is_le() && order(b, c).is_le() {
                        assert!(order(a, c).is_le(), "{a} <= {b} <= {c} but not {a} <= {c}");
                    }
                }
            }
        }
        assert_eq!(order(&json!(2), &json!(10)), Ordering::Less);
        assert_eq!(order(&json!("a"), &json!(1)), Ordering::Greater);
        assert_eq!(order(&json!([2]), &json!([1, 0])), Ordering::Equal);
        assert_eq!(order(&json!({"b": 1}), &json!({"a": 2})), Ordering::Equal);
        assert_eq!(order(&json!([9]), &json!({})), Ordering::Less);
    }
}
