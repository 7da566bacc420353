//! The conformance suite against `state.redis` on a private server that the
//! restart case may stop and start (append-only file, fsync always: durable),
//! once in each layout (compact, the default, then Dapr's).

mod common;

use std::time::Duration;

use statestore_conformance::{Quirks, Restart};
use statestore_core::Properties;

fn main() -> std::process::ExitCode {
    let server = common::Server::start(6391);
    let mut restart = Restart::commands(server.stop_command(), server.start_command());
    // dialTimeout 1s + readTimeout 1s, plus slack.
    restart.fail_within = Duration::from_secs(5);
    restart.recover_within = Duration::from_secs(20);
    let mut code = std::process::ExitCode::SUCCESS;
    for layout in ["compact", "dapr"] {
        println!("state.redis, layout {layout}:");
        let props = Properties::new()
            .with("redisHost", server.host())
            .with("dialTimeout", "1s")
            .with("readTimeout", "1s")
            .with("layout", layout);
        let quirks = Quirks {
            restart: Some(restart.clone()),
            ..Quirks::default()
        };
        let c =
            statestore_conformance::main_with_quirks(statestore_redis::REGISTRATION, props, quirks);
        if c != std::process::ExitCode::SUCCESS {
            code = c;
        }
    }
    drop(server);
    code
}
