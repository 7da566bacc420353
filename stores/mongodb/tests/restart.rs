//! The store under a write load of 8 writers while the replica set's
//! `mongod` stops and starts (`scripts/services.sh mongo-stop` and
//! `mongo-start`): with `writeConcern: majority` no acknowledged write is
//! lost, failures are only `Unavailable` or `Timeout` within
//! `operationTimeout` (plus slack), and the same instance writes again
//! without a new init. Prints what was acknowledged and what was found.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use statestore_core::{ErrorKind, GetRequest, SetRequest, Store};
use statestore_mongodb::MongoStore;

#[derive(Default)]
struct Log {
    acknowledged: Vec<String>,
    failures: BTreeMap<String, usize>,
    slowest_failure: Duration,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_a_restart() {
    let url = common::replica_set_url();
    let collection = format!("restart_{}", std::process::id());
    let mut store = MongoStore::new();
    store
        .init(&common::props(&url, &collection).with("operationTimeout", "2s"))
        .await
        .expect("init");
    let store = Arc::new(store);
    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(Log::default()));
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (store, stop, log) = (store.clone(), stop.clone(), log.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    let key = format!("w{w}-{n}");
                    n += 1;
                    let started = Instant::now();
                    let r = store.set(SetRequest::new(&key, key.clone())).await;
                    {
                        let mut log = log.lock().unwrap();
                        match r {
                            Ok(_) => log.acknowledged.push(key),
                            Err(e) => {
                                let kind = format!("{:?}", e.kind());
                                *log.failures.entry(kind).or_default() += 1;
                                log.slowest_failure = log.slowest_failure.max(started.elapsed());
                                if !matches!(e.kind(), ErrorKind::Unavailable | ErrorKind::Timeout)
                                {
                                    return Err(format!(
                                        "a write failed with {:?}: {e:#}",
                                        e.kind()
                                    ));
                                }
                            }
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Ok(())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    tokio::task::spawn_blocking(|| common::services_sh("mongo-stop"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    tokio::task::spawn_blocking(|| common::services_sh("mongo-start"))
        .await
        .unwrap();
    // Writes succeed again through the same instance.
    let back = Instant::now();
    loop {
        if store.set(SetRequest::new("probe", "v")).await.is_ok() {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(60),
            "no write succeeded within 60 s of the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let again = back.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.await.unwrap().unwrap_or_else(|e| panic!("{e}"));
    }
    let log = std::mem::take(&mut *log.lock().unwrap());
    let mut found = 0;
    for chunk in log.acknowledged.chunks(500) {
        let got = store
            .bulk_get(chunk.iter().map(GetRequest::new).collect())
            .await
            .expect("bulk_get after the restart");
        found += got
            .iter()
            .filter(|e| matches!(e.result, Ok(Some(_))))
            .count();
    }
    // Straight to the stream: libtest captures `eprintln!`, and this line
    // is the test's report even when it passes.
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "mongodb restart: {} writes acknowledged, {found} found afterwards; failures {:?}, slowest {:?}; writes again {again:?} after start",
        log.acknowledged.len(),
        log.failures,
        log.slowest_failure,
    );
    assert_eq!(
        found,
        log.acknowledged.len(),
        "acknowledged writes were lost"
    );
    assert!(!log.acknowledged.is_empty());
    assert!(
        log.slowest_failure < Duration::from_secs(4),
        "a call took {:?} to fail (operationTimeout 2s)",
        log.slowest_failure
    );
    store.close().await.unwrap();
    common::drop_collection(&url, &collection);
}
