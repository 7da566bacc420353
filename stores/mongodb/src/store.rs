//! The store: the contract on [`Core`]'s driver calls.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use statestore_core::bulk::BulkGet;
use statestore_core::check::{self, Condition, Op};
use statestore_core::handle::Handle;
use statestore_core::like::{LikePattern, LikeToken};
use statestore_core::{
    Capabilities, DeleteRequest, DeleteWithPrefixRequest, ETag, Error, ErrorKind, Feature,
    Features, GetRequest, Item, KeyResult, KeysLikeRequest, KeysPage, Limits, Operation,
    Properties, QueryRequest, QueryResponse, Registration, Result, SetRequest, Store,
    TransactRequest, register_store, token,
};

use crate::NAME;
use crate::config::{Config, PROPERTIES};
use crate::core::{self as driver, Core, Statement};
use crate::layout;

/// What every MongoDB deployment offers; `TRANSACTIONAL` comes on top where
/// the deployment runs transactions.
pub const BASE_FEATURES: Features = Features::NONE
    .with(Feature::ETag)
    .with(Feature::Ttl)
    .with(Feature::DeleteWithPrefix)
    .with(Feature::KeysLike)
    .with(Feature::QueryApi);

/// The most the type offers (on a replica set or a sharded cluster).
pub const FEATURES: Features = BASE_FEATURES.with(Feature::Transactional);

/// Most operations in one transaction.
pub const MAX_TRANSACTION_OPS: usize = 1000;
/// Most statements in one command (and keys in one `$in`); commands are
/// also kept under MongoDB's 16 MiB.
pub const MAX_BULK_BATCH: usize = driver::MAX_STATEMENTS;
/// Longest key, in bytes.
pub const MAX_KEY_LEN: usize = 64 * 1024;
/// Largest value: a document holds at most 16 MiB, and a JSON value may be
/// kept twice (as a document and as its exact bytes).
pub const MAX_VALUE_LEN: usize = 7 * 1024 * 1024;

/// The limits of every instance.
pub const LIMITS: Limits = Limits {
    max_transaction_ops: Some(MAX_TRANSACTION_OPS),
    max_bulk_batch: Some(MAX_BULK_BATCH),
    max_key_len: Some(MAX_KEY_LEN),
    max_value_len: Some(MAX_VALUE_LEN),
};

/// How `state.mongodb` is registered (also reachable without `inventory`).
pub const REGISTRATION: Registration = Registration::new(NAME, |_| Box::new(MongoStore::new()))
    .features(FEATURES)
    .properties(PROPERTIES)
    .summary(
        "MongoDB collection in Dapr's layout; transactions on a replica set or sharded cluster.",
    )
    .baseline(statestore_core::baseline::open::<crate::baseline::MongoBaseline>);

register_store!(REGISTRATION);

/// The MongoDB state store.
#[derive(Default)]
pub struct MongoStore {
    core: Handle<Core>,
    config: Option<Config>,
}

/// The error of a statement that failed: the condition's own message for a
/// mismatch, the etag check's for a malformed etag, and the key in every
/// case.
fn refused(op: Option<&Op>, e: Error, key: &str) -> Error {
    match (e.kind(), op) {
        (ErrorKind::ETagMismatch, Some(op)) => check::mismatch(op),
        (ErrorKind::ETagInvalid, Some(op)) => match op.condition() {
            Condition::IfMatch(etag) => layout::check_etag(etag).err().unwrap_or(e),
            _ => e,
        }
        .with_key(key.to_owned()),
        _ => e.with_key(key.to_owned()),
    }
}

/// The statement of a checked operation, with the etag a write will have.
/// A malformed etag makes a statement that fails in its place.
fn statement(op: &Op) -> Result<(Statement, Option<ETag>)> {
    if let Condition::IfMatch(e) = op.condition()
        && layout::check_etag(e).is_err()
    {
        return Ok((driver::malformed_statement(op.key())?, None));
    }
    Ok(match op {
        Op::Write(w) => {
            let stored = layout::encode(&w.value);
            let (s, etag) = driver::set_statement(
                &w.key,
                &w.condition,
                stored,
                w.ttl_seconds(),
                w.content_type.as_deref(),
            )?;
            (s, Some(ETag::new(etag)))
        }
        Op::Delete(d) => (driver::delete_statement(&d.key, &d.condition)?, None),
    })
}

/// The anchored regular expression of a LIKE pattern.
fn like_regex(pattern: &LikePattern) -> String {
    let mut out = String::from("^");
    for t in pattern.tokens() {
        match t {
            LikeToken::Any => out.push_str(".*"),
            LikeToken::One => out.push('.'),
            LikeToken::Char(c) => out.push_str(&driver::escape(&c.to_string())),
        }
    }
    out.push_str(r"\z");
    out
}

/// The longest regular expression MongoDB takes is 32 KiB: longer keys-like
/// patterns and delete-with-prefix prefixes are refused before sending.
const MAX_REGEX: usize = 32 * 1024 - 64;

/// Refuses a regular expression MongoDB would refuse as too large.
fn short_enough(what: &str, regex: &str) -> Result<()> {
    if regex.len() > MAX_REGEX {
        return Err(Error::invalid(format!(
            "the {what} is too long: MongoDB matches it as a regular expression of {} bytes, more than its limit of 32 KiB",
            regex.len()
        )));
    }
    Ok(())
}

impl MongoStore {
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
        let limit = core.timeout();
        tokio::time::timeout(limit, f(core))
            .await
            .unwrap_or_else(|_| Err(timed_out(limit)))
            .map_err(|e| e.context(NAME, op))
    }

    /// Bulk writes: rounds of distinct keys (a key's operations keep their
    /// order), each sent as commands of many statements; one outcome per
    /// request, in order.
    async fn bulk_write<T: Send>(
        &self,
        name: Operation,
        checked: Vec<(String, Result<Op>)>,
        map: impl Fn(Option<ETag>) -> T + Send,
    ) -> Result<Vec<KeyResult<T>>> {
        self.run(name, |core| async move {
            let mut keys = Vec::with_capacity(checked.len());
            let mut ops: Vec<Option<Op>> = Vec::with_capacity(checked.len());
            let mut outcomes: Vec<Option<Result<Option<ETag>>>> = Vec::with_capacity(checked.len());
            let mut etags: Vec<Option<ETag>> = Vec::with_capacity(checked.len());
            let mut rounds: Vec<Vec<(usize, Statement)>> = Vec::new();
            let mut seen: HashMap<String, usize> = HashMap::new();
            for (i, (key, op)) in checked.into_iter().enumerate() {
                let prepared = op.and_then(|op| statement(&op).map(|(s, e)| (op, s, e)));
                match prepared {
                    Err(e) => {
                        outcomes.push(Some(Err(e)));
                        etags.push(None);
                        ops.push(None);
                    }
                    Ok((op, s, etag)) => {
                        let round = seen.entry(key.clone()).or_insert(0);
                        if rounds.len() <= *round {
                            rounds.push(Vec::new());
                        }
                        rounds[*round].push((i, s));
                        *round += 1;
                        outcomes.push(None);
                        etags.push(etag);
                        ops.push(Some(op));
                    }
                }
                keys.push(key);
            }
            for round in rounds {
                // Core::write splits the round into commands that fit.
                let statements: Vec<&Statement> = round.iter().map(|(_, s)| s).collect();
                let answers = core.write(&statements, false, None).await?;
                for ((i, _), answer) in round.iter().zip(answers) {
                    outcomes[*i] = Some(match answer {
                        Some(Ok(())) => Ok(etags[*i].clone()),
                        Some(Err(e)) => Err(refused(ops[*i].as_ref(), e, &keys[*i])),
                        None => Err(Error::backend("the statement was not run")),
                    });
                }
            }
            Ok(keys
                .into_iter()
                .zip(outcomes)
                .map(|(key, outcome)| KeyResult {
                    key,
                    result: outcome
                        .unwrap_or_else(|| Err(Error::backend("the statement was not run")))
                        .map(&map)
                        .map_err(|e| e.context(NAME, name)),
                })
                .collect())
        })
        .await
    }

    /// One write or delete, as a batch of one.
    async fn write_one(&self, name: Operation, op: Result<Op>) -> Result<Option<ETag>> {
        self.run(name, |core| async move {
            let op = op?;
            let (s, etag) = statement(&op)?;
            let answer = core
                .write(&[&s], true, None)
                .await
                .map_err(|e| e.with_key(op.key().to_owned()))?
                .pop()
                .flatten();
            match answer {
                Some(Ok(())) => Ok(etag),
                Some(Err(e)) => Err(refused(Some(&op), e, op.key())),
                None => Err(Error::backend("the write was not run")),
            }
        })
        .await
    }
}

fn timed_out(limit: std::time::Duration) -> Error {
    Error::timeout(format!("no answer within {limit:?} (operationTimeout)"))
}

#[async_trait]
impl Store for MongoStore {
    async fn init(&mut self, properties: &Properties) -> Result<()> {
        let op = Operation::Init;
        if self.config.is_some() {
            return Err(Error::invalid("the store is already initialised").context(NAME, op));
        }
        let config = Config::from_properties(properties)?;
        let limit = config.timeout;
        let core = tokio::time::timeout(limit, Core::connect(&config))
            .await
            .unwrap_or_else(|_| Err(timed_out(limit)))
            .map_err(|e| e.context(NAME, op))?;
        if !core.transactions {
            tracing::info!(
                store = NAME,
                "the deployment is not a replica set or sharded cluster: no transactions, and no actor state"
            );
        }
        self.core.open(core);
        self.config = Some(config);
        Ok(())
    }

    fn capabilities(&self) -> Capabilities {
        let transactions = self.core.current().is_some_and(|c| c.transactions);
        Capabilities {
            features: if transactions {
                FEATURES
            } else {
                BASE_FEATURES
            },
            limits: LIMITS,
        }
    }

    async fn get(&self, req: GetRequest) -> Result<Option<Item>> {
        self.run(Operation::Get, |core| async move {
            check::get(&req, &LIMITS)?;
            core.find_one(&req.key)
                .await
                .map_err(|e| e.with_key(req.key))
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
            // Each document's item goes to its key's position, found from
            // the borrowed `_id`.
            let mut found = bulk.found();
            // `$in` lists of at most 8 MiB: a command is one document of
            // at most 16 MiB.
            for chunk in driver::runs(&keys, MAX_BULK_BATCH, 8 << 20, String::len) {
                core.find(chunk, |doc| {
                    if let Some(k) = doc.id {
                        found.put(k, || doc.item());
                    }
                })
                .await?;
            }
            let found = found.into_items();
            Ok(bulk.answer_found(found, NAME, op))
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
        let core = self.core.close();
        if let Some(core) = core {
            core.close().await;
        }
        Ok(())
    }

    async fn transact(&self, req: TransactRequest) -> Result<Vec<Option<ETag>>> {
        let op = Operation::Transact;
        self.run(op, |core| async move {
            if !core.transactions {
                return Err(Error::not_supported(NAME, op).map_message(|m| {
                    format!("{m}: transactions need a replica set or a sharded cluster")
                }));
            }
            let ops = check::transaction(req, &LIMITS)?;
            let mut statements = Vec::with_capacity(ops.len());
            let mut etags = Vec::with_capacity(ops.len());
            for (i, op) in ops.iter().enumerate() {
                let (s, etag) = statement(op).map_err(|e| e.in_transaction(i))?;
                statements.push(s);
                etags.push(etag);
            }
            let outcomes = core.transact(&statements).await?;
            for (i, outcome) in outcomes.into_iter().enumerate() {
                match outcome {
                    Some(Ok(())) => {}
                    Some(Err(e)) => {
                        return Err(refused(Some(&ops[i]), e, ops[i].key()).in_transaction(i));
                    }
                    None => break,
                }
            }
            Ok(etags)
        })
        .await
    }

    async fn delete_with_prefix(&self, req: DeleteWithPrefixRequest) -> Result<u64> {
        self.run(Operation::DeleteWithPrefix, |core| async move {
            let prefix = check::prefix(&req.prefix)?;
            short_enough("prefix", &driver::children_regex(&prefix))?;
            core.delete_children(&prefix).await
        })
        .await
    }

    async fn keys_like(&self, req: KeysLikeRequest) -> Result<KeysPage> {
        self.run(Operation::KeysLike, |core| async move {
            let pattern = check::keys_like(&req)?;
            let after = match &req.token {
                Some(t) => token::parse_page_token(t)?,
                None => String::new(),
            };
            let limit = req.page_size.map(|n| i64::from(n) + 1);
            let regex = like_regex(&pattern);
            short_enough("pattern", &regex)?;
            let keys = core.keys(&regex, &after, limit).await?;
            Ok(token::page(keys, req.page_size))
        })
        .await
    }

    async fn query(&self, req: QueryRequest) -> Result<QueryResponse> {
        self.run(Operation::Query, |core| async move {
            crate::query::run(&core, &req).await
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_become_anchored_regexes() {
        let r = |p: &str| like_regex(&LikePattern::parse(p).unwrap());
        assert_eq!(r("a%b_c"), r"^a.*b.c\z");
        assert_eq!(r(r"50\%.*"), r"^50\%\.\*\z");
        assert_eq!(r("x||(y)"), r"^x\|\|\(y\)\z");
    }
}
