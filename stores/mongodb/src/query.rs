//! Dapr's query language as one aggregation pipeline, with the reference
//! store's rules (docs/contract.md, *Query*):
//!
//! * a path reads object members only (an array or a scalar on the way
//!   means the path is missing), through `$getField`, so that MongoDB's
//!   array traversal never applies;
//! * a comparison matches only a value of the operand's kind: numbers as
//!   numbers, strings by code point (MongoDB's binary order);
//! * sorting ranks kinds as the reference does (missing, null, booleans,
//!   numbers, strings, arrays, objects), then values, then keys;
//! * a page resumes strictly after the last result's sort values and key,
//!   with the reference's page token.
//!
//! Arrays tie with arrays and objects with objects in sorting, as in the
//! reference: their sort value is null.

use mongodb::bson::{Bson, Document, doc};
use serde_json::Value;
use statestore_core::query::{self, Filter, Order, Sort};
use statestore_core::{QueryItem, QueryRequest, QueryResponse, Result};

use crate::core::{Core, live};
use crate::error;
use crate::layout::{self, ETAG, EXTRA, Fields, ID, VALUE};

/// A path's parts, checked as the contract checks paths
/// ([`query::check_path`]: no empty part, no control character).
fn parts(path: &str) -> Result<Vec<&str>> {
    query::check_path(path)?;
    Ok(path.split('.').collect())
}

/// The value at `path` of the stored value: missing unless every step is
/// an object member.
fn lookup(path: &str) -> Result<Bson> {
    let mut at = Bson::String(format!("${VALUE}"));
    for part in parts(path)? {
        at = Bson::Document(doc! {
            "$cond": [
                { "$eq": [ { "$type": at.clone() }, "object" ] },
                { "$getField": { "field": { "$literal": part }, "input": at } },
                "$$REMOVE",
            ]
        });
    }
    Ok(at)
}

/// An operand as BSON (numbers as numbers).
fn operand(v: &Value) -> Bson {
    layout::from_json(v.to_string().as_bytes()).unwrap_or(Bson::Null)
}

/// Whether `x` is of the JSON kind of `v`.
fn same_kind(x: &Bson, v: &Value) -> Bson {
    let t = doc! { "$type": x.clone() };
    Bson::Document(match v {
        Value::Number(_) => doc! { "$isNumber": x.clone() },
        Value::String(_) => doc! { "$eq": [ t, "string" ] },
        Value::Bool(_) => doc! { "$eq": [ t, "bool" ] },
        Value::Null => doc! { "$eq": [ t, "null" ] },
        Value::Array(_) => doc! { "$eq": [ t, "array" ] },
        Value::Object(_) => doc! { "$eq": [ t, "object" ] },
    })
}

fn compare(op: &str, path: &str, v: &Value, ordered_only: bool) -> Result<Bson> {
    if ordered_only && !matches!(v, Value::Number(_) | Value::String(_)) {
        return Ok(Bson::Boolean(false));
    }
    let x = lookup(path)?;
    let literal = Bson::Document(doc! { "$literal": operand(v) });
    Ok(Bson::Document(
        doc! { "$and": [ same_kind(&x, v), { op: [ x, literal ] } ] },
    ))
}

/// A filter as an aggregation expression.
fn expr(f: &Filter) -> Result<Bson> {
    Ok(match f {
        Filter::Eq(p, v) => compare("$eq", p, v, false)?,
        Filter::Neq(p, v) => compare("$ne", p, v, false)?,
        Filter::Gt(p, v) => compare("$gt", p, v, true)?,
        Filter::Gte(p, v) => compare("$gte", p, v, true)?,
        Filter::Lt(p, v) => compare("$lt", p, v, true)?,
        Filter::Lte(p, v) => compare("$lte", p, v, true)?,
        Filter::In(p, vs) => {
            let each: Result<Vec<Bson>> = vs.iter().map(|v| compare("$eq", p, v, false)).collect();
            Bson::Document(doc! { "$or": each? })
        }
        Filter::And(fs) => {
            Bson::Document(doc! { "$and": fs.iter().map(expr).collect::<Result<Vec<_>>>()? })
        }
        Filter::Or(fs) => {
            Bson::Document(doc! { "$or": fs.iter().map(expr).collect::<Result<Vec<_>>>()? })
        }
    })
}

/// The reference's rank of a value's kind.
fn rank(x: Bson) -> Bson {
    let t = |name: &str| doc! { "$eq": [ { "$type": x.clone() }, name ] };
    Bson::Document(doc! { "$switch": {
        "branches": [
            { "case": t("missing"), "then": 0 },
            { "case": t("null"), "then": 1 },
            { "case": t("bool"), "then": 2 },
            { "case": { "$isNumber": x.clone() }, "then": 3 },
            { "case": t("string"), "then": 4 },
            { "case": t("array"), "then": 5 },
            { "case": t("object"), "then": 6 },
        ],
        "default": 7,
    } })
}

/// `x`, or null when it is an array or an object: those tie in sorting.
fn scalar(x: Bson) -> Bson {
    Bson::Document(doc! { "$cond": [
        { "$in": [ { "$type": x.clone() }, ["array", "object"] ] },
        Bson::Null,
        x,
    ] })
}

/// Values that are JSON: documents, arrays, numbers, booleans and null as
/// Dapr stores them, and strings this store marked as JSON.
fn is_json() -> Document {
    doc! { "$or": [
        { "$in": [ { "$type": format!("${VALUE}") }, ["object", "array", "int", "long", "double", "decimal", "bool", "null"] ] },
        { "$and": [
            { "$eq": [ format!("${EXTRA}.json"), true ] },
            { "$eq": [ format!("${EXTRA}.etag"), format!("${ETAG}") ] },
        ] },
    ] }
}

/// Results strictly after `(values, key)` in the order of `sort`.
fn after(sort: &[Sort], values: &[Option<Value>], key: &str) -> Bson {
    let mut branches = Vec::new();
    let mut equal: Vec<Bson> = Vec::new();
    for (i, (s, v)) in sort.iter().zip(values).enumerate() {
        let (r, x) = (format!("$_r{i}"), format!("$_v{i}"));
        let v_rank = i32::from(query::rank(v.as_ref()));
        let beyond = if s.order == Order::Desc { "$lt" } else { "$gt" };
        let mut ahead = vec![Bson::Document(doc! { beyond: [ r.clone(), v_rank ] })];
        if let Some(v) = v {
            // Arrays and objects tie: their sort value is null.
            let literal = match v {
                Value::Array(_) | Value::Object(_) => Bson::Null,
                v => Bson::Document(doc! { "$literal": operand(v) }),
            };
            ahead.push(Bson::Document(doc! { "$and": [
                { "$eq": [ r.clone(), v_rank ] },
                { beyond: [ x.clone(), literal.clone() ] },
            ] }));
            let mut all = equal.clone();
            all.push(Bson::Document(doc! { "$or": ahead }));
            branches.push(Bson::Document(doc! { "$and": all }));
            equal.push(Bson::Document(doc! { "$eq": [ r, v_rank ] }));
            equal.push(Bson::Document(doc! { "$eq": [ x, literal ] }));
        } else {
            let mut all = equal.clone();
            all.push(Bson::Document(doc! { "$or": ahead }));
            branches.push(Bson::Document(doc! { "$and": all }));
            equal.push(Bson::Document(doc! { "$eq": [ r, 0 ] }));
        }
    }
    equal.push(Bson::Document(doc! { "$gt": [ format!("${ID}"), key ] }));
    branches.push(Bson::Document(doc! { "$and": equal }));
    Bson::Document(doc! { "$or": branches })
}

/// Runs the query of `req` against the collection of `core`.
pub async fn run(core: &Core, req: &QueryRequest) -> Result<QueryResponse> {
    let q = &req.query;
    q.check()?;
    let mut conditions = vec![
        live().remove("$expr").unwrap_or(Bson::Boolean(true)),
        Bson::Document(is_json()),
    ];
    if let Some(f) = &q.filter {
        conditions.push(expr(f)?);
    }
    let mut matched = doc! { "$expr": { "$and": conditions } };
    if let Some((from, to)) = req.key_range() {
        let mut range = doc! { "$gte": from };
        if let Some(to) = to {
            range.insert("$lt", to);
        }
        matched.insert(ID, range);
    }
    let mut pipeline = vec![doc! { "$match": matched }];
    let mut fields = Document::new();
    let mut order = Document::new();
    for (i, s) in q.sort.iter().enumerate() {
        let at = lookup(&s.key)?;
        fields.insert(format!("_r{i}"), rank(at.clone()));
        fields.insert(format!("_v{i}"), scalar(at));
        let dir = if s.order == Order::Desc { -1 } else { 1 };
        order.insert(format!("_r{i}"), dir);
        order.insert(format!("_v{i}"), dir);
    }
    order.insert(ID, 1);
    if !fields.is_empty() {
        pipeline.push(doc! { "$addFields": fields });
    }
    if let Some(t) = &q.page.token {
        let (values, key) = query::parse_page_token(t, &q.sort)?;
        pipeline.push(doc! { "$match": { "$expr": after(&q.sort, &values, &key) } });
    }
    pipeline.push(doc! { "$sort": order });
    let limit = q.page.limit.map(|n| n as usize);
    if let Some(n) = limit {
        pipeline.push(doc! { "$limit": (n as i64) + 1 });
    }
    let mut cursor = core
        .collection()
        .aggregate(pipeline)
        .await
        .map_err(error::map)?;
    let mut results = Vec::new();
    let mut more = false;
    while cursor.advance().await.map_err(error::map)? {
        if limit.is_some_and(|n| results.len() >= n) {
            more = true;
            break;
        }
        let doc = Fields::read(cursor.current())?;
        results.push(QueryItem {
            key: doc.id.unwrap_or_default().to_owned(),
            etag: doc.etag(),
            value: doc.bytes(),
            error: None,
        });
    }
    Ok(query::page(q, results, more))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_with_empty_parts_are_refused() {
        for bad in ["", "a..b", ".a", "a.", "a\0b"] {
            let e = lookup(bad).unwrap_err();
            assert_eq!(
                e.kind(),
                statestore_core::ErrorKind::InvalidRequest,
                "{bad:?}"
            );
        }
        assert!(lookup("a.$where.b").is_ok());
    }
}
