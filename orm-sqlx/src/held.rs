//! Which pool connections a task holds in its own transactions, so that a statement on
//! the pool that could only wait for that task itself is refused at once
//! ([`Error::PoolHeldByTask`]) instead of waiting out the acquire timeout.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use orm_core::{Error, Result};

/// Who holds a connection: a tokio task, or (outside any task: the future `block_on`
/// runs, a `#[tokio::main]` or `#[tokio::test]` body) the thread it runs on, which such a
/// future never leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    Task(tokio::task::Id),
    Thread(std::thread::ThreadId),
}

fn owner() -> Owner {
    match tokio::task::try_id() {
        Some(id) => Owner::Task(id),
        None => Owner::Thread(std::thread::current().id()),
    }
}

/// (pool, owner) for every open transaction taken from a pool.
static HELD: Mutex<Vec<(usize, Owner)>> = Mutex::new(Vec::new());

/// How many entries `HELD` has: every statement on a pool checks it, and with no
/// transaction open anywhere (most of them) it costs one atomic load, no lock.
static HELD_COUNT: AtomicUsize = AtomicUsize::new(0);

/// A pool's identity: its shared options, which every clone of the pool points at.
fn key<DB: sqlx::Database>(pool: &sqlx::Pool<DB>) -> usize {
    std::ptr::from_ref(pool.options()) as usize
}

/// One connection of a pool held by a task's transaction; dropped with the transaction.
#[derive(Debug)]
pub(crate) struct Held {
    key: usize,
    task: Owner,
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = held
            .iter()
            .position(|&(k, t)| k == self.key && t == self.task)
        {
            held.swap_remove(i);
            HELD_COUNT.fetch_sub(1, Ordering::Release);
        }
    }
}

/// Note that the current task holds a connection of `pool` in a transaction.
pub(crate) fn hold<DB: sqlx::Database>(pool: &sqlx::Pool<DB>) -> Option<Held> {
    let task = owner();
    let key = key(pool);
    HELD.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((key, task));
    HELD_COUNT.fetch_add(1, Ordering::Release);
    Some(Held { key, task })
}

/// Refuse to wait for a connection of `pool` when every one it may open is held by this
/// task's own transactions: nothing but this task could return one, and it is waiting.
pub(crate) fn check<DB: sqlx::Database>(pool: &sqlx::Pool<DB>) -> Result<()> {
    if HELD_COUNT.load(Ordering::Acquire) == 0 {
        return Ok(());
    }
    let task = owner();
    let key = key(pool);
    let max = pool.options().get_max_connections();
    let mine = HELD
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|&&(k, t)| k == key && t == task)
        .count();
    if mine as u64 >= u64::from(max) {
        return Err(Error::PoolHeldByTask { max });
    }
    Ok(())
}
