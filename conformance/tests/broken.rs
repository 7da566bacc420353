//! Stores broken on purpose must fail the suite, with messages that point at
//! the rule they break. Without this, a suite that passes everything would
//! look the same as a suite that checks everything.

use statestore_conformance::{Quirks, Settings, Suite, Verdict};
use statestore_core::{
    Capabilities, Concurrency, DeleteRequest, DeleteWithPrefixRequest, ETag, GetRequest, Item,
    KeyResult, KeysLikeRequest, KeysPage, MemoryStore, Properties, QueryRequest, QueryResponse,
    Registration, Result, SetRequest, Store, TransactRequest, TransactionOp, async_trait,
};

/// How a [`Broken`] store breaks the contract.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flaw {
    /// Drops every etag and first-write condition: last writer wins.
    IgnoresEtags,
    /// Applies a transaction's operations one by one and stops at the first
    /// failure, keeping what went before (Dapr's Redis MULTI/EXEC).
    PartialTransactions,
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

    fn set_req(&self, mut req: SetRequest) -> SetRequest {
        if self.flaw == Flaw::IgnoresEtags {
            req.etag = None;
            req.concurrency = Concurrency::LastWrite;
        }
        req
    }

    fn delete_req(&self, mut req: DeleteRequest) -> DeleteRequest {
        if self.flaw == Flaw::IgnoresEtags {
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
        self.inner.get(req).await
    }
    async fn set(&self, req: SetRequest) -> Result<Option<ETag>> {
        self.inner.set(self.set_req(req)).await
    }
    async fn delete(&self, req: DeleteRequest) -> Result<()> {
        self.inner.delete(self.delete_req(req)).await
    }
    async fn bulk_get(&self, reqs: Vec<GetRequest>) -> Result<Vec<KeyResult<Option<Item>>>> {
        self.inner.bulk_get(reqs).await
    }
    async fn bulk_set(&self, reqs: Vec<SetRequest>) -> Result<Vec<KeyResult<Option<ETag>>>> {
        let reqs = reqs.into_iter().map(|r| self.set_req(r)).collect();
        self.inner.bulk_set(reqs).await
    }
    async fn bulk_delete(&self, reqs: Vec<DeleteRequest>) -> Result<Vec<KeyResult<()>>> {
        let reqs = reqs.into_iter().map(|r| self.delete_req(r)).collect();
        self.inner.bulk_delete(reqs).await
    }
    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }
    async fn close(&self) -> Result<()> {
        self.inner.close().await
    }
    async fn transact(&self, req: TransactRequest) -> Result<Vec<Option<ETag>>> {
        let ops: Vec<TransactionOp> = req
            .operations
            .into_iter()
            .map(|op| match op {
                TransactionOp::Set(r) => self.set_req(r).into(),
                TransactionOp::Delete(r) => self.delete_req(r).into(),
            })
            .collect();
        if self.flaw != Flaw::PartialTransactions {
            return self.inner.transact(TransactRequest::new(ops)).await;
        }
        let mut etags = Vec::new();
        for op in ops {
            match op {
                TransactionOp::Set(r) => etags.push(self.inner.set(r).await?),
                TransactionOp::Delete(r) => self.inner.delete(r).await?,
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
        let i = (0..run.len())
            .find(|&i| run.name(i) == *name)
            .unwrap_or_else(|| panic!("no case {name}"));
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
