//! The store under load while its server restarts (standalone) or while a
//! cluster primary dies and its replica takes over. Both print what was
//! acknowledged and what was found afterwards.

mod common;

use common::sh;
use std::io::Write as _;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use statestore_core::{
    Consistency, ErrorKind, GetRequest, Properties, SetRequest, Store, StoreExt,
};
use tokio::sync::Mutex;

/// What the writers saw.
#[derive(Default)]
struct Log {
    /// Acknowledged writes: key -> (value, written with strong consistency).
    acked: BTreeMap<String, (String, bool)>,
    /// Failed calls by error kind.
    failures: BTreeMap<String, usize>,
    /// The slowest failed call.
    slowest_failure: Duration,
    /// When the last failure happened.
    last_failure: Option<Instant>,
}

/// Writers running until [`Load::finish`].
struct Load {
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Log>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// Stops the writers and returns what they saw.
    async fn finish(self) -> Log {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.expect("writer task");
        }
        std::mem::take(&mut *self.log.lock().await)
    }
}

/// 8 writers, each writing fresh keys until the load finishes; every other
/// task asks for strong consistency.
fn writers(store: Arc<dyn Store>, key: fn(usize, usize) -> String) -> Load {
    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(Log::default()));
    let tasks = (0..8)
        .map(|t| {
            let (store, stop, log) = (store.clone(), stop.clone(), log.clone());
            tokio::spawn(async move {
                let strong = t % 2 == 1;
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let (k, v) = (key(t, n), format!("value {t}/{n}"));
                    n += 1;
                    let mut req = SetRequest::new(k.clone(), v.clone());
                    if strong {
                        req = req.consistency(Consistency::Strong);
                    }
                    let started = Instant::now();
                    let result = store.set(req).await;
                    let mut log = log.lock().await;
                    match result {
                        Ok(_) => {
                            log.acked.insert(k, (v, strong));
                        }
                        Err(e) => {
                            assert!(
                                matches!(e.kind(), ErrorKind::Unavailable | ErrorKind::Timeout),
                                "a write failed with {:?}, not Unavailable or Timeout: {e}",
                                e.kind()
                            );
                            *log.failures.entry(format!("{:?}", e.kind())).or_default() += 1;
                            log.slowest_failure = log.slowest_failure.max(started.elapsed());
                            log.last_failure = Some(Instant::now());
                            drop(log);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
            })
        })
        .collect();
    Load { stop, log, tasks }
}

/// Reads every acknowledged key back: (found, lost, lost of the strong ones).
async fn verify(store: &dyn Store, log: &Log) -> (usize, Vec<String>, usize) {
    let keys: Vec<&String> = log.acked.keys().collect();
    let mut found = 0;
    let mut lost = Vec::new();
    let mut lost_strong = 0;
    for chunk in keys.chunks(500) {
        let reqs = chunk.iter().map(|k| GetRequest::new(k.as_str())).collect();
        for r in store.bulk_get(reqs).await.expect("bulk_get after recovery") {
            let (want, strong) = &log.acked[&r.key];
            match r.result.expect("read after recovery") {
                Some(item) if item.value == want.as_bytes() => found += 1,
                _ => {
                    lost_strong += usize::from(*strong);
                    lost.push(r.key);
                }
            }
        }
    }
    (found, lost, lost_strong)
}

/// The properties of a store on `server` that notices a lost server
/// quickly: `dialTimeout` and `readTimeout` of 1 s.
fn quick(server: &common::Server) -> Properties {
    Properties::new()
        .with("redisHost", server.host())
        .with("dialTimeout", "1s")
        .with("readTimeout", "1s")
}

async fn open(props: &Properties) -> Arc<dyn Store> {
    let mut store = statestore_redis::RedisStore::new();
    store.init(props).await.expect("init");
    Arc::new(store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_restart_under_load() {
    let server = common::Server::start(6392);
    let props = quick(&server);
    let store: Arc<dyn Store> = open(&props).await;
    let load = writers(store.clone(), |t, n| format!("restart-{t}-{n}"));

    tokio::time::sleep(Duration::from_secs(1)).await;
    sh(&server.stop_command());
    let stopped = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        store.ping().await.is_err(),
        "ping succeeds while the server is down"
    );
    sh(&server.start_command());
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let log = load.finish().await;

    let (found, lost, _) = verify(store.as_ref(), &log).await;
    let recovered = log
        .last_failure
        .map(|f| f.saturating_duration_since(started));
    // Straight to the stream, so the report shows although the test passes.
    let _ = writeln!(
        std::io::stderr(),
        "standalone restart: {} writes acknowledged, {found} found afterwards, {} lost; \
         failed calls while down: {:?} (slowest {:?}); down for {:?}; last failure {:?} after start",
        log.acked.len(),
        lost.len(),
        log.failures,
        log.slowest_failure,
        started - stopped,
        recovered,
    );
    assert!(
        !log.failures.is_empty(),
        "no call failed while the server was down"
    );
    assert!(
        log.slowest_failure < Duration::from_secs(5),
        "a call took {:?} to fail (dialTimeout 1s + readTimeout 1s)",
        log.slowest_failure
    );
    assert!(
        lost.is_empty(),
        "acknowledged writes lost: {:?}",
        &lost[..lost.len().min(5)]
    );
    store
        .put("restart-after", "x")
        .await
        .expect("a write after recovery");
}

/// While the store dials a lost server again (here a sequence of up to 40
/// attempts a second apart), every call still fails within `dialTimeout +
/// readTimeout`, and the store works again once the server is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_during_a_long_redial_are_bounded() {
    let server = common::Server::start(6393);
    let props = quick(&server)
        .with("redisMaxRetries", "40")
        .with("redisMinRetryInterval", "1s")
        .with("redisMaxRetryInterval", "1s");
    let store = open(&props).await;
    store.put("redial", "before").await.expect("a write");
    sh(&server.stop_command());
    let mut kinds = Vec::new();
    for _ in 0..4 {
        let started = Instant::now();
        let e = store
            .get_item("redial")
            .await
            .expect_err("a read succeeded while the server was down");
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(3),
            "a call took {took:?} to fail while the connection re-dialled \
             (dialTimeout 1s + readTimeout 1s): {e}"
        );
        assert!(
            matches!(e.kind(), ErrorKind::Unavailable | ErrorKind::Timeout),
            "{e}"
        );
        kinds.push(e.kind());
    }
    assert!(
        kinds.contains(&ErrorKind::Timeout),
        "no call waited for the re-dial (kinds {kinds:?}): the bound was not tested"
    );
    sh(&server.start_command());
    let started = Instant::now();
    loop {
        match store.get_item("redial").await {
            Ok(item) => {
                assert_eq!(&item.expect("the key").value[..], b"before");
                break;
            }
            Err(e) => assert!(
                started.elapsed() < Duration::from_secs(10),
                "no answer 10 s after the server came back: {e}"
            ),
        }
    }
}

/// A dial that gave up while the server was down (no retries here) does
/// not fail the first call after the server is back: that call dials
/// again and waits for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_call_after_a_long_outage_succeeds() {
    let server = common::Server::start(6395);
    let props = quick(&server).with("redisMaxRetries", "-1");
    let store = open(&props).await;
    store.put("outage", "v").await.expect("a write");
    sh(&server.stop_command());
    // The first call finds the connection lost, the second the dial failed.
    for _ in 0..2 {
        store
            .get_item("outage")
            .await
            .expect_err("a read succeeded while the server was down");
    }
    sh(&server.start_command());
    let item = store
        .get_item("outage")
        .await
        .expect("the first read after the server came back");
    assert_eq!(&item.expect("the key").value[..], b"v");
}

/// A server that stops answering (SIGSTOP) fails calls with `Timeout`
/// within `readTimeout`, and they succeed again once it answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_stops_answering_times_out() {
    let server = common::Server::start(6394);
    let props = quick(&server);
    let store = open(&props).await;
    store.put("paused", "v").await.expect("a write");
    let pid = server.pid();
    sh(&format!("kill -STOP {pid}"));
    let started = Instant::now();
    let e = store.get_item("paused").await;
    let took = started.elapsed();
    sh(&format!("kill -CONT {pid}"));
    let e = e.expect_err("a read succeeded from a stopped server");
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "the call failed after {took:?} (readTimeout 1s)"
    );
    let item = store.get_item("paused").await.expect("a read");
    assert_eq!(&item.expect("the key").value[..], b"v");
}

/// A cluster node that answers.
fn live_node() -> u16 {
    (7000..7006)
        .find(|p| {
            common::try_sh(&format!("redis-cli -p {p} ping")).is_ok_and(|o| o.contains("PONG"))
        })
        .expect("no cluster node answers")
}

/// The cluster node (port) serving a key's slot as primary, if one does.
fn primary_of(key: &str) -> Option<u16> {
    let node = live_node();
    let slot: u16 = sh(&format!("redis-cli -p {node} cluster keyslot '{key}'"))
        .trim()
        .parse()
        .unwrap();
    for line in sh(&format!("redis-cli -p {node} cluster nodes")).lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if !f[2].contains("master") || f[2].contains("fail") {
            continue;
        }
        let port: u16 = f[1].split(['@', ':']).nth(1).unwrap().parse().unwrap();
        for range in &f[8..] {
            let (a, b) = range.split_once('-').unwrap_or((range, range));
            if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>())
                && (a..=b).contains(&slot)
            {
                return Some(port);
            }
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_failover_under_load() {
    let hosts = common::cluster();
    let props = Properties::new()
        .with("redisHost", hosts)
        .with("redisType", "cluster")
        .with("dialTimeout", "1s")
        .with("readTimeout", "1s");
    let store: Arc<dyn Store> = open(&props).await;
    // Keys without `||` keep their own names, so they spread over every
    // primary; this one decides which primary dies.
    let victim = primary_of("failover-0-0").expect("a primary serves every slot");
    let pid = sh(&format!(
        "redis-cli -p {victim} info server | grep '^process_id:' | cut -d: -f2"
    ))
    .trim()
    .to_owned();
    let load = writers(store.clone(), |t, n| format!("failover-{t}-{n}"));

    tokio::time::sleep(Duration::from_secs(1)).await;
    sh(&format!("kill -9 {pid}"));
    let killed = Instant::now();
    // The replica takes over after cluster-node-timeout (5 s) and an election.
    let mut promoted = None;
    while killed.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let info = sh(&format!("redis-cli -p {} cluster info", live_node()));
        if info.contains("cluster_state:ok")
            && primary_of("failover-0-0").is_some_and(|p| p != victim)
        {
            promoted = Some(killed.elapsed());
            break;
        }
    }
    let promoted = promoted.expect("no replica took over within 30 s");
    // Writes to the moved slots must work again, with the same instance.
    let probe_started = Instant::now();
    let mut recovered = None;
    let mut last_error = None;
    while probe_started.elapsed() < Duration::from_secs(30) {
        // The same slot as the victim's key, through a hash tag.
        match store.put("{failover-0-0}probe", "x").await {
            Ok(_) => match store.ping().await {
                Ok(()) => {
                    recovered = Some(killed.elapsed());
                    break;
                }
                Err(e) => last_error = Some(format!("ping: {e}")),
            },
            Err(e) => last_error = Some(format!("set: {e}")),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let log = load.finish().await;
    // Bring the dead node back (it rejoins as a replica) for later runs.
    let restarted = Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scripts/services.sh"
        ))
        .arg("start")
        .status()
        .expect("services.sh runs");

    let (found, lost, lost_strong) = verify(store.as_ref(), &log).await;
    let strong = log.acked.values().filter(|(_, s)| *s).count();
    // Straight to the stream, so the report shows although the test passes.
    let _ = writeln!(
        std::io::stderr(),
        "cluster failover (primary 127.0.0.1:{victim} killed): {} writes acknowledged ({strong} strong), \
         {found} found afterwards, {} lost ({lost_strong} of them strong); failed calls: {:?} \
         (slowest {:?}); replica promoted after {promoted:?}; the store wrote again after {recovered:?}",
        log.acked.len(),
        lost.len(),
        log.failures,
        log.slowest_failure,
    );
    assert!(
        recovered.is_some(),
        "the store did not recover within 30 s of the promotion; last error: {last_error:?}"
    );
    assert!(restarted.success(), "the killed node did not rejoin");
    assert_eq!(
        lost_strong, 0,
        "writes acknowledged after WAIT were lost: {lost:?}"
    );
    assert!(
        log.slowest_failure < Duration::from_secs(10),
        "a call took {:?} to fail",
        log.slowest_failure
    );
}
