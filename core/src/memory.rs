//! `state.in-memory`: the reference implementation of the whole contract,
//! and the oracle the model-based tests compare every other store with.
//!
//! Everything happens under one lock, so every operation is atomic and the
//! rules are easy to read. Etags are decimal numbers from a process-wide
//! counter, so an etag is never reused, not even after a delete; anything
//! that is not a decimal number is `ETagInvalid`.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;

use crate::baseline::{self, MapBaseline};
use crate::capabilities::{Capabilities, Features, Limits};
use crate::check::{self, Condition, Op, Write};
use crate::error::{Error, Operation, Result};
use crate::properties::{Properties, Property};
use crate::query::{self, QueryItem, QueryResponse};
use crate::registry::Registration;
use crate::request::{
    DeleteRequest, DeleteWithPrefixRequest, GetRequest, KeysLikeRequest, QueryRequest, SetRequest,
    TransactRequest,
};
use crate::response::{Item, KeyResult, KeysPage, per_key};
use crate::store::Store;
use crate::token;
use crate::types::ETag;

/// The type name.
pub const NAME: &str = "state.in-memory";

/// Longest key, in bytes; none by default.
pub const MAX_KEY_LENGTH: Property =
    Property::new("maxKeyLength", "Longest key in bytes; 0 for no limit.").with_default("0");
/// Most operations in one transaction; none by default.
pub const MAX_TRANSACTION_OPERATIONS: Property = Property::new(
    "maxTransactionOperations",
    "Most operations in one transaction; 0 for no limit.",
)
.with_default("0");

/// Every property of the in-memory store.
pub const PROPERTIES: &[Property] = &[MAX_KEY_LENGTH, MAX_TRANSACTION_OPERATIONS];

/// What the in-memory store offers: everything.
pub const FEATURES: Features = Features::ALL;

/// How `state.in-memory` is registered.
pub const REGISTRATION: Registration = Registration::new(NAME, |_| Box::new(MemoryStore::new()))
    .features(FEATURES)
    .properties(PROPERTIES)
    .summary("In-process map: the reference implementation of the contract; nothing is persisted.")
    .baseline(baseline::open::<MapBaseline>);

crate::register_store!(REGISTRATION);

static NEXT_ETAG: AtomicU64 = AtomicU64::new(1);

fn next_etag() -> u64 {
    NEXT_ETAG.fetch_add(1, Ordering::Relaxed)
}

#[derive(Clone)]
struct Entry {
    value: Bytes,
    etag: u64,
    content_type: Option<String>,
    expires_at: Option<SystemTime>,
}

impl Entry {
    fn live(&self, now: SystemTime) -> bool {
        self.expires_at.is_none_or(|t| t > now)
    }

    fn item(&self) -> Item {
        Item {
            value: self.value.clone(),
            etag: Some(etag_text(self.etag)),
            content_type: self.content_type.clone(),
            expires_at: self.expires_at,
            metadata: Default::default(),
        }
    }
}

#[derive(Default)]
struct State {
    map: BTreeMap<String, Entry>,
    writes_since_sweep: u32,
}

/// Reads a key's live entry from the staged changes of a transaction first,
/// then from the map.
fn current<'a>(
    map: &'a BTreeMap<String, Entry>,
    staged: &'a BTreeMap<String, Option<Entry>>,
    key: &str,
    now: SystemTime,
) -> Option<&'a Entry> {
    match staged.get(key) {
        Some(staged) => staged.as_ref(),
        None => map.get(key),
    }
    .filter(|e| e.live(now))
}

/// An etag's text: its decimal number.
fn etag_text(etag: u64) -> ETag {
    ETag::format(format_args!("{etag}"))
}

fn parse_etag(etag: &ETag) -> Result<u64> {
    let s = etag.as_str();
    // Exactly the form `to_string` writes, so two spellings never match.
    let canonical = !s.is_empty()
        && s.len() <= 20
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'));
    if !canonical {
        return Err(Error::etag_invalid(format!(
            "{:?} is not an etag of this store (decimal numbers)",
            token::cut(s)
        )));
    }
    s.parse()
        .map_err(|_| Error::etag_invalid(format!("{s:?} is out of range")))
}

/// Checks a condition against the live entry (`None` when absent).
fn admit(condition: &Condition, live: Option<&Entry>) -> Result<()> {
    match (condition, live) {
        (Condition::Always, _) => Ok(()),
        (Condition::IfAbsent, None) => Ok(()),
        (Condition::IfAbsent, Some(_)) => Err(Error::etag_mismatch(
            "first-write without etag: the key already exists",
        )),
        (Condition::IfMatch(etag), entry) => {
            let wanted = parse_etag(etag)?;
            match entry {
                None => Err(Error::etag_mismatch("the key does not exist")),
                Some(e) if e.etag != wanted => {
                    Err(Error::etag_mismatch("the etag is not the current one"))
                }
                Some(_) => Ok(()),
            }
        }
    }
}

/// The in-memory store.
pub struct MemoryStore {
    state: Mutex<State>,
    limits: Limits,
    closed: AtomicBool,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store without limits, ready to use (init is optional).
    pub fn new() -> Self {
        MemoryStore {
            state: Mutex::new(State::default()),
            limits: Limits::default(),
            closed: AtomicBool::new(false),
        }
    }

    /// An empty store with these limits (e.g. to mirror another store's).
    pub fn with_limits(limits: Limits) -> Self {
        MemoryStore {
            limits,
            ..Self::new()
        }
    }

    fn lock(&self, op: Operation) -> Result<MutexGuard<'_, State>> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::invalid("the store is closed").context(NAME, op));
        }
        // A panic while holding the lock cannot leave the map half-written
        // (every change is built first and applied in one step), so a
        // poisoned lock is safe to keep using.
        Ok(self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Applies `f` to each request in order under one lock: one outcome per
    /// request, a failure never stopping the others (bulk semantics).
    fn each<R, T>(
        &self,
        op: Operation,
        reqs: Vec<R>,
        key: impl Fn(&R) -> &str,
        mut f: impl FnMut(&mut State, R, SystemTime) -> Result<T>,
    ) -> Result<Vec<KeyResult<T>>> {
        let now = SystemTime::now();
        let mut state = self.lock(op)?;
        Ok(per_key(NAME, op, reqs, key, |req| f(&mut state, req, now)))
    }

    fn write_entry(state: &mut State, w: Write, now: SystemTime) -> Result<ETag> {
        let live = state.map.get(&w.key).filter(|e| e.live(now));
        admit(&w.condition, live)?;
        let etag = next_etag();
        let expires_at = w
            .ttl_seconds()
            .map(|s| now + Duration::from_secs(u64::from(s)));
        state.map.insert(
            w.key,
            Entry {
                value: w.value,
                etag,
                content_type: w.content_type,
                expires_at,
            },
        );
        state.note_write(now);
        Ok(etag_text(etag))
    }

    fn delete_entry(
        state: &mut State,
        key: &str,
        condition: &Condition,
        now: SystemTime,
    ) -> Result<()> {
        let live = state.map.get(key).filter(|e| e.live(now));
        admit(condition, live)?;
        state.map.remove(key);
        Ok(())
    }
}

impl State {
    /// Expired entries are invisible at once; this only frees their memory,
    /// every 1,024 writes.
    fn note_write(&mut self, now: SystemTime) {
        self.writes_since_sweep += 1;
        if self.writes_since_sweep >= 1024 {
            self.writes_since_sweep = 0;
            self.map.retain(|_, e| e.live(now));
        }
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn init(&mut self, properties: &Properties) -> Result<()> {
        let r = properties.reader(NAME);
        let limit = |p: &Property| -> Result<Option<usize>> {
            Ok(r.parse::<usize>(p, "a non-negative integer")?
                .filter(|n| *n > 0))
        };
        self.limits.max_key_len = limit(&MAX_KEY_LENGTH)?;
        self.limits.max_transaction_ops = limit(&MAX_TRANSACTION_OPERATIONS)?;
        Ok(())
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            features: FEATURES,
            limits: self.limits,
        }
    }

    async fn get(&self, req: GetRequest) -> Result<Option<Item>> {
        let op = Operation::Get;
        check::get(&req, &self.limits).map_err(|e| e.context(NAME, op))?;
        let now = SystemTime::now();
        let state = self.lock(op)?;
        Ok(state
            .map
            .get(&req.key)
            .filter(|e| e.live(now))
            .map(Entry::item))
    }

    async fn set(&self, req: SetRequest) -> Result<Option<ETag>> {
        let op = Operation::Set;
        let key = req.key.clone();
        let w = check::write(req, &self.limits).map_err(|e| e.context(NAME, op))?;
        let mut state = self.lock(op)?;
        Self::write_entry(&mut state, w, SystemTime::now())
            .map(Some)
            .map_err(|e| e.with_key(key).context(NAME, op))
    }

    async fn delete(&self, req: DeleteRequest) -> Result<()> {
        let op = Operation::Delete;
        let d = check::delete(req, &self.limits).map_err(|e| e.context(NAME, op))?;
        let mut state = self.lock(op)?;
        Self::delete_entry(&mut state, &d.key, &d.condition, SystemTime::now())
            .map_err(|e| e.with_key(d.key).context(NAME, op))
    }

    async fn bulk_get(&self, reqs: Vec<GetRequest>) -> Result<Vec<KeyResult<Option<Item>>>> {
        self.each(
            Operation::BulkGet,
            reqs,
            |r| &r.key,
            |state, req, now| {
                check::get(&req, &self.limits)?;
                Ok(state
                    .map
                    .get(&req.key)
                    .filter(|e| e.live(now))
                    .map(Entry::item))
            },
        )
    }

    async fn bulk_set(&self, reqs: Vec<SetRequest>) -> Result<Vec<KeyResult<Option<ETag>>>> {
        self.each(
            Operation::BulkSet,
            reqs,
            |r| &r.key,
            |state, req, now| {
                let w = check::write(req, &self.limits)?;
                Self::write_entry(state, w, now).map(Some)
            },
        )
    }

    async fn bulk_delete(&self, reqs: Vec<DeleteRequest>) -> Result<Vec<KeyResult<()>>> {
        self.each(
            Operation::BulkDelete,
            reqs,
            |r| &r.key,
            |state, req, now| {
                let d = check::delete(req, &self.limits)?;
                Self::delete_entry(state, &d.key, &d.condition, now)
            },
        )
    }

    async fn ping(&self) -> Result<()> {
        self.lock(Operation::Ping).map(drop)
    }

    async fn close(&self) -> Result<()> {
        if !self.closed.swap(true, Ordering::AcqRel) {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            state.map.clear();
        }
        Ok(())
    }

    async fn transact(&self, req: TransactRequest) -> Result<Vec<Option<ETag>>> {
        let op = Operation::Transact;
        let ops = check::transaction(req, &self.limits).map_err(|e| e.context(NAME, op))?;
        let now = SystemTime::now();
        let mut state = self.lock(op)?;
        // Stage every change, checking each condition against the state the
        // earlier operations left; apply only when all of them passed.
        let mut staged: BTreeMap<String, Option<Entry>> = BTreeMap::new();
        let mut etags = Vec::with_capacity(ops.len());
        for (i, o) in ops.into_iter().enumerate() {
            let key = o.key().to_owned();
            let live = current(&state.map, &staged, &key, now);
            admit(o.condition(), live).map_err(|e| {
                Error::new(e.kind(), format!("operation {i}: {}", e.message()))
                    .with_key(key.clone())
                    .context(NAME, op)
            })?;
            match o {
                Op::Write(w) => {
                    let etag = next_etag();
                    let expires_at = w
                        .ttl_seconds()
                        .map(|s| now + Duration::from_secs(u64::from(s)));
                    staged.insert(
                        key,
                        Some(Entry {
                            value: w.value,
                            etag,
                            content_type: w.content_type,
                            expires_at,
                        }),
                    );
                    etags.push(Some(etag_text(etag)));
                }
                Op::Delete(_) => {
                    staged.insert(key, None);
                    etags.push(None);
                }
            }
        }
        for (key, entry) in staged {
            match entry {
                Some(e) => {
                    state.map.insert(key, e);
                    state.note_write(now);
                }
                None => {
                    state.map.remove(&key);
                }
            }
        }
        Ok(etags)
    }

    async fn delete_with_prefix(&self, req: DeleteWithPrefixRequest) -> Result<u64> {
        let op = Operation::DeleteWithPrefix;
        let prefix = check::prefix(&req.prefix).map_err(|e| e.context(NAME, op))?;
        let now = SystemTime::now();
        let mut state = self.lock(op)?;
        let doomed: Vec<(String, bool)> = state
            .map
            .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(k, _)| check::is_direct_child(k, &prefix))
            .map(|(k, e)| (k.clone(), e.live(now)))
            .collect();
        let mut count = 0;
        for (key, live) in doomed {
            state.map.remove(&key);
            count += u64::from(live);
        }
        Ok(count)
    }

    async fn keys_like(&self, req: KeysLikeRequest) -> Result<KeysPage> {
        let op = Operation::KeysLike;
        let pattern = check::keys_like(&req).map_err(|e| e.context(NAME, op))?;
        let after = match &req.token {
            Some(t) => Some(token::parse_page_token(t).map_err(|e| e.context(NAME, op))?),
            None => None,
        };
        let now = SystemTime::now();
        let state = self.lock(op)?;
        let start = match &after {
            Some(k) => Bound::Excluded(k.as_str()),
            None => Bound::Unbounded,
        };
        let limit = req.page_size.map_or(usize::MAX, |n| n as usize);
        let keys: Vec<String> = state
            .map
            .range::<str, _>((start, Bound::Unbounded))
            .filter(|(k, e)| e.live(now) && pattern.matches(k))
            .map(|(k, _)| k.clone())
            .take(limit.saturating_add(1))
            .collect();
        Ok(token::page(keys, req.page_size))
    }

    async fn query(&self, req: QueryRequest) -> Result<QueryResponse> {
        let op = Operation::Query;
        let q = req.query;
        q.check().map_err(|e| e.context(NAME, op))?;
        let after = match &q.page.token {
            Some(t) => Some(query::parse_page_token(t, &q.sort).map_err(|e| e.context(NAME, op))?),
            None => None,
        };
        let now = SystemTime::now();
        // Matching documents, copied out so the lock is not held while sorting.
        let docs: Vec<(String, Bytes, u64, serde_json::Value)> = {
            let state = self.lock(op)?;
            state
                .map
                .iter()
                .filter(|(_, e)| e.live(now))
                .filter(|(k, _)| req.key_prefix.as_ref().is_none_or(|p| k.starts_with(p)))
                .filter_map(|(k, e)| {
                    // Values that are not JSON never match and never fail a query.
                    let doc = serde_json::from_slice(&e.value).ok()?;
                    Some((k.clone(), e.value.clone(), e.etag, doc))
                })
                .filter(|(_, _, _, doc)| q.filter.as_ref().is_none_or(|f| f.matches(doc)))
                .collect()
        };
        // Each document's sort values, looked up once rather than per comparison.
        let mut ranked: Vec<_> = docs
            .iter()
            .map(|d| (query::sort_values(&q.sort, &d.3), d))
            .collect();
        ranked.sort_by(|a, b| query::result_order(&q.sort, (&a.0, &a.1.0), (&b.0, &b.1.0)));
        if let Some((values, key)) = &after {
            let values: Vec<Option<&serde_json::Value>> =
                values.iter().map(Option::as_ref).collect();
            ranked
                .retain(|(vd, d)| query::result_order(&q.sort, (vd, &d.0), (&values, key)).is_gt());
        }
        let limit = q
            .page
            .limit
            .filter(|n| *n > 0)
            .map_or(usize::MAX, |n| n as usize);
        let token = (ranked.len() > limit).then(|| {
            let (values, last) = &ranked[limit - 1];
            query::page_token(values, &last.0)
        });
        let results = ranked
            .iter()
            .take(limit)
            .map(|(_, (key, value, etag, _))| QueryItem {
                key: key.clone(),
                value: value.clone(),
                etag: Some(etag_text(*etag)),
                error: None,
            })
            .collect();
        Ok(QueryResponse {
            results,
            token,
            metadata: Default::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[tokio::test]
    async fn etags_are_never_reused_after_delete() {
        let s = MemoryStore::new();
        let e1 = s.set(SetRequest::new("k", "a")).await.unwrap().unwrap();
        s.delete(DeleteRequest::new("k")).await.unwrap();
        let e2 = s.set(SetRequest::new("k", "a")).await.unwrap().unwrap();
        assert_ne!(e1, e2);
        let stale = s.set(SetRequest::new("k", "b").etag(e1)).await.unwrap_err();
        assert_eq!(stale.kind(), ErrorKind::ETagMismatch);
        let bad = s
            .set(SetRequest::new("k", "b").etag("x1"))
            .await
            .unwrap_err();
        assert_eq!(bad.kind(), ErrorKind::ETagInvalid);
        assert_eq!(bad.store(), Some(NAME));
        assert_eq!(bad.key(), Some("k"));
    }

    #[tokio::test]
    async fn transaction_sees_its_own_earlier_operations() {
        let s = MemoryStore::new();
        let etags = s
            .transact(TransactRequest::new([
                crate::TransactionOp::Set(SetRequest::new("k", "1").first_write()),
                crate::TransactionOp::Set(SetRequest::new("k", "2").first_write()),
            ]))
            .await;
        assert_eq!(etags.unwrap_err().kind(), ErrorKind::ETagMismatch);
        assert!(s.get(GetRequest::new("k")).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn query_pages_resume_after_the_last_result() {
        let s = MemoryStore::new();
        for (k, n) in [("b", 2), ("c", 3), ("d", 4)] {
            s.set(SetRequest::json(k, &serde_json::json!({ "n": n })).unwrap())
                .await
                .unwrap();
        }
        let q = |token: Option<String>| {
            let mut q =
                crate::Query::from_json(r#"{"sort": [{"key": "n"}], "page": {"limit": 2}}"#)
                    .unwrap();
            q.page.token = token;
            QueryRequest::new(q)
        };
        let first = s.query(q(None)).await.unwrap();
        let keys = |r: &QueryResponse| r.results.iter().map(|i| i.key.clone()).collect::<Vec<_>>();
        assert_eq!(keys(&first), ["b", "c"]);
        // A result inserted before the cursor neither shifts nor repeats the rest.
        s.set(SetRequest::json("a", &serde_json::json!({ "n": 1 })).unwrap())
            .await
            .unwrap();
        let second = s.query(q(first.token)).await.unwrap();
        assert_eq!(keys(&second), ["d"]);
        assert!(second.token.is_none());
        let mut zero = crate::Query::default();
        zero.page.limit = Some(0);
        assert_eq!(
            s.query(QueryRequest::new(zero))
                .await
                .unwrap()
                .results
                .len(),
            4
        );
    }

    #[tokio::test]
    async fn closed_store_refuses_calls() {
        let s = MemoryStore::new();
        s.close().await.unwrap();
        s.close().await.unwrap();
        assert!(s.ping().await.is_err());
    }
}
