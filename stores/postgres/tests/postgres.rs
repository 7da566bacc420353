//! What the shared suite cannot see from outside, on the local PostgreSQL
//! (`STATESTORE_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`):
//! concurrent migrations, rows as stored, the cleanup claim, etag forms and
//! chunked bulk calls. The bodies are the SQL stores' shared ones
//! (`statestore_sql::testing`). Every test works in tables of its own and
//! drops them.

mod common;

statestore_sql::sql_store_tests!(common::postgres());

statestore_sql::sql_kept_tests!(
    common::postgres(),
    statestore_postgres::PgDriver,
    "maxConns",
    "SELECT pg_sleep(1)"
);

/// Values are `bytea` byte for byte; JSON documents are also in
/// `value_json`, a `\u0000` as `\ufffd`.
#[tokio::test]
async fn values_keep_their_bytes_and_json_is_queryable() {
    let first_of_a = "value_json->'a'->>0";
    let pg = common::postgres();
    statestore_sql::testing::values_keep_their_bytes_and_json_is_queryable(&pg, first_of_a).await;
}

/// A role that does not exist (SQLSTATE 28000), one that may not log in
/// (28000) and one without the CREATE privilege on the schema (42501) are
/// `PermissionDenied`.
#[tokio::test]
async fn refused_users_are_permission_denied() {
    let pg = common::postgres();
    let id = std::process::id();
    let (reader, nologin) = (
        format!("statestore_reader_{id}"),
        format!("statestore_nologin_{id}"),
    );
    let create = [
        format!("CREATE ROLE {reader} LOGIN"),
        format!("CREATE ROLE {nologin} NOLOGIN"),
    ];
    let drop = [
        format!("DROP ROLE IF EXISTS {reader}"),
        format!("DROP ROLE IF EXISTS {nologin}"),
    ];
    let users = statestore_sql::testing::Users {
        unknown: url_as("statestore_nobody:hunter2"),
        refused: vec![
            ("without CREATE on the schema", url_as(&reader)),
            ("that may not log in", url_as(&nologin)),
        ],
        create: &create,
        drop: &drop,
    };
    statestore_sql::testing::refused_users_are_permission_denied(&pg, users).await;
}

/// The test database's URL (as `common::postgres` reads it) with another
/// user (and password): `postgres://<user>@host/db`.
fn url_as(user: &str) -> String {
    let url = std::env::var("STATESTORE_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{user}@{host}")
}

/// An expression index on the query's expression for a path is what the
/// query's statement uses (docs/query.md, "Indexes").
#[tokio::test]
async fn an_expression_index_serves_the_query() {
    let pg = common::postgres();
    let index = |table: &str, expr: &str| {
        vec![
            format!("CREATE INDEX statestore_group ON {table} ({expr})"),
            format!("ANALYZE {table}"),
        ]
    };
    let plan = async |sql: String| {
        use sqlx::Row as _;
        let mut c = pg.connect().await.unwrap();
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}")))
            .fetch_all(&mut c)
            .await
            .unwrap();
        rows.iter()
            .map(|r| r.get::<String, _>(0))
            .collect::<Vec<_>>()
            .join("\n")
    };
    statestore_sql::testing::an_index_serves_the_query(&pg, index, plan, true).await;
}
