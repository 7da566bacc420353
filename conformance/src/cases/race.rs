//! Races (docs/conformance.md, *Races*): every conditional operation under
//! contention, so that a check and a write done as two steps (read the etag,
//! then write) fails on every run, not on lucky ones.
//!
//! Two shapes. A *stampede*: W tasks hold the same etag (or all find the key
//! absent), wait until all are ready, and fire the same conditional
//! operation at once; exactly one may apply, the others get `ETagMismatch`. It runs R
//! rounds, each from a fresh etag. An *increment loop*: W tasks each apply M
//! read-modify-write increments under etags, retrying lost races; the final
//! values must count every applied increment, so a lost update shows in
//! them. W and R (or M) are the race settings.

use std::future::Future;
use std::sync::Arc;

use statestore_core::{
    DeleteRequest, ETag, GetRequest, Item, SetRequest, Store, TransactRequest, TransactionOp,
};
use tokio::sync::{Notify, Semaphore};

use super::paths;
use crate::context::{Ctx, Failure, Outcome, applied, fail, ok, until_applied};
use crate::ensure;

/// Runs one stampede round: `workers` tasks, released together once every
/// one is waiting, each running `attempt(worker)`; returns the workers
/// whose attempt applied. No task runs ahead of the others: all are woken
/// at once by a coordinator, so they all reach the store before any of them
/// has finished.
async fn stampede<F, Fut>(workers: usize, attempt: F) -> Result<Vec<usize>, Failure>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<bool, Failure>> + Send + 'static,
{
    let waiting = Arc::new(Semaphore::new(0));
    let go = Arc::new(Notify::new());
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let (waiting, go, attempt) = (waiting.clone(), go.clone(), attempt(w));
            tokio::spawn(async move {
                let released = go.notified();
                tokio::pin!(released);
                released.as_mut().enable();
                waiting.add_permits(1);
                released.await;
                attempt.await
            })
        })
        .collect();
    let all = u32::try_from(workers).unwrap_or(u32::MAX);
    waiting
        .acquire_many(all)
        .await
        .map_err(|e| fail(format!("the racers' barrier broke: {e}")))?
        .forget();
    go.notify_waiters();
    let mut winners = Vec::new();
    for (w, t) in tasks.into_iter().enumerate() {
        let won = t
            .await
            .map_err(|e| fail(format!("racer {w} panicked: {e}")))??;
        if won {
            winners.push(w);
        }
    }
    Ok(winners)
}

/// The one winner of a round, or a failure naming the operation.
fn one_winner(
    what: &str,
    round: usize,
    winners: &[usize],
    workers: usize,
) -> Result<usize, Failure> {
    match winners {
        [w] => Ok(*w),
        _ => Err(fail(format!(
            "round {round}: {workers} concurrent {what}: expected exactly one to apply, \
             {} did {winners:?} (the condition must be checked and applied in one step on the server)",
            winners.len()
        ))),
    }
}

/// The etag of `key` now.
async fn etag(cx: &Ctx, key: &str) -> Result<ETag, Failure> {
    let item = cx.read_some(key).await?;
    cx.etag_of(item.etag, &format!("get {key:?}"))
}

/// R stampedes on one key: before each it is written afresh, then every
/// racer holds its etag and runs `attempt(store, key, etag, value, racer)`
/// (`value` is the racer's own); exactly one may apply, and the key must
/// then hold the winner's value, or nothing where the racers `remove` it.
async fn rounds<A, Fut>(cx: &Ctx, what: &str, remove: bool, attempt: A) -> Outcome
where
    A: Fn(Arc<dyn Store>, String, ETag, String, usize) -> Fut,
    Fut: Future<Output = Result<bool, Failure>> + Send + 'static,
{
    let (workers, rounds) = cx.race_size();
    for round in 0..rounds {
        // A key of its own each round: a store's behaviour may depend on
        // the key (its shard, its hash).
        let k = cx.key(&format!("contested{round}"));
        cx.put(&k, format!("round {round}")).await?;
        let e = etag(cx, &k).await?;
        let winners = stampede(workers, |w| {
            attempt(
                cx.store.clone(),
                k.clone(),
                e.clone(),
                format!("r{round}w{w}"),
                w,
            )
        })
        .await?;
        let w = one_winner(what, round, &winners, workers)?;
        if remove {
            cx.read_none(&k, "removed by the round's winner").await?;
        } else {
            cx.read_eq(&k, format!("r{round}w{w}").as_bytes()).await?;
        }
    }
    Ok(())
}

/// Concurrent sets of one key with the same etag: one applies per round.
pub async fn conditional_set(cx: &Ctx) -> Outcome {
    rounds(
        cx,
        "sets with the same etag",
        false,
        |store, k, e, v, _| async move {
            let req = SetRequest::new(&k, v).etag(e);
            applied(store.set(req).await, format!("set {k:?} with an etag"))
        },
    )
    .await
}

/// Concurrent deletes of one key with the same etag: one applies per round.
pub async fn conditional_delete(cx: &Ctx) -> Outcome {
    rounds(
        cx,
        "deletes with the same etag",
        true,
        |store, k, e, _, _| async move {
            let req = DeleteRequest::new(&k).etag(e);
            applied(
                store.delete(req).await,
                format!("delete {k:?} with an etag"),
            )
        },
    )
    .await
}

/// Concurrent bulk_sets carrying one key with the same etag (and a key of
/// each racer's own): the contested key applies once per round.
pub async fn conditional_bulk_set(cx: &Ctx) -> Outcome {
    let own: Vec<String> = (0..cx.race_size().0)
        .map(|w| cx.key(&format!("own{w}")))
        .collect();
    rounds(
        cx,
        "bulk_sets with the same etag",
        false,
        |store, k, e, v, w| {
            let mine = own[w].clone();
            async move {
                let what = format!("bulk_set of {k:?} with an etag");
                let reqs = vec![SetRequest::new(&k, v).etag(e), SetRequest::new(&mine, "x")];
                let mut entries = ok(store.bulk_set(reqs).await, &what)?.into_iter();
                let (Some(contested), Some(uncontested)) = (entries.next(), entries.next()) else {
                    return Err(fail(format!("{what}: expected one entry per request")));
                };
                if let Err(e) = uncontested.result {
                    return Err(fail(format!("{what}: the uncontested key failed: {e:#}")));
                }
                applied(contested.result, what)
            }
        },
    )
    .await
}

/// Concurrent bulk_deletes of one key with the same etag: one applies per
/// round.
pub async fn conditional_bulk_delete(cx: &Ctx) -> Outcome {
    rounds(
        cx,
        "bulk_deletes with the same etag",
        true,
        |store, k, e, _, _| async move {
            let reqs = vec![DeleteRequest::new(&k).etag(e)];
            let what = format!("bulk_delete of {k:?} with an etag");
            applied(
                paths::only("bulk_delete", store.bulk_delete(reqs).await),
                what,
            )
        },
    )
    .await
}

/// Concurrent first-writes of one missing key, through every write path
/// (set, bulk_set, a transaction): one inserts per round.
pub async fn first_write_insert(cx: &Ctx) -> Outcome {
    let (workers, rounds) = cx.race_size();
    for path in paths::writes(cx) {
        for round in 0..rounds {
            let k = cx.key(&format!("contested {path} {round}"));
            let winners = stampede(workers, |w| {
                let (store, k) = (cx.store.clone(), k.clone());
                async move {
                    let req = SetRequest::new(&k, format!("w{w}")).first_write();
                    applied(
                        paths::write(&*store, path, req).await,
                        format!("first-write {path} of {k:?}"),
                    )
                }
            })
            .await?;
            let what = format!("first-writes of a missing key through {path}");
            let w = one_winner(&what, round, &winners, workers)?;
            cx.read_eq(&k, format!("w{w}").as_bytes()).await?;
        }
    }
    Ok(())
}

/// Concurrent transactions writing two keys under the same etags: one
/// applies per round, whole.
pub async fn transaction_one_winner(cx: &Ctx) -> Outcome {
    let (workers, rounds) = cx.race_size();
    let (x, y) = (cx.key("x"), cx.key("y"));
    cx.put(&x, "start").await?;
    cx.put(&y, "start").await?;
    for round in 0..rounds {
        let (ex, ey) = (etag(cx, &x).await?, etag(cx, &y).await?);
        let winners = stampede(workers, |w| {
            let (store, x, y) = (cx.store.clone(), x.clone(), y.clone());
            let (ex, ey) = (ex.clone(), ey.clone());
            async move {
                let v = format!("r{round}w{w}");
                let ops: Vec<TransactionOp> = vec![
                    SetRequest::new(&x, v.clone()).etag(ex).into(),
                    SetRequest::new(&y, v).etag(ey).into(),
                ];
                applied(
                    store.transact(TransactRequest::new(ops)).await,
                    "transaction with etags",
                )
            }
        })
        .await?;
        let w = one_winner("transactions with the same etags", round, &winners, workers)?;
        let want = format!("r{round}w{w}");
        cx.read_eq(&x, want.as_bytes()).await?;
        cx.read_eq(&y, want.as_bytes()).await?;
    }
    Ok(())
}

/// The number a counter holds (0 when absent or not a number).
fn count(item: &Option<Item>) -> u64 {
    item.as_ref()
        .and_then(|i| std::str::from_utf8(&i.value).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Concurrent get-increment-set loops under etags lose no update.
pub async fn set_increments(cx: &Ctx) -> Outcome {
    let (workers, rounds) = cx.race_size();
    let k = cx.key("counter");
    cx.put(&k, "0").await?;
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (store, key) = (cx.store.clone(), k.clone());
            tokio::spawn(async move { increment(store, key, rounds).await })
        })
        .collect();
    for t in tasks {
        t.await
            .map_err(|e| fail(format!("a worker panicked: {e}")))??;
    }
    let n = count(&cx.read(&k).await?);
    ensure!(
        n == (workers * rounds) as u64,
        "{workers} workers x {rounds} etag-guarded increments: expected {}, found {n} (lost updates)",
        workers * rounds
    );
    Ok(())
}

async fn increment(store: Arc<dyn Store>, key: String, times: usize) -> Outcome {
    until_applied(&format!("increment of {key:?}"), times, || {
        let (store, key) = (store.clone(), key.clone());
        async move {
            let item = ok(store.get(GetRequest::new(&key)).await, "get")?;
            let etag = item.as_ref().and_then(|i| i.etag.clone());
            let req = SetRequest::new(&key, (count(&item) + 1).to_string()).etag_opt(etag);
            applied(store.set(req).await, format!("set {key:?} with etag"))
        }
    })
    .await
}

/// Concurrent transactions each incrementing two counters under etags lose
/// no update: both counters end at the number of applied transactions.
pub async fn transaction_increments(cx: &Ctx) -> Outcome {
    let (workers, rounds) = cx.race_size();
    let (x, y) = (cx.key("x"), cx.key("y"));
    cx.put(&x, "0").await?;
    cx.put(&y, "0").await?;
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (store, x, y) = (cx.store.clone(), x.clone(), y.clone());
            tokio::spawn(async move { increment_both(store, x, y, rounds).await })
        })
        .collect();
    for t in tasks {
        t.await
            .map_err(|e| fail(format!("a worker panicked: {e}")))??;
    }
    let (vx, vy) = (count(&cx.read(&x).await?), count(&cx.read(&y).await?));
    let want = (workers * rounds) as u64;
    ensure!(
        vx == want && vy == want,
        "{workers} workers x {rounds} transactions incrementing x and y under etags: \
         expected x = y = {want}, found x = {vx}, y = {vy} (lost updates)"
    );
    Ok(())
}

async fn increment_both(store: Arc<dyn Store>, x: String, y: String, times: usize) -> Outcome {
    until_applied("transaction incrementing x and y", times, || {
        let (store, x, y) = (store.clone(), x.clone(), y.clone());
        async move {
            let gx = ok(store.get(GetRequest::new(&x)).await, "get x")?;
            let gy = ok(store.get(GetRequest::new(&y)).await, "get y")?;
            let ops: Vec<TransactionOp> = vec![
                SetRequest::new(&x, (count(&gx) + 1).to_string())
                    .etag_opt(gx.as_ref().and_then(|i| i.etag.clone()))
                    .into(),
                SetRequest::new(&y, (count(&gy) + 1).to_string())
                    .etag_opt(gy.as_ref().and_then(|i| i.etag.clone()))
                    .into(),
            ];
            applied(
                store.transact(TransactRequest::new(ops)).await,
                "transaction incrementing x and y",
            )
        }
    })
    .await
}
