//! `statestore serve` over gRPC, driven by Dapr's Rust SDK (the `dapr`
//! crate, unchanged): its high-level client where it offers the call, and
//! its generated client of Dapr's full service for the rest and for the
//! status codes. The scenario runs on SQLite and on Redis (127.0.0.1:6379,
//! started by scripts/services.sh), the query on the in-memory store.

mod common;

use std::collections::HashMap;

use common::{manifests, redis_manifest, serve};
use dapr::client::{ApiTokenInterceptor, ClientOptions};
use dapr::dapr::proto::common::v1 as cm;
use dapr::dapr::proto::runtime::v1 as rt;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic_types::StatusExt;

type Api = rt::dapr_client::DaprClient<InterceptedService<Channel, ApiTokenInterceptor>>;

const TOKEN: &str = "grpc-t0ken";

async fn api(port: u16, token: Option<&str>) -> Api {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect()
        .await
        .expect("the gRPC port accepts");
    let token = ApiTokenInterceptor::try_new(token.map(str::to_owned)).unwrap();
    rt::dapr_client::DaprClient::with_interceptor(channel, token)
}

fn item(key: &str, value: &[u8], etag: Option<&str>) -> cm::StateItem {
    cm::StateItem {
        key: key.to_owned(),
        value: value.to_vec(),
        etag: etag.map(|e| cm::Etag {
            value: e.to_owned(),
        }),
        ..Default::default()
    }
}

/// The status of a call that must fail, checked for its code and, when
/// given, the ErrorInfo reason the SDKs read as the error code.
/// One operation of a transaction.
fn op(kind: &str, i: cm::StateItem) -> rt::TransactionalStateOperation {
    rt::TransactionalStateOperation {
        operation_type: kind.to_owned(),
        request: Some(i),
    }
}

/// A transaction on `store`.
fn tx(
    store: &str,
    ops: Vec<rt::TransactionalStateOperation>,
) -> rt::ExecuteStateTransactionRequest {
    rt::ExecuteStateTransactionRequest {
        store_name: store.into(),
        operations: ops,
        metadata: HashMap::new(),
    }
}

fn refused<T: std::fmt::Debug>(
    r: Result<tonic::Response<T>, tonic::Status>,
    code: Code,
    reason: Option<&str>,
) -> tonic::Status {
    let status = r.expect_err("the call must fail");
    assert_eq!(status.code(), code, "{status:?}");
    if let Some(reason) = reason {
        let info = status.get_details_error_info().expect("an ErrorInfo");
        assert_eq!(info.reason, reason, "{status:?}");
        assert_eq!(info.domain, "dapr.io");
    }
    status
}

async fn get(api: &mut Api, store: &str, key: &str) -> rt::GetStateResponse {
    api.get_state(rt::GetStateRequest {
        store_name: store.into(),
        key: key.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
}

/// The scenario of docs/serve.md on `store`, with keys made unique by
/// `run` (Redis is shared with other tests).
async fn scenario(port: u16, store: &str, run: &str) {
    let k = |n: &str| format!("rs-{run}-{n}");
    let opts = ClientOptions::new()
        .with_address(format!("http://127.0.0.1:{port}"))
        .with_api_token(TOKEN);
    let mut sdk = dapr::Client::from_options(opts).await.unwrap();
    let json = HashMap::from([("contentType".to_owned(), "application/json".to_owned())]);

    // Save and get through the SDK's own client.
    sdk.save_state(
        store,
        &k("1"),
        br#"{"n":1}"#.to_vec(),
        None,
        Some(json),
        None,
    )
    .await
    .unwrap();
    let got = sdk.get_state(store, &k("1"), None).await.unwrap();
    assert_eq!(got.data, br#"{"n":1}"#);
    assert!(!got.etag.is_empty(), "a read returns an etag");

    // Etag round trip; a stale etag is Aborted and changes nothing.
    let mut api = api(port, Some(TOKEN)).await;
    let save = |items: Vec<cm::StateItem>| rt::SaveStateRequest {
        store_name: store.into(),
        states: items,
    };
    api.save_state(save(vec![item(&k("1"), b"two", Some(&got.etag))]))
        .await
        .unwrap();
    let stale = api
        .save_state(save(vec![item(&k("1"), b"three", Some(&got.etag))]))
        .await;
    refused(stale, Code::Aborted, Some("ERR_STATE_SAVE"));
    assert_eq!(get(&mut api, store, &k("1")).await.data, b"two");

    // First write: refused where the key exists.
    let first = |key: &str, v: &[u8]| {
        let mut i = item(key, v, None);
        i.options = Some(cm::StateOptions {
            concurrency: cm::state_options::StateConcurrency::ConcurrencyFirstWrite as i32,
            consistency: 0,
        });
        i
    };
    api.save_state(save(vec![first(&k("new"), b"x")]))
        .await
        .unwrap();
    let again = api.save_state(save(vec![first(&k("new"), b"y")])).await;
    refused(again, Code::Aborted, None);
    assert_eq!(get(&mut api, store, &k("new")).await.data, b"x");

    // Delete with an etag: a stale one is refused, the current one deletes.
    let old = get(&mut api, store, &k("new")).await.etag;
    api.save_state(save(vec![item(&k("new"), b"z", Some(&old))]))
        .await
        .unwrap();
    let delete = |etag: &str| rt::DeleteStateRequest {
        store_name: store.into(),
        key: k("new"),
        etag: Some(cm::Etag {
            value: etag.to_owned(),
        }),
        ..Default::default()
    };
    refused(
        api.delete_state(delete(&old)).await,
        Code::Aborted,
        Some("ERR_STATE_DELETE"),
    );
    let current = get(&mut api, store, &k("new")).await.etag;
    api.delete_state(delete(&current)).await.unwrap();
    let gone = get(&mut api, store, &k("new")).await;
    assert!(gone.data.is_empty() && gone.etag.is_empty());

    // Bulk get with a missing key: an item with only its key.
    let bulk = api
        .get_bulk_state(rt::GetBulkStateRequest {
            store_name: store.into(),
            keys: vec![k("1"), k("missing")],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .items;
    assert_eq!(bulk.len(), 2);
    assert_eq!(
        (bulk[0].key.as_str(), &bulk[0].data[..]),
        (k("1").as_str(), &b"two"[..])
    );
    assert!(!bulk[0].etag.is_empty());
    assert_eq!(bulk[1].key, k("missing"));
    assert!(bulk[1].data.is_empty() && bulk[1].etag.is_empty() && bulk[1].error.is_empty());

    // A transaction that commits, then one with a stale etag that changes
    // nothing.
    let etag = get(&mut api, store, &k("1")).await.etag;
    api.execute_state_transaction(tx(
        store,
        vec![
            op("upsert", item(&k("1"), b"t1", Some(&etag))),
            op("upsert", item(&k("2"), b"t2", None)),
        ],
    ))
    .await
    .unwrap();
    assert_eq!(get(&mut api, store, &k("1")).await.data, b"t1");
    let lost = api
        .execute_state_transaction(tx(
            store,
            vec![
                op("upsert", item(&k("2"), b"lost", None)),
                op("delete", item(&k("1"), b"", Some(&etag))),
            ],
        ))
        .await;
    refused(lost, Code::Internal, Some("ERR_STATE_TRANSACTION"));
    assert_eq!(get(&mut api, store, &k("1")).await.data, b"t1");
    assert_eq!(get(&mut api, store, &k("2")).await.data, b"t2");

    // Bulk delete, then everything of this run is gone.
    sdk.delete_bulk_state(
        store.to_owned(),
        [(k("1"), b"".to_vec()), (k("2"), b"".to_vec())],
    )
    .await
    .unwrap();
    assert!(get(&mut api, store, &k("2")).await.data.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dapr_rust_sdk_on_sqlite_and_redis() {
    let dir = tempfile::tempdir().unwrap();
    manifests(dir.path());
    redis_manifest(dir.path());
    let s = serve(dir.path(), &["--api-token", TOKEN]);
    let run = format!("{}-{}", std::process::id(), fastrand::u32(..));
    scenario(s.grpc, "statestore", &run).await;
    scenario(s.grpc, "redisstore", &run).await;

    // Query, on the store that supports it.
    let opts = ClientOptions::new()
        .with_address(format!("http://127.0.0.1:{}", s.grpc))
        .with_api_token(TOKEN);
    let mut sdk = dapr::Client::from_options(opts).await.unwrap();
    let json = HashMap::from([("contentType".to_owned(), "application/json".to_owned())]);
    for (i, city) in ["Oslo", "Lima", "Oslo"].iter().enumerate() {
        let value = serde_json::json!({ "city": city, "age": 30 + i }).to_string();
        sdk.save_state(
            "memory",
            &format!("p{i}"),
            value.into_bytes(),
            None,
            Some(json.clone()),
            None,
        )
        .await
        .unwrap();
    }
    let q = serde_json::json!({
        "filter": { "EQ": { "city": "Oslo" } },
        "sort": [{ "key": "age", "order": "DESC" }],
    });
    let res = sdk.query_state_alpha1("memory", q, None).await.unwrap();
    let keys: Vec<&str> = res.results.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["p2", "p0"]);

    // GetMetadata names the components.
    let meta = sdk.get_metadata().await.unwrap();
    assert_eq!(meta.id, "app");
    let mut names: Vec<&str> = meta
        .registered_components
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    names.sort();
    assert_eq!(names, ["memory", "redisstore", "statestore"]);

    // The token: a wrong one and none are refused; the right one works.
    for token in [Some("wrong"), None] {
        let mut other = api(s.grpc, token).await;
        let r = other
            .get_state(rt::GetStateRequest {
                store_name: "statestore".into(),
                key: "k".into(),
                ..Default::default()
            })
            .await;
        refused(r, Code::Unauthenticated, None);
    }
    let mut api = api(s.grpc, Some(TOKEN)).await;
    get(&mut api, "statestore", "k").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_carry_dapr_codes_and_details() {
    let dir = tempfile::tempdir().unwrap();
    manifests(dir.path());
    redis_manifest(dir.path());
    let s = serve(dir.path(), &[]);
    let mut api = api(s.grpc, None).await;

    let r = api
        .get_state(rt::GetStateRequest {
            store_name: "nope".into(),
            key: "k".into(),
            ..Default::default()
        })
        .await;
    let status = refused(r, Code::InvalidArgument, Some("DAPR_STATE_NOT_FOUND"));
    assert_eq!(status.message(), "state store nope is not found");

    let r = api
        .save_state(rt::SaveStateRequest {
            store_name: "statestore".into(),
            states: vec![item("a||b", b"v", None)],
        })
        .await;
    let status = refused(r, Code::InvalidArgument, Some("DAPR_STATE_ILLEGAL_KEY"));
    let bad = status.get_details_bad_request().expect("a BadRequest");
    assert_eq!(bad.field_violations[0].field, "a||b");
    let resource = status.get_details_resource_info().expect("a ResourceInfo");
    assert_eq!(
        (
            resource.resource_type.as_str(),
            resource.resource_name.as_str()
        ),
        ("state", "statestore")
    );

    let r = api
        .save_state(rt::SaveStateRequest {
            store_name: "statestore".into(),
            states: vec![item("", b"v", None)],
        })
        .await;
    refused(r, Code::InvalidArgument, Some("ERR_STATE_SAVE"));

    // JSON declared by contentType must be JSON (Dapr: Unknown).
    let mut not_json = item("k", b"{oops", None);
    not_json
        .metadata
        .insert("contentType".into(), "application/json".into());
    let r = api
        .save_state(rt::SaveStateRequest {
            store_name: "statestore".into(),
            states: vec![not_json],
        })
        .await;
    refused(r, Code::Unknown, None);

    // A transaction stores its values as sent, JSON or not.
    let mut tx_item = item("tj", b"{oops", None);
    tx_item
        .metadata
        .insert("contentType".into(), "application/json".into());
    api.execute_state_transaction(tx("statestore", vec![op("upsert", tx_item)]))
        .await
        .unwrap();
    assert_eq!(get(&mut api, "statestore", "tj").await.data, b"{oops");

    // The key is checked before the operation, as Dapr does.
    let r = api
        .execute_state_transaction(tx(
            "statestore",
            vec![op("merge", item("a||b", b"v", None))],
        ))
        .await;
    refused(r, Code::InvalidArgument, Some("DAPR_STATE_ILLEGAL_KEY"));

    let r = api
        .execute_state_transaction(tx("statestore", vec![op("merge", item("k", b"v", None))]))
        .await;
    refused(
        r,
        Code::Unimplemented,
        Some("ERR_NOT_SUPPORTED_STATE_OPERATION"),
    );

    let r = api
        .query_state_alpha1(rt::QueryStateRequest {
            store_name: "memory".into(),
            query: "{not json".into(),
            metadata: HashMap::new(),
        })
        .await;
    refused(r, Code::Internal, Some("DAPR_STATE_QUERY_FAILED"));
    let r = api
        .query_state_alpha1(rt::QueryStateRequest {
            store_name: "redisstore".into(),
            query: "{}".into(),
            metadata: HashMap::new(),
        })
        .await;
    refused(r, Code::Internal, Some("DAPR_STATE_QUERYING_NOT_SUPPORTED"));

    // A missing key is OK with no data and no etag.
    let missing = get(&mut api, "statestore", "missing").await;
    assert!(missing.data.is_empty() && missing.etag.is_empty());

    // Every other RPC of Dapr's service answers Unimplemented.
    let r = api
        .publish_event(rt::PublishEventRequest {
            pubsub_name: "p".into(),
            topic: "t".into(),
            ..Default::default()
        })
        .await;
    refused(r, Code::Unimplemented, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_lists_the_service() {
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;

    let dir = tempfile::tempdir().unwrap();
    manifests(dir.path());
    let s = serve(dir.path(), &[]);
    let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", s.grpc))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = ServerReflectionClient::new(channel);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = client
        .server_reflection_info(futures::stream::iter([req]))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.message().await.unwrap().expect("one answer");
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("not a service list: {answer:?}");
    };
    let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"dapr.proto.runtime.v1.Dapr"), "{names:?}");
}
