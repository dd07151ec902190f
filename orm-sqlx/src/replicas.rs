//! Several databases behind one executor (Django's `DATABASES` with
//! `DATABASE_ROUTERS`): a primary that takes every write, named databases (read replicas,
//! or others), and a [`Router`] that picks, per model, where reads and writes go.
//!
//! `&Databases` is an executor: pass it wherever a `&Db` goes. A statement goes to:
//!
//! - a write (and raw SQL that is not a `SELECT`, and DDL): the router's
//!   [`db_for_write`](Router::db_for_write), else the primary;
//! - a read: the primary if this task wrote through the `Databases` inside a
//!   [`read_your_writes`] scope (reads that follow a write see it, whatever the replicas'
//!   lag), or if it is a cached queryset's, a cached page's view's or a `cached_as`
//!   computation's (its result is shared with every request, and a lagging replica's rows
//!   would be kept as current); else the router's
//!   [`db_for_read`](Router::db_for_read), else the first replica, else the primary.
//!
//! Transactions run on the primary: [`Databases::atomic`], [`Databases::begin`] (and
//! everything inside them, with the transaction as the executor). One named database
//! explicitly: [`Databases::using`] (Django's `using("replica")`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use orm_core::compiler::Tables;
use orm_core::executor::{Atomic, ExecResult, RowSource};
use orm_core::select_related::SelectNode;
use orm_core::{Dialect, Error, Executor, FromRow, Result, Row, Statement};

use crate::conn::Transaction;
use crate::db::Db;

/// Where a model's reads and writes go (Django's database router). Each method gets the
/// model's table (`Book::META.table`) and answers a database's name, or `None` for the
/// default (reads: the first replica; writes: the primary).
///
/// ```
/// use orm_sqlx::replicas::Router;
///
/// /// Audit rows live in a database of their own; the rest is the default.
/// struct Audit;
/// impl Router for Audit {
///     fn db_for_read(&self, table: &str) -> Option<&str> {
///         (table == "audit_log").then_some("audit")
///     }
///     fn db_for_write(&self, table: &str) -> Option<&str> {
///         (table == "audit_log").then_some("audit")
///     }
/// }
/// ```
pub trait Router: Send + Sync + 'static {
    /// The database that reads of `table` go to; `None`: the default.
    fn db_for_read(&self, table: &str) -> Option<&str> {
        let _ = table;
        None
    }
    /// The database that writes to `table` go to; `None`: the primary.
    fn db_for_write(&self, table: &str) -> Option<&str> {
        let _ = table;
        None
    }
}

/// The router that routes nothing: reads to the first replica, writes to the primary.
struct Default;
impl Router for Default {}

/// A primary database, named others (replicas), and a [`Router`]. Cheap to clone.
///
/// ```no_run
/// # async fn demo() -> orm_sqlx::Result<()> {
/// use orm_sqlx::{Db, replicas::Databases};
/// let dbs = Databases::new(Db::connect("postgres://primary/app").await?)
///     .replica("replica", Db::connect("postgres://replica/app").await?)?;
/// // Reads go to the replica, writes to the primary:
/// // let books = Book::objects().into_vec(&dbs).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Databases {
    primary: Db,
    named: Vec<(String, Db)>,
    replicas: Vec<usize>,
    router: Arc<dyn Router>,
}

impl std::fmt::Debug for Databases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.named.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Databases")
            .field("primary", &self.primary)
            .field("named", &names)
            .finish()
    }
}

impl Databases {
    /// `primary` alone (named `"default"`); add replicas and others by name.
    pub fn new(primary: Db) -> Databases {
        Databases {
            primary,
            named: Vec::new(),
            replicas: Vec::new(),
            router: Arc::new(Default),
        }
    }

    /// Add a database by name, that only the [`Router`] or [`using`](Databases::using)
    /// sends statements to. A name already taken (or `"default"`) is
    /// [`Error::InvalidInput`]; so is a database of another dialect than the primary's.
    pub fn database(mut self, name: &str, db: Db) -> Result<Databases> {
        if name == "default" || self.named.iter().any(|(n, _)| n == name) {
            return Err(Error::InvalidInput(format!(
                "Databases: the name `{name}` is taken (\"default\" is the primary)"
            )));
        }
        if db.dialect() != self.primary.dialect() {
            return Err(Error::InvalidInput(format!(
                "Databases: `{name}` is {:?} but the primary is {:?}: querysets compile for one \
                 dialect",
                db.dialect(),
                self.primary.dialect()
            )));
        }
        // A replica shares the primary's query cache (one namespace: the primary's writes
        // invalidate what was cached, wherever it was read).
        #[cfg(feature = "cache")]
        let db = db.sharing_cache_of(&self.primary);
        self.named.push((name.to_owned(), db));
        Ok(self)
    }

    /// [`database`](Databases::database), and a replica: a default for reads.
    pub fn replica(self, name: &str, db: Db) -> Result<Databases> {
        let mut dbs = self.database(name, db)?;
        dbs.replicas.push(dbs.named.len() - 1);
        Ok(dbs)
    }

    /// Route with `router` (Django's `DATABASE_ROUTERS`).
    pub fn router(mut self, router: impl Router) -> Databases {
        self.router = Arc::new(router);
        self
    }

    /// The primary.
    pub fn primary(&self) -> &Db {
        &self.primary
    }

    /// The database named `name` (`"default"`: the primary), to use as the executor:
    /// Django's `using("replica")`. An unknown name is [`Error::InvalidInput`].
    pub fn using(&self, name: &str) -> Result<&Db> {
        if name == "default" {
            return Ok(&self.primary);
        }
        self.named
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, db)| db)
            .ok_or_else(|| {
                let known: Vec<&str> = std::iter::once("default")
                    .chain(self.named.iter().map(|(n, _)| n.as_str()))
                    .collect();
                Error::InvalidInput(format!(
                    "no database is named `{name}` (there are: {})",
                    known.join(", ")
                ))
            })
    }

    /// A transaction on the primary ([`Db::begin`]).
    #[track_caller]
    pub fn begin(&self) -> impl Future<Output = Result<Transaction>> {
        // What it writes is the scope's write (conservatively, from the moment it starts).
        note_write();
        self.primary.begin()
    }

    /// [`Db::atomic`] on the primary.
    #[track_caller]
    pub fn atomic<T: Send>(
        &self,
        f: impl for<'t> FnOnce(&'t mut Transaction) -> BoxFuture<'t, Result<T>> + Send,
    ) -> impl Future<Output = Result<T>> {
        note_write();
        self.primary.atomic(f)
    }

    /// The database `name` names, or `default` when `None` or unknown to this set (the
    /// router's mistake is not the statement's: it goes to the default).
    fn named_or<'d>(&'d self, name: Option<&str>, default: &'d Db) -> &'d Db {
        name.and_then(|n| self.using(n).ok()).unwrap_or(default)
    }

    /// Where `stmt` goes.
    fn route(&self, stmt: &Statement) -> &Db {
        let read_tables = match &stmt.tables {
            Tables::Read(tables) => Some(tables.first().copied()),
            Tables::Unknown
                if crate::query_log::StatementKind::of(&stmt.sql)
                    == crate::query_log::StatementKind::Select =>
            {
                Some(None)
            }
            _ => None,
        };
        match read_tables {
            Some(table) => {
                if wrote_in_scope()
                    || orm_core::eval::observe::cache_request().is_some()
                    || kept_for_everyone()
                {
                    return &self.primary;
                }
                let default = self
                    .replicas
                    .first()
                    .map_or(&self.primary, |&i| &self.named[i].1);
                self.named_or(table.and_then(|t| self.router.db_for_read(t)), default)
            }
            None => {
                note_write();
                let table = match &stmt.tables {
                    Tables::Write(t) => Some(*t),
                    _ => None,
                };
                self.named_or(
                    table.and_then(|t| self.router.db_for_write(t)),
                    &self.primary,
                )
            }
        }
    }
}

thread_local! {
    /// The read-your-writes flag of the scope being polled on this thread, if any.
    static SCOPE: std::cell::RefCell<Option<Arc<AtomicBool>>> = const { std::cell::RefCell::new(None) };
}

/// Whether what is being read will be kept for everyone: a cached page's view or a
/// `cached_as` computation (a lagging replica's rows must not be kept as current).
fn kept_for_everyone() -> bool {
    #[cfg(feature = "cache")]
    {
        crate::cache::query::noting()
    }
    #[cfg(not(feature = "cache"))]
    {
        false
    }
}

fn note_write() {
    SCOPE.with(|s| {
        if let Some(flag) = &*s.borrow() {
            flag.store(true, Ordering::Relaxed);
        }
    });
}

fn wrote_in_scope() -> bool {
    SCOPE.with(|s| {
        s.borrow()
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
    })
}

pin_project_lite::pin_project! {
    /// See [`read_your_writes`].
    pub struct ReadYourWrites<F> {
        #[pin]
        inner: F,
        flag: Arc<AtomicBool>,
    }
}

/// Run `fut` (a request's handler, a job) so that once it has written through a
/// [`Databases`], its reads go to the primary: they see its writes, whatever the
/// replicas' lag. Writes from tasks it spawns are not seen (the scope follows the task).
///
/// ```no_run
/// # async fn demo(dbs: &orm_sqlx::replicas::Databases) -> orm_sqlx::Result<()> {
/// orm_sqlx::replicas::read_your_writes(async {
///     // … a write through `dbs`, then reads through `dbs`: from the primary …
///     Ok::<_, orm_sqlx::Error>(())
/// })
/// .await
/// # }
/// ```
pub fn read_your_writes<F: Future>(fut: F) -> ReadYourWrites<F> {
    ReadYourWrites {
        inner: fut,
        flag: Arc::default(),
    }
}

impl<F: Future> Future for ReadYourWrites<F> {
    type Output = F::Output;
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let this = self.project();
        /// Puts the outer scope back when the poll ends, also by a panic.
        struct Restore(Option<Arc<AtomicBool>>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let outer = self.0.take();
                SCOPE.with(|s| *s.borrow_mut() = outer);
            }
        }
        let _restore = Restore(SCOPE.with(|s| s.replace(Some(this.flag.clone()))));
        this.inner.poll(cx)
    }
}

impl Executor for &Databases {
    fn dialect(&self) -> Dialect {
        self.primary.dialect()
    }
    fn supports_returning(&self) -> bool {
        self.primary.supports_returning()
    }
    fn fetch_all<'a, T: FromRow>(&'a mut self, stmt: Statement) -> BoxFuture<'a, Result<Vec<T>>> {
        let mut db: &'a Db = self.route(&stmt);
        Box::pin(async move { Executor::fetch_all(&mut db, stmt).await })
    }
    fn fetch_optional<'a, T: FromRow>(
        &'a mut self,
        stmt: Statement,
    ) -> BoxFuture<'a, Result<Option<T>>> {
        let mut db: &'a Db = self.route(&stmt);
        Box::pin(async move { Executor::fetch_optional(&mut db, stmt).await })
    }
    fn for_each_row<'a>(
        &'a mut self,
        stmt: Statement,
        each: &'a mut (dyn FnMut(&dyn Row) -> Result<()> + Send),
    ) -> BoxFuture<'a, Result<()>> {
        let mut db: &'a Db = self.route(&stmt);
        Box::pin(async move { Executor::for_each_row(&mut db, stmt, each).await })
    }
    fn execute<'a>(&'a mut self, stmt: Statement) -> BoxFuture<'a, Result<ExecResult>> {
        let mut db: &'a Db = self.route(&stmt);
        Box::pin(async move { Executor::execute(&mut db, stmt).await })
    }
    fn stream<'a, T: FromRow>(
        &'a mut self,
        stmt: Statement,
        selected: Vec<SelectNode>,
    ) -> BoxStream<'a, Result<T>> {
        let db: &'a Db = self.route(&stmt);
        Executor::into_stream(db, stmt, selected)
    }
    fn into_stream<'e, T: FromRow>(
        self,
        stmt: Statement,
        selected: Vec<SelectNode>,
    ) -> BoxStream<'e, Result<T>>
    where
        Self: 'e,
    {
        let db: &'e Db = self.route(&stmt);
        Executor::into_stream(db, stmt, selected)
    }
    fn atomic<'a>(&'a mut self) -> BoxFuture<'a, Result<Box<dyn Atomic<'a> + 'a>>> {
        // Several statements that succeed or fail together (a cascade, batches): on the
        // primary, where writes go.
        note_write();
        let primary: &'a Db = &self.primary;
        primary.atomic_scope()
    }
    fn session<'s: 'f, 'f>(
        &'s mut self,
        first: &'f str,
    ) -> BoxFuture<'f, Result<Box<dyn RowSource + 's>>> {
        // Each statement of the evaluation is routed on its own (a replica's connection
        // for reads, the primary's for writes).
        let _ = first;
        let this: &'s Databases = self;
        Box::pin(async move { Ok(Box::new(this) as Box<dyn RowSource + 's>) })
    }
    fn fork(&self) -> Option<Self> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::{SCOPE, note_write, read_your_writes, wrote_in_scope};
    use futures_util::FutureExt as _;

    #[test]
    fn a_panic_inside_the_scope_puts_the_outer_one_back() {
        let fut = read_your_writes(async {
            note_write();
            assert!(wrote_in_scope());
            panic!("the handler fails");
        });
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.now_or_never()));
        assert!(r.is_err());
        assert!(SCOPE.with(|s| s.borrow().is_none()), "the scope leaked");
        assert!(!wrote_in_scope());
    }
}
