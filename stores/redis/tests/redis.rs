//! What is particular to Redis: the stored layout (readable by Dapr and
//! back), the cluster's partition rule, lost scripts, init errors, the
//! component-wide ttl and `strong` consistency.

mod common;

use std::time::{Duration, SystemTime};

use redis::AsyncCommands;
use statestore_core::{
    Consistency, DeleteWithPrefixRequest, ErrorKind, GetRequest, KeysLikeRequest, Properties,
    SetRequest, Store, StoreExt, TransactRequest, TransactionOp,
};
use statestore_redis::RedisStore;

async fn open(props: Properties) -> RedisStore {
    let mut store = RedisStore::new();
    store.init(&props).await.expect("init");
    store
}

fn node() -> Properties {
    Properties::new().with("redisHost", "127.0.0.1:6379")
}

fn cluster() -> Properties {
    Properties::new()
        .with("redisHost", common::cluster())
        .with("redisType", "cluster")
}

async fn raw() -> redis::aio::MultiplexedConnection {
    redis::Client::open("redis://127.0.0.1:6379")
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("Redis on 127.0.0.1:6379 (scripts/services.sh start)")
}

fn run_id() -> String {
    format!("redis-test-{:08x}", fastrand::u32(..))
}

/// Writes `key` the way Dapr's Redis store does: a hash of data and version.
async fn dapr_write(
    r: &mut redis::aio::MultiplexedConnection,
    key: &str,
    data: &str,
    version: &str,
) {
    let _: () = r
        .hset_multiple(key, &[("data", data), ("version", version)])
        .await
        .unwrap();
}

/// What Redis holds under `key`: its type, and Dapr's data and version
/// fields when it is a hash.
async fn stored(
    r: &mut redis::aio::MultiplexedConnection,
    key: &str,
) -> (String, Option<String>, Option<String>) {
    let t: String = redis::cmd("TYPE").arg(key).query_async(r).await.unwrap();
    if t != "hash" {
        return (t, None, None);
    }
    let (data, version) = redis::cmd("HMGET")
        .arg(key)
        .arg("data")
        .arg("version")
        .query_async(r)
        .await
        .unwrap();
    (t, data, version)
}

#[tokio::test]
async fn dapr_layout_both_ways() {
    let store = open(node().with("layout", "dapr")).await;
    let mut r = raw().await;
    let key = format!("{}||dapr", run_id());
    dapr_write(&mut r, &key, "from dapr", "3").await;
    let item = store.get_item(&key).await.unwrap().unwrap();
    assert_eq!(&item.value[..], b"from dapr");
    assert_eq!(item.etag.as_ref().unwrap().as_str(), "3");
    let etag = store
        .set(SetRequest::new(key.clone(), "from statestore").etag("3"))
        .await
        .unwrap()
        .unwrap();
    let (_, data, version) = stored(&mut r, &key).await;
    assert_eq!(
        (data.as_deref(), version.as_deref()),
        (Some("from statestore"), Some(etag.as_str()))
    );
    // Unconditional writes, single and bulk, keep Dapr's hash too.
    store.put(&key, "plain").await.unwrap();
    store
        .bulk_set(vec![SetRequest::new(key.clone(), "bulk")])
        .await
        .unwrap()[0]
        .result
        .as_ref()
        .unwrap();
    assert_eq!(stored(&mut r, &key).await.1.as_deref(), Some("bulk"));
    store.remove(&key).await.unwrap();
}

/// The default (compact) layout reads what Dapr wrote, in every read and
/// in every etag check, and an etag write replaces Dapr's hash with its
/// record; Dapr's layout reads the compact records back the same way.
#[tokio::test]
async fn each_layout_reads_the_other() {
    let compact = open(node()).await;
    let dapr = open(node().with("layout", "dapr")).await;
    let mut r = raw().await;
    let id = run_id();
    let (a, b, missing) = (
        format!("{id}||a"),
        format!("{id}||b"),
        format!("{id}||none"),
    );
    dapr_write(&mut r, &a, "from dapr a", "11").await;
    dapr_write(&mut r, &b, "from dapr b", "12").await;

    let item = compact.get_item(&a).await.unwrap().unwrap();
    assert_eq!(
        (&item.value[..], item.etag.unwrap().as_str()),
        (&b"from dapr a"[..], "11")
    );
    let reqs = [&a, &missing, &b]
        .map(|k| GetRequest::new(k.clone()))
        .to_vec();
    let got = compact.bulk_get(reqs).await.unwrap();
    let values: Vec<Option<Vec<u8>>> = got
        .iter()
        .map(|r| {
            r.result
                .as_ref()
                .unwrap()
                .as_ref()
                .map(|i| i.value.to_vec())
        })
        .collect();
    assert_eq!(
        values,
        vec![
            Some(b"from dapr a".to_vec()),
            None,
            Some(b"from dapr b".to_vec())
        ]
    );
    // A stale etag is refused against Dapr's version, the right one applies.
    let e = compact
        .set(SetRequest::new(a.clone(), "x").etag("99"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ETagMismatch, "{e}");
    let e = compact
        .set(SetRequest::new(a.clone(), "x").first_write())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ETagMismatch, "{e}");
    let etag = compact
        .set(SetRequest::new(a.clone(), "from compact").etag("11"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored(&mut r, &a).await.0, "string");

    // Dapr's layout reads the record, checks its etag, and writes its hash.
    let item = dapr.get_item(&a).await.unwrap().unwrap();
    assert_eq!(&item.value[..], b"from compact");
    assert_eq!(item.etag.as_ref(), Some(&etag));
    let reqs = [&missing, &a].map(|k| GetRequest::new(k.clone())).to_vec();
    let got = dapr.bulk_get(reqs).await.unwrap();
    assert!(got[0].result.as_ref().unwrap().is_none());
    assert_eq!(
        &got[1].result.as_ref().unwrap().as_ref().unwrap().value[..],
        b"from compact"
    );
    let e = dapr
        .delete(statestore_core::DeleteRequest::new(a.clone()).etag("1"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ETagMismatch, "{e}");
    let etag = dapr
        .set(SetRequest::new(a.clone(), "back in dapr").etag(etag.as_str()))
        .await
        .unwrap()
        .unwrap();
    let (t, data, version) = stored(&mut r, &a).await;
    assert_eq!(
        (t.as_str(), data.as_deref(), version.as_deref()),
        ("hash", Some("back in dapr"), Some(etag.as_str()))
    );
    // A transaction over both layouts' keys checks both etags.
    let tx = TransactRequest::new([
        TransactionOp::from(SetRequest::new(a.clone(), "t1").etag(etag.as_str())),
        TransactionOp::from(SetRequest::new(b.clone(), "t2").etag("12")),
    ]);
    compact.transact(tx).await.unwrap();
    assert_eq!(stored(&mut r, &b).await.0, "string");
    for k in [&a, &b] {
        compact.remove(k).await.unwrap();
    }
}

#[tokio::test]
async fn a_key_of_another_type_is_a_backend_error() {
    let mut r = raw().await;
    let id = run_id();
    let (string, list) = (format!("{id}||string"), format!("{id}||list"));
    // Plain text: not a record (no SET of a user's could start like one).
    let _: () = r.set(&string, "plain").await.unwrap();
    let _: () = r.rpush(&list, "item").await.unwrap();
    for layout in ["compact", "dapr"] {
        let store = open(node().with("layout", layout)).await;
        for key in [&string, &list] {
            let e = store.get_item(key).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Backend, "{layout} {key}: {e}");
            assert!(
                e.to_string().contains("another type"),
                "{layout} {key}: {e}"
            );
            let got = store
                .bulk_get(vec![GetRequest::new(key.clone())])
                .await
                .unwrap();
            let e = got[0].result.as_ref().unwrap_err();
            assert!(
                e.to_string().contains("another type"),
                "{layout} {key}: {e}"
            );
            let e = store
                .set(SetRequest::new(key.clone(), "v").etag("1"))
                .await
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Backend, "{layout} {key}: {e}");
        }
    }
    let _: () = r.del(&[&string, &list]).await.unwrap();
}

/// Strings that look like records but are not whole ones are refused by
/// the write script exactly as reads refuse them: never taken as a version.
#[tokio::test]
async fn hand_made_strings_read_and_write_alike() {
    let mut r = raw().await;
    let key = format!("{}||hand", run_id());
    let magic = b"\xF5ss\x01";
    let header = |etag: &[u8], ctype_len: u16| {
        let mut v = magic.to_vec();
        v.push(etag.len() as u8);
        v.extend_from_slice(etag);
        v.extend_from_slice(&[0; 8]);
        v.extend_from_slice(&ctype_len.to_be_bytes());
        v
    };
    let cases: Vec<Vec<u8>> = vec![
        [&magic[..], &[2], b"12"].concat(), // no expiry, no content type
        [&magic[..], &[5], b"12"].concat(), // etag cut short
        header(b"12", 100),                 // content type cut short
        header(b"1x", 0),                   // etag not digits
        header(b"", 0),                     // no etag
    ];
    for layout in ["compact", "dapr"] {
        let store = open(node().with("layout", layout)).await;
        for (n, case) in cases.iter().enumerate() {
            let _: () = r.set(&key, case.as_slice()).await.unwrap();
            let e = store.get_item(&key).await.unwrap_err();
            assert!(e.to_string().contains("another type"), "{layout} {n}: {e}");
            for req in [
                SetRequest::new(key.clone(), "x").etag("12"),
                SetRequest::new(key.clone(), "x").first_write(),
            ] {
                let e = store.set(req).await.unwrap_err();
                assert_eq!(e.kind(), ErrorKind::Backend, "{layout} {n}: {e}");
            }
            let del = statestore_core::DeleteRequest::new(key.clone()).etag("12");
            let e = store.delete(del).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Backend, "{layout} {n}: {e}");
        }
    }
    let _: () = r.del(&key).await.unwrap();
}

/// Writers in both layouts moving one key back and forth never make a read
/// fail: a read that meets the other layout twice reads in one step.
#[tokio::test]
async fn a_key_moving_between_layouts_always_reads() {
    let compact = std::sync::Arc::new(open(node()).await);
    let dapr = std::sync::Arc::new(open(node().with("layout", "dapr")).await);
    let key = format!("{}||moving", run_id());
    compact.put(&key, "start").await.unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (compact, dapr, key, stop) = (compact.clone(), dapr.clone(), key.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                compact.put(&key, "c").await.unwrap();
                dapr.put(&key, "d").await.unwrap();
            }
        })
    };
    let until = std::time::Instant::now() + Duration::from_millis(1500);
    let mut reads = 0;
    while std::time::Instant::now() < until {
        for store in [&compact, &dapr] {
            let item = store.get_item(&key).await.expect("get while the key moves");
            assert!(item.is_some());
            let got = store
                .bulk_get(vec![GetRequest::new(key.clone())])
                .await
                .unwrap();
            got[0]
                .result
                .as_ref()
                .expect("bulk_get while the key moves");
            reads += 2;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.await.unwrap();
    assert!(reads > 100, "{reads} reads");
    compact.remove(&key).await.unwrap();
}

/// A bulk call of more than one pipeline (over 1,000 items) on a pool of
/// connections still applies a repeated key in request order.
#[tokio::test]
async fn big_bulk_calls_keep_request_order() {
    for layout in ["compact", "dapr"] {
        let store = open(node().with("layout", layout).with("poolSize", "4")).await;
        let id = run_id();
        let key = format!("{id}||repeated");
        for round in 0..5 {
            let mut reqs: Vec<SetRequest> = (0..999)
                .map(|i| SetRequest::new(format!("{id}||filler{i}"), "f"))
                .collect();
            reqs.push(SetRequest::new(key.clone(), "early"));
            reqs.push(SetRequest::new(key.clone(), "late"));
            for r in store.bulk_set(reqs).await.unwrap() {
                r.result.unwrap();
            }
            let item = store.get_item(&key).await.unwrap().unwrap();
            assert_eq!(&item.value[..], b"late", "{layout}, round {round}");
        }
        let n = store
            .delete_with_prefix(DeleteWithPrefixRequest::new(format!("{id}||")))
            .await
            .unwrap();
        assert_eq!(n, 1000, "{layout}");
    }
}

#[tokio::test]
async fn lost_scripts_are_loaded_again() {
    let store = open(node()).await;
    let mut r = raw().await;
    let key = format!("{}||flush", run_id());
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut r)
        .await
        .unwrap();
    store
        .put(&key, "single")
        .await
        .expect("set after SCRIPT FLUSH");
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut r)
        .await
        .unwrap();
    let reqs = (0..10)
        .map(|i| SetRequest::new(format!("{key}{i}"), "bulk"))
        .collect();
    for r in store.bulk_set(reqs).await.unwrap() {
        r.result.expect("bulk item after SCRIPT FLUSH");
    }
    store.remove(&key).await.unwrap();
    for i in 0..10 {
        store.remove(&format!("{key}{i}")).await.unwrap();
    }
}

#[tokio::test]
async fn component_ttl_applies_to_writes_without_one() {
    let store = open(node().with("ttlInSeconds", "60")).await;
    let key = format!("{}||ttl", run_id());
    store.put(&key, "v").await.unwrap();
    let expires = store
        .get_item(&key)
        .await
        .unwrap()
        .unwrap()
        .expires_at
        .expect("an expiry");
    let left = expires.duration_since(SystemTime::now()).unwrap();
    assert!(
        left > Duration::from_secs(55) && left <= Duration::from_secs(60),
        "{left:?}"
    );
    let req = SetRequest::new(key.clone(), "v").metadata("ttlInSeconds", "-1");
    store.set(req).await.unwrap();
    assert_eq!(
        store.get_item(&key).await.unwrap().unwrap().expires_at,
        None
    );
    store.remove(&key).await.unwrap();
}

#[tokio::test]
async fn init_errors_name_the_cause_and_hide_the_password() {
    let mut store = RedisStore::new();
    let e = store
        .init(
            &Properties::new()
                .with("redisHost", "127.0.0.1:1")
                .with("dialTimeout", "1s"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Unavailable | ErrorKind::Timeout),
        "{e}"
    );
    assert!(e.to_string().starts_with("state.redis: init:"), "{e}");

    let mut store = RedisStore::new();
    let e = store
        .init(
            &node()
                .with("redisUsername", "nobody")
                .with("redisPassword", "hunter2"),
        )
        .await
        .unwrap_err();
    // A refused login is told apart from a wrong setting.
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert!(!format!("{e:#} {e:?}").contains("hunter2"), "{e:?}");

    // A cluster reports it inside the error of its initial connections.
    let mut store = RedisStore::new();
    let e = store
        .init(&cluster().with("redisPassword", "hunter2"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e:#}");
    assert!(!e.is_retryable(), "{e:#}");
    assert!(!format!("{e:#} {e:?}").contains("hunter2"), "{e:?}");
}

#[tokio::test]
async fn strong_consistency_without_replicas_is_a_plain_write() {
    let store = open(node()).await;
    let key = format!("{}||strong", run_id());
    let req = SetRequest::new(key.clone(), "v").consistency(Consistency::Strong);
    store.set(req).await.unwrap();
    store.remove(&key).await.unwrap();
}

#[tokio::test]
async fn cluster_keeps_an_actor_in_one_slot() {
    let store = open(cluster()).await;
    let actor = format!("{}||Account||42", run_id());
    let keys: Vec<String> = ["balance", "owner", "history||2026"]
        .iter()
        .map(|k| format!("{actor}||{k}"))
        .collect();
    let ops = keys
        .iter()
        .map(|k| TransactionOp::from(SetRequest::new(k.clone(), "v")));
    let etags = store
        .transact(TransactRequest::new(ops).metadata("partitionKey", actor.clone()))
        .await
        .expect("one actor's keys are transactable");
    assert_eq!(etags.len(), 3);
    let got = store
        .bulk_get(keys.iter().map(|k| GetRequest::new(k.clone())).collect())
        .await
        .unwrap();
    assert!(got.iter().all(|r| matches!(&r.result, Ok(Some(_)))));
    let page = store
        .keys_like(KeysLikeRequest::new(format!("{actor}||%")))
        .await
        .unwrap();
    assert_eq!(page.keys.len(), 3, "{:?}", page.keys);
    let removed = store
        .delete_with_prefix(DeleteWithPrefixRequest::new(actor.clone()))
        .await
        .unwrap();
    assert_eq!(
        removed, 2,
        "direct children only: history||2026 is a grandchild"
    );
    store.remove(&keys[2]).await.unwrap();
}

#[tokio::test]
async fn cluster_refuses_a_transaction_across_slots_before_writing() {
    let store = open(cluster()).await;
    let id = run_id();
    let (a, b) = (format!("{id}-a"), format!("{id}-b"));
    let ops = [
        TransactionOp::from(SetRequest::new(a.clone(), "v")),
        TransactionOp::from(SetRequest::new(b.clone(), "v")),
    ];
    let e = store.transact(TransactRequest::new(ops)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidRequest, "{e}");
    assert!(e.to_string().contains("hash slots"), "{e}");
    assert!(store.get_item(&a).await.unwrap().is_none());
    assert!(store.get_item(&b).await.unwrap().is_none());
}

#[tokio::test]
async fn cluster_bulk_and_scans_span_every_primary() {
    let store = open(cluster().with("redisMaxRetries", "5")).await;
    let id = run_id();
    // Keys without `||` keep their names and spread over every slot.
    let keys: Vec<String> = (0..1000).map(|i| format!("{id}-{i:04}")).collect();
    let reqs = keys
        .iter()
        .map(|k| SetRequest::new(k.clone(), k.clone()))
        .collect();
    for r in store.bulk_set(reqs).await.unwrap() {
        r.result.unwrap();
    }
    let got = store
        .bulk_get(keys.iter().map(|k| GetRequest::new(k.clone())).collect())
        .await
        .unwrap();
    for (k, r) in keys.iter().zip(&got) {
        assert_eq!(&r.key, k);
        assert_eq!(
            r.result.as_ref().unwrap().as_ref().unwrap().value,
            k.as_bytes()
        );
    }
    let mut listed = Vec::new();
    let mut token = None;
    loop {
        let mut req = KeysLikeRequest::new(format!("{id}-%")).page_size(300);
        if let Some(t) = token {
            req = req.token(t);
        }
        let page = store.keys_like(req).await.unwrap();
        listed.extend(page.keys);
        match page.token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!(listed, keys, "every key once, in order, across primaries");
    let reqs = keys
        .iter()
        .map(statestore_core::DeleteRequest::new)
        .collect();
    for r in store.bulk_delete(reqs).await.unwrap() {
        r.result.unwrap();
    }
}

#[tokio::test]
async fn cluster_strong_writes_wait_for_a_replica() {
    let store = open(cluster()).await;
    let key = format!("{}||strong", run_id());
    let req = SetRequest::new(key.clone(), "v").consistency(Consistency::Strong);
    store.set(req).await.expect("the replica acknowledges");
    store.remove(&key).await.unwrap();
}
