//! `state.postgresql` under a write load while the local server restarts
//! (`pg_ctlcluster … stop -m fast` and `start`, as root): 0 acknowledged
//! writes lost and recovery without a new init. Prints both counts. The body
//! is the SQL stores' shared one (`statestore_sql::testing`).

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_under_load() {
    let pg = common::postgres();
    assert!(
        pg.local_server().is_some(),
        "/etc/postgresql (a local PostgreSQL cluster) is needed"
    );
    statestore_sql::testing::restart_under_load(&pg).await;
}
