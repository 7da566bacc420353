//! [`SqlStore`]: the whole contract on any [`Backend`].

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use statestore_core::bulk::BulkGet;
use statestore_core::check::{self, Condition, Op};
use statestore_core::{
    Capabilities, DeleteRequest, DeleteWithPrefixRequest, ETag, Error, ErrorKind, Feature,
    Features, GetRequest, Item, KeyResult, KeysLikeRequest, KeysPage, Limits, Operation,
    Properties, QueryRequest, QueryResponse, Result, SetRequest, Store, TransactRequest, token,
};
use tokio::task::JoinHandle;

use crate::apply::{self, Outcome};
use crate::backend::{Backend, Conn, Settings};
use crate::dialect::{Dialect, KeyEtag, Row, WriteRow};
use crate::{etag, query, schema};

/// What every SQL store offers.
pub const FEATURES: Features = Features::NONE
    .with(Feature::ETag)
    .with(Feature::Transactional)
    .with(Feature::Ttl)
    .with(Feature::DeleteWithPrefix)
    .with(Feature::KeysLike)
    .with(Feature::QueryApi);

/// A state store on a SQL database: the logic of every SQL store, with the
/// database's statements and connections supplied by `B`.
pub struct SqlStore<B: Backend> {
    inner: Option<Arc<Inner<B>>>,
    cleanup: Mutex<Option<JoinHandle<()>>>,
    closed: AtomicBool,
}

/// The initialised part of a store.
struct Inner<B: Backend> {
    backend: B,
    settings: Settings,
}

impl<B: Backend> Default for SqlStore<B> {
    fn default() -> Self {
        Self::new()
    }
}

impl<B: Backend> Drop for SqlStore<B> {
    fn drop(&mut self) {
        if let Some(task) = self.cleanup.get_mut().ok().and_then(Option::take) {
            task.abort();
        }
    }
}

/// Runs [`schema::cleanup_turn`] every `interval` until the store is gone.
fn spawn_cleanup<B: Backend>(
    inner: Weak<Inner<B>>,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(inner) = inner.upgrade() else { break };
            let turn = tokio::time::timeout(
                inner.settings.timeout,
                schema::cleanup_turn(&inner.backend, &inner.settings, interval),
            )
            .await;
            match turn {
                Ok(Ok(Some(n))) => {
                    tracing::debug!(store = B::NAME, rows = n, "expired rows purged")
                }
                Ok(Ok(None)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(store = B::NAME, error = %format_args!("{e:#}"), "cleanup of expired rows failed")
                }
                Err(_) => tracing::warn!(store = B::NAME, "cleanup of expired rows timed out"),
            }
        }
    })
}

fn item<K>(row: Row<K>) -> Item {
    Item {
        value: Bytes::from(row.value),
        etag: Some(etag::format(row.etag)),
        content_type: row.content_type,
        expires_at: row
            .expires_at
            .map(|ms| UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)),
        metadata: Default::default(),
    }
}

impl<B: Backend> SqlStore<B> {
    /// An uninitialised store; call [`Store::init`].
    pub fn new() -> Self {
        SqlStore {
            inner: None,
            cleanup: Mutex::new(None),
            closed: AtomicBool::new(false),
        }
    }

    fn inner(&self, op: Operation) -> Result<&Arc<Inner<B>>> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::invalid("the store is closed").context(B::NAME, op));
        }
        self.inner.as_ref().ok_or_else(|| {
            Error::invalid("the store is not initialised: call init first").context(B::NAME, op)
        })
    }

    /// The settings read at init.
    pub fn settings(&self) -> Option<&Settings> {
        self.inner.as_ref().map(|i| &i.settings)
    }

    /// The dialect, once initialised: the text of every statement, for
    /// tools that show or explain them (see [`crate::query::statement`]).
    pub fn dialect(&self) -> Option<&B::Dialect> {
        self.inner.as_ref().map(|i| i.backend.dialect())
    }

    /// Deletes expired rows now, outside the cleanup schedule and whether or
    /// not another instance had the last turn. Returns how many.
    pub async fn purge_expired(&self) -> Result<u64> {
        let op = Operation::Cleanup;
        let inner = self.inner(op)?;
        let d = inner.backend.dialect();
        inner
            .settings
            .bounded("no answer", async {
                inner
                    .backend
                    .write()
                    .await?
                    .execute(d.delete_expired())
                    .await
            })
            .await
            .map_err(|e| e.context(B::NAME, op))
    }

    /// Runs one operation bounded by the timeout, with the store and the
    /// operation named in its errors.
    /// Takes one cleanup turn now, as the background task does every
    /// `cleanupInterval`: returns how many expired rows were purged, or
    /// `None` when another instance had a turn less than `interval` ago.
    pub async fn cleanup_turn(&self, interval: Duration) -> Result<Option<u64>> {
        let op = Operation::Cleanup;
        let inner = self.inner(op)?;
        inner
            .settings
            .bounded(
                "no answer",
                schema::cleanup_turn(&inner.backend, &inner.settings, interval),
            )
            .await
            .map_err(|e| e.context(B::NAME, op))
    }

    async fn run<'a, T, F>(&'a self, op: Operation, f: impl FnOnce(&'a Inner<B>) -> F) -> Result<T>
    where
        F: Future<Output = Result<T>> + 'a,
    {
        let inner = self.inner(op)?;
        inner
            .settings
            .bounded("no answer", f(inner))
            .await
            .map_err(|e| e.context(B::NAME, op))
    }
}

impl<B: Backend> Inner<B> {
    fn limits(&self) -> Limits {
        Limits {
            max_transaction_ops: Some(self.settings.max_transaction_ops),
            max_bulk_batch: Some(self.backend.dialect().max_rows()),
            max_key_len: Some(self.settings.max_key_len),
            max_value_len: Some(self.settings.max_value_len),
        }
    }

    /// The live items of a bulk read's distinct keys at their positions
    /// ([`BulkGet::answer_found`]), on one read connection,
    /// [`Dialect::max_rows`] keys per statement.
    async fn items(&self, bulk: &BulkGet) -> Result<Vec<Option<Item>>> {
        let d = self.backend.dialect();
        let keys = bulk.keys();
        let mut found = bulk.found();
        let mut conn = self.backend.read().await?;
        let mut place = |row: Row<&[u8]>| found.put(row.key, || item(row));
        for chunk in keys.chunks(d.max_rows().max(1)) {
            conn.each_row(d.get(chunk), &mut place).await?;
        }
        Ok(found.into_items())
    }

    /// The live row of one key.
    async fn row(&self, key: &str) -> Result<Option<Row<()>>> {
        let mut conn = self.backend.read().await?;
        conn.row(self.backend.dialect().get(&[key])).await
    }

    async fn set(&self, w: &check::Write) -> Result<Option<ETag>> {
        let d = self.backend.dialect();
        let row = |expected| WriteRow::new(w, expected);
        let (r, stmt) = match &w.condition {
            Condition::Always => {
                let r = row(0);
                let mut conn = self.backend.write().await?;
                conn.execute(d.upsert(&[r])).await?;
                return Ok(Some(etag::format(r.etag)));
            }
            Condition::IfAbsent => {
                let r = row(0);
                (r, d.insert_if_absent(&[r]))
            }
            Condition::IfMatch(e) => {
                let r = row(etag::parse(e)?);
                (r, d.update_if_match(&[r]))
            }
        };
        // Where the row count cannot tell, the etag is read back in the
        // same transaction, so a writer coming after cannot hide this
        // write's success. (Commit is a no-op outside a transaction.)
        let mut conn = if stmt.count_unreliable {
            self.backend.begin().await?
        } else {
            self.backend.write().await?
        };
        let keys = [(r.key, Some(r.etag))];
        let changed = !apply::changed(d, &mut conn, stmt, &keys).await?.is_empty();
        conn.commit().await?;
        match (changed, &w.condition) {
            (true, _) => Ok(Some(etag::format(r.etag))),
            (false, Condition::IfAbsent) => Err(Error::etag_mismatch(
                "first-write without etag: the key already exists",
            )),
            (false, _) => Err(Error::etag_mismatch(
                "the etag is not the current one, or the key does not exist",
            )),
        }
    }

    async fn delete(&self, del: &check::Delete) -> Result<()> {
        let d = self.backend.dialect();
        let mut conn = self.backend.write().await?;
        let ok = match &del.condition {
            Condition::Always => {
                conn.execute(d.delete(&[&del.key])).await?;
                true
            }
            Condition::IfAbsent => conn.texts(d.live_keys(&[&del.key])).await?.is_empty(),
            Condition::IfMatch(e) => {
                let row = KeyEtag {
                    key: &del.key,
                    etag: etag::parse(e)?,
                };
                conn.execute(d.delete_if_match(&[row])).await? > 0
            }
        };
        if ok {
            Ok(())
        } else if del.condition == Condition::IfAbsent {
            Err(Error::etag_mismatch(
                "first-write delete without etag: the key exists",
            ))
        } else {
            Err(Error::etag_mismatch(
                "the etag is not the current one, or the key does not exist",
            ))
        }
    }

    /// Applies checked operations, outcome per index: unconditional writes
    /// only as [`Self::upsert_apart`] (a bulk call in statements of
    /// [`Dialect::bulk_rows`] rows, a transaction when one statement holds
    /// it, atomic by itself), anything else in one database transaction.
    async fn apply_all(
        &self,
        ops: Vec<(usize, Op)>,
        all_or_nothing: bool,
    ) -> Result<Vec<(usize, Outcome)>> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        let d = self.backend.dialect();
        let upserts = if all_or_nothing {
            apply::single_upsert(d, &ops).map(|up| (up, d.max_rows()))
        } else {
            apply::Upserts::of(&ops).map(|up| (up, d.bulk_rows()))
        };
        if let Some((up, rows_per_statement)) = upserts {
            return self.upsert_apart(up, rows_per_statement).await;
        }
        let mut attempt = 1;
        loop {
            match self.apply_once(&ops, all_or_nothing).await {
                // A deadlock or serialization failure rolled the whole
                // transaction back on the server, so running it again is
                // safe; within the operation's timeout.
                Err(e) if retry(B::NAME, &e, attempt).await => attempt += 1,
                other => return other,
            }
        }
    }

    /// Unconditional writes only, as upserts of at most
    /// `rows_per_statement` rows in key order, each committed on its own:
    /// bulk calls are not atomic (docs/contract.md), and a transaction
    /// comes here only as one statement. When a statement fails, its keys
    /// and those of the statements after it, not sent, fail with its error,
    /// and the earlier ones stay written; when the first fails, the whole
    /// call does.
    async fn upsert_apart(
        &self,
        up: apply::Upserts<'_>,
        rows_per_statement: usize,
    ) -> Result<Vec<(usize, Outcome)>> {
        let d = self.backend.dialect();
        let mut conn = self.backend.write().await?;
        let mut failed = None;
        for (n, rows) in up.statements(d, rows_per_statement).into_iter().enumerate() {
            let mut attempt = 1;
            let result = loop {
                match conn.execute(d.upsert(rows)).await {
                    // A deadlock rolled the statement back; see `apply_all`.
                    Err(e) if retry(B::NAME, &e, attempt).await => attempt += 1,
                    other => break other,
                }
            };
            match result {
                Ok(_) => {}
                Err(e) if n == 0 => return Err(e),
                Err(e) => {
                    failed = Some((rows[0].key, e));
                    break;
                }
            }
        }
        let mut outcomes: Vec<(usize, Outcome)> = up
            .ops
            .iter()
            .map(|(i, r)| {
                let outcome = match &failed {
                    // Statements go in key order: this key's was the failed
                    // one or came after it.
                    Some((from, e)) if r.key >= *from => Err(e.copied().with_key(r.key)),
                    _ => Ok(Some(etag::format(r.etag))),
                };
                (*i, outcome)
            })
            .collect();
        outcomes.sort_unstable_by_key(|(i, _)| *i);
        Ok(outcomes)
    }

    async fn apply_once(
        &self,
        ops: &[(usize, Op)],
        all_or_nothing: bool,
    ) -> Result<Vec<(usize, Outcome)>> {
        let d = self.backend.dialect();
        let mut conn = self.backend.begin().await?;
        let outcomes = apply::apply(d, &mut conn, ops).await?;
        if all_or_nothing && outcomes.iter().any(|(_, o)| o.is_err()) {
            // Dropping the connection rolls the transaction back.
            drop(conn);
        } else {
            conn.commit().await?;
        }
        Ok(outcomes)
    }
}

/// Whether a failed attempt of a write is run again: a deadlock or
/// serialization failure, before the fifth attempt. Waits a random while
/// first, longer with each attempt, so that the writers that collided do
/// not collide again.
async fn retry(store: &'static str, e: &Error, attempt: u64) -> bool {
    if e.kind() != ErrorKind::Backend || !e.is_retryable() || attempt >= 5 {
        return false;
    }
    tracing::debug!(store, attempt, error = %format_args!("{e:#}"), "write retried");
    tokio::time::sleep(Duration::from_millis(fastrand::u64(1..=10 * attempt))).await;
    true
}

/// Longest content type, in bytes (MySQL's column is `VARCHAR(255)`).
pub const MAX_CONTENT_TYPE_LEN: usize = 255;

/// What the SQL columns take beyond the contract's own checks, refused
/// before anything is sent so that one bad item of a bulk call fails alone:
/// a content type fits its column and holds no NUL (text columns refuse
/// it).
fn column_limits(w: &check::Write) -> Result<()> {
    let Some(ct) = &w.content_type else {
        return Ok(());
    };
    let why = if ct.len() > MAX_CONTENT_TYPE_LEN {
        format!(
            "contentType is {} bytes; at most {MAX_CONTENT_TYPE_LEN}",
            ct.len()
        )
    } else if ct.contains('\0') {
        "contentType holds a NUL character".to_owned()
    } else {
        return Ok(());
    };
    Err(Error::invalid(why).with_key(w.key.clone()))
}

/// A checked write that also fits the SQL columns.
fn sql_write(req: SetRequest, limits: &Limits) -> Result<check::Write> {
    let w = check::write(req, limits)?;
    column_limits(&w)?;
    Ok(w)
}

/// Bulk requests split into checked operations and per-key refusals.
struct Checked {
    keys: Vec<String>,
    ops: Vec<(usize, Op)>,
    refused: Vec<(usize, Outcome)>,
}

fn check_all<R>(
    reqs: Vec<R>,
    key: impl Fn(&R) -> String,
    check: impl Fn(R) -> Result<Op>,
) -> Checked {
    let mut c = Checked {
        keys: Vec::with_capacity(reqs.len()),
        ops: Vec::new(),
        refused: Vec::new(),
    };
    for (i, r) in reqs.into_iter().enumerate() {
        c.keys.push(key(&r));
        match check(r) {
            Ok(op) => c.ops.push((i, op)),
            Err(e) => c.refused.push((i, Err(e))),
        }
    }
    c
}

fn key_results<T>(
    keys: Vec<String>,
    mut outcomes: Vec<(usize, Outcome)>,
    op: Operation,
    name: &'static str,
    map: impl Fn(Option<ETag>) -> T,
) -> Vec<KeyResult<T>> {
    outcomes.sort_by_key(|(i, _)| *i);
    keys.into_iter()
        .zip(outcomes)
        .map(|(key, (_, o))| match o {
            Ok(v) => KeyResult::ok(key, map(v)),
            Err(e) => KeyResult::err(key, e.context(name, op)),
        })
        .collect()
}

#[async_trait]
impl<B: Backend> Store for SqlStore<B> {
    async fn init(&mut self, properties: &Properties) -> Result<()> {
        let op = Operation::Init;
        if self.inner.is_some() {
            return Err(Error::invalid("the store is already initialised").context(B::NAME, op));
        }
        let (backend, settings) = B::connect(properties)
            .await
            .map_err(|e| e.context(B::NAME, op))?;
        settings
            .bounded("no answer", schema::migrate(&backend, &settings))
            .await
            .map_err(|e| e.context(B::NAME, op))?;
        let interval = settings.cleanup_interval;
        let inner = Arc::new(Inner { backend, settings });
        if let Some(interval) = interval {
            let task = spawn_cleanup(Arc::downgrade(&inner), interval);
            *self.cleanup.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        }
        self.inner = Some(inner);
        Ok(())
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            features: FEATURES,
            limits: self.inner.as_ref().map(|i| i.limits()).unwrap_or_default(),
        }
    }

    async fn get(&self, req: GetRequest) -> Result<Option<Item>> {
        self.run(Operation::Get, |inner| async move {
            check::get(&req, &inner.limits())?;
            Ok(inner.row(&req.key).await?.map(item))
        })
        .await
    }

    async fn set(&self, req: SetRequest) -> Result<Option<ETag>> {
        self.run(Operation::Set, |inner| async move {
            let w = sql_write(req, &inner.limits())?;
            // The key is the write's own, moved into the error: no copy
            // of it on every call.
            inner.set(&w).await.map_err(|e| e.with_key(w.key))
        })
        .await
    }

    async fn delete(&self, req: DeleteRequest) -> Result<()> {
        self.run(Operation::Delete, |inner| async move {
            let del = check::delete(req, &inner.limits())?;
            inner.delete(&del).await.map_err(|e| e.with_key(del.key))
        })
        .await
    }

    async fn bulk_get(&self, reqs: Vec<GetRequest>) -> Result<Vec<KeyResult<Option<Item>>>> {
        let op = Operation::BulkGet;
        self.run(op, |inner| async move {
            let bulk = BulkGet::new(reqs, &inner.limits());
            let found = inner.items(&bulk).await?;
            Ok(bulk.answer_found(found, B::NAME, op))
        })
        .await
    }

    async fn bulk_set(&self, reqs: Vec<SetRequest>) -> Result<Vec<KeyResult<Option<ETag>>>> {
        let op = Operation::BulkSet;
        self.run(op, |inner| async move {
            let limits = inner.limits();
            let Checked { keys, ops, refused } = check_all(
                reqs,
                |r| r.key.clone(),
                |r| sql_write(r, &limits).map(Op::Write),
            );
            let mut outcomes = inner.apply_all(ops, false).await?;
            outcomes.extend(refused);
            Ok(key_results(keys, outcomes, op, B::NAME, |e| e))
        })
        .await
    }

    async fn bulk_delete(&self, reqs: Vec<DeleteRequest>) -> Result<Vec<KeyResult<()>>> {
        let op = Operation::BulkDelete;
        self.run(op, |inner| async move {
            let limits = inner.limits();
            let Checked { keys, ops, refused } = check_all(
                reqs,
                |r| r.key.clone(),
                |r| check::delete(r, &limits).map(Op::Delete),
            );
            let mut outcomes = inner.apply_all(ops, false).await?;
            outcomes.extend(refused);
            Ok(key_results(keys, outcomes, op, B::NAME, |_| ()))
        })
        .await
    }

    async fn ping(&self) -> Result<()> {
        self.run(Operation::Ping, |inner| async move {
            let mut conn = inner.backend.read().await?;
            conn.texts(inner.backend.dialect().ping()).await.map(drop)
        })
        .await
    }

    async fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        if let Some(task) = self
            .cleanup
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            task.abort();
        }
        if let Some(inner) = &self.inner {
            inner.backend.close().await;
        }
        Ok(())
    }

    async fn transact(&self, req: TransactRequest) -> Result<Vec<Option<ETag>>> {
        self.run(Operation::Transact, |inner| async move {
            let ops = check::transaction(req, &inner.limits())?;
            for (i, op) in ops.iter().enumerate() {
                if let Op::Write(w) = op {
                    column_limits(w).map_err(|e| e.in_transaction(i))?;
                }
            }
            let outcomes = inner
                .apply_all(ops.into_iter().enumerate().collect(), true)
                .await?;
            let mut etags = Vec::with_capacity(outcomes.len());
            for (i, outcome) in outcomes {
                match outcome {
                    Ok(etag) => etags.push(etag),
                    Err(e) => return Err(e.in_transaction(i)),
                }
            }
            Ok(etags)
        })
        .await
    }

    async fn delete_with_prefix(&self, req: DeleteWithPrefixRequest) -> Result<u64> {
        self.run(Operation::DeleteWithPrefix, |inner| async move {
            let prefix = check::prefix(&req.prefix)?;
            // Keys starting with `p||` are exactly the keys in [`p||`, `p|}`)
            // under binary order, since `}` follows `|`.
            let to = format!("{}}}", &prefix[..prefix.len() - 1]);
            let d = inner.backend.dialect();
            let mut conn = inner.backend.write().await?;
            conn.execute(d.delete_with_prefix(&prefix, &to, prefix.chars().count()))
                .await
        })
        .await
    }

    async fn keys_like(&self, req: KeysLikeRequest) -> Result<KeysPage> {
        self.run(Operation::KeysLike, |inner| async move {
            let pattern = check::keys_like(&req)?;
            let after = match &req.token {
                Some(t) => token::parse_page_token(t)?,
                None => String::new(),
            };
            let d = inner.backend.dialect();
            let mut conn = inner.backend.read().await?;
            let limit = req.page_size.map(|n| u64::from(n) + 1);
            let keys = conn.texts(d.keys_like(&pattern, &after, limit)).await?;
            Ok(token::page(keys, req.page_size))
        })
        .await
    }

    /// One statement (see [`crate::query`]); nothing is filtered here.
    async fn query(&self, req: QueryRequest) -> Result<QueryResponse> {
        self.run(Operation::Query, |inner| async move {
            let (stmt, limit) = query::statement(inner.backend.dialect(), &req)?;
            let mut conn = inner.backend.read().await?;
            let rows = conn.rows(stmt).await?;
            Ok(query::response(&req.query, rows, limit))
        })
        .await
    }
}
