//! The conformance suite against `state.mysql` on the local MariaDB or
//! MySQL (`STATESTORE_MYSQL_DSN`, default `root@tcp(127.0.0.1:3306)/`), in
//! tables of this run, dropped afterwards. The restart case stops and starts
//! the local `mariadbd` when there is one.

mod common;

fn main() -> std::process::ExitCode {
    statestore_sql::testing::conformance(&common::mysql(), statestore_mysql::REGISTRATION)
}
