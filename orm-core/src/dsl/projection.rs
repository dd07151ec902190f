//! Typed projections: `values(|b| (b.id, b.title))` selects only those columns.

use crate::dsl::aggregate::Aggregate;
use crate::dsl::expr::{Expr, Term};
use crate::dsl::field::{Field, PathKind, Reached};
use crate::schema::row::FromRow;
use crate::schema::value::FieldType;

/// A field or a tuple of fields of the queryset's model `R`; `Output` is the Rust type a
/// row of them reads as.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a projection of fields of `{R}`",
    label = "expected a field or a tuple of fields",
    note = "write `|b| (b.id, b.title)` with the handles the closure receives"
)]
pub trait Projection<R> {
    type Output: FromRow;
    fn into_terms(self) -> Vec<Term>;
}

impl<R, T: FieldType, K: PathKind> Projection<R> for Field<R, T, K> {
    type Output = <Reached<T, K> as FieldType>::Projected;
    fn into_terms(self) -> Vec<Term> {
        vec![Term::Column(self.column_ref())]
    }
}

impl<R> Projection<R> for () {
    type Output = ();
    fn into_terms(self) -> Vec<Term> {
        Vec::new()
    }
}

/// One element of a projection tuple: a field, an aggregate or an expression.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be projected from `{R}`",
    label = "expected a field, an aggregate or an expression",
    note = "write `|b| (b.id, b.title, b.pages.sum())` with the handles the closure receives"
)]
pub trait ProjectionItem<R> {
    type Output: FromRow;
    fn into_term(self) -> Term;
}

impl<R, T: FieldType, K: PathKind> ProjectionItem<R> for Field<R, T, K> {
    type Output = <Reached<T, K> as FieldType>::Projected;
    fn into_term(self) -> Term {
        Term::Column(self.column_ref())
    }
}

impl<R, T: FieldType> ProjectionItem<R> for Aggregate<R, T> {
    type Output = T::Projected;
    fn into_term(self) -> Term {
        Aggregate::into_term(self)
    }
}

impl<R, T: FieldType> ProjectionItem<R> for Expr<R, T> {
    type Output = T::Projected;
    fn into_term(self) -> Term {
        self.term
    }
}

/// An aggregate alone: `values(|b| b.pages.sum())`, `annotate(|a| a.books().count())`.
impl<R, T: FieldType> Projection<R> for Aggregate<R, T> {
    type Output = T::Projected;
    fn into_terms(self) -> Vec<Term> {
        vec![Aggregate::into_term(self)]
    }
}

/// An expression alone: `annotate(|b| b.pages * 2)`.
impl<R, T: FieldType> Projection<R> for Expr<R, T> {
    type Output = T::Projected;
    fn into_terms(self) -> Vec<Term> {
        vec![self.term]
    }
}

macro_rules! tuple_projection {
    ($($n:ident $t:ident),+) => {
        impl<R, $($t: ProjectionItem<R>),+> Projection<R> for ($($t,)+) {
            type Output = ($($t::Output,)+);
            #[allow(non_snake_case)]
            fn into_terms(self) -> Vec<Term> {
                let ($($n,)+) = self;
                vec![$($n.into_term()),+]
            }
        }
    };
}
tuple_projection!(a A);
tuple_projection!(a A, b B);
tuple_projection!(a A, b B, c C);
tuple_projection!(a A, b B, c C, d D);
tuple_projection!(a A, b B, c C, d D, e E);
tuple_projection!(a A, b B, c C, d D, e E, f F);
tuple_projection!(a A, b B, c C, d D, e E, f F, g G);
tuple_projection!(a A, b B, c C, d D, e E, f F, g G, h H);
