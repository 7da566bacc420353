//! The conformance suite against `state.mongodb` on a server without a
//! replica set: no transactions, so the store declares no `TRANSACTIONAL`
//! and the suite checks that transactions are refused.

mod common;

fn main() -> std::process::ExitCode {
    let url = common::standalone_url();
    let collection = format!("alone_{}", std::process::id());
    let quirks = statestore_conformance::Quirks::default();
    let code = statestore_conformance::main_with_quirks(
        statestore_mongodb::REGISTRATION,
        common::props(&url, &collection).with("writeConcern", "1"),
        quirks,
    );
    common::drop_collection(&url, &collection);
    code
}
