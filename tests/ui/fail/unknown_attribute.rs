// Rule: an `orm` attribute the derive does not know is an error on that attribute, with
// the list of the ones it does know; every bad attribute is reported at once.
use orm_sqlx::prelude::*;

#[derive(Model)]
#[orm(tabel = "books")]
struct Book {
    id: i64,
    #[orm(colum = "book_title")]
    title: String,
}

fn main() {}
