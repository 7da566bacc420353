//! Driver calls: connections, the write script, pipelines split by slot,
//! scans over every primary.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, UNIX_EPOCH};

use bytes::Bytes;
use futures::future::join_all;
use redis::aio::ConnectionLike;
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{
    AsyncConnectionConfig, Cmd, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, Pipeline,
    RedisConnectionInfo, RedisError, RedisFuture, RedisResult, RedisWrite, ServerErrorKind,
    ToRedisArgs, Value,
};
use statestore_core::check::{Condition, Op, Write};
use statestore_core::{ETag, Error, Item, Result, Ttl};

use crate::config::{Config, MAX_BULK_BATCH, MAX_TRANSACTION_OPS, Mode, ValueLayout};
use crate::error::map;
use crate::layout::Layout;
use crate::node::{Backoff, Node};
use crate::record;

const WRITE_SCRIPT: &str = include_str!("write.lua");
const READ_SCRIPT: &str = include_str!("read.lua");
/// The error of writes whose `WAIT` found no replica in time.
const WAIT_FAILED: &str =
    "written on the primary, but no replica acknowledged it in time (consistency strong)";
/// The shortest time between two redials of a cluster.
const REDIAL_EVERY: Duration = Duration::from_millis(500);
/// Hash fields read by a get, in this order.
const FIELDS: [&str; 4] = ["data", "version", "ctype", "exp"];

/// One multiplexed connection to a server, or to a whole cluster.
#[derive(Clone)]
pub enum Conn {
    /// A server; re-dials by itself after the connection is lost.
    Node(Node),
    /// A cluster: one connection per node, following slot moves.
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Node(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Node(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Node(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// One command of a batch: the hash slot it goes to and the command.
pub struct Call {
    /// Where it goes in a cluster.
    pub slot: u16,
    /// The command.
    pub cmd: Cmd,
    /// Whether it calls the write script (whose answer says which
    /// condition failed) rather than a plain command.
    pub script: bool,
}

/// A store's connections. A server's never change, so every call reads
/// them without a lock: a lock's counter, written by every call, is a cache
/// line two cores take from each other (docs/performance.md, "state.redis",
/// "The client's CPU"). A cluster's are replaced after a lost node, dialled
/// again through its client (see [`Core::recover`]).
enum Conns {
    Node(Vec<Conn>),
    Cluster {
        conns: RwLock<Vec<Conn>>,
        client: Box<ClusterClient>,
    },
}

/// The connected part of a store.
pub struct Core {
    /// The connections calls are spread over, then one more for writes
    /// with `strong` consistency: their `WAIT` holds up every command
    /// behind it on its connection, so it gets a connection of its own.
    conns: Conns,
    /// When the last redial started; at most one per [`REDIAL_EVERY`].
    redialed: Mutex<Option<Instant>>,
    next: AtomicUsize,
    /// How keys are named.
    pub layout: Layout,
    /// How values are stored.
    values: ValueLayout,
    sha: String,
    /// Whether writes asked for `strong` consistency wait for a replica.
    replicas: bool,
    wait_ms: u64,
    /// The component's default ttl.
    pub default_ttl: Option<Ttl>,
}

fn connection_info(cfg: &Config, host: &str, port: u16) -> ConnectionInfo {
    let addr = if cfg.tls {
        ConnectionAddr::TcpTls {
            host: host.to_owned(),
            port,
            insecure: false,
            tls_params: None,
        }
    } else {
        ConnectionAddr::Tcp(host.to_owned(), port)
    };
    let mut redis = RedisConnectionInfo::default().set_db(cfg.db);
    if let Some(u) = &cfg.username {
        redis = redis.set_username(u);
    }
    if let Some(p) = &cfg.password {
        redis = redis.set_password(p);
    }
    // A ConnectionAddr always converts.
    addr.into_connection_info()
        .map(|i| i.set_redis_settings(redis))
        .unwrap_or_else(|_| unreachable!("an address is a connection info"))
}

fn certificates(cfg: &Config) -> redis::TlsCertificates {
    redis::TlsCertificates {
        client_tls: cfg
            .client_tls
            .as_ref()
            .map(|(cert, key)| redis::ClientTlsConfig {
                client_cert: cert.as_bytes().to_vec(),
                client_key: key.as_bytes().to_vec(),
            }),
        root_cert: cfg.ca_cert.as_ref().map(|c| c.as_bytes().to_vec()),
    }
}

/// Connects (one connection, or `poolSize` in node mode), loads the
/// script and counts replicas.
pub async fn connect(cfg: &Config) -> Result<Core> {
    if cfg.tls {
        // rustls needs one crypto provider per process; another library
        // may have installed one already, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let custom_tls = cfg.client_tls.is_some() || cfg.ca_cert.is_some();
    let conns = match cfg.mode {
        Mode::Node => {
            let (host, port) = &cfg.hosts[0];
            let info = connection_info(cfg, host, *port);
            let client = if custom_tls {
                redis::Client::build_with_tls(info, certificates(cfg))
            } else {
                redis::Client::open(info)
            }
            .map_err(map)?;
            let (min, max) = cfg.retry_interval;
            let backoff = Backoff {
                retries: cfg.max_retries,
                min,
                max,
            };
            let config = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(cfg.dial_timeout))
                .set_response_timeout(cfg.response_timeout);
            let mut conns = Vec::with_capacity(cfg.pool_size + 1);
            for _ in 0..=cfg.pool_size {
                let c = Node::connect(client.clone(), config.clone(), backoff, cfg.call_timeout())
                    .await
                    .map_err(map)?;
                conns.push(Conn::Node(c));
            }
            Conns::Node(conns)
        }
        Mode::Cluster => {
            let nodes = cfg.hosts.iter().map(|(h, p)| connection_info(cfg, h, *p));
            let mut b = ClusterClientBuilder::new(nodes)
                .retries(cfg.max_retries as u32)
                .min_retry_wait(cfg.retry_interval.0.as_millis() as u64)
                .max_retry_wait(cfg.retry_interval.1.as_millis() as u64)
                .connection_timeout(cfg.dial_timeout);
            if let Some(t) = cfg.response_timeout {
                b = b.response_timeout(t);
            }
            if let Some(u) = &cfg.username {
                b = b.username(u);
            }
            if let Some(p) = &cfg.password {
                b = b.password(p);
            }
            if custom_tls {
                b = b.certs(certificates(cfg));
            }
            let client = b.build().map_err(map)?;
            Conns::Cluster {
                conns: RwLock::new(dial(&client).await.map_err(map)?),
                client: Box::new(client),
            }
        }
    };
    let mut core = Core {
        conns,
        redialed: Mutex::new(None),
        next: AtomicUsize::new(0),
        layout: Layout {
            cluster: cfg.mode == Mode::Cluster,
        },
        values: cfg.layout,
        sha: redis::Script::new(WRITE_SCRIPT).get_hash().to_owned(),
        replicas: false,
        // Half the answer's bound, so that the answer to WAIT comes in time.
        wait_ms: (cfg
            .response_timeout
            .unwrap_or(Duration::from_secs(3))
            .as_millis()
            / 2)
        .max(1) as u64,
        default_ttl: cfg.default_ttl,
    };
    core.load_script().await?;
    core.replicas = core.has_replicas().await?;
    Ok(core)
}

/// Two connections to a cluster: for calls, and for writes that wait.
async fn dial(client: &ClusterClient) -> RedisResult<Vec<Conn>> {
    let calls = client.get_async_connection().await?;
    let strong = client.get_async_connection().await?;
    Ok(vec![Conn::Cluster(calls), Conn::Cluster(strong)])
}

/// The text of a bulk string (or an integer, as Dapr's Lua writes them).
fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

/// An item from the answer to `HMGET name data version ctype exp`.
fn item(v: Value) -> Result<Option<Item>> {
    let Value::Array(mut fields) = v else {
        return Err(Error::backend("unexpected answer to HMGET"));
    };
    if fields.len() != FIELDS.len() {
        return Err(Error::backend("unexpected answer to HMGET"));
    }
    let value = match std::mem::replace(&mut fields[0], Value::Nil) {
        Value::BulkString(b) => Bytes::from(b),
        _ => return Ok(None),
    };
    let exp = text(&fields[3]).and_then(|t| t.parse::<u64>().ok());
    Ok(Some(Item {
        value,
        etag: text(&fields[1]).map(ETag::new),
        content_type: text(&fields[2]),
        expires_at: exp.map(|ms| UNIX_EPOCH + Duration::from_millis(ms)),
        metadata: Default::default(),
    }))
}

/// An item from a read's answer in one layout.
fn decode(v: Value, values: ValueLayout) -> Result<Option<Item>> {
    match (values, v) {
        (ValueLayout::Dapr, v) => item(v),
        (ValueLayout::Compact, Value::Nil) => Ok(None),
        (ValueLayout::Compact, Value::BulkString(b)) => record::decode(b).map(Some),
        _ => Err(Error::backend("unexpected answer to GET")),
    }
}

/// The other layout: where a read that met a value of another type looks
/// next, so each layout reads what the other wrote.
fn other(values: ValueLayout) -> ValueLayout {
    match values {
        ValueLayout::Compact => ValueLayout::Dapr,
        ValueLayout::Dapr => ValueLayout::Compact,
    }
}

/// Whether the server refused a command for the key's type.
fn is_wrong_type(e: &RedisError) -> bool {
    e.code() == Some("WRONGTYPE")
}

/// Whether `etag` can be one of this store's versions (decimal digits,
/// as Dapr's Redis store writes them too).
pub fn is_version(etag: &str) -> bool {
    !etag.is_empty() && etag.len() <= 20 && etag.bytes().all(|b| b.is_ascii_digit())
}

/// A fresh version: random, so a key deleted and written again never
/// repeats an etag handed out before.
pub fn new_version() -> ETag {
    // Digit by digit: formatting through `fmt` showed in bulk writes'
    // profiles (docs/performance.md, "The client's CPU").
    let mut n = fastrand::u64(1..=i64::MAX as u64);
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    while n > 0 {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    ETag::from(std::str::from_utf8(&digits[at..]).unwrap_or("1"))
}

/// Command `name` with room for `args` more arguments of `bytes` bytes in
/// all: sized once, where a buffer grown argument by argument is copied at
/// each step.
fn sized(name: &str, args: usize, bytes: usize) -> Cmd {
    let mut cmd = Cmd::with_capacity(args + 1, name.len() + bytes);
    cmd.arg(name);
    cmd
}

/// What a set stores: the whole record in the compact layout, the value
/// itself in Dapr's; either goes into its command without a copy of its own.
enum Stored<'a> {
    Record(record::Record<'a>),
    Value(&'a [u8]),
}

impl Stored<'_> {
    fn len(&self) -> usize {
        match self {
            Stored::Record(r) => r.len(),
            Stored::Value(v) => v.len(),
        }
    }
}

impl ToRedisArgs for Stored<'_> {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        match self {
            Stored::Record(r) => r.write_redis_args(out),
            Stored::Value(v) => out.write_arg(v),
        }
    }
}

impl Core {
    /// Whether the primaries had replicas at init.
    pub fn replicas(&self) -> bool {
        self.replicas
    }

    /// A connection (the next of the pool in node mode).
    pub fn conn(&self) -> Conn {
        match &self.conns {
            // One connection for calls (the default): no counter either.
            Conns::Node(conns) if conns.len() == 2 => conns[0].clone(),
            Conns::Node(conns) => {
                conns[self.next.fetch_add(1, Ordering::Relaxed) % (conns.len() - 1)].clone()
            }
            Conns::Cluster { conns, .. } => {
                conns.read().unwrap_or_else(|p| p.into_inner())[0].clone()
            }
        }
    }

    /// Whether the connections bound each round trip themselves: a
    /// server's do ([`Node`]); a cluster's wait for their retries unbounded.
    pub fn bounds_round_trips(&self) -> bool {
        matches!(self.conns, Conns::Node(_))
    }

    /// The connection of writes that wait for a replica.
    fn strong_conn(&self) -> Conn {
        let last = |conns: &[Conn]| conns[conns.len() - 1].clone();
        match &self.conns {
            Conns::Node(conns) => last(conns),
            Conns::Cluster { conns, .. } => last(&conns.read().unwrap_or_else(|p| p.into_inner())),
        }
    }

    /// After a call found a cluster node unreachable: dials the cluster
    /// again in the background, so a primary that died and was replaced
    /// by its replica is no longer asked. (The driver re-dials the node it
    /// lost, but reads the new slot owners only when a live node answers
    /// MOVED, which a dead one never does.) At most one redial per 500 ms;
    /// node mode needs none: its connection re-dials the one server.
    pub fn recover(self: &Arc<Self>) {
        let Conns::Cluster { client, .. } = &self.conns else {
            return;
        };
        let client = ClusterClient::clone(client);
        {
            let mut last = self.redialed.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| t.elapsed() < REDIAL_EVERY) {
                return;
            }
            *last = Some(Instant::now());
        }
        let core = Arc::downgrade(self);
        tokio::spawn(async move {
            match dial(&client).await {
                Ok(conns) => {
                    if let Some(core) = core.upgrade()
                        && let Conns::Cluster { conns: old, .. } = &core.conns
                    {
                        *old.write().unwrap_or_else(|p| p.into_inner()) = conns;
                        tracing::info!("state.redis: dialled the cluster again after a lost node");
                    }
                }
                Err(e) => tracing::warn!("state.redis: redialling the cluster failed: {e:#}"),
            }
        });
    }

    /// Sends `SCRIPT LOAD` (to every node of a cluster).
    async fn load_script(&self) -> Result<()> {
        redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(WRITE_SCRIPT)
            .query_async::<Value>(&mut self.conn())
            .await
            .map(drop)
            .map_err(map)
    }

    /// Whether the server (every primary of a cluster) has a replica.
    async fn has_replicas(&self) -> Result<bool> {
        if self.layout.cluster {
            // Each range is [start, end, primary, replica...].
            let slots = self.cluster_slots().await?;
            return Ok(!slots.is_empty() && slots.iter().all(|s| s.len() > 3));
        }
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query_async(&mut self.conn())
            .await
            .map_err(map)?;
        Ok(info.lines().any(|l| {
            l.strip_prefix("connected_slaves:")
                .and_then(|n| n.trim().parse::<u32>().ok())
                .is_some_and(|n| n > 0)
        }))
    }

    /// `CLUSTER SLOTS`: one entry per slot range.
    async fn cluster_slots(&self) -> Result<Vec<Vec<Value>>> {
        redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query_async(&mut self.conn())
            .await
            .map_err(map)
    }

    /// Pings the server (every node of a cluster).
    pub async fn ping(&self) -> Result<()> {
        let mut c = self.conn();
        redis::cmd("PING")
            .query_async::<Value>(&mut c)
            .await
            .map(drop)
            .map_err(map)
    }

    /// The command reading a name in one layout: `GET` of a record, or
    /// `HMGET` of Dapr's hash.
    fn read_cmd(name: &str, values: ValueLayout) -> Cmd {
        match values {
            ValueLayout::Compact => {
                let mut cmd = sized("GET", 1, name.len());
                cmd.arg(name);
                cmd
            }
            ValueLayout::Dapr => {
                let mut cmd = redis::cmd("HMGET");
                cmd.arg(name).arg(&FIELDS[..]);
                cmd
            }
        }
    }

    /// Reads one key: one command, and a second only when the key holds
    /// the other layout.
    pub async fn get(&self, key: &str) -> Result<Option<Item>> {
        self.read_name(&self.layout.name(key), self.values).await
    }

    /// Reads a name in layout `first`; a value of the other layout
    /// (`WRONGTYPE`) is read again in that one; should a writer have moved
    /// it back in between, `read.lua` reads it in one step, whatever its
    /// layout.
    async fn read_name(&self, name: &str, first: ValueLayout) -> Result<Option<Item>> {
        let mut conn = self.conn();
        for values in [first, other(first)] {
            match Self::read_cmd(name, values)
                .query_async::<Value>(&mut conn)
                .await
            {
                Err(e) if is_wrong_type(&e) => continue,
                answer => return decode(answer.map_err(map)?, values),
            }
        }
        let answer: Value = redis::cmd("EVAL")
            .arg(READ_SCRIPT)
            .arg(1)
            .arg(name)
            .query_async(&mut conn)
            .await
            .map_err(map)?;
        let Value::Array(mut parts) = answer else {
            return Err(Error::backend("unexpected answer from the read script"));
        };
        let value = parts.pop().unwrap_or(Value::Nil);
        match parts.first() {
            Some(Value::BulkString(k)) if k == b"c" => decode(value, ValueLayout::Compact),
            Some(Value::BulkString(k)) if k == b"d" => decode(value, ValueLayout::Dapr),
            _ => Ok(None),
        }
    }

    /// Reads keys, pipelined (one `MGET` per 1,000 keys of a server in the
    /// compact layout); one answer per key. Keys held in the other layout
    /// (and, after an `MGET`, keys not found, which it cannot tell apart)
    /// are read again in one more pipeline. Each key's one answer goes to
    /// `put` with the key's index: indexes rise within each pipeline, and
    /// the keys read again come after the others.
    //
    // Answers go straight into the caller's results: a vector of them in
    // between was a second allocation of some 140 bytes per key, whose
    // page faults showed in bulk_get's profile (docs/performance.md,
    // state.redis, "bulk_get's answers and the allocator").
    pub async fn get_many(
        &self,
        keys: &[&str],
        mut put: impl FnMut(usize, Result<Option<Item>>),
    ) -> Result<()> {
        let names: Vec<Cow<str>> = keys.iter().map(|k| self.layout.name(k)).collect();
        let mut again = Vec::new();
        if self.values == ValueLayout::Compact && !self.layout.cluster {
            let mgets: Vec<Cmd> = names
                .chunks(MAX_BULK_BATCH)
                .map(|c| {
                    let bytes = c.iter().map(|n| n.len()).sum::<usize>();
                    let mut cmd = sized("MGET", c.len(), bytes);
                    for name in c {
                        cmd.arg(name.as_ref());
                    }
                    cmd
                })
                .collect();
            let calls = mgets.into_iter().map(|cmd| Call {
                slot: 0,
                cmd,
                script: false,
            });
            let answers = self.batch(calls.collect(), false).await?;
            for (n, answer) in answers.into_iter().enumerate() {
                let first = n * MAX_BULK_BATCH;
                let len = (names.len() - first).min(MAX_BULK_BATCH);
                match answer {
                    Ok(Value::Array(values)) if values.len() == len => {
                        for (i, v) in (first..).zip(values) {
                            match v {
                                Value::Nil => again.push(i),
                                v => put(i, decode(v, self.values)),
                            }
                        }
                    }
                    other => {
                        let e = other
                            .err()
                            .unwrap_or_else(|| Error::backend("unexpected answer to MGET"));
                        for i in first..first + len {
                            put(i, Err(e.copied()));
                        }
                    }
                }
            }
        } else {
            let calls = names
                .iter()
                .map(|n| Call {
                    slot: self.layout.slot_of(n),
                    cmd: Self::read_cmd(n, self.values),
                    script: false,
                })
                .collect();
            for (i, answer) in self.send_calls(calls, false).await?.into_iter().enumerate() {
                match answer {
                    Answer::Refused(e) if is_wrong_type(&e) => again.push(i),
                    a => put(i, a.into_result().and_then(|v| decode(v, self.values))),
                }
            }
        }
        if !again.is_empty() {
            let other = other(self.values);
            let calls = again
                .iter()
                .map(|&i| Call {
                    slot: self.layout.slot_of(&names[i]),
                    cmd: Self::read_cmd(&names[i], other),
                    script: false,
                })
                .collect();
            for (&i, answer) in again.iter().zip(self.send_calls(calls, false).await?) {
                let result = match answer {
                    // Moved back meanwhile: read it alone.
                    Answer::Refused(e) if is_wrong_type(&e) => {
                        self.read_name(&names[i], self.values).await
                    }
                    a => a.into_result().and_then(|v| decode(v, other)),
                };
                put(i, result);
            }
        }
        Ok(())
    }

    /// The milliseconds a write's ttl asks for (0: no expiry).
    pub(crate) fn ttl_ms(&self, ttl: Option<Ttl>) -> u64 {
        match ttl.or(self.default_ttl) {
            Some(Ttl::Seconds(n)) => u64::from(n) * 1000,
            _ => 0,
        }
    }

    /// What a set stores as `value` in the script's arguments.
    fn stored<'a>(&self, w: &'a Write, version: &'a str, ttl_ms: u64) -> Result<Stored<'a>> {
        Ok(match self.values {
            ValueLayout::Compact => Stored::Record(record::Record::new(
                version,
                record::expiry_ms(ttl_ms),
                w.content_type.as_deref(),
                &w.value,
            )?),
            ValueLayout::Dapr => Stored::Value(&w.value),
        })
    }

    /// The script call applying `ops` all or nothing, with the versions of
    /// its sets (one per op, unused for deletes). In a cluster a script runs
    /// on one hash slot: keys of several slots are refused here, before
    /// anything is sent.
    pub fn write_cmd(&self, ops: &[Op], versions: &[ETag]) -> Result<Call> {
        let names: Vec<Cow<str>> = ops.iter().map(|op| self.layout.name(op.key())).collect();
        let slot = names.first().map_or(0, |n| self.layout.slot_of(n));
        if let Some(i) = names.iter().position(|n| self.layout.slot_of(n) != slot) {
            return Err(Error::invalid(format!(
                "keys {:?} and {:?} are in different hash slots: in Redis Cluster one \
                 transaction's keys must share a partition (the same first three \
                 ||-separated parts: one actor)",
                ops[0].key(),
                ops[i].key()
            )));
        }
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(&self.sha).arg(ops.len());
        for name in &names {
            cmd.arg(name.as_ref());
        }
        let mut ttls = Vec::with_capacity(ops.len());
        for (op, version) in ops.iter().zip(versions) {
            let (kind, ttl): (&str, u64) = match op {
                Op::Write(w) => ("s", self.ttl_ms(w.ttl)),
                Op::Delete(_) => ("d", 0),
            };
            let (cond, etag) = match op.condition() {
                Condition::Always => ("", ""),
                Condition::IfAbsent => ("f", ""),
                // A malformed etag can never match: the script stops there,
                // so a transaction reports its first failing operation.
                Condition::IfMatch(e) if !is_version(e.as_str()) => ("x", ""),
                Condition::IfMatch(e) => ("e", e.as_str()),
            };
            cmd.arg(kind).arg(cond).arg(etag).arg(version.as_str());
            match op {
                Op::Write(w) => cmd
                    .arg(self.stored(w, version.as_str(), ttl)?)
                    .arg(w.content_type.as_deref().unwrap_or("")),
                Op::Delete(_) => cmd.arg("").arg(""),
            };
            ttls.push(ttl);
        }
        cmd.arg(ttls).arg(match self.values {
            ValueLayout::Compact => "c",
            ValueLayout::Dapr => "d",
        });
        Ok(Call {
            slot,
            cmd,
            script: true,
        })
    }

    /// An unconditional operation as one plain command, where the layout
    /// has one: `DEL`, or in the compact layout `SET name record [PX ttl]`
    /// (which replaces whatever the key held, expiry included).
    pub fn plain_cmd(&self, op: &Op, version: &str) -> Result<Option<Call>> {
        if op.condition() != &Condition::Always {
            return Ok(None);
        }
        let name = self.layout.name(op.key());
        let cmd = match (op, self.values) {
            (Op::Delete(_), _) => {
                let mut cmd = redis::cmd("DEL");
                cmd.arg(name.as_ref());
                cmd
            }
            (Op::Write(w), ValueLayout::Compact) => {
                let ttl = self.ttl_ms(w.ttl);
                let stored = self.stored(w, version, ttl)?;
                // "PX" and up to 20 digits after the name and record.
                let mut cmd = sized("SET", 4, name.len() + stored.len() + 22);
                cmd.arg(name.as_ref()).arg(stored);
                if ttl > 0 {
                    cmd.arg("PX").arg(ttl);
                }
                cmd
            }
            (Op::Write(_), ValueLayout::Dapr) => return Ok(None),
        };
        Ok(Some(Call {
            slot: self.layout.slot_of(&name),
            cmd,
            script: false,
        }))
    }

    /// The calls of a bulk write, each with the operations it carries, in
    /// order: a plain command per unconditional operation where the layout
    /// has one; in Dapr's layout, each run of unconditional writes of one
    /// slot as one script call (it cannot fail a condition, so it answers
    /// for all of them); a script call per conditional operation.
    pub fn write_calls(&self, ops: &[Op], versions: &[ETag]) -> Result<Vec<(Call, Range<usize>)>> {
        let mut out: Vec<(Call, Range<usize>)> = Vec::new();
        let mut i = 0;
        while i < ops.len() {
            if let Some(call) = self.plain_cmd(&ops[i], versions[i].as_str())? {
                out.push((call, i..i + 1));
                i += 1;
                continue;
            }
            let mut end = i + 1;
            if ops[i].condition() == &Condition::Always {
                // One server runs a script on any keys (all in slot 0); a
                // cluster on one slot.
                let slot = |op: &Op| self.layout.slot_of(&self.layout.name(op.key()));
                let first = slot(&ops[i]);
                while end < ops.len()
                    && end - i < MAX_TRANSACTION_OPS
                    && matches!(&ops[end], Op::Write(w) if w.condition == Condition::Always)
                    && slot(&ops[end]) == first
                {
                    end += 1;
                }
            }
            out.push((self.write_cmd(&ops[i..end], &versions[i..end])?, i..end));
            i = end;
        }
        Ok(out)
    }

    /// A transaction of unconditional operations as `MULTI` ... `EXEC` of
    /// plain commands: in the compact layout on one server only (a cluster
    /// or Dapr's layout takes the script). `None` when it does not apply.
    pub fn plain_transaction(&self, ops: &[Op], versions: &[ETag]) -> Result<Option<Pipeline>> {
        if self.layout.cluster || self.values != ValueLayout::Compact {
            return Ok(None);
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (op, version) in ops.iter().zip(versions) {
            match self.plain_cmd(op, version.as_str())? {
                Some(call) => pipe.add_command(call.cmd).ignore(),
                None => return Ok(None),
            };
        }
        Ok(Some(pipe))
    }

    /// An unconditional write without expiry in Dapr's layout, the most
    /// common write, as `MULTI`, `DEL`, `HSET`, `EXEC` instead of the
    /// script: the same result (the hash replaced whole, any expiry gone)
    /// at a fraction of a script call's cost on the server. `None` when the
    /// write needs the script (a condition or a ttl), or in the compact
    /// layout (see [`Core::write_calls`]).
    pub fn plain_write(&self, w: &Write, version: &str) -> Option<Pipeline> {
        if w.condition != Condition::Always
            || self.ttl_ms(w.ttl) > 0
            || self.values != ValueLayout::Dapr
        {
            return None;
        }
        let name = self.layout.name(&w.key);
        let mut pipe = redis::pipe();
        pipe.atomic().cmd("DEL").arg(&name).ignore();
        let hset = pipe
            .cmd("HSET")
            .arg(&name)
            .arg("data")
            .arg(&w.value[..])
            .arg("version")
            .arg(version);
        if let Some(ct) = &w.content_type {
            hset.arg("ctype").arg(ct);
        }
        hset.ignore();
        Some(pipe)
    }

    /// Sends a pipeline of plain writes ([`Core::plain_write`],
    /// [`Core::plain_transaction`]).
    pub async fn send_plain(&self, pipe: Pipeline) -> Result<()> {
        pipe.query_async::<()>(&mut self.conn()).await.map_err(map)
    }

    /// Runs one write call: `Ok(None)` when applied, `Ok(Some(i))` when
    /// operation `i` (0-based) failed its condition. A plain command
    /// without `wait` goes straight to its connection.
    pub async fn write(&self, call: Call, strong: bool) -> Result<Option<usize>> {
        let wait = strong && self.replicas;
        if !call.script && !wait {
            return call
                .cmd
                .query_async::<Value>(&mut self.conn())
                .await
                .map(|_| None)
                .map_err(map);
        }
        let script = call.script;
        let answer = self.batch(vec![call], wait).await?.pop();
        outcome(script, answer.unwrap_or(Ok(Value::Nil)))
    }

    /// Sends calls pipelined, at most [`MAX_BULK_BATCH`] per pipeline and,
    /// in a cluster, one pipeline per hash slot; returns one answer per
    /// call, in order. A script the server lost (restart, failover) is
    /// loaded again and only the calls it refused are sent again. With
    /// `wait`, each pipeline ends with a `WAIT` for one replica.
    pub async fn batch(&self, calls: Vec<Call>, wait: bool) -> Result<Vec<Result<Value>>> {
        let answers = self.send_calls(calls, wait).await?;
        Ok(answers.into_iter().map(Answer::into_result).collect())
    }

    /// [`Core::batch`], with the server's refusals as they came.
    async fn send_calls(&self, calls: Vec<Call>, wait: bool) -> Result<Vec<Answer>> {
        let slots: Vec<u16> = calls.iter().map(|c| c.slot).collect();
        let (mut answers, sent) = self.send(calls, wait).await;
        let lost: Vec<usize> = (0..answers.len())
            .filter(|i| matches!(&answers[*i], Answer::Refused(e) if is_noscript(e)))
            .collect();
        if !lost.is_empty() {
            self.load_script().await?;
            // The refused commands, copied out of the pipelines they went in.
            let mut cmds: Vec<Option<&Cmd>> = vec![None; slots.len()];
            for (ids, pipe) in &sent {
                for (i, cmd) in ids.iter().zip(pipe.cmd_iter()) {
                    cmds[*i] = Some(cmd);
                }
            }
            let again: Vec<Call> = lost
                .iter()
                .filter_map(|&i| {
                    cmds[i].map(|cmd| Call {
                        slot: slots[i],
                        cmd: cmd.clone(),
                        script: true,
                    })
                })
                .collect();
            for (i, a) in lost.into_iter().zip(self.send(again, wait).await.0) {
                answers[i] = a;
            }
        }
        Ok(answers)
    }

    /// Sends calls as [`Core::batch`] describes; the answers, and each
    /// pipeline sent with the indexes of its calls.
    async fn send(
        &self,
        calls: Vec<Call>,
        wait: bool,
    ) -> (Vec<Answer>, Vec<(Vec<usize>, Pipeline)>) {
        let n = calls.len();
        // Groups of call indexes, each sent as one pipeline.
        let mut groups: Vec<Vec<usize>> = Vec::new();
        if self.layout.cluster {
            let mut by_slot: HashMap<u16, Vec<usize>> = HashMap::new();
            for (i, c) in calls.iter().enumerate() {
                by_slot.entry(c.slot).or_default().push(i);
            }
            for ids in by_slot.into_values() {
                groups.extend(ids.chunks(MAX_BULK_BATCH).map(<[usize]>::to_vec));
            }
        } else {
            let all: Vec<usize> = (0..n).collect();
            groups.extend(all.chunks(MAX_BULK_BATCH).map(<[usize]>::to_vec));
        }
        let mut cmds: Vec<Option<Cmd>> = calls.into_iter().map(|c| Some(c.cmd)).collect();
        let wait_ms = self.wait_ms;
        // Every pipeline of a batch on one connection, sent in order: a key
        // repeated in pipelines that went on different connections could be
        // written out of request order.
        let conn = if wait {
            self.strong_conn()
        } else {
            self.conn()
        };
        let sends = groups.into_iter().map(|ids| {
            let mut pipe = redis::Pipeline::with_capacity(ids.len() + 1);
            pipe.ignore_errors();
            for i in &ids {
                if let Some(cmd) = cmds[*i].take() {
                    pipe.add_command(cmd);
                }
            }
            if wait {
                pipe.cmd("WAIT").arg(1).arg(wait_ms);
            }
            let mut c = conn.clone();
            async move {
                let r = pipe.query_async::<Vec<RedisResult<Value>>>(&mut c).await;
                (ids, pipe, r)
            }
        });
        let sends: Vec<_> = sends.collect();
        let mut answers: Vec<Answer> = (0..n).map(|_| Answer::Missing).collect();
        let mut sent = Vec::new();
        // A group that failed as a whole (its node unreachable, or no
        // replica acknowledged its writes) fails each of its calls; the
        // other groups keep their answers.
        for (ids, pipe, result) in join_all(sends).await {
            let failed = match result {
                Err(e) => Some(Failed::Redis(e)),
                Ok(mut values) => {
                    if wait && !matches!(values.pop(), Some(Ok(Value::Int(n))) if n >= 1) {
                        Some(Failed::NoReplica)
                    } else if values.len() != ids.len() {
                        Some(Failed::Partly)
                    } else {
                        for (i, v) in ids.iter().zip(values) {
                            answers[*i] = match v {
                                Ok(v) => Answer::Value(v),
                                Err(e) => Answer::Refused(e),
                            };
                        }
                        None
                    }
                }
            };
            if let Some(f) = failed {
                for &i in &ids {
                    answers[i] = Answer::Failed(f.error());
                }
            }
            sent.push((ids, pipe));
        }
        (answers, sent)
    }

    /// The addresses of every primary (the server itself in node mode).
    async fn primaries(&self) -> Result<Vec<Option<(String, u16)>>> {
        if !self.layout.cluster {
            return Ok(vec![None]);
        }
        let mut out = BTreeSet::new();
        for s in self.cluster_slots().await? {
            if let Some(Value::Array(primary)) = s.get(2) {
                let host = primary.first().and_then(text);
                let port = match primary.get(1) {
                    Some(Value::Int(p)) => u16::try_from(*p).ok(),
                    _ => None,
                };
                if let (Some(h), Some(p)) = (host, port) {
                    out.insert((h, p));
                }
            }
        }
        Ok(out.into_iter().map(Some).collect())
    }

    /// Every Redis name matching a SCAN pattern, on every primary, without
    /// repeats.
    pub async fn scan(&self, pattern: &str) -> Result<BTreeSet<String>> {
        let mut names = BTreeSet::new();
        for node in self.primaries().await? {
            let mut cursor = 0u64;
            loop {
                let mut cmd = redis::cmd("SCAN");
                cmd.arg(cursor)
                    .arg("MATCH")
                    .arg(pattern)
                    .arg("COUNT")
                    .arg(1000);
                let mut c = self.conn();
                let (next, page): (u64, Vec<Vec<u8>>) = match (&node, &mut c) {
                    (Some((host, port)), Conn::Cluster(cc)) => {
                        let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                            host: host.clone(),
                            port: *port,
                        });
                        let v = cc.route_command(cmd, route).await.map_err(map)?;
                        redis::from_redis_value(v).map_err(|e| map(e.into()))?
                    }
                    _ => cmd.query_async(&mut c).await.map_err(map)?,
                };
                // Names that are not UTF-8 were not written by this store.
                names.extend(page.into_iter().filter_map(|n| String::from_utf8(n).ok()));
                cursor = next;
                if cursor == 0 {
                    break;
                }
            }
        }
        Ok(names)
    }

    /// Deletes names (in groups, one slot at a time in a cluster); returns
    /// how many existed.
    pub async fn delete_names(&self, names: &[String]) -> Result<u64> {
        let mut by_slot: HashMap<u16, Vec<&String>> = HashMap::new();
        for n in names {
            let slot = self.layout.slot_of(n);
            by_slot.entry(slot).or_default().push(n);
        }
        let mut calls = Vec::new();
        for (slot, names) in by_slot {
            for chunk in names.chunks(500) {
                let mut cmd = redis::cmd("DEL");
                cmd.arg(chunk);
                calls.push(Call {
                    slot,
                    cmd,
                    script: false,
                });
            }
        }
        let mut total = 0;
        for a in self.batch(calls, false).await? {
            if let Value::Int(n) = a? {
                total += n.max(0) as u64;
            }
        }
        Ok(total)
    }
}

/// What one call of a batch got back.
enum Answer {
    /// The server's answer.
    Value(Value),
    /// The server refused this command.
    Refused(RedisError),
    /// Its whole pipeline failed.
    Failed(Error),
    /// No answer (cannot happen: every group answers each of its calls).
    Missing,
}

impl Answer {
    fn into_result(self) -> Result<Value> {
        match self {
            Answer::Value(v) => Ok(v),
            Answer::Refused(e) => Err(map(e)),
            Answer::Failed(e) => Err(e),
            Answer::Missing => Err(Error::backend("no answer to a pipelined command")),
        }
    }
}

/// Why a whole pipeline failed; made into an error once per call.
enum Failed {
    Redis(RedisError),
    NoReplica,
    Partly,
}

impl Failed {
    fn error(&self) -> Error {
        match self {
            Failed::Redis(e) => map(e.clone()),
            Failed::NoReplica => Error::timeout(WAIT_FAILED),
            Failed::Partly => Error::backend("the server answered a pipeline partly"),
        }
    }
}

fn is_noscript(e: &RedisError) -> bool {
    e.kind() == redis::ErrorKind::Server(ServerErrorKind::NoScript)
}

/// The outcome of one write call: the script's answer, or any answer of a
/// plain command (which has no condition to fail).
pub fn outcome(script: bool, answer: Result<Value>) -> Result<Option<usize>> {
    if script {
        script_outcome(answer)
    } else {
        answer.map(|_| None)
    }
}

/// The outcome of one write script call.
fn script_outcome(answer: Result<Value>) -> Result<Option<usize>> {
    match answer? {
        Value::Int(0) => Ok(None),
        Value::Int(i) if i > 0 => Ok(Some(i as usize - 1)),
        _ => Err(Error::backend("unexpected answer from the write script")),
    }
}
