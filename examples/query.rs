//! The query API (`QUERY_API`): filter, sort and page JSON values with
//! Dapr's query language, here on SQLite (one SQL statement per page; the
//! same query runs on the in-memory store, PostgreSQL, MySQL and MongoDB).
//! docs/query.md has the rules and how to index a path.
//!
//! Run it with `cargo run -p statestore-examples --example query`.

use std::error::Error;

use serde_json::json;
use statestore::{Feature, Properties, Query, QueryRequest, SetRequest};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let registry = statestore::registry()?;
    let file = std::env::temp_dir().join(format!("statestore-query-{}.db", std::process::id()));
    let props = Properties::new().with("connectionString", file.to_string_lossy());
    let store = registry.open("state.sqlite", None, &props).await?;
    assert!(store.capabilities().has(Feature::QueryApi));

    let people = [
        (
            "person||1",
            json!({"name": "Ada", "team": "core", "age": 36}),
        ),
        (
            "person||2",
            json!({"name": "Bob", "team": "docs", "age": 41}),
        ),
        (
            "person||3",
            json!({"name": "Cy", "team": "core", "age": 29}),
        ),
        (
            "person||4",
            json!({"name": "Di", "team": "core", "age": 52}),
        ),
    ];
    for (key, doc) in &people {
        store.set(SetRequest::json(*key, doc)?).await?;
    }
    // Values that are not JSON are skipped by queries, never an error.
    store
        .set(SetRequest::new("blob||1", vec![0u8, 0xff]))
        .await?;

    // The core team over 30, oldest first, one per page.
    let text = r#"{
        "filter": {"AND": [{"EQ": {"team": "core"}}, {"GT": {"age": 30}}]},
        "sort": [{"key": "age", "order": "DESC"}],
        "page": {"limit": 1}
    }"#;
    let mut query = Query::from_json(text)?;
    let mut page_no = 0;
    loop {
        let page = store.query(QueryRequest::new(query.clone())).await?;
        page_no += 1;
        for item in &page.results {
            println!(
                "page {page_no}: {} = {}",
                item.key,
                String::from_utf8_lossy(&item.value)
            );
        }
        match page.token {
            Some(token) => query.page.token = Some(token),
            None => break,
        }
    }

    // Only keys under a prefix: what a component's keyPrefix does for an app.
    let everyone = Query::from_json(r#"{"sort": [{"key": "name"}]}"#)?;
    let people = store
        .query(QueryRequest::new(everyone).key_prefix("person||"))
        .await?;
    println!("{} people", people.results.len());

    // Malformed queries are refused with a message that says what is wrong.
    let err = Query::from_json(r#"{"filter": {"AND": [{"EQ": {"team": "core"}}]}}"#).unwrap_err();
    println!("malformed query: {err}");
    let err = Query::from_json(r#"{"filter": {"EQ": {"tags": ["x"]}}}"#).unwrap_err();
    println!("array operand: {err}");

    store.close().await?;
    let _ = std::fs::remove_file(&file);
    Ok(())
}
