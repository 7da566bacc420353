//! Generated malformed requests against `statestore serve`, over HTTP and
//! gRPC: bodies mutated from valid ones until they are no longer JSON,
//! JSON of the wrong shape, deep nesting, random bytes, bodies over 4 MiB,
//! bad escapes in keys, garbage etags; protobuf messages mutated byte by
//! byte, and well-formed messages Dapr refuses. Each must get Dapr's 4xx
//! (or the 500 Dapr gives a bad query, the gRPC code Dapr gives), never a
//! panic, and must change no stored data.
//!
//! `STATESTORE_FUZZ_SEED` replays a run; `STATESTORE_FUZZ_CASES` sets how
//! many requests per protocol (default 3,000).

mod common;

use std::collections::HashMap;

use bytes::{Buf, BufMut};
use common::{Server, call, call_bytes, manifests, serve};
use dapr::dapr::proto::common::v1 as cm;
use dapr::dapr::proto::runtime::v1 as rt;
use prost::Message;
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

fn seed() -> u64 {
    std::env::var("STATESTORE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..))
}

fn cases() -> usize {
    std::env::var("STATESTORE_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000)
}

/// Pieces a mutation inserts: JSON's tokens and the bytes that break it.
const PIECES: &[&[u8]] = &[
    b"{", b"}", b"[", b"]", b"\"", b"\\", b"\\u", b"\\ud800", b",", b":", b"null", b"1e999", b"-",
    b"\xff", b"\xc3", b"\0", b"tru", b"\"key\"", b"||",
];

/// `template` changed by one to four random edits.
fn mutate(rng: &mut fastrand::Rng, template: &[u8]) -> Vec<u8> {
    let mut b = template.to_vec();
    for _ in 0..rng.usize(1..=4) {
        let at = rng.usize(..=b.len());
        match rng.u8(..4) {
            0 if !b.is_empty() => {
                let i = rng.usize(..b.len());
                b[i] = rng.u8(..);
            }
            1 if !b.is_empty() => {
                let end = (at + rng.usize(1..8)).min(b.len());
                b.drain(at.min(end)..end);
            }
            2 => b.truncate(at),
            _ => {
                let piece = PIECES[rng.usize(..PIECES.len())];
                b.splice(at..at, piece.iter().copied());
            }
        }
    }
    b
}

fn is_json(b: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(b).is_ok()
}

/// One HTTP endpoint: where, a valid body, and bodies of the wrong shape.
struct Endpoint {
    path: &'static str,
    valid: &'static str,
    wrong: &'static [&'static str],
    /// Dapr's status and code for a body it cannot read.
    status: u16,
    code: &'static str,
}

const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        path: "/v1.0/state/statestore",
        valid: r#"[{"key": "f1", "value": {"a": [1, 2, "x"]}, "etag": "0000000000000001", "metadata": {"ttlInSeconds": "60"}, "options": {"concurrency": "first-write"}}, {"key": "f2", "value": "s"}]"#,
        wrong: &[
            "{}",
            "[1]",
            r#"[{"key": 5}]"#,
            r#"[{"key": ["f1"]}]"#,
            r#"[{"value": 1}]"#,
            r#"[{"key": "f1", "metadata": {"a": 1}}]"#,
            r#"[{"key": "f1", "etag": 7}]"#,
            r#"[{"key": "f1||x", "value": 1}]"#,
            r#"[{"key": "", "value": 1}]"#,
            r#"[{"key": "f1", "options": []}]"#,
            r#"[{"key": "f1", "metadata": []}]"#,
            r#"[{"key": "f3", "value": 1}, {"key": 1}]"#,
        ],
        status: 400,
        code: "ERR_MALFORMED_REQUEST",
    },
    Endpoint {
        path: "/v1.0/state/statestore/bulk",
        valid: r#"{"keys": ["f1", "f2", "seed"], "parallelism": 2, "metadata": {"a": "b"}}"#,
        wrong: &[
            "[]",
            r#"{"keys": "f1"}"#,
            r#"{"keys": [1]}"#,
            r#"{"keys": ["f1||x"]}"#,
            r#"{"keys": ["f1"], "metadata": {"a": 1}}"#,
            r#"{"keys": [""]}"#,
        ],
        status: 400,
        code: "ERR_MALFORMED_REQUEST",
    },
    Endpoint {
        path: "/v1.0/state/statestore/transaction",
        valid: r#"{"operations": [{"operation": "upsert", "request": {"key": "f1", "value": 1}}, {"operation": "delete", "request": {"key": "f2", "etag": "0000000000000001"}}], "metadata": {"a": "b"}}"#,
        wrong: &[
            "[]",
            r#"{"operations": {}}"#,
            r#"{"operations": [1]}"#,
            r#"{"operations": [{"operation": "upsert", "request": {"key": "f1", "etag": 1}}]}"#,
            r#"{"operations": [{"operation": "upsert", "request": []}]}"#,
            r#"{"operations": [{"operation": "upsert", "request": {"key": "f1||x"}}]}"#,
            r#"{"operations": [{"operation": "upsert", "request": {"key": "f1"}}], "metadata": {"a": 1}}"#,
            r#"{"operations": [{"operation": "upsert", "request": {"key": "f1"}}, {"operation": "upsert", "request": {}}]}"#,
        ],
        status: 400,
        code: "ERR_MALFORMED_REQUEST",
    },
    Endpoint {
        path: "/v1.0-alpha1/state/memory/query",
        valid: r#"{"filter": {"AND": [{"EQ": {"a.b": 1}}, {"IN": {"c": [1, "x"]}}]}, "sort": [{"key": "a", "order": "DESC"}], "page": {"limit": 2}}"#,
        wrong: &[
            "[]",
            r#"{"filter": 1}"#,
            r#"{"filter": {"EQ": 1}}"#,
            r#"{"sort": {}}"#,
            r#"{"page": {"limit": "x"}}"#,
            r#"{"filter": {"NOPE": {}}}"#,
        ],
        // Dapr answers a query it cannot read with 500 ERR_STATE_QUERY.
        status: 500,
        code: "ERR_STATE_QUERY",
    },
];

/// A body Dapr cannot take, and whether it is over the 4 MiB cap.
fn bad_body(rng: &mut fastrand::Rng, e: &Endpoint) -> (Vec<u8>, bool) {
    match rng.u16(..1000) {
        0..=1 => {
            let mut b = e.valid.as_bytes().to_vec();
            b.resize((4 << 20) + 1 + rng.usize(..1000), b' ');
            return (b, true);
        }
        2..=40 => {
            let depth = rng.usize(200..100_000);
            let open = if rng.bool() { b'[' } else { b'{' };
            return (vec![open; depth], false);
        }
        41..=80 => {
            let mut b = vec![0u8; rng.usize(..200)];
            rng.fill(&mut b);
            if !is_json(&b) {
                return (b, false);
            }
        }
        81..=350 => {
            return (
                e.wrong[rng.usize(..e.wrong.len())].as_bytes().to_vec(),
                false,
            );
        }
        _ => {}
    }
    for _ in 0..50 {
        let b = mutate(rng, e.valid.as_bytes());
        if !is_json(&b) {
            return (b, false);
        }
    }
    (e.valid.as_bytes()[..e.valid.len() / 2].to_vec(), false)
}

/// What the fuzzed stores hold: the seed key's etag and value, and that no
/// key the fuzz names exists.
fn snapshot(s: &Server) -> (Option<String>, String) {
    let a = call(s, "GET", "/v1.0/state/statestore/seed", &[], "");
    (a.header("etag").map(str::to_owned), a.text())
}

fn nothing_written(s: &Server, seed: u64) {
    let a = call(
        s,
        "POST",
        "/v1.0/state/statestore/bulk",
        &[],
        r#"{"keys": ["f1", "f2", "f3", "f1 x", "k"]}"#,
    );
    for item in a.json().as_array().unwrap() {
        assert!(
            item.get("data").is_none(),
            "seed {seed}: {item} was written"
        );
    }
    let q = call(s, "POST", "/v1.0-alpha1/state/memory/query", &[], "{}");
    assert_eq!(
        q.status,
        204,
        "seed {seed}: the query store holds {}",
        q.text()
    );
}

/// A server whose SQLite store holds the key `seed`.
fn seeded_server() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    manifests(dir.path());
    let s = serve(dir.path(), &[]);
    let a = call(
        &s,
        "POST",
        "/v1.0/state/statestore",
        &[],
        r#"[{"key": "seed", "value": {"v": 1}}]"#,
    );
    assert_eq!(a.status, 204);
    (dir, s)
}

#[test]
fn malformed_http_requests_get_dapr_answers_and_change_nothing() {
    let seed = seed();
    let mut rng = fastrand::Rng::with_seed(seed);
    let (dir, s) = seeded_server();
    let before = snapshot(&s);
    let n = cases();
    for i in 0..n {
        if i % 1000 == 999 {
            eprintln!("http: {} of {n} requests (seed {seed})", i + 1);
        }
        if rng.u8(..10) == 0 {
            // Keys and etags on the URL and in headers.
            let key: String = (0..rng.usize(1..12))
                .map(|_| ["%", "%zz", "%4", "+", "%7C%7C", "a", "%FF", "%00", ";"][rng.usize(..9)])
                .collect();
            let a = call(&s, "GET", &format!("/v1.0/state/statestore/{key}"), &[], "");
            // A key the contract refuses (a NUL) is the store's error,
            // which Dapr answers with 500 ERR_STATE_GET.
            let refused_by_store =
                key.contains("%00") && a.status == 500 && a.json()["errorCode"] == "ERR_STATE_GET";
            assert!(
                [200, 204, 400].contains(&a.status) || refused_by_store,
                "seed {seed}: GET {key}: {} {}",
                a.status,
                a.text()
            );
            let etag = format!("{:x}", rng.u64(..));
            let etag = if rng.bool() {
                etag
            } else {
                "garbage\u{1}".into()
            };
            let a = call(
                &s,
                "DELETE",
                "/v1.0/state/statestore/seed",
                &[("If-Match", &etag)],
                "",
            );
            assert!(
                [400, 409].contains(&a.status),
                "seed {seed}: DELETE with If-Match {etag:?}: {} {}",
                a.status,
                a.text()
            );
            continue;
        }
        let e = &ENDPOINTS[rng.usize(..ENDPOINTS.len())];
        let (body, over) = bad_body(&mut rng, e);
        let a = call_bytes(&s, "POST", e.path, &[], &body);
        let shown = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        if over {
            // Dapr cannot read it, and answers as for any body it cannot
            // decode.
            assert_eq!(a.status, 400, "seed {seed}: {} over 4 MiB", e.path);
            continue;
        }
        assert_eq!(
            a.status,
            e.status,
            "seed {seed}: POST {} {shown:?}: {}",
            e.path,
            a.text()
        );
        if e.status == 500 {
            assert_eq!(a.json()["errorCode"], e.code, "seed {seed}: {shown:?}");
        } else {
            assert!(
                a.json()["errorCode"].as_str().is_some(),
                "seed {seed}: {shown:?}: {}",
                a.text()
            );
        }
    }
    assert_eq!(snapshot(&s), before, "seed {seed}: the seed key changed");
    nothing_written(&s, seed);
    assert_eq!(call(&s, "GET", "/v1.0/healthz", &[], "").status, 204);
    let err = common::stderr(dir.path());
    assert!(!err.contains("panicked"), "seed {seed}: {err}");
}

/// A gRPC codec of raw bytes, to send messages no generated client would.
#[derive(Clone, Copy, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        buf.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        let out = buf.chunk().to_vec();
        buf.advance(out.len());
        Ok(Some(out))
    }
}

fn item(key: &str, value: &[u8]) -> cm::StateItem {
    cm::StateItem {
        key: key.into(),
        value: value.to_vec(),
        etag: Some(cm::Etag {
            value: "0000000000000001".into(),
        }),
        metadata: HashMap::from([("ttlInSeconds".into(), "60".into())]),
        options: Some(cm::StateOptions {
            concurrency: 1,
            consistency: 2,
        }),
    }
}

/// Valid messages of every state RPC, on a store that does not exist, so
/// that a mutation can never reach a real one.
fn templates() -> Vec<(&'static str, Vec<u8>)> {
    let store = "nostore".to_string();
    vec![
        (
            "SaveState",
            rt::SaveStateRequest {
                store_name: store.clone(),
                states: vec![item("f1", b"v"), item("f2", b"{}")],
            }
            .encode_to_vec(),
        ),
        (
            "GetState",
            rt::GetStateRequest {
                store_name: store.clone(),
                key: "f1".into(),
                consistency: 1,
                metadata: HashMap::from([("a".into(), "b".into())]),
            }
            .encode_to_vec(),
        ),
        (
            "GetBulkState",
            rt::GetBulkStateRequest {
                store_name: store.clone(),
                keys: vec!["f1".into(), "f2".into()],
                parallelism: 3,
                metadata: HashMap::new(),
            }
            .encode_to_vec(),
        ),
        (
            "DeleteState",
            rt::DeleteStateRequest {
                store_name: store.clone(),
                key: "f1".into(),
                etag: Some(cm::Etag { value: "1".into() }),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        (
            "DeleteBulkState",
            rt::DeleteBulkStateRequest {
                store_name: store.clone(),
                states: vec![item("f1", b""), item("f2", b"")],
            }
            .encode_to_vec(),
        ),
        (
            "ExecuteStateTransaction",
            rt::ExecuteStateTransactionRequest {
                store_name: store.clone(),
                operations: vec![
                    rt::TransactionalStateOperation {
                        operation_type: "upsert".into(),
                        request: Some(item("f1", b"1")),
                    },
                    rt::TransactionalStateOperation {
                        operation_type: "delete".into(),
                        request: Some(item("f2", b"")),
                    },
                ],
                metadata: HashMap::new(),
            }
            .encode_to_vec(),
        ),
        (
            "QueryStateAlpha1",
            rt::QueryStateRequest {
                store_name: store,
                query: r#"{"filter": {"EQ": {"a": 1}}}"#.into(),
                metadata: HashMap::new(),
            }
            .encode_to_vec(),
        ),
    ]
}

/// A well-formed message Dapr refuses, on the real stores, and its code.
fn refused_message(rng: &mut fastrand::Rng) -> (&'static str, Vec<u8>, Code) {
    let junk: String = (0..rng.usize(..6))
        .map(|_| ["a", "|", "||", " ", "é", "\0"][rng.usize(..6)])
        .collect();
    let bad_key = format!("{junk}||{junk}");
    match rng.u8(..6) {
        0 => (
            "SaveState",
            rt::SaveStateRequest {
                store_name: "statestore".into(),
                states: vec![item("f3", b"1"), item(&bad_key, b"1")],
            }
            .encode_to_vec(),
            Code::InvalidArgument,
        ),
        1 => (
            "SaveState",
            rt::SaveStateRequest {
                store_name: "statestore".into(),
                states: vec![item("", b"1")],
            }
            .encode_to_vec(),
            Code::InvalidArgument,
        ),
        2 => {
            let mut i = item("f3", format!("{{{junk}").as_bytes());
            i.etag = None;
            i.options = None;
            i.metadata = HashMap::from([("contentType".into(), "application/json".into())]);
            (
                "SaveState",
                rt::SaveStateRequest {
                    store_name: "statestore".into(),
                    states: vec![i],
                }
                .encode_to_vec(),
                Code::Unknown,
            )
        }
        3 => (
            "ExecuteStateTransaction",
            rt::ExecuteStateTransactionRequest {
                store_name: "statestore".into(),
                operations: vec![
                    rt::TransactionalStateOperation {
                        operation_type: "upsert".into(),
                        request: Some(item("f3", b"1")),
                    },
                    rt::TransactionalStateOperation {
                        operation_type: format!("merge{junk}"),
                        request: Some(item("f3", b"1")),
                    },
                ],
                metadata: HashMap::new(),
            }
            .encode_to_vec(),
            Code::Unimplemented,
        ),
        4 => (
            "GetBulkState",
            rt::GetBulkStateRequest {
                store_name: "statestore".into(),
                keys: vec!["f1".into(), bad_key],
                ..Default::default()
            }
            .encode_to_vec(),
            Code::InvalidArgument,
        ),
        _ => (
            "QueryStateAlpha1",
            rt::QueryStateRequest {
                store_name: "memory".into(),
                query: format!("{{{junk}"),
                metadata: HashMap::new(),
            }
            .encode_to_vec(),
            Code::Internal,
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_grpc_messages_get_dapr_codes_and_change_nothing() {
    let seed = seed();
    let mut rng = fastrand::Rng::with_seed(seed);
    let (dir, s) = seeded_server();
    let before = snapshot(&s);
    let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", s.grpc))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    let templates = templates();
    let n = cases();
    for i in 0..n {
        if i % 1000 == 999 {
            eprintln!("grpc: {} of {n} messages (seed {seed})", i + 1);
        }
        let (rpc, msg, want) = if rng.u8(..4) == 0 {
            let (rpc, msg, code) = refused_message(&mut rng);
            (rpc, msg, Some(code))
        } else {
            let (rpc, template) = &templates[rng.usize(..templates.len())];
            (*rpc, mutate(&mut rng, template), None)
        };
        let path = format!("/dapr.proto.runtime.v1.Dapr/{rpc}");
        grpc.ready().await.unwrap();
        let r = grpc
            .unary(tonic::Request::new(msg.clone()), path.parse().unwrap(), Raw)
            .await;
        let code = match &r {
            Ok(_) => Code::Ok,
            Err(status) => status.code(),
        };
        match want {
            Some(want) => assert_eq!(code, want, "seed {seed}: {rpc} {msg:?}: {r:?}"),
            // A message that does not decode is Internal, as gRPC-Go
            // answers it; one that does names a store that does not exist.
            None => assert!(
                [Code::Internal, Code::InvalidArgument].contains(&code),
                "seed {seed}: {rpc} {msg:?}: {r:?}"
            ),
        }
    }
    assert_eq!(snapshot(&s), before, "seed {seed}: the seed key changed");
    nothing_written(&s, seed);
    let err = common::stderr(dir.path());
    assert!(!err.contains("panicked"), "seed {seed}: {err}");
}
