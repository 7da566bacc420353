//! The store under write load while the local server restarts.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use statestore_core::{GetRequest, SetRequest, Store};

use super::harness::{Harness, Raw, Tables};
use crate::{Backend, SqlStore};

/// What the writers of the restart test saw.
#[derive(Default)]
struct Log {
    /// Acknowledged writes: key -> (value, when acknowledged).
    acked: BTreeMap<String, (String, Instant)>,
    /// Failed calls by error kind, with the first message of each kind.
    failures: BTreeMap<String, (usize, String)>,
    /// The slowest failed call.
    slowest_failure: Duration,
}

/// 8 writers, each setting fresh keys one after another until `stop`.
fn writers(
    store: Arc<dyn Store>,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Log>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..8)
        .map(|w| {
            let (store, stop, log) = (store.clone(), stop.clone(), log.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let (k, v) = (
                        format!("w{w}-{n}"),
                        format!("value {w}/{n} of {}", std::process::id()),
                    );
                    n += 1;
                    let started = Instant::now();
                    let result = store.set(SetRequest::new(k.clone(), v.clone())).await;
                    let failed = result.is_err();
                    {
                        let mut log = log.lock().unwrap();
                        match result {
                            Ok(_) => {
                                log.acked.insert(k, (v, Instant::now()));
                            }
                            Err(e) => {
                                let kind = format!("{:?}", e.kind());
                                log.failures.entry(kind).or_insert((0, format!("{e:#}"))).0 += 1;
                                log.slowest_failure = log.slowest_failure.max(started.elapsed());
                            }
                        }
                    }
                    if failed {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            })
        })
        .collect()
}

/// The store under a write load of 8 writers while the local server
/// restarts: 0 acknowledged writes lost, recovery without a new init, and
/// failures only `Unavailable` or `Timeout`, each within the 2 s timeout
/// (plus 1 s). Prints both counts. Panics when there is no local server; a
/// server left down is started again.
pub async fn restart_under_load<B: Backend, C: Raw>(h: &Harness<B, C>) {
    const TIMEOUT: Duration = Duration::from_secs(2);
    let server = h
        .local_server()
        .expect("a local server to restart is needed");
    let t = Tables::new(h, "restart");
    let _guard = server.guard();
    let mut store = SqlStore::<B>::new();
    store
        .init(&h.properties(&t.state, &t.meta, TIMEOUT))
        .await
        .expect("init");
    let store: Arc<dyn Store> = Arc::new(store);

    let (stop, log) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(Mutex::new(Log::default())),
    );
    let tasks = writers(store.clone(), stop.clone(), log.clone());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let restart_started = Instant::now();
    let restart = server.restart().await;
    let restarted = Instant::now();
    if let Err(why) = restart {
        panic!("restarting {} failed: {why}", server.name);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("writer task");
    }
    let log = std::mem::take(&mut *log.lock().unwrap());

    // Read everything back with the same instance: no new init.
    let keys: Vec<&String> = log.acked.keys().collect();
    let (mut found, mut lost) = (0, Vec::new());
    for chunk in keys.chunks(500) {
        let reqs = chunk.iter().map(|k| GetRequest::new(k.as_str())).collect();
        for r in store
            .bulk_get(reqs)
            .await
            .expect("bulk_get after the restart")
        {
            match r.result.expect("read after the restart") {
                Some(item) if item.value == log.acked[&r.key].0.as_bytes() => found += 1,
                other => lost.push((r.key, other.map(|i| i.value))),
            }
        }
    }
    let again = log
        .acked
        .values()
        .filter_map(|(_, at)| at.checked_duration_since(restarted))
        .min();
    let failed: usize = log.failures.values().map(|(n, _)| n).sum();
    let kinds: Vec<String> = log
        .failures
        .iter()
        .map(|(k, (n, _))| format!("{k}: {n}"))
        .collect();
    let line = format!(
        "{} restart under load: {} writes acknowledged, {found} found, {} lost; \
         {failed} calls failed ({}), slowest failure {} ms; writing again {} ms after the restart \
         (which took {} ms)",
        h.label,
        log.acked.len(),
        lost.len(),
        kinds.join(", "),
        log.slowest_failure.as_millis(),
        again.map_or("never".into(), |d| d.as_millis().to_string()),
        (restarted - restart_started).as_millis(),
    );
    // Straight to the stream: libtest captures `println!`, and this line is
    // the test's report even when it passes.
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{line}");

    store.close().await.expect("close");
    let drop = format!("DROP TABLE IF EXISTS {}, {}", t.table(), h.table(&t.meta));
    t.raw().await.run(drop).await.expect("drop the tables");

    assert!(
        lost.is_empty(),
        "acknowledged writes lost (key, value read): {:?}",
        &lost[..lost.len().min(5)]
    );
    assert!(
        again.is_some(),
        "the store wrote nothing in the 3 s after the restart"
    );
    for (kind, (_, first)) in &log.failures {
        assert!(
            kind == "Unavailable" || kind == "Timeout",
            "a write failed with {kind}, not Unavailable or Timeout: {first}"
        );
    }
    assert!(
        log.slowest_failure < TIMEOUT + Duration::from_secs(1),
        "a call took {:?} to fail (timeout 2s)",
        log.slowest_failure
    );
}
