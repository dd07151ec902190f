//! `impl Model`: the row mapping.

use proc_macro2::TokenStream;
use quote::quote;

use super::private;
use crate::model::Model;

pub(super) fn model_impl(model: &Model) -> TokenStream {
    let orm = private(model);
    let ident = &model.ident;
    let fields = model.fields_ident();

    let decode = model.columns.iter().enumerate().map(|(index, column)| {
        let field = &column.ident;
        let ty = &column.ty;
        quote!(#field: <#ty as #orm::FieldType>::decode(__row, __offset + #index)?)
    });
    let values = model.columns.iter().map(|column| {
        let field = &column.ident;
        let ty = &column.ty;
        quote!(<#ty as #orm::FieldType>::to_value(&self.#field))
    });
    let set_column = model.columns.iter().enumerate().map(|(index, column)| {
        let field = &column.ident;
        let ty = &column.ty;
        quote!(#index => self.#field = <#ty as #orm::FieldType>::decode(__row, __idx)?)
    });
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
            #key

            const META: &'static #orm::ModelMeta = &__META;

            fn fields() -> Self::Fields {
                #fields::__at(#orm::RelPath::ROOT)
            }

            fn from_row_at<__R: #orm::Row + ?Sized>(
                __row: &__R,
                __offset: usize,
            ) -> #orm::Result<Self> {
                ::core::result::Result::Ok(#ident {
                    #(#decode,)*
                })
            }

            fn column_values(&self) -> ::std::vec::Vec<#orm::Value> {
                ::std::vec![#(#values),*]
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
