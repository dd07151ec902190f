//! Typed projections: `values(|b| (b.id, b.title))` selects only those columns.

use crate::dsl::expr::Term;
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

macro_rules! tuple_projection {
    ($($n:ident $t:ident $k:ident),+) => {
        impl<R, $($t: FieldType, $k: PathKind),+> Projection<R> for ($(Field<R, $t, $k>,)+) {
            type Output = ($(<Reached<$t, $k> as FieldType>::Projected,)+);
            #[allow(non_snake_case)]
            fn into_terms(self) -> Vec<Term> {
                let ($($n,)+) = self;
                vec![$(Term::Column($n.column_ref())),+]
            }
        }
    };
}
tuple_projection!(a A KA);
tuple_projection!(a A KA, b B KB);
tuple_projection!(a A KA, b B KB, c C KC);
tuple_projection!(a A KA, b B KB, c C KC, d D KD);
tuple_projection!(a A KA, b B KB, c C KC, d D KD, e E KE);
tuple_projection!(a A KA, b B KB, c C KC, d D KD, e E KE, f F KF);
tuple_projection!(a A KA, b B KB, c C KC, d D KD, e E KE, f F KF, g G KG);
tuple_projection!(a A KA, b B KB, c C KC, d D KD, e E KE, f F KF, g G KG, h H KH);
