//! `<Model>Fields<R, K>`: one typed handle per column, for `filter`, `order_by` and
//! friends, and one method per relation, which follows it to the related model's handles.

use proc_macro2::{Ident, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote};

use super::{field_types, private};
use crate::model::{Model, RelationKind};

/// The struct, outside the `const _` block so users can name it.
pub(super) fn fields_struct(model: &Model) -> TokenStream {
    let orm = private(model);
    let vis = &model.vis;
    let name = model.fields_ident();
    let Params { root, kind } = Params::of(model);
    let doc = format!(
        "Typed field handles of [`{}`] for `filter`, `exclude`, `order_by` and `values` closures.",
        model.name()
    );
    let handles = model.columns.iter().map(|column| {
        let ident = &column.ident;
        let ty = &column.ty;
        let doc = match column.relation {
            Some(_) => format!(
                "`{}`: column `{}`, the key; `{}()` follows the relation.",
                column.name(),
                column.column,
                column.name()
            ),
            None => format!("`{}`: column `{}`.", column.name(), column.column),
        };
        quote! {
            #[doc = #doc]
            #vis #ident: #orm::Field<#root, #ty, #kind>
        }
    });
    quote! {
        #[doc = #doc]
        #vis struct #name<#root, #kind = #orm::Single> {
            #(#handles,)*
            /// The relation hops from the queryset's model to this one.
            #[doc(hidden)]
            pub __path: #orm::RelPath,
            /// The root model and whether the path can reach several rows.
            #[doc(hidden)]
            pub __kind: ::core::marker::PhantomData<fn() -> (#root, #kind)>,
        }
    }
}

/// `__at` (the handles reached through a relation path), the relation methods, `Clone` and
/// `Copy` (without the bounds `#[derive]` would add) and `RelationPath`. Inside the
/// `const _` block, where the relations' `static`s are.
pub(super) fn fields_impls(model: &Model) -> TokenStream {
    let orm = private(model);
    let vis = &model.vis;
    let name = model.fields_ident();
    let Params { root, kind } = Params::of(model);
    let model_ident = &model.ident;
    let checks = field_types::checks(model);
    let inits = model.columns.iter().map(|column| {
        let ident = &column.ident;
        let ty = &column.ty;
        let name = &column.column;
        // Explicit type arguments put an unmet `FieldType` bound on the field's type,
        // where `checks` already reported it (see `field_types`).
        quote!(#ident: __orm_field::<#root, #ty, #kind>(#name, __path))
    });
    let methods = model.relations.iter().map(|relation| {
        let ident = &relation.ident;
        let target = &relation.target;
        let meta = relation.static_ident();
        let (reached, doc) = match relation.kind {
            RelationKind::Reverse { .. }
            | RelationKind::ManyToMany { .. }
            | RelationKind::ReverseManyToMany { .. } => (
                quote!(#orm::Many),
                format!(
                    "Follows `{}` to the handles of the related rows (several per row: \
                     filtering on them may repeat this model's rows; their fields read as \
                     `Option`, since a row may have none).",
                    relation.name()
                ),
            ),
            RelationKind::Forward { nullable: true, .. } => (
                quote!(<#kind as #orm::PathKind>::ThroughNullable),
                format!(
                    "Follows `{}` to the handles of the row it points at, if any (the key \
                     is nullable: its fields read as `Option`).",
                    relation.name()
                ),
            ),
            RelationKind::Forward {
                nullable: false, ..
            } => (
                quote!(#kind),
                format!(
                    "Follows `{}` to the handles of the row it points at.",
                    relation.name()
                ),
            ),
        };
        quote! {
            #[doc = #doc]
            #vis fn #ident(&self) -> <#target as #orm::Model>::FieldsAt<#root, #reached> {
                <#target as #orm::Model>::fields_at(self.__path.join(&#meta))
            }
        }
    });
    quote! {
        const fn __orm_field<#root, T: #orm::FieldType, #kind: #orm::PathKind>(
            __column: &'static str,
            __path: #orm::RelPath,
        ) -> #orm::Field<#root, T, #kind> {
            #orm::Field::new(__column, __path)
        }

        impl<#root, #kind: #orm::PathKind> #name<#root, #kind> {
            #[doc(hidden)]
            pub const fn __at(__path: #orm::RelPath) -> Self {
                #checks
                #name {
                    #(#inits,)*
                    __path,
                    __kind: ::core::marker::PhantomData,
                }
            }

            #(#methods)*
        }

        #[automatically_derived]
        impl<#root, #kind: #orm::PathKind> ::core::clone::Clone for #name<#root, #kind> {
            #[inline]
            fn clone(&self) -> Self {
                *self
            }
        }

        #[automatically_derived]
        impl<#root, #kind: #orm::PathKind> ::core::marker::Copy for #name<#root, #kind> {}

        #[automatically_derived]
        impl<#root, #kind: #orm::PathKind> #orm::RelationPath for #name<#root, #kind> {
            type Root = #root;
            type Kind = #kind;
            type Target = #model_ident;

            fn rel_path(&self) -> #orm::RelPath {
                self.__path
            }
        }
    }
}

/// The names of the handles' parameters: `R` (the queryset's model) and `K` (`Single` or
/// `Many`), unless a field's type mentions an `R` or a `K` of its own, which the parameter
/// would shadow.
struct Params {
    root: Ident,
    kind: Ident,
}

impl Params {
    fn of(model: &Model) -> Params {
        let types: Vec<TokenStream> = model
            .columns
            .iter()
            .map(|column| column.ty.to_token_stream())
            .chain(model.relations.iter().map(|r| r.target.to_token_stream()))
            .collect();
        let pick = |name: &str, fallback: &str| {
            let clashes = types.iter().any(|ty| mentions(ty.clone(), name));
            Ident::new(if clashes { fallback } else { name }, Span::call_site())
        };
        Params {
            root: pick("R", "__OrmRoot"),
            kind: pick("K", "__OrmKind"),
        }
    }
}

fn mentions(tokens: TokenStream, name: &str) -> bool {
    tokens.into_iter().any(|tree| match tree {
        TokenTree::Ident(ident) => ident == name,
        TokenTree::Group(group) => mentions(group.stream(), name),
        TokenTree::Punct(_) | TokenTree::Literal(_) => false,
    })
}
