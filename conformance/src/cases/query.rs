//! The query API (docs/contract.md, *Query*). Every document carries the case's key
//! prefix in `suite`, and every filter is scoped to it, so keys of other
//! cases and runs never match.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use statestore_core::{ErrorKind, Filter, Query, QueryRequest, QueryResponse, SetRequest};

use crate::context::{Ctx, Failure, Outcome, fail, ok};
use crate::ensure;

async fn seed(cx: &Ctx) -> Result<String, Failure> {
    let suite = cx.key("");
    let docs = [
        (
            "p1",
            json!({"person": {"org": "A", "id": 1}, "state": "CA"}),
        ),
        (
            "p2",
            json!({"person": {"org": "B", "id": 2}, "state": "WA"}),
        ),
        (
            "p3",
            json!({"person": {"org": "A", "id": 3}, "state": "WA"}),
        ),
        (
            "p4",
            json!({"person": {"org": "C", "id": 4.5}, "state": "NY"}),
        ),
    ];
    for (name, mut doc) in docs {
        doc["suite"] = Value::String(suite.clone());
        let req = ok(SetRequest::json(cx.key(name), &doc), "serialize")?;
        ok(cx.store.set(req).await, format!("set {name}"))?;
    }
    cx.put(&cx.key("binary"), vec![0u8, 0xff, b'{']).await?;
    cx.put(&cx.key("text"), "not json").await?;
    Ok(suite)
}

async fn run(cx: &Ctx, suite: &str, filter: Value, rest: Value) -> Result<QueryResponse, Failure> {
    let mut q = json!({"filter": {"AND": [{"EQ": {"suite": suite}}, filter]}});
    if let (Some(o), Some(r)) = (q.as_object_mut(), rest.as_object()) {
        o.extend(r.clone());
    }
    let query = ok(Query::from_value(&q), format!("parse {q}"))?;
    ok(
        cx.store.query(QueryRequest::new(query)).await,
        format!("query {q}"),
    )
}

fn names(cx: &Ctx, r: &QueryResponse) -> Vec<String> {
    let base = cx.key("");
    r.results
        .iter()
        .map(|i| i.key.strip_prefix(&base).unwrap_or(&i.key).to_owned())
        .collect()
}

/// Every comparison on top-level and nested paths.
pub async fn comparisons(cx: &Ctx) -> Outcome {
    let suite = seed(cx).await?;
    let cases = [
        (json!({"EQ": {"person.org": "A"}}), vec!["p1", "p3"]),
        (json!({"NEQ": {"person.org": "A"}}), vec!["p2", "p4"]),
        (json!({"GT": {"person.id": 2}}), vec!["p3", "p4"]),
        (json!({"GTE": {"person.id": 2}}), vec!["p2", "p3", "p4"]),
        (json!({"LT": {"person.id": 2}}), vec!["p1"]),
        (json!({"LTE": {"person.id": 3}}), vec!["p1", "p2", "p3"]),
        (json!({"IN": {"state": ["CA", "NY"]}}), vec!["p1", "p4"]),
        (json!({"EQ": {"state": "TX"}}), vec![]),
    ];
    for (filter, want) in cases {
        let got: BTreeSet<String> = names(cx, &run(cx, &suite, filter.clone(), json!({})).await?)
            .into_iter()
            .collect();
        let want: BTreeSet<String> = want.into_iter().map(str::to_owned).collect();
        ensure!(
            got == want,
            "query {filter}: expected {want:?}, got {got:?}"
        );
    }
    Ok(())
}

/// AND / OR nest; malformed filters are refused.
pub async fn nesting(cx: &Ctx) -> Outcome {
    let suite = seed(cx).await?;
    let filter = json!({"OR": [
        {"AND": [{"EQ": {"person.org": "A"}}, {"EQ": {"state": "WA"}}]},
        {"AND": [{"GT": {"person.id": 4}}, {"OR": [{"EQ": {"state": "NY"}}, {"EQ": {"state": "XX"}}]}]}
    ]});
    let got: BTreeSet<String> = names(cx, &run(cx, &suite, filter.clone(), json!({})).await?)
        .into_iter()
        .collect();
    let want: BTreeSet<String> = ["p3", "p4"].iter().map(|s| s.to_string()).collect();
    ensure!(
        got == want,
        "query {filter}: expected {want:?}, got {got:?}"
    );
    for bad in [
        json!({"AND": [{"EQ": {"a": 1}}]}),
        json!({"LIKE": {"a": "x"}}),
        json!({"OR": []}),
    ] {
        match Filter::from_value(&bad) {
            Err(e) if e.kind() == ErrorKind::InvalidRequest => {}
            other => {
                return Err(fail(format!(
                    "filter {bad}: expected InvalidRequest, got {other:?}"
                )));
            }
        }
    }
    Ok(())
}

/// Sort orders results; a limit caps them and its token resumes without
/// duplicates or gaps.
pub async fn sort_and_page(cx: &Ctx) -> Outcome {
    let suite = seed(cx).await?;
    let all = json!({"GTE": {"person.id": 0}});
    let desc = run(
        cx,
        &suite,
        all.clone(),
        json!({"sort": [{"key": "person.id", "order": "DESC"}]}),
    )
    .await?;
    ensure!(
        names(cx, &desc) == ["p4", "p3", "p2", "p1"],
        "sort by person.id DESC: got {:?}",
        names(cx, &desc)
    );
    let asc = run(
        cx,
        &suite,
        all.clone(),
        json!({"sort": [{"key": "state"}, {"key": "person.id", "order": "DESC"}]}),
    )
    .await?;
    ensure!(
        names(cx, &asc) == ["p1", "p4", "p3", "p2"],
        "sort by state, person.id DESC: got {:?}",
        names(cx, &asc)
    );
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..4 {
        let mut rest = json!({"sort": [{"key": "person.id"}], "page": {"limit": 3}});
        if let Some(t) = &token {
            rest["page"]["token"] = Value::String(t.clone());
        }
        let page = run(cx, &suite, all.clone(), rest).await?;
        ensure!(
            page.results.len() <= 3,
            "page limit 3: got {} results",
            page.results.len()
        );
        seen.extend(names(cx, &page));
        token = page.token;
        if token.is_none() {
            break;
        }
    }
    ensure!(
        seen == ["p1", "p2", "p3", "p4"],
        "pages of 3 sorted by person.id: got {seen:?}"
    );
    Ok(())
}

/// Results carry key, value and etag; non-JSON values never break a query.
pub async fn results(cx: &Ctx) -> Outcome {
    let suite = seed(cx).await?;
    let r = run(cx, &suite, json!({"EQ": {"person.id": 1}}), json!({})).await?;
    ensure!(
        r.results.len() == 1,
        "query person.id = 1: expected one result, got {}",
        r.results.len()
    );
    let item = &r.results[0];
    let stored = cx.read_some(&item.key).await?;
    ensure!(
        item.value == stored.value,
        "query result value differs from get"
    );
    ensure!(
        item.etag == stored.etag,
        "query result etag {:?} differs from get {:?}",
        item.etag,
        stored.etag
    );
    ensure!(
        item.error.is_none(),
        "query result carries error {:?}",
        item.error
    );
    Ok(())
}
