//! Bulk calls, keys-like paging and delete-with-prefix on the SQLite store:
//! the state of a few actors written in one call, listed a page at a time,
//! and one actor's state removed with a single prefix delete.
//!
//! Run it with `cargo run -p statestore-examples --example bulk_and_keys`.

use std::error::Error;

use statestore::{
    DeleteWithPrefixRequest, GetRequest, KeysLikeRequest, Properties, SetRequest, StoreExt,
    response::all_ok,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let registry = statestore::registry()?;
    let props = Properties::new().with("connectionString", ":memory:");
    let store = registry.open("state.sqlite", None, &props).await?;

    // One bulk call writes every key (one multi-row statement, not a loop).
    let mut writes = Vec::new();
    for actor in ["ada", "bob", "cy"] {
        for key in ["balance", "owner", "history"] {
            writes.push(SetRequest::new(
                format!("bank||Account||{actor}||{key}"),
                format!("{actor}'s {key}"),
            ));
        }
    }
    // One request in the batch is wrong on purpose: only that key fails.
    writes.push(SetRequest::new("", "no key"));
    let outcomes = store.bulk_set(writes).await?;
    let failed: Vec<_> = outcomes.iter().filter(|o| o.result.is_err()).collect();
    println!(
        "bulk_set: {} keys written, {} refused:",
        outcomes.len() - failed.len(),
        failed.len()
    );
    for f in failed {
        if let Err(e) = &f.result {
            println!("   {:?}: {e}", f.key);
        }
    }

    // bulk_get answers in request order; all_ok turns outcomes into values or one error.
    let reads = [
        "bank||Account||ada||owner",
        "bank||Account||zed||owner",
        "bank||Account||cy||owner",
    ];
    let items = all_ok(
        store
            .bulk_get(reads.into_iter().map(GetRequest::new).collect())
            .await?,
    )?;
    for (key, item) in reads.iter().zip(items) {
        let value = item.map(|i| String::from_utf8_lossy(&i.value).into_owned());
        println!(
            "bulk_get {key}: {}",
            value.unwrap_or_else(|| "(missing)".into())
        );
    }

    // keys_like pages by key: each page resumes after the last key it saw.
    let mut token = None;
    let mut page_no = 0;
    loop {
        let mut req = KeysLikeRequest::new("bank||Account||%||balance").page_size(2);
        req.token = token;
        let page = store.keys_like(req).await?;
        page_no += 1;
        println!("keys_like page {page_no}: {:?}", page.keys);
        token = page.token;
        if token.is_none() {
            break;
        }
    }

    // Removing one actor's state: its direct children, and nothing else.
    let removed = store
        .delete_with_prefix(DeleteWithPrefixRequest::new("bank||Account||bob"))
        .await?;
    let left = store
        .keys_like(KeysLikeRequest::new("bank||%"))
        .await?
        .keys
        .len();
    println!("delete_with_prefix bank||Account||bob removed {removed} keys; {left} keys remain");
    assert_eq!((removed, left), (3, 6));
    assert!(store.get_item("bank||Account||bob||owner").await?.is_none());

    store.close().await?;
    Ok(())
}
