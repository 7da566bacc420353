//! `statestore serve` over HTTP as a Dapr SDK drives it: the binary on a
//! SQLite manifest (and an in-memory one, for the query), requests and
//! answers on the wire.

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

mod common;

use common::{call, manifests, redis_manifest, serve};

#[test]
fn save_get_delete_bulk_and_transaction() {
    let dir = tempfile::tempdir().unwrap();
    manifests(dir.path());
    let s = serve(dir.path(), &[]);
    assert_eq!(call(&s, "GET", "/v1.0/healthz", &[], "").status, 204);
    assert_eq!(
        call(&s, "GET", "/v1.0/healthz/outbound", &[], "").status,
        204
    );
    let meta = call(&s, "GET", "/v1.0/metadata", &[], "").json();
    assert_eq!(meta["id"], "app");
    assert!(meta["components"].as_array().unwrap().len() == 2, "{meta}");

    // Save: any JSON value, kept as its compact text.
    let a = call(
        &s,
        "POST",
        "/v1.0/state/statestore",
        &[],
        r#"[{"key":"k1","value":{ "n" : 1 }},{"KEY":"k 2","Value":"text"}]"#,
    );
    assert_eq!(a.status, 204, "{}", a.text());
    let a = call(&s, "GET", "/v1.0/state/statestore/k1", &[], "");
    assert_eq!((a.status, a.text()), (200, r#"{"n":1}"#.to_owned()));
    let etag = a.header("etag").expect("an ETag header").to_owned();
    // Keys are unescaped as Go's QueryUnescape does: + is a space.
    assert_eq!(
        call(&s, "GET", "/v1.0/state/statestore/k+2", &[], "").text(),
        r#""text""#
    );
    assert_eq!(
        call(&s, "GET", "/v1.0/state/statestore/missing", &[], "").status,
        204
    );

    // Values keep the text they were sent in, less the white space.
    let exact =
        r#"[{"key":"x","value":{ "b" : 1, "a" : 123456789012345678901234567890, "f" : 1E2 }}]"#;
    assert_eq!(
        call(&s, "POST", "/v1.0/state/statestore", &[], exact).status,
        204
    );
    let a = call(&s, "GET", "/v1.0/state/statestore/x", &[], "");
    assert_eq!(
        a.text(),
        r#"{"b":1,"a":123456789012345678901234567890,"f":1E2}"#
    );
    // A refused request on one item is 500, as Dapr answers.
    let a = call(
        &s,
        "POST",
        "/v1.0/state/statestore",
        &[],
        r#"[{"key":"t","value":1,"metadata":{"ttlInSeconds":"abc"}}]"#,
    );
    assert_eq!(
        (a.status, a.json()["errorCode"].clone()),
        (500, "ERR_STATE_SAVE".into())
    );

    // Etags: a stale one is 409, the current one writes, a malformed 400.
    let stale = r#"[{"key":"k1","value":2,"etag":"0000000000000001"}]"#;
    let a = call(&s, "POST", "/v1.0/state/statestore", &[], stale);
    assert_eq!(a.status, 409, "{}", a.text());
    assert_eq!(a.json()["errorCode"], "ERR_STATE_SAVE");
    let good = format!(r#"[{{"key":"k1","value":2,"etag":"{etag}"}}]"#);
    assert_eq!(
        call(&s, "PUT", "/v1.0/state/statestore", &[], &good).status,
        204
    );
    let bad = r#"[{"key":"k1","value":3,"etag":"not-an-etag"}]"#;
    assert_eq!(
        call(&s, "POST", "/v1.0/state/statestore", &[], bad).status,
        400
    );
    let a = call(
        &s,
        "DELETE",
        "/v1.0/state/statestore/k1",
        &[("If-Match", "0000000000000001")],
        "",
    );
    assert_eq!(
        (a.status, a.json()["errorCode"].clone()),
        (409, "ERR_STATE_DELETE".into())
    );

    // Bulk get: request order, missing keys as {key}, data embedded.
    let a = call(
        &s,
        "POST",
        "/v1.0/state/statestore/bulk",
        &[],
        r#"{"keys":["k1","nope","k 2"]}"#,
    );
    assert_eq!(a.status, 200);
    let items = a.json();
    assert_eq!(items[0]["data"], 2);
    assert_eq!(items[1], serde_json::json!({"key": "nope"}));
    assert_eq!(items[2]["data"], "text");

    // A key named bulk is a key for GET and DELETE.
    assert_eq!(
        call(
            &s,
            "POST",
            "/v1.0/state/statestore",
            &[],
            r#"[{"key":"bulk","value":1}]"#
        )
        .status,
        204
    );
    assert_eq!(
        call(&s, "GET", "/v1.0/state/statestore/bulk", &[], "").text(),
        "1"
    );
    assert_eq!(
        call(&s, "DELETE", "/v1.0/state/statestore/bulk", &[], "").status,
        204
    );

    // Transaction: all or nothing.
    let tx = r#"{"operations":[{"operation":"upsert","request":{"key":"t1","value":1}},{"operation":"delete","request":{"key":"k1"}}]}"#;
    assert_eq!(
        call(&s, "POST", "/v1.0/state/statestore/transaction", &[], tx).status,
        204
    );
    assert_eq!(
        call(&s, "GET", "/v1.0/state/statestore/k1", &[], "").status,
        204
    );
    let tx = r#"{"operations":[{"operation":"upsert","request":{"key":"t2","value":1}},{"operation":"upsert","request":{"key":"t1","value":2,"etag":"0000000000000001"}}]}"#;
    let a = call(&s, "POST", "/v1.0/state/statestore/transaction", &[], tx);
    assert_eq!(
        (a.status, a.json()["errorCode"].clone()),
        (500, "ERR_STATE_TRANSACTION".into())
    );
    assert_eq!(
        call(&s, "GET", "/v1.0/state/statestore/t2", &[], "").status,
        204
    );
    let tx = r#"{"operations":[{"operation":"merge","request":{}}]}"#;
    let a = call(&s, "POST", "/v1.0/state/statestore/transaction", &[], tx);
    assert_eq!(a.json()["errorCode"], "ERR_NOT_SUPPORTED_STATE_OPERATION");
}

#[test]
fn errors_as_dapr_answers_them() {
    let dir = tempfile::tempdir().unwrap();
    manifests(dir.path());
    redis_manifest(dir.path());
    let s = serve(dir.path(), &[]);
    let a = call(&s, "GET", "/v1.0/state/nostore/k", &[], "");
    assert_eq!(
        (a.status, a.json()["errorCode"].clone()),
        (400, "ERR_STATE_STORE_NOT_FOUND".into())
    );
    // Dapr's details: ErrorInfo (reason, domain, metadata), ResourceInfo,
    // BadRequest for an illegal key.
    let info = &a.json()["details"][0];
    assert_eq!(info["@type"], "type.googleapis.com/google.rpc.ErrorInfo");
    assert_eq!(info["reason"], "DAPR_STATE_NOT_FOUND");
    assert_eq!(info["domain"], "dapr.io");
    assert_eq!(info["metadata"]["appID"], "app");
    let a = call(&s, "GET", "/v1.0/state/statestore/a%7C%7Cb", &[], "");
    let kinds: Vec<String> = a.json()["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["@type"].as_str().unwrap().to_owned())
        .collect();
    let want = ["BadRequest", "ResourceInfo", "ErrorInfo"]
        .map(|k| format!("type.googleapis.com/google.rpc.{k}"));
    assert_eq!(kinds, want);
    assert_eq!(a.json()["details"][2]["reason"], "DAPR_STATE_ILLEGAL_KEY");
    for body in [
        "{",
        "[1]",
        r#"[{"key":""}]"#,
        r#"[{"key":"a||b","value":1}]"#,
        r#"[{"key":"k","metadata":{"n":1}}]"#,
    ] {
        let a = call(&s, "POST", "/v1.0/state/statestore", &[], body);
        assert_eq!(
            (a.status, a.json()["errorCode"].clone()),
            (400, "ERR_MALFORMED_REQUEST".into()),
            "{body}"
        );
    }
    assert_eq!(
        call(&s, "GET", "/v1.0/state/statestore/%zz", &[], "").status,
        400
    );
    // The query: not offered by Redis; offered by SQLite, through the app's
    // key prefix, and by the in-memory store.
    let q = r#"{"filter":{"EQ":{"n":1}}}"#;
    let a = call(&s, "POST", "/v1.0-alpha1/state/redisstore/query", &[], q);
    assert_eq!(a.json()["errorCode"], "ERR_STATE_STORE_NOT_SUPPORTED");
    assert_eq!(
        a.json()["details"][1]["reason"],
        "DAPR_STATE_QUERYING_NOT_SUPPORTED"
    );
    assert_eq!(
        call(
            &s,
            "POST",
            "/v1.0/state/memory",
            &[],
            r#"[{"key":"q","value":{"n":1}}]"#
        )
        .status,
        204
    );
    let a = call(&s, "POST", "/v1.0-alpha1/state/memory/query", &[], q);
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json()["results"][0]["data"]["n"], 1);
    let saved = r#"[{"key":"q","value":{"n":1}},{"key":"r","value":{"n":2}}]"#;
    assert_eq!(
        call(&s, "POST", "/v1.0/state/statestore", &[], saved).status,
        204
    );
    let a = call(&s, "POST", "/v1.0-alpha1/state/statestore/query", &[], q);
    assert_eq!(a.status, 200, "{}", a.text());
    let keys: Vec<_> = a.json()["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].clone())
        .collect();
    assert_eq!(keys, ["q"], "only the app's key, without its prefix");
    let a = call(&s, "POST", "/v1.0-alpha1/state/memory/query", &[], "{bad");
    assert_eq!(
        (a.status, a.json()["errorCode"].clone()),
        (500, "ERR_STATE_QUERY".into())
    );
}

#[test]
fn the_api_token_guards_all_but_healthz() {
    let dir = tempfile::tempdir().unwrap();
    manifests(dir.path());
    let s = serve(dir.path(), &["--api-token", "s3cret"]);
    assert_eq!(call(&s, "GET", "/v1.0/healthz", &[], "").status, 204);
    let a = call(&s, "GET", "/v1.0/metadata", &[], "");
    assert_eq!((a.status, a.text()), (401, "invalid api token".to_owned()));
    let a = call(
        &s,
        "GET",
        "/v1.0/state/statestore/k",
        &[("dapr-api-token", "wrong")],
        "",
    );
    assert_eq!(a.status, 401);
    let a = call(
        &s,
        "GET",
        "/v1.0/state/statestore/k",
        &[("dapr-api-token", "s3cret")],
        "",
    );
    assert_eq!(a.status, 204);
}

#[test]
fn other_addresses_must_be_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    manifests(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_statestore"))
        .args(["serve", "--components"])
        .arg(dir.path())
        .args(["--listen", "0.0.0.0", "--http-port", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-remote"));
}

#[cfg(unix)]
#[test]
fn sigterm_stops_the_server_even_with_a_request_left_half_sent() {
    let dir = tempfile::tempdir().unwrap();
    manifests(dir.path());
    let mut s = serve(dir.path(), &[]);
    let mut half = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    half.write_all(b"GET /v1.0/healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    common::sigterm(s.child.id());
    let started = Instant::now();
    loop {
        if let Some(status) = s.child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "still running after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(half);
}
