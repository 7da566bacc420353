//! Connections kept between calls ([`crate::kept`]): which go back to
//! sqlx's pool, how calls queue for them, and closing.

use std::sync::Arc;
use std::time::Duration;

use sqlx::{Database, Executor};
use statestore_core::{ErrorKind, SetRequest, Store, StoreExt, TransactRequest, TransactionOp};

use super::harness::{Harness, Raw, Tables};
use crate::driver::Driver;
use crate::kept::Conns;
use crate::{Backend, Conn, SqlxConn, Stmt};

/// Waits until `ok` holds, up to 5 s.
async fn eventually(what: &str, ok: impl Fn() -> bool) {
    for _ in 0..500 {
        if ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what}: not within 5 s");
}

/// On a pool of one connection: a connection whose statement ran to its
/// end is kept (sqlx's pool neither has it idle nor tests it); one whose
/// statement was left halfway goes back to sqlx's pool; a second caller
/// waits for the one connection and gives up with `Timeout`; a
/// transaction takes the kept connection; closing does not wait for a kept
/// one, and no call gets a connection after it.
pub async fn kept_connections<D: Driver>(
    options: <<D::Db as Database>::Connection as sqlx::Connection>::Options,
) where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    <D::Db as Database>::Arguments: sqlx::IntoArguments<D::Db>,
{
    let pool = sqlx::pool::PoolOptions::<D::Db>::new()
        .max_connections(1)
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .expect("pool");
    let conns = Conns::<D>::new(pool.clone(), Duration::from_millis(300));
    let select = || sqlx::query::<D::Db>("SELECT 1");

    let mut k = conns.plain().await.expect("a connection");
    let done = select().execute(k.start()).await;
    k.done(done.is_ok());
    drop(k);
    assert_eq!(
        (pool.size(), pool.num_idle()),
        (1, 0),
        "kept out of the pool"
    );

    let mut k = conns.plain().await.expect("the kept connection");
    assert_eq!(pool.size(), 1, "no second connection opened");
    let waited = conns.plain().await.map(drop).unwrap_err();
    assert_eq!(waited.kind(), ErrorKind::Timeout, "{waited}");
    assert!(waited.to_string().contains("no connection became free"));
    // Started and never finished, as a call cancelled halfway leaves it.
    let _ = k.start();
    drop(k);
    eventually("back in sqlx's pool", || pool.num_idle() == 1).await;

    let (tx, permit) = conns.begin(None).await.expect("a transaction");
    drop((tx, permit));
    eventually("the transaction's connection back", || pool.num_idle() == 1).await;

    let mut k = conns.plain().await.expect("a connection");
    let done = select().execute(k.start()).await;
    k.done(done.is_ok());
    drop(k);
    tokio::time::timeout(Duration::from_secs(5), conns.close())
        .await
        .expect("close does not wait for a kept connection");
    assert!(pool.is_closed());
    let closed = conns.plain().await.map(drop).unwrap_err();
    assert_eq!(closed.kind(), ErrorKind::InvalidRequest, "{closed}");
}

/// A store on a pool of two connections (`size_property`) serves 16 tasks
/// of single calls and transactions at once, each within a 5 s timeout: a
/// transaction never waits for a connection kept for single calls.
pub async fn a_small_pool_serves_calls_and_transactions_at_once<B: Backend, C: Raw>(
    h: &Harness<B, C>,
    size_property: &str,
) {
    let t = Tables::new(h, "smallpool");
    let props = h
        .properties(&t.state, &t.meta, Duration::from_secs(5))
        .with(size_property, "2");
    let s = Arc::new(t.open(props).await);
    calls_and_transactions_at_once(s.clone()).await;
    s.close().await.expect("close");
}

/// 16 tasks at once on store `s`, 25 rounds each of a set, a get and a
/// transaction with an etag to check (a database transaction, not one
/// statement); every call must succeed.
pub async fn calls_and_transactions_at_once<S: Store + 'static>(s: Arc<S>) {
    let tasks = (0..16).map(|task| {
        let s = s.clone();
        tokio::spawn(async move {
            for round in 0..25 {
                let key = format!("k{task}");
                let value = format!("{round}");
                let etag = s.set(SetRequest::new(key.as_str(), value.clone())).await?;
                let got = s.get_item(&key).await?.expect("written");
                assert_eq!(&got.value[..], value.as_bytes());
                // An etag to check: a database transaction, not one statement.
                let ops: Vec<TransactionOp> = vec![
                    SetRequest::new(key.as_str(), "x")
                        .etag(etag.expect("an etag"))
                        .into(),
                    SetRequest::new(format!("{key}b"), "b").into(),
                ];
                s.transact(TransactRequest::new(ops)).await?;
            }
            Ok::<(), statestore_core::Error>(())
        })
    });
    for task in tasks.collect::<Vec<_>>() {
        task.await.expect("task").expect("every call");
    }
}

/// Through the driver's statements ([`Conn`]), on a pool of one: a
/// statement that returned keeps its connection; one that failed, or was
/// dropped before its answer, sends it back to sqlx's pool. On a pool whose
/// idle timeout is 300 ms, a kept connection is swept back to it with no
/// call. `long` is a statement that runs for a second or so (it is dropped
/// after 20 ms).
pub async fn driver_statements_keep_or_return<D: Driver>(
    options: <<D::Db as Database>::Connection as sqlx::Connection>::Options,
    long: &str,
) where
    SqlxConn<D>: Conn,
{
    let stmt = |sql: &str| Stmt::built(sql.to_owned(), Vec::new());
    for idle_timeout in [None, Some(Duration::from_millis(300))] {
        let pool = sqlx::pool::PoolOptions::<D::Db>::new()
            .max_connections(1)
            .idle_timeout(idle_timeout)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await
            .expect("pool");
        let conns = Conns::<D>::new(pool.clone(), Duration::from_secs(5));
        let lend = || async { SqlxConn::Kept(conns.plain().await.expect("a connection")) };
        let in_sqlx = || pool.num_idle() == 1 || pool.size() == 0;

        let mut c = lend().await;
        c.execute(stmt("SELECT 1")).await.expect("SELECT 1");
        drop(c);
        // Time enough for sqlx to take a connection back (its test on
        // return is a ping), not for the sweep of a 300 ms idle timeout.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!((pool.size(), pool.num_idle()), (1, 0), "kept");
        if idle_timeout.is_some() {
            eventually("swept back after the idle timeout", in_sqlx).await;
            conns.close().await;
            continue;
        }

        let mut c = lend().await;
        c.execute(stmt("SELEC 1")).await.map(drop).unwrap_err();
        drop(c);
        eventually("back after an error", in_sqlx).await;

        let mut c = lend().await;
        let early = tokio::time::timeout(Duration::from_millis(20), c.execute(stmt(long))).await;
        assert!(early.is_err(), "the statement was still running: {early:?}");
        drop(c);
        eventually("back after a statement dropped halfway", in_sqlx).await;
        conns.close().await;
    }
}

/// Closing store `s` while 8 tasks call it: `close` returns within 5 s,
/// and every task ends.
pub async fn closing_while_calls_run<S: Store + 'static>(s: Arc<S>) {
    let tasks: Vec<_> = (0..8)
        .map(|task| {
            let s = s.clone();
            tokio::spawn(async move {
                let key = format!("c{task}");
                while s.set(SetRequest::new(key.as_str(), "v")).await.is_ok() {}
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    tokio::time::timeout(Duration::from_secs(5), s.close())
        .await
        .expect("close within 5 s")
        .expect("close");
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the task ends")
            .expect("task");
    }
}
