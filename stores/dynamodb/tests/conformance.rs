//! The conformance suite against `state.aws.dynamodb` on the local endpoint
//! with every feature on (TTL, scans); the restart case stops and starts
//! the endpoint with `scripts/services.sh`. `defaults.rs` runs it with
//! Dapr's defaults, where TTL and the scans are refused.

mod common;

use std::time::Duration;

use statestore_conformance::{Quirks, Restart};

fn main() -> std::process::ExitCode {
    let table = common::table("conformance");
    let script = common::services().display().to_string();
    let mut restart = Restart::commands(
        format!("bash {script} dynamo-stop"),
        format!("bash {script} dynamo-start"),
    );
    // operationTimeout 5s, plus slack.
    restart.fail_within = Duration::from_secs(8);
    restart.recover_within = Duration::from_secs(30);
    let quirks = Quirks {
        malformed_etag: "XYZ".into(),
        restart: Some(restart),
        ..Quirks::default()
    };
    let code = statestore_conformance::main_with_quirks(
        statestore_dynamodb::REGISTRATION,
        common::props(&table),
        quirks,
    );
    tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(common::drop_table(&table));
    code
}
