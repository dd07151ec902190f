//! One check per field that its type can be a column, and one per reverse relation that it
//! mirrors a foreign key to this model.
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
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::private;
use crate::model::{Model, RelationKind};

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

/// For each `#[orm(reverse(T::field))]`: a check that `T::field` is a foreign key to this
/// model, spanned at `field` in the attribute, where the type checker reports a missing
/// field or a field of another type. A `const` holding a closure: never called, and never
/// reported as unused.
pub(super) fn reverse_checks(model: &Model) -> TokenStream {
    let orm = private(model);
    let parent = &model.ident;
    model
        .relations
        .iter()
        .filter_map(|relation| {
            let (forward, assert) = match &relation.kind {
                RelationKind::Reverse { forward } => (forward, quote!(assert_relation_to)),
                RelationKind::ReverseManyToMany { forward } => {
                    (forward, quote!(assert_many_to_many_to))
                }
                _ => return None,
            };
            let target = &relation.target;
            Some(quote_spanned! {forward.span()=>
                const _: fn(&#target) = |__target: &#target| {
                    #orm::#assert::<#parent, _>(&__target.#forward)
                };
            })
        })
        .collect()
}
