//! The lazy, immutable, chainable `QuerySet` and its result cache.
//!
//! This file builds querysets (chaining, no query) and shows their SQL; evaluation is
//! in `evaluate.rs`, writes in `write.rs`, `IntoFuture` and [`ModelExt`] in
//! `model_ext.rs`.

mod aggregate;
mod bulk;
pub use aggregate::{exists, subquery};
pub use bulk::BulkCreate;
mod evaluate;
pub use evaluate::Using;
mod get_or_create;
pub mod m2m;
mod model_ext;
mod partial;
mod raw;
mod select_all;
mod write;

pub use m2m::RelatedKeys;
pub use model_ext::ModelExt;
pub use raw::RawQuery;
pub use write::Deleted;

use std::collections::{BTreeMap, HashMap};
use std::future::{Future, IntoFuture};
use std::hash::Hash;
use std::marker::PhantomData;
use std::ops::{Bound, RangeBounds};

use futures_util::future::BoxFuture;
use futures_util::stream::{self, BoxStream, StreamExt};
use tokio::sync::OnceCell;

use crate::dsl::expr::{ColumnRef, RelPath, Term};
use crate::dsl::field::{HeldBy, InOperand, PrefetchPath, RelationPath, SelectPath};
use crate::dsl::ordering::{IntoOrdering, OrderTerm};
use crate::dsl::projection::Projection;
use crate::dsl::q::{CmpOp, Cond, Q};
use crate::dsl::query::{Query, Select};
use crate::dsl::update::IntoAssignments;
use crate::error::{Error, Result, SlicedOp};
use crate::eval::executor::{self, Executor};
use crate::schema::model::Model;
use crate::schema::relation::{JoinOn, RelationKind, RelationMeta};
use crate::schema::row::FromRow;
use crate::schema::row::ValueRow;
use crate::schema::value::{FieldType, Value};
use crate::sql::compiler::{self, Statement};
use crate::sql::dialect::Dialect;

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
        qs.query.related_of = Some(rel);
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
                qs.query.through = Some(crate::dsl::query::ThroughJoin { through, target_pk });
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
    pub(crate) fn filter_pk(&self, pk: crate::schema::value::Value) -> Self {
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

fn pk_eq<M: Model>(pk: crate::schema::value::Value) -> Cond {
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
/// Annotated rows (`annotate`) are rows of the model too.
impl<M: Model, A> ModelRows<M> for (M, A) {}

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

    /// Serve this queryset's results from the database's shared query cache, across
    /// requests and processes, for up to `ttl` (django-cacheops' `cache(timeout)`).
    ///
    /// Each SELECT its evaluation sends (the query, its prefetch queries, a `count()` or
    /// an aggregate) is looked up by its SQL, values and result type; a miss runs it and
    /// stores the rows, tagged with the versions of every table it read (joins, subqueries
    /// and join tables too) as they were *before* it ran. Any write the ORM sends to one of
    /// those tables (`save`, `delete` and its cascades, `update`, the bulk operations,
    /// many-to-many changes, raw SQL, DDL) gives the table a new random version once it is
    /// committed, so the stored result is never served again. A zero `ttl` stores nothing.
    ///
    /// It needs a cache on the executor (`orm_sqlx::Db::with_cache`); without one the
    /// queryset runs as usual, as Django's dummy cache backend does. Never cached:
    /// `iterator()` streams, raw SQL, and what a transaction reads of tables it has
    /// written; inside a transaction nothing is stored.
    ///
    /// ```no_run
    /// # use orm_core::{Model, QuerySet, Executor, Result};
    /// # async fn demo<M: Model, E: Executor>(qs: QuerySet<M>, ex: E) -> Result<()> {
    /// use std::time::Duration;
    /// let rows = qs.cached(Duration::from_secs(60)).into_vec(ex).await?;
    /// # Ok(()) }
    /// ```
    pub fn cached(&self, ttl: std::time::Duration) -> Self {
        self.chain(|q| q.cache_ttl = Some(ttl))
    }

    /// This queryset without [`cached`](Self::cached): it always reads the database.
    pub fn uncached(&self) -> Self {
        self.chain(|q| q.cache_ttl = None)
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

    /// Forget every `prefetch_related` and `prefetch` path (Django's
    /// `prefetch_related(None)`).
    pub fn clear_prefetch_related(&self) -> Self {
        self.chain(|q| q.prefetch.clear())
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
            crate::eval::prefetch::add_path(&mut q.prefetch, &path);
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
            if let Some(node) = crate::eval::prefetch::add_path(&mut q.prefetch, &path) {
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
        self.projected(f(&M::fields()).into_terms())
    }

    /// This queryset selecting `terms` instead, read as `P` (`values`, `values_as`).
    fn projected<P: FromRow>(&self, terms: Vec<Term>) -> QuerySet<M, P> {
        let mut query = self.query.clone();
        query.select = Select::Terms(terms);
        query.select_related.clear();
        query.prefetch.clear();
        // The projection is the whole SELECT list: annotations to read go into it
        // (`values(|a| (a.name, a.books().count()))`); the grouping an `annotate()` made
        // stays.
        query.annotations.clear();
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
}

/// A queryset is a subquery operand of `is_in` (see [`InOperand`]).
impl<R, T, M, P> InOperand<R, T> for QuerySet<M, P>
where
    T: FieldType,
    M: crate::schema::model::Model,
    P: FieldType<Base = T::Base> + crate::schema::row::FromRow,
{
    fn into_cond(self, lhs: Term) -> Cond {
        let (query, refused) = self.into_subquery();
        Cond::InQuery {
            lhs,
            sub: crate::dsl::q::SubQuery::new(query, refused),
        }
    }
}

/// Insert one instance; an auto primary key is left to the database and set afterwards.
/// Insert one instance (a model with an unset auto key gets the database's).
/// Insert one instance, with its hooks around the INSERT (`pre_save`, `post_save`).
async fn insert_one<M: Model>(
    obj: &mut M,
    ex: &mut (dyn crate::eval::executor::RowSource + '_),
) -> Result<()> {
    obj.pre_save()?;
    insert_unhooked(obj, ex).await?;
    obj.post_save(true)
}

/// Insert one instance without its hooks (`save`, which runs them itself).
async fn insert_unhooked<M: Model>(
    obj: &mut M,
    ex: &mut (dyn crate::eval::executor::RowSource + '_),
) -> Result<()> {
    obj.touch_auto_now(true, None);
    let skip_pk = M::META.has_auto_pk() && is_unset_pk(obj);
    let mut one = [obj];
    let keys = insert_batches(&one, skip_pk, &bulk::InsertOptions::default(), ex).await?;
    set_keys(&mut one, keys);
    attach_relation_metas(&mut *one[0]);
    Ok(())
}

/// Give each instance the key the database generated for it (after the INSERTs that
/// made them have succeeded: see [`insert_batches`]).
fn set_keys<M: Model>(objs: &mut [&mut M], keys: Vec<M::Pk>) {
    for (obj, pk) in objs.iter_mut().zip(keys) {
        obj.set_pk(pk);
    }
}

/// Name every relation field of a saved instance the application built
/// (`ForeignKey::new`, `Default`, deserialised): lazy loads through it are labelled with
/// their relation (N+1 findings, strict loading), as on a fetched row.
fn attach_relation_metas<M: Model>(obj: &mut M) {
    for rel in M::META.relations {
        if let Some(slot) = obj.relation_mut(rel.index) {
            slot.attach_meta(rel);
        }
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
    options: &bulk::InsertOptions,
    ex: &mut (dyn crate::eval::executor::RowSource + '_),
) -> Result<Vec<M::Pk>> {
    let mut keys = Vec::new();
    if objs.is_empty() {
        return Ok(keys);
    }
    for obj in objs {
        require_keys_set(&**obj)?;
    }
    let dialect = ex.dialect();
    // Keys not read back (`without_keys`, `ignore_conflicts`): no RETURNING, and none taken
    // from MySQL's last insert id.
    let read = skip_pk && options.read_keys;
    let returning = options.read_keys && ex.supports_returning();
    let meta = M::META;
    if read {
        keys.reserve_exact(objs.len());
    }
    for chunk in objs.chunks(batch_size::<M>(skip_pk, dialect)) {
        let rows: Vec<_> = chunk.iter().map(|o| o.column_values()).collect();
        let conflict = options.conflict.as_ref();
        let stmt = compiler::insert_on_conflict(meta, rows, skip_pk, dialect, returning, conflict)?;
        if returning {
            let before = keys.len();
            let mut each = |row: &dyn crate::schema::row::Row| -> Result<()> {
                if read {
                    keys.push(<M::Pk as FromRow>::from_row(row, 0)?);
                }
                Ok(())
            };
            ex.for_each_row(stmt, &mut each)
                .await
                .map_err(|e| options.error::<M>(e))?;
            if read && keys.len() - before != chunk.len() {
                return Err(Error::InvalidInput(format!(
                    "inserted {} rows but the database returned {} keys",
                    chunk.len(),
                    keys.len() - before
                )));
            }
        } else {
            let res = ex
                .execute_stmt(stmt)
                .await
                .map_err(|e| options.error::<M>(e))?;
            if !read {
                continue;
            }
            // Without RETURNING (MySQL), the database reports the key of the first row of
            // the statement; InnoDB gives the rows of one multi-row INSERT consecutive keys
            // (with `auto_increment_increment` = 1, the default).
            let first = res.last_insert_id.ok_or_else(|| {
                Error::InvalidInput(format!(
                    "inserted {} rows into {} but the database reported no generated key",
                    chunk.len(),
                    meta.name
                ))
            })?;
            if res.rows_affected != chunk.len() as u64 {
                return Err(Error::InvalidInput(format!(
                    "inserted {} rows into {} but the database reports {}",
                    chunk.len(),
                    meta.name,
                    res.rows_affected
                )));
            }
            for i in 0..chunk.len() as i64 {
                let key = first.checked_add(i).ok_or_else(|| {
                    Error::InvalidInput(format!("the generated keys of {} overflow i64", meta.name))
                })?;
                keys.push(<M::Pk as FromRow>::from_row(&ValueRow(Value::I64(key)), 0)?);
            }
        }
    }
    Ok(keys)
}

/// A refused write's error naming `M`'s field rather than its column (a value too long
/// for, or out of the range of, the column: see [`Error::in_model`]).
fn name_field<M: Model>(e: Error) -> Error {
    e.in_model(M::META.name, |column| {
        M::META
            .columns
            .iter()
            .find(|c| c.column == column)
            .map(|c| c.field)
    })
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
    let set = [crate::dsl::update::Assignment::<T>::new(
        col,
        Term::Value(value),
    )];
    compiler::update(&q, &set, dialect)
}

/// The one reverse or many-to-many relation of `M` that `path` names, holding `T`s.
fn direct_relation<M: Model, T: Model>(path: RelPath) -> Result<&'static RelationMeta> {
    let rel = match (path.len(), path.last()) {
        (1, Some(rel)) => rel,
        _ => {
            return Err(Error::InvalidInput(format!(
                "add_related/remove_related/set_related/clear_related take one relation of {}, not `{path:?}`",
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

/// [`Error::UnsetKey`](crate::Error::UnsetKey) if a required foreign key of `obj` is
/// still `ForeignKey::default()`: checked before any statement that writes the instance.
pub(crate) fn require_keys_set<M: Model>(obj: &M) -> Result<()> {
    for (i, rel) in M::META.relations.iter().enumerate() {
        if obj.relation(i).is_some_and(|slot| slot.is_unset_key()) {
            return Err(crate::error::Error::UnsetKey {
                relation: rel.label(),
            });
        }
    }
    Ok(())
}

fn is_unset_pk<M: Model>(obj: &M) -> bool {
    match obj.pk().to_value() {
        crate::schema::value::Value::I16(0)
        | crate::schema::value::Value::I32(0)
        | crate::schema::value::Value::I64(0) => true,
        v => v.is_null(),
    }
}

/// The cache request of an evaluation of `q` read as `T`: `None` unless `cached(ttl)` was
/// asked.
pub(super) fn cache_request<T>(q: &Query) -> Option<crate::eval::observe::CacheRequest> {
    q.cache_ttl.map(|ttl| crate::eval::observe::CacheRequest {
        ttl,
        reader: std::any::type_name::<T>(),
    })
}
