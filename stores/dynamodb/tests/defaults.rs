//! The conformance suite against `state.aws.dynamodb` as Dapr configures it:
//! an existing table, no `ttlAttributeName`, no scans. TTL, keys-like and
//! delete-with-prefix are refused with `NotSupported`.

mod common;

use statestore_conformance::Quirks;
use statestore_core::Store;

fn main() -> std::process::ExitCode {
    let table = common::table("defaults");
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    // Dapr's store needs the table to exist: make it as a user would.
    rt.block_on(async {
        let mut creator = statestore_dynamodb::DynamoStore::new();
        let props = common::dapr_props(&table).with("createTable", "true");
        creator.init(&props).await.expect("the table is created");
        creator.close().await.expect("close");
    });
    let quirks = Quirks {
        malformed_etag: "XYZ".into(),
        ..Quirks::default()
    };
    let code = statestore_conformance::main_with_quirks(
        statestore_dynamodb::REGISTRATION,
        common::dapr_props(&table),
        quirks,
    );
    rt.block_on(common::drop_table(&table));
    code
}
