//! The actor store (checklist 69 to 73): keys `app||type||id||key`, every
//! call with `partitionKey = app||type||id`, one transaction per turn.

use std::sync::Arc;

use statestore_core::{
    DeleteRequest, DeleteWithPrefixRequest, ErrorKind, Feature, GetRequest, Item, SetRequest,
    Store, TransactRequest, TransactionOp,
};

use crate::context::{Ctx, Failure, Outcome, applied, fail, fails, ok, show, until_applied};
use crate::ensure;

/// An actor of this case: its partition key and key layout.
struct Actor {
    partition: String,
}

impl Actor {
    fn new(cx: &Ctx, id: &str) -> Self {
        Actor {
            partition: format!("{}app||Account||{id}", cx.prefix()),
        }
    }

    fn key(&self, cx: &Ctx, state: &str) -> String {
        let key = format!("{}||{state}", self.partition);
        cx.key(&key[cx.prefix().len()..])
    }

    fn turn(&self, ops: Vec<TransactionOp>) -> TransactRequest {
        TransactRequest::new(ops).metadata("partitionKey", &self.partition)
    }

    fn get(&self, key: &str) -> GetRequest {
        GetRequest::new(key).metadata("partitionKey", &self.partition)
    }
}

async fn read(store: &dyn Store, actor: &Actor, key: &str) -> Result<Option<Item>, Failure> {
    ok(
        store.get(actor.get(key)).await,
        format!("get {key:?} with partitionKey"),
    )
}

/// 69: actor keys with `partitionKey` work for get, bulk_get and transactions.
pub async fn keys_and_partition_key(cx: &Ctx) -> Outcome {
    let a = Actor::new(cx, "1");
    let (balance, owner) = (a.key(cx, "balance"), a.key(cx, "owner"));
    let ops = vec![
        SetRequest::new(&balance, "10").into(),
        SetRequest::new(&owner, "ada").into(),
    ];
    ok(cx.store.transact(a.turn(ops)).await, "actor turn")?;
    let got = read(&*cx.store, &a, &balance).await?.map(|i| i.value);
    ensure!(
        got.as_deref() == Some(&b"10"[..]),
        "get {balance:?}: expected \"10\", got {got:?}"
    );
    let got = ok(
        cx.store
            .bulk_get(vec![a.get(&balance), a.get(&owner)])
            .await,
        "bulk_get with partitionKey",
    )?;
    let values: Vec<Option<Vec<u8>>> = got
        .iter()
        .map(|e| {
            e.result
                .as_ref()
                .ok()
                .and_then(|i| i.as_ref())
                .map(|i| i.value.to_vec())
        })
        .collect();
    ensure!(
        values == [Some(b"10".to_vec()), Some(b"ada".to_vec())],
        "bulk_get of the actor's keys: got {values:?}"
    );
    Ok(())
}

/// 70: a turn commits as one transaction; a turn with a stale etag changes nothing.
pub async fn turn_is_atomic(cx: &Ctx) -> Outcome {
    let a = Actor::new(cx, "1");
    let (balance, history, pending) = (
        a.key(cx, "balance"),
        a.key(cx, "history"),
        a.key(cx, "pending"),
    );
    let e_balance = cx.etag_of(cx.put(&balance, "10").await?, "set")?;
    let e_history = cx.etag_of(cx.put(&history, "h1").await?, "set")?;
    let e_pending = cx.etag_of(cx.put(&pending, "p").await?, "set")?;
    let ops = vec![
        SetRequest::new(&balance, "20")
            .etag(e_balance.clone())
            .into(),
        DeleteRequest::new(&pending).etag(e_pending).into(),
        SetRequest::new(&history, "h2").etag(e_history).into(),
    ];
    let etags = ok(
        cx.store.transact(a.turn(ops)).await,
        "actor turn with current etags",
    )?;
    let new_history = etags.get(2).cloned().flatten();
    let ops = vec![
        SetRequest::new(&history, "h3").etag_opt(new_history).into(),
        SetRequest::new(&balance, "30").etag(e_balance).into(),
    ];
    fails(
        cx.store.transact(a.turn(ops)).await,
        ErrorKind::ETagMismatch,
        "actor turn with one stale etag",
    )?;
    cx.read_eq(&balance, b"20").await?;
    cx.read_eq(&history, b"h2").await?;
    cx.read_none(&pending, "deleted by the first turn").await
}

/// 71: two actors' state stays separate; removing one actor's state leaves
/// the other's untouched.
pub async fn isolation_and_removal(cx: &Ctx) -> Outcome {
    let (a, b) = (Actor::new(cx, "1"), Actor::new(cx, "2"));
    let names = ["balance", "owner", "history"];
    for actor in [&a, &b] {
        let ops = names
            .iter()
            .map(|n| SetRequest::new(actor.key(cx, n), *n).into())
            .collect();
        ok(cx.store.transact(actor.turn(ops)).await, "actor turn")?;
    }
    if cx.has(Feature::DeleteWithPrefix) {
        let n = ok(
            cx.store
                .delete_with_prefix(DeleteWithPrefixRequest::new(&a.partition))
                .await,
            "remove the actor's state (delete_with_prefix)",
        )?;
        ensure!(
            n == 3,
            "removing actor 1's state deleted {n} keys, expected 3"
        );
    } else {
        let ops = names
            .iter()
            .map(|n| DeleteRequest::new(a.key(cx, n)).into())
            .collect();
        ok(
            cx.store.transact(a.turn(ops)).await,
            "remove the actor's state (transaction)",
        )?;
    }
    for n in names {
        cx.read_none(&a.key(cx, n), "actor 1's state was removed")
            .await?;
        cx.read_eq(&b.key(cx, n), n.as_bytes()).await?;
    }
    Ok(())
}

/// 72: opaque binary blobs (serialized messages) round-trip exactly.
pub async fn binary_blobs(cx: &Ctx) -> Outcome {
    let a = Actor::new(cx, "1");
    let mut rng = fastrand::Rng::with_seed(72);
    let blob: Vec<u8> = (0..64 * 1024)
        .map(|i| if i % 97 == 0 { 0 } else { rng.u8(..) })
        .collect();
    let (k1, k2) = (a.key(cx, "message"), a.key(cx, "edges"));
    let ops = vec![
        SetRequest::new(&k1, blob.clone()).into(),
        SetRequest::new(&k2, vec![0u8, 0xff, 0, 0xff]).into(),
    ];
    ok(
        cx.store.transact(a.turn(ops)).await,
        "actor turn with binary values",
    )?;
    let got = read(&*cx.store, &a, &k1).await?.map(|i| i.value);
    ensure!(
        got.as_deref() == Some(&blob[..]),
        "64 KiB blob did not round-trip ({:?} bytes back)",
        got.map(|g| g.len())
    );
    let got = read(&*cx.store, &a, &k2).await?.map(|i| i.value);
    ensure!(
        got.as_deref() == Some(&[0u8, 0xff, 0, 0xff][..]),
        "blob 00 ff 00 ff came back as {:?}",
        got.map(|g| show(&g))
    );
    Ok(())
}

/// 73: concurrent turns on different actors do not interfere; concurrent
/// turns on one actor with etags never lose an update.
pub async fn concurrent_turns(cx: &Ctx) -> Outcome {
    let (workers, turns_each) = cx.race_size();
    let mut tasks = Vec::new();
    let mut expected = Vec::new();
    for i in 0..workers {
        let actor = Actor::new(cx, &format!("a{i}"));
        let key = actor.key(cx, "count");
        expected.push((key.clone(), turns_each));
        let store = cx.store.clone();
        tasks.push(tokio::spawn(async move {
            turns(store, actor, key, turns_each).await
        }));
    }
    let hot = Actor::new(cx, "hot");
    let hot_key = hot.key(cx, "count");
    expected.push((hot_key.clone(), workers * turns_each));
    for _ in 0..workers {
        let actor = Actor {
            partition: hot.partition.clone(),
        };
        let (store, key) = (cx.store.clone(), hot_key.clone());
        tasks.push(tokio::spawn(async move {
            turns(store, actor, key, turns_each).await
        }));
    }
    for t in tasks {
        t.await
            .map_err(|e| fail(format!("an actor task panicked: {e}")))??;
    }
    for (key, want) in expected {
        let item = cx.read_some(&key).await?;
        let n: usize = std::str::from_utf8(&item.value)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(usize::MAX);
        ensure!(
            n == want,
            "actor counter {key:?}: expected {want} turns, found {n}"
        );
    }
    Ok(())
}

async fn turns(store: Arc<dyn Store>, actor: Actor, key: String, times: usize) -> Outcome {
    let actor = Arc::new(actor);
    until_applied(
        &format!("turns of actor {:?}", actor.partition),
        times,
        || {
            let (store, actor, key) = (store.clone(), actor.clone(), key.clone());
            async move {
                let (n, etag) = match read(&*store, &actor, &key).await? {
                    Some(i) => (
                        std::str::from_utf8(&i.value)
                            .ok()
                            .and_then(|s| s.parse::<usize>().ok())
                            .unwrap_or(0),
                        i.etag,
                    ),
                    None => (0, None),
                };
                let op = SetRequest::new(&key, (n + 1).to_string())
                    .etag_opt(etag)
                    .first_write();
                applied(
                    store.transact(actor.turn(vec![op.into()])).await,
                    format!("actor turn on {key:?}"),
                )
            }
        },
    )
    .await
}
