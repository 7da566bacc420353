//! One server's connection: the driver's multiplexed connection, dialled
//! again after it is lost.
//!
//! The driver's `ConnectionManager` does the same, but does not say when it
//! is re-dialling, and a call made meanwhile waits for its whole retry
//! sequence. Keeping that state here lets a call pay for a bound of its own
//! (`dialTimeout + readTimeout`) only while a dial is under way; a call on
//! a live connection is bounded by the driver's answer timeout
//! (`readTimeout`) alone: one timer per call, as on the raw driver
//! (docs/performance.md, "state.redis").

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{
    AsyncConnectionConfig, Client, Cmd, Pipeline, RedisError, RedisFuture, RedisResult, Value,
};

/// A dial (with its retries), shared by every call waiting for it.
type Dial = Shared<BoxFuture<'static, RedisResult<MultiplexedConnection>>>;

/// How a lost connection is dialled again.
#[derive(Clone, Copy, Debug)]
pub struct Redial {
    /// Attempts after the first (`redisMaxRetries`).
    pub retries: usize,
    /// The first wait between attempts, doubled after each.
    pub min: Duration,
    /// The longest wait between attempts.
    pub max: Duration,
}

/// Where the connection is. Each state has an id, so that a call that saw
/// one state fail replaces that state and no later one.
enum State {
    Up {
        conn: MultiplexedConnection,
        id: u64,
    },
    /// A dial under way, or one that failed (the next call dials again).
    Dialing { dial: Dial, id: u64 },
}

impl State {
    fn id(&self) -> u64 {
        match self {
            State::Up { id, .. } | State::Dialing { id, .. } => *id,
        }
    }
}

struct Inner {
    client: Client,
    config: AsyncConnectionConfig,
    redial: Redial,
    /// The bound of a call that waits for a dial.
    bound: Option<Duration>,
    state: ArcSwap<State>,
    ids: AtomicU64,
}

/// A server's connection; clones share it.
#[derive(Clone)]
pub struct Node(Arc<Inner>);

impl Node {
    /// Dials the server (retrying as `redial` says). `config` carries the
    /// bound of one attempt and of one answer; `bound`, that of a call that
    /// waits for a dial.
    pub async fn connect(
        client: Client,
        config: AsyncConnectionConfig,
        redial: Redial,
        bound: Option<Duration>,
    ) -> RedisResult<Node> {
        let conn = dial(&client, &config, redial).await?;
        Ok(Node(Arc::new(Inner {
            client,
            config,
            redial,
            bound,
            state: ArcSwap::from_pointee(State::Up { conn, id: 0 }),
            ids: AtomicU64::new(1),
        })))
    }

    /// Runs `send` on the connection. On a live one it goes straight out;
    /// otherwise it waits for the dial, and the whole call is bounded.
    async fn call<T, F, Fut>(&self, send: F) -> RedisResult<T>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let (dial, id) = {
            let state = self.0.state.load();
            match &**state {
                State::Up { conn, id } => {
                    let (conn, id) = (conn.clone(), *id);
                    drop(state);
                    let result = send(conn).await;
                    self.check(&result, id);
                    return result;
                }
                State::Dialing { dial, id } => (dial.clone(), *id),
            }
        };
        let waited = async {
            let conn = match dial.await {
                Ok(conn) => conn,
                Err(e) => {
                    // That dial gave up: the next call starts another.
                    self.redial(id);
                    return Err(e);
                }
            };
            let result = send(conn).await;
            self.check(&result, id);
            result
        };
        match self.0.bound {
            Some(limit) => tokio::time::timeout(limit, waited)
                .await
                .unwrap_or_else(|_| Err(redialling(limit))),
            None => waited.await,
        }
    }

    /// After an answer: a lost connection is dialled again (on the errors
    /// the driver's own manager re-dials after).
    fn check<T>(&self, result: &RedisResult<T>, id: u64) {
        if let Err(e) = result
            && e.is_unrecoverable_error()
        {
            self.redial(id);
        }
    }

    /// Replaces state `id` (and no later one) by a new dial, started at
    /// once, in the background.
    fn redial(&self, id: u64) {
        let current = self.0.state.load();
        if current.id() != id {
            return;
        }
        let next = self.0.ids.fetch_add(1, Ordering::Relaxed);
        let inner = &self.0;
        let dial = redial(
            Arc::downgrade(inner),
            inner.client.clone(),
            inner.config.clone(),
            inner.redial,
            next,
        );
        let new = Arc::new(State::Dialing {
            dial: dial.clone(),
            id: next,
        });
        let previous = inner.state.compare_and_swap(&current, new);
        if Arc::ptr_eq(&previous, &current) {
            tokio::spawn(dial.map(drop));
        }
    }
}

/// The error of a call that waited for a dial longer than its bound.
fn redialling(limit: Duration) -> RedisError {
    RedisError::from(io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "no answer within {limit:?} while the connection was dialled again \
             (dialTimeout + readTimeout)"
        ),
    ))
}

/// A dial that, once connected, makes its connection the live one (if its
/// state is still current).
fn redial(
    inner: Weak<Inner>,
    client: Client,
    config: AsyncConnectionConfig,
    redial: Redial,
    id: u64,
) -> Dial {
    async move {
        let conn = dial(&client, &config, redial).await?;
        if let Some(inner) = inner.upgrade() {
            let current = inner.state.load();
            if current.id() == id {
                let up = Arc::new(State::Up {
                    conn: conn.clone(),
                    id,
                });
                inner.state.compare_and_swap(&current, up);
            }
        }
        Ok(conn)
    }
    .boxed()
    .shared()
}

/// Dials, then up to `retries` times more, waiting between attempts from
/// `min` doubling to `max`, with jitter so that many clients do not dial
/// in step.
async fn dial(
    client: &Client,
    config: &AsyncConnectionConfig,
    redial: Redial,
) -> RedisResult<MultiplexedConnection> {
    let mut wait = redial.min;
    let mut attempt = 0;
    loop {
        match client
            .get_multiplexed_async_connection_with_config(config)
            .await
        {
            Ok(conn) => return Ok(conn),
            Err(e) if attempt >= redial.retries => return Err(e),
            Err(_) => {
                attempt += 1;
                let jitter = wait.mul_f64(fastrand::f64() / 2.0);
                tokio::time::sleep(wait / 2 + jitter).await;
                wait = (wait * 2).min(redial.max);
            }
        }
    }
}

impl ConnectionLike for Node {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(self.call(move |mut c| async move { c.send_packed_command(cmd).await }))
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(self.call(move |mut c| async move {
            c.send_packed_commands(pipeline, offset, count).await
        }))
    }

    fn get_db(&self) -> i64 {
        self.0.client.get_connection_info().redis_settings().db()
    }
}
