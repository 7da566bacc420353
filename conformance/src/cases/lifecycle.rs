//! Lifecycle and metadata (docs/contract.md, *Operations*).

use std::time::Duration;

use statestore_core::{
    DeleteRequest, DeleteWithPrefixRequest, ErrorKind, Feature, GetRequest, KeysLikeRequest,
    Properties, Property, Query, QueryRequest, SetRequest, Store, TransactRequest,
};

use crate::context::{Ctx, Outcome, fail, fails, ok, skip};
use crate::ensure;

/// Init with the given (minimal) properties succeeds.
pub async fn init_minimal(cx: &Ctx) -> Outcome {
    let mut s = cx.fresh_instance();
    ok(
        s.init(&cx.target.properties).await,
        "init with the suite's properties",
    )?;
    ok(s.ping().await, "ping after init")?;
    ok(s.close().await, "close")
}

/// With a required property missing, init fails with a `Config` error
/// naming it.
pub async fn init_missing_required(cx: &Ctx) -> Outcome {
    let required: Vec<_> = cx
        .target
        .registration
        .properties
        .iter()
        .filter(|p| p.required)
        .collect();
    if required.is_empty() {
        return skip("the store declares no required property");
    }
    for p in required {
        let mut props = cx.target.properties.clone();
        props.remove(p.name);
        for alias in p.aliases {
            props.remove(alias);
        }
        let mut s = cx.fresh_instance();
        let what = format!("init without {}", p.name);
        let e = fails(s.init(&props).await, ErrorKind::Config, &what)?;
        ensure!(
            e.to_string().contains(p.name),
            "{what}: the error does not name the property: {e}"
        );
    }
    Ok(())
}

/// Built-in properties are accepted, names match in any case, and an
/// unknown property is reported but not fatal.
pub async fn init_builtin_and_unknown(cx: &Ctx) -> Outcome {
    let mut props = Properties::new();
    for (name, value) in cx.target.properties.iter() {
        props.insert(name.to_ascii_uppercase(), value);
    }
    props.insert("keyPrefix", "none");
    props.insert("actorStateStore", "false");
    props.insert("conformanceUnknownProperty", "1");
    let mut s = cx.fresh_instance();
    ok(
        s.init(&props).await,
        "init with upper-cased names, built-in and unknown properties",
    )?;
    ok(s.ping().await, "ping")?;
    ok(s.close().await, "close")?;
    let declared = cx.target.registration.properties;
    let unknown = props.unknown(declared);
    // A store that passes every other property on (its declared name
    // Property::FORWARDED) knows of none that is unknown.
    let expected: &[&str] = if declared.iter().any(|p| p.name == Property::FORWARDED) {
        &[]
    } else {
        &["conformanceUnknownProperty"]
    };
    ensure!(
        unknown == expected,
        "unknown properties: expected {expected:?} to be reported, got {unknown:?}"
    );
    Ok(())
}

/// Ping succeeds while the backend is reachable.
pub async fn ping(cx: &Ctx) -> Outcome {
    ok(cx.store.ping().await, "ping")
}

/// Capabilities are stable and within what the type declares.
pub async fn capabilities_stable(cx: &Ctx) -> Outcome {
    let a = cx.store.capabilities();
    let b = cx.store.capabilities();
    ensure!(
        a == b,
        "capabilities changed between two calls: {a} then {b}"
    );
    let declared = cx.target.registration.features;
    ensure!(
        declared.contains_all(a.features),
        "the instance offers {} but the type registers only {declared}",
        a.features
    );
    Ok(())
}

/// Close succeeds, is idempotent, and later calls fail without hanging.
pub async fn close_idempotent(cx: &Ctx) -> Outcome {
    let mut s = cx.fresh_instance();
    ok(s.init(&cx.target.properties).await, "init")?;
    ok(s.close().await, "close")?;
    ok(s.close().await, "close again")?;
    let after = tokio::time::timeout(
        Duration::from_secs(10),
        s.get(GetRequest::new(cx.key("closed"))),
    )
    .await
    .map_err(|_| fail("get after close: hung for 10 s instead of failing"))?;
    ensure!(
        after.is_err(),
        "get after close: expected an error, got {after:?}"
    );
    Ok(())
}

/// Two instances initialised at once both succeed (and share data when
/// the backend is shared).
pub async fn concurrent_init(cx: &Ctx) -> Outcome {
    if !cx.target.quirks.shared_backend {
        return skip(
            "instances of this configuration do not share a backend (quirk shared_backend)",
        );
    }
    let mut a = cx.fresh_instance();
    let mut b = cx.fresh_instance();
    let (ra, rb) = tokio::join!(a.init(&cx.target.properties), b.init(&cx.target.properties));
    ok(ra, "first of two concurrent inits")?;
    ok(rb, "second of two concurrent inits")?;
    let key = cx.key("shared");
    ok(
        a.set(SetRequest::new(&key, "from a")).await,
        "set through the first instance",
    )?;
    let seen = ok(
        b.get(GetRequest::new(&key)).await,
        "get through the second instance",
    )?;
    ensure!(
        seen.as_ref().map(|i| &i.value[..]) == Some(b"from a"),
        "a write through one instance is not visible through the other: got {seen:?} \
         (if instances of this configuration keep separate data by design, declare the \
         quirk shared_backend: false; on the command line, --isolated)"
    );
    ok(a.close().await, "close")?;
    ok(b.close().await, "close")
}

/// A store used before init fails or works, but never panics or hangs.
pub async fn no_panic_before_init(cx: &Ctx) -> Outcome {
    let s = cx.fresh_instance();
    let key = cx.key("uninit");
    let calls = async {
        let _ = s.get(GetRequest::new(&key)).await;
        let _ = s.set(SetRequest::new(&key, "v")).await;
        let _ = s.ping().await;
        let _ = s.close().await;
    };
    tokio::time::timeout(Duration::from_secs(10), calls)
        .await
        .map_err(|_| fail("calls before init hung for 10 s"))
}

/// After close, every operation, ping included, fails with
/// `InvalidRequest` naming the store and the operation, without hanging,
/// and nothing is written (seen through a second instance where instances
/// share a backend).
pub async fn closed_refuses_everything(cx: &Ctx) -> Outcome {
    let mut s = cx.fresh_instance();
    ok(s.init(&cx.target.properties).await, "init")?;
    let (kept, fresh) = (cx.key("kept"), cx.key("fresh"));
    ok(
        s.set(SetRequest::new(&kept, "before")).await,
        "set before close",
    )?;
    ok(s.close().await, "close")?;
    let s: &dyn Store = s.as_ref();
    let calls: Vec<(&str, Option<Feature>, CallFuture<'_>)> = vec![
        (
            "get",
            None,
            Box::pin(async { s.get(GetRequest::new(&kept)).await.map(drop) }),
        ),
        (
            "set",
            None,
            Box::pin(async { s.set(SetRequest::new(&fresh, "after")).await.map(drop) }),
        ),
        (
            "delete",
            None,
            Box::pin(async { s.delete(DeleteRequest::new(&kept)).await }),
        ),
        (
            "bulk_get",
            None,
            Box::pin(async { s.bulk_get(vec![GetRequest::new(&kept)]).await.map(drop) }),
        ),
        (
            "bulk_set",
            None,
            Box::pin(async {
                s.bulk_set(vec![SetRequest::new(&fresh, "after")])
                    .await
                    .map(drop)
            }),
        ),
        (
            "bulk_delete",
            None,
            Box::pin(async {
                s.bulk_delete(vec![DeleteRequest::new(&kept)])
                    .await
                    .map(drop)
            }),
        ),
        ("ping", None, Box::pin(async { s.ping().await })),
        (
            "transact",
            Some(Feature::Transactional),
            Box::pin(async {
                s.transact(TransactRequest::new([SetRequest::new(&fresh, "after")]))
                    .await
                    .map(drop)
            }),
        ),
        (
            "delete_with_prefix",
            Some(Feature::DeleteWithPrefix),
            Box::pin(async {
                s.delete_with_prefix(DeleteWithPrefixRequest::new(&kept))
                    .await
                    .map(drop)
            }),
        ),
        (
            "keys_like",
            Some(Feature::KeysLike),
            Box::pin(async {
                s.keys_like(KeysLikeRequest::new(format!("{kept}%")))
                    .await
                    .map(drop)
            }),
        ),
        (
            "query",
            Some(Feature::QueryApi),
            Box::pin(async { s.query(QueryRequest::new(Query::default())).await.map(drop) }),
        ),
    ];
    for (name, needs, call) in calls {
        if needs.is_some_and(|f| !cx.has(f)) {
            continue;
        }
        let r = tokio::time::timeout(Duration::from_secs(10), call)
            .await
            .map_err(|_| {
                fail(format!(
                    "{name} after close: hung for 10 s instead of failing"
                ))
            })?;
        fails(r, ErrorKind::InvalidRequest, format!("{name} after close"))?;
    }
    ok(s.close().await, "close again")?;
    if cx.target.quirks.shared_backend {
        let mut other = cx.fresh_instance();
        ok(
            other.init(&cx.target.properties).await,
            "init of a second instance",
        )?;
        let kept_now = ok(
            other.get(GetRequest::new(&kept)).await,
            "get through a second instance",
        )?;
        let fresh_now = ok(
            other.get(GetRequest::new(&fresh)).await,
            "get through a second instance",
        )?;
        let _ = other.close().await;
        ensure!(
            kept_now.is_some_and(|i| i.value == b"before"[..]),
            "{kept:?} changed or vanished after calls on a closed store"
        );
        ensure!(
            fresh_now.is_none(),
            "a write on a closed store was applied: {fresh:?} exists"
        );
    }
    Ok(())
}

/// One boxed call of [`closed_refuses_everything`].
type CallFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = statestore_core::Result<()>> + Send + 'a>>;
