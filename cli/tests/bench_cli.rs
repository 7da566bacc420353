//! `statestore bench` runs every workload against the embedded stores, with
//! the raw-driver and loop rows, and reports the ratios.

use std::process::Command;

fn bench(args: &[&str]) -> serde_json::Value {
    bench_with(args, &[])
}

/// [`bench`] with more environment variables.
fn bench_with(args: &[&str], env: &[(&str, &str)]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_statestore"))
        .envs(env.iter().copied())
        .arg("bench")
        .args(["--duration", "150ms", "--keys", "200", "--batch", "20"])
        .args(["--concurrency", "4", "--format", "json"])
        .args(args)
        .output()
        .expect("the statestore binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

fn check(doc: &serde_json::Value, raw_driver: &str) {
    assert!(
        doc["raw_driver"].as_str().unwrap().contains(raw_driver),
        "{doc:#}"
    );
    let rows = doc["rows"].as_array().unwrap();
    // get, set: SDK + raw; bulk_get, bulk_set: SDK, 2 loops, raw; transact:
    // SDK, one task's loop, raw.
    assert_eq!(rows.len(), 15, "{doc:#}");
    for r in rows {
        assert_eq!(r["errors"], 0, "{r:#}");
        assert!(r["calls"].as_u64().unwrap() > 0, "{r:#}");
        assert!(r["p99_us"].as_u64().unwrap() >= r["p50_us"].as_u64().unwrap());
    }
    let ratios: Vec<&str> = doc["ratios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["what"].as_str().unwrap())
        .collect();
    assert!(
        ratios.contains(&"get: statestore / raw driver (keys/s)"),
        "{ratios:?}"
    );
    assert!(
        ratios.contains(&"bulk_set: native bulk / parallel single calls (keys/s)"),
        "{ratios:?}"
    );
    assert!(
        ratios.contains(&"transact: native call / one task's loop of single calls (keys/s)"),
        "{ratios:?}"
    );
    let one_task = rows
        .iter()
        .find(|r| r["workload"] == "transact" && r["via"] == "statestore, one task, single calls")
        .expect("the transact loop row");
    assert!(one_task["calls"].as_u64().unwrap() > 0, "{one_task:#}");
}

/// The SQLite file of `meta` (a `connectionString=` assignment) holds no
/// key: the SDK deleted its keys and the other side its own.
fn no_keys_left(meta: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_statestore"))
        .args(["keys", "%", "--type", "state.sqlite", "--meta", meta])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn in_memory() {
    check(&bench(&["--type", "state.in-memory"]), "HashMap");
}

#[test]
fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bench.db");
    let meta = format!("connectionString={}", db.display());
    check(&bench(&["--type", "state.sqlite", "--meta", &meta]), "sqlx");
    // The baseline dropped its table and the SDK deleted its keys.
    no_keys_left(&meta);
}

/// `--raw-loops`: the raw driver's own loop of single calls, one task, next
/// to its native call, for bulk workloads and transactions.
#[test]
fn sqlite_raw_loops() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("loops.db");
    let meta = format!("connectionString={}", db.display());
    let doc = bench(&["--type", "state.sqlite", "--meta", &meta, "--raw-loops"]);
    let rows = doc["rows"].as_array().unwrap();
    // The 15 rows of `check`, and one raw loop per bulk workload and
    // transact.
    assert_eq!(rows.len(), 18, "{doc:#}");
    for w in ["bulk_get", "bulk_set", "transact"] {
        let row = rows
            .iter()
            .find(|r| {
                r["workload"] == w
                    && r["via"]
                        .as_str()
                        .unwrap()
                        .ends_with(", one task, single calls")
                    && r["via"].as_str().unwrap().starts_with("raw ")
            })
            .unwrap_or_else(|| panic!("no raw loop row for {w}: {doc:#}"));
        assert_eq!(row["errors"], 0, "{row:#}");
        // A loop's call is `--batch` single calls.
        assert_eq!(
            row["keys"].as_u64().unwrap(),
            row["calls"].as_u64().unwrap() * 20,
            "{row:#}"
        );
        let what =
            format!("{w}: raw driver: native call / one task's loop of single calls (keys/s)");
        let ratio = doc["ratios"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["what"] == what.as_str())
            .unwrap_or_else(|| panic!("no {what}: {doc:#}"));
        assert!(ratio["ratio"].as_f64().unwrap() > 0.0, "{ratio:#}");
    }
    no_keys_left(&meta);
}

/// `STATESTORE_BENCH_RAW_ROW=store`: the raw side writes and reads the
/// store's own row, without an error, and drops its table.
#[test]
fn sqlite_with_the_store_row() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("row.db");
    let meta = format!("connectionString={}", db.display());
    let env = [("STATESTORE_BENCH_RAW_ROW", "store")];
    check(
        &bench_with(&["--type", "state.sqlite", "--meta", &meta], &env),
        "sqlx",
    );
    no_keys_left(&meta);
}

/// The same on Redis (127.0.0.1:6379, started by the test command): the
/// raw side writes the store's records and decodes every value it reads,
/// so a value it wrote bare would fail its reads.
#[test]
fn redis_with_the_store_record() {
    let env = [("STATESTORE_BENCH_RAW_ROW", "store")];
    let args = [
        "--type",
        "state.redis",
        "--meta",
        "redisHost=127.0.0.1:6379",
    ];
    check(&bench_with(&args, &env), "redis");
}

/// The same on MongoDB (127.0.0.1:27017, started by the test command): the
/// raw side writes the store's documents on a collection with the TTL
/// index, and its transactions, tried again on a conflict, all commit.
#[test]
fn mongodb_with_the_store_document() {
    let env = [("STATESTORE_BENCH_RAW_ROW", "store")];
    let args = [
        "--component",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/components/mongodb.yaml"
        ),
    ];
    check(&bench_with(&args, &env), "mongodb");
}

/// The query row: full pages of 100 from 200 documents (`bench`'s
/// `--keys`) on SQLite, no raw row, and nothing left behind.
#[test]
fn query_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("query.db");
    let meta = format!("connectionString={}", db.display());
    let doc = bench(&["--type", "state.sqlite", "--meta", &meta, "--ops", "query"]);
    let rows = doc["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{doc:#}");
    let row = &rows[0];
    assert_eq!(row["workload"], "query");
    let calls = row["calls"].as_u64().unwrap();
    assert!(calls > 0 && row["errors"] == 0, "{row:#}");
    assert_eq!(
        row["keys"].as_u64().unwrap(),
        calls * 100,
        "every page is full"
    );
    no_keys_left(&meta);
}

/// `--through-socket`: SQLite served on a socket in the bench's process,
/// against the same store called directly; both sides clean up.
#[cfg(feature = "pluggable")]
#[test]
fn through_socket_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hop.db");
    let meta = format!("connectionString={}", db.display());
    check(
        &bench(&[
            "--type",
            "state.sqlite",
            "--meta",
            &meta,
            "--through-socket",
        ]),
        "state.sqlite called directly, no socket",
    );
    no_keys_left(&meta);
}
