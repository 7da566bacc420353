//! The cases, one per rule of the contract; the doc of each group names its
//! section of docs/contract.md (or docs/conformance.md), and the doc of each
//! case the rule it checks.

use std::future::Future;
use std::pin::Pin;

use statestore_core::{Feature, Features};

use crate::context::{Ctx, Outcome};

mod actor;
mod bulk;
mod crud;
mod etag;
mod first_write;
mod keys_like;
mod lifecycle;
mod paths;
mod prefix;
mod query;
mod race;
mod refuse;
mod restart;
mod transactions;
mod ttl;
mod values;

/// A boxed case future.
pub type CaseFuture<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// One named case and the capabilities it needs.
#[derive(Clone, Copy)]
pub struct Case {
    /// `group::rule`, as printed and filtered.
    pub name: &'static str,
    /// Capabilities the store must declare for the case to run.
    pub needs: Features,
    /// The case.
    pub run: for<'a> fn(&'a Ctx) -> CaseFuture<'a>,
    /// Whether it must run alone (it stops the backend).
    pub exclusive: bool,
}

const NONE: Features = Features::NONE;
const ETAG: Features = Features::of(Feature::ETag);
const TX: Features = Features::of(Feature::Transactional);
const TTL: Features = Features::of(Feature::Ttl);
const DWP: Features = Features::of(Feature::DeleteWithPrefix);
const LIKE: Features = Features::of(Feature::KeysLike);
const QUERY: Features = Features::of(Feature::QueryApi);
const ACTOR: Features = ETAG.with(Feature::Transactional);

macro_rules! case {
    ($name:literal, $needs:expr, $f:path) => {
        Case {
            name: $name,
            needs: $needs,
            run: |cx| Box::pin($f(cx)),
            exclusive: false,
        }
    };
}

/// Every case that applies to a store, in run order.
pub fn all() -> Vec<Case> {
    vec![
        case!("lifecycle::init_minimal", NONE, lifecycle::init_minimal),
        case!(
            "lifecycle::init_missing_required",
            NONE,
            lifecycle::init_missing_required
        ),
        case!(
            "lifecycle::init_builtin_and_unknown_properties",
            NONE,
            lifecycle::init_builtin_and_unknown
        ),
        case!("lifecycle::ping", NONE, lifecycle::ping),
        case!(
            "lifecycle::capabilities_stable",
            NONE,
            lifecycle::capabilities_stable
        ),
        case!(
            "lifecycle::close_idempotent",
            NONE,
            lifecycle::close_idempotent
        ),
        case!(
            "lifecycle::closed_refuses_everything",
            NONE,
            lifecycle::closed_refuses_everything
        ),
        case!(
            "lifecycle::concurrent_init",
            NONE,
            lifecycle::concurrent_init
        ),
        case!(
            "lifecycle::no_panic_before_init",
            NONE,
            lifecycle::no_panic_before_init
        ),
        case!("crud::value_fidelity", NONE, crud::value_fidelity),
        case!("crud::binary_values", NONE, crud::binary_values),
        case!("crud::content_type", NONE, crud::content_type),
        case!("crud::get_missing", NONE, crud::get_missing),
        case!("crud::delete_existing", NONE, crud::delete_existing),
        case!("crud::delete_missing", NONE, crud::delete_missing),
        case!("crud::overwrite", NONE, crud::overwrite),
        case!("crud::odd_keys", NONE, crud::odd_keys),
        case!("crud::key_limits", NONE, crud::key_limits),
        case!(
            "crud::unknown_option_strings",
            NONE,
            crud::unknown_option_strings
        ),
        case!(
            "crud::errors_name_store_and_operation",
            NONE,
            crud::errors_name_store_and_operation
        ),
        case!(
            "values::every_write_and_read_path",
            NONE,
            values::every_write_and_read_path
        ),
        case!(
            "values::metadata_through_every_write_path",
            NONE,
            values::metadata_through_every_write_path
        ),
        case!("values::distinct_keys", NONE, values::distinct_keys),
        case!(
            "values::longest_key_and_value",
            NONE,
            values::longest_key_and_value
        ),
        case!(
            "bulk::set_then_get_in_order",
            NONE,
            bulk::set_then_get_in_order
        ),
        case!("bulk::get_missing_entries", NONE, bulk::get_missing_entries),
        case!("bulk::get_empty", NONE, bulk::get_empty),
        case!("bulk::delete_all", NONE, bulk::delete_all),
        case!("bulk::partial_failures", NONE, bulk::partial_failures),
        case!("bulk::thousand_keys", NONE, bulk::thousand_keys),
        case!("bulk::duplicate_keys", NONE, bulk::duplicate_keys),
        case!("etag::present_on_reads", ETAG, etag::present_on_reads),
        case!(
            "etag::changes_on_every_write",
            ETAG,
            etag::changes_on_every_write
        ),
        case!("etag::set_returns_current", ETAG, etag::set_returns_current),
        case!("etag::stale_set_refused", ETAG, etag::stale_set_refused),
        case!("etag::malformed_refused", ETAG, etag::malformed_refused),
        case!(
            "etag::current_set_succeeds",
            ETAG,
            etag::current_set_succeeds
        ),
        case!("etag::delete_with_etag", ETAG, etag::delete_with_etag),
        case!(
            "etag::missing_key_with_etag",
            ETAG,
            etag::missing_key_with_etag
        ),
        case!("etag::empty_etag_is_none", ETAG, etag::empty_etag_is_none),
        case!("etag::bulk_per_key", ETAG, etag::bulk_per_key),
        case!("etag::every_write_path", ETAG, etag::every_write_path),
        case!(
            "etag::never_reused_after_delete",
            ETAG,
            etag::never_reused_after_delete
        ),
        case!(
            "etag::other_spellings_refused",
            ETAG,
            etag::other_spellings_refused
        ),
        case!(
            "first_write::insert_missing",
            ETAG,
            first_write::insert_missing
        ),
        case!(
            "first_write::existing_refused",
            ETAG,
            first_write::existing_refused
        ),
        case!(
            "first_write::with_current_etag",
            ETAG,
            first_write::with_current_etag
        ),
        case!(
            "first_write::delete_without_etag",
            ETAG,
            first_write::delete_without_etag
        ),
        case!("transactions::applies_all", TX, transactions::applies_all),
        case!("transactions::in_order", TX, transactions::in_order),
        case!(
            "transactions::delete_missing",
            TX,
            transactions::delete_missing
        ),
        case!(
            "transactions::mismatch_aborts_all",
            TX.with(Feature::ETag),
            transactions::mismatch_aborts_all
        ),
        case!(
            "transactions::reports_first_failure",
            TX.with(Feature::ETag),
            transactions::reports_first_failure
        ),
        case!(
            "transactions::conditions_on_deletes",
            TX.with(Feature::ETag),
            transactions::conditions_on_deletes
        ),
        case!("transactions::empty", TX, transactions::empty),
        case!("transactions::max_size", TX, transactions::max_size),
        case!(
            "transactions::partition_key_metadata",
            TX,
            transactions::partition_key_metadata
        ),
        case!("ttl::invalid_refused", TTL, ttl::invalid_refused),
        case!("ttl::expiry_time", TTL, ttl::expiry_time),
        case!("ttl::whole_range", TTL, ttl::whole_range),
        case!("ttl::every_write_path", TTL, ttl::every_write_path),
        case!(
            "ttl::expired_invisible_to_every_read",
            TTL,
            ttl::expired_invisible_to_every_read
        ),
        case!(
            "ttl::expired_etag_dead_on_every_write_path",
            TTL.with(Feature::ETag),
            ttl::expired_etag_dead_on_every_write_path
        ),
        case!("ttl::no_ttl_no_expiry", TTL, ttl::no_ttl_no_expiry),
        case!("ttl::never_removes_expiry", TTL, ttl::never_removes_expiry),
        case!(
            "ttl::rewrite_without_ttl_removes_expiry",
            TTL,
            ttl::rewrite_without_ttl
        ),
        case!("ttl::new_ttl_replaces_deadline", TTL, ttl::new_ttl_replaces),
        case!(
            "delete_with_prefix::direct_children",
            DWP,
            prefix::direct_children
        ),
        case!("keys_like::empty_pattern", LIKE, keys_like::empty_pattern),
        case!(
            "keys_like::wildcards_and_escapes",
            LIKE,
            keys_like::wildcards_and_escapes
        ),
        case!("keys_like::paging", LIKE, keys_like::paging),
        case!(
            "keys_like::concurrent_changes",
            LIKE,
            keys_like::concurrent_changes
        ),
        case!("query::comparisons", QUERY, query::comparisons),
        case!("query::nesting", QUERY, query::nesting),
        case!(
            "query::hostile_paths_and_operands",
            QUERY,
            query::hostile_paths_and_operands
        ),
        case!("query::key_prefix", QUERY, query::key_prefix),
        case!(
            "query::documents_as_the_reference_reads_them",
            QUERY,
            query::documents_as_the_reference_reads_them
        ),
        case!("query::sort_and_page", QUERY, query::sort_and_page),
        case!("query::results", QUERY, query::results),
        case!(
            "query::numbers_and_strings_compare_by_value",
            QUERY,
            query::numbers_and_strings_compare_by_value
        ),
        case!(
            "query::missing_paths_and_other_kinds_never_match",
            QUERY,
            query::missing_paths_and_other_kinds_never_match
        ),
        case!(
            "query::in_with_mixed_types",
            QUERY,
            query::in_with_mixed_types
        ),
        case!(
            "query::sort_mixed_types_and_missing",
            QUERY,
            query::sort_mixed_types_and_missing
        ),
        case!(
            "query::random_queries",
            QUERY,
            crate::query_model::random_queries
        ),
        case!(
            "query::paging_under_changes",
            QUERY,
            query::paging_under_changes
        ),
        case!(
            "actor::keys_and_partition_key",
            ACTOR,
            actor::keys_and_partition_key
        ),
        case!("actor::turn_is_atomic", ACTOR, actor::turn_is_atomic),
        case!(
            "actor::isolation_and_removal",
            ACTOR,
            actor::isolation_and_removal
        ),
        case!("actor::binary_blobs", ACTOR, actor::binary_blobs),
        case!("actor::concurrent_turns", ACTOR, actor::concurrent_turns),
        case!("race::conditional_set", ETAG, race::conditional_set),
        case!("race::conditional_delete", ETAG, race::conditional_delete),
        case!(
            "race::conditional_bulk_set",
            ETAG,
            race::conditional_bulk_set
        ),
        case!(
            "race::conditional_bulk_delete",
            ETAG,
            race::conditional_bulk_delete
        ),
        case!("race::first_write_insert", ETAG, race::first_write_insert),
        case!(
            "race::transaction_one_winner",
            TX.with(Feature::ETag),
            race::transaction_one_winner
        ),
        case!("race::set_increments", ETAG, race::set_increments),
        case!(
            "race::transaction_increments",
            TX.with(Feature::ETag),
            race::transaction_increments
        ),
        case!(
            "model::random_sequences",
            NONE,
            crate::model::random_sequences
        ),
        Case {
            exclusive: true,
            ..case!("resilience::restart", NONE, restart::restart)
        },
    ]
}

/// The case proving an undeclared capability is refused with `NotSupported`.
pub fn refusal(feature: Feature) -> Case {
    match feature {
        Feature::ETag => case!("refuses::etag", NONE, refuse::etag),
        Feature::Transactional => case!("refuses::transactional", NONE, refuse::transactional),
        Feature::Ttl => case!("refuses::ttl", NONE, refuse::ttl),
        Feature::DeleteWithPrefix => case!(
            "refuses::delete_with_prefix",
            NONE,
            refuse::delete_with_prefix
        ),
        Feature::KeysLike => case!("refuses::keys_like", NONE, refuse::keys_like),
        Feature::QueryApi => case!("refuses::query_api", NONE, refuse::query_api),
    }
}
