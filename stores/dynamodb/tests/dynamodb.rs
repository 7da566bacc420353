//! What the conformance suite cannot see from outside: Dapr's item layout
//! both ways (items written as Dapr's store writes them, read here; items
//! written here, read as Dapr reads them), the transaction limit, a stale
//! etag on a transaction's last operation, and init errors.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use statestore_core::{
    DeleteRequest, ErrorKind, Properties, SetRequest, Store, StoreExt, TransactRequest,
    TransactionOp, Ttl,
};
use statestore_dynamodb::DynamoStore;

async fn open(props: &Properties) -> DynamoStore {
    let mut store = DynamoStore::new();
    store.init(props).await.expect("init");
    store
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

#[tokio::test]
async fn items_written_by_dapr_read_back() {
    let table = common::table("from_dapr");
    let store = open(&common::props(&table)).await;
    let raw = common::raw().await;
    let later = now_secs() + 3600;
    // As Dapr's store writes them: JSON from HTTP as a string, bytes from
    // gRPC as binary, etags as hex of a random number, the expiry as epoch
    // seconds (in the past: expired, not yet purged).
    let items: Vec<HashMap<String, AttributeValue>> = vec![
        HashMap::from([
            ("key".into(), s("app||json")),
            ("value".into(), s(r#"{"a":1}"#)),
            ("etag".into(), s("1f2e3d4c5b6a7988")),
        ]),
        HashMap::from([
            ("key".into(), s("app||bytes")),
            (
                "value".into(),
                AttributeValue::B(Blob::new(vec![0xff, 0, 1])),
            ),
            ("etag".into(), s("abc")),
        ]),
        HashMap::from([
            ("key".into(), s("app||expired")),
            ("value".into(), s("gone")),
            ("etag".into(), s("1")),
            (
                "expiresAt".into(),
                AttributeValue::N((now_secs() - 60).to_string()),
            ),
        ]),
        HashMap::from([
            ("key".into(), s("app||expiring")),
            ("value".into(), s("soon")),
            ("etag".into(), s("2")),
            ("expiresAt".into(), AttributeValue::N(later.to_string())),
        ]),
        // A number at or below now, negative or with a fraction: expired.
        HashMap::from([
            ("key".into(), s("app||negative")),
            ("value".into(), s("gone")),
            ("etag".into(), s("3")),
            ("expiresAt".into(), AttributeValue::N("-5".into())),
        ]),
        HashMap::from([
            ("key".into(), s("app||fraction")),
            ("value".into(), s("gone")),
            ("etag".into(), s("4")),
            (
                "expiresAt".into(),
                AttributeValue::N(format!("{}.9", now_secs() - 2)),
            ),
        ]),
        // Written by an old Dapr version: no etag at all.
        HashMap::from([("key".into(), s("app||old")), ("value".into(), s("v0"))]),
    ];
    for item in items {
        raw.put_item()
            .table_name(&table)
            .set_item(Some(item))
            .send()
            .await
            .unwrap();
    }

    let json = store.get_item("app||json").await.unwrap().expect("json");
    assert_eq!(&json.value[..], br#"{"a":1}"#);
    assert_eq!(
        json.etag.as_ref().map(|e| e.as_str()),
        Some("1f2e3d4c5b6a7988")
    );
    let bytes = store.get_item("app||bytes").await.unwrap().expect("bytes");
    assert_eq!(&bytes.value[..], &[0xff, 0, 1]);
    assert!(store.get_item("app||expired").await.unwrap().is_none());
    let expiring = store
        .get_item("app||expiring")
        .await
        .unwrap()
        .expect("expiring");
    assert_eq!(
        expiring.expires_at,
        Some(UNIX_EPOCH + Duration::from_secs(later as u64))
    );
    assert!(expiring.expire_time_rfc3339().is_some());
    let old = store.get_item("app||old").await.unwrap().expect("old");
    assert_eq!((&old.value[..], old.etag), (&b"v0"[..], None));

    // Dapr's etag is honoured: a stale one is refused, the current one
    // writes, and first-write sees the expired item as absent.
    let stale = store
        .set(SetRequest::new("app||json", "x").etag("1f2e3d4c5b6a7989"))
        .await;
    assert_eq!(stale.unwrap_err().kind(), ErrorKind::ETagMismatch);
    store
        .set(SetRequest::new("app||json", "x").etag("1f2e3d4c5b6a7988"))
        .await
        .unwrap();
    for k in ["app||expired", "app||negative", "app||fraction"] {
        assert!(store.get_item(k).await.unwrap().is_none(), "{k}");
        store
            .set(SetRequest::new(k, "new").first_write())
            .await
            .unwrap_or_else(|e| panic!("{k}: get said expired, first-write said {e:#}"));
    }
    common::drop_table(&table).await;
}

#[tokio::test]
async fn items_written_here_read_as_dapr_reads_them() {
    let table = common::table("to_dapr");
    let store = open(&common::props(&table)).await;
    let raw = common::raw().await;
    let json = store
        .set(SetRequest::new("app||json", r#"{"a":1}"#))
        .await
        .unwrap()
        .unwrap();
    store
        .set(
            SetRequest::new("app||bytes", vec![0xffu8, 0, 1])
                .content_type("application/octet-stream"),
        )
        .await
        .unwrap();
    let before = now_secs();
    store
        .set(SetRequest::new("app||ttl", "t").ttl(Ttl::Seconds(100)))
        .await
        .unwrap();

    let get = |k: &'static str| {
        let raw = raw.clone();
        let table = table.clone();
        async move {
            raw.get_item()
                .table_name(table)
                .key("key", s(k))
                .consistent_read(true)
                .send()
                .await
                .unwrap()
                .item
                .expect("the item")
        }
    };
    let item = get("app||json").await;
    assert_eq!(item.get("value"), Some(&s(r#"{"a":1}"#)));
    assert_eq!(item.get("etag"), Some(&s(json.as_str())));
    assert!(
        !item.contains_key("contentType"),
        "no content type was given"
    );
    let item = get("app||bytes").await;
    assert_eq!(
        item.get("value"),
        Some(&AttributeValue::B(Blob::new(vec![0xff, 0, 1])))
    );
    assert_eq!(
        item.get("contentType"),
        Some(&s("application/octet-stream"))
    );
    let item = get("app||ttl").await;
    let AttributeValue::N(at) = item.get("expiresAt").expect("the ttl attribute") else {
        panic!("the ttl attribute is not a number: {item:?}");
    };
    let at: i64 = at.parse().expect("whole epoch seconds, as Dapr reads them");
    assert!(
        (before + 100..=before + 102).contains(&at),
        "{at} vs {before}"
    );

    // A write without ttl removes the attribute; -1 too.
    store
        .set(SetRequest::new("app||ttl", "t").ttl(Ttl::Never))
        .await
        .unwrap();
    assert!(!get("app||ttl").await.contains_key("expiresAt"));
    common::drop_table(&table).await;
}

#[tokio::test]
async fn a_transaction_of_101_operations_is_refused_before_sending() {
    let table = common::table("tx_limit");
    let store = open(&common::props(&table)).await;
    let ops: Vec<TransactionOp> = (0..101)
        .map(|i| SetRequest::new(format!("k{i}"), "v").into())
        .collect();
    let e = store.transact(TransactRequest::new(ops)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidRequest);
    assert!(
        e.to_string().contains("101") && e.to_string().contains("100"),
        "{e}"
    );
    assert_eq!(store.capabilities().limits.max_transaction_ops, Some(100));
    for i in [0, 50, 100] {
        assert!(
            store.get_item(&format!("k{i}")).await.unwrap().is_none(),
            "nothing was written"
        );
    }
    // 100 are fine.
    let ops: Vec<TransactionOp> = (0..100)
        .map(|i| SetRequest::new(format!("k{i}"), "v").into())
        .collect();
    assert_eq!(
        store
            .transact(TransactRequest::new(ops))
            .await
            .unwrap()
            .len(),
        100
    );
    common::drop_table(&table).await;
}

#[tokio::test]
async fn a_stale_etag_on_the_last_operation_changes_nothing() {
    let table = common::table("tx_stale");
    let store = open(&common::props(&table)).await;
    let e1 = store
        .set(SetRequest::new("a", "a0"))
        .await
        .unwrap()
        .unwrap();
    let e2 = store
        .set(SetRequest::new("b", "b0"))
        .await
        .unwrap()
        .unwrap();
    store.set(SetRequest::new("b", "b1")).await.unwrap();
    let ops: Vec<TransactionOp> = vec![
        SetRequest::new("a", "a1").etag(e1.clone()).into(),
        SetRequest::new("c", "c1").into(),
        DeleteRequest::new("d").into(),
        SetRequest::new("b", "b2").etag(e2).into(),
    ];
    let e = store.transact(TransactRequest::new(ops)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ETagMismatch);
    assert_eq!(e.key(), Some("b"));
    assert!(e.to_string().contains("operation 3"), "{e}");
    let a = store.get_item("a").await.unwrap().unwrap();
    assert_eq!((&a.value[..], a.etag), (&b"a0"[..], Some(e1)));
    assert!(store.get_item("c").await.unwrap().is_none());
    common::drop_table(&table).await;
}

#[tokio::test]
async fn init_errors_name_the_property_and_hide_the_keys() {
    // A table that does not exist, without createTable: Dapr's default.
    let mut store = DynamoStore::new();
    let props = common::dapr_props("statestore_missing_table").with("secretKey", "s3cr3t-value");
    let e = store.init(&props).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e:#}");
    assert!(
        format!("{e:#}").contains("statestore_missing_table"),
        "{e:#}"
    );
    assert!(!format!("{e:#} {e:?}").contains("s3cr3t"), "{e:#}");

    // A table whose hash key is not partitionKey.
    let table = common::table("schema");
    open(&common::props(&table)).await;
    let mut store = DynamoStore::new();
    let e = store
        .init(&common::dapr_props(&table).with("partitionKey", "pk"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.to_string().contains("partitionKey"), "{e}");
    common::drop_table(&table).await;

    // Nothing listening: Unavailable or Timeout within operationTimeout.
    let started = Instant::now();
    let mut store = DynamoStore::new();
    let props = common::dapr_props("nowhere")
        .with("endpoint", "http://127.0.0.1:1")
        .with("operationTimeout", "2s");
    let e = store.init(&props).await.unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Unavailable | ErrorKind::Timeout),
        "{e:#}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_backend_failure_fails_the_whole_bulk_call() {
    let table = common::table("bulk_backend");
    let store = open(&common::props(&table)).await;
    common::drop_table(&table).await;
    let reqs = vec![
        SetRequest::new("a", "1"),
        SetRequest::new("b", "2").first_write(),
    ];
    let e = store.bulk_set(reqs).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e:#}");
    let e = store
        .bulk_delete(vec![DeleteRequest::new("a")])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e:#}");
}
