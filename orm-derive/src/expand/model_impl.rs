//! `impl Model`: the row mapping, the handles and the relation slots.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::private;
use crate::model::{Column, Model};

pub(super) fn model_impl(model: &Model) -> TokenStream {
    let orm = private(model);
    let ident = &model.ident;
    let fields = model.fields_ident();

    // A foreign key read from a row carries its relation's description, for messages and
    // for loading it.
    // A decode error names the model, the field and the column.
    let model_name = model.name();
    let at_field = |column: &Column| {
        let field = column.name();
        let name = &column.column;
        quote!(|__e: #orm::Error| __e.at_field(#model_name, #field, #name))
    };
    let read = |column: &Column, value: TokenStream| match column.relation {
        Some(index) => {
            let ty = &column.ty;
            let meta = model.relations[index].static_ident();
            quote!(<#ty as #orm::ForwardKey>::__with_meta(#value, &#meta))
        }
        None => value,
    };
    let decode = model.columns.iter().enumerate().map(|(index, column)| {
        let field = &column.ident;
        let ty = &column.ty;
        let at = at_field(column);
        let value = read(
            column,
            quote!(<#ty as #orm::FieldType>::decode(__row, __offset + #index).map_err(#at)?),
        );
        quote!(#field: #value)
    });
    // Reverse and many-to-many relations start empty; fields whose mistake was reported
    // start as their default.
    let empty: Vec<TokenStream> = model
        .relations
        .iter()
        .filter(|relation| relation.is_many())
        .map(|relation| {
            let field = &relation.ident;
            let meta = relation.static_ident();
            quote!(#field: #orm::RelatedSet::__with_meta(&#meta))
        })
        .chain(
            model
                .ignored
                .iter()
                .map(|field| quote!(#field: ::core::default::Default::default())),
        )
        .collect();
    let touch = super::options::touch_auto_now(model);
    let values = model.columns.iter().map(|column| {
        let field = &column.ident;
        let ty = &column.ty;
        quote!(<#ty as #orm::FieldType>::to_value(&self.#field))
    });
    let value_at = model.columns.iter().enumerate().map(|(index, column)| {
        let field = &column.ident;
        let ty = &column.ty;
        quote!(#index => ::core::option::Option::Some(<#ty as #orm::FieldType>::to_value(&self.#field)))
    });
    let set_column = model.columns.iter().enumerate().map(|(index, column)| {
        let field = &column.ident;
        let ty = &column.ty;
        let at = at_field(column);
        let value = read(
            column,
            quote!(<#ty as #orm::FieldType>::decode(__row, __idx).map_err(#at)?),
        );
        quote!(#index => self.#field = #value)
    });
    let shallow = model.columns.iter().map(|column| {
        let field = &column.ident;
        let ty = &column.ty;
        match column.relation {
            Some(_) => quote!(#field: <#ty as #orm::ForwardKey>::__key_only(&self.#field)),
            None => quote_spanned!(ty.span()=>
                #field: <#ty as ::core::clone::Clone>::clone(&self.#field)
            ),
        }
    });
    let relation_mut = if model.relations.is_empty() {
        quote! {
            fn relation_mut(
                &mut self,
                _: usize,
            ) -> ::core::option::Option<&mut dyn #orm::RelationSlot> {
                ::core::option::Option::None
            }
        }
    } else {
        let arms = model.relations.iter().enumerate().map(|(index, relation)| {
            let field = &relation.ident;
            quote!(#index => ::core::option::Option::Some(&mut self.#field))
        });
        let read_arms = model.relations.iter().enumerate().map(|(index, relation)| {
            let field = &relation.ident;
            quote!(#index => ::core::option::Option::Some(&self.#field))
        });
        quote! {
            fn relation(
                &self,
                __index: usize,
            ) -> ::core::option::Option<&dyn #orm::RelationSlot> {
                match __index {
                    #(#read_arms,)*
                    _ => ::core::option::Option::None,
                }
            }

            fn relation_mut(
                &mut self,
                __index: usize,
            ) -> ::core::option::Option<&mut dyn #orm::RelationSlot> {
                match __index {
                    #(#arms,)*
                    _ => ::core::option::Option::None,
                }
            }
        }
    };
    let key = match model.key_column() {
        Some(column) => {
            let field = &column.ident;
            let ty = &column.ty;
            quote! {
                type Pk = #ty;

                fn pk(&self) -> &Self::Pk {
                    &self.#field
                }

                fn set_pk(&mut self, __pk: Self::Pk) {
                    self.#field = __pk;
                }
            }
        }
        // The missing key is a reported error; this stub only stops it from cascading.
        None => quote! {
            type Pk = i64;

            fn pk(&self) -> &Self::Pk {
                ::core::unreachable!()
            }

            fn set_pk(&mut self, _: Self::Pk) {}
        },
    };
    quote! {
        #[automatically_derived]
        impl #orm::Model for #ident {
            type Fields = #fields<#ident>;
            type FieldsAt<__R, __K: #orm::PathKind> = #fields<__R, __K>;
            #key

            const META: &'static #orm::ModelMeta = &__META;

            fn fields() -> Self::Fields {
                #fields::__at(#orm::RelPath::ROOT)
            }

            fn fields_at<__R, __K: #orm::PathKind>(__path: #orm::RelPath) -> Self::FieldsAt<__R, __K> {
                #fields::__at(__path)
            }

            #relation_mut

            fn shallow_clone(&self) -> Self {
                #ident {
                    #(#shallow,)*
                    #(#empty,)*
                }
            }

            #touch

            fn from_row_at<__R: #orm::Row + ?Sized>(
                __row: &__R,
                __offset: usize,
            ) -> #orm::Result<Self> {
                ::core::result::Result::Ok(#ident {
                    #(#decode,)*
                    #(#empty,)*
                })
            }

            fn column_values(&self) -> ::std::vec::Vec<#orm::Value> {
                ::std::vec![#(#values),*]
            }

            fn column_value(&self, __column: usize) -> ::core::option::Option<#orm::Value> {
                match __column {
                    #(#value_at,)*
                    _ => ::core::option::Option::None,
                }
            }

            fn set_column_from_row<__R: #orm::Row + ?Sized>(
                &mut self,
                __column: usize,
                __row: &__R,
                __idx: usize,
            ) -> #orm::Result<()> {
                match __column {
                    #(#set_column,)*
                    _ => {}
                }
                ::core::result::Result::Ok(())
            }
        }
    }
}

/// A related manager per reverse and many-to-many relation: `author.books()`, the related
/// rows as a queryset, which queries each time it is evaluated (the field itself holds
/// what `prefetch_related` loaded). Nothing for a model without a key (reported).
pub(super) fn related_managers(model: &Model) -> TokenStream {
    if model.key_column().is_none() {
        return TokenStream::new();
    }
    let orm = private(model);
    let ident = &model.ident;
    let vis = &model.vis;
    let methods: Vec<TokenStream> = model
        .relations
        .iter()
        .filter(|relation| relation.is_many())
        .map(|relation| {
            let field = &relation.ident;
            let target = &relation.target;
            let meta = relation.static_ident();
            let doc = format!(
                "The rows of `{}`, as a queryset that queries each time it is evaluated (a \
                 related manager). The field `{}` holds what `prefetch_related` loaded.",
                relation.name(),
                relation.name()
            );
            quote! {
                #[doc = #doc]
                #vis fn #field(&self) -> #orm::QuerySet<#target> {
                    #orm::QuerySet::__related(
                        &#meta,
                        #orm::FieldType::to_value(<Self as #orm::Model>::pk(self)),
                    )
                }
            }
        })
        .collect();
    if methods.is_empty() {
        return TokenStream::new();
    }
    quote! {
        impl #ident {
            #(#methods)*
        }
    }
}
