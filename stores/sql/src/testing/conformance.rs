//! The conformance suite on a SQL store, in tables of this run.

use std::process::ExitCode;
use std::time::Duration;

use statestore_conformance::{Quirks, Restart};
use statestore_core::Registration;

use super::harness::{Harness, Raw, drop_tables};
use crate::Backend;

/// The conformance suite against the store `registration` makes, in tables
/// of this run (timeout 5 s), which it drops afterwards. With a local
/// server, the restart case stops and starts it.
pub fn conformance<B: Backend, C: Raw>(h: &Harness<B, C>, registration: Registration) -> ExitCode {
    let run = format!("conf{}", std::process::id());
    let (state, meta) = (format!("{run}_state"), format!("{run}_meta"));
    let props = h.properties(&state, &meta, Duration::from_secs(5));
    let restart = h.local_server().map(|server| {
        let mut r = Restart::commands(server.stop.clone(), server.start.clone());
        r.fail_within = Duration::from_secs(10);
        r.recover_within = Duration::from_secs(30);
        r
    });
    let quirks = Quirks {
        restart,
        ..Quirks::default()
    };
    let code = statestore_conformance::main_with_quirks(registration, props, quirks);
    drop_tables(h, &[&state, &meta]);
    code
}
