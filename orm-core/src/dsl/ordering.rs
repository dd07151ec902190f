//! `order_by` terms.

use std::marker::PhantomData;

use crate::dsl::expr::Term;

/// One ordering term, ascending or descending. Built with `field.asc()` / `field.desc()`.
pub struct OrderBy<R> {
    pub(crate) term: OrderTerm,
    _p: PhantomData<fn() -> R>,
}

/// An ordering term without its model type.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderTerm {
    pub term: Term,
    pub descending: bool,
}

impl OrderTerm {
    pub fn reversed(&self) -> OrderTerm {
        OrderTerm {
            term: self.term.clone(),
            descending: !self.descending,
        }
    }
}

impl<R> OrderBy<R> {
    pub(crate) fn new(term: Term, descending: bool) -> Self {
        OrderBy {
            term: OrderTerm { term, descending },
            _p: PhantomData,
        }
    }
}

/// What `order_by` accepts: one term (`b.title.asc()`), an array or a `Vec` of terms
/// (`[b.pages.desc(), b.title.asc()]`), or `()` for no ordering.
///
/// ```no_run
/// # use orm_core::{Model, QuerySet};
/// # fn demo<M: Model>(qs: QuerySet<M>) {
/// // Book::objects().order_by(|b| [b.pages.desc(), b.title.asc()])
/// let unordered = qs.order_by(|_| ());
/// # }
/// ```
#[diagnostic::on_unimplemented(
    message = "order_by needs a direction for each field: `.asc()` or `.desc()`",
    label = "`{Self}` is not an ordering",
    note = "write `order_by(|b| b.title.asc())` (Django's \"title\") or `order_by(|b| b.title.desc())` (Django's \"-title\"); several terms go in an array: `[b.pages.desc(), b.title.asc()]`"
)]
pub trait IntoOrdering<R> {
    fn into_terms(self) -> Vec<OrderTerm>;
}

#[diagnostic::do_not_recommend]
impl<R> IntoOrdering<R> for OrderBy<R> {
    fn into_terms(self) -> Vec<OrderTerm> {
        vec![self.term]
    }
}
#[diagnostic::do_not_recommend]
impl<R, const N: usize> IntoOrdering<R> for [OrderBy<R>; N] {
    fn into_terms(self) -> Vec<OrderTerm> {
        self.into_iter().map(|o| o.term).collect()
    }
}
#[diagnostic::do_not_recommend]
impl<R> IntoOrdering<R> for Vec<OrderBy<R>> {
    fn into_terms(self) -> Vec<OrderTerm> {
        self.into_iter().map(|o| o.term).collect()
    }
}
#[diagnostic::do_not_recommend]
impl<R> IntoOrdering<R> for () {
    fn into_terms(self) -> Vec<OrderTerm> {
        Vec::new()
    }
}
