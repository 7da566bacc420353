//! The conformance suite against `state.postgresql` on the local server
//! (`STATESTORE_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`),
//! in tables of this run. The restart case restarts the server with
//! `pg_ctlcluster`, as root, when the cluster is a local one.

use std::time::Duration;

use statestore_conformance::{Quirks, Restart};
use statestore_core::Properties;

fn main() -> std::process::ExitCode {
    let url = std::env::var("STATESTORE_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let run = format!("conf{}", std::process::id());
    let props = Properties::new()
        .with("connectionString", url)
        .with("tableName", format!("{run}_state"))
        .with("metadataTableName", format!("{run}_meta"))
        .with("timeout", "5s");
    let cluster = "$(ls /etc/postgresql | sort -V | tail -1) main";
    let restart = std::path::Path::new("/etc/postgresql").exists().then(|| {
        let mut r = Restart::commands(
            format!("pg_ctlcluster --skip-systemctl-redirect {cluster} stop -m fast"),
            format!("pg_ctlcluster --skip-systemctl-redirect {cluster} start"),
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
        statestore_postgres::REGISTRATION,
        props.clone(),
        quirks,
    );
    drop_tables(
        &props,
        &format!("DROP TABLE IF EXISTS {run}_state, {run}_meta"),
    );
    code
}

/// Drops this run's tables, so that runs leave nothing behind.
fn drop_tables(props: &Properties, sql: &str) {
    use sqlx::Connection as _;
    let url = props.get("connectionString").unwrap_or_default();
    let Ok(options) = statestore_postgres::config::parse_connection_string(url) else {
        return;
    };
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    rt.block_on(async {
        if let Ok(mut conn) = sqlx::PgConnection::connect_with(&options).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                .execute(&mut conn)
                .await;
        }
    });
}
