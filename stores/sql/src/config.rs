//! The properties every SQL store reads the same way: table names, timeout
//! and cleanup interval. Each store declares its own [`Property`]s (names
//! and defaults follow Dapr's component of that database).

use std::time::Duration;

use statestore_core::properties::Reader;
use statestore_core::{Property, Result};

use crate::backend::Settings;
use crate::ident;

/// The common properties of one store.
#[derive(Debug, Clone, Copy)]
pub struct Common {
    /// The state table.
    pub table: Property,
    /// The metadata table.
    pub metadata_table: Property,
    /// The operation timeout.
    pub timeout: Property,
    /// The cleanup interval.
    pub cleanup_interval: Property,
    /// Whether table names may be `schema.table`.
    pub allow_schema: bool,
}

/// A store's fixed size limits.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Most operations in one transaction.
    pub max_transaction_ops: usize,
    /// Longest key in bytes.
    pub max_key_len: usize,
    /// Largest value in bytes.
    pub max_value_len: usize,
}

impl Common {
    /// Reads and validates the common properties.
    pub fn read(&self, r: &Reader<'_>, sizes: Sizes) -> Result<Settings> {
        let table = self.table_name(r, &self.table)?;
        let metadata_table = self.table_name(r, &self.metadata_table)?;
        if table.eq_ignore_ascii_case(&metadata_table) {
            return Err(r.error(
                &self.metadata_table,
                format!("must differ from {} ({table:?})", self.table.name),
            ));
        }
        let timeout = r
            .duration(&self.timeout)?
            .unwrap_or(Duration::from_secs(20));
        if timeout.is_zero() {
            return Err(r.error(&self.timeout, "must be greater than zero"));
        }
        Ok(Settings {
            table,
            metadata_table,
            timeout,
            cleanup_interval: r.interval(&self.cleanup_interval)?,
            max_transaction_ops: sizes.max_transaction_ops,
            max_key_len: sizes.max_key_len,
            max_value_len: sizes.max_value_len,
        })
    }

    fn table_name(&self, r: &Reader<'_>, p: &Property) -> Result<String> {
        let name = r.require(p)?;
        ident::validate(&name, self.allow_schema).map_err(|e| r.error(p, e.message()))?;
        Ok(name)
    }
}
