//! A custom store adopts the conformance suite in one call, like the built-in
//! stores: `state.notes` passes every case that applies to a store without
//! optional capabilities, and the `refuses::*` cases prove it says no honestly.

use statestore::Properties;
use statestore_conformance::{Quirks, Suite};
use statestore_examples::notes;

fn main() -> std::process::ExitCode {
    Suite::new(notes::REGISTRATION, Properties::new())
        .quirks(Quirks {
            shared_backend: false,
            ..Quirks::default()
        })
        .run()
}
