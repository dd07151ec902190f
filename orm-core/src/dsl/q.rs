//! Conditions (Django's `Q` objects): lookups combined with `&`, `|` and `!`.

use std::marker::PhantomData;
use std::ops::{BitAnd, BitOr, Not};

use crate::dsl::expr::Term;
use crate::schema::value::Value;

/// Comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Gt,
    Gte,
    Lt,
    Lte,
}

/// Where a LIKE pattern is anchored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LikeKind {
    /// The whole value (`iexact`).
    Exact,
    Contains,
    StartsWith,
    EndsWith,
}

/// A condition tree. Built through typed field handles; compiled per dialect.
#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    Compare {
        lhs: Term,
        op: CmpOp,
        rhs: Term,
    },
    IsNull {
        lhs: Term,
        is_null: bool,
    },
    Like {
        lhs: Term,
        kind: LikeKind,
        case_insensitive: bool,
        /// The raw text the user gave; escaped when compiled.
        value: String,
    },
    In {
        lhs: Term,
        values: Vec<Value>,
    },
    Between {
        lhs: Term,
        low: Term,
        high: Term,
    },
    Regex {
        lhs: Term,
        pattern: String,
        case_insensitive: bool,
    },
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    /// Always true or always false: `is_in([])` is `Const(false)`; such queries never run.
    Const(bool),
    /// `lhs IN (SELECT …)`: a projected queryset as the right-hand side of `is_in`.
    InQuery {
        lhs: Term,
        sub: SubQuery,
    },
    /// `EXISTS (SELECT …)`: whether a queryset (usually reading columns of this row
    /// through [`outer`](crate::dsl::field::Field::outer)) has any row.
    Exists(SubQuery),
}

/// The queryset of an `is_in(queryset)`, kept whole until the outer query is compiled
/// (the dialect is known only then). Two are equal only if they are the same one.
#[derive(Clone, Debug)]
pub struct SubQuery {
    query: std::sync::Arc<crate::dsl::query::Query>,
    /// A misuse recorded on the queryset (a filter after a slice…), raised when the
    /// outer query is compiled, so that the subquery never runs without it.
    refused: Option<String>,
}

impl SubQuery {
    pub(crate) fn new(query: crate::dsl::query::Query, refused: Option<String>) -> Self {
        SubQuery {
            query: std::sync::Arc::new(query),
            refused,
        }
    }

    /// The query, or the misuse that makes it unusable.
    pub fn query(&self) -> crate::error::Result<&crate::dsl::query::Query> {
        match &self.refused {
            Some(msg) => Err(crate::error::Error::InvalidInput(msg.clone())),
            None => Ok(&self.query),
        }
    }
}

impl PartialEq for SubQuery {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.query, &other.query) && self.refused == other.refused
    }
}

impl Cond {
    /// Fold constants so that an always-false condition is seen before any query (S17).
    pub fn simplify(self) -> Cond {
        match self {
            Cond::And(parts) => {
                let mut out = Vec::with_capacity(parts.len());
                for p in parts {
                    match p.simplify() {
                        Cond::Const(true) => {}
                        Cond::Const(false) => return Cond::Const(false),
                        Cond::And(inner) => out.extend(inner),
                        other => out.push(other),
                    }
                }
                match out.len() {
                    0 => Cond::Const(true),
                    1 => out.pop().expect("one element"),
                    _ => Cond::And(out),
                }
            }
            Cond::Or(parts) => {
                let mut out = Vec::with_capacity(parts.len());
                for p in parts {
                    match p.simplify() {
                        Cond::Const(false) => {}
                        Cond::Const(true) => return Cond::Const(true),
                        Cond::Or(inner) => out.extend(inner),
                        other => out.push(other),
                    }
                }
                match out.len() {
                    0 => Cond::Const(false),
                    1 => out.pop().expect("one element"),
                    _ => Cond::Or(out),
                }
            }
            // Two NOTs stay two NOTs here: `exclude(|a| !x)` across a many-valued relation
            // is Django's subquery (`EXISTS`, no repeated rows), not the plain lookup's
            // join. (A `Q`'s own `!!x` is folded where it is written: see `Not for Q`.)
            Cond::Not(inner) => match inner.simplify() {
                Cond::Const(b) => Cond::Const(!b),
                other => Cond::Not(Box::new(other)),
            },
            // Django drops None from `in` lists (NULL equals nothing); an empty list matches
            // nothing and never reaches the database.
            Cond::In { lhs, values } => {
                let values: Vec<_> = values.into_iter().filter(|v| !v.is_null()).collect();
                if values.is_empty() {
                    Cond::Const(false)
                } else {
                    Cond::In { lhs, values }
                }
            }
            // An empty queryset (`none()`, `is_in([])` inside it) matches nothing.
            Cond::InQuery { sub, .. } if sub.refused.is_none() && sub.query.empty => {
                Cond::Const(false)
            }
            Cond::Exists(sub) if sub.refused.is_none() && sub.query.empty => Cond::Const(false),
            other => other,
        }
    }

    /// Call `f` on every term of every lookup in this condition (the operands of its
    /// leaves; not inside subqueries).
    pub fn each_term<'c>(&'c self, f: &mut impl FnMut(&'c Term)) {
        match self {
            Cond::Compare { lhs, rhs, .. } => {
                f(lhs);
                f(rhs);
            }
            Cond::Between { lhs, low, high } => {
                f(lhs);
                f(low);
                f(high);
            }
            Cond::In { lhs, .. }
            | Cond::InQuery { lhs, .. }
            | Cond::Like { lhs, .. }
            | Cond::Regex { lhs, .. }
            | Cond::IsNull { lhs, .. } => f(lhs),
            Cond::And(parts) | Cond::Or(parts) => {
                for p in parts {
                    p.each_term(f);
                }
            }
            Cond::Not(inner) => inner.each_term(f),
            Cond::Const(_) | Cond::Exists(_) => {}
        }
    }

    /// Whether this condition reads an aggregate (it belongs in HAVING).
    pub fn has_aggregate(&self) -> bool {
        let mut found = false;
        self.each_term(&mut |t| found |= t.has_aggregate());
        found
    }

    /// The subqueries this condition holds (`is_in(queryset)`, `exists`, scalar ones).
    pub fn subqueries<'c>(&'c self, out: &mut Vec<&'c SubQuery>) {
        fn structural<'c>(c: &'c Cond, out: &mut Vec<&'c SubQuery>) {
            match c {
                Cond::Exists(s) => out.push(s),
                Cond::InQuery { sub, .. } => out.push(sub),
                Cond::And(parts) | Cond::Or(parts) => parts.iter().for_each(|p| structural(p, out)),
                Cond::Not(inner) => structural(inner, out),
                _ => {}
            }
        }
        structural(self, out);
        self.each_term(&mut |t| t.subqueries(out));
    }
}

/// A condition over the rows of model `R`, built from `R`'s field handles.
///
/// Combine with `&` (AND), `|` (OR) and `!` (NOT), exactly like Django's `Q` objects:
/// `b.title.icontains("rust") & !b.pages.lt(100)`.
#[must_use = "a condition does nothing until passed to filter() or exclude()"]
pub struct Q<R> {
    pub(crate) cond: Cond,
    _p: PhantomData<fn() -> R>,
}

impl<R> Clone for Q<R> {
    fn clone(&self) -> Self {
        Q::new(self.cond.clone())
    }
}

impl<R> std::fmt::Debug for Q<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.cond.fmt(f)
    }
}

impl<R> Q<R> {
    pub(crate) fn new(cond: Cond) -> Self {
        Q {
            cond,
            _p: PhantomData,
        }
    }
    /// A condition every row meets (the neutral element of `&`).
    pub fn all() -> Self {
        Q::new(Cond::Const(true))
    }
    /// A condition no row meets (the neutral element of `|`).
    pub fn none() -> Self {
        Q::new(Cond::Const(false))
    }
    pub fn cond(&self) -> &Cond {
        &self.cond
    }
}

impl<R> BitAnd for Q<R> {
    type Output = Q<R>;
    fn bitand(self, rhs: Q<R>) -> Q<R> {
        Q::new(Cond::And(vec![self.cond, rhs.cond]))
    }
}

impl<R> BitOr for Q<R> {
    type Output = Q<R>;
    fn bitor(self, rhs: Q<R>) -> Q<R> {
        Q::new(Cond::Or(vec![self.cond, rhs.cond]))
    }
}

impl<R> Not for Q<R> {
    type Output = Q<R>;
    /// `!!x` is `x`, as Django's `~~Q(x)` is `Q(x)`: `filter(|a| !!a.books().pages.gt(100))`
    /// joins like the plain lookup. The NOT that `exclude()` adds is not a `Q`'s, so
    /// `exclude(|a| !x)` keeps both and reads as a subquery, as Django's `exclude(~Q(x))`.
    fn not(self) -> Q<R> {
        match self.cond {
            Cond::Not(inner) => Q::new(*inner),
            cond => Q::new(Cond::Not(Box::new(cond))),
        }
    }
}
