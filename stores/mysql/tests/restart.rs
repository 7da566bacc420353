//! `state.mysql` under a write load while the local MariaDB restarts
//! (`start-stop-daemon` stop and start of `mariadbd`, as root): 0
//! acknowledged writes lost and recovery without a new init. Prints both
//! counts. Skipped only when `mariadbd` is missing and `CI` is not `true`.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::Connection;
use statestore_core::{GetRequest, Properties, SetRequest, Store};

const DAEMON: &str = "/usr/sbin/mariadbd";
const SCHEMA: &str = "statestore_test";
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

fn sh(command: &str) -> Result<(), String> {
    let out = Command::new("sh")
        .args(["-c", command])
        .output()
        .map_err(|e| format!("{command}: {e}"))?;
    match out.status.success() {
        true => Ok(()),
        false => Err(format!(
            "{command}: {} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

const ANSWERS: &str = "mariadb --protocol=TCP -h 127.0.0.1 -u root -e 'SELECT 1' >/dev/null 2>&1";

/// Starts `mariadbd` and waits (30 s at most) until it answers over TCP.
fn start_mariadb() -> Result<(), String> {
    sh(&format!(
        "start-stop-daemon --start --oknodo --background --exec {DAEMON}"
    ))?;
    sh(&format!(
        "for i in $(seq 1 300); do {ANSWERS} && exit 0; sleep 0.1; done; exit 1"
    ))
    .map_err(|_| "MariaDB did not answer within 30 s of its start".to_owned())
}

/// Stops `mariadbd` and starts it again; returns once it answers.
async fn restart_mariadb() -> Result<(), String> {
    tokio::task::spawn_blocking(|| {
        sh(&format!(
            "start-stop-daemon --stop --retry 30 --exec {DAEMON}"
        ))?;
        start_mariadb()
    })
    .await
    .expect("restart task")
}

/// Starts MariaDB again on drop if it does not answer, so a failed restart
/// leaves no test without a server.
struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        if sh(ANSWERS).is_err() {
            eprintln!("MariaDB does not answer; starting it again");
            if let Err(why) = start_mariadb() {
                eprintln!("{why}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_under_load() {
    if !std::path::Path::new(DAEMON).exists() {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(
            !ci,
            "{DAEMON} is missing (CI=true: a missing tool is a failure)"
        );
        eprintln!("skipped: {DAEMON} is missing and CI is not true");
        return;
    }
    let _guard = Guard;
    let run = format!("restart{}", std::process::id());
    let (table, meta) = (format!("{run}_state"), format!("{run}_meta"));
    let props = Properties::new()
        .with("connectionString", "root@tcp(127.0.0.1:3306)/")
        .with("schemaName", SCHEMA)
        .with("tableName", table.as_str())
        .with("metadataTableName", meta.as_str())
        .with("timeoutInSeconds", "2");
    let mut store = statestore_mysql::MySqlStore::new();
    store.init(&props).await.expect("init");
    let store: Arc<dyn Store> = Arc::new(store);

    let (stop, log) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(Mutex::new(Log::default())),
    );
    let tasks = writers(store.clone(), stop.clone(), log.clone());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let restart_started = Instant::now();
    let restart = restart_mariadb().await;
    let restarted = Instant::now();
    if let Err(why) = restart {
        panic!("restarting MariaDB failed: {why}");
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
        "mysql restart under load: {} writes acknowledged, {found} found, {} lost; \
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
    let mut conn = sqlx::MySqlConnection::connect("mysql://root@127.0.0.1:3306/")
        .await
        .expect("connect to drop the tables");
    for t in [&table, &meta] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP TABLE IF EXISTS {SCHEMA}.{t}"
        )))
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
