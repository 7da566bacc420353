//! What the shared suite cannot see from outside: rows on disk, the cleanup
//! task, migrations under concurrent starts, persistence, table names, locks
//! and timeouts.

use std::path::Path;
use std::time::{Duration, Instant};

use sqlx::Connection;
use statestore_core::{ErrorKind, GetRequest, Properties, SetRequest, Store, StoreExt, Ttl};
use statestore_sqlite::SqliteStore;

fn props(file: &Path) -> Properties {
    Properties::new().with("connectionString", file.to_string_lossy())
}

async fn open(p: Properties) -> SqliteStore {
    let mut s = SqliteStore::new();
    s.init(&p).await.expect("init");
    s
}

/// The shared SQL tests' harness on the database in `file`.
fn harness(
    file: &Path,
) -> statestore_sql::testing::Harness<statestore_sqlite::SqliteBackend, sqlx::SqliteConnection> {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(file)
        .create_if_missing(true);
    statestore_sql::testing::Harness::new("sqlite", props(file), options)
}

async fn raw(file: &Path) -> sqlx::SqliteConnection {
    sqlx::SqliteConnection::connect(&format!("sqlite://{}", file.display()))
        .await
        .expect("raw connection")
}

async fn count(file: &Path, sql: &'static str) -> i64 {
    let mut c = raw(file).await;
    sqlx::query_scalar(sql)
        .fetch_one(&mut c)
        .await
        .expect("count")
}

/// Expired rows (docs/contract.md, *TTL*) are purged by the cleanup task, whose
/// interval is configurable and which can be turned off.
#[tokio::test]
async fn cleanup_purges_expired_rows_and_can_be_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let on = dir.path().join("on.db");
    let off = dir.path().join("off.db");
    let a = open(props(&on).with("cleanupInterval", "1s")).await;
    let b = open(props(&off).with("cleanupInterval", "0")).await;
    for s in [&a, &b] {
        s.set(SetRequest::new("gone", "v").ttl(Ttl::Seconds(1)))
            .await
            .unwrap();
        s.put("kept", "v").await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(3500)).await;
    // Both hide the expired key; only the store with a cleanup removed its row.
    for s in [&a, &b] {
        assert!(s.get_item("gone").await.unwrap().is_none());
    }
    assert_eq!(
        count(&on, "SELECT count(*) FROM state").await,
        1,
        "expired row still on disk"
    );
    assert_eq!(
        count(&off, "SELECT count(*) FROM state").await,
        2,
        "cleanup ran although turned off"
    );
    a.close().await.unwrap();
    b.close().await.unwrap();
}

/// Of several instances sharing a database, one takes each cleanup turn.
#[tokio::test]
async fn one_cleanup_turn_per_interval_across_instances() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shared.db");
    let a = open(props(&file).with("cleanupInterval", "0")).await;
    let b = open(props(&file).with("cleanupInterval", "0")).await;
    a.set(SetRequest::new("x", "v").ttl(Ttl::Seconds(1)))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let hour = Duration::from_secs(3600);
    assert_eq!(a.cleanup_turn(hour).await.unwrap(), Some(1));
    assert_eq!(
        b.cleanup_turn(hour).await.unwrap(),
        None,
        "a second instance took the same turn"
    );
    assert_eq!(a.cleanup_turn(hour).await.unwrap(), None);
    // Once the interval has passed, the next turn is free again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        b.cleanup_turn(Duration::from_millis(600)).await.unwrap(),
        Some(0)
    );
}

/// Instances starting at the same moment migrate once: a second migration
/// would fail on `CREATE TABLE`, so every init succeeding proves the lock.
#[tokio::test]
async fn concurrent_instances_migrate_once() {
    for round in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(format!("m{round}.db"));
        let p = props(&file);
        let mut stores: Vec<SqliteStore> = (0..3).map(|_| SqliteStore::new()).collect();
        let [a, b, c] = &mut stores[..] else {
            unreachable!()
        };
        let (ra, rb, rc) = tokio::join!(a.init(&p), b.init(&p), c.init(&p));
        for r in [ra, rb, rc] {
            r.expect("concurrent init");
        }
        assert_eq!(
            count(
                &file,
                "SELECT CAST(value AS INTEGER) FROM metadata WHERE key = 'schema-version:state'"
            )
            .await,
            2,
            "two migrations: the table, then its JSON copy"
        );
        a.put("k", "v").await.unwrap();
        assert_eq!(&c.get_item("k").await.unwrap().unwrap().value[..], b"v");
    }
}

/// Data outlives the store, and a restarted store finds the schema in place.
#[tokio::test]
async fn data_persists_across_instances() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.db");
    let s = open(props(&file)).await;
    let etag = s.put("k", vec![0u8, 1, 0xff]).await.unwrap();
    s.close().await.unwrap();
    let s = open(props(&file)).await;
    let item = s.get_item("k").await.unwrap().unwrap();
    assert_eq!(&item.value[..], &[0u8, 1, 0xff]);
    assert_eq!(item.etag, etag);
}

/// `:memory:` databases are private to their store.
#[tokio::test]
async fn memory_databases_are_private() {
    let mem = || Properties::new().with("connectionString", ":memory:");
    let a = open(mem()).await;
    let b = open(mem()).await;
    a.put("k", "a").await.unwrap();
    assert!(b.get_item("k").await.unwrap().is_none());
    assert_eq!(&a.get_item("k").await.unwrap().unwrap().value[..], b"a");
}

/// Two components in one file with different tables do not see each other;
/// the schema lands in the named tables.
#[tokio::test]
async fn table_names_are_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.db");
    let a = open(
        props(&file)
            .with("tableName", "orders")
            .with("metadataTableName", "meta"),
    )
    .await;
    let b = open(
        props(&file)
            .with("tableName", "carts")
            .with("metadataTableName", "meta"),
    )
    .await;
    a.put("k", "order").await.unwrap();
    b.put("k", "cart").await.unwrap();
    assert_eq!(&a.get_item("k").await.unwrap().unwrap().value[..], b"order");
    assert_eq!(&b.get_item("k").await.unwrap().unwrap().value[..], b"cart");
    assert_eq!(count(&file, "SELECT count(*) FROM orders").await, 1);
    assert_eq!(
        count(
            &file,
            "SELECT count(*) FROM meta WHERE key LIKE 'schema-version:%'"
        )
        .await,
        2
    );
}

/// The rollback journal works as well as WAL.
#[tokio::test]
async fn without_wal() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nowal.db");
    let s = open(props(&file).with("disableWAL", "true")).await;
    s.put("k", "v").await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut raw(&file).await)
        .await
        .unwrap();
    assert_eq!(mode, "delete");
    assert_eq!(&s.get_item("k").await.unwrap().unwrap().value[..], b"v");
}

/// A write lock held by another process longer than `busyTimeout` fails the
/// write with a retryable `Timeout`, promptly; reads go on in WAL mode.
#[tokio::test]
async fn lock_held_elsewhere_times_out_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("busy.db");
    let s = open(props(&file).with("busyTimeout", "200ms")).await;
    s.put("k", "v").await.unwrap();
    let mut other = raw(&file).await;
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    let started = Instant::now();
    let err = s.put("k", "w").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.is_retryable());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        &s.get(GetRequest::new("k")).await.unwrap().unwrap().value[..],
        b"v"
    );
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    s.put("k", "w").await.unwrap();
}

/// The operation timeout bounds calls that wait on the database (here a
/// lock held elsewhere, with a busy timeout far longer than the timeout).
#[tokio::test]
async fn operation_timeout_bounds_waits() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("slow.db");
    let s = open(
        props(&file)
            .with("busyTimeout", "30s")
            .with("timeout", "1500ms"),
    )
    .await;
    let mut other = raw(&file).await;
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    let started = Instant::now();
    let err = s.put("k", "w").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.to_string().contains("timeout"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

/// Values are stored as BLOBs, byte for byte, and keys verbatim.
#[tokio::test]
async fn rows_hold_exact_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bytes.db");
    let s = open(props(&file)).await;
    let key = "k'; DROP TABLE state; --";
    s.put(key, vec![0u8, 0xff, 0x00]).await.unwrap();
    let mut c = raw(&file).await;
    let (k, v): (String, Vec<u8>) = sqlx::query_as("SELECT key, value FROM state")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(k, key);
    assert_eq!(v, vec![0u8, 0xff, 0x00]);
    let t: String = sqlx::query_scalar("SELECT typeof(value) FROM state")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(t, "blob");
}

/// Bad properties fail init with errors naming them, before any file is made.
#[tokio::test]
async fn bad_properties_name_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("never.db");
    for (name, value) in [
        ("tableName", "x\"; DROP"),
        ("cleanupInterval", "often"),
        ("connectionString", "x.db?evil=1"),
    ] {
        let mut s = SqliteStore::new();
        let err = s.init(&props(&file).with(name, value)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        assert!(err.to_string().contains(name), "{err}");
    }
    assert!(!file.exists());
}

/// The variable that tells a re-run of [`files_without_permission_are_permission_denied`]
/// to make its checks (as user nobody) in the folder it names.
const AS_NOBODY: &str = "STATESTORE_SQLITE_PERMISSION_DIR";

/// Whether this process runs as root, for whom file permissions do not
/// apply.
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// A file this process may not open, one it may read but not write, and a
/// new file in a folder it may not write fail init with `PermissionDenied`,
/// not `Unavailable` or `Config`. Root ignores file permissions, so as root
/// (in CI) the test runs its checks again as user nobody.
#[tokio::test]
async fn files_without_permission_are_permission_denied() {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(dir) = std::env::var(AS_NOBODY) {
        return check_denied(Path::new(&dir)).await;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mode = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    for name in ["unreadable.db", "read-only.db"] {
        let s = open(props(&dir.join(name)).with("disableWAL", "true")).await;
        s.close().await.unwrap();
    }
    mode(&dir.join("unreadable.db"), 0o000);
    mode(&dir.join("read-only.db"), 0o444);
    std::fs::create_dir(dir.join("closed")).unwrap();
    mode(&dir.join("closed"), 0o555);
    mode(dir, 0o755);
    if !is_root() {
        return check_denied(dir).await;
    }
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new("runuser")
        .args(["-u", "nobody", "--"])
        .arg(&exe)
        .args([
            "--exact",
            "files_without_permission_are_permission_denied",
            "--nocapture",
        ])
        .env(AS_NOBODY, dir)
        .output()
        .expect("runuser runs the test again as nobody");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "as nobody:\n{text}");
    assert!(
        text.contains("1 passed"),
        "as nobody, the test did not run:\n{text}"
    );
}

async fn check_denied(dir: &Path) {
    for name in ["unreadable.db", "read-only.db", "closed/new.db"] {
        let mut s = SqliteStore::new();
        let err = s.init(&props(&dir.join(name))).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{name}: {err:#}");
        assert_eq!(err.store(), Some("state.sqlite"), "{name}: {err:#}");
    }
}

/// Unconditional writes that fit one statement go out as one upsert
/// (docs/performance.md): a key written twice in one call ends with its
/// last value and etag, and the earlier item's etag was never current.
#[tokio::test]
async fn one_statement_upserts_keep_the_last_write_of_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(props(&dir.path().join("one.db"))).await;
    let reqs = vec![
        SetRequest::new("b", "b1"),
        SetRequest::new("a", "a1"),
        SetRequest::new("b", "b2"),
    ];
    let etags: Vec<_> = s
        .bulk_set(reqs)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.result.unwrap().expect("an etag"))
        .collect();
    let b = s.get_item("b").await.unwrap().unwrap();
    assert_eq!(
        (&b.value[..], b.etag.as_ref()),
        (&b"b2"[..], Some(&etags[2]))
    );
    let stale = s
        .set(SetRequest::new("b", "b3").etag(etags[0].clone()))
        .await;
    assert_eq!(stale.unwrap_err().kind(), ErrorKind::ETagMismatch);
    assert_eq!(&s.get_item("a").await.unwrap().unwrap().value[..], b"a1");
    s.close().await.unwrap();
}

/// A bulk write of more rows than one statement carries goes as several,
/// each committed on its own; one refused by a trigger fails its keys and
/// those after it, and the keys before it stay written (the shared check).
#[tokio::test]
async fn a_failed_bulk_statement_fails_its_keys() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("poison.db");
    let h = harness(&file);
    statestore_sql::testing::failed_bulk_statement(&h, |table, name, key, poison| {
        format!(
            "CREATE TRIGGER {name} BEFORE INSERT ON {table} WHEN NEW.{key} = '{poison}' \
             BEGIN SELECT RAISE(ABORT, 'refused by {name}'); END"
        )
    })
    .await;
}

/// An expression index on the query's expression for a path is what the
/// query's statement uses (docs/query.md, "Indexes").
#[tokio::test]
async fn an_expression_index_serves_the_query() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("index.db");
    let h = harness(&file);
    let index = |table: &str, expr: &str| {
        vec![
            format!("CREATE INDEX statestore_group ON {table} ({expr})"),
            "ANALYZE".to_owned(),
        ]
    };
    let plan = async |sql: String| {
        use sqlx::Row as _;
        let mut c = raw(&file).await;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
            .fetch_all(&mut c)
            .await
            .unwrap();
        rows.iter()
            .map(|r| r.get::<String, _>("detail"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    statestore_sql::testing::an_index_serves_the_query(&h, index, plan, true).await;
}

/// A table of schema version 1 (no JSON copy) gains the copy at init, its
/// JSON rows are found by a query, and its other rows are not.
#[tokio::test]
async fn a_version_1_table_gains_its_json_copy() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("v1.db");
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", file.display()))
        .await
        .unwrap();
    for sql in [
        "CREATE TABLE state (\"key\" TEXT NOT NULL PRIMARY KEY, value BLOB NOT NULL, \
         content_type TEXT, etag INTEGER NOT NULL, expires_at INTEGER)",
        "CREATE TABLE metadata (\"key\" TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL)",
        "INSERT INTO metadata VALUES ('schema-version:state', '1'), ('last-cleanup:state', '0')",
        "INSERT INTO state VALUES ('doc', CAST('{\"n\": 1}' AS BLOB), NULL, 1, NULL), \
         ('text', CAST('not json' AS BLOB), NULL, 2, NULL)",
    ] {
        sqlx::query(sql).execute(&mut c).await.unwrap();
    }
    c.close().await.unwrap();
    let s = open(props(&file)).await;
    let q = statestore_core::Query::from_json(r#"{"filter": {"EQ": {"n": 1}}}"#).unwrap();
    let found = s
        .query(statestore_core::QueryRequest::new(q))
        .await
        .unwrap();
    let keys: Vec<_> = found.results.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys, ["doc"]);
    let all = s
        .query(statestore_core::QueryRequest::new(Default::default()))
        .await
        .unwrap();
    assert_eq!(all.results.len(), 1, "the text row has no JSON copy");
    s.close().await.unwrap();
}

/// Connections kept between calls, on a pool of one in-memory connection
/// (see the body in `statestore_sql::testing`).
#[tokio::test]
async fn kept_connections() {
    let options = "sqlite::memory:".parse().expect("options");
    statestore_sql::testing::kept_connections::<statestore_sqlite::SqliteDriver>(options).await;
}

/// A `:memory:` store is one connection, for readers and the writer: 16
/// tasks of reads, writes and transactions at once all get it in turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_store_serves_calls_and_transactions_at_once() {
    let s = std::sync::Arc::new(
        open(
            Properties::new()
                .with("connectionString", ":memory:")
                .with("timeout", "5s"),
        )
        .await,
    );
    statestore_sql::testing::calls_and_transactions_at_once(s).await;
}

/// The driver's statements keep or return their connection (see the body).
#[tokio::test]
async fn driver_statements_keep_or_return() {
    let options = "sqlite::memory:".parse().expect("options");
    // SQLite has no sleep: a count to three million.
    let long = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 3000000) \
                SELECT COUNT(*) FROM c";
    statestore_sql::testing::driver_statements_keep_or_return::<statestore_sqlite::SqliteDriver>(
        options, long,
    )
    .await;
}

/// Closing a `:memory:` store while calls run (see the body).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_while_calls_run() {
    let s = open(Properties::new().with("connectionString", ":memory:")).await;
    statestore_sql::testing::closing_while_calls_run(std::sync::Arc::new(s)).await;
}

/// A store dropped outside a runtime, with a connection kept, does not
/// panic: its connections go back in the runtime it was opened in.
#[test]
fn a_store_dropped_outside_a_runtime() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let s = runtime.block_on(async {
        let s = open(Properties::new().with("connectionString", ":memory:")).await;
        s.set(SetRequest::new("k", "v")).await.expect("set");
        s
    });
    drop(s);
}
