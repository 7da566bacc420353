//! Quickstart: open the embedded SQLite store through the registry, write
//! with an etag, lose a race on purpose and retry, move money in a
//! transaction, and write a key that expires.
//!
//! Run it with `cargo run -p statestore-examples --example quickstart`.

use std::error::Error;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use statestore::{
    ErrorKind, Properties, SetRequest, StoreExt, TransactRequest, TransactionOp, Ttl,
};

#[derive(Debug, Default, Serialize, Deserialize)]
struct Account {
    owner: String,
    balance: i64,
}

fn account(owner: &str, balance: i64) -> Account {
    Account {
        owner: owner.into(),
        balance,
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::temp_dir().join("statestore-quickstart");
    std::fs::create_dir_all(&dir)?;
    let db = dir.join("quickstart.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }

    // Stores are created by type name, from Dapr-style component metadata.
    let registry = statestore::registry()?;
    let props = Properties::new().with("connectionString", db.display().to_string());
    let store = registry.open("state.sqlite", None, &props).await?;
    println!("opened state.sqlite at {}", db.display());
    println!("   capabilities: {}", store.capabilities());

    // 1. Every write returns the new etag.
    let etag = store.set_json("account||ada", &account("ada", 100)).await?;
    println!(
        "1. wrote account||ada with balance 100, etag {}",
        etag.unwrap_or_default()
    );

    // 2. Read, then let another writer change the key before we write back.
    let mine = store
        .get_json::<Account>("account||ada")
        .await?
        .ok_or("account missing")?;
    store.set_json("account||ada", &account("ada", 150)).await?;
    println!(
        "2. read balance {}; meanwhile another writer set it to 150",
        mine.value.balance
    );
    let stale = SetRequest::json("account||ada", &account("ada", mine.value.balance + 10))?
        .etag_opt(mine.etag);
    match store.set(stale).await {
        Err(e) if e.kind() == ErrorKind::ETagMismatch => {
            println!("   our write with the old etag lost the race: {e}")
        }
        other => return Err(format!("expected an etag mismatch, got {other:?}").into()),
    }
    let updated = store
        .update_json("account||ada", 5, |a: Option<Account>| {
            let mut a = a.unwrap_or_default();
            a.balance += 10;
            a
        })
        .await?;
    println!(
        "   retried on a fresh read: balance is now {} (150 + 10, no update lost)",
        updated.balance
    );

    // 3. A transaction applies every operation or none.
    store.set_json("account||bob", &account("bob", 0)).await?;
    let ada = store
        .get_json::<Account>("account||ada")
        .await?
        .ok_or("ada missing")?;
    let bob = store
        .get_json::<Account>("account||bob")
        .await?
        .ok_or("bob missing")?;
    let transfer =
        |from: &Account, to: &Account, amount| -> Result<Vec<TransactionOp>, statestore::Error> {
            Ok(vec![
                SetRequest::json("account||ada", &account("ada", from.balance - amount))?
                    .etag_opt(ada.etag.clone())
                    .into(),
                SetRequest::json("account||bob", &account("bob", to.balance + amount))?
                    .etag_opt(bob.etag.clone())
                    .into(),
            ])
        };
    store
        .transact(TransactRequest::new(transfer(&ada.value, &bob.value, 30)?))
        .await?;
    println!("3. moved 30 from ada to bob in one transaction");
    // Replaying it with the same (now stale) etags changes nothing at all.
    let replay = store
        .transact(TransactRequest::new(transfer(&ada.value, &bob.value, 30)?))
        .await;
    let err = replay.err().ok_or("the replay should have failed")?;
    let (ada, bob) = (
        store
            .get_json::<Account>("account||ada")
            .await?
            .ok_or("ada missing")?
            .value,
        store
            .get_json::<Account>("account||bob")
            .await?
            .ok_or("bob missing")?
            .value,
    );
    println!(
        "   a replay with stale etags failed ({:?}) and changed nothing:",
        err.kind()
    );
    println!("   ada has {}, bob has {}", ada.balance, bob.balance);

    // 4. A write with a time to live; reads show when it expires.
    store
        .set(SetRequest::new("session||ada", "token-123").ttl(Ttl::Seconds(2)))
        .await?;
    let session = store
        .get_item("session||ada")
        .await?
        .ok_or("session missing")?;
    println!(
        "4. wrote session||ada with ttl 2 s; it expires at {}",
        session.expire_time_rfc3339().unwrap_or_default()
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let gone = store.get_item("session||ada").await?.is_none();
    println!(
        "   2.5 s later it is {}",
        if gone { "gone" } else { "STILL THERE (bug)" }
    );

    store.close().await?;
    println!(
        "done; the database stays at {} for you to inspect",
        db.display()
    );
    if !gone {
        return Err("the expired session was still readable".into());
    }
    Ok(())
}
