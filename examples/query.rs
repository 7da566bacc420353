//! The query API (`QUERY_API`): filter, sort and page JSON values with
//! Dapr's query language. The in-memory store offers it today.
//!
//! Run it with `cargo run -p statestore-examples --example query`.

use std::error::Error;

use serde_json::json;
use statestore::{Feature, Properties, Query, QueryRequest, SetRequest};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let registry = statestore::registry()?;
    let store = registry
        .open("state.in-memory", None, &Properties::new())
        .await?;
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

    // Malformed queries are refused with a message that says what is wrong.
    let err = Query::from_json(r#"{"filter": {"AND": [{"EQ": {"team": "core"}}]}}"#).unwrap_err();
    println!("malformed query: {err}");

    store.close().await?;
    Ok(())
}
