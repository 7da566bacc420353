//! The raw `redis` side of `statestore bench`: what an application would
//! write against the driver without this SDK: plain string keys with `GET`,
//! `SET`, `MGET`, a pipeline of `SET`s, and `MULTI`/`EXEC`, over the same
//! kind of connection the store uses (a multiplexed connection manager).
//! With `STATESTORE_BENCH_RAW_ROW=store` ([`store_row`]) and the compact
//! layout it writes and reads the store's record instead of the bare
//! value: a new version per write, the component's default ttl as the
//! store keeps it (in the record, and `PX`), each value's header decoded
//! on reads. With `layout: dapr` the values stay bare.

use async_trait::async_trait;
use statestore_core::baseline::{Baseline, store_row};
use statestore_core::{Bytes, Properties, Result};

use crate::config::{Config, Mode, ValueLayout};
use crate::core::{self as driver, Conn, Core, new_version};
use crate::error::map;
use crate::record::{Record, decode, expiry_ms};

/// Raw `redis` against the server named by the store's properties.
pub struct RedisBaseline {
    /// Its calls go over the connections the store's would: spread over
    /// `poolSize` multiplexed connections.
    core: Core,
    /// Every key of this baseline starts with it, so close finds them.
    prefix: String,
    /// Whether values are the store's records ([`store_row`]).
    record: bool,
}

impl RedisBaseline {
    fn conn(&self) -> Conn {
        self.core.conn()
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// `SET name value`, the value in a record of its own when the
    /// baseline keeps the store's.
    fn set_cmd(&self, key: &str, value: &[u8]) -> Result<redis::Cmd> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key));
        if self.record {
            // The component's default ttl, which the store's writes carry.
            let ttl_ms = self.core.ttl_ms(None);
            let version = new_version();
            cmd.arg(Record::new(
                version.as_str(),
                expiry_ms(ttl_ms),
                None,
                value,
            )?);
            if ttl_ms > 0 {
                cmd.arg("PX").arg(ttl_ms);
            }
        } else {
            cmd.arg(value);
        }
        Ok(cmd)
    }

    /// A value read, from its record when the baseline keeps the store's.
    fn value(&self, v: Vec<u8>) -> Result<Bytes> {
        if self.record {
            Ok(decode(v)?.value)
        } else {
            Ok(Bytes::from(v))
        }
    }

    /// Many `SET`s in one pipeline, atomic or not.
    async fn set_many(&self, items: &[(String, Bytes)], atomic: bool) -> Result<()> {
        let mut pipe = redis::pipe();
        if atomic {
            pipe.atomic();
        }
        for (k, v) in items {
            pipe.add_command(self.set_cmd(k, v)?).ignore();
        }
        pipe.query_async::<()>(&mut self.conn()).await.map_err(map)
    }
}

#[async_trait]
impl Baseline for RedisBaseline {
    /// Connects like the store does.
    async fn open(properties: &Properties) -> Result<Self> {
        let config = Config::from_properties(properties)?;
        let core = driver::connect(&config).await?;
        let prefix = match config.mode {
            // One hash tag keeps MGET and MULTI in one slot of a cluster.
            Mode::Cluster => format!("{{statestore-bench-raw-{:08x}}}", fastrand::u32(..)),
            Mode::Node => format!("statestore-bench-raw-{:08x}:", fastrand::u32(..)),
        };
        Ok(RedisBaseline {
            core,
            prefix,
            record: store_row() && config.layout == ValueLayout::Compact,
        })
    }

    fn driver(&self) -> String {
        "redis 1.8 (GET/SET/MGET, pipelined SET, MULTI/EXEC)".into()
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let v: Option<Vec<u8>> = redis::cmd("GET")
            .arg(self.key(key))
            .query_async(&mut self.conn())
            .await
            .map_err(map)?;
        v.map(|v| self.value(v)).transpose()
    }

    async fn set(&self, key: &str, value: Bytes) -> Result<()> {
        self.set_cmd(key, &value)?
            .query_async::<()>(&mut self.conn())
            .await
            .map_err(map)
    }

    async fn bulk_get(&self, keys: &[String]) -> Result<usize> {
        let names: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        let v: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
            .arg(names)
            .query_async(&mut self.conn())
            .await
            .map_err(map)?;
        if !self.record {
            return Ok(v.iter().flatten().count());
        }
        // Every value kept to the end, as the bare values are above.
        let values: Vec<Bytes> = v
            .into_iter()
            .flatten()
            .map(|v| self.value(v))
            .collect::<Result<_>>()?;
        Ok(values.len())
    }

    async fn bulk_set(&self, items: &[(String, Bytes)]) -> Result<()> {
        self.set_many(items, false).await
    }

    async fn transact(&self, items: &[(String, Bytes)]) -> Result<()> {
        self.set_many(items, true).await
    }

    async fn close(&self) -> Result<()> {
        let mut conn = self.conn();
        let mut cursor = 0u64;
        loop {
            let (next, names): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!(
                    "{}*",
                    self.prefix.replace('{', "\\{").replace('}', "\\}")
                ))
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .map_err(map)?;
            if !names.is_empty() {
                redis::cmd("DEL")
                    .arg(names)
                    .query_async::<()>(&mut conn)
                    .await
                    .map_err(map)?;
            }
            cursor = next;
            if cursor == 0 {
                return Ok(());
            }
        }
    }
}
