//! The local MariaDB or MySQL for the shared SQL tests
//! (`statestore_sql::testing`): `STATESTORE_MYSQL_DSN`, default
//! `root@tcp(127.0.0.1:3306)/`, tables in schema `statestore_test`; the
//! server to restart is the local `mariadbd` (`start-stop-daemon`, as root),
//! when there is one.

use sqlx::MySqlConnection;
use statestore_core::Properties;
use statestore_mysql::MySqlBackend;
use statestore_mysql::config::parse_connection_string;
use statestore_sql::testing::{Harness, Server};

const DAEMON: &str = "/usr/sbin/mariadbd";

pub fn mysql() -> Harness<MySqlBackend, MySqlConnection> {
    let dsn = std::env::var("STATESTORE_MYSQL_DSN")
        .unwrap_or_else(|_| "root@tcp(127.0.0.1:3306)/".into());
    let options = parse_connection_string(&dsn).expect("connection string");
    let props = Properties::new().with("connectionString", dsn);
    Harness::new("mysql", props, options)
        .quote('`')
        .schema("statestore_test")
        .timeout_property("timeoutInSeconds")
        .server(mariadb())
}

/// `mariadbd`, started in the background; it is up once it answers over TCP.
fn mariadb() -> Option<Server> {
    let answers = "mariadb --protocol=TCP -h 127.0.0.1 -u root -e 'SELECT 1' >/dev/null 2>&1";
    let start = format!(
        "start-stop-daemon --start --oknodo --background --exec {DAEMON} && \
         for i in $(seq 1 300); do {answers} && exit 0; sleep 0.1; done; exit 1"
    );
    std::path::Path::new(DAEMON).exists().then(|| Server {
        name: "MariaDB",
        up: answers.to_owned(),
        stop: format!("start-stop-daemon --stop --retry 30 --exec {DAEMON}"),
        start,
        restart: None,
    })
}
