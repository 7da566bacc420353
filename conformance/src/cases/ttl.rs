//! Time to live (docs/contract.md, *TTL*).

use std::time::Duration;

use serde_json::json;
use statestore_core::{
    DeleteRequest, DeleteWithPrefixRequest, ETag, ErrorKind, Feature, GetRequest, KeysLikeRequest,
    SetRequest, TransactRequest, Ttl,
};

use super::{paths, query};
use crate::context::{Around, Ctx, Failure, Outcome, fail, fails, like_escape, ok};
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

/// Get and bulk_get return the expiry time, close to write time + N; so do
/// bulk_set and transactions of several keys with different ttls (a store
/// may write them in one statement, whose clock and ttls must be each
/// row's).
pub async fn expiry_time(cx: &Ctx) -> Outcome {
    let k = cx.key("k");
    let (written, around) =
        Around::write(cx.write(SetRequest::new(&k, "v").ttl(Ttl::Seconds(100)))).await;
    written?;
    let item = cx.read_some(&k).await?;
    ensure!(
        around.expires(item.expires_at, 100),
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
        around.expires(at, 100),
        "bulk_get: expiry {at:?} is not write time + 100 s"
    );
    // set is checked above; these write 20 keys in one call (more than
    // 16, so a store may write conditional ones in one statement too).
    use paths::Write::{BulkSet, Set};
    let mut kinds: Vec<_> = paths::writes(cx)
        .into_iter()
        .filter(|p| !matches!(p, Set))
        .map(|p| (p, Kind::Plain))
        .collect();
    if cx.has(Feature::ETag) {
        kinds.extend([(BulkSet, Kind::IfMatch), (BulkSet, Kind::FirstWrite)]);
    }
    for (path, kind) in kinds {
        expiries_of_many(cx, path, kind).await?;
    }
    Ok(())
}

/// How [`expiries_of_many`] writes its keys.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Plain,
    IfMatch,
    FirstWrite,
}

/// 20 keys with ttls from 100 to 290 s written by one call of `path`
/// (bulk_set or transact): each expires at write time + its own ttl.
async fn expiries_of_many(cx: &Ctx, path: paths::Write, kind: Kind) -> Outcome {
    let what = format!("{path} of 20 keys ({kind:?}) with ttls");
    let mut reqs = Vec::new();
    let mut keys = Vec::new();
    for i in 0..20u32 {
        let (k, secs) = (cx.key(&format!("{what} {i}")), 100 + 10 * i);
        let req = SetRequest::new(&k, "v").ttl(Ttl::Seconds(secs));
        reqs.push(match kind {
            Kind::Plain => req,
            Kind::FirstWrite => req.first_write(),
            Kind::IfMatch => match cx.write(SetRequest::new(&k, "old")).await? {
                Some(etag) => req.etag(etag),
                None => return Err(fail(format!("set {k:?}: no etag"))),
            },
        });
        keys.push((k, secs));
    }
    let write = async {
        if matches!(path, paths::Write::Transact) {
            let tx = cx.store.transact(TransactRequest::new(reqs)).await;
            return tx.map(drop);
        }
        for r in cx.store.bulk_set(reqs).await? {
            r.result?;
        }
        Ok(())
    };
    let (written, around) = Around::write(write).await;
    ok(written, &what)?;
    for (k, secs) in &keys {
        let at = cx.read_some(k).await?.expires_at;
        ensure!(
            around.expires(at, u64::from(*secs)),
            "{what}: the expiry of {k:?} {at:?} is not write time + {secs} s"
        );
    }
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

/// Rewriting without ttl removes the expiry, one key at a time and in a
/// bulk call (where a store may write every row without a ttl in one
/// statement), also beside a row that keeps a ttl.
pub async fn rewrite_without_ttl(cx: &Ctx) -> Outcome {
    let (k, a, b, c) = (cx.key("k"), cx.key("a"), cx.key("b"), cx.key("c"));
    for key in [&k, &a, &b, &c] {
        cx.write(SetRequest::new(key, "v1").ttl(Ttl::Seconds(1)))
            .await?;
    }
    cx.put(&k, "v2").await?;
    let rewrites = |reqs: Vec<SetRequest>| async move {
        let what = format!("bulk_set of {} keys", reqs.len());
        for r in ok(cx.store.bulk_set(reqs).await, &what)? {
            ok(r.result, format!("{what}: {:?}", r.key))?;
        }
        Ok::<_, Failure>(())
    };
    rewrites(vec![SetRequest::new(&a, "v2"), SetRequest::new(&b, "v2")]).await?;
    rewrites(vec![
        SetRequest::new(&c, "v2"),
        SetRequest::new(cx.key("d"), "v").ttl(Ttl::Seconds(1)),
    ])
    .await?;
    for key in [&k, &a, &b, &c] {
        let at = cx.read_some(key).await?.expires_at;
        ensure!(
            at.is_none(),
            "{key:?} rewritten without ttl but expires at {at:?}"
        );
    }
    nap().await;
    for key in [&k, &a, &b, &c] {
        cx.read_eq(key, b"v2").await?;
    }
    cx.read_none(&cx.key("d"), "written with ttl 1 s, 2.1 s ago")
        .await
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

/// A key that expires in 1 second, written through `path` with the ttl as
/// the typed field or as `ttlInSeconds` metadata, and read at once (it must
/// be there before it expires); returns its etag.
async fn dying(
    cx: &Ctx,
    path: paths::Write,
    key: &str,
    metadata: bool,
) -> Result<Option<ETag>, Failure> {
    let req = SetRequest::new(key, "dying");
    let (req, how) = match metadata {
        false => (req.ttl(Ttl::Seconds(1)), "ttl 1"),
        true => (req.metadata("ttlInSeconds", "1"), "ttlInSeconds 1"),
    };
    let etag = ok(
        paths::write(&*cx.store, path, req).await,
        format!("{path} of {key:?} with {how}"),
    )?;
    cx.read_some(key).await.map_err(|e| match e {
        Failure::Failed(m) => fail(format!("{m} (written by {path} with {how}, read at once)")),
        other => other,
    })?;
    Ok(etag)
}

/// What [`expired_invisible_to_every_read`] wrote: keys that expire, with
/// how they were written, and keys that stay.
struct Mixed {
    expired: Vec<(String, String)>,
    live: Vec<String>,
    parent: String,
}

async fn write_mixed(cx: &Ctx) -> Result<Mixed, Failure> {
    let mut m = Mixed {
        expired: Vec::new(),
        live: Vec::new(),
        parent: cx.key("parent"),
    };
    for path in paths::writes(cx) {
        for metadata in [false, true] {
            let how = if metadata { "ttlInSeconds 1" } else { "ttl 1" };
            let k = cx.key(&format!("{path} {how}"));
            dying(cx, path, &k, metadata).await?;
            m.expired.push((k, format!("written by {path} with {how}")));
        }
    }
    let live = cx.key("live");
    cx.put(&live, "v").await?;
    m.live.push(live);
    if cx.has(Feature::DeleteWithPrefix) {
        let (dying_child, live_child) = (cx.key("parent||dying"), cx.key("parent||live"));
        dying(cx, paths::Write::Set, &dying_child, false).await?;
        m.expired.push((
            dying_child,
            "a child of the prefix, written with ttl 1".into(),
        ));
        cx.put(&live_child, "v").await?;
        m.live.push(live_child);
    }
    if cx.has(Feature::QueryApi) {
        let suite = cx.key("");
        for life in ["dying", "live"] {
            let k = cx.key(&format!("doc {life}"));
            let mut req = ok(
                SetRequest::json(k.as_str(), &json!({"suite": suite, "life": life})),
                "serialize",
            )?;
            if life == "dying" {
                req = req.ttl(Ttl::Seconds(1));
                ok(cx.store.set(req).await, format!("set {k:?}"))?;
                m.expired
                    .push((k, "a JSON document written with ttl 1".into()));
            } else {
                ok(cx.store.set(req).await, format!("set {k:?}"))?;
                m.live.push(k);
            }
        }
    }
    // After every live key in key order: paging must not go on for it.
    let last = cx.key("~ after every live key");
    dying(cx, paths::Write::Set, &last, false).await?;
    m.expired
        .push((last, "written with ttl 1, after every live key".into()));
    m.live.sort();
    Ok(m)
}

/// An expired key is invisible at once to every read and count, however it
/// was written: get, bulk_get, keys_like (whole and page by page), query
/// (whole and page by page) and the count delete_with_prefix returns.
pub async fn expired_invisible_to_every_read(cx: &Ctx) -> Outcome {
    let m = write_mixed(cx).await?;
    nap().await;
    for (k, how) in &m.expired {
        for path in paths::READS {
            let got = paths::read(cx, path, k).await?;
            ensure!(
                got.is_none(),
                "{path} {k:?} ({how}) 2.1 s later: expected no value, got {} bytes",
                got.map_or(0, |i| i.value.len())
            );
        }
    }
    let hidden = |listed: &[String], what: &str| -> Outcome {
        for (k, how) in &m.expired {
            ensure!(
                !listed.contains(k),
                "{what} lists {k:?} ({how}), expired at least 1.1 s ago"
            );
        }
        let mut listed = listed.to_vec();
        listed.sort();
        ensure!(
            listed == m.live,
            "{what}: expected the live keys {:?}, got {listed:?}",
            m.live
        );
        Ok(())
    };
    if cx.has(Feature::KeysLike) {
        let pattern = format!("{}%", like_escape(&cx.key("")));
        let all = ok(
            cx.store.keys_like(KeysLikeRequest::new(&pattern)).await,
            "keys_like",
        )?;
        hidden(&all.keys, &format!("keys_like {pattern:?}"))?;
        let paged = keys_page_by_page(cx, &pattern, m.live.last()).await?;
        hidden(&paged, &format!("keys_like {pattern:?} page by page"))?;
    }
    if cx.has(Feature::QueryApi) {
        let docs: Vec<String> = m
            .live
            .iter()
            .filter(|k| k.contains("||doc "))
            .cloned()
            .collect();
        let suite = cx.key("");
        for limit in [None, Some(1)] {
            let keys: Vec<String> = query::of_suite(cx, &suite, limit)
                .await?
                .into_iter()
                .map(|i| i.key)
                .collect();
            let what = match limit {
                None => "query of the case's documents".to_owned(),
                Some(n) => format!("query of the case's documents, {n} a page"),
            };
            for (k, how) in &m.expired {
                ensure!(
                    !keys.contains(k),
                    "{what} returns {k:?} ({how}), expired at least 1.1 s ago"
                );
            }
            ensure!(keys == docs, "{what}: expected {docs:?}, got {keys:?}");
        }
    }
    if cx.has(Feature::DeleteWithPrefix) {
        let parent = &m.parent;
        let n = ok(
            cx.store
                .delete_with_prefix(DeleteWithPrefixRequest::new(parent))
                .await,
            format!("delete_with_prefix {parent:?}"),
        )?;
        ensure!(
            n == 1,
            "delete_with_prefix {parent:?}: expected a count of 1 (its live child; the other expired), got {n}"
        );
    }
    Ok(())
}

/// Every key keys_like lists one at a time. The page of `last` (the last
/// live key) must carry no token: only expired keys follow it.
async fn keys_page_by_page(
    cx: &Ctx,
    pattern: &str,
    last: Option<&String>,
) -> Result<Vec<String>, Failure> {
    let mut listed = Vec::new();
    let mut token = None;
    for _ in 0..100 {
        let mut req = KeysLikeRequest::new(pattern).page_size(1);
        req.token = token;
        let page = ok(
            cx.store.keys_like(req).await,
            format!("keys_like {pattern:?} page size 1"),
        )?;
        if page.keys.last() == last {
            ensure!(
                page.token.is_none(),
                "keys_like {pattern:?} page size 1: a token after the last live key {last:?}, though only expired keys follow (a token exactly when more remain)"
            );
        }
        listed.extend(page.keys);
        token = page.token;
        if token.is_none() {
            return Ok(listed);
        }
    }
    Err(fail(format!(
        "keys_like {pattern:?} page size 1: still a token after 100 pages"
    )))
}

/// An expired key's etag is dead and the key is absent on every write and
/// remove path: its old etag is `ETagMismatch`, a first-write applies (and
/// gets a new etag, under which the old one stays refused), a first-write
/// delete succeeds.
pub async fn expired_etag_dead_on_every_write_path(cx: &Ctx) -> Outcome {
    // A key written with ttl 1, and its etag.
    let expiring = |name: String| async move {
        let k = cx.key(&name);
        let e = dying(cx, paths::Write::Set, &k, false).await?;
        Ok::<_, Failure>((k, cx.etag_of(e, "set with ttl 1")?))
    };
    let mut writes = Vec::new();
    for path in paths::writes(cx) {
        let ((k, ek), (f, ef)) = (
            expiring(format!("etag {path}")).await?,
            expiring(format!("first {path}")).await?,
        );
        writes.push((path, k, ek, f, ef));
    }
    let mut removes = Vec::new();
    for path in paths::removes(cx) {
        let ((k, ek), (f, _)) = (
            expiring(format!("etag {path}")).await?,
            expiring(format!("first {path}")).await?,
        );
        removes.push((path, k, ek, f));
    }
    nap().await;
    for (path, k, ek, f, ef) in writes {
        fails(
            paths::write(&*cx.store, path, SetRequest::new(&k, "new").etag(ek)).await,
            ErrorKind::ETagMismatch,
            format!("{path} of expired {k:?} with its old etag"),
        )?;
        cx.read_none(&k, "expired; written with its old etag")
            .await?;
        let what = format!("{path} first-write of expired {f:?}");
        let fresh = cx.etag_of(
            ok(
                paths::write(&*cx.store, path, SetRequest::new(&f, "new").first_write()).await,
                &what,
            )?,
            &what,
        )?;
        ensure!(
            fresh != ef,
            "{what}: got the expired life's etag {ef} again"
        );
        cx.read_eq(&f, b"new").await?;
        fails(
            paths::write(&*cx.store, path, SetRequest::new(&f, "newer").etag(ef)).await,
            ErrorKind::ETagMismatch,
            format!("{path} of re-inserted {f:?} with the expired life's etag"),
        )?;
    }
    for (path, k, ek, f) in removes {
        fails(
            paths::remove(&*cx.store, path, DeleteRequest::new(&k).etag(ek)).await,
            ErrorKind::ETagMismatch,
            format!("{path} of expired {k:?} with its old etag"),
        )?;
        ok(
            paths::remove(&*cx.store, path, DeleteRequest::new(&f).first_write()).await,
            format!("{path} first-write of expired {f:?} (absent)"),
        )?;
    }
    Ok(())
}

/// Ttls across their whole range: the longest (`i32::MAX` seconds, as field
/// and as metadata) and long ones expire when they say; `-1`, `0` and an
/// empty `ttlInSeconds` remove an earlier expiry.
pub async fn whole_range(cx: &Ctx) -> Outcome {
    let max = Ttl::MAX_SECONDS;
    let long: [(&str, SetRequest, u64); 4] = [
        (
            "ttl i32::MAX",
            SetRequest::new(cx.key("max"), "v").ttl(Ttl::Seconds(max)),
            u64::from(max),
        ),
        (
            "ttlInSeconds i32::MAX",
            SetRequest::new(cx.key("max-metadata"), "v").metadata("ttlInSeconds", max.to_string()),
            u64::from(max),
        ),
        (
            "ttl of 10 years",
            SetRequest::new(cx.key("decade"), "v").ttl(Ttl::Seconds(315_360_000)),
            315_360_000,
        ),
        (
            "ttl of 1 day",
            SetRequest::new(cx.key("day"), "v").ttl(Ttl::Seconds(86_400)),
            86_400,
        ),
    ];
    for (how, req, secs) in long {
        let k = req.key.clone();
        let (written, around) = Around::write(cx.store.set(req)).await;
        ok(written, format!("set {k:?} with {how}"))?;
        let item = cx.read_some(&k).await?;
        ensure!(
            around.expires(item.expires_at, secs),
            "get {k:?} written with {how}: expiry {:?} is not write time + {secs} s",
            item.expire_time_rfc3339()
        );
    }
    let clears: [(&str, SetRequest); 4] = [
        (
            "ttl -1",
            SetRequest::new(cx.key("clear"), "v").ttl(Ttl::Never),
        ),
        (
            "ttlInSeconds -1",
            SetRequest::new(cx.key("clear"), "v").metadata("ttlInSeconds", "-1"),
        ),
        (
            "ttlInSeconds 0",
            SetRequest::new(cx.key("clear"), "v").metadata("ttlInSeconds", "0"),
        ),
        (
            "an empty ttlInSeconds",
            SetRequest::new(cx.key("clear"), "v").metadata("ttlInSeconds", ""),
        ),
    ];
    for (how, req) in clears {
        let k = req.key.clone();
        cx.write(SetRequest::new(&k, "v").ttl(Ttl::Seconds(100)))
            .await?;
        ok(cx.store.set(req).await, format!("set {k:?} with {how}"))?;
        let at = cx.read_some(&k).await?.expires_at;
        ensure!(
            at.is_none(),
            "set {k:?} with {how} over a ttl of 100: expires at {at:?}, expected no expiry"
        );
    }
    Ok(())
}

/// Gives a request its ttl, one way or another.
type Shape = fn(SetRequest) -> SetRequest;

/// The ttl rules on every write path: a malformed `ttlInSeconds` is
/// refused and writes nothing; `-1`, `0`, an empty `ttlInSeconds` and no
/// ttl remove an earlier expiry.
pub async fn every_write_path(cx: &Ctx) -> Outcome {
    for path in paths::writes(cx) {
        let k = cx.key(&format!("bad {path}"));
        for bad in ["abc", "-2", "2147483648", "1.5"] {
            let req = SetRequest::new(&k, "v").metadata("ttlInSeconds", bad);
            fails(
                paths::write(&*cx.store, path, req).await,
                ErrorKind::InvalidRequest,
                format!("{path} of {k:?} with ttlInSeconds {bad:?}"),
            )?;
            cx.read_none(&k, &format!("refused by {path}")).await?;
        }
        let clears: [(&str, Shape); 5] = [
            ("ttl -1", |r| r.ttl(Ttl::Never)),
            ("ttlInSeconds -1", |r| r.metadata("ttlInSeconds", "-1")),
            ("ttlInSeconds 0", |r| r.metadata("ttlInSeconds", "0")),
            ("an empty ttlInSeconds", |r| r.metadata("ttlInSeconds", "")),
            ("no ttl", |r| r),
        ];
        let k = cx.key(&format!("clear {path}"));
        for (how, make) in clears {
            cx.write(SetRequest::new(&k, "v").ttl(Ttl::Seconds(100)))
                .await?;
            let req = make(SetRequest::new(&k, how));
            ok(
                paths::write(&*cx.store, path, req).await,
                format!("{path} of {k:?} with {how}"),
            )?;
            let item = cx.read_eq(&k, how.as_bytes()).await?;
            ensure!(
                item.expires_at.is_none(),
                "{path} of {k:?} with {how} over a ttl of 100: expires at {:?}, expected no expiry",
                item.expire_time_rfc3339()
            );
        }
    }
    Ok(())
}
