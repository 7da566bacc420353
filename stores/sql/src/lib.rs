//! # statestore-sql
//!
//! The logic shared by the SQL state stores (SQLite, PostgreSQL, MySQL):
//! etag checks as conditional statements, first-write as inserts that only an
//! absent or expired row allows, TTL as an expiry column filtered on every
//! read plus a cleanup that one instance runs per interval, versioned
//! migrations under a lock, bulk calls as multi-row statements, keyset paging
//! for keys-like, and transactions in one database transaction.
//!
//! A database crate supplies a [`Dialect`] (the text of each statement) and a
//! [`Backend`] (connections that run them and map errors), and gets the whole
//! contract as [`SqlStore<B>`].
//!
//! Table layout (names vary by dialect only in types):
//!
//! | column | meaning |
//! |---|---|
//! | `key` | the key, primary key, binary collation |
//! | `value` | the value bytes |
//! | `content_type` | nullable |
//! | `etag` | 64-bit random number, shown as 16 hex digits |
//! | `expires_at` | nullable, Unix milliseconds by the server's clock |
#![deny(missing_docs)]

pub mod apply;
pub mod backend;
pub mod config;
pub mod dialect;
pub mod driver;
pub mod etag;
pub mod ident;
pub mod kept;
pub mod query;
mod schema;
mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use backend::{Backend, Conn, Settings};
pub use dialect::{Bookkeeping, Dialect, KeyEtag, Param, Row, Stmt, Texts, WriteRow};
pub use driver::{Driver, SqlxConn};
pub use query::{JsonSql, Kind, Path, Sql};
pub use schema::{cleanup_turn, lock_id};
pub use store::{FEATURES, SqlStore};
