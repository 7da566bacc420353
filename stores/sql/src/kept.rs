//! Connections kept between calls, out of sqlx's pool.
//!
//! sqlx's pool tests every connection that comes back to it with a round
//! trip to the server (a ping), in a task it spawns, and lends it again only
//! after the answer. A call of one statement so cost the server two round
//! trips, and kept its connection busy for both (docs/performance.md,
//! "Connections kept between calls"). The test is there because a call
//! dropped halfway (cancelled, or out of time) can leave a connection in the
//! middle of an answer. Here a connection whose last statement returned
//! with no error is kept for the next call as it is (sqlx reads off the end
//! of an answer left unread, such as a one-row read's, at the start of the
//! next statement, as its test would); any other goes back to sqlx's pool,
//! which tests it as before. So does a connection kept too long or idle too
//! long, at the next call or at the next sweep, whichever comes first, so
//! that the pool's idle timeout and lifetime apply to it within a minute.
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
use tokio::runtime::Handle;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

use crate::driver::{Driver, pool_error};

/// How long a connection stays out of sqlx's pool at most (less when the
/// pool's lifetime is shorter): after that it goes back, so the pool's
/// idle timeout and lifetime apply to it (and its test on return costs
/// one round trip a minute).
const KEEP: Duration = Duration::from_secs(60);

/// How long a connection may wait idle here at most (less when the pool's
/// idle timeout is shorter) before it goes back to sqlx's pool.
const KEEP_IDLE: Duration = Duration::from_secs(30);

/// A store's connections: sqlx's pool, and those kept out of it.
pub struct Conns<D: Driver> {
    pool: Pool<D::Db>,
    gate: Arc<Semaphore>,
    wait: Duration,
    keep: Duration,
    keep_idle: Duration,
    idle: Mutex<Idle<D>>,
    /// sqlx spawns a task for a connection that goes back to its pool: a
    /// store dropped outside a runtime drops its connections in this one.
    runtime: Option<Handle>,
}

struct Idle<D: Driver> {
    /// Each with when it left sqlx's pool and when it came back here.
    conns: Vec<(PoolConnection<D::Db>, Instant, Instant)>,
    closed: bool,
}

impl<D: Driver> Conns<D> {
    /// Keeps connections of `pool`; a call waits up to `wait` for one.
    /// Inside a Tokio runtime, a task sweeps connections idle too long
    /// back to the pool until the pool closes or `Conns` is dropped.
    pub fn new(pool: Pool<D::Db>, wait: Duration) -> Arc<Self> {
        let o = pool.options();
        let permits = o.get_max_connections() as usize;
        let keep = o.get_max_lifetime().map_or(KEEP, |l| l.min(KEEP));
        let keep_idle = o.get_idle_timeout().map_or(KEEP_IDLE, |l| l.min(KEEP_IDLE));
        let conns = Arc::new(Conns {
            pool,
            gate: Arc::new(Semaphore::new(permits)),
            wait,
            keep,
            keep_idle,
            idle: Mutex::new(Idle {
                conns: Vec::new(),
                closed: false,
            }),
            runtime: Handle::try_current().ok(),
        });
        if let Some(runtime) = &conns.runtime {
            let weak = Arc::downgrade(&conns);
            let every = (keep_idle / 2).max(Duration::from_millis(100));
            runtime.spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    match weak.upgrade() {
                        Some(conns) if !conns.sweep() => {}
                        _ => break,
                    }
                }
            });
        }
        conns
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
            let mut idle = self.lock();
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
        // The top only: the sweep sees to the rest.
        let mut stale = Vec::new();
        let found = {
            let mut idle = self.lock();
            loop {
                match idle.conns.pop() {
                    Some((c, taken, since)) if self.is_stale(taken, since) => stale.push(c),
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
        let mut idle = self.lock();
        if idle.closed || taken.elapsed() >= self.keep {
            drop(idle);
            self.in_runtime(|| drop(conn));
        } else {
            idle.conns.push((conn, taken, Instant::now()));
        }
    }

    /// Sends connections kept or idle too long back to the pool; `true`
    /// once closed.
    fn sweep(&self) -> bool {
        let (stale, closed) = {
            let mut idle = self.lock();
            (self.stale(&mut idle), idle.closed)
        };
        drop(stale);
        closed
    }

    /// Takes out the idle connections kept or idle too long.
    fn stale(&self, idle: &mut Idle<D>) -> Vec<PoolConnection<D::Db>> {
        let mut stale = Vec::new();
        let mut i = 0;
        while i < idle.conns.len() {
            let (_, taken, since) = idle.conns[i];
            if self.is_stale(taken, since) {
                stale.push(idle.conns.swap_remove(i).0);
            } else {
                i += 1;
            }
        }
        stale
    }

    /// Whether a connection out of the pool since `taken` and idle since
    /// `since` goes back.
    fn is_stale(&self, taken: Instant, since: Instant) -> bool {
        since.elapsed() >= self.keep_idle || taken.elapsed() >= self.keep
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Idle<D>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` where sqlx can spawn: in the current runtime, or else in
    /// the one `Conns` was made in.
    fn in_runtime(&self, f: impl FnOnce()) {
        match (&self.runtime, Handle::try_current()) {
            (Some(runtime), Err(_)) => {
                let _inside = runtime.enter();
                f()
            }
            _ => f(),
        }
    }
}

impl<D: Driver> Drop for Conns<D> {
    fn drop(&mut self) {
        let idle = std::mem::take(&mut self.lock().conns);
        self.in_runtime(|| drop(idle));
    }
}

/// A connection lent for one call: kept for the next when its last
/// statement returned with no error, back to sqlx's pool otherwise.
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

    /// Whether the statement begun by [`Kept::start`] returned with no
    /// error.
    pub fn done(&mut self, ok: bool) {
        self.clean = ok;
    }
}

impl<D: Driver> Drop for Kept<D> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        if self.clean {
            self.home.keep(conn, self.taken);
        } else {
            self.home.in_runtime(|| drop(conn));
        }
    }
}
