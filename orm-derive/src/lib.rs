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
/// - `#[orm(on_delete = "...")]` on a foreign key: what deleting the row it points at does
///   to this one: `"cascade"` (the default), `"set_null"` (the key must be an `Option`),
///   `"protect"`, `"restrict"` or `"do_nothing"`.
/// - `#[orm(reverse(T::field))]` on a `Reverse<T>` field (required): the foreign key on `T`
///   that points here.
/// - `#[orm(through = "name")]` on a `ManyToMany<T>` field: the join table. Default:
///   `<table>_<field>`. `#[orm(many_to_many)]` is accepted and changes nothing.
///
/// # Relations
///
/// A field is a relation when its type is written (last path segment) as:
///
/// - `ForeignKey<T>` or `OneToOne<T>`, or either in an `Option` for a nullable key: a
///   column, named `<field>_id` unless `column` says otherwise, holding `T`'s primary key.
/// - `Reverse<T>` with `#[orm(reverse(T::field))]`: the rows of `T` whose foreign key
///   `field` points here. Not a column.
/// - `ManyToMany<T>`: rows of `T` linked through a join table holding `<model>_id` and
///   `<t>_id` (in snake case; `from_<model>_id` and `to_<model>_id` for a model linked to
///   itself). Not a column.
///
/// Each relation gets a method on the field handles that follows it
/// (`Book::fields().author().name`); reverse and many-to-many relations also get a related
/// manager on the model (`author.books()`, a queryset).
///
/// ```
/// # extern crate orm_core as orm_sqlx;
/// # use orm_derive::Model;
/// use orm_sqlx::Model;
/// use orm_sqlx::relation::{ForeignKey, ManyToMany, Reverse};
///
/// #[derive(Model)]
/// pub struct Author {
///     pub id: i64,
///     #[orm(reverse(Book::author))]
///     pub books: Reverse<Book>,
/// }
///
/// #[derive(Model)]
/// pub struct Book {
///     pub id: i64,
///     pub author: ForeignKey<Author>,
///     #[orm(on_delete = "set_null")]
///     pub publisher: Option<ForeignKey<Publisher>>,
///     pub tags: ManyToMany<Tag>,
/// }
/// # #[derive(Model)] pub struct Publisher { pub id: i64 }
/// # #[derive(Model)] pub struct Tag { pub id: i64 }
///
/// # fn main() {
/// assert_eq!(Book::fields().author.column_name(), "author_id");
/// assert_eq!(Book::fields().author().id.column_name(), "id");
/// let tags = Book::META.relation("tags").and_then(|r| r.through.as_ref()).unwrap();
/// assert_eq!((tags.table, tags.parent_column, tags.target_column), ("book_tags", "book_id", "tag_id"));
/// # }
/// ```
///
/// A field's type must implement `FieldType`; the compiler says so on the field otherwise.
/// A model cannot be generic, its primary key cannot be an `Option`, and a relation cannot
/// be the primary key.
#[proc_macro_derive(Model, attributes(orm))]
pub fn derive_model(input: TokenStream) -> TokenStream {
    expand::derive(input.into()).into()
}

#[cfg(test)]
mod tests;
