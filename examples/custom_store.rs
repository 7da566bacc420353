//! A store of your own: implement `Store` (see `notes.rs`), register it at
//! run time under a type name, and open it through the registry like any
//! built-in store. Its capabilities say what it offers, and what it does not
//! offer is refused with `NotSupported`.
//!
//! Run it with `cargo run -p statestore-examples --example custom_store`.
//! Prove it with the conformance suite: `cargo test -p statestore-examples`.

use std::error::Error;

use statestore::{ErrorKind, Properties, StoreExt, TransactRequest};
use statestore_examples::notes;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // Built-in types register themselves at compile time; add yours at run
    // time. (A crate of its own can use `statestore::register_store!`.)
    let mut registry = statestore::registry()?;
    registry.register(notes::REGISTRATION)?;
    let names: Vec<&str> = registry.iter().map(|r| r.name).collect();
    println!("registered types: {}", names.join(", "));

    // Registering a taken name is an error, not a silent replacement.
    let again = registry.register(notes::REGISTRATION).unwrap_err();
    println!("registering {} twice: {again}", notes::NAME);

    let store = registry.open(notes::NAME, None, &Properties::new()).await?;
    println!(
        "opened {}; capabilities: [{}]",
        notes::NAME,
        store.capabilities()
    );

    store.put("todo||1", "write a store").await?;
    store
        .put("todo||2", "run the conformance suite on it")
        .await?;
    let item = store.get_item("todo||2").await?.ok_or("todo||2 missing")?;
    println!("todo||2 = {:?}", String::from_utf8_lossy(&item.value));

    // What the store does not offer is refused, naming store and operation.
    let err = store
        .transact(TransactRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotSupported);
    println!("transact: {err}");

    store.close().await?;
    Ok(())
}
