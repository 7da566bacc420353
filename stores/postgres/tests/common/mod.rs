//! The local PostgreSQL for the shared SQL tests (`statestore_sql::testing`):
//! `STATESTORE_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`;
//! the server to restart is the newest cluster under `/etc/postgresql`
//! (`pg_ctlcluster`, as root), when there is one.

use sqlx::PgConnection;
use statestore_core::Properties;
use statestore_postgres::PgBackend;
use statestore_postgres::config::parse_connection_string;
use statestore_sql::testing::{Harness, Server};

pub fn postgres() -> Harness<PgBackend, PgConnection> {
    let url = std::env::var("STATESTORE_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let options = parse_connection_string(&url).expect("connection string");
    let props = Properties::new().with("connectionString", url);
    Harness::new("postgres", props, options).server(cluster())
}

fn cluster() -> Option<Server> {
    let ctl =
        "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | sort -V | tail -1) main";
    std::path::Path::new("/etc/postgresql")
        .exists()
        .then(|| Server {
            name: "PostgreSQL",
            up: format!("{ctl} status"),
            stop: format!("{ctl} stop -m fast"),
            start: format!("{ctl} start"),
            restart: Some(format!("{ctl} restart")),
        })
}
