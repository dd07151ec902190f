//! Single connections and transactions as executors.
//!
//! `orm_core::Executor` cannot be implemented for sqlx's own types here (both are foreign
//! to this crate), so a borrowed sqlx connection is wrapped in [`ConnRef`], and
//! [`Transaction`] and [`Connection`] own theirs.

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use orm_core::executor::{Atomic, ExecResult, RowSource};
use orm_core::select_related::SelectNode;
use orm_core::{Dialect, Executor, FromRow, Result, Statement};

use crate::backend;
use crate::tx::Tracked;

/// A borrowed sqlx connection of any enabled backend, usable as an executor:
/// `qs.fetch(ConnRef::from(&mut *sqlx_tx))`.
#[derive(Debug)]
pub enum ConnRef<'c> {
    #[cfg(feature = "sqlite")]
    Sqlite(&'c mut sqlx::SqliteConnection),
    #[cfg(feature = "postgres")]
    Postgres(&'c mut sqlx::PgConnection),
    /// With what the ORM knows of the server (from a `Db`; [`MysqlServer::default`](crate::mysql::MysqlServer::default) for a
    /// connection of your own: no `RETURNING`, which every MySQL-family server takes).
    #[cfg(feature = "mysql")]
    Mysql(&'c mut sqlx::MySqlConnection, crate::mysql::MysqlServer),
}

#[cfg(feature = "sqlite")]
impl<'c> From<&'c mut sqlx::SqliteConnection> for ConnRef<'c> {
    fn from(c: &'c mut sqlx::SqliteConnection) -> Self {
        ConnRef::Sqlite(c)
    }
}

#[cfg(feature = "postgres")]
impl<'c> From<&'c mut sqlx::PgConnection> for ConnRef<'c> {
    fn from(c: &'c mut sqlx::PgConnection) -> Self {
        ConnRef::Postgres(c)
    }
}

#[cfg(feature = "mysql")]
impl<'c> From<&'c mut sqlx::MySqlConnection> for ConnRef<'c> {
    /// Without `RETURNING` (the server is not asked): build
    /// `ConnRef::Mysql(conn, MysqlServer::detect(conn).await?)` to use it on MariaDB.
    fn from(c: &'c mut sqlx::MySqlConnection) -> Self {
        ConnRef::Mysql(c, crate::mysql::MysqlServer::default())
    }
}

macro_rules! on_conn {
    ($conn:expr, |$c:ident, $B:ident| $body:expr) => {
        match $conn {
            #[cfg(feature = "sqlite")]
            ConnRef::Sqlite($c) => {
                type $B = sqlx::Sqlite;
                $body
            }
            #[cfg(feature = "postgres")]
            ConnRef::Postgres($c) => {
                type $B = sqlx::Postgres;
                $body
            }
            #[cfg(feature = "mysql")]
            ConnRef::Mysql($c, _) => {
                type $B = sqlx::MySql;
                $body
            }
        }
    };
}

impl<'c> ConnRef<'c> {
    fn reborrow(&mut self) -> ConnRef<'_> {
        match self {
            #[cfg(feature = "sqlite")]
            ConnRef::Sqlite(c) => ConnRef::Sqlite(c),
            #[cfg(feature = "postgres")]
            ConnRef::Postgres(c) => ConnRef::Postgres(c),
            #[cfg(feature = "mysql")]
            ConnRef::Mysql(c, server) => ConnRef::Mysql(c, *server),
        }
    }

    fn returning(&self) -> bool {
        match self {
            #[cfg(feature = "mysql")]
            ConnRef::Mysql(_, server) => server.returning,
            #[allow(unreachable_patterns)]
            other => other.dialect_of().supports_returning(),
        }
    }

    /// Ping the connection, for its answer's place in the command order (an error shows
    /// at the next statement).
    async fn ping(&mut self) {
        let _ = on_conn!(self, |c, B| {
            <<B as sqlx::Database>::Connection as sqlx::Connection>::ping(&mut **c).await
        });
    }

    /// See [`backend::Backend::DISCARD_ABANDONED`].
    fn discards_abandoned(&self) -> bool {
        on_conn!(self, |_c, B| <B as backend::Backend>::DISCARD_ABANDONED)
    }

    fn dialect_of(&self) -> Dialect {
        on_conn!(self, |_c, B| <B as backend::Backend>::DIALECT)
    }

    fn fetch_all_owned<T: FromRow>(self, stmt: Statement) -> BoxFuture<'c, Result<Vec<T>>> {
        on_conn!(self, |c, B| Box::pin(backend::fetch_all::<B, T>(c, stmt)))
    }

    fn fetch_optional_owned<T: FromRow>(self, stmt: Statement) -> BoxFuture<'c, Result<Option<T>>> {
        on_conn!(self, |c, B| Box::pin(backend::fetch_optional::<B, T>(
            c, stmt
        )))
    }

    fn for_each_row_owned<'a>(
        self,
        stmt: Statement,
        each: &'a mut (dyn FnMut(&dyn orm_core::Row) -> Result<()> + Send),
    ) -> BoxFuture<'a, Result<()>>
    where
        'c: 'a,
    {
        on_conn!(self, |c, B| Box::pin(backend::for_each_row::<B>(
            c, stmt, each
        )))
    }

    fn execute_owned(self, stmt: Statement) -> BoxFuture<'c, Result<ExecResult>> {
        on_conn!(self, |c, B| Box::pin(backend::execute::<B>(c, stmt)))
    }

    /// An atomic block on this connection; `poison` is its owner's abandonment flag.
    /// `link` and `written` are the owner's query cache and its transaction's written
    /// tables (a savepoint notes its writes there).
    fn atomic_owned(
        self,
        poison: Option<&'c mut bool>,
        link: crate::cache_link::Link,
        written: crate::cache_link::TxWrites,
    ) -> BoxFuture<'c, Result<Box<dyn Atomic<'c> + 'c>>> {
        let returning = self.returning();
        on_conn!(self, |c, B| Box::pin(async move {
            let mut tx = Tracked::<B>::begin(c, poison)
                .await
                .map_err(|e| backend::db_error("BEGIN", e))?;
            let nested = tx.nested();
            Ok(
                Box::new(TxScope::<B>::new(tx, returning, nested, link, written))
                    as Box<dyn Atomic<'c> + 'c>,
            )
        }))
    }

    fn stream_owned<T: FromRow>(
        self,
        stmt: Statement,
        selected: Vec<SelectNode>,
    ) -> BoxStream<'c, Result<T>> {
        on_conn!(self, |c, B| backend::stream::<B, _, T>(c, stmt, selected))
    }
}

/// A type that owns a connection and lends it, one statement at a time.
/// What a statement's future gives: whether it failed (a transaction notes it).
trait Outcome {
    fn is_failure(&self) -> bool;
}

impl<T, E> Outcome for std::result::Result<T, E> {
    fn is_failure(&self) -> bool {
        self.is_err()
    }
}

trait Lend {
    /// The owner's link to the query cache, and the tables its transaction wrote (none
    /// outside a transaction).
    fn cache_parts(&self) -> (&crate::cache_link::Link, &crate::cache_link::TxWrites);

    /// The query cache and the scope `stmt` runs in, if the cache concerns `stmt`.
    #[cfg(feature = "cache")]
    fn cache_for(
        &self,
        stmt: &Statement,
    ) -> Option<(
        std::sync::Arc<crate::cache::QueryCache>,
        crate::cache::query::Scope,
    )> {
        let (link, written) = self.cache_parts();
        if written.is_some() {
            crate::cache::query::note_transaction();
        }
        let qc = link.concerns(stmt)?.clone();
        Some((qc, crate::cache::query::scope_of(written)))
    }

    /// The connection, and the owner's flag that a statement on it was abandoned (its
    /// future dropped while it ran): set, the owner closes the connection instead of
    /// reusing it.
    fn lend_flagged(&mut self) -> (ConnRef<'_>, &mut bool);

    /// Whether a nested block's rollback queued on SQLite's worker may not have run yet
    /// (cleared: the caller pings before it reads sqlx's depth; see `Tracked::queued`).
    /// A statement needs no such wait: sqlx's worker runs commands in order, and a
    /// direct read in a transaction pings first (`sqlite::direct`).
    fn take_queued(&mut self) -> bool {
        false
    }

    /// Run the future of one statement, `f(connection)`, marked running while it runs:
    /// one flag write before it, one after. Dropped in between, the flag stays set.
    fn run<'a, R: Send + Outcome + 'a>(
        &'a mut self,
        f: impl FnOnce(ConnRef<'a>) -> BoxFuture<'a, R>,
    ) -> BoxFuture<'a, R> {
        let (conn, running) = self.lend_flagged();
        let discard = conn.discards_abandoned();
        let fut = f(conn);
        Box::pin(async move {
            *running = discard;
            let out = fut.await;
            *running = false;
            out
        })
    }

    /// An atomic block (a savepoint) on the connection, which tells the owner if one of
    /// its statements is abandoned.
    // Without the cache feature the written tables are `()`.
    #[cfg_attr(not(feature = "cache"), allow(clippy::clone_on_copy))]
    fn atomic_scope(&mut self) -> BoxFuture<'_, Result<Box<dyn Atomic<'_> + '_>>> {
        let (link, written) = self.cache_parts();
        let (link, written) = (link.clone(), written.clone());
        let queued = self.take_queued();
        let (mut conn, running) = self.lend_flagged();
        if !queued {
            return conn.atomic_owned(Some(running), link, written);
        }
        Box::pin(async move {
            conn.ping().await;
            conn.atomic_owned(Some(running), link, written).await
        })
    }

    /// A stream of rows, marked running until it ends.
    fn stream_flagged<T: FromRow>(
        &mut self,
        stmt: Statement,
        selected: Vec<SelectNode>,
    ) -> BoxStream<'_, Result<T>> {
        let (conn, running) = self.lend_flagged();
        *running = conn.discards_abandoned();
        let rows = conn.stream_owned(stmt, selected);
        Box::pin(Flagged {
            rows,
            running: Some(running),
        })
    }
}

/// A stream whose owner's `running` flag is cleared when it ends.
struct Flagged<'a, S> {
    rows: S,
    running: Option<&'a mut bool>,
}

impl<S: futures_util::Stream + Unpin> futures_util::Stream for Flagged<'_, S> {
    type Item = S::Item;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<S::Item>> {
        let out = std::pin::Pin::new(&mut self.rows).poll_next(cx);
        if let std::task::Poll::Ready(None) = out
            && let Some(flag) = self.running.take()
        {
            *flag = false;
        }
        out
    }
}

/// Implement `Executor` for `&mut` a type that lends its connection ([`Lend`]).
macro_rules! executor_via_conn {
    ($ty:ty) => {
        impl Executor for &mut $ty {
            fn dialect(&self) -> Dialect {
                (**self).dialect()
            }
            fn supports_returning(&self) -> bool {
                (**self).returning()
            }
            fn fetch_all<'a, T: FromRow>(
                &'a mut self,
                stmt: Statement,
            ) -> BoxFuture<'a, Result<Vec<T>>> {
                #[cfg(feature = "cache")]
                if (**self).cache_for(&stmt).is_some() {
                    return Box::pin(crate::cache::query::collect_rows(self, stmt));
                }
                (**self).run(|c| c.fetch_all_owned(stmt))
            }
            fn fetch_optional<'a, T: FromRow>(
                &'a mut self,
                stmt: Statement,
            ) -> BoxFuture<'a, Result<Option<T>>> {
                #[cfg(feature = "cache")]
                if (**self).cache_for(&stmt).is_some() {
                    return Box::pin(async move {
                        let rows: Vec<T> = crate::cache::query::collect_rows(self, stmt).await?;
                        Ok(rows.into_iter().next())
                    });
                }
                (**self).run(|c| c.fetch_optional_owned(stmt))
            }
            fn for_each_row<'a>(
                &'a mut self,
                stmt: Statement,
                each: &'a mut (dyn FnMut(&dyn orm_core::Row) -> Result<()> + Send),
            ) -> BoxFuture<'a, Result<()>> {
                #[cfg(feature = "cache")]
                if let Some((qc, scope)) = (**self).cache_for(&stmt) {
                    let this = &mut **self;
                    return Box::pin(async move {
                        crate::cache::query::cached_rows!(
                            qc,
                            scope,
                            true,
                            stmt,
                            each,
                            this.run(|c| c.for_each_row_owned(stmt, each))
                        )
                    });
                }
                (**self).run(|c| c.for_each_row_owned(stmt, each))
            }
            fn execute<'a>(&'a mut self, stmt: Statement) -> BoxFuture<'a, Result<ExecResult>> {
                #[cfg(feature = "cache")]
                if let Some((qc, scope)) = (**self).cache_for(&stmt) {
                    let this = &mut **self;
                    return Box::pin(async move {
                        crate::cache::query::cached_exec!(
                            qc,
                            scope,
                            stmt,
                            this.run(|c| c.execute_owned(stmt))
                        )
                    });
                }
                (**self).run(|c| c.execute_owned(stmt))
            }
            fn atomic<'a>(&'a mut self) -> BoxFuture<'a, Result<Box<dyn Atomic<'a> + 'a>>> {
                (**self).atomic_scope()
            }
            fn stream<'a, T: FromRow>(
                &'a mut self,
                stmt: Statement,
                selected: Vec<SelectNode>,
            ) -> BoxStream<'a, Result<T>> {
                (**self).stream_flagged(stmt, selected)
            }
            fn into_stream<'e, T: FromRow>(
                self,
                stmt: Statement,
                selected: Vec<SelectNode>,
            ) -> BoxStream<'e, Result<T>>
            where
                Self: 'e,
            {
                self.stream_flagged(stmt, selected)
            }
        }
    };
}

impl Executor for ConnRef<'_> {
    fn dialect(&self) -> Dialect {
        self.dialect_of()
    }
    fn supports_returning(&self) -> bool {
        self.returning()
    }
    fn fetch_all<'a, T: FromRow>(&'a mut self, stmt: Statement) -> BoxFuture<'a, Result<Vec<T>>> {
        self.reborrow().fetch_all_owned(stmt)
    }
    fn fetch_optional<'a, T: FromRow>(
        &'a mut self,
        stmt: Statement,
    ) -> BoxFuture<'a, Result<Option<T>>> {
        self.reborrow().fetch_optional_owned(stmt)
    }
    fn for_each_row<'a>(
        &'a mut self,
        stmt: Statement,
        each: &'a mut (dyn FnMut(&dyn orm_core::Row) -> Result<()> + Send),
    ) -> BoxFuture<'a, Result<()>> {
        self.reborrow().for_each_row_owned(stmt, each)
    }
    fn execute<'a>(&'a mut self, stmt: Statement) -> BoxFuture<'a, Result<ExecResult>> {
        self.reborrow().execute_owned(stmt)
    }
    #[cfg_attr(not(feature = "cache"), allow(clippy::unit_arg))]
    fn atomic<'a>(&'a mut self) -> BoxFuture<'a, Result<Box<dyn Atomic<'a> + 'a>>> {
        self.reborrow()
            .atomic_owned(None, Default::default(), Default::default())
    }
    fn stream<'a, T: FromRow>(
        &'a mut self,
        stmt: Statement,
        selected: Vec<SelectNode>,
    ) -> BoxStream<'a, Result<T>> {
        self.reborrow().stream_owned(stmt, selected)
    }
    fn into_stream<'e, T: FromRow>(
        self,
        stmt: Statement,
        selected: Vec<SelectNode>,
    ) -> BoxStream<'e, Result<T>>
    where
        Self: 'e,
    {
        self.stream_owned(stmt, selected)
    }
}

/// A transaction on any enabled backend (from [`Db::begin`](crate::Db::begin)). Pass
/// `&mut tx` as the executor; [`commit`](Transaction::commit) to keep the changes. Dropped
/// without a commit, it rolls back.
#[derive(Debug)]
pub struct Transaction {
    inner: TxInner,
    /// How many nested [`atomic`](Transaction::atomic) blocks are open (savepoints).
    level: usize,
    /// `on_commit` callbacks, each with the level of the block that registered it.
    on_commit: OnCommit,
    /// The pool connection this task holds while the transaction is open (see
    /// `held.rs`); released when the transaction ends.
    held: Option<crate::held::Held>,
    /// The database's query cache, and the tables written so far (new versions after the
    /// COMMIT).
    link: crate::cache_link::Link,
    written: crate::cache_link::TxWrites,
}

/// The callbacks [`Transaction::on_commit`] registered, in order.
#[derive(Default)]
struct OnCommit(Vec<(usize, Box<dyn FnOnce() + Send>)>);

impl std::fmt::Debug for OnCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} on_commit callback(s)", self.0.len())
    }
}

/// Run `$body` with `$tx`, the transaction's `Tracked`, whatever its backend.
macro_rules! on_tracked {
    ($inner:expr, |$tx:ident| $body:expr) => {
        match $inner {
            #[cfg(feature = "sqlite")]
            TxInner::Sqlite($tx) => $body,
            #[cfg(feature = "postgres")]
            TxInner::Postgres($tx) => $body,
            #[cfg(feature = "mysql")]
            TxInner::Mysql($tx, _) => $body,
        }
    };
}

/// An open nested block: dropped before it ends (cancelled, or unwinding from a panic),
/// it rolls its savepoint back and forgets its `on_commit` callbacks.
struct Nested<'t> {
    tx: &'t mut Transaction,
    done: bool,
}

impl Drop for Nested<'_> {
    fn drop(&mut self) {
        if !self.done {
            on_tracked!(&mut self.tx.inner, |t| t.abandon_savepoint());
            self.tx.leave_level(false);
        }
    }
}

#[derive(Debug)]
pub(crate) enum TxInner {
    #[cfg(feature = "sqlite")]
    Sqlite(Tracked<'static, sqlx::Sqlite>),
    #[cfg(feature = "postgres")]
    Postgres(Tracked<'static, sqlx::Postgres>),
    #[cfg(feature = "mysql")]
    Mysql(Tracked<'static, sqlx::MySql>, crate::mysql::MysqlServer),
}

#[cfg(feature = "sqlite")]
impl From<Tracked<'static, sqlx::Sqlite>> for TxInner {
    fn from(tx: Tracked<'static, sqlx::Sqlite>) -> Self {
        TxInner::Sqlite(tx)
    }
}

#[cfg(feature = "postgres")]
impl From<Tracked<'static, sqlx::Postgres>> for TxInner {
    fn from(tx: Tracked<'static, sqlx::Postgres>) -> Self {
        TxInner::Postgres(tx)
    }
}

impl Transaction {
    pub(crate) fn new(inner: TxInner, link: &crate::cache_link::Link) -> Self {
        #[cfg(feature = "cache")]
        let written = link.0.as_ref().map(|_| Default::default());
        #[cfg(not(feature = "cache"))]
        let written = ();
        Transaction {
            inner,
            level: 0,
            on_commit: OnCommit::default(),
            held: None,
            link: link.clone(),
            written,
        }
    }

    /// Note that this task holds one of `pool`'s connections until the transaction ends.
    pub(crate) fn holding<DB: sqlx::Database>(mut self, pool: &sqlx::Pool<DB>) -> Self {
        self.held = crate::held::hold(pool);
        self
    }

    /// Run `f` in a nested atomic block (Django's `atomic()` inside `atomic()`): a
    /// `SAVEPOINT`, released when `f` returns `Ok`, rolled back to when it returns `Err`
    /// (which is returned), panics or is dropped (a cancelled request). Either way the
    /// outer transaction goes on: an inner rollback leaves it usable (T1).
    ///
    /// ```no_run
    /// # use orm_sqlx::{Db, Result};
    /// # async fn demo(db: &Db) -> Result<()> {
    /// db.atomic(|tx| Box::pin(async move {
    ///     // … writes that must stay …
    ///     let tried = tx.atomic(|tx| Box::pin(async move {
    ///         // … writes undone if this returns Err …
    ///         Ok(())
    ///     })).await;
    ///     Ok(())
    /// })).await
    /// # }
    /// ```
    #[track_caller]
    pub fn atomic<T: Send>(
        &mut self,
        f: impl for<'t> FnOnce(&'t mut Transaction) -> BoxFuture<'t, Result<T>> + Send,
    ) -> impl Future<Output = Result<T>> {
        orm_core::eval::observe::traced(async move {
            on_tracked!(&mut self.inner, |t| t.savepoint().await)
                .map_err(|e| backend::db_error("SAVEPOINT", e))?;
            let failed_before = on_tracked!(&self.inner, |t| t.failed());
            self.level += 1;
            let mut nested = Nested {
                tx: self,
                done: false,
            };
            let out = f(&mut *nested.tx).await;
            let ok = out.is_ok();
            let mut ended = on_tracked!(&mut nested.tx.inner, |t| t.end_savepoint(ok).await);
            let rolled_back = if ok && ended.is_err() {
                // The RELEASE failed (PostgreSQL, after an error swallowed in the block): roll
                // back to the savepoint, as Django's `Atomic.__exit__` does, so that the outer
                // block stays usable.
                on_tracked!(&mut nested.tx.inner, |t| t.end_savepoint(false).await).is_ok()
            } else if !ok {
                let done = ended.is_ok();
                ended = Ok(());
                done
            } else {
                false
            };
            if rolled_back {
                // What failed inside the block is undone with it.
                on_tracked!(&mut nested.tx.inner, |t| t.set_failed(failed_before));
            }
            nested.done = true;
            nested.tx.leave_level(ok && ended.is_ok());
            match (out, ended) {
                (Ok(v), Ok(())) => Ok(v),
                (Err(e), _) => Err(e),
                (Ok(_), Err(e)) => Err(backend::db_error("RELEASE SAVEPOINT", e)),
            }
        })
    }

    /// Run `callback` after the outermost transaction commits (Django's
    /// `transaction.on_commit`), in registration order (T2). A rollback of the block that
    /// registered it, or of an outer one, drops it; so does a dropped transaction.
    pub fn on_commit(&mut self, callback: impl FnOnce() + Send + 'static) {
        self.on_commit.0.push((self.level, Box::new(callback)));
    }

    /// A nested block ended: its callbacks belong to the enclosing block if it was
    /// released, and are dropped if it was rolled back.
    fn leave_level(&mut self, released: bool) {
        let level = self.level;
        self.level = level.saturating_sub(1);
        if released {
            for (l, _) in &mut self.on_commit.0 {
                if *l >= level {
                    *l = level - 1;
                }
            }
        } else {
            self.on_commit.0.retain(|(l, _)| *l < level);
        }
    }
}

/// Wrap a sqlx transaction begun elsewhere; its `COMMIT` or `ROLLBACK` is counted from
/// here on (its `BEGIN` was not the ORM's). Without `RETURNING` (see [`ConnRef::Mysql`]).
#[cfg(feature = "mysql")]
impl From<sqlx::Transaction<'static, sqlx::MySql>> for Transaction {
    fn from(tx: sqlx::Transaction<'static, sqlx::MySql>) -> Self {
        Transaction::new(
            TxInner::Mysql(Tracked::wrap(tx), crate::mysql::MysqlServer::default()),
            &Default::default(),
        )
    }
}

/// Wrap a sqlx transaction begun elsewhere; its `COMMIT` or `ROLLBACK` is counted from
/// here on (its `BEGIN` was not the ORM's).
#[cfg(feature = "sqlite")]
impl From<sqlx::Transaction<'static, sqlx::Sqlite>> for Transaction {
    fn from(tx: sqlx::Transaction<'static, sqlx::Sqlite>) -> Self {
        Transaction::new(TxInner::Sqlite(Tracked::wrap(tx)), &Default::default())
    }
}

/// Wrap a sqlx transaction begun elsewhere; its `COMMIT` or `ROLLBACK` is counted from
/// here on (its `BEGIN` was not the ORM's).
#[cfg(feature = "postgres")]
impl From<sqlx::Transaction<'static, sqlx::Postgres>> for Transaction {
    fn from(tx: sqlx::Transaction<'static, sqlx::Postgres>) -> Self {
        Transaction::new(TxInner::Postgres(Tracked::wrap(tx)), &Default::default())
    }
}

impl Transaction {
    /// The SQL dialect of the transaction's database.
    pub fn dialect(&self) -> Dialect {
        match &self.inner {
            #[cfg(feature = "sqlite")]
            TxInner::Sqlite(_) => Dialect::Sqlite,
            #[cfg(feature = "postgres")]
            TxInner::Postgres(_) => Dialect::Postgres,
            #[cfg(feature = "mysql")]
            TxInner::Mysql(..) => Dialect::Mysql,
        }
    }

    fn returning(&self) -> bool {
        match &self.inner {
            #[cfg(feature = "mysql")]
            TxInner::Mysql(_, server) => server.returning,
            #[allow(unreachable_patterns)]
            _ => self.dialect().supports_returning(),
        }
    }

    /// The transaction's connection, borrowed: statements sent through it go straight to
    /// the driver. With a query cache, which cannot see them, the transaction counts as
    /// having written every table: its reads go to the database, and its COMMIT
    /// invalidates every cached result.
    pub fn conn(&mut self) -> ConnRef<'_> {
        #[cfg(feature = "cache")]
        crate::cache::query::note_unknown_reads();
        #[cfg(feature = "cache")]
        if let Some(written) = &self.written {
            written
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .note_everything();
        }
        match &mut self.inner {
            #[cfg(feature = "sqlite")]
            TxInner::Sqlite(tx) => ConnRef::Sqlite(tx.conn()),
            #[cfg(feature = "postgres")]
            TxInner::Postgres(tx) => ConnRef::Postgres(tx.conn()),
            #[cfg(feature = "mysql")]
            TxInner::Mysql(tx, server) => ConnRef::Mysql(tx.conn(), *server),
        }
    }

    /// Make the changes permanent, then run the `on_commit` callbacks, in order.
    #[track_caller]
    pub fn commit(mut self) -> impl Future<Output = Result<()>> {
        orm_core::eval::observe::traced(async move {
            let aborted =
                self.dialect() == Dialect::Postgres && on_tracked!(&self.inner, |t| t.failed());
            if aborted {
                // PostgreSQL aborted the transaction at the failed statement and would answer
                // COMMIT with a silent ROLLBACK: roll back and say so (Django's
                // `needs_rollback`); the `on_commit` callbacks do not run.
                let _ = self.rollback().await;
                return Err(orm_core::Error::InvalidInput(
                    "the transaction was not committed: a statement in it failed, which aborts \
                     a PostgreSQL transaction (catch errors inside a nested `atomic` block to \
                     go on after them); it was rolled back"
                        .into(),
                ));
            }
            // A savepoint left open (a block cancelled mid-statement, whose rollback could not
            // be sent) would turn COMMIT into a RELEASE: refused, and everything rolled back.
            let top = on_tracked!(&mut self.inner, |t| t.at_top_level().await);
            let abandoned = !top || on_tracked!(&self.inner, |t| t.abandoned());
            if abandoned {
                // A statement of a (nested) block was cancelled mid-statement: the connection
                // is closed as the transaction drops, and the server rolls it all back.
                return Err(orm_core::Error::InvalidInput(
                    "the transaction was not committed: one of its statements was abandoned \
                     (a cancelled block) and its connection cannot be used again; everything \
                     in it is rolled back"
                        .into(),
                ));
            }
            let Transaction {
                inner,
                on_commit,
                held,
                link,
                written,
                ..
            } = self;
            // New versions for what it wrote once the COMMIT is answered (also when it
            // failed: whether it took effect is not known), before the callbacks (which may
            // read the cache); armed first, so that a COMMIT abandoned mid-flight still
            // gives them.
            #[cfg(feature = "cache")]
            let after = match (&link.0, &written) {
                (Some(qc), Some(written)) => Some(qc.commit_guard(written)),
                _ => None,
            };
            #[cfg(not(feature = "cache"))]
            let _ = (link, written);
            let r = match inner {
                #[cfg(feature = "sqlite")]
                TxInner::Sqlite(tx) => tx.commit().await,
                #[cfg(feature = "postgres")]
                TxInner::Postgres(tx) => tx.commit().await,
                #[cfg(feature = "mysql")]
                TxInner::Mysql(tx, _) => tx.commit().await,
            };
            drop(held);
            #[cfg(feature = "cache")]
            if let Some(after) = after {
                after.done().await;
            }
            r.map_err(|e| backend::db_error("COMMIT", e))?;
            for (_, callback) in on_commit.0 {
                callback();
            }
            Ok(())
        })
    }

    /// Undo the changes.
    #[track_caller]
    pub fn rollback(self) -> impl Future<Output = Result<()>> {
        orm_core::eval::observe::traced(async move {
            let r = match self.inner {
                #[cfg(feature = "sqlite")]
                TxInner::Sqlite(tx) => tx.rollback().await,
                #[cfg(feature = "postgres")]
                TxInner::Postgres(tx) => tx.rollback().await,
                #[cfg(feature = "mysql")]
                TxInner::Mysql(tx, _) => tx.rollback().await,
            };
            r.map_err(|e| backend::db_error("ROLLBACK", e))
        })
    }
}

impl Lend for Transaction {
    fn cache_parts(&self) -> (&crate::cache_link::Link, &crate::cache_link::TxWrites) {
        (&self.link, &self.written)
    }

    fn take_queued(&mut self) -> bool {
        on_tracked!(&mut self.inner, |t| t.take_queued())
    }

    /// As the default, and a failed statement marks the transaction (see
    /// `Tracked::failed`).
    fn run<'a, R: Send + Outcome + 'a>(
        &'a mut self,
        f: impl FnOnce(ConnRef<'a>) -> BoxFuture<'a, R>,
    ) -> BoxFuture<'a, R> {
        let (conn, running, failed) = match &mut self.inner {
            #[cfg(feature = "sqlite")]
            TxInner::Sqlite(tx) => {
                let (c, r, f) = tx.conn_and_flags();
                (ConnRef::Sqlite(c), r, f)
            }
            #[cfg(feature = "postgres")]
            TxInner::Postgres(tx) => {
                let (c, r, f) = tx.conn_and_flags();
                (ConnRef::Postgres(c), r, f)
            }
            #[cfg(feature = "mysql")]
            TxInner::Mysql(tx, server) => {
                let (c, r, f) = tx.conn_and_flags();
                (ConnRef::Mysql(c, *server), r, f)
            }
        };
        let discard = conn.discards_abandoned();
        let fut = f(conn);
        Box::pin(async move {
            *running = discard;
            let out = fut.await;
            *running = false;
            if out.is_failure() {
                *failed = true;
            }
            out
        })
    }

    fn lend_flagged(&mut self) -> (ConnRef<'_>, &mut bool) {
        match &mut self.inner {
            #[cfg(feature = "sqlite")]
            TxInner::Sqlite(tx) => {
                let (c, flag) = tx.conn_and_flag();
                (ConnRef::Sqlite(c), flag)
            }
            #[cfg(feature = "postgres")]
            TxInner::Postgres(tx) => {
                let (c, flag) = tx.conn_and_flag();
                (ConnRef::Postgres(c), flag)
            }
            #[cfg(feature = "mysql")]
            TxInner::Mysql(tx, server) => {
                let (c, flag) = tx.conn_and_flag();
                (ConnRef::Mysql(c, *server), flag)
            }
        }
    }
}

executor_via_conn!(Transaction);

/// One connection taken from the pool (from [`Db::acquire`](crate::Db::acquire)),
/// returned to it when dropped. Pass `&mut conn` as the executor.
///
/// On PostgreSQL, a connection dropped while one of its statements runs (its future was
/// dropped first) is closed instead: the server would go on running the statement, and
/// the connection's next user would wait for it.
#[derive(Debug)]
pub struct Connection {
    inner: PoolConnInner,
    /// A statement was sent and its future has not finished.
    running: bool,
    /// The database's query cache.
    link: crate::cache_link::Link,
    /// Once [`conn`](Connection::conn) lent it out raw (statements the cache cannot see):
    /// "everything written", so that its reads go to the database and, when it is dropped,
    /// every table gets a new version.
    written: crate::cache_link::TxWrites,
}

#[derive(Debug)]
enum PoolConnInner {
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::pool::PoolConnection<sqlx::Sqlite>),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::pool::PoolConnection<sqlx::Postgres>),
    #[cfg(feature = "mysql")]
    Mysql(
        sqlx::pool::PoolConnection<sqlx::MySql>,
        crate::mysql::MysqlServer,
    ),
}

#[cfg(feature = "sqlite")]
impl From<sqlx::pool::PoolConnection<sqlx::Sqlite>> for Connection {
    fn from(c: sqlx::pool::PoolConnection<sqlx::Sqlite>) -> Self {
        Connection {
            inner: PoolConnInner::Sqlite(c),
            running: false,
            link: Default::default(),
            written: Default::default(),
        }
    }
}

#[cfg(feature = "postgres")]
impl From<sqlx::pool::PoolConnection<sqlx::Postgres>> for Connection {
    fn from(c: sqlx::pool::PoolConnection<sqlx::Postgres>) -> Self {
        Connection {
            inner: PoolConnInner::Postgres(c),
            running: false,
            link: Default::default(),
            written: Default::default(),
        }
    }
}

/// Without `RETURNING` (see [`ConnRef::Mysql`]).
#[cfg(feature = "mysql")]
impl From<sqlx::pool::PoolConnection<sqlx::MySql>> for Connection {
    fn from(c: sqlx::pool::PoolConnection<sqlx::MySql>) -> Self {
        Connection::mysql(c, crate::mysql::MysqlServer::default())
    }
}

#[cfg(feature = "mysql")]
impl From<Tracked<'static, sqlx::MySql>> for TxInner {
    fn from(tx: Tracked<'static, sqlx::MySql>) -> Self {
        TxInner::Mysql(tx, crate::mysql::MysqlServer::default())
    }
}

#[cfg(feature = "mysql")]
impl Connection {
    pub(crate) fn mysql(
        c: sqlx::pool::PoolConnection<sqlx::MySql>,
        server: crate::mysql::MysqlServer,
    ) -> Self {
        Connection {
            inner: PoolConnInner::Mysql(c, server),
            running: false,
            link: Default::default(),
            written: Default::default(),
        }
    }
}

impl Connection {
    /// This connection, linked to its database's query cache.
    pub(crate) fn linked(mut self, link: &crate::cache_link::Link) -> Self {
        self.link = link.clone();
        self
    }

    fn returning(&self) -> bool {
        match &self.inner {
            #[cfg(feature = "mysql")]
            PoolConnInner::Mysql(_, server) => server.returning,
            #[allow(unreachable_patterns)]
            _ => self.dialect().supports_returning(),
        }
    }

    /// The SQL dialect of the connection's database.
    pub fn dialect(&self) -> Dialect {
        match &self.inner {
            #[cfg(feature = "sqlite")]
            PoolConnInner::Sqlite(_) => Dialect::Sqlite,
            #[cfg(feature = "postgres")]
            PoolConnInner::Postgres(_) => Dialect::Postgres,
            #[cfg(feature = "mysql")]
            PoolConnInner::Mysql(..) => Dialect::Mysql,
        }
    }

    /// The connection, borrowed: statements sent through it go straight to the driver.
    /// With a query cache ([`Db::with_cache`](crate::Db::with_cache)), which cannot see
    /// them, the connection counts as having written every table from then on: its own
    /// reads go to the database, and every cached result is invalidated when it is
    /// dropped.
    pub fn conn(&mut self) -> ConnRef<'_> {
        // What it reads cannot be named either: a computation noting its reads (a cached
        // page's view, `cached_as`) is not kept.
        #[cfg(feature = "cache")]
        crate::cache::query::note_unknown_reads();
        #[cfg(feature = "cache")]
        if self.link.0.is_some() && self.written.is_none() {
            self.written = Some(std::sync::Arc::new(std::sync::Mutex::new(
                crate::cache::query::Written::everything(),
            )));
        }
        match &mut self.inner {
            #[cfg(feature = "sqlite")]
            PoolConnInner::Sqlite(c) => ConnRef::Sqlite(c),
            #[cfg(feature = "postgres")]
            PoolConnInner::Postgres(c) => ConnRef::Postgres(c),
            #[cfg(feature = "mysql")]
            PoolConnInner::Mysql(c, server) => ConnRef::Mysql(c, *server),
        }
    }
}

/// Dropped with its flag set (a statement's future dropped while it ran), `Drop`
/// discards the connection.
impl Lend for Connection {
    fn cache_parts(&self) -> (&crate::cache_link::Link, &crate::cache_link::TxWrites) {
        (&self.link, &self.written)
    }

    fn lend_flagged(&mut self) -> (ConnRef<'_>, &mut bool) {
        let Connection { inner, running, .. } = self;
        let conn = match inner {
            #[cfg(feature = "sqlite")]
            PoolConnInner::Sqlite(c) => ConnRef::Sqlite(c),
            #[cfg(feature = "postgres")]
            PoolConnInner::Postgres(c) => ConnRef::Postgres(c),
            #[cfg(feature = "mysql")]
            PoolConnInner::Mysql(c, server) => ConnRef::Mysql(c, *server),
        };
        (conn, running)
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        #[cfg(feature = "cache")]
        if let (Some(qc), Some(written)) = (&self.link.0, &self.written) {
            qc.defer(written);
        }
        if self.running {
            match &mut self.inner {
                #[cfg(feature = "sqlite")]
                PoolConnInner::Sqlite(c) => c.close_on_drop(),
                #[cfg(feature = "postgres")]
                PoolConnInner::Postgres(c) => c.close_on_drop(),
                #[cfg(feature = "mysql")]
                PoolConnInner::Mysql(c, _) => c.close_on_drop(),
            }
        }
    }
}

executor_via_conn!(Connection);

/// Owned, a connection is what `&Db` lends one evaluation (`Executor::session`).
impl RowSource for Connection {
    fn dialect(&self) -> Dialect {
        Connection::dialect(self)
    }
    fn supports_returning(&self) -> bool {
        self.returning()
    }
    fn for_each_row<'a>(
        &'a mut self,
        stmt: Statement,
        each: &'a mut (dyn FnMut(&dyn orm_core::Row) -> Result<()> + Send),
    ) -> BoxFuture<'a, Result<()>> {
        #[cfg(feature = "cache")]
        if self.cache_for(&stmt).is_some() {
            return Box::pin(async move {
                let mut this = self;
                Executor::for_each_row(&mut this, stmt, each).await
            });
        }
        self.run(|c| c.for_each_row_owned(stmt, each))
    }
    fn execute_stmt<'a>(&'a mut self, stmt: Statement) -> BoxFuture<'a, Result<ExecResult>> {
        #[cfg(feature = "cache")]
        if self.cache_for(&stmt).is_some() {
            return Box::pin(async move {
                let mut this = self;
                Executor::execute(&mut this, stmt).await
            });
        }
        self.run(|c| c.execute_owned(stmt))
    }
}

/// An atomic block: a sqlx transaction, which is a savepoint when its connection is
/// already in one. Dropped without `commit`, sqlx rolls it back.
/// The flag says whether `INSERT … RETURNING` can be sent.
/// An atomic block: its `Tracked`, whether the backend has `RETURNING`, and whether it is a
/// savepoint inside a transaction.
pub(crate) struct TxScope<'a, DB: backend::Backend> {
    tx: Tracked<'a, DB>,
    returning: bool,
    nested: bool,
    /// The database's query cache, and the tables written (the enclosing transaction's
    /// when nested; new versions after the COMMIT of one that is not).
    link: crate::cache_link::Link,
    written: crate::cache_link::TxWrites,
}

impl<'a, DB: backend::Backend> TxScope<'a, DB> {
    /// `written`: the enclosing transaction's written tables, for a savepoint.
    pub(crate) fn new(
        tx: Tracked<'a, DB>,
        returning: bool,
        nested: bool,
        link: crate::cache_link::Link,
        written: crate::cache_link::TxWrites,
    ) -> Self {
        #[cfg(feature = "cache")]
        let written = match (&link.0, written) {
            (None, _) => None,
            (Some(_), Some(w)) if nested => Some(w),
            (Some(_), _) => Some(Default::default()),
        };
        TxScope {
            tx,
            returning,
            nested,
            link,
            written,
        }
    }
}

macro_rules! tx_scope {
    ($db:ty) => {
        impl RowSource for TxScope<'_, $db> {
            fn dialect(&self) -> Dialect {
                <$db as backend::Backend>::DIALECT
            }
            fn supports_returning(&self) -> bool {
                self.returning
            }
            fn for_each_row<'b>(
                &'b mut self,
                stmt: Statement,
                each: &'b mut (dyn FnMut(&dyn orm_core::Row) -> Result<()> + Send),
            ) -> BoxFuture<'b, Result<()>> {
                #[cfg(feature = "cache")]
                if self.written.is_some() {
                    crate::cache::query::note_transaction();
                }
                #[cfg(feature = "cache")]
                if let Some(qc) = self.link.concerns(&stmt).cloned() {
                    let scope = crate::cache::query::scope_of(&self.written);
                    let tx = &mut self.tx;
                    return Box::pin(async move {
                        crate::cache::query::cached_rows!(qc, scope, true, stmt, each, async move {
                            let out = backend::for_each_row::<$db>(tx.start(), stmt, each).await;
                            tx.finish(out)
                        })
                    });
                }
                Box::pin(async move {
                    let out = backend::for_each_row::<$db>(self.tx.start(), stmt, each).await;
                    self.tx.finish(out)
                })
            }
            fn execute_stmt<'b>(
                &'b mut self,
                stmt: Statement,
            ) -> BoxFuture<'b, Result<ExecResult>> {
                #[cfg(feature = "cache")]
                if let Some(qc) = self.link.concerns(&stmt).cloned() {
                    let scope = crate::cache::query::scope_of(&self.written);
                    let tx = &mut self.tx;
                    return Box::pin(async move {
                        crate::cache::query::cached_exec!(qc, scope, stmt, async move {
                            let out = backend::execute::<$db>(tx.start(), stmt).await;
                            tx.finish(out)
                        })
                    });
                }
                Box::pin(async move {
                    let out = backend::execute::<$db>(self.tx.start(), stmt).await;
                    self.tx.finish(out)
                })
            }
        }

        impl<'a> Atomic<'a> for TxScope<'a, $db> {
            fn nested(&self) -> bool {
                self.nested
            }
            fn commit(self: Box<Self>) -> BoxFuture<'a, Result<()>> {
                Box::pin(async move {
                    let TxScope {
                        tx,
                        nested,
                        link,
                        written,
                        ..
                    } = *self;
                    #[cfg(feature = "cache")]
                    let after = match (nested, &link.0, &written) {
                        (false, Some(qc), Some(written)) => Some(qc.commit_guard(written)),
                        _ => None,
                    };
                    #[cfg(not(feature = "cache"))]
                    let _ = (nested, link, written);
                    let r = tx.commit().await;
                    #[cfg(feature = "cache")]
                    if let Some(after) = after {
                        after.done().await;
                    }
                    r.map_err(|e| backend::db_error("COMMIT", e))
                })
            }
        }
    };
}
#[cfg(feature = "sqlite")]
tx_scope!(sqlx::Sqlite);
#[cfg(feature = "postgres")]
tx_scope!(sqlx::Postgres);
#[cfg(feature = "mysql")]
tx_scope!(sqlx::MySql);
