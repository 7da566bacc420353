//! The raw `redis` side of `statestore bench`: what an application would
//! write against the driver without this SDK: plain string keys with `GET`,
//! `SET`, `MGET`, a pipeline of `SET`s, and `MULTI`/`EXEC`, over the same
//! kind of connection the store uses (a multiplexed connection manager).

use async_trait::async_trait;
use statestore_core::baseline::Baseline;
use statestore_core::{Bytes, Properties, Result};

use crate::config::{Config, Mode};
use crate::core::{self as driver, Conn};
use crate::error::map;

/// Raw `redis` against the server named by the store's properties.
pub struct RedisBaseline {
    conn: Conn,
    /// Every key of this baseline starts with it, so close finds them.
    prefix: String,
}

impl RedisBaseline {
    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

#[async_trait]
impl Baseline for RedisBaseline {
    /// Connects like the store does.
    async fn open(properties: &Properties) -> Result<Self> {
        let config = Config::from_properties(properties)?;
        let conn = driver::connect(&config).await?.conn();
        let prefix = match config.mode {
            // One hash tag keeps MGET and MULTI in one slot of a cluster.
            Mode::Cluster => format!("{{statestore-bench-raw-{:08x}}}", fastrand::u32(..)),
            Mode::Node => format!("statestore-bench-raw-{:08x}:", fastrand::u32(..)),
        };
        Ok(RedisBaseline { conn, prefix })
    }

    fn driver(&self) -> String {
        "redis 1.8 (GET/SET/MGET, pipelined SET, MULTI/EXEC)".into()
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let v: Option<Vec<u8>> = redis::cmd("GET")
            .arg(self.key(key))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(map)?;
        Ok(v.map(Bytes::from))
    }

    async fn set(&self, key: &str, value: Bytes) -> Result<()> {
        redis::cmd("SET")
            .arg(self.key(key))
            .arg(&value[..])
            .query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(map)
    }

    async fn bulk_get(&self, keys: &[String]) -> Result<usize> {
        let names: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        let v: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
            .arg(names)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(map)?;
        Ok(v.iter().flatten().count())
    }

    async fn bulk_set(&self, items: &[(String, Bytes)]) -> Result<()> {
        let mut pipe = redis::pipe();
        for (k, v) in items {
            pipe.cmd("SET").arg(self.key(k)).arg(&v[..]).ignore();
        }
        pipe.query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(map)
    }

    async fn transact(&self, items: &[(String, Bytes)]) -> Result<()> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (k, v) in items {
            pipe.cmd("SET").arg(self.key(k)).arg(&v[..]).ignore();
        }
        pipe.query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(map)
    }

    async fn close(&self) -> Result<()> {
        let mut conn = self.conn.clone();
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
