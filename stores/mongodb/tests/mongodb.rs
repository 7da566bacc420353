//! What the conformance suite cannot see from outside: Dapr's document
//! layout both ways (documents written as Dapr's store writes them, read
//! here; documents written here, read as Dapr reads them), a stale
//! `_statestore` after a write by Dapr, the runtime refusing a server
//! without a replica set as actor store, and init errors.

mod common;

use std::time::{Duration, Instant, SystemTime};

use mongodb::bson::{Bson, DateTime, Document, doc};
use statestore_core::{
    ErrorKind, GetRequest, Properties, Query, QueryRequest, Registry, SetRequest, Store, StoreExt,
    Ttl,
};
use statestore_mongodb::MongoStore;

/// A store on the replica set, in a collection of its own, and the raw
/// collection beside it.
async fn open(name: &str) -> (MongoStore, mongodb::Collection<Document>, String) {
    let url = common::replica_set_url();
    let collection = format!("it_{}_{name}", std::process::id());
    let mut store = MongoStore::new();
    store
        .init(&common::props(&url, &collection))
        .await
        .expect("init");
    let client = mongodb::Client::with_uri_str(&url).await.unwrap();
    let raw = client
        .database("statestore_test")
        .collection::<Document>(&collection);
    (store, raw, collection)
}

fn uuid() -> String {
    statestore_mongodb::layout::new_etag()
}

#[tokio::test]
async fn documents_written_by_dapr_read_back() {
    let (store, raw, collection) = open("from_dapr").await;
    let past = DateTime::from_millis(DateTime::now().timestamp_millis() - 60_000);
    let later = DateTime::from_millis(DateTime::now().timestamp_millis() + 3_600_000);
    let (e1, e2) = (uuid(), uuid());
    // As Dapr's MongoDB store writes them: bytes from gRPC as a string,
    // JSON from HTTP as a document, a JSON string quoted, a number as a
    // number; `_ttl` null, a date in the past (expired, not yet purged) or
    // in the future.
    let docs = vec![
        doc! { "_id": "app||bytes", "value": "plain text", "_etag": &e1, "_ttl": Bson::Null },
        doc! { "_id": "app||json", "value": { "a": 1_i32, "b": "x", "c": [true, 2.5] }, "_etag": &e2, "_ttl": Bson::Null },
        doc! { "_id": "app||string", "value": "\"quoted\"", "_etag": uuid(), "_ttl": Bson::Null },
        doc! { "_id": "app||number", "value": 42_i32, "_etag": uuid(), "_ttl": Bson::Null },
        doc! { "_id": "app||expired", "value": "gone", "_etag": uuid(), "_ttl": past },
        doc! { "_id": "app||expiring", "value": "soon", "_etag": uuid(), "_ttl": later },
    ];
    raw.insert_many(docs).await.unwrap();

    let read = |k: &'static str| {
        let store = &store;
        async move { store.get(GetRequest::new(k)).await.unwrap() }
    };
    let bytes = read("app||bytes").await.unwrap();
    assert_eq!(&bytes.value[..], b"plain text");
    assert_eq!(bytes.etag.as_ref().map(|e| e.as_str()), Some(e1.as_str()));
    assert_eq!(
        &read("app||json").await.unwrap().value[..],
        br#"{"a":1,"b":"x","c":[true,2.5]}"#
    );
    assert_eq!(&read("app||string").await.unwrap().value[..], b"\"quoted\"");
    assert_eq!(&read("app||number").await.unwrap().value[..], b"42");
    assert!(
        read("app||expired").await.is_none(),
        "an expired document Dapr wrote is invisible"
    );
    let expiring = read("app||expiring").await.unwrap();
    let at = expiring
        .expires_at
        .expect("ttlExpireTime of a Dapr document");
    assert!(at > SystemTime::now() + Duration::from_secs(3500));

    // Dapr's etag guards a write here; the query reads Dapr's documents.
    store
        .set(SetRequest::new("app||json", r#"{"a":2}"#).etag(e2.as_str()))
        .await
        .expect("a write with the etag Dapr wrote");
    let q = Query::from_json(r#"{"filter": {"EQ": {"b": "x"}}}"#).unwrap();
    let found = store.query(QueryRequest::new(q)).await.unwrap();
    assert!(
        found.results.is_empty(),
        "the document was rewritten without b"
    );
    let q = Query::from_json(r#"{"filter": {"EQ": {"a": 2}}}"#).unwrap();
    let found = store.query(QueryRequest::new(q)).await.unwrap();
    assert_eq!(found.results.len(), 1);
    common::drop_collection(&common::replica_set_url(), &collection);
}

#[tokio::test]
async fn documents_written_here_read_as_dapr_reads_them() {
    let (store, raw, collection) = open("to_dapr").await;
    let json = store
        .put("app||json", r#"{"a":1,"b":[1,2]}"#)
        .await
        .unwrap()
        .unwrap();
    store.put("app||text", "hello").await.unwrap();
    store
        .set(SetRequest::new("app||ttl", "v").ttl(Ttl::Seconds(100)))
        .await
        .unwrap();
    let find = |k: &'static str| {
        let raw = &raw;
        async move { raw.find_one(doc! { "_id": k }).await.unwrap().expect(k) }
    };
    let d = find("app||json").await;
    assert_eq!(
        d.get_str("_etag").unwrap(),
        json.as_str(),
        "the etag Dapr compares"
    );
    let value = d
        .get_document("value")
        .expect("a JSON object is a document");
    assert_eq!(value.get_i64("a").unwrap(), 1);
    assert_eq!(d.get("_ttl"), Some(&Bson::Null));
    assert_eq!(find("app||text").await.get_str("value").unwrap(), "hello");
    let ttl = find("app||ttl")
        .await
        .get_datetime("_ttl")
        .unwrap()
        .to_system_time();
    let delta = ttl.duration_since(SystemTime::now()).unwrap_or_default();
    assert!(
        delta > Duration::from_secs(95) && delta <= Duration::from_secs(101),
        "{delta:?}"
    );
    store.remove("app||text").await.unwrap();
    assert!(
        raw.find_one(doc! { "_id": "app||text" })
            .await
            .unwrap()
            .is_none()
    );
    common::drop_collection(&common::replica_set_url(), &collection);
}

/// A write by Dapr keeps `_statestore` of an earlier write here; it no
/// longer counts, since its etag is not the document's.
#[tokio::test]
async fn a_write_by_dapr_makes_extras_stale() {
    let (store, raw, collection) = open("stale").await;
    store
        .set(SetRequest::new("app||k", r#"{ "a" : 1 }"#).content_type("application/json"))
        .await
        .unwrap();
    let before = store.get_item("app||k").await.unwrap().unwrap();
    assert_eq!(&before.value[..], br#"{ "a" : 1 }"#, "the exact bytes");
    assert_eq!(before.content_type.as_deref(), Some("application/json"));
    // Dapr's update: $set of _id, value and _etag, _ttl null.
    raw.update_one(
        doc! { "_id": "app||k" },
        vec![doc! { "$set": { "value": { "a": 2_i32 }, "_etag": uuid(), "_ttl": Bson::Null } }],
    )
    .await
    .unwrap();
    let after = store.get_item("app||k").await.unwrap().unwrap();
    assert_eq!(&after.value[..], br#"{"a":2}"#);
    assert_eq!(after.content_type, None);
    common::drop_collection(&common::replica_set_url(), &collection);
}

/// Without a replica set there are no transactions: the components runtime
/// refuses the store as actor state store and says why.
#[tokio::test]
async fn without_a_replica_set_no_actor_store() {
    let url = common::standalone_url();
    let dir = std::env::temp_dir().join(format!("mongo-actors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = dir.join("actors.yaml");
    std::fs::write(
        &manifest,
        format!(
            "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {{name: actors}}\nspec:\n  type: state.mongodb\n  version: v1\n  metadata:\n    - {{name: connectionString, value: \"{url}\"}}\n    - {{name: databaseName, value: statestore_test}}\n    - {{name: actorStateStore, value: \"true\"}}\n"
        ),
    )
    .unwrap();
    let mut registry = Registry::empty();
    registry.register(statestore_mongodb::REGISTRATION).unwrap();
    let e = statestore_runtime::Runtime::builder(registry, "app")
        .load(&manifest)
        .await
        .expect_err("a store without transactions as actor state store");
    let text = format!("{e:#}");
    assert_eq!(e.kind(), ErrorKind::Config, "{text}");
    assert!(
        text.contains("TRANSACTIONAL") && text.contains("actorStateStore"),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn init_errors_name_the_cause_and_hide_the_password() {
    let started = Instant::now();
    let mut store = MongoStore::new();
    let e = store
        .init(
            &Properties::new()
                .with("host", "127.0.0.1:1")
                .with("operationTimeout", "1s"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Unavailable | ErrorKind::Timeout),
        "{e:#}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    let mut store = MongoStore::new();
    let e = store
        .init(
            &Properties::new()
                .with("host", "127.0.0.1:27017")
                .with("params", "?replicaSet=rs0")
                .with("username", "nobody")
                .with("password", "hunter2"),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e:#}");
    assert!(!format!("{e:#} {e:?}").contains("hunter2"), "{e:#}");
}

#[tokio::test]
async fn odd_connection_strings_never_show_the_password() {
    for uri in [
        "mongodb://127.0.0.1:27017/?tlsCertificateKeyFilePassword=hunter2&bogus=1",
        "mongodb://user:hunter2/x@127.0.0.1:27017/",
        "mongodb://user:hunter2?x@127.0.0.1:27017/",
    ] {
        let mut store = MongoStore::new();
        let props = Properties::new()
            .with("connectionString", uri)
            .with("operationTimeout", "1s");
        let Err(e) = store.init(&props).await else {
            continue;
        };
        let shown = format!("{e:#} {e:?}");
        assert!(!shown.contains("hunter2"), "{uri}: {shown}");
    }
}

/// A get that finds a key expired (by the server's clock, in the same
/// read) means a first-write that follows finds it absent.
#[tokio::test]
async fn expired_by_get_means_absent_for_first_write() {
    let (store, _raw, _) = open("expiry_agrees").await;
    for round in 0..3 {
        let k = format!("k{round}");
        store
            .set(SetRequest::new(&k, "v").ttl(Ttl::Seconds(1)))
            .await
            .unwrap();
        let started = Instant::now();
        while store.get_item(&k).await.unwrap().is_some() {
            assert!(started.elapsed() < Duration::from_secs(5), "never expired");
        }
        store
            .set(SetRequest::new(&k, "again").first_write())
            .await
            .unwrap_or_else(|e| panic!("round {round}: get said expired, first-write said {e:#}"));
    }
}

#[tokio::test]
async fn large_values_keys_and_batches() {
    let (store, _raw, _) = open("large").await;
    // A JSON array that takes about 8 times its size as BSON: kept as text.
    let array = format!("[{}0]", "0,".repeat(2 * 1024 * 1024));
    store
        .set(SetRequest::new("array", array.clone()))
        .await
        .unwrap();
    assert_eq!(
        store.get_item("array").await.unwrap().unwrap().value,
        array.as_bytes()
    );
    // More than 16 MiB in one bulk call: split into commands that fit.
    let big = vec![b'x'; 6 << 20];
    let reqs: Vec<SetRequest> = (0..3)
        .map(|i| SetRequest::new(format!("big{i}"), big.clone()))
        .collect();
    for r in store.bulk_set(reqs).await.unwrap() {
        r.result.unwrap();
    }
    let keys: Vec<String> = (0..300)
        .map(|i| format!("{i:03}{}", "k".repeat(60 * 1024)))
        .collect();
    let reqs: Vec<SetRequest> = keys.iter().map(|k| SetRequest::new(k, "v")).collect();
    for r in store.bulk_set(reqs).await.unwrap() {
        r.result.unwrap();
    }
    let got = store
        .bulk_get(keys.iter().map(GetRequest::new).collect())
        .await
        .unwrap();
    assert!(got.iter().all(|r| matches!(&r.result, Ok(Some(_)))));
    // A pattern longer than MongoDB's regular expressions take is refused.
    let e = store
        .keys_like(statestore_core::KeysLikeRequest::new("p".repeat(40_000)))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidRequest, "{e:#}");
    let e = store
        .delete_with_prefix(statestore_core::DeleteWithPrefixRequest::new(
            "p".repeat(40_000),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidRequest, "{e:#}");
}

#[tokio::test]
async fn keys_like_matches_the_whole_key() {
    let (store, _raw, _) = open("like_end").await;
    for k in ["abc", "abc\n", "p||x", "p||x\n"] {
        store.set(SetRequest::new(k, "v")).await.unwrap();
    }
    let page = store
        .keys_like(statestore_core::KeysLikeRequest::new("abc"))
        .await
        .unwrap();
    assert_eq!(page.keys, ["abc"]);
    assert_eq!(
        store
            .delete_with_prefix(statestore_core::DeleteWithPrefixRequest::new("p"))
            .await
            .unwrap(),
        2
    );
}
