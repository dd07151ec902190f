//! Assignments for `QuerySet::update`.

use std::marker::PhantomData;

use crate::dsl::expr::{ColumnRef, Term};

/// `column = expression`, built with `field.set(value)`.
pub struct Assignment<R> {
    pub(crate) column: ColumnRef,
    pub(crate) value: Term,
    _p: PhantomData<fn() -> R>,
}

impl<R> Assignment<R> {
    pub(crate) fn new(column: ColumnRef, value: Term) -> Self {
        Assignment {
            column,
            value,
            _p: PhantomData,
        }
    }
}

/// What `update` accepts: one assignment, an array or a `Vec` of them.
pub trait IntoAssignments<R> {
    fn into_assignments(self) -> Vec<Assignment<R>>;
}
impl<R> IntoAssignments<R> for Assignment<R> {
    fn into_assignments(self) -> Vec<Assignment<R>> {
        vec![self]
    }
}
impl<R, const N: usize> IntoAssignments<R> for [Assignment<R>; N] {
    fn into_assignments(self) -> Vec<Assignment<R>> {
        self.into_iter().collect()
    }
}
impl<R> IntoAssignments<R> for Vec<Assignment<R>> {
    fn into_assignments(self) -> Vec<Assignment<R>> {
        self
    }
}
