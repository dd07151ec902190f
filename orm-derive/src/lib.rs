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
mod choices;
mod ctxt;
mod expand;
mod model;
mod options;
mod partial;
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
/// - `#[orm(index(a, b))]`, `#[orm(unique_together(a, b))]`: a composite index or unique
///   constraint (in `create_tables` and migrations).
/// - `#[orm(hooks)]`: you write `impl Hooks for T` (`pre_save`, `post_save`, …).
/// - `#[orm(renamed_from = "old_table")]`: the table had this name; `makemigrations`
///   writes a rename (keeping the rows) instead of a drop and a create.
///
/// # Field attributes
///
/// - `#[orm(primary_key)]`: this field is the primary key. Without it, the field named `id`
///   is the key (and with it, `id` is an ordinary column).
/// - `#[orm(primary_key, auto)]`: the database assigns this key on insert. The type must be
///   written `i16`, `i32` or `i64`. An unmarked `id` of one of these types is `auto`
///   already; a marked key (even one named `id`) is `auto` only if it says so.
/// - `#[orm(column = "name")]`: the column. Default: the field's name.
/// - `#[orm(unique)]`, `#[orm(index)]`, `#[orm(max_length = n)]` (text),
///   `#[orm(max_digits = p, decimal_places = s)]` (decimals), `#[orm(default = …)]`,
///   `#[orm(auto_now)]`/`#[orm(auto_now_add)]` (timestamps): column options, checked
///   before writes and written in the DDL.
/// - `#[orm(renamed_from = "old_column")]`: the column had this name; `makemigrations`
///   writes a rename (keeping the values) instead of a drop and an add.
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

/// Implements `Partial<Model>` for a struct of some of a model's fields (Django's
/// `only()`/`defer()`/`values()` into a named struct): `Book::objects().values_as::<BookCard>()`
/// selects only those columns and reads each row as a `BookCard`. Raw SQL reads it too,
/// columns matched by name.
///
/// Each field is checked against the model's field handles at compile time: a name the
/// model does not have, or a type other than the one `values()` reads (the model's own
/// type, the key for a foreign key, an `Option` through a nullable or many-valued
/// relation), does not compile, and the error lands on the field.
///
/// ```
/// # extern crate orm_core as orm_sqlx;
/// # use orm_derive::{Model, Partial};
/// use orm_sqlx::Model;
/// use orm_sqlx::relation::ForeignKey;
///
/// #[derive(Model)]
/// pub struct Author { pub id: i64, pub name: String }
///
/// #[derive(Model)]
/// pub struct Book { pub id: i64, pub title: String, pub pages: i32, pub author: ForeignKey<Author> }
///
/// #[derive(Partial, Debug)]
/// #[orm(model = Book)]
/// pub struct BookCard {
///     pub title: String,
///     pub author: i64,                  // a foreign key reads as its key
///     #[orm(path = "author.name")]      // through a relation: one JOIN
///     pub author_name: String,
/// }
///
/// # fn main() {
/// let sql = Book::objects().values_as::<BookCard>().sql();
/// assert!(sql.starts_with(r#"SELECT "book"."title", "book"."author_id", "#), "{sql}");
/// # }
/// ```
///
/// # Attributes
///
/// - `#[orm(model = Book)]` on the struct (required): the model it reads.
/// - `#[orm(path = "author.name")]` on a field: the model field it reads, through
///   relations joined by dots. Default: the field's own name.
/// - `#[orm(crate = "path")]`: where the ORM crate is. Default: `::orm_sqlx`.
///
/// From raw SQL, a field of the model itself is matched to its column's name and a field
/// with a `path` through relations to the struct field's name (`SELECT …, a.name AS
/// author_name`).
#[proc_macro_derive(Partial, attributes(orm))]
pub fn derive_partial(input: TokenStream) -> TokenStream {
    partial::derive(input.into(), partial::Kind::Partial).into()
}

/// Implements `FromRow` for a struct read from the rows of raw SQL, its fields matched
/// to the result's columns by name (any order; a missing one is an error naming the
/// field). Each field is a field type (`i64`, `String`, `Option<f64>`…).
///
/// ```
/// # extern crate orm_core as orm_sqlx;
/// # use orm_derive::FromRow;
/// use orm_sqlx::{Dialect, RawQuery};
///
/// #[derive(FromRow, Debug)]
/// pub struct AuthorStats {
///     pub name: String,
///     #[orm(column = "n")]
///     pub books: i64,
/// }
///
/// # fn main() {
/// let q = RawQuery::<AuthorStats>::new(
///     "SELECT a.name, COUNT(b.id) AS n FROM authors a JOIN books b ON b.author_id = a.id \
///      GROUP BY a.name HAVING COUNT(b.id) >= ?",
///     [2],
/// );
/// assert!(q.statement(Dialect::Postgres).unwrap().sql.ends_with(">= $1"));
/// # }
/// ```
///
/// # Attributes
///
/// - `#[orm(column = "name")]` on a field: the result column it reads. Default: the
///   field's name.
/// - `#[orm(crate = "path")]`: where the ORM crate is. Default: `::orm_sqlx`.
#[proc_macro_derive(FromRow, attributes(orm))]
pub fn derive_from_row(input: TokenStream) -> TokenStream {
    partial::derive(input.into(), partial::Kind::FromRow).into()
}

/// Makes a fieldless enum a field type (the Rust answer to Django's `choices`): stored as
/// text, one value per variant (its name in snake case, or `#[orm(value = "...")]`), or
/// with `#[orm(store = "integer")]` as its discriminant. The enum must be `Copy`. A value
/// in the database that no variant names is a decode error naming the column, never a
/// made-up variant.
///
/// ```
/// # extern crate orm_core as orm_sqlx;
/// # use orm_derive::{Choices, Model};
/// use orm_sqlx::{Choice, FieldType, Model, Value};
///
/// #[derive(Choices, Clone, Copy, Debug, PartialEq)]
/// pub enum Status {
///     Draft,
///     #[orm(value = "live")]
///     Published,
/// }
///
/// #[derive(Choices, Clone, Copy, Debug, PartialEq)]
/// #[orm(store = "integer")]
/// pub enum Priority {
///     Low = 1,
///     High = 10,
/// }
///
/// #[derive(Model)]
/// pub struct Post {
///     pub id: i64,
///     pub status: Status,
///     pub priority: Option<Priority>,
/// }
///
/// # fn main() {
/// assert_eq!(Status::Published.to_value(), Value::Text("live".into()));
/// assert_eq!(Priority::High.to_value(), Value::I64(10));
/// assert_eq!(Status::CHOICES, &[(Status::Draft, "draft"), (Status::Published, "live")]);
/// let _ = Post::fields().status.eq(Status::Draft);
/// # }
/// ```
#[proc_macro_derive(Choices, attributes(orm))]
pub fn derive_choices(input: TokenStream) -> TokenStream {
    choices::derive(input.into()).into()
}

#[cfg(test)]
mod tests;
