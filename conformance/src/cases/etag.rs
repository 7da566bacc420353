//! Etags (docs/contract.md, *Etags and concurrency*).

use statestore_core::{DeleteRequest, ETag, ErrorKind, GetRequest, SetRequest};

use super::paths;
use crate::context::{Ctx, Failure, Outcome, fail, fails, ok};
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
    let kind = malformed_kind(cx);
    let bad = cx.target.quirks.malformed_etag.as_str();
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

/// The kind a malformed etag must get: `ETagInvalid`, or `ETagMismatch`
/// where the store declares it cannot tell.
fn malformed_kind(cx: &Ctx) -> ErrorKind {
    if cx.target.quirks.detects_invalid_etags {
        ErrorKind::ETagInvalid
    } else {
        ErrorKind::ETagMismatch
    }
}

/// A key holding `"current"` after an older write, for one path of
/// [`every_write_path`]: the key, its stale etag and its current one.
async fn two_writes(cx: &Ctx, name: &str) -> Result<(String, ETag, ETag), Failure> {
    let k = cx.key(name);
    let stale = cx.etag_of(cx.put(&k, "old").await?, "set")?;
    let current = cx.etag_of(cx.put(&k, "current").await?, "set")?;
    Ok((k, stale, current))
}

/// After a refused write or remove (`what`): `k` still holds `"current"`
/// under etag `current`.
async fn unchanged(cx: &Ctx, k: &str, current: &ETag, what: &str) -> Outcome {
    let item = cx.read_eq(k, b"current").await?;
    ensure!(
        item.etag.as_ref() == Some(current),
        "{what} was refused but changed the etag"
    );
    Ok(())
}

/// The contract's etag table on every write and remove path: a stale etag,
/// a malformed one, an etag on a missing key and first-write on an existing
/// key are refused and change nothing; the current etag, first-write on a
/// missing key and no etag apply, and a write answers the etag get sees.
pub async fn every_write_path(cx: &Ctx) -> Outcome {
    for path in paths::writes(cx) {
        write_path(cx, path).await?;
    }
    for path in paths::removes(cx) {
        remove_path(cx, path).await?;
    }
    Ok(())
}

async fn write_path(cx: &Ctx, path: paths::Write) -> Outcome {
    let bad = cx.target.quirks.malformed_etag.as_str();
    let (k, stale, current) = two_writes(cx, &format!("w-{path}")).await?;
    let refused: [(SetRequest, ErrorKind, &str); 5] = [
        (
            SetRequest::new(&k, "x").etag(stale.clone()),
            ErrorKind::ETagMismatch,
            "a stale etag",
        ),
        (
            SetRequest::new(&k, "x").etag(bad),
            malformed_kind(cx),
            "a malformed etag",
        ),
        (
            SetRequest::new(&k, "x").first_write(),
            ErrorKind::ETagMismatch,
            "first-write on an existing key",
        ),
        (
            SetRequest::new(&k, "x").first_write().etag(""),
            ErrorKind::ETagMismatch,
            "first-write with an empty etag on an existing key",
        ),
        (
            SetRequest::new(&k, "x").first_write().etag(stale.clone()),
            ErrorKind::ETagMismatch,
            "first-write and a stale etag",
        ),
    ];
    for (req, kind, how) in refused {
        let what = format!("{path} of {k:?} with {how}");
        fails(paths::write(&*cx.store, path, req).await, kind, &what)?;
        unchanged(cx, &k, &current, &what).await?;
    }
    let missing = cx.key(&format!("w-missing-{path}"));
    let req = SetRequest::new(&missing, "x").etag(current.clone());
    fails(
        paths::write(&*cx.store, path, req).await,
        ErrorKind::ETagMismatch,
        format!("{path} of missing {missing:?} with an etag"),
    )?;
    cx.read_none(&missing, "written with an etag while missing")
        .await?;
    // Each applied write makes the etag the next one is conditional on.
    let mut etag = current;
    let applied: [(&str, WithEtag); 3] = [
        ("the current etag", |r, e| r.etag(e)),
        ("first-write and the current etag", |r, e| {
            r.first_write().etag(e)
        }),
        ("no etag", |r, _| r),
    ];
    for (how, make) in applied {
        let what = format!("{path} of {k:?} with {how}");
        let req = make(SetRequest::new(&k, format!("by {how}")), etag.clone());
        etag = cx.etag_of(ok(paths::write(&*cx.store, path, req).await, &what)?, &what)?;
        let item = cx.read_eq(&k, format!("by {how}").as_bytes()).await?;
        ensure!(
            item.etag.as_ref() == Some(&etag),
            "{what} returned etag {etag} but get returns {:?}",
            item.etag
        );
    }
    let what = format!("{path} of {missing:?} with first-write on a missing key");
    let req = SetRequest::new(&missing, "by first-write").first_write();
    let e = cx.etag_of(ok(paths::write(&*cx.store, path, req).await, &what)?, &what)?;
    let item = cx.read_eq(&missing, b"by first-write").await?;
    ensure!(
        item.etag.as_ref() == Some(&e),
        "{what} returned etag {e} but get returns {:?}",
        item.etag
    );
    Ok(())
}

/// Makes a request conditional on an etag, one way or another.
type WithEtag = fn(SetRequest, ETag) -> SetRequest;

async fn remove_path(cx: &Ctx, path: paths::Remove) -> Outcome {
    let bad = cx.target.quirks.malformed_etag.as_str();
    let (k, stale, current) = two_writes(cx, &format!("r-{path}")).await?;
    let refused = [
        (
            DeleteRequest::new(&k).etag(stale),
            ErrorKind::ETagMismatch,
            "a stale etag",
        ),
        (
            DeleteRequest::new(&k).etag(bad),
            malformed_kind(cx),
            "a malformed etag",
        ),
        (
            DeleteRequest::new(&k).first_write(),
            ErrorKind::ETagMismatch,
            "first-write on an existing key",
        ),
    ];
    for (req, kind, how) in refused {
        let what = format!("{path} of {k:?} with {how}");
        fails(paths::remove(&*cx.store, path, req).await, kind, &what)?;
        unchanged(cx, &k, &current, &what).await?;
    }
    let missing = cx.key(&format!("r-missing-{path}"));
    let req = DeleteRequest::new(&missing).etag(current.clone());
    fails(
        paths::remove(&*cx.store, path, req).await,
        ErrorKind::ETagMismatch,
        format!("{path} of missing {missing:?} with an etag"),
    )?;
    let applied = [
        (
            DeleteRequest::new(&missing).first_write(),
            "first-write on a missing key",
        ),
        (DeleteRequest::new(&k).etag(current), "the current etag"),
    ];
    for (req, how) in applied {
        let key = req.key.clone();
        ok(
            paths::remove(&*cx.store, path, req).await,
            format!("{path} of {key:?} with {how}"),
        )?;
        cx.read_none(&key, &format!("removed by {path} with {how}"))
            .await?;
    }
    cx.put(&k, "again").await?;
    ok(
        paths::remove(&*cx.store, path, DeleteRequest::new(&k)).await,
        format!("{path} of {k:?} without etag"),
    )?;
    cx.read_none(&k, &format!("removed by {path} without etag"))
        .await
}

/// An etag is never issued twice for a key, not even after the key is
/// deleted and written again: each old etag stays refused.
pub async fn never_reused_after_delete(cx: &Ctx) -> Outcome {
    let k = cx.key("k");
    let mut seen: Vec<ETag> = Vec::new();
    for life in 0..4 {
        for write in 0..2 {
            let e = cx.etag_of(
                cx.put(&k, format!("life {life} write {write}")).await?,
                "set",
            )?;
            ensure!(
                !seen.contains(&e),
                "set of {k:?} (life {life}, after {life} deletes) returned etag {e}, issued before"
            );
            seen.push(e);
        }
        ok(cx.store.delete(DeleteRequest::new(&k)).await, "delete")?;
    }
    let last = cx.etag_of(cx.put(&k, "last").await?, "set")?;
    ensure!(
        !seen.contains(&last),
        "set of {k:?} after 4 deletes returned etag {last}, issued before"
    );
    for old in &seen {
        fails(
            cx.store
                .set(SetRequest::new(&k, "stale").etag(old.clone()))
                .await,
            ErrorKind::ETagMismatch,
            format!("set of {k:?} with etag {old} of an earlier life of the key"),
        )?;
    }
    cx.read_eq(&k, b"last").await.map(drop)
}

/// Only the exact text a store issued matches: the same etag with a leading
/// zero, in other case or with white space around it is refused (as stale
/// or malformed) and changes nothing.
pub async fn other_spellings_refused(cx: &Ctx) -> Outcome {
    let k = cx.key("k");
    let e = cx.etag_of(cx.put(&k, "v").await?, "set")?;
    let text = e.as_str().to_owned();
    let mut spellings = vec![
        format!("0{text}"),
        format!("00{text}"),
        format!(" {text}"),
        format!("{text} "),
        format!("{text}\n"),
        format!("\"{text}\""),
        format!("W/\"{text}\""),
    ];
    for other in [text.to_uppercase(), text.to_lowercase()] {
        if other != text {
            spellings.push(other);
        }
    }
    for other in spellings {
        let r = cx
            .store
            .set(SetRequest::new(&k, "changed").etag(other.as_str()))
            .await;
        match &r {
            Err(err) if matches!(err.kind(), ErrorKind::ETagMismatch | ErrorKind::ETagInvalid) => {}
            _ => {
                return Err(fail(format!(
                    "set of {k:?} with etag {other:?}, another spelling of the current {text:?}: \
                     expected ETagMismatch or ETagInvalid, got {r:?}"
                )));
            }
        }
        let item = cx.read_eq(&k, b"v").await?;
        ensure!(
            item.etag.as_ref() == Some(&e),
            "a refused etag spelling changed the etag"
        );
    }
    Ok(())
}
