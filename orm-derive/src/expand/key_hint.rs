//! What a foreign key's handle dereferences to when a lookup names a field through it
//! without calling it (`b.author.name`): one `KeyNotFollowed` per column of this model,
//! whose lookups fail with a message that says to write `b.author().name` (see
//! `orm_core::eval::unfollowed_key`).

use proc_macro2::TokenStream;
use quote::quote;

use super::private;
use crate::model::Model;

/// The struct and its `KeyHint` impl. Inside the `const _` block: nobody names it.
pub(super) fn key_hint(model: &Model) -> TokenStream {
    let orm = private(model);
    let vis = &model.vis;
    let ident = &model.ident;
    let names: Vec<_> = model.columns.iter().map(|column| &column.ident).collect();
    quote! {
        // Its fields are never read: only their type's methods are named, in code that
        // does not compile.
        #[doc(hidden)]
        #[allow(dead_code)]
        #vis struct __OrmKeyHint {
            #(#vis #names: #orm::KeyNotFollowed<#ident>,)*
        }

        #[automatically_derived]
        impl #orm::KeyHint for #ident {
            type Hint = __OrmKeyHint;
            const HINT: &'static __OrmKeyHint = &__OrmKeyHint {
                #(#names: #orm::KeyNotFollowed::NEW,)*
            };
        }
    }
}
