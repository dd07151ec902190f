//! sqlx transactions whose control statements pass the chokepoint.
//!
//! sqlx sends `BEGIN`, `COMMIT`, `ROLLBACK` and the savepoint statements itself, so they
//! never reach the backend functions that record every other statement. [`Tracked`]
//! records each one where the ORM asks sqlx's `TransactionManager` to send it, with the
//! text sqlx sends (built by sqlx's own functions, from the connection's transaction depth,
//! and only while a capture is running), and closes the connection of a transaction one of
//! whose statements was abandoned.

use sqlx::pool::MaybePoolConnection;
use sqlx_core::transaction::{
    TransactionManager, begin_ansi_transaction_sql, commit_ansi_transaction_sql,
    rollback_ansi_transaction_sql,
};

use crate::backend::Backend;
use crate::query_log::{StatementKind, record_control};

/// How many transactions and savepoints are open on `conn`, as sqlx counts them.
fn depth<DB: sqlx::Database>(conn: &DB::Connection) -> usize {
    <DB::TransactionManager as TransactionManager>::get_transaction_depth(conn)
}

/// `BEGIN` on a connection at `depth` 0, `SAVEPOINT _sqlx_savepoint_{depth}` inside one.
fn record_begin(dialect: orm_core::Dialect, depth: usize) {
    let kind = if depth == 0 {
        StatementKind::Begin
    } else {
        StatementKind::Savepoint
    };
    record_control(kind, dialect, || {
        begin_ansi_transaction_sql(depth).as_str().to_owned()
    });
}

/// `COMMIT` at `depth` 1, `RELEASE SAVEPOINT _sqlx_savepoint_{depth - 1}` deeper; nothing
/// at depth 0, where sqlx sends nothing.
fn record_commit(dialect: orm_core::Dialect, depth: usize) {
    if depth == 0 {
        return;
    }
    let kind = if depth == 1 {
        StatementKind::Commit
    } else {
        StatementKind::ReleaseSavepoint
    };
    record_control(kind, dialect, || {
        commit_ansi_transaction_sql(depth).as_str().to_owned()
    });
}

/// `ROLLBACK` at `depth` 1, `ROLLBACK TO SAVEPOINT _sqlx_savepoint_{depth - 1}` deeper;
/// nothing at depth 0, where sqlx sends nothing.
fn record_rollback(dialect: orm_core::Dialect, depth: usize) {
    if depth == 0 {
        return;
    }
    let kind = if depth == 1 {
        StatementKind::Rollback
    } else {
        StatementKind::RollbackToSavepoint
    };
    record_control(kind, dialect, || {
        rollback_ansi_transaction_sql(depth).as_str().to_owned()
    });
}

/// A transaction (or savepoint) whose `BEGIN`/`SAVEPOINT`, `COMMIT`/`RELEASE` and
/// `ROLLBACK` are counted, and whose connection is closed rather than reused when one of
/// its statements was abandoned.
///
/// Dropped while open, it queues a rollback on the connection (as sqlx's own
/// `Transaction` does): on PostgreSQL and MySQL it is written to the connection's buffer
/// and goes out with the connection's next use (the pool's check when the connection
/// returns to it, or the next statement); on SQLite the connection's worker thread runs it
/// next. It is recorded when the drop happens, not when it is sent: the send happens
/// inside sqlx, out of the ORM's sight, and often in a task of the pool's rather than in
/// the task (and capture) that dropped the transaction.
///
/// A statement future dropped while it ran (a cancelled request) leaves a driver's
/// connection mid-protocol (sqlx's connections are not cancel-safe: MySQL's next command
/// then waits forever). On a backend with [`Backend::DISCARD_ABANDONED`], such a
/// transaction's pool connection is closed when it drops, and the server rolls the
/// transaction back as the connection ends; a savepoint on a borrowed connection passes
/// the news to its owner instead (`poison`), which closes it.
pub(crate) struct Tracked<'c, DB: Backend> {
    inner: Inner<'c, DB>,
    /// Begun and not yet committed or rolled back.
    open: bool,
    /// A statement was sent and its future has not finished.
    running: bool,
    /// The flag of whoever owns the connection this savepoint borrows: set when this one
    /// is dropped with a statement abandoned.
    poison: Option<&'c mut bool>,
    /// A nested block was dropped while one of its statements ran: whatever runs after,
    /// the transaction cannot be committed and its connection is closed when it drops.
    broken: bool,
    /// A statement sent at this transaction's own level failed (not one in a savepoint
    /// rolled back since): on PostgreSQL the transaction is aborted, and its COMMIT would
    /// silently roll back.
    failed: bool,
    /// SQLite: a nested block's `ROLLBACK TO SAVEPOINT` was queued on the connection's
    /// worker (`abandon_savepoint`) and may not have run yet, and sqlx's depth drops only
    /// once it has: what reads that depth (recording transaction control, the commit's
    /// check) pings first ([`Tracked::settle`]).
    queued: bool,
}

enum Inner<'c, DB: sqlx::Database> {
    /// Begun by the ORM, on a pool connection it owns or on a borrowed one.
    Own(MaybePoolConnection<'c, DB>),
    /// A sqlx transaction begun elsewhere (`Transaction::from`).
    Sqlx(sqlx::Transaction<'c, DB>),
}

impl<'c, DB: Backend> Tracked<'c, DB> {
    /// Begin a transaction on `conn`, or a savepoint if it is already in one. `poison` is
    /// the abandonment flag of the owner of a borrowed connection.
    pub(crate) async fn begin(
        conn: impl Into<MaybePoolConnection<'c, DB>>,
        poison: Option<&'c mut bool>,
    ) -> Result<Self, sqlx::Error> {
        let conn = conn.into();
        record_begin(DB::DIALECT, depth::<DB>(&conn));
        // What `sqlx::Transaction::begin` calls; taking the connection first lets the
        // statement be counted only once it has one.
        let mut tracked = Tracked {
            inner: Inner::Own(conn),
            open: false,
            running: DB::DISCARD_ABANDONED,
            poison,
            broken: false,
            failed: false,
            queued: false,
        };
        let Inner::Own(conn) = &mut tracked.inner else {
            unreachable!("just built")
        };
        <DB::TransactionManager as TransactionManager>::begin(conn, None).await?;
        tracked.open = true;
        tracked.running = false;
        Ok(tracked)
    }

    /// Begin a transaction on `conn` with `statement` instead of `BEGIN` (SQLite's
    /// `BEGIN IMMEDIATE`, which takes the write lock at once); a savepoint if `conn` is
    /// already in a transaction.
    pub(crate) async fn begin_with(
        conn: impl Into<MaybePoolConnection<'c, DB>>,
        statement: &'static str,
    ) -> Result<Self, sqlx::Error> {
        use sqlx::SqlSafeStr as _;
        let conn = conn.into();
        if depth::<DB>(&conn) != 0 {
            return Self::begin(conn, None).await;
        }
        record_control(StatementKind::Begin, DB::DIALECT, || statement.to_owned());
        let mut tracked = Tracked {
            inner: Inner::Own(conn),
            open: false,
            running: DB::DISCARD_ABANDONED,
            poison: None,
            broken: false,
            failed: false,
            queued: false,
        };
        let Inner::Own(conn) = &mut tracked.inner else {
            unreachable!("just built")
        };
        let statement = sqlx::AssertSqlSafe(statement).into_sql_str();
        <DB::TransactionManager as TransactionManager>::begin(conn, Some(statement)).await?;
        tracked.open = true;
        tracked.running = false;
        Ok(tracked)
    }

    /// `SAVEPOINT` inside this transaction, on its own connection: the start of a nested
    /// atomic block ([`crate::Transaction::atomic`]).
    pub(crate) async fn savepoint(&mut self) -> Result<(), sqlx::Error> {
        self.settle().await;
        record_begin(DB::DIALECT, depth::<DB>(self.conn()));
        self.running = DB::DISCARD_ABANDONED;
        let done = <DB::TransactionManager as TransactionManager>::begin(self.conn(), None).await;
        self.running = false;
        done
    }

    /// `RELEASE SAVEPOINT` (`ok`) or `ROLLBACK TO SAVEPOINT`: the end of a nested block.
    pub(crate) async fn end_savepoint(&mut self, ok: bool) -> Result<(), sqlx::Error> {
        self.settle().await;
        let at = depth::<DB>(self.conn());
        self.running = DB::DISCARD_ABANDONED;
        let done = if ok {
            record_commit(DB::DIALECT, at);
            <DB::TransactionManager as TransactionManager>::commit(self.conn()).await
        } else {
            record_rollback(DB::DIALECT, at);
            <DB::TransactionManager as TransactionManager>::rollback(self.conn()).await
        };
        self.running = false;
        done
    }

    /// A nested block dropped before it ended (cancelled, or unwinding from a panic): its
    /// `ROLLBACK TO SAVEPOINT` is queued on the connection, as a dropped transaction's
    /// rollback is.
    pub(crate) fn abandon_savepoint(&mut self) {
        if self.running {
            // Mid-statement: the connection is out of step for good (a later statement
            // resets `running`), so the transaction is marked and closed when it drops.
            self.broken = true;
            return;
        }
        record_rollback(DB::DIALECT, depth::<DB>(self.conn()));
        <DB::TransactionManager as TransactionManager>::start_rollback(self.conn());
        // PostgreSQL and MySQL count it at once and send it before their next command.
        self.queued = DB::DIALECT == orm_core::Dialect::Sqlite;
    }

    /// Whether a queued rollback may not have run yet (cleared: the caller pings).
    pub(crate) fn take_queued(&mut self) -> bool {
        std::mem::take(&mut self.queued)
    }

    /// Wait for a queued rollback (see `queued`): a ping, answered in order after it.
    async fn settle(&mut self) {
        if self.take_queued() {
            let _ = sqlx::Connection::ping(self.conn()).await;
        }
    }

    /// Wrap a transaction begun elsewhere (its `BEGIN` was not sent by the ORM).
    pub(crate) fn wrap(tx: sqlx::Transaction<'c, DB>) -> Self {
        Tracked {
            inner: Inner::Sqlx(tx),
            open: true,
            running: false,
            poison: None,
            broken: false,
            failed: false,
            queued: false,
        }
    }

    /// The transaction's connection.
    pub(crate) fn conn(&mut self) -> &mut DB::Connection {
        match &mut self.inner {
            Inner::Own(c) => c,
            Inner::Sqlx(tx) => tx,
        }
    }

    /// The connection, for a statement about to be sent (see [`Tracked::finish`]).
    pub(crate) fn start(&mut self) -> &mut DB::Connection {
        self.running = DB::DISCARD_ABANDONED;
        self.conn()
    }

    /// The connection and the flag that a statement on it (or on a savepoint inside)
    /// was abandoned, for the owner's own statement runs and savepoints.
    pub(crate) fn conn_and_flag(&mut self) -> (&mut DB::Connection, &mut bool) {
        let conn = match &mut self.inner {
            Inner::Own(c) => &mut **c,
            Inner::Sqlx(tx) => &mut **tx,
        };
        (conn, &mut self.running)
    }

    /// Whether this is a savepoint inside a transaction.
    pub(crate) fn nested(&mut self) -> bool {
        depth::<DB>(self.conn()) > 1
    }

    /// Whether sqlx counts exactly one open transaction on the connection (no savepoint
    /// left open): what the outermost COMMIT requires, or it would only release one.
    /// Otherwise the transaction is marked broken (its connection is closed as it drops).
    pub(crate) async fn at_top_level(&mut self) -> bool {
        self.settle().await;
        if DB::DIALECT == orm_core::Dialect::Sqlite
            && depth::<DB>(self.conn()) != 1
            && !self.abandoned()
        {
            // An atomic block of the ORM's own on this connection (`Executor::atomic`: a
            // savepoint `Tracked` of its own, which this one does not see) dropped just
            // before: its `ROLLBACK TO SAVEPOINT` is queued too, and on SQLite the depth
            // drops only once the worker ran it. A ping waits for it; read again after.
            let _ = sqlx::Connection::ping(self.conn()).await;
        }
        let top = depth::<DB>(self.conn()) == 1;
        if !top {
            self.broken = true;
        }
        top
    }

    /// Whether a statement of this transaction was abandoned mid-protocol (its future
    /// dropped while it ran): the connection is unusable, and nothing may be committed.
    pub(crate) fn abandoned(&self) -> bool {
        self.running || self.broken
    }

    /// The connection, the running flag and the failed flag, for the owner's statements.
    pub(crate) fn conn_and_flags(&mut self) -> (&mut DB::Connection, &mut bool, &mut bool) {
        let conn = match &mut self.inner {
            Inner::Own(c) => &mut **c,
            Inner::Sqlx(tx) => &mut **tx,
        };
        (conn, &mut self.running, &mut self.failed)
    }

    /// Whether a statement at this transaction's own level failed (see `failed`).
    pub(crate) fn failed(&self) -> bool {
        self.failed
    }

    /// Set after a nested block is rolled back: its statements' failures are undone.
    pub(crate) fn set_failed(&mut self, failed: bool) {
        self.failed = failed;
    }

    /// The statement's future finished (with its rows or its error).
    pub(crate) fn finish<R>(&mut self, out: R) -> R {
        self.running = false;
        out
    }

    /// Commit the transaction, or release the savepoint.
    pub(crate) async fn commit(mut self) -> Result<(), sqlx::Error> {
        if !self.open {
            return Ok(());
        }
        self.settle().await;
        let depth = depth::<DB>(self.conn());
        record_commit(DB::DIALECT, depth);
        self.running = DB::DISCARD_ABANDONED;
        let done = match &mut self.inner {
            Inner::Own(c) => <DB::TransactionManager as TransactionManager>::commit(c).await,
            Inner::Sqlx(tx) => <DB::TransactionManager as TransactionManager>::commit(tx).await,
        };
        // Answered, even with an error: the connection is in step (a failed one is rolled
        // back as it drops).
        self.running = false;
        done?;
        self.open = false;
        Ok(())
    }

    /// Roll the transaction back, or roll back to the savepoint.
    pub(crate) async fn rollback(mut self) -> Result<(), sqlx::Error> {
        if !self.open {
            return Ok(());
        }
        self.settle().await;
        let depth = depth::<DB>(self.conn());
        record_rollback(DB::DIALECT, depth);
        self.running = DB::DISCARD_ABANDONED;
        let done = match &mut self.inner {
            Inner::Own(c) => <DB::TransactionManager as TransactionManager>::rollback(c).await,
            Inner::Sqlx(tx) => <DB::TransactionManager as TransactionManager>::rollback(tx).await,
        };
        // Answered, even with an error: the connection is in step (a failed one is rolled
        // back as it drops).
        self.running = false;
        done?;
        self.open = false;
        Ok(())
    }
}

impl<DB: Backend> Drop for Tracked<'_, DB> {
    fn drop(&mut self) {
        if self.running || self.broken {
            // A statement (or the commit or rollback) was abandoned mid-protocol: the
            // connection must not be used again. Nothing more is sent; the server rolls
            // the transaction back when the connection closes.
            match &mut self.inner {
                Inner::Own(MaybePoolConnection::PoolConnection(c)) => {
                    c.close_on_drop();
                    return;
                }
                _ => {
                    if let Some(flag) = self.poison.as_deref_mut() {
                        *flag = true;
                    }
                }
            }
        }
        if !self.open {
            return;
        }
        record_rollback(DB::DIALECT, depth::<DB>(self.conn()));
        match &mut self.inner {
            Inner::Own(c) => <DB::TransactionManager as TransactionManager>::start_rollback(c),
            // sqlx's `Transaction` queues it itself as it drops, right after this.
            Inner::Sqlx(_) => {}
        }
    }
}

impl<DB: Backend> std::fmt::Debug for Tracked<'_, DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracked")
            .field("open", &self.open)
            .field("running", &self.running)
            .finish_non_exhaustive()
    }
}
