//! Typed projections: `values(|b| (b.id, b.title))` selects only those columns.

use crate::expr::Term;
use crate::field::Field;
use crate::row::FromRow;
use crate::value::FieldType;

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

impl<R, T: FieldType + FromRow> Projection<R> for Field<R, T> {
    type Output = T;
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

macro_rules! tuple_projection {
    ($($n:ident $t:ident),+) => {
        impl<R, $($t: FieldType + FromRow),+> Projection<R> for ($(Field<R, $t>,)+) {
            type Output = ($($t,)+);
            #[allow(non_snake_case)]
            fn into_terms(self) -> Vec<Term> {
                let ($($n,)+) = self;
                vec![$(Term::Column($n.column_ref())),+]
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
