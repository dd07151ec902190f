// Rule: a model has exactly one primary key; the second `primary_key` is the error.
use orm_sqlx::prelude::*;

#[derive(Model)]
struct Book {
    #[orm(primary_key)]
    isbn: String,
    #[orm(primary_key)]
    ean: String,
}

fn main() {}
