//! The suite against the in-memory reference store, adopted in one line.

use statestore_conformance::Quirks;
use statestore_core::{Properties, memory};

fn main() -> std::process::ExitCode {
    statestore_conformance::Suite::new(
        memory::REGISTRATION,
        Properties::new().with("maxTransactionOperations", "500"),
    )
    .quirks(Quirks {
        shared_backend: false,
        ..Quirks::default()
    })
    .run()
}
