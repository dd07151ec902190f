//! The `static` table description behind `Model::META`.

use proc_macro2::TokenStream;
use quote::quote;

use super::private;
use crate::model::{Key, Model};

pub(super) fn statics(model: &Model) -> TokenStream {
    let orm = private(model);
    let count = model.columns.len();
    let columns = model.columns.iter().map(|column| {
        let field = column.name();
        let name = &column.column;
        let ty = &column.ty;
        let primary_key = column.primary_key;
        let auto = column.auto;
        quote! {
            #orm::ColumnMeta {
                field: #field,
                column: #name,
                sql_type: <#ty as #orm::FieldType>::SQL_TYPE,
                nullable: <#ty as #orm::FieldType>::NULLABLE,
                primary_key: #primary_key,
                auto: #auto,
            }
        }
    });
    let model_name = model.name();
    let table = &model.table;
    // A missing key was reported; index 0 only keeps the stub well-formed.
    let pk = match model.key {
        Key::Column(index) => index,
        Key::Missing => 0,
    };
    quote! {
        static __COLUMNS: [#orm::ColumnMeta; #count] = [#(#columns),*];
        static __META: #orm::ModelMeta = #orm::ModelMeta {
            name: #model_name,
            table: #table,
            columns: &__COLUMNS,
            pk: #pk,
        };
    }
}
