//! `state.postgresql` under a write load while the local server restarts
//! (`pg_ctlcluster … restart`, as root): 0 acknowledged writes lost and
//! recovery without a new init. Prints both counts.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::Connection;
use statestore_core::{GetRequest, Properties, SetRequest, Store};

const URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const TIMEOUT: Duration = Duration::from_secs(2);

/// What the writers saw.
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
                                log.failures.entry(kind).or_insert((0, e.to_string())).0 += 1;
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

/// `pg_ctlcluster` on the newest local cluster; starts it again on drop if
/// it is not running, so a failed restart leaves no test without a server.
struct Cluster(String);

impl Cluster {
    fn command(&self, action: &str) -> Command {
        let mut c = Command::new("pg_ctlcluster");
        c.args(["--skip-systemctl-redirect", &self.0, "main", action]);
        c
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self
            .command("status")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            eprintln!("the PostgreSQL cluster is down; starting it again");
            let _ = self.command("start").status();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_under_load() {
    let version = std::fs::read_dir("/etc/postgresql")
        .expect("/etc/postgresql (a local PostgreSQL cluster) is needed")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .max()
        .expect("no cluster version under /etc/postgresql");
    let cluster = Cluster(version.to_string());
    let run = format!("restart{}", std::process::id());
    let (table, meta) = (format!("{run}_state"), format!("{run}_meta"));
    let props = Properties::new()
        .with("connectionString", URL)
        .with("tableName", table.as_str())
        .with("metadataTableName", meta.as_str())
        .with("timeout", "2s");
    let mut store = statestore_postgres::PostgresStore::new();
    store.init(&props).await.expect("init");
    let store: Arc<dyn Store> = Arc::new(store);

    let (stop, log) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(Mutex::new(Log::default())),
    );
    let tasks = writers(store.clone(), stop.clone(), log.clone());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let restart_started = Instant::now();
    let restart = tokio::process::Command::from(cluster.command("restart"))
        .status()
        .await
        .expect("pg_ctlcluster runs");
    let restarted = Instant::now();
    assert!(
        restart.success(),
        "pg_ctlcluster {version} main restart failed: {restart}"
    );
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
        "postgres restart under load: {} writes acknowledged, {found} found, {} lost; \
         {failed} calls failed ({}), slowest failure {} ms; writing again {} ms after the restart \
         (which took {} ms)",
        log.acked.len(),
        lost.len(),
        kinds.join(", "),
        log.slowest_failure.as_millis(),
        again.map_or("never".into(), |d| d.as_millis().to_string()),
        (restarted - restart_started).as_millis(),
    );
    println!("{line}");
    eprintln!("{line}");

    store.close().await.expect("close");
    let mut conn = sqlx::PgConnection::connect(URL)
        .await
        .expect("connect to drop the tables");
    for t in [&table, &meta] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP TABLE IF EXISTS {t}")))
            .execute(&mut conn)
            .await
            .expect("drop table");
    }

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
