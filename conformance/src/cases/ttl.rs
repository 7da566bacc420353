//! Time to live (docs/contract.md, *TTL*).

use std::time::{Duration, SystemTime};

use statestore_core::{ErrorKind, GetRequest, KeysLikeRequest, SetRequest, Ttl, like};

use crate::context::{Ctx, Outcome, fail, fails, ok};
use crate::ensure;

/// Longer than a 1-second ttl, with slack for clocks that tick in milliseconds.
const PAST_ONE_SECOND: Duration = Duration::from_millis(2100);

async fn nap() {
    tokio::time::sleep(PAST_ONE_SECOND).await;
}

/// Ttls that are not integers, below -1 or above i32::MAX are refused.
pub async fn invalid_refused(cx: &Ctx) -> Outcome {
    let k = cx.key("k");
    for bad in ["abc", "1.5", "-2", "2147483648", "1e3"] {
        fails(
            cx.store
                .set(SetRequest::new(&k, "v").metadata("ttlInSeconds", bad))
                .await,
            ErrorKind::InvalidRequest,
            format!("set with ttlInSeconds {bad:?}"),
        )?;
    }
    fails(
        cx.store
            .set(SetRequest::new(&k, "v").ttl(Ttl::Seconds(u32::MAX)))
            .await,
        ErrorKind::InvalidRequest,
        "set with ttl u32::MAX seconds",
    )?;
    cx.read_none(&k, "every write was refused").await
}

/// A key with ttl N is readable at once and gone from get and bulk_get
/// after N seconds (typed ttl and `ttlInSeconds` metadata alike).
pub async fn expires(cx: &Ctx) -> Outcome {
    let (typed, meta) = (cx.key("typed"), cx.key("metadata"));
    cx.write(SetRequest::new(&typed, "v").ttl(Ttl::Seconds(1)))
        .await?;
    cx.write(SetRequest::new(&meta, "v").metadata("ttlInSeconds", "1"))
        .await?;
    cx.read_eq(&typed, b"v").await?;
    cx.read_eq(&meta, b"v").await?;
    nap().await;
    cx.read_none(&typed, "ttl 1, 2.1 s later").await?;
    cx.read_none(&meta, "ttlInSeconds 1, 2.1 s later").await?;
    let got = ok(
        cx.store
            .bulk_get(vec![GetRequest::new(&typed), GetRequest::new(&meta)])
            .await,
        "bulk_get",
    )?;
    for e in got {
        ensure!(
            matches!(e.result, Ok(None)),
            "bulk_get {:?} 2.1 s after ttl 1: expected nothing, got {:?}",
            e.key,
            e.result
        );
    }
    Ok(())
}

/// Get and bulk_get return the expiry time, close to write time + N.
pub async fn expiry_time(cx: &Ctx) -> Outcome {
    let k = cx.key("k");
    let before = SystemTime::now();
    cx.write(SetRequest::new(&k, "v").ttl(Ttl::Seconds(100)))
        .await?;
    let after = SystemTime::now();
    let window = |t: SystemTime| {
        t >= before + Duration::from_secs(98) && t <= after + Duration::from_secs(102)
    };
    let item = cx.read_some(&k).await?;
    let at = item
        .expires_at
        .ok_or_else(|| fail("get: a key written with ttl 100 has no expiry time"))?;
    ensure!(
        window(at),
        "get: expiry {:?} is not write time + 100 s (within 2 s)",
        item.expire_time_rfc3339()
    );
    let text = item.expire_time_rfc3339().unwrap_or_default();
    ensure!(
        text.ends_with('Z') && humantime_like(&text),
        "ttlExpireTime {text:?} is not RFC 3339 UTC"
    );
    let got = ok(
        cx.store.bulk_get(vec![GetRequest::new(&k)]).await,
        "bulk_get",
    )?;
    let at = got[0]
        .result
        .as_ref()
        .ok()
        .and_then(|i| i.as_ref())
        .and_then(|i| i.expires_at);
    ensure!(
        at.is_some_and(window),
        "bulk_get: expiry {at:?} is not write time + 100 s"
    );
    Ok(())
}

fn humantime_like(s: &str) -> bool {
    s.len() >= 20 && s.as_bytes()[4] == b'-' && s.as_bytes()[10] == b'T'
}

/// A key without ttl has no expiry time.
pub async fn no_ttl_no_expiry(cx: &Ctx) -> Outcome {
    let k = cx.key("k");
    cx.put(&k, "v").await?;
    let at = cx.read_some(&k).await?.expires_at;
    ensure!(at.is_none(), "a key written without ttl has expiry {at:?}");
    Ok(())
}

/// Rewriting with ttl -1 removes the expiry.
pub async fn never_removes_expiry(cx: &Ctx) -> Outcome {
    let k = cx.key("k");
    cx.write(SetRequest::new(&k, "v1").ttl(Ttl::Seconds(1)))
        .await?;
    cx.write(SetRequest::new(&k, "v2").metadata("ttlInSeconds", "-1"))
        .await?;
    let at = cx.read_some(&k).await?.expires_at;
    ensure!(at.is_none(), "rewritten with ttl -1 but expires at {at:?}");
    nap().await;
    cx.read_eq(&k, b"v2").await.map(drop)
}

/// Rewriting without ttl removes the expiry.
pub async fn rewrite_without_ttl(cx: &Ctx) -> Outcome {
    let k = cx.key("k");
    cx.write(SetRequest::new(&k, "v1").ttl(Ttl::Seconds(1)))
        .await?;
    cx.put(&k, "v2").await?;
    let at = cx.read_some(&k).await?.expires_at;
    ensure!(at.is_none(), "rewritten without ttl but expires at {at:?}");
    nap().await;
    cx.read_eq(&k, b"v2").await.map(drop)
}

/// A new ttl replaces the old deadline, both longer and shorter.
pub async fn new_ttl_replaces(cx: &Ctx) -> Outcome {
    let (longer, shorter) = (cx.key("longer"), cx.key("shorter"));
    cx.write(SetRequest::new(&longer, "v").ttl(Ttl::Seconds(1)))
        .await?;
    cx.write(SetRequest::new(&longer, "v").ttl(Ttl::Seconds(100)))
        .await?;
    cx.write(SetRequest::new(&shorter, "v").ttl(Ttl::Seconds(100)))
        .await?;
    cx.write(SetRequest::new(&shorter, "v").ttl(Ttl::Seconds(1)))
        .await?;
    nap().await;
    cx.read_eq(&longer, b"v").await?;
    cx.read_none(&shorter, "ttl shortened to 1 s, 2.1 s ago")
        .await
}

/// An expired key's old etag no longer matches, and the key does not
/// block a first-write insert.
pub async fn expired_etag_and_first_write(cx: &Ctx) -> Outcome {
    let k = cx.key("k");
    let e = cx
        .write(SetRequest::new(&k, "old").ttl(Ttl::Seconds(1)))
        .await?;
    let e = cx.etag_of(e, "set with ttl 1")?;
    nap().await;
    fails(
        cx.store
            .set(SetRequest::new(&k, "new").etag(e.clone()))
            .await,
        ErrorKind::ETagMismatch,
        "set with the etag of an expired key",
    )?;
    let fresh = cx.write(SetRequest::new(&k, "new").first_write()).await?;
    ensure!(
        fresh.as_ref() != Some(&e),
        "the re-inserted key got the expired key's etag {e}"
    );
    cx.read_eq(&k, b"new").await?;
    fails(
        cx.store.set(SetRequest::new(&k, "newer").etag(e)).await,
        ErrorKind::ETagMismatch,
        "set with the expired incarnation's etag after re-insert",
    )
    .map(drop)
}

/// Expired keys are never listed by keys_like.
pub async fn keys_like_hides_expired(cx: &Ctx) -> Outcome {
    let (live, dying) = (cx.key("live"), cx.key("dying"));
    cx.put(&live, "v").await?;
    cx.write(SetRequest::new(&dying, "v").ttl(Ttl::Seconds(1)))
        .await?;
    nap().await;
    let pattern = format!("{}%", like_escape(&cx.key("")));
    let page = ok(
        cx.store.keys_like(KeysLikeRequest::new(&pattern)).await,
        "keys_like",
    )?;
    ensure!(
        page.keys == vec![live.clone()],
        "keys_like {pattern:?} 2.1 s after a ttl of 1: expected [{live:?}], got {:?}",
        page.keys
    );
    Ok(())
}

/// Escapes LIKE wildcards so `text` matches literally.
pub fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    debug_assert!(like::LikePattern::parse(&format!("{out}%")).is_ok());
    out
}
