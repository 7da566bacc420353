//! What the shared suite cannot see from outside, on the local MariaDB or
//! MySQL (`STATESTORE_MYSQL_DSN`, default `root@tcp(127.0.0.1:3306)/`, schema
//! `statestore_test`): concurrent migrations, rows as stored, the cleanup
//! claim, etag forms and bulk calls split by rows and by bytes. All but the
//! `max_allowed_packet` tests are the SQL stores' shared bodies
//! (`statestore_sql::testing`). Every test works in tables of its own and
//! drops them.

mod common;

use sqlx::MySqlConnection;
use statestore_core::{SetRequest, Store, StoreExt};
use statestore_mysql::MySqlBackend;
use statestore_sql::testing::{self, Tables};

statestore_sql::sql_store_tests!(common::mysql());

statestore_sql::sql_kept_tests!(
    common::mysql(),
    statestore_mysql::MySqlDriver,
    "maxOpenConns",
    "SELECT SLEEP(1)"
);

/// Values are `LONGBLOB` byte for byte; JSON documents are also in
/// `value_json`, `\u0000` included.
#[tokio::test]
async fn values_keep_their_bytes_and_json_is_queryable() {
    let first_of_a = "JSON_UNQUOTE(JSON_EXTRACT(value_json, '$.a[0]'))";
    testing::values_keep_their_bytes_and_json_is_queryable(&common::mysql(), first_of_a).await;
}

/// The server's `max_allowed_packet`.
async fn max_allowed_packet(t: &Tables<MySqlBackend, MySqlConnection>) -> usize {
    let packet = t
        .int("SELECT CAST(@@max_allowed_packet AS SIGNED)".into())
        .await;
    packet as usize
}

/// A bulk call whose values together exceed `max_allowed_packet` is split
/// by bytes, and reads back whole.
#[tokio::test]
async fn bulk_set_beyond_max_allowed_packet() {
    let t = Tables::new(&common::mysql(), "packet");
    let s = t.open(t.props()).await;
    let packet = max_allowed_packet(&t).await;
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
    let items = (0..n).map(|i| (format!("big{i:03}"), value(i)));
    testing::bulk_round_trip(&t, &s, items.collect()).await;
    s.close().await.unwrap();
}

/// JSON values travel twice (`value` and `value_json`), and still fit the
/// packet: a full statement of JSON rows, and one JSON value of the
/// advertised `max_value_len`.
#[tokio::test]
async fn json_values_fit_max_allowed_packet() {
    let t = Tables::new(&common::mysql(), "jsonpacket");
    let s = t.open(t.props()).await;
    let limits = s.capabilities().limits;
    let (rows, max_value) = (
        limits.max_bulk_batch.unwrap(),
        limits.max_value_len.unwrap(),
    );
    let packet = max_allowed_packet(&t).await;
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
    let len = packet / 2 / rows - 5;
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

/// A user the server does not know (error 1045), one without privileges
/// on the schema (1044), a locked account (4151 or 3118) and an expired
/// password (1820 or 1862) are `PermissionDenied`.
#[tokio::test]
async fn refused_users_are_permission_denied() {
    let id = std::process::id();
    let names = [
        (
            "without privileges on the schema",
            format!("statestore_reader_{id}"),
            "",
        ),
        (
            "whose account is locked",
            format!("statestore_locked_{id}"),
            " ACCOUNT LOCK",
        ),
        (
            "whose password expired",
            format!("statestore_expired_{id}"),
            " PASSWORD EXPIRE",
        ),
    ];
    let create: Vec<String> = names
        .iter()
        .map(|(_, user, how)| format!("CREATE USER '{user}'@'%'{how}"))
        .collect();
    let drop: Vec<String> = names
        .iter()
        .map(|(_, user, _)| format!("DROP USER IF EXISTS '{user}'@'%'"))
        .collect();
    let users = testing::Users {
        unknown: dsn_as("statestore_nobody:hunter2"),
        refused: names
            .iter()
            .map(|(what, user, _)| (*what, dsn_as(user)))
            .collect(),
        create: &create,
        drop: &drop,
    };
    testing::refused_users_are_permission_denied(&common::mysql(), users).await;
}

/// The test server's DSN (as `common::mysql` reads it) with another user
/// (and password): `<user>@tcp(host)/`.
fn dsn_as(user: &str) -> String {
    let dsn = std::env::var("STATESTORE_MYSQL_DSN")
        .unwrap_or_else(|_| "root@tcp(127.0.0.1:3306)/".into());
    let host = dsn.rsplit_once('@').map_or(dsn.as_str(), |(_, host)| host);
    format!("{user}@{host}")
}

/// A generated column on the query's expression for a path, with an index,
/// leaves the store working (docs/query.md, "Indexes"). MariaDB before
/// 11.8 uses such an index only for statements that name the column, which
/// the store's do not: the plan does not name it.
#[tokio::test]
async fn a_generated_column_index_leaves_the_query_working() {
    let my = common::mysql();
    let index = |table: &str, expr: &str| {
        vec![format!(
            "ALTER TABLE {table} ADD COLUMN statestore_group_value DOUBLE AS ({expr}) VIRTUAL, \
             ADD INDEX statestore_group (statestore_group_value)"
        )]
    };
    let plan = async |sql: String| {
        use sqlx::Row as _;
        use statestore_sql::testing::Raw as _;
        let mut c = my.connect().await.unwrap();
        // The schema of common::mysql(), which the store's statements assume.
        c.run("USE statestore_test".into()).await.unwrap();
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}")))
            .fetch_all(&mut c)
            .await
            .unwrap();
        let text = |r: &sqlx::mysql::MySqlRow, c: &str| {
            let v: Option<Vec<u8>> = r.try_get(c).unwrap();
            String::from_utf8_lossy(&v.unwrap_or_default()).into_owned()
        };
        rows.iter()
            .map(|r| format!("table {} key {}", text(r, "table"), text(r, "key")))
            .collect::<Vec<_>>()
            .join("\n")
    };
    testing::an_index_serves_the_query(&my, index, plan, false).await;
}
