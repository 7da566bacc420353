//! The store: the contract on [`Core`]'s requests.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use futures::StreamExt;
use statestore_core::bulk::BulkGet;
use statestore_core::check::{self, Condition, Op};
use statestore_core::handle::Handle;
use statestore_core::{
    Capabilities, DeleteRequest, DeleteWithPrefixRequest, ETag, Error, ErrorKind, Feature,
    Features, GetRequest, Item, KeyResult, KeysLikeRequest, KeysPage, Limits, Operation,
    Properties, QueryRequest, QueryResponse, Registration, Result, SetRequest, Store,
    TransactRequest, register_store, token,
};

use crate::NAME;
use crate::config::{Config, PROPERTIES};
use crate::core::{Action, Core, TxFailure};
use crate::layout::{self, epoch_seconds};
use crate::plan::{self, Plan};

/// What every instance offers; `TTL` comes with `ttlAttributeName`, and
/// `DELETE_WITH_PREFIX` and `KEYS_LIKE` with `allowTableScans`.
pub const BASE_FEATURES: Features = Features::NONE
    .with(Feature::ETag)
    .with(Feature::Transactional);

/// The most the type offers.
pub const FEATURES: Features = BASE_FEATURES
    .with(Feature::Ttl)
    .with(Feature::DeleteWithPrefix)
    .with(Feature::KeysLike);

/// Most operations in one transaction (TransactWriteItems' limit).
pub const MAX_TRANSACTION_OPS: usize = 100;
/// Longest key, in bytes (DynamoDB's limit for a partition key).
pub const MAX_KEY_LEN: usize = 2048;
/// Largest value: an item holds at most 400 KB, key and attributes
/// included.
pub const MAX_VALUE_LEN: usize = 390 * 1024;

/// The limits of every instance.
pub const LIMITS: Limits = Limits {
    max_transaction_ops: Some(MAX_TRANSACTION_OPS),
    max_bulk_batch: None,
    max_key_len: Some(MAX_KEY_LEN),
    max_value_len: Some(MAX_VALUE_LEN),
};

/// How `state.aws.dynamodb` is registered (also reachable without
/// `inventory`).
pub const REGISTRATION: Registration = Registration::new(NAME, |_| Box::new(DynamoStore::new()))
    .features(FEATURES)
    .properties(PROPERTIES)
    .summary("DynamoDB table in Dapr's layout; TTL with ttlAttributeName, scans only on request.")
    .baseline(statestore_core::baseline::open::<crate::baseline::DynamoBaseline>);

register_store!(REGISTRATION);

/// The DynamoDB state store.
#[derive(Default)]
pub struct DynamoStore {
    core: Handle<Core>,
    config: Option<Config>,
}

/// Refuses a write with a ttl where no TTL attribute is configured.
fn ttl_offered(op: &Op, core: &Core, name: Operation) -> Result<()> {
    match op {
        Op::Write(w) if w.ttl_seconds().is_some() && core.ttl_attr.is_none() => {
            Err(Error::not_supported(NAME, name)
                .map_message(|m| format!("{m}: a ttl needs the property ttlAttributeName"))
                .with_key(op.key().to_owned()))
        }
        _ => Ok(()),
    }
}

/// The refusal of keys-like and delete-with-prefix without
/// `allowTableScans`.
fn scans_refused(name: Operation) -> Error {
    Error::not_supported(NAME, name).map_message(|m| {
        format!("{m}: it scans the whole table; set allowTableScans to true to offer it")
    })
}

/// Refuses a write with a ttl where no TTL attribute is configured, and a
/// malformed etag.
fn admit(op: &Op, core: &Core, name: Operation) -> Result<()> {
    ttl_offered(op, core, name)?;
    if let Condition::IfMatch(e) = op.condition() {
        layout::check_etag(e).map_err(|e| e.with_key(op.key().to_owned()))?;
    }
    Ok(())
}

fn timed_out(limit: Duration) -> Error {
    Error::timeout(format!("no answer within {limit:?} (operationTimeout)"))
}

impl DynamoStore {
    /// An uninitialised store; call [`Store::init`].
    pub fn new() -> Self {
        Self::default()
    }

    fn core(&self, op: Operation) -> Result<Arc<Core>> {
        self.core.get(NAME, op)
    }

    /// Runs one operation within `operationTimeout`, with the store and the
    /// operation named in its errors.
    async fn run<T, F>(&self, op: Operation, f: impl FnOnce(Arc<Core>) -> F) -> Result<T>
    where
        F: Future<Output = Result<T>>,
    {
        let core = self.core(op)?;
        let limit = core.timeout;
        tokio::time::timeout(limit, f(core))
            .await
            .unwrap_or_else(|_| Err(timed_out(limit)))
            .map_err(|e| e.context(NAME, op))
    }

    /// Bulk writes: rounds of distinct keys (a key's operations keep their
    /// order); in each round the unconditional ones go by BatchWriteItem
    /// and the conditional ones as single requests, all at once.
    async fn bulk_write<T: Send>(
        &self,
        name: Operation,
        checked: Vec<(String, Result<Op>)>,
        map: impl Fn(Option<ETag>) -> T + Send,
    ) -> Result<Vec<KeyResult<T>>> {
        self.run(name, |core| async move {
            let mut outcomes: Vec<Option<Result<Option<ETag>>>> = Vec::with_capacity(checked.len());
            let mut keys = Vec::with_capacity(checked.len());
            let mut rounds: Vec<Vec<(usize, Op)>> = Vec::new();
            let mut seen: HashMap<String, usize> = HashMap::new();
            for (i, (key, op)) in checked.into_iter().enumerate() {
                match op.and_then(|op| admit(&op, &core, name).map(|()| op)) {
                    Err(e) => outcomes.push(Some(Err(e.with_key(key.clone())))),
                    Ok(op) => {
                        let round = seen.entry(key.clone()).or_insert(0);
                        if rounds.len() <= *round {
                            rounds.push(Vec::new());
                        }
                        rounds[*round].push((i, op));
                        *round += 1;
                        outcomes.push(None);
                    }
                }
                keys.push(key);
            }
            for round in rounds {
                for (i, outcome) in write_round(&core, round).await {
                    // The backend failing (not a condition, not one item
                    // refused) fails the whole call (docs/contract.md).
                    match outcome {
                        Err(e) if !per_key(&e) => return Err(e),
                        outcome => outcomes[i] = Some(outcome),
                    }
                }
            }
            Ok(keys
                .into_iter()
                .zip(outcomes)
                .map(|(key, outcome)| KeyResult {
                    result: outcome
                        .unwrap_or_else(|| Err(Error::backend("the write was not run")))
                        .map(&map)
                        .map_err(|e| e.with_key(key.clone()).context(NAME, name)),
                    key,
                })
                .collect())
        })
        .await
    }

    /// One write or delete.
    async fn write_one(&self, name: Operation, op: Result<Op>) -> Result<Option<ETag>> {
        self.run(name, |core| async move {
            let op = op?;
            admit(&op, &core, name)?;
            write(&core, op).await
        })
        .await
    }
}

/// The item a write puts, and its new etag.
fn put_item(core: &Core, w: &check::Write) -> (layout::Attributes, String) {
    let etag = layout::new_etag();
    let expiry = w.ttl_seconds().map(layout::expiry_after);
    let item = core.item(&w.key, &w.value, &etag, expiry, w.content_type.as_deref());
    (item, etag)
}

/// One conditional or unconditional write or delete, as a single request.
async fn write(core: &Core, op: Op) -> Result<Option<ETag>> {
    let cond = core.condition(op.condition(), epoch_seconds(SystemTime::now()));
    let done = match &op {
        Op::Write(w) => {
            let (item, etag) = put_item(core, w);
            core.put(item, cond).await.map(|()| Some(ETag::new(etag)))
        }
        Op::Delete(d) => core.delete(&d.key, cond).await.map(|_| None),
    };
    done.map_err(|e| match e.kind() {
        ErrorKind::ETagMismatch => check::mismatch(&op),
        _ => e.with_key(op.key().to_owned()),
    })
}

/// One round of a bulk call (distinct keys): outcomes by request index.
async fn write_round(core: &Core, round: Vec<(usize, Op)>) -> Vec<(usize, Result<Option<ETag>>)> {
    let mut batch = Vec::new();
    let mut batch_at = Vec::new();
    let mut single = Vec::new();
    for (i, op) in round {
        match (&op, op.condition()) {
            (Op::Write(w), Condition::Always) => {
                let (item, etag) = put_item(core, w);
                batch.push((w.key.clone(), Some(item)));
                batch_at.push((i, Some(ETag::new(etag))));
            }
            (Op::Delete(d), Condition::Always) => {
                batch.push((d.key.clone(), None));
                batch_at.push((i, None));
            }
            _ => single.push((i, op)),
        }
    }
    let batched = core.batch_write(batch);
    let singles = futures::stream::iter(single)
        .map(|(i, op)| async move { (i, write(core, op).await) })
        .buffer_unordered(32)
        .collect::<Vec<_>>();
    let (batched, mut out) = futures::join!(batched, singles);
    for ((i, etag), done) in batch_at.into_iter().zip(batched) {
        out.push((i, done.map(|()| etag)));
    }
    out
}

/// A transaction's operations as request items: each key's first
/// condition with its last effect (see [`plan`]).
async fn apply(
    core: &Core,
    ops: &[Op],
    items: Vec<plan::Item>,
    etags: &[Option<ETag>],
) -> Result<()> {
    let now = epoch_seconds(SystemTime::now());
    let request = items
        .iter()
        .map(|it| {
            let last = &ops[it.last];
            let action = match last {
                Op::Write(w) => {
                    let etag = etags[it.last]
                        .as_ref()
                        .map(ETag::as_str)
                        .unwrap_or_default();
                    let expiry = w.ttl_seconds().map(layout::expiry_after);
                    Action::Put(core.item(
                        &w.key,
                        &w.value,
                        etag,
                        expiry,
                        w.content_type.as_deref(),
                    ))
                }
                Op::Delete(_) => Action::Delete,
            };
            (
                last.key().to_owned(),
                action,
                core.condition(ops[it.first].condition(), now),
            )
        })
        .collect();
    match core.transact(request).await {
        Ok(()) => Ok(()),
        Err(TxFailure::Condition(p)) => {
            let i = items[p].first;
            Err(check::mismatch(&ops[i]).in_transaction(i))
        }
        Err(TxFailure::Item(p, e)) => {
            let i = items[p].first;
            Err(e.with_key(ops[i].key().to_owned()).in_transaction(i))
        }
        Err(TxFailure::Other(e)) => Err(e),
    }
}

/// The error of a transaction that fails at `at` whatever the server holds,
/// unless one of the earlier conditions in `checks` fails first; nothing is
/// applied either way.
async fn fail_at(
    core: &Core,
    ops: &[Op],
    at: usize,
    error: Error,
    checks: Vec<usize>,
) -> Result<()> {
    let failed = error.with_key(ops[at].key().to_owned()).in_transaction(at);
    if checks.is_empty() {
        return Err(failed);
    }
    let now = epoch_seconds(SystemTime::now());
    let request = checks
        .iter()
        .map(|&i| {
            (
                ops[i].key().to_owned(),
                Action::Check,
                core.condition(ops[i].condition(), now),
            )
        })
        .collect();
    match core.transact(request).await {
        Ok(()) => Err(failed),
        Err(TxFailure::Condition(p)) => {
            Err(check::mismatch(&ops[checks[p]]).in_transaction(checks[p]))
        }
        Err(TxFailure::Item(p, e)) => {
            let i = checks[p];
            Err(e.with_key(ops[i].key().to_owned()).in_transaction(i))
        }
        Err(TxFailure::Other(e)) => Err(e),
    }
}

/// Whether an error of one key of a bulk call is that key's alone: its
/// condition, its etag, its item refused, a ttl without TTL. Any other is
/// the backend's, and fails the whole call.
fn per_key(e: &Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ETagMismatch
            | ErrorKind::ETagInvalid
            | ErrorKind::InvalidRequest
            | ErrorKind::NotSupported
    )
}

/// Whether a failed transaction may be sent again: another transaction on
/// one of its items won (nothing was applied).
fn conflict(e: &Error) -> bool {
    e.kind() == ErrorKind::Backend && e.is_retryable()
}

#[async_trait]
impl Store for DynamoStore {
    async fn init(&mut self, properties: &Properties) -> Result<()> {
        let op = Operation::Init;
        if self.config.is_some() {
            return Err(Error::invalid("the store is already initialised").context(NAME, op));
        }
        let config = Config::from_properties(properties)?;
        let limit = config.timeout;
        // Creating a table and enabling its TTL may take a while on AWS.
        let limit = if config.create_table {
            limit.max(Duration::from_secs(60))
        } else {
            limit
        };
        let core = tokio::time::timeout(limit, Core::connect(&config))
            .await
            .unwrap_or_else(|_| Err(timed_out(limit)))
            .map_err(|e| e.context(NAME, op))?;
        self.core.open(core);
        self.config = Some(config);
        Ok(())
    }

    fn capabilities(&self) -> Capabilities {
        let mut features = BASE_FEATURES;
        if let Some(c) = &self.config {
            if c.ttl_attribute.is_some() {
                features = features.with(Feature::Ttl);
            }
            if c.allow_scans {
                features = features
                    .with(Feature::DeleteWithPrefix)
                    .with(Feature::KeysLike);
            }
        }
        Capabilities {
            features,
            limits: LIMITS,
        }
    }

    async fn get(&self, req: GetRequest) -> Result<Option<Item>> {
        self.run(Operation::Get, |core| async move {
            check::get(&req, &LIMITS)?;
            let attrs = core.get(&req.key).await.map_err(|e| e.with_key(req.key))?;
            let now = SystemTime::now();
            Ok(attrs.and_then(|a| layout::item(&a, core.ttl_attr.as_deref(), now)))
        })
        .await
    }

    async fn set(&self, req: SetRequest) -> Result<Option<ETag>> {
        self.write_one(Operation::Set, check::write(req, &LIMITS).map(Op::Write))
            .await
    }

    async fn delete(&self, req: DeleteRequest) -> Result<()> {
        self.write_one(
            Operation::Delete,
            check::delete(req, &LIMITS).map(Op::Delete),
        )
        .await
        .map(drop)
    }

    async fn bulk_get(&self, reqs: Vec<GetRequest>) -> Result<Vec<KeyResult<Option<Item>>>> {
        let op = Operation::BulkGet;
        self.run(op, |core| async move {
            let bulk = BulkGet::new(reqs, &LIMITS);
            let keys: Vec<String> = bulk.keys().into_iter().map(str::to_owned).collect();
            let now = SystemTime::now();
            let found = core
                .batch_get(&keys)
                .await?
                .into_iter()
                .filter_map(|(k, a)| Some((k, layout::item(&a, core.ttl_attr.as_deref(), now)?)))
                .collect();
            Ok(bulk.answer(found, NAME, op))
        })
        .await
    }

    async fn bulk_set(&self, reqs: Vec<SetRequest>) -> Result<Vec<KeyResult<Option<ETag>>>> {
        let checked = reqs
            .into_iter()
            .map(|r| (r.key.clone(), check::write(r, &LIMITS).map(Op::Write)))
            .collect();
        self.bulk_write(Operation::BulkSet, checked, |e| e).await
    }

    async fn bulk_delete(&self, reqs: Vec<DeleteRequest>) -> Result<Vec<KeyResult<()>>> {
        let checked = reqs
            .into_iter()
            .map(|r| (r.key.clone(), check::delete(r, &LIMITS).map(Op::Delete)))
            .collect();
        self.bulk_write(Operation::BulkDelete, checked, drop).await
    }

    async fn ping(&self) -> Result<()> {
        self.run(Operation::Ping, |core| async move { core.ping().await })
            .await
    }

    async fn close(&self) -> Result<()> {
        self.core.close();
        Ok(())
    }

    async fn transact(&self, req: TransactRequest) -> Result<Vec<Option<ETag>>> {
        let name = Operation::Transact;
        self.run(name, |core| async move {
            let ops = check::transaction(req, &LIMITS)?;
            for (i, op) in ops.iter().enumerate() {
                ttl_offered(op, &core, name).map_err(|e| e.in_transaction(i))?;
            }
            let etags: Vec<Option<ETag>> = ops
                .iter()
                .map(|op| matches!(op, Op::Write(_)).then(|| ETag::new(layout::new_etag())))
                .collect();
            if ops.is_empty() {
                return Ok(etags);
            }
            let mut pause = Duration::from_millis(5);
            loop {
                let done = match plan::plan(&ops) {
                    Plan::Apply(items) => apply(&core, &ops, items, &etags).await,
                    Plan::FailsAt { at, error, checks } => {
                        fail_at(&core, &ops, at, error, checks).await
                    }
                };
                match done {
                    Err(e) if conflict(&e) => {
                        tokio::time::sleep(pause + Duration::from_millis(fastrand::u64(0..5)))
                            .await;
                        pause = (pause * 2).min(Duration::from_millis(200));
                    }
                    Err(e) => return Err(e),
                    Ok(()) => return Ok(etags),
                }
            }
        })
        .await
    }

    async fn delete_with_prefix(&self, req: DeleteWithPrefixRequest) -> Result<u64> {
        let name = Operation::DeleteWithPrefix;
        if !self
            .capabilities()
            .features
            .contains(Feature::DeleteWithPrefix)
        {
            self.core(name)?;
            return Err(scans_refused(name));
        }
        self.run(name, |core| async move {
            let prefix = check::prefix(&req.prefix)?;
            let keys: Vec<String> = core
                .scan_keys(&prefix)
                .await?
                .into_iter()
                .filter(|k| check::is_direct_child(k, &prefix))
                .collect();
            let ttl = core.ttl_attr.clone();
            let deleted: Vec<Result<bool>> = futures::stream::iter(keys)
                .map(|k| {
                    let core = &core;
                    let ttl = ttl.as_deref();
                    async move {
                        let old = core.delete(&k, None).await?;
                        Ok(old.is_some_and(|o| !layout::expired(&o, ttl, SystemTime::now())))
                    }
                })
                .buffer_unordered(32)
                .collect()
                .await;
            let mut count = 0;
            for d in deleted {
                count += u64::from(d?);
            }
            Ok(count)
        })
        .await
    }

    async fn keys_like(&self, req: KeysLikeRequest) -> Result<KeysPage> {
        let name = Operation::KeysLike;
        if !self.capabilities().features.contains(Feature::KeysLike) {
            self.core(name)?;
            return Err(scans_refused(name));
        }
        self.run(name, |core| async move {
            let pattern = check::keys_like(&req)?;
            let after = match &req.token {
                Some(t) => token::parse_page_token(t)?,
                None => String::new(),
            };
            let mut keys: Vec<String> = core
                .scan_keys(&pattern.literal_prefix())
                .await?
                .into_iter()
                .filter(|k| pattern.matches(k) && (after.is_empty() || *k > after))
                .collect();
            keys.sort();
            if let Some(n) = req.page_size {
                keys.truncate(n as usize + 1);
            }
            Ok(token::page(keys, req.page_size))
        })
        .await
    }

    async fn query(&self, _req: QueryRequest) -> Result<QueryResponse> {
        let name = Operation::Query;
        self.core(name)?;
        Err(Error::not_supported(NAME, name))
    }
}
