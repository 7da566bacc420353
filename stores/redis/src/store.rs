//! The store: the contract on [`Core`]'s driver calls.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use statestore_core::check::{self, Condition, Op};
use statestore_core::handle::Handle;
use statestore_core::{
    Capabilities, Consistency, DeleteRequest, DeleteWithPrefixRequest, ETag, Error, ErrorKind,
    Feature, Features, GetRequest, Item, KeyResult, KeysLikeRequest, KeysPage, Limits, Operation,
    Properties, QueryRequest, QueryResponse, Registration, Result, SetRequest, Store,
    TransactRequest, register_store, token,
};

use crate::NAME;
use crate::config::{
    Config, MAX_BULK_BATCH, MAX_KEY_LEN, MAX_TRANSACTION_OPS, MAX_VALUE_LEN, PROPERTIES,
};
use crate::core::{self as driver, Core, outcome};
use crate::record::check_write;

/// What the Redis store offers.
pub const FEATURES: Features = Features::NONE
    .with(Feature::ETag)
    .with(Feature::Transactional)
    .with(Feature::Ttl)
    .with(Feature::DeleteWithPrefix)
    .with(Feature::KeysLike);

/// The limits of every instance.
pub const LIMITS: Limits = Limits {
    max_transaction_ops: Some(MAX_TRANSACTION_OPS),
    max_bulk_batch: Some(MAX_BULK_BATCH),
    max_key_len: Some(MAX_KEY_LEN),
    max_value_len: Some(MAX_VALUE_LEN),
};

/// How `state.redis` is registered (also reachable without `inventory`).
pub const REGISTRATION: Registration = Registration::new(NAME, |_| Box::new(RedisStore::new()))
    .features(FEATURES)
    .properties(PROPERTIES)
    .summary("Redis server or Redis Cluster; etags and transactions as server-side scripts.")
    .baseline(statestore_core::baseline::open::<crate::baseline::RedisBaseline>);

register_store!(REGISTRATION);

/// The Redis state store.
#[derive(Default)]
pub struct RedisStore {
    core: Handle<Core>,
    config: Option<Config>,
}

/// The error of an operation whose condition failed in the script.
fn mismatch(op: &Op) -> Error {
    match op.condition() {
        Condition::IfMatch(e) if !driver::is_version(e.as_str()) => Error::etag_invalid(format!(
            "etag {:?} is not a version of this store (decimal digits)",
            e.as_str().chars().take(40).collect::<String>()
        ))
        .with_key(op.key().to_owned()),
        _ => check::mismatch(op),
    }
}

/// The version a write of `op` would get, and none (empty) for a delete.
fn version(op: &Op) -> ETag {
    match op {
        Op::Write(_) => driver::new_version(),
        Op::Delete(_) => ETag::default(),
    }
}

fn versions(ops: &[Op]) -> Vec<ETag> {
    ops.iter().map(version).collect()
}

impl RedisStore {
    /// An uninitialised store; call [`Store::init`].
    pub fn new() -> Self {
        Self::default()
    }

    fn core(&self, op: Operation) -> Result<Arc<Core>> {
        self.core.get(NAME, op)
    }

    /// Runs one operation bounded by the call timeout, with the store and
    /// the operation named in its errors. A server's connections bound each
    /// round trip themselves, so there single get, set, delete and ping go
    /// without a timer of their own: one per call costs them about 5%
    /// (docs/performance.md, "state.redis"); a bulk call or a transaction
    /// spreads its one timer over its keys.
    async fn run<T, F>(&self, op: Operation, f: impl FnOnce(Arc<Core>) -> F) -> Result<T>
    where
        F: Future<Output = Result<T>>,
    {
        let core = self.core(op)?;
        let single = matches!(
            op,
            Operation::Get | Operation::Set | Operation::Delete | Operation::Ping
        );
        let limit = if single && core.bounds_round_trips() {
            None
        } else {
            self.config.as_ref().and_then(Config::call_timeout)
        };
        let result = match limit {
            Some(limit) => tokio::time::timeout(limit, f(core.clone()))
                .await
                .unwrap_or_else(|_| Err(timeout(limit))),
            None => f(core.clone()).await,
        };
        if let Err(e) = &result
            && matches!(e.kind(), ErrorKind::Unavailable | ErrorKind::Timeout)
        {
            core.recover();
        }
        result.map_err(|e| e.context(NAME, op))
    }

    /// Bulk writes (key, checked op, strong), pipelined as
    /// [`Core::write_calls`] groups them; one outcome per item, in order.
    async fn bulk_write<T>(
        &self,
        name: Operation,
        checked: Vec<(String, Result<Op>, bool)>,
        map: impl Fn(Option<ETag>) -> T + Send,
    ) -> Result<Vec<KeyResult<T>>> {
        self.run(name, |core| async move {
            // The valid operations move to `ops`; each item keeps its
            // index there, or its error.
            let mut ops: Vec<Op> = Vec::with_capacity(checked.len());
            let mut strong = false;
            let items: Vec<(String, Result<usize>)> = checked
                .into_iter()
                .map(|(key, op, s)| {
                    let at = op.map(|op| {
                        strong |= s;
                        ops.push(op);
                        ops.len() - 1
                    });
                    (key, at)
                })
                .collect();
            let new_versions = versions(&ops);
            let calls = core.write_calls(&ops, &new_versions)?;
            let mut results: Vec<Result<()>> = Vec::with_capacity(ops.len());
            // Each call's operations and kind stay here; the calls go out.
            let (calls, spans): (Vec<_>, Vec<_>) = calls
                .into_iter()
                .map(|(call, range)| {
                    let script = call.script;
                    (call, (range, script))
                })
                .unzip();
            let answers = core.batch(calls, strong && core.replicas()).await?;
            for ((range, script), answer) in spans.into_iter().zip(answers) {
                let result = outcome(script, answer);
                for i in range {
                    results.push(match &result {
                        Ok(None) => Ok(()),
                        Ok(Some(_)) => Err(mismatch(&ops[i])),
                        Err(e) => Err(e.copied().with_key(ops[i].key().to_owned())),
                    });
                }
            }
            let mut results = results.into_iter();
            let mut out = Vec::with_capacity(items.len());
            for (key, at) in items {
                let result = match at {
                    Err(e) => Err(e),
                    Ok(i) => match results.next() {
                        Some(Ok(())) => Ok(map(
                            matches!(ops[i], Op::Write(_)).then(|| new_versions[i].clone())
                        )),
                        Some(Err(e)) => Err(e),
                        None => Err(Error::backend("no answer to a pipelined write")),
                    },
                };
                let result = result.map_err(|e| e.context(NAME, name));
                out.push(KeyResult { key, result });
            }
            Ok(out)
        })
        .await
    }

    /// One write or delete (not in a bulk call): a plain command where
    /// [`Core::plain_cmd`] has one, else the script.
    async fn write_one(core: &Core, op: Op, strong: bool) -> Result<Option<ETag>> {
        let v = version(&op);
        if let (Op::Write(w), false) = (&op, strong)
            && let Some(pipe) = core.plain_write(w, v.as_str())
        {
            core.send_plain(pipe)
                .await
                .map_err(|e| e.with_key(w.key.clone()))?;
            return Ok(Some(v));
        }
        let call = match core.plain_cmd(&op, v.as_str())? {
            Some(call) => call,
            None => core.write_cmd(std::slice::from_ref(&op), std::slice::from_ref(&v))?,
        };
        match core.write(call, strong).await {
            Ok(None) => Ok(matches!(op, Op::Write(_)).then_some(v)),
            Ok(Some(_)) => Err(mismatch(&op)),
            Err(e) => Err(e.with_key(op.key().to_owned())),
        }
    }
}

fn timeout(limit: Duration) -> Error {
    Error::timeout(format!(
        "no answer within {limit:?} (properties dialTimeout + readTimeout)"
    ))
}

#[async_trait]
impl Store for RedisStore {
    async fn init(&mut self, properties: &Properties) -> Result<()> {
        let op = Operation::Init;
        if self.config.is_some() {
            return Err(Error::invalid("the store is already initialised").context(NAME, op));
        }
        let config = Config::from_properties(properties)?;
        let connect = driver::connect(&config);
        let core = match config.call_timeout() {
            Some(limit) => tokio::time::timeout(limit, connect)
                .await
                .unwrap_or_else(|_| Err(timeout(limit))),
            None => connect.await,
        }
        .map_err(|e| e.context(NAME, op))?;
        self.core.open(core);
        self.config = Some(config);
        Ok(())
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            features: FEATURES,
            limits: LIMITS,
        }
    }

    async fn get(&self, req: GetRequest) -> Result<Option<Item>> {
        self.run(Operation::Get, |core| async move {
            check::get(&req, &LIMITS)?;
            core.get(&req.key).await.map_err(|e| e.with_key(req.key))
        })
        .await
    }

    async fn set(&self, req: SetRequest) -> Result<Option<ETag>> {
        self.run(Operation::Set, |core| async move {
            let strong = req.consistency == Consistency::Strong;
            let w = check::write(req, &LIMITS)?;
            check_write(&w)?;
            Self::write_one(&core, Op::Write(w), strong).await
        })
        .await
    }

    async fn delete(&self, req: DeleteRequest) -> Result<()> {
        self.run(Operation::Delete, |core| async move {
            let strong = req.consistency == Consistency::Strong;
            let d = check::delete(req, &LIMITS)?;
            Self::write_one(&core, Op::Delete(d), strong)
                .await
                .map(drop)
        })
        .await
    }

    async fn bulk_get(&self, reqs: Vec<GetRequest>) -> Result<Vec<KeyResult<Option<Item>>>> {
        let op = Operation::BulkGet;
        self.run(op, |core| async move {
            // Each key is checked once, into its result; the keys move into
            // the results once the read, which borrows them, is done.
            let mut keys = Vec::with_capacity(reqs.len());
            let mut out = Vec::with_capacity(reqs.len());
            // Where the j-th valid key's result is in `out`.
            let mut valid_at = Vec::with_capacity(reqs.len());
            for r in reqs {
                let ok = check::get(&r, &LIMITS);
                if ok.is_ok() {
                    valid_at.push(out.len());
                }
                out.push(KeyResult {
                    key: String::new(),
                    result: ok.map(|()| None).map_err(|e| e.context(NAME, op)),
                });
                keys.push(r.key);
            }
            let valid: Vec<&str> = valid_at.iter().map(|&i| keys[i].as_str()).collect();
            core.get_many(&valid, |j, r| {
                out[valid_at[j]].result =
                    r.map_err(|e| e.with_key(valid[j].to_owned()).context(NAME, op));
            })
            .await?;
            drop(valid);
            for (result, key) in out.iter_mut().zip(keys) {
                result.key = key;
            }
            Ok(out)
        })
        .await
    }

    async fn bulk_set(&self, reqs: Vec<SetRequest>) -> Result<Vec<KeyResult<Option<ETag>>>> {
        let checked = reqs.into_iter().map(|r| {
            let strong = r.consistency == Consistency::Strong;
            let key = r.key.clone();
            let w = check::write(r, &LIMITS).and_then(|w| check_write(&w).map(|()| w));
            (key, w.map(Op::Write), strong)
        });
        self.bulk_write(Operation::BulkSet, checked.collect(), |e| e)
            .await
    }

    async fn bulk_delete(&self, reqs: Vec<DeleteRequest>) -> Result<Vec<KeyResult<()>>> {
        let checked = reqs.into_iter().map(|r| {
            let strong = r.consistency == Consistency::Strong;
            let key = r.key.clone();
            (key, check::delete(r, &LIMITS).map(Op::Delete), strong)
        });
        self.bulk_write(Operation::BulkDelete, checked.collect(), drop)
            .await
    }

    async fn ping(&self) -> Result<()> {
        self.run(Operation::Ping, |core| async move { core.ping().await })
            .await
    }

    async fn close(&self) -> Result<()> {
        // Dropping the last handle closes the connections; calls in flight
        // hold their own handle and finish first.
        self.core.close();
        Ok(())
    }

    async fn transact(&self, req: TransactRequest) -> Result<Vec<Option<ETag>>> {
        self.run(Operation::Transact, |core| async move {
            // Malformed etags travel to the script, which stops at the first
            // failing operation in order, whichever way it fails.
            let ops = check::transaction(req, &LIMITS)?;
            if ops.is_empty() {
                return Ok(Vec::new());
            }
            for op in &ops {
                if let Op::Write(w) = op {
                    check_write(w)?;
                }
            }
            let v = versions(&ops);
            let etags = |v: Vec<ETag>| {
                ops.iter()
                    .zip(v)
                    .map(|(o, v)| matches!(o, Op::Write(_)).then_some(v))
                    .collect()
            };
            if let Some(pipe) = core.plain_transaction(&ops, &v)? {
                core.send_plain(pipe).await?;
                return Ok(etags(v));
            }
            match core.write(core.write_cmd(&ops, &v)?, false).await? {
                None => Ok(etags(v)),
                Some(i) => Err(mismatch(&ops[i]).in_transaction(i)),
            }
        })
        .await
    }

    async fn delete_with_prefix(&self, req: DeleteWithPrefixRequest) -> Result<u64> {
        self.run(Operation::DeleteWithPrefix, |core| async move {
            let prefix = check::prefix(&req.prefix)?;
            let names: Vec<String> = core
                .scan(&core.layout.scan_pattern(&prefix))
                .await?
                .into_iter()
                .filter(|n| check::is_direct_child(core.layout.user_key(n), &prefix))
                .collect();
            core.delete_names(&names).await
        })
        .await
    }

    async fn keys_like(&self, req: KeysLikeRequest) -> Result<KeysPage> {
        self.run(Operation::KeysLike, |core| async move {
            let pattern = check::keys_like(&req)?;
            let after = req
                .token
                .as_deref()
                .map(token::parse_page_token)
                .transpose()?;
            let names = core
                .scan(&core.layout.scan_pattern(&pattern.literal_prefix()))
                .await?;
            let mut keys: Vec<String> = names
                .iter()
                .map(|n| core.layout.user_key(n))
                .filter(|k| after.as_deref().is_none_or(|a| *k > a) && pattern.matches(k))
                .map(str::to_owned)
                .collect();
            keys.sort_unstable();
            keys.dedup();
            Ok(token::page(keys, req.page_size))
        })
        .await
    }

    async fn query(&self, _req: QueryRequest) -> Result<QueryResponse> {
        Err(Error::not_supported(NAME, Operation::Query))
    }
}
