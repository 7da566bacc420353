//! Query flaws: the reference evaluator with one rule changed, applied to
//! every JSON value the reference store holds.

use std::cmp::Ordering;

use serde_json::Value;
use statestore_core::query::{self, Filter, Order};
use statestore_core::{MemoryStore, Query, QueryItem, QueryRequest, QueryResponse, Result, Store};

use crate::flaw::Flaw;

/// The answer of a store with a query flaw, or `None` for other flaws.
pub async fn flawed(
    flaw: Flaw,
    inner: &MemoryStore,
    req: &QueryRequest,
) -> Option<Result<QueryResponse>> {
    let flawed = matches!(
        flaw,
        Flaw::QueryNumbersAsText
            | Flaw::QueryNeqMatchesMissing
            | Flaw::QuerySortsByText
            | Flaw::QueryInLoose
            | Flaw::QueryPagesByOffset
    );
    if !flawed {
        return None;
    }
    Some(answer(flaw, inner, req).await)
}

async fn answer(flaw: Flaw, inner: &MemoryStore, req: &QueryRequest) -> Result<QueryResponse> {
    let everything = inner.query(QueryRequest::new(Query::default())).await?;
    let q = &req.query;
    let mut hits: Vec<(QueryItem, Value)> = everything
        .results
        .into_iter()
        .filter_map(|item| {
            let doc: Value = serde_json::from_slice(&item.value).ok()?;
            let hit = q.filter.as_ref().is_none_or(|f| matches(flaw, f, &doc));
            hit.then_some((item, doc))
        })
        .collect();
    hits.sort_by(|(a, da), (b, db)| order(flaw, q, (a, da), (b, db)));
    let limit = q.page.limit.map_or(usize::MAX, |n| n as usize);
    let start = match (&q.page.token, flaw) {
        (None, _) => 0,
        (Some(t), Flaw::QueryPagesByOffset) => t.parse().unwrap_or(0),
        (Some(t), _) => {
            let (values, key) = query::parse_page_token(t, &q.sort)?;
            let after: Vec<Option<&Value>> = values.iter().map(Option::as_ref).collect();
            hits.iter()
                .position(|(item, doc)| {
                    let here = query::sort_values(&q.sort, doc);
                    query::result_order(&q.sort, (&here, &item.key), (&after, &key)).is_gt()
                })
                .unwrap_or(hits.len())
        }
    };
    let page: Vec<(QueryItem, Value)> = hits.into_iter().skip(start).collect();
    let more = page.len() > limit;
    let page: Vec<(QueryItem, Value)> = page.into_iter().take(limit).collect();
    let token = match (more, page.last(), flaw) {
        (false, _, _) | (_, None, _) => None,
        (true, Some(_), Flaw::QueryPagesByOffset) => Some((start + page.len()).to_string()),
        (true, Some((item, doc)), _) => Some(query::page_token(
            &query::sort_values(&q.sort, doc),
            &item.key,
        )),
    };
    Ok(QueryResponse {
        results: page.into_iter().map(|(item, _)| item).collect(),
        token,
        metadata: Default::default(),
    })
}

/// A scalar's text: strings as they are, other values as JSON.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn matches(flaw: Flaw, f: &Filter, doc: &Value) -> bool {
    let at = |path: &str| query::lookup(doc, path);
    let as_text = |path: &str, operand: &Value, want: fn(Ordering) -> bool| {
        at(path).is_some_and(|v| want(text(v).cmp(&text(operand))))
    };
    match (flaw, f) {
        (_, Filter::And(fs)) => fs.iter().all(|f| matches(flaw, f, doc)),
        (_, Filter::Or(fs)) => fs.iter().any(|f| matches(flaw, f, doc)),
        (Flaw::QueryNeqMatchesMissing, Filter::Neq(p, _)) if at(p).is_none() => true,
        (Flaw::QueryInLoose, Filter::In(p, operands)) => {
            at(p).is_some_and(|v| operands.iter().any(|o| text(o) == text(v)))
        }
        (Flaw::QueryNumbersAsText, Filter::Gt(p, o)) if o.is_number() => {
            as_text(p, o, Ordering::is_gt)
        }
        (Flaw::QueryNumbersAsText, Filter::Gte(p, o)) if o.is_number() => {
            as_text(p, o, Ordering::is_ge)
        }
        (Flaw::QueryNumbersAsText, Filter::Lt(p, o)) if o.is_number() => {
            as_text(p, o, Ordering::is_lt)
        }
        (Flaw::QueryNumbersAsText, Filter::Lte(p, o)) if o.is_number() => {
            as_text(p, o, Ordering::is_le)
        }
        (Flaw::QueryNumbersAsText, Filter::Eq(p, o)) if o.is_number() => {
            as_text(p, o, Ordering::is_eq)
        }
        (_, leaf) => leaf.matches(doc),
    }
}

fn order(flaw: Flaw, q: &Query, a: (&QueryItem, &Value), b: (&QueryItem, &Value)) -> Ordering {
    let (va, vb) = (
        query::sort_values(&q.sort, a.1),
        query::sort_values(&q.sort, b.1),
    );
    if !matches!(flaw, Flaw::QuerySortsByText | Flaw::QueryNumbersAsText) {
        return query::result_order(&q.sort, (&va, &a.0.key), (&vb, &b.0.key));
    }
    for (i, s) in q.sort.iter().enumerate() {
        let shown = |v: Option<&Value>| v.map(text).unwrap_or_default();
        let ord = shown(va[i]).cmp(&shown(vb[i]));
        let ord = if s.order == Order::Desc {
            ord.reverse()
        } else {
            ord
        };
        if ord.is_ne() {
            return ord;
        }
    }
    a.0.key.cmp(&b.0.key)
}
