//! `statestore get | set | delete | keys`.

use std::process::ExitCode;

use clap::Args;
use statestore::{
    Concurrency, DeleteRequest, ETag, GetRequest, KeysLikeRequest, Registry, Result, SetRequest,
    Ttl,
};
use tokio::io::AsyncWriteExt;

use super::StoreArgs;

#[derive(Args)]
pub struct GetArgs {
    /// The key.
    key: String,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Args)]
pub struct SetArgs {
    /// The key.
    key: String,
    /// The value (use --value-file for bytes from a file).
    #[arg(required_unless_present = "value_file")]
    value: Option<String>,
    /// Read the value from this file.
    #[arg(long, conflicts_with = "value")]
    value_file: Option<std::path::PathBuf>,
    /// Write only if this is the current etag.
    #[arg(long)]
    etag: Option<String>,
    /// first-write or last-write.
    #[arg(long, default_value = "last-write")]
    concurrency: String,
    /// Seconds to live; -1 never expires.
    #[arg(long, allow_hyphen_values = true)]
    ttl: Option<i64>,
    /// Content type stored with the value.
    #[arg(long)]
    content_type: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Args)]
pub struct DeleteArgs {
    /// The key.
    key: String,
    /// Delete only if this is the current etag.
    #[arg(long)]
    etag: Option<String>,
    /// first-write or last-write.
    #[arg(long, default_value = "last-write")]
    concurrency: String,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Args)]
pub struct KeysArgs {
    /// SQL LIKE pattern: % any run, _ one character, \ escapes.
    pattern: String,
    /// Keys per page; every key when absent.
    #[arg(long)]
    page_size: Option<u32>,
    /// Token of the previous page.
    #[arg(long)]
    token: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
}

pub async fn get(registry: &Registry, args: GetArgs) -> Result<ExitCode> {
    let store = args.store.open(registry).await?;
    let item = store.get(GetRequest::new(&args.key)).await;
    let _ = store.close().await;
    let Some(item) = item? else {
        eprintln!("{:?}: not found", args.key);
        return Ok(ExitCode::from(1));
    };
    let mut out = tokio::io::stdout();
    let _ = out.write_all(&item.value).await;
    let _ = out.flush().await;
    if let Some(etag) = &item.etag {
        eprintln!("etag: {etag}");
    }
    if let Some(t) = item.expire_time_rfc3339() {
        eprintln!("expires: {t}");
    }
    if let Some(ct) = &item.content_type {
        eprintln!("content-type: {ct}");
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn set(registry: &Registry, args: SetArgs) -> Result<ExitCode> {
    let value = match (&args.value, &args.value_file) {
        (_, Some(path)) => std::fs::read(path).map_err(|e| {
            statestore::Error::invalid(format!("cannot read --value-file {}", path.display()))
                .with_source(e)
        })?,
        (Some(v), None) => v.clone().into_bytes(),
        (None, None) => Vec::new(),
    };
    let mut req =
        SetRequest::new(&args.key, value).concurrency(args.concurrency.parse::<Concurrency>()?);
    req.etag = args.etag.map(ETag::new);
    req.content_type = args.content_type;
    if let Some(ttl) = args.ttl {
        req.ttl = Ttl::from_seconds(ttl)?;
    }
    let store = args.store.open(registry).await?;
    let result = store.set(req).await;
    let _ = store.close().await;
    if let Some(etag) = result? {
        println!("{etag}");
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn delete(registry: &Registry, args: DeleteArgs) -> Result<ExitCode> {
    let mut req =
        DeleteRequest::new(&args.key).concurrency(args.concurrency.parse::<Concurrency>()?);
    req.etag = args.etag.map(ETag::new);
    let store = args.store.open(registry).await?;
    let result = store.delete(req).await;
    let _ = store.close().await;
    result.map(|()| ExitCode::SUCCESS)
}

pub async fn keys(registry: &Registry, args: KeysArgs) -> Result<ExitCode> {
    let mut req = KeysLikeRequest::new(&args.pattern);
    req.page_size = args.page_size;
    req.token = args.token;
    let store = args.store.open(registry).await?;
    let page = store.keys_like(req).await;
    let _ = store.close().await;
    let page = page?;
    for key in &page.keys {
        println!("{key}");
    }
    if let Some(token) = page.token {
        eprintln!("next page: --token {token}");
    }
    Ok(ExitCode::SUCCESS)
}
