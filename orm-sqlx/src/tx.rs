//! sqlx transactions whose control statements pass the chokepoint.
//!
//! sqlx sends `BEGIN`, `COMMIT`, `ROLLBACK` and the savepoint statements itself, so they
//! never reach the backend functions that record every other statement. [`Tracked`]
//! records each one where the ORM asks sqlx to send it, with the text sqlx sends (built by
//! sqlx's own functions, from the connection's transaction depth, and only while a capture
//! is running).

use sqlx::pool::MaybePoolConnection;
use sqlx_core::transaction::{
    TransactionManager, begin_ansi_transaction_sql, commit_ansi_transaction_sql,
    rollback_ansi_transaction_sql,
};

use crate::query_log::{StatementKind, record_control};

/// How many transactions and savepoints are open on `conn`, as sqlx counts them.
fn depth<DB: sqlx::Database>(conn: &DB::Connection) -> usize {
    <DB::TransactionManager as TransactionManager>::get_transaction_depth(conn)
}

/// `BEGIN` on a connection at `depth` 0, `SAVEPOINT _sqlx_savepoint_{depth}` inside one.
fn record_begin(depth: usize) {
    let kind = if depth == 0 {
        StatementKind::Begin
    } else {
        StatementKind::Savepoint
    };
    record_control(kind, || {
        begin_ansi_transaction_sql(depth).as_str().to_owned()
    });
}

/// `COMMIT` at `depth` 1, `RELEASE SAVEPOINT _sqlx_savepoint_{depth - 1}` deeper; nothing
/// at depth 0, where sqlx sends nothing.
fn record_commit(depth: usize) {
    if depth == 0 {
        return;
    }
    let kind = if depth == 1 {
        StatementKind::Commit
    } else {
        StatementKind::ReleaseSavepoint
    };
    record_control(kind, || {
        commit_ansi_transaction_sql(depth).as_str().to_owned()
    });
}

/// `ROLLBACK` at `depth` 1, `ROLLBACK TO SAVEPOINT _sqlx_savepoint_{depth - 1}` deeper;
/// nothing at depth 0, where sqlx sends nothing.
fn record_rollback(depth: usize) {
    if depth == 0 {
        return;
    }
    let kind = if depth == 1 {
        StatementKind::Rollback
    } else {
        StatementKind::RollbackToSavepoint
    };
    record_control(kind, || {
        rollback_ansi_transaction_sql(depth).as_str().to_owned()
    });
}

/// Records the rollback sqlx queues when a transaction is dropped while still open:
/// armed around a `commit`/`rollback` call, disarmed when that call succeeds. If the call
/// fails (or its future is dropped), sqlx's `Transaction` is dropped open and queues a
/// rollback at the same depth. (One case over-counts: on SQLite, a `commit` future
/// dropped after its `COMMIT` ran but before it heard back; the connection's worker then
/// skips the rollback it is sent.)
struct QueuedRollback(Option<usize>);

impl QueuedRollback {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for QueuedRollback {
    fn drop(&mut self) {
        if let Some(depth) = self.0 {
            record_rollback(depth);
        }
    }
}

/// A sqlx transaction (or savepoint) whose `BEGIN`/`SAVEPOINT`, `COMMIT`/`RELEASE` and
/// `ROLLBACK` are counted.
///
/// Dropped without `commit` or `rollback`, sqlx queues a rollback on the connection: on
/// PostgreSQL it is written to the connection's buffer and goes out with the connection's
/// next use (the pool's check when the connection returns to it, or the next statement);
/// on SQLite the connection's worker thread runs it next. It is recorded when the drop
/// happens, not when it is sent: the send happens inside sqlx, out of the ORM's sight, and
/// often in a task of the pool's rather than in the task (and capture) that dropped the
/// transaction.
pub(crate) struct Tracked<'c, DB: sqlx::Database>(Option<sqlx::Transaction<'c, DB>>);

impl<'c, DB: sqlx::Database> Tracked<'c, DB> {
    /// Begin a transaction on `conn`, or a savepoint if it is already in one.
    pub(crate) async fn begin(
        conn: impl Into<MaybePoolConnection<'c, DB>>,
    ) -> Result<Self, sqlx::Error> {
        let conn = conn.into();
        record_begin(depth::<DB>(&conn));
        // What `Pool::begin` and `Connection::begin` call; taking the connection first
        // lets the statement be counted only once it has one.
        sqlx::Transaction::begin(conn, None)
            .await
            .map(|tx| Tracked(Some(tx)))
    }

    /// Wrap a transaction begun elsewhere (its `BEGIN` was not sent by the ORM).
    pub(crate) fn wrap(tx: sqlx::Transaction<'c, DB>) -> Self {
        Tracked(Some(tx))
    }

    /// The transaction's connection.
    pub(crate) fn conn(&mut self) -> &mut DB::Connection {
        match &mut self.0 {
            Some(tx) => tx,
            // `commit` and `rollback` take `self`: no borrow outlives them.
            None => unreachable!("a finished transaction is never borrowed"),
        }
    }

    /// Commit the transaction, or release the savepoint.
    pub(crate) async fn commit(mut self) -> Result<(), sqlx::Error> {
        let Some(tx) = self.0.take() else {
            return Ok(());
        };
        let depth = depth::<DB>(&tx);
        record_commit(depth);
        let queued = QueuedRollback(Some(depth));
        tx.commit().await?;
        queued.disarm();
        Ok(())
    }

    /// Roll the transaction back, or roll back to the savepoint.
    pub(crate) async fn rollback(mut self) -> Result<(), sqlx::Error> {
        let Some(tx) = self.0.take() else {
            return Ok(());
        };
        let depth = depth::<DB>(&tx);
        record_rollback(depth);
        let queued = QueuedRollback(Some(depth));
        tx.rollback().await?;
        queued.disarm();
        Ok(())
    }
}

impl<DB: sqlx::Database> Drop for Tracked<'_, DB> {
    fn drop(&mut self) {
        // Still open: sqlx's `Transaction` queues a rollback as it drops, right after this.
        if let Some(tx) = &self.0 {
            record_rollback(depth::<DB>(tx));
        }
    }
}

impl<DB: sqlx::Database> std::fmt::Debug for Tracked<'_, DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Tracked").field(&self.0).finish()
    }
}
