//! The store type and its registration.

use statestore_core::{Registration, register_store};
use statestore_sql::{FEATURES, SqlStore};

use crate::NAME;
use crate::config::PROPERTIES;
use crate::core::PgBackend;

/// The PostgreSQL state store: the shared SQL logic on PostgreSQL.
pub type PostgresStore = SqlStore<PgBackend>;

/// How `state.postgresql` is registered (also reachable without `inventory`).
pub const REGISTRATION: Registration = Registration::new(NAME, |_| Box::new(PostgresStore::new()))
    .aliases(&["state.postgres"])
    .features(FEATURES)
    .properties(PROPERTIES)
    .summary("PostgreSQL table; bulk calls bind one array per column.")
    .baseline(statestore_core::baseline::open::<crate::baseline::PgBaseline>);

register_store!(REGISTRATION);
