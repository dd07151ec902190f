//! Aggregates, typed end to end: `a.books().count()`, `b.pages.sum()`, `b.rating.avg()`,
//! `b.pages.min()`, `b.pages.max()`.
//!
//! An aggregate is a value computed over a group of rows. Where it is used decides the
//! group:
//! - [`QuerySet::aggregate`](crate::QuerySet::aggregate): over every row of the
//!   queryset, one result (Django's `aggregate()`);
//! - [`QuerySet::annotate`](crate::QuerySet::annotate): per row of the model (`GROUP BY`
//!   the model), across a relation (`a.books().count()` joins `books`, `LEFT OUTER`, so
//!   an author without books counts 0);
//! - in a projection (`values(|b| (b.author, b.id.count()))`): per distinct value of the
//!   other projected fields (Django's `values("author").annotate(n=Count("id"))`);
//! - in `filter`/`exclude`: a condition on the group (`HAVING`); in `order_by`: the
//!   order of the groups.
//!
//! The result type follows SQL's: `count()` is an `i64` (0 over no rows); `sum`, `avg`,
//! `min` and `max` are `Option`s (`None` over no rows) until
//! [`unwrap_or`](Aggregate::unwrap_or) gives them a default (Django's `Coalesce` /
//! `default=`). A sum of integers is an `i64`, of floats an `f64`, of decimals a
//! `Decimal`; an average of integers or floats is an `f64`, of decimals a `Decimal`.
//!
//! **Rows repeated by joins.** A query that joins two many-valued relations has one row
//! per *pair* of related rows, so an aggregate over either of them sees each value more
//! than once (Django's documented pitfall with `annotate(Count("books"), Count("tags"))`).
//! Here `count()` of related rows counts each related row once (`COUNT(DISTINCT key)`)
//! whenever another many-valued join could repeat it, and `min`/`max` are not affected; a
//! `sum`/`avg` that would be inflated, or a `count()` of a plain field, is refused with
//! [`Error::InvalidInput`](crate::Error::InvalidInput) before any query, instead of
//! returning a wrong number.

use std::marker::PhantomData;

use crate::dsl::expr::{AggFunc, AggregateTerm, Expr, Operand, Term};
use crate::dsl::field::{Field, PathKind, RelationPath};
use crate::dsl::ordering::OrderBy;
use crate::dsl::q::{CmpOp, Cond, Q};
use crate::schema::model::Model;
use crate::schema::row::FromRow;
use crate::schema::value::{FieldType, SqlType};

/// An aggregate over the rows of model `R` (or rows related to them), read as `T`. Made
/// by the aggregate methods of field handles and expressions (`b.pages.sum()`) and by
/// [`RelatedCount::count`] (`a.books().count()`).
///
/// Use it in `annotate`, `aggregate`, `values`, `filter`/`exclude` (a lookup on it is a
/// condition on the group: `HAVING`) and `order_by`.
#[must_use = "an aggregate does nothing until passed to annotate(), aggregate(), values(), filter() or order_by()"]
pub struct Aggregate<R, T> {
    term: AggregateTerm,
    _p: PhantomData<fn() -> (R, T)>,
}

impl<R, T> Clone for Aggregate<R, T> {
    fn clone(&self) -> Self {
        Aggregate {
            term: self.term.clone(),
            _p: PhantomData,
        }
    }
}

impl<R, T> std::fmt::Debug for Aggregate<R, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.term.fmt(f)
    }
}

impl<R, T> Aggregate<R, T> {
    fn new(func: AggFunc, arg: Term, arg_type: SqlType) -> Self {
        Aggregate {
            term: AggregateTerm {
                func,
                arg,
                arg_type,
                distinct: false,
                filter: None,
            },
            _p: PhantomData,
        }
    }

    /// The untyped term.
    pub fn into_term(self) -> Term {
        Term::Aggregate(Box::new(self.term))
    }

    /// As an expression (for arithmetic: `a.books().count() * 2`).
    pub fn expr(self) -> Expr<R, T> {
        Expr::from_term(self.into_term())
    }

    /// Aggregate only the rows where `q` holds (Django's `filter=`): a conditional
    /// aggregate, `a.books().count().filter(a.books().pages.gt(300))`. Rows where it does
    /// not hold still belong to the group (an author without long books counts 0);
    /// filtering the queryset instead would drop them.
    pub fn filter(mut self, q: Q<R>) -> Self {
        self.term.filter = Some(match self.term.filter.take() {
            Some(prev) => Cond::And(vec![prev, q.cond]).simplify(),
            None => q.cond,
        });
        self
    }

    /// Aggregate each distinct value once (`COUNT(DISTINCT …)`, Django's
    /// `distinct=True`).
    pub fn distinct(mut self) -> Self {
        self.term.distinct = true;
        self
    }
}

impl<R, T: FieldType> Aggregate<R, T> {
    fn compare(self, op: CmpOp, rhs: impl Operand<R, T>) -> Q<R> {
        Q::new(Cond::Compare {
            lhs: self.into_term(),
            op,
            rhs: rhs.into_term(),
        })
    }

    /// `= rhs`: a condition on the group (`HAVING`).
    pub fn eq(self, rhs: impl Operand<R, T>) -> Q<R> {
        self.compare(CmpOp::Eq, rhs)
    }
    /// `> rhs`: a condition on the group (`HAVING`).
    pub fn gt(self, rhs: impl Operand<R, T>) -> Q<R> {
        self.compare(CmpOp::Gt, rhs)
    }
    /// `>= rhs`: a condition on the group (`HAVING`).
    pub fn gte(self, rhs: impl Operand<R, T>) -> Q<R> {
        self.compare(CmpOp::Gte, rhs)
    }
    /// `< rhs`: a condition on the group (`HAVING`).
    pub fn lt(self, rhs: impl Operand<R, T>) -> Q<R> {
        self.compare(CmpOp::Lt, rhs)
    }
    /// `<= rhs`: a condition on the group (`HAVING`).
    pub fn lte(self, rhs: impl Operand<R, T>) -> Q<R> {
        self.compare(CmpOp::Lte, rhs)
    }
    /// `BETWEEN low AND high`: a condition on the group (`HAVING`).
    pub fn range(self, low: impl Operand<R, T>, high: impl Operand<R, T>) -> Q<R> {
        Q::new(Cond::Between {
            lhs: self.into_term(),
            low: low.into_term(),
            high: high.into_term(),
        })
    }
    /// `IS NULL` (`true`) or `IS NOT NULL`: a `sum`/`avg`/`min`/`max` over no rows is NULL.
    pub fn is_null(self, is_null: bool) -> Q<R> {
        Q::new(Cond::IsNull {
            lhs: self.into_term(),
            is_null,
        })
    }
    /// Ascending order of the groups by this aggregate.
    pub fn asc(self) -> OrderBy<R> {
        OrderBy::new(self.into_term(), false)
    }
    /// Descending order of the groups by this aggregate.
    pub fn desc(self) -> OrderBy<R> {
        OrderBy::new(self.into_term(), true)
    }
}

impl<R, T: FieldType<Nullable = T>> Aggregate<R, T> {
    /// This aggregate, or `default` where it is NULL (over no rows): Django's
    /// `Coalesce(Sum("pages"), 0)` or `Sum("pages", default=0)`. Reads as the
    /// non-`Option` type.
    pub fn unwrap_or(self, default: impl Operand<R, T::Base>) -> Expr<R, T::Base> {
        Expr::from_term(Term::Coalesce(
            Box::new(self.into_term()),
            Box::new(default.into_term()),
        ))
    }
}

/// Field types whose values can be summed; `Sum` is the sum's type.
#[diagnostic::on_unimplemented(
    message = "`sum()` adds numbers, and this field holds `{Self}`",
    label = "not a numeric field",
    note = "sum integer, float or decimal fields; count any field with `count()`"
)]
pub trait Summable: FieldType {
    /// `i64` for integers, `f64` for floats, `Decimal` for decimals.
    type Sum: FieldType;
}

/// Field types whose values can be averaged; `Avg` is the average's type.
#[diagnostic::on_unimplemented(
    message = "`avg()` averages numbers, and this field holds `{Self}`",
    label = "not a numeric field",
    note = "average integer, float or decimal fields"
)]
pub trait Averageable: FieldType {
    /// `f64` for integers and floats, `Decimal` for decimals.
    type Avg: FieldType;
}

/// Field types with an order every backend agrees on, for `min()` and `max()`.
#[diagnostic::on_unimplemented(
    message = "`min()`/`max()` need a field with an order, and this field holds `{Self}`",
    label = "no order that every backend shares",
    note = "numbers, text, dates and times have one; booleans, bytes, UUIDs, JSON and keys do not"
)]
pub trait Ordered: FieldType {}

macro_rules! numeric_aggregates {
    ($($t:ty => $sum:ty, $avg:ty);* $(;)?) => { $(
        impl Summable for $t { type Sum = $sum; }
        impl Averageable for $t { type Avg = $avg; }
        impl Ordered for $t {}
    )* };
}
numeric_aggregates! {
    i16 => i64, f64;
    i32 => i64, f64;
    i64 => i64, f64;
    f32 => f64, f64;
    f64 => f64, f64;
}
#[cfg(feature = "decimal")]
numeric_aggregates! { rust_decimal::Decimal => rust_decimal::Decimal, rust_decimal::Decimal; }
impl Ordered for String {}
#[cfg(feature = "chrono")]
impl Ordered for chrono::NaiveDate {}
#[cfg(feature = "chrono")]
impl Ordered for chrono::NaiveTime {}
#[cfg(feature = "chrono")]
impl Ordered for chrono::NaiveDateTime {}
#[cfg(feature = "chrono")]
impl Ordered for chrono::DateTime<chrono::Utc> {}

/// The aggregate methods, shared by field handles and expressions (both name their
/// value type `T`; `self.agg_arg()` is the term aggregated).
macro_rules! aggregate_methods {
    () => {
        /// `COUNT(x)`: how many rows have a value here (not NULL); 0 over no rows.
        pub fn count(&self) -> Aggregate<R, i64> {
            Aggregate::new(AggFunc::Count, self.agg_arg(), T::SQL_TYPE)
        }

        /// `COUNT(DISTINCT x)`: how many different values (NULL aside).
        pub fn count_distinct(&self) -> Aggregate<R, i64> {
            self.count().distinct()
        }

        /// `SUM(x)`: `None` over no rows.
        pub fn sum<B>(&self) -> Aggregate<R, <<B as Summable>::Sum as FieldType>::Nullable>
        where
            T: FieldType<Base = B>,
            B: Summable,
        {
            Aggregate::new(AggFunc::Sum, self.agg_arg(), T::SQL_TYPE)
        }

        /// `AVG(x)`: `None` over no rows.
        pub fn avg<B>(&self) -> Aggregate<R, <<B as Averageable>::Avg as FieldType>::Nullable>
        where
            T: FieldType<Base = B>,
            B: Averageable,
        {
            Aggregate::new(AggFunc::Avg, self.agg_arg(), T::SQL_TYPE)
        }

        /// `MIN(x)`: the least value, `None` over no rows (or where every value is NULL).
        pub fn min<B>(&self) -> Aggregate<R, <B as FieldType>::Nullable>
        where
            T: FieldType<Base = B>,
            B: Ordered,
        {
            Aggregate::new(AggFunc::Min, self.agg_arg(), T::SQL_TYPE)
        }

        /// `MAX(x)`: the greatest value, `None` over no rows (or where every value is NULL).
        pub fn max<B>(&self) -> Aggregate<R, <B as FieldType>::Nullable>
        where
            T: FieldType<Base = B>,
            B: Ordered,
        {
            Aggregate::new(AggFunc::Max, self.agg_arg(), T::SQL_TYPE)
        }
    };
}

/// Aggregates of a field: `b.pages.sum()`, `a.books().pages.avg()`, `b.title.min()`.
impl<R, T: FieldType, K: PathKind> Field<R, T, K> {
    aggregate_methods!();

    fn agg_arg(&self) -> Term {
        Term::Column(self.column_ref())
    }
}

/// Aggregates of an expression: `(b.pages * 2).sum()`.
impl<R, T: FieldType> Expr<R, T> {
    aggregate_methods!();

    fn agg_arg(&self) -> Term {
        self.term.clone()
    }
}

/// A column of the enclosing query, for a subquery (Django's `OuterRef`).
impl<R: Model, T: FieldType, K: PathKind> Field<R, T, K> {
    /// This column of the row the enclosing query is testing, read inside a subquery
    /// ([`exists`](crate::queryset::exists), [`subquery`](crate::queryset::subquery)):
    /// `Book::objects().filter(|b| b.author.eq(a.id.outer()))` inside a filter of
    /// `Author::objects()`. The queryset model it belongs to is checked when the statement
    /// is compiled; outside a subquery it is refused.
    pub fn outer<X>(&self) -> Expr<X, crate::dsl::field::Reached<T, K>> {
        Expr::from_term(Term::Outer(crate::dsl::expr::OuterColumn {
            column: self.column_ref(),
            model: R::META.name,
        }))
    }
}

/// `count()` on a relation: how many related rows (`a.books().count()`, Django's
/// `Count("books")`), 0 for a row with none. On the queryset's own handles
/// (`aggregate(|a| a.count())`) it counts the rows.
pub trait RelatedCount: RelationPath {
    /// `COUNT(related.pk)`: the number of related rows; counted DISTINCT where another
    /// many-valued join in the same query would repeat them.
    fn count(&self) -> Aggregate<Self::Root, i64>;
}

impl<P: RelationPath> RelatedCount for P
where
    P::Target: Model,
{
    fn count(&self) -> Aggregate<Self::Root, i64> {
        let pk = <P::Target as Model>::META.pk_column();
        Aggregate::new(
            AggFunc::Count,
            Term::Column(crate::dsl::expr::ColumnRef {
                path: self.rel_path(),
                column: pk.column,
                nullable: !self.rel_path().is_root(),
            }),
            pk.sql_type,
        )
    }
}

/// What [`QuerySet::aggregate`](crate::QuerySet::aggregate) takes: one aggregate (or an
/// expression of aggregates) or a tuple of them; `Output` is what the query returns.
#[diagnostic::on_unimplemented(
    message = "`aggregate()` takes aggregates of `{R}`, and this is `{Self}`",
    label = "expected an aggregate or a tuple of aggregates",
    note = "write `|b| (b.pages.sum(), b.pages.avg())` or `|a| a.books().count()`; to read fields, use `values()`"
)]
pub trait Aggregates<R> {
    type Output: FromRow;
    fn into_terms(self) -> Vec<Term>;
}

/// One element of an [`Aggregates`] tuple.
#[diagnostic::on_unimplemented(
    message = "`aggregate()` takes aggregates of `{R}`, and this is `{Self}`",
    label = "expected an aggregate such as `b.pages.sum()` or `a.books().count()`"
)]
pub trait AggregateItem<R> {
    type Output: FromRow;
    fn into_term(self) -> Term;
}

impl<R, T: FieldType> AggregateItem<R> for Aggregate<R, T> {
    type Output = T::Projected;
    fn into_term(self) -> Term {
        Aggregate::into_term(self)
    }
}

impl<R, T: FieldType> AggregateItem<R> for Expr<R, T> {
    type Output = T::Projected;
    fn into_term(self) -> Term {
        self.term
    }
}

impl<R, T: FieldType> Aggregates<R> for Aggregate<R, T> {
    type Output = T::Projected;
    fn into_terms(self) -> Vec<Term> {
        vec![self.into_term()]
    }
}

impl<R, T: FieldType> Aggregates<R> for Expr<R, T> {
    type Output = T::Projected;
    fn into_terms(self) -> Vec<Term> {
        vec![self.term]
    }
}

macro_rules! tuple_aggregates {
    ($($n:ident $t:ident),+) => {
        impl<R, $($t: AggregateItem<R>),+> Aggregates<R> for ($($t,)+) {
            type Output = ($($t::Output,)+);
            #[allow(non_snake_case)]
            fn into_terms(self) -> Vec<Term> {
                let ($($n,)+) = self;
                vec![$($n.into_term()),+]
            }
        }
    };
}
tuple_aggregates!(a A);
tuple_aggregates!(a A, b B);
tuple_aggregates!(a A, b B, c C);
tuple_aggregates!(a A, b B, c C, d D);
tuple_aggregates!(a A, b B, c C, d D, e E);
tuple_aggregates!(a A, b B, c C, d D, e E, f F);
tuple_aggregates!(a A, b B, c C, d D, e E, f F, g G);
tuple_aggregates!(a A, b B, c C, d D, e E, f F, g G, h H);
