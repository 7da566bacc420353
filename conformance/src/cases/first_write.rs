//! First-write concurrency (docs/contract.md, *Etags and concurrency*).

use statestore_core::{DeleteRequest, ErrorKind, Feature, SetRequest, TransactRequest};

use crate::context::{Ctx, Outcome, fails, ok};
use crate::ensure;

/// First-write without etag on a missing key inserts it.
pub async fn insert_missing(cx: &Ctx) -> Outcome {
    let k = cx.key("new");
    let e = ok(
        cx.store.set(SetRequest::new(&k, "v").first_write()).await,
        "first-write insert",
    )?;
    let e = cx.etag_of(e, "first-write insert")?;
    let item = cx.read_eq(&k, b"v").await?;
    ensure!(
        item.etag.as_ref() == Some(&e),
        "first-write returned {e} but get returns {:?}",
        item.etag
    );
    Ok(())
}

/// First-write without etag (none or empty) on an existing key fails,
/// however the key was created.
pub async fn existing_refused(cx: &Ctx) -> Outcome {
    let by_set = cx.key("by-set");
    cx.put(&by_set, "orig").await?;
    let by_first_write = cx.key("by-first-write");
    ok(
        cx.store
            .set(SetRequest::new(&by_first_write, "orig").first_write())
            .await,
        "first-write insert",
    )?;
    let by_bulk = cx.key("by-bulk");
    let res = ok(
        cx.store
            .bulk_set(vec![SetRequest::new(&by_bulk, "orig")])
            .await,
        "bulk_set",
    )?;
    ensure!(
        res[0].result.is_ok(),
        "bulk_set {by_bulk:?}: {:?}",
        res[0].result
    );
    let mut keys = vec![by_set, by_first_write, by_bulk];
    if cx.has(Feature::Transactional) {
        let by_tx = cx.key("by-transaction");
        ok(
            cx.store
                .transact(TransactRequest::new([SetRequest::new(&by_tx, "orig")]))
                .await,
            "transact",
        )?;
        keys.push(by_tx);
    }
    for k in &keys {
        fails(
            cx.store.set(SetRequest::new(k, "new").first_write()).await,
            ErrorKind::ETagMismatch,
            format!("first-write without etag on existing {k:?}"),
        )?;
        fails(
            cx.store
                .set(SetRequest::new(k, "new").first_write().etag(""))
                .await,
            ErrorKind::ETagMismatch,
            format!("first-write with an empty etag on existing {k:?}"),
        )?;
        cx.read_eq(k, b"orig").await?;
    }
    Ok(())
}

/// First-write with the current etag succeeds and changes the etag;
/// again with the now stale etag it fails.
pub async fn with_current_etag(cx: &Ctx) -> Outcome {
    let k = cx.key("k");
    let e1 = cx.etag_of(cx.put(&k, "a").await?, "set")?;
    let e2 = ok(
        cx.store
            .set(SetRequest::new(&k, "b").first_write().etag(e1.clone()))
            .await,
        "first-write with the current etag",
    )?;
    let e2 = cx.etag_of(e2, "first-write with the current etag")?;
    ensure!(e1 != e2, "first-write with etag returned the old etag {e1}");
    fails(
        cx.store
            .set(SetRequest::new(&k, "c").first_write().etag(e1))
            .await,
        ErrorKind::ETagMismatch,
        "first-write with the stale etag",
    )?;
    cx.read_eq(&k, b"b").await.map(drop)
}

/// First-write delete without etag (docs/contract.md, *Etags and
/// concurrency*: "delete follows the same table"): succeeds when the key is
/// absent, fails when it exists.
pub async fn delete_without_etag(cx: &Ctx) -> Outcome {
    let k = cx.key("k");
    ok(
        cx.store.delete(DeleteRequest::new(&k).first_write()).await,
        "first-write delete of a missing key",
    )?;
    let e = cx.etag_of(cx.put(&k, "v").await?, "set")?;
    fails(
        cx.store.delete(DeleteRequest::new(&k).first_write()).await,
        ErrorKind::ETagMismatch,
        format!("first-write delete without etag of existing {k:?}"),
    )?;
    cx.read_eq(&k, b"v").await?;
    ok(
        cx.store
            .delete(DeleteRequest::new(&k).first_write().etag(e))
            .await,
        "first-write delete with the current etag",
    )?;
    cx.read_none(&k, "deleted").await
}
