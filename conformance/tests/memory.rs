//! The suite against the in-memory reference store, adopted in one line.

use statestore_conformance::Quirks;
use statestore_core::{Properties, memory};

fn main() -> std::process::ExitCode {
    // Every instance has its own map, so two instances never share data.
    let isolated = Quirks {
        shared_backend: false,
        ..Quirks::default()
    };
    let props = Properties::new().with("maxTransactionOperations", "500");
    statestore_conformance::main_with_quirks(memory::REGISTRATION, props, isolated)
}
