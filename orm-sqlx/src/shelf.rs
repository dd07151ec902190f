//! Connections kept ready between statements, out of sqlx's pool, so that a clean return
//! costs nothing.
//!
//! sqlx 0.9's pool pings every connection handed back to it (`return_to_pool`,
//! unconditionally, in a spawned task): one round trip per pooled statement, which the
//! next statement waits for whenever the pool has no other idle connection. A [`Db`]
//! made by `Db::connect` keeps the connection of a statement that finished cleanly on a
//! shelf of its own instead, and lends it again from there: no ping, no pool semaphore.
//! Only a clean finish is shelved: a statement abandoned mid-way closes its connection
//! (see `backend::Lent`), and one that failed goes back to sqlx, whose ping tells a
//! broken connection from a refused statement.
//!
//! The shelf is bounded and leaves room in the pool:
//! - it holds at most `max_connections - 1` connections, so code that takes connections
//!   from the sqlx pool itself (`Db::pg_pool()` and the like) always finds one (a pool of
//!   one connection, an in-memory SQLite database, has no shelf);
//! - nothing is shelved while every connection the pool may open is out and none is idle
//!   in sqlx's pool: a task may be waiting there, and only a connection handed back to
//!   sqlx wakes it;
//! - a connection idle on it for [`IDLE_CHECK_AFTER`] is pinged (within the pool's
//!   acquire timeout) before it is lent; the oldest one, once idle for
//!   [`SHELF_IDLE_LIMIT`], goes back to sqlx when another is shelved, and sqlx's idle
//!   timeout and `min_connections` then apply. sqlx's `max_lifetime` applies to a
//!   connection only as it goes back through sqlx (one kept busy on the shelf lives on);
//! - when the pool is closed (`pool.close()`), the shelf hands every connection back, so
//!   the close completes.
//!
//! A pool brought with `Db::from(pool)` has no shelf: its own options (an
//! `after_release` hook, say) apply as they are.
//!
//! [`Db`]: crate::Db
//! [`IDLE_CHECK_AFTER`]: crate::IDLE_CHECK_AFTER

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;

use crate::backend::IDLE_CHECK_AFTER;

/// How long a connection may sit on the shelf before it is handed back to sqlx's pool.
const SHELF_IDLE_LIMIT: Duration = Duration::from_secs(30);

/// A sqlx pool, with the shelf of connections kept out of it when the ORM made the pool.
pub(crate) struct Lender<DB: sqlx::Database> {
    pool: sqlx::Pool<DB>,
    shelf: Option<Arc<Shelf<DB>>>,
}

impl<DB: sqlx::Database> Clone for Lender<DB> {
    fn clone(&self) -> Self {
        Lender {
            pool: self.pool.clone(),
            shelf: self.shelf.clone(),
        }
    }
}

impl<DB: sqlx::Database> fmt::Debug for Lender<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lender")
            .field("pool", &self.pool)
            .field("shelved", &self.shelf.as_ref().map(|s| s.len()))
            .finish()
    }
}

impl<DB: sqlx::Database> std::ops::Deref for Lender<DB> {
    type Target = sqlx::Pool<DB>;
    fn deref(&self) -> &sqlx::Pool<DB> {
        &self.pool
    }
}

impl<DB: sqlx::Database> Lender<DB> {
    /// A pool someone else configured (`Db::from`): lent as sqlx lends it.
    pub(crate) fn plain(pool: sqlx::Pool<DB>) -> Self {
        Lender { pool, shelf: None }
    }

    /// A pool the ORM made: clean connections are shelved (see the module). Must be
    /// called inside a tokio runtime (it watches for the pool's close).
    pub(crate) fn shelving(pool: sqlx::Pool<DB>) -> Self {
        let room = pool.options().get_max_connections().saturating_sub(1) as usize;
        if room == 0 {
            return Lender::plain(pool);
        }
        let (gone, watch) = tokio::sync::oneshot::channel::<()>();
        let shelf = Arc::new(Shelf {
            slots: Mutex::new(Vec::new()),
            room,
            _gone: gone,
        });
        // Hand everything back when the pool closes (its close waits for every lent
        // connection); stop watching when the shelf is dropped.
        let weak = Arc::downgrade(&shelf);
        let closed = pool.close_event();
        tokio::spawn(async move {
            tokio::select! {
                () = closed => {
                    if let Some(shelf) = weak.upgrade() {
                        shelf.drain();
                    }
                }
                _ = watch => {}
            }
        });
        Lender {
            pool,
            shelf: Some(shelf),
        }
    }

    /// How many connections are on the shelf.
    pub(crate) fn shelved(&self) -> usize {
        self.shelf.as_ref().map_or(0, |s| s.len())
    }

    /// The shelf, if this pool has one.
    pub(crate) fn shelf(&self) -> Option<&Shelf<DB>> {
        self.shelf.as_deref()
    }

    /// A connection for one statement or transaction: from the shelf if it has one (pinged
    /// first if it sat idle, see the module), else from the pool.
    ///
    /// The common case, a connection fresh off the shelf, awaits nothing. Everything else
    /// (a ping, sqlx's own acquire) runs as a future boxed on its own: sqlx's acquire
    /// future is several kilobytes (it holds the connect future), and held inline it would
    /// make every statement's future that large, copied whole into its box on each call.
    pub(crate) async fn acquire(&self) -> Result<PoolConnection<DB>, sqlx::Error> {
        if let Some(shelf) = &self.shelf
            && let Some((conn, since)) = shelf.take(&self.pool)
        {
            if since.elapsed() < IDLE_CHECK_AFTER {
                return Ok(conn);
            }
            return Box::pin(self.revive(shelf, conn)).await;
        }
        Box::pin(self.pool.acquire()).await
    }

    /// [`acquire`](Self::acquire) after taking `conn` off the shelf idle for too long: it
    /// is pinged first; a dead one is closed and the next one tried, then the pool.
    async fn revive(
        &self,
        shelf: &Shelf<DB>,
        mut conn: PoolConnection<DB>,
    ) -> Result<PoolConnection<DB>, sqlx::Error> {
        loop {
            // Closed unless the ping is answered: dead, or abandoned with its reply
            // outstanding (the statement's future dropped), when the connection would be
            // out of step (MySQL would read the owed reply as the next command's).
            let mut held = CloseUnlessKept(Some(conn));
            // Within the pool's acquire timeout, as sqlx's own check on lending: a peer
            // that vanished without closing the connection never answers.
            let limit = self.pool.options().get_acquire_timeout();
            let answered = match held.0.as_mut() {
                Some(c) => matches!(
                    tokio::time::timeout(limit, sqlx::Connection::ping(&mut **c)).await,
                    Ok(Ok(()))
                ),
                None => false,
            };
            if answered && let Some(c) = held.0.take() {
                return Ok(c);
            }
            // Dead: closed now, before the pool is asked (it still counts against the
            // pool's size while it is held); try the next one, then the pool.
            drop(held);
            conn = match shelf.take(&self.pool) {
                Some((next, since)) if since.elapsed() < IDLE_CHECK_AFTER => return Ok(next),
                Some((next, _)) => next,
                None => return self.pool.acquire().await,
            };
        }
    }
}

/// A connection closed when this is dropped still holding it (see [`Lender::revive`]).
struct CloseUnlessKept<DB: sqlx::Database>(Option<PoolConnection<DB>>);

impl<DB: sqlx::Database> Drop for CloseUnlessKept<DB> {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            c.close_on_drop();
        }
    }
}

/// The connections kept out of the pool: the most recently returned last (lent first).
pub(crate) struct Shelf<DB: sqlx::Database> {
    slots: Mutex<Vec<(PoolConnection<DB>, Instant)>>,
    /// At most this many (the pool's size less one).
    room: usize,
    /// Dropped with the shelf: ends the close watcher.
    _gone: tokio::sync::oneshot::Sender<()>,
}

impl<DB: sqlx::Database> Shelf<DB> {
    fn slots(&self) -> std::sync::MutexGuard<'_, Vec<(PoolConnection<DB>, Instant)>> {
        // A panic while the lock was held left the vector whole (push/pop only).
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn len(&self) -> usize {
        self.slots().len()
    }

    /// The most recently shelved connection and when it was shelved, unless the pool is
    /// closed (then everything goes back).
    fn take(&self, pool: &sqlx::Pool<DB>) -> Option<(PoolConnection<DB>, Instant)> {
        if pool.is_closed() {
            self.drain();
            return None;
        }
        self.slots().pop()
    }

    /// Keep `conn`, whose statement finished cleanly, for the next statement; or hand it
    /// back to the pool when the shelf is full or the pool closed. The oldest connection
    /// goes back too once it has sat for [`SHELF_IDLE_LIMIT`].
    pub(crate) fn put(&self, conn: PoolConnection<DB>, pool: &sqlx::Pool<DB>) {
        // Every connection the pool may open is out and none is idle: someone may be
        // waiting in sqlx's pool for one, and only a connection returned to it wakes them.
        let wanted = pool.size() >= pool.options().get_max_connections() && pool.num_idle() == 0;
        if pool.is_closed() || wanted {
            drop(conn);
            if pool.is_closed() {
                self.drain();
            }
            return;
        }
        let mut slots = self.slots();
        let stale = slots
            .first()
            .is_some_and(|(_, since)| since.elapsed() >= SHELF_IDLE_LIMIT)
            .then(|| slots.remove(0));
        let back = if slots.len() < self.room {
            slots.push((conn, Instant::now()));
            None
        } else {
            Some(conn)
        };
        // Closed since the check above, its watcher may have drained already: drain again
        // under the lock, or the close would wait for this connection.
        let closed = pool.is_closed().then(|| std::mem::take(&mut *slots));
        drop(slots);
        // Dropped outside the lock: sqlx's return spawns a task.
        drop(stale);
        drop(back);
        drop(closed);
    }

    /// Hand every connection back to the pool.
    fn drain(&self) {
        let all = std::mem::take(&mut *self.slots());
        drop(all);
    }
}

impl<DB: sqlx::Database> Drop for Shelf<DB> {
    /// The last `Db` of the pool is gone. A connection handed back to sqlx spawns a task,
    /// which needs a tokio runtime: outside one (a `Db` dropped after its runtime, in a
    /// plain `main`), the connections are detached from the pool and closed by dropping
    /// them instead (the pool is being dropped too).
    fn drop(&mut self) {
        let all = std::mem::take(&mut *self.slots());
        if tokio::runtime::Handle::try_current().is_err() {
            for (conn, _) in all {
                drop(conn.detach());
            }
        }
    }
}
