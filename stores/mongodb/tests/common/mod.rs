//! The MongoDB servers of the tests, started by `scripts/services.sh`: a
//! single-node replica set on 27017 (`STATESTORE_MONGODB_URL`) and a server
//! without a replica set on 27018 (`STATESTORE_MONGODB_STANDALONE_URL`).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::Once;

use statestore_core::Properties;

/// The services script.
pub fn services() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/services.sh")
}

/// Runs `scripts/services.sh <verb>`, failing with its output.
pub fn services_sh(verb: &str) {
    let out = Command::new("bash")
        .arg(services())
        .arg(verb)
        .output()
        .expect("bash runs scripts/services.sh");
    assert!(
        out.status.success(),
        "scripts/services.sh {verb} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

static STARTED: Once = Once::new();

/// Starts whatever server is down (once per test binary).
pub fn start() {
    STARTED.call_once(|| services_sh("start"));
}

/// The replica set's URL.
pub fn replica_set_url() -> String {
    start();
    std::env::var("STATESTORE_MONGODB_URL")
        .unwrap_or_else(|_| "mongodb://127.0.0.1:27017/?replicaSet=rs0".into())
}

/// The URL of the server without a replica set.
pub fn standalone_url() -> String {
    start();
    std::env::var("STATESTORE_MONGODB_STANDALONE_URL")
        .unwrap_or_else(|_| "mongodb://127.0.0.1:27018/".into())
}

/// Properties of a store on `url`, in a collection of this test.
pub fn props(url: &str, collection: &str) -> Properties {
    Properties::new()
        .with("connectionString", url)
        .with("databaseName", "statestore_test")
        .with("collectionName", collection)
        .with("writeConcern", "majority")
        .with("operationTimeout", "5s")
}

/// Drops `collection` (after a test), ignoring errors.
pub fn drop_collection(url: &str, collection: &str) {
    let (url, collection) = (url.to_owned(), collection.to_owned());
    // A runtime of its own: this runs inside or outside another one.
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            if let Ok(client) = mongodb::Client::with_uri_str(&url).await {
                let _ = client
                    .database("statestore_test")
                    .collection::<mongodb::bson::Document>(&collection)
                    .drop()
                    .await;
            }
        });
    })
    .join()
    .ok();
}
