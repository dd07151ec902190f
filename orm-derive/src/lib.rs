//! `#[derive(Model)]`: maps a struct with named fields onto a database table.
//!
//! This crate is a thin shim. The work happens in ordinary functions that can be unit
//! tested: `attr` reads `#[orm(...)]`, `ast` reads the struct, `check` applies the rules
//! and produces the validated `model`, and `expand` generates code from that model only.
//! Errors are collected in a `ctxt::Ctxt` and reported all at once.
//!
//! Users reach the derive through the `orm_sqlx` facade, which documents it.

mod ast;
mod attr;
mod check;
mod ctxt;
mod expand;
mod model;
mod symbol;

use proc_macro::TokenStream;

/// Implements `Model` for a struct with named fields, and generates its typed field
/// handles, `<Struct>Fields`.
///
/// ```
/// # extern crate orm_core as orm_sqlx;
/// # use orm_derive::Model;
/// use orm_sqlx::Model;
///
/// #[derive(Model, Debug, Clone)]
/// #[orm(table = "books")]
/// pub struct Book {
///     pub id: i64, // the primary key, assigned by the database
///     #[orm(column = "book_title")]
///     pub title: String,
///     pub rating: Option<f64>, // Option: a NULL column
/// }
///
/// # fn main() {
/// assert_eq!(Book::META.table, "books");
/// assert!(Book::META.has_auto_pk());
/// assert_eq!(Book::fields().title.column_name(), "book_title");
/// # }
/// ```
///
/// # Struct attributes
///
/// - `#[orm(table = "name")]`: the table. Default: the struct's name in snake case
///   (`BookReview` → `book_review`).
/// - `#[orm(crate = "path")]`: where the ORM crate is, for code that re-exports it.
///   Default: `::orm_sqlx`.
///
/// # Field attributes
///
/// - `#[orm(primary_key)]`: this field is the primary key. Without it, the field named `id`
///   is the key (and with it, `id` is an ordinary column).
/// - `#[orm(primary_key, auto)]`: the database assigns this key on insert. The type must be
///   written `i16`, `i32` or `i64`. An unmarked `id` of one of these types is `auto`
///   already; a marked key (even one named `id`) is `auto` only if it says so.
/// - `#[orm(column = "name")]`: the column. Default: the field's name.
///
/// A field's type must implement `FieldType`; the compiler says so on the field otherwise.
/// A model cannot be generic, and its primary key cannot be an `Option`.
#[proc_macro_derive(Model, attributes(orm))]
pub fn derive_model(input: TokenStream) -> TokenStream {
    expand::derive(input.into()).into()
}

#[cfg(test)]
mod tests;
