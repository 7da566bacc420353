//! Stores broken on purpose must fail the suite, with messages that point at
//! the rule they break. Without this, a suite that passes everything would
//! look the same as a suite that checks everything.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use statestore_conformance::{Quirks, Restart, Settings, Suite, Verdict};
use statestore_core::{
    Capabilities, Concurrency, DeleteRequest, DeleteWithPrefixRequest, ETag, Error, GetRequest,
    Item, KeyResult, KeysLikeRequest, KeysPage, MemoryStore, Operation, Properties, QueryRequest,
    QueryResponse, Registration, Result, SetRequest, Store, TransactRequest, TransactionOp,
    async_trait,
};

/// How a [`Broken`] store breaks the contract.
#[derive(Clone, Copy)]
enum Flaw {
    /// Drops every etag and first-write condition: last writer wins.
    IgnoresEtags,
    /// Applies a transaction's operations one by one and stops at the first
    /// failure, keeping what went before (Dapr's Redis MULTI/EXEC).
    PartialTransactions,
    /// Correct: fails fast with `Unavailable` while its switch is off.
    Switched(&'static AtomicBool),
    /// Hangs while its switch is off instead of failing.
    HangsWhenDown(&'static AtomicBool),
    /// Panics in `ping`.
    PanicsOnPing,
    /// Panics in `bulk_delete`, which the suite's cleanup calls.
    PanicsOnBulkDelete,
}

/// The reference store with one flaw.
struct Broken {
    inner: MemoryStore,
    flaw: Flaw,
}

impl Broken {
    fn boxed(flaw: Flaw) -> Box<dyn Store> {
        Box::new(Broken {
            inner: MemoryStore::new(),
            flaw,
        })
    }

    /// What a call does while the backend is "down".
    async fn gate(&self) -> Result<()> {
        match self.flaw {
            Flaw::Switched(down) if down.load(Ordering::SeqCst) => {
                Err(Error::unavailable("the backend is down")
                    .context("test.switched", Operation::Get))
            }
            Flaw::HangsWhenDown(down) if down.load(Ordering::SeqCst) => {
                std::future::pending().await
            }
            _ => Ok(()),
        }
    }

    fn set_req(&self, mut req: SetRequest) -> SetRequest {
        if matches!(self.flaw, Flaw::IgnoresEtags) {
            req.etag = None;
            req.concurrency = Concurrency::LastWrite;
        }
        req
    }

    fn delete_req(&self, mut req: DeleteRequest) -> DeleteRequest {
        if matches!(self.flaw, Flaw::IgnoresEtags) {
            req.etag = None;
            req.concurrency = Concurrency::LastWrite;
        }
        req
    }
}

#[async_trait]
impl Store for Broken {
    async fn init(&mut self, properties: &Properties) -> Result<()> {
        self.inner.init(properties).await
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn get(&self, req: GetRequest) -> Result<Option<Item>> {
        self.gate().await?;
        self.inner.get(req).await
    }
    async fn set(&self, req: SetRequest) -> Result<Option<ETag>> {
        self.gate().await?;
        self.inner.set(self.set_req(req)).await
    }
    async fn delete(&self, req: DeleteRequest) -> Result<()> {
        self.gate().await?;
        self.inner.delete(self.delete_req(req)).await
    }
    async fn bulk_get(&self, reqs: Vec<GetRequest>) -> Result<Vec<KeyResult<Option<Item>>>> {
        self.gate().await?;
        self.inner.bulk_get(reqs).await
    }
    async fn bulk_set(&self, reqs: Vec<SetRequest>) -> Result<Vec<KeyResult<Option<ETag>>>> {
        self.gate().await?;
        let reqs = reqs.into_iter().map(|r| self.set_req(r)).collect();
        self.inner.bulk_set(reqs).await
    }
    async fn bulk_delete(&self, reqs: Vec<DeleteRequest>) -> Result<Vec<KeyResult<()>>> {
        self.gate().await?;
        if matches!(self.flaw, Flaw::PanicsOnBulkDelete) {
            panic!("a store bug in bulk_delete");
        }
        let reqs = reqs.into_iter().map(|r| self.delete_req(r)).collect();
        self.inner.bulk_delete(reqs).await
    }
    async fn ping(&self) -> Result<()> {
        self.gate().await?;
        if matches!(self.flaw, Flaw::PanicsOnPing) {
            panic!("a store bug in ping");
        }
        self.inner.ping().await
    }
    async fn close(&self) -> Result<()> {
        self.inner.close().await
    }
    async fn transact(&self, req: TransactRequest) -> Result<Vec<Option<ETag>>> {
        self.gate().await?;
        let ops: Vec<TransactionOp> = req
            .operations
            .into_iter()
            .map(|op| match op {
                TransactionOp::Set(r) => self.set_req(r).into(),
                TransactionOp::Delete(r) => self.delete_req(r).into(),
            })
            .collect();
        if !matches!(self.flaw, Flaw::PartialTransactions) {
            return self.inner.transact(TransactRequest::new(ops)).await;
        }
        let mut etags = Vec::new();
        for op in ops {
            match op {
                TransactionOp::Set(r) => etags.push(self.inner.set(r).await?),
                TransactionOp::Delete(r) => {
                    self.inner.delete(r).await?;
                    etags.push(None);
                }
            }
        }
        Ok(etags)
    }
    async fn delete_with_prefix(&self, req: DeleteWithPrefixRequest) -> Result<u64> {
        self.inner.delete_with_prefix(req).await
    }
    async fn keys_like(&self, req: KeysLikeRequest) -> Result<KeysPage> {
        self.inner.keys_like(req).await
    }
    async fn query(&self, req: QueryRequest) -> Result<QueryResponse> {
        self.inner.query(req).await
    }
}

const IGNORES_ETAGS: Registration =
    Registration::new("test.ignores-etags", |_| Broken::boxed(Flaw::IgnoresEtags));
const PARTIAL_TRANSACTIONS: Registration = Registration::new("test.partial-transactions", |_| {
    Broken::boxed(Flaw::PartialTransactions)
});

/// Runs `cases` against `registration` and returns each failure message;
/// fails the test if a case does not fail.
async fn failures(registration: Registration, cases: &[&str]) -> Vec<String> {
    let run = Suite::new(registration, Properties::new())
        .quirks(Quirks {
            shared_backend: false,
            ..Quirks::default()
        })
        .settings(Settings {
            model_sequences: 100,
            // Fixed, so the messages checked below are always the same.
            seed: Some(7),
            ..Settings::default()
        })
        .open()
        .await
        .expect("the broken store starts");
    let mut messages = Vec::new();
    for name in cases {
        let i = run.index(name).unwrap_or_else(|| panic!("no case {name}"));
        match run.case(i).await.verdict {
            Verdict::Failed(m) => messages.push(m),
            other => panic!(
                "{name} should fail against {}, got {other:?}",
                registration.name
            ),
        }
    }
    messages
}

fn assert_mentions(message: &str, words: &[&str]) {
    for w in words {
        assert!(message.contains(w), "{w:?} missing from: {message}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_ignores_etags_fails() {
    let m = failures(
        IGNORES_ETAGS,
        &[
            "etag::stale_set_refused",
            "first_write::race_single_winner",
            "model::random_sequences",
        ],
    )
    .await;
    assert_mentions(
        &m[0],
        &[
            "test.ignores-etags",
            "etag::stale_set_refused",
            "ETagMismatch",
        ],
    );
    assert_mentions(&m[1], &["expected one winner"]);

    assert_mentions(
        &m[2],
        &["seed 0x", "STATESTORE_SEED=", "<- diverges", "ETagInvalid"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_with_partial_transactions_fails() {
    let m = failures(
        PARTIAL_TRANSACTIONS,
        &[
            "transactions::mismatch_aborts_all",
            "actor::turn_is_atomic",
            "model::random_sequences",
        ],
    )
    .await;
    assert_mentions(
        &m[0],
        &[
            "test.partial-transactions",
            "transactions::mismatch_aborts_all",
        ],
    );
    assert_mentions(&m[1], &["actor::turn_is_atomic"]);
    assert_mentions(&m[2], &["transact [", "<- diverges"]);
}

/// The shrinker keeps failures short: a partial transaction needs at most
/// a write, the transaction, and the read that shows the leftover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_failures_are_shrunk() {
    let m = failures(PARTIAL_TRANSACTIONS, &["model::random_sequences"]).await;
    let steps = m[0]
        .lines()
        .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .count();
    assert!(steps <= 4, "{steps} steps left after shrinking:\n{}", m[0]);
}

static SWITCHED_DOWN: AtomicBool = AtomicBool::new(false);
static HANGING_DOWN: AtomicBool = AtomicBool::new(false);

const SWITCHED: Registration = Registration::new("test.switched", |_| {
    Broken::boxed(Flaw::Switched(&SWITCHED_DOWN))
});
const HANGING: Registration = Registration::new("test.hangs-when-down", |_| {
    Broken::boxed(Flaw::HangsWhenDown(&HANGING_DOWN))
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
    let run = Suite::new(IGNORES_ETAGS, Properties::new())
        .open()
        .await
        .unwrap();
    let i = run.index("resilience::restart").unwrap();
    let Verdict::Skipped(why) = run.case(i).await.verdict else {
        panic!("expected a skip")
    };
    assert!(why.contains("quirk restart"), "{why}");
}

const PANICS: Registration =
    Registration::new("test.panics-on-ping", |_| Broken::boxed(Flaw::PanicsOnPing));

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
    Broken::boxed(Flaw::PanicsOnBulkDelete)
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
