//! The actor store (docs/conformance.md, *The actor store*), driven through
//! the actor state API (`statestore_runtime::actor`) as an actor runtime
//! drives it: keys
//! `app||type||id||key`, every call with `partitionKey = app||type||id`,
//! one transaction per turn, each written key conditional on what the turn
//! read.
//!
//! The API runs over a recording wrapper of the store under test
//! ([`Recorder`]), so a case
//! checks both what the store answers and what it was asked (one
//! transaction per turn, the partition key on every call). Reads and
//! writes through the store itself, at the Dapr keys, check that the layout
//! is exactly Dapr's both ways.
//!
//! The app id is the case's namespace (`<run><case>`, the part of the
//! case's key prefix before its first `||`), so every actor key is
//! `<run><case>||<type>||<id>||<key>`: inside the run's keys, apart from
//! the case's plain keys (`<run><case>||conformance||case||...`). Each case
//! remembers the Dapr keys it may write and deletes them when it ends,
//! whatever its outcome.

use std::collections::BTreeSet;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use statestore_core::check::{PARTITION_KEY, SEPARATOR};
use statestore_core::{
    Bytes, DeleteRequest, ErrorKind, Feature, GetRequest, Operation, Result, SetRequest, Store,
};

use crate::context::{Ctx, Failure, Outcome, applied, fail, fails, ok, show, until_applied};
use crate::ensure;
use crate::recording::{Recorder, bulk_get_call, entry, get_call, transact_call};
use statestore_runtime::actor::{ActorState, ActorStateStore};

/// The actor type of most actors here.
const ACCOUNT: &str = "Account";

/// Actor keys with `partitionKey` work for get, bulk_get and a turn's
/// transaction; the stored keys are exactly Dapr's, both ways; a turn reads
/// its own staged writes, which the store does not see until the commit.
pub async fn keys_and_partition_key(cx: &Ctx) -> Outcome {
    let env = Actors::new(cx)?;
    env.finish(layout(&env)).await
}

async fn layout(env: &Actors) -> Outcome {
    let names = ["balance", "owner", "nickname", "missing"];
    let partition = env.partition(ACCOUNT, "1");
    let key = |name: &str| env.dapr_key(ACCOUNT, "1", name);
    let mut a = env.actor(ACCOUNT, "1", &names)?;
    ensure!(
        a.partition() == partition,
        "the actor's partition key is {:?}, expected {partition:?}",
        a.partition()
    );
    let stored = ok(a.stored_key("balance"), "stored_key(\"balance\")")?;
    ensure!(
        stored == key("balance"),
        "the stored key of \"balance\" is {stored:?}, expected Dapr's {:?}",
        key("balance")
    );

    // A turn: a read, staged writes it reads back, one transaction.
    env.forget_calls();
    let got = ok(
        a.get("balance").await,
        "actor get \"balance\" (never written)",
    )?;
    ensure!(
        got.is_none(),
        "actor get \"balance\" (never written): expected no value, got {}",
        shown(&got)
    );
    env.expect_calls(
        "actor get \"balance\"",
        &[get_call(&partition, &key("balance"))],
    )?;
    ok(a.set("balance", "10"), "stage balance = 10")?;
    ok(a.set("owner", "ada"), "stage owner = ada")?;
    let got = ok(a.get("balance").await, "actor get \"balance\" after set")?;
    ensure!(
        got.as_deref() == Some(&b"10"[..]),
        "read-your-writes: actor get \"balance\" after staging \"10\" got {}",
        shown(&got)
    );
    env.raw_eq(ACCOUNT, "1", "balance", None, "staged, not committed")
        .await?;
    env.forget_calls();
    ok(
        a.commit().await,
        "commit of a turn setting balance and owner",
    )?;
    env.expect_calls(
        "commit of a turn setting balance and owner",
        &[transact_call(
            &partition,
            &[("set", key("balance")), ("set", key("owner"))],
        )],
    )?;
    // What the API wrote is at Dapr's keys in the store.
    env.raw_eq(ACCOUNT, "1", "balance", Some(b"10"), "written by a turn")
        .await?;
    env.raw_eq(ACCOUNT, "1", "owner", Some(b"ada"), "written by a turn")
        .await?;

    // What Dapr (here: the store itself) wrote at a Dapr key, the API reads.
    let raw = SetRequest::new(key("nickname"), "ace").metadata(PARTITION_KEY, &partition);
    ok(
        env.store.set(raw).await,
        format!("set {:?} with partitionKey", key("nickname")),
    )?;
    let mut b = env.actor(ACCOUNT, "1", &names)?;
    env.forget_calls();
    let got = ok(
        b.bulk_get(&["balance", "owner", "nickname", "missing"])
            .await,
        "actor bulk_get of four keys",
    )?;
    let want: [Option<&[u8]>; 4] = [Some(b"10"), Some(b"ada"), Some(b"ace"), None];
    ensure!(
        got.len() == want.len() && got.iter().zip(want).all(|(g, w)| g.as_deref() == w),
        "actor bulk_get [balance, owner, nickname, missing]: expected [\"10\", \"ada\", \"ace\", none], got [{}]",
        got.iter().map(shown).collect::<Vec<_>>().join(", ")
    );
    env.expect_calls(
        "actor bulk_get of four keys",
        &[bulk_get_call(
            &partition,
            &names.iter().map(|n| key(n)).collect::<Vec<_>>(),
        )],
    )?;
    let mut c = env.actor(ACCOUNT, "1", &names)?;
    let got = ok(c.get("nickname").await, "actor get \"nickname\"")?;
    ensure!(
        got.as_deref() == Some(&b"ace"[..]),
        "actor get \"nickname\" written by hand at {:?}: expected \"ace\", got {}",
        key("nickname"),
        shown(&got)
    );
    env.expect_calls(
        "actor get \"nickname\"",
        &[get_call(&partition, &key("nickname"))],
    )?;
    // Its etag, read through the API, guards the turn's write.
    ok(c.set("nickname", "ada"), "stage nickname = ada")?;
    ok(
        c.commit().await,
        "commit of a turn overwriting a value written by hand, with its etag",
    )?;
    env.raw_eq(
        ACCOUNT,
        "1",
        "nickname",
        Some(b"ada"),
        "overwritten by a turn",
    )
    .await
}

/// A turn of several upserts and deletes commits as one transaction; a
/// turn whose read went stale (another activation of the same actor wrote
/// in between) changes nothing, fails with `ETagMismatch`, and succeeds
/// when run again.
pub async fn turn_is_atomic(cx: &Ctx) -> Outcome {
    let env = Actors::new(cx)?;
    env.finish(atomic(&env)).await
}

async fn atomic(env: &Actors) -> Outcome {
    let names = [
        "balance", "history", "pending", "audit", "ghost", "note", "fresh",
    ];
    let partition = env.partition(ACCOUNT, "1");
    let key = |name: &str| env.dapr_key(ACCOUNT, "1", name);
    let mut first = env.actor(ACCOUNT, "1", &names)?;
    for (n, v) in [("balance", "10"), ("history", "h1"), ("pending", "p")] {
        ok(first.set(n, v), format!("stage {n}"))?;
    }
    ok(first.commit().await, "commit of the first turn")?;

    // A second activation of the same actor reads before the first writes.
    let mut second = env.actor(ACCOUNT, "1", &names)?;
    let got = ok(second.get("balance").await, "actor get \"balance\"")?;
    ensure!(
        got.as_deref() == Some(&b"10"[..]),
        "actor get \"balance\" in a new activation: expected \"10\", got {}",
        shown(&got)
    );
    ensure!(
        !ok(second.contains("fresh").await, "actor contains \"fresh\"")?,
        "actor contains \"fresh\" (never written): got true"
    );

    // Several upserts and deletes, one transaction.
    ok(first.get("pending").await, "actor get \"pending\"")?;
    ok(first.get("audit").await, "actor get \"audit\"")?;
    ok(first.set("balance", "20"), "stage balance")?;
    ok(first.remove("pending"), "stage removal of pending")?;
    ok(first.set("history", "h2"), "stage history")?;
    ok(first.set("audit", "a1"), "stage audit")?;
    ok(first.remove("ghost"), "stage removal of ghost (missing)")?;
    env.forget_calls();
    ok(
        first.commit().await,
        "commit of a turn of three upserts and two deletes",
    )?;
    env.expect_calls(
        "commit of a turn of three upserts and two deletes",
        &[transact_call(
            &partition,
            &[
                ("set", key("balance")),
                ("delete", key("pending")),
                ("set", key("history")),
                ("set", key("audit")),
                ("delete", key("ghost")),
            ],
        )],
    )?;
    env.raw_eq(ACCOUNT, "1", "balance", Some(b"20"), "the turn's upsert")
        .await?;
    env.raw_eq(ACCOUNT, "1", "history", Some(b"h2"), "the turn's upsert")
        .await?;
    env.raw_eq(ACCOUNT, "1", "audit", Some(b"a1"), "the turn's upsert")
        .await?;
    env.raw_eq(ACCOUNT, "1", "pending", None, "the turn's delete")
        .await?;

    // The second activation's turn read a balance that is now stale. Its
    // first operation (an unread key) would apply on its own, so a store
    // that applies a transaction partly leaves it behind.
    ok(second.set("note", "lost"), "stage note")?;
    ok(second.set("balance", "30"), "stage balance")?;
    ok(second.remove("history"), "stage removal of history")?;
    let e = fails(
        second.commit().await,
        ErrorKind::ETagMismatch,
        "commit of a turn whose read of \"balance\" went stale",
    )?;
    ensure!(
        e.operation() == Some(Operation::Transact) && e.key() == Some("balance"),
        "the stale turn's error names operation {:?} and key {:?}, expected transact and \"balance\" (the first failing operation): {e}",
        e.operation(),
        e.key()
    );
    ensure!(
        e.to_string().contains(&partition),
        "the stale turn's error does not name the actor {partition:?}: {e}"
    );
    env.raw_eq(ACCOUNT, "1", "note", None, "the stale turn's upsert")
        .await?;
    env.raw_eq(
        ACCOUNT,
        "1",
        "balance",
        Some(b"20"),
        "the stale turn's upsert",
    )
    .await?;
    env.raw_eq(
        ACCOUNT,
        "1",
        "history",
        Some(b"h2"),
        "the stale turn's delete",
    )
    .await?;

    // Run again, the turn reads afresh and applies.
    ensure!(
        !second.has_changes(),
        "an aborted turn still has staged changes"
    );
    let got = ok(second.get("balance").await, "actor get \"balance\" again")?;
    ensure!(
        got.as_deref() == Some(&b"20"[..]),
        "actor get \"balance\" after the aborted turn: expected \"20\", got {}",
        shown(&got)
    );
    ok(second.set("note", "kept"), "stage note")?;
    ok(second.set("balance", "30"), "stage balance")?;
    ok(
        second.commit().await,
        "commit of the turn run again after ETagMismatch",
    )?;
    env.raw_eq(ACCOUNT, "1", "balance", Some(b"30"), "the turn run again")
        .await?;
    env.raw_eq(ACCOUNT, "1", "note", Some(b"kept"), "the turn run again")
        .await?;

    // A key the turn read as absent is written only if still absent.
    let mut third = env.actor(ACCOUNT, "1", &names)?;
    ensure!(
        !ok(third.contains("fresh").await, "actor contains \"fresh\"")?,
        "actor contains \"fresh\" (never written): got true"
    );
    ok(first.set("fresh", "first"), "stage fresh")?;
    ok(first.commit().await, "commit of a turn creating \"fresh\"")?;
    ok(third.set("fresh", "third"), "stage fresh")?;
    fails(
        third.commit().await,
        ErrorKind::ETagMismatch,
        "commit of a turn that read \"fresh\" as absent before another turn created it",
    )?;
    env.raw_eq(
        ACCOUNT,
        "1",
        "fresh",
        Some(b"first"),
        "created by the turn that won",
    )
    .await
}

/// Two actors' state stays separate (other id, an id that extends it,
/// another type with the same id); removing one actor's state removes
/// exactly its keys and leaves the others untouched.
pub async fn isolation_and_removal(cx: &Ctx) -> Outcome {
    let env = Actors::new(cx)?;
    env.finish(isolation(cx, &env)).await
}

async fn isolation(cx: &Ctx, env: &Actors) -> Outcome {
    let names = ["balance", "owner", "history"];
    let actors = [
        (ACCOUNT, "1"),
        (ACCOUNT, "2"),
        (ACCOUNT, "10"),
        ("Wallet", "1"),
    ];
    let value = |ty: &str, id: &str, n: &str| format!("{ty}/{id}/{n}");
    for (ty, id) in actors {
        let mut a = env.actor(ty, id, &names)?;
        for n in names {
            ok(a.set(n, value(ty, id, n)), format!("stage {n}"))?;
        }
        ok(
            a.commit().await,
            format!("commit of a turn of actor {ty}/{id}"),
        )?;
    }
    for (ty, id) in actors {
        let mut a = env.actor(ty, id, &names)?;
        let got = ok(a.bulk_get(&names).await, "actor bulk_get")?;
        ensure!(
            got.len() == names.len(),
            "actor {ty}/{id} bulk_get of {} keys returned {} values",
            names.len(),
            got.len()
        );
        for (n, g) in names.iter().zip(&got) {
            let want = value(ty, id, n);
            ensure!(
                g.as_deref() == Some(want.as_bytes()),
                "actor {ty}/{id} bulk_get {n:?}: expected {want:?}, got {}",
                shown(g)
            );
        }
    }

    env.forget_calls();
    if cx.has(Feature::DeleteWithPrefix) {
        let n = ok(
            env.api.remove_all(ACCOUNT, "1").await,
            "remove_all of actor Account/1 (delete_with_prefix)",
        )?;
        ensure!(
            n == names.len() as u64,
            "remove_all of actor Account/1 reported {n} keys removed, expected {}",
            names.len()
        );
        let partition = env.partition(ACCOUNT, "1");
        env.expect_calls(
            "remove_all of actor Account/1",
            &[format!(
                "delete_with_prefix {}",
                entry(&partition, Some(&partition))
            )],
        )?;
        let n = ok(
            env.api.remove_all(ACCOUNT, "1").await,
            "remove_all of actor Account/1 again",
        )?;
        ensure!(
            n == 0,
            "remove_all of an actor without state reported {n} keys removed, expected 0"
        );
    } else {
        fails(
            env.api.remove_all(ACCOUNT, "1").await,
            ErrorKind::NotSupported,
            "remove_all on a store without DELETE_WITH_PREFIX",
        )?;
        let mut a = env.actor(ACCOUNT, "1", &names)?;
        for n in names {
            ok(a.remove(n), format!("stage removal of {n}"))?;
        }
        ok(a.commit().await, "commit of a turn removing every key")?;
    }

    let mut a = env.actor(ACCOUNT, "1", &names)?;
    let got = ok(
        a.bulk_get(&names).await,
        "actor bulk_get of a removed actor",
    )?;
    ensure!(
        got.iter().all(Option::is_none),
        "actor Account/1 after its state was removed: expected no values, got [{}]",
        got.iter().map(shown).collect::<Vec<_>>().join(", ")
    );
    for n in names {
        env.raw_eq(ACCOUNT, "1", n, None, "the actor's state was removed")
            .await?;
    }
    for &(ty, id) in &actors[1..] {
        for n in names {
            let want = value(ty, id, n);
            env.raw_eq(
                ty,
                id,
                n,
                Some(want.as_bytes()),
                "another actor's state was removed",
            )
            .await?;
        }
    }
    Ok(())
}

/// Opaque binary blobs (serialized messages) round-trip exactly
/// through a turn, and back through get, bulk_get and the store itself.
pub async fn binary_blobs(cx: &Ctx) -> Outcome {
    let env = Actors::new(cx)?;
    env.finish(blobs(&env)).await
}

async fn blobs(env: &Actors) -> Outcome {
    let names = ["message", "edges", "by-hand"];
    let mut rng = fastrand::Rng::with_seed(72);
    let blob: Vec<u8> = (0..64 * 1024)
        .map(|i| if i % 97 == 0 { 0 } else { rng.u8(..) })
        .collect();
    let edges = vec![0u8, 0xff, 0, 0xff];
    let mut a = env.actor(ACCOUNT, "1", &names)?;
    ok(a.set("message", blob.clone()), "stage a 64 KiB blob")?;
    ok(a.set("edges", edges.clone()), "stage 00 ff 00 ff")?;
    ok(a.commit().await, "commit of a turn of binary values")?;

    let mut b = env.actor(ACCOUNT, "1", &names)?;
    let got = ok(b.get("message").await, "actor get \"message\"")?;
    ensure!(
        got.as_deref() == Some(&blob[..]),
        "the 64 KiB blob with NULs did not round-trip: {} back",
        shown(&got)
    );
    let mut c = env.actor(ACCOUNT, "1", &names)?;
    let got = ok(c.bulk_get(&["edges", "message"]).await, "actor bulk_get")?;
    let (edges_back, blob_back) = match &got[..] {
        [e, b] => (e, b),
        _ => {
            return Err(fail(format!(
                "actor bulk_get of 2 keys returned {} values",
                got.len()
            )));
        }
    };
    ensure!(
        edges_back.as_deref() == Some(&edges[..]) && blob_back.as_deref() == Some(&blob[..]),
        "actor bulk_get of the blobs: expected 00 ff 00 ff and 64 KiB, got {} and {}",
        shown(edges_back),
        shown(blob_back)
    );
    env.raw_eq(
        ACCOUNT,
        "1",
        "message",
        Some(&blob),
        "a blob written by a turn",
    )
    .await?;
    env.raw_eq(
        ACCOUNT,
        "1",
        "edges",
        Some(&edges),
        "a blob written by a turn",
    )
    .await?;

    let reversed: Vec<u8> = blob.iter().rev().copied().collect();
    let partition = env.partition(ACCOUNT, "1");
    let raw = SetRequest::new(env.dapr_key(ACCOUNT, "1", "by-hand"), reversed.clone())
        .metadata(PARTITION_KEY, &partition);
    ok(env.store.set(raw).await, "set a blob at a Dapr key by hand")?;
    let got = ok(c.get("by-hand").await, "actor get \"by-hand\"")?;
    ensure!(
        got.as_deref() == Some(&reversed[..]),
        "a 64 KiB blob written at a Dapr key by hand came back through the API as {}",
        shown(&got)
    );
    Ok(())
}

/// Concurrent turns on different actors do not interfere; concurrent
/// turns on one actor (each task its own activation, a turn aborted by
/// `ETagMismatch` run again) never lose an update.
pub async fn concurrent_turns(cx: &Ctx) -> Outcome {
    let env = Actors::new(cx)?;
    env.finish(concurrent(cx, &env)).await
}

async fn concurrent(cx: &Ctx, env: &Actors) -> Outcome {
    let (workers, turns_each) = cx.race_size();
    let mut tasks = Vec::new();
    let mut expected = Vec::new();
    for i in 0..workers {
        let id = format!("a{i}");
        tasks.push(tokio::spawn(turns(
            env.unrecorded(ACCOUNT, &id, &["count"])?,
            turns_each,
        )));
        expected.push((id, turns_each));
    }
    for _ in 0..workers {
        tasks.push(tokio::spawn(turns(
            env.unrecorded(ACCOUNT, "hot", &["count"])?,
            turns_each,
        )));
    }
    expected.push(("hot".to_owned(), workers * turns_each));
    for t in tasks {
        t.await
            .map_err(|e| fail(format!("an actor task panicked: {e}")))??;
    }
    for (id, want) in expected {
        let mut a = env.unrecorded(ACCOUNT, &id, &["count"])?;
        let n: Option<u64> = ok(
            a.get_json("count").await,
            format!("actor get_json \"count\" of Account/{id}"),
        )?;
        ensure!(
            n == Some(want as u64),
            "actor Account/{id}: expected a count of {want} turns, found {n:?}"
        );
        let want = want.to_string();
        env.raw_eq(
            ACCOUNT,
            &id,
            "count",
            Some(want.as_bytes()),
            "the turns' count",
        )
        .await?;
    }
    Ok(())
}

/// `times` turns of one activation, each incrementing `count`.
async fn turns(actor: ActorState, times: usize) -> Outcome {
    let what = format!("turns of actor {:?}", actor.partition());
    let actor = Arc::new(tokio::sync::Mutex::new(actor));
    until_applied(&what, times, || {
        let actor = actor.clone();
        async move {
            let mut a = actor.lock().await;
            let what = format!("turn of actor {:?}", a.partition());
            let n: u64 = ok(a.get_json("count").await, format!("{what}: get_json"))?.unwrap_or(0);
            ok(a.set_json("count", &(n + 1)), format!("{what}: set_json"))?;
            // Let the other activations run between this turn's read and
            // its commit, even on a store that never waits.
            tokio::task::yield_now().await;
            applied(a.commit().await, format!("{what}: commit"))
        }
    })
    .await
}

/// A case's actors: the actor state API over the store (recorded, or not),
/// the Dapr keys, and the keys to delete when the case ends.
struct Actors {
    store: Arc<dyn Store>,
    spy: Arc<Recorder>,
    /// Over the recording wrapper.
    api: ActorStateStore,
    /// Over the store itself, for the races.
    direct: ActorStateStore,
    app: String,
    keys: Mutex<BTreeSet<String>>,
}

impl Actors {
    fn new(cx: &Ctx) -> Result<Self, Failure> {
        let app = cx
            .prefix()
            .split(SEPARATOR)
            .next()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| fail(format!("no app id in the key prefix {:?}", cx.prefix())))?
            .to_owned();
        let spy = Arc::new(Recorder::new(cx.store.clone()));
        let what =
            format!("actor state store of app {app:?} (the store declares ETAG and TRANSACTIONAL)");
        let api = ok(ActorStateStore::new(spy.clone(), &app), &what)?;
        let direct = ok(ActorStateStore::new(cx.store.clone(), &app), &what)?;
        Ok(Actors {
            store: cx.store.clone(),
            spy,
            api,
            direct,
            app,
            keys: Mutex::default(),
        })
    }

    /// `app||type||id`, written out here rather than asked of the API.
    fn partition(&self, ty: &str, id: &str) -> String {
        format!("{}{SEPARATOR}{ty}{SEPARATOR}{id}", self.app)
    }

    /// `app||type||id||name`.
    fn dapr_key(&self, ty: &str, id: &str, name: &str) -> String {
        format!("{}{SEPARATOR}{name}", self.partition(ty, id))
    }

    fn remember(&self, ty: &str, id: &str, names: &[&str]) {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        keys.extend(names.iter().map(|n| self.dapr_key(ty, id, n)));
    }

    /// A new activation of an actor through the recording wrapper; `names`
    /// are the state keys the case may write, deleted when it ends.
    fn actor(&self, ty: &str, id: &str, names: &[&str]) -> Result<ActorState, Failure> {
        self.remember(ty, id, names);
        ok(self.api.actor(ty, id), format!("actor {ty}/{id}"))
    }

    /// [`Actors::actor`] without recording (for the races).
    fn unrecorded(&self, ty: &str, id: &str, names: &[&str]) -> Result<ActorState, Failure> {
        self.remember(ty, id, names);
        ok(self.direct.actor(ty, id), format!("actor {ty}/{id}"))
    }

    /// Reads a Dapr key from the store itself and compares.
    async fn raw_eq(
        &self,
        ty: &str,
        id: &str,
        name: &str,
        want: Option<&[u8]>,
        why: &str,
    ) -> Outcome {
        let key = self.dapr_key(ty, id, name);
        let req = GetRequest::new(&key).metadata(PARTITION_KEY, self.partition(ty, id));
        let got = ok(
            self.store.get(req).await,
            format!("get {key:?} with partitionKey"),
        )?
        .map(|i| i.value);
        ensure!(
            got.as_deref() == want,
            "get {key:?} from the store ({why}): expected {}, got {}",
            want.map_or_else(|| "no value".to_owned(), show),
            shown(&got)
        );
        Ok(())
    }

    /// What the API asked of the store since the last call, described.
    fn calls(&self) -> Vec<String> {
        self.spy.take()
    }

    /// Forgets what the API asked so far.
    fn forget_calls(&self) {
        self.calls();
    }

    /// Fails unless the API's calls since the last look were exactly `want`.
    fn expect_calls(&self, what: &str, want: &[String]) -> Outcome {
        let got = self.calls();
        ensure!(
            got == want,
            "{what}: expected the store to be asked [{}], it was asked [{}]",
            want.join("; "),
            got.join("; ")
        );
        Ok(())
    }

    /// Runs a case's body, then deletes every key it may have written,
    /// even when it failed or panicked.
    async fn finish(&self, body: impl Future<Output = Outcome>) -> Outcome {
        let outcome = AssertUnwindSafe(body).catch_unwind().await;
        self.cleanup().await;
        outcome.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }

    async fn cleanup(&self) {
        let keys: Vec<String> =
            std::mem::take(&mut *self.keys.lock().unwrap_or_else(|p| p.into_inner()))
                .into_iter()
                .collect();
        for chunk in keys.chunks(500) {
            let reqs = chunk
                .iter()
                .map(|k| {
                    let partition = k.rsplit_once(SEPARATOR).map_or("", |(p, _)| p);
                    DeleteRequest::new(k).metadata(PARTITION_KEY, partition)
                })
                .collect();
            let _ = self.store.bulk_delete(reqs).await;
        }
    }
}

fn shown(v: &Option<Bytes>) -> String {
    v.as_deref().map_or_else(|| "no value".to_owned(), show)
}
