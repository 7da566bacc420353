//! Actor state (docs/actors.md): the state of one actor, read and staged
//! during a turn and written as ONE transaction when the turn commits.
//!
//! Keys are Dapr's `<appId>||<actorType>||<actorId>||<key>` and every call
//! carries `partitionKey = <appId>||<actorType>||<actorId>`, so state written
//! here is read by Dapr's actor runtime and back.
//!
//! ```
//! use std::sync::Arc;
//! use statestore_core::{MemoryStore, Properties, Store};
//! use statestore_runtime::actor::ActorStateStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> statestore_core::Result<()> {
//! let mut store = MemoryStore::new();
//! store.init(&Properties::new()).await?;
//! let actors = ActorStateStore::new(Arc::new(store), "bank")?;
//!
//! let mut account = actors.actor("Account", "alice")?;
//! let balance: i64 = account.get_json("balance").await?.unwrap_or(0);
//! account.set_json("balance", &(balance + 10))?;
//! account.commit().await?; // one transaction: bank||Account||alice||balance
//! # Ok(())
//! # }
//! ```
//!
//! Concurrency is optimistic: a key the turn read is written back only if
//! nobody changed it since (its etag, or first-write when it was absent), so
//! two activations of one actor never lose an update: the second commit
//! fails with [`ErrorKind::ETagMismatch`], nothing of its turn is applied,
//! and the cache is dropped so the next turn reads afresh. Keys written
//! without being read first are written unconditionally, and keys only read
//! are not re-checked at commit.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use statestore_core::capabilities::{Feature, Features};
use statestore_core::check::{PARTITION_KEY, SEPARATOR, key_part};
use statestore_core::error::{Error, ErrorKind, Result};
use statestore_core::request::{
    DeleteRequest, DeleteWithPrefixRequest, GetRequest, SetRequest, TransactRequest,
};
use statestore_core::store::Store;
use statestore_core::types::{ETag, Ttl};

/// What a store needs to hold actor state.
pub const NEEDS: Features = Features::of(Feature::ETag).with(Feature::Transactional);

/// Of [`NEEDS`], what `have` lacks.
pub fn lacking(have: Features) -> Features {
    NEEDS.iter().filter(|f| !have.contains(*f)).collect()
}

/// The capabilities `store` lacks to hold actor state ([`NEEDS`]).
pub fn missing(store: &dyn Store) -> Features {
    lacking(store.capabilities().features)
}

/// A store serving actor state, for one app id.
#[derive(Clone)]
pub struct ActorStateStore {
    store: Arc<dyn Store>,
    app_id: String,
}

impl std::fmt::Debug for ActorStateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActorStateStore")
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

impl ActorStateStore {
    /// Actor state of app `app_id` in an initialised store, which must
    /// offer `ETAG` and `TRANSACTIONAL` (the error names what it lacks).
    pub fn new(store: Arc<dyn Store>, app_id: impl Into<String>) -> Result<Self> {
        let app_id = app_id.into();
        key_part("app id", &app_id)?;
        let lacks = missing(&*store);
        if !lacks.is_empty() {
            return Err(Error::config(format!(
                "an actor state store needs ETAG and TRANSACTIONAL; this store lacks {lacks}"
            )));
        }
        Ok(ActorStateStore { store, app_id })
    }

    /// The app id every key starts with.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// The store underneath (keys there are the full Dapr keys).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The state of one actor, with an empty cache and no staged change.
    pub fn actor(&self, actor_type: &str, actor_id: &str) -> Result<ActorState> {
        key_part("actor type", actor_type)?;
        key_part("actor id", actor_id)?;
        Ok(ActorState {
            store: self.store.clone(),
            partition: format!(
                "{}{SEPARATOR}{actor_type}{SEPARATOR}{actor_id}",
                self.app_id
            ),
            slots: HashMap::new(),
            staged: Vec::new(),
        })
    }

    /// Removes every state key of one actor at once (delete-with-prefix of
    /// `<appId>||<actorType>||<actorId>`); returns how many keys it removed.
    pub async fn remove_all(&self, actor_type: &str, actor_id: &str) -> Result<u64> {
        let partition = self.actor(actor_type, actor_id)?.partition;
        let mut req = DeleteWithPrefixRequest::new(&partition);
        req.metadata.insert(PARTITION_KEY.into(), partition);
        self.store.delete_with_prefix(req).await
    }
}

/// What the turn knows of a key's stored state.
#[derive(Clone)]
enum Known {
    Absent,
    Present {
        value: Bytes,
        etag: Option<ETag>,
        expires_at: Option<SystemTime>,
    },
}

/// A change staged by the turn.
#[derive(Clone)]
enum Staged {
    Set {
        value: Bytes,
        ttl: Option<Ttl>,
        content_type: Option<String>,
    },
    Remove,
}

#[derive(Clone, Default)]
struct Slot {
    known: Option<Known>,
    staged: Option<Staged>,
}

/// One actor's state: reads go through a cache, writes are staged until
/// [`ActorState::commit`], and reads see the turn's own staged writes.
///
/// Keep one per actor activation and commit at the end of each turn; the
/// cache carries over to the next turn (as Dapr's actor state managers do)
/// and is dropped when a commit fails.
#[derive(Clone)]
pub struct ActorState {
    store: Arc<dyn Store>,
    partition: String,
    slots: HashMap<String, Slot>,
    /// Keys with a staged change, in the order first staged.
    staged: Vec<String>,
}

impl std::fmt::Debug for ActorState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActorState")
            .field("partition", &self.partition)
            .field("staged", &self.staged)
            .finish_non_exhaustive()
    }
}

impl ActorState {
    /// `<appId>||<actorType>||<actorId>`: the partition key and the prefix
    /// of every key of this actor.
    pub fn partition(&self) -> &str {
        &self.partition
    }

    /// The stored key of a state key.
    pub fn stored_key(&self, key: &str) -> Result<String> {
        key_part("state key", key).map_err(|e| e.with_key(key))?;
        Ok(format!("{}{SEPARATOR}{key}", self.partition))
    }

    fn request(&self, key: &str) -> Result<GetRequest> {
        Ok(GetRequest::new(self.stored_key(key)?).metadata(PARTITION_KEY, &self.partition))
    }

    /// The value as this turn sees it: staged, cached or read (once).
    pub async fn get(&mut self, key: &str) -> Result<Option<Bytes>> {
        if let Some(v) = self.seen(key) {
            return Ok(v);
        }
        let req = self.request(key)?;
        let item = self.store.get(req).await.map_err(|e| e.with_key(key))?;
        self.remember(key, item);
        Ok(self.seen(key).flatten())
    }

    /// Whether the key has a value, as this turn sees it.
    pub async fn contains(&mut self, key: &str) -> Result<bool> {
        Ok(self.get(key).await?.is_some())
    }

    /// Several values, in order; keys not cached are read in one bulk call.
    pub async fn bulk_get(&mut self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        let mut unknown = Vec::new();
        for k in keys {
            if self.seen(k).is_none() && !unknown.contains(k) {
                unknown.push(*k);
            }
        }
        if !unknown.is_empty() {
            let reqs = unknown
                .iter()
                .map(|k| self.request(k))
                .collect::<Result<Vec<_>>>()?;
            let got = self.store.bulk_get(reqs).await?;
            for (k, r) in unknown.iter().zip(got) {
                let item = r.result.map_err(|e| e.with_key(*k))?;
                self.remember(k, item);
            }
        }
        Ok(keys.iter().map(|k| self.seen(k).flatten()).collect())
    }

    /// Reads a JSON value.
    pub async fn get_json<T: DeserializeOwned>(&mut self, key: &str) -> Result<Option<T>> {
        match self.get(key).await? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(&v).map(Some).map_err(|e| {
                Error::invalid(format!(
                    "actor state is not JSON of type {}",
                    std::any::type_name::<T>()
                ))
                .with_key(key)
                .with_source(e)
            }),
        }
    }

    /// Stages a write.
    pub fn set(&mut self, key: &str, value: impl Into<Bytes>) -> Result<()> {
        self.stage(
            key,
            Staged::Set {
                value: value.into(),
                ttl: None,
                content_type: None,
            },
        )
    }

    /// Stages a write that expires after `ttl` (Dapr's `ttlInSeconds`).
    pub fn set_with_ttl(&mut self, key: &str, value: impl Into<Bytes>, ttl: Ttl) -> Result<()> {
        self.stage(
            key,
            Staged::Set {
                value: value.into(),
                ttl: Some(ttl),
                content_type: None,
            },
        )
    }

    /// Stages a JSON write (content type `application/json`).
    pub fn set_json<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<()> {
        let value = serde_json::to_vec(value).map_err(|e| {
            Error::invalid("value cannot be serialized as JSON")
                .with_key(key)
                .with_source(e)
        })?;
        self.stage(
            key,
            Staged::Set {
                value: value.into(),
                ttl: None,
                content_type: Some("application/json".into()),
            },
        )
    }

    /// Stages a removal (removing a missing key is not an error).
    pub fn remove(&mut self, key: &str) -> Result<()> {
        self.stage(key, Staged::Remove)
    }

    /// Whether the turn has staged changes.
    pub fn has_changes(&self) -> bool {
        !self.staged.is_empty()
    }

    /// Drops the staged changes; the cache stays.
    pub fn discard(&mut self) {
        for k in self.staged.drain(..) {
            if let Some(s) = self.slots.get_mut(&k) {
                s.staged = None;
            }
        }
    }

    /// Forgets what the turn read of one key (not its staged change), so
    /// the next read of it goes to the store.
    pub fn forget(&mut self, key: &str) {
        if let Some(slot) = self.slots.get_mut(key) {
            slot.known = None;
        }
    }

    /// Forgets the cache and the staged changes, so the next reads go to
    /// the store.
    pub fn reset(&mut self) {
        self.slots.clear();
        self.staged.clear();
    }

    /// Writes the staged changes as one transaction with `partitionKey`,
    /// each conditional on what the turn read of its key. Nothing staged:
    /// nothing sent. On any error the staged changes and the cache are
    /// dropped. An [`ErrorKind::ETagMismatch`] means another writer changed a
    /// key this turn read and nothing was applied: run the turn again. After
    /// [`ErrorKind::Timeout`] or [`ErrorKind::Unavailable`] the outcome is
    /// unknown (the commit may have landed before the answer was lost):
    /// rerun only a turn whose reads would notice, which an etag-checked
    /// turn does, since its own earlier write changed the etags it read.
    pub async fn commit(&mut self) -> Result<()> {
        if self.staged.is_empty() {
            return Ok(());
        }
        let mut ops: Vec<statestore_core::TransactionOp> = Vec::with_capacity(self.staged.len());
        for k in &self.staged {
            let slot = &self.slots[k];
            let key = self.stored_key(k)?;
            let (etag, first_write) = match &slot.known {
                // Expired since it was read: the store has it as absent.
                Some(Known::Present {
                    expires_at: Some(t),
                    ..
                }) if *t <= SystemTime::now() => (None, true),
                Some(Known::Present { etag, .. }) => (etag.clone(), false),
                Some(Known::Absent) => (None, true),
                None => (None, false),
            };
            let op = match slot.staged.clone().expect("staged keys have a change") {
                Staged::Set {
                    value,
                    ttl,
                    content_type,
                } => {
                    let mut r = SetRequest::new(key, value).etag_opt(etag);
                    r.ttl = ttl;
                    r.content_type = content_type;
                    if first_write {
                        r = r.first_write();
                    }
                    r.metadata(PARTITION_KEY, &self.partition).into()
                }
                Staged::Remove => {
                    let mut r = DeleteRequest::new(key).etag_opt(etag);
                    if first_write {
                        r = r.first_write();
                    }
                    r.metadata(PARTITION_KEY, &self.partition).into()
                }
            };
            ops.push(op);
        }
        let req = TransactRequest::new(ops).metadata(PARTITION_KEY, &self.partition);
        let sent = SystemTime::now();
        match self.store.transact(req).await {
            Ok(etags) => {
                let staged = std::mem::take(&mut self.staged);
                for (k, etag) in staged
                    .into_iter()
                    .zip(etags.into_iter().chain(std::iter::repeat(None)))
                {
                    let slot = self.slots.get_mut(&k).expect("staged keys have a slot");
                    slot.known = match slot.staged.take() {
                        // An expiring value is remembered with its expiry,
                        // counted from before the commit: early, never late,
                        // so an expired value is read again, not served.
                        Some(Staged::Set { value, ttl, .. }) => Some(Known::Present {
                            value,
                            etag,
                            expires_at: ttl.and_then(Ttl::duration).map(|d| sent + d),
                        }),
                        _ => Some(Known::Absent),
                    };
                }
                Ok(())
            }
            Err(e) => {
                self.reset();
                let what = match e.kind() {
                    ErrorKind::ETagMismatch => {
                        "aborted, nothing was applied: another writer changed a key this turn read"
                    }
                    ErrorKind::Timeout | ErrorKind::Unavailable => {
                        "outcome unknown: the store did not confirm the commit"
                    }
                    _ => "aborted, nothing was applied",
                };
                let retryable = e.is_retryable() || e.kind() == ErrorKind::ETagMismatch;
                let key = e.key().map(|k| self.user_key(k));
                // The store's words go into this message, so the store,
                // operation and kind are said once.
                let mut out = e
                    .map_message(|m| format!("actor turn of {}: {what}: {m}", self.partition))
                    .with_retryable(retryable);
                if let Some(k) = key {
                    out = out.with_key(k);
                }
                Err(out)
            }
        }
    }

    fn user_key(&self, stored: &str) -> String {
        stored
            .strip_prefix(&self.partition)
            .and_then(|r| r.strip_prefix(SEPARATOR))
            .unwrap_or(stored)
            .to_owned()
    }

    /// `Some(value or None)` when the turn knows the key, `None` when it
    /// must be read.
    fn seen(&self, key: &str) -> Option<Option<Bytes>> {
        let slot = self.slots.get(key)?;
        match (&slot.staged, &slot.known) {
            (Some(Staged::Set { value, .. }), _) => Some(Some(value.clone())),
            (Some(Staged::Remove), _) => Some(None),
            (None, Some(Known::Absent)) => Some(None),
            (
                None,
                Some(Known::Present {
                    value, expires_at, ..
                }),
            ) => match expires_at {
                Some(t) if *t <= SystemTime::now() => None,
                _ => Some(Some(value.clone())),
            },
            (None, None) => None,
        }
    }

    fn remember(&mut self, key: &str, item: Option<statestore_core::Item>) {
        let known = match item {
            None => Known::Absent,
            Some(i) => Known::Present {
                value: i.value,
                etag: i.etag,
                expires_at: i.expires_at,
            },
        };
        self.slots.entry(key.to_owned()).or_default().known = Some(known);
    }

    fn stage(&mut self, key: &str, change: Staged) -> Result<()> {
        self.stored_key(key)?;
        let slot = self.slots.entry(key.to_owned()).or_default();
        if slot.staged.is_none() {
            self.staged.push(key.to_owned());
        }
        slot.staged = Some(change);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use statestore_core::ext::StoreExt;
    use statestore_core::memory::MemoryStore;
    use statestore_core::properties::Properties;

    async fn actors() -> ActorStateStore {
        let mut m = MemoryStore::new();
        m.init(&Properties::new()).await.unwrap();
        ActorStateStore::new(Arc::new(m), "bank").unwrap()
    }

    #[tokio::test]
    async fn a_turn_is_one_transaction_with_read_your_writes() {
        let actors = actors().await;
        let mut a = actors.actor("Account", "alice").unwrap();
        assert_eq!(a.get("balance").await.unwrap(), None);
        a.set("balance", "10").unwrap();
        a.set("owner", "alice").unwrap();
        assert_eq!(a.get("balance").await.unwrap().as_deref(), Some(&b"10"[..]));
        assert!(
            actors
                .store()
                .get_item("bank||Account||alice||balance")
                .await
                .unwrap()
                .is_none()
        );
        a.commit().await.unwrap();
        let raw = actors
            .store()
            .get_item("bank||Account||alice||balance")
            .await
            .unwrap();
        assert_eq!(&raw.unwrap().value[..], b"10");

        a.remove("owner").unwrap();
        assert!(!a.contains("owner").await.unwrap());
        a.discard();
        assert!(a.contains("owner").await.unwrap());
        assert_eq!(actors.remove_all("Account", "alice").await.unwrap(), 2);
    }

    #[tokio::test]
    async fn a_stale_read_aborts_the_whole_turn() {
        let actors = actors().await;
        let mut first = actors.actor("Account", "bob").unwrap();
        let mut second = actors.actor("Account", "bob").unwrap();
        first.set("balance", "1").unwrap();
        first.commit().await.unwrap();
        assert_eq!(
            second.get("balance").await.unwrap().as_deref(),
            Some(&b"1"[..])
        );
        first.set("balance", "2").unwrap();
        first.commit().await.unwrap();

        second.set("balance", "100").unwrap();
        second.set("note", "lost").unwrap();
        let e = second.commit().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ETagMismatch);
        assert_eq!(e.key(), Some("balance"), "{e}");
        assert!(e.to_string().contains("bank||Account||bob"), "{e}");
        assert!(e.is_retryable());
        assert!(!second.has_changes());
        assert_eq!(
            second.get("balance").await.unwrap().as_deref(),
            Some(&b"2"[..])
        );
        assert_eq!(second.get("note").await.unwrap(), None);

        // Absent when read: a concurrent creation aborts too.
        let mut third = actors.actor("Account", "carol").unwrap();
        assert!(!third.contains("balance").await.unwrap());
        actors
            .store()
            .put("bank||Account||carol||balance", "5")
            .await
            .unwrap();
        third.set("balance", "1").unwrap();
        assert_eq!(
            third.commit().await.unwrap_err().kind(),
            ErrorKind::ETagMismatch
        );
    }

    #[tokio::test]
    async fn an_expired_cached_value_is_written_as_absent() {
        let actors = actors().await;
        let mut a = actors.actor("Session", "s1").unwrap();
        a.set_with_ttl("token", "t1", Ttl::Seconds(1)).unwrap();
        a.commit().await.unwrap();
        assert_eq!(a.get("token").await.unwrap().as_deref(), Some(&b"t1"[..]));
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        // A blind write: the cached etag is past its expiry, so first-write.
        a.set("token", "t2").unwrap();
        a.commit().await.unwrap();
        let raw = actors
            .store()
            .get_item("bank||Session||s1||token")
            .await
            .unwrap();
        assert_eq!(&raw.unwrap().value[..], b"t2");
    }

    #[tokio::test]
    async fn bad_parts_and_stores_are_refused() {
        let actors = actors().await;
        for (t, i) in [("", "1"), ("A||B", "1"), ("A", ""), ("A", "x||y")] {
            assert_eq!(
                actors.actor(t, i).unwrap_err().kind(),
                ErrorKind::InvalidRequest
            );
        }
        let mut a = actors.actor("A", "1").unwrap();
        let e = a.set("k||x", "1").unwrap_err();
        assert_eq!(
            (e.kind(), e.key()),
            (ErrorKind::InvalidRequest, Some("k||x"))
        );
        assert!(ActorStateStore::new(actors.store().clone(), "").is_err());
    }
}
