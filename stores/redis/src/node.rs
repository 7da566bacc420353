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
use std::panic::AssertUnwindSafe;
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
pub struct Backoff {
    /// Attempts after the first (`redisMaxRetries`).
    pub retries: usize,
    /// The first wait between attempts, doubled after each.
    pub min: Duration,
    /// The longest wait between attempts.
    pub max: Duration,
}

/// Where the connection is. Each state has an id, so that a call that saw
/// one state fail replaces that state and no later one. A dial that
/// connects keeps its id in the `Up` state it makes: the calls that waited
/// for it know that id, and one of them may find the new connection lost.
enum State {
    Up {
        conn: MultiplexedConnection,
        id: u64,
    },
    /// A dial under way, or one that failed (a call then starts the next).
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
    backoff: Backoff,
    /// The bound of a call that waits for a dial.
    bound: Option<Duration>,
    state: ArcSwap<State>,
    ids: AtomicU64,
}

/// A server's connection; clones share it.
#[derive(Clone)]
pub struct Node(Arc<Inner>);

impl Node {
    /// Dials the server (retrying as `backoff` says). `config` carries the
    /// bound of one attempt and of one answer; `bound`, that of a call that
    /// waits for a dial.
    pub async fn connect(
        client: Client,
        config: AsyncConnectionConfig,
        backoff: Backoff,
        bound: Option<Duration>,
    ) -> RedisResult<Node> {
        let conn = dial(&client, &config, backoff).await?;
        Ok(Node(Arc::new(Inner {
            client,
            config,
            backoff,
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
        let dialing = {
            let state = self.0.state.load();
            match &**state {
                State::Up { conn, id } => Ok((conn.clone(), *id)),
                State::Dialing { dial, id } => Err((dial.clone(), *id)),
            }
        };
        let (conn, id) = match dialing {
            Ok(up) => up,
            Err((dial, id)) => {
                let waited = self.wait(dial, id);
                match self.0.bound {
                    Some(limit) => tokio::time::timeout(limit, waited)
                        .await
                        .unwrap_or_else(|_| Err(redialling(limit)))?,
                    None => waited.await?,
                }
            }
        };
        let result = send(conn).await;
        // A lost connection is dialled again, on the errors the driver's
        // own manager re-dials after.
        if let Err(e) = &result
            && e.is_unrecoverable_error()
        {
            self.redial(id);
        }
        result
    }

    /// The connection dial `id` makes. A dial that already gave up (the
    /// server was down longer than its retries) is replaced by a new one,
    /// waited for once, so that the first call after a long outage does
    /// not fail on the old dial's error.
    async fn wait(&self, dial: Dial, id: u64) -> RedisResult<(MultiplexedConnection, u64)> {
        if let Ok(conn) = dial.await {
            return Ok((conn, id));
        }
        self.redial(id);
        let state = self.0.state.load_full();
        match &*state {
            State::Dialing { dial, id } => dial.clone().await.map(|conn| (conn, *id)),
            State::Up { conn, id } => Ok((conn.clone(), *id)),
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
        let dial = dial_and_install(Arc::downgrade(&self.0), next);
        let new = Arc::new(State::Dialing {
            dial: dial.clone(),
            id: next,
        });
        let previous = self.0.state.compare_and_swap(&current, new);
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

/// Dial `id` for the node `inner`, which, once connected, makes its
/// connection the live one (if its state is still current). A panic in
/// the driver fails the dial (the next call dials again) instead of
/// poisoning the future every later call would wait for.
fn dial_and_install(inner: Weak<Inner>, id: u64) -> Dial {
    async move {
        let Some(node) = inner.upgrade() else {
            return Err(RedisError::from(io::Error::other("the store was closed")));
        };
        let (client, config, backoff) = (node.client.clone(), node.config.clone(), node.backoff);
        drop(node);
        let conn = AssertUnwindSafe(dial(&client, &config, backoff))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Err(RedisError::from(io::Error::other("the dial panicked"))))?;
        if let Some(node) = inner.upgrade() {
            let current = node.state.load();
            if current.id() == id {
                let up = Arc::new(State::Up {
                    conn: conn.clone(),
                    id,
                });
                node.state.compare_and_swap(&current, up);
            }
        }
        Ok(conn)
    }
    .boxed()
    .shared()
}

/// Dials, then up to `retries` times more, waiting between attempts from
/// `min` doubling to `max`, each wait drawn between half and all of that
/// so that many clients do not dial in step.
async fn dial(
    client: &Client,
    config: &AsyncConnectionConfig,
    backoff: Backoff,
) -> RedisResult<MultiplexedConnection> {
    let mut wait = backoff.min;
    let mut attempt = 0;
    loop {
        match client
            .get_multiplexed_async_connection_with_config(config)
            .await
        {
            Ok(conn) => return Ok(conn),
            Err(e) if attempt >= backoff.retries => return Err(e),
            Err(_) => {
                attempt += 1;
                let jitter = wait.mul_f64(fastrand::f64() / 2.0);
                tokio::time::sleep(wait / 2 + jitter).await;
                wait = (wait * 2).min(backoff.max);
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
