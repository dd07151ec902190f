//! Evaluation: running the SELECT, decoding, prefetching and caching the rows, and the
//! methods that read them (`fetch`, `count`, `get`, `first`, `iterator`, ...).

use super::*;

impl<M: Model, T: FromRow> QuerySet<M, T> {
    /// Run a SELECT built from `query`: decode the rows (and the relations
    /// `select_related` read with them), then run the prefetch queries.
    pub(super) async fn run<E: Executor>(query: &Query, ex: &mut E) -> Result<Vec<T>> {
        let request = super::cache_request::<T>(query);
        crate::eval::observe::caching(request, Self::run_uncached(query, ex)).await
    }

    /// [`run`](Self::run), whatever `cached()` asked.
    async fn run_uncached<E: Executor>(query: &Query, ex: &mut E) -> Result<Vec<T>> {
        // A related manager's rows (`author.books()`) read for one parent: a lazy load of
        // that relation (one per row of a loop is an N+1; refused under strict loading).
        if let Some(rel) = query.related_of
            && crate::eval::observe::observing()
        {
            use crate::eval::observe;
            observe::lazy_load(rel)?;
            let load = observe::RelationLoad {
                kind: observe::LoadKind::Lazy,
                path: RelPath::ROOT.join(rel),
                read: None,
            };
            return observe::loading(vec![load], Self::run_unlabelled(query, ex)).await;
        }
        Self::run_unlabelled(query, ex).await
    }

    /// [`run`](Self::run) without the related-manager label.
    async fn run_unlabelled<E: Executor>(query: &Query, ex: &mut E) -> Result<Vec<T>> {
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
        src: &mut (dyn crate::eval::executor::RowSource + '_),
        stmt: Statement,
        selected: &[crate::dsl::select_related::SelectNode],
    ) -> Result<Vec<T>> {
        let mut rows = Vec::new();
        let mut each = |row: &dyn crate::schema::row::Row| -> Result<()> {
            let mut v = T::from_row(row, 0)?;
            if !selected.is_empty() {
                v.load_selected(selected, row)?;
            }
            rows.push(v);
            Ok(())
        };
        let loads = crate::eval::observe::selected(selected);
        crate::eval::observe::loading(loads, src.for_each_row(stmt, &mut each)).await?;
        Ok(rows)
    }

    // ---- evaluation ---------------------------------------------------------------

    /// Every row, cached: the first call runs one query, later calls read the cache.
    ///
    /// Concurrent calls on the same queryset run one query between them; a call that is
    /// cancelled (its future dropped) leaves the cache empty.
    #[track_caller]
    pub fn fetch<E: Executor>(&self, mut ex: E) -> impl Future<Output = Result<&[T]>> {
        crate::eval::observe::traced(async move {
            self.check()?;
            let rows = self
                .cache
                .get_or_try_init(|| async { Self::run(&self.query, &mut ex).await })
                .await?;
            Ok(rows.as_slice())
        })
    }

    /// Every row, handed over instead of lent: the queryset is consumed, so a temporary
    /// one works (`let v: Vec<Author> = Author::objects().order_by(…).into_vec(&db).await?`)
    /// on any executor, and the rows are moved out, not copied. One query, or none when the
    /// queryset was already evaluated (its cached rows are handed over).
    ///
    /// ```no_run
    /// # use orm_core::{Model, QuerySet, Executor, Result};
    /// # async fn demo<M: Model, E: Executor>(qs: QuerySet<M>, ex: E) -> Result<()> {
    /// let rows: Vec<M> = qs.into_vec(ex).await?;
    /// # Ok(()) }
    /// ```
    #[track_caller]
    pub fn into_vec<E: Executor>(self, mut ex: E) -> impl Future<Output = Result<Vec<T>>> {
        crate::eval::observe::traced(async move {
            self.check()?;
            let QuerySet { query, cache, .. } = self;
            if let Some(rows) = cache.into_inner() {
                return Ok(rows);
            }
            Self::run(&query, &mut ex).await
        })
    }

    /// This queryset bound to an executor, to be awaited: `qs.using(&mut tx).await` is
    /// [`into_vec`](QuerySet::into_vec) on that executor, as `qs.await` is on the default
    /// database.
    ///
    /// ```no_run
    /// # use orm_core::{Model, QuerySet, Executor, Result};
    /// # async fn demo<M: Model, E: Executor>(qs: QuerySet<M>, ex: E) -> Result<()> {
    /// let rows: Vec<M> = qs.using(ex).await?;
    /// # Ok(()) }
    /// ```
    pub fn using<'e, E: Executor + 'e>(self, ex: E) -> Using<'e, M, T, E> {
        Using {
            qs: self,
            ex,
            _e: PhantomData,
        }
    }

    /// Django's `get(pk=…)`: the row whose primary key is `key`, within this queryset's
    /// filter; [`Error::DoesNotExist`] if there is none. One query.
    #[track_caller]
    pub fn get_pk<E: Executor>(&self, key: M::Pk, ex: E) -> impl Future<Output = Result<T>> {
        crate::eval::observe::traced(async move {
            use crate::schema::value::FieldType as _;
            let pk = key.to_value();
            self.chain_unsliced(SlicedOp::Filter, |q| q.filter_mut().push(pk_eq::<M>(pk)))
                .get(ex)
                .await
        })
    }

    /// The database's plan for this queryset's SELECT (Django's `explain()`), as text:
    /// PostgreSQL's `EXPLAIN`, SQLite's `EXPLAIN QUERY PLAN` (one line per step, indented
    /// by depth), MySQL's `EXPLAIN FORMAT=JSON`. One query; the rows are not read and the
    /// cache is untouched. An empty queryset (`none()`, `is_in([])`) runs no query and
    /// says so. The prefetch queries, which run only after the rows are read,
    /// are not explained.
    #[track_caller]
    pub fn explain<E: Executor>(&self, mut ex: E) -> impl Future<Output = Result<String>> {
        crate::eval::observe::traced(async move {
            self.check()?;
            if self.query.empty {
                // `none()`, or a filter that can match nothing (`is_in([])`): no query would
                // run, so there is no plan to ask for (S17: Q=0).
                return Ok(String::from("(empty queryset: no query is run)"));
            }
            let dialect = ex.dialect();
            let (mut stmt, _) = compiler::select_with_plan(&self.query, dialect)?;
            let prefix = match dialect {
                Dialect::Sqlite => "EXPLAIN QUERY PLAN ",
                Dialect::Postgres => "EXPLAIN ",
                Dialect::Mysql => "EXPLAIN FORMAT=JSON ",
            };
            stmt.sql.insert_str(0, prefix);
            let mut lines: Vec<String> = Vec::new();
            // SQLite's rows: id, parent, unused, detail; depth from the parent chain.
            let mut depth_of: Vec<(i64, usize)> = Vec::new();
            let mut each = |row: &dyn crate::schema::row::Row| -> Result<()> {
                if dialect == Dialect::Sqlite {
                    let (id, parent) = (row.get_i64(0)?, row.get_i64(1)?);
                    let depth = depth_of
                        .iter()
                        .find(|(i, _)| *i == parent)
                        .map_or(0, |(_, d)| d + 1);
                    depth_of.push((id, depth));
                    lines.push(format!("{}{}", "  ".repeat(depth), row.get_string(3)?));
                } else {
                    lines.push(row.get_string(0)?);
                }
                Ok(())
            };
            ex.for_each_row(stmt, &mut each).await?;
            Ok(lines.join("\n"))
        })
    }

    /// The number of rows, by fully evaluating (and caching) the queryset.
    #[track_caller]
    pub fn len<E: Executor>(&self, ex: E) -> impl Future<Output = Result<usize>> {
        crate::eval::observe::traced(async move { Ok(self.fetch(ex).await?.len()) })
    }

    /// Whether there are no rows, by fully evaluating (and caching) the queryset.
    #[track_caller]
    pub fn is_empty<E: Executor>(&self, ex: E) -> impl Future<Output = Result<bool>> {
        crate::eval::observe::traced(async move { Ok(self.fetch(ex).await?.is_empty()) })
    }

    /// `SELECT COUNT(*)`; the cached length if evaluated (even if the table has changed).
    #[track_caller]
    pub fn count<E: Executor>(&self, mut ex: E) -> impl Future<Output = Result<u64>> {
        crate::eval::observe::traced(async move {
            self.check()?;
            if let Some(rows) = self.cache.get() {
                return Ok(rows.len() as u64);
            }
            if self.query.empty {
                return Ok(0);
            }
            let stmt = compiler::count(&self.query, ex.dialect())?;
            let request = super::cache_request::<u64>(&self.query);
            // Called inside the request's frame: the executor looks at it when called.
            let n: Vec<i64> =
                crate::eval::observe::caching(request, async { ex.fetch_all(stmt).await }).await?;
            Ok(n.first().copied().unwrap_or(0).max(0) as u64)
        })
    }

    /// Whether any row matches: `SELECT 1 … LIMIT 1`, or the cache if evaluated.
    #[track_caller]
    pub fn exists<E: Executor>(&self, mut ex: E) -> impl Future<Output = Result<bool>> {
        crate::eval::observe::traced(async move {
            self.check()?;
            if let Some(rows) = self.cache.get() {
                return Ok(!rows.is_empty());
            }
            if self.query.empty {
                return Ok(false);
            }
            let stmt = compiler::exists(&self.query, ex.dialect())?;
            let request = super::cache_request::<bool>(&self.query);
            let rows: Vec<i32> =
                crate::eval::observe::caching(request, async { ex.fetch_all(stmt).await }).await?;
            Ok(!rows.is_empty())
        })
    }

    /// The row at `index` (Django's `qs[i]`): from the cache if evaluated, otherwise
    /// `LIMIT 1 OFFSET index` every call, without filling the cache.
    #[track_caller]
    pub fn get_index<E: Executor>(&self, index: usize, mut ex: E) -> impl Future<Output = Result<T>>
    where
        T: Clone,
    {
        crate::eval::observe::traced(async move {
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
        })
    }

    /// The first row, or `None`. An unordered queryset is ordered by primary key first.
    #[track_caller]
    pub fn first<E: Executor>(&self, ex: E) -> impl Future<Output = Result<Option<T>>>
    where
        T: Clone,
    {
        crate::eval::observe::traced(async move {
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
        })
    }

    /// Ordered by primary key (Django's `order_by("pk")` / `order_by("-pk")`).
    /// Rows grouped by a projection (`values(|b| (b.author, b.id.count()))`) have no key:
    /// they are ordered by the projected fields they are grouped by (ordering by the key
    /// would split the groups, as Django's `first()` does there).
    fn ordered_by_pk(&self, descending: bool) -> Self {
        self.chain_unsliced(SlicedOp::Reorder, |q| {
            let by_projection = match &q.select {
                Select::Terms(terms) if q.is_grouped() && !q.group_by_model => Some(
                    terms
                        .iter()
                        .filter(|t| !t.has_aggregate())
                        .map(|t| OrderTerm {
                            term: t.clone(),
                            descending,
                        })
                        .collect(),
                ),
                _ => None,
            };
            q.order_by = by_projection.unwrap_or_else(|| {
                vec![OrderTerm {
                    term: pk_term::<M>(),
                    descending,
                }]
            });
        })
    }

    /// The last row, or `None`: the ordering reversed (primary key descending if unordered).
    #[track_caller]
    pub fn last<E: Executor>(&self, ex: E) -> impl Future<Output = Result<Option<T>>>
    where
        T: Clone,
    {
        crate::eval::observe::traced(async move {
            self.check()?;
            let qs = if self.is_ordered() {
                self.reverse()
            } else {
                self.ordered_by_pk(true)
            };
            qs.check()?;
            self.one_row(&qs.query, ex).await
        })
    }

    async fn one_row<E: Executor>(&self, query: &Query, mut ex: E) -> Result<Option<T>> {
        let mut q = query.clone();
        q.set_limits(None, Some(1));
        let mut rows = Self::run(&q, &mut ex).await?;
        Ok(rows.pop())
    }

    /// Exactly one row: [`Error::DoesNotExist`] if none matches,
    /// [`Error::MultipleObjectsReturned`] if several do. One query, `LIMIT 21`.
    #[track_caller]
    pub fn get<E: Executor>(&self, mut ex: E) -> impl Future<Output = Result<T>> {
        crate::eval::observe::traced(async move {
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
        })
    }

    /// Stream the rows without touching the cache (it is neither read nor filled): one
    /// query per call, rows decoded as the driver delivers them, so memory stays bounded.
    /// `chunk_size` is how many rows are handled as one batch (prefetching works per
    /// chunk); 0 is an error.
    #[track_caller]
    pub fn iterator<'e, E: Executor + 'e>(
        &self,
        ex: E,
        chunk_size: usize,
    ) -> BoxStream<'e, Result<T>> {
        crate::eval::observe::traced_stream(self.iterator_untraced(ex, chunk_size)).boxed()
    }

    fn iterator_untraced<'e, E: Executor + 'e>(
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
        // Worked out now (the stream may be read under a capture that starts later).
        let loads = crate::eval::observe::select_loads(&selected);
        let nodes = self.query.prefetch.clone();
        if nodes.is_empty() {
            return crate::eval::observe::loading(loads, ex.into_stream::<T>(stmt, selected))
                .boxed();
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
        let rows =
            crate::eval::observe::loading(loads, ex.into_stream::<T>(stmt, selected)).boxed();
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
    nodes: Vec<crate::eval::prefetch::PrefetchNode>,
    chunk_size: usize,
    buffer: std::collections::VecDeque<T>,
    done: bool,
}

/// A queryset bound to an executor ([`QuerySet::using`]): awaiting it runs the queryset
/// there and hands the rows over.
pub struct Using<'e, M: Model, T: FromRow, E> {
    qs: QuerySet<M, T>,
    ex: E,
    _e: PhantomData<&'e ()>,
}

impl<'e, M: Model, T: FromRow, E: Executor + 'e> std::future::IntoFuture for Using<'e, M, T, E> {
    type Output = Result<Vec<T>>;
    type IntoFuture = futures_util::future::BoxFuture<'e, Result<Vec<T>>>;

    #[track_caller]
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(crate::eval::observe::traced(self.qs.into_vec(self.ex)))
    }
}
