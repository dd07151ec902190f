//! Expressions: column references (Django's `F()`), bound values and arithmetic.

use std::marker::PhantomData;
use std::ops::{Add, Div, Mul, Sub};

use crate::dsl::field::{Field, PathKind, Reached};
pub use crate::schema::relation::RelationMeta;
use crate::schema::value::{FieldType, IntoValue, Numeric, SqlType, Value};

/// The most relation hops one column reference can span (`a().b().c()…`).
pub const MAX_PATH_DEPTH: usize = 6;

/// The chain of relation hops from the queryset's model to a column's model. `Copy`, so
/// field handles are `Copy` and read naturally in closures (`b.pages * 2`).
#[derive(Clone, Copy)]
pub struct RelPath {
    hops: [Option<&'static RelationMeta>; MAX_PATH_DEPTH],
    len: u8,
    overflowed: bool,
}

impl RelPath {
    /// The queryset's own model.
    pub const ROOT: RelPath = RelPath {
        hops: [None; MAX_PATH_DEPTH],
        len: 0,
        overflowed: false,
    };

    pub fn is_root(&self) -> bool {
        self.len == 0
    }

    /// This path followed by one more hop. A path past [`MAX_PATH_DEPTH`] is remembered as
    /// overflowed and refused when the query is compiled (no panic here).
    pub const fn join(mut self, hop: &'static RelationMeta) -> RelPath {
        if (self.len as usize) < MAX_PATH_DEPTH {
            self.hops[self.len as usize] = Some(hop);
            self.len += 1;
        } else {
            self.overflowed = true;
        }
        self
    }

    pub fn hops(&self) -> impl Iterator<Item = &'static RelationMeta> + '_ {
        self.hops[..self.len as usize].iter().flatten().copied()
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the path has no hop (the queryset's own model); same as [`is_root`](Self::is_root).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first `n` hops.
    pub fn prefix(&self, n: usize) -> RelPath {
        let mut p = RelPath::ROOT;
        for hop in self.hops().take(n) {
            p = p.join(hop);
        }
        p
    }

    /// The hops after the first `n`.
    pub fn suffix(&self, n: usize) -> RelPath {
        let mut p = RelPath::ROOT;
        for hop in self.hops().skip(n) {
            p = p.join(hop);
        }
        p.overflowed = self.overflowed;
        p
    }

    /// The last hop, if any.
    pub fn last(&self) -> Option<&'static RelationMeta> {
        self.hops().last()
    }

    pub fn overflowed(&self) -> bool {
        self.overflowed
    }
}

impl std::fmt::Debug for RelPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.hops().map(|h| h.name).collect();
        write!(f, "{}", names.join("__"))
    }
}

impl PartialEq for RelPath {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len
            && self.overflowed == other.overflowed
            && self
                .hops()
                .zip(other.hops())
                .all(|(a, b)| std::ptr::eq(a, b))
    }
}

/// A column of the queryset's model or of a related one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ColumnRef {
    pub path: RelPath,
    pub column: &'static str,
    pub nullable: bool,
}

/// Arithmetic operators in expressions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl ArithOp {
    pub fn sql(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
        }
    }
}

/// An untyped SQL expression: what typed handles and expressions compile down to.
#[derive(Clone, Debug, PartialEq)]
pub enum Term {
    Column(ColumnRef),
    /// A column of a table joined by name (a many-to-many join table), not through a path.
    TableColumn {
        table: &'static str,
        column: &'static str,
    },
    Value(Value),
    /// `lhs op rhs`, computed in `SqlType` (the field's type: both sides have it). The type
    /// decides where the result overflows (`i16`, `i32` and `i64` each at their own range,
    /// as PostgreSQL's `int2`/`int4`/`int8` do) and, on SQLite, which checked function
    /// computes it.
    Arith(Box<Term>, ArithOp, Box<Term>, SqlType),
    /// An aggregate over the rows of a group (`COUNT`, `SUM`, …): see
    /// [`crate::dsl::aggregate`].
    Aggregate(Box<AggregateTerm>),
    /// `COALESCE(a, b)`: `a`, or `b` where `a` is NULL.
    Coalesce(Box<Term>, Box<Term>),
    /// `(SELECT …)`: a queryset projecting one column, read as one value per row.
    Subquery(crate::dsl::q::SubQuery),
    /// A column of the enclosing query, read inside a subquery (Django's `OuterRef`).
    Outer(OuterColumn),
}

/// A column of the query that encloses a subquery: `model` is the enclosing queryset's
/// model, checked when the statement is compiled.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OuterColumn {
    pub column: ColumnRef,
    pub model: &'static str,
}

/// Aggregate functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggFunc {
    Count,
    Sum,
    Avg,
    Min,
    Max,
}

impl AggFunc {
    pub fn name(self) -> &'static str {
        match self {
            AggFunc::Count => "count",
            AggFunc::Sum => "sum",
            AggFunc::Avg => "avg",
            AggFunc::Min => "min",
            AggFunc::Max => "max",
        }
    }
}

/// One aggregate: `func([DISTINCT] arg)`, over the rows where `filter` holds if it is
/// set (Django's `Count("books", filter=Q(...))`).
#[derive(Clone, Debug, PartialEq)]
pub struct AggregateTerm {
    pub func: AggFunc,
    pub arg: Term,
    /// The type of `arg` (what decides the SQL of `SUM`/`AVG` and their casts).
    pub arg_type: SqlType,
    pub distinct: bool,
    pub filter: Option<crate::dsl::q::Cond>,
}

impl Term {
    /// Every column reference in this term, outside aggregates (which join on their own,
    /// see [`Term::aggregates`]) and subqueries (whose references to this query are
    /// [`Term::outer_columns`]).
    pub fn columns(&self, out: &mut Vec<ColumnRef>) {
        match self {
            Term::Column(c) => out.push(*c),
            Term::Value(_)
            | Term::TableColumn { .. }
            | Term::Aggregate(_)
            | Term::Subquery(_)
            | Term::Outer(_) => {}
            Term::Arith(a, _, b, _) | Term::Coalesce(a, b) => {
                a.columns(out);
                b.columns(out);
            }
        }
    }

    /// Every aggregate in this term (not inside a subquery).
    pub fn aggregates<'t>(&'t self, out: &mut Vec<&'t AggregateTerm>) {
        match self {
            Term::Aggregate(a) => out.push(a),
            Term::Arith(a, _, b, _) | Term::Coalesce(a, b) => {
                a.aggregates(out);
                b.aggregates(out);
            }
            Term::Column(_)
            | Term::Value(_)
            | Term::TableColumn { .. }
            | Term::Subquery(_)
            | Term::Outer(_) => {}
        }
    }

    /// Whether this term holds an aggregate (outside subqueries). Allocates nothing: every
    /// query compiled asks it of every term.
    pub fn has_aggregate(&self) -> bool {
        match self {
            Term::Aggregate(_) => true,
            Term::Arith(a, _, b, _) | Term::Coalesce(a, b) => {
                a.has_aggregate() || b.has_aggregate()
            }
            Term::Column(_)
            | Term::Value(_)
            | Term::TableColumn { .. }
            | Term::Subquery(_)
            | Term::Outer(_) => false,
        }
    }

    /// Whether this term holds an aggregate or a subquery, whose joins are registered
    /// apart from its own columns (see the compiler's `register_nested`).
    pub fn has_nested(&self) -> bool {
        match self {
            Term::Aggregate(_) | Term::Subquery(_) => true,
            Term::Arith(a, _, b, _) | Term::Coalesce(a, b) => a.has_nested() || b.has_nested(),
            Term::Column(_) | Term::Value(_) | Term::TableColumn { .. } | Term::Outer(_) => false,
        }
    }

    /// The subqueries this term holds (not nested ones).
    pub fn subqueries<'t>(&'t self, out: &mut Vec<&'t crate::dsl::q::SubQuery>) {
        match self {
            Term::Subquery(s) => out.push(s),
            Term::Arith(a, _, b, _) | Term::Coalesce(a, b) => {
                a.subqueries(out);
                b.subqueries(out);
            }
            Term::Aggregate(a) => {
                a.arg.subqueries(out);
                if let Some(f) = &a.filter {
                    f.each_term(&mut |t| t.subqueries(out));
                }
            }
            Term::Column(_) | Term::Value(_) | Term::TableColumn { .. } | Term::Outer(_) => {}
        }
    }

    /// The columns of the enclosing query that this term reads from inside a subquery.
    pub fn outer_columns(&self, out: &mut Vec<OuterColumn>) {
        match self {
            Term::Outer(c) => out.push(*c),
            Term::Arith(a, _, b, _) | Term::Coalesce(a, b) => {
                a.outer_columns(out);
                b.outer_columns(out);
            }
            Term::Aggregate(a) => {
                a.arg.outer_columns(out);
                if let Some(f) = &a.filter {
                    f.each_term(&mut |t| t.outer_columns(out));
                }
            }
            // A subquery nested in a subquery reads its own enclosing query.
            Term::Subquery(_) | Term::Column(_) | Term::Value(_) | Term::TableColumn { .. } => {}
        }
    }
}

/// A typed expression over the queryset's model `R`, producing a `T`: Django's
/// `F("pages") * 2`. Built from field handles with `+ - * /`.
pub struct Expr<R, T> {
    pub(crate) term: Term,
    _p: PhantomData<fn() -> (R, T)>,
}

impl<R, T> Clone for Expr<R, T> {
    fn clone(&self) -> Self {
        Expr::from_term(self.term.clone())
    }
}

impl<R, T> std::fmt::Debug for Expr<R, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.term.fmt(f)
    }
}

impl<R, T> Expr<R, T> {
    pub(crate) fn from_term(term: Term) -> Self {
        Expr {
            term,
            _p: PhantomData,
        }
    }
    pub fn term(&self) -> &Term {
        &self.term
    }
}

impl<R, T: FieldType> Expr<R, T> {
    fn compare(self, op: crate::dsl::q::CmpOp, rhs: impl Operand<R, T>) -> crate::dsl::q::Q<R> {
        crate::dsl::q::Q::new(crate::dsl::q::Cond::Compare {
            lhs: self.term,
            op,
            rhs: rhs.into_term(),
        })
    }

    /// `= rhs`. On an expression of aggregates, a condition on the group (`HAVING`).
    pub fn eq(self, rhs: impl Operand<R, T>) -> crate::dsl::q::Q<R> {
        self.compare(crate::dsl::q::CmpOp::Eq, rhs)
    }
    /// `> rhs`.
    pub fn gt(self, rhs: impl Operand<R, T>) -> crate::dsl::q::Q<R> {
        self.compare(crate::dsl::q::CmpOp::Gt, rhs)
    }
    /// `>= rhs`.
    pub fn gte(self, rhs: impl Operand<R, T>) -> crate::dsl::q::Q<R> {
        self.compare(crate::dsl::q::CmpOp::Gte, rhs)
    }
    /// `< rhs`.
    pub fn lt(self, rhs: impl Operand<R, T>) -> crate::dsl::q::Q<R> {
        self.compare(crate::dsl::q::CmpOp::Lt, rhs)
    }
    /// `<= rhs`.
    pub fn lte(self, rhs: impl Operand<R, T>) -> crate::dsl::q::Q<R> {
        self.compare(crate::dsl::q::CmpOp::Lte, rhs)
    }
    /// `IS NULL` (`true`) or `IS NOT NULL`.
    pub fn is_null(self, is_null: bool) -> crate::dsl::q::Q<R> {
        crate::dsl::q::Q::new(crate::dsl::q::Cond::IsNull {
            lhs: self.term,
            is_null,
        })
    }
    /// Ascending order by this expression.
    pub fn asc(self) -> crate::dsl::ordering::OrderBy<R> {
        crate::dsl::ordering::OrderBy::new(self.term, false)
    }
    /// Descending order by this expression.
    pub fn desc(self) -> crate::dsl::ordering::OrderBy<R> {
        crate::dsl::ordering::OrderBy::new(self.term, true)
    }
}

impl<R, T: FieldType<Nullable = T>> Expr<R, T> {
    /// This value, or `default` where it is NULL (`COALESCE`, Django's `Coalesce`).
    pub fn unwrap_or(self, default: impl Operand<R, T::Base>) -> Expr<R, T::Base> {
        Expr::from_term(Term::Coalesce(
            Box::new(self.term),
            Box::new(default.into_term()),
        ))
    }
}

/// Anything that can stand on the right-hand side of a lookup or an assignment on a field
/// of type `T` in a query over `R`: a plain value, another field, or an expression.
#[diagnostic::on_unimplemented(
    message = "a `{Self}` cannot be compared with or stored in a field of type `{T}`",
    label = "expected a value of type `{T}`",
    note = "pass a `{T}` value, another field of the same type, or an expression built from one"
)]
pub trait Operand<R, T> {
    fn into_term(self) -> Term;
}

macro_rules! value_operand {
    ($($t:ty),* $(,)?) => { $(
        #[diagnostic::do_not_recommend]
        impl<R, T> Operand<R, T> for $t where $t: IntoValue<T> {
            fn into_term(self) -> Term {
                Term::Value(self.into_value())
            }
        }
        #[diagnostic::do_not_recommend]
        impl<R, T> Operand<R, T> for Option<$t> where Option<$t>: IntoValue<T> {
            fn into_term(self) -> Term {
                Term::Value(self.into_value())
            }
        }
    )* };
}
value_operand!(bool, i16, i32, i64, f32, f64, String, Vec<u8>);

/// `Option<Status>` for a nullable `#[derive(Choices)]` field (the enum's own impl is
/// generated). Its field type is named, as for `Option<ForeignKey<T>>`, so that `None`
/// compared with or stored in another field still infers its type.
#[diagnostic::do_not_recommend]
impl<R, C: crate::schema::choice::Choice> Operand<R, Option<C>> for Option<C> {
    fn into_term(self) -> Term {
        Term::Value(self.into_value())
    }
}

#[diagnostic::do_not_recommend]
impl<'s, R, T> Operand<R, T> for &'s str
where
    &'s str: IntoValue<T>,
{
    fn into_term(self) -> Term {
        Term::Value(self.into_value())
    }
}

#[cfg(feature = "chrono")]
value_operand!(
    chrono::NaiveDate,
    chrono::NaiveTime,
    chrono::NaiveDateTime,
    chrono::DateTime<chrono::Utc>
);
#[cfg(feature = "uuid")]
value_operand!(uuid::Uuid);
#[cfg(feature = "decimal")]
value_operand!(rust_decimal::Decimal);
#[cfg(feature = "json")]
value_operand!(serde_json::Value);

/// A model instance stands for its primary key: `b.author.eq(&alice)`.
#[diagnostic::do_not_recommend]
impl<'m, R, T, M: crate::schema::model::Model> Operand<R, T> for &'m M
where
    &'m M: IntoValue<T>,
{
    fn into_term(self) -> Term {
        Term::Value(self.into_value())
    }
}

#[diagnostic::do_not_recommend]
impl<'s, R, T> Operand<R, T> for &'s String
where
    &'s String: IntoValue<T>,
{
    fn into_term(self) -> Term {
        Term::Value(self.into_value())
    }
}
#[diagnostic::do_not_recommend]
impl<'s, R, T> Operand<R, T> for &'s [u8]
where
    &'s [u8]: IntoValue<T>,
{
    fn into_term(self) -> Term {
        Term::Value(self.into_value())
    }
}

#[diagnostic::do_not_recommend]
impl<R, T: FieldType, U: FieldType<Base = T::Base>, K: PathKind> Operand<R, T> for Field<R, U, K> {
    fn into_term(self) -> Term {
        Term::Column(self.column_ref())
    }
}

#[diagnostic::do_not_recommend]
impl<R, T: FieldType, U: FieldType<Base = T::Base>> Operand<R, T> for Expr<R, U> {
    fn into_term(self) -> Term {
        self.term
    }
}

macro_rules! arith {
    ($tr:ident, $m:ident, $op:ident) => {
        impl<R, T: FieldType, K: PathKind, V: Operand<R, Reached<T, K>>> $tr<V> for Field<R, T, K>
        where
            Reached<T, K>: Numeric,
        {
            type Output = Expr<R, Reached<T, K>>;
            fn $m(self, rhs: V) -> Expr<R, Reached<T, K>> {
                Expr::from_term(Term::Arith(
                    Box::new(Term::Column(self.column_ref())),
                    ArithOp::$op,
                    Box::new(rhs.into_term()),
                    T::SQL_TYPE,
                ))
            }
        }
        impl<R, T: Numeric, V: Operand<R, T>> $tr<V> for Expr<R, T> {
            type Output = Expr<R, T>;
            fn $m(self, rhs: V) -> Expr<R, T> {
                Expr::from_term(Term::Arith(
                    Box::new(self.term),
                    ArithOp::$op,
                    Box::new(rhs.into_term()),
                    T::SQL_TYPE,
                ))
            }
        }
    };
}
arith!(Add, add, Add);
arith!(Sub, sub, Sub);
arith!(Mul, mul, Mul);
arith!(Div, div, Div);
