//! Connections kept between calls, out of sqlx's pool.
//!
//! sqlx's pool tests every connection that comes back to it with a round
//! trip to the server (a ping), in a task it spawns, and lends it again only
//! after the answer. A call of one statement so cost the server two round
//! trips, and kept its connection busy for both (docs/performance.md,
//! "Connections kept between calls"). The test is there because a call
//! dropped halfway (cancelled, or out of time) can leave a connection in the
//! middle of an answer. Here a connection whose last statement ran to its
//! end with no error is kept for the next call as it is; any other goes back
//! to sqlx's pool, which tests it as before.
//!
//! One semaphore, a permit per connection the pool may open, queues every
//! call: each connection out of the pool either serves a permit's holder or
//! waits here, idle. A holder that finds no idle connection so always finds
//! room in the pool, and a waiting call is woken by any connection coming
//! back, kept or not.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::pool::{MaybePoolConnection, PoolConnection};
use sqlx::{AssertSqlSafe, Pool, SqlSafeStr, Transaction};
use statestore_core::{Error, Result};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

use crate::driver::{Driver, pool_error};

/// How long a connection stays out of sqlx's pool: after that it goes back
/// at the end of its call, so the pool's idle timeout and lifetime apply to
/// it (and its test on return costs one round trip a minute).
const KEEP: Duration = Duration::from_secs(60);

/// How long a connection may wait idle here before it goes back to sqlx's
/// pool rather than serve a call.
const KEEP_IDLE: Duration = Duration::from_secs(30);

/// A store's connections: sqlx's pool, and those kept out of it.
pub struct Conns<D: Driver> {
    pool: Pool<D::Db>,
    gate: Arc<Semaphore>,
    wait: Duration,
    idle: Mutex<Idle<D>>,
}

struct Idle<D: Driver> {
    /// Each with when it left sqlx's pool and when it came back here.
    conns: Vec<(PoolConnection<D::Db>, Instant, Instant)>,
    closed: bool,
}

impl<D: Driver> Conns<D> {
    /// Keeps connections of `pool`; a call waits up to `wait` for one.
    pub fn new(pool: Pool<D::Db>, wait: Duration) -> Arc<Self> {
        let permits = pool.options().get_max_connections() as usize;
        Arc::new(Conns {
            pool,
            gate: Arc::new(Semaphore::new(permits)),
            wait,
            idle: Mutex::new(Idle {
                conns: Vec::new(),
                closed: false,
            }),
        })
    }

    /// The pool.
    pub fn pool(&self) -> &Pool<D::Db> {
        &self.pool
    }

    /// A connection for one call, in autocommit mode.
    pub async fn plain(self: &Arc<Self>) -> Result<Kept<D>> {
        let permit = self.permit().await?;
        let (conn, taken) = self.conn().await?;
        Ok(Kept {
            conn: Some(conn),
            taken,
            clean: true,
            home: self.clone(),
            _permit: permit,
        })
    }

    /// A connection inside a transaction begun by `begin` (the database's
    /// `BEGIN` when `None`), with the permit it holds. It goes back to
    /// sqlx's pool when the transaction ends.
    pub async fn begin(
        self: &Arc<Self>,
        begin: Option<&'static str>,
    ) -> Result<(Transaction<'static, D::Db>, OwnedSemaphorePermit)> {
        let permit = self.permit().await?;
        let (conn, _) = self.conn().await?;
        let begin = begin.map(|s| AssertSqlSafe(s).into_sql_str());
        let tx = Transaction::begin(MaybePoolConnection::PoolConnection(conn), begin)
            .await
            .map_err(crate::driver::map::<D>)?;
        Ok((tx, permit))
    }

    /// Closes the pool: idle connections first, as sqlx waits for every
    /// connection lent.
    pub async fn close(&self) {
        self.gate.close();
        let idle = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            idle.closed = true;
            std::mem::take(&mut idle.conns)
        };
        drop(idle);
        self.pool.close().await;
    }

    async fn permit(&self) -> Result<OwnedSemaphorePermit> {
        let closed = || Error::invalid("the store is closed");
        match self.gate.clone().try_acquire_owned() {
            Ok(p) => return Ok(p),
            Err(TryAcquireError::Closed) => return Err(closed()),
            Err(TryAcquireError::NoPermits) => {}
        }
        // A timer only for a call that waits.
        match tokio::time::timeout(self.wait, self.gate.clone().acquire_owned()).await {
            Ok(Ok(p)) => Ok(p),
            Ok(Err(_)) => Err(closed()),
            Err(_) => Err(Error::timeout(
                "no connection became free within the timeout",
            )),
        }
    }

    /// An idle connection, or a new one from the pool, with when it left
    /// the pool.
    async fn conn(&self) -> Result<(PoolConnection<D::Db>, Instant)> {
        let mut stale = Vec::new();
        let found = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                match idle.conns.pop() {
                    Some((c, _, since)) if since.elapsed() > KEEP_IDLE => stale.push(c),
                    Some((c, taken, _)) => break Some((c, taken)),
                    None => break None,
                }
            }
        };
        // Back to the pool, which tests them, outside the lock.
        drop(stale);
        if let Some(found) = found {
            return Ok(found);
        }
        // Boxed: sqlx's future is some kilobytes, moved at every await.
        let conn = Box::pin(self.pool.acquire())
            .await
            .map_err(|e| pool_error::<D>(&self.pool, e))?;
        Ok((conn, Instant::now()))
    }

    fn keep(&self, conn: PoolConnection<D::Db>, taken: Instant) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.closed {
            drop(idle);
            drop(conn);
        } else {
            idle.conns.push((conn, taken, Instant::now()));
        }
    }
}

/// A connection lent for one call: kept for the next when its last
/// statement ran to its end, back to sqlx's pool otherwise.
pub struct Kept<D: Driver> {
    conn: Option<PoolConnection<D::Db>>,
    taken: Instant,
    clean: bool,
    home: Arc<Conns<D>>,
    // Released after `drop` has put the connection back.
    _permit: OwnedSemaphorePermit,
}

impl<D: Driver> Kept<D> {
    /// The connection, for a statement that must run to its end for the
    /// connection to be kept: call [`Kept::done`] after it.
    pub fn start(&mut self) -> &mut <D::Db as sqlx::Database>::Connection {
        self.clean = false;
        // Present until drop.
        self.conn.as_deref_mut().expect("connection")
    }

    /// Whether the statement begun by [`Kept::start`] ran to its end with
    /// no error.
    pub fn done(&mut self, ok: bool) {
        self.clean = ok;
    }
}

impl<D: Driver> Drop for Kept<D> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take()
            && self.clean
            && self.taken.elapsed() < KEEP
        {
            self.home.keep(conn, self.taken);
        }
    }
}
