//! Integration tests shared by the SQL stores on a server (feature
//! `testing`; PostgreSQL and MySQL enable it for their tests).
//!
//! A store's test files say how to reach its database, as a [`Harness`]
//! (the store's properties, how its SQL quotes names, a direct connection,
//! the local server's commands), and run the bodies here on it: the checks
//! the conformance suite cannot make from outside (migrations, rows as
//! stored, the cleanup claim, etag forms, bulk splitting), the restart under
//! load, and the conformance run itself. [`sql_store_tests!`] defines the
//! common tests in one line. Every test works in tables of its own and drops
//! them; the bodies panic on a failed check.
//!
//! [`sql_store_tests!`]: crate::sql_store_tests

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sqlx::{ColumnIndex, Database, Decode, Executor, IntoArguments, Type};
use statestore_conformance::{Quirks, Restart};
use statestore_core::{
    DeleteRequest, ErrorKind, Feature, GetRequest, KeysLikeRequest, Properties, Registration,
    SetRequest, Store, StoreExt,
};

use crate::{Backend, SqlStore};

/// The operation timeout of the tests' stores, the restart test's aside.
const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Defines the common integration tests against the
/// [`Harness`](crate::testing::Harness) that `$harness` builds: one
/// `#[tokio::test]` for each shared body of [`testing`](crate::testing) that
/// needs no more than the harness, named as the body it runs (see each for
/// what it checks).
#[macro_export]
macro_rules! sql_store_tests {
    ($harness:expr) => {
        $crate::sql_store_tests!(@tests $harness, (flavor = "multi_thread", worker_threads = 2):
            concurrent_instances_migrate_once, stores_sharing_a_metadata_table_start_together,
            one_instance_takes_the_cleanup_turn);
        $crate::sql_store_tests!(@tests $harness, ():
            hostile_keys_round_trip, malformed_and_stale_etags, bulk_calls_beyond_one_statement,
            awkward_items_fail_alone, longest_table_name);
    };
    (@tests $harness:expr, $runtime:tt: $($body:ident),*) => {
        $(
            #[::tokio::test $runtime]
            async fn $body() {
                $crate::testing::$body(&$harness).await;
            }
        )*
    };
}

/// Plain SQL on a direct connection, beside the store under test. Every
/// sqlx connection whose database decodes integers, text and bytes has it.
#[async_trait]
pub trait Raw: sqlx::Connection + 'static {
    /// Runs a statement.
    async fn run(&mut self, sql: String) -> sqlx::Result<()>;

    /// The integer in the first column of the first row.
    async fn int(&mut self, sql: String) -> sqlx::Result<i64>;

    /// The text, or NULL, in the first column of the first row.
    async fn text(&mut self, sql: String) -> sqlx::Result<Option<String>>;

    /// The bytes in the first column of the first row.
    async fn bytes(&mut self, sql: String) -> sqlx::Result<Vec<u8>>;
}

#[async_trait]
impl<C> Raw for C
where
    C: sqlx::Connection + 'static,
    for<'c> &'c mut C: Executor<'c, Database = C::Database>,
    <C::Database as Database>::Arguments: IntoArguments<C::Database>,
    for<'r> i64: Decode<'r, C::Database> + Type<C::Database>,
    for<'r> String: Decode<'r, C::Database> + Type<C::Database>,
    for<'r> Vec<u8>: Decode<'r, C::Database> + Type<C::Database>,
    usize: ColumnIndex<<C::Database as Database>::Row>,
{
    async fn run(&mut self, sql: String) -> sqlx::Result<()> {
        let query = sqlx::query::<C::Database>(sqlx::AssertSqlSafe(sql));
        query.execute(&mut *self).await.map(drop)
    }

    async fn int(&mut self, sql: String) -> sqlx::Result<i64> {
        use sqlx::Row as _;
        let query = sqlx::query::<C::Database>(sqlx::AssertSqlSafe(sql));
        query.fetch_one(&mut *self).await?.try_get(0)
    }

    async fn text(&mut self, sql: String) -> sqlx::Result<Option<String>> {
        use sqlx::Row as _;
        let query = sqlx::query::<C::Database>(sqlx::AssertSqlSafe(sql));
        query.fetch_one(&mut *self).await?.try_get(0)
    }

    async fn bytes(&mut self, sql: String) -> sqlx::Result<Vec<u8>> {
        use sqlx::Row as _;
        let query = sqlx::query::<C::Database>(sqlx::AssertSqlSafe(sql));
        query.fetch_one(&mut *self).await?.try_get(0)
    }
}

/// Runs `command` with `sh -c`; the error names it, its exit status and its
/// standard error.
pub fn sh(command: &str) -> Result<(), String> {
    let out = Command::new("sh")
        .args(["-c", command])
        .output()
        .map_err(|e| format!("{command}: {e}"))?;
    match out.status.success() {
        true => Ok(()),
        false => Err(format!(
            "{command}: {} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// A local database server that the restart tests stop and start, by shell
/// commands (run as root).
#[derive(Debug, Clone)]
pub struct Server {
    /// Its name in messages, e.g. `MariaDB`.
    pub name: &'static str,
    /// Succeeds when the server answers.
    pub up: String,
    /// Stops it.
    pub stop: String,
    /// Starts it; returns once it answers.
    pub start: String,
    /// Restarts it in one command, where the server has one (PostgreSQL's
    /// `pg_ctlcluster ... restart`); otherwise `stop` then `start`.
    pub restart: Option<String>,
}

impl Server {
    /// Stops the server and starts it again; returns once it answers.
    pub async fn restart(&self) -> Result<(), String> {
        let (stop, start) = (self.stop.clone(), self.start.clone());
        let restart = self.restart.clone();
        tokio::task::spawn_blocking(move || match restart {
            Some(restart) => sh(&restart),
            None => sh(&stop).and_then(|_| sh(&start)),
        })
        .await
        .expect("restart task")
    }

    /// A guard that starts the server again when it is dropped (also by a
    /// panic) and the server does not answer, so that a failed restart
    /// leaves no test without a server.
    pub fn guard(&self) -> ServerGuard<'_> {
        ServerGuard(self)
    }
}

/// See [`Server::guard`].
pub struct ServerGuard<'a>(&'a Server);

impl Drop for ServerGuard<'_> {
    fn drop(&mut self) {
        let server = self.0;
        if sh(&server.up).is_err() {
            eprintln!("{} does not answer; starting it again", server.name);
            if let Err(why) = sh(&server.start) {
                eprintln!("{why}");
            }
        }
    }
}

/// How the shared tests reach one SQL database: the store on backend `B`,
/// and direct connections `C` for checking rows as stored.
pub struct Harness<B, C: Raw> {
    label: &'static str,
    properties: Properties,
    options: C::Options,
    timeout_property: &'static str,
    quote: char,
    schema: Option<String>,
    server: Option<Server>,
    backend: PhantomData<fn() -> B>,
}

impl<B, C: Raw> Clone for Harness<B, C> {
    fn clone(&self) -> Self {
        Harness {
            label: self.label,
            properties: self.properties.clone(),
            options: self.options.clone(),
            timeout_property: self.timeout_property,
            quote: self.quote,
            schema: self.schema.clone(),
            server: self.server.clone(),
            backend: PhantomData,
        }
    }
}

impl<B: Backend, C: Raw> Harness<B, C> {
    /// A database named `label` in printed lines, reached by the store with
    /// `properties` (the connection; the tests add tables and a timeout)
    /// and directly with `options`. Names are quoted with `"`, the timeout
    /// is the property `timeout`, and there is no local server to restart.
    pub fn new(label: &'static str, properties: Properties, options: C::Options) -> Self {
        Harness {
            label,
            properties,
            options,
            timeout_property: "timeout",
            quote: '"',
            schema: None,
            server: None,
            backend: PhantomData,
        }
    }

    /// Names are quoted with `quote`.
    pub fn quote(mut self, quote: char) -> Self {
        self.quote = quote;
        self
    }

    /// The tables are in `schema` (property `schemaName`), and direct SQL
    /// names them with it.
    pub fn schema(mut self, schema: &str) -> Self {
        self.properties.insert("schemaName", schema);
        self.schema = Some(schema.to_owned());
        self
    }

    /// The store's timeout property is `name`, in seconds.
    pub fn timeout_property(mut self, name: &'static str) -> Self {
        self.timeout_property = name;
        self
    }

    /// The local server, when there is one.
    pub fn server(mut self, server: Option<Server>) -> Self {
        self.server = server;
        self
    }

    /// The local server the restart tests restart, if any.
    pub fn local_server(&self) -> Option<&Server> {
        self.server.as_ref()
    }

    /// The properties of a store on tables `state` and `meta`.
    pub fn properties(&self, state: &str, meta: &str, timeout: Duration) -> Properties {
        self.properties
            .clone()
            .with("tableName", state)
            .with("metadataTableName", meta)
            .with(self.timeout_property, timeout.as_secs().to_string())
    }

    /// `name` quoted.
    pub fn ident(&self, name: &str) -> String {
        let q = self.quote;
        format!("{q}{name}{q}")
    }

    /// Table `name` as direct SQL names it: quoted, with its schema if any.
    pub fn table(&self, name: &str) -> String {
        match &self.schema {
            Some(schema) => format!("{}.{}", self.ident(schema), self.ident(name)),
            None => self.ident(name),
        }
    }

    /// A direct connection.
    pub async fn connect(&self) -> sqlx::Result<C> {
        C::connect_with(&self.options).await
    }
}

/// Drops `tables` (names as the store is given them) if they exist,
/// ignoring errors; in a thread of its own, so that it runs inside a runtime
/// or without one.
pub fn drop_tables<B: Backend, C: Raw>(h: &Harness<B, C>, tables: &[&str]) {
    let names: Vec<String> = tables.iter().map(|t| h.table(t)).collect();
    let sql = format!("DROP TABLE IF EXISTS {}", names.join(", "));
    let h = h.clone();
    let _ = std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            if let Ok(mut conn) = h.connect().await {
                let _ = conn.run(sql).await;
            }
        });
    })
    .join();
}

/// A state table and a metadata table of one test, dropped when this goes
/// out of scope (also when the test panics).
pub struct Tables<B: Backend, C: Raw> {
    /// The database.
    pub harness: Harness<B, C>,
    /// The state table's name.
    pub state: String,
    /// The metadata table's name.
    pub meta: String,
}

impl<B: Backend, C: Raw> Tables<B, C> {
    /// The tables of test `test` in this process.
    pub fn new(h: &Harness<B, C>, test: &str) -> Self {
        let base = format!("it{}_{test}", std::process::id());
        Tables {
            harness: h.clone(),
            state: format!("{base}_state"),
            meta: format!("{base}_meta"),
        }
    }

    /// The properties of a store on these tables.
    pub fn props(&self) -> Properties {
        self.harness
            .properties(&self.state, &self.meta, TEST_TIMEOUT)
    }

    /// An initialised store with `props`.
    pub async fn open(&self, props: Properties) -> SqlStore<B> {
        let mut s = SqlStore::new();
        s.init(&props).await.expect("init");
        s
    }

    /// The state table as direct SQL names it.
    pub fn table(&self) -> String {
        self.harness.table(&self.state)
    }

    /// The key column, quoted.
    pub fn key(&self) -> String {
        self.harness.ident("key")
    }

    /// A direct connection.
    pub async fn raw(&self) -> C {
        self.harness.connect().await.expect("raw connection")
    }

    /// The integer `sql` selects.
    pub async fn int(&self, sql: String) -> i64 {
        self.raw().await.int(sql).await.expect("integer")
    }

    /// The rows of the state table matching `filter`.
    pub async fn count(&self, filter: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {} WHERE {filter}", self.table());
        self.raw().await.int(sql).await.expect("count")
    }

    /// Whether the state table exists.
    pub async fn exists(&self) -> bool {
        let sql = format!("SELECT COUNT(*) FROM {} WHERE FALSE", self.table());
        self.raw().await.int(sql).await.is_ok()
    }
}

impl<B: Backend, C: Raw> Drop for Tables<B, C> {
    fn drop(&mut self) {
        drop_tables(&self.harness, &[&self.state, &self.meta]);
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
pub async fn concurrent_instances_migrate_once<B: Backend, C: Raw>(h: &Harness<B, C>) {
    for round in 0..5 {
        let t = Tables::new(h, &format!("migrate{round}"));
        let p = t.props();
        let mut stores: Vec<SqlStore<B>> = (0..3).map(|_| SqlStore::new()).collect();
        let [a, b, c] = &mut stores[..] else {
            unreachable!()
        };
        let (ra, rb, rc) = tokio::join!(a.init(&p), b.init(&p), c.init(&p));
        for r in [ra, rb, rc] {
            r.expect("concurrent init");
        }
        let sql = format!(
            "SELECT value FROM {} WHERE {} = 'schema-version:{}'",
            h.table(&t.meta),
            t.key(),
            t.state
        );
        let version = t.raw().await.text(sql).await.expect("schema version row");
        assert_eq!(version.as_deref(), Some("1"), "round {round}");
        a.put("k", "v").await.unwrap();
        assert_eq!(&c.get_item("k").await.unwrap().unwrap().value[..], b"v");
        for s in &stores {
            s.close().await.unwrap();
        }
    }
}

/// Four stores on different tables sharing one fresh metadata table (two
/// components on one database) initialise at the same moment: all succeed,
/// each table gets its own version row. Five rounds.
pub async fn stores_sharing_a_metadata_table_start_together<B: Backend, C: Raw>(h: &Harness<B, C>) {
    for round in 0..5 {
        let tables: Vec<Tables<B, C>> = (0..4)
            .map(|i| Tables::new(h, &format!("shared{round}{i}")))
            .collect();
        let meta = tables[0].meta.clone();
        let mut stores: Vec<SqlStore<B>> = (0..4).map(|_| SqlStore::new()).collect();
        let inits = stores.iter_mut().zip(&tables).map(|(s, t)| {
            let props = t.harness.properties(&t.state, &meta, TEST_TIMEOUT);
            async move { s.init(&props).await }
        });
        for (i, r) in futures::future::join_all(inits)
            .await
            .into_iter()
            .enumerate()
        {
            r.unwrap_or_else(|e| panic!("round {round}, store {i}: {e}"));
        }
        for t in &tables {
            let sql = format!(
                "SELECT value FROM {} WHERE {} = 'schema-version:{}'",
                h.table(&meta),
                t.key(),
                t.state
            );
            let version = t.raw().await.text(sql).await.expect("schema version row");
            assert_eq!(version.as_deref(), Some("1"), "round {round}, {}", t.state);
        }
        for s in &stores {
            s.close().await.unwrap();
        }
    }
}

/// Keys full of quotes, LIKE metacharacters, unicode and trailing spaces
/// are stored verbatim and stay distinct (MariaDB's PAD SPACE collations
/// would make `a` and `a ` one key).
pub async fn hostile_keys_round_trip<B: Backend, C: Raw>(h: &Harness<B, C>) {
    let t = Tables::new(h, "keys");
    let s = t.open(t.props()).await;
    let mut keys = vec![
        format!("'; DROP TABLE {}; --", t.table()),
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

/// The stored bytes of `key`, and whether its `value_json` is NULL.
async fn stored<B: Backend, C: Raw>(t: &Tables<B, C>, key: &str) -> (Vec<u8>, bool) {
    let row = format!("FROM {} WHERE {} = '{key}'", t.table(), t.key());
    let value = t.raw().await.bytes(format!("SELECT value {row}")).await;
    let null = format!("SELECT COUNT(*) {row} AND value_json IS NULL");
    (value.expect("row"), t.int(null).await == 1)
}

/// Values are stored byte for byte; JSON documents are also in
/// `value_json`, except those holding `\u0000` (which PostgreSQL's `jsonb`
/// refuses). `first_of_a` is the database's SQL for `value_json`'s `a[0]`
/// as text.
pub async fn values_keep_their_bytes_and_json_is_queryable<B: Backend, C: Raw>(
    h: &Harness<B, C>,
    first_of_a: &str,
) {
    let t = Tables::new(h, "bytes");
    let s = t.open(t.props()).await;
    let all: Vec<u8> = (0..=255).collect();
    let invalid = vec![b'{', 0xc3, 0x28, 0xff, 0xfe, b'}'];
    let nul_json = br#"{"s":"a\u0000b"}"#.to_vec();
    for (key, v) in [("all", &all), ("invalid", &invalid), ("nul", &nul_json)] {
        s.put(key, v.clone()).await.unwrap();
        assert_eq!(&s.get_item(key).await.unwrap().unwrap().value[..], &v[..]);
        assert_eq!(stored(&t, key).await, (v.clone(), true), "{key}");
    }
    let json = br#"{"a":[1,2,{"b":null}]}"#;
    s.set(SetRequest::new("json", json.to_vec()).content_type("application/json"))
        .await
        .unwrap();
    assert_eq!(&s.get_item("json").await.unwrap().unwrap().value[..], json);
    assert_eq!(stored(&t, "json").await, (json.to_vec(), false));
    let sql = format!(
        "SELECT {first_of_a} FROM {} WHERE {} = 'json'",
        t.table(),
        t.key()
    );
    let first = t.raw().await.text(sql).await.unwrap();
    assert_eq!(first.as_deref(), Some("1"));
    s.close().await.unwrap();
}

/// Of two instances sharing a table, exactly one takes a cleanup turn, and
/// it removes exactly the expired rows.
pub async fn one_instance_takes_the_cleanup_turn<B: Backend, C: Raw>(h: &Harness<B, C>) {
    let t = Tables::new(h, "cleanup");
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
    let (gone, kept) = (
        format!("{} LIKE 'gone%'", t.key()),
        format!("{} LIKE 'kept%'", t.key()),
    );
    assert_eq!(t.count(&gone).await, 0, "expired rows left");
    assert_eq!(t.count(&kept).await, 2, "live rows purged");
    assert_eq!(a.cleanup_turn(hour).await.unwrap(), None);
    assert_eq!(b.cleanup_turn(hour).await.unwrap(), None);
    a.close().await.unwrap();
    b.close().await.unwrap();
}

/// A table name of 63 characters, the longest accepted, initialises and
/// works (an index named after it must not collide with it).
pub async fn longest_table_name<B: Backend, C: Raw>(h: &Harness<B, C>) {
    let base = Tables::new(h, "long");
    let state = format!("{}_{}", base.state, "x".repeat(63))
        .chars()
        .take(63)
        .collect();
    let t = Tables {
        harness: h.clone(),
        state,
        meta: base.meta.clone(),
    };
    let s = t.open(t.props()).await;
    s.put("k", "v").await.unwrap();
    assert_eq!(&s.get_item("k").await.unwrap().unwrap().value[..], b"v");
    s.close().await.unwrap();
}

/// In one bulk_set: a content type a column refuses (NUL, 256 bytes) fails
/// only its own key with `InvalidRequest`; JSON that some JSON column
/// refuses (32 levels deep, `1e-20000`) is stored as bytes, exactly; the
/// other items are stored.
pub async fn awkward_items_fail_alone<B: Backend, C: Raw>(h: &Harness<B, C>) {
    let t = Tables::new(h, "awkward");
    let s = t.open(t.props()).await;
    let deep = format!("{}1{}", "[".repeat(32), "]".repeat(32));
    let items: Vec<(&str, Vec<u8>, Option<String>)> = vec![
        ("good1", b"one".to_vec(), None),
        ("nul-ct", b"x".to_vec(), Some("text/\0plain".into())),
        ("long-ct", b"x".to_vec(), Some("t".repeat(256))),
        (
            "deep-json",
            deep.into_bytes(),
            Some("application/json".into()),
        ),
        ("tiny-number", b"[1e-20000]".to_vec(), None),
        ("good2", b"two".to_vec(), Some("t".repeat(255))),
    ];
    let reqs = items
        .iter()
        .map(|(k, v, ct)| {
            let r = SetRequest::new(*k, v.clone());
            match ct {
                Some(ct) => r.content_type(ct.clone()),
                None => r,
            }
        })
        .collect();
    let results = s.bulk_set(reqs).await.expect("bulk_set answers per key");
    for ((key, value, _), r) in items.iter().zip(&results) {
        assert_eq!(r.key, *key);
        if key.ends_with("-ct") {
            let e = r.result.as_ref().expect_err(key);
            assert_eq!(e.kind(), ErrorKind::InvalidRequest, "{key}: {e}");
            assert!(s.get_item(key).await.unwrap().is_none(), "{key} was stored");
        } else {
            r.result.as_ref().unwrap_or_else(|e| panic!("{key}: {e}"));
            let got = s.get_item(key).await.unwrap().expect(key);
            assert_eq!(&got.value[..], &value[..], "{key}");
        }
    }
    s.close().await.unwrap();
}

/// An etag this store cannot have issued is `ETagInvalid`; an old one is
/// `ETagMismatch`; neither changes the row.
pub async fn malformed_and_stale_etags<B: Backend, C: Raw>(h: &Harness<B, C>) {
    let t = Tables::new(h, "etag");
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
pub async fn bulk_calls_beyond_one_statement<B: Backend, C: Raw>(h: &Harness<B, C>) {
    let t = Tables::new(h, "bulk");
    let s = t.open(t.props()).await;
    let n = 2001;
    let per_statement = s.capabilities().limits.max_bulk_batch.unwrap();
    assert!(per_statement < n, "{n} items fit one statement");
    let items = (0..n).map(|i| {
        let k = format!("key{i:05}");
        let v = format!("v-{k}").into_bytes();
        (k, v)
    });
    bulk_round_trip(&t, &s, items.collect()).await;
    s.close().await.unwrap();
}

/// Sets `items` in one bulk call on the store `s` on tables `t` (the only
/// rows there), checks that every one was set and is a row, and reads them
/// back in one bulk call.
pub async fn bulk_round_trip<B: Backend, C: Raw>(
    t: &Tables<B, C>,
    s: &SqlStore<B>,
    items: Vec<(String, Vec<u8>)>,
) {
    let n = items.len();
    let reqs = items
        .iter()
        .map(|(k, v)| SetRequest::new(k.as_str(), v.clone()))
        .collect();
    let results = s.bulk_set(reqs).await.unwrap();
    assert_eq!(results.len(), n);
    for r in results {
        r.result.unwrap_or_else(|e| panic!("{}: {e}", r.key));
    }
    assert_eq!(t.count("TRUE").await, n as i64);
    let keys = items.iter().map(|(k, _)| GetRequest::new(k.as_str()));
    let got = s.bulk_get(keys.collect()).await.unwrap();
    assert_eq!(got.len(), n);
    for ((k, v), r) in items.iter().zip(got) {
        assert_eq!(&r.key, k);
        let item = r.result.unwrap().unwrap_or_else(|| panic!("{k} missing"));
        assert!(item.value == v[..], "the value of {k} differs");
    }
}

/// What the writers of the restart test saw.
#[derive(Default)]
struct Log {
    /// Acknowledged writes: key -> (value, when acknowledged).
    acked: BTreeMap<String, (String, Instant)>,
    /// Failed calls by error kind, with the first message of each kind.
    failures: BTreeMap<String, (usize, String)>,
    /// The slowest failed call.
    slowest_failure: Duration,
}

/// 8 writers, each setting fresh keys one after another until `stop`.
fn writers(
    store: Arc<dyn Store>,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Log>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..8)
        .map(|w| {
            let (store, stop, log) = (store.clone(), stop.clone(), log.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let (k, v) = (
                        format!("w{w}-{n}"),
                        format!("value {w}/{n} of {}", std::process::id()),
                    );
                    n += 1;
                    let started = Instant::now();
                    let result = store.set(SetRequest::new(k.clone(), v.clone())).await;
                    let failed = result.is_err();
                    {
                        let mut log = log.lock().unwrap();
                        match result {
                            Ok(_) => {
                                log.acked.insert(k, (v, Instant::now()));
                            }
                            Err(e) => {
                                let kind = format!("{:?}", e.kind());
                                log.failures.entry(kind).or_insert((0, e.to_string())).0 += 1;
                                log.slowest_failure = log.slowest_failure.max(started.elapsed());
                            }
                        }
                    }
                    if failed {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            })
        })
        .collect()
}

/// The store under a write load of 8 writers while the local server
/// restarts: 0 acknowledged writes lost, recovery without a new init, and
/// failures only `Unavailable` or `Timeout`, each within the 2 s timeout
/// (plus 1 s). Prints both counts. Panics when there is no local server; a
/// server left down is started again.
pub async fn restart_under_load<B: Backend, C: Raw>(h: &Harness<B, C>) {
    const TIMEOUT: Duration = Duration::from_secs(2);
    let server = h
        .local_server()
        .expect("a local server to restart is needed");
    let t = Tables::new(h, "restart");
    let _guard = server.guard();
    let mut store = SqlStore::<B>::new();
    store
        .init(&h.properties(&t.state, &t.meta, TIMEOUT))
        .await
        .expect("init");
    let store: Arc<dyn Store> = Arc::new(store);

    let (stop, log) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(Mutex::new(Log::default())),
    );
    let tasks = writers(store.clone(), stop.clone(), log.clone());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let restart_started = Instant::now();
    let restart = server.restart().await;
    let restarted = Instant::now();
    if let Err(why) = restart {
        panic!("restarting {} failed: {why}", server.name);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("writer task");
    }
    let log = std::mem::take(&mut *log.lock().unwrap());

    // Read everything back with the same instance: no new init.
    let keys: Vec<&String> = log.acked.keys().collect();
    let (mut found, mut lost) = (0, Vec::new());
    for chunk in keys.chunks(500) {
        let reqs = chunk.iter().map(|k| GetRequest::new(k.as_str())).collect();
        for r in store
            .bulk_get(reqs)
            .await
            .expect("bulk_get after the restart")
        {
            match r.result.expect("read after the restart") {
                Some(item) if item.value == log.acked[&r.key].0.as_bytes() => found += 1,
                other => lost.push((r.key, other.map(|i| i.value))),
            }
        }
    }
    let again = log
        .acked
        .values()
        .filter_map(|(_, at)| at.checked_duration_since(restarted))
        .min();
    let failed: usize = log.failures.values().map(|(n, _)| n).sum();
    let kinds: Vec<String> = log
        .failures
        .iter()
        .map(|(k, (n, _))| format!("{k}: {n}"))
        .collect();
    let line = format!(
        "{} restart under load: {} writes acknowledged, {found} found, {} lost; \
         {failed} calls failed ({}), slowest failure {} ms; writing again {} ms after the restart \
         (which took {} ms)",
        h.label,
        log.acked.len(),
        lost.len(),
        kinds.join(", "),
        log.slowest_failure.as_millis(),
        again.map_or("never".into(), |d| d.as_millis().to_string()),
        (restarted - restart_started).as_millis(),
    );
    // Straight to the stream: libtest captures `println!`, and this line is
    // the test's report even when it passes.
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{line}");

    store.close().await.expect("close");
    let drop = format!("DROP TABLE IF EXISTS {}, {}", t.table(), h.table(&t.meta));
    t.raw().await.run(drop).await.expect("drop the tables");

    assert!(
        lost.is_empty(),
        "acknowledged writes lost (key, value read): {:?}",
        &lost[..lost.len().min(5)]
    );
    assert!(
        again.is_some(),
        "the store wrote nothing in the 3 s after the restart"
    );
    for (kind, (_, first)) in &log.failures {
        assert!(
            kind == "Unavailable" || kind == "Timeout",
            "a write failed with {kind}, not Unavailable or Timeout: {first}"
        );
    }
    assert!(
        log.slowest_failure < TIMEOUT + Duration::from_secs(1),
        "a call took {:?} to fail (timeout 2s)",
        log.slowest_failure
    );
}

/// The conformance suite against the store `registration` makes, in tables
/// of this run (timeout 5 s), which it drops afterwards. With a local
/// server, the restart case stops and starts it.
pub fn conformance<B: Backend, C: Raw>(h: &Harness<B, C>, registration: Registration) -> ExitCode {
    let run = format!("conf{}", std::process::id());
    let (state, meta) = (format!("{run}_state"), format!("{run}_meta"));
    let props = h.properties(&state, &meta, Duration::from_secs(5));
    let restart = h.local_server().map(|server| {
        let mut r = Restart::commands(server.stop.clone(), server.start.clone());
        r.fail_within = Duration::from_secs(10);
        r.recover_within = Duration::from_secs(30);
        r
    });
    let quirks = Quirks {
        restart,
        ..Quirks::default()
    };
    let code = statestore_conformance::main_with_quirks(registration, props, quirks);
    drop_tables(h, &[&state, &meta]);
    code
}
