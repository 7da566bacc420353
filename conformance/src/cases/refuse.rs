//! Undeclared capabilities are refused with `NotSupported` naming the store
//! and the operation (docs/capabilities.md).

use statestore_core::{
    DeleteWithPrefixRequest, ErrorKind, KeysLikeRequest, Query, QueryRequest, SetRequest,
    TransactRequest, Ttl,
};

use crate::context::{Ctx, Outcome, fails};

/// Without `ETAG`, a write with an etag or first-write is refused.
pub async fn etag(cx: &Ctx) -> Outcome {
    let k = cx.key("k");
    fails(
        cx.store.set(SetRequest::new(&k, "v").etag("1")).await,
        ErrorKind::NotSupported,
        "set with an etag",
    )?;
    fails(
        cx.store.set(SetRequest::new(&k, "v").first_write()).await,
        ErrorKind::NotSupported,
        "first-write set",
    )
    .map(drop)
}

/// Without `TRANSACTIONAL`, transact is refused.
pub async fn transactional(cx: &Ctx) -> Outcome {
    let req = TransactRequest::new([SetRequest::new(cx.key("k"), "v")]);
    fails(
        cx.store.transact(req).await,
        ErrorKind::NotSupported,
        "transact",
    )
    .map(drop)
}

/// Without `TTL`, a write with a ttl is refused.
pub async fn ttl(cx: &Ctx) -> Outcome {
    let req = SetRequest::new(cx.key("k"), "v").ttl(Ttl::Seconds(10));
    fails(
        cx.store.set(req).await,
        ErrorKind::NotSupported,
        "set with a ttl",
    )
    .map(drop)
}

/// Without `DELETE_WITH_PREFIX`, delete_with_prefix is refused.
pub async fn delete_with_prefix(cx: &Ctx) -> Outcome {
    let req = DeleteWithPrefixRequest::new(cx.key("p"));
    fails(
        cx.store.delete_with_prefix(req).await,
        ErrorKind::NotSupported,
        "delete_with_prefix",
    )
    .map(drop)
}

/// Without `KEYS_LIKE`, keys_like is refused.
pub async fn keys_like(cx: &Ctx) -> Outcome {
    let req = KeysLikeRequest::new(format!("{}%", cx.prefix()));
    fails(
        cx.store.keys_like(req).await,
        ErrorKind::NotSupported,
        "keys_like",
    )
    .map(drop)
}

/// Without `QUERY_API`, query is refused.
pub async fn query_api(cx: &Ctx) -> Outcome {
    fails(
        cx.store.query(QueryRequest::new(Query::default())).await,
        ErrorKind::NotSupported,
        "query",
    )
    .map(drop)
}
