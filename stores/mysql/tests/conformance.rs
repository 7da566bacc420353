//! The conformance suite against `state.mysql` on the local MariaDB or
//! MySQL (`STATESTORE_MYSQL_DSN`, default `root@tcp(127.0.0.1:3306)/`), in
//! tables of this run. The restart case stops and starts the local
//! `mariadbd` when there is one.

use std::time::Duration;

use statestore_conformance::{Quirks, Restart};
use statestore_core::Properties;

fn main() -> std::process::ExitCode {
    let dsn = std::env::var("STATESTORE_MYSQL_DSN")
        .unwrap_or_else(|_| "root@tcp(127.0.0.1:3306)/".into());
    let run = format!("conf{}", std::process::id());
    let props = Properties::new()
        .with("connectionString", dsn)
        .with("schemaName", "statestore_test")
        .with("tableName", format!("{run}_state"))
        .with("metadataTableName", format!("{run}_meta"))
        .with("timeoutInSeconds", "5");
    let daemon = "/usr/sbin/mariadbd";
    let restart = std::path::Path::new(daemon).exists().then(|| {
        let mut r = Restart::commands(
            format!("start-stop-daemon --stop --retry 30 --exec {daemon}"),
            format!(
                "start-stop-daemon --start --oknodo --background --exec {daemon} && \
                 for i in $(seq 1 300); do mariadb --protocol=TCP -h 127.0.0.1 -u root -e 'SELECT 1' >/dev/null 2>&1 && exit 0; sleep 0.1; done; exit 1"
            ),
        );
        r.fail_within = Duration::from_secs(10);
        r.recover_within = Duration::from_secs(30);
        r
    });
    let quirks = Quirks {
        restart,
        ..Quirks::default()
    };
    let code = statestore_conformance::main_with_quirks(
        statestore_mysql::REGISTRATION,
        props.clone(),
        quirks,
    );
    drop_tables(
        &props,
        &format!("DROP TABLE IF EXISTS statestore_test.{run}_state, statestore_test.{run}_meta"),
    );
    code
}

/// Drops this run's tables, so that runs leave nothing behind.
fn drop_tables(props: &Properties, sql: &str) {
    use sqlx::Connection as _;
    let dsn = props.get("connectionString").unwrap_or_default();
    let Ok(options) = statestore_mysql::config::parse_connection_string(dsn) else {
        return;
    };
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    rt.block_on(async {
        if let Ok(mut conn) = sqlx::MySqlConnection::connect_with(&options).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                .execute(&mut conn)
                .await;
        }
    });
}
