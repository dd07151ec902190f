//! `values_as::<P>()`: a queryset whose rows are a partial model (`#[derive(Partial)]`).

use super::*;
use crate::dsl::partial::Partial;

impl<M: Model, T: FromRow> QuerySet<M, T> {
    /// Select only the fields of the partial model `P` and read each row as a `P`
    /// (Django's `only()`, `defer()` and `values()` into a named struct):
    /// `Book::objects().values_as::<BookCard>()` is a `QuerySet<Book, BookCard>`. It
    /// filters, orders, slices, caches and evaluates like any queryset.
    ///
    /// There is no `only()`/`defer()` returning models with unloaded fields: a Rust struct
    /// cannot leave a field unloaded, and a default in its place would be a wrong value.
    /// `P` names the fields a page needs; the compiler checks each against `M`.
    ///
    /// As with [`values`](QuerySet::values), a `select_related` or `prefetch_related` made
    /// before it is dropped; a field reached through a relation is declared on `P` with
    /// `#[orm(path = "author.name")]` and read in the same query, through a JOIN.
    ///
    /// ```
    /// # extern crate orm_core as orm_sqlx;
    /// # use orm_derive::{Model, Partial};
    /// use orm_sqlx::{Model, QuerySet};
    /// # #[derive(Model)] pub struct Book { pub id: i64, pub title: String, pub pages: i32 }
    ///
    /// #[derive(Partial)]
    /// #[orm(model = Book)]
    /// pub struct BookCard { pub id: i64, pub title: String }
    ///
    /// # fn main() {
    /// let long: QuerySet<Book, BookCard> = Book::objects()
    ///     .filter(|b| b.pages.gte(300))
    ///     .values_as::<BookCard>();
    /// assert!(long.sql().starts_with(r#"SELECT "book"."id", "book"."title" FROM"#));
    /// # }
    /// ```
    #[doc(alias = "only")]
    #[doc(alias = "defer")]
    pub fn values_as<P: Partial<M>>(&self) -> QuerySet<M, P> {
        self.projected(P::select(&M::fields()))
    }
}
