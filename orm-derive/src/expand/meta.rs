//! The `static` table description behind `Model::META`, and one `static RelationMeta` per
//! relation field.

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;

use super::private;
use crate::model::{Key, Model, Relation, RelationKind};

pub(super) fn statics(model: &Model) -> TokenStream {
    let orm = private(model);
    let count = model.columns.len();
    let columns = model.columns.iter().map(|column| {
        let field = column.name();
        let name = &column.column;
        let ty = &column.ty;
        let primary_key = column.primary_key;
        let auto = column.auto;
        let options = super::options::column_options(model, column);
        quote! {
            #orm::ColumnMeta {
                field: #field,
                column: #name,
                sql_type: <#ty as #orm::FieldType>::SQL_TYPE,
                nullable: <#ty as #orm::FieldType>::NULLABLE,
                primary_key: #primary_key,
                auto: #auto,
                options: #options,
            }
        }
    });
    let indexes = super::options::indexes(model);
    let relations = model
        .relations
        .iter()
        .enumerate()
        .map(|(index, relation)| relation_static(model, index, relation));
    let relation_refs = model.relations.iter().map(|relation| {
        let meta = relation.static_ident();
        quote!(&#meta)
    });
    let model_name = model.name();
    let table = &model.table;
    let renamed_from = match &model.renamed_from {
        Some(old) => quote!(::core::option::Option::Some(#old)),
        None => quote!(::core::option::Option::None),
    };
    // A missing key was reported; index 0 only keeps the stub well-formed.
    let pk = match model.key {
        Key::Column(index) => index,
        Key::Missing => 0,
    };
    quote! {
        static __COLUMNS: [#orm::ColumnMeta; #count] = [#(#columns),*];
        #(#relations)*
        static __META: #orm::ModelMeta = #orm::ModelMeta {
            name: #model_name,
            table: #table,
            columns: &__COLUMNS,
            pk: #pk,
            relations: &[#(#relation_refs),*],
            indexes: #indexes,
            renamed_from: #renamed_from,
        };
    }
}

/// `static __REL_author: RelationMeta = ...;`
fn relation_static(model: &Model, index: usize, relation: &Relation) -> TokenStream {
    let orm = private(model);
    let some = |value: TokenStream| quote!(::core::option::Option::Some(#value));
    let none = quote!(::core::option::Option::None);
    let meta = relation.static_ident();
    let name = relation.name();
    let kind = Ident::new(relation.kind_name(), proc_macro2::Span::call_site());
    let parent = &model.ident;
    let target = &relation.target;
    let (key_column, nullable, forward, through, on_delete) = match &relation.kind {
        RelationKind::Forward {
            column,
            nullable,
            on_delete,
            ..
        } => (
            some(quote!(#column)),
            *nullable,
            none.clone(),
            none,
            *on_delete,
        ),
        RelationKind::Reverse { forward } => {
            let forward = forward.to_string();
            let forward = forward.strip_prefix("r#").unwrap_or(&forward);
            (none.clone(), false, some(quote!(#forward)), none, "Cascade")
        }
        RelationKind::ManyToMany { .. } => {
            let through = relation.through_const();
            (
                none.clone(),
                false,
                none,
                quote!(#parent::#through),
                "Cascade",
            )
        }
        RelationKind::ReverseManyToMany { forward } => {
            // The forward field's join table, read from both ends: the table and columns
            // are its (a `through` there included). Spanned at `forward` in the attribute:
            // a field that is not a many-to-many is reported there.
            let through = format_ident!("__orm_through_{}", forward.unraw(), span = forward.span());
            let name = forward.unraw().to_string();
            let target_name = relation.target_name();
            let message = format!(
                "`reverse({target_name}::{name})` on a `ManyToMany<{target_name}>` must name the \
                 many-to-many field declared on `{target_name}` (the side that owns the join \
                 table), and `{target_name}::{name}` is not one: name that field, or write \
                 `Reverse<{target_name}>` for the rows of a foreign key"
            );
            let read = quote_spanned! {forward.span()=>
                #orm::reversed_through(<#target>::#through, #message)
            };
            (
                none.clone(),
                false,
                some(quote!(#name)),
                some(read),
                "Cascade",
            )
        }
    };
    let on_delete = Ident::new(on_delete, proc_macro2::Span::call_site());
    // Every relation field's join table (`None` but for a many-to-many field), as an
    // associated const of the model, so that the other side of a many-to-many
    // (`#[orm(reverse(Book::tags))]`) can read it, and a reverse naming another relation
    // gets its message from `reversed_through`.
    let through_const = {
        let value = match &relation.kind {
            RelationKind::ManyToMany {
                table,
                parent_column,
                target_column,
            } => some(quote! {
                #orm::ThroughMeta {
                    table: #table,
                    parent_column: #parent_column,
                    target_column: #target_column,
                }
            }),
            _ => quote!(::core::option::Option::None),
        };
        let through = relation.through_const();
        quote! {
            impl #parent {
                #[doc(hidden)]
                #[allow(non_upper_case_globals)]
                pub const #through: ::core::option::Option<#orm::ThroughMeta> = #value;
            }
        }
    };
    quote! {
        #through_const
        #[allow(non_upper_case_globals)]
        static #meta: #orm::RelationMeta = #orm::RelationMeta {
            name: #name,
            kind: #orm::RelationKind::#kind,
            index: #index,
            parent: || <#parent as #orm::Model>::META,
            target: || <#target as #orm::Model>::META,
            key_column: #key_column,
            nullable: #nullable,
            forward: #forward,
            through: #through,
            on_delete: #orm::OnDelete::#on_delete,
            fetch: #orm::fetch::<#target>,
        };
    }
}
