//! Values, keys and their metadata on every path (docs/contract.md, *Keys
//! and values*): bytes come back exactly through every write and read
//! path, the content type and `ttlInSeconds` travel through bulk calls and
//! transactions as through `set`, keys that look alike stay apart, and the
//! longest key and value a store allows round-trip.

use serde_json::json;
use statestore_core::{Bytes, Feature, GetRequest, KeysLikeRequest, SetRequest, Ttl};

use super::{paths, query};
use crate::context::{Around, Ctx, Outcome, fail, like_escape, ok, show};
use crate::ensure;

/// The first byte where two values differ, for messages.
fn difference(want: &[u8], got: &[u8]) -> String {
    let at = want
        .iter()
        .zip(got)
        .position(|(a, b)| a != b)
        .unwrap_or(want.len().min(got.len()));
    format!(
        "{} bytes written, {} read back, first difference at byte {at}",
        want.len(),
        got.len()
    )
}

/// Values of every shape (empty, one byte, trailing NUL, 0xff or newline,
/// 64 KiB of random bytes, JSON) come back byte for byte through every
/// write path and every read path, and JSON through query.
pub async fn every_write_and_read_path(cx: &Ctx) -> Outcome {
    let mut rng = cx.rng();
    let random: Vec<u8> = (0..64 * 1024).map(|_| rng.u8(..)).collect();
    let suite = cx.key("");
    let json_doc = serde_json::to_vec(&json!({"suite": suite, "n": 1, "s": "é\u{0}"}))
        .map_err(|e| fail(format!("serialize: {e}")))?;
    let values: [(&str, Vec<u8>); 7] = [
        ("empty", Vec::new()),
        ("one byte", b"x".to_vec()),
        ("trailing NUL", b"abc\0".to_vec()),
        ("trailing 0xff", vec![b'a', 0xff]),
        ("trailing newline", b"line\n".to_vec()),
        ("64 KiB random", random),
        ("JSON", json_doc.clone()),
    ];
    let mut json_keys = Vec::new();
    for path in paths::writes(cx) {
        for (name, value) in &values {
            let k = cx.key(&format!("{path} {name}"));
            ok(
                paths::write(&*cx.store, path, SetRequest::new(&k, value.clone())).await,
                format!("{path} of {k:?} ({name})"),
            )?;
            if *name == "JSON" {
                json_keys.push(k.clone());
            }
            for read in paths::READS {
                let got = paths::read(cx, read, &k).await?.map(|i| i.value);
                let got = got.ok_or_else(|| {
                    fail(format!(
                        "{read} {k:?} ({name}, written by {path}): no value"
                    ))
                })?;
                ensure!(
                    got == value[..],
                    "{read} {k:?} ({name}, written by {path}): {}",
                    difference(value, &got)
                );
            }
        }
    }
    if cx.has(Feature::QueryApi) {
        let results = query::of_suite(cx, &suite, None).await?;
        for k in &json_keys {
            let item = results.iter().find(|i| &i.key == k).ok_or_else(|| {
                fail(format!(
                    "query of the case's documents: no result for JSON value {k:?}"
                ))
            })?;
            ensure!(
                item.value == json_doc[..],
                "query result {k:?}: {}",
                difference(&json_doc, &item.value)
            );
        }
    }
    Ok(())
}

/// The content type (field and `contentType` metadata) and the ttl (field
/// and `ttlInSeconds` metadata) of a write arrive through every write path,
/// as get and bulk_get show.
pub async fn metadata_through_every_write_path(cx: &Ctx) -> Outcome {
    let ttl = cx.has(Feature::Ttl);
    for path in paths::writes(cx) {
        let field = SetRequest::new(cx.key(&format!("{path} field")), "{}")
            .content_type("application/json");
        let metadata = SetRequest::new(cx.key(&format!("{path} metadata")), "x")
            .metadata("contentType", "text/plain");
        let mut cases = vec![
            (
                "the content type field",
                field,
                Some("application/json"),
                None,
            ),
            ("contentType metadata", metadata, Some("text/plain"), None),
        ];
        if ttl {
            let typed = SetRequest::new(cx.key(&format!("{path} ttl")), "x")
                .ttl(Ttl::Seconds(100))
                .content_type("text/csv");
            let meta = SetRequest::new(cx.key(&format!("{path} ttlInSeconds")), "x")
                .metadata("ttlInSeconds", "100")
                .metadata("contentType", "text/csv");
            cases.push((
                "a ttl of 100 and a content type",
                typed,
                Some("text/csv"),
                Some(100),
            ));
            cases.push((
                "ttlInSeconds 100 and contentType metadata",
                meta,
                Some("text/csv"),
                Some(100),
            ));
        }
        for (how, req, content_type, expires) in cases {
            let k = req.key.clone();
            let (written, around) = Around::write(paths::write(&*cx.store, path, req)).await;
            ok(written, format!("{path} of {k:?} with {how}"))?;
            for read in paths::READS {
                let item = paths::read(cx, read, &k).await?.ok_or_else(|| {
                    fail(format!(
                        "{read} {k:?} (written by {path} with {how}): no value"
                    ))
                })?;
                ensure!(
                    item.content_type.as_deref() == content_type,
                    "{read} {k:?} (written by {path} with {how}): content type {:?}, expected {content_type:?}",
                    item.content_type
                );
                if let Some(secs) = expires {
                    ensure!(
                        around.expires(item.expires_at, secs),
                        "{read} {k:?} (written by {path} with {how}): expiry {:?}, expected write time + {secs} s",
                        item.expire_time_rfc3339()
                    );
                }
            }
        }
    }
    Ok(())
}

/// Keys that differ only by case, by leading or trailing spaces, by Unicode
/// normalisation or by a zero-width character are different keys: each
/// keeps its own value, and keys_like lists each.
pub async fn distinct_keys(cx: &Ctx) -> Outcome {
    let names = [
        "key",
        "KEY",
        "Key",
        "key ",
        " key",
        "key  ",
        "key\t",
        "caf\u{e9}",
        "cafe\u{301}",
        "stra\u{df}e",
        "strasse",
        "key\u{200b}",
        "\u{ff4b}ey",
        "i",
        "\u{131}",
    ];
    let keys: Vec<String> = names.iter().map(|n| cx.key(n)).collect();
    for (i, k) in keys.iter().enumerate() {
        cx.put(k, format!("value {i}")).await?;
    }
    for (i, k) in keys.iter().enumerate() {
        let item = cx.read_some(k).await?;
        ensure!(
            item.value == format!("value {i}").as_bytes(),
            "get {k:?}: expected \"value {i}\", got {} (keys that differ only by case, spaces or \
             normalisation must stay apart)",
            show(&item.value)
        );
    }
    let got = ok(
        cx.store
            .bulk_get(keys.iter().map(GetRequest::new).collect())
            .await,
        "bulk_get",
    )?;
    for (i, (k, entry)) in keys.iter().zip(&got).enumerate() {
        let v = entry
            .result
            .as_ref()
            .ok()
            .and_then(|i| i.as_ref())
            .map(|i| i.value.clone());
        ensure!(
            v.as_deref() == Some(format!("value {i}").as_bytes()),
            "bulk_get {k:?}: expected \"value {i}\", got {:?}",
            v.map(|b| show(&b))
        );
    }
    if cx.has(Feature::KeysLike) {
        let pattern = format!("{}%", like_escape(&cx.key("")));
        let page = ok(
            cx.store.keys_like(KeysLikeRequest::new(&pattern)).await,
            "keys_like",
        )?;
        for k in &keys {
            ensure!(
                page.keys.contains(k),
                "keys_like {pattern:?} does not list {k:?}"
            );
        }
    }
    Ok(())
}

/// The longest key and value the store allows round-trip: the declared
/// maximum, or 64 KiB of key and 8 MiB of value where it declares none.
/// Two longest keys that differ only in their last character stay apart.
pub async fn longest_key_and_value(cx: &Ctx) -> Outcome {
    const KEY: usize = 64 * 1024;
    const VALUE: usize = 8 << 20;
    let limits = cx.caps().limits;
    let base = cx.key("");
    let key_len = limits.max_key_len.unwrap_or(KEY).min(KEY);
    if key_len > base.len() + 1 {
        let stem = "k".repeat(key_len - base.len() - 1);
        let (a, b) = (cx.key(&format!("{stem}a")), cx.key(&format!("{stem}b")));
        cx.put(&a, "a").await?;
        cx.put(&b, "b").await?;
        for (k, v) in [(&a, b"a"), (&b, b"b")] {
            let got = cx.read_some(k).await?.value;
            ensure!(
                got == v[..],
                "get of a {key_len}-byte key ending in {:?}: got {} (long keys cut short collide)",
                v[0] as char,
                show(&got)
            );
        }
    }
    let value_len = limits.max_value_len.unwrap_or(VALUE).min(VALUE);
    let mut rng = cx.rng();
    let value = Bytes::from((0..value_len).map(|_| rng.u8(..)).collect::<Vec<u8>>());
    let k = cx.key("largest value");
    ok(
        cx.store.set(SetRequest::new(&k, value.clone())).await,
        format!("set of a {value_len}-byte value"),
    )?;
    let got = cx.read_some(&k).await?.value;
    ensure!(
        got == value,
        "get of a {value_len}-byte value: {}",
        difference(&value, &got)
    );
    Ok(())
}
