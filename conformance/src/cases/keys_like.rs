//! Keys-like (docs/contract.md, *Bulk calls, transactions, prefixes*; expired keys
//! are with the ttl cases).

use std::collections::BTreeSet;

use statestore_core::{DeleteRequest, ErrorKind, KeysLikeRequest, KeysPage, SetRequest};

use crate::context::{Ctx, Failure, Outcome, fails, like_escape, ok};
use crate::ensure;

/// An empty pattern is refused with its own error.
pub async fn empty_pattern(cx: &Ctx) -> Outcome {
    let e = fails(
        cx.store.keys_like(KeysLikeRequest::new("")).await,
        ErrorKind::InvalidRequest,
        "keys_like \"\"",
    )?;
    ensure!(
        e.message().contains("empty"),
        "keys_like \"\": the error should say the pattern is empty: {e}"
    );
    Ok(())
}

async fn list(cx: &Ctx, pattern: &str) -> Result<Vec<String>, Failure> {
    let page = ok(
        cx.store.keys_like(KeysLikeRequest::new(pattern)).await,
        format!("keys_like {pattern:?}"),
    )?;
    ensure!(
        page.token.is_none(),
        "keys_like {pattern:?} without page size returned a token"
    );
    Ok(page.keys)
}

/// `%`, `_` and backslash escapes work as SQL LIKE, case-sensitively.
pub async fn wildcards_and_escapes(cx: &Ctx) -> Outcome {
    let base = like_escape(&cx.key(""));
    let names = [
        "abc", "abd", "xbc", "a_c", "a%c", r"a\c", "ABC", "ab", "a*c", "a?c", "a[b]c",
    ];
    for n in names {
        cx.put(&cx.key(n), "v").await?;
    }
    let cases: [(&str, &[&str]); 11] = [
        ("ab%", &["ab", "abc", "abd"]),
        ("_bc", &["abc", "xbc"]),
        ("a_c", &[r"a\c", "a%c", "a*c", "a?c", "a_c", "abc"]),
        (r"a\_c", &["a_c"]),
        (r"a\%c", &["a%c"]),
        (r"a\\c", &[r"a\c"]),
        ("ABC", &["ABC"]),
        (
            "%c",
            &["abc", "xbc", "a_c", "a%c", r"a\c", "a*c", "a?c", "a[b]c"],
        ),
        ("a*c", &["a*c"]),
        ("a?c", &["a?c"]),
        ("a[b]%", &["a[b]c"]),
    ];
    for (pattern, want) in cases {
        let full = format!("{base}{pattern}");
        let got: BTreeSet<String> = list(cx, &full).await?.into_iter().collect();
        let want: BTreeSet<String> = want.iter().map(|n| cx.key(n)).collect();
        ensure!(
            got == want,
            "keys_like {full:?}: expected {want:?}, got {got:?}"
        );
    }
    Ok(())
}

async fn page(
    cx: &Ctx,
    pattern: &str,
    size: u32,
    token: Option<String>,
) -> Result<KeysPage, Failure> {
    let mut req = KeysLikeRequest::new(pattern).page_size(size);
    req.token = token;
    ok(
        cx.store.keys_like(req).await,
        format!("keys_like {pattern:?} page size {size}"),
    )
}

/// Without page size every match comes back; with one, at most that many
/// and a token exactly when more remain; tokens yield every key once.
pub async fn paging(cx: &Ctx) -> Outcome {
    const N: usize = 1100;
    let keys: Vec<String> = (0..N).map(|i| cx.key(&format!("p{i:05}"))).collect();
    let reqs = keys.iter().map(|k| SetRequest::new(k, "v")).collect();
    let res = ok(cx.store.bulk_set(reqs).await, "bulk_set of 1,100 keys")?;
    ensure!(
        res.iter().all(|r| r.result.is_ok()),
        "bulk_set of 1,100 keys: some failed"
    );
    let pattern = format!("{}p%", like_escape(&cx.key("")));
    let all: BTreeSet<String> = list(cx, &pattern).await?.into_iter().collect();
    let want: BTreeSet<String> = keys.iter().cloned().collect();
    ensure!(
        all == want,
        "keys_like {pattern:?}: expected {N} keys, got {}",
        all.len()
    );
    for size in [100u32, 333, 1100, 5000] {
        let mut seen = BTreeSet::new();
        let mut token = None;
        loop {
            let p = page(cx, &pattern, size, token).await?;
            ensure!(
                p.keys.len() <= size as usize,
                "page size {size}: got {} keys",
                p.keys.len()
            );
            for k in &p.keys {
                ensure!(
                    seen.insert(k.clone()),
                    "page size {size}: {k:?} listed twice"
                );
            }
            let more = seen.len() < N;
            ensure!(
                p.token.is_some() == more,
                "page size {size}: after {} of {N} keys the token is {:?}",
                seen.len(),
                p.token
            );
            token = p.token;
            if token.is_none() {
                break;
            }
        }
        ensure!(
            seen == want,
            "page size {size}: listed {} of {N} keys",
            seen.len()
        );
    }
    let p = page(cx, &like_escape(&keys[0]), 1, None).await?;
    ensure!(
        p.keys == vec![keys[0].clone()] && p.token.is_none(),
        "page of the only match: got {p:?}"
    );
    Ok(())
}

/// Tokens stay valid across concurrent inserts and deletes, never return
/// deleted keys, and list every key that stayed exactly once.
pub async fn concurrent_changes(cx: &Ctx) -> Outcome {
    let keys: Vec<String> = (0..300).map(|i| cx.key(&format!("c{i:04}"))).collect();
    let res = ok(
        cx.store
            .bulk_set(keys.iter().map(|k| SetRequest::new(k, "v")).collect())
            .await,
        "bulk_set",
    )?;
    ensure!(
        res.iter().all(|r| r.result.is_ok()),
        "bulk_set of 300 keys: some failed"
    );
    let pattern = format!("{}c%", like_escape(&cx.key("")));
    let first = page(cx, &pattern, 50, None).await?;
    let mut seen: BTreeSet<String> = first.keys.iter().cloned().collect();
    // Delete keys not listed yet, and insert keys before and after the cursor.
    let deleted: BTreeSet<String> = keys[100..300].iter().step_by(7).cloned().collect();
    let reqs = deleted.iter().map(DeleteRequest::new).collect();
    ok(
        cx.store.bulk_delete(reqs).await,
        "bulk_delete of not yet listed keys",
    )?;
    for name in ["c0000a", "c0150a", "c9999"] {
        cx.put(&cx.key(name), "new").await?;
    }
    let mut token = first.token;
    while let Some(t) = token {
        let p = page(cx, &pattern, 50, Some(t)).await?;
        for k in &p.keys {
            ensure!(
                !deleted.contains(k),
                "keys_like returned {k:?}, deleted before its page was read"
            );
            ensure!(
                seen.insert(k.clone()),
                "keys_like returned {k:?} twice across pages"
            );
        }
        token = p.token;
    }
    let stayed: Vec<&String> = keys.iter().filter(|k| !deleted.contains(*k)).collect();
    let missing: Vec<&&String> = stayed.iter().filter(|k| !seen.contains(**k)).collect();
    ensure!(
        missing.is_empty(),
        "keys present throughout were never listed: {missing:?}"
    );
    Ok(())
}
