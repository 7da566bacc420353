//! The DynamoDB endpoint of the tests: dynoxide on 127.0.0.1:8000, started
//! by `scripts/services.sh` (`STATESTORE_DYNAMODB_ENDPOINT` names another).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::Once;

use statestore_core::Properties;

/// The services script.
pub fn services() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/services.sh")
}

static STARTED: Once = Once::new();

/// The endpoint, started if it is down (once per test binary).
pub fn endpoint() -> String {
    if let Ok(url) = std::env::var("STATESTORE_DYNAMODB_ENDPOINT") {
        return url;
    }
    STARTED.call_once(|| {
        let out = Command::new("bash")
            .arg(services())
            .arg("dynamo-start")
            .output()
            .expect("bash runs scripts/services.sh");
        assert!(
            out.status.success(),
            "scripts/services.sh dynamo-start failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
    "http://127.0.0.1:8000".into()
}

/// Properties of a store on a table of this test, created at init, with
/// TTL and scans on.
pub fn props(table: &str) -> Properties {
    dapr_props(table)
        .with("createTable", "true")
        .with("ttlAttributeName", "expiresAt")
        .with("allowTableScans", "true")
        .with("operationTimeout", "5s")
}

/// Properties as Dapr's store takes them: the table must exist, no TTL
/// attribute, no scans.
pub fn dapr_props(table: &str) -> Properties {
    Properties::new()
        .with("table", table)
        .with("region", "us-east-1")
        .with("endpoint", endpoint())
        .with("accessKey", "local")
        .with("secretKey", "local")
}

/// A raw SDK client on the endpoint.
pub async fn raw() -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .endpoint_url(endpoint())
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "local", "local", None, None, "test",
        ))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// Deletes a table of the tests.
pub async fn drop_table(table: &str) {
    let _ = raw().await.delete_table().table_name(table).send().await;
}

/// A table name of this test run.
pub fn table(name: &str) -> String {
    format!("statestore_{name}_{}", std::process::id())
}
