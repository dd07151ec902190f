//! The lazy, immutable, chainable `QuerySet` and its result cache.

use std::collections::{BTreeMap, HashMap};
use std::future::{Future, IntoFuture};
use std::hash::Hash;
use std::marker::PhantomData;
use std::ops::{Bound, RangeBounds};

use futures_util::future::BoxFuture;
use futures_util::stream::{self, BoxStream, StreamExt};
use tokio::sync::OnceCell;

use crate::compiler::{self, Statement};
use crate::dialect::Dialect;
use crate::error::{Error, Result, SlicedOp};
use crate::executor::{self, Executor};
use crate::expr::{ColumnRef, RelPath, Term};
use crate::field::{HeldBy, PrefetchPath, RelationPath, SelectPath};
use crate::model::Model;
use crate::ordering::{IntoOrdering, OrderTerm};
use crate::projection::Projection;
use crate::q::{CmpOp, Cond, Q};
use crate::query::{Query, Select};
use crate::relation::{JoinOn, RelationKind, RelationMeta};
use crate::row::FromRow;
use crate::row::ValueRow;
use crate::update::IntoAssignments;
use crate::value::{FieldType, Value};

/// Django's `MAX_GET_RESULTS`: `get()` reads at most this many rows to report a count.
const MAX_GET_RESULTS: u64 = 21;

/// A lazy, immutable query over model `M` whose rows read as `T` (the model itself, or a
/// typed projection after [`values`](QuerySet::values)).
///
/// Building a chain costs nothing; every chain step returns a new queryset with an empty
/// cache and leaves the original untouched. The first full evaluation ([`fetch`],
/// [`len`], [`is_empty`]) runs one query and stores the rows in this queryset's cache;
/// later evaluations of the same queryset read the cache.
///
/// [`fetch`]: QuerySet::fetch
/// [`len`]: QuerySet::len
/// [`is_empty`]: QuerySet::is_empty
pub struct QuerySet<M: Model, T: FromRow = M> {
    query: Query,
    /// An operation refused on a sliced queryset: reported by every evaluation, before any
    /// query, so chains stay infallible to write.
    refused: Option<SlicedOp>,
    /// Any other misuse found while chaining, reported the same way.
    refused_other: Option<String>,
    cache: OnceCell<Vec<T>>,
    _m: PhantomData<fn() -> M>,
}

impl<M: Model, T: FromRow + Clone> Clone for QuerySet<M, T> {
    /// A copy with the same query and a copy of the cached rows, if any.
    fn clone(&self) -> Self {
        let cache = match self.cache.get() {
            Some(rows) => OnceCell::from(rows.clone()),
            None => OnceCell::new(),
        };
        QuerySet {
            query: self.query.clone(),
            refused: self.refused,
            refused_other: self.refused_other.clone(),
            cache,
            _m: PhantomData,
        }
    }
}

impl<M: Model, T: FromRow> std::fmt::Debug for QuerySet<M, T> {
    /// Shows the query, never runs it (Django's `repr` runs `LIMIT 21`; ours does not).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("QuerySet");
        d.field("model", &M::META.name);
        match self.statement(self.display_dialect()) {
            Ok(Some(stmt)) => d.field("sql", &stmt.sql).field("params", &stmt.params),
            Ok(None) => d.field("sql", &"<empty: no query>"),
            Err(e) => d.field("error", &e.to_string()),
        };
        match self.cache.get() {
            Some(rows) => d.field("cached_rows", &rows.len()),
            None => d.field("cached_rows", &"<not evaluated>"),
        };
        d.finish()
    }
}

impl<M: Model> QuerySet<M, M> {
    /// A related manager: the rows of `M` that the parent row with primary key
    /// `parent_pk` reaches through `rel`, a reverse or many-to-many relation declared on
    /// the parent (`author.books()`). Generated code calls it; it queries every time it is
    /// evaluated, like any queryset.
    #[doc(hidden)]
    pub fn __related(rel: &'static RelationMeta, parent_pk: Value) -> Self {
        let mut qs = Self::new();
        match rel.join_on() {
            Ok(JoinOn::Direct { target_column, .. }) => qs.query.filter_mut().push(Cond::Compare {
                lhs: Term::Column(ColumnRef {
                    path: RelPath::ROOT,
                    column: target_column,
                    nullable: false,
                }),
                op: CmpOp::Eq,
                rhs: Term::Value(parent_pk),
            }),
            Ok(JoinOn::Through {
                through, target_pk, ..
            }) => {
                qs.query.through = Some(crate::query::ThroughJoin { through, target_pk });
                qs.query.filter_mut().push(Cond::Compare {
                    lhs: Term::TableColumn {
                        table: through.table,
                        column: through.parent_column,
                    },
                    op: CmpOp::Eq,
                    rhs: Term::Value(parent_pk),
                });
            }
            Err(e) => qs.refused_other = Some(e.to_string()),
        }
        qs
    }

    /// The rows whose primary key is `pk`.
    pub(crate) fn filter_pk(&self, pk: crate::value::Value) -> Self {
        self.chain(|q| q.filter_mut().push(pk_eq::<M>(pk)))
    }

    /// All rows of `M` (what `M::objects()` returns).
    pub fn new() -> Self {
        QuerySet::from_query(Query::new(M::META))
    }
}

impl<M: Model> Default for QuerySet<M, M> {
    fn default() -> Self {
        Self::new()
    }
}

fn pk_eq<M: Model>(pk: crate::value::Value) -> Cond {
    Cond::Compare {
        lhs: pk_term::<M>(),
        op: CmpOp::Eq,
        rhs: Term::Value(pk),
    }
}

fn pk_term<M: Model>() -> Term {
    Term::Column(ColumnRef {
        path: RelPath::ROOT,
        column: M::META.pk_column().column,
        nullable: false,
    })
}

/// What `select_related` and `prefetch_related` need: a queryset whose rows are model
/// instances, which the related rows are attached to. Implemented by the model itself
/// only, so calling them after `values()` does not compile.
#[diagnostic::on_unimplemented(
    message = "select_related and prefetch_related attach related rows to model instances, and this queryset yields `{Self}`, a projection",
    label = "called on a `values()` queryset",
    note = "call them before `values()` (a projection then selects only the fields it names), or project the related fields themselves: `values(|b| (b.title, b.author().name))`"
)]
pub trait ModelRows<M> {}
impl<M: Model> ModelRows<M> for M {}

impl<M: Model, T: FromRow> QuerySet<M, T> {
    fn from_query(query: Query) -> Self {
        QuerySet {
            query,
            refused: None,
            refused_other: None,
            cache: OnceCell::new(),
            _m: PhantomData,
        }
    }

    /// A new queryset with this one's query (and refusal), an empty cache, changed by `f`.
    fn chain(&self, f: impl FnOnce(&mut Query)) -> Self {
        let mut query = self.query.clone();
        f(&mut query);
        QuerySet {
            query,
            refused: self.refused,
            refused_other: self.refused_other.clone(),
            cache: OnceCell::new(),
            _m: PhantomData,
        }
    }

    /// Like `chain`, but refused (reported at evaluation) if the query is sliced.
    fn chain_unsliced(&self, op: SlicedOp, f: impl FnOnce(&mut Query)) -> Self {
        if self.query.is_sliced() {
            let mut qs = self.chain(|_| {});
            qs.refused.get_or_insert(op);
            qs
        } else {
            self.chain(f)
        }
    }

    /// The query model this queryset compiles from.
    pub fn query(&self) -> &Query {
        &self.query
    }

    // ---- chaining (no query) -------------------------------------------------------

    /// Rows matching the condition (Django's `filter`). Several calls are ANDed.
    pub fn filter(&self, f: impl FnOnce(&M::Fields) -> Q<M>) -> Self {
        let cond = f(&M::fields()).cond;
        self.chain_unsliced(SlicedOp::Filter, |q| q.add_filter(cond))
    }

    /// Rows not matching the condition (Django's `exclude`).
    pub fn exclude(&self, f: impl FnOnce(&M::Fields) -> Q<M>) -> Self {
        let cond = f(&M::fields()).cond;
        self.chain_unsliced(SlicedOp::Filter, |q| {
            q.add_filter(Cond::Not(Box::new(cond)))
        })
    }

    /// Replace the ordering: `order_by(|b| [b.pages.desc(), b.title.asc()])`.
    /// `order_by(|_| ())` clears it.
    pub fn order_by<O: IntoOrdering<M>>(&self, f: impl FnOnce(&M::Fields) -> O) -> Self {
        let terms: Vec<OrderTerm> = f(&M::fields()).into_terms();
        // Django's clear_ordering keeps `standard_ordering`: reverse() survives order_by().
        self.chain_unsliced(SlicedOp::Reorder, |q| q.order_by = terms)
    }

    /// Reverse the ordering (no effect on an unordered queryset, as in Django).
    pub fn reverse(&self) -> Self {
        self.chain_unsliced(SlicedOp::Reverse, |q| {
            q.standard_ordering = !q.standard_ordering
        })
    }

    /// `SELECT DISTINCT`.
    pub fn distinct(&self) -> Self {
        self.chain_unsliced(SlicedOp::Distinct, |q| q.distinct = true)
    }

    /// A copy with an empty cache (Django's `all()`): evaluating it queries again.
    pub fn all(&self) -> Self {
        self.chain(|_| {})
    }

    /// A queryset that matches nothing and never queries (Django's `none()`).
    pub fn none(&self) -> Self {
        self.chain(|q| q.empty = true)
    }

    /// A lazy slice, `LIMIT`/`OFFSET` (Django's `qs[a:b]`). Slices of slices compose.
    /// Slicing an evaluated queryset slices its cached rows: no query.
    pub fn slice(&self, range: impl RangeBounds<usize>) -> Self
    where
        T: Clone,
    {
        let low = match range.start_bound() {
            Bound::Included(&a) => Some(a as u64),
            Bound::Excluded(&a) => Some((a as u64).saturating_add(1)),
            Bound::Unbounded => None,
        };
        let high = match range.end_bound() {
            Bound::Included(&b) => Some((b as u64).saturating_add(1)),
            Bound::Excluded(&b) => Some(b as u64),
            Bound::Unbounded => None,
        };
        let qs = self.chain(|q| q.set_limits(low, high));
        if let Some(rows) = self.cache.get() {
            let len = rows.len();
            let a = (low.unwrap_or(0) as usize).min(len);
            let b = high.map_or(len, |h| (h as usize).min(len)).max(a);
            let _ = qs.cache.set(rows[a..b].to_vec());
        }
        qs
    }

    /// Read these forward relations in the same query, through JOINs (Django's
    /// `select_related`): `select_related(|b| b.author().country())` selects every hop on
    /// the path. Several calls accumulate. Reverse and many-to-many relations do not
    /// compile here: prefetch them.
    pub fn select_related<P: SelectPath<M>>(&self, f: impl FnOnce(&M::Fields) -> P) -> Self
    where
        T: ModelRows<M>,
    {
        let path = f(&M::fields()).select_path();
        self.chain(|q| {
            if !path.is_root() && !q.select_related.contains(&path) {
                q.select_related.push(path);
            }
        })
    }

    /// Forget every `select_related` path (Django's `select_related(None)`).
    pub fn clear_select_related(&self) -> Self {
        self.chain(|q| q.select_related.clear())
    }

    /// Fetch these relations with one more query per level once the rows are read
    /// (Django's `prefetch_related`): `prefetch_related(|a| a.books().tags())` fetches both
    /// levels. Naming a level twice fetches it once.
    pub fn prefetch_related<P: PrefetchPath<M>>(&self, f: impl FnOnce(&M::Fields) -> P) -> Self
    where
        T: ModelRows<M>,
    {
        let path = f(&M::fields()).prefetch_path();
        self.chain(|q| {
            crate::prefetch::add_path(&mut q.prefetch, &path);
        })
    }

    /// Prefetch a relation with a queryset of your own (Django's `Prefetch(lookup,
    /// queryset=…)`): its filter and ordering are ANDed with the key condition, and what it
    /// returns is what the relation holds.
    pub fn prefetch<P, U>(&self, f: impl FnOnce(&M::Fields) -> P, queryset: QuerySet<U>) -> Self
    where
        T: ModelRows<M>,
        P: PrefetchPath<M> + RelationPath,
        U: Model,
        P::Target: HeldBy<U>,
    {
        let path = f(&M::fields()).prefetch_path();
        let mut qs = self.chain(|q| {
            if let Some(node) = crate::prefetch::add_path(&mut q.prefetch, &path) {
                node.custom = Some(queryset.query.clone());
            }
        });
        // A misuse already recorded on the custom queryset is this one's too.
        if let Err(e) = queryset.check() {
            qs.refused_other.get_or_insert(e.to_string());
        }
        qs
    }

    /// Select only some columns, read as a typed tuple: `values(|b| (b.id, b.title))`
    /// gives a `QuerySet<Book, (i64, String)>` (Django's `values_list`). A field reached
    /// through a nullable or many-valued relation reads as an `Option`.
    ///
    /// The projection selects only what it names: a `select_related` or `prefetch_related`
    /// made before it is dropped, as in Django (there are no model instances to attach
    /// related rows to); after it, `select_related` and `prefetch_related` do not compile.
    pub fn values<P: Projection<M>>(
        &self,
        f: impl FnOnce(&M::Fields) -> P,
    ) -> QuerySet<M, P::Output> {
        let terms = f(&M::fields()).into_terms();
        let mut query = self.query.clone();
        query.select = Select::Terms(terms);
        query.select_related.clear();
        query.prefetch.clear();
        QuerySet {
            query,
            refused: self.refused,
            refused_other: self.refused_other.clone(),
            cache: OnceCell::new(),
            _m: PhantomData,
        }
    }

    // ---- SQL, without a query -----------------------------------------------------

    /// The query, for use as a subquery, with the misuse (if any) that must refuse it.
    pub(crate) fn into_subquery(self) -> (Query, Option<String>) {
        let refused = self.check().err().map(|e| e.to_string());
        (self.query, refused)
    }

    fn check(&self) -> Result<()> {
        if let Some(op) = self.refused {
            return Err(Error::Sliced(op));
        }
        match &self.refused_other {
            Some(msg) => Err(Error::InvalidInput(msg.clone())),
            None => Ok(()),
        }
    }

    /// Run a SELECT built from `query`: decode the rows (and the relations
    /// `select_related` read with them), then run the prefetch queries.
    async fn run<E: Executor>(query: &Query, ex: &mut E) -> Result<Vec<T>> {
        if query.empty {
            return Ok(Vec::new());
        }
        let (stmt, selected) = compiler::select_with_plan(query, ex.dialect())?;
        if !query.prefetch.is_empty() {
            // Every query of the evaluation on one connection, not one pool round each.
            let mut session = ex.session(&stmt.sql).await?;
            let mut rows = Self::read_rows(&mut *session, stmt, &selected).await?;
            T::prefetch_rows(&mut rows, &query.prefetch, &mut *session).await?;
            Ok(rows)
        } else if !selected.is_empty() {
            Self::read_rows(ex, stmt, &selected).await
        } else if query.at_most_one_row() {
            Ok(ex.fetch_optional::<T>(stmt).await?.into_iter().collect())
        } else {
            ex.fetch_all::<T>(stmt).await
        }
    }

    /// Decode every row through the object-safe row interface, attaching what
    /// `select_related` read in the same row.
    async fn read_rows(
        src: &mut (dyn crate::executor::RowSource + '_),
        stmt: Statement,
        selected: &[crate::select_related::SelectNode],
    ) -> Result<Vec<T>> {
        let mut rows = Vec::new();
        let mut each = |row: &dyn crate::row::Row| -> Result<()> {
            let mut v = T::from_row(row, 0)?;
            if !selected.is_empty() {
                v.load_selected(selected, row)?;
            }
            rows.push(v);
            Ok(())
        };
        src.for_each_row(stmt, &mut each).await?;
        Ok(rows)
    }

    /// The SELECT this queryset runs when evaluated, or `None` if it never reaches the
    /// database (`none()`, an empty `is_in`, an empty slice).
    pub fn statement(&self, dialect: Dialect) -> Result<Option<Statement>> {
        self.check()?;
        if self.query.empty {
            return Ok(None);
        }
        compiler::select(&self.query, dialect).map(Some)
    }

    /// The SQL of this queryset, for reading (no query runs). Uses the default database's
    /// dialect if one is registered, SQLite's otherwise.
    pub fn sql(&self) -> String {
        self.sql_for(self.display_dialect())
    }

    /// The SQL of this queryset in the given dialect, for reading.
    pub fn sql_for(&self, dialect: Dialect) -> String {
        match self.statement(dialect) {
            Ok(Some(stmt)) => stmt.to_string(),
            Ok(None) => "-- empty queryset: no query".to_owned(),
            Err(e) => format!("-- error: {e}"),
        }
    }

    fn display_dialect(&self) -> Dialect {
        executor::default_dialect().unwrap_or(Dialect::Sqlite)
    }

    /// Whether this queryset's rows are cached (it has been fully evaluated).
    pub fn is_evaluated(&self) -> bool {
        self.cache.initialized()
    }

    /// Whether the queryset has an ordering (Django's `ordered`).
    pub fn is_ordered(&self) -> bool {
        self.query.is_ordered()
    }

    // ---- evaluation ---------------------------------------------------------------

    /// Every row, cached: the first call runs one query, later calls read the cache.
    ///
    /// Concurrent calls on the same queryset run one query between them; a call that is
    /// cancelled (its future dropped) leaves the cache empty.
    pub async fn fetch<E: Executor>(&self, mut ex: E) -> Result<&[T]> {
        self.check()?;
        let rows = self
            .cache
            .get_or_try_init(|| async { Self::run(&self.query, &mut ex).await })
            .await?;
        Ok(rows.as_slice())
    }

    /// The number of rows, by fully evaluating (and caching) the queryset.
    pub async fn len<E: Executor>(&self, ex: E) -> Result<usize> {
        Ok(self.fetch(ex).await?.len())
    }

    /// Whether there are no rows, by fully evaluating (and caching) the queryset.
    pub async fn is_empty<E: Executor>(&self, ex: E) -> Result<bool> {
        Ok(self.fetch(ex).await?.is_empty())
    }

    /// `SELECT COUNT(*)`; the cached length if evaluated (even if the table has changed).
    pub async fn count<E: Executor>(&self, mut ex: E) -> Result<u64> {
        self.check()?;
        if let Some(rows) = self.cache.get() {
            return Ok(rows.len() as u64);
        }
        if self.query.empty {
            return Ok(0);
        }
        let stmt = compiler::count(&self.query, ex.dialect())?;
        let n: Vec<i64> = ex.fetch_all(stmt).await?;
        Ok(n.first().copied().unwrap_or(0).max(0) as u64)
    }

    /// Whether any row matches: `SELECT 1 … LIMIT 1`, or the cache if evaluated.
    pub async fn exists<E: Executor>(&self, mut ex: E) -> Result<bool> {
        self.check()?;
        if let Some(rows) = self.cache.get() {
            return Ok(!rows.is_empty());
        }
        if self.query.empty {
            return Ok(false);
        }
        let stmt = compiler::exists(&self.query, ex.dialect())?;
        let rows: Vec<i32> = ex.fetch_all(stmt).await?;
        Ok(!rows.is_empty())
    }

    /// The row at `index` (Django's `qs[i]`): from the cache if evaluated, otherwise
    /// `LIMIT 1 OFFSET index` every call, without filling the cache.
    pub async fn get_index<E: Executor>(&self, index: usize, mut ex: E) -> Result<T>
    where
        T: Clone,
    {
        self.check()?;
        let out_of_range = || Error::IndexOutOfRange {
            model: M::META.name,
            index,
        };
        if let Some(rows) = self.cache.get() {
            return rows.get(index).cloned().ok_or_else(out_of_range);
        }
        let mut q = self.query.clone();
        let at = index as u64;
        q.set_limits(Some(at), Some(at.saturating_add(1)));
        if q.empty {
            return Err(out_of_range());
        }
        let mut rows = Self::run(&q, &mut ex).await?;
        rows.pop().ok_or_else(out_of_range)
    }

    /// The first row, or `None`. An unordered queryset is ordered by primary key first.
    pub async fn first<E: Executor>(&self, ex: E) -> Result<Option<T>>
    where
        T: Clone,
    {
        self.check()?;
        if self.is_ordered() {
            if let Some(rows) = self.cache.get() {
                return Ok(rows.first().cloned());
            }
            self.one_row(&self.query, ex).await
        } else {
            let qs = self.ordered_by_pk(false);
            qs.check()?;
            self.one_row(&qs.query, ex).await
        }
    }

    /// Ordered by primary key (Django's `order_by("pk")` / `order_by("-pk")`).
    fn ordered_by_pk(&self, descending: bool) -> Self {
        self.chain_unsliced(SlicedOp::Reorder, |q| {
            q.order_by = vec![OrderTerm {
                term: pk_term::<M>(),
                descending,
            }];
        })
    }

    /// The last row, or `None`: the ordering reversed (primary key descending if unordered).
    pub async fn last<E: Executor>(&self, ex: E) -> Result<Option<T>>
    where
        T: Clone,
    {
        self.check()?;
        let qs = if self.is_ordered() {
            self.reverse()
        } else {
            self.ordered_by_pk(true)
        };
        qs.check()?;
        self.one_row(&qs.query, ex).await
    }

    async fn one_row<E: Executor>(&self, query: &Query, mut ex: E) -> Result<Option<T>> {
        let mut q = query.clone();
        q.set_limits(None, Some(1));
        let mut rows = Self::run(&q, &mut ex).await?;
        Ok(rows.pop())
    }

    /// Exactly one row: [`Error::DoesNotExist`] if none matches,
    /// [`Error::MultipleObjectsReturned`] if several do. One query, `LIMIT 21`.
    pub async fn get<E: Executor>(&self, mut ex: E) -> Result<T> {
        self.check()?;
        let mut q = self.query.clone();
        if !q.is_sliced() {
            q.order_by.clear();
        }
        q.set_limits(None, Some(MAX_GET_RESULTS));
        let mut rows = Self::run(&q, &mut ex).await?;
        match rows.len() {
            1 => Ok(rows.pop().expect("one row")),
            0 => Err(Error::DoesNotExist {
                model: M::META.name,
            }),
            n => Err(Error::MultipleObjectsReturned {
                model: M::META.name,
                count: n,
                more: n as u64 == MAX_GET_RESULTS,
            }),
        }
    }

    /// Stream the rows without touching the cache (it is neither read nor filled): one
    /// query per call, rows decoded as the driver delivers them, so memory stays bounded.
    /// `chunk_size` is how many rows are handled as one batch (prefetching works per
    /// chunk); 0 is an error.
    pub fn iterator<'e, E: Executor + 'e>(
        &self,
        ex: E,
        chunk_size: usize,
    ) -> BoxStream<'e, Result<T>> {
        let fail = |e: Error| stream::once(async move { Err(e) }).boxed();
        if chunk_size == 0 {
            return fail(Error::ZeroChunkSize);
        }
        if let Err(e) = self.check() {
            return fail(e);
        }
        if self.query.empty {
            return stream::empty().boxed();
        }
        let (stmt, selected) = match compiler::select_with_plan(&self.query, ex.dialect()) {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        let nodes = self.query.prefetch.clone();
        if nodes.is_empty() {
            return ex.into_stream::<T>(stmt, selected);
        }
        // Prefetching runs per chunk, while the main query streams: on a second handle.
        let Some(side) = ex.fork() else {
            return fail(Error::InvalidInput(
                "iterator() with prefetch_related needs a pool of two or more connections \
                 (`&db`): one connection cannot run the prefetch queries while it streams the \
                 rows (an in-memory SQLite database has one; use a file)"
                    .into(),
            ));
        };
        let rows = ex.into_stream::<T>(stmt, selected);
        let state = Chunked {
            rows,
            side,
            nodes,
            chunk_size,
            buffer: std::collections::VecDeque::new(),
            done: false,
        };
        stream::unfold(state, |mut st| async move {
            loop {
                if let Some(v) = st.buffer.pop_front() {
                    return Some((Ok(v), st));
                }
                if st.done {
                    return None;
                }
                let mut chunk = Vec::with_capacity(st.chunk_size);
                while chunk.len() < st.chunk_size {
                    match st.rows.next().await {
                        Some(Ok(v)) => chunk.push(v),
                        Some(Err(e)) => {
                            st.done = true;
                            return Some((Err(e), st));
                        }
                        None => {
                            st.done = true;
                            break;
                        }
                    }
                }
                if let Err(e) = T::prefetch_rows(&mut chunk, &st.nodes, &mut st.side).await {
                    st.done = true;
                    return Some((Err(e), st));
                }
                st.buffer.extend(chunk);
            }
        })
        .boxed()
    }
}

/// The state of `iterator()` with prefetching: rows are read a chunk at a time, the chunk
/// is prefetched, then handed out.
struct Chunked<'e, T, E> {
    rows: BoxStream<'e, Result<T>>,
    side: E,
    nodes: Vec<crate::prefetch::PrefetchNode>,
    chunk_size: usize,
    buffer: std::collections::VecDeque<T>,
    done: bool,
}

/// What `delete()` removed: the total and the count per model (Django's return value).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Deleted {
    pub total: u64,
    pub per_model: BTreeMap<&'static str, u64>,
}

impl Deleted {
    fn of<M: Model>(n: u64) -> Self {
        let mut per_model = BTreeMap::new();
        if n > 0 {
            per_model.insert(M::META.name, n);
        }
        Deleted {
            total: n,
            per_model,
        }
    }
}

impl<M: Model> QuerySet<M, M> {
    /// Whether `obj` is among the rows: from the cache if evaluated, otherwise one
    /// `filter(pk = obj.pk).exists()` query per call (Django's `contains`).
    pub async fn contains<E: Executor>(&self, obj: &M, ex: E) -> Result<bool> {
        self.check()?;
        if M::META.has_auto_pk() && is_unset_pk(obj) {
            return Err(Error::InvalidInput(
                "contains() cannot be used on unsaved objects".into(),
            ));
        }
        if let Some(rows) = self.cache.get() {
            return Ok(rows.iter().any(|r| r.pk() == obj.pk()));
        }
        let qs = self.chain_unsliced(SlicedOp::Filter, |q| {
            q.filter_mut().push(pk_eq::<M>(obj.pk().to_value()))
        });
        qs.check()?;
        qs.exists(ex).await
    }

    /// `UPDATE … SET … WHERE …` on the matched rows; returns how many matched. Clears
    /// this queryset's cache. `update(|b| [b.pages.set(b.pages * 2)], &db)`.
    pub async fn update<A: IntoAssignments<M>, E: Executor>(
        &mut self,
        f: impl FnOnce(&M::Fields) -> A,
        mut ex: E,
    ) -> Result<u64> {
        self.check()?;
        if self.query.is_sliced() {
            return Err(Error::Sliced(SlicedOp::Update));
        }
        let assignments = f(&M::fields()).into_assignments();
        let stmt = compiler::update(&self.query, &assignments, ex.dialect())?;
        self.cache.take();
        if self.query.empty {
            return Ok(0);
        }
        Ok(ex.execute(stmt).await?.rows_affected)
    }

    /// `DELETE … WHERE …` on the matched rows. Clears this queryset's cache.
    pub async fn delete<E: Executor>(&mut self, mut ex: E) -> Result<Deleted> {
        self.check()?;
        if self.query.is_sliced() {
            return Err(Error::Sliced(SlicedOp::Delete));
        }
        self.cache.take();
        if self.query.empty {
            return Ok(Deleted::default());
        }
        if !crate::deletion::has_dependents(M::META) {
            // Nothing else to follow: one DELETE (Django's fast delete).
            let stmt = compiler::delete(&self.query, ex.dialect())?;
            let n = ex.execute(stmt).await?.rows_affected;
            return Ok(Deleted::of::<M>(n));
        }
        let mut atomic = ex.atomic().await?;
        let per_model = crate::deletion::delete_cascading(&self.query, &mut *atomic).await?;
        atomic.commit().await?;
        Ok(Deleted {
            total: per_model.values().sum(),
            per_model,
        })
    }

    /// Insert many instances: one multi-row INSERT per batch (batches sized to the
    /// backend's parameter limit), primary keys set on the instances. Instances whose auto
    /// primary key is already set are inserted with it, in batches of their own. No query
    /// for an empty slice.
    ///
    /// The keys are set only once every row is in: if a batch fails or the commit fails,
    /// no row is kept and no instance is changed, so a later `save()` still inserts it.
    /// If the future is dropped, no instance is changed either; rows sent in one INSERT
    /// (no transaction) may already be stored by then, as with any statement the database
    /// received before the drop.
    pub async fn bulk_create<E: Executor>(&self, objs: &mut [M], mut ex: E) -> Result<()> {
        let auto = M::META.has_auto_pk();
        let (mut unset, set): (Vec<&mut M>, Vec<&mut M>) =
            objs.iter_mut().partition(|o| auto && is_unset_pk(&**o));
        let dialect = ex.dialect();
        let statements = batch_count::<M>(set.len(), false, dialect)
            + batch_count::<M>(unset.len(), true, dialect);
        let keys = if statements <= 1 {
            insert_batches(&set, false, &mut ex).await?;
            insert_batches(&unset, true, &mut ex).await?
        } else {
            // Several statements: all of them or none (Django wraps bulk_create in atomic()).
            let mut atomic = ex.atomic().await?;
            insert_batches(&set, false, &mut *atomic).await?;
            let keys = insert_batches(&unset, true, &mut *atomic).await?;
            atomic.commit().await?;
            keys
        };
        set_keys(&mut unset, keys);
        Ok(())
    }

    /// The instances with these primary keys, keyed by primary key (Django's `in_bulk`);
    /// the key list is split into batches that fit the backend's parameter limit. No query
    /// for an empty list.
    pub async fn in_bulk<E: Executor>(
        &self,
        pks: impl IntoIterator<Item = M::Pk>,
        mut ex: E,
    ) -> Result<HashMap<M::Pk, M>>
    where
        M::Pk: Hash + Eq,
    {
        self.check()?;
        if self.query.is_sliced() {
            return Err(Error::Sliced(SlicedOp::Filter));
        }
        let pks: Vec<_> = pks.into_iter().map(|p| p.to_value()).collect();
        let dialect = ex.dialect();
        let mut out = HashMap::new();
        if self.query.empty || pks.is_empty() {
            return Ok(out);
        }
        let limit = compiler::in_list_budget(&self.query, dialect)?;
        for chunk in pks.chunks(limit) {
            let mut q = self.query.clone();
            q.filter_mut().push(Cond::In {
                lhs: pk_term::<M>(),
                values: chunk.to_vec(),
            });
            for obj in Self::run(&q, &mut ex).await? {
                out.insert(obj.pk().clone(), obj);
            }
        }
        Ok(out)
    }
}

impl<M: Model, T: FromRow> IntoFuture for QuerySet<M, T> {
    type Output = Result<Vec<T>>;
    type IntoFuture = BoxFuture<'static, Result<Vec<T>>>;

    /// Await a queryset directly on the default database (`Db::set_default()`): the
    /// rows, or the cached rows if it was already evaluated.
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            self.check()?;
            let QuerySet { query, cache, .. } = self;
            if let Some(rows) = cache.into_inner() {
                return Ok(rows);
            }
            let mut db = executor::DefaultHandle::get()?;
            Self::run(&query, &mut db).await
        })
    }
}

/// Instance-level operations: Django's `save()`, `delete()` and `refresh_from_db()`.
pub trait ModelExt: Model {
    /// Insert this instance; an auto primary key is left to the database and set on the
    /// instance afterwards. One query (two on backends without `RETURNING`).
    fn insert<E: Executor>(&mut self, ex: E) -> impl Future<Output = Result<()>> + Send;
    /// Django's `save()`: insert if the auto primary key is unset (0), otherwise update
    /// the row and insert it if no row was updated.
    fn save<E: Executor>(&mut self, ex: E) -> impl Future<Output = Result<()>> + Send;
    /// Delete this instance's row, and what its on-delete rules reach.
    fn delete<E: Executor>(&self, ex: E) -> impl Future<Output = Result<Deleted>> + Send;
    /// Reload every column from the database: one query.
    fn refresh_from_db<E: Executor>(&mut self, ex: E) -> impl Future<Output = Result<()>> + Send;
    /// Link `targets` to this instance through a many-to-many relation (rows already linked
    /// are left alone) or a reverse foreign key (their key is set to this instance). One
    /// query; clears what was prefetched into the relation. Django's `relation.add()`.
    fn add_related<P: PrefetchPath<Self>, T: Model, E: Executor>(
        &mut self,
        f: impl FnOnce(&Self::Fields) -> P + Send,
        targets: &[&T],
        ex: E,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Create `obj` related to this instance (Django's `author.books.create(…)`): through a
    /// reverse relation its key is set to this instance, then it is inserted (one query);
    /// through a many-to-many it is inserted and linked, atomically. Clears the prefetched
    /// rows of the relation.
    fn create_related<P: PrefetchPath<Self>, T: Model, E: Executor>(
        &mut self,
        f: impl FnOnce(&Self::Fields) -> P + Send,
        obj: &mut T,
        ex: E,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Unlink `targets`: delete the join rows of a many-to-many relation, or set a nullable
    /// reverse foreign key to NULL. One query; clears the prefetched rows.
    fn remove_related<P: PrefetchPath<Self>, T: Model, E: Executor>(
        &mut self,
        f: impl FnOnce(&Self::Fields) -> P + Send,
        targets: &[&T],
        ex: E,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Reload only some columns: `refresh_from_db_fields(|b| (b.title, b.pages), &db)`.
    /// An empty list, `|_| ()`, costs no query.
    fn refresh_from_db_fields<P: Projection<Self>, E: Executor>(
        &mut self,
        f: impl FnOnce(&Self::Fields) -> P + Send,
        ex: E,
    ) -> impl Future<Output = Result<()>> + Send;
}

fn by_pk<M: Model>(obj: &M) -> QuerySet<M, M> {
    let pk = obj.pk().to_value();
    QuerySet::<M, M>::new().chain(|q| {
        q.filter_mut().push(Cond::Compare {
            lhs: pk_term::<M>(),
            op: CmpOp::Eq,
            rhs: Term::Value(pk),
        })
    })
}

impl<M: Model> ModelExt for M {
    async fn insert<E: Executor>(&mut self, mut ex: E) -> Result<()> {
        insert_one(self, &mut ex).await
    }

    async fn save<E: Executor>(&mut self, mut ex: E) -> Result<()> {
        if M::META.has_auto_pk() && is_unset_pk(self) {
            return self.insert(ex).await;
        }
        let values = self.column_values();
        let mut qs = by_pk(self);
        let assignments: Vec<_> = M::META
            .columns
            .iter()
            .zip(values)
            .filter(|(c, _)| !c.primary_key)
            .map(|(c, v)| {
                crate::update::Assignment::<M>::new(
                    ColumnRef {
                        path: RelPath::ROOT,
                        column: c.column,
                        nullable: c.nullable,
                    },
                    Term::Value(v),
                )
            })
            .collect();
        let updated = if assignments.is_empty() {
            qs.count(&mut ex).await?
        } else {
            qs.update(|_| assignments, &mut ex).await?
        };
        if updated == 0 {
            self.insert(ex).await?;
        }
        Ok(())
    }

    async fn delete<E: Executor>(&self, mut ex: E) -> Result<Deleted> {
        if !crate::deletion::has_dependents(M::META) {
            return by_pk(self).delete(ex).await;
        }
        // The key is known: no SELECT to find it (Django's instance delete sends none).
        let mut atomic = ex.atomic().await?;
        let keys = vec![self.pk().to_value()];
        let per_model = crate::deletion::delete_cascading_keys(M::META, keys, &mut *atomic).await?;
        atomic.commit().await?;
        Ok(Deleted {
            total: per_model.values().sum(),
            per_model,
        })
    }

    async fn refresh_from_db<E: Executor>(&mut self, ex: E) -> Result<()> {
        *self = by_pk(self).get(ex).await?;
        Ok(())
    }

    async fn add_related<P: PrefetchPath<Self>, T: Model, E: Executor>(
        &mut self,
        f: impl FnOnce(&Self::Fields) -> P + Send,
        targets: &[&T],
        mut ex: E,
    ) -> Result<()> {
        let rel = relation_for_write::<Self, T>(self, f(&Self::fields()).prefetch_path())?;
        if targets.is_empty() {
            return Ok(());
        }
        let dialect = ex.dialect();
        let pk = self.pk().to_value();
        let stmts = match rel.join_on()? {
            JoinOn::Through { through, .. } => {
                // Two parameters a link: batches that fit the backend's limit.
                let keys: Vec<Value> = targets.iter().map(|t| t.pk().to_value()).collect();
                let per_batch = (dialect.max_params() / 2).max(1);
                keys.chunks(per_batch)
                    .map(|b| crate::compiler::link(through, pk.clone(), b.iter().cloned(), dialect))
                    .collect::<Result<_>>()?
            }
            JoinOn::Direct { target_column, .. } => vec![set_child_keys::<T>(
                targets.iter().map(|t| t.pk().to_value()).collect(),
                target_column,
                pk,
                None,
                dialect,
            )?],
        };
        for stmt in stmts {
            ex.execute(stmt).await?;
        }
        Ok(())
    }

    async fn create_related<P: PrefetchPath<Self>, T: Model, E: Executor>(
        &mut self,
        f: impl FnOnce(&Self::Fields) -> P + Send,
        obj: &mut T,
        mut ex: E,
    ) -> Result<()> {
        let rel = relation_for_write::<Self, T>(self, f(&Self::fields()).prefetch_path())?;
        let pk = self.pk().to_value();
        match rel.join_on()? {
            JoinOn::Direct { .. } => {
                let forward = rel.forward_relation()?;
                let col = forward.key_column.ok_or_else(|| {
                    Error::InvalidInput(format!("{} has no key column", forward.label()))
                })?;
                obj.set_column_from_row(col, &ValueRow(pk), 0)?;
                insert_one(obj, &mut ex).await
            }
            JoinOn::Through { through, .. } => {
                let mut atomic = ex.atomic().await?;
                insert_one(obj, &mut *atomic).await?;
                let link = compiler::link(
                    through,
                    pk,
                    std::iter::once(obj.pk().to_value()),
                    atomic.dialect(),
                )?;
                atomic.execute_stmt(link).await?;
                atomic.commit().await
            }
        }
    }

    async fn remove_related<P: PrefetchPath<Self>, T: Model, E: Executor>(
        &mut self,
        f: impl FnOnce(&Self::Fields) -> P + Send,
        targets: &[&T],
        mut ex: E,
    ) -> Result<()> {
        let rel = relation_for_write::<Self, T>(self, f(&Self::fields()).prefetch_path())?;
        if targets.is_empty() {
            return Ok(());
        }
        let dialect = ex.dialect();
        let keys: Vec<Value> = targets.iter().map(|t| t.pk().to_value()).collect();
        let stmts = match rel.join_on()? {
            JoinOn::Through { through, .. } => {
                let per_batch = dialect.max_params().saturating_sub(1).max(1);
                let parent = self.pk().to_value();
                keys.chunks(per_batch)
                    .map(|b| crate::compiler::unlink(through, parent.clone(), b.to_vec(), dialect))
                    .collect::<Result<_>>()?
            }
            JoinOn::Direct { target_column, .. } => {
                let forward = rel.forward_relation()?;
                if !forward.nullable {
                    return Err(Error::InvalidInput(format!(
                        "remove_related: {} cannot be NULL; delete the rows or point them elsewhere",
                        forward.label()
                    )));
                }
                let ty = T::META
                    .columns
                    .iter()
                    .find(|c| c.column == target_column)
                    .map_or(crate::value::SqlType::I64, |c| c.sql_type);
                let parent = Some(self.pk().to_value());
                vec![set_child_keys::<T>(
                    keys,
                    target_column,
                    Value::Null(ty),
                    parent,
                    dialect,
                )?]
            }
        };
        for stmt in stmts {
            ex.execute(stmt).await?;
        }
        Ok(())
    }

    async fn refresh_from_db_fields<P: Projection<Self>, E: Executor>(
        &mut self,
        f: impl FnOnce(&Self::Fields) -> P + Send,
        mut ex: E,
    ) -> Result<()> {
        let terms = f(&M::fields()).into_terms();
        if terms.is_empty() {
            return Ok(());
        }
        let mut indices = Vec::with_capacity(terms.len());
        for t in &terms {
            let Term::Column(c) = t else {
                return Err(unreachable_projection());
            };
            let idx = M::META
                .columns
                .iter()
                .position(|m| m.column == c.column && c.path.is_root())
                .ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "refresh_from_db_fields: `{}` is not a column of {}",
                        c.column,
                        M::META.name
                    ))
                })?;
            indices.push(idx);
        }
        let mut q = by_pk(self).query;
        q.select = Select::Terms(terms);
        q.set_limits(None, Some(MAX_GET_RESULTS));
        let stmt = compiler::select(&q, ex.dialect())?;
        let mut seen = 0usize;
        ex.for_each_row(stmt, &mut |row| {
            seen += 1;
            if seen == 1 {
                for (pos, &col) in indices.iter().enumerate() {
                    self.set_column_from_row(col, row, pos)?;
                }
            }
            Ok(())
        })
        .await?;
        match seen {
            1 => Ok(()),
            0 => Err(Error::DoesNotExist {
                model: M::META.name,
            }),
            n => Err(Error::MultipleObjectsReturned {
                model: M::META.name,
                count: n,
                more: false,
            }),
        }
    }
}

/// Insert one instance; an auto primary key is left to the database and set afterwards.
/// Insert one instance (a model with an unset auto key gets the database's).
async fn insert_one<M: Model>(
    obj: &mut M,
    ex: &mut (dyn crate::executor::RowSource + '_),
) -> Result<()> {
    let skip_pk = M::META.has_auto_pk() && is_unset_pk(obj);
    let mut one = [obj];
    let keys = insert_batches(&one, skip_pk, ex).await?;
    set_keys(&mut one, keys);
    Ok(())
}

/// Give each instance the key the database generated for it (after the INSERTs that
/// made them have succeeded: see [`insert_batches`]).
fn set_keys<M: Model>(objs: &mut [&mut M], keys: Vec<M::Pk>) {
    for (obj, pk) in objs.iter_mut().zip(keys) {
        obj.set_pk(pk);
    }
}

/// Rows an INSERT of `M` can hold: the parameter limit over the columns bound per row
/// (`DEFAULT VALUES`, with no column to bind, inserts one row at a time).
fn batch_size<M: Model>(skip_pk: bool, dialect: Dialect) -> usize {
    let per_row = M::META.columns.len() - usize::from(skip_pk);
    dialect
        .max_params()
        .checked_div(per_row)
        .map_or(1, |rows| rows.max(1))
}

fn batch_count<M: Model>(rows: usize, skip_pk: bool, dialect: Dialect) -> usize {
    rows.div_ceil(batch_size::<M>(skip_pk, dialect))
}

/// Insert `objs` in multi-row batches that fit the parameter limit; `skip_pk` leaves the
/// auto primary key to the database and reads it back. The keys are returned, in order
/// (none when `skip_pk` is false), not set: the caller sets them once the whole write has
/// succeeded, so an instance never carries the key of a row that was rolled back.
async fn insert_batches<M: Model>(
    objs: &[&mut M],
    skip_pk: bool,
    ex: &mut (dyn crate::executor::RowSource + '_),
) -> Result<Vec<M::Pk>> {
    let mut keys = Vec::new();
    if objs.is_empty() {
        return Ok(keys);
    }
    let dialect = ex.dialect();
    let meta = M::META;
    if skip_pk {
        keys.reserve_exact(objs.len());
    }
    for chunk in objs.chunks(batch_size::<M>(skip_pk, dialect)) {
        let rows: Vec<_> = chunk.iter().map(|o| o.column_values()).collect();
        let stmt = compiler::insert(meta, rows, skip_pk, dialect)?;
        if dialect.supports_returning() {
            let before = keys.len();
            let mut each = |row: &dyn crate::row::Row| -> Result<()> {
                if skip_pk {
                    keys.push(<M::Pk as FromRow>::from_row(row, 0)?);
                }
                Ok(())
            };
            ex.for_each_row(stmt, &mut each).await?;
            if skip_pk && keys.len() - before != chunk.len() {
                return Err(Error::InvalidInput(format!(
                    "inserted {} rows but the database returned {} keys",
                    chunk.len(),
                    keys.len() - before
                )));
            }
        } else {
            let res = ex.execute_stmt(stmt).await?;
            // Without RETURNING, the database reports one generated key: a lone row's.
            if let ([_], true, Some(id)) = (chunk, skip_pk, res.last_insert_id) {
                keys.push(<M::Pk as FromRow>::from_row(&ValueRow(Value::I64(id)), 0)?);
            }
        }
    }
    Ok(keys)
}

/// The relation `path` names on `obj`, its prefetched rows forgotten: a write through it
/// makes them stale (S28).
fn relation_for_write<M: Model, T: Model>(
    obj: &mut M,
    path: RelPath,
) -> Result<&'static RelationMeta> {
    let rel = direct_relation::<M, T>(path)?;
    // Every field holding this relation's rows goes stale: another Reverse<T> mirroring
    // the same key (a custom prefetch target) included.
    let forward = rel.forward_relation().ok();
    for other in M::META.relations {
        let same = std::ptr::eq(*other, rel)
            || (forward.is_some()
                && other.forward_relation().ok().map(std::ptr::from_ref)
                    == forward.map(std::ptr::from_ref));
        if same && let Some(slot) = obj.relation_mut(other.index) {
            slot.clear();
        }
    }
    Ok(rel)
}

/// `UPDATE target SET column = value WHERE pk IN (keys) [AND column = only_if]`: point rows
/// of `T` at a parent (or at NULL).
fn set_child_keys<T: Model>(
    keys: Vec<Value>,
    column: &'static str,
    value: Value,
    only_if: Option<Value>,
    dialect: Dialect,
) -> Result<Statement> {
    let col = ColumnRef {
        path: RelPath::ROOT,
        column,
        nullable: true,
    };
    let mut q = Query::new(T::META);
    q.filter_mut().push(Cond::In {
        lhs: pk_term::<T>(),
        values: keys,
    });
    if let Some(v) = only_if {
        q.filter_mut().push(Cond::Compare {
            lhs: Term::Column(col),
            op: CmpOp::Eq,
            rhs: Term::Value(v),
        });
    }
    let set = [crate::update::Assignment::<T>::new(col, Term::Value(value))];
    compiler::update(&q, &set, dialect)
}

/// The one reverse or many-to-many relation of `M` that `path` names, holding `T`s.
fn direct_relation<M: Model, T: Model>(path: RelPath) -> Result<&'static RelationMeta> {
    let rel = match (path.len(), path.last()) {
        (1, Some(rel)) => rel,
        _ => {
            return Err(Error::InvalidInput(format!(
                "add_related/remove_related take one relation of {}, not `{path:?}`",
                M::META.name
            )));
        }
    };
    if !matches!(rel.kind, RelationKind::Reverse | RelationKind::ManyToMany) {
        return Err(Error::InvalidInput(format!(
            "{} is a foreign key: set its key instead of adding to it",
            rel.label()
        )));
    }
    if !std::ptr::eq((rel.target)(), T::META) {
        return Err(Error::InvalidInput(format!(
            "{} holds {}, not {}",
            rel.label(),
            (rel.target)().name,
            T::META.name
        )));
    }
    Ok(rel)
}

fn unreachable_projection() -> Error {
    Error::InvalidInput("refresh_from_db_fields takes fields, not expressions".into())
}

fn is_unset_pk<M: Model>(obj: &M) -> bool {
    match obj.pk().to_value() {
        crate::value::Value::I16(0) | crate::value::Value::I32(0) | crate::value::Value::I64(0) => {
            true
        }
        v => v.is_null(),
    }
}
