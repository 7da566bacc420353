//! The conformance suite against `state.postgresql` on the local server
//! (`STATESTORE_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`),
//! in tables of this run, dropped afterwards. The restart case restarts the
//! server with `pg_ctlcluster`, as root, when the cluster is a local one.

mod common;

fn main() -> std::process::ExitCode {
    statestore_sql::testing::conformance(&common::postgres(), statestore_postgres::REGISTRATION)
}
