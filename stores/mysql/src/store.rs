//! The store type and its registration.

use statestore_core::{Registration, register_store};
use statestore_sql::{FEATURES, SqlStore};

use crate::NAME;
use crate::config::PROPERTIES;
use crate::core::MySqlBackend;

/// The MySQL state store: the shared SQL logic on MySQL or MariaDB.
pub type MySqlStore = SqlStore<MySqlBackend>;

/// How `state.mysql` is registered (also reachable without `inventory`).
pub const REGISTRATION: Registration = Registration::new(NAME, |_| Box::new(MySqlStore::new()))
    .features(FEATURES)
    .properties(PROPERTIES)
    .summary("MySQL or MariaDB table; bulk calls are multi-row statements.")
    .baseline(statestore_core::baseline::open::<crate::baseline::MySqlBaseline>);

register_store!(REGISTRATION);
