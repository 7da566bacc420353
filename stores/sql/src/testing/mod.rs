//! Integration tests shared by the SQL stores on a server (feature
//! `testing`; PostgreSQL and MySQL enable it for their tests).
//!
//! A store's test files say how to reach its database, as a [`Harness`]
//! (the store's properties, how its SQL quotes names, a direct connection,
//! the local server's commands), and run the bodies here on it: the checks
//! the conformance suite cannot make from outside (migrations, rows as
//! stored, the cleanup claim, etag forms, bulk splitting), the restart under
//! load, and the conformance run itself. [`sql_store_tests!`] defines the
//! common tests in one line. Every test works in tables of its own and drops
//! them; the bodies panic on a failed check.
//!
//! [`sql_store_tests!`]: crate::sql_store_tests
//!
//! The files, one job each: `harness.rs` (reaching the database: the
//! [`Harness`], direct connections, per-test tables), `server.rs` (stopping
//! and starting the local server), `checks.rs` (the shared test bodies),
//! `kept.rs` (connections kept between calls),
//! `restart.rs` (the restart under write load) and `conformance.rs` (the
//! suite in tables of its own).

mod checks;
mod conformance;
mod harness;
mod kept;
mod restart;
mod server;

pub use checks::{
    Users, a_failed_bulk_statement_fails_its_keys, an_index_serves_the_query,
    awkward_items_fail_alone, bulk_calls_beyond_one_statement, bulk_round_trip,
    concurrent_instances_migrate_once, failed_bulk_statement, hostile_keys_round_trip,
    index_expressions_are_documented, key_lists_bind_every_placeholder, longest_table_name,
    malformed_and_stale_etags, one_instance_takes_the_cleanup_turn, one_statement_upserts,
    refused_users_are_permission_denied, stores_sharing_a_metadata_table_start_together,
    values_keep_their_bytes_and_json_is_queryable,
};
pub use conformance::conformance;
pub use harness::{Harness, Raw, Tables, drop_tables};
pub use kept::{
    a_small_pool_serves_calls_and_transactions_at_once, calls_and_transactions_at_once,
    closing_while_calls_run, driver_statements_keep_or_return, kept_connections,
};
pub use restart::restart_under_load;
pub use server::{Server, ServerGuard, sh};

/// Defines the common integration tests against the
/// [`Harness`](crate::testing::Harness) that `$harness` builds: one
/// `#[tokio::test]` for each shared body of [`testing`](crate::testing) that
/// needs no more than the harness, named as the body it runs (see each for
/// what it checks).
#[macro_export]
macro_rules! sql_store_tests {
    ($harness:expr) => {
        $crate::sql_store_tests!(@tests $harness, (flavor = "multi_thread", worker_threads = 2):
            concurrent_instances_migrate_once, stores_sharing_a_metadata_table_start_together,
            one_instance_takes_the_cleanup_turn);
        $crate::sql_store_tests!(@tests $harness, ():
            hostile_keys_round_trip, malformed_and_stale_etags, bulk_calls_beyond_one_statement,
            awkward_items_fail_alone, longest_table_name, one_statement_upserts,
            a_failed_bulk_statement_fails_its_keys);
    };
    (@tests $harness:expr, $runtime:tt: $($body:ident),*) => {
        $(
            #[::tokio::test $runtime]
            async fn $body() {
                $crate::testing::$body(&$harness).await;
            }
        )*
    };
}

/// Defines the tests of connections kept between calls ([`kept`](crate::kept))
/// for a database on a server: `$harness` builds its
/// [`Harness`](crate::testing::Harness), `$driver` is its [`Driver`](crate::Driver),
/// `$size` names its pool-size property and `$long` is a statement that
/// runs for a second or so.
#[macro_export]
macro_rules! sql_kept_tests {
    ($harness:expr, $driver:ty, $size:literal, $long:literal) => {
        /// Connections kept between calls, on a pool of one.
        #[::tokio::test]
        async fn kept_connections() {
            $crate::testing::kept_connections::<$driver>($harness.options().clone()).await;
        }

        /// The driver's statements keep or return their connection.
        #[::tokio::test]
        async fn driver_statements_keep_or_return() {
            $crate::testing::driver_statements_keep_or_return::<$driver>(
                $harness.options().clone(),
                $long,
            )
            .await;
        }

        /// Closing while calls run.
        #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn closing_while_calls_run() {
            let t = $crate::testing::Tables::new(&$harness, "closing");
            let s = ::std::sync::Arc::new(t.open(t.props()).await);
            $crate::testing::closing_while_calls_run(s).await;
        }

        /// Calls and transactions at once on a pool of two.
        #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_small_pool_serves_calls_and_transactions_at_once() {
            $crate::testing::a_small_pool_serves_calls_and_transactions_at_once(&$harness, $size)
                .await;
        }
    };
}
