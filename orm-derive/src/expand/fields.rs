//! `<Model>Fields<R>`: one typed handle per field, for `filter`, `order_by` and friends.

use proc_macro2::{Ident, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote};

use super::{field_types, private};
use crate::model::Model;

/// The struct, outside the `const _` block so users can name it.
pub(super) fn fields_struct(model: &Model) -> TokenStream {
    let orm = private(model);
    let vis = &model.vis;
    let name = model.fields_ident();
    let root = root_param(model);
    let doc = format!(
        "Typed field handles of [`{}`] for `filter`, `exclude`, `order_by` and `values` closures.",
        model.name()
    );
    let handles = model.columns.iter().map(|column| {
        let ident = &column.ident;
        let ty = &column.ty;
        let doc = format!("`{}`: column `{}`.", column.name(), column.column);
        quote! {
            #[doc = #doc]
            #vis #ident: #orm::Field<#root, #ty>
        }
    });
    quote! {
        #[doc = #doc]
        #vis struct #name<#root> {
            #(#handles,)*
        }
    }
}

/// `__at` (the handles reached through a relation path), `Clone` and `Copy` (without the
/// `R: Clone` bound `#[derive]` would add). Inside the `const _` block.
pub(super) fn fields_impls(model: &Model) -> TokenStream {
    let orm = private(model);
    let name = model.fields_ident();
    let root = root_param(model);
    let checks = field_types::checks(model);
    let inits = model.columns.iter().map(|column| {
        let ident = &column.ident;
        let ty = &column.ty;
        let name = &column.column;
        // Explicit type arguments put an unmet `FieldType` bound on the field's type,
        // where `checks` already reported it (see `field_types`).
        quote!(#ident: __orm_field::<#root, #ty>(#name, __path))
    });
    quote! {
        const fn __orm_field<#root, T: #orm::FieldType>(
            __column: &'static str,
            __path: #orm::RelPath,
        ) -> #orm::Field<#root, T> {
            #orm::Field::new(__column, __path)
        }

        impl<#root> #name<#root> {
            #[doc(hidden)]
            pub const fn __at(__path: #orm::RelPath) -> Self {
                #checks
                #name {
                    #(#inits,)*
                }
            }
        }

        #[automatically_derived]
        impl<#root> ::core::clone::Clone for #name<#root> {
            #[inline]
            fn clone(&self) -> Self {
                *self
            }
        }

        #[automatically_derived]
        impl<#root> ::core::marker::Copy for #name<#root> {}
    }
}

/// The name of the handles' root-model parameter: `R`, unless a field's type mentions
/// an `R` of its own, which the parameter would shadow.
fn root_param(model: &Model) -> Ident {
    let clashes = model
        .columns
        .iter()
        .any(|column| mentions(column.ty.to_token_stream(), "R"));
    let name = if clashes { "__OrmRoot" } else { "R" };
    Ident::new(name, Span::call_site())
}

fn mentions(tokens: TokenStream, name: &str) -> bool {
    tokens.into_iter().any(|tree| match tree {
        TokenTree::Ident(ident) => ident == name,
        TokenTree::Group(group) => mentions(group.stream(), name),
        TokenTree::Punct(_) | TokenTree::Literal(_) => false,
    })
}
