//! Key prefixing above the store (docs/components.md, *Key prefixes*): a component's `keyPrefix`
//! strategy turns the user's key `k` into `<prefix>||k` on the way in, and
//! back on the way out, on every operation (bulk calls and transactions
//! included), so apps sharing one table or database do not see each other's
//! keys. The strategies are Dapr's:
//!
//! | `keyPrefix` | stored key |
//! |---|---|
//! | `appid` (default) | `<appId>\|\|k` |
//! | `name` | `<component name>\|\|k` |
//! | `namespace` | `<namespace>.<appId>\|\|k` (`<appId>\|\|k` without a namespace) |
//! | `none` | `k` |
//! | anything else | `<that text>\|\|k` |
//!
//! User keys containing `||` are refused with every strategy, as Dapr does:
//! they could impersonate another app's or an actor's keys.

use std::sync::Arc;

use async_trait::async_trait;

use statestore_core::capabilities::Capabilities;
use statestore_core::check::SEPARATOR;
use statestore_core::error::{Error, Operation, Result};
use statestore_core::properties::Properties;
use statestore_core::query::QueryResponse;
use statestore_core::request::{
    DeleteRequest, DeleteWithPrefixRequest, GetRequest, KeysLikeRequest, QueryRequest, SetRequest,
    TransactRequest, TransactionOp,
};
use statestore_core::response::{Item, KeyResult, KeysPage};
use statestore_core::store::Store;
use statestore_core::types::ETag;

/// The name of the property choosing the strategy.
pub const KEY_PREFIX: &str = "keyPrefix";

/// A `keyPrefix` strategy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum KeyPrefix {
    /// The app id (the default).
    #[default]
    AppId,
    /// The component's name.
    Name,
    /// `<namespace>.<appId>`, or the app id when there is no namespace.
    Namespace,
    /// No prefix.
    None,
    /// This text.
    Custom(String),
}

impl KeyPrefix {
    /// Reads a `keyPrefix` value as Dapr does: lower-cased, so a custom
    /// `MyShared` is the prefix `myshared` (where Dapr put that data);
    /// anything but the strategy words is a custom prefix, which must not
    /// contain `||`. Blank is the default.
    pub fn parse(text: &str) -> Result<KeyPrefix> {
        let t = text.to_lowercase();
        Ok(match t.trim() {
            "" | "appid" => KeyPrefix::AppId,
            "name" => KeyPrefix::Name,
            "namespace" => KeyPrefix::Namespace,
            "none" => KeyPrefix::None,
            _ if t.contains(SEPARATOR) || t.contains('\0') => {
                return Err(Error::config(format!(
                    "the custom prefix {t:?} must not contain {SEPARATOR:?} or NUL"
                )));
            }
            _ => KeyPrefix::Custom(t),
        })
    }

    /// The prefix (without separator) for an app, component and namespace;
    /// `None` for [`KeyPrefix::None`].
    pub fn resolve(
        &self,
        app_id: &str,
        component: &str,
        namespace: Option<&str>,
    ) -> Option<String> {
        match self {
            KeyPrefix::AppId => Some(app_id.to_owned()),
            KeyPrefix::Name => Some(component.to_owned()),
            KeyPrefix::Namespace => Some(match namespace.filter(|n| !n.is_empty()) {
                Some(ns) => format!("{ns}.{app_id}"),
                None => app_id.to_owned(),
            }),
            KeyPrefix::None => None,
            KeyPrefix::Custom(p) => Some(p.clone()),
        }
    }
}

/// A store seen through a key prefix. Every key the caller gives is checked
/// (no `||`) and prefixed; every key the store returns (results, bulk
/// outcomes, errors, keys-like pages, query results) is given back without
/// the prefix. Capabilities, etags and values pass through unchanged.
pub struct PrefixedStore {
    inner: Arc<dyn Store>,
    /// The store type, for errors raised here.
    store: &'static str,
    /// The prefix with its separator (`app||`), or empty for none.
    prefix: String,
}

impl std::fmt::Debug for PrefixedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrefixedStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl PrefixedStore {
    /// Wraps an initialised store of type `store` (named in the errors
    /// raised here); `prefix` is the resolved prefix without separator (see
    /// [`KeyPrefix::resolve`]), `None` for no prefix.
    pub fn new(inner: Arc<dyn Store>, store: &'static str, prefix: Option<String>) -> Self {
        let prefix = prefix
            .map(|p| format!("{p}{SEPARATOR}"))
            .unwrap_or_default();
        PrefixedStore {
            inner,
            store,
            prefix,
        }
    }

    /// The store underneath, which sees the prefixed keys.
    pub fn inner(&self) -> &Arc<dyn Store> {
        &self.inner
    }

    /// The stored form of a user key.
    pub fn stored_key(&self, key: &str) -> Result<String> {
        if key.is_empty() {
            return Err(Error::invalid("the key is empty"));
        }
        if key.contains(SEPARATOR) {
            return Err(Error::invalid(format!(
                "keys must not contain {SEPARATOR:?}: it separates the key prefix (keyPrefix) from the key"
            ))
            .with_key(key));
        }
        // Not format!: this runs on every call, and the formatter costs
        // more than the copy (docs/performance.md, statestore serve).
        let mut stored = String::with_capacity(self.prefix.len() + key.len());
        stored.push_str(&self.prefix);
        stored.push_str(key);
        Ok(stored)
    }

    /// The user form of a stored key (unchanged when it lacks the prefix).
    fn user_key(&self, key: String) -> String {
        match key.strip_prefix(&self.prefix) {
            Some(rest) if !self.prefix.is_empty() => rest.to_owned(),
            _ => key,
        }
    }

    fn fix_error(&self, e: Error, op: Operation) -> Error {
        let e = e.context(self.store, op);
        match e.key() {
            Some(k) if !self.prefix.is_empty() && k.starts_with(&self.prefix) => {
                let k = self.user_key(k.to_owned());
                e.with_key(k)
            }
            _ => e,
        }
    }

    /// Runs a bulk call on the keys that pass the check; refused keys fail
    /// alone, in place, and every outcome carries the user's key.
    async fn bulk<R, T, F, Fut>(
        &self,
        op: Operation,
        reqs: Vec<R>,
        key_of: fn(&mut R) -> &mut String,
        call: F,
    ) -> Result<Vec<KeyResult<T>>>
    where
        F: FnOnce(Vec<R>) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<KeyResult<T>>>>,
    {
        let mut users = Vec::with_capacity(reqs.len());
        let mut refused = Vec::new();
        let mut sent = Vec::with_capacity(reqs.len());
        for (i, mut r) in reqs.into_iter().enumerate() {
            let key = key_of(&mut r);
            users.push(key.clone());
            match self.stored_key(key) {
                Ok(k) => {
                    *key = k;
                    sent.push(r);
                }
                Err(e) => refused.push((i, e.context(self.name(), op))),
            }
        }
        let mut outcomes = if sent.is_empty() {
            Vec::new()
        } else {
            call(sent).await.map_err(|e| self.fix_error(e, op))?
        }
        .into_iter();
        let mut refused = refused.into_iter().peekable();
        let mut out = Vec::with_capacity(users.len());
        for (i, user) in users.into_iter().enumerate() {
            if refused.peek().is_some_and(|(j, _)| *j == i) {
                let (_, e) = refused.next().expect("peeked");
                out.push(KeyResult::err(user, e));
                continue;
            }
            let outcome = outcomes.next().ok_or_else(|| {
                Error::backend("the store returned fewer outcomes than keys")
                    .context(self.name(), op)
            })?;
            out.push(KeyResult {
                key: user,
                result: outcome.result.map_err(|e| self.fix_error(e, op)),
            });
        }
        Ok(out)
    }

    fn name(&self) -> &'static str {
        self.store
    }
}

fn set_key(r: &mut SetRequest) -> &mut String {
    &mut r.key
}

fn get_key(r: &mut GetRequest) -> &mut String {
    &mut r.key
}

fn delete_key(r: &mut DeleteRequest) -> &mut String {
    &mut r.key
}

#[async_trait]
impl Store for PrefixedStore {
    async fn init(&mut self, _properties: &Properties) -> Result<()> {
        Err(
            Error::config("a prefixed view is made from a store that is already initialised")
                .context(self.name(), Operation::Init),
        )
    }

    /// The store's, less what the prefix takes: the longest key is shorter
    /// by the prefix.
    fn capabilities(&self) -> Capabilities {
        let mut c = self.inner.capabilities();
        if let Some(max) = c.limits.max_key_len.as_mut() {
            *max = max.saturating_sub(self.prefix.len());
        }
        c
    }

    async fn get(&self, mut req: GetRequest) -> Result<Option<Item>> {
        let op = Operation::Get;
        req.key = self
            .stored_key(&req.key)
            .map_err(|e| e.context(self.name(), op))?;
        self.inner.get(req).await.map_err(|e| self.fix_error(e, op))
    }

    async fn set(&self, mut req: SetRequest) -> Result<Option<ETag>> {
        let op = Operation::Set;
        req.key = self
            .stored_key(&req.key)
            .map_err(|e| e.context(self.name(), op))?;
        self.inner.set(req).await.map_err(|e| self.fix_error(e, op))
    }

    async fn delete(&self, mut req: DeleteRequest) -> Result<()> {
        let op = Operation::Delete;
        req.key = self
            .stored_key(&req.key)
            .map_err(|e| e.context(self.name(), op))?;
        self.inner
            .delete(req)
            .await
            .map_err(|e| self.fix_error(e, op))
    }

    async fn bulk_get(&self, reqs: Vec<GetRequest>) -> Result<Vec<KeyResult<Option<Item>>>> {
        self.bulk(Operation::BulkGet, reqs, get_key, |r| {
            self.inner.bulk_get(r)
        })
        .await
    }

    async fn bulk_set(&self, reqs: Vec<SetRequest>) -> Result<Vec<KeyResult<Option<ETag>>>> {
        self.bulk(Operation::BulkSet, reqs, set_key, |r| {
            self.inner.bulk_set(r)
        })
        .await
    }

    async fn bulk_delete(&self, reqs: Vec<DeleteRequest>) -> Result<Vec<KeyResult<()>>> {
        self.bulk(Operation::BulkDelete, reqs, delete_key, |r| {
            self.inner.bulk_delete(r)
        })
        .await
    }

    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }

    async fn close(&self) -> Result<()> {
        self.inner.close().await
    }

    async fn transact(&self, mut req: TransactRequest) -> Result<Vec<Option<ETag>>> {
        let op = Operation::Transact;
        for (i, o) in req.operations.iter_mut().enumerate() {
            let key = match o {
                TransactionOp::Set(r) => &mut r.key,
                TransactionOp::Delete(r) => &mut r.key,
            };
            *key = self
                .stored_key(key)
                .map_err(|e| e.in_transaction(i).context(self.name(), op))?;
        }
        self.inner
            .transact(req)
            .await
            .map_err(|e| self.fix_error(e, op))
    }

    /// The prefix is the caller's (`p` deletes `<prefix>||p||x`); it may
    /// hold `||`, since it names a group of keys rather than one key.
    async fn delete_with_prefix(&self, mut req: DeleteWithPrefixRequest) -> Result<u64> {
        let op = Operation::DeleteWithPrefix;
        if req.prefix.is_empty() || req.prefix == SEPARATOR {
            // The store refuses these; prefixed, they would pass.
            return Err(Error::invalid(format!(
                "the prefix {:?} would match every key; give a non-empty prefix",
                req.prefix
            ))
            .context(self.name(), op));
        }
        // The caller's prefix is completed first: `|` means `|||`, not a
        // sibling of the view's own `app||`.
        let own =
            statestore_core::check::prefix(&req.prefix).map_err(|e| e.context(self.name(), op))?;
        req.prefix = format!("{}{own}", self.prefix);
        self.inner
            .delete_with_prefix(req)
            .await
            .map_err(|e| self.fix_error(e, op))
    }

    /// Only keys under the prefix are listed, without it. With a prefix,
    /// keys the actor state API wrote for the same app id (`app||type||id||k`)
    /// are under it too and come back as `type||id||k`.
    async fn keys_like(&self, mut req: KeysLikeRequest) -> Result<KeysPage> {
        let op = Operation::KeysLike;
        if req.pattern.is_empty() {
            return Err(
                Error::invalid("the pattern is empty: use \"%\" to list every key")
                    .context(self.name(), op),
            );
        }
        req.pattern = format!(
            "{}{}",
            statestore_core::like::escape(&self.prefix),
            req.pattern
        );
        let page = self
            .inner
            .keys_like(req)
            .await
            .map_err(|e| self.fix_error(e, op))?;
        Ok(KeysPage {
            keys: page.keys.into_iter().map(|k| self.user_key(k)).collect(),
            token: page.token,
        })
    }

    /// Only keys under the prefix match (the store filters by
    /// [`QueryRequest::key_prefix`], the view's prefix before the
    /// caller's), and come back without it, actor keys as `type||id||k`
    /// as in [`PrefixedStore::keys_like`]. Page tokens pass through.
    async fn query(&self, mut req: QueryRequest) -> Result<QueryResponse> {
        let op = Operation::Query;
        if !self.prefix.is_empty() {
            let own = req.key_prefix.take().unwrap_or_default();
            req.key_prefix = Some(format!("{}{own}", self.prefix));
        }
        let mut r = self
            .inner
            .query(req)
            .await
            .map_err(|e| self.fix_error(e, op))?;
        for item in &mut r.results {
            item.key = self.user_key(std::mem::take(&mut item.key));
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use statestore_core::ext::StoreExt;
    use statestore_core::memory::MemoryStore;
    use statestore_core::{ErrorKind, TransactRequest};

    #[test]
    fn strategies() {
        let r =
            |s: &str, ns: Option<&str>| KeyPrefix::parse(s).unwrap().resolve("app", "cache", ns);
        assert_eq!(r("", None).as_deref(), Some("app"));
        assert_eq!(r("AppID", None).as_deref(), Some("app"));
        assert_eq!(r("name", None).as_deref(), Some("cache"));
        assert_eq!(r("namespace", Some("prod")).as_deref(), Some("prod.app"));
        assert_eq!(r("namespace", None).as_deref(), Some("app"));
        assert_eq!(r("none", None), None);
        assert_eq!(r("shared-v1", None).as_deref(), Some("shared-v1"));
        let e = KeyPrefix::parse("a||b").unwrap_err();
        assert!(e.message().contains("\"a||b\""), "{e}");
    }

    async fn view(prefix: Option<&str>) -> (Arc<dyn Store>, PrefixedStore) {
        let mut m = MemoryStore::new();
        m.init(&Properties::new()).await.unwrap();
        let raw: Arc<dyn Store> = Arc::new(m);
        let v = PrefixedStore::new(raw.clone(), "state.in-memory", prefix.map(str::to_owned));
        (raw, v)
    }

    #[tokio::test]
    async fn every_operation_is_prefixed_and_unprefixed() {
        let (raw, v) = view(Some("app")).await;
        v.put("k", "1").await.unwrap();
        assert_eq!(
            &raw.get_item("app||k").await.unwrap().unwrap().value[..],
            b"1"
        );
        assert!(raw.get_item("k").await.unwrap().is_none());

        let got = v
            .bulk_get(vec![
                GetRequest::new("k"),
                GetRequest::new("a||b"),
                GetRequest::new("m"),
            ])
            .await
            .unwrap();
        assert_eq!(got[0].key, "k");
        assert!(got[0].result.as_ref().unwrap().is_some());
        assert_eq!(got[1].key, "a||b");
        assert_eq!(
            got[1].result.as_ref().unwrap_err().kind(),
            ErrorKind::InvalidRequest
        );
        assert!(got[2].result.as_ref().unwrap().is_none());

        let stale = v
            .bulk_set(vec![
                SetRequest::new("k", "2").etag("999"),
                SetRequest::new("n", "3"),
            ])
            .await
            .unwrap();
        let e = stale[0].result.as_ref().unwrap_err();
        assert_eq!((stale[0].key.as_str(), e.key()), ("k", Some("k")), "{e}");
        assert!(stale[1].result.is_ok());

        let e = v
            .transact(TransactRequest::new(vec![
                TransactionOp::from(SetRequest::new("x", "1")),
                DeleteRequest::new("y||z").into(),
            ]))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidRequest);
        assert!(e.message().contains("operation 1"), "{e}");
        assert!(
            raw.get_item("app||x").await.unwrap().is_none(),
            "nothing applied"
        );
        v.transact(TransactRequest::new(vec![SetRequest::new("x", "1")]))
            .await
            .unwrap();

        let mut keys = v.keys_like(KeysLikeRequest::new("%")).await.unwrap().keys;
        keys.sort();
        assert_eq!(keys, ["k", "n", "x"]);
        raw.put("app2||k", "other").await.unwrap();
        raw.put("app_x||k", "other").await.unwrap();
        let keys = v.keys_like(KeysLikeRequest::new("k")).await.unwrap().keys;
        assert_eq!(keys, ["k"]);

        raw.put("app||g||1", "1").await.unwrap();
        let n = v
            .delete_with_prefix(DeleteWithPrefixRequest::new("g"))
            .await
            .unwrap();
        assert_eq!(n, 1);
        v.bulk_delete(vec![DeleteRequest::new("k"), DeleteRequest::new("n")])
            .await
            .unwrap();
        assert!(raw.get_item("app||k").await.unwrap().is_none());
        assert!(raw.get_item("app2||k").await.unwrap().is_some());
    }

    #[tokio::test]
    async fn review_findings_stay_fixed() {
        let (raw, v) = view(Some("app")).await;
        // The empty key is not `app||`.
        assert_eq!(
            v.put("", "1").await.unwrap_err().kind(),
            ErrorKind::InvalidRequest
        );
        // `|` is the caller's `|||`, not a sibling of `app||`.
        v.put("|x", "1").await.unwrap();
        let n = v
            .delete_with_prefix(DeleteWithPrefixRequest::new("|"))
            .await
            .unwrap();
        assert_eq!(n, 0);
        assert!(raw.get_item("app|||x").await.unwrap().is_some());
        // Query sees this app's rows only, without the prefix, page by page.
        assert!(v.capabilities().has(statestore_core::Feature::QueryApi));
        raw.put("other||q", r#"{"n": 1}"#).await.unwrap();
        raw.put("app|}", r#"{"n": 1}"#).await.unwrap();
        v.put("q1", r#"{"n": 1}"#).await.unwrap();
        v.put("q2", r#"{"n": 2}"#).await.unwrap();
        let q = statestore_core::Query::from_json(
            r#"{"filter": {"GTE": {"n": 1}}, "sort": [{"key": "n"}], "page": {"limit": 1}}"#,
        )
        .unwrap();
        let first = v.query(QueryRequest::new(q.clone())).await.unwrap();
        let keys = |r: &QueryResponse| r.results.iter().map(|i| i.key.clone()).collect::<Vec<_>>();
        assert_eq!(keys(&first), ["q1"]);
        let mut next = q.clone();
        next.page.token = first.token;
        let second = v.query(QueryRequest::new(next)).await.unwrap();
        assert_eq!(keys(&second), ["q2"]);
        assert_eq!(second.token, None);
        let narrowed = v
            .query(QueryRequest::new(statestore_core::Query::default()).key_prefix("q2"))
            .await
            .unwrap();
        assert_eq!(keys(&narrowed), ["q2"]);
        // Dapr lower-cases the custom prefix.
        let p = KeyPrefix::parse("MyShared")
            .unwrap()
            .resolve("a", "c", None);
        assert_eq!(p.as_deref(), Some("myshared"));
    }

    #[tokio::test]
    async fn no_prefix_still_refuses_the_separator() {
        let (raw, v) = view(None).await;
        v.put("k", "1").await.unwrap();
        assert!(raw.get_item("k").await.unwrap().is_some());
        let e = v.put("a||b", "1").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidRequest);
        assert_eq!(e.key(), Some("a||b"));
    }
}
