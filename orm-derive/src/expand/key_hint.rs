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
    // `b.author.country()`: a relation of the target, named through the uncalled key.
    let relations = model.relations.iter().map(|relation| {
        let name = &relation.ident;
        quote! {
            #vis fn #name<__X>(&self) -> __X
            where
                __M: #orm::FollowedByCall,
            {
                <__M as #orm::FollowedByCall>::never()
            }
        }
    });
    quote! {
        // Its fields are never read: only their type's methods are named, in code that
        // does not compile.
        #[doc(hidden)]
        #[allow(dead_code)]
        #vis struct __OrmKeyHint<__M: 'static> {
            #(#vis #names: #orm::KeyNotFollowed<__M>,)*
            __orm_model: ::core::marker::PhantomData<fn() -> __M>,
        }

        // Generic over the model so that the bound is checked where a relation is named,
        // not here (where it is known to fail).
        #[allow(dead_code)]
        impl<__M: 'static> __OrmKeyHint<__M> {
            #(#relations)*
        }

        #[automatically_derived]
        impl #orm::KeyHint for #ident {
            type Hint = __OrmKeyHint<#ident>;
            const HINT: &'static __OrmKeyHint<#ident> = &__OrmKeyHint {
                #(#names: #orm::KeyNotFollowed::NEW,)*
                __orm_model: ::core::marker::PhantomData,
            };
        }
    }
}
