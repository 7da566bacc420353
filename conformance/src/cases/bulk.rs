//! Bulk calls (docs/contract.md, *Bulk calls, transactions, prefixes*).

use statestore_core::{DeleteRequest, ErrorKind, Feature, GetRequest, Item, KeyResult, SetRequest};

use crate::context::{Ctx, Failure, Outcome, fail, ok, show};
use crate::ensure;

fn value_of(entry: &KeyResult<Option<Item>>) -> Result<Option<Vec<u8>>, Failure> {
    match &entry.result {
        Ok(item) => Ok(item.as_ref().map(|i| i.value.to_vec())),
        Err(e) => Err(fail(format!(
            "bulk_get entry {:?}: unexpected error {e:#}",
            entry.key
        ))),
    }
}

async fn bulk_get(cx: &Ctx, keys: &[String]) -> Result<Vec<KeyResult<Option<Item>>>, Failure> {
    let got = ok(
        cx.store
            .bulk_get(keys.iter().map(GetRequest::new).collect())
            .await,
        format!("bulk_get of {} keys", keys.len()),
    )?;
    ensure!(
        got.len() == keys.len(),
        "bulk_get of {} keys: expected one entry per key, got {}",
        keys.len(),
        got.len()
    );
    for (k, e) in keys.iter().zip(&got) {
        ensure!(
            &e.key == k,
            "bulk_get: expected the entry for {k:?} in request order, got {:?}",
            e.key
        );
    }
    Ok(got)
}

async fn bulk_set(cx: &Ctx, pairs: &[(String, Vec<u8>)]) -> Outcome {
    let reqs = pairs
        .iter()
        .map(|(k, v)| SetRequest::new(k, v.clone()))
        .collect();
    let res = ok(
        cx.store.bulk_set(reqs).await,
        format!("bulk_set of {} keys", pairs.len()),
    )?;
    ensure!(
        res.len() == pairs.len(),
        "bulk_set: expected {} outcomes, got {}",
        pairs.len(),
        res.len()
    );
    for ((k, _), r) in pairs.iter().zip(&res) {
        ensure!(
            &r.key == k,
            "bulk_set: outcome for {k:?} carries key {:?}",
            r.key
        );
        if let Err(e) = &r.result {
            return Err(fail(format!("bulk_set {k:?}: unexpected error {e:#}")));
        }
    }
    Ok(())
}

/// Bulk_set of new keys; bulk_get answers in request order.
pub async fn set_then_get_in_order(cx: &Ctx) -> Outcome {
    let pairs: Vec<(String, Vec<u8>)> = (0..50)
        .map(|i| (cx.key(&format!("k{i:02}")), format!("v{i}").into_bytes()))
        .collect();
    bulk_set(cx, &pairs).await?;
    let mut order: Vec<(String, Vec<u8>)> = pairs.clone();
    order.reverse();
    order.swap(3, 40);
    let keys: Vec<String> = order.iter().map(|(k, _)| k.clone()).collect();
    for ((k, v), entry) in order.iter().zip(bulk_get(cx, &keys).await?) {
        let got = value_of(&entry)?;
        ensure!(
            got.as_deref() == Some(&v[..]),
            "bulk_get {k:?}: expected {}, got {:?}",
            show(v),
            got.map(|g| show(&g))
        );
    }
    Ok(())
}

/// Missing keys come back as entries without value and without error.
pub async fn get_missing_entries(cx: &Ctx) -> Outcome {
    let present = cx.key("present");
    let missing = cx.key("missing");
    cx.put(&present, "v").await?;
    let got = bulk_get(cx, &[missing.clone(), present.clone(), missing.clone()]).await?;
    ensure!(
        value_of(&got[0])?.is_none(),
        "bulk_get {missing:?}: expected no value"
    );
    ensure!(
        value_of(&got[1])?.as_deref() == Some(&b"v"[..]),
        "bulk_get {present:?}: expected \"v\""
    );
    ensure!(
        value_of(&got[2])?.is_none(),
        "bulk_get {missing:?} (repeated): expected no value"
    );
    Ok(())
}

/// Bulk_get of no keys returns no entries.
pub async fn get_empty(cx: &Ctx) -> Outcome {
    let got = ok(cx.store.bulk_get(Vec::new()).await, "bulk_get of no keys")?;
    ensure!(
        got.is_empty(),
        "bulk_get of no keys: expected no entries, got {}",
        got.len()
    );
    Ok(())
}

/// Bulk_delete removes every key.
pub async fn delete_all(cx: &Ctx) -> Outcome {
    let pairs: Vec<(String, Vec<u8>)> = (0..20)
        .map(|i| (cx.key(&format!("d{i}")), vec![b'x']))
        .collect();
    bulk_set(cx, &pairs).await?;
    let keys: Vec<String> = pairs.iter().map(|(k, _)| k.clone()).collect();
    let res = ok(
        cx.store
            .bulk_delete(keys.iter().map(DeleteRequest::new).collect())
            .await,
        "bulk_delete",
    )?;
    for r in &res {
        ensure!(r.result.is_ok(), "bulk_delete {:?}: {:?}", r.key, r.result);
    }
    for entry in bulk_get(cx, &keys).await? {
        ensure!(
            value_of(&entry)?.is_none(),
            "bulk_get {:?} after bulk_delete: still there",
            entry.key
        );
    }
    Ok(())
}

/// A failed key is reported with its key and cause; the others stay applied.
pub async fn partial_failures(cx: &Ctx) -> Outcome {
    let (a, b) = (cx.key("a"), cx.key("b"));
    let reqs = vec![
        SetRequest::new(&a, "1"),
        SetRequest::new("", "bad"),
        SetRequest::new(&b, "2"),
    ];
    let res = ok(cx.store.bulk_set(reqs).await, "bulk_set with one empty key")?;
    ensure!(
        res.len() == 3,
        "bulk_set: expected 3 outcomes, got {}",
        res.len()
    );
    ensure!(
        res[0].result.is_ok() && res[2].result.is_ok(),
        "bulk_set: the valid keys failed: {res:?}"
    );
    match &res[1].result {
        Err(e) if e.kind() == ErrorKind::InvalidRequest => {}
        other => {
            return Err(fail(format!(
                "bulk_set of the empty key: expected InvalidRequest, got {other:?}"
            )));
        }
    }
    cx.read_eq(&a, b"1").await?;
    cx.read_eq(&b, b"2").await?;
    if cx.has(Feature::ETag) {
        let stale = cx.etag_of(cx.put(&a, "3").await?, "set")?;
        cx.put(&a, "4").await?;
        let c = cx.key("c");
        let reqs = vec![
            SetRequest::new(&a, "5").etag(stale),
            SetRequest::new(&c, "6"),
        ];
        let res = ok(
            cx.store.bulk_set(reqs).await,
            "bulk_set with one stale etag",
        )?;
        match &res[0].result {
            Err(e) if e.kind() == ErrorKind::ETagMismatch => {}
            other => {
                return Err(fail(format!(
                    "bulk_set {a:?} with a stale etag: expected ETagMismatch, got {other:?}"
                )));
            }
        }
        ensure!(res[1].result.is_ok(), "bulk_set {c:?}: {:?}", res[1].result);
        cx.read_eq(&a, b"4").await?;
        cx.read_eq(&c, b"6").await?;
    }
    let res = ok(
        cx.store
            .bulk_delete(vec![DeleteRequest::new(&b), DeleteRequest::new("")])
            .await,
        "bulk_delete with one empty key",
    )?;
    ensure!(
        res[0].result.is_ok(),
        "bulk_delete {b:?}: {:?}",
        res[0].result
    );
    ensure!(
        matches!(&res[1].result, Err(e) if e.kind() == ErrorKind::InvalidRequest),
        "bulk_delete of the empty key: expected InvalidRequest, got {:?}",
        res[1].result
    );
    cx.read_none(&b, "deleted by bulk_delete").await
}

/// Bulk calls of 1,000 keys work (the store batches them; see its
/// documented `max_bulk_batch`).
pub async fn thousand_keys(cx: &Ctx) -> Outcome {
    let pairs: Vec<(String, Vec<u8>)> = (0..1000)
        .map(|i| {
            (
                cx.key(&format!("t{i:04}")),
                format!("value {i}").into_bytes(),
            )
        })
        .collect();
    bulk_set(cx, &pairs).await?;
    let keys: Vec<String> = pairs.iter().map(|(k, _)| k.clone()).collect();
    for ((k, v), entry) in pairs.iter().zip(bulk_get(cx, &keys).await?) {
        ensure!(
            value_of(&entry)?.as_deref() == Some(&v[..]),
            "bulk_get {k:?}: wrong value after bulk_set of 1,000"
        );
    }
    let res = ok(
        cx.store
            .bulk_delete(keys.iter().map(DeleteRequest::new).collect())
            .await,
        "bulk_delete of 1,000",
    )?;
    ensure!(
        res.iter().all(|r| r.result.is_ok()),
        "bulk_delete of 1,000: some keys failed"
    );
    let left = bulk_get(cx, &keys)
        .await?
        .iter()
        .filter(|e| matches!(e.result, Ok(Some(_))))
        .count();
    ensure!(
        left == 0,
        "bulk_delete of 1,000: {left} keys are still there"
    );
    Ok(())
}

/// Duplicate keys are allowed: bulk_get answers each, bulk_set applies them
/// in request order.
pub async fn duplicate_keys(cx: &Ctx) -> Outcome {
    let k = cx.key("dup");
    let reqs = vec![SetRequest::new(&k, "first"), SetRequest::new(&k, "second")];
    let res = ok(cx.store.bulk_set(reqs).await, "bulk_set of one key twice")?;
    ensure!(
        res.iter().all(|r| r.result.is_ok()),
        "bulk_set of one key twice: {res:?}"
    );
    cx.read_eq(&k, b"second").await?;
    let got = bulk_get(cx, &[k.clone(), k.clone()]).await?;
    for e in &got {
        ensure!(
            value_of(e)?.as_deref() == Some(&b"second"[..]),
            "bulk_get of a repeated key: wrong value"
        );
    }
    Ok(())
}
