//! Raw SQL that still counts: `Book::objects().raw(sql, params)` and [`RawQuery`], run
//! on any executor through the same chokepoint as every queryset.

use super::*;
use crate::dsl::prefetch_related::PrefetchNode;
use crate::eval::executor::RowSource;
use crate::schema::raw_row::{ColumnMap, FromRawRow};
use crate::schema::row::Row;
use crate::sql::raw::{RawParams, raw_statement};

/// A SELECT written by hand, read as `T`: a model (`Book::objects().raw(…)`), a
/// `#[derive(Partial)]` or `#[derive(FromRow)]` struct, a field type or a tuple of field
/// types (see [`FromRawRow`]).
///
/// Placeholders are written `?` on every backend, one per value, and translated per
/// dialect (`$1, $2, …` on PostgreSQL); a `?` inside a string, a quoted identifier or a
/// comment is left alone, and on PostgreSQL `??` is a literal `?`; one statement only. Values are always bound. Models and
/// derived structs match columns by name (`SELECT *` and any column order work; a
/// missing column is [`Error::MissingColumn`] naming the field); tuples and field types
/// read them by position, and the SELECT must return exactly as many.
///
/// Nothing is cached: every evaluation runs the statement once, and it is counted like
/// any other (`capture_queries`, `assert_num_queries`).
///
/// ```no_run
/// # use orm_core::{Executor, Result};
/// use orm_core::RawQuery;
/// # async fn demo<E: Executor>(db: E) -> Result<()> {
/// let per_author: Vec<(String, i64)> = RawQuery::new(
///     "SELECT a.name, COUNT(b.id) FROM authors a LEFT JOIN books b ON b.author_id = a.id \
///      WHERE a.age >= ? GROUP BY a.name ORDER BY a.name",
///     [30],
/// )
/// .into_vec(db)
/// .await?;
/// # Ok(()) }
/// ```
pub struct RawQuery<T> {
    sql: String,
    params: Vec<Value>,
    prefetch: Vec<PrefetchNode>,
    /// A misuse found while building it, reported by every evaluation before any query.
    refused: Option<String>,
    _t: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for RawQuery<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawQuery")
            .field("sql", &self.sql)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl<T> Clone for RawQuery<T> {
    fn clone(&self) -> Self {
        RawQuery {
            sql: self.sql.clone(),
            params: self.params.clone(),
            prefetch: self.prefetch.clone(),
            refused: self.refused.clone(),
            _t: PhantomData,
        }
    }
}

impl<M: Model> QuerySet<M, M> {
    /// Run `sql`, a SELECT of your own, and read its rows as `M` (Django's
    /// `Manager.raw()`): columns are matched to fields by name, so `SELECT *`, a join that
    /// adds columns, and any column order work; a field with no column is
    /// [`Error::MissingColumn`]. Write one `?` per value in `params` (see [`RawQuery`]).
    ///
    /// Call it on `M::objects()` itself; a `prefetch_related` made before it is kept (its
    /// queries run after the raw one, as in Django). Anything else chained before it
    /// (`filter`, `order_by`, a slice, `select_related`…) would not apply to SQL written
    /// by hand, so evaluation refuses it, before any query.
    ///
    /// ```no_run
    /// # use orm_core::{Executor, Model, Result};
    /// # async fn demo<Book: Model, E: Executor>(db: E) -> Result<()> {
    /// let long: Vec<Book> = Book::objects()
    ///     .raw("SELECT * FROM books WHERE pages > ? ORDER BY pages DESC", [250])
    ///     .into_vec(db)
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn raw(&self, sql: impl Into<String>, params: impl RawParams) -> RawQuery<M> {
        let mut raw = RawQuery::new(sql, params);
        raw.prefetch = self.query.prefetch.clone();
        let mut bare = self.query.clone();
        bare.prefetch.clear();
        // Compared as a whole (its Debug form), so that any part of a query, present or
        // added later, that raw SQL would silently ignore is refused.
        if format!("{bare:?}") != format!("{:?}", Query::new(M::META)) {
            raw.refused = Some(format!(
                "raw() runs the SQL it is given, so the filter, ordering, slice, values or \
                 select_related chained before it would be ignored: call it on \
                 `{}::objects()` (prefetch_related is the one step it keeps) and write them \
                 in the SQL",
                M::META.name
            ));
        }
        if let Err(e) = self.check() {
            raw.refused.get_or_insert(e.to_string());
        }
        raw
    }
}

// The bound sits on each method rather than on the impl, so that a type the rows cannot
// be read as gets `FromRawRow`'s message, not "the method exists but its bounds…".
impl<T> RawQuery<T> {
    /// A SELECT of your own read as `T`, with one value of `params` per `?` (see
    /// [`RawQuery`]). Nothing runs until it is evaluated.
    ///
    /// ```
    /// use orm_core::{Dialect, RawQuery};
    /// let q = RawQuery::<(String, i32)>::new("SELECT title, pages FROM books WHERE pages > ?", [100]);
    /// assert_eq!(q.statement(Dialect::Postgres)?.sql, "SELECT title, pages FROM books WHERE pages > $1");
    /// # Ok::<(), orm_core::Error>(())
    /// ```
    pub fn new(sql: impl Into<String>, params: impl RawParams) -> Self
    where
        T: FromRawRow,
    {
        RawQuery {
            sql: sql.into(),
            params: params.into_values(),
            prefetch: Vec::new(),
            refused: None,
            _t: PhantomData,
        }
    }

    /// The statement sent to a `dialect` database: placeholders translated, values bound.
    /// Misuse (a value count that is not the placeholder count, a numbered placeholder, a
    /// `raw()` on a filtered queryset) is an error here, before any query.
    ///
    /// ```
    /// use orm_core::{Dialect, RawQuery};
    /// let q = RawQuery::<i64>::new("SELECT COUNT(*) FROM books WHERE title <> '?' AND pages > ?", [1]);
    /// assert_eq!(q.statement(Dialect::Postgres)?.sql, "SELECT COUNT(*) FROM books WHERE title <> '?' AND pages > $1");
    /// assert!(RawQuery::<i64>::new("SELECT ?", ()).statement(Dialect::Sqlite).is_err());
    /// # Ok::<(), orm_core::Error>(())
    /// ```
    pub fn statement(&self, dialect: Dialect) -> Result<Statement>
    where
        T: FromRawRow,
    {
        if let Some(msg) = &self.refused {
            return Err(Error::InvalidInput(msg.clone()));
        }
        raw_statement(&self.sql, self.params.clone(), dialect)
    }

    /// Run it on `ex` (a `&Db`, a transaction, a connection) and hand every row over: one
    /// query, then one per prefetched level for `Model::objects().prefetch_related(…).raw(…)`.
    ///
    /// ```no_run
    /// # use orm_core::{Executor, RawQuery, Result};
    /// # async fn demo<E: Executor>(db: E) -> Result<()> {
    /// let titles: Vec<String> = RawQuery::new("SELECT title FROM books ORDER BY title", ())
    ///     .into_vec(db)
    ///     .await?;
    /// # Ok(()) }
    /// ```
    #[track_caller]
    pub fn into_vec<E: Executor>(self, mut ex: E) -> impl Future<Output = Result<Vec<T>>>
    where
        T: FromRawRow,
    {
        crate::eval::observe::traced(async move {
            let stmt = self.statement(ex.dialect())?;
            if self.prefetch.is_empty() {
                return read::<T>(&mut ex, stmt).await;
            }
            let mut session = ex.session(&stmt.sql).await?;
            let mut rows = read::<T>(&mut *session, stmt).await?;
            T::prefetch_rows(&mut rows, &self.prefetch, &mut *session).await?;
            Ok(rows)
        })
    }
}

/// Awaiting a raw query runs it on the default database (`Db::set_default()`), as
/// awaiting a queryset does.
impl<T: FromRawRow> IntoFuture for RawQuery<T> {
    type Output = Result<Vec<T>>;
    type IntoFuture = BoxFuture<'static, Result<Vec<T>>>;

    #[track_caller]
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(crate::eval::observe::traced(async move {
            let db = executor::DefaultHandle::get()?;
            self.into_vec(db).await
        }))
    }
}

/// Read every row of `stmt` as a `T`: by name through a [`ColumnMap`] made from the first
/// row, or by position after checking the column count once.
async fn read<T: FromRawRow>(src: &mut (dyn RowSource + '_), stmt: Statement) -> Result<Vec<T>> {
    let wanted = T::raw_columns();
    let mut map: Option<ColumnMap> = None;
    let mut width_checked = false;
    let mut rows = Vec::new();
    let mut each = |row: &dyn Row| -> Result<()> {
        match &wanted {
            Some(wanted) => {
                let columns = match map.take() {
                    Some(m) => m,
                    None => ColumnMap::resolve(wanted, &row.column_names()?)?,
                };
                let value = T::from_row(&columns.view(row), 0);
                map = Some(columns);
                rows.push(value?);
            }
            None => {
                if !width_checked {
                    let n = row.column_names()?.len();
                    if n != T::width() {
                        return Err(Error::InvalidInput(format!(
                            "the raw SQL returns {n} column(s), and `{}` reads {} by position: \
                             select exactly those, in order",
                            std::any::type_name::<T>(),
                            T::width()
                        )));
                    }
                    width_checked = true;
                }
                rows.push(T::from_row(row, 0)?);
            }
        }
        Ok(())
    };
    src.for_each_row(stmt, &mut each).await?;
    Ok(rows)
}
