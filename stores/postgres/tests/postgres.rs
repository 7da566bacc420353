//! What the shared suite cannot see from outside, on the local PostgreSQL
//! (`STATESTORE_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`):
//! concurrent migrations, rows as stored, the cleanup claim, etag forms and
//! chunked bulk calls. Every test works in tables of its own and drops them.

use std::time::Duration;

use sqlx::{Connection, PgConnection};
use statestore_core::{
    DeleteRequest, ErrorKind, Feature, GetRequest, KeysLikeRequest, Properties, SetRequest, Store,
    StoreExt,
};
use statestore_postgres::PostgresStore;
use statestore_postgres::config::parse_connection_string;

fn url() -> String {
    std::env::var("STATESTORE_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

async fn raw() -> PgConnection {
    let options = parse_connection_string(&url()).expect("connection string");
    PgConnection::connect_with(&options)
        .await
        .expect("raw connection")
}

/// A state table and a metadata table of this test, dropped when this goes
/// out of scope (also when the test panics).
struct Tables {
    state: String,
    meta: String,
}

impl Tables {
    fn new(test: &str) -> Self {
        let base = format!("it{}_{test}", std::process::id());
        Tables {
            state: format!("{base}_state"),
            meta: format!("{base}_meta"),
        }
    }

    fn props(&self) -> Properties {
        Properties::new()
            .with("connectionString", url())
            .with("tableName", &self.state)
            .with("metadataTableName", &self.meta)
            .with("timeout", "30s")
    }

    async fn open(&self, props: Properties) -> PostgresStore {
        let mut s = PostgresStore::new();
        s.init(&props).await.expect("init");
        s
    }

    async fn count(&self, filter: &str) -> i64 {
        let sql = format!("SELECT count(*) FROM \"{}\" WHERE {filter}", self.state);
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut raw().await)
            .await
            .expect("count")
    }

    async fn exists(&self) -> bool {
        sqlx::query_scalar::<_, bool>("SELECT to_regclass(quote_ident($1)) IS NOT NULL")
            .bind(&self.state)
            .fetch_one(&mut raw().await)
            .await
            .expect("to_regclass")
    }
}

impl Drop for Tables {
    fn drop(&mut self) {
        let sql = format!("DROP TABLE IF EXISTS \"{}\", \"{}\"", self.state, self.meta);
        // A thread of its own: the test's runtime may be the current thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut raw().await)
                    .await;
            });
        })
        .join();
    }
}

/// Escapes the LIKE metacharacters of `key`.
fn like_literal(key: &str) -> String {
    key.chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect()
}

/// Three instances starting together on a fresh table migrate once, and the
/// metadata table records version 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_instances_migrate_once() {
    for round in 0..5 {
        let t = Tables::new(&format!("migrate{round}"));
        let p = t.props();
        let mut stores: Vec<PostgresStore> = (0..3).map(|_| PostgresStore::new()).collect();
        let [a, b, c] = &mut stores[..] else {
            unreachable!()
        };
        let (ra, rb, rc) = tokio::join!(a.init(&p), b.init(&p), c.init(&p));
        for r in [ra, rb, rc] {
            r.expect("concurrent init");
        }
        let sql = format!("SELECT value FROM \"{}\" WHERE \"key\" = $1", t.meta);
        let version: String = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(format!("schema-version:{}", t.state))
            .fetch_one(&mut raw().await)
            .await
            .expect("schema version row");
        assert_eq!(version, "1", "round {round}");
        a.put("k", "v").await.unwrap();
        assert_eq!(&c.get_item("k").await.unwrap().unwrap().value[..], b"v");
        for s in &stores {
            s.close().await.unwrap();
        }
    }
}

/// Keys full of quotes, LIKE metacharacters, unicode and trailing spaces
/// are stored verbatim and stay distinct.
#[tokio::test]
async fn hostile_keys_round_trip() {
    let t = Tables::new("keys");
    let s = t.open(t.props()).await;
    let mut keys = vec![
        format!("'; DROP TABLE \"{}\"; --", t.state),
        r#"a"b"#.to_owned(),
        r"100%_\".to_owned(),
        "ключ-🔑-鍵-ü".to_owned(),
        "a".to_owned(),
        "a ".to_owned(),
    ];
    keys.sort();
    let value = |k: &str| format!("value of [{k}]");
    for k in &keys {
        s.set(SetRequest::new(k.as_str(), value(k))).await.unwrap();
    }
    assert_eq!(t.count("true").await, keys.len() as i64, "keys merged");
    for k in &keys {
        let item = s.get(GetRequest::new(k.as_str())).await.unwrap();
        assert_eq!(item.expect(k).value, value(k).as_bytes(), "{k:?}");
    }
    let got = s
        .bulk_get(keys.iter().map(|k| GetRequest::new(k.as_str())).collect())
        .await
        .unwrap();
    assert_eq!(got.len(), keys.len());
    for (k, r) in keys.iter().zip(got) {
        assert_eq!(&r.key, k);
        let item = r.result.unwrap().expect(k);
        assert_eq!(item.value, value(k).as_bytes(), "{k:?}");
    }
    if s.capabilities().features.contains(Feature::KeysLike) {
        let all = s.keys_like(KeysLikeRequest::new("%")).await.unwrap();
        assert_eq!(all.keys, keys);
        for k in &keys {
            let page = s.keys_like(KeysLikeRequest::new(like_literal(k))).await;
            assert_eq!(page.unwrap().keys, vec![k.clone()], "pattern for {k:?}");
        }
    }
    s.delete(DeleteRequest::new("a")).await.unwrap();
    assert!(s.get_item("a").await.unwrap().is_none());
    assert!(
        s.get_item("a ").await.unwrap().is_some(),
        "'a ' went with 'a'"
    );
    for k in &keys {
        s.delete(DeleteRequest::new(k.as_str())).await.unwrap();
        assert!(s.get_item(k).await.unwrap().is_none(), "{k:?} survived");
    }
    assert!(t.exists().await, "the state table is gone");
    assert_eq!(t.count("true").await, 0);
    s.close().await.unwrap();
}

/// Values are `bytea` byte for byte; JSON documents are also in
/// `value_json`, except those `jsonb` refuses.
#[tokio::test]
async fn values_keep_their_bytes_and_json_is_queryable() {
    let t = Tables::new("bytes");
    let s = t.open(t.props()).await;
    let raw_row = |key: &'static str| {
        let sql = format!(
            "SELECT value, value_json IS NULL FROM \"{}\" WHERE \"key\" = $1",
            t.state
        );
        async move {
            sqlx::query_as::<_, (Vec<u8>, bool)>(sqlx::AssertSqlSafe(sql))
                .bind(key)
                .fetch_one(&mut raw().await)
                .await
                .expect("row")
        }
    };
    let all: Vec<u8> = (0..=255).collect();
    let invalid = vec![b'{', 0xc3, 0x28, 0xff, 0xfe, b'}'];
    let nul_json = br#"{"s":"a\u0000b"}"#.to_vec();
    for (key, v) in [("all", &all), ("invalid", &invalid), ("nul", &nul_json)] {
        s.put(key, v.clone()).await.unwrap();
        assert_eq!(&s.get_item(key).await.unwrap().unwrap().value[..], &v[..]);
        assert_eq!(raw_row(key).await, (v.clone(), true), "{key}");
    }
    let json = br#"{"a":[1,2,{"b":null}]}"#;
    s.set(SetRequest::new("json", json.to_vec()).content_type("application/json"))
        .await
        .unwrap();
    assert_eq!(&s.get_item("json").await.unwrap().unwrap().value[..], json);
    assert_eq!(raw_row("json").await, (json.to_vec(), false));
    let sql = format!(
        "SELECT value_json->'a'->>0 FROM \"{}\" WHERE \"key\" = 'json'",
        t.state
    );
    let first: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(&mut raw().await)
        .await
        .unwrap();
    assert_eq!(first.as_deref(), Some("1"));
    s.close().await.unwrap();
}

/// Of two instances sharing a table, exactly one takes a cleanup turn, and
/// it removes exactly the expired rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_instance_takes_the_cleanup_turn() {
    let t = Tables::new("cleanup");
    let p = t.props().with("cleanupInterval", "0");
    let a = t.open(p.clone()).await;
    let b = t.open(p).await;
    for i in 0..3 {
        let req = SetRequest::new(format!("gone{i}"), "v").metadata("ttlInSeconds", "1");
        a.set(req).await.unwrap();
    }
    b.put("kept0", "v").await.unwrap();
    b.set(SetRequest::new("kept1", "v").metadata("ttlInSeconds", "3600"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let hour = Duration::from_secs(3600);
    let (ra, rb) = tokio::join!(a.cleanup_turn(hour), b.cleanup_turn(hour));
    let mut turns = [ra.unwrap(), rb.unwrap()];
    turns.sort();
    assert_eq!(
        turns,
        [None, Some(3)],
        "one turn purging the 3 expired rows"
    );
    assert_eq!(
        t.count("\"key\" LIKE 'gone%'").await,
        0,
        "expired rows left"
    );
    assert_eq!(t.count("\"key\" LIKE 'kept%'").await, 2, "live rows purged");
    assert_eq!(a.cleanup_turn(hour).await.unwrap(), None);
    assert_eq!(b.cleanup_turn(hour).await.unwrap(), None);
    a.close().await.unwrap();
    b.close().await.unwrap();
}

fn kind<T>(r: statestore_core::Result<T>) -> ErrorKind {
    r.map(drop).expect_err("accepted").kind()
}

/// An etag this store cannot have issued is `ETagInvalid`; an old one is
/// `ETagMismatch`; neither changes the row.
#[tokio::test]
async fn malformed_and_stale_etags() {
    let t = Tables::new("etag");
    let s = t.open(t.props()).await;
    let old = s.put("k", "one").await.unwrap().unwrap();
    let current = s.put("k", "two").await.unwrap().unwrap();
    assert_ne!(old, current);
    let set = |e: &str| SetRequest::new("k", "three").etag(e);
    let del = |e: &str| DeleteRequest::new("k").etag(e);
    assert_eq!(kind(s.set(set("nope")).await), ErrorKind::ETagInvalid);
    assert_eq!(kind(s.delete(del("nope")).await), ErrorKind::ETagInvalid);
    assert_eq!(
        kind(s.set(set(old.as_str())).await),
        ErrorKind::ETagMismatch
    );
    assert_eq!(
        kind(s.delete(del(old.as_str())).await),
        ErrorKind::ETagMismatch
    );
    assert_eq!(&s.get_item("k").await.unwrap().unwrap().value[..], b"two");
    s.set(set(current.as_str())).await.unwrap();
    assert_eq!(&s.get_item("k").await.unwrap().unwrap().value[..], b"three");
    s.close().await.unwrap();
}

/// A bulk call larger than one statement may carry is split, and every item
/// arrives.
#[tokio::test]
async fn bulk_calls_beyond_one_statement() {
    let t = Tables::new("bulk");
    let s = t.open(t.props()).await;
    let n = 2001;
    let per_statement = s.capabilities().limits.max_bulk_batch.unwrap();
    assert!(per_statement < n, "{n} items fit one statement");
    let keys: Vec<String> = (0..n).map(|i| format!("key{i:05}")).collect();
    let results = s
        .bulk_set(
            keys.iter()
                .map(|k| SetRequest::new(k.as_str(), format!("v-{k}")))
                .collect(),
        )
        .await
        .unwrap();
    assert_eq!(results.len(), n);
    assert!(results.iter().all(|r| r.result.is_ok()));
    assert_eq!(t.count("true").await, n as i64);
    let got = s
        .bulk_get(keys.iter().map(|k| GetRequest::new(k.as_str())).collect())
        .await
        .unwrap();
    assert_eq!(got.len(), n);
    for (k, r) in keys.iter().zip(got) {
        assert_eq!(&r.key, k);
        let item = r.result.unwrap().unwrap_or_else(|| panic!("{k} missing"));
        assert_eq!(item.value, format!("v-{k}").as_bytes());
    }
    s.close().await.unwrap();
}
