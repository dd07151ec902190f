//! What a backend implements to run compiled statements, and the process-wide default
//! database that lets a queryset be awaited directly.

use std::sync::{Arc, RwLock};

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;

use crate::dsl::select_related::SelectNode;
use crate::error::{Error, Result};
use crate::schema::row::{FromRow, Row};
use crate::sql::compiler::Statement;
use crate::sql::dialect::Dialect;

/// The outcome of a statement that returns no rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExecResult {
    pub rows_affected: u64,
    /// The key the database generated, on backends that report one without `RETURNING`:
    /// on MySQL/MariaDB the key of the statement's *first* inserted row (the keys of one
    /// multi-row INSERT are consecutive); `None` when the statement generated none.
    pub last_insert_id: Option<i64>,
}

/// Something statements can run on: a database, a pool, a connection or a transaction.
///
/// Implemented by the backends (`orm-sqlx`). Every statement the ORM sends goes through
/// one of these methods, which is where backends count and capture queries.
pub trait Executor: Send {
    fn dialect(&self) -> Dialect;

    /// Whether `INSERT … RETURNING` can be sent: the dialect's answer
    /// ([`Dialect::supports_returning`]) unless the backend knows its server better
    /// (MariaDB 10.5+ has it, MySQL 8 has not; both speak [`Dialect::Mysql`]).
    fn supports_returning(&self) -> bool {
        self.dialect().supports_returning()
    }

    /// Run a query and decode every row.
    fn fetch_all<'a, T: FromRow>(&'a mut self, stmt: Statement) -> BoxFuture<'a, Result<Vec<T>>>;

    /// Run a query that returns at most one row ([`Query::at_most_one_row`]) and decode
    /// it. A backend can stop reading at the first row (SQLite's worker then needs no
    /// second hand-off to report the end).
    ///
    /// [`Query::at_most_one_row`]: crate::dsl::query::Query::at_most_one_row
    fn fetch_optional<'a, T: FromRow>(
        &'a mut self,
        stmt: Statement,
    ) -> BoxFuture<'a, Result<Option<T>>> {
        Box::pin(async move { Ok(self.fetch_all::<T>(stmt).await?.into_iter().next()) })
    }

    /// Run a query and hand every row to `each`, in order.
    fn for_each_row<'a>(
        &'a mut self,
        stmt: Statement,
        each: &'a mut (dyn FnMut(&dyn Row) -> Result<()> + Send),
    ) -> BoxFuture<'a, Result<()>>;

    /// Run a statement that returns no rows.
    fn execute<'a>(&'a mut self, stmt: Statement) -> BoxFuture<'a, Result<ExecResult>>;

    /// Run a query and decode rows one at a time as the driver delivers them, attaching
    /// the relations `selected` read in the same row.
    fn stream<'a, T: FromRow>(
        &'a mut self,
        stmt: Statement,
        selected: Vec<SelectNode>,
    ) -> BoxStream<'a, Result<T>>;

    /// [`stream`](Executor::stream), owning the executor (a `&Db`, a `&mut` connection).
    fn into_stream<'e, T: FromRow>(
        self,
        stmt: Statement,
        selected: Vec<SelectNode>,
    ) -> BoxStream<'e, Result<T>>
    where
        Self: Sized + 'e;

    /// Open an atomic block on this executor: a transaction, or a savepoint when it
    /// already is one. Writes that take several statements (a cascading delete, a
    /// `bulk_create` in batches) run inside one.
    fn atomic<'a>(&'a mut self) -> BoxFuture<'a, Result<Box<dyn Atomic<'a> + 'a>>>;

    /// What one evaluation runs its statements on: for a pool, one connection taken for
    /// the whole evaluation (a queryset with `prefetch_related` sends all its queries on
    /// it instead of taking and returning a connection per query); for a connection or a
    /// transaction, itself. `first` is the SQL the session will run first, for the message
    /// of an error in taking the connection.
    fn session<'s: 'f, 'f>(
        &'s mut self,
        first: &'f str,
    ) -> BoxFuture<'f, Result<Box<dyn RowSource + 's>>> {
        let _ = first;
        Box::pin(async move { Ok(Box::new(self) as Box<dyn RowSource + 's>) })
    }

    /// A second handle on the same database, for queries that must run while a stream is
    /// open (prefetching per chunk). Pools have one; a single connection does not.
    fn fork(&self) -> Option<Self>
    where
        Self: Sized,
    {
        None
    }
}

/// The object-safe side of a database, used for the process-wide default that makes
/// `QuerySet: IntoFuture` work (`Book::objects().filter(…).await?`).
pub trait DefaultDatabase: Send + Sync + 'static {
    fn dialect(&self) -> Dialect;
    /// See [`Executor::supports_returning`].
    fn supports_returning(&self) -> bool {
        self.dialect().supports_returning()
    }
    /// Run a query and hand every row to `each`.
    fn fetch_rows<'a>(
        &'a self,
        stmt: Statement,
        each: &'a mut (dyn FnMut(&dyn Row) -> Result<()> + Send),
    ) -> BoxFuture<'a, Result<()>>;
    /// Run a statement that returns no rows.
    fn execute<'a>(&'a self, stmt: Statement) -> BoxFuture<'a, Result<ExecResult>>;
    /// One connection for every statement of one evaluation (see [`Executor::session`]);
    /// `first` is the SQL it will run first, for the message of an error.
    fn session<'a: 'f, 'f>(
        &'a self,
        first: &'f str,
    ) -> BoxFuture<'f, Result<Box<dyn RowSource + 'a>>>;
}

static DEFAULT: RwLock<Option<Arc<dyn DefaultDatabase>>> = RwLock::new(None);

/// Register the database that awaited querysets use. Backends wrap this
/// (`Db::set_default()`); setting it again replaces the previous one.
pub fn set_default_database(db: Arc<dyn DefaultDatabase>) {
    let mut slot = DEFAULT.write().unwrap_or_else(|e| e.into_inner());
    *slot = Some(db);
}

/// The registered default database, or [`Error::NoDefaultDatabase`].
pub fn default_database() -> Result<Arc<dyn DefaultDatabase>> {
    DEFAULT
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .ok_or(Error::NoDefaultDatabase)
}

/// The default database's dialect, if one is registered.
pub fn default_dialect() -> Option<Dialect> {
    DEFAULT
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map(|d| d.dialect())
}

/// The default database as an [`Executor`] (what an awaited queryset runs on).
#[derive(Clone)]
pub struct DefaultHandle(pub Arc<dyn DefaultDatabase>);

impl DefaultHandle {
    /// The registered default database, or [`Error::NoDefaultDatabase`].
    pub fn get() -> Result<Self> {
        default_database().map(DefaultHandle)
    }
}

impl Executor for DefaultHandle {
    fn session<'s: 'f, 'f>(
        &'s mut self,
        first: &'f str,
    ) -> BoxFuture<'f, Result<Box<dyn RowSource + 's>>> {
        self.0.session(first)
    }
    fn dialect(&self) -> Dialect {
        self.0.dialect()
    }
    fn supports_returning(&self) -> bool {
        self.0.supports_returning()
    }
    fn fetch_all<'a, T: FromRow>(&'a mut self, stmt: Statement) -> BoxFuture<'a, Result<Vec<T>>> {
        Box::pin(async move {
            let mut out = Vec::new();
            let mut each = |row: &dyn Row| -> Result<()> {
                out.push(T::from_row(row, 0)?);
                Ok(())
            };
            self.0.fetch_rows(stmt, &mut each).await?;
            Ok(out)
        })
    }
    fn for_each_row<'a>(
        &'a mut self,
        stmt: Statement,
        each: &'a mut (dyn FnMut(&dyn Row) -> Result<()> + Send),
    ) -> BoxFuture<'a, Result<()>> {
        self.0.fetch_rows(stmt, each)
    }
    fn execute<'a>(&'a mut self, stmt: Statement) -> BoxFuture<'a, Result<ExecResult>> {
        self.0.execute(stmt)
    }
    fn stream<'a, T: FromRow>(
        &'a mut self,
        stmt: Statement,
        selected: Vec<SelectNode>,
    ) -> BoxStream<'a, Result<T>> {
        self.clone().into_stream(stmt, selected)
    }
    fn into_stream<'e, T: FromRow>(
        self,
        stmt: Statement,
        selected: Vec<SelectNode>,
    ) -> BoxStream<'e, Result<T>>
    where
        Self: Sized + 'e,
    {
        // The object-safe default cannot stream; it reads the rows and hands them out.
        use futures_util::StreamExt;
        let this = self;
        futures_util::stream::once(async move {
            let mut out = Vec::new();
            let mut each = |row: &dyn Row| -> Result<()> {
                let mut v = T::from_row(row, 0)?;
                v.load_selected(&selected, row)?;
                out.push(Ok(v));
                Ok(())
            };
            match this.0.fetch_rows(stmt, &mut each).await {
                Ok(()) => futures_util::stream::iter(out),
                Err(e) => futures_util::stream::iter(vec![Err(e)]),
            }
        })
        .flatten()
        .boxed()
    }
    fn atomic<'a>(&'a mut self) -> BoxFuture<'a, Result<Box<dyn Atomic<'a> + 'a>>> {
        Box::pin(async {
            Err(Error::InvalidInput(
                "writes that take several statements need an explicit executor (`&db`), not the \
                 default database of an awaited queryset"
                    .into(),
            ))
        })
    }
    fn fork(&self) -> Option<Self> {
        Some(self.clone())
    }
}

impl<E: Executor + ?Sized> Executor for &mut E {
    fn dialect(&self) -> Dialect {
        (**self).dialect()
    }
    fn supports_returning(&self) -> bool {
        (**self).supports_returning()
    }
    fn fetch_all<'a, T: FromRow>(&'a mut self, stmt: Statement) -> BoxFuture<'a, Result<Vec<T>>> {
        (**self).fetch_all(stmt)
    }
    fn fetch_optional<'a, T: FromRow>(
        &'a mut self,
        stmt: Statement,
    ) -> BoxFuture<'a, Result<Option<T>>> {
        (**self).fetch_optional(stmt)
    }
    fn for_each_row<'a>(
        &'a mut self,
        stmt: Statement,
        each: &'a mut (dyn FnMut(&dyn Row) -> Result<()> + Send),
    ) -> BoxFuture<'a, Result<()>> {
        (**self).for_each_row(stmt, each)
    }
    fn execute<'a>(&'a mut self, stmt: Statement) -> BoxFuture<'a, Result<ExecResult>> {
        (**self).execute(stmt)
    }
    fn session<'s: 'f, 'f>(
        &'s mut self,
        first: &'f str,
    ) -> BoxFuture<'f, Result<Box<dyn RowSource + 's>>> {
        (**self).session(first)
    }
    fn atomic<'a>(&'a mut self) -> BoxFuture<'a, Result<Box<dyn Atomic<'a> + 'a>>> {
        (**self).atomic()
    }
    fn stream<'a, T: FromRow>(
        &'a mut self,
        stmt: Statement,
        selected: Vec<SelectNode>,
    ) -> BoxStream<'a, Result<T>> {
        (**self).stream(stmt, selected)
    }
    fn into_stream<'e, T: FromRow>(
        self,
        stmt: Statement,
        selected: Vec<SelectNode>,
    ) -> BoxStream<'e, Result<T>>
    where
        Self: Sized + 'e,
    {
        (*self).stream(stmt, selected)
    }
}

/// The object-safe part of an [`Executor`]: enough to run the prefetch queries of a
/// queryset whose target types are only known at run time.
pub trait RowSource: Send {
    fn dialect(&self) -> Dialect;
    /// See [`Executor::supports_returning`].
    fn supports_returning(&self) -> bool {
        self.dialect().supports_returning()
    }
    fn for_each_row<'a>(
        &'a mut self,
        stmt: Statement,
        each: &'a mut (dyn FnMut(&dyn Row) -> Result<()> + Send),
    ) -> BoxFuture<'a, Result<()>>;
    fn execute_stmt<'a>(&'a mut self, stmt: Statement) -> BoxFuture<'a, Result<ExecResult>>;
}

impl<E: Executor> RowSource for E {
    fn dialect(&self) -> Dialect {
        Executor::dialect(self)
    }
    fn supports_returning(&self) -> bool {
        Executor::supports_returning(self)
    }
    fn for_each_row<'a>(
        &'a mut self,
        stmt: Statement,
        each: &'a mut (dyn FnMut(&dyn Row) -> Result<()> + Send),
    ) -> BoxFuture<'a, Result<()>> {
        Executor::for_each_row(self, stmt, each)
    }
    fn execute_stmt<'a>(&'a mut self, stmt: Statement) -> BoxFuture<'a, Result<ExecResult>> {
        Executor::execute(self, stmt)
    }
}

/// Statements that succeed or fail together (Django's `transaction.atomic`): a
/// transaction on a pool, a savepoint inside a transaction. Dropped without
/// [`commit`](Atomic::commit), it rolls back.
pub trait Atomic<'a>: RowSource {
    fn commit(self: Box<Self>) -> BoxFuture<'a, Result<()>>;
    /// Whether this block is a savepoint inside a transaction (not a transaction of its
    /// own): a deadlock there has aborted the enclosing transaction too.
    fn nested(&self) -> bool {
        false
    }
}
