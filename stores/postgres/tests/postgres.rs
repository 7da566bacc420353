//! What the shared suite cannot see from outside, on the local PostgreSQL
//! (`STATESTORE_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`):
//! concurrent migrations, rows as stored, the cleanup claim, etag forms and
//! chunked bulk calls. The bodies are the SQL stores' shared ones
//! (`statestore_sql::testing`). Every test works in tables of its own and
//! drops them.

mod common;

statestore_sql::sql_store_tests!(common::postgres());

/// Values are `bytea` byte for byte; JSON documents are also in
/// `value_json`, except those `jsonb` refuses.
#[tokio::test]
async fn values_keep_their_bytes_and_json_is_queryable() {
    let first_of_a = "value_json->'a'->>0";
    let pg = common::postgres();
    statestore_sql::testing::values_keep_their_bytes_and_json_is_queryable(&pg, first_of_a).await;
}
