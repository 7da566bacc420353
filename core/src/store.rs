//! The `Store` trait: the contract every backend implements.

use async_trait::async_trait;

use crate::capabilities::Capabilities;
use crate::error::Result;
use crate::properties::Properties;
use crate::query::QueryResponse;
use crate::request::{
    DeleteRequest, DeleteWithPrefixRequest, GetRequest, KeysLikeRequest, QueryRequest, SetRequest,
    TransactRequest,
};
use crate::response::{Item, KeyResult, KeysPage};
use crate::types::ETag;

/// A state store (docs/contract.md).
///
/// Every method is required, the optional capabilities included: a store
/// without transactions answers [`Store::transact`] with
/// [`crate::Error::not_supported`] and leaves
/// [`crate::Feature::Transactional`] out of its capabilities. No method has a
/// default body, so a wrapper store (key prefixing, metrics) cannot forget to
/// forward one; conveniences live in [`crate::StoreExt`].
///
/// Lifecycle: a store is created empty (by its registry factory), then
/// [`Store::init`] is called once with the component's properties; after
/// that it is shared, usually as `Arc<dyn Store>`.
///
/// Stores apply the request rules of [`crate::check`] before they touch their
/// backend, and name themselves and the operation in every error
/// ([`crate::Error::context`]).
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Parses and validates the properties, connects, and creates the schema
    /// if needed. A bad or missing property fails with a `Config` error that
    /// names it.
    async fn init(&mut self, properties: &Properties) -> Result<()>;

    /// What this instance offers, computed at init and honest about the
    /// deployment.
    fn capabilities(&self) -> Capabilities;

    /// The value, etag, content type and expiry of a key; `None` when the key
    /// is missing or expired.
    async fn get(&self, req: GetRequest) -> Result<Option<Item>>;

    /// Writes a key under the request's etag / concurrency condition and
    /// returns the new etag (`None` on stores without `ETAG`).
    async fn set(&self, req: SetRequest) -> Result<Option<ETag>>;

    /// Deletes a key under the request's condition. Deleting a missing key
    /// without etag succeeds.
    async fn delete(&self, req: DeleteRequest) -> Result<()>;

    /// One entry per requested key, in request order; missing keys come back
    /// as `Ok(None)`.
    async fn bulk_get(&self, reqs: Vec<GetRequest>) -> Result<Vec<KeyResult<Option<Item>>>>;

    /// Writes many keys, not atomically: one outcome per request, in order;
    /// a failed key leaves the others applied.
    async fn bulk_set(&self, reqs: Vec<SetRequest>) -> Result<Vec<KeyResult<Option<ETag>>>>;

    /// Deletes many keys, not atomically: one outcome per request, in order.
    async fn bulk_delete(&self, reqs: Vec<DeleteRequest>) -> Result<Vec<KeyResult<()>>>;

    /// A cheap liveness check of the backend.
    async fn ping(&self) -> Result<()>;

    /// Releases connections and background tasks. Idempotent; later calls
    /// fail.
    async fn close(&self) -> Result<()>;

    /// Applies upserts and deletes in order, all or nothing
    /// (`TRANSACTIONAL`). Returns one entry per operation: the new etag of an
    /// upsert, `None` for a delete.
    async fn transact(&self, req: TransactRequest) -> Result<Vec<Option<ETag>>>;

    /// Deletes the keys `prefix||x` where `x` holds no further `||`, and
    /// returns how many (`DELETE_WITH_PREFIX`).
    async fn delete_with_prefix(&self, req: DeleteWithPrefixRequest) -> Result<u64>;

    /// Lists keys matching an SQL LIKE pattern, a page at a time (`KEYS_LIKE`).
    async fn keys_like(&self, req: KeysLikeRequest) -> Result<KeysPage>;

    /// Filters, sorts and pages JSON values (`QUERY_API`).
    async fn query(&self, req: QueryRequest) -> Result<QueryResponse>;
}
