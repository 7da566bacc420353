//! The conformance suite against `state.mongodb` on the local replica set
//! (transactions, and so the actor cases, included); the restart case stops
//! and starts its `mongod` with `scripts/services.sh`.

mod common;

use std::time::Duration;

use statestore_conformance::{Quirks, Restart};

fn main() -> std::process::ExitCode {
    let url = common::replica_set_url();
    let collection = format!("conf_{}", std::process::id());
    let script = common::services().display().to_string();
    let mut restart = Restart::commands(
        format!("bash {script} mongo-stop"),
        format!("bash {script} mongo-start"),
    );
    // operationTimeout 5s, plus slack; an election takes a few seconds.
    restart.fail_within = Duration::from_secs(8);
    restart.recover_within = Duration::from_secs(60);
    let quirks = Quirks {
        restart: Some(restart),
        ..Quirks::default()
    };
    let code = statestore_conformance::main_with_quirks(
        statestore_mongodb::REGISTRATION,
        common::props(&url, &collection),
        quirks,
    );
    common::drop_collection(&url, &collection);
    code
}
