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
    statestore_conformance::main_with_quirks(statestore_mysql::REGISTRATION, props, quirks)
}
