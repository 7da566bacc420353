//! The conformance suite through a socket: the in-memory store served by
//! this crate, driven by `state.pluggable`, adopted in one line. The other
//! stores run the same loop through the command line (scripts/test).

mod common;

fn main() -> std::process::ExitCode {
    let served = common::Served::start(
        "in-memory",
        statestore_pluggable::Component::of_type(&statestore_core::memory::REGISTRATION),
    );
    let quirks = statestore_conformance::Quirks {
        // Each instance is a store of its own on the server.
        shared_backend: false,
        ..Default::default()
    };
    statestore_conformance::main_with_quirks(
        statestore_pluggable::REGISTRATION,
        served.properties(),
        quirks,
    )
}
