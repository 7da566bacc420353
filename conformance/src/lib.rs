//! # statestore-conformance
//!
//! The cases every store must pass, one per rule of the contract, each a
//! named test that can be run and filtered on its own. A store crate adopts
//! the suite with one call in `tests/conformance.rs` (with `harness = false`
//! in its `Cargo.toml`):
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     statestore_conformance::main(
//!         statestore_core::memory::REGISTRATION,
//!         statestore_core::Properties::new(),
//!     )
//! }
//! ```
//!
//! Cases for a capability the store does not declare are reported as
//! ignored with a reason naming the capability, and for every undeclared
//! capability a `refuses::*` case checks that the store answers
//! `NotSupported`. Every run uses a fresh random key prefix and deletes only
//! the keys it wrote. Run one case with `cargo test --test conformance --
//! etag::stale_set_refused`, list them with `-- --list`.
//!
//! Besides one case per rule, the suite runs races (sizes from
//! [`Settings`]) and `model::random_sequences`: seeded random sequences of
//! operations compared step by step with the in-memory reference store; a
//! divergence prints the seed and a shrunk sequence. [`Suite::open`] runs
//! cases one by one for other front ends, such as `statestore conformance`.
//! See `docs/conformance.md` in the repository for the whole guide.
#![deny(missing_docs)]

pub mod cases;
mod context;
mod harness;
mod model;
mod query_model;
mod recording;
mod settings;

pub use context::{
    Ctx, Failure, Outcome, Target, applied, fail, fails, ok, show, skip, until_applied,
};
pub use harness::{Report, Run, Suite, Verdict};
pub use settings::{ENV, Settings, parse_seed};

/// What a store declares about itself beyond its capabilities, as data, so
/// the suite adapts without being forked.
#[derive(Debug, Clone)]
pub struct Quirks {
    /// Whether a malformed etag is reported as `ETagInvalid` (otherwise the
    /// store documents that it answers `ETagMismatch`).
    pub detects_invalid_etags: bool,
    /// An etag this store can never produce.
    pub malformed_etag: String,
    /// Whether two instances with the same properties share their data (not
    /// so for in-process stores and SQLite's `:memory:`).
    pub shared_backend: bool,
    /// How the suite may stop and start the backend, for the restart case
    /// (docs/conformance.md, *Restarts*); `None` skips it.
    pub restart: Option<Restart>,
    /// Whether arrays and objects among themselves compare and sort in the
    /// backend's own order rather than the reference's (MongoDB, see its
    /// docs); the query model then leaves them out of its documents.
    pub native_container_order: bool,
}

/// A restart hook: a future that stops or starts the backend; the error
/// says what went wrong. It is dropped when it overruns its time, so it
/// should not leave work running behind it (shell hooks kill their child).
pub type Hook = std::sync::Arc<
    dyn Fn() -> futures::future::BoxFuture<'static, Result<(), String>> + Send + Sync,
>;

/// Hooks that stop and start the backend under a running store, and what
/// the store promises around a restart.
#[derive(Clone)]
pub struct Restart {
    /// Stops the backend, e.g. runs `redis-cli shutdown nosave`; returns
    /// once it no longer serves.
    pub stop: Hook,
    /// Starts it again; returns once it accepts connections.
    pub start: Hook,
    /// The longest a call may take to fail while the backend is down: the
    /// store's configured timeout plus some slack.
    pub fail_within: std::time::Duration,
    /// The longest the same instance may take to work again after `start`.
    pub recover_within: std::time::Duration,
    /// Whether every acknowledged write survives the restart (false for a
    /// cache that keeps nothing on disk).
    pub durable: bool,
}

impl std::fmt::Debug for Restart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Restart")
            .field("fail_within", &self.fail_within)
            .field("recover_within", &self.recover_within)
            .field("durable", &self.durable)
            .finish_non_exhaustive()
    }
}

impl Restart {
    /// Hooks that run shell commands (`sh -c`), failing when a command
    /// exits non-zero (its stderr goes into the error); a command that
    /// overruns is killed.
    pub fn commands(stop: impl Into<String>, start: impl Into<String>) -> Self {
        let (stop, start) = (stop.into(), start.into());
        Restart {
            stop: std::sync::Arc::new(move || Box::pin(shell(stop.clone()))),
            start: std::sync::Arc::new(move || Box::pin(shell(start.clone()))),
            fail_within: std::time::Duration::from_secs(30),
            recover_within: std::time::Duration::from_secs(60),
            durable: true,
        }
    }
}

async fn shell(command: String) -> Result<(), String> {
    let out = tokio::process::Command::new("sh")
        .args(["-c", &command])
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("{command:?} could not run: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?} exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Default for Quirks {
    fn default() -> Self {
        Quirks {
            detects_invalid_etags: true,
            malformed_etag: "not an etag!".into(),
            shared_backend: true,
            restart: None,
            native_container_order: false,
        }
    }
}

/// Runs the whole suite against a store type: the one-line adoption.
///
/// Reads libtest's command line (filters, `--list`, `--test-threads`, ...).
pub fn main(
    registration: statestore_core::Registration,
    properties: statestore_core::Properties,
) -> std::process::ExitCode {
    Suite::new(registration, properties).run()
}

/// [`main`] for a store with quirks, still in one call.
pub fn main_with_quirks(
    registration: statestore_core::Registration,
    properties: statestore_core::Properties,
    quirks: Quirks,
) -> std::process::ExitCode {
    Suite::new(registration, properties).quirks(quirks).run()
}
