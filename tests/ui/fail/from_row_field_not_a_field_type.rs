// Rule: each field of a `#[derive(FromRow)]` struct reads one column, so its type is a
// field type (i64, String, Option<f64>…), not a model or a tuple.
use orm_sqlx::prelude::*;

#[derive(Model)]
#[orm(table = "books")]
struct Book {
    id: i64,
    title: String,
}

#[derive(FromRow)]
struct Report {
    name: String,
    book: Book,
}

fn main() {}
