//! Etags (docs/contract.md, *Etags and concurrency*).

use std::sync::Arc;

use statestore_core::{DeleteRequest, ETag, ErrorKind, GetRequest, SetRequest, Store};

use crate::context::{Ctx, Outcome, applied, fail, fails, ok, until_applied};
use crate::ensure;

/// Get and bulk_get return a non-empty etag for existing keys.
pub async fn present_on_reads(cx: &Ctx) -> Outcome {
    let k = cx.key("k");
    cx.put(&k, "v").await?;
    cx.etag_of(cx.read_some(&k).await?.etag, "get")?;
    let got = ok(
        cx.store.bulk_get(vec![GetRequest::new(&k)]).await,
        "bulk_get",
    )?;
    let etag = got[0]
        .result
        .as_ref()
        .ok()
        .and_then(|i| i.as_ref())
        .and_then(|i| i.etag.clone());
    cx.etag_of(etag, "bulk_get").map(drop)
}

/// Every successful write produces a new etag, even of equal bytes.
pub async fn changes_on_every_write(cx: &Ctx) -> Outcome {
    let k = cx.key("k");
    let mut seen: Vec<ETag> = Vec::new();
    for i in 0..5 {
        let e = cx.etag_of(cx.put(&k, "same bytes").await?, "set")?;
        ensure!(
            !seen.contains(&e),
            "set #{i} of the same bytes returned an etag seen before: {e}"
        );
        seen.push(e);
    }
    let e = cx.etag_of(
        ok(
            cx.store
                .set(SetRequest::new(&k, "same bytes").etag(seen[4].clone()))
                .await,
            "conditional set",
        )?,
        "conditional set",
    )?;
    ensure!(
        !seen.contains(&e),
        "a conditional set returned an etag seen before: {e}"
    );
    Ok(())
}

/// Set returns the new etag, equal to what get returns.
pub async fn set_returns_current(cx: &Ctx) -> Outcome {
    let k = cx.key("k");
    let e1 = cx.etag_of(cx.put(&k, "v1").await?, "set")?;
    let read = cx.etag_of(cx.read_some(&k).await?.etag, "get")?;
    ensure!(e1 == read, "set returned etag {e1} but get returns {read}");
    let e2 = cx.etag_of(
        ok(
            cx.store.set(SetRequest::new(&k, "v2").etag(e1)).await,
            "set with the current etag",
        )?,
        "set with the current etag",
    )?;
    let read = cx.etag_of(cx.read_some(&k).await?.etag, "get")?;
    ensure!(
        e2 == read,
        "conditional set returned etag {e2} but get returns {read}"
    );
    Ok(())
}

/// A wrong, well-formed etag is refused and changes nothing.
pub async fn stale_set_refused(cx: &Ctx) -> Outcome {
    let k = cx.key("k");
    let stale = cx.etag_of(cx.put(&k, "a").await?, "set")?;
    let current = cx.etag_of(cx.put(&k, "b").await?, "set")?;
    fails(
        cx.store.set(SetRequest::new(&k, "c").etag(stale)).await,
        ErrorKind::ETagMismatch,
        format!("set {k:?} with a stale etag"),
    )?;
    let item = cx.read_eq(&k, b"b").await?;
    ensure!(
        item.etag.as_ref() == Some(&current),
        "a refused set changed the etag: {:?} -> {:?}",
        current,
        item.etag
    );
    Ok(())
}

/// A malformed etag is `ETagInvalid` (or `ETagMismatch` where the store
/// says it cannot tell) and changes nothing.
pub async fn malformed_refused(cx: &Ctx) -> Outcome {
    let k = cx.key("k");
    cx.put(&k, "a").await?;
    let q = &cx.target.quirks;
    let kind = if q.detects_invalid_etags {
        ErrorKind::ETagInvalid
    } else {
        ErrorKind::ETagMismatch
    };
    let bad = q.malformed_etag.as_str();
    fails(
        cx.store.set(SetRequest::new(&k, "b").etag(bad)).await,
        kind,
        format!("set {k:?} with etag {bad:?}"),
    )?;
    fails(
        cx.store.delete(DeleteRequest::new(&k).etag(bad)).await,
        kind,
        format!("delete {k:?} with etag {bad:?}"),
    )?;
    cx.read_eq(&k, b"a").await.map(drop)
}

/// A write with the current etag succeeds.
pub async fn current_set_succeeds(cx: &Ctx) -> Outcome {
    let k = cx.key("k");
    let e = cx.etag_of(cx.put(&k, "a").await?, "set")?;
    ok(
        cx.store.set(SetRequest::new(&k, "b").etag(e)).await,
        "set with the current etag",
    )?;
    cx.read_eq(&k, b"b").await.map(drop)
}

/// Delete with a wrong etag is refused; with the current one it deletes.
pub async fn delete_with_etag(cx: &Ctx) -> Outcome {
    let k = cx.key("k");
    let stale = cx.etag_of(cx.put(&k, "a").await?, "set")?;
    let current = cx.etag_of(cx.put(&k, "b").await?, "set")?;
    fails(
        cx.store.delete(DeleteRequest::new(&k).etag(stale)).await,
        ErrorKind::ETagMismatch,
        format!("delete {k:?} with a stale etag"),
    )?;
    cx.read_eq(&k, b"b").await?;
    ok(
        cx.store.delete(DeleteRequest::new(&k).etag(current)).await,
        "delete with the current etag",
    )?;
    cx.read_none(&k, "deleted with its current etag").await
}

/// An etag on a missing key is a mismatch, for set and delete.
pub async fn missing_key_with_etag(cx: &Ctx) -> Outcome {
    let other = cx.key("other");
    let real = cx.etag_of(cx.put(&other, "x").await?, "set")?;
    let k = cx.key("missing");
    fails(
        cx.store
            .set(SetRequest::new(&k, "v").etag(real.clone()))
            .await,
        ErrorKind::ETagMismatch,
        format!("set missing {k:?} with an etag"),
    )?;
    fails(
        cx.store
            .set(SetRequest::new(&k, "v").etag(real.clone()).first_write())
            .await,
        ErrorKind::ETagMismatch,
        format!("first-write set of missing {k:?} with an etag"),
    )?;
    fails(
        cx.store.delete(DeleteRequest::new(&k).etag(real)).await,
        ErrorKind::ETagMismatch,
        format!("delete missing {k:?} with an etag"),
    )?;
    cx.read_none(&k, "refused writes").await
}

/// An empty etag behaves exactly like no etag.
pub async fn empty_etag_is_none(cx: &Ctx) -> Outcome {
    let k = cx.key("k");
    cx.put(&k, "a").await?;
    ok(
        cx.store.set(SetRequest::new(&k, "b").etag("")).await,
        "set with an empty etag",
    )?;
    cx.read_eq(&k, b"b").await?;
    ok(
        cx.store.delete(DeleteRequest::new(&k).etag("")).await,
        "delete with an empty etag",
    )?;
    cx.read_none(&k, "deleted with an empty etag").await?;
    let fresh = cx.key("fresh");
    ok(
        cx.store.set(SetRequest::new(&fresh, "v").etag("")).await,
        "set of a new key with an empty etag",
    )
    .map(drop)
}

/// In bulk calls one bad etag fails only that key.
pub async fn bulk_per_key(cx: &Ctx) -> Outcome {
    let keys: Vec<String> = (0..3).map(|i| cx.key(&format!("k{i}"))).collect();
    let mut etags = Vec::new();
    for k in &keys {
        etags.push(cx.etag_of(cx.put(k, "old").await?, "set")?);
    }
    let stale = etags[1].clone();
    etags[1] = cx.etag_of(cx.put(&keys[1], "changed").await?, "set")?;
    let reqs = vec![
        SetRequest::new(&keys[0], "new").etag(etags[0].clone()),
        SetRequest::new(&keys[1], "new").etag(stale.clone()),
        SetRequest::new(&keys[2], "new").etag(etags[2].clone()),
    ];
    let res = ok(
        cx.store.bulk_set(reqs).await,
        "bulk_set with one stale etag",
    )?;
    ensure!(
        res[0].result.is_ok() && res[2].result.is_ok(),
        "bulk_set: keys with current etags failed: {res:?}"
    );
    ensure!(
        matches!(&res[1].result, Err(e) if e.kind() == ErrorKind::ETagMismatch),
        "bulk_set {:?} with a stale etag: expected ETagMismatch, got {:?}",
        keys[1],
        res[1].result
    );
    cx.read_eq(&keys[0], b"new").await?;
    cx.read_eq(&keys[1], b"changed").await?;
    let new0 = res[0].result.as_ref().ok().cloned().flatten();
    let reqs = vec![
        DeleteRequest::new(&keys[0]).etag(new0.unwrap_or_default()),
        DeleteRequest::new(&keys[1]).etag(stale),
    ];
    let res = ok(
        cx.store.bulk_delete(reqs).await,
        "bulk_delete with one stale etag",
    )?;
    ensure!(
        res[0].result.is_ok(),
        "bulk_delete {:?} with its current etag: {:?}",
        keys[0],
        res[0].result
    );
    ensure!(
        matches!(&res[1].result, Err(e) if e.kind() == ErrorKind::ETagMismatch),
        "bulk_delete {:?} with a stale etag: expected ETagMismatch, got {:?}",
        keys[1],
        res[1].result
    );
    cx.read_none(&keys[0], "deleted by bulk_delete").await?;
    cx.read_eq(&keys[1], b"changed").await.map(drop)
}

/// Concurrent get-increment-set loops with etags lose no update.
pub async fn race_no_lost_update(cx: &Ctx) -> Outcome {
    let (workers, rounds) = cx.race_size();
    let k = cx.key("counter");
    cx.put(&k, "0").await?;
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (store, key) = (cx.store.clone(), k.clone());
        tasks.push(tokio::spawn(
            async move { increment(store, key, rounds).await },
        ));
    }
    for t in tasks {
        t.await
            .map_err(|e| fail(format!("a worker panicked: {e}")))??;
    }
    let item = cx.read_some(&k).await?;
    let n: usize = std::str::from_utf8(&item.value)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(usize::MAX);
    ensure!(
        n == workers * rounds,
        "{workers} workers x {rounds} etag-guarded increments: expected {}, found {n} (lost updates)",
        workers * rounds
    );
    Ok(())
}

async fn increment(store: Arc<dyn Store>, key: String, times: usize) -> Outcome {
    until_applied(&format!("increment of {key:?}"), times, || {
        let (store, key) = (store.clone(), key.clone());
        async move {
            let item = ok(store.get(GetRequest::new(&key)).await, "get")?
                .ok_or_else(|| fail(format!("get {key:?}: the counter vanished")))?;
            let n: u64 = std::str::from_utf8(&item.value)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let req = SetRequest::new(&key, (n + 1).to_string()).etag_opt(item.etag);
            applied(store.set(req).await, format!("set {key:?} with etag"))
        }
    })
    .await
}
