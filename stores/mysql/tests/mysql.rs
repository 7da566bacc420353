//! What the shared suite cannot see from outside, on the local MariaDB or
//! MySQL (`STATESTORE_MYSQL_DSN`, default `root@tcp(127.0.0.1:3306)/`, schema
//! `statestore_test`): concurrent migrations, rows as stored, the cleanup
//! claim, etag forms and bulk calls split by rows and by bytes. Every test
//! works in tables of its own and drops them.

use std::time::Duration;

use sqlx::{Connection, MySqlConnection};
use statestore_core::{
    DeleteRequest, ErrorKind, Feature, GetRequest, KeysLikeRequest, Properties, SetRequest, Store,
    StoreExt,
};
use statestore_mysql::MySqlStore;
use statestore_mysql::config::parse_connection_string;

const SCHEMA: &str = "statestore_test";

fn dsn() -> String {
    std::env::var("STATESTORE_MYSQL_DSN").unwrap_or_else(|_| "root@tcp(127.0.0.1:3306)/".into())
}

async fn raw() -> MySqlConnection {
    let options = parse_connection_string(&dsn()).expect("connection string");
    MySqlConnection::connect_with(&options)
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
            .with("connectionString", dsn())
            .with("schemaName", SCHEMA)
            .with("tableName", &self.state)
            .with("metadataTableName", &self.meta)
            .with("timeoutInSeconds", "60")
    }

    async fn open(&self, props: Properties) -> MySqlStore {
        let mut s = MySqlStore::new();
        s.init(&props).await.expect("init");
        s
    }

    /// The state table, schema-qualified and quoted.
    fn state(&self) -> String {
        format!("`{SCHEMA}`.`{}`", self.state)
    }

    async fn count(&self, filter: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {} WHERE {filter}", self.state());
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut raw().await)
            .await
            .expect("count")
    }

    async fn exists(&self) -> bool {
        let sql = "SELECT COUNT(*) FROM information_schema.tables \
                   WHERE table_schema = ? AND table_name = ?";
        let n: i64 = sqlx::query_scalar(sql)
            .bind(SCHEMA)
            .bind(&self.state)
            .fetch_one(&mut raw().await)
            .await
            .expect("information_schema");
        n == 1
    }
}

impl Drop for Tables {
    fn drop(&mut self) {
        let sql = format!(
            "DROP TABLE IF EXISTS `{SCHEMA}`.`{}`, `{SCHEMA}`.`{}`",
            self.state, self.meta
        );
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

fn kind<T>(r: statestore_core::Result<T>) -> ErrorKind {
    r.map(drop).expect_err("accepted").kind()
}

/// Three instances starting together on a fresh table migrate once, and the
/// metadata table records version 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_instances_migrate_once() {
    for round in 0..5 {
        let t = Tables::new(&format!("migrate{round}"));
        let p = t.props();
        let mut stores: Vec<MySqlStore> = (0..3).map(|_| MySqlStore::new()).collect();
        let [a, b, c] = &mut stores[..] else {
            unreachable!()
        };
        let (ra, rb, rc) = tokio::join!(a.init(&p), b.init(&p), c.init(&p));
        for r in [ra, rb, rc] {
            r.expect("concurrent init");
        }
        let sql = format!("SELECT value FROM `{SCHEMA}`.`{}` WHERE `key` = ?", t.meta);
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
/// are stored verbatim and stay distinct (MariaDB's PAD SPACE collations
/// would make `a` and `a ` one key).
#[tokio::test]
async fn hostile_keys_round_trip() {
    let t = Tables::new("keys");
    let s = t.open(t.props()).await;
    let mut keys = vec![
        format!("'; DROP TABLE {}; --", t.state()),
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
    assert_eq!(t.count("TRUE").await, keys.len() as i64, "keys merged");
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
    assert_eq!(t.count("TRUE").await, 0);
    s.close().await.unwrap();
}

/// Values are `LONGBLOB` byte for byte; JSON documents are also in
/// `value_json`, except those holding `\u0000`.
#[tokio::test]
async fn values_keep_their_bytes_and_json_is_queryable() {
    let t = Tables::new("bytes");
    let s = t.open(t.props()).await;
    let raw_row = |key: &'static str| {
        let sql = format!(
            "SELECT value, CAST(value_json IS NULL AS SIGNED) FROM {} WHERE `key` = ?",
            t.state()
        );
        async move {
            sqlx::query_as::<_, (Vec<u8>, i64)>(sqlx::AssertSqlSafe(sql))
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
        assert_eq!(raw_row(key).await, (v.clone(), 1), "{key}");
    }
    let json = br#"{"a":[1,2,{"b":null}]}"#;
    s.set(SetRequest::new("json", json.to_vec()).content_type("application/json"))
        .await
        .unwrap();
    assert_eq!(&s.get_item("json").await.unwrap().unwrap().value[..], json);
    assert_eq!(raw_row("json").await, (json.to_vec(), 0));
    let sql = format!(
        "SELECT JSON_UNQUOTE(JSON_EXTRACT(value_json, '$.a[0]')) FROM {} WHERE `key` = 'json'",
        t.state()
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
    assert_eq!(t.count("`key` LIKE 'gone%'").await, 0, "expired rows left");
    assert_eq!(t.count("`key` LIKE 'kept%'").await, 2, "live rows purged");
    assert_eq!(a.cleanup_turn(hour).await.unwrap(), None);
    assert_eq!(b.cleanup_turn(hour).await.unwrap(), None);
    a.close().await.unwrap();
    b.close().await.unwrap();
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

/// A bulk call of more rows than one statement may carry is split, and
/// every item arrives.
#[tokio::test]
async fn bulk_calls_beyond_one_statement() {
    let t = Tables::new("bulk");
    let s = t.open(t.props()).await;
    let n = 2001;
    let per_statement = s.capabilities().limits.max_bulk_batch.unwrap();
    assert!(per_statement < n, "{n} items fit one statement");
    let keys: Vec<String> = (0..n).map(|i| format!("key{i:05}")).collect();
    let reqs = keys
        .iter()
        .map(|k| SetRequest::new(k.as_str(), format!("v-{k}")))
        .collect();
    let results = s.bulk_set(reqs).await.unwrap();
    assert_eq!(results.len(), n);
    assert!(results.iter().all(|r| r.result.is_ok()));
    assert_eq!(t.count("TRUE").await, n as i64);
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

/// A bulk call whose values together exceed `max_allowed_packet` is split
/// by bytes, and reads back whole.
#[tokio::test]
async fn bulk_set_beyond_max_allowed_packet() {
    let t = Tables::new("packet");
    let s = t.open(t.props()).await;
    let packet: i64 = sqlx::query_scalar("SELECT CAST(@@max_allowed_packet AS SIGNED)")
        .fetch_one(&mut raw().await)
        .await
        .unwrap();
    let packet = packet as usize;
    let len = (packet / 4).min(1 << 20);
    let n = (packet * 5 / 2).div_ceil(len);
    if n * len > 64 << 20 {
        eprintln!("max_allowed_packet is {packet}: more than 64 MiB of values needed, skipped");
        return;
    }
    // Never UTF-8 (every byte has its high bit set), so never JSON: only
    // the value column carries them.
    let value = |i: usize| -> Vec<u8> {
        let mut v: Vec<u8> = (0..len).map(|j| (i * 7 + j % 251) as u8 | 0x80).collect();
        v[..4].copy_from_slice(&(i as u32 | 0x8080_8080).to_le_bytes());
        v
    };
    let keys: Vec<String> = (0..n).map(|i| format!("big{i:03}")).collect();
    let reqs = keys
        .iter()
        .enumerate()
        .map(|(i, k)| SetRequest::new(k.as_str(), value(i)))
        .collect();
    for r in s.bulk_set(reqs).await.unwrap() {
        r.result.unwrap_or_else(|e| panic!("{}: {e}", r.key));
    }
    assert_eq!(t.count("TRUE").await, n as i64);
    let got = s
        .bulk_get(keys.iter().map(|k| GetRequest::new(k.as_str())).collect())
        .await
        .unwrap();
    assert_eq!(got.len(), n);
    for (i, r) in got.into_iter().enumerate() {
        let item = r.result.unwrap().unwrap_or_else(|| panic!("{i} missing"));
        assert!(item.value == value(i), "value {i} differs");
    }
    s.close().await.unwrap();
}

/// JSON values travel twice (`value` and `value_json`), and still fit the
/// packet: a full statement of JSON rows, and one JSON value of the
/// advertised `max_value_len`.
#[tokio::test]
async fn json_values_fit_max_allowed_packet() {
    let t = Tables::new("jsonpacket");
    let s = t.open(t.props()).await;
    let limits = s.capabilities().limits;
    let (rows, max_value) = (
        limits.max_bulk_batch.unwrap(),
        limits.max_value_len.unwrap(),
    );
    let packet: i64 = sqlx::query_scalar("SELECT CAST(@@max_allowed_packet AS SIGNED)")
        .fetch_one(&mut raw().await)
        .await
        .unwrap();
    if packet > 64 << 20 {
        eprintln!("max_allowed_packet is {packet}: values too large to build, skipped");
        return;
    }
    // A JSON string of `len` bytes.
    let json = |len: usize, tag: usize| {
        let mut v = format!("\"{tag}").into_bytes();
        v.resize(len - 1, b'x');
        v.push(b'"');
        v
    };
    // Together half a packet of keys and values: one statement's budget.
    let len = packet as usize / 2 / rows - 5;
    let keys: Vec<String> = (0..rows).map(|i| format!("j{i:04}")).collect();
    let reqs = keys
        .iter()
        .enumerate()
        .map(|(i, k)| SetRequest::new(k.as_str(), json(len, i)))
        .collect();
    let bulk = s.bulk_set(reqs).await.map(|r| r.len());
    let single = s.put("single", json(max_value, 0)).await.map(drop);
    assert!(
        bulk.is_ok() && single.is_ok(),
        "{rows} JSON values of {len} bytes: {bulk:?}; one of {max_value} bytes: {single:?}"
    );
    let got = s.get_item("j0001").await.unwrap().unwrap();
    assert_eq!(got.value, json(len, 1));
    // The largest value has no JSON copy: both would not fit one packet.
    assert_eq!(t.count("value_json IS NOT NULL").await, rows as i64);
    s.close().await.unwrap();
}
