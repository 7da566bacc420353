//! The query API (docs/contract.md, *Query*). Every document carries the case's key
//! prefix in `suite`, and every filter is scoped to it, so keys of other
//! cases and runs never match.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use statestore_core::{
    ErrorKind, Filter, Query, QueryItem, QueryRequest, QueryResponse, SetRequest,
};

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

/// Every result of `req`, page after page, following the tokens for at
/// most `pages` pages.
async fn all_pages(cx: &Ctx, req: QueryRequest, pages: usize) -> Result<Vec<QueryItem>, Failure> {
    let mut items = Vec::new();
    let mut req = req;
    for _ in 0..pages {
        let shown = format!("{:?} (key prefix {:?})", req.query, req.key_prefix);
        let r = ok(cx.store.query(req.clone()).await, format!("query {shown}"))?;
        items.extend(r.results);
        match r.token {
            Some(t) => req.query.page.token = Some(t),
            None => return Ok(items),
        }
    }
    Err(fail(format!(
        "query {:?}: still a token after {pages} pages",
        req.query
    )))
}

/// Every value of a case whose JSON documents carry its `suite`, in key
/// order; with a limit, page by page.
pub(super) async fn of_suite(
    cx: &Ctx,
    suite: &str,
    limit: Option<u32>,
) -> Result<Vec<QueryItem>, Failure> {
    let mut q = json!({"filter": {"EQ": {"suite": suite}}});
    if let Some(n) = limit {
        q["page"] = json!({"limit": n});
    }
    let query = ok(Query::from_value(&q), format!("parse {q}"))?;
    all_pages(cx, QueryRequest::new(query), 1000).await
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

/// Stores `docs` (each given the case's `suite`) and returns the suite.
async fn seed_docs(cx: &Ctx, docs: &[(&str, Value)]) -> Result<String, Failure> {
    let suite = cx.key("");
    for (name, doc) in docs {
        let mut doc = doc.clone();
        doc["suite"] = Value::String(suite.clone());
        let req = ok(SetRequest::json(cx.key(name), &doc), "serialize")?;
        ok(cx.store.set(req).await, format!("set {name}"))?;
    }
    Ok(suite)
}

/// The names a filter selects, as a set.
async fn selected(cx: &Ctx, suite: &str, filter: &Value) -> Result<BTreeSet<String>, Failure> {
    Ok(names(cx, &run(cx, suite, filter.clone(), json!({})).await?)
        .into_iter()
        .collect())
}

/// Checks each `(filter, names)`: the filter selects exactly those names.
async fn expect_each(cx: &Ctx, suite: &str, cases: &[(Value, &[&str])], why: &str) -> Outcome {
    for (filter, want) in cases {
        let got = selected(cx, suite, filter).await?;
        let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
        ensure!(
            got == want,
            "query {filter}: expected {want:?}, got {got:?} ({why})"
        );
    }
    Ok(())
}

/// A document is what the reference reads from its text: of two members
/// with one name the last, escaped names as their characters, numbers as
/// the doubles they parse to (`1e-400` is 0, 17 digits exactly); a value
/// it cannot read is never found. A long `IN` is one list.
pub async fn documents_as_the_reference_reads_them(cx: &Ctx) -> Outcome {
    let suite = cx.key("");
    let texts: [(&str, String); 6] = [
        ("dup", format!(r#"{{"suite":"{suite}","a":2,"a":1}}"#)),
        (
            "esc",
            format!(r#"{{"suite":"{suite}","caf\u00e9":1,"s":"\u00e9t\u00e9"}}"#),
        ),
        (
            "f1",
            format!(r#"{{"suite":"{suite}","f":9.158478740507359}}"#),
        ),
        (
            "f2",
            format!(r#"{{"suite":"{suite}","f":9.158478740507359}}"#),
        ),
        ("tiny", format!(r#"{{"suite":"{suite}","z":1e-400}}"#)),
        ("huge", format!(r#"{{"suite":"{suite}","z":1e400}}"#)),
    ];
    for (name, text) in &texts {
        ok(
            cx.store
                .set(SetRequest::new(cx.key(name), text.clone()))
                .await,
            format!("set {name}"),
        )?;
    }
    let many: Vec<Value> = (0..1000)
        .map(|i| json!(format!("v{i}")))
        .chain([json!(1)])
        .collect();
    let cases: [(Value, &[&str]); 9] = [
        (json!({"EQ": {"a": 1}}), &["dup"]),
        (json!({"GTE": {"z": 0}}), &["tiny"]),
        (json!({"EQ": {"a": 2}}), &[]),
        (json!({"EQ": {"café": 1}}), &["esc"]),
        (json!({"EQ": {"s": "été"}}), &["esc"]),
        (json!({"EQ": {"f": 9.158478740507359}}), &["f1", "f2"]),
        (json!({"LT": {"f": 9.158478740507359}}), &[]),
        (json!({"EQ": {"z": 0}}), &["tiny"]),
        (json!({"IN": {"a": many}}), &["dup"]),
    ];
    expect_each(cx, &suite, &cases, "documents as the reference reads them").await?;
    // Paging between two rows of one 17-digit value skips neither.
    let q = ok(
        Query::from_value(&json!({
            "filter": {"AND": [{"EQ": {"suite": suite}}, {"GTE": {"f": 0}}]},
            "sort": [{"key": "f"}],
            "page": {"limit": 1},
        })),
        "parse",
    )?;
    let page = all_pages(cx, QueryRequest::new(q), 5).await?;
    let base = cx.key("");
    let got: Vec<&str> = page
        .iter()
        .map(|i| i.key.strip_prefix(&base).unwrap_or(&i.key))
        .collect();
    ensure!(
        got == ["f1", "f2"],
        "paging by a 17-digit number, one a page: expected [\"f1\", \"f2\"], got {got:?}"
    );
    Ok(())
}

/// Numbers compare as numbers (`10 > 9`, `100 == 1e2`), never as text;
/// strings compare by code point (`"a" > "Z"`).
pub async fn numbers_and_strings_compare_by_value(cx: &Ctx) -> Outcome {
    let suite = seed_docs(
        cx,
        &[
            ("n9", json!({"n": 9, "s": "B"})),
            ("n10", json!({"n": 10, "s": "a"})),
            ("n100", json!({"n": 100, "s": "\u{e4}"})),
            ("n1e2", json!({"n": 1e2, "s": "Z"})),
            ("n2.5", json!({"n": 2.5, "s": "b"})),
            ("n-1", json!({"n": -1, "s": "A"})),
        ],
    )
    .await?;
    let cases: [(Value, &[&str]); 6] = [
        (json!({"GT": {"n": 9}}), &["n10", "n100", "n1e2"]),
        (json!({"LT": {"n": 10}}), &["n9", "n2.5", "n-1"]),
        (json!({"EQ": {"n": 100}}), &["n100", "n1e2"]),
        (
            json!({"GTE": {"n": 2.5}}),
            &["n2.5", "n9", "n10", "n100", "n1e2"],
        ),
        (json!({"GT": {"s": "Z"}}), &["n10", "n100", "n2.5"]),
        (json!({"LTE": {"s": "B"}}), &["n9", "n-1"]),
    ];
    expect_each(
        cx,
        &suite,
        &cases,
        "numbers compare as numbers, strings by code point",
    )
    .await?;
    let r = run(
        cx,
        &suite,
        json!({"GTE": {"n": -100}}),
        json!({"sort": [{"key": "n"}]}),
    )
    .await?;
    let got = names(cx, &r);
    ensure!(
        got == ["n-1", "n2.5", "n9", "n10", "n100", "n1e2"],
        "sort by n: expected [n-1, n2.5, n9, n10, n100, n1e2] (numbers by value, ties by key), got {got:?}"
    );
    Ok(())
}

/// A comparison with a missing path, or with a value of another kind than
/// the operand, never matches; NEQ matches only values of the operand's
/// kind that differ.
pub async fn missing_paths_and_other_kinds_never_match(cx: &Ctx) -> Outcome {
    let suite = seed_docs(
        cx,
        &[
            ("x", json!({"v": "x"})),
            ("y", json!({"v": "y"})),
            ("five", json!({"v": 5})),
            ("null", json!({"v": null})),
            ("true", json!({"v": true})),
            ("missing", json!({"w": "x"})),
            ("object", json!({"v": {"x": 1}})),
            ("array", json!({"v": ["x"]})),
        ],
    )
    .await?;
    let cases: [(Value, &[&str]); 8] = [
        (json!({"NEQ": {"v": "x"}}), &["y"]),
        (json!({"NEQ": {"v": 4}}), &["five"]),
        (json!({"NEQ": {"w": "y"}}), &["missing"]),
        (json!({"GT": {"v": "a"}}), &["x", "y"]),
        (json!({"LT": {"v": 10}}), &["five"]),
        (json!({"GTE": {"w": ""}}), &["missing"]),
        (json!({"EQ": {"v.x": 1}}), &["object"]),
        (json!({"EQ": {"nowhere": "x"}}), &[]),
    ];
    expect_each(
        cx,
        &suite,
        &cases,
        "missing paths and values of another kind never match",
    )
    .await
}

/// Paths are data, never SQL or operators: one that looks like an
/// injection names a member like any other, and one no store can address
/// (an empty part, a control character) is refused with InvalidRequest
/// naming it. An array or object operand is refused too, even in a query
/// built in code, which no parser checked.
pub async fn hostile_paths_and_operands(cx: &Ctx) -> Outcome {
    let sneaky = "x') OR ('1'='1";
    let suite = seed_docs(
        cx,
        &[
            ("plain", json!({"v": 1})),
            ("sneaky", json!({ sneaky: 1, "$where": "1" })),
            ("quoted", json!({"q\"t": {"o'k": "yes"}, "br[0]": 2})),
        ],
    )
    .await?;
    let cases: [(Value, &[&str]); 5] = [
        (json!({"EQ": { sneaky: 1 }}), &["sneaky"]),
        (json!({"NEQ": { "v') OR 1=1 --": 0 }}), &[]),
        (json!({"EQ": {"$where": "1"}}), &["sneaky"]),
        (json!({"EQ": {"q\"t.o'k": "yes"}}), &["quoted"]),
        (json!({"EQ": {"br[0]": 2}}), &["quoted"]),
    ];
    expect_each(cx, &suite, &cases, "paths name members, quotes and all").await?;
    let built = |filter: Filter, sort: &str| Query {
        filter: Some(filter),
        sort: vec![statestore_core::query::Sort {
            key: sort.to_owned(),
            order: Default::default(),
        }],
        ..Query::default()
    };
    let refused = [
        (built(Filter::Eq("v".into(), json!([1])), "v"), "[1]"),
        (
            built(Filter::In("v".into(), vec![json!(1), json!({"a": 1})]), "v"),
            "{\"a\":1}",
        ),
        (built(Filter::Eq("a..b".into(), json!(1)), "v"), "a..b"),
        (
            built(Filter::Eq("v".into(), json!(1)), "v.\u{1}"),
            "v.\u{1}",
        ),
    ];
    for (query, named) in refused {
        let shown = format!("{:?}", query.filter);
        match cx.store.query(QueryRequest::new(query)).await {
            Err(e) if e.kind() == ErrorKind::InvalidRequest => {
                let m = e.to_string();
                let quoted = named.escape_debug().to_string();
                ensure!(
                    m.contains(named) || m.contains(&quoted),
                    "query {shown}: the refusal does not name {quoted}: {m}"
                );
            }
            other => {
                return Err(fail(format!(
                    "query {shown}: expected InvalidRequest, got {other:?}"
                )));
            }
        }
    }
    Ok(())
}

/// A query with a key prefix sees only keys that start with it, as text:
/// `%`, `_` and quotes in the prefix are characters, not patterns; keys
/// come back whole, and paging stays within the prefix.
pub async fn key_prefix(cx: &Ctx) -> Outcome {
    let inside = ["p%_'||1", "p%_'||2", "p%_'||2||actor"];
    let outside = ["pab'||3", "p%_'|x", "p%_'|}", "p%_'", "q%_'||1"];
    let mut docs: Vec<(&str, Value)> = Vec::new();
    for (n, name) in inside.iter().chain(&outside).enumerate() {
        docs.push((name, json!({"n": n})));
    }
    let suite = seed_docs(cx, &docs).await?;
    let prefix = cx.key("p%_'||");
    let q = ok(
        Query::from_value(&json!({
            "filter": {"EQ": {"suite": suite}},
            "sort": [{"key": "n", "order": "DESC"}],
            "page": {"limit": 2},
        })),
        "parse",
    )?;
    let req = QueryRequest::new(q).key_prefix(prefix.clone());
    let got: Vec<String> = all_pages(cx, req, 10)
        .await?
        .into_iter()
        .map(|i| i.key)
        .collect();
    let want: Vec<String> = inside.iter().rev().map(|k| cx.key(k)).collect();
    ensure!(
        got == want,
        "query with key prefix {prefix:?}, by n descending, two a page: expected {want:?}, got {got:?}"
    );
    Ok(())
}

/// IN matches a value equal to one operand, of the same kind: `1` matches
/// 1 and 1.0, not `"1"`; `"true"` matches the string, not `true`.
pub async fn in_with_mixed_types(cx: &Ctx) -> Outcome {
    let suite = seed_docs(
        cx,
        &[
            ("one", json!({"v": 1})),
            ("one-float", json!({"v": 1.0})),
            ("one-text", json!({"v": "1"})),
            ("true", json!({"v": true})),
            ("true-text", json!({"v": "true"})),
            ("two", json!({"v": 2})),
        ],
    )
    .await?;
    let cases: [(Value, &[&str]); 3] = [
        (
            json!({"IN": {"v": [1, "true"]}}),
            &["one", "one-float", "true-text"],
        ),
        (json!({"IN": {"v": ["1", 2]}}), &["one-text", "two"]),
        (json!({"IN": {"v": ["2", "false"]}}), &[]),
    ];
    expect_each(cx, &suite, &cases, "IN compares values of the same kind").await
}

/// Sorting orders values of mixed kinds as the reference does (missing <
/// null < booleans < numbers < strings < arrays < objects), ties by key,
/// the same way ascending, descending and page by page.
pub async fn sort_mixed_types_and_missing(cx: &Ctx) -> Outcome {
    let docs = [
        ("a-missing", json!({"w": 1})),
        ("b-missing", json!({"w": 2})),
        ("null", json!({"v": null})),
        ("false", json!({"v": false})),
        ("true", json!({"v": true})),
        ("minus", json!({"v": -1})),
        ("three", json!({"v": 3})),
        ("text-a", json!({"v": "a"})),
        ("text-b", json!({"v": "b"})),
        ("array", json!({"v": [1]})),
        ("object", json!({"v": {"k": 1}})),
    ];
    let suite = seed_docs(cx, &docs).await?;
    let want: Vec<&str> = docs.iter().map(|(n, _)| *n).collect();
    let all = json!({"EQ": {"suite": suite}});
    let asc = names(
        cx,
        &run(cx, &suite, all.clone(), json!({"sort": [{"key": "v"}]})).await?,
    );
    ensure!(
        asc == want,
        "sort by v ascending: expected {want:?}, got {asc:?}"
    );
    let desc = names(
        cx,
        &run(
            cx,
            &suite,
            all.clone(),
            json!({"sort": [{"key": "v", "order": "DESC"}]}),
        )
        .await?,
    );
    // Descending reverses the values; equal values stay in key order.
    let mut want_desc: Vec<&str> = want[2..].iter().rev().copied().collect();
    want_desc.extend(["a-missing", "b-missing"]);
    ensure!(
        desc == want_desc,
        "sort by v descending: expected {want_desc:?}, got {desc:?}"
    );
    let paged = pages(cx, &suite, &all, json!([{"key": "v"}]), 3, |_| async {
        Ok(())
    })
    .await?;
    ensure!(
        paged == want,
        "sort by v in pages of 3: expected {want:?}, got {paged:?}"
    );
    Ok(())
}

/// Every page of a sorted query, `limit` at a time; `between(n)` runs
/// after the n-th page (from 1).
async fn pages<F, Fut>(
    cx: &Ctx,
    suite: &str,
    filter: &Value,
    sort: Value,
    limit: usize,
    between: F,
) -> Result<Vec<String>, Failure>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Outcome>,
{
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    for n in 1..=100 {
        let mut rest = json!({"sort": sort, "page": {"limit": limit}});
        if let Some(t) = &token {
            rest["page"]["token"] = Value::String(t.clone());
        }
        let page = run(cx, suite, filter.clone(), rest).await?;
        ensure!(
            page.results.len() <= limit,
            "page limit {limit}: got {} results",
            page.results.len()
        );
        seen.extend(names(cx, &page));
        token = page.token;
        if token.is_none() {
            return Ok(seen);
        }
        between(n).await?;
    }
    Err(fail("query paging did not end after 100 pages"))
}

/// Paging continues after the last result of the previous page, whatever
/// is inserted or deleted between pages: no document present throughout is
/// repeated or skipped, and no deleted one comes back.
pub async fn paging_under_changes(cx: &Ctx) -> Outcome {
    let docs: Vec<(String, Value)> = (0..10)
        .map(|i| (format!("d{i}"), json!({"n": i})))
        .collect();
    let refs: Vec<(&str, Value)> = docs.iter().map(|(n, d)| (n.as_str(), d.clone())).collect();
    let suite = seed_docs(cx, &refs).await?;
    let all = json!({"GTE": {"n": 0}});
    let seen = pages(cx, &suite, &all, json!([{"key": "n"}]), 3, |n| async move {
        if n == 1 {
            // Two listed documents go, one comes before the cursor, one
            // after it; one not yet listed goes.
            for gone in ["d0", "d1", "d5"] {
                ok(
                    cx.store
                        .delete(statestore_core::DeleteRequest::new(cx.key(gone)))
                        .await,
                    format!("delete {gone}"),
                )?;
            }
            seed_docs(
                cx,
                &[("d0.5", json!({"n": 0.5})), ("d7.5", json!({"n": 7.5}))],
            )
            .await?;
        }
        Ok(())
    })
    .await?;
    let mut unique = BTreeSet::new();
    for name in &seen {
        ensure!(
            unique.insert(name.clone()),
            "paging listed {name} twice: {seen:?}"
        );
    }
    for kept in ["d2", "d3", "d4", "d6", "d7", "d8", "d9"] {
        ensure!(
            unique.contains(kept),
            "paging skipped {kept}, present throughout (pages continue after the last result, not at an offset): {seen:?}"
        );
    }
    ensure!(
        !unique.contains("d5"),
        "paging listed d5, deleted before its page: {seen:?}"
    );
    Ok(())
}
