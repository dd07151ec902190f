//! Partial models: a struct of some of a model's fields, selected by name and checked
//! against the model's field handles at compile time (`#[derive(Partial)]`).

use crate::dsl::expr::Term;
use crate::dsl::field::{Field, PathKind, Reached};
use crate::schema::model::Model;
use crate::schema::raw_row::FromRawRow;
use crate::schema::raw_row::RawColumn;
use crate::schema::value::FieldType;

/// A struct whose fields are some of `M`'s, read instead of the whole model:
/// `Book::objects().values_as::<BookCard>()` selects only its columns. Implement it with
/// `#[derive(Partial)]`, which checks every field's name and type against `M`'s field
/// handles (a missing field or a wrong type does not compile).
///
/// This is how Django's `only()` and `defer()` are written here: a Rust struct cannot
/// hold a field that was not loaded, so the fields a page needs are a type of their own,
/// not a model with some fields left unset.
///
/// ```
/// # extern crate orm_core as orm_sqlx;
/// # use orm_derive::{Model, Partial};
/// use orm_sqlx::{Model, QuerySet};
///
/// #[derive(Model)]
/// pub struct Book { pub id: i64, pub title: String, pub pages: i32 }
///
/// #[derive(Partial, Debug)]
/// #[orm(model = Book)]
/// pub struct BookCard { pub id: i64, pub title: String }
///
/// # fn main() {
/// let cards: QuerySet<Book, BookCard> = Book::objects().values_as::<BookCard>();
/// assert_eq!(cards.sql_for(orm_sqlx::Dialect::Sqlite),
///            r#"SELECT "book"."id", "book"."title" FROM "book""#);
/// # }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a partial model of `{M}`",
    label = "expected a struct with `#[derive(Partial)]` and `#[orm(model = {M})]`",
    note = "a partial model reads the fields of the one model its `#[orm(model = …)]` names; use it on that model's querysets"
)]
pub trait Partial<M: Model>: FromRawRow {
    /// The columns it selects, in its field order, from `M`'s field handles.
    fn select(fields: &M::Fields) -> Vec<Term>;
}

/// `{Self}` (what the model's field reads as) is `{T}` (what the partial model declares).
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "the model's field reads as `{Self}`, but the partial model declares it `{T}`",
    label = "declare this field as `{Self}`",
    note = "a partial model's field has the type `values()` reads: the model's own type, the key for a foreign key, an `Option` through a nullable or many-valued relation"
)]
pub trait ReadsAs<T> {}
impl<T> ReadsAs<T> for T {}

/// The column of one field of a partial model, which compiles only if that field reads
/// as `T` (generated code calls it once per field, spanned at the field's type).
#[doc(hidden)]
pub fn partial_column<R, F: FieldType, K: PathKind, T>(field: Field<R, F, K>) -> Term
where
    <Reached<F, K> as FieldType>::Projected: ReadsAs<T>,
{
    Term::Column(field.column_ref())
}

/// The columns a partial model `P` of `M` reads from raw SQL, by name: a field of `M`
/// itself by its column's name (so `SELECT *` works), a field reached through relations by
/// the partial struct's own field name (`… AS author_name`).
#[doc(hidden)]
pub fn partial_raw_columns<M: Model, P: Partial<M>>(
    owner: &'static str,
    fields: &[&'static str],
) -> Vec<RawColumn> {
    P::select(&M::fields())
        .into_iter()
        .zip(fields)
        .map(|(term, &field)| RawColumn {
            owner,
            field,
            column: match term {
                Term::Column(c) if c.path.is_root() => c.column,
                _ => field,
            },
        })
        .collect()
}
