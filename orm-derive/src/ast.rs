//! The struct as written: its name, visibility, generics, fields and their attributes.
//! Nothing here is validated yet; see `check`.

use syn::{Data, DeriveInput, Fields, Generics, Ident, Type, Visibility};

use crate::attr;
use crate::ctxt::Ctxt;

pub(crate) struct Input<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) vis: &'a Visibility,
    pub(crate) generics: &'a Generics,
    pub(crate) attrs: attr::Struct,
    pub(crate) fields: Vec<Field<'a>>,
}

pub(crate) struct Field<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) ty: &'a Type,
    pub(crate) attrs: attr::Field,
}

/// What `#[derive(Model)]` needs a struct with named fields for.
const NEEDS_NAMED_FIELDS: &str = "`#[derive(Model)]` needs a struct with named fields";

impl<'a> Input<'a> {
    /// `None` when the item is not a struct with named fields: a table maps onto named
    /// columns, and an enum, a union or a tuple struct has none.
    pub(crate) fn from_syn(cx: &Ctxt, input: &'a DeriveInput) -> Option<Input<'a>> {
        // Read the struct's attributes first, so their errors show even when the shape
        // is wrong.
        let attrs = attr::Struct::from_ast(cx, &input.attrs);
        let named = match &input.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => named,
                Fields::Unnamed(unnamed) => {
                    cx.error_spanned_by(
                        unnamed,
                        format!("{NEEDS_NAMED_FIELDS}, not a tuple struct"),
                    );
                    return None;
                }
                Fields::Unit => {
                    cx.error_spanned_by(
                        &input.ident,
                        format!("{NEEDS_NAMED_FIELDS}, not a unit struct"),
                    );
                    return None;
                }
            },
            Data::Enum(data) => {
                cx.error_spanned_by(
                    data.enum_token,
                    format!("{NEEDS_NAMED_FIELDS}, not an enum"),
                );
                return None;
            }
            Data::Union(data) => {
                cx.error_spanned_by(
                    data.union_token,
                    format!("{NEEDS_NAMED_FIELDS}, not a union"),
                );
                return None;
            }
        };
        let fields = named
            .named
            .iter()
            .filter_map(|field| {
                Some(Field {
                    ident: field.ident.as_ref()?,
                    ty: &field.ty,
                    attrs: attr::Field::from_ast(cx, &field.attrs),
                })
            })
            .collect();
        Some(Input {
            ident: &input.ident,
            vis: &input.vis,
            generics: &input.generics,
            attrs,
            fields,
        })
    }
}
