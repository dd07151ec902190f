//! The validated model: what code generation reads. Built by `check` only; every name is
//! resolved (defaults applied) and every rule has been checked.

use proc_macro2::Ident;
use quote::format_ident;
use syn::ext::IdentExt;
use syn::{Path, Type, Visibility};

pub(crate) struct Model {
    pub(crate) ident: Ident,
    pub(crate) vis: Visibility,
    pub(crate) table: String,
    /// The crate that holds `__private` (`::orm_sqlx` unless `#[orm(crate = ...)]`).
    pub(crate) crate_path: Path,
    /// In declaration order, which is `ModelMeta.columns` order.
    pub(crate) columns: Vec<Column>,
    pub(crate) key: Key,
}

pub(crate) struct Column {
    pub(crate) ident: Ident,
    pub(crate) column: String,
    pub(crate) ty: Type,
    pub(crate) primary_key: bool,
    /// The database assigns the value on insert.
    pub(crate) auto: bool,
}

/// The primary key.
pub(crate) enum Key {
    /// The column at this index.
    Column(usize),
    /// No field can be the key. `check` has reported it; code generation still emits a
    /// stub `Model` impl so that this one mistake does not cascade into "`Model` is not
    /// implemented" errors wherever the model is used.
    Missing,
}

impl Model {
    /// The struct's name as users see it (`r#` stripped).
    pub(crate) fn name(&self) -> String {
        self.ident.unraw().to_string()
    }

    /// `BookFields`.
    pub(crate) fn fields_ident(&self) -> Ident {
        format_ident!("{}Fields", self.ident.unraw())
    }

    pub(crate) fn key_column(&self) -> Option<&Column> {
        match self.key {
            Key::Column(index) => self.columns.get(index),
            Key::Missing => None,
        }
    }
}

impl Column {
    /// The field's name as users see it (`r#` stripped).
    pub(crate) fn name(&self) -> String {
        self.ident.unraw().to_string()
    }
}
