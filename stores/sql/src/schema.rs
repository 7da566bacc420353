//! Schema migrations and the TTL cleanup, both coordinated through the
//! metadata table so that several instances can share one database.

use std::time::Duration;

use statestore_core::{Error, Result};

use crate::backend::{Backend, Conn, Settings};
use crate::dialect::Dialect;

/// A lock id for `name` that every instance computes alike (FNV-1a), for
/// databases whose migration lock is named by a number or a short text.
pub fn lock_id(name: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in format!("statestore-migrate:{name}").bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h as i64
}

fn version_key(s: &Settings) -> String {
    format!("schema-version:{}", s.table)
}

fn cleanup_key(s: &Settings) -> String {
    format!("last-cleanup:{}", s.table)
}

/// Brings the schema to the newest version. Runs inside the backend's
/// migration lock, so instances starting together migrate one at a time and
/// the later ones find nothing left to do.
pub async fn migrate<B: Backend>(b: &B, s: &Settings) -> Result<()> {
    let d = b.dialect();
    let mut conn = b.begin_migration().await?;
    for stmt in d.create_metadata_table() {
        conn.execute(stmt).await?;
    }
    let key = version_key(s);
    let current = match conn.texts(d.metadata_get(&key)).await?.first() {
        None => 0,
        Some(v) => v.trim().parse::<usize>().map_err(|_| {
            Error::config(format!(
                "metadata table {}: {key} holds {v:?}, not a version number",
                s.metadata_table
            ))
        })?,
    };
    // The cleanup bookkeeping row exists from the start, so that a claim
    // can be a plain conditional UPDATE where the dialect needs one.
    let cleanup = cleanup_key(s);
    if conn.texts(d.metadata_get(&cleanup)).await?.is_empty() {
        conn.execute(d.metadata_set(&cleanup, "0")).await?;
    }
    let migrations = d.migrations();
    if current > migrations.len() {
        return Err(Error::config(format!(
            "table {} is at schema version {current}, newer than this build knows ({}); upgrade statestore",
            s.table,
            migrations.len()
        )));
    }
    if current == migrations.len() {
        return conn.commit().await;
    }
    for (n, migration) in migrations.into_iter().enumerate().skip(current) {
        for stmt in migration {
            conn.execute(stmt).await?;
        }
        tracing::info!(store = B::NAME, table = %s.table, version = n + 1, "schema migrated");
    }
    conn.execute(d.metadata_set(&key, &d.migrations().len().to_string()))
        .await?;
    conn.commit().await
}

/// One cleanup turn: claims the turn in the metadata table and, if this
/// instance got it, deletes expired rows. Returns how many, or `None` when
/// another instance had the turn within the interval.
pub async fn cleanup_turn<B: Backend>(
    b: &B,
    s: &Settings,
    interval: Duration,
) -> Result<Option<u64>> {
    let d = b.dialect();
    let mut conn = b.write().await?;
    let interval_ms = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
    // A little slack so that an instance waking a moment early does not skip.
    let claimed = conn
        .execute(d.claim_cleanup(&cleanup_key(s), interval_ms.saturating_sub(500)))
        .await?;
    if claimed == 0 {
        return Ok(None);
    }
    conn.execute(d.delete_expired()).await.map(Some)
}
