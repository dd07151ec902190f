//! `annotate`, `aggregate`, and subqueries as values and conditions (`exists`,
//! `subquery`).

use super::*;
use crate::dsl::aggregate::Aggregates;
use crate::dsl::expr::{AggFunc, Expr};
use crate::dsl::q::SubQuery;

impl<M: Model, T: FromRow> QuerySet<M, T> {
    /// Add values computed per row in SQL (Django's `annotate`): each row reads as
    /// `(row, value)`, or `(row, (v1, v2, …))` for a tuple.
    ///
    /// With an aggregate across a relation, the rows of the model are grouped: `|a|
    /// a.books().count()` is a `LEFT OUTER JOIN` and `GROUP BY` the author, and an author
    /// without books counts 0. After [`values`](QuerySet::values), the rows are grouped by
    /// the projected fields instead (Django's `values("author").annotate(...)`). A
    /// condition on an aggregate in `filter`/`exclude` becomes `HAVING`; `order_by` may
    /// order by one.
    ///
    /// ```text
    /// let top = Author::objects()
    ///     .annotate(|a| a.books().count())
    ///     .filter(|a| a.books().count().gt(2))        // HAVING COUNT(books.id) > 2
    ///     .order_by(|a| a.books().count().desc());
    /// for (author, n) in top.fetch(&db).await? { /* n: &i64 */ }
    /// ```
    ///
    /// (The `orm_sqlx` crate documentation has this example compiled, with its models.)
    ///
    /// A filter across the same relation restricts the rows the aggregate reads, whatever
    /// the order of the calls (`filter(|a| a.books().pages.gt(300))` then `count()` counts
    /// long books; in Django only when the filter comes first). See
    /// [`crate::dsl::aggregate`] for the rule on rows repeated by a second many-valued join.
    pub fn annotate<P: Projection<M>>(
        &self,
        f: impl FnOnce(&M::Fields) -> P,
    ) -> QuerySet<M, (T, P::Output)> {
        let terms = f(&M::fields()).into_terms();
        let mut query = self.query.clone();
        match &mut query.select {
            Select::Model => {
                if terms.iter().any(Term::has_aggregate) {
                    query.group_by_model = true;
                }
                query.annotations.extend(terms);
            }
            Select::Terms(selected) => selected.extend(terms),
        }
        QuerySet {
            query,
            refused: self.refused,
            refused_other: self.refused_other.clone(),
            cache: OnceCell::new(),
            _m: PhantomData,
        }
    }

    /// Compute aggregates over every row of the queryset (Django's `aggregate()`): one
    /// query, always, even if this queryset is evaluated (its cache is neither read nor
    /// filled); none for an empty queryset, whose count is 0 and whose other aggregates
    /// are `None` (or their [`unwrap_or`](crate::dsl::aggregate::Aggregate::unwrap_or)
    /// default).
    ///
    /// ```text
    /// let (n, pages, avg) = Book::objects()
    ///     .filter(|b| b.pages.gt(100))
    ///     .aggregate(|b| (b.id.count(), b.pages.sum(), b.rating.avg()), &db)
    ///     .await?;                     // (i64, Option<i64>, Option<f64>)
    /// ```
    #[track_caller]
    pub fn aggregate<A: Aggregates<M>, E: Executor>(
        &self,
        f: impl FnOnce(&M::Fields) -> A,
        mut ex: E,
    ) -> impl Future<Output = Result<A::Output>> {
        crate::eval::observe::traced(async move {
            let terms = f(&M::fields()).into_terms();
            self.check()?;
            let none;
            let query = if self.query.empty {
                if let Some(v) = empty_aggregates::<A::Output>(&terms) {
                    return v;
                }
                // What the values are over no rows cannot be computed here (arithmetic on
                // aggregates): the database computes them over a query that reads none.
                let mut q = self.query.clone();
                q.empty = false;
                q.filter_mut().push(Cond::Const(false));
                none = q;
                &none
            } else {
                &self.query
            };
            let stmt = compiler::aggregate(query, &terms, ex.dialect())?;
            let request = super::cache_request::<A::Output>(query);
            let row = async { ex.fetch_optional::<A::Output>(stmt).await };
            match crate::eval::observe::caching(request, row).await? {
                Some(v) => Ok(v),
                None => Err(Error::InvalidInput(
                    "the database returned no row for an aggregate query".into(),
                )),
            }
        })
    }
}

/// What aggregates are over no rows, without a query (S17): `COUNT` 0, the others NULL,
/// a default where `unwrap_or` gave one; `None` where that takes the database (arithmetic
/// on aggregates).
fn empty_aggregates<O: FromRow>(terms: &[Term]) -> Option<Result<O>> {
    fn over_nothing(t: &Term) -> Option<Value> {
        match t {
            Term::Aggregate(a) if a.func == AggFunc::Count => Some(Value::I64(0)),
            Term::Aggregate(a) => Some(Value::Null(crate::sql::compiler::aggregate_result_type(a))),
            Term::Coalesce(a, b) => match over_nothing(a)? {
                Value::Null(_) => over_nothing(b),
                v => Some(v),
            },
            Term::Value(v) => Some(v.clone()),
            _ => None,
        }
    }
    let values = terms.iter().map(over_nothing).collect::<Option<Vec<_>>>()?;
    Some(O::from_row(&crate::schema::row::ValuesRow(values), 0))
}

/// `EXISTS (SELECT …)` as a condition (Django's `Exists(queryset)`): whether the
/// queryset has any row. Inside it, [`Field::outer`](crate::Field::outer) reads a column
/// of the row being tested, which makes it correlated (Django's `OuterRef`):
///
/// ```text
/// // Authors with a book over 300 pages, without a join (no repeated rows):
/// Author::objects().filter(|a| exists(
///     Book::objects().filter(|b| b.author.eq(a.id.outer()) & b.pages.gt(300)),
/// ))
/// ```
///
/// An empty queryset (`none()`) makes it always false, and no query runs for it (S17).
pub fn exists<R, M: Model, T: FromRow>(queryset: QuerySet<M, T>) -> Q<R> {
    let (query, refused) = queryset.into_subquery();
    Q::new(Cond::Exists(SubQuery::new(query, refused)).simplify())
}

/// A queryset projecting one value, as a value of each row (Django's `Subquery`): for an
/// annotation, a lookup or an ordering. It must return at most one row per outer row —
/// sliced to one (`order_by(...).slice(..1)`) or one aggregate — else the statement is
/// refused before it runs; no row reads as `None`.
///
/// ```text
/// // The title of each author's longest book:
/// Author::objects().annotate(|a| subquery(
///     Book::objects()
///         .filter(|b| b.author.eq(a.id.outer()))
///         .order_by(|b| b.pages.desc())
///         .values(|b| b.title)
///         .slice(..1),
/// ))                                   // rows: (Author, Option<String>)
/// ```
pub fn subquery<R, M: Model, P>(queryset: QuerySet<M, P>) -> Expr<R, <P as FieldType>::Nullable>
where
    P: FieldType + FromRow,
{
    let (query, refused) = queryset.into_subquery();
    Expr::from_term(Term::Subquery(SubQuery::new(query, refused)))
}
