//! Transactions (docs/contract.md, *Bulk calls, transactions, prefixes*).

use statestore_core::{
    DeleteRequest, ErrorKind, GetRequest, SetRequest, TransactRequest, TransactionOp,
};

use crate::context::{Ctx, Failure, Outcome, fails, ok, show, skip};
use crate::ensure;

fn set(key: &str, value: &str) -> TransactionOp {
    SetRequest::new(key, value.to_owned()).into()
}

fn del(key: &str) -> TransactionOp {
    DeleteRequest::new(key).into()
}

/// Upserts and deletes of one transaction are all applied; the etags it
/// returns are the new ones.
pub async fn applies_all(cx: &Ctx) -> Outcome {
    let (a, b, d1, d2) = (cx.key("a"), cx.key("b"), cx.key("d1"), cx.key("d2"));
    cx.put(&d1, "x").await?;
    cx.put(&d2, "x").await?;
    let ops = vec![set(&a, "1"), del(&d1), set(&b, "2"), del(&d2)];
    let etags = ok(
        cx.store.transact(TransactRequest::new(ops)).await,
        "transact",
    )?;
    cx.read_eq(&a, b"1").await?;
    cx.read_eq(&b, b"2").await?;
    cx.read_none(&d1, "deleted in the transaction").await?;
    cx.read_none(&d2, "deleted in the transaction").await?;
    ensure!(
        etags.len() == 4,
        "transact of 4 operations returned {} etags",
        etags.len()
    );
    ensure!(
        etags[1].is_none() && etags[3].is_none(),
        "transact returned etags for deletes: {etags:?}"
    );
    if cx.has(statestore_core::Feature::ETag) {
        for (i, k) in [(0, &a), (2, &b)] {
            let now = cx.read_some(k).await?.etag;
            ensure!(
                etags[i] == now,
                "transact returned etag {:?} for {k:?}, get returns {now:?}",
                etags[i]
            );
        }
    }
    Ok(())
}

/// Operations apply in request order, and the etags come back in request
/// order: on one key, every order of upserts and deletes ends as the last
/// operation says.
pub async fn in_order(cx: &Ctx) -> Outcome {
    let (k1, k2, k3, k4, k5) = (
        cx.key("k1"),
        cx.key("k2"),
        cx.key("k3"),
        cx.key("k4"),
        cx.key("k5"),
    );
    cx.put(&k1, "x").await?;
    let ops = vec![
        del(&k1),
        set(&k2, "2"),
        del(&k2),
        set(&k3, "3"),
        set(&k3, "33"),
        set(&k4, "4"),
        del(&k4),
        set(&k4, "44"),
        del(&k5),
        set(&k5, "5"),
        set(&k5, "55"),
        del(&k5),
    ];
    let etags = ok(
        cx.store.transact(TransactRequest::new(ops)).await,
        "transact",
    )?;
    cx.read_none(&k1, "deleted").await?;
    cx.read_none(&k2, "set, then deleted").await?;
    cx.read_eq(&k3, b"33").await?;
    cx.read_eq(&k4, b"44").await?;
    cx.read_none(&k5, "deleted, set twice, deleted").await?;
    ensure!(
        etags.len() == 12,
        "transact of 12 operations returned {} etags",
        etags.len()
    );
    if cx.has(statestore_core::Feature::ETag) {
        for (i, k) in [(4, &k3), (7, &k4)] {
            let now = cx.read_some(k).await?.etag;
            ensure!(
                etags[i] == now,
                "transact returned etag {:?} for operation {i} (the last write of {k:?}), get returns {now:?}",
                etags[i]
            );
        }
    }
    Ok(())
}

/// A transaction of one delete of a missing key succeeds.
pub async fn delete_missing(cx: &Ctx) -> Outcome {
    let k = cx.key("missing");
    ok(
        cx.store.transact(TransactRequest::new([del(&k)])).await,
        "transact deleting a missing key",
    )
    .map(drop)
}

/// Each key's value and etag, rendered for comparison and for messages.
async fn snapshot(cx: &Ctx, keys: &[&String]) -> Result<Vec<String>, Failure> {
    let mut out = Vec::new();
    for k in keys {
        out.push(match cx.read(k).await? {
            Some(i) => format!("{k:?} = {} etag {:?}", show(&i.value), i.etag),
            None => format!("{k:?} absent"),
        });
    }
    Ok(out)
}

/// One etag mismatch or first-write conflict anywhere aborts the whole
/// transaction: no value and no etag changes.
pub async fn mismatch_aborts_all(cx: &Ctx) -> Outcome {
    let (a, b, c) = (cx.key("a"), cx.key("b"), cx.key("c"));
    let ea = cx.etag_of(cx.put(&a, "a1").await?, "set")?;
    let eb = cx.etag_of(cx.put(&b, "b1").await?, "set")?;
    let before = snapshot(cx, &[&a, &b, &c]).await?;
    // The last operation's etag went stale when the first one applied.
    let ops: Vec<TransactionOp> = vec![
        SetRequest::new(&a, "a2").etag(ea.clone()).into(),
        DeleteRequest::new(&b).etag(eb).into(),
        set(&c, "c1"),
        SetRequest::new(&a, "a3").etag(ea).into(),
    ];
    fails(
        cx.store.transact(TransactRequest::new(ops)).await,
        ErrorKind::ETagMismatch,
        "transact whose last operation has a stale etag",
    )?;
    let after = snapshot(cx, &[&a, &b, &c]).await?;
    ensure!(
        before == after,
        "an aborted transaction changed state: before {before:?}, after {after:?}"
    );
    let ops = vec![
        set(&c, "c1"),
        SetRequest::new(&a, "a9").first_write().into(),
    ];
    fails(
        cx.store.transact(TransactRequest::new(ops)).await,
        ErrorKind::ETagMismatch,
        "transact with a first-write conflict",
    )?;
    let after = snapshot(cx, &[&a, &b, &c]).await?;
    ensure!(
        before == after,
        "a transaction aborted by first-write changed state: before {before:?}, after {after:?}"
    );
    Ok(())
}

/// A failed transaction reports the first operation, in request order, that
/// failed, by index and key (what a one-by-one run would have hit first).
pub async fn reports_first_failure(cx: &Ctx) -> Outcome {
    let (a, b) = (cx.key("a"), cx.key("b"));
    let stale = cx.etag_of(cx.put(&a, "1").await?, "set")?;
    cx.put(&b, "1").await?;
    let bad = cx.target.quirks.malformed_etag.clone();
    let ops: Vec<TransactionOp> = vec![
        set(&a, "2"),
        SetRequest::new(&a, "3").etag(stale).into(),
        SetRequest::new(&b, "3").etag(bad).into(),
    ];
    let e = fails(
        cx.store.transact(TransactRequest::new(ops)).await,
        ErrorKind::ETagMismatch,
        "transact whose operation 1 has an etag made stale by operation 0",
    )?;
    ensure!(
        e.key() == Some(a.as_str()),
        "the error names key {:?}, expected {a:?}: {e}",
        e.key()
    );
    ensure!(
        e.message().contains("operation 1"),
        "the error does not name operation 1: {e}"
    );
    cx.read_eq(&a, b"1").await?;
    cx.read_eq(&b, b"1").await.map(drop)
}

/// Etags and first-write are honoured on deletes as on upserts.
pub async fn conditions_on_deletes(cx: &Ctx) -> Outcome {
    let (a, b) = (cx.key("a"), cx.key("b"));
    let stale = cx.etag_of(cx.put(&a, "1").await?, "set")?;
    let current = cx.etag_of(cx.put(&a, "2").await?, "set")?;
    let ops: Vec<TransactionOp> = vec![set(&b, "x"), DeleteRequest::new(&a).etag(stale).into()];
    fails(
        cx.store.transact(TransactRequest::new(ops)).await,
        ErrorKind::ETagMismatch,
        "transact: delete with a stale etag",
    )?;
    cx.read_none(&b, "aborted transaction").await?;
    let ops: Vec<TransactionOp> = vec![set(&b, "x"), DeleteRequest::new(&a).first_write().into()];
    fails(
        cx.store.transact(TransactRequest::new(ops)).await,
        ErrorKind::ETagMismatch,
        "transact: first-write delete without etag of an existing key",
    )?;
    cx.read_none(&b, "aborted transaction").await?;
    let ops: Vec<TransactionOp> = vec![set(&b, "x"), DeleteRequest::new(&a).etag(current).into()];
    ok(
        cx.store.transact(TransactRequest::new(ops)).await,
        "transact: delete with the current etag",
    )?;
    cx.read_none(&a, "deleted with its current etag").await?;
    cx.read_eq(&b, b"x").await.map(drop)
}

/// Zero operations is a successful no-op.
pub async fn empty(cx: &Ctx) -> Outcome {
    let etags = ok(
        cx.store.transact(TransactRequest::default()).await,
        "transact of nothing",
    )?;
    ensure!(etags.is_empty(), "transact of nothing returned {etags:?}");
    Ok(())
}

/// A transaction of exactly the maximum size succeeds; one larger is
/// refused before anything is written.
pub async fn max_size(cx: &Ctx) -> Outcome {
    let Some(max) = cx.caps().limits.max_transaction_ops else {
        return skip("the store declares no maximum transaction size");
    };
    if max > 100_000 {
        return skip(format!(
            "the maximum transaction size {max} is too large to try"
        ));
    }
    let keys: Vec<String> = (0..=max).map(|i| cx.key(&format!("m{i}"))).collect();
    let ops: Vec<TransactionOp> = keys[..max].iter().map(|k| set(k, "v")).collect();
    ok(
        cx.store.transact(TransactRequest::new(ops)).await,
        format!("transact of exactly {max} operations"),
    )?;
    cx.read_eq(&keys[max - 1], b"v").await?;
    let fresh: Vec<String> = (0..=max).map(|i| cx.key(&format!("n{i}"))).collect();
    let ops: Vec<TransactionOp> = fresh.iter().map(|k| set(k, "v")).collect();
    fails(
        cx.store.transact(TransactRequest::new(ops)).await,
        ErrorKind::InvalidRequest,
        format!("transact of {} operations (maximum {max})", max + 1),
    )?;
    let got = ok(
        cx.store
            .bulk_get(fresh.iter().map(GetRequest::new).collect())
            .await,
        "bulk_get",
    )?;
    let written = got
        .iter()
        .filter(|e| matches!(e.result, Ok(Some(_))))
        .count();
    ensure!(
        written == 0,
        "a refused oversized transaction wrote {written} keys"
    );
    Ok(())
}

/// Request metadata such as `partitionKey` is accepted.
pub async fn partition_key_metadata(cx: &Ctx) -> Outcome {
    let k = cx.key("p");
    let req = TransactRequest::new([set(&k, "v")]).metadata("partitionKey", cx.key("partition"));
    ok(
        cx.store.transact(req).await,
        "transact with partitionKey metadata",
    )?;
    cx.read_eq(&k, b"v").await.map(drop)
}
