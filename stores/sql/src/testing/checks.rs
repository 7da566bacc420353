//! The shared test bodies: what the conformance suite cannot check from
//! outside (migrations, rows as stored, the cleanup claim, etag forms, bulk
//! splitting). Each panics on a failed check.

use std::time::Duration;

use statestore_core::{
    DeleteRequest, ErrorKind, Feature, GetRequest, KeysLikeRequest, QueryRequest, QueryResponse,
    SetRequest, Store, StoreExt,
};

use super::harness::{Harness, Raw, TEST_TIMEOUT, Tables};
use crate::{Backend, Dialect, SqlStore};

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
            r.unwrap_or_else(|e| panic!("round {round}, store {i}: {e:#}"));
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
/// `value_json`, those holding `\u0000` included (PostgreSQL's copy has
/// `\ufffd` in its place, which `jsonb` can hold), and nothing else is.
/// `first_of_a` is the database's SQL for `value_json`'s `a[0]` as text.
pub async fn values_keep_their_bytes_and_json_is_queryable<B: Backend, C: Raw>(
    h: &Harness<B, C>,
    first_of_a: &str,
) {
    let t = Tables::new(h, "bytes");
    let s = t.open(t.props()).await;
    let all: Vec<u8> = (0..=255).collect();
    let invalid = vec![b'{', 0xc3, 0x28, 0xff, 0xfe, b'}'];
    let nul_json = br#"{"s":"a\u0000b"}"#.to_vec();
    for (key, v, copied) in [
        ("all", &all, false),
        ("invalid", &invalid, false),
        ("nul", &nul_json, true),
    ] {
        s.put(key, v.clone()).await.unwrap();
        assert_eq!(&s.get_item(key).await.unwrap().unwrap().value[..], &v[..]);
        assert_eq!(stored(&t, key).await, (v.clone(), !copied), "{key}");
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
            assert_eq!(e.kind(), ErrorKind::InvalidRequest, "{key}: {e:#}");
            assert!(s.get_item(key).await.unwrap().is_none(), "{key} was stored");
        } else {
            r.result.as_ref().unwrap_or_else(|e| panic!("{key}: {e:#}"));
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

/// A bulk write too large for one statement goes as several, each committed
/// on its own (bulk calls are not atomic). When one fails, here on a CHECK
/// constraint refusing one key, that statement's keys and those after it
/// fail with its error, message kept, and are not written; the keys before
/// it are. When the first statement fails, the whole call does, and writes
/// nothing.
pub async fn a_failed_bulk_statement_fails_its_keys<B: Backend, C: Raw>(h: &Harness<B, C>) {
    failed_bulk_statement(h, |table, name, key, poison| {
        format!("ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({key} <> '{poison}')")
    })
    .await
}

/// [`a_failed_bulk_statement_fails_its_keys`], with the statement that
/// makes writing one key fail: `refuse(table, name, key column, key)`
/// gives the SQL, and the error must name `name`.
pub async fn failed_bulk_statement<B: Backend, C: Raw>(
    h: &Harness<B, C>,
    refuse: impl Fn(&str, &str, &str, &str) -> String,
) {
    let t = Tables::new(h, "poison");
    let s = t.open(t.props()).await;
    let poison = "k01500";
    let check = format!("{}_poison", t.state);
    let sql = refuse(&t.table(), &h.ident(&check), &t.key(), poison);
    t.raw().await.run(sql).await.expect("refusal");
    // Statements go by key in byte order, `bulk_rows` rows each (values
    // this small never split by bytes): the poisoned key's statement
    // starts at `boundary`.
    let per = s.dialect().expect("initialised").bulk_rows();
    let first = 1500 / per * per;
    let boundary = format!("k{first:05}");
    // Requested in reverse, with the keys on each side of the boundary
    // written again at the end: outcomes go by key, not by request order,
    // and the last write of a key wins.
    let before = format!("k{:05}", first - 1);
    let mut reqs: Vec<(String, &str)> =
        (0..2001).rev().map(|i| (format!("k{i:05}"), "v")).collect();
    reqs.push((before.clone(), "last"));
    reqs.push((boundary.clone(), "last"));
    let call = reqs.iter().map(|(k, v)| SetRequest::new(k.as_str(), *v));
    let results = s.bulk_set(call.collect()).await.expect("answers per key");
    assert_eq!(results.len(), reqs.len());
    for ((key, _), r) in reqs.iter().zip(&results) {
        assert_eq!(&r.key, key);
        match &r.result {
            Ok(_) => assert!(
                *key < boundary,
                "{key} written at or after the failed statement"
            ),
            Err(e) => {
                assert!(*key >= boundary, "{key} before the failed statement: {e:#}");
                assert!(format!("{e:#}").contains(&check), "{key}: {e:#}");
                assert_eq!(e.key(), Some(key.as_str()));
            }
        }
    }
    assert_eq!(t.count("TRUE").await, first as i64);
    let last = s.get_item(before.as_str()).await.unwrap().expect("written");
    assert_eq!(&last.value[..], b"last");
    // Its etag is the last write's, the one before the boundary key's.
    let last_etag = results[results.len() - 2].result.as_ref().unwrap();
    assert_eq!(last.etag.as_ref(), last_etag.as_ref());
    let whole = s
        .bulk_set(vec![
            SetRequest::new(poison, "v"),
            SetRequest::new("k99999", "v"),
        ])
        .await
        .map(drop)
        .expect_err("a call failing in its first statement fails whole");
    assert!(format!("{whole:#}").contains(&check), "{whole:#}");
    assert!(s.get_item("k99999").await.unwrap().is_none());
    s.close().await.unwrap();
}

/// Unconditional writes that fit one statement go out as one upsert
/// (docs/performance.md): a key written twice in one call ends with its
/// last value, whose etag is the current one; the earlier item's etag was
/// never current, so a write with it is refused; a transaction of such
/// writes behaves the same; and none of it weakens a conditional write.
pub async fn one_statement_upserts<B: Backend, C: Raw>(h: &Harness<B, C>) {
    let t = Tables::new(h, "oneupsert");
    let s = t.open(t.props()).await;
    let reqs = vec![
        SetRequest::new("b", "b1"),
        SetRequest::new("a", "a1"),
        SetRequest::new("b", "b2"),
    ];
    let results = s.bulk_set(reqs).await.unwrap();
    let etags: Vec<_> = results
        .into_iter()
        .map(|r| r.result.unwrap().expect("an etag"))
        .collect();
    assert_eq!(t.count("TRUE").await, 2);
    let b = s.get_item("b").await.unwrap().unwrap();
    assert_eq!(&b.value[..], b"b2");
    assert_eq!(b.etag.as_ref(), Some(&etags[2]));
    assert_ne!(etags[0], etags[2]);
    let stale = s.set(SetRequest::new("b", "b3").etag(etags[0].clone()));
    assert_eq!(kind(stale.await), ErrorKind::ETagMismatch);
    let ops: Vec<statestore_core::TransactionOp> = vec![
        SetRequest::new("c", "c1").into(),
        SetRequest::new("a", "a2").into(),
        SetRequest::new("c", "c2").into(),
    ];
    let tx = s
        .transact(statestore_core::TransactRequest::new(ops))
        .await
        .unwrap();
    assert_eq!(tx.len(), 3);
    let c = s.get_item("c").await.unwrap().unwrap();
    assert_eq!((&c.value[..], c.etag), (&b"c2"[..], tx[2].clone()));
    assert_eq!(&s.get_item("a").await.unwrap().unwrap().value[..], b"a2");
    // A conditional item in the call takes the checked path.
    let reqs = vec![
        SetRequest::new("a", "a3"),
        SetRequest::new("b", "b4").etag(etags[0].clone()),
    ];
    let results = s.bulk_set(reqs).await.unwrap();
    assert!(results[0].result.is_ok());
    assert_eq!(
        results[1].result.as_ref().map(drop).unwrap_err().kind(),
        ErrorKind::ETagMismatch
    );
    assert_eq!(&s.get_item("b").await.unwrap().unwrap().value[..], b"b2");
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
        r.result.unwrap_or_else(|e| panic!("{}: {e:#}", r.key));
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

/// Who a [`refused_users_are_permission_denied`] test logs in as.
pub struct Users<'a> {
    /// A connection string whose user the server does not know, with the
    /// password `hunter2` where the format has one.
    pub unknown: String,
    /// Connection strings of users who may not do what init needs (no
    /// privileges, locked, ...), each with what is wrong with it; `create`
    /// makes them, `drop` removes them.
    pub refused: Vec<(&'a str, String)>,
    /// Statements that create the refused users (run as the harness's).
    pub create: &'a [String],
    /// Statements that remove them again, whatever the outcome.
    pub drop: &'a [String],
}

/// A login the server refuses and users without what init needs both fail
/// init with `PermissionDenied` ("fix the password or the grants"), not
/// `Config`, and no password appears in the error.
pub async fn refused_users_are_permission_denied<B: Backend, C: Raw>(
    h: &Harness<B, C>,
    users: Users<'_>,
) {
    let t = Tables::new(h, "denied");
    let init = |connection: String| {
        let props = t.props().with("connectionString", connection);
        async move {
            let mut s = SqlStore::<B>::new();
            let e = s.init(&props).await.expect_err("init as a refused user");
            let _ = s.close().await;
            e
        }
    };
    let e = init(users.unknown.clone()).await;
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "unknown user: {e:#}");
    assert!(!format!("{e:#} {e:?}").contains("hunter2"), "{e:#}");

    let mut raw = t.raw().await;
    for sql in users.drop {
        let _ = raw.run(sql.clone()).await;
    }
    for sql in users.create {
        raw.run(sql.clone())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e:#}"));
    }
    let mut errors = Vec::new();
    for (what, connection) in &users.refused {
        errors.push((*what, init(connection.clone()).await));
    }
    for sql in users.drop {
        let _ = raw.run(sql.clone()).await;
    }
    for (what, e) in errors {
        assert_eq!(
            e.kind(),
            ErrorKind::PermissionDenied,
            "a user {what}: {e:#}"
        );
    }
}

/// The statement's text with its parameters written in as literals, for a
/// database's plan of it (numbers only: the query below binds no text).
fn with_literals(stmt: &crate::Stmt) -> String {
    let literal = |p: &crate::Param| match p {
        crate::Param::F64(v) => format!("{v:?}"),
        crate::Param::I64(v) => v.to_string(),
        other => panic!("a literal for {other:?}"),
    };
    let mut sql = stmt.sql.to_string();
    if sql.contains("$1") {
        for (i, p) in stmt.params.iter().enumerate().rev() {
            sql = sql.replace(&format!("${}", i + 1), &literal(p));
        }
    } else {
        for p in &stmt.params {
            sql = sql.replacen('?', &literal(p), 1);
        }
    }
    sql
}

/// An index on the expression [`crate::query::index_expression`] gives for
/// a path (docs/query.md, *Indexes*) leaves the query's answers as they
/// were, and, where `used`, the database's plan of the query's own
/// statement names it. `index(table, expression)` is the DDL that adds the
/// index named `statestore_group`; `plan(sql)` the database's plan of a
/// statement, as text.
pub async fn an_index_serves_the_query<B: Backend, C: Raw>(
    h: &Harness<B, C>,
    index: impl Fn(&str, &str) -> Vec<String>,
    plan: impl AsyncFn(String) -> String,
    used: bool,
) {
    use crate::query::{Kind, index_expression, statement};
    let t = Tables::new(h, "index");
    let s = t.open(t.props()).await;
    for chunk in (0..2000).collect::<Vec<i32>>().chunks(500) {
        let reqs = chunk
            .iter()
            .map(|i| {
                SetRequest::json(
                    format!("k{i:04}"),
                    &serde_json::json!({"group": i % 200, "n": i}),
                )
                .unwrap()
            })
            .collect();
        for r in s.bulk_set(reqs).await.unwrap() {
            r.result.unwrap();
        }
    }
    s.put("text", "not json").await.unwrap();
    s.put("string", r#"{"group": "7"}"#).await.unwrap();
    let q = statestore_core::Query::from_json(
        r#"{"filter": {"EQ": {"group": 7}}, "sort": [{"key": "n", "order": "DESC"}], "page": {"limit": 5}}"#,
    )
    .unwrap();
    let req = QueryRequest::new(q);
    let keys = |r: QueryResponse| r.results.into_iter().map(|i| i.key).collect::<Vec<_>>();
    let before = keys(s.query(req.clone()).await.unwrap());
    assert_eq!(before, ["k1807", "k1607", "k1407", "k1207", "k1007"]);
    let d = s.dialect().unwrap();
    let expr = index_expression(d, "group", Kind::Number).unwrap();
    let mut raw = t.raw().await;
    for ddl in index(&t.table(), &expr) {
        raw.run(ddl).await.unwrap();
    }
    assert_eq!(keys(s.query(req.clone()).await.unwrap()), before);
    let (stmt, _) = statement(d, &req).unwrap();
    let shown = plan(with_literals(&stmt)).await;
    assert!(!shown.trim().is_empty(), "no plan of {}", stmt.sql);
    assert_eq!(
        shown.contains("statestore_group"),
        used,
        "the plan of {}:\n{shown}",
        stmt.sql
    );
    s.close().await.unwrap();
}

/// `docs` (docs/query.md) shows the expressions `d` writes for a number at
/// `person.age` and a string at `city`, and `d` refuses to give one for a
/// path it binds rather than writes.
pub fn index_expressions_are_documented<D: crate::JsonSql>(d: &D, docs: &str) {
    use crate::query::{Kind, index_expression};
    for (path, kind) in [("person.age", Kind::Number), ("city", Kind::String)] {
        let expr = index_expression(d, path, kind).unwrap();
        assert!(docs.contains(&expr), "docs/query.md lacks {expr}");
    }
    assert!(index_expression(d, "o'k", Kind::Number).is_err());
}

/// Every `?` of `d`'s statements on many keys (reads, deletes, liveness,
/// row locks) has its parameter, for 1 to 1,000 keys: their `IN` lists
/// are padded (`in_size`), and SQLite would read a missing parameter as
/// NULL rather than fail. For dialects with `?` placeholders.
pub fn key_lists_bind_every_placeholder<D: Dialect>(d: &D) {
    let all: Vec<String> = (0..1000).map(|i| format!("k{i:03}")).collect();
    for n in 1..=all.len() {
        let keys: Vec<&str> = all[..n].iter().map(String::as_str).collect();
        for stmt in [d.get(&keys), d.delete(&keys), d.live_keys(&keys)]
            .into_iter()
            .chain(d.lock(&keys))
        {
            let marks = stmt.sql.matches('?').count();
            assert_eq!(marks, stmt.params.len(), "{n} keys: {}", stmt.sql);
        }
    }
}
