//! The conformance suite against `state.redis` on the local Redis Cluster
//! (3 primaries, 3 replicas on 127.0.0.1:7000-7005).

mod common;

use statestore_core::Properties;

fn main() -> std::process::ExitCode {
    let props = Properties::new()
        .with("redisHost", common::cluster())
        .with("redisType", "cluster");
    statestore_conformance::main(statestore_redis::REGISTRATION, props)
}
