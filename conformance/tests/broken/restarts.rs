//! The suite's own behaviour around failures: the restart case against a
//! store that fails fast or hangs while its backend is down, and stores
//! that panic.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use statestore_conformance::{Quirks, Restart, Suite, Verdict};
use statestore_core::{Properties, Registration};

use crate::flaw::Flaw;
use crate::store::Broken;

fn assert_mentions(message: &str, words: &[&str]) {
    for w in words {
        assert!(message.contains(w), "{w:?} missing from: {message}");
    }
}

static SWITCHED_DOWN: AtomicBool = AtomicBool::new(false);
static HANGING_DOWN: AtomicBool = AtomicBool::new(false);

const SWITCHED: Registration = Registration::new("test.switched", |_| {
    Broken::boxed("test.switched", Flaw::Switched(&SWITCHED_DOWN))
});
const HANGING: Registration = Registration::new("test.hangs-when-down", |_| {
    Broken::boxed("test.hangs-when-down", Flaw::HangsWhenDown(&HANGING_DOWN))
});

/// A restart hook: turns a store's backend off (`down`) or on.
fn switch(flag: &AtomicBool, down: bool) -> std::result::Result<(), String> {
    flag.store(down, Ordering::SeqCst);
    Ok(())
}

/// Runs `resilience::restart` with hooks that flip `down`.
async fn restart_case(registration: Registration, hooks: Restart) -> Verdict {
    let run = Suite::new(registration, Properties::new())
        .quirks(Quirks {
            shared_backend: false,
            restart: Some(hooks),
            ..Quirks::default()
        })
        .open()
        .await
        .expect("the store starts");
    let i = run
        .index("resilience::restart")
        .expect("the restart case exists");
    run.case(i).await.verdict
}

fn hooks(
    stop: fn() -> std::result::Result<(), String>,
    start: fn() -> std::result::Result<(), String>,
) -> Restart {
    Restart {
        stop: std::sync::Arc::new(move || Box::pin(async move { stop() })),
        start: std::sync::Arc::new(move || Box::pin(async move { start() })),
        fail_within: Duration::from_millis(300),
        recover_within: Duration::from_secs(2),
        durable: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_fails_fast_while_down_passes_the_restart_case() {
    let verdict = restart_case(
        SWITCHED,
        hooks(
            || switch(&SWITCHED_DOWN, true),
            || switch(&SWITCHED_DOWN, false),
        ),
    )
    .await;
    assert_eq!(verdict, Verdict::Passed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_hangs_while_down_fails_the_restart_case() {
    let verdict = restart_case(
        HANGING,
        hooks(
            || switch(&HANGING_DOWN, true),
            || switch(&HANGING_DOWN, false),
        ),
    )
    .await;
    let Verdict::Failed(m) = verdict else {
        panic!("expected a failure, got {verdict:?}")
    };
    assert_mentions(
        &m,
        &[
            "resilience::restart",
            "ping while the backend is down",
            "must fail, not hang",
        ],
    );
    assert!(
        !HANGING_DOWN.load(Ordering::SeqCst),
        "the case must start the backend again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_hooks_the_restart_case_is_skipped_naming_the_quirk() {
    let run = Suite::new(SWITCHED, Properties::new())
        .open()
        .await
        .unwrap();
    let i = run.index("resilience::restart").unwrap();
    let Verdict::Skipped(why) = run.case(i).await.verdict else {
        panic!("expected a skip")
    };
    assert!(why.contains("quirk restart"), "{why}");
}

const PANICS: Registration = Registration::new("test.panics-on-ping", |_| {
    Broken::boxed("test.panics-on-ping", Flaw::PanicsOnPing)
});

/// A panicking store fails the case that met the panic; the run goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_fails_its_case_and_the_run_goes_on() {
    let run = Suite::new(PANICS, Properties::new()).open().await.unwrap();
    let find = |name: &str| run.index(name).unwrap();
    let Verdict::Failed(m) = run.case(find("lifecycle::ping")).await.verdict else {
        panic!("expected a failure")
    };
    assert_mentions(&m, &["lifecycle::ping", "panicked", "a store bug in ping"]);
    assert_eq!(
        run.case(find("crud::get_missing")).await.verdict,
        Verdict::Passed
    );
}

const PANICS_IN_CLEANUP: Registration = Registration::new("test.panics-on-bulk-delete", |_| {
    Broken::boxed("test.panics-on-bulk-delete", Flaw::PanicsOnBulkDelete)
});

/// A panic in the cleanup after a case fails that case, not the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_during_cleanup_fails_the_case() {
    let run = Suite::new(PANICS_IN_CLEANUP, Properties::new())
        .open()
        .await
        .unwrap();
    let i = run.index("crud::overwrite").unwrap();
    let Verdict::Failed(m) = run.case(i).await.verdict else {
        panic!("expected a failure")
    };
    assert_mentions(
        &m,
        &[
            "crud::overwrite",
            "while deleting the case's keys",
            "bulk_delete",
        ],
    );
    run.close().await;
}
