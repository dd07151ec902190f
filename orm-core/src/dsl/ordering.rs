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

/// What `order_by` accepts: one term, an array, a `Vec` or a tuple of terms.
pub trait IntoOrdering<R> {
    fn into_terms(self) -> Vec<OrderTerm>;
}

impl<R> IntoOrdering<R> for OrderBy<R> {
    fn into_terms(self) -> Vec<OrderTerm> {
        vec![self.term]
    }
}
impl<R, const N: usize> IntoOrdering<R> for [OrderBy<R>; N] {
    fn into_terms(self) -> Vec<OrderTerm> {
        self.into_iter().map(|o| o.term).collect()
    }
}
impl<R> IntoOrdering<R> for Vec<OrderBy<R>> {
    fn into_terms(self) -> Vec<OrderTerm> {
        self.into_iter().map(|o| o.term).collect()
    }
}
impl<R> IntoOrdering<R> for () {
    fn into_terms(self) -> Vec<OrderTerm> {
        Vec::new()
    }
}
