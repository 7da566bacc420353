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
    /// (checklist 75 and 76); `None` skips it.
    pub restart: Option<Restart>,
}

/// Hooks that stop and start the backend under a running store, and what
/// the store promises around a restart.
#[derive(Debug, Clone, Copy)]
pub struct Restart {
    /// Stops the backend; blocking (runs on a blocking thread), e.g. runs
    /// `redis-cli shutdown nosave`. Returns once it no longer serves.
    pub stop: fn() -> Result<(), String>,
    /// Starts it again; returns once it accepts connections.
    pub start: fn() -> Result<(), String>,
    /// The longest a call may take to fail while the backend is down: the
    /// store's configured timeout plus some slack.
    pub fail_within: std::time::Duration,
    /// The longest the same instance may take to work again after `start`.
    pub recover_within: std::time::Duration,
    /// Whether every acknowledged write survives the restart (false for a
    /// cache that keeps nothing on disk).
    pub durable: bool,
}

impl Default for Quirks {
    fn default() -> Self {
        Quirks {
            detects_invalid_etags: true,
            malformed_etag: "not an etag!".into(),
            shared_backend: true,
            restart: None,
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
