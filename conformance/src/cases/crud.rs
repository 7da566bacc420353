//! CRUD and value fidelity (docs/contract.md, *Operations*, *Keys and values* and *Errors*).

use statestore_core::{
    Concurrency, Consistency, DeleteRequest, ErrorKind, GetRequest, Operation, SetRequest,
};

use crate::context::{Ctx, Outcome, fails, ok, show};
use crate::ensure;

/// Values of every common shape come back byte for byte.
pub async fn value_fidelity(cx: &Ctx) -> Outcome {
    let values: [(&str, &[u8]); 8] = [
        ("int", b"42"),
        ("negative", b"-7"),
        ("bool", b"true"),
        ("string", b"hello world"),
        ("empty", b""),
        ("json", br#"{"a":1}"#),
        ("nested", br#"{"a":{"b":[1,2,{"c":null}]},"d":"\u00e9"}"#),
        ("json-string", br#""quoted""#),
    ];
    for (name, v) in values {
        let k = cx.key(name);
        cx.put(&k, v.to_vec()).await?;
        cx.read_eq(&k, v).await?;
    }
    Ok(())
}

/// Binary values, and a 1 MiB value (or the store's maximum).
pub async fn binary_values(cx: &Ctx) -> Outcome {
    let all: Vec<u8> = (0..=255u8).collect();
    let big_len = cx
        .caps()
        .limits
        .max_value_len
        .unwrap_or(1 << 20)
        .min(1 << 20);
    let mut rng = fastrand::Rng::with_seed(9);
    let big: Vec<u8> = (0..big_len).map(|_| rng.u8(..)).collect();
    let values: [(&str, &[u8]); 5] = [
        ("nul", &[0]),
        ("ff", &[0xff]),
        ("mixed", &[0, 0xff, 0, 0xfe, b'\'', b'"', b'\\']),
        ("all-bytes", &all),
        ("big", &big),
    ];
    for (name, v) in values {
        let k = cx.key(name);
        cx.put(&k, v.to_vec()).await?;
        let got = cx.read_some(&k).await?;
        ensure!(
            got.value == v,
            "get {k:?}: {} bytes written, {} bytes read back, first difference at byte {:?}",
            v.len(),
            got.value.len(),
            v.iter().zip(got.value.iter()).position(|(a, b)| a != b)
        );
    }
    Ok(())
}

/// The content type travels with the value (field or `contentType`
/// metadata) and is absent when none was given.
pub async fn content_type(cx: &Ctx) -> Outcome {
    let cases = [
        (
            "field",
            SetRequest::new(cx.key("field"), "{}").content_type("application/json"),
        ),
        (
            "metadata",
            SetRequest::new(cx.key("metadata"), "x").metadata("contentType", "text/plain"),
        ),
    ];
    for (how, req) in cases {
        let key = req.key.clone();
        let want = req
            .content_type
            .clone()
            .or_else(|| req.metadata.get("contentType").cloned());
        ok(
            cx.store.set(req).await,
            format!("set {key:?} with a content type ({how})"),
        )?;
        let got = cx.read_some(&key).await?.content_type;
        ensure!(
            got == want,
            "get {key:?}: content type expected {want:?}, got {got:?}"
        );
    }
    let plain = cx.key("plain");
    cx.put(&plain, "x").await?;
    let got = cx.read_some(&plain).await?.content_type;
    ensure!(
        got.is_none(),
        "get {plain:?}: written without content type, got {got:?}"
    );
    Ok(())
}

/// A missing key reads as nothing, without error and without etag.
pub async fn get_missing(cx: &Ctx) -> Outcome {
    cx.read_none(&cx.key("never-written"), "never written")
        .await
}

/// Delete removes an existing key.
pub async fn delete_existing(cx: &Ctx) -> Outcome {
    let k = cx.key("doomed");
    cx.put(&k, "v").await?;
    ok(
        cx.store.delete(DeleteRequest::new(&k)).await,
        format!("delete {k:?}"),
    )?;
    cx.read_none(&k, "after delete").await
}

/// Deleting a missing key without etag succeeds.
pub async fn delete_missing(cx: &Ctx) -> Outcome {
    let k = cx.key("absent");
    ok(
        cx.store.delete(DeleteRequest::new(&k)).await,
        format!("delete missing {k:?}"),
    )
}

/// Overwriting without etag replaces the value.
pub async fn overwrite(cx: &Ctx) -> Outcome {
    let k = cx.key("k");
    cx.put(&k, "first").await?;
    cx.put(&k, "second").await?;
    cx.read_eq(&k, b"second").await.map(drop)
}

/// Keys with quotes, wildcards, escapes, unicode, `||` and text that
/// looks like SQL or commands round-trip unchanged.
pub async fn odd_keys(cx: &Ctx) -> Outcome {
    let names = [
        "'; DROP TABLE state; --",
        "\" OR 1=1 --",
        "50%_off",
        r"back\slash\",
        "ünïcødé ✓ 😀 中文",
        "a||b||c",
        "trailing||",
        "KEYS *",
        "EVAL \"return redis.call('FLUSHALL')\" 0",
        "{\"$where\": \"1\"}",
        "tab\tand\nnewline",
        "  spaces  ",
    ];
    let keys: Vec<String> = names.iter().map(|n| cx.key(n)).collect();
    for k in &keys {
        cx.put(k, k.clone().into_bytes()).await?;
    }
    for k in &keys {
        cx.read_eq(k, k.as_bytes()).await?;
    }
    let reqs = keys.iter().map(GetRequest::new).collect();
    let got = ok(cx.store.bulk_get(reqs).await, "bulk_get of odd keys")?;
    for (k, entry) in keys.iter().zip(&got) {
        ensure!(
            &entry.key == k,
            "bulk_get: entry for {k:?} carries key {:?}",
            entry.key
        );
        let v = entry
            .result
            .as_ref()
            .ok()
            .and_then(|i| i.as_ref())
            .map(|i| i.value.clone());
        ensure!(
            v.as_deref() == Some(k.as_bytes()),
            "bulk_get {k:?}: got {:?}",
            v.map(|b| show(&b))
        );
    }
    Ok(())
}

/// An empty key, a key holding NUL, and one longer than the documented
/// maximum, are invalid requests.
pub async fn key_limits(cx: &Ctx) -> Outcome {
    fails(
        cx.store.get(GetRequest::new("")).await,
        ErrorKind::InvalidRequest,
        "get of the empty key",
    )?;
    fails(
        cx.store.set(SetRequest::new("", "v")).await,
        ErrorKind::InvalidRequest,
        "set of the empty key",
    )?;
    fails(
        cx.store.delete(DeleteRequest::new("")).await,
        ErrorKind::InvalidRequest,
        "delete of the empty key",
    )?;
    let nul = cx.key("nul\0byte");
    fails(
        cx.store.set(SetRequest::new(&nul, "v")).await,
        ErrorKind::InvalidRequest,
        "set of a key holding NUL",
    )?;
    let Some(max) = cx.caps().limits.max_key_len else {
        return Ok(());
    };
    let base = cx.key("");
    if max >= base.len() && max <= 1 << 20 {
        let longest = format!("{base}{}", "k".repeat(max - base.len()));
        cx.key(&longest[base.len()..]);
        cx.put(&longest, "v").await?;
        cx.read_eq(&longest, b"v").await?;
    }
    let too_long = format!("{base}{}", "k".repeat(max + 1));
    fails(
        cx.store.set(SetRequest::new(&too_long, "v")).await,
        ErrorKind::InvalidRequest,
        format!("set of a {}-byte key (maximum {max})", too_long.len()),
    )?;
    fails(
        cx.store.get(GetRequest::new(&too_long)).await,
        ErrorKind::InvalidRequest,
        format!("get of a {}-byte key (maximum {max})", too_long.len()),
    )?;
    Ok(())
}

/// Unknown concurrency or consistency strings are refused; both
/// consistencies are accepted on every call.
pub async fn unknown_option_strings(cx: &Ctx) -> Outcome {
    for bad in ["firstwrite", "FIRST_WRITE", "last"] {
        let r = bad.parse::<Concurrency>();
        ensure!(
            matches!(&r, Err(e) if e.kind() == ErrorKind::InvalidRequest),
            "concurrency {bad:?}: expected InvalidRequest, got {r:?}"
        );
    }
    for bad in ["strongest", "Eventually"] {
        let r = bad.parse::<Consistency>();
        ensure!(
            matches!(&r, Err(e) if e.kind() == ErrorKind::InvalidRequest),
            "consistency {bad:?}: expected InvalidRequest, got {r:?}"
        );
    }
    let k = cx.key("consistent");
    for c in [Consistency::Strong, Consistency::Eventual] {
        ok(
            cx.store.set(SetRequest::new(&k, "v").consistency(c)).await,
            format!("set with {c:?}"),
        )?;
        ok(
            cx.store.get(GetRequest::new(&k).consistency(c)).await,
            format!("get with {c:?}"),
        )?;
    }
    ok(
        cx.store
            .delete(DeleteRequest::new(&k).consistency(Consistency::Strong))
            .await,
        "delete with Strong",
    )
}

/// docs/contract.md, *Errors*: errors name the store and the operation, and never hold the
/// value's bytes.
pub async fn errors_name_store_and_operation(cx: &Ctx) -> Outcome {
    let secret = "value-bytes-that-must-not-leak";
    let e = fails(
        cx.store.set(SetRequest::new("", secret)).await,
        ErrorKind::InvalidRequest,
        "set of the empty key",
    )?;
    ensure!(
        e.store() == Some(cx.name()),
        "set error names store {:?}, expected {:?}: {e}",
        e.store(),
        cx.name()
    );
    ensure!(
        e.operation() == Some(Operation::Set),
        "set error names operation {:?}: {e}",
        e.operation()
    );
    ensure!(
        !format!("{e} {e:?}").contains(secret),
        "the error shows the value's bytes: {e:?}"
    );
    let e = fails(
        cx.store.get(GetRequest::new("")).await,
        ErrorKind::InvalidRequest,
        "get of the empty key",
    )?;
    ensure!(
        e.operation() == Some(Operation::Get),
        "get error names operation {:?}: {e}",
        e.operation()
    );
    Ok(())
}
