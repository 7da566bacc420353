//! The store type and its registration.

use statestore_core::{Registration, register_store};
use statestore_sql::{FEATURES, SqlStore};

use crate::NAME;
use crate::config::PROPERTIES;
use crate::core::SqliteBackend;

/// The SQLite state store: the shared SQL logic on SQLite.
pub type SqliteStore = SqlStore<SqliteBackend>;

/// How `state.sqlite` is registered (also reachable without `inventory`).
pub const REGISTRATION: Registration = Registration::new(NAME, |_| Box::new(SqliteStore::new()))
    .aliases(&["state.sqlite3"])
    .features(FEATURES)
    .properties(PROPERTIES)
    .summary("Embedded SQLite database file (or :memory:); the persistent default.")
    .baseline(statestore_core::baseline::open::<crate::baseline::SqliteBaseline>);

register_store!(REGISTRATION);
