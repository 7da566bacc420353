//! The reference store with one flaw: each is a bug a store author makes,
//! or one that Dapr's own stores or their backends have. A flaw changes
//! one path and leaves the others right, so the suite must check that path.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use statestore_core::check::{self, Condition};
use statestore_core::like::LikePattern;
use statestore_core::{
    Capabilities, Concurrency, DeleteRequest, DeleteWithPrefixRequest, ETag, Error, GetRequest,
    Item, KeyResult, KeysLikeRequest, KeysPage, Limits, MemoryStore, Operation, Properties,
    QueryItem, QueryRequest, QueryResponse, Result, SetRequest, Store, TransactRequest,
    TransactionOp, Ttl, async_trait,
};

use crate::flaw::Flaw;
use crate::query;

/// What a flawed store remembers of a key written with a ttl, so that it
/// can show it after it expired, as a backend that does not filter expired
/// rows would.
#[derive(Clone)]
struct Written {
    item: Item,
    expires: SystemTime,
}

/// The reference store with one flaw.
pub struct Broken {
    inner: MemoryStore,
    flaw: Flaw,
    name: &'static str,
    /// Keys written with a ttl (for the `Expired*` flaws).
    written: Mutex<HashMap<String, Written>>,
    /// Per key: writes in the current life and the inner etag (for
    /// `EtagsRestartAfterDelete`).
    lives: Mutex<HashMap<String, (u64, ETag)>>,
    closed: AtomicBool,
}

/// An etag the reference store never issues but takes as well-formed.
const NEVER_ISSUED: &str = "0";

impl Broken {
    /// A boxed store named `name` with `flaw`.
    pub fn boxed(name: &'static str, flaw: Flaw) -> Box<dyn Store> {
        Box::new(Broken {
            inner: MemoryStore::new(),
            flaw,
            name,
            written: Mutex::default(),
            lives: Mutex::default(),
            closed: AtomicBool::new(false),
        })
    }

    fn mismatch(&self, op: Operation, key: &str) -> Error {
        Error::etag_mismatch("the condition does not hold")
            .with_key(key)
            .context(self.name, op)
    }

    /// What a call does while the backend is "down".
    async fn gate(&self) -> Result<()> {
        match self.flaw {
            Flaw::Switched(down) if down.load(Ordering::SeqCst) => {
                Err(Error::unavailable("the backend is down").context(self.name, Operation::Get))
            }
            Flaw::HangsWhenDown(down) if down.load(Ordering::SeqCst) => {
                std::future::pending().await
            }
            _ => Ok(()),
        }
    }

    fn key(&self, key: String) -> String {
        match self.flaw {
            Flaw::FoldsKeys => key.to_lowercase().trim_end().to_owned(),
            Flaw::TruncatesLongKeys if key.len() > 1024 => {
                let mut end = 1024;
                while !key.is_char_boundary(end) {
                    end -= 1;
                }
                key[..end].to_owned()
            }
            _ => key,
        }
    }

    fn etag(&self, etag: Option<ETag>) -> Option<ETag> {
        match (self.flaw, etag) {
            (Flaw::LenientEtagSpelling, Some(e)) => {
                let t = e.as_str().trim().trim_start_matches("W/").trim_matches('"');
                let t = t.trim_start_matches('0');
                Some(ETag::new(if t.is_empty() { "0" } else { t }.to_lowercase()))
            }
            (_, e) => e,
        }
    }

    /// A set request as this store's flaw rewrites it, for `path`.
    fn set_req(&self, mut req: SetRequest, path: Operation) -> SetRequest {
        req.key = self.key(req.key);
        req.etag = self.etag(req.etag);
        let unconditional = match self.flaw {
            Flaw::IgnoresEtags => true,
            Flaw::BulkSetIgnoresEtags => path == Operation::BulkSet,
            Flaw::TransactIgnoresFirstWrite => path == Operation::Transact && req.etag.is_none(),
            _ => false,
        };
        if unconditional {
            req.etag = None;
            req.concurrency = Concurrency::LastWrite;
        }
        match self.flaw {
            Flaw::TransactionDropsOpMetadata if path == Operation::Transact => {
                req.metadata.remove("ttlInSeconds");
                req.metadata.remove("contentType");
            }
            Flaw::BulkSetDropsTrailingByte
                if path == Operation::BulkSet && !req.value.is_empty() =>
            {
                req.value = req.value.slice(..req.value.len() - 1);
            }
            Flaw::BulkSetIgnoresInvalidTtl
                if path == Operation::BulkSet && check::ttl(req.ttl, &req.metadata).is_err() =>
            {
                req.metadata.remove("ttlInSeconds");
            }
            Flaw::BulkSetFirstWriteIgnoresEtag
                if path == Operation::BulkSet && req.concurrency == Concurrency::FirstWrite =>
            {
                req.etag = None;
            }
            Flaw::BulkSetDropsContentType if path == Operation::BulkSet => {
                req.content_type = None;
                req.metadata.remove("contentType");
            }
            Flaw::TtlInMillisOverflows => {
                if let Ok(Some(Ttl::Seconds(n))) = check::ttl(req.ttl, &req.metadata) {
                    let millis = (i64::from(n) * 1000) as i32;
                    let wrapped = if millis <= 0 {
                        1
                    } else {
                        (millis / 1000).max(1) as u32
                    };
                    req.metadata.remove("ttlInSeconds");
                    req.ttl = Some(Ttl::Seconds(wrapped));
                }
            }
            Flaw::EtagsRestartAfterDelete => {
                if let Some(e) = req.etag.take() {
                    req.etag = Some(self.inner_etag(&req.key, &e));
                }
            }
            _ => {}
        }
        req
    }

    /// A delete request as this store's flaw rewrites it, for `path`.
    fn delete_req(&self, mut req: DeleteRequest, path: Operation) -> DeleteRequest {
        req.key = self.key(req.key);
        req.etag = self.etag(req.etag);
        let unconditional = match self.flaw {
            Flaw::IgnoresEtags => true,
            Flaw::BulkDeleteIgnoresEtags => path == Operation::BulkDelete,
            Flaw::DeleteIgnoresFirstWrite => path == Operation::Delete && req.etag.is_none(),
            _ => false,
        };
        if unconditional {
            req.etag = None;
            req.concurrency = Concurrency::LastWrite;
        }
        if self.flaw == Flaw::EtagsRestartAfterDelete
            && let Some(e) = req.etag.take()
        {
            req.etag = Some(self.inner_etag(&req.key, &e));
        }
        req
    }

    /// The inner etag an etag of ours stands for (`EtagsRestartAfterDelete`).
    fn inner_etag(&self, key: &str, ours: &ETag) -> ETag {
        let lives = self.lives.lock().unwrap();
        match lives.get(key) {
            Some((n, inner)) if n.to_string() == ours.as_str() => inner.clone(),
            _ => ETag::new(NEVER_ISSUED),
        }
    }

    /// Remembers a successful write of `req`, which returned `etag`; returns
    /// the etag the caller sees.
    fn wrote(&self, req: &SetRequest, etag: Option<ETag>) -> Option<ETag> {
        let ttl = check::write(req.clone(), &Limits::default())
            .ok()
            .and_then(|w| w.ttl_seconds());
        let mut written = self.written.lock().unwrap();
        match ttl {
            Some(n) => {
                let expires = SystemTime::now() + Duration::from_secs(n.into());
                let mut item = Item::new(req.value.clone());
                item.etag = etag.clone();
                item.expires_at = Some(expires);
                written.insert(req.key.clone(), Written { item, expires });
            }
            None => {
                written.remove(&req.key);
            }
        }
        drop(written);
        if self.flaw != Flaw::EtagsRestartAfterDelete {
            return etag;
        }
        let mut lives = self.lives.lock().unwrap();
        let life = lives.entry(req.key.clone()).or_insert((0, ETag::new("")));
        life.0 += 1;
        life.1 = etag.unwrap_or_else(|| ETag::new(""));
        Some(ETag::new(life.0.to_string()))
    }

    fn deleted(&self, key: &str) {
        self.written.lock().unwrap().remove(key);
        self.lives.lock().unwrap().remove(key);
    }

    /// An item as the caller sees it (`EtagsRestartAfterDelete` shows its
    /// own etags).
    fn shown(&self, key: &str, mut item: Item) -> Item {
        if self.flaw == Flaw::EtagsRestartAfterDelete
            && let Some((n, inner)) = self.lives.lock().unwrap().get(key)
            && item.etag.as_ref() == Some(inner)
        {
            item.etag = Some(ETag::new(n.to_string()));
        }
        item
    }

    /// The expired item of `key` this store still shows, if its flaw is
    /// `flaw`.
    fn expired(&self, flaw: Flaw, key: &str) -> Option<Item> {
        if self.flaw != flaw {
            return None;
        }
        let written = self.written.lock().unwrap();
        written
            .get(key)
            .filter(|w| w.expires <= SystemTime::now())
            .map(|w| w.item.clone())
    }

    /// Every expired item this store still holds, for `flaw`.
    fn all_expired(&self, flaw: Flaw) -> Vec<(String, Item)> {
        if self.flaw != flaw {
            return Vec::new();
        }
        let now = SystemTime::now();
        let written = self.written.lock().unwrap();
        written
            .iter()
            .filter(|(_, w)| w.expires <= now)
            .map(|(k, w)| (k.clone(), w.item.clone()))
            .collect()
    }

    /// A condition checked by a read, then the round trip to the backend
    /// that a client-side check costs before its write (1 ms, a fast local
    /// network); `STATESTORE_SPLIT_PAUSE=yield` makes it a bare task switch instead.
    /// Errors are the mismatch (`SplitCheckThenWrite`).
    async fn check_then(&self, op: Operation, key: &str, condition: Condition) -> Result<()> {
        let current = self.inner.get(GetRequest::new(key)).await?;
        let holds = match condition {
            Condition::Always => true,
            Condition::IfAbsent => current.is_none(),
            Condition::IfMatch(e) => current.and_then(|i| i.etag) == Some(e),
        };
        if std::env::var("STATESTORE_SPLIT_PAUSE").as_deref() == Ok("yield") {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if holds {
            Ok(())
        } else {
            Err(self.mismatch(op, key))
        }
    }

    async fn split_set(&self, req: SetRequest, op: Operation) -> Result<Option<ETag>> {
        let condition = Condition::new(req.etag.clone(), req.concurrency);
        self.check_then(op, &req.key, condition).await?;
        let mut req = req;
        req.etag = None;
        req.concurrency = Concurrency::LastWrite;
        self.inner.set(req).await
    }

    async fn split_delete(&self, req: DeleteRequest, op: Operation) -> Result<()> {
        let condition = Condition::new(req.etag.clone(), req.concurrency);
        self.check_then(op, &req.key, condition).await?;
        self.inner.delete(DeleteRequest::new(req.key)).await
    }

    async fn set_one(&self, req: SetRequest, op: Operation) -> Result<Option<ETag>> {
        let mut req = self.set_req(req, op);
        if self.flaw == Flaw::BulkSetKeepsExpiry
            && op == Operation::BulkSet
            && matches!(
                check::ttl(req.ttl, &req.metadata),
                Ok(None | Some(Ttl::Never))
            )
            && let Some(at) = self
                .inner
                .get(GetRequest::new(&req.key))
                .await?
                .and_then(|i| i.expires_at)
        {
            let left = at
                .duration_since(SystemTime::now())
                .unwrap_or_default()
                .as_secs()
                .max(1);
            req.metadata.remove("ttlInSeconds");
            req.ttl = Some(Ttl::Seconds(left as u32));
        }
        let etag = if self.flaw == Flaw::SplitCheckThenWrite {
            self.split_set(req.clone(), op).await?
        } else if op == Operation::BulkSet {
            let mut entries = self.inner.bulk_set(vec![req.clone()]).await?;
            entries.pop().map_or(Ok(None), |e| e.result)?
        } else {
            self.inner.set(req.clone()).await?
        };
        Ok(self.wrote(&req, etag))
    }

    async fn delete_one(&self, req: DeleteRequest, op: Operation) -> Result<()> {
        let req = self.delete_req(req, op);
        let key = req.key.clone();
        if self.flaw == Flaw::SplitCheckThenWrite {
            self.split_delete(req, op).await?;
        } else if op == Operation::BulkDelete {
            let mut entries = self.inner.bulk_delete(vec![req]).await?;
            entries.pop().map_or(Ok(()), |e| e.result)?;
        } else {
            self.inner.delete(req).await?;
        }
        self.deleted(&key);
        Ok(())
    }

    fn open(&self, op: Operation) -> Result<()> {
        if self.flaw != Flaw::WorksAfterClose && self.closed.load(Ordering::SeqCst) {
            return Err(Error::invalid("the store is closed").context(self.name, op));
        }
        Ok(())
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
        self.open(Operation::Get)?;
        let key = self.key(req.key.clone());
        let got = self
            .inner
            .get(GetRequest {
                key: key.clone(),
                ..req
            })
            .await?;
        Ok(got.map(|i| self.shown(&key, i)))
    }

    async fn set(&self, req: SetRequest) -> Result<Option<ETag>> {
        self.gate().await?;
        self.open(Operation::Set)?;
        self.set_one(req, Operation::Set).await
    }

    async fn delete(&self, req: DeleteRequest) -> Result<()> {
        self.gate().await?;
        self.open(Operation::Delete)?;
        self.delete_one(req, Operation::Delete).await
    }

    async fn bulk_get(&self, reqs: Vec<GetRequest>) -> Result<Vec<KeyResult<Option<Item>>>> {
        self.gate().await?;
        self.open(Operation::BulkGet)?;
        let reqs: Vec<GetRequest> = reqs
            .into_iter()
            .map(|r| GetRequest {
                key: self.key(r.key.clone()),
                ..r
            })
            .collect();
        let mut entries = self.inner.bulk_get(reqs).await?;
        for e in &mut entries {
            if matches!(e.result, Ok(None))
                && let Some(item) = self.expired(Flaw::ExpiredInBulkGet, &e.key)
            {
                e.result = Ok(Some(item));
            }
        }
        Ok(entries)
    }

    async fn bulk_set(&self, reqs: Vec<SetRequest>) -> Result<Vec<KeyResult<Option<ETag>>>> {
        self.gate().await?;
        self.open(Operation::BulkSet)?;
        let mut out = Vec::with_capacity(reqs.len());
        for req in reqs {
            let key = req.key.clone();
            let result = self.set_one(req, Operation::BulkSet).await;
            out.push(KeyResult { key, result });
        }
        Ok(out)
    }

    async fn bulk_delete(&self, reqs: Vec<DeleteRequest>) -> Result<Vec<KeyResult<()>>> {
        self.gate().await?;
        if self.flaw == Flaw::PanicsOnBulkDelete {
            panic!("a store bug in bulk_delete");
        }
        self.open(Operation::BulkDelete)?;
        let mut out = Vec::with_capacity(reqs.len());
        for req in reqs {
            let key = req.key.clone();
            let result = self.delete_one(req, Operation::BulkDelete).await;
            out.push(KeyResult { key, result });
        }
        Ok(out)
    }

    async fn ping(&self) -> Result<()> {
        self.gate().await?;
        if self.flaw == Flaw::PanicsOnPing {
            panic!("a store bug in ping");
        }
        self.open(Operation::Ping)?;
        self.inner.ping().await
    }

    async fn close(&self) -> Result<()> {
        if self.flaw == Flaw::WorksAfterClose {
            return Ok(());
        }
        self.closed.store(true, Ordering::SeqCst);
        self.inner.close().await
    }

    async fn transact(&self, req: TransactRequest) -> Result<Vec<Option<ETag>>> {
        self.gate().await?;
        self.open(Operation::Transact)?;
        let op = Operation::Transact;
        let mut ops: Vec<TransactionOp> = req
            .operations
            .into_iter()
            .map(|o| match o {
                TransactionOp::Set(r) => self.set_req(r, op).into(),
                TransactionOp::Delete(r) => self.delete_req(r, op).into(),
            })
            .collect();
        if self.flaw == Flaw::ExpiredEtagMatchesInTransaction {
            for o in &mut ops {
                if let TransactionOp::Set(r) = o
                    && let Some(item) = self.expired(self.flaw, &r.key)
                    && r.etag.is_some()
                    && r.etag == item.etag
                {
                    r.etag = None;
                }
            }
        }
        if self.flaw == Flaw::TransactionReordered {
            ops.sort_by_key(|o| matches!(o, TransactionOp::Delete(_)));
        }
        if self.flaw == Flaw::SplitCheckThenWrite {
            for o in &ops {
                let (key, condition) = match o {
                    TransactionOp::Set(r) => {
                        (&r.key, Condition::new(r.etag.clone(), r.concurrency))
                    }
                    TransactionOp::Delete(r) => {
                        (&r.key, Condition::new(r.etag.clone(), r.concurrency))
                    }
                };
                self.check_then(op, key, condition).await?;
            }
            for o in &mut ops {
                match o {
                    TransactionOp::Set(r) => {
                        (r.etag, r.concurrency) = (None, Concurrency::LastWrite)
                    }
                    TransactionOp::Delete(r) => {
                        (r.etag, r.concurrency) = (None, Concurrency::LastWrite)
                    }
                }
            }
        }
        let etags = if self.flaw == Flaw::PartialTransactions {
            let mut etags = Vec::new();
            for o in ops.clone() {
                match o {
                    TransactionOp::Set(r) => etags.push(self.inner.set(r).await?),
                    TransactionOp::Delete(r) => {
                        self.inner.delete(r).await?;
                        etags.push(None);
                    }
                }
            }
            etags
        } else {
            self.inner
                .transact(TransactRequest::new(ops.clone()))
                .await?
        };
        Ok(ops
            .iter()
            .zip(etags)
            .map(|(o, e)| match o {
                TransactionOp::Set(r) => self.wrote(r, e),
                TransactionOp::Delete(r) => {
                    self.deleted(&r.key);
                    None
                }
            })
            .collect())
    }

    async fn delete_with_prefix(&self, req: DeleteWithPrefixRequest) -> Result<u64> {
        self.open(Operation::DeleteWithPrefix)?;
        let prefix = check::prefix(&req.prefix)
            .map_err(|e| e.context(self.name, Operation::DeleteWithPrefix))?;
        let n = self.inner.delete_with_prefix(req).await?;
        let expired = self
            .all_expired(Flaw::ExpiredCountedByDeleteWithPrefix)
            .into_iter()
            .filter(|(k, _)| check::is_direct_child(k, &prefix))
            .count();
        Ok(n + expired as u64)
    }

    async fn keys_like(&self, req: KeysLikeRequest) -> Result<KeysPage> {
        self.open(Operation::KeysLike)?;
        let pattern = LikePattern::parse(&req.pattern).ok();
        let matching = |k: &String| pattern.as_ref().is_some_and(|p| p.matches(k));
        if self.flaw == Flaw::ExpiredInPagedKeysLike && req.page_size.is_some() {
            // The page is cut from live and expired keys, then the expired
            // ones are dropped from it.
            let all = KeysLikeRequest {
                page_size: None,
                token: None,
                ..req.clone()
            };
            let mut keys = self.inner.keys_like(all).await?.keys;
            let expired: Vec<String> = self
                .all_expired(self.flaw)
                .into_iter()
                .map(|(k, _)| k)
                .filter(matching)
                .collect();
            keys.extend(expired.iter().cloned());
            keys.sort();
            keys.dedup();
            let after = match &req.token {
                Some(t) => statestore_core::token::parse_page_token(t)?,
                None => String::new(),
            };
            keys.retain(|k| req.token.is_none() || *k > after);
            let mut page = statestore_core::token::page(keys, req.page_size);
            page.keys.retain(|k| !expired.contains(k));
            return Ok(page);
        }
        let mut page = self.inner.keys_like(req).await?;
        for (k, _) in self.all_expired(Flaw::ExpiredInKeysLike) {
            if matching(&k) && !page.keys.contains(&k) {
                page.keys.push(k);
            }
        }
        page.keys.sort();
        Ok(page)
    }

    async fn query(&self, req: QueryRequest) -> Result<QueryResponse> {
        self.open(Operation::Query)?;
        if let Some(r) = query::flawed(self.flaw, &self.inner, &req).await {
            return r;
        }
        let mut response = self.inner.query(req.clone()).await?;
        for (key, item) in self.all_expired(Flaw::ExpiredInQuery) {
            let doc = serde_json::from_slice(&item.value).ok();
            let hit = match (&req.query.filter, &doc) {
                (_, None) => false,
                (None, Some(_)) => true,
                (Some(f), Some(d)) => f.matches(d),
            };
            if hit {
                response.results.push(QueryItem {
                    key,
                    value: item.value,
                    etag: item.etag,
                    error: None,
                });
            }
        }
        Ok(response)
    }
}
