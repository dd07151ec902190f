// Rule: a model needs a primary key: an `id` field, or a field marked
// `#[orm(primary_key)]`. The error is on the struct's name and says both.
use orm_sqlx::prelude::*;

#[derive(Model)]
struct Book {
    isbn: String,
    title: String,
}

fn main() {}
