//! `state.notes`: a deliberately small custom store, to show what writing
//! one takes. It keeps values in a map and offers no optional capability:
//! no etags, no TTL, no transactions, no prefix deletes, no keys-like, no
//! query. It says so in its capabilities and refuses those calls with
//! `NotSupported`, as the contract asks.
//!
//! The shared rules (non-empty keys, the key limit, etag/concurrency into
//! one condition, `ttlInSeconds` metadata) come from `statestore::check`, so
//! the store only decides what it can honour.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use statestore::check::{self, Condition};
use statestore::response::per_key;
use statestore::{
    Bytes, Capabilities, DeleteRequest, DeleteWithPrefixRequest, ETag, Error, Features, GetRequest,
    Item, KeyResult, KeysLikeRequest, KeysPage, Limits, Operation, Properties, QueryRequest,
    QueryResponse, Registration, Result, SetRequest, Store, TransactRequest, Ttl, async_trait,
};

/// The type name.
pub const NAME: &str = "state.notes";

/// The registration, for `Registry::register` (or `register_store!`).
pub const REGISTRATION: Registration = Registration::new(NAME, |_| Box::new(NotesStore::default()))
    .features(Features::NONE)
    .summary("Example custom store: a map without optional capabilities.");

const LIMITS: Limits = Limits {
    max_transaction_ops: None,
    max_bulk_batch: None,
    max_key_len: Some(1024),
    max_value_len: None,
};

/// Each key's value and content type.
type Notes = HashMap<String, (Bytes, Option<String>)>;

/// The store.
#[derive(Default)]
pub struct NotesStore {
    notes: Mutex<Notes>,
    closed: AtomicBool,
}

impl NotesStore {
    /// Fails once the store is closed: a whole call, bulk calls included.
    fn open(&self, op: Operation) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::invalid("the store is closed").context(NAME, op));
        }
        Ok(())
    }

    fn notes(&self, op: Operation) -> Result<std::sync::MutexGuard<'_, Notes>> {
        self.open(op)?;
        Ok(self.notes.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn read(&self, req: GetRequest) -> Result<Option<Item>> {
        check::get(&req, &LIMITS)?;
        let notes = self.notes(Operation::Get)?;
        Ok(notes.get(&req.key).map(|(value, content_type)| Item {
            value: value.clone(),
            content_type: content_type.clone(),
            ..Item::default()
        }))
    }

    fn write(&self, req: SetRequest) -> Result<()> {
        let w = check::write(req, &LIMITS)?;
        if w.condition != Condition::Always {
            return Err(Error::not_supported(NAME, Operation::Set).with_key(w.key));
        }
        if matches!(w.ttl, Some(Ttl::Seconds(_))) {
            return Err(Error::not_supported(NAME, Operation::Set).with_key(w.key));
        }
        self.notes(Operation::Set)?
            .insert(w.key, (w.value, w.content_type));
        Ok(())
    }

    fn remove(&self, req: DeleteRequest) -> Result<()> {
        let d = check::delete(req, &LIMITS)?;
        if d.condition != Condition::Always {
            return Err(Error::not_supported(NAME, Operation::Delete).with_key(d.key));
        }
        self.notes(Operation::Delete)?.remove(&d.key);
        Ok(())
    }
}

#[async_trait]
impl Store for NotesStore {
    async fn init(&mut self, _properties: &Properties) -> Result<()> {
        Ok(())
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            features: Features::NONE,
            limits: LIMITS,
        }
    }

    async fn get(&self, req: GetRequest) -> Result<Option<Item>> {
        self.read(req).map_err(|e| e.context(NAME, Operation::Get))
    }

    async fn set(&self, req: SetRequest) -> Result<Option<ETag>> {
        self.write(req)
            .map(|()| None)
            .map_err(|e| e.context(NAME, Operation::Set))
    }

    async fn delete(&self, req: DeleteRequest) -> Result<()> {
        self.remove(req)
            .map_err(|e| e.context(NAME, Operation::Delete))
    }

    // A map answers at once, so the bulk calls go key by key (`per_key`); a
    // networked store would send one batch here instead (contract: native bulk).
    async fn bulk_get(&self, reqs: Vec<GetRequest>) -> Result<Vec<KeyResult<Option<Item>>>> {
        self.open(Operation::BulkGet)?;
        Ok(per_key(
            NAME,
            Operation::BulkGet,
            reqs,
            |r| &r.key,
            |r| self.read(r),
        ))
    }

    async fn bulk_set(&self, reqs: Vec<SetRequest>) -> Result<Vec<KeyResult<Option<ETag>>>> {
        self.open(Operation::BulkSet)?;
        let write = |r| self.write(r).map(|()| None);
        Ok(per_key(NAME, Operation::BulkSet, reqs, |r| &r.key, write))
    }

    async fn bulk_delete(&self, reqs: Vec<DeleteRequest>) -> Result<Vec<KeyResult<()>>> {
        self.open(Operation::BulkDelete)?;
        Ok(per_key(
            NAME,
            Operation::BulkDelete,
            reqs,
            |r| &r.key,
            |r| self.remove(r),
        ))
    }

    async fn ping(&self) -> Result<()> {
        self.notes(Operation::Ping).map(drop)
    }

    async fn close(&self) -> Result<()> {
        self.closed.store(true, Ordering::Release);
        Ok(())
    }

    async fn transact(&self, _req: TransactRequest) -> Result<Vec<Option<ETag>>> {
        Err(Error::not_supported(NAME, Operation::Transact))
    }

    async fn delete_with_prefix(&self, _req: DeleteWithPrefixRequest) -> Result<u64> {
        Err(Error::not_supported(NAME, Operation::DeleteWithPrefix))
    }

    async fn keys_like(&self, _req: KeysLikeRequest) -> Result<KeysPage> {
        Err(Error::not_supported(NAME, Operation::KeysLike))
    }

    async fn query(&self, _req: QueryRequest) -> Result<QueryResponse> {
        Err(Error::not_supported(NAME, Operation::Query))
    }
}
