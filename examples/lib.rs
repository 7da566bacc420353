//! Code shared by the examples: `notes`, the custom store of
//! `custom_store.rs`, kept in its own file so the conformance suite can run
//! against it too (`notes_conformance.rs`).
#![deny(missing_docs)]

pub mod notes;
