//! One check per field that its type can be a column.
//!
//! The macro cannot tell from a type's name whether it implements `FieldType`; the type
//! checker can, and its error (written by `#[diagnostic::on_unimplemented]` on the trait)
//! lands on the field's type because the check is spanned there.
//!
//! The rest of the expansion uses the type too, and each use would repeat the error. The
//! uses are written so that rustc folds them into this one: every other mention is
//! `<Type as FieldType>::…` with the type's own tokens, so its error is identical
//! (same span, same text) and rustc prints it once; the one use that cannot be written
//! that way, `Field::new` in `__at`, sits in the same function right after these checks,
//! and rustc does not report the same unmet bound twice at one span of one body.

use proc_macro2::TokenStream;
use quote::quote_spanned;
use syn::spanned::Spanned;

use super::private;
use crate::model::Model;

/// `let _ = <Type as FieldType>::NULLABLE;` for each field: statements for `__at`.
pub(super) fn checks(model: &Model) -> TokenStream {
    let orm = private(model);
    model
        .columns
        .iter()
        .map(|column| {
            let ty = &column.ty;
            quote_spanned!(ty.span()=> let _ = <#ty as #orm::FieldType>::NULLABLE;)
        })
        .collect()
}
