//! One case per row of the error table of docs/serve.md, and one per rule
//! of Dapr's handlers it copies, on the wire. The stores: SQLite
//! `statestore`, in-memory `memory` (keyPrefix none), in-memory `small`
//! (two operations per transaction), SQLite `broken`, whose table is
//! dropped under the server so that every call on it fails in the store,
//! and Redis `redisstore`, a store without query.
//! The row "store without transactions" needs a store no manifest loads: it
//! is a unit test in cli/src/serve/http.rs.

mod common;

use std::path::Path;

use common::{Answer, Server, call, manifests, redis_manifest, serve};

/// One request and what Dapr answers to it.
struct Case {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
    status: u16,
    /// The `errorCode`, for JSON errors.
    code: Option<&'static str>,
}

const fn case(
    name: &'static str,
    method: &'static str,
    path: &'static str,
    body: &'static str,
    status: u16,
    code: Option<&'static str>,
) -> Case {
    Case {
        name,
        method,
        path,
        headers: &[],
        body,
        status,
        code,
    }
}

const S: &str = "/v1.0/state/statestore";
const Q: &str = "/v1.0-alpha1/state/memory/query";

/// Rows whose request needs nothing seeded.
const TABLE: &[Case] = &[
    // The error table.
    case(
        "unknown store",
        "GET",
        "/v1.0/state/nostore/k",
        "",
        400,
        Some("ERR_STATE_STORE_NOT_FOUND"),
    ),
    case(
        "bad JSON",
        "POST",
        S,
        "[{",
        400,
        Some("ERR_MALFORMED_REQUEST"),
    ),
    case(
        "missing key",
        "POST",
        S,
        r#"[{"value": 1}]"#,
        400,
        Some("ERR_MALFORMED_REQUEST"),
    ),
    case(
        "key holding ||",
        "POST",
        S,
        r#"[{"key": "a||b", "value": 1}]"#,
        400,
        Some("ERR_MALFORMED_REQUEST"),
    ),
    case(
        "get failed",
        "GET",
        "/v1.0/state/broken/k",
        "",
        500,
        Some("ERR_STATE_GET"),
    ),
    case(
        "bulk get failed",
        "POST",
        "/v1.0/state/broken/bulk",
        r#"{"keys": ["a", "b"]}"#,
        500,
        Some("ERR_STATE_BULK_GET"),
    ),
    case(
        "save: malformed etag",
        "POST",
        S,
        r#"[{"key": "k", "value": 1, "etag": "not-hex"}]"#,
        400,
        Some("ERR_STATE_SAVE"),
    ),
    case(
        "save: other failure",
        "POST",
        "/v1.0/state/broken",
        r#"[{"key": "k", "value": 1}]"#,
        500,
        Some("ERR_STATE_SAVE"),
    ),
    case(
        "delete: other failure",
        "DELETE",
        "/v1.0/state/broken/k",
        "",
        500,
        Some("ERR_STATE_DELETE"),
    ),
    case(
        "save: stale etag",
        "POST",
        S,
        r#"[{"key": "seeded", "value": 1, "etag": "0000000000000001"}]"#,
        409,
        Some("ERR_STATE_SAVE"),
    ),
    case(
        "transaction failed: stale etag",
        "POST",
        "/v1.0/state/statestore/transaction",
        r#"{"operations": [{"operation": "upsert", "request": {"key": "seeded", "value": 2, "etag": "0000000000000001"}}]}"#,
        500,
        Some("ERR_STATE_TRANSACTION"),
    ),
    case(
        "unknown transaction operation",
        "POST",
        "/v1.0/state/statestore/transaction",
        r#"{"operations": [{"operation": "merge", "request": {"key": "k"}}]}"#,
        400,
        Some("ERR_NOT_SUPPORTED_STATE_OPERATION"),
    ),
    case(
        "too many operations",
        "POST",
        "/v1.0/state/small/transaction",
        r#"{"operations": [{"operation": "upsert", "request": {"key": "a", "value": 1}}, {"operation": "upsert", "request": {"key": "b", "value": 1}}, {"operation": "delete", "request": {"key": "c"}}]}"#,
        400,
        Some("ERR_STATE_STORE_TOO_MANY_TRANSACTIONS"),
    ),
    case(
        "query unsupported",
        "POST",
        "/v1.0-alpha1/state/redisstore/query",
        "{}",
        500,
        Some("ERR_STATE_STORE_NOT_SUPPORTED"),
    ),
    case(
        "query failed",
        "POST",
        Q,
        r#"{"filter": {"NOPE": {}}}"#,
        500,
        Some("ERR_STATE_QUERY"),
    ),
    // Dapr's handlers: routing and keys.
    case(
        "GET of a key named bulk reaches the key",
        "GET",
        "/v1.0/state/statestore/bulk",
        "",
        204,
        None,
    ),
    case(
        "DELETE of a key named transaction reaches the key",
        "DELETE",
        "/v1.0/state/statestore/transaction",
        "",
        204,
        None,
    ),
    case(
        "bad escape in a key: plain-text 400",
        "GET",
        "/v1.0/state/statestore/%zz",
        "",
        400,
        None,
    ),
    case(
        "raw / in a key: 404",
        "GET",
        "/v1.0/state/statestore/a/b",
        "",
        404,
        None,
    ),
    case(
        "query only on alpha1 (v1.0 has no query route)",
        "POST",
        "/v1.0/state/memory/query",
        "{}",
        405,
        None,
    ),
    // Bodies of `null`, as Go decodes them: nothing.
    case("a null save", "POST", S, "null", 204, None),
    case(
        "a null bulk get",
        "POST",
        "/v1.0/state/statestore/bulk",
        "null",
        200,
        None,
    ),
    case(
        "a null transaction",
        "POST",
        "/v1.0/state/statestore/transaction",
        "null",
        204,
        None,
    ),
    case("a null query", "POST", Q, "null", 204, None),
    // Escapes as Go reads them.
    case(
        "a sign is no hex digit",
        "GET",
        "/v1.0/state/statestore/a%+1",
        "",
        400,
        None,
    ),
    case(
        "a bad escape in the query is dropped",
        "GET",
        "/v1.0/state/statestore/absent?x=%zz",
        "",
        204,
        None,
    ),
    case(
        "an unknown read consistency is the store's to ignore",
        "GET",
        "/v1.0/state/statestore/absent?consistency=psychic",
        "",
        204,
        None,
    ),
    // Bulk get.
    case(
        "parallelism must be a number",
        "POST",
        "/v1.0/state/statestore/bulk",
        r#"{"keys": ["a"], "parallelism": "x"}"#,
        400,
        Some("ERR_MALFORMED_REQUEST"),
    ),
    case(
        "bulk get of no keys",
        "POST",
        "/v1.0/state/statestore/bulk",
        r#"{"keys": []}"#,
        200,
        None,
    ),
    case(
        "bulk get, parallelism 0 is a hint",
        "PUT",
        "/v1.0/state/statestore/bulk",
        r#"{"keys": ["x"], "parallelism": 0}"#,
        200,
        None,
    ),
    // Save.
    case(
        "metadata values must be strings",
        "POST",
        S,
        r#"[{"key": "k", "value": 1, "metadata": {"ttlInSeconds": 5}}]"#,
        400,
        Some("ERR_MALFORMED_REQUEST"),
    ),
    case(
        "unknown concurrency is 500",
        "POST",
        S,
        r#"[{"key": "k", "value": 1, "options": {"concurrency": "sometimes"}}]"#,
        500,
        Some("ERR_STATE_SAVE"),
    ),
    case(
        "unknown consistency is 500",
        "POST",
        S,
        r#"[{"key": "k", "value": 1, "options": {"consistency": "psychic"}}]"#,
        500,
        Some("ERR_STATE_SAVE"),
    ),
    case(
        "field names in any case",
        "POST",
        S,
        r#"[{"KEY": "cased", "Value": 1}]"#,
        204,
        None,
    ),
    case("an empty save", "POST", S, "[]", 204, None),
    case(
        "several items, all stale: 409",
        "POST",
        S,
        r#"[{"key": "seeded", "value": 1, "etag": "0000000000000001"}, {"key": "seeded2", "value": 1, "etag": "0000000000000002"}]"#,
        409,
        Some("ERR_STATE_SAVE"),
    ),
    case(
        "several items, one malformed etag: 400",
        "POST",
        S,
        r#"[{"key": "seeded", "value": 1, "etag": "0000000000000001"}, {"key": "n", "value": 1, "etag": "zz"}]"#,
        400,
        Some("ERR_STATE_SAVE"),
    ),
    Case {
        headers: &[("If-Match", "not-hex")],
        ..case(
            "delete: malformed etag",
            "DELETE",
            "/v1.0/state/statestore/seeded",
            "",
            400,
            Some("ERR_STATE_DELETE"),
        )
    },
    Case {
        headers: &[("If-Match", "0000000000000001")],
        ..case(
            "delete: stale etag",
            "DELETE",
            "/v1.0/state/statestore/seeded",
            "",
            409,
            Some("ERR_STATE_DELETE"),
        )
    },
    Case {
        headers: &[("If-Match", "")],
        ..case(
            "an empty If-Match is no etag",
            "DELETE",
            "/v1.0/state/statestore/absent",
            "",
            204,
            None,
        )
    },
    // Transactions.
    case(
        "zero operations",
        "POST",
        "/v1.0/state/statestore/transaction",
        r#"{"operations": []}"#,
        204,
        None,
    ),
    case(
        "etag must be a string",
        "POST",
        "/v1.0/state/statestore/transaction",
        r#"{"operations": [{"operation": "upsert", "request": {"key": "k", "value": 1, "etag": 5}}]}"#,
        400,
        Some("ERR_MALFORMED_REQUEST"),
    ),
    case(
        "too many is checked after parsing",
        "POST",
        "/v1.0/state/small/transaction",
        r#"{"operations": [{"operation": "upsert", "request": {"key": "a"}}, {"operation": "upsert", "request": {"key": "b"}}, {"operation": "upsert", "request": {"key": "a||c"}}]}"#,
        400,
        Some("ERR_MALFORMED_REQUEST"),
    ),
    // Query.
    case(
        "bad query JSON is 500",
        "POST",
        Q,
        "{bad",
        500,
        Some("ERR_STATE_QUERY"),
    ),
    case(
        "no results is 204",
        "POST",
        Q,
        r#"{"filter": {"EQ": {"nothing": "here"}}}"#,
        204,
        None,
    ),
];

fn check(s: &Server, c: &Case) -> Answer {
    let a = call(s, c.method, c.path, c.headers, c.body);
    assert_eq!(a.status, c.status, "{}: {}", c.name, a.text());
    if let Some(code) = c.code {
        assert_eq!(a.json()["errorCode"], code, "{}: {}", c.name, a.text());
    }
    a
}

fn extra_manifests(dir: &Path) {
    std::fs::write(
        dir.join("more.yaml"),
        format!(
            "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: small\n\
             spec:\n  type: state.in-memory\n  version: v1\n  metadata:\n  \
             - name: maxTransactionOperations\n    value: \"2\"\n---\n\
             apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: broken\n\
             spec:\n  type: state.sqlite\n  version: v1\n  metadata:\n  \
             - name: connectionString\n    value: \"{}\"\n",
            dir.join("broken.db").display()
        ),
    )
    .unwrap();
}

/// Drops the broken store's table under the running server.
fn break_store(dir: &Path) {
    let db = dir.join("broken.db");
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('DROP TABLE state'); c.commit()",
        ])
        .arg(&db)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_row_of_the_error_table_and_every_handler_rule() {
    let dir = tempfile::tempdir().unwrap();
    manifests(dir.path());
    extra_manifests(dir.path());
    redis_manifest(dir.path());
    let s = serve(dir.path(), &[]);
    break_store(dir.path());
    let seed = call(
        &s,
        "POST",
        S,
        &[],
        r#"[{"key": "seeded", "value": {"v": 1}}, {"key": "seeded2", "value": 2}]"#,
    );
    assert_eq!(seed.status, 204, "{}", seed.text());
    let etag = |key: &str| {
        call(&s, "GET", &format!("{S}/{key}"), &[], "")
            .header("etag")
            .map(str::to_owned)
    };
    let before = (etag("seeded"), etag("seeded2"));
    for c in TABLE {
        check(&s, c);
    }
    // Failed writes changed nothing.
    assert_eq!((etag("seeded"), etag("seeded2")), before);
    let a = call(&s, "GET", &format!("{S}/seeded"), &[], "");
    assert_eq!(a.text(), r#"{"v":1}"#);
    for key in ["k", "n", "a", "b"] {
        assert_eq!(
            call(&s, "GET", &format!("{S}/{key}"), &[], "").status,
            204,
            "{key}"
        );
    }
    assert_eq!(call(&s, "GET", "/v1.0/state/small/a", &[], "").status, 204);
    assert_eq!(call(&s, "GET", &format!("{S}/cased"), &[], "").text(), "1");
    assert!(!common::stderr(dir.path()).contains("panicked"));
}

#[test]
fn keys_metadata_and_bodies_as_dapr_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    manifests(dir.path());
    let s = serve(dir.path(), &[]);
    // `+` in a key is a space; `%2F` a slash.
    let a = call(&s, "POST", S, &[], r#"[{"key": "a b/c", "value": 1}]"#);
    assert_eq!(a.status, 204);
    assert_eq!(
        call(&s, "GET", &format!("{S}/a+b%2Fc"), &[], "").text(),
        "1"
    );
    // A repeated metadata.k keeps its first value: the ttl of 1000 s, not
    // the malformed second one.
    let a = call(
        &s,
        "POST",
        &format!("{S}?metadata.ttlInSeconds=1000&metadata.ttlInSeconds=x"),
        &[],
        r#"[{"key": "ttl", "value": 1}]"#,
    );
    assert_eq!(a.status, 204, "{}", a.text());
    let a = call(&s, "GET", &format!("{S}/ttl"), &[], "");
    assert!(
        a.header("metadata.ttlexpiretime").is_some(),
        "{:?}",
        a.headers
    );
    // The query's metadata wins over an item's: a ttl of 1000 s, not the
    // item's malformed one.
    let a = call(
        &s,
        "POST",
        &format!("{S}?metadata.ttlInSeconds=1000"),
        &[],
        r#"[{"key": "ttl2", "value": 1, "metadata": {"ttlInSeconds": "x"}}]"#,
    );
    assert_eq!(a.status, 204, "{}", a.text());
    // A saved item without a value reads back as null data.
    call(&s, "POST", S, &[], r#"[{"key": "novalue"}]"#);
    let a = call(
        &s,
        "POST",
        "/v1.0/state/statestore/bulk",
        &[],
        r#"{"keys": ["novalue"]}"#,
    );
    assert_eq!(a.json()[0]["data"], serde_json::Value::Null, "{}", a.text());
    // Bulk get: body metadata overlaid by the query's.
    let a = call(
        &s,
        "POST",
        "/v1.0/state/statestore/bulk?metadata.x=1",
        &[],
        r#"{"keys": ["ttl", "none"], "metadata": {"x": "0"}}"#,
    );
    assert_eq!(a.status, 200);
    assert_eq!(a.json()[1], serde_json::json!({"key": "none"}));
    // No Content-Type check; a body over 4 MiB is refused and not stored.
    let big = format!(r#"[{{"key": "big", "value": "{}"}}]"#, "x".repeat(4 << 20));
    let a = call(&s, "POST", S, &[("Content-Type", "text/plain")], &big);
    assert_eq!(a.status, 400);
    assert_eq!(a.json()["errorCode"], "ERR_MALFORMED_REQUEST");
    assert_eq!(call(&s, "GET", &format!("{S}/big"), &[], "").status, 204);
    // The transaction's query metadata reaches its operations: a ttl.
    let a = call(
        &s,
        "POST",
        "/v1.0/state/statestore/transaction?metadata.ttlInSeconds=1000",
        &[],
        r#"{"operations": [{"operation": "upsert", "request": {"key": "txttl", "value": 1}}]}"#,
    );
    assert_eq!(a.status, 204, "{}", a.text());
    let a = call(&s, "GET", &format!("{S}/txttl"), &[], "");
    assert!(
        a.header("metadata.ttlexpiretime").is_some(),
        "{:?}",
        a.headers
    );
    // Every query result has data.
    call(
        &s,
        "POST",
        "/v1.0/state/memory",
        &[],
        r#"[{"key": "q", "value": {"n": 1}}]"#,
    );
    let a = call(&s, "POST", Q, &[], "{}");
    assert_eq!(a.json()["results"][0]["data"], serde_json::json!({"n": 1}));
}

#[test]
fn no_store_loaded_is_not_configured() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(dir.path(), &[]);
    let a = call(&s, "GET", "/v1.0/state/any/k", &[], "");
    assert_eq!(a.status, 500);
    assert_eq!(a.json()["errorCode"], "ERR_STATE_STORE_NOT_CONFIGURED");
    assert_eq!(
        a.json()["details"][0]["reason"],
        "DAPR_STATE_NOT_CONFIGURED"
    );
    assert!(common::stderr(dir.path()).contains("no state store"));
}

#[test]
fn serve_without_components_says_what_to_pass() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_statestore"))
        .arg("serve")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--components <FILE|FOLDER>"), "{err}");
}
