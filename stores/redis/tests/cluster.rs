//! The conformance suite against `state.redis` on the local Redis Cluster
//! (3 primaries, 3 replicas on 127.0.0.1:7000-7005), once in each layout.

mod common;

use statestore_core::Properties;

fn main() -> std::process::ExitCode {
    let mut code = std::process::ExitCode::SUCCESS;
    for layout in ["compact", "dapr"] {
        println!("state.redis in Redis Cluster, layout {layout}:");
        let props = Properties::new()
            .with("redisHost", common::cluster())
            .with("redisType", "cluster")
            .with("layout", layout);
        let c = statestore_conformance::main(statestore_redis::REGISTRATION, props);
        if c != std::process::ExitCode::SUCCESS {
            code = c;
        }
    }
    code
}
