//! Stores broken on purpose must fail the suite, each by the case that
//! checks the rule it breaks, with a message that names the rule. Without
//! this, a suite that passes everything would look the same as a suite
//! that checks everything.
//!
//! [`TABLE`] holds one entry per broken store: adding one is one line (and
//! its flaw in `store.rs`). Each entry runs its cases with a fresh random
//! seed `STATESTORE_BROKEN_RUNS` times (default 3; 20 for the racy ones),
//! and must fail every time. `STATESTORE_BROKEN_SHOW=1` prints each failure
//! message once.

mod flaw;
mod query;
mod restarts;
mod store;

use statestore_conformance::{Quirks, Settings, Suite, Verdict};
use statestore_core::{Properties, Registration};

use flaw::Flaw;
use store::Broken;

/// One broken store and the cases that must catch it, each with words its
/// failure message must hold.
struct Entry {
    registration: Registration,
    /// Whether catching it depends on timing (races): it runs 20 times.
    racy: bool,
    catches: &'static [(&'static str, &'static [&'static str])],
}

/// An entry for `flaw`, registered as `test.<name>`.
macro_rules! entry {
    ($name:literal, $flaw:ident, $catches:expr) => {
        entry!($name, $flaw, false, $catches)
    };
    ($name:literal, $flaw:ident, $racy:expr, $catches:expr) => {
        Entry {
            registration: Registration::new(concat!("test.", $name), |_| {
                Broken::boxed(concat!("test.", $name), Flaw::$flaw)
            }),
            racy: $racy,
            catches: $catches,
        }
    };
}

/// Every broken store, with the cases that must catch it.
const TABLE: &[Entry] = &[
    entry!(
        "ignores-etags",
        IgnoresEtags,
        &[
            (
                "etag::stale_set_refused",
                &["with a stale etag", "expected ETagMismatch"]
            ),
            (
                "etag::every_write_path",
                &["a stale etag", "expected ETagMismatch"]
            ),
        ]
    ),
    entry!(
        "partial-transactions",
        PartialTransactions,
        &[
            (
                "transactions::mismatch_aborts_all",
                &["an aborted transaction changed state"]
            ),
            ("actor::turn_is_atomic", &["stale turn"]),
        ]
    ),
    entry!(
        "etags-restart-after-delete",
        EtagsRestartAfterDelete,
        &[("etag::never_reused_after_delete", &["issued before"]),]
    ),
    entry!(
        "transaction-reordered",
        TransactionReordered,
        &[("transactions::in_order", &["k4", "expected a value"]),]
    ),
    entry!(
        "transaction-drops-op-metadata",
        TransactionDropsOpMetadata,
        &[(
            "values::metadata_through_every_write_path",
            &["written by transact (upsert) with contentType metadata"]
        ),]
    ),
    entry!(
        "bulk-set-drops-trailing-byte",
        BulkSetDropsTrailingByte,
        &[(
            "values::every_write_and_read_path",
            &["written by bulk_set", "first difference"]
        ),]
    ),
    entry!(
        "split-check-then-write",
        SplitCheckThenWrite,
        true,
        &[
            (
                "race::conditional_set",
                &["sets with the same etag", "expected exactly one to apply"]
            ),
            (
                "race::conditional_delete",
                &[
                    "deletes with the same etag",
                    "expected exactly one to apply"
                ]
            ),
            (
                "race::conditional_bulk_set",
                &[
                    "bulk_sets with the same etag",
                    "expected exactly one to apply"
                ]
            ),
            (
                "race::conditional_bulk_delete",
                &[
                    "bulk_deletes with the same etag",
                    "expected exactly one to apply"
                ]
            ),
            (
                "race::first_write_insert",
                &[
                    "first-writes of a missing key",
                    "expected exactly one to apply"
                ]
            ),
            (
                "race::transaction_one_winner",
                &[
                    "transactions with the same etags",
                    "expected exactly one to apply"
                ]
            ),
            ("race::set_increments", &["lost updates"]),
            ("race::transaction_increments", &["lost updates"]),
        ]
    ),
    entry!(
        "bulk-set-ignores-etags",
        BulkSetIgnoresEtags,
        &[("etag::every_write_path", &["bulk_set of", "a stale etag"]),]
    ),
    entry!(
        "bulk-delete-ignores-etags",
        BulkDeleteIgnoresEtags,
        &[(
            "etag::every_write_path",
            &["bulk_delete of", "a stale etag"]
        ),]
    ),
    entry!(
        "delete-ignores-first-write",
        DeleteIgnoresFirstWrite,
        &[(
            "etag::every_write_path",
            &["delete of", "first-write on an existing key"]
        ),]
    ),
    entry!(
        "transact-ignores-first-write",
        TransactIgnoresFirstWrite,
        &[(
            "etag::every_write_path",
            &["transact (upsert) of", "first-write on an existing key"]
        ),]
    ),
    entry!(
        "expired-in-bulk-get",
        ExpiredInBulkGet,
        &[(
            "ttl::expired_invisible_to_every_read",
            &["bulk_get", "expected no value"]
        ),]
    ),
    entry!(
        "expired-in-keys-like",
        ExpiredInKeysLike,
        &[(
            "ttl::expired_invisible_to_every_read",
            &["keys_like", "expired at least 1.1 s ago"]
        ),]
    ),
    entry!(
        "expired-in-paged-keys-like",
        ExpiredInPagedKeysLike,
        &[(
            "ttl::expired_invisible_to_every_read",
            &["page size 1", "a token after the last live key"]
        ),]
    ),
    entry!(
        "bulk-set-keeps-expiry",
        BulkSetKeepsExpiry,
        &[(
            "ttl::every_write_path",
            &["bulk_set of", "expected no expiry"]
        ),]
    ),
    entry!(
        "bulk-set-ignores-invalid-ttl",
        BulkSetIgnoresInvalidTtl,
        &[(
            "ttl::every_write_path",
            &["bulk_set of", "ttlInSeconds", "expected InvalidRequest"]
        ),]
    ),
    entry!(
        "bulk-set-first-write-ignores-etag",
        BulkSetFirstWriteIgnoresEtag,
        &[(
            "etag::every_write_path",
            &["bulk_set of", "first-write and the current etag"]
        ),]
    ),
    entry!(
        "expired-in-query",
        ExpiredInQuery,
        &[(
            "ttl::expired_invisible_to_every_read",
            &["query", "expired at least 1.1 s ago"]
        ),]
    ),
    entry!(
        "expired-counted-by-delete-with-prefix",
        ExpiredCountedByDeleteWithPrefix,
        &[(
            "ttl::expired_invisible_to_every_read",
            &["delete_with_prefix", "expected a count of 1"]
        ),]
    ),
    entry!(
        "expired-etag-matches-in-transaction",
        ExpiredEtagMatchesInTransaction,
        &[(
            "ttl::expired_etag_dead_on_every_write_path",
            &["transact (upsert) of expired", "old etag"]
        ),]
    ),
    entry!(
        "lenient-etag-spelling",
        LenientEtagSpelling,
        &[(
            "etag::other_spellings_refused",
            &["another spelling of the current"]
        ),]
    ),
    entry!(
        "folds-keys",
        FoldsKeys,
        &[("values::distinct_keys", &["must stay apart"]),]
    ),
    entry!(
        "truncates-long-keys",
        TruncatesLongKeys,
        &[(
            "values::longest_key_and_value",
            &["long keys cut short collide"]
        ),]
    ),
    entry!(
        "ttl-in-millis-overflows",
        TtlInMillisOverflows,
        &[("ttl::whole_range", &["ttl i32::MAX", "is not write time"]),]
    ),
    entry!(
        "bulk-set-drops-content-type",
        BulkSetDropsContentType,
        &[(
            "values::metadata_through_every_write_path",
            &["written by bulk_set", "content type None"]
        ),]
    ),
    entry!(
        "works-after-close",
        WorksAfterClose,
        &[(
            "lifecycle::closed_refuses_everything",
            &["after close", "expected InvalidRequest"]
        ),]
    ),
    entry!(
        "query-numbers-as-text",
        QueryNumbersAsText,
        &[
            (
                "query::numbers_and_strings_compare_by_value",
                &["numbers compare as numbers"]
            ),
            (
                "query::random_queries",
                &["diverged from the in-memory reference store", "shrunk in"]
            ),
        ]
    ),
    entry!(
        "query-neq-matches-missing",
        QueryNeqMatchesMissing,
        &[
            (
                "query::missing_paths_and_other_kinds_never_match",
                &["NEQ", "never match"]
            ),
            (
                "query::random_queries",
                &["diverged from the in-memory reference store", "shrunk in"]
            ),
        ]
    ),
    entry!(
        "query-sorts-by-text",
        QuerySortsByText,
        &[
            (
                "query::sort_mixed_types_and_missing",
                &["sort by v ascending"]
            ),
            (
                "query::random_queries",
                &["diverged from the in-memory reference store", "shrunk in"]
            ),
        ]
    ),
    entry!(
        "query-in-loose",
        QueryInLoose,
        &[("query::in_with_mixed_types", &["IN", "same kind"]),]
    ),
    entry!(
        "query-pages-by-offset",
        QueryPagesByOffset,
        &[(
            "query::paging_under_changes",
            &["paging skipped", "present throughout"]
        ),]
    ),
];

/// How many times each entry runs.
fn runs(entry: &Entry) -> usize {
    std::env::var("STATESTORE_BROKEN_RUNS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(if entry.racy { 20 } else { 3 })
}

/// Runs `cases` against `registration` once, with `settings`; returns each
/// case's verdict.
async fn verdicts(registration: Registration, settings: Settings, cases: &[&str]) -> Vec<Verdict> {
    let run = Suite::new(registration, Properties::new())
        .quirks(Quirks {
            shared_backend: false,
            ..Quirks::default()
        })
        .settings(settings)
        .open()
        .await
        .expect("the broken store starts");
    let mut out = Vec::new();
    for name in cases {
        let i = run.index(name).unwrap_or_else(|| panic!("no case {name}"));
        out.push(run.case(i).await.verdict);
    }
    run.close().await;
    out
}

/// What went wrong with one entry, if anything.
async fn check(entry: &Entry) -> Vec<String> {
    let name = entry.registration.name;
    let cases: Vec<&str> = entry.catches.iter().map(|(c, _)| *c).collect();
    let mut problems = Vec::new();
    for run in 0..runs(entry) {
        let verdicts = verdicts(entry.registration, Settings::default(), &cases).await;
        for ((case, words), verdict) in entry.catches.iter().zip(verdicts) {
            match verdict {
                Verdict::Failed(m) => {
                    if std::env::var_os("STATESTORE_BROKEN_SHOW").is_some() && run == 0 {
                        eprintln!("{m}\n");
                    }
                    let missing: Vec<&&str> = words.iter().filter(|w| !m.contains(**w)).collect();
                    if !missing.is_empty() || !m.contains(case) || !m.contains(name) {
                        problems.push(format!(
                            "{name}: {case} failed without naming {missing:?}, the case or the store:\n{m}"
                        ));
                    }
                }
                other => problems.push(format!(
                    "{name}: {case} did not catch it on run {run}: {other:?}"
                )),
            }
        }
    }
    problems
}

/// Every broken store of the table fails every run, by the cases that
/// check the rule it breaks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_broken_store_fails_by_the_case_of_its_rule() {
    let checks = TABLE.iter().map(check);
    let problems: Vec<String> = futures::future::join_all(checks)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// The same store name never serves two entries (the name is how a
/// failure points back here).
#[test]
fn table_names_are_unique() {
    let mut names: Vec<&str> = TABLE.iter().map(|e| e.registration.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), TABLE.len());
}

/// The model-based case finds a broken store too, and prints a shrunk
/// sequence with the seed that reproduces it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_finds_broken_stores_and_prints_the_seed() {
    let settings = Settings {
        model_sequences: 100,
        // Fixed, so the messages checked below are always the same.
        seed: Some(7),
        ..Settings::default()
    };
    for (index, words) in [
        (
            0,
            &["seed 0x", "STATESTORE_SEED=", "<- diverges", "ETagInvalid"][..],
        ),
        (1, &["transact [", "<- diverges"][..]),
    ] {
        let registration = TABLE[index].registration;
        let verdict = verdicts(registration, settings.clone(), &["model::random_sequences"]).await;
        let Verdict::Failed(m) = &verdict[0] else {
            panic!(
                "{}: the model did not catch it: {verdict:?}",
                registration.name
            )
        };
        for w in words {
            assert!(m.contains(w), "{w:?} missing from: {m}");
        }
        if index == 1 {
            // The shrinker keeps failures short: a partial transaction
            // needs at most a write, the transaction, and the read that
            // shows the leftover.
            let steps = m
                .lines()
                .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
                .count();
            assert!(steps <= 4, "{steps} steps left after shrinking:\n{m}");
        }
    }
}
